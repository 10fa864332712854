// tests/test_cuda_gemm.c — the CUDA matmul and linear (ops/cuda/gemm.cu) against gemm_ref
// (double accumulation), under every emulator schedule, outputs bit-identical across schedules.
//   matmul: M x N x K over all of {1, 3, 17, 33, 127}^3 (and K = 0), A and B
//           row-major or transposed views, B F32 / BF16 / F16, batched with B per batch, a 2-D
//           shared B and a 3-D B of batch stride 0, alpha != 1, beta == 0 on a NaN-filled C
//           (C must not be read), beta != 0, bias, C a view with a row pitch > N (the columns
//           past N must stay untouched), the scaled-down model shape 257 x 96 x 384, and
//           65537 batches (more than one grid's z dim: the launch is cut into chunks).
//   linear: x [2, 17, 33] / [257, 384] / a row-strided view, W F32 / BF16 / F16, bias or not.
//   errors: an operand on the CPU, mismatched shapes: recorded as the context's error.
// Inputs are uniform(-1, 1) (BF16/F16 weights rounded first; the reference uses the rounded
// values, so widening must be exact). Tolerance atol = 2^-22 * (K + 8) * max(1, |alpha|) plus
// rtol 2^-21: the kernel sums K products in f32 (an FMA chain on the device, mul + add in the
// emulator), each step rounding by up to 2^-24 of a partial sum that grows like sqrt(k) / 3
// for these inputs (k / 4 at worst), so the error grows about linearly in K at a small
// fraction of 2^-24 K; measured under the emulator: at most ~0.25 of atol at every K here
// (2.1e-5 against 9.3e-5 at K = 384). alpha, beta * C and the bias add three roundings (the
// rtol). A missing or doubled product (|a b| ~ 0.25) exceeds atol by three orders of
// magnitude even at K = 384.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/gemm.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static const int64_t odd[] = {1, 3, 17, 33, 127};

static double atol_for(int64_t K, float alpha) {
    double a = fabs(alpha) > 1.0 ? fabs(alpha) : 1.0;
    return ldexp((double)(K + 8) * a, -22);
}
static const double RTOL = 4.8e-7; // 2^-21

static float *make_f32(int64_t n, uint64_t seed) {
    float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
    test_fill_uniform(x, (size_t)n, -1.0f, 1.0f, seed);
    return x;
}

typedef enum { B_PER_BATCH, B_SHARED_2D, B_STRIDE0 } bmode;

typedef struct mm_case {
    int64_t Bt, M, N, K; // Bt == 0: plain 2-D operands
    bool at, bt;         // A, B as transposed views of [K, M] / [N, K] buffers
    bmode bm;
    ug_dtype bdt;
    float alpha, beta;
    bool bias;
    int cpad; // extra columns of C's buffer past N
} mm_case;

static void run_matmul(const mm_case *c, uint64_t seed) {
    bool batched = c->Bt > 0;
    int64_t Bt = batched ? c->Bt : 1, M = c->M, N = c->N, K = c->K, ldc = N + c->cpad;
    int64_t nb = c->bm == B_PER_BATCH ? Bt : 1;
    float *A = make_f32(Bt * M * K, seed);
    void *Bq;
    float *Bw = cut_rand_weights(nb * K * N, c->bdt, seed + 1, &Bq);
    float *C0 = make_f32(Bt * M * ldc, seed + 2), *bias = make_f32(N, seed + 3);
    float *want = malloc((size_t)(Bt * M * ldc) * sizeof(float));
    for (int64_t i = 0; i < Bt * M * ldc; i++)
        want[i] = c->beta != 0.0f ? C0[i] : NAN; // beta == 0: C starts as NaN (cut_empty)
    for (int64_t b = 0; b < Bt; b++) {
        int64_t bb = c->bm == B_PER_BATCH ? b : 0;
        gemm_ref(M, N, K, c->alpha, A + b * M * K, c->at ? 1 : K, c->at ? M : 1, Bw + bb * K * N,
                 c->bt ? 1 : N, c->bt ? K : 1, c->beta, want + b * M * ldc, ldc, c->bias ? bias : NULL);
    }

    // Device operands: contiguous buffers, then the views the case asks for.
    int nd = batched ? 3 : 2;
    ug_tensor hA = batched ? ug_tensor_wrap(A, UG_F32, UG_DIMS(Bt, c->at ? K : M, c->at ? M : K))
                           : ug_tensor_wrap(A, UG_F32, UG_DIMS(c->at ? K : M, c->at ? M : K));
    int64_t br = c->bt ? N : K, bc = c->bt ? K : N;
    bool b3 = batched && c->bm == B_PER_BATCH;
    ug_tensor hB =
        b3 ? ug_tensor_wrap(Bq, c->bdt, UG_DIMS(nb, br, bc)) : ug_tensor_wrap(Bq, c->bdt, UG_DIMS(br, bc));
    ug_tensor dA = cut_upload(&hA), dB = cut_upload(&hB);
    ug_tensor hbias = ug_tensor_wrap(bias, UG_F32, UG_DIMS(N)), dbias = cut_upload(&hbias);
    ug_tensor vA = c->at ? ug_view_transpose(&dA, nd - 2, nd - 1) : dA;
    ug_tensor vB = c->bt ? ug_view_transpose(&dB, b3 ? 1 : 0, b3 ? 2 : 1) : dB;
    if (batched && c->bm == B_STRIDE0) vB = ug_view_expand_dim(&vB, 0, Bt);
    ug_tensor hC = batched ? ug_tensor_wrap(C0, UG_F32, UG_DIMS(Bt, M, ldc))
                           : ug_tensor_wrap(C0, UG_F32, UG_DIMS(M, ldc));

    char what[160];
    snprintf(what, sizeof what,
             "matmul Bt %lld M %lld N %lld K %lld at %d bt %d bm %d %s a %g b %g bias %d pad %d",
             (long long)c->Bt, (long long)M, (long long)N, (long long)K, c->at, c->bt, c->bm,
             ug_dtype_name(c->bdt), c->alpha, c->beta, c->bias, c->cpad);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dC = c->beta != 0.0f ? cut_upload(&hC) : cut_empty(UG_F32, hC.ndim, hC.shape);
        ug_tensor vC = c->cpad ? ug_view_slice(&dC, nd - 1, 0, N) : dC;
        matmul_cuda(&cut_ctx, &vC, &vA, &vB, c->bias ? &dbias : NULL, c->alpha, c->beta);
        cut_check(&dC, want, atol_for(K, c->alpha), RTOL, &first, what);
        ug_tensor_free(&dC);
    }
    ug_tensor_free(&first);
    ug_tensor_free(&dA), ug_tensor_free(&dB), ug_tensor_free(&dbias);
    free(A), free(Bq), free(Bw), free(C0), free(bias), free(want);
}

START_TEST(cuda_matmul_odd_sizes) {
    static const ug_dtype dts[] = {UG_F32, UG_BF16, UG_F16};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 5; k++) {
                mm_case c = {0};
                c.M = odd[i], c.N = odd[j], c.K = odd[k];
                c.at = (i + j + k) % 2, c.bt = (i + 2 * j + k) / 2 % 2, c.bdt = dts[(i + j + 2 * k) % 3];
                c.alpha = 1.0f;
                c.beta = 0.0f;
                run_matmul(&c, (uint64_t)(100 + i * 25 + j * 5 + k));
            }
}
END_TEST

START_TEST(cuda_matmul_layouts) {
    // Every transposition with every weight dtype on a ragged shape, with alpha, beta and bias.
    static const ug_dtype dts[] = {UG_F32, UG_BF16, UG_F16};
    for (int t = 0; t < 4; t++)
        for (int d = 0; d < 3; d++) {
            mm_case c = {0};
            c.M = 70, c.N = 67, c.K = 33;
            c.at = t & 1, c.bt = t >> 1, c.bdt = dts[d];
            c.alpha = (t + d) % 2 ? -1.5f : 1.0f;
            c.beta = d == 1 ? 0.0f : (d == 2 ? -0.25f : 1.0f);
            c.bias = (t + d) % 3 != 0;
            c.cpad = t == 2 ? 3 : 0;
            run_matmul(&c, (uint64_t)(200 + t * 3 + d));
        }
}
END_TEST

START_TEST(cuda_matmul_k0) {
    // No products: C = beta * C + bias.
    mm_case c = {.M = 17, .N = 33, .K = 0, .bdt = UG_F32, .alpha = 1.0f, .beta = 0.5f, .bias = true};
    run_matmul(&c, 300);
    c.beta = 0.0f;
    run_matmul(&c, 301);
}
END_TEST

START_TEST(cuda_matmul_batched) {
    for (int m = 0; m < 3; m++)
        for (int t = 0; t < 2; t++) {
            mm_case c = {0};
            c.Bt = 3, c.M = 33, c.N = 17, c.K = 40;
            c.bm = (bmode)m, c.at = t, c.bt = m == 1 ? t : !t;
            c.bdt = m == 2 ? UG_BF16 : UG_F32;
            c.alpha = t ? 0.5f : 1.0f, c.beta = t ? 2.0f : 0.0f, c.bias = t;
            run_matmul(&c, (uint64_t)(400 + m * 2 + t));
        }
}
END_TEST

START_TEST(cuda_matmul_model_shape) {
    // Scaled-down model GEMMs: tokens x channels x hidden, the weight transposed (nn.Linear
    // layout) in F16, then row-major BF16 with alpha, beta and bias.
    mm_case c = {.M = 257, .N = 96, .K = 384, .bt = true, .bdt = UG_F16, .alpha = 1.0f, .beta = 0.0f};
    run_matmul(&c, 500);
    mm_case d = {.M = 257, .N = 96, .K = 384, .bdt = UG_BF16, .alpha = 0.5f, .beta = 0.75f, .bias = true};
    run_matmul(&d, 501);
}
END_TEST

START_TEST(cuda_matmul_many_batches) {
    // More batches than one grid's z dim (65535): the launches are cut into chunks. One
    // schedule only (65537 blocks take a few seconds each time under the emulator).
    int64_t Bt = 65537, M = 1, N = 3, K = 2;
    ug_tensor hA = cut_rand(UG_DIMS(Bt, M, K), -1, 1, 700), hB = cut_rand(UG_DIMS(K, N), -1, 1, 701);
    float *want = malloc((size_t)(Bt * M * N) * sizeof(float));
    for (int64_t b = 0; b < Bt; b++)
        gemm_ref(M, N, K, 1.0f, (const float *)hA.data + b * M * K, K, 1, hB.data, N, 1, 0.0f,
                 want + b * M * N, N, NULL);
    ug_tensor dA = cut_upload(&hA), dB = cut_upload(&hB), dC = cut_empty(UG_F32, UG_DIMS(Bt, M, N));
    matmul_cuda(&cut_ctx, &dC, &dA, &dB, NULL, 1.0f, 0.0f);
    ug_tensor first = {0};
    cut_check(&dC, want, atol_for(K, 1.0f), RTOL, &first, "matmul 65537 batches");
    ug_tensor_free(&first);
    ug_tensor_free(&hA), ug_tensor_free(&hB), ug_tensor_free(&dA), ug_tensor_free(&dB), ug_tensor_free(&dC);
    free(want);
}
END_TEST

// linear over x [lead..., in] (a row pitch of in + xpad when xpad > 0: a view of a wider buffer).
static void run_linear(int nlead, const int64_t *lead, int64_t in, int64_t out, ug_dtype wdt, int bias_mode,
                       int64_t xpad, uint64_t seed) {
    int64_t rows = 1;
    for (int d = 0; d < nlead; d++)
        rows *= lead[d];
    int64_t ldx = in + xpad;
    float *x = make_f32(rows * ldx, seed);
    void *Wq, *bq = NULL;
    float *Ww = cut_rand_weights(out * in, wdt, seed + 1, &Wq);
    ug_dtype bdt = bias_mode == 2 ? UG_BF16 : UG_F32;
    float *bw = bias_mode ? cut_rand_weights(out, bdt, seed + 2, &bq) : NULL;
    float *want = malloc((size_t)(rows * out) * sizeof(float));
    gemm_ref(rows, out, in, 1.0f, x, ldx, 1, Ww, 1, in, 0.0f, want, out, bw);

    int64_t xs[UG_MAX_DIMS], ys[UG_MAX_DIMS];
    for (int d = 0; d < nlead; d++)
        xs[d] = ys[d] = lead[d];
    xs[nlead] = ldx, ys[nlead] = out;
    ug_tensor hx = ug_tensor_wrap(x, UG_F32, nlead + 1, xs), dx = cut_upload(&hx);
    ug_tensor vx = xpad ? ug_view_slice(&dx, nlead, 0, in) : dx;
    ug_tensor hW = ug_tensor_wrap(Wq, wdt, UG_DIMS(out, in)), dW = cut_upload(&hW);
    ug_tensor hb = bias_mode ? ug_tensor_wrap(bq, bdt, UG_DIMS(out)) : (ug_tensor){0};
    ug_tensor db = bias_mode ? cut_upload(&hb) : (ug_tensor){0};
    char what[128];
    snprintf(what, sizeof what, "linear rows %lld in %lld out %lld %s bias %d xpad %lld", (long long)rows,
             (long long)in, (long long)out, ug_dtype_name(wdt), bias_mode, (long long)xpad);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dy = cut_empty(UG_F32, nlead + 1, ys);
        linear_cuda(&cut_ctx, &dy, &vx, &dW, bias_mode ? &db : NULL);
        cut_check(&dy, want, atol_for(in, 1.0f), RTOL, &first, what);
        ug_tensor_free(&dy);
    }
    ug_tensor_free(&first);
    ug_tensor_free(&dx), ug_tensor_free(&dW), ug_tensor_free(&db);
    free(x), free(Wq), free(Ww), free(bq), free(bw), free(want);
}

START_TEST(cuda_linear) {
    static const ug_dtype dts[] = {UG_F32, UG_BF16, UG_F16};
    for (int d = 0; d < 3; d++)
        for (int bm = 0; bm < 3; bm++)
            run_linear(2, (const int64_t[]){2, 17}, 33, 96, dts[d], bm, 0, (uint64_t)(600 + d * 3 + bm));
    run_linear(1, (const int64_t[]){1}, 1, 1, UG_F32, 1, 0, 610);
    run_linear(1, (const int64_t[]){127}, 17, 3, UG_BF16, 0, 5, 611); // row pitch 22
    run_linear(1, (const int64_t[]){257}, 384, 96, UG_BF16, 1, 0, 612);
}
END_TEST

// ---- errors: recorded in the context, no crash; the fixture frees it without complaint ----

static void expect_error(const char *needle) {
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, needle), "%s", err.msg);
}

START_TEST(cuda_matmul_cpu_operand) {
    float a[6] = {0}, b[6] = {0};
    ug_tensor hA = ug_tensor_wrap(a, UG_F32, UG_DIMS(2, 3)), hB = ug_tensor_wrap(b, UG_F32, UG_DIMS(3, 2));
    ug_tensor dB = cut_upload(&hB), dC = cut_empty(UG_F32, UG_DIMS(2, 2));
    matmul_cuda(&cut_ctx, &dC, &hA, &dB, NULL, 1.0f, 0.0f); // A on the host
    expect_error("matmul");
    ug_tensor_free(&dB), ug_tensor_free(&dC);
}
END_TEST

START_TEST(cuda_matmul_bad_shape) {
    ug_tensor hA = cut_rand(UG_DIMS(2, 3), -1, 1, 1), hB = cut_rand(UG_DIMS(4, 2), -1, 1, 2);
    ug_tensor dA = cut_upload(&hA), dB = cut_upload(&hB), dC = cut_empty(UG_F32, UG_DIMS(2, 2));
    matmul_cuda(&cut_ctx, &dC, &dA, &dB, NULL, 1.0f, 0.0f); // K 3 vs 4
    expect_error("shapes do not match");
    ug_tensor_free(&hA), ug_tensor_free(&hB), ug_tensor_free(&dA), ug_tensor_free(&dB), ug_tensor_free(&dC);
}
END_TEST

START_TEST(cuda_linear_cpu_weight) {
    float w[6] = {0};
    ug_tensor hx = cut_rand(UG_DIMS(4, 3), -1, 1, 3), hW = ug_tensor_wrap(w, UG_F32, UG_DIMS(2, 3));
    ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, UG_DIMS(4, 2));
    linear_cuda(&cut_ctx, &dy, &dx, &hW, NULL); // W on the host
    expect_error("linear");
    ug_tensor_free(&hx), ug_tensor_free(&dx), ug_tensor_free(&dy);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cuda_gemm", .setup = cut_setup, .teardown = cut_teardown, .timeout = 600},
        &s);
    test_add(tc, cuda_matmul_odd_sizes, cuda_matmul_layouts, cuda_matmul_k0, cuda_matmul_batched,
             cuda_matmul_model_shape, cuda_matmul_many_batches, cuda_linear);
    TCase *te = tcase_create("cuda_gemm_errors");
    tcase_add_checked_fixture(te, cut_setup, cut_teardown_keep_error);
    tcase_add_test(te, cuda_matmul_cpu_operand);
    tcase_add_test(te, cuda_matmul_bad_shape);
    tcase_add_test(te, cuda_linear_cpu_weight);
    suite_add_tcase(s, te);
    return test_run_suite(s);
}
