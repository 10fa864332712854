// tests/test_softmax.c — softmax_cpu against softmax_ref, and the vector exp it uses.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/softmax.h"
#include "ops/softmax_simd.h"
#include "tests/helpers.h"

// Tolerance of softmax_cpu vs the double reference: the exp is within 1 ulp, the row sum
// accumulates VL partial sums in float (relative error ~ cols * 2^-24 at worst, 6e-5 for
// 1000 columns, far less in practice), and 1/sum is a multiply instead of a division.
// Probabilities are <= 1, so 1e-5 relative plus 1e-7 absolute (for tiny probabilities)
// has margin; a wrong max or a lost tail element is off by far more.
#define SM_ATOL 1e-7
#define SM_RTOL 1e-5

static int64_t ulp_diff(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    return llabs((long long)ia - (long long)ib);
}

START_TEST(vector_exp_within_one_ulp) {
    // Every 997th bit pattern that is a float in the range where exp is normal (~2e6 values).
    int64_t worst = 0;
    float worst_x = 0;
    float in[VL], buf[VL];
    int n = 0;
    for (uint64_t u = 0; u <= 0xffffffffu; u += 997) {
        uint32_t bits = (uint32_t)u;
        float x;
        memcpy(&x, &bits, 4);
        if (!(x >= UG_EXP_XMIN && x <= UG_EXP_XMAX)) continue;
        in[n++] = x;
        if (n < VL) continue;
        vf_store(buf, vf_exp(vf_load(in)));
        for (int i = 0; i < VL; i++) {
            int64_t d = ulp_diff(buf[i], (float)exp((double)in[i]));
            if (d > worst) {
                worst = d;
                worst_x = in[i];
            }
        }
        n = 0;
    }
    ck_assert_msg(worst <= 1, "vf_exp off by %lld ulp at x = %.9g", (long long)worst, (double)worst_x);

    float sp[VL] = {-INFINITY, -88.0f, -1e30f, 0.0f, NAN, 1.0f, -87.0f, 88.0f};
    vf_store(sp, vf_exp(vf_load(sp)));
    ck_assert(sp[0] == 0.0f && sp[1] == 0.0f && sp[2] == 0.0f);
    ck_assert(sp[3] == 1.0f);
    ck_assert(isnan(sp[4]));
    ck_assert(ulp_diff(sp[5], (float)M_E) <= 1);
    ck_assert(sp[6] > 0.0f && ulp_diff(sp[6], (float)exp(-87.0)) <= 1);
    ck_assert(isfinite(sp[7]) && ulp_diff(sp[7], (float)exp(88.0)) <= 1);
}
END_TEST

static void check_rows(ug_ctx *ctx, int64_t rows, int64_t cols, float std, uint64_t seed) {
    size_t n = (size_t)(rows * cols);
    float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    float *inplace = malloc(n * sizeof *inplace);
    test_fill_normal(x, n, std, seed);
    // -inf (masked logits) sprinkled everywhere; with one column that makes all -inf rows.
    test_rng rng = test_rng_seed(seed + 1);
    for (size_t i = 0; i < n; i++)
        if (test_rng_u64(&rng) % 7 == 0) x[i] = -INFINITY;
    softmax_ref(want, x, rows, cols);
    ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(rows, cols));
    ug_tensor ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(rows, cols));
    softmax_cpu(ctx, &ty, &tx);
    memcpy(inplace, x, n * sizeof *x);
    ug_tensor ti = ug_tensor_wrap(inplace, UG_F32, UG_DIMS(rows, cols));
    softmax_cpu(ctx, &ti, &ti);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(memcmp(&inplace[i], &got[i], sizeof *got) == 0, "in place differs at %zu", i);
        if (isnan(want[i])) { // all -inf row: NaN, as documented; compare the others below
            ck_assert_msg(isnan(got[i]), "all -inf row must give NaN, got %g at %zu", (double)got[i], i);
            got[i] = want[i] = 0;
        } else if (x[i] == -INFINITY) {
            ck_assert_msg(got[i] == 0.0f, "-inf entry must give exactly 0, got %g", (double)got[i]);
        }
    }
    char what[96];
    snprintf(what, sizeof what, "softmax %lldx%lld std %g", (long long)rows, (long long)cols, (double)std);
    test_assert_close(got, want, n, SM_ATOL, SM_RTOL, what);
    free(x);
    free(want);
    free(got);
    free(inplace);
}

START_TEST(softmax_matches_reference) {
    ug_ctx ctx;
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&ctx, 2, &err), UG_OK);
    const int64_t shapes[][2] = {{1, 1}, {3, 17}, {33, 127}, {17, 33}, {5, 1000}, {200, 3}, {2, 8}, {2, 16}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        check_rows(&ctx, shapes[s][0], shapes[s][1], 1.0f, 10 + s);
        check_rows(&ctx, shapes[s][0], shapes[s][1], 1e4f, 20 + s); // huge logits: max subtraction
    }
    ug_ctx_free(&ctx);
}
END_TEST

START_TEST(softmax_special_rows) {
    ug_ctx ctx;
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&ctx, 1, &err), UG_OK);
    float x[3][9] = {
        {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY},
        {1e4f, -1e4f, 1e4f, -INFINITY, 0, 0, 0, 0, 0},
        {88.5f, 88.5f, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY},
    };
    ug_tensor t = ug_tensor_wrap(x, UG_F32, UG_DIMS(3, 9));
    softmax_cpu(&ctx, &t, &t);
    for (int c = 0; c < 9; c++)
        ck_assert(isnan(x[0][c])); // documented: all -inf -> NaN
    ck_assert_float_eq(x[1][0], 0.5f);
    ck_assert_float_eq(x[1][2], 0.5f);
    for (int c = 3; c < 9; c++)
        ck_assert_float_eq(x[1][c], 0.0f);
    ck_assert_float_eq(x[1][1], 0.0f);
    ck_assert_float_eq(x[2][0], 0.5f);
    ck_assert_float_eq(x[2][1], 0.5f);
    ug_ctx_free(&ctx);
}
END_TEST

START_TEST(softmax_strided_views) {
    // x a [2, 5, 3, 37] buffer seen as the permuted, column-sliced view [3, 2, 5, 30].
    ug_ctx ctx;
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&ctx, 2, &err), UG_OK);
    ug_tensor buf, out;
    ck_assert_int_eq(ug_tensor_new(&buf, UG_F32, UG_DIMS(2, 5, 3, 37), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&out, UG_F32, UG_DIMS(3, 2, 5, 30), &err), UG_OK);
    test_fill_normal(buf.data, (size_t)ug_tensor_numel(&buf), 3.0f, 5);
    ug_tensor pv = ug_view_permute(&buf, (int[]){2, 0, 1, 3});
    ug_tensor xv = ug_view_slice(&pv, 3, 4, 30); // [3, 2, 5, 30], row stride 37
    softmax_cpu(&ctx, &out, &xv);
    float xin[3 * 2 * 5 * 30], want[3 * 2 * 5 * 30];
    int i = 0;
    for (int64_t a = 0; a < 3; a++)
        for (int64_t b = 0; b < 2; b++)
            for (int64_t c = 0; c < 5; c++)
                for (int64_t d = 0; d < 30; d++)
                    xin[i++] = *(float *)ug_tensor_ptr(&xv, (int64_t[]){a, b, c, d});
    softmax_ref(want, xin, 30, 30);
    test_assert_close(out.data, want, 900, SM_ATOL, SM_RTOL, "softmax of a strided view");
    // In place on the view: the columns outside the slice stay untouched.
    float before = ((float *)buf.data)[0];
    softmax_cpu(&ctx, &xv, &xv);
    ck_assert_float_eq(((float *)buf.data)[0], before);
    i = 0;
    float got[900];
    for (int64_t a = 0; a < 3; a++)
        for (int64_t b = 0; b < 2; b++)
            for (int64_t c = 0; c < 5; c++)
                for (int64_t d = 0; d < 30; d++)
                    got[i++] = *(float *)ug_tensor_ptr(&xv, (int64_t[]){a, b, c, d});
    test_assert_close(got, want, 900, SM_ATOL, SM_RTOL, "softmax in place on a strided view");
    ug_tensor_free(&buf);
    ug_tensor_free(&out);
    ug_ctx_free(&ctx);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "softmax", .timeout = 60}, &s);
    test_add(tc, vector_exp_within_one_ulp, softmax_matches_reference, softmax_special_rows,
             softmax_strided_views);
    return test_run_suite(s);
}
