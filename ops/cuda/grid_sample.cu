// ops/cuda/grid_sample.cu — F.grid_sample(x, grid, bilinear, zeros, align_corners=False);
// contract: ops/grid_sample.h (F32, any strides; non-finite or far-out grid values sample 0).
//
// v1 grid_sample_v1: one thread per sampling point (blockIdx.x, threadIdx.x over [B, Ho*Wo]),
//     blockIdx.y a slice of GS_CHANNELS channels: a thread forms its point's four corner taps
//     once (in f32, the CPU kernel's expressions and order) and reuses them for the slice's
//     channels; consecutive threads write consecutive points of a channel (coalesced when y's
//     columns are). Products are rounded one by one (no fma contraction), so the result is
//     bit-identical to ops/grid_sample.c.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { GS_THREADS = 128, GS_CHANNELS = 32 };

static __global__ void grid_sample_v1(float *y, const float *x, const float *grid, cu_dims yd, cu_dims xd,
                                      cu_dims gd, int64_t P) {
    int64_t C = xd.shape[1], H = xd.shape[2], W = xd.shape[3], Wo = yd.shape[3];
    int64_t b = blockIdx.x / ((P + GS_THREADS - 1) / GS_THREADS);
    int64_t p = (int64_t)(blockIdx.x % ((P + GS_THREADS - 1) / GS_THREADS)) * GS_THREADS + threadIdx.x;
    if (p >= P) return; // no barrier or collective in this kernel
    int64_t ho = p / Wo, wo = p % Wo;
    const float *gp = grid + b * gd.stride[0] + ho * gd.stride[1] + wo * gd.stride[2];
    float gx = gp[0], gy = gp[gd.stride[3]];
    float ix = cu_fadd(cu_fmul(gx + 1.0f, (float)W / 2.0f), -0.5f);
    float iy = cu_fadd(cu_fmul(gy + 1.0f, (float)H / 2.0f), -0.5f);
    int64_t off[4] = {-1, -1, -1, -1};
    float wt[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    // Far outside (or NaN): every corner is outside; also keeps the int conversion defined.
    if (ix > -2.0f && ix < (float)W + 1.0f && iy > -2.0f && iy < (float)H + 1.0f) {
        float fx = floorf(ix), fy = floorf(iy);
        float w = ix - fx, e = 1.0f - w, n = iy - fy, s = 1.0f - n;
        wt[0] = s * e;
        wt[1] = s * w;
        wt[2] = n * e;
        wt[3] = n * w;
        int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
        for (int k = 0; k < 4; k++) {
            int64_t cx = x0 + (k & 1), cy = y0 + (k >> 1);
            if (cx >= 0 && cx < W && cy >= 0 && cy < H) off[k] = cy * xd.stride[2] + cx * xd.stride[3];
        }
    }
    int64_t c1 = cu_min<int64_t>(C, (int64_t)(blockIdx.y + 1) * GS_CHANNELS);
    for (int64_t c = (int64_t)blockIdx.y * GS_CHANNELS; c < c1; c++) {
        const float *xc = x + b * xd.stride[0] + c * xd.stride[1];
        float v0 = off[0] >= 0 ? xc[off[0]] : 0.0f, v1 = off[1] >= 0 ? xc[off[1]] : 0.0f;
        float v2 = off[2] >= 0 ? xc[off[2]] : 0.0f, v3 = off[3] >= 0 ? xc[off[3]] : 0.0f;
        float acc = cu_fadd(cu_fadd(cu_fadd(cu_fmul(v0, wt[0]), cu_fmul(v1, wt[1])), cu_fmul(v2, wt[2])),
                            cu_fmul(v3, wt[3]));
        y[b * yd.stride[0] + c * yd.stride[1] + ho * yd.stride[2] + wo * yd.stride[3]] = acc;
    }
}

extern "C" void grid_sample_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *grid) {
    const ug_tensor *ts[] = {y, x, grid};
    if (cu_failed(ctx) || !cu_on_device(ctx, "grid_sample", 3, ts)) return;
    bool ok = x->dtype == UG_F32 && y->dtype == UG_F32 && grid->dtype == UG_F32 && x->ndim == 4 &&
              y->ndim == 4 && grid->ndim == 4 && grid->shape[3] == 2 && y->shape[0] == x->shape[0] &&
              y->shape[1] == x->shape[1] && grid->shape[0] == x->shape[0] && y->shape[2] == grid->shape[1] &&
              y->shape[3] == grid->shape[2];
    if (!ok) {
        cu_fail(ctx, "grid_sample", "x [B, C, H, W], grid [B, Ho, Wo, 2] and y [B, C, Ho, Wo] must be F32");
        return;
    }
    int64_t B = x->shape[0], C = x->shape[1], P = y->shape[2] * y->shape[3];
    if (P == 0 || B == 0 || C == 0) return;
    int64_t pblocks = (P + GS_THREADS - 1) / GS_THREADS, cblocks = (C + GS_CHANNELS - 1) / GS_CHANNELS;
    if (B * pblocks > 0x7fffffff || cblocks > 65535) {
        cu_fail(ctx, "grid_sample", "too many points or channels for one launch");
        return;
    }
    cu_poison_output(ctx, y);
    UG_LAUNCH(grid_sample_v1, dim3((unsigned)(B * pblocks), (unsigned)cblocks), dim3(GS_THREADS), 0,
              cu_stream(ctx), (float *)y->data, (const float *)x->data, (const float *)grid->data,
              cu_dims_of(y), cu_dims_of(x), cu_dims_of(grid), P);
    cu_check(ctx, cudaGetLastError(), "grid_sample");
}
