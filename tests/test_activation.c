// tests/test_activation.c — GELU, ReLU, sigmoid: fast kernels against the double references.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "ops/activation.h"
#include "tests/helpers.h"

typedef void (*act_cpu_fn)(ug_ctx *, ug_tensor *, const ug_tensor *);
typedef void (*act_ref_fn)(float *, const float *, int64_t);

// Runs the kernel out of place and in place on x[n] and compares both with the reference.
static void check_act(act_cpu_fn cpu, act_ref_fn ref, const float *x, int64_t n, double atol, double rtol,
                      const char *what) {
    float *want = malloc((size_t)n * sizeof(float));
    float *got = malloc((size_t)n * sizeof(float));
    ref(want, x, n);
    ug_tensor tx = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(n));
    ug_tensor ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(n));
    cpu(&test_ctx, &ty, &tx);
    test_assert_close(got, want, (size_t)n, atol, rtol, what);
    memcpy(got, x, (size_t)n * sizeof(float));
    cpu(&test_ctx, &ty, &ty);
    test_assert_close(got, want, (size_t)n, atol, rtol, what);
    free(want);
    free(got);
}

// A dense sweep over [-lim, lim] plus random normals at the odd sizes.
static float *sweep(int64_t n, float lim) {
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        x[i] = -lim + 2.0f * lim * (float)i / (float)(n - 1);
    return x;
}

static const int64_t sizes[] = {1, 3, 17, 33, 127, 100003};

// check_act on `n` sweep points over [-lim, lim], then on normals of std `std` (seeds seed,
// seed + 1, ...) at each of the odd sizes; n == 0 skips the sweep.
static void check_act_inputs(act_cpu_fn cpu, act_ref_fn ref, int64_t n, float lim, float std, uint64_t seed,
                             double atol, double rtol, const char *sweep_what, const char *normal_what) {
    if (n > 0) {
        float *x = sweep(n, lim);
        check_act(cpu, ref, x, n, atol, rtol, sweep_what);
        free(x);
    }
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        float *r = malloc((size_t)sizes[s] * sizeof(float));
        test_fill_normal(r, (size_t)sizes[s], std, seed + s);
        check_act(cpu, ref, r, sizes[s], atol, rtol, normal_what);
        free(r);
    }
}

// GELU tolerance: relative 1e-6 (about 8 ulp; the kernel measures ~4e-7 at worst, mostly
// from the rounding of t = 1/(1+z/2) and of z = |x|/sqrt2). atol 1e-37 only forgives results
// below the normal range (x < -13, where the kernel returns 0 and the truth is < 1e-38).
START_TEST(gelu_matches_erf_form) {
    check_act_inputs(gelu_cpu, gelu_ref, 400001, 20.0f, 3.0f, 100, 1e-37, 1e-6, "gelu sweep [-20, 20]",
                     "gelu normal");
    // Exact at the special points and for infinities (gelu(-inf) is NaN in PyTorch too).
    float sp[] = {0.0f, INFINITY, -INFINITY, 1e-30f, -1e-30f, 3.0e38f};
    float out[6];
    ug_tensor tx = ug_tensor_wrap(sp, UG_F32, UG_DIMS(6)), ty = ug_tensor_wrap(out, UG_F32, UG_DIMS(6));
    gelu_cpu(&test_ctx, &ty, &tx);
    ck_assert_float_eq(out[0], 0.0f);
    ck_assert(isinf(out[1]) && out[1] > 0);
    ck_assert(isnan(out[2]));
    ck_assert_float_eq_tol(out[3], 0.5e-30f, 1e-37f);
    ck_assert_float_eq_tol(out[4], -0.5e-30f, 1e-37f);
    ck_assert_float_eq(out[5], 3.0e38f);
}
END_TEST

START_TEST(relu_exact) {
    check_act_inputs(relu_cpu, relu_ref, 0, 0.0f, 1.0f, 200, 0.0, 0.0, NULL, "relu");
}
END_TEST

// Sigmoid tolerance: relative 1e-6: the vectorised exp is within ~2 ulp and the division is
// exact, so a few ulp in all; atol 1e-37 for results below the normal range (x < -87).
START_TEST(sigmoid_matches_exp_form) {
    check_act_inputs(sigmoid_cpu, sigmoid_ref, 200001, 100.0f, 5.0f, 300, 1e-37, 1e-6,
                     "sigmoid sweep [-100, 100]", "sigmoid normal");
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "activation", .setup = test_ctx_setup, .teardown = test_ctx_teardown}, &s);
    test_add(tc, gelu_matches_erf_form, relu_exact, sigmoid_matches_exp_form);
    return test_run_suite(s);
}
