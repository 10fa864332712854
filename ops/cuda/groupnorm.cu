// ops/cuda/groupnorm.cu — GroupNorm over an NCHW map; contract: ops/groupnorm.h.
//
// The CPU kernel's plan on the device: statistics per (b, c) channel, merged per group with
// Chan's formula in double, then the affine pass y = ((x - x0[c]) - gm[c]) * scale[c] + b[c]
// with x0[c] the channel's first value, gm[c] = group mean - x0[c], scale[c] = rstd * w[c].
//
// v1 gn_stats_v1: one 256-thread block per (b, c) channel (B*C blocks: 256+ in the pixel decoder,
//     where one block per group would give 32): two passes over the HW values shifted by x0,
//     f32 thread partials, warp xor butterflies, then the 8 warp sums in warp order from shared
//     memory (deterministic); mean and M2 stored as doubles.
// v1 gn_merge_v1: one thread per (b, g) group, its cg channels in order, in double (a few
//     hundred threads in all; this is where the CPU merges too).
// v1 gn_apply_v1: one block per channel striding its HW values (coalesced), the channel's three
//     constants loaded once; reads only the element it writes, so y may be x.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { GN_THREADS = 256, GN_WARPS = GN_THREADS / 32 };

static __device__ __forceinline__ float gn_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(UG_FULL_MASK, v, o);
    return v;
}

// Sum of v over the block, the same value in every thread; red: GN_WARPS floats of shared
// memory not used by another call before the next barrier.
static __device__ __forceinline__ float gn_block_sum(float v, float *red) {
    v = gn_warp_sum(v);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    float t = 0.0f;
    for (int k = 0; k < GN_WARPS; k++)
        t += red[k];
    return t;
}

static __global__ void gn_stats_v1(double *mean, double *m2, const float *x, int64_t HW) {
    __shared__ float red[2][GN_WARPS];
    int64_t i = blockIdx.x;
    const float *xc = x + i * HW;
    float x0 = xc[0];
    float s = 0.0f;
    for (int64_t p = threadIdx.x; p < HW; p += GN_THREADS)
        s += xc[p] - x0;
    float m = gn_block_sum(s, red[0]) / (float)HW;
    float q = 0.0f;
    for (int64_t p = threadIdx.x; p < HW; p += GN_THREADS) {
        float d = (xc[p] - x0) - m;
        q += d * d;
    }
    float M2 = gn_block_sum(q, red[1]); // M2 around x0 + m exactly: no correction needed
    if (threadIdx.x == 0) {
        mean[i] = (double)x0 + (double)m;
        m2[i] = (double)M2;
    }
}

static __global__ void gn_merge_v1(float *gx0, float *gm, float *scale, const double *mean, const double *m2,
                                   const float *x, const float *w, int64_t groups_total, int64_t C,
                                   int64_t cg, int64_t HW, float eps) {
    for (int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; g < groups_total;
         g += (int64_t)gridDim.x * blockDim.x) {
        int64_t c0 = g * cg;
        double mu = 0.0, M = 0.0;
        for (int64_t k = 0; k < cg; k++)
            mu += mean[c0 + k];
        mu /= (double)cg;
        for (int64_t k = 0; k < cg; k++) {
            double d = mean[c0 + k] - mu;
            M += m2[c0 + k] + (double)HW * d * d;
        }
        double rstd = 1.0 / sqrt(M / (double)(cg * HW) + (double)eps);
        for (int64_t k = 0; k < cg; k++) {
            int64_t i = c0 + k;
            float x0 = x[i * HW];
            gx0[i] = x0;
            gm[i] = (float)(mu - (double)x0);
            scale[i] = (float)(rstd * (w ? (double)w[i % C] : 1.0));
        }
    }
}

static __global__ void gn_apply_v1(float *y, const float *x, const float *gx0, const float *gm,
                                   const float *scale, const float *b, int64_t C, int64_t HW) {
    int64_t i = blockIdx.x;
    float x0 = gx0[i], m = gm[i], s = scale[i], sh = b ? b[i % C] : 0.0f;
    const float *xc = x + i * HW;
    float *yc = y + i * HW;
    for (int64_t p = threadIdx.x; p < HW; p += GN_THREADS)
        yc[p] = ((xc[p] - x0) - m) * s + sh;
}

static bool gn_affine_ok(const ug_tensor *t, int64_t C) {
    return !t || (t->dtype == UG_F32 && ug_tensor_numel(t) == C && ug_tensor_is_contiguous(t));
}

extern "C" void groupnorm_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                               const ug_tensor *b, int groups, float eps) {
    const ug_tensor *ts[] = {y, x, w, b};
    if (cu_failed(ctx) || !cu_on_device(ctx, "groupnorm", 4, ts)) return;
    if (x->ndim != 4 || y->dtype != UG_F32 || !ug_tensor_is_contiguous(y) || !ug_tensor_same_shape(x, y)) {
        cu_fail(ctx, "groupnorm", "x must be [B, C, H, W] and y contiguous F32 of its shape");
        return;
    }
    int64_t B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    if (groups <= 0 || C % groups != 0) {
        cu_fail(ctx, "groupnorm", "C must be a multiple of groups");
        return;
    }
    if (!gn_affine_ok(w, C) || !gn_affine_ok(b, C)) {
        cu_fail(ctx, "groupnorm", "weight and bias must be contiguous F32 [C]");
        return;
    }
    if (B == 0 || C == 0 || HW == 0) return;
    int64_t BC = B * C, G = B * groups;
    ug_arena_mark mk = cu_mark(ctx);
    ug_tensor xc;
    // Per channel: mean, M2 (double), x0, gm, scale (float).
    char *st = (char *)cu_scratch(ctx, (size_t)BC * (2 * sizeof(double) + 3 * sizeof(float)), "groupnorm");
    if (st && cu_contiguous_f32(ctx, &xc, x, "groupnorm")) {
        double *mean = (double *)st, *m2 = mean + BC;
        float *gx0 = (float *)(m2 + BC), *gm = gx0 + BC, *scale = gm + BC;
        const float *xp = (const float *)xc.data;
        if (y->data != xc.data) cu_poison_output(ctx, y); // not in place
        UG_LAUNCH(gn_stats_v1, dim3((unsigned)BC), dim3(GN_THREADS), 0, cu_stream(ctx), mean, m2, xp, HW);
        if (cu_check(ctx, cudaGetLastError(), "groupnorm")) {
            UG_LAUNCH(gn_merge_v1, dim3(cu_blocks(G, 64)), dim3(64), 0, cu_stream(ctx), gx0, gm, scale, mean,
                      m2, xp, w ? (const float *)w->data : NULL, G, C, C / groups, HW, eps);
        }
        if (cu_check(ctx, cudaGetLastError(), "groupnorm")) {
            UG_LAUNCH(gn_apply_v1, dim3((unsigned)BC), dim3(GN_THREADS), 0, cu_stream(ctx), (float *)y->data,
                      xp, gx0, gm, scale, b ? (const float *)b->data : NULL, C, HW);
            cu_check(ctx, cudaGetLastError(), "groupnorm");
        }
    }
    cu_release(ctx, mk);
}
