// tests/test_conv.c — conv2d (1x1, 3x3, patchify 4x4/s4 and 16x16/s16, strided, odd kernels,
// BF16/F16 weights, channels-last views, Swin-style bottom/right padding, tiled im2col, the
// im2col packed into the GEMM's slivers, and gemm_cpu_packb itself) and
// the 2x2/s2 transposed convolution, fast kernels against the double references; and SAM's
// patch embed, neck and output upscaling against the sam_tiny golden tensors.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "ops/activation.h"
#include "ops/conv2d.h"
#include "ops/conv_transpose.h"
#include "ops/elementwise.h"
#include "ops/gemm.h"
#include "ops/layernorm.h"
#include "tests/helpers.h"
#include "weights-tools/torch_ckpt.h"

// Inputs N(0, 1), weights N(0, 1/K) so outputs are O(1). The fast path sums K <= 1143
// products in float (in the GEMM's order): error ~ sqrt(K) * 6e-8 * O(1) ~ 2e-6. Tolerance
// atol 2e-5 + rtol 2e-5, ten times that; a wrong tap, stride or padding moves outputs by O(0.1).
//
// The loop tests run with loop index 0 in f32 and 1 in bf16 precision (use_precision). In bf16
// the GEMMs under the convolutions round input and weights to bf16 and sum exact products in
// f32, so against a reference on the bf16-rounded operands (ref_in) the error is again that of
// f32 sums and the same tolerance holds (the argument of tests/test_gemm.c); biases stay f32.
static const double ATOL = 2e-5, RTOL = 2e-5;

// Loop index 1: bf16 precision for test_ctx (f32 on a CPU without AVX512-BF16, where ref_in
// then rounds nothing and the test is the f32 one again).
static void use_precision(int i) {
    ug_ctx_set_precision(&test_ctx, i == 1 ? UG_PRECISION_BF16 : UG_PRECISION_F32, NULL);
}

// The values the kernels multiply: a copy of v[0 .. n), rounded to bf16 when test_ctx computes
// in bf16 (malloc'ed).
static float *ref_in(const float *v, int64_t n) {
    float *r = malloc((size_t)(n ? n : 1) * sizeof *r);
    for (int64_t i = 0; i < n; i++)
        r[i] = test_ctx.precision == UG_PRECISION_BF16 ? ug_bf16_to_f32(ug_f32_to_bf16(v[i])) : v[i];
    return r;
}

static float *rnd(int64_t n, float std, uint64_t seed) {
    float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
    test_fill_normal(x, (size_t)n, std, seed);
    return x;
}

// Rounds F32 values to dt in place and returns the 16-bit copy (BF16/F16 weights).
static uint16_t *to_half(float *v, int64_t n, ug_dtype dt) {
    uint16_t *h = malloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++) {
        h[i] = dt == UG_BF16 ? ug_f32_to_bf16(v[i]) : ug_f32_to_f16(v[i]);
        v[i] = dt == UG_BF16 ? ug_bf16_to_f32(h[i]) : ug_f16_to_f32(h[i]);
    }
    return h;
}

// The kernels' input: x [B, C, H, W] itself, or with channels_last a copy stored [B, H, W, C]
// seen through a permuted NCHW view; *copy gets that buffer (NULL when there is none).
static ug_tensor input_view(float *x, int64_t B, int64_t C, int64_t H, int64_t W, bool channels_last,
                            float **copy) {
    *copy = NULL;
    if (!channels_last) return ug_tensor_wrap(x, UG_F32, UG_DIMS(B, C, H, W));
    int64_t n_el = B * C * H * W;
    float *xin = malloc((size_t)(n_el ? n_el : 1) * 4); // [B, H, W, C]
    for (int64_t n = 0; n < B; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < H * W; p++)
                xin[(n * H * W + p) * C + c] = x[(n * C + c) * H * W + p];
    ug_tensor t = ug_tensor_wrap(xin, UG_F32, UG_DIMS(B, H, W, C));
    *copy = xin;
    return ug_view_permute(&t, (int[]){0, 3, 1, 2});
}

// The kernels' output: got [B, C, H, W] itself, or with channels_last a [B, H, W, C] buffer
// (*buf) seen through a permuted NCHW view; output_gather copies it back into got.
static ug_tensor output_view(float *got, int64_t B, int64_t C, int64_t H, int64_t W, bool channels_last,
                             float **buf) {
    *buf = NULL;
    if (!channels_last) return ug_tensor_wrap(got, UG_F32, UG_DIMS(B, C, H, W));
    int64_t n_el = B * C * H * W;
    *buf = malloc((size_t)(n_el ? n_el : 1) * 4);
    ug_tensor t = ug_tensor_wrap(*buf, UG_F32, UG_DIMS(B, H, W, C));
    return ug_view_permute(&t, (int[]){0, 3, 1, 2});
}

static void output_gather(float *got, float *buf, int64_t B, int64_t C, int64_t H, int64_t W) {
    if (!buf) return;
    for (int64_t n = 0; n < B; n++)
        for (int64_t o = 0; o < C; o++)
            for (int64_t p = 0; p < H * W; p++)
                got[(n * C + o) * H * W + p] = buf[(n * H * W + p) * C + o];
    free(buf);
}

typedef struct {
    int64_t B, Cin, H, W, Cout;
    int kh, kw, stride, pad;
} conv_case;

// layout: 0 NCHW in and out; 1 channels-last output view; 2 channels-last input view;
// 3 both. wdt: weight (and bias) dtype.
static void run_conv(const conv_case *cs, ug_dtype wdt, int layout, bool bias, uint64_t seed) {
    int64_t Ho = conv2d_out_size(cs->H, cs->kh, cs->stride, cs->pad);
    int64_t Wo = conv2d_out_size(cs->W, cs->kw, cs->stride, cs->pad);
    int64_t K = cs->Cin * cs->kh * cs->kw;
    int64_t nx = cs->B * cs->Cin * cs->H * cs->W, nw = cs->Cout * K, ny = cs->B * cs->Cout * Ho * Wo;
    float *x = rnd(nx, 1.0f, seed), *w = rnd(nw, 1.0f / sqrtf((float)K), seed + 1);
    float *b = rnd(cs->Cout, 0.5f, seed + 2);
    float *want = malloc((size_t)(ny ? ny : 1) * 4), *got = malloc((size_t)(ny ? ny : 1) * 4);
    void *wdata = w, *bdata = b;
    if (wdt != UG_F32) {
        wdata = to_half(w, nw, wdt);
        bdata = to_half(b, cs->Cout, wdt);
    }
    float *xr = ref_in(x, nx), *wr = ref_in(w, nw);
    conv2d_ref(want, xr, wr, bias ? b : NULL, cs->B, cs->Cin, cs->H, cs->W, cs->Cout, cs->kh, cs->kw,
               cs->stride, cs->pad, cs->pad, Ho, Wo);
    free(xr), free(wr);

    ug_tensor tw = ug_tensor_wrap(wdata, wdt, UG_DIMS(cs->Cout, cs->Cin, cs->kh, cs->kw));
    ug_tensor tb = ug_tensor_wrap(bdata, wdt, UG_DIMS(cs->Cout));
    // Input and output: NCHW, or NHWC buffers seen through permuted views.
    float *xin, *yout;
    ug_tensor tx = input_view(x, cs->B, cs->Cin, cs->H, cs->W, layout & 2, &xin);
    ug_tensor ty = output_view(got, cs->B, cs->Cout, Ho, Wo, layout & 1, &yout);
    conv2d_cpu(&test_ctx, &ty, &tx, &tw, bias ? &tb : NULL, cs->stride, cs->pad);
    output_gather(got, yout, cs->B, cs->Cout, Ho, Wo);
    char what[160];
    snprintf(what, sizeof what, "conv2d B%lld Cin%lld %lldx%lld Cout%lld k%dx%d s%d p%d %s layout%d%s %s",
             (long long)cs->B, (long long)cs->Cin, (long long)cs->H, (long long)cs->W, (long long)cs->Cout,
             cs->kh, cs->kw, cs->stride, cs->pad, ug_dtype_name(wdt), layout, bias ? " bias" : "",
             ug_precision_name(test_ctx.precision));
    test_assert_close(got, want, (size_t)ny, ATOL, RTOL, what);
    free(xin);
    if (wdata != w) free(wdata), free(bdata);
    free(x), free(w), free(b), free(want), free(got);
}

static const conv_case cases[] = {
    // 1x1 (the direct GEMM path), including a 1x1 image and one channel.
    {2, 17, 9, 13, 33, 1, 1, 1, 0},
    {1, 127, 5, 7, 3, 1, 1, 1, 0},
    {1, 1, 1, 1, 1, 1, 1, 1, 0},
    {1, 3, 17, 17, 5, 1, 1, 2, 0}, // 1x1 stride 2: through im2col
    {1, 3, 6, 5, 4, 1, 1, 1, 1},   // 1x1 with padding: a zero border
    // 3x3 pad 1 (pixel-decoder output convs, SAM neck).
    {2, 3, 17, 33, 17, 3, 3, 1, 1},
    {1, 33, 9, 9, 127, 3, 3, 1, 1},
    {1, 1, 1, 1, 1, 3, 3, 1, 1},
    {1, 17, 33, 17, 3, 3, 3, 2, 1},
    {1, 5, 3, 4, 2, 3, 3, 1, 0},
    // Patchify: Swin 4x4/s4 and SAM 16x16/s16 on sizes that are not multiples of the stride.
    {1, 3, 35, 70, 17, 4, 4, 4, 0},
    {2, 3, 67, 50, 33, 16, 16, 16, 0},
    {1, 3, 16, 16, 127, 16, 16, 16, 0},
    // SAM mask downscaling 2x2/s2, odd kernels and strides.
    {1, 1, 17, 33, 4, 2, 2, 2, 0},
    {1, 3, 17, 13, 5, 5, 3, 1, 2},
    {1, 4, 19, 23, 6, 7, 7, 2, 3},
    {1, 2, 3, 3, 2, 5, 5, 3, 1},
};

START_TEST(conv2d_f32_matches_ref) {
    use_precision(_i);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_conv(&cases[i], UG_F32, 0, i % 3 != 2, 10 * i);
}
END_TEST

START_TEST(conv2d_half_weights) {
    use_precision(_i);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_conv(&cases[i], UG_BF16, 0, true, 1000 + 10 * i);
        if (i % 2 == 0) run_conv(&cases[i], UG_F16, 0, true, 2000 + 10 * i);
    }
}
END_TEST

// Channels-last output (transposed GEMM, weights used in their packed dtype) and input views.
START_TEST(conv2d_channels_last_views) {
    use_precision(_i);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int layout = 1; layout < 4; layout++) {
            run_conv(&cases[i], UG_F32, layout, true, 3000 + 10 * i + layout);
            if (layout == 1) run_conv(&cases[i], UG_BF16, layout, true, 4000 + 10 * i);
        }
    }
}
END_TEST

// NCHW output: the im2col is packed straight into the GEMM's B slivers, one serial GEMM per
// chunk of output pixels (576 with 2 threads here). 47x45 = 2115 pixels (4 chunks, starting
// mid-row, the last one short); Wo = 45 so slivers straddle output rows; K = 80 * 9 = 720 is
// cut into two K slabs starting mid-channel (k = 368 = channel 40, tap 8), the bias row of
// ones in the second; y has a padded channel stride and x is a strided crop of a wider image
// (row and channel strides not H * W).
START_TEST(conv2d_packed_im2col_chunks) {
    use_precision(_i);
    int64_t Cin = 80, H = 47, W = 45, Cout = 19, Wx = 51, HWo = H * W, ldy = HWo + 7;
    float *xw = rnd(Cin * H * Wx, 1.0f, 7000), *w = rnd(Cout * Cin * 9, 1.0f / sqrtf(720.0f), 7001);
    float *b = rnd(Cout, 0.5f, 7002), *x = malloc((size_t)(Cin * H * W) * 4);
    for (int64_t c = 0; c < Cin; c++)
        for (int64_t i = 0; i < H; i++)
            memcpy(x + (c * H + i) * W, xw + (c * H + i) * Wx + 3, (size_t)W * 4);
    float *want = malloc((size_t)(Cout * HWo) * 4), *ybuf = malloc((size_t)(Cout * ldy) * 4);
    float *got = malloc((size_t)(Cout * HWo) * 4);
    ug_tensor txw = ug_tensor_wrap(xw, UG_F32, UG_DIMS(1, Cin, H, Wx));
    ug_tensor tx = ug_view_slice(&txw, 3, 3, W);
    ug_tensor tw = ug_tensor_wrap(w, UG_F32, UG_DIMS(Cout, Cin, 3, 3)),
              tb = ug_tensor_wrap(b, UG_F32, UG_DIMS(Cout));
    ug_tensor ty = ug_tensor_wrap(ybuf, UG_F32, UG_DIMS(1, Cout, H, W));
    ty.stride[1] = ldy, ty.stride[0] = Cout * ldy;
    float *xr = ref_in(x, Cin * H * W), *wr = ref_in(w, Cout * Cin * 9);
    for (int pass = 0; pass < 2; pass++) {
        conv2d_ref(want, xr, wr, pass ? b : NULL, 1, Cin, H, W, Cout, 3, 3, 1, 1, 1, H, W);
        for (int64_t i = 0; i < Cout * ldy; i++)
            ybuf[i] = NAN; // the pitch padding stays NAN
        conv2d_cpu(&test_ctx, &ty, &tx, &tw, pass ? &tb : NULL, 1, 1);
        for (int64_t o = 0; o < Cout; o++) {
            memcpy(got + o * HWo, ybuf + o * ldy, (size_t)HWo * 4);
            for (int64_t i = HWo; i < ldy; i++)
                ck_assert_msg(isnan(ybuf[o * ldy + i]), "conv2d wrote past row %lld", (long long)o);
        }
        test_assert_close(got, want, (size_t)(Cout * HWo), ATOL, RTOL,
                          pass ? "packed im2col, bias" : "packed im2col");
    }
    free(xw), free(w), free(b), free(x), free(want), free(ybuf), free(got), free(xr), free(wr);
}
END_TEST

// gemm_cpu_packb and gemm_cpu_packb_serial against gemm_ref: B(k, n) = Bt[n * K + k] (a transposed store, so
// the callback is not a plain copy), odd sizes across K slabs and B panels, beta and bias.
typedef struct {
    const float *bt;
    int64_t K;
} packb_arg;

static void packb_transposed(void *arg, float *out, int w, int64_t k0, int64_t kc, int64_t j0, int cols) {
    const packb_arg *a = arg;
    for (int64_t k = 0; k < kc; k++)
        for (int j = 0; j < w; j++)
            out[k * w + j] = j < cols ? a->bt[(j0 + j) * a->K + k0 + k] : 0.0f;
}

START_TEST(gemm_packb_matches_ref) {
    use_precision(_i);
    static const int64_t sizes[][3] = {
        {1, 1, 1}, {17, 33, 3}, {33, 127, 700}, {127, 2100, 17}, {3, 4099, 1290}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int64_t M = sizes[t][0], N = sizes[t][1], K = sizes[t][2];
        float *A = rnd(M * K, 1.0f, 8000 + t), *bt = rnd(N * K, 1.0f, 8100 + t),
              *bias = rnd(N, 1.0f, 8200 + t);
        float *B = malloc((size_t)(K * N) * 4), *want = rnd(M * N, 1.0f, 8300 + t),
              *got = malloc((size_t)(M * N) * 4);
        memcpy(got, want, (size_t)(M * N) * 4);
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N; n++)
                B[k * N + n] = bt[n * K + k];
        float *Ar = ref_in(A, M * K), *Br = ref_in(B, K * N);
        gemm_ref(M, N, K, 0.5f, Ar, K, 1, Br, N, 1, 0.25f, want, N, bias);
        free(Ar), free(Br);
        packb_arg pa = {bt, K};
        float *got1 = malloc((size_t)(M * N) * 4);
        memcpy(got1, got, (size_t)(M * N) * 4);
        gemm_cpu_packb(&test_ctx, M, N, K, 0.5f, A, K, 1, packb_transposed, &pa, 0.25f, got, N, bias);
        gemm_cpu_packb_serial(&test_ctx, 1, M, N, K, 0.5f, A, K, 1, packb_transposed, &pa, 0.25f, got1, N,
                              bias);
        // K up to 1290 float products of N(0, 1) values: error ~ sqrt(K) * 6e-8 * sqrt(K), 1e-4
        // with margin; a wrong sliver or slab is off by O(1).
        test_assert_close(got, want, (size_t)(M * N), 1e-4 * (1 + K / 100.0), 1e-5, "gemm_cpu_packb");
        test_assert_close(got1, want, (size_t)(M * N), 1e-4 * (1 + K / 100.0), 1e-5, "gemm_cpu_packb_serial");
        free(got1);
        free(A), free(bt), free(bias), free(B), free(want), free(got);
    }
}
END_TEST

// More output rows than one im2col tile holds (K * Wo = 1143 * 33 floats per row, 55 rows per
// 8 MB tile, 67 rows): the tiles must join without gaps or overlaps.
START_TEST(conv2d_several_tiles) {
    use_precision(_i);
    conv_case cs = {1, 127, 67, 33, 3, 3, 3, 1, 1};
    run_conv(&cs, UG_F32, 0, true, 5000);
    run_conv(&cs, UG_BF16, 1, true, 5001);
}
END_TEST

// Swin PatchEmbed: pad bottom/right to a multiple of 4, then 4x4/s4. conv2d_cpu_ex with the
// ceil output size must equal the floor conv of the explicitly zero-padded image.
START_TEST(conv2d_ex_bottom_right_padding) {
    use_precision(_i);
    int64_t Cin = 3, H = 30, W = 49, Cout = 8, Hp = 32, Wp = 52, Ho = 8, Wo = 13;
    float *x = rnd(Cin * H * W, 1.0f, 6000), *w = rnd(Cout * Cin * 16, 0.15f, 6001),
          *b = rnd(Cout, 0.5f, 6002);
    float *xp = calloc((size_t)(Cin * Hp * Wp), 4), *want = malloc((size_t)(Cout * Ho * Wo) * 4),
          *got = malloc((size_t)(Cout * Ho * Wo) * 4);
    for (int64_t c = 0; c < Cin; c++)
        for (int64_t i = 0; i < H; i++)
            memcpy(xp + (c * Hp + i) * Wp, x + (c * H + i) * W, (size_t)W * 4);
    float *xr = ref_in(xp, Cin * Hp * Wp), *wr = ref_in(w, Cout * Cin * 16);
    conv2d_ref(want, xr, wr, b, 1, Cin, Hp, Wp, Cout, 4, 4, 4, 0, 0, Ho, Wo);
    free(xr), free(wr);
    ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(1, Cin, H, W)),
              ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(1, Cout, Ho, Wo));
    ug_tensor tw = ug_tensor_wrap(w, UG_F32, UG_DIMS(Cout, Cin, 4, 4)),
              tb = ug_tensor_wrap(b, UG_F32, UG_DIMS(Cout));
    conv2d_cpu_ex(&test_ctx, &ty, &tx, &tw, &tb, 4, 0, 0);
    test_assert_close(got, want, (size_t)(Cout * Ho * Wo), ATOL, RTOL, "conv2d_ex Swin padding");
    free(x), free(w), free(b), free(xp), free(want), free(got);
}
END_TEST

// Hand-checked: all-ones 4x5 image, all-ones 3x3 kernel, pad 1: each output counts the taps
// that land inside (4 at corners, 6 on edges, 9 inside), plus bias 0.5.
START_TEST(conv2d_known_values) {
    float x[20], w[9], b = 0.5f, y[20];
    for (int i = 0; i < 20; i++)
        x[i] = 1.0f;
    for (int i = 0; i < 9; i++)
        w[i] = 1.0f;
    ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(1, 1, 4, 5)),
              ty = ug_tensor_wrap(y, UG_F32, UG_DIMS(1, 1, 4, 5));
    ug_tensor tw = ug_tensor_wrap(w, UG_F32, UG_DIMS(1, 1, 3, 3)),
              tb = ug_tensor_wrap(&b, UG_F32, UG_DIMS(1));
    conv2d_cpu(&test_ctx, &ty, &tx, &tw, &tb, 1, 1);
    for (int r = 0; r < 4; r++) {
        for (int c = 0; c < 5; c++) {
            int ny = (r > 0) + 1 + (r < 3), nx = (c > 0) + 1 + (c < 4);
            ck_assert_float_eq(y[r * 5 + c], (float)(ny * nx) + 0.5f);
        }
    }
    ck_assert_int_eq(conv2d_out_size(1024, 16, 16, 0), 64);
    ck_assert_int_eq(conv2d_out_size(1023, 16, 16, 0), 63);
    ck_assert_int_eq(conv2d_out_size(35, 4, 4, 0), 8);
    ck_assert_int_eq(conv2d_out_size(17, 3, 2, 1), 9);
    ck_assert_int_eq(conv2d_out_size(2, 5, 1, 1), 0);
}
END_TEST

// ---- transposed convolution

typedef struct {
    int64_t B, Cin, H, W, Cout;
} ct_case;

static void run_ct(const ct_case *cs, ug_dtype wdt, int layout, bool bias, uint64_t seed) {
    int64_t Ho = 2 * cs->H, Wo = 2 * cs->W;
    int64_t nx = cs->B * cs->Cin * cs->H * cs->W, nw = cs->Cin * cs->Cout * 4,
            ny = cs->B * cs->Cout * Ho * Wo;
    float *x = rnd(nx, 1.0f, seed), *w = rnd(nw, 1.0f / sqrtf((float)cs->Cin), seed + 1);
    float *b = rnd(cs->Cout, 0.5f, seed + 2), *want = malloc((size_t)ny * 4), *got = malloc((size_t)ny * 4);
    void *wdata = w, *bdata = b;
    if (wdt != UG_F32) {
        wdata = to_half(w, nw, wdt);
        bdata = to_half(b, cs->Cout, wdt);
    }
    float *xr = ref_in(x, nx), *wr = ref_in(w, nw);
    conv_transpose2x2_ref(want, xr, wr, bias ? b : NULL, cs->B, cs->Cin, cs->H, cs->W, cs->Cout);
    free(xr), free(wr);
    ug_tensor tw = ug_tensor_wrap(wdata, wdt, UG_DIMS(cs->Cin, cs->Cout, 2, 2));
    ug_tensor tb = ug_tensor_wrap(bdata, wdt, UG_DIMS(cs->Cout));
    // Input and output: NCHW, or NHWC buffers seen through permuted views.
    float *xin, *yout;
    ug_tensor tx = input_view(x, cs->B, cs->Cin, cs->H, cs->W, layout & 2, &xin);
    ug_tensor ty = output_view(got, cs->B, cs->Cout, Ho, Wo, layout & 1, &yout);
    conv_transpose2x2_cpu(&test_ctx, &ty, &tx, &tw, bias ? &tb : NULL);
    output_gather(got, yout, cs->B, cs->Cout, Ho, Wo);
    char what[128];
    snprintf(what, sizeof what, "conv_transpose2x2 B%lld Cin%lld %lldx%lld Cout%lld %s layout%d %s",
             (long long)cs->B, (long long)cs->Cin, (long long)cs->H, (long long)cs->W, (long long)cs->Cout,
             ug_dtype_name(wdt), layout, ug_precision_name(test_ctx.precision));
    test_assert_close(got, want, (size_t)ny, ATOL, RTOL, what);
    free(xin);
    if (wdata != w) free(wdata), free(bdata);
    free(x), free(w), free(b), free(want), free(got);
}

START_TEST(conv_transpose_matches_ref) {
    use_precision(_i);
    const ct_case cs[] = {{1, 1, 1, 1, 1},
                          {2, 3, 5, 7, 17},
                          {1, 33, 9, 13, 3},
                          {1, 127, 3, 17, 33},
                          {1, 16, 33, 1, 8},
                          {1, 8, 1, 127, 4},
                          // T tile of 8 MB holds 2 << 20 / (1024 * 64) = 32 input rows: 2 tiles.
                          {1, 4, 40, 64, 256}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        run_ct(&cs[i], UG_F32, 0, i % 3 != 1, 100 * i);
        run_ct(&cs[i], UG_BF16, (int)(i % 4), true, 100 * i + 1);
        run_ct(&cs[i], UG_F16, 3, i % 2 == 0, 100 * i + 2);
    }
}
END_TEST

// Hand-checked: one input pixel, one in/out channel: the 2x2 output is the kernel times x + b.
START_TEST(conv_transpose_known_values) {
    float x = 2.0f, w[4] = {1, 2, 3, 4}, b = -1.0f, y[4];
    ug_tensor tx = ug_tensor_wrap(&x, UG_F32, UG_DIMS(1, 1, 1, 1)),
              ty = ug_tensor_wrap(y, UG_F32, UG_DIMS(1, 1, 2, 2));
    ug_tensor tw = ug_tensor_wrap(w, UG_F32, UG_DIMS(1, 1, 2, 2)),
              tb = ug_tensor_wrap(&b, UG_F32, UG_DIMS(1));
    conv_transpose2x2_cpu(&test_ctx, &ty, &tx, &tw, &tb);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y[i], 2.0f * w[i] - 1.0f);
}
END_TEST

// ---- golden: SAM's convolutional pieces against the official PyTorch outputs (sam_tiny),
// with the weights read from sam_tiny.pth. Tolerance 1e-4 abs + 1e-4 rel (golden/README.md).

static void ckpt_get(ug_ckpt *c, const char *name, ug_tensor *t) {
    ug_err err;
    const ug_ckpt_tensor *ct = ug_ckpt_find(c, name);
    ck_assert_msg(ct != NULL, "sam_tiny.pth has no %s", name);
    ck_assert_int_eq(ct->dtype, UG_F32);
    ck_assert_int_eq(ug_tensor_new(t, UG_F32, ct->ndim, ct->shape, &err), UG_OK);
    ck_assert_msg(ug_ckpt_read(c, ct, t->data, &err) == UG_OK, "%s", err.msg);
}

static ug_ckpt *open_sam_tiny(void) {
    ug_ckpt *c = NULL;
    ug_err err;
    char *path = test_golden_path("sam_tiny/sam_tiny.pth");
    ck_assert_msg(ug_ckpt_open(&c, path, &err) == UG_OK, "%s", err.msg);
    free(path);
    return c;
}

// Patch embed (16x16/s16, tokens written channels-last) + pos_embed; then the neck on the
// last block's NHWC output: 1x1 conv read through a channels-first view, LayerNorm2d, 3x3
// conv, LayerNorm2d.
START_TEST(golden_sam_patch_embed_and_neck) {
    test_require_golden();
    ug_ckpt *c = open_sam_tiny();
    ug_tensor pw, pb, pos, n0, n1w, n1b, n2, n3w, n3b, img, want_tok, blk3, want_emb, tok, a, t;
    ug_err err;
    ckpt_get(c, "image_encoder.patch_embed.proj.weight", &pw);
    ckpt_get(c, "image_encoder.patch_embed.proj.bias", &pb);
    ckpt_get(c, "image_encoder.pos_embed", &pos);
    ckpt_get(c, "image_encoder.neck.0.weight", &n0);
    ckpt_get(c, "image_encoder.neck.1.weight", &n1w);
    ckpt_get(c, "image_encoder.neck.1.bias", &n1b);
    ckpt_get(c, "image_encoder.neck.2.weight", &n2);
    ckpt_get(c, "image_encoder.neck.3.weight", &n3w);
    ckpt_get(c, "image_encoder.neck.3.bias", &n3b);
    img = test_golden_npy("sam_tiny/input_preprocessed.npy");            // [1, 3, 256, 256]
    want_tok = test_golden_npy("sam_tiny/enc_patch_embed_plus_pos.npy"); // [1, 16, 16, 96]
    blk3 = test_golden_npy("sam_tiny/enc_block3.npy");                   // [1, 16, 16, 96]
    want_emb = test_golden_npy("sam_tiny/image_embeddings.npy");         // [1, 64, 16, 16]

    ck_assert_int_eq(ug_tensor_new(&tok, UG_F32, UG_DIMS(1, 16, 16, 96), &err), UG_OK); // NHWC
    ug_tensor tokv = ug_view_permute(&tok, (int[]){0, 3, 1, 2});                        // [1, 96, 16, 16]
    conv2d_cpu(&test_ctx, &tokv, &img, &pw, &pb, 16, 0);
    add_cpu(&test_ctx, &tok, &tok, &pos);
    test_assert_close(tok.data, want_tok.data, (size_t)ug_tensor_numel(&tok), 1e-4, 1e-4,
                      "golden patch_embed + pos");

    ck_assert_int_eq(ug_tensor_new(&a, UG_F32, UG_DIMS(1, 64, 16, 16), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, UG_DIMS(1, 64, 16, 16), &err), UG_OK);
    ug_tensor blkv = ug_view_permute(&blk3, (int[]){0, 3, 1, 2}); // NHWC seen as [1, 96, 16, 16]
    conv2d_cpu(&test_ctx, &a, &blkv, &n0, NULL, 1, 0);
    layernorm2d_cpu(&test_ctx, &a, &a, &n1w, &n1b, 1e-6f);
    conv2d_cpu(&test_ctx, &t, &a, &n2, NULL, 1, 1);
    layernorm2d_cpu(&test_ctx, &t, &t, &n3w, &n3b, 1e-6f);
    test_assert_close(t.data, want_emb.data, (size_t)ug_tensor_numel(&t), 1e-4, 1e-4, "golden neck");

    ug_tensor *all[] = {&pw,  &pb,  &pos,      &n0,   &n1w,      &n1b, &n2, &n3w,
                        &n3b, &img, &want_tok, &blk3, &want_emb, &tok, &a,  &t};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ug_tensor_free(all[i]);
    ug_ckpt_close(c);
}
END_TEST

// Mask-decoder output upscaling on the two-way transformer's image tokens [1, 256, 64]
// (seen as [1, 64, 16, 16] channels-last): ConvTranspose 64->16, LayerNorm2d, GELU,
// ConvTranspose 16->8, GELU.
START_TEST(golden_sam_output_upscaling) {
    test_require_golden();
    ug_ckpt *c = open_sam_tiny();
    ug_tensor w0, b0, lw, lb, w3, b3, src, want, u1, u2;
    ug_err err;
    ckpt_get(c, "mask_decoder.output_upscaling.0.weight", &w0);
    ckpt_get(c, "mask_decoder.output_upscaling.0.bias", &b0);
    ckpt_get(c, "mask_decoder.output_upscaling.1.weight", &lw);
    ckpt_get(c, "mask_decoder.output_upscaling.1.bias", &lb);
    ckpt_get(c, "mask_decoder.output_upscaling.3.weight", &w3);
    ckpt_get(c, "mask_decoder.output_upscaling.3.bias", &b3);
    src = test_golden_npy("sam_tiny/p0-two_way_image_out.npy");   // [1, 256, 64]
    want = test_golden_npy("sam_tiny/p0-upscaled_embedding.npy"); // [1, 8, 64, 64]
    ug_tensor s4 = ug_view_reshape(&src, UG_DIMS(1, 16, 16, 64));
    ug_tensor x = ug_view_permute(&s4, (int[]){0, 3, 1, 2}); // [1, 64, 16, 16]
    ck_assert_int_eq(ug_tensor_new(&u1, UG_F32, UG_DIMS(1, 16, 32, 32), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&u2, UG_F32, UG_DIMS(1, 8, 64, 64), &err), UG_OK);
    conv_transpose2x2_cpu(&test_ctx, &u1, &x, &w0, &b0);
    layernorm2d_cpu(&test_ctx, &u1, &u1, &lw, &lb, 1e-6f);
    gelu_cpu(&test_ctx, &u1, &u1);
    conv_transpose2x2_cpu(&test_ctx, &u2, &u1, &w3, &b3);
    gelu_cpu(&test_ctx, &u2, &u2);
    test_assert_close(u2.data, want.data, (size_t)ug_tensor_numel(&u2), 1e-4, 1e-4,
                      "golden output_upscaling");
    ug_tensor *all[] = {&w0, &b0, &lw, &lb, &w3, &b3, &src, &want, &u1, &u2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ug_tensor_free(all[i]);
    ug_ckpt_close(c);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "conv", .setup = test_ctx_setup, .teardown = test_ctx_teardown, .timeout = 60},
        &s);
    // Loop index 0: f32, 1: bf16 precision (use_precision).
    const TTest *both[] = {conv2d_f32_matches_ref,         conv2d_half_weights,
                           conv2d_channels_last_views,     conv2d_several_tiles,
                           conv2d_packed_im2col_chunks,    gemm_packb_matches_ref,
                           conv2d_ex_bottom_right_padding, conv_transpose_matches_ref};
    for (size_t i = 0; i < sizeof both / sizeof both[0]; i++)
        tcase_add_loop_test(tc, both[i], 0, 2);
    test_add(tc, conv2d_known_values, conv_transpose_known_values, golden_sam_patch_embed_and_neck,
             golden_sam_output_upscaling);
    return test_run_suite(s);
}
