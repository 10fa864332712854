// tests/test_cuda_pointwise.c — the CUDA activations and elementwise ops (ops/cuda/activation.cu,
// ops/cuda/elementwise.cu) against the references, under every emulator schedule, outputs
// bit-identical across schedules.
//   gelu:      sweep [-20, 20] + normals at 1, 3, 17, 33, 127, 1001 (not a multiple of 256),
//              in place; rtol 2.4e-7 (2 ulp: erfc in double, one final rounding), atol 1e-37
//              (results below the normal range).
//   relu:      exact against relu_ref (NaN passes through).
//   sigmoid:   rtol 1e-6 (expf within 2 ulp, IEEE division: a few ulp), atol 1e-37.
//   add, mul:  exact against the references: contiguous odd shapes, in place, broadcast views
//              (per channel, per row, scalar, per pixel), a transposed a written through a slice.
//   scale_add: exact against scale_add_cpu on the host (both one fmaf), within 1 ulp of the ref.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/activation.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/elementwise.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static const int64_t odd[] = {1, 3, 17, 33, 127, 1001};
enum { NODD = sizeof odd / sizeof odd[0] };

typedef void (*act_cuda_fn)(ug_ctx *, ug_tensor *, const ug_tensor *);
typedef void (*act_ref_fn)(float *, const float *, int64_t);

// x[n] through the CUDA op out of place and in place, every schedule, against ref.
static void check_act(act_cuda_fn op, act_ref_fn ref, const float *x, int64_t n, double atol, double rtol,
                      bool exact, const char *what) {
    float *want = malloc((size_t)n * sizeof(float));
    ref(want, x, n);
    ug_tensor hx = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(n));
    ug_tensor first = {0}, first_ip = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, UG_DIMS(n));
        op(&cut_ctx, &dy, &dx);
        if (exact)
            cut_check_exact(&dy, want, &first, what);
        else
            cut_check(&dy, want, atol, rtol, &first, what);
        op(&cut_ctx, &dx, &dx);
        if (exact)
            cut_check_exact(&dx, want, &first_ip, what);
        else
            cut_check(&dx, want, atol, rtol, &first_ip, what);
        ug_tensor_free(&dx);
        ug_tensor_free(&dy);
    }
    ug_tensor_free(&first);
    ug_tensor_free(&first_ip);
    free(want);
}

static void check_act_inputs(act_cuda_fn op, act_ref_fn ref, float lim, float std, double atol, double rtol,
                             bool exact, const char *what) {
    int64_t n = 4001;
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        x[i] = -lim + 2.0f * lim * (float)i / (float)(n - 1);
    check_act(op, ref, x, n, atol, rtol, exact, what);
    for (int s = 0; s < NODD; s++) {
        test_fill_normal(x, (size_t)odd[s], std, 50 + (uint64_t)s);
        check_act(op, ref, x, odd[s], atol, rtol, exact, what);
    }
    free(x);
}

START_TEST(cuda_gelu) {
    check_act_inputs(gelu_cuda, gelu_ref, 20.0f, 3.0f, 1e-37, 2.4e-7, false, "gelu");
    float sp[] = {0.0f, INFINITY, -INFINITY, 1e-30f, -1e-30f, 3.0e38f}, want[6];
    ug_tensor hx = ug_tensor_wrap(sp, UG_F32, UG_DIMS(6));
    ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, UG_DIMS(6));
    gelu_cuda(&cut_ctx, &dy, &dx);
    ug_tensor hy = cut_download(&dy);
    memcpy(want, hy.data, sizeof want);
    ck_assert_float_eq(want[0], 0.0f);
    ck_assert(isinf(want[1]) && want[1] > 0);
    ck_assert(isnan(want[2]));
    ck_assert_float_eq_tol(want[3], 0.5e-30f, 1e-37f);
    ck_assert_float_eq_tol(want[4], -0.5e-30f, 1e-37f);
    ck_assert_float_eq(want[5], 3.0e38f);
    ug_tensor_free(&hy);
    ug_tensor_free(&dx);
    ug_tensor_free(&dy);
}
END_TEST

START_TEST(cuda_relu_sigmoid) {
    check_act_inputs(relu_cuda, relu_ref, 5.0f, 1.0f, 0, 0, true, "relu");
    float nan_in[3] = {NAN, -1.0f, 2.0f};
    check_act(relu_cuda, relu_ref, nan_in, 3, 0, 0, true, "relu NaN");
    check_act_inputs(sigmoid_cuda, sigmoid_ref, 100.0f, 5.0f, 1e-37, 1e-6, false, "sigmoid");
}
END_TEST

START_TEST(cuda_add_mul_contiguous_in_place) {
    for (int s = 0; s < NODD; s++) {
        int64_t R = odd[s], C = odd[(s + 2) % NODD], n = R * C;
        float *a = test_normal_f32(n, 10 + s), *b = test_normal_f32(n, 20 + s), *wa = malloc((size_t)n * 4),
              *wm = malloc((size_t)n * 4);
        add_ref(wa, a, b, n);
        mul_ref(wm, a, b, n);
        ug_tensor ha = ug_tensor_wrap(a, UG_F32, UG_DIMS(R, C)),
                  hb = ug_tensor_wrap(b, UG_F32, UG_DIMS(R, C));
        ug_tensor f[3] = {{0}};
        for (int k = 0; k < cut_schedule_count(); k++) {
            cut_use_schedule(k);
            ug_tensor da = cut_upload(&ha), db = cut_upload(&hb), dy = cut_empty(UG_F32, UG_DIMS(R, C));
            add_cuda(&cut_ctx, &dy, &da, &db);
            cut_check_exact(&dy, wa, &f[0], "add");
            mul_cuda(&cut_ctx, &dy, &da, &db);
            cut_check_exact(&dy, wm, &f[1], "mul");
            add_cuda(&cut_ctx, &da, &da, &db);
            cut_check_exact(&da, wa, &f[2], "add in place");
            ug_tensor_free(&da), ug_tensor_free(&db), ug_tensor_free(&dy);
        }
        for (int k = 0; k < 3; k++)
            ug_tensor_free(&f[k]);
        free(a), free(b), free(wa), free(wm);
    }
}
END_TEST

// b broadcast by stride-0 views of small device tensors over [2, C, H, W].
START_TEST(cuda_add_mul_broadcast) {
    for (int s = 0; s < 4; s++) {
        int64_t B = 2, C = odd[s], H = odd[(s + 2) % 5], W = odd[(s + 3) % 5], n = B * C * H * W;
        float *a = test_normal_f32(n, 100 + s), *full = malloc((size_t)n * 4), *want = malloc((size_t)n * 4);
        float *bc = test_normal_f32(C, 200 + s), *bw = test_normal_f32(W, 300 + s),
              *bs = test_normal_f32(1, 400 + s), *bhw = test_normal_f32(H * W, 500 + s);
        ug_tensor ha = ug_tensor_wrap(a, UG_F32, UG_DIMS(B, C, H, W));
        ug_tensor hsrc[4] = {ug_tensor_wrap(bc, UG_F32, UG_DIMS(C)), ug_tensor_wrap(bw, UG_F32, UG_DIMS(W)),
                             ug_tensor_wrap(bs, UG_F32, UG_DIMS(1)),
                             ug_tensor_wrap(bhw, UG_F32, UG_DIMS(H, W))};
        for (int v = 0; v < 4; v++) {
            ug_tensor f[2] = {{0}};
            for (int k = 0; k < cut_schedule_count(); k++) {
                cut_use_schedule(k);
                ug_tensor da = cut_upload(&ha), db = cut_upload(&hsrc[v]),
                          dy = cut_empty(UG_F32, UG_DIMS(B, C, H, W));
                ug_tensor t = db, hv = hsrc[v];
                if (v == 0) { // [C] -> [B, C, H, W]
                    t = ug_view_expand_dim(&t, 0, B), t = ug_view_expand_dim(&t, 2, H),
                    t = ug_view_expand_dim(&t, 3, W);
                    hv = ug_view_expand_dim(&hv, 0, B), hv = ug_view_expand_dim(&hv, 2, H);
                    hv = ug_view_expand_dim(&hv, 3, W);
                } else if (v == 1) { // [W] -> [B, C, H, W]
                    t = ug_view_expand_dim(&t, 0, B), t = ug_view_expand_dim(&t, 1, C),
                    t = ug_view_expand_dim(&t, 2, H);
                    hv = ug_view_expand_dim(&hv, 0, B), hv = ug_view_expand_dim(&hv, 1, C);
                    hv = ug_view_expand_dim(&hv, 2, H);
                } else if (v == 2) { // scalar: every stride 0
                    t = ug_view_strided(&db, 0, UG_DIMS(B, C, H, W), (const int64_t[]){0, 0, 0, 0});
                    hv = ug_view_strided(&hsrc[v], 0, UG_DIMS(B, C, H, W), (const int64_t[]){0, 0, 0, 0});
                } else { // [H, W] -> [B, C, H, W]
                    t = ug_view_expand_dim(&t, 0, B), t = ug_view_expand_dim(&t, 1, C);
                    hv = ug_view_expand_dim(&hv, 0, B), hv = ug_view_expand_dim(&hv, 1, C);
                }
                test_materialise_f32(full, &hv);
                add_ref(want, a, full, n);
                add_cuda(&cut_ctx, &dy, &da, &t);
                cut_check_exact(&dy, want, &f[0], "add broadcast");
                mul_ref(want, a, full, n);
                mul_cuda(&cut_ctx, &dy, &da, &t);
                cut_check_exact(&dy, want, &f[1], "mul broadcast");
                ug_tensor_free(&da), ug_tensor_free(&db), ug_tensor_free(&dy);
            }
            ug_tensor_free(&f[0]), ug_tensor_free(&f[1]);
        }
        free(a), free(full), free(want), free(bc), free(bw), free(bs), free(bhw);
    }
}
END_TEST

// a transposed, y the right half of each row of a [W, 2H] map whose left half stays as it was.
START_TEST(cuda_add_strided) {
    int64_t H = 17, W = 33, n = H * W;
    float *a = test_normal_f32(n, 600), *b = test_normal_f32(n, 601), *at = malloc((size_t)n * 4),
          *want = malloc((size_t)(2 * n) * 4);
    ug_tensor ha = ug_tensor_wrap(a, UG_F32, UG_DIMS(H, W)), hb = ug_tensor_wrap(b, UG_F32, UG_DIMS(W, H));
    ug_tensor hat = ug_view_transpose(&ha, 0, 1);
    test_materialise_f32(at, &hat);
    float *zero = calloc((size_t)(2 * n), 4);
    for (int64_t r = 0; r < W; r++)
        for (int64_t c = 0; c < 2 * H; c++)
            want[r * 2 * H + c] = c < H ? 0.0f : at[r * H + c - H] + b[r * H + c - H];
    ug_tensor hz = ug_tensor_wrap(zero, UG_F32, UG_DIMS(W, 2 * H)), f = {0};
    for (int k = 0; k < cut_schedule_count(); k++) {
        cut_use_schedule(k);
        ug_tensor da = cut_upload(&ha), db = cut_upload(&hb), dyy = cut_upload(&hz);
        ug_tensor dat = ug_view_transpose(&da, 0, 1), dy = ug_view_slice(&dyy, 1, H, H);
        add_cuda(&cut_ctx, &dy, &dat, &db);
        cut_check_exact(&dyy, want, &f, "add strided");
        ug_tensor_free(&da), ug_tensor_free(&db), ug_tensor_free(&dyy);
    }
    ug_tensor_free(&f);
    free(a), free(b), free(at), free(want), free(zero);
}
END_TEST

START_TEST(cuda_scale_add) {
    for (int s = 0; s < NODD; s++) {
        int64_t n = odd[s] * 7;
        float alpha = 0.125f * (float)(s + 1), beta = -0.3f;
        float *x = test_normal_f32(n, 700 + s), *want = malloc((size_t)n * 4), *fast = malloc((size_t)n * 4);
        ug_tensor hx = ug_tensor_wrap(x, UG_F32, UG_DIMS(n)), hf = ug_tensor_wrap(fast, UG_F32, UG_DIMS(n));
        scale_add_ref(want, x, alpha, beta, n);
        scale_add_cpu(&cut_ctx, &hf, &hx, alpha, beta);
        test_assert_close(fast, want, (size_t)n, 1e-7, 1.2e-7, "scale_add cpu");
        ug_tensor f[2] = {{0}};
        for (int k = 0; k < cut_schedule_count(); k++) {
            cut_use_schedule(k);
            ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, UG_DIMS(n));
            scale_add_cuda(&cut_ctx, &dy, &dx, alpha, beta);
            cut_check_exact(&dy, fast, &f[0], "scale_add");
            scale_add_cuda(&cut_ctx, &dx, &dx, alpha, beta);
            cut_check_exact(&dx, fast, &f[1], "scale_add in place");
            ug_tensor_free(&dx), ug_tensor_free(&dy);
        }
        ug_tensor_free(&f[0]), ug_tensor_free(&f[1]);
        free(x), free(want), free(fast);
    }
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cuda_pointwise", .setup = cut_setup, .teardown = cut_teardown, .timeout = 600},
        &s);
    test_add(tc, cuda_gelu, cuda_relu_sigmoid, cuda_add_mul_contiguous_in_place, cuda_add_mul_broadcast,
             cuda_add_strided, cuda_scale_add);
    return test_run_suite(s);
}
