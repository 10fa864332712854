// ops/cuda/conv.cu — 2-D convolution and the 2x2 stride-2 transposed convolution; contracts:
// ops/conv2d.h, ops/conv_transpose.h.
//
//   conv2d:  y[b, o, p] = bias[o] + sum_k w[o, k] col_b[k, p]      k = (c, ky, kx), p = (oy, ox)
//            col_b[k, p] = x[b, c, oy*s - pad + ky, ox*s - pad + kx] (0 outside x)
//   convT:   y[b, o, 2i + a, 2j + c] = bias[o] + sum_k w[k, (o, a, c)] x[b, k, (i, j)]
//
// Both are the GEMM of ops/cuda/gemm_tile.cuh (v1: 128 x 64 tiles, 8 x 4 register micro-tiles,
// K slabs of 8 double-buffered in shared memory, f32 accumulation in a fixed k order, the
// weights widened from F32/BF16/F16 as they are read into the tile) with their own readers
// and writers:
// v1 conv2d (implicit GEMM): the im2col matrix is never materialised; cv_col computes each
//     element of a tile from (p, k) as it is read (zero padding by a bounds test). The GEMM is
//     oriented so that the output's unit-stride dim is the tile's n (coalesced stores):
//     NCHW output (pixel stride 1): M = Cout, N = pixels, A = w [Cout, K], B = col_b;
//     channels-last output (channel stride 1, e.g. a permuted NHWC view): M = pixels, N = Cout,
//     A = col_b^T, B = w^T. x may have any strides (NCHW, or the channels-last view of
//     nn_nhwc_as_nchw); every kernel size, stride and padding takes the same path (1x1, 3x3,
//     SAM's 16x16 / Swin's 4x4 patch embeddings), so there is no separate direct kernel.
// v1 conv_transpose2x2: T [Cout*4, HW] = w^T [Cout*4, Cin] @ x_b [Cin, HW] with the scatter of T
//     into y (the 2x2 output blocks do not overlap) and the bias done by the writer (ct_out):
//     no T buffer. y may have any strides.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/gemm_tile.cuh"

// The im2col operand of image b: X(b, p, k) = col_b[k, p] (r is the output pixel p).
// 32-bit index arithmetic: the entry checks that the sizes fit.
struct cv_col {
    const float *x;
    int64_t sb, sc, sh, sw; // x's strides
    int H, W, Wo, kh, kw, khw, stride, pad;
    bool kf;
    __device__ __forceinline__ float at(int64_t b, int64_t p, int64_t k) const {
        unsigned pu = (unsigned)p, ku = (unsigned)k;
        int oy = (int)(pu / (unsigned)Wo), ox = (int)(pu % (unsigned)Wo);
        int c = (int)(ku / (unsigned)khw), t = (int)(ku % (unsigned)khw);
        int ky = t / kw, kx = t - ky * kw;
        int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
        if ((unsigned)iy >= (unsigned)H || (unsigned)ix >= (unsigned)W) return 0.0f;
        return x[b * sb + c * sc + iy * sh + ix * sw];
    }
};

// The conv-transpose writer: C(b, m, n) with m = (o, a, c), n = (i, j) goes to
// y[b, o, 2i + a, 2j + c] with bias[o] added.
struct ct_out {
    float *y;
    int64_t sb, sc, sh, sw; // y's strides
    int64_t W;              // x's width
    const void *bias;
    int bdt;
    __device__ __forceinline__ void put(int64_t b, int64_t m, int64_t n, float acc) const {
        int64_t o = m >> 2, a = (m >> 1) & 1, c = m & 1, i = n / W, j = n - i * W;
        float v = acc;
        if (bias) v += cu_load_weight(bias, bdt, o);
        y[b * sb + o * sc + (2 * i + a) * sh + (2 * j + c) * sw] = v;
    }
};

static bool cv_weight_dtype(ug_dtype dt) {
    return dt == UG_F32 || dt == UG_BF16 || dt == UG_F16;
}

// Checks shared by both entries: 4-D F32 x and y, contiguous 4-D w of a weight dtype, bias NULL
// or a contiguous [n] of a weight dtype. False with the error recorded.
static bool cv_common_ok(ug_ctx *ctx, const char *op, const ug_tensor *y, const ug_tensor *x,
                         const ug_tensor *w, const ug_tensor *b, int64_t nbias) {
    if (x->ndim != 4 || y->ndim != 4 || w->ndim != 4) return cu_fail(ctx, op, "x, w and y must be 4-D");
    if (x->dtype != UG_F32 || y->dtype != UG_F32 || !cv_weight_dtype(w->dtype) || !ug_tensor_is_contiguous(w))
        return cu_fail(ctx, op, "x and y must be F32, w contiguous F32, BF16 or F16");
    if (b && (!cv_weight_dtype(b->dtype) || ug_tensor_numel(b) != nbias || !ug_tensor_is_contiguous(b)))
        return cu_fail(ctx, op, "bias must be NULL or a contiguous [Cout] of F32, BF16 or F16");
    return true;
}

template <int DT>
static void cv_run(ug_ctx *ctx, bool nchw, const void *w, const cv_col &col, const gt_out &out, int64_t B,
                   int64_t Cout, int64_t P, int64_t K) {
    gt_mat<DT> wm = gt_mat_of<DT>(w, 0, K, 1); // w [Cout, K]: W(o, k)
    if (nchw)
        gt_run(ctx, "conv2d", wm, col, out, B, Cout, P, K);
    else
        gt_run(ctx, "conv2d", col, wm, out, B, P, Cout, K);
}

static int64_t cv_out_size(int64_t in, int64_t k, int stride, int pad) {
    int64_t span = in + 2 * (int64_t)pad - k;
    return span < 0 ? 0 : span / stride + 1;
}

extern "C" void conv2d_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                            const ug_tensor *b, int stride, int pad) {
    const ug_tensor *ts[] = {y, x, w, b};
    if (cu_failed(ctx) || !cu_on_device(ctx, "conv2d", 4, ts)) return;
    if (!cv_common_ok(ctx, "conv2d", y, x, w, b, w->ndim == 4 ? w->shape[0] : 0)) return;
    int64_t B = x->shape[0], Cin = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t Cout = w->shape[0], kh = w->shape[2], kw = w->shape[3], Ho = y->shape[2], Wo = y->shape[3];
    if (stride < 1 || pad < 0 || w->shape[1] != Cin || y->shape[0] != B || y->shape[1] != Cout ||
        Ho != cv_out_size(H, kh, stride, pad) || Wo != cv_out_size(W, kw, stride, pad)) {
        cu_fail(ctx, "conv2d",
                "shapes do not match: x [B, Cin, H, W], w [Cout, Cin, kh, kw], y [B, Cout, Ho, Wo]");
        return;
    }
    int64_t P = Ho * Wo, K = Cin * kh * kw;
    if (B == 0 || Cout == 0 || P == 0) return;
    // y[b] as [Cout, P]: (Ho, Wo) must flatten into one pixel dim.
    if (Ho != 1 && y->stride[2] != Wo * y->stride[3]) {
        cu_fail(ctx, "conv2d", "y's (Ho, Wo) must flatten into one pixel dim");
        return;
    }
    const int64_t lim = 0x7fffffff;
    if (P > lim || K > lim || H + 2 * (int64_t)pad > lim || W + 2 * (int64_t)pad > lim) {
        cu_fail(ctx, "conv2d", "sizes beyond 32-bit indexing");
        return;
    }
    int64_t syp = Wo == 1 ? y->stride[2] : y->stride[3], syc = y->stride[1];
    bool nchw = syp == 1 || syc != 1;
    cu_poison_output(ctx, y);

    cv_col col;
    col.x = (const float *)x->data;
    col.sb = x->stride[0], col.sc = x->stride[1], col.sh = x->stride[2], col.sw = x->stride[3];
    col.H = (int)H, col.W = (int)W, col.Wo = (int)Wo, col.kh = (int)kh, col.kw = (int)kw;
    col.khw = (int)(kh * kw), col.stride = stride, col.pad = pad;
    // Coalesced reads walk k only where consecutive k are consecutive channels of a
    // channels-last x (1x1 kernels); otherwise consecutive pixels (a row of x for stride 1).
    col.kf = kh * kw == 1 && col.sc == 1 && col.sw != 1;

    gt_out out;
    out.c = (float *)y->data, out.sb = y->stride[0];
    out.sm = nchw ? syc : syp, out.sn = nchw ? syp : syc;
    out.alpha = 1.0f, out.beta = 0.0f;
    out.bias = b ? b->data : NULL, out.bdt = b ? (int)b->dtype : (int)UG_F32;
    out.bm = nchw ? 1 : 0, out.bn = nchw ? 0 : 1;
    switch (w->dtype) {
    case UG_BF16: cv_run<UG_BF16>(ctx, nchw, w->data, col, out, B, Cout, P, K); break;
    case UG_F16: cv_run<UG_F16>(ctx, nchw, w->data, col, out, B, Cout, P, K); break;
    default: cv_run<UG_F32>(ctx, nchw, w->data, col, out, B, Cout, P, K); break;
    }
}

template <int DT>
static void ct_run(ug_ctx *ctx, const void *w, const gt_mat<UG_F32> &xm, const ct_out &out, int64_t B,
                   int64_t Cout, int64_t P, int64_t Cin) {
    // A(m, k) = w[k, m] for m = (o, a, c): w [Cin, Cout*4] read transposed.
    gt_run(ctx, "conv_transpose2x2", gt_mat_of<DT>(w, 0, 1, Cout * 4), xm, out, B, Cout * 4, P, Cin);
}

extern "C" void conv_transpose2x2_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                       const ug_tensor *b) {
    const ug_tensor *ts[] = {y, x, w, b};
    if (cu_failed(ctx) || !cu_on_device(ctx, "conv_transpose2x2", 4, ts)) return;
    if (!cv_common_ok(ctx, "conv_transpose2x2", y, x, w, b, w->ndim == 4 ? w->shape[1] : 0)) return;
    int64_t B = x->shape[0], Cin = x->shape[1], H = x->shape[2], W = x->shape[3], Cout = w->shape[1];
    if (w->shape[0] != Cin || w->shape[2] != 2 || w->shape[3] != 2 || y->shape[0] != B ||
        y->shape[1] != Cout || y->shape[2] != 2 * H || y->shape[3] != 2 * W) {
        cu_fail(ctx, "conv_transpose2x2",
                "shapes do not match: x [B, Cin, H, W], w [Cin, Cout, 2, 2], y [B, Cout, 2H, 2W]");
        return;
    }
    if (B == 0 || Cout == 0 || H == 0 || W == 0) return;
    // x[b] as [Cin, HW]: (H, W) must flatten into one pixel dim.
    if (H != 1 && x->stride[2] != W * x->stride[3]) {
        cu_fail(ctx, "conv_transpose2x2", "x's (H, W) must flatten into one pixel dim");
        return;
    }
    int64_t sxp = W == 1 ? x->stride[2] : x->stride[3];
    cu_poison_output(ctx, y);
    // B(k, p) = x[b, k, p]: the reader's r is p.
    gt_mat<UG_F32> xm = gt_mat_of<UG_F32>(x->data, x->stride[0], sxp, x->stride[1]);
    ct_out out;
    out.y = (float *)y->data;
    out.sb = y->stride[0], out.sc = y->stride[1], out.sh = y->stride[2], out.sw = y->stride[3];
    out.W = W;
    out.bias = b ? b->data : NULL, out.bdt = b ? (int)b->dtype : (int)UG_F32;
    switch (w->dtype) {
    case UG_BF16: ct_run<UG_BF16>(ctx, w->data, xm, out, B, Cout, H * W, Cin); break;
    case UG_F16: ct_run<UG_F16>(ctx, w->data, xm, out, B, Cout, H * W, Cin); break;
    default: ct_run<UG_F32>(ctx, w->data, xm, out, B, Cout, H * W, Cin); break;
    }
}
