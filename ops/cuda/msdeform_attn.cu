// ops/cuda/msdeform_attn.cu — the core of multi-scale deformable attention and the sampling
// locations that feed it; contracts: ops/msdeform_attn.h, ops/msdeform_sampling.h.
//
// Dimension letters: B batch, Nq queries, M heads, D head dim, L levels, P points per level,
// S = sum_l H_l * W_l value tokens (level l starts at token start_l).
//
//   out[b, q, m * D + d] = sum_{l, p} aw[b, q, m, l, p] * bilinear_l(value[b, :, m, d], loc[b, q, m, l, p])
//   bilinear_l: grid_sample(bilinear, zeros, align_corners=False) of level l at 2 loc - 1, i.e.
//     ix = (2 loc_x - 1 + 1) * (W_l / 2) - 0.5 (float32, each step rounded), x0 = floor(ix),
//     w = ix - x0; corners outside the map contribute nothing; locations far outside (or NaN)
//     contribute nothing at all.
//   loc[b, s, m, l * P + p] = ref(s) + off[b, s, m, l * P + p] / (W_l, H_l),
//     ref(s) = ((x + 0.5) / W_t, (y + 0.5) / H_t) for token s at (y, x) of its own level t.
//
// v1 msda_v1: one warp per (b, q, m), lane = head channel d (D = 32 in the RbA pixel decoder;
//     D > 32 loops over 32-channel slices, D < 32 leaves lanes idle). Lane j forms the four
//     corner taps of point j of a 32-point chunk (token and weight: grid_sample's bilinear
//     weight times the attention weight, the CPU kernel's expressions, products rounded one
//     by one), then the warp walks the chunk's points in order, each tap broadcast by shuffles,
//     every lane accumulating its channel with one fma per tap into one float: the order of
//     the sum is the CPU kernel's (level-major points, corners 0..3, outside corners skipped),
//     so the result is bit-identical to its AVX2 path (channels d < 8 * floor(D / 8); its
//     scalar tail rounds the product separately) and within float rounding of the reference.
//     A tap's 32 channels are one 128-byte line of value. Why a warp and not a thread per
//     output: the taps are formed once per (query, head), not once per channel.
// v1 msds_v1: one thread per (b, s, m, level-point): the float32 steps of the reference (one
//     division, one addition per coordinate; the reference point of the token's own level),
//     bit-identical to ops/msdeform_sampling.c.
// Any strides on every operand (cu_dims). F32 only, as the CPU kernels.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { MSDA_THREADS = 256, MSDA_WARPS = MSDA_THREADS / 32, MSDA_MAX_LEVELS = 64, MSDS_THREADS = 256 };
enum { MSDS_MAX_LEVELS = 16 }; // the CPU kernel's limit for the sampling locations

// Level sizes by value (kernel parameters), tokens as int (S < 2^31 checked by the entries).
typedef struct msda_levels {
    int L, P;
    int H[MSDA_MAX_LEVELS], W[MSDA_MAX_LEVELS], start[MSDA_MAX_LEVELS + 1];
} msda_levels;

// Source pixel coordinate of a location in [0, 1] units of a level of `size` pixels, as
// grid_sample forms it from grid = 2 loc - 1 (float32, no fma: the CPU's roundings).
static __device__ __forceinline__ float msda_source(float loc, int size) {
    float g = cu_fadd(cu_fmul(2.0f, loc), -1.0f);
    return cu_fadd(cu_fmul(cu_fadd(g, 1.0f), (float)size / 2.0f), -0.5f);
}

static __global__ void __launch_bounds__(MSDA_THREADS)
    msda_v1(float *out, const float *value, const float *loc, const float *aw, cu_dims od, cu_dims vd,
            cu_dims ld, cu_dims ad, msda_levels lv, int64_t items) {
    int lane = (int)threadIdx.x % 32;
    int64_t item = (int64_t)blockIdx.x * MSDA_WARPS + threadIdx.x / 32; // (b, q, m)
    if (item < items) { // whole warps skip together: the shuffles below see all 32 lanes
        int64_t M = vd.shape[2], D = vd.shape[3], Nq = ld.shape[1];
        int64_t m = item % M, q = item / M % Nq, b = item / M / Nq;
        const float *lq = loc + b * ld.stride[0] + q * ld.stride[1] + m * ld.stride[2];
        const float *aq = aw + b * ad.stride[0] + q * ad.stride[1] + m * ad.stride[2];
        const float *vb = value + b * vd.stride[0] + m * vd.stride[2];
        float *oq = out + b * od.stride[0] + q * od.stride[1] + m * D * od.stride[2];
        int LP = lv.L * lv.P;
        for (int64_t d0 = 0; d0 < D; d0 += 32) {
            int64_t d = d0 + lane;
            bool mine = d < D;
            const float *vc = vb + (mine ? d : 0) * vd.stride[3]; // value[b, :, m, d]
            float acc = 0.0f;
            for (int i0 = 0; i0 < LP; i0 += 32) {
                // Lane j: the taps of point i0 + j (token -1: no tap).
                int tok[4] = {-1, -1, -1, -1};
                float wt[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                int i = i0 + lane;
                if (i < LP) {
                    int l = i / lv.P, H = lv.H[l], W = lv.W[l];
                    float ix = msda_source(lq[i * ld.stride[3]], W);
                    float iy = msda_source(lq[i * ld.stride[3] + ld.stride[4]], H);
                    // Far outside (or NaN): every corner is outside; keeps the int conversion defined.
                    if (ix > -2.0f && ix < (float)W + 1.0f && iy > -2.0f && iy < (float)H + 1.0f) {
                        float fx = floorf(ix), fy = floorf(iy);
                        float w = ix - fx, e = 1.0f - w, n = iy - fy, s = 1.0f - n, a = aq[i * ad.stride[3]];
                        wt[0] = cu_fmul(cu_fmul(s, e), a);
                        wt[1] = cu_fmul(cu_fmul(s, w), a);
                        wt[2] = cu_fmul(cu_fmul(n, e), a);
                        wt[3] = cu_fmul(cu_fmul(n, w), a);
                        int x0 = (int)fx, y0 = (int)fy;
                        for (int k = 0; k < 4; k++) {
                            int cx = x0 + (k & 1), cy = y0 + (k >> 1);
                            if (cx >= 0 && cx < W && cy >= 0 && cy < H) tok[k] = lv.start[l] + cy * W + cx;
                        }
                    }
                }
                int n = cu_min(32, LP - i0);
                for (int j = 0; j < n; j++) {
                    for (int k = 0; k < 4; k++) {
                        int t = __shfl_sync(UG_FULL_MASK, tok[k], j);
                        float w = __shfl_sync(UG_FULL_MASK, wt[k], j);
                        if (t >= 0 && mine) acc = fmaf(w, vc[(int64_t)t * vd.stride[1]], acc);
                    }
                }
            }
            if (mine) oq[d * od.stride[2]] = acc;
        }
    }
}

// Level table of both entries: sizes, first tokens; false (and the error recorded) when a
// size does not fit.
static bool msda_fill_levels(ug_ctx *ctx, msda_levels *lv, const int64_t (*shapes)[2], int64_t L, int64_t P,
                             int64_t max_levels, const char *op) {
    if (L < 1 || L > max_levels) return cu_fail(ctx, op, "levels must be 1 .. the CPU kernel's limit");
    lv->L = (int)L;
    lv->P = (int)P;
    int64_t total = 0;
    for (int64_t l = 0; l < L; l++) {
        int64_t H = shapes[l][0], W = shapes[l][1];
        if (H < 1 || W < 1 || H > 0x7fffffff / W) return cu_fail(ctx, op, "a level size is not positive");
        lv->start[l] = (int)total;
        lv->H[l] = (int)H;
        lv->W[l] = (int)W;
        total += H * W;
        if (total > 0x7fffffff) return cu_fail(ctx, op, "more than 2^31 - 1 tokens");
    }
    lv->start[L] = (int)total;
    return true;
}

extern "C" void msdeform_attn_cuda(ug_ctx *ctx, ug_tensor *out, const ug_tensor *value,
                                   const int64_t (*shapes)[2], int64_t L, const ug_tensor *loc,
                                   const ug_tensor *aw) {
    const char *op = "msdeform_attn";
    const ug_tensor *ts[] = {out, value, loc, aw};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 4, ts)) return;
    if (out->dtype != UG_F32 || value->dtype != UG_F32 || loc->dtype != UG_F32 || aw->dtype != UG_F32 ||
        value->ndim != 4 || loc->ndim != 5 || aw->ndim != 4 || out->ndim != 3) {
        cu_fail(ctx, op,
                "value [B, S, M, D], loc [B, Nq, M, L * P, 2], aw [B, Nq, M, L * P] and out [B, Nq, M * D] "
                "must be F32");
        return;
    }
    int64_t B = value->shape[0], S = value->shape[1], M = value->shape[2], D = value->shape[3];
    int64_t Nq = loc->shape[1], LP = loc->shape[3];
    bool ok = L >= 1 && loc->shape[0] == B && loc->shape[2] == M && loc->shape[4] == 2 && LP % L == 0 &&
              aw->shape[0] == B && aw->shape[1] == Nq && aw->shape[2] == M && aw->shape[3] == LP &&
              out->shape[0] == B && out->shape[1] == Nq && out->shape[2] == M * D && LP <= 0x7fffffff;
    if (!ok) {
        cu_fail(ctx, op, "inconsistent shapes of value, loc, aw and out");
        return;
    }
    msda_levels lv;
    if (!msda_fill_levels(ctx, &lv, shapes, L, LP / L, MSDA_MAX_LEVELS, op)) return;
    if (lv.start[L] != S) {
        cu_fail(ctx, op, "sum of the level sizes differs from value's token count");
        return;
    }
    int64_t items = B * Nq * M;
    if (items == 0 || D == 0) return;
    if ((items + MSDA_WARPS - 1) / MSDA_WARPS > 0x7fffffff) {
        cu_fail(ctx, op, "too many queries for one launch");
        return;
    }
    cu_poison_output(ctx, out);
    UG_LAUNCH(msda_v1, dim3(cu_blocks(items, MSDA_WARPS)), dim3(MSDA_THREADS), 0, cu_stream(ctx),
              (float *)out->data, (const float *)value->data, (const float *)loc->data,
              (const float *)aw->data, cu_dims_of(out), cu_dims_of(value), cu_dims_of(loc), cu_dims_of(aw),
              lv, items);
    cu_check(ctx, cudaGetLastError(), op);
}

// ---- sampling locations ----

static __global__ void __launch_bounds__(MSDS_THREADS)
    msds_v1(float *loc, const float *off, cu_dims yd, cu_dims xd, msda_levels lv, int64_t pairs) {
    int64_t e = (int64_t)blockIdx.x * MSDS_THREADS + threadIdx.x;
    if (e >= pairs) return; // no barrier or collective in this kernel
    int64_t S = yd.shape[1], M = yd.shape[2], LP = yd.shape[3];
    int64_t i = e % LP, m = e / LP % M, s = e / LP / M % S, b = e / LP / M / S;
    int t = 0; // the token's own level
    while (s >= lv.start[t + 1])
        t++;
    int tok = (int)s - lv.start[t], Wt = lv.W[t], Ht = lv.H[t];
    float rx = ((float)(tok % Wt) + 0.5f) / (float)Wt, ry = ((float)(tok / Wt) + 0.5f) / (float)Ht;
    int l = (int)i / lv.P; // the level sampled
    const float *x = off + b * xd.stride[0] + s * xd.stride[1] + m * xd.stride[2] + i * xd.stride[3];
    float ox = x[0], oy = x[xd.stride[4]]; // both read before either is written (in place)
    float *y = loc + b * yd.stride[0] + s * yd.stride[1] + m * yd.stride[2] + i * yd.stride[3];
    y[0] = rx + ox / (float)lv.W[l];
    y[yd.stride[4]] = ry + oy / (float)lv.H[l];
}

extern "C" void msdeform_sampling_locations_cuda(ug_ctx *ctx, ug_tensor *loc, const ug_tensor *off,
                                                 const int64_t (*shapes)[2], int64_t L) {
    const char *op = "msdeform_sampling_locations";
    const ug_tensor *ts[] = {loc, off};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 2, ts)) return;
    if (loc->dtype != UG_F32 || off->dtype != UG_F32 || loc->ndim != 5 || !ug_tensor_same_shape(loc, off) ||
        loc->shape[4] != 2 || L < 1 || loc->shape[3] % L != 0 || loc->shape[3] > 0x7fffffff) {
        cu_fail(ctx, op, "loc and off must be F32 [B, S, M, L * P, 2] of one shape");
        return;
    }
    msda_levels lv;
    if (!msda_fill_levels(ctx, &lv, shapes, L, loc->shape[3] / L, MSDS_MAX_LEVELS, op)) return;
    if (lv.start[L] != loc->shape[1]) {
        cu_fail(ctx, op, "sum of the level sizes differs from the token count S");
        return;
    }
    int64_t pairs = ug_tensor_numel(loc) / 2;
    if (pairs == 0) return;
    if ((pairs + MSDS_THREADS - 1) / MSDS_THREADS > 0x7fffffff) {
        cu_fail(ctx, op, "too many locations for one launch");
        return;
    }
    if (loc->data != off->data) cu_poison_output(ctx, loc); // not in place
    UG_LAUNCH(msds_v1, dim3(cu_blocks(pairs, MSDS_THREADS)), dim3(MSDS_THREADS), 0, cu_stream(ctx),
              (float *)loc->data, (const float *)off->data, cu_dims_of(loc), cu_dims_of(off), lv, pairs);
    cu_check(ctx, cudaGetLastError(), op);
}
