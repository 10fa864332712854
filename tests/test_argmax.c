// tests/test_argmax.c — argmax over channels: fast vs reference (exact), ties, NaN, U8 output,
// strided input.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/argmax.h"
#include "ops/movement.h"
#include "tests/helpers.h"

// Values drawn from 4 levels, so most pixels have ties: the first maximum must win.
START_TEST(argmax_ties_odd_sizes) {
    static const int64_t sizes[] = {1, 3, 17, 33, 127};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            int64_t B = 2, C = sizes[b] < 20 ? sizes[b] : 19, H = sizes[a], W = sizes[(a + b) % 5];
            ug_tensor x, y;
            ug_err err;
            ck_assert_int_eq(ug_tensor_new(&x, UG_F32, UG_DIMS(B, C, H, W), &err), UG_OK);
            ck_assert_int_eq(ug_tensor_new(&y, UG_I32, UG_DIMS(B, H, W), &err), UG_OK);
            test_rng r = test_rng_seed((uint64_t)(a * 5 + b));
            float *px = x.data;
            for (int64_t i = 0; i < B * C * H * W; i++)
                px[i] = (float)(test_rng_u64(&r) % 4) - 1.5f;
            int32_t *want = malloc((size_t)(B * H * W) * 4);
            argmax_ref(want, px, B, C, H * W);
            argmax_cpu(&test_ctx, &y, &x);
            ck_assert_mem_eq(y.data, want, (size_t)(B * H * W) * 4);
            // The reference against a direct scan with "first maximum" spelled out.
            for (int64_t i = 0; i < B * H * W; i++) {
                int64_t bb = i / (H * W), p = i % (H * W);
                float m = -INFINITY;
                for (int64_t c = 0; c < C; c++)
                    m = fmaxf(m, px[(bb * C + c) * H * W + p]);
                int64_t first = 0;
                while (px[(bb * C + first) * H * W + p] != m)
                    first++;
                ck_assert_int_eq(want[i], first);
            }
            free(want);
            ug_tensor_free(&x);
            ug_tensor_free(&y);
        }
}
END_TEST

// NaN is the maximum (first NaN wins), as torch.argmax; U8 output and a cropped input view.
START_TEST(argmax_nan_u8_strided) {
    ug_tensor x, y8;
    ug_err err;
    int64_t C = 5, H = 3, W = 40;
    ck_assert_int_eq(ug_tensor_new(&x, UG_F32, UG_DIMS(1, C, H, W), &err), UG_OK);
    test_fill_normal(x.data, (size_t)(C * H * W), 1.0f, 3);
    float *px = x.data;
    px[2 * H * W + 5] = NAN; // pixel 5: NaN at channel 2
    px[4 * H * W + 5] = NAN;
    px[0 * H * W + 37] = NAN; // pixel 37: NaN at channel 0 beats everything after it
    px[3 * H * W + 37] = 100.0f;
    ck_assert_int_eq(ug_tensor_new(&y8, UG_U8, UG_DIMS(1, H, W), &err), UG_OK);
    argmax_cpu(&test_ctx, &y8, &x);
    int32_t want[120];
    argmax_ref(want, px, 1, C, H * W);
    ck_assert_int_eq(want[5], 2);
    ck_assert_int_eq(want[37], 0);
    for (int i = 0; i < H * W; i++)
        ck_assert_int_eq(((uint8_t *)y8.data)[i], want[i]);

    ug_tensor crop = ug_view_slice(&x, 3, 3, 33), xc, yc;
    ck_assert_int_eq(ug_tensor_new(&xc, UG_F32, UG_DIMS(1, C, H, 33), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&yc, UG_I32, UG_DIMS(1, H, 33), &err), UG_OK);
    copy_ref(&xc, &crop);
    argmax_ref(want, xc.data, 1, C, H * 33);
    argmax_cpu(&test_ctx, &yc, &crop);
    ck_assert_mem_eq(yc.data, want, (size_t)(H * 33) * 4);
    ug_tensor_free(&x);
    ug_tensor_free(&y8);
    ug_tensor_free(&xc);
    ug_tensor_free(&yc);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "argmax", .setup = test_ctx_setup_odd, .teardown = test_ctx_teardown}, &s);
    test_add(tc, argmax_ties_odd_sizes, argmax_nan_u8_strided);
    return test_run_suite(s);
}
