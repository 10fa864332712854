// tests/test_cuda_misc.c — the CUDA argmax, sine positional embedding, masked-attention
// threshold and SAM prompt encoding (ops/cuda/argmax.cu, posembed.cu, attn_mask.cu,
// prompt_pe.cu) against their CPU references under every emulator schedule, outputs
// bit-identical across schedules.
//   argmax:     B = 2, C = 1, 3, 19, 256, 300 over 1x1 .. 33x5 maps, values from 4 levels (ties
//               everywhere), NaN and -inf mixed in plus hand-made pixels (NaN first, NaN late,
//               all equal); I32 and U8 (C <= 256) outputs; a channels-last (permuted) input into
//               a slice of a wider output. Exact against argmax_ref.
//   posembed:   F = 4 .. 128 (75: an odd F where glibc's powf is one ulp off for some dim_t) on
//               1x1 .. 33x17 maps, [2F, H, W] and [B, 2F, H, W], a channels-last view and a slice
//               with row padding.
//   attn_mask:  Q x N random logits (Q 1..127, N 1..1001: rows longer than a block), the special
//               values around the float sigmoid's 0.5 (-0, denormals, -6e-8 .. -1.01e-6, NaN,
//               +-inf), the 4096 floats around the last logit that attends (bisection on the
//               reference), random logits in the band [-1.5e-6, 1e-7], rows that must be reset
//               (all blocked: N = 1, 17, 1001) next to rows that must not (one key attends, one
//               NaN), strided x into a slice of a wider mask. Exact against the reference.
//   prompt_pe:  P = 1 .. 127 points, C = 2 .. 256, E = 1, 2, 4, labels cycling -1 .. E + 1 plus
//               -7, not_a_point with -0 (the CPU's 0 + -0 = +0 checked to the bit), y a slice
//               of a wider buffer and a transposed view.
// Tolerances (sinf / cosf on the device are within 2 ulp of the exact value, CUDA Math API;
// glibc's are within 1 ulp; in the emulator they are glibc's):
//   posembed   1e-6 abs against the double reference, as the CPU suite: the float32 angle is off
//              by < 5e-7, 2 ulp of a value <= 1 add <= 1.2e-7. 5e-7 abs against posembed_sine_cpu:
//              the angles are the CPU's float steps, sin / cos differ by <= 1.2e-7, and where
//              glibc's powf misrounds dim_t by one ulp the angle moves by <= 2^-24 * 2 pi = 3.7e-7.
//   prompt_pe  2e-5 abs against the double reference, as the CPU suite: |f| <= 2 pi * 2 * 3 (xy
//              just past the frame, |G| <= 3) ~ 38, where float32 rounding of the angle is ~4e-6.
//              4e-7 abs against prompt_pe_cpu: bit-identical angles, sin / cos within 1.2e-7 of
//              each other, then one rounding of the sum with an embedding (|sum| < 2: 2.4e-7).
//   argmax, attn_mask: exact.
// Error paths: an operand on the host, a U8 argmax over 300 channels, an odd channel count, a
// mask of the wrong dtype, labels of the wrong dtype.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/argmax.h"
#include "ops/attn_mask.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/movement.h"
#include "ops/posembed.h"
#include "ops/prompt_pe.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

// A host parent of `shape` holding the contiguous `dense` (the view's shape) at the elements of
// the view make_view takes of it, 0xFF bytes elsewhere (NaN, or the poison of cut_empty).
static ug_tensor parent_with(const void *dense, ug_dtype dt, int ndim, const int64_t *shape, ug_tensor *view,
                             ug_tensor (*make_view)(const ug_tensor *parent)) {
    ug_tensor p = cut_host_new(dt, ndim, shape);
    memset(p.data, 0xff, ug_tensor_nbytes(&p));
    *view = make_view(&p);
    ug_tensor src = ug_tensor_wrap((void *)dense, dt, view->ndim, view->shape);
    copy_ref(view, &src);
    return p;
}

// The context's recorded error contains `text`; then a fresh context for what follows.
static void expect_error(const char *text) {
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, text), "error \"%s\" lacks \"%s\"", err.msg, text);
    cut_teardown_keep_error();
    cut_setup();
}

// ---- argmax ----

// x [B, C, H, W]: values from 4 levels, every 97th NaN, every 89th -inf; pixel 0 of batch 0
// all equal, pixel 1 NaN at channels 2 and C - 1, pixel 2 NaN at channel 0 (when they exist).
static void argmax_input(float *x, int64_t B, int64_t C, int64_t HW, uint64_t seed) {
    test_rng r = test_rng_seed(seed);
    int64_t n = B * C * HW;
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)(test_rng_u64(&r) % 4) - 1.5f;
        if (i % 97 == 13) x[i] = NAN;
        if (i % 89 == 7) x[i] = -INFINITY;
    }
    for (int64_t c = 0; c < C; c++)
        x[c * HW] = 0.5f;
    if (HW > 2 && C > 2) {
        x[2 * HW + 1] = NAN;
        x[(C - 1) * HW + 1] = NAN;
        x[2] = NAN;
    }
}

static void argmax_case(int64_t B, int64_t C, int64_t H, int64_t W, uint64_t seed) {
    int64_t HW = H * W;
    ug_tensor hx = cut_host_new(UG_F32, UG_DIMS(B, C, H, W));
    argmax_input(hx.data, B, C, HW, seed);
    int32_t *want = malloc((size_t)(B * HW) * sizeof(int32_t));
    uint8_t *want8 = malloc((size_t)(B * HW));
    argmax_ref(want, hx.data, B, C, HW);
    for (int64_t i = 0; i < B * HW; i++)
        want8[i] = (uint8_t)want[i];
    if (HW > 2 && C > 2) {
        ck_assert_int_eq(want[0], 0); // all equal: the first
        ck_assert_int_eq(want[1], 2); // the first NaN
        ck_assert_int_eq(want[2], 0); // NaN first
    }
    char what[128];
    snprintf(what, sizeof what, "argmax B %lld C %lld %lldx%lld", (long long)B, (long long)C, (long long)H,
             (long long)W);
    ug_tensor first = {0}, first8 = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_I32, UG_DIMS(B, H, W));
        argmax_cuda(&cut_ctx, &dy, &dx);
        cut_check_exact(&dy, want, &first, w2);
        if (C <= 256) {
            ug_tensor dy8 = cut_empty(UG_U8, UG_DIMS(B, H, W));
            argmax_cuda(&cut_ctx, &dy8, &dx);
            cut_check_exact(&dy8, want8, &first8, w2);
            ug_tensor_free(&dy8);
        }
        ug_tensor_free(&dx), ug_tensor_free(&dy);
    }
    ug_tensor_free(&first), ug_tensor_free(&first8), ug_tensor_free(&hx);
    free(want), free(want8);
}

START_TEST(argmax_vs_reference) {
    static const int64_t Cs[] = {1, 3, 19, 256, 300};
    static const int64_t HWs[][2] = {{1, 1}, {3, 17}, {17, 33}, {33, 5}};
    for (int c = 0; c < 5; c++)
        for (int p = 0; p < 4; p++)
            argmax_case(2, Cs[c], HWs[p][0], HWs[p][1], (uint64_t)(c * 7 + p));
}
END_TEST

// Sizes the view makers below (one-argument callbacks of parent_with) need.
static int64_t g_W;
static ug_tensor chlast_view(const ug_tensor *p) { // [B, C, H, W] of [B, H, W, C]
    return ug_view_permute(p, (const int[]){0, 3, 1, 2});
}
static ug_tensor cols_view(const ug_tensor *p) { // [B, H, W] of [B, H, W + 3]
    return ug_view_slice(p, 2, 1, g_W);
}

// A channels-last input (x's channels stride 1) into the columns 1..W of [B, H, W + 3].
START_TEST(argmax_strided) {
    int64_t B = 2, C = 19, H = 5, W = 33, HW = H * W;
    g_W = W;
    float *x = malloc((size_t)(B * C * HW) * sizeof(float));
    argmax_input(x, B, C, HW, 5);
    int32_t *want = malloc((size_t)(B * HW) * sizeof(int32_t));
    uint8_t *want8 = malloc((size_t)(B * HW));
    argmax_ref(want, x, B, C, HW);
    for (int64_t i = 0; i < B * HW; i++)
        want8[i] = (uint8_t)want[i];
    ug_tensor vx, vy, vy8;
    ug_tensor px = parent_with(x, UG_F32, UG_DIMS(B, H, W, C), &vx, chlast_view);
    ug_tensor py = parent_with(want, UG_I32, UG_DIMS(B, H, W + 3), &vy, cols_view);
    ug_tensor py8 = parent_with(want8, UG_U8, UG_DIMS(B, H, W + 3), &vy8, cols_view);
    ug_tensor first = {0}, first8 = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        const char *sched = cut_use_schedule(s);
        ug_tensor bx = cut_upload(&px), by = cut_empty(UG_I32, py.ndim, py.shape),
                  by8 = cut_empty(UG_U8, py8.ndim, py8.shape);
        ug_tensor dx = cut_dev_view(&bx, &px, &vx), dy = cut_dev_view(&by, &py, &vy),
                  dy8 = cut_dev_view(&by8, &py8, &vy8);
        argmax_cuda(&cut_ctx, &dy, &dx);
        argmax_cuda(&cut_ctx, &dy8, &dx);
        cut_check_exact(&by, py.data, &first, sched);
        cut_check_exact(&by8, py8.data, &first8, sched);
        ug_tensor_free(&bx), ug_tensor_free(&by), ug_tensor_free(&by8);
    }
    ug_tensor_free(&first), ug_tensor_free(&first8), ug_tensor_free(&px), ug_tensor_free(&py),
        ug_tensor_free(&py8);
    free(x), free(want), free(want8);
}
END_TEST

// ---- posembed ----

static ug_tensor pe_chlast_view(const ug_tensor *p) { // [B, 2F, H, W] of [B, H, W, 2F]
    return ug_view_permute(p, (const int[]){0, 3, 1, 2});
}
static ug_tensor pe_rows_view(const ug_tensor *p) { // [2F, H, W] of [2F, H, W + 2]
    return ug_view_slice(p, 2, 2, g_W);
}

// layout 0: [2F, H, W]; 1: [2, 2F, H, W]; 2: [2, 2F, H, W] channels last; 3: [2F, H, W] rows padded.
static void posembed_case(int64_t F, int64_t H, int64_t W, int layout) {
    g_W = W;
    int64_t B = layout == 1 || layout == 2 ? 2 : 1, n = 2 * F * H * W;
    float *ref1 = malloc((size_t)n * sizeof(float)), *want = malloc((size_t)(B * n) * sizeof(float));
    posembed_sine_ref(ref1, F, H, W);
    for (int64_t b = 0; b < B; b++)
        memcpy(want + b * n, ref1, (size_t)n * sizeof(float));
    int64_t s4[4] = {B, 2 * F, H, W};
    int nd = B > 1 ? 4 : 3;
    const int64_t *shape = B > 1 ? s4 : s4 + 1;
    ug_tensor hcpu = cut_host_new(UG_F32, nd, shape);
    ug_ctx cpu;
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&cpu, 2, &err), UG_OK);
    posembed_sine_cpu(&cpu, &hcpu);
    ug_ctx_free(&cpu);
    ug_tensor pw = {0}, pc = {0}, vw, vc;
    const float *want_out = want, *cpu_out = hcpu.data;
    if (layout == 2) {
        pw = parent_with(want, UG_F32, UG_DIMS(B, H, W, 2 * F), &vw, pe_chlast_view);
        pc = parent_with(hcpu.data, UG_F32, UG_DIMS(B, H, W, 2 * F), &vc, pe_chlast_view);
    } else if (layout == 3) {
        pw = parent_with(want, UG_F32, UG_DIMS(2 * F, H, W + 2), &vw, pe_rows_view);
        pc = parent_with(hcpu.data, UG_F32, UG_DIMS(2 * F, H, W + 2), &vc, pe_rows_view);
    }
    if (layout >= 2) want_out = pw.data, cpu_out = pc.data;
    char what[128];
    snprintf(what, sizeof what, "posembed F %lld %lldx%lld layout %d", (long long)F, (long long)H,
             (long long)W, layout);
    ug_tensor first = {0}, dummy = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor base = layout >= 2 ? cut_empty(UG_F32, pw.ndim, pw.shape) : cut_empty(UG_F32, nd, shape);
        ug_tensor dy = layout >= 2 ? cut_dev_view(&base, &pw, &vw) : base;
        posembed_sine_cuda(&cut_ctx, &dy);
        cut_check(&base, want_out, 1e-6, 0, &first, w2);
        strncat(w2, " vs cpu", sizeof w2 - strlen(w2) - 1);
        cut_check(&base, cpu_out, 5e-7, 0, &dummy, w2);
        ug_tensor_free(&dummy);
        ug_tensor_free(&base);
    }
    ug_tensor_free(&first), ug_tensor_free(&pw), ug_tensor_free(&pc), ug_tensor_free(&hcpu);
    free(ref1), free(want);
}

START_TEST(posembed_vs_reference) {
    static const int64_t sizes[][3] = {{32, 4, 8}, {32, 1, 1}, {16, 3, 17}, {64, 33, 17},
                                       {4, 17, 3}, {75, 5, 3}, {128, 5, 9}};
    for (int k = 0; k < 7; k++)
        for (int layout = 0; layout < 4; layout++)
            if (layout == k % 4 || k == 6) posembed_case(sizes[k][0], sizes[k][1], sizes[k][2], layout);
}
END_TEST

// ---- attn_mask_threshold ----

static int64_t g_N;
static ug_tensor mask_cols_view(const ug_tensor *p) { // [Q, N] of [Q, N + 5]
    return ug_view_slice(p, 1, 3, g_N);
}
static ug_tensor x_cols_view(const ug_tensor *p) { // [Q, N] of [Q, N + 2]
    return ug_view_slice(p, 1, 1, g_N);
}

// x [Q, N] contiguous; strided: x passes as a slice of [Q, N + 2], mask as one of [Q, N + 5].
static void mask_case(const float *x, int64_t Q, int64_t N, bool strided, const char *what) {
    g_N = N;
    uint8_t *want = malloc((size_t)(Q * N));
    attn_mask_threshold_ref(want, x, Q, N);
    ug_tensor hx = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(Q, N)), px = {0}, pm = {0}, vx, vm;
    if (strided) {
        px = parent_with(x, UG_F32, UG_DIMS(Q, N + 2), &vx, x_cols_view);
        pm = parent_with(want, UG_U8, UG_DIMS(Q, N + 5), &vm, mask_cols_view);
    }
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%lld, %lld]%s [%s]", what, (long long)Q, (long long)N,
                 strided ? " strided" : "", cut_use_schedule(s));
        if (strided) {
            ug_tensor bx = cut_upload(&px), bm = cut_empty(UG_U8, pm.ndim, pm.shape);
            ug_tensor dx = cut_dev_view(&bx, &px, &vx), dm = cut_dev_view(&bm, &pm, &vm);
            attn_mask_threshold_cuda(&cut_ctx, &dm, &dx);
            cut_check_exact(&bm, pm.data, &first, w2);
            ug_tensor_free(&bx), ug_tensor_free(&bm);
        } else {
            ug_tensor dx = cut_upload(&hx), dm = cut_empty(UG_U8, UG_DIMS(Q, N));
            attn_mask_threshold_cuda(&cut_ctx, &dm, &dx);
            cut_check_exact(&dm, want, &first, w2);
            ug_tensor_free(&dx), ug_tensor_free(&dm);
        }
    }
    ug_tensor_free(&first), ug_tensor_free(&px), ug_tensor_free(&pm);
    free(want);
}

START_TEST(mask_random) {
    static const int64_t Qs[] = {1, 3, 17, 33, 127}, Ns[] = {1, 3, 17, 257, 1001};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            int64_t Q = Qs[a], N = Ns[b];
            float *x = malloc((size_t)(Q * N) * sizeof(float));
            test_fill_uniform(x, (size_t)(Q * N), -3.0f, 2.0f, (uint64_t)(a * 5 + b));
            mask_case(x, Q, N, (a + b) % 3 == 1, "random");
            free(x);
        }
}
END_TEST

START_TEST(mask_boundary_and_non_finite) {
    const float special[] = {-0.0f,    0.0f,     -1e-8f,    -5.9e-8f,  -6e-8f, -6.1e-8f, -1.1e-7f,
                             -1.2e-7f, -3e-7f,   -1e-6f,    -1.01e-6f, 1e-45f, -1e-45f,  -1e-38f,
                             NAN,      INFINITY, -INFINITY, 1e-7f,     -2.0f,  3.0f};
    int64_t n = sizeof special / sizeof special[0], Q = 33;
    float *x = malloc((size_t)(Q * n) * sizeof(float));
    for (int64_t q = 0; q < Q; q++)
        for (int64_t i = 0; i < n; i++)
            x[q * n + i] = special[(q * 7 + i) % n];
    mask_case(x, Q, n, false, "special");
    mask_case(x, Q, n, true, "special");
    // The last logit that still attends, by bisection on the float bit patterns of [-2e-7, 0)
    // (the reference is monotone there; the row is {v, 1}, so that a blocked v is not reset),
    // then the 4096 floats around it.
    uint32_t lo, hi; // bit patterns of negative floats grow with the magnitude
    float a = -2e-7f, z = -0.0f;
    memcpy(&lo, &z, 4);
    memcpy(&hi, &a, 4);
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
    // Each row: 64 of them, then a key that attends, so that no row is reset and every
    // decision shows.
    int64_t rows = 64, N = 65;
    float *y = malloc((size_t)(rows * N) * sizeof(float));
    for (int64_t q = 0; q < rows; q++) {
        for (int64_t k = 0; k < 64; k++) {
            uint32_t bits = hi - (uint32_t)(rows * 64 / 2) + (uint32_t)(q * 64 + k);
            memcpy(&y[q * N + k], &bits, 4);
        }
        y[q * N + 64] = 1.0f;
    }
    ck_assert_msg(hi == 0xb43fffffu, "boundary %08x", hi); // -0x1.7ffffep-23, (1.5 - 2^-23) 2^-23
    mask_case(y, rows, N, false, "every float near the boundary");
    test_fill_uniform(y, (size_t)(rows * N), -1.5e-6f, 1e-7f, 99);
    mask_case(y, rows, N, false, "the band");
    free(x);
    free(y);
}
END_TEST

// Rows of 1, 17 and 1001 keys: all blocked (reset to 0) by far and band logits, or kept
// because one key attends (the last one, a NaN, a 0).
START_TEST(mask_rows_reset) {
    static const int64_t Ns[] = {1, 17, 1001};
    for (int k = 0; k < 3; k++) {
        int64_t Q = 6, N = Ns[k];
        float *x = malloc((size_t)(Q * N) * sizeof(float));
        test_fill_uniform(x, (size_t)(Q * N), -3.0f, -0.5f, (uint64_t)k);
        for (int64_t i = 0; i < N; i++)
            x[2 * N + i] = -5e-7f - 1e-9f * (float)i; // the band, every key blocked
        x[1 * N + N - 1] = 0.5f;                      // row 1 keeps its blocked keys
        x[3 * N + N / 2] = NAN;                       // row 3 too
        x[4 * N] = 0.0f;                              // and row 4
        mask_case(x, Q, N, false, "reset");
        mask_case(x, Q, N, true, "reset");
        uint8_t *m = malloc((size_t)(Q * N));
        attn_mask_threshold_ref(m, x, Q, N);
        int64_t ones[6] = {0};
        for (int64_t q = 0; q < Q; q++)
            for (int64_t i = 0; i < N; i++)
                ones[q] += m[q * N + i];
        ck_assert_int_eq(ones[0], 0);
        ck_assert_int_eq(ones[2], 0);
        ck_assert_int_eq(ones[5], 0);
        ck_assert_int_eq(ones[1], N - 1);
        ck_assert_int_eq(ones[4], N - 1);
        free(m);
        free(x);
    }
}
END_TEST

// ---- prompt_pe ----

static int64_t g_C;
static ug_tensor pe_slice_view(const ug_tensor *p) { // [P, C] of [P, C + 3]
    return ug_view_slice(p, 1, 2, g_C);
}
static ug_tensor pe_transposed_view(const ug_tensor *p) { // [P, C] of [C, P]
    return ug_view_transpose(p, 0, 1);
}

// layout 0: y contiguous; 1: a slice of [P, C + 3]; 2: the transpose of [C, P].
static void prompt_pe_case(int64_t P, int64_t C, int64_t E, float size, int layout, uint64_t seed) {
    g_C = C;
    ug_tensor xy = cut_host_new(UG_F32, UG_DIMS(P, 2)), lb = cut_host_new(UG_I32, UG_DIMS(P));
    ug_tensor gauss = cut_host_new(UG_F32, UG_DIMS(2, C / 2)), embed = cut_host_new(UG_F32, UG_DIMS(E, C));
    ug_tensor na = cut_host_new(UG_F32, UG_DIMS(1, C)), hcpu = cut_host_new(UG_F32, UG_DIMS(P, C));
    test_fill_uniform(xy.data, (size_t)(2 * P), -2.0f, size + 2.0f, seed);
    test_fill_uniform(gauss.data, (size_t)C, -3.0f, 3.0f, seed + 1);
    test_fill_uniform(embed.data, (size_t)(E * C), -1.0f, 1.0f, seed + 2);
    test_fill_uniform(na.data, (size_t)C, -1.0f, 1.0f, seed + 3);
    ((float *)na.data)[0] = -0.0f;
    int32_t *l = lb.data;
    for (int64_t p = 0; p < P; p++)
        l[p] = p % 11 == 10 ? -7 : (int32_t)(p % (E + 3)) - 1;
    float *want = malloc((size_t)(P * C) * sizeof(float));
    prompt_pe_ref(want, xy.data, l, gauss.data, embed.data, E, na.data, P, C, size);
    ug_ctx cpu;
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&cpu, 2, &err), UG_OK);
    prompt_pe_cpu(&cpu, &hcpu, &xy, &lb, &gauss, &embed, &na, size);
    ug_ctx_free(&cpu);
    ug_tensor pw = {0}, pc = {0}, vw, vc;
    const float *want_out = want, *cpu_out = hcpu.data;
    if (layout == 1) {
        pw = parent_with(want, UG_F32, UG_DIMS(P, C + 3), &vw, pe_slice_view);
        pc = parent_with(hcpu.data, UG_F32, UG_DIMS(P, C + 3), &vc, pe_slice_view);
    } else if (layout == 2) {
        pw = parent_with(want, UG_F32, UG_DIMS(C, P), &vw, pe_transposed_view);
        pc = parent_with(hcpu.data, UG_F32, UG_DIMS(C, P), &vc, pe_transposed_view);
    }
    if (layout) want_out = pw.data, cpu_out = pc.data;
    char what[128];
    snprintf(what, sizeof what, "prompt_pe P %lld C %lld E %lld layout %d", (long long)P, (long long)C,
             (long long)E, layout);
    ug_tensor first = {0}, dummy = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor dxy = cut_upload(&xy), dlb = cut_upload(&lb), dg = cut_upload(&gauss),
                  de = cut_upload(&embed), dna = cut_upload(&na);
        ug_tensor base = layout ? cut_empty(UG_F32, pw.ndim, pw.shape) : cut_empty(UG_F32, UG_DIMS(P, C));
        ug_tensor dy = layout ? cut_dev_view(&base, &pw, &vw) : base;
        prompt_pe_cuda(&cut_ctx, &dy, &dxy, &dlb, &dg, &de, &dna, size);
        cut_check(&base, want_out, 2e-5, 0, &first, w2);
        strncat(w2, " vs cpu", sizeof w2 - strlen(w2) - 1);
        cut_check(&base, cpu_out, 4e-7, 0, &dummy, w2);
        // Label -1 rows are 0 + not_a_point: the CPU's bits, +0 for its -0.
        const float *g = dummy.data;
        int64_t o0 = layout ? ((const char *)vw.data - (const char *)pw.data) / 4 : 0;
        int64_t rs = layout ? vw.stride[0] : C, cs = layout ? vw.stride[1] : 1;
        for (int64_t p = 0; p < P; p++)
            if (l[p] == -1)
                for (int64_t c = 0; c < C; c++) {
                    float a = g[o0 + p * rs + c * cs], b = cpu_out[o0 + p * rs + c * cs];
                    ck_assert_msg(!memcmp(&a, &b, 4), "%s: point %lld channel %lld: %g vs %g", w2,
                                  (long long)p, (long long)c, a, b);
                }
        ug_tensor_free(&dummy);
        ug_tensor ts[] = {dxy, dlb, dg, de, dna, base};
        for (int i = 0; i < 6; i++)
            ug_tensor_free(&ts[i]);
    }
    ug_tensor ts[] = {first, pw, pc, xy, lb, gauss, embed, na, hcpu};
    for (int i = 0; i < 9; i++)
        ug_tensor_free(&ts[i]);
    free(want);
}

START_TEST(prompt_pe_vs_reference) {
    static const int64_t sizes[][3] = {{1, 2, 4},   {3, 6, 4},     {17, 34, 1},
                                       {33, 64, 4}, {127, 256, 4}, {7, 256, 2}};
    for (int s = 0; s < 6; s++)
        for (int layout = 0; layout < 3; layout++)
            if (layout == s % 3 || s == 5)
                prompt_pe_case(sizes[s][0], sizes[s][1], sizes[s][2],
                               s == 5 ? 1024.0f : 1024.0f / (float)(s + 1), layout, 40 + (uint64_t)s);
}
END_TEST

// ---- error paths ----

START_TEST(errors_are_recorded) {
    ug_tensor hx = cut_rand(UG_DIMS(1, 300, 2, 3), -1, 1, 1), dx = cut_upload(&hx);
    ug_tensor dy = cut_empty(UG_I32, UG_DIMS(1, 2, 3)), dy8 = cut_empty(UG_U8, UG_DIMS(1, 2, 3));
    argmax_cuda(&cut_ctx, &dy, &hx);
    expect_error("cuda: argmax: operand 1 is on the");
    argmax_cuda(&cut_ctx, &dy8, &dx);
    expect_error("cuda: argmax: x must be F32");
    ug_tensor dpe = cut_empty(UG_F32, UG_DIMS(3, 4, 4));
    posembed_sine_cuda(&cut_ctx, &dpe);
    expect_error("cuda: posembed_sine: y must be F32");
    ug_tensor hl = cut_rand(UG_DIMS(2, 3), -1, 1, 2), dl = cut_upload(&hl),
              dm = cut_empty(UG_I32, UG_DIMS(2, 3));
    attn_mask_threshold_cuda(&cut_ctx, &dm, &dl);
    expect_error("cuda: attn_mask_threshold: mask must be U8");
    int64_t P = 3, C = 4;
    ug_tensor hxy = cut_rand(UG_DIMS(P, 2), 0, 8, 3), hlb = cut_rand(UG_DIMS(P), 0, 1, 4),
              hg = cut_rand(UG_DIMS(2, C / 2), -1, 1, 5), he = cut_rand(UG_DIMS(4, C), -1, 1, 6),
              hna = cut_rand(UG_DIMS(1, C), -1, 1, 7);
    ug_tensor dxy = cut_upload(&hxy), dlb = cut_upload(&hlb), dg = cut_upload(&hg), de = cut_upload(&he),
              dna = cut_upload(&hna), dpp = cut_empty(UG_F32, UG_DIMS(P, C));
    prompt_pe_cuda(&cut_ctx, &dpp, &dxy, &dlb, &dg, &de, &dna, 8.0f); // labels F32, not I32
    expect_error("cuda: prompt_pe: xy F32 [P, 2], labels I32 [P]");
    ug_tensor ts[] = {hx, dx, dy, dy8, dpe, hl, dl, dm, hxy, hlb, hg, he, hna, dxy, dlb, dg, de, dna, dpp};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        ug_tensor_free(&ts[i]);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cuda_misc", .setup = cut_setup, .teardown = cut_teardown, .timeout = 300},
        &s);
    test_add(tc, argmax_vs_reference, argmax_strided, posembed_vs_reference, mask_random,
             mask_boundary_and_non_finite, mask_rows_reset, prompt_pe_vs_reference);
    TCase *te = tcase_create("cuda_misc_errors");
    tcase_add_checked_fixture(te, cut_setup, cut_teardown_keep_error);
    tcase_add_test(te, errors_are_recorded);
    suite_add_tcase(s, te);
    return test_run_suite(s);
}
