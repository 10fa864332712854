// tests/test_posembed.c — Mask2Former PositionEmbeddingSine (normalize, 2 pi, 10000).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/posembed.h"
#include "tests/helpers.h"

// Fast (float32 steps) vs double reference: 1e-6 abs. Arguments are at most 2 pi, so float32
// rounding of the angle moves a value by < 5e-7.
START_TEST(posembed_matches_ref) {
    static const int64_t sizes[][3] = {{32, 4, 8}, {32, 1, 1}, {16, 3, 17}, {64, 33, 127}, {4, 17, 3}};
    for (int s = 0; s < 5; s++) {
        int64_t F = sizes[s][0], H = sizes[s][1], W = sizes[s][2];
        ug_tensor y;
        ug_err err;
        ck_assert_int_eq(ug_tensor_new(&y, UG_F32, UG_DIMS(2, 2 * F, H, W), &err), UG_OK);
        float *want = malloc((size_t)(2 * F * H * W) * sizeof(float));
        posembed_sine_ref(want, F, H, W);
        posembed_sine_cpu(&test_ctx, &y);
        for (int b = 0; b < 2; b++)
            test_assert_close((float *)y.data + b * 2 * F * H * W, want, (size_t)(2 * F * H * W), 1e-6, 0,
                              "posembed");
        free(want);
        ug_tensor_free(&y);
    }
}
END_TEST

// Channel 0 (dim_t = 1) and channel F + 1 (cos, dim_t = 1) follow the float32 recipe exactly:
// e = (float)(i + 1) / ((float)n + 1e-6f) * (float)(2 pi). Layout: [y part, x part].
START_TEST(posembed_float32_rule) {
    int64_t F = 8, H = 5, W = 7;
    ug_tensor y;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&y, UG_F32, UG_DIMS(2 * F, H, W), &err), UG_OK);
    posembed_sine_cpu(&test_ctx, &y);
    const float *p = y.data, two_pi = (float)(2.0 * M_PI);
    for (int64_t r = 0; r < H; r++)
        for (int64_t q = 0; q < W; q++) {
            float ye = (float)(r + 1) / ((float)H + 1e-6f) * two_pi;
            float xe = (float)(q + 1) / ((float)W + 1e-6f) * two_pi;
            ck_assert_float_eq(p[(0 * H + r) * W + q], sinf(ye));
            ck_assert_float_eq(p[((F + 1) * H + r) * W + q], cosf(xe));
        }
    // The last channel uses dim_t = 10000^(2 * 3 / 8).
    float dt = powf(10000.0f, 6.0f / 8.0f);
    float xe = 3.0f / (7.0f + 1e-6f) * two_pi;
    ck_assert_float_eq(p[((2 * F - 1) * H + 4) * W + 2], cosf(xe / dt));
    ug_tensor_free(&y);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "posembed", .setup = test_ctx_setup_odd, .teardown = test_ctx_teardown}, &s);
    test_add(tc, posembed_matches_ref, posembed_float32_rule);
    return test_run_suite(s);
}
