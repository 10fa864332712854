// tests/test_attn_mask.c — the masked-attention mask threshold: fast vs reference on odd sizes,
// logits near the float32 sigmoid's 0.5 boundary, non-finite logits and all-blocked rows.
//
// Tolerance: none. The mask is a boolean of the same float32 formula.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/attn_mask.h"
#include "tests/helpers.h"

// fast(x) == ref(x) on [Q, N]; x given, its row stride `ld` >= N (a strided view when larger).
static void check_rows(const float *x, int64_t Q, int64_t N, int64_t ld, const char *what) {
    ug_err err;
    ug_tensor xt, mask;
    ck_assert_int_eq(ug_tensor_new(&xt, UG_F32, UG_DIMS(Q, ld), &err), UG_OK);
    float *dense = malloc((size_t)(Q * N) * sizeof(float));
    for (int64_t q = 0; q < Q; q++)
        for (int64_t n = 0; n < N; n++)
            ((float *)xt.data)[q * ld + n] = dense[q * N + n] = x[q * N + n];
    ug_tensor xv = ug_view_slice(&xt, 1, 0, N);
    ck_assert_int_eq(ug_tensor_new(&mask, UG_U8, UG_DIMS(Q, N), &err), UG_OK);
    uint8_t *want = malloc((size_t)(Q * N));
    attn_mask_threshold_ref(want, dense, Q, N);
    attn_mask_threshold_cpu(&test_ctx, &mask, &xv);
    ck_assert_msg(!memcmp(mask.data, want, (size_t)(Q * N)), "%s: [%lld, %lld] differs", what, (long long)Q,
                  (long long)N);
    free(want);
    free(dense);
    ug_tensor_free(&mask);
    ug_tensor_free(&xt);
}

START_TEST(mask_matches_ref_random) {
    static const int64_t sizes[] = {1, 3, 17, 33, 127};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            int64_t Q = sizes[a], N = sizes[b];
            float *x = malloc((size_t)(Q * N) * sizeof(float));
            test_fill_uniform(x, (size_t)(Q * N), -3.0f, 2.0f, (uint64_t)(a * 5 + b));
            check_rows(x, Q, N, N + (a + b) % 3, "random");
            free(x);
        }
}
END_TEST

// The float32 sigmoid reaches 0.5 slightly below 0: 1 + expf(-x) stays 2 until expf(-x) - 1
// passes 1.5 ulp of 1, so logits down to -0x1.7ffffep-23 (about -1.79e-7) still attend and
// -1.8e-7 does not. Every row mixes such values with values far from the boundary.
START_TEST(mask_boundary_and_non_finite) {
    const float special[] = {-0.0f,    0.0f,     -1e-8f,    -5.9e-8f,  -6e-8f, -1.2e-7f, -1.78e-7f,
                             -1.8e-7f, -3e-7f,   -1e-6f,    -1.01e-6f, 1e-45f, -1e-45f,  -1e-38f,
                             NAN,      INFINITY, -INFINITY, 1e-7f,     -2.0f,  3.0f};
    int64_t n = sizeof special / sizeof special[0], Q = 33;
    float *x = malloc((size_t)(Q * n) * sizeof(float));
    for (int64_t q = 0; q < Q; q++)
        for (int64_t i = 0; i < n; i++)
            x[q * n + i] = special[(q * 7 + i) % n];
    check_rows(x, Q, n, n, "boundary");
    // The boundary itself: the 4096 floats on either side of the last blocked logit, found by
    // bisection on the float bit patterns of [-2e-7, 0) (the formula is monotone there). The
    // probe row is {v, 1}: its second key attends, so the row is never reset as all-blocked
    // and the first flag is the formula's.
    uint32_t lo, hi; // bit patterns of negative floats grow with the magnitude
    float a = -2e-7f, z = -0.0f;
    memcpy(&lo, &z, 4);
    memcpy(&hi, &a, 4);
    const uint32_t start_hi = hi;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        float v[2] = {0.0f, 1.0f};
        memcpy(&v[0], &mid, 4);
        uint8_t m[2];
        attn_mask_threshold_ref(m, v, 1, 2);
        if (m[0])
            hi = mid;
        else
            lo = mid;
    }
    float boundary;
    memcpy(&boundary, &hi, 4);
    // Between -2e-7 (blocked) and -1.2e-7 (attends), per the comment above: the bisection moved.
    ck_assert_msg(hi != start_hi && boundary > -2e-7f && boundary < -1.2e-7f, "boundary %a",
                  (double)boundary);
    int64_t rows = 128, N = 64;
    float *y = malloc((size_t)(rows * N) * sizeof(float));
    for (int64_t i = 0; i < rows * N; i++) {
        uint32_t bits = hi - (uint32_t)(rows * N / 2) + (uint32_t)i;
        memcpy(&y[i], &bits, 4);
    }
    for (int64_t r = 0; r < rows; r++) // one attending key a row: no row is reset
        y[r * N + N - 1] = 1.0f;
    check_rows(y, rows, N, N, "every float near the boundary");
    // Random logits across the whole band where the formula is evaluated.
    test_fill_uniform(y, (size_t)(rows * N), -1.5e-6f, 1e-7f, 99);
    check_rows(y, rows, N, N, "the band");
    free(x);
    free(y);
}
END_TEST

// A row whose keys are all blocked attends everywhere; one unblocked key keeps the others blocked.
START_TEST(mask_full_rows_are_cleared) {
    int64_t Q = 3, N = 17;
    float x[3 * 17];
    for (int64_t i = 0; i < Q * N; i++)
        x[i] = -1.0f;
    x[N + 5] = 0.5f; // row 1 keeps one key
    check_rows(x, Q, N, N, "full rows");
    ug_err err;
    ug_tensor xt = ug_tensor_wrap(x, UG_F32, UG_DIMS(Q, N)), mask;
    ck_assert_int_eq(ug_tensor_new(&mask, UG_U8, UG_DIMS(Q, N), &err), UG_OK);
    attn_mask_threshold_cpu(&test_ctx, &mask, &xt);
    const uint8_t *m = mask.data;
    int64_t row[3] = {0, 0, 0};
    for (int64_t q = 0; q < Q; q++)
        for (int64_t i = 0; i < N; i++)
            row[q] += m[q * N + i];
    ck_assert_int_eq(row[0], 0);
    ck_assert_int_eq(row[1], N - 1);
    ck_assert_int_eq(row[2], 0);
    ug_tensor_free(&mask);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "attn_mask", .setup = test_ctx_setup_odd, .teardown = test_ctx_teardown},
        &s);
    test_add(tc, mask_matches_ref_random, mask_boundary_and_non_finite, mask_full_rows_are_cleared);
    return test_run_suite(s);
}
