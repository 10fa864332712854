// ops/cuda/posembed.cu — Mask2Former PositionEmbeddingSine(F, normalize=True, scale=2 pi,
// temperature=10000) of an unmasked H x W map; contract: ops/posembed.h (y F32 [2F, H, W] or
// [B, 2F, H, W], every batch the same map; any strides here).
//
//   y_e = (row + 1) / (H + 1e-6) * 2 pi,   x_e = (col + 1) / (W + 1e-6) * 2 pi
//   dim_t[k] = 10000^(2 floor(k / 2) / F)
//   out[k] = sin(y_e / dim_t[k]) (k even) or cos(y_e / dim_t[k]) (k odd), out[F + k] the same with x_e
// Each step in float32 as the CPU kernel (and PyTorch): the division by H + 1e-6f, the product
// with (float)(2 pi), the division by dim_t. dim_t is 10000^e with e = (float)(2 floor(k / 2)) /
// (float)F, evaluated in double and rounded once: the correctly rounded float (glibc's powf, on
// the CPU, is off by one ulp for a few odd F; never for F = 64, 128, 256). sinf / cosf are the
// device's (CUDA: at most 2 ulp from the exact value).
//
// v1 posembed_v1: one thread per (plane, column, slab of PE_ROWS rows), consecutive threads on
//     consecutive columns (coalesced stores). The x half depends on the column only: one sin
//     per thread, stored down the slab; the y half computes one per row. dim_t once per thread.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { PE_THREADS = 128, PE_ROWS = 16 };

static __device__ __forceinline__ float pe_value(int64_t i, float den, float dim_t, bool odd) {
    const float scale = (float)6.283185307179586; // Python's 2 * math.pi as a float32 operand
    float e = (float)(i + 1) / den * scale;
    return odd ? cosf(e / dim_t) : sinf(e / dim_t);
}

static __global__ void __launch_bounds__(PE_THREADS)
    posembed_v1(float *y, cu_dims yd, int64_t F, int64_t slabs, int64_t threads) {
    int64_t t = (int64_t)blockIdx.x * PE_THREADS + threadIdx.x;
    if (t >= threads) return; // no barrier or collective in this kernel
    int nd = yd.ndim;
    int64_t H = yd.shape[nd - 2], W = yd.shape[nd - 1];
    int64_t col = t % W, slab = t / W % slabs, plane = t / W / slabs; // plane = b * 2F + ch
    int64_t ch = plane % (2 * F), b = plane / (2 * F);
    bool is_x = ch >= F;
    int64_t k = is_x ? ch - F : ch;
    float dim_t = (float)pow(10000.0, (double)((float)(2 * (k / 2)) / (float)F));
    float den = (float)(is_x ? W : H) + 1e-6f;
    float *yc = y + (nd == 4 ? b * yd.stride[0] : 0) + ch * yd.stride[nd - 3] + col * yd.stride[nd - 1];
    int64_t r0 = slab * PE_ROWS, r1 = cu_min(H, r0 + PE_ROWS);
    float vx = is_x ? pe_value(col, den, dim_t, k % 2) : 0.0f;
    for (int64_t r = r0; r < r1; r++)
        yc[r * yd.stride[nd - 2]] = is_x ? vx : pe_value(r, den, dim_t, k % 2);
}

extern "C" void posembed_sine_cuda(ug_ctx *ctx, ug_tensor *y) {
    const char *op = "posembed_sine";
    const ug_tensor *ts[] = {y};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 1, ts)) return;
    if (y->dtype != UG_F32 || (y->ndim != 3 && y->ndim != 4) || y->shape[y->ndim - 3] % 2 != 0) {
        cu_fail(ctx, op, "y must be F32 [2F, H, W] or [B, 2F, H, W]");
        return;
    }
    int nd = y->ndim;
    int64_t B = nd == 4 ? y->shape[0] : 1, F = y->shape[nd - 3] / 2, H = y->shape[nd - 2],
            W = y->shape[nd - 1];
    int64_t slabs = (H + PE_ROWS - 1) / PE_ROWS, threads = B * 2 * F * slabs * W;
    if (threads == 0) return;
    if ((threads + PE_THREADS - 1) / PE_THREADS > 0x7fffffff) {
        cu_fail(ctx, op, "map too large for one launch");
        return;
    }
    cu_poison_output(ctx, y);
    UG_LAUNCH(posembed_v1, dim3(cu_blocks(threads, PE_THREADS)), dim3(PE_THREADS), 0, cu_stream(ctx),
              (float *)y->data, cu_dims_of(y), F, slabs, threads);
    cu_check(ctx, cudaGetLastError(), op);
}
