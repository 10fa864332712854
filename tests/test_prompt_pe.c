// tests/test_prompt_pe.c — SAM's sparse prompt tokens: random-Fourier encoding of points and
// box corners plus the embedding their label selects (ops/prompt_pe.h).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/prompt_pe.h"
#include "tests/helpers.h"

static ug_tensor new_tensor(ug_dtype dt, int ndim, const int64_t *shape) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, dt, ndim, shape, &err), UG_OK);
    return t;
}

// Pixel coordinates in [-2, size + 2] (official prompts may sit on or past the edge), Gaussian
// matrix entries up to 3 (N(0, 1) in the official model), labels cycling through -1 .. E + 1
// so every branch is taken.
static void random_inputs(ug_tensor *xy, ug_tensor *labels, ug_tensor *gauss, ug_tensor *embed, ug_tensor *na,
                          int64_t P, int64_t C, int64_t E, float size, uint64_t seed) {
    *xy = new_tensor(UG_F32, UG_DIMS(P, 2));
    *labels = new_tensor(UG_I32, UG_DIMS(P));
    *gauss = new_tensor(UG_F32, UG_DIMS(2, C / 2));
    *embed = new_tensor(UG_F32, UG_DIMS(E, C));
    *na = new_tensor(UG_F32, UG_DIMS(1, C));
    test_fill_uniform(xy->data, (size_t)(2 * P), -2.0f, size + 2.0f, seed);
    test_fill_uniform(gauss->data, (size_t)C, -3.0f, 3.0f, seed + 1);
    test_fill_uniform(embed->data, (size_t)(E * C), -1.0f, 1.0f, seed + 2);
    test_fill_uniform(na->data, (size_t)C, -1.0f, 1.0f, seed + 3);
    int32_t *lb = labels->data;
    for (int64_t p = 0; p < P; p++)
        lb[p] = (int32_t)(p % (E + 3)) - 1;
}

// Fast (float32 steps) vs double reference: 2e-5 abs. |f| <= 2 pi * 2 * 3 ~ 38, where float32
// rounding of the angle is ~4e-6; the sum with an embedding adds one more rounding.
START_TEST(prompt_pe_matches_ref) {
    static const int64_t sizes[][3] = {{1, 2, 4},   {3, 6, 4},     {17, 34, 1},
                                       {33, 64, 4}, {127, 256, 4}, {1000, 18, 2}};
    for (int s = 0; s < 6; s++) {
        int64_t P = sizes[s][0], C = sizes[s][1], E = sizes[s][2];
        float size = 1024.0f / (float)(s + 1);
        ug_tensor xy, labels, gauss, embed, na;
        random_inputs(&xy, &labels, &gauss, &embed, &na, P, C, E, size, 40 + (uint64_t)s);
        // y as rows of a wider buffer: the kernel honours the row stride.
        ug_tensor buf = new_tensor(UG_F32, UG_DIMS(P, C + 3)), y = ug_view_slice(&buf, 1, 0, C);
        float *want = malloc(sizeof(float) * (size_t)(P * C)), *got = malloc(sizeof(float) * (size_t)(P * C));
        prompt_pe_ref(want, xy.data, labels.data, gauss.data, embed.data, E, na.data, P, C, size);
        prompt_pe_cpu(&test_ctx, &y, &xy, &labels, &gauss, &embed, &na, size);
        for (int64_t p = 0; p < P; p++)
            memcpy(got + p * C, (float *)buf.data + p * (C + 3), (size_t)C * sizeof(float));
        test_assert_close(got, want, (size_t)(P * C), 2e-5, 0, "prompt_pe");
        free(want);
        free(got);
        ug_tensor ts[] = {xy, labels, gauss, embed, na, buf};
        for (int i = 0; i < 6; i++)
            ug_tensor_free(&ts[i]);
    }
}
END_TEST

// The float32 recipe of the official code, bit for bit: c = 2 ((x + 0.5) / S) - 1,
// f = 2 pi (cx g0 + cy g1), then sin / cos, then + the label's embedding; label -1 is
// exactly 0 + not_a_point.
START_TEST(prompt_pe_float32_rule) {
    int64_t P = 7, C = 8, E = 4, half = C / 2;
    float size = 256.0f;
    ug_tensor xy, labels, gauss, embed, na;
    random_inputs(&xy, &labels, &gauss, &embed, &na, P, C, E, size, 7);
    ug_tensor y = new_tensor(UG_F32, UG_DIMS(P, C));
    prompt_pe_cpu(&test_ctx, &y, &xy, &labels, &gauss, &embed, &na, size);
    const float *x = xy.data, *g = gauss.data, *e = embed.data, *n = na.data, *out = y.data;
    const int32_t *lb = labels.data;
    const float two_pi = (float)(2.0 * M_PI);
    for (int64_t p = 0; p < P; p++)
        for (int64_t k = 0; k < half; k++) {
            float cx = 2.0f * ((x[2 * p] + 0.5f) / size) - 1.0f,
                  cy = 2.0f * ((x[2 * p + 1] + 0.5f) / size) - 1.0f;
            float f = two_pi * (cx * g[k] + cy * g[half + k]), ws = sinf(f), wc = cosf(f);
            if (lb[p] == -1) {
                ws = 0.0f + n[k];
                wc = 0.0f + n[half + k];
            } else if (lb[p] >= 0 && lb[p] < E) {
                ws += e[lb[p] * C + k];
                wc += e[lb[p] * C + half + k];
            }
            ck_assert_float_eq(out[p * C + k], ws);
            ck_assert_float_eq(out[p * C + half + k], wc);
        }
    ug_tensor ts[] = {xy, labels, gauss, embed, na, y};
    for (int i = 0; i < 6; i++)
        ug_tensor_free(&ts[i]);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "prompt_pe", .setup = test_ctx_setup_odd, .teardown = test_ctx_teardown},
        &s);
    test_add(tc, prompt_pe_matches_ref, prompt_pe_float32_rule);
    return test_run_suite(s);
}
