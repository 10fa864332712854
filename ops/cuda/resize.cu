// ops/cuda/resize.cu — PyTorch bilinear resize, Pillow's antialiased bilinear resize of 8-bit
// images, and the SAM / UGainS input normalisations; contract: ops/resize.h (its rules are
// followed to the letter, so every entry is bit-identical to the CPU kernel of ops/resize.c).
//
// v1 bilinear_v1: one thread per output element, grid-stride over [planes, Ho, Wo] (consecutive
//     threads: consecutive columns, coalesced stores); each thread forms its two taps in double
//     from the f32 scale exactly as the CPU does (a 2-tap table would need a transfer per call
//     for a few double ops a thread), then (x00 l0 + x01 l1) * ly0 + (x10 l0 + x11 l1) * ly1
//     with every product rounded on its own (no fma contraction), PyTorch's float expression.
// v1 pillow_h_v1 / pillow_v_v1: Pillow's two passes with its 8-bit intermediate [H, Wo, C] in
//     device scratch; the fixed-point tap tables (first tap, count, weights * 2^22 rounded) are
//     computed on the host by the CPU's double formulas and copied once per call; one thread
//     per output byte, int32 accumulation from 2^21, >> 22, clamp: exact.
// v1 normalize_v1: one thread per output element of [3, S, Sw] (grid-stride, coalesced along
//     columns), U8 pixel read, 0 in the padding; SAM divides by std, RbA multiplies by
//     1 / (std * 255) computed on the host in f32, as the CPU kernel.
#include <math.h>
#include <stdlib.h>

#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { RZ_THREADS = 256, RZ_MAX_BLOCKS = 8192, PILLOW_BITS = 22 };

static unsigned rz_grid(int64_t n) {
    return cu_min<unsigned>(cu_blocks(n, RZ_THREADS), RZ_MAX_BLOCKS);
}

// ---- PyTorch bilinear ----

static float bilinear_scale(int64_t n_in, int64_t n_out, bool align_corners) {
    if (align_corners) return n_out > 1 ? (float)(n_in - 1) / (float)(n_out - 1) : 0.0f;
    return (float)n_in / (float)n_out;
}

struct rz_tap {
    int64_t i0, i1;
    float l0, l1;
};

static __device__ __forceinline__ rz_tap bilinear_tap(float scale, int64_t n_in, int64_t n_out, int64_t i,
                                                      bool align_corners) {
    rz_tap t;
    if (n_in == n_out) { // PyTorch copies when the size does not change
        t.i0 = t.i1 = i;
        t.l0 = 1.0f;
        t.l1 = 0.0f;
        return t;
    }
    double src = align_corners ? cu_dmul((double)scale, (double)i)
                               : cu_dadd(cu_dmul((double)scale, (double)i + 0.5), -0.5);
    if (src < 0.0) src = 0.0;
    int64_t i0 = (int64_t)src;
    if (i0 > n_in - 1) i0 = n_in - 1;
    double frac = src - (double)i0;
    t.i0 = i0;
    t.i1 = i0 + (i0 < n_in - 1 ? 1 : 0);
    t.l1 = (float)frac;
    t.l0 = (float)(1.0 - frac);
    return t;
}

// Element offset of plane p (the flattened dims before the last two) of a view with dims d.
static __device__ __forceinline__ int64_t rz_plane_offset(const cu_dims &d, int64_t p) {
    int64_t off = 0;
    for (int k = d.ndim - 3; k >= 0; k--) {
        off += (p % d.shape[k]) * d.stride[k];
        p /= d.shape[k];
    }
    return off;
}

static __global__ void bilinear_v1(float *y, const float *x, cu_dims yd, cu_dims xd, int64_t H, int64_t W,
                                   int64_t Ho, int64_t Wo, float sh, float sw, bool align_corners,
                                   int64_t n) {
    int nd = xd.ndim;
    int64_t xsh = xd.stride[nd - 2], xsw = xd.stride[nd - 1], ysh = yd.stride[nd - 2],
            ysw = yd.stride[nd - 1];
    for (int64_t e = (int64_t)blockIdx.x * RZ_THREADS + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * RZ_THREADS) {
        int64_t ox = e % Wo, r = e / Wo, oy = r % Ho, p = r / Ho;
        rz_tap ty = bilinear_tap(sh, H, Ho, oy, align_corners),
               tx = bilinear_tap(sw, W, Wo, ox, align_corners);
        const float *xp = x + rz_plane_offset(xd, p);
        const float *r0 = xp + ty.i0 * xsh, *r1 = xp + ty.i1 * xsh;
        float top = cu_fadd(cu_fmul(r0[tx.i0 * xsw], tx.l0), cu_fmul(r0[tx.i1 * xsw], tx.l1));
        float bot = cu_fadd(cu_fmul(r1[tx.i0 * xsw], tx.l0), cu_fmul(r1[tx.i1 * xsw], tx.l1));
        y[rz_plane_offset(yd, p) + oy * ysh + ox * ysw] = cu_fadd(cu_fmul(top, ty.l0), cu_fmul(bot, ty.l1));
    }
}

extern "C" void resize_bilinear_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, bool align_corners) {
    const ug_tensor *ts[] = {y, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, "resize_bilinear", 2, ts)) return;
    bool ok = x->dtype == UG_F32 && y->dtype == UG_F32 && x->ndim == y->ndim && x->ndim >= 2 && x->ndim <= 4;
    int nd = x->ndim;
    int64_t planes = 1;
    for (int d = 0; ok && d < nd - 2; d++) {
        ok = x->shape[d] == y->shape[d];
        planes *= x->shape[d];
    }
    if (!ok) {
        cu_fail(ctx, "resize_bilinear", "x and y must be F32 [.., H, W] and [.., Ho, Wo], 2..4 dims");
        return;
    }
    int64_t H = x->shape[nd - 2], W = x->shape[nd - 1], Ho = y->shape[nd - 2], Wo = y->shape[nd - 1];
    int64_t n = planes * Ho * Wo;
    if (n == 0) return;
    if (H <= 0 || W <= 0) {
        cu_fail(ctx, "resize_bilinear", "empty input");
        return;
    }
    cu_poison_output(ctx, y);
    UG_LAUNCH(bilinear_v1, dim3(rz_grid(n)), dim3(RZ_THREADS), 0, cu_stream(ctx), (float *)y->data,
              (const float *)x->data, cu_dims_of(y), cu_dims_of(x), H, W, Ho, Wo,
              bilinear_scale(H, Ho, align_corners), bilinear_scale(W, Wo, align_corners), align_corners, n);
    cu_check(ctx, cudaGetLastError(), "resize_bilinear");
}

// ---- Pillow bilinear (antialiased, 22-bit fixed point) ----

static int pillow_ksize(int64_t n_in, int64_t n_out) {
    double scale = (double)(float)n_in / (double)n_out;
    double support = scale < 1.0 ? 1.0 : scale;
    return (int)ceil(support) * 2 + 1;
}

// Tap table of one axis, the CPU's formulas: tab[0..n_out) first tap, tab[n_out..2 n_out) tap
// count, then n_out rows of ks fixed-point weights.
static void pillow_table(int32_t *tab, int64_t n_in, int64_t n_out, int ks) {
    double scale = (double)(float)n_in / (double)n_out;
    double fs = scale < 1.0 ? 1.0 : scale, support = fs, ss = 1.0 / fs;
    double *w = (double *)malloc((size_t)ks * sizeof(double));
    for (int64_t i = 0; i < n_out; i++) {
        double center = ((double)i + 0.5) * scale;
        int64_t xmin = (int64_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int64_t xmax = (int64_t)(center + support + 0.5);
        if (xmax > n_in) xmax = n_in;
        int n = (int)(xmax - xmin), t = 0;
        double sum = 0.0;
        for (t = 0; t < n; t++) {
            double a = fabs(((double)(t + xmin) - center + 0.5) * ss);
            w[t] = a < 1.0 ? 1.0 - a : 0.0;
            sum += w[t];
        }
        int32_t *k = tab + 2 * n_out + i * ks;
        for (t = 0; t < n; t++) {
            double v = sum != 0.0 ? w[t] / sum : w[t];
            v *= (double)(1 << PILLOW_BITS);
            k[t] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
        }
        for (; t < ks; t++)
            k[t] = 0;
        tab[i] = (int32_t)xmin;
        tab[n_out + i] = n;
    }
    free(w);
}

static __device__ __forceinline__ uint8_t pillow_clip(int32_t acc) {
    int32_t v = acc >> PILLOW_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// mid [H, Wo, C] from x [H, W, C] (row stride xs bytes).
static __global__ void pillow_h_v1(uint8_t *mid, const uint8_t *x, const int32_t *tab, int64_t xs, int64_t H,
                                   int64_t Wo, int64_t C, int ks) {
    int64_t n = H * Wo * C;
    for (int64_t e = (int64_t)blockIdx.x * RZ_THREADS + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * RZ_THREADS) {
        int64_t c = e % C, ox = (e / C) % Wo, r = e / (C * Wo);
        const int32_t *k = tab + 2 * Wo + ox * ks;
        const uint8_t *p = x + r * xs + (int64_t)tab[ox] * C + c;
        int taps = tab[Wo + ox];
        int32_t acc = 1 << (PILLOW_BITS - 1);
        for (int t = 0; t < taps; t++)
            acc += (int32_t)p[t * C] * k[t];
        mid[e] = pillow_clip(acc);
    }
}

// y [Ho, Wo, C] (row stride ys bytes) from mid [H, Wo, C].
static __global__ void pillow_v_v1(uint8_t *y, const uint8_t *mid, const int32_t *tab, int64_t ys, int64_t Ho,
                                   int64_t WoC, int ks) {
    int64_t n = Ho * WoC;
    for (int64_t e = (int64_t)blockIdx.x * RZ_THREADS + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * RZ_THREADS) {
        int64_t j = e % WoC, oy = e / WoC;
        const int32_t *k = tab + 2 * Ho + oy * ks;
        const uint8_t *p = mid + (int64_t)tab[oy] * WoC + j;
        int taps = tab[Ho + oy];
        int32_t acc = 1 << (PILLOW_BITS - 1);
        for (int t = 0; t < taps; t++)
            acc += (int32_t)p[t * WoC] * k[t];
        y[oy * ys + j] = pillow_clip(acc);
    }
}

extern "C" void resize_pillow_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    const ug_tensor *ts[] = {y, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, "resize_pillow", 2, ts)) return;
    if (x->dtype != UG_U8 || y->dtype != UG_U8 || x->ndim != 3 || y->ndim != 3 ||
        y->shape[2] != x->shape[2] || x->shape[2] < 1 || x->shape[2] > 4) {
        cu_fail(ctx, "resize_pillow", "x and y must be U8 [H, W, C] and [Ho, Wo, C], C = 1..4");
        return;
    }
    int64_t H = x->shape[0], W = x->shape[1], C = x->shape[2], Ho = y->shape[0], Wo = y->shape[1];
    if (x->stride[2] != 1 || x->stride[1] != C || y->stride[2] != 1 || y->stride[1] != C) {
        cu_fail(ctx, "resize_pillow", "pixels and channels must be contiguous");
        return;
    }
    if (Ho == 0 || Wo == 0) return;
    if (H <= 0 || W <= 0) {
        cu_fail(ctx, "resize_pillow", "empty input");
        return;
    }
    int kx = pillow_ksize(W, Wo), ky = pillow_ksize(H, Ho);
    int64_t nx = Wo * (2 + kx), ny = Ho * (2 + ky); // int32 entries of the two tables
    int32_t *tab = (int32_t *)malloc((size_t)(nx + ny) * sizeof(int32_t));
    if (!tab) {
        cu_fail(ctx, "resize_pillow", "out of host memory for the tap tables");
        return;
    }
    pillow_table(tab, W, Wo, kx);
    pillow_table(tab + nx, H, Ho, ky);
    ug_arena_mark mk = cu_mark(ctx);
    size_t tab_bytes = (size_t)(nx + ny) * sizeof(int32_t), mid_bytes = (size_t)(H * Wo * C);
    char *s = (char *)cu_scratch(ctx, ((tab_bytes + 255) & ~(size_t)255) + mid_bytes, "resize_pillow");
    // From pageable memory the copy has taken the table when it returns: tab may be freed then.
    if (s && cu_check(ctx, cudaMemcpyAsync(s, tab, tab_bytes, cudaMemcpyHostToDevice, cu_stream(ctx)),
                      "resize_pillow")) {
        const int32_t *dtab = (const int32_t *)s;
        uint8_t *mid = (uint8_t *)(s + ((tab_bytes + 255) & ~(size_t)255));
        cu_poison_output(ctx, y);
        UG_LAUNCH(pillow_h_v1, dim3(rz_grid(H * Wo * C)), dim3(RZ_THREADS), 0, cu_stream(ctx), mid,
                  (const uint8_t *)x->data, dtab, x->stride[0], H, Wo, C, kx);
        if (cu_check(ctx, cudaGetLastError(), "resize_pillow")) {
            UG_LAUNCH(pillow_v_v1, dim3(rz_grid(Ho * Wo * C)), dim3(RZ_THREADS), 0, cu_stream(ctx),
                      (uint8_t *)y->data, mid, dtab + nx, y->stride[0], Ho, Wo * C, ky);
            cu_check(ctx, cudaGetLastError(), "resize_pillow");
        }
    }
    cu_release(ctx, mk);
    free(tab);
}

// ---- input normalisations ----

struct norm_consts {
    float mean[3], scale[3]; // SAM: mean, std (divide); RbA: mean * 255, 1 / (std * 255) (multiply)
};

// y [1, 3, S, Sw] (unit column stride) from img [h, w, 3] (row stride is, pixels contiguous).
static __global__ void normalize_v1(float *y, const uint8_t *img, norm_consts k, bool rba, int64_t ys1,
                                    int64_t ys2, int64_t is, int64_t S, int64_t Sw, int64_t h, int64_t w) {
    int64_t n = 3 * S * Sw;
    for (int64_t e = (int64_t)blockIdx.x * RZ_THREADS + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * RZ_THREADS) {
        int64_t q = e % Sw, row = (e / Sw) % S, c = e / (S * Sw);
        float v = 0.0f;
        if (row < h && q < w) {
            float p = (float)img[row * is + q * 3 + c];
            v = rba ? (p - k.mean[c]) * k.scale[c] : (p - k.mean[c]) / k.scale[c];
        }
        y[c * ys1 + row * ys2 + q] = v;
    }
}

static bool norm_check(ug_ctx *ctx, const ug_tensor *y, const ug_tensor *img, bool rba, const char *op) {
    bool ok = y->dtype == UG_F32 && y->ndim == 4 && y->shape[0] == 1 && y->shape[1] == 3 &&
              img->dtype == UG_U8 && img->ndim == 3 && img->shape[2] == 3 && y->stride[3] == 1 &&
              img->stride[1] == 3 && img->stride[2] == 1;
    if (ok && rba) ok = img->shape[0] == y->shape[2] && img->shape[1] == y->shape[3];
    if (ok && !rba) ok = img->shape[0] <= y->shape[2] && img->shape[1] <= y->shape[3];
    if (!ok) cu_fail(ctx, op, "y must be F32 [1, 3, S, Sw] (unit column stride), img U8 [h, w, 3] inside it");
    return ok;
}

static void norm_launch(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img, const norm_consts &k, bool rba,
                        const char *op) {
    int64_t S = y->shape[2], Sw = y->shape[3], n = 3 * S * Sw;
    if (n == 0) return;
    cu_poison_output(ctx, y);
    UG_LAUNCH(normalize_v1, dim3(rz_grid(n)), dim3(RZ_THREADS), 0, cu_stream(ctx), (float *)y->data,
              (const uint8_t *)img->data, k, rba, y->stride[1], y->stride[2], img->stride[0], S, Sw,
              img->shape[0], img->shape[1]);
    cu_check(ctx, cudaGetLastError(), op);
}

extern "C" void sam_normalize_pad_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img, const float *mean,
                                       const float *std) {
    const ug_tensor *ts[] = {y, img};
    if (cu_failed(ctx) || !cu_on_device(ctx, "sam_normalize_pad", 2, ts)) return;
    if (!norm_check(ctx, y, img, false, "sam_normalize_pad")) return;
    norm_consts k;
    for (int c = 0; c < 3; c++) {
        k.mean[c] = mean[c];
        k.scale[c] = std[c];
    }
    norm_launch(ctx, y, img, k, false, "sam_normalize_pad");
}

extern "C" void rba_normalize_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img) {
    const ug_tensor *ts[] = {y, img};
    if (cu_failed(ctx) || !cu_on_device(ctx, "rba_normalize", 2, ts)) return;
    if (!norm_check(ctx, y, img, true, "rba_normalize")) return;
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    norm_consts k;
    for (int c = 0; c < 3; c++) {
        k.mean[c] = mean[c] * 255.0f;
        k.scale[c] = 1.0f / (sd[c] * 255.0f); // albumentations' "denominator"
    }
    norm_launch(ctx, y, img, k, true, "rba_normalize");
}
