// tests/test_gemm.c — the packed GEMM (ops/gemm.c) against gemm_ref on random data: odd sizes,
// all transpose combinations, alpha / beta / bias, batches, BF16 / F16 weights, linear_cpu.
// Every test runs up to three times (loop index 0: AVX-512 kernels when the CPU has them, 1: AVX2
// forced with UGAINS_NO_AVX512, which engine/cpu.c reads on each call, 2: bf16 precision on a
// CPU with AVX512-BF16).
//
// Tolerance: the kernel accumulates in f32 (blocked, FMA), the reference in double. Inputs are
// U(-1, 1), so a dot product of length K has magnitude ~sqrt(K) and an f32 rounding error that
// grows like eps * sqrt(K) * |sum|; atol = 1e-5 * sqrt(K) and rtol = 1e-5 sit well above that
// (about 10x) and far below the error of a single missing or wrong term (~0.3).
//
// bf16 precision: the kernel rounds A and B to bf16 (nearest, ties to even) and sums their
// products in f32 with vdpbf16ps. The product of two bf16 values (8-bit significands) is exact
// in f32 (16 bits), so on the bf16-ROUNDED inputs the only error left is the f32 rounding of
// the sums, at most two roundings per pair of k where the FMA path has two per pair too: the
// same bound as f32, and the same atol / rtol hold against a double reference computed on the
// rounded inputs (check_case rounds them when the context is in bf16). Against the unrounded
// inputs the error is ~2^-9 relative per term, ~1e-2 here: bf16_precision_fallback checks that
// it is there (the bf16 kernel really ran) and that it is gone when bf16 is switched off.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu.h"
#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/gemm.h"
#include "tests/helpers.h"

static bool path_bf16; // set by use_path: make_ctx asks for bf16 precision

static void use_path(int i) {
    setenv("UGAINS_NO_AVX512", i == 1 ? "1" : "0", 1);
    unsetenv("UGAINS_NO_AVX512BF16");
    path_bf16 = i == 2;
}

static double tol_abs(int64_t K) {
    return 1e-5 * sqrt((double)(K > 1 ? K : 1));
}

static ug_ctx make_ctx(int nthreads) {
    ug_ctx ctx;
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&ctx, nthreads, &err), UG_OK);
    if (path_bf16) ck_assert_int_eq(ug_ctx_set_precision(&ctx, UG_PRECISION_BF16, NULL), UG_PRECISION_BF16);
    return ctx;
}

// What the kernel multiplies: x itself, or x rounded to bf16 when ctx computes in bf16 (the
// reference of the bf16 path). malloc'ed copy of n values.
static float *operand(const ug_ctx *ctx, const float *x, size_t n) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = ctx->precision == UG_PRECISION_BF16 ? ug_bf16_to_f32(ug_f32_to_bf16(x[i])) : x[i];
    return v;
}

// operand() of a fill_random result, freeing it.
static float *operand_of(const ug_ctx *ctx, float *x, size_t n) {
    float *v = operand(ctx, x, n);
    free(x);
    return v;
}

static ug_tensor new_tensor(ug_dtype dt, int ndim, const int64_t *shape) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, dt, ndim, shape, &err), UG_OK);
    return t;
}

// Fills t (F32, BF16 or F16) with U(-1, 1) and returns the f32 values it actually holds
// (the widened weights the reference multiplies with), malloc'ed, same element order.
static float *fill_random(ug_tensor *t, uint64_t seed) {
    size_t n = (size_t)ug_tensor_numel(t);
    float *v = malloc((n ? n : 1) * sizeof *v);
    test_fill_uniform(v, n, -1.0f, 1.0f, seed);
    for (size_t i = 0; i < n; i++) {
        if (t->dtype == UG_BF16) {
            uint16_t h = ug_f32_to_bf16(v[i]);
            ((uint16_t *)t->data)[i] = h;
            v[i] = ug_bf16_to_f32(h);
        } else if (t->dtype == UG_F16) {
            uint16_t h = ug_f32_to_f16(v[i]);
            ((uint16_t *)t->data)[i] = h;
            v[i] = ug_f16_to_f32(h);
        } else {
            ((float *)t->data)[i] = v[i];
        }
    }
    return v;
}

typedef struct gemm_case {
    int64_t M, N, K;
    bool ta, tb; // A / B given as transposed views of [K, M] / [N, K] storage
    float alpha, beta;
    bool bias;
    ug_dtype bdt;
} gemm_case;

// One matmul_cpu call on 2-D tensors vs gemm_ref.
static void check_case(ug_ctx *ctx, gemm_case g, uint64_t seed) {
    int64_t M = g.M, N = g.N, K = g.K;
    ug_tensor as = g.ta ? new_tensor(UG_F32, UG_DIMS(K, M)) : new_tensor(UG_F32, UG_DIMS(M, K));
    ug_tensor bs = g.tb ? new_tensor(g.bdt, UG_DIMS(N, K)) : new_tensor(g.bdt, UG_DIMS(K, N));
    ug_tensor c = new_tensor(UG_F32, UG_DIMS(M, N)); // [M, N]
    ug_tensor bias = new_tensor(UG_F32, UG_DIMS(N)); // [N]
    float *aw = operand_of(ctx, fill_random(&as, seed), (size_t)(M * K));
    float *bw = operand_of(ctx, fill_random(&bs, seed + 1), (size_t)(K * N));
    free(fill_random(&bias, seed + 2));
    float *cv = c.data;
    if (g.beta != 0.0f)
        test_fill_uniform(cv, (size_t)(M * N), -1.0f, 1.0f, seed + 3);
    else
        for (int64_t i = 0; i < M * N; i++)
            cv[i] = NAN; // beta == 0 must not read C
    float *want = malloc((size_t)(M * N) * sizeof *want);
    memcpy(want, cv, (size_t)(M * N) * sizeof *want);

    ug_tensor a = g.ta ? ug_view_transpose(&as, 0, 1) : as; // [M, K]
    ug_tensor b = g.tb ? ug_view_transpose(&bs, 0, 1) : bs; // [K, N]
    gemm_ref(M, N, K, g.alpha, aw, a.stride[0], a.stride[1], bw, b.stride[0], b.stride[1], g.beta, want, N,
             g.bias ? bias.data : NULL);
    matmul_cpu(ctx, &c, &a, &b, g.bias ? &bias : NULL, g.alpha, g.beta);

    char what[160];
    snprintf(what, sizeof what, "%s %s M=%lld N=%lld K=%lld ta=%d tb=%d alpha=%g beta=%g bias=%d %s",
             ug_cpu_name(), ug_precision_name(ctx->precision), (long long)M, (long long)N, (long long)K, g.ta,
             g.tb, g.alpha, g.beta, g.bias, ug_dtype_name(g.bdt));
    test_assert_close(cv, want, (size_t)(M * N), tol_abs(K), 1e-5, what);
    free(want);
    free(aw);
    free(bw);
    ug_tensor_free(&as);
    ug_tensor_free(&bs);
    ug_tensor_free(&c);
    ug_tensor_free(&bias);
}

static const int64_t odd_sizes[] = {1, 3, 17, 33, 127};
enum { N_ODD = sizeof odd_sizes / sizeof odd_sizes[0] };

// Every B dtype: F32, and BF16 / F16 weights (widened by the f32 paths, rounded or copied to
// bf16 by the bf16 path).
START_TEST(odd_sizes_all_transposes) {
    use_path(_i);
    ug_ctx ctx = make_ctx(2);
    const ug_dtype dts[] = {UG_F32, UG_BF16, UG_F16};
    uint64_t seed = 1;
    for (int d = 0; d < 3; d++)
        for (int mi = 0; mi < N_ODD; mi++)
            for (int ni = 0; ni < N_ODD; ni++)
                for (int ki = 0; ki < N_ODD; ki++)
                    for (int t = 0; t < 4; t++) {
                        gemm_case g = {odd_sizes[mi], odd_sizes[ni], odd_sizes[ki], t & 1, t >> 1,
                                       1.0f,          0.0f,          false,         dts[d]};
                        check_case(&ctx, g, seed += 7);
                    }
    ug_ctx_free(&ctx);
}
END_TEST

// Sizes that cross every cache block: K over the K slab (beta accumulation across slabs), M over
// a row block, N over a column panel.
START_TEST(larger_sizes_cross_blocks) {
    use_path(_i);
    ug_ctx ctx = make_ctx(2);
    for (int t = 0; t < 4; t++) {
        check_case(&ctx, (gemm_case){257, 129, 300, t & 1, t >> 1, 1.0f, 0.0f, false, UG_F32}, 100 + t);
        check_case(&ctx, (gemm_case){601, 45, 70, t & 1, t >> 1, 1.0f, 0.5f, true, UG_F32}, 110 + t);
    }
    check_case(&ctx, (gemm_case){5, 2100, 530, false, true, 1.0f, 0.0f, true, UG_F32}, 120);
    // Several K slabs: beta and the bias apply once, the later slabs accumulate.
    check_case(&ctx, (gemm_case){33, 40, 2600, false, true, 0.5f, 0.7f, true, UG_F32}, 121);
    check_case(&ctx, (gemm_case){17, 33, 2600, true, false, 1.0f, 0.0f, false, UG_BF16}, 122);
    // An odd last slab (bf16: its last pair is half padding), F16 weights.
    check_case(&ctx, (gemm_case){19, 70, 2601, false, true, 1.0f, 0.3f, true, UG_F16}, 123);
    ug_ctx_free(&ctx);
}
END_TEST

START_TEST(alpha_beta_bias) {
    use_path(_i);
    ug_ctx ctx = make_ctx(2);
    const float alphas[] = {1.0f, 0.5f, -2.0f}, betas[] = {0.0f, 1.0f, 0.7f};
    uint64_t seed = 200;
    for (int ai = 0; ai < 3; ai++)
        for (int bi = 0; bi < 3; bi++)
            for (int bias = 0; bias < 2; bias++) {
                check_case(&ctx, (gemm_case){17, 33, 127, false, true, alphas[ai], betas[bi], bias, UG_F32},
                           seed++);
                check_case(&ctx, (gemm_case){33, 1, 300, true, false, alphas[ai], betas[bi], bias, UG_F32},
                           seed++);
                check_case(&ctx, (gemm_case){1, 127, 3, false, false, alphas[ai], betas[bi], bias, UG_F32},
                           seed++);
            }
    ug_ctx_free(&ctx);
}
END_TEST

START_TEST(half_precision_weights) {
    use_path(_i);
    ug_ctx ctx = make_ctx(2);
    const ug_dtype dts[] = {UG_BF16, UG_F16};
    uint64_t seed = 300;
    for (int d = 0; d < 2; d++)
        for (int t = 0; t < 4; t++) {
            check_case(&ctx, (gemm_case){33, 127, 17, t & 1, t >> 1, 1.0f, 0.0f, true, dts[d]}, seed++);
            check_case(&ctx, (gemm_case){130, 77, 300, t & 1, t >> 1, 1.0f, 0.0f, false, dts[d]}, seed++);
            check_case(&ctx, (gemm_case){3, 1, 1, t & 1, t >> 1, 0.5f, 0.7f, true, dts[d]}, seed++);
        }
    ug_ctx_free(&ctx);
}
END_TEST

// An odd thread count partitions the row blocks and sliver chunks unevenly.
START_TEST(three_threads) {
    use_path(_i);
    ug_ctx ctx = make_ctx(3);
    check_case(&ctx, (gemm_case){127, 33, 17, false, true, 1.0f, 0.0f, true, UG_F32}, 400);
    check_case(&ctx, (gemm_case){1000, 50, 40, false, true, 1.0f, 0.0f, false, UG_F32}, 401);
    ug_ctx_free(&ctx);
}
END_TEST

// Batched matmul_cpu: A [Bt, M, K] (optionally per-batch transposed), B [K, N] shared, B as a
// stride-0 batch, or B [Bt, K, N]; C [Bt, M, N].
static void check_batched(ug_ctx *ctx, int64_t Bt, int64_t M, int64_t N, int64_t K, bool ta, int bmode,
                          uint64_t seed) {
    ug_tensor as = ta ? new_tensor(UG_F32, UG_DIMS(Bt, K, M)) : new_tensor(UG_F32, UG_DIMS(Bt, M, K));
    ug_tensor bs = bmode == 2 ? new_tensor(UG_F32, UG_DIMS(Bt, K, N)) : new_tensor(UG_F32, UG_DIMS(K, N));
    ug_tensor c = new_tensor(UG_F32, UG_DIMS(Bt, M, N)); // [Bt, M, N]
    ug_tensor bias = new_tensor(UG_F32, UG_DIMS(N));     // [N]
    float *aw = operand_of(ctx, fill_random(&as, seed), (size_t)ug_tensor_numel(&as));
    float *bw = operand_of(ctx, fill_random(&bs, seed + 1), (size_t)ug_tensor_numel(&bs));
    free(fill_random(&bias, seed + 2));
    test_fill_uniform(c.data, (size_t)(Bt * M * N), -1.0f, 1.0f, seed + 3);
    float *want = malloc((size_t)(Bt * M * N) * sizeof *want);
    memcpy(want, c.data, (size_t)(Bt * M * N) * sizeof *want);

    ug_tensor a = ta ? ug_view_transpose(&as, 1, 2) : as;           // [Bt, M, K]
    ug_tensor b = bmode == 1 ? ug_view_expand_dim(&bs, 0, Bt) : bs; // [Bt, K, N] or [K, N]
    int64_t sb = b.ndim == 3 ? b.stride[0] : 0;
    for (int64_t i = 0; i < Bt; i++)
        gemm_ref(M, N, K, 0.5f, aw + i * a.stride[0], a.stride[1], a.stride[2], bw + i * sb,
                 b.stride[b.ndim - 2], b.stride[b.ndim - 1], 0.3f, want + i * M * N, N, bias.data);
    matmul_cpu(ctx, &c, &a, &b, &bias, 0.5f, 0.3f);

    char what[128];
    snprintf(what, sizeof what, "%s %s batched Bt=%lld M=%lld N=%lld K=%lld ta=%d bmode=%d", ug_cpu_name(),
             ug_precision_name(ctx->precision), (long long)Bt, (long long)M, (long long)N, (long long)K, ta,
             bmode);
    test_assert_close(c.data, want, (size_t)(Bt * M * N), tol_abs(K), 1e-5, what);
    free(want);
    free(aw);
    free(bw);
    ug_tensor_free(&as);
    ug_tensor_free(&bs);
    ug_tensor_free(&c);
    ug_tensor_free(&bias);
}

START_TEST(batched_shared_and_per_batch_b) {
    use_path(_i);
    ug_ctx ctx = make_ctx(2);
    uint64_t seed = 500;
    for (int bmode = 0; bmode < 3; bmode++)
        for (int ta = 0; ta < 2; ta++) {
            check_batched(&ctx, 5, 17, 33, 19, ta, bmode, seed += 4);    // many small: one GEMM per thread
            check_batched(&ctx, 2, 127, 100, 200, ta, bmode, seed += 4); // few large: threads inside
            check_batched(&ctx, 1, 3, 17, 33, ta, bmode, seed += 4);
        }
    ug_ctx_free(&ctx);
}
END_TEST

START_TEST(linear_matches_reference) {
    use_path(_i);
    ug_ctx ctx = make_ctx(2);
    const ug_dtype dts[] = {UG_F32, UG_BF16, UG_F16};
    for (int d = 0; d < 3; d++) {
        int64_t in = 33, out = 127;
        ug_tensor x = new_tensor(UG_F32, UG_DIMS(2, 17, in));  // [B, N, C_in]
        ug_tensor w = new_tensor(dts[d], UG_DIMS(out, in));    // [C_out, C_in]
        ug_tensor bias = new_tensor(UG_F32, UG_DIMS(out));     // [C_out]
        ug_tensor y = new_tensor(UG_F32, UG_DIMS(2, 17, out)); // [B, N, C_out]
        float *xv = operand_of(&ctx, fill_random(&x, 600 + d), (size_t)(34 * in));
        float *wv = operand_of(&ctx, fill_random(&w, 610 + d), (size_t)(out * in));
        free(fill_random(&bias, 620 + d));
        float *want = malloc((size_t)(34 * out) * sizeof *want);
        gemm_ref(34, out, in, 1.0f, xv, in, 1, wv, 1, in, 0.0f, want, out, bias.data);
        linear_cpu(&ctx, &y, &x, &w, &bias);
        test_assert_close(y.data, want, (size_t)(34 * out), tol_abs(in), 1e-5, ug_dtype_name(dts[d]));
        free(want);
        free(xv);
        free(wv);
        ug_tensor_free(&x);
        ug_tensor_free(&w);
        ug_tensor_free(&bias);
        ug_tensor_free(&y);
    }
    ug_ctx_free(&ctx);
}
END_TEST

// A packing callback over a row-major F32 B [K, ldb] (gemm_pack_b_fn's contract).
typedef struct packb_src {
    const float *b;
    int64_t ldb;
} packb_src;

static void packb_rowmajor(void *arg, float *out, int w, int64_t k0, int64_t kc, int64_t j0, int cols) {
    const packb_src *s = arg;
    for (int64_t k = 0; k < kc; k++)
        for (int j = 0; j < w; j++)
            out[k * w + j] = j < cols ? s->b[(k0 + k) * s->ldb + j0 + j] : 0.0f;
}

// Raw-pointer entry points, including K == 0 (C = beta * C + bias) and the serial variant.
START_TEST(raw_pointer_entry_points) {
    use_path(_i);
    ug_ctx ctx = make_ctx(2);
    enum { M = 19, N = 37, K = 41 };
    float a[M * K], b[K * N], bias[N], c[M * N], want[M * N];
    test_fill_uniform(a, M * K, -1.0f, 1.0f, 700);
    test_fill_uniform(b, K * N, -1.0f, 1.0f, 701);
    test_fill_uniform(bias, N, -1.0f, 1.0f, 702);
    test_fill_uniform(c, M * N, -1.0f, 1.0f, 703);
    float *ar = operand(&ctx, a, M * K), *br = operand(&ctx, b, K * N); // what the kernel multiplies
    memcpy(want, c, sizeof c);
    gemm_ref(M, N, 0, 1.0f, a, K, 1, b, N, 1, 0.5f, want, N, bias);
    gemm_cpu(&ctx, M, N, 0, 1.0f, a, K, 1, b, UG_F32, N, 1, 0.5f, c, N, bias);
    test_assert_close(c, want, M * N, 1e-6, 1e-6, "K=0");

    gemm_ref(M, N, K, 1.0f, ar, K, 1, br, N, 1, 0.0f, want, N, NULL);
    gemm_cpu_serial(&ctx, 1, M, N, K, 1.0f, a, K, 1, b, UG_F32, N, 1, 0.0f, c, N, NULL);
    test_assert_close(c, want, M * N, tol_abs(K), 1e-5, "gemm_cpu_serial");

    // A column slice of C (ldc > N) must leave the other columns alone.
    float wide[M * (N + 3)];
    for (int i = 0; i < M * (N + 3); i++)
        wide[i] = 42.0f;
    gemm_cpu(&ctx, M, N, K, 1.0f, a, K, 1, b, UG_F32, N, 1, 0.0f, wide, N + 3, NULL);
    for (int m = 0; m < M; m++) {
        test_assert_close(wide + m * (N + 3), want + m * N, N, tol_abs(K), 1e-5, "ldc > N");
        for (int j = N; j < N + 3; j++)
            ck_assert_float_eq(wide[m * (N + 3) + j], 42.0f);
    }

    // B from a packing callback (what the NCHW convolution does), threaded and serial.
    packb_src src = {b, N};
    gemm_cpu_packb(&ctx, M, N, K, 1.0f, a, K, 1, packb_rowmajor, &src, 0.0f, c, N, NULL);
    test_assert_close(c, want, M * N, tol_abs(K), 1e-5, "gemm_cpu_packb");
    memset(c, 0, sizeof c);
    gemm_cpu_packb_serial(&ctx, 1, M, N, K, 1.0f, a, K, 1, packb_rowmajor, &src, 0.0f, c, N, NULL);
    test_assert_close(c, want, M * N, tol_abs(K), 1e-5, "gemm_cpu_packb_serial");
    free(ar);
    free(br);
    ug_ctx_free(&ctx);
}
END_TEST

// The precision switch: the setter falls back to f32 (with its one-line note) when bf16 is
// forced off, and a context left in bf16 computes in f32 once the switch is set (checked per
// call). The bf16 kernel is recognised by its error against the unrounded inputs.
START_TEST(bf16_precision_fallback) {
    unsetenv("UGAINS_NO_AVX512");
    ug_ctx ctx = make_ctx(2);
    const char *note = "unset";
    setenv("UGAINS_NO_AVX512BF16", "1", 1);
    ck_assert_int_eq(ug_ctx_set_precision(&ctx, UG_PRECISION_BF16, &note), UG_PRECISION_F32);
    ck_assert_int_eq(ctx.precision, UG_PRECISION_F32);
    ck_assert_ptr_nonnull(note);
    ck_assert_ptr_nonnull(strstr(note, "f32"));
    ck_assert_int_eq(ug_ctx_set_precision(&ctx, UG_PRECISION_F32, &note), UG_PRECISION_F32);
    ck_assert_ptr_null(note);
    unsetenv("UGAINS_NO_AVX512BF16");
    if (!ug_cpu_has_avx512_bf16()) {
        ck_assert_int_eq(ug_ctx_set_precision(&ctx, UG_PRECISION_BF16, &note), UG_PRECISION_F32);
        ck_assert_ptr_nonnull(note);
        ug_ctx_free(&ctx);
        return;
    }
    ck_assert_int_eq(ug_ctx_set_precision(&ctx, UG_PRECISION_BF16, &note), UG_PRECISION_BF16);
    ck_assert_ptr_null(note);

    enum { M = 33, N = 65, K = 127 };
    static float a[M * K], b[K * N], c[M * N], want[M * N];
    test_fill_uniform(a, M * K, -1.0f, 1.0f, 800);
    test_fill_uniform(b, K * N, -1.0f, 1.0f, 801);
    gemm_ref(M, N, K, 1.0f, a, K, 1, b, N, 1, 0.0f, want, N, NULL); // unrounded inputs
    double err = 0;
    gemm_cpu(&ctx, M, N, K, 1.0f, a, K, 1, b, UG_F32, N, 1, 0.0f, c, N, NULL);
    for (int i = 0; i < M * N; i++)
        err = fmax(err, fabs((double)c[i] - want[i]));
    ck_assert_msg(err > 20 * tol_abs(K), "bf16 precision: error %g against the unrounded inputs, f32-small",
                  err);
    const char *offs[] = {"UGAINS_NO_AVX512BF16", "UGAINS_NO_AVX512"};
    for (int o = 0; o < 2; o++) {
        setenv(offs[o], "1", 1);
        gemm_cpu(&ctx, M, N, K, 1.0f, a, K, 1, b, UG_F32, N, 1, 0.0f, c, N, NULL);
        test_assert_close(c, want, M * N, tol_abs(K), 1e-5, offs[o]);
        ck_assert_int_eq(ug_ctx_set_precision(&ctx, UG_PRECISION_BF16, &note), UG_PRECISION_F32);
        ck_assert_ptr_nonnull(note);
        unsetenv(offs[o]);
        ck_assert_int_eq(ug_ctx_set_precision(&ctx, UG_PRECISION_BF16, &note), UG_PRECISION_BF16);
    }
    ug_ctx_free(&ctx);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "gemm", .timeout = 60}, &s);
    // Loop index 0: AVX-512 (when present), 1: AVX2 forced, 2: bf16 (when AVX512-BF16 is there).
    int first = ug_cpu_has_avx512() ? 0 : 1;
    int paths = ug_cpu_has_avx512_bf16() ? 3 : ug_cpu_has_avx512() ? 2 : 1;
    tcase_add_loop_test(tc, odd_sizes_all_transposes, first, first + paths);
    tcase_add_loop_test(tc, larger_sizes_cross_blocks, first, first + paths);
    tcase_add_loop_test(tc, alpha_beta_bias, first, first + paths);
    tcase_add_loop_test(tc, half_precision_weights, first, first + paths);
    tcase_add_loop_test(tc, three_threads, first, first + paths);
    tcase_add_loop_test(tc, batched_shared_and_per_batch_b, first, first + paths);
    tcase_add_loop_test(tc, linear_matches_reference, first, first + paths);
    tcase_add_loop_test(tc, raw_pointer_entry_points, first, first + paths);
    tcase_add_test(tc, bf16_precision_fallback);
    return test_run_suite(s);
}
