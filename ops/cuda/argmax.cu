// ops/cuda/argmax.cu — argmax over the channel dim, y[b, h, w] = argmax_c x[b, c, h, w];
// contract: ops/argmax.h (x F32 [B, C, H, W], y I32 or U8 (C <= 256) [B, H, W], any strides).
//
// torch.argmax's rule, as the CPU kernel: the running best is replaced by a larger value, or by
// a NaN while the best is not NaN, so the first maximum wins ties and the first NaN wins over
// everything. Exact (indices).
//
// v1 argmax_v1: one thread per pixel, channels inner (C = 19 classes in RbA): consecutive
//     threads read consecutive pixels of a channel plane (coalesced when x's columns are) and
//     write consecutive indices. Why not a warp per pixel: C is small, the planes are large.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { AM_THREADS = 256 };

template <class T>
static __global__ void __launch_bounds__(AM_THREADS)
    argmax_v1(T *y, const float *x, cu_dims yd, cu_dims xd, int64_t pixels) {
    int64_t p = (int64_t)blockIdx.x * AM_THREADS + threadIdx.x;
    if (p >= pixels) return; // no barrier or collective in this kernel
    int64_t C = xd.shape[1], H = xd.shape[2], W = xd.shape[3];
    int64_t w = p % W, h = p / W % H, b = p / W / H;
    const float *xp = x + b * xd.stride[0] + h * xd.stride[2] + w * xd.stride[3];
    float best = xp[0];
    int bi = 0;
    for (int64_t c = 1; c < C; c++) {
        float v = xp[c * xd.stride[1]];
        if (best == best && (v > best || v != v)) {
            best = v;
            bi = (int)c;
        }
    }
    y[b * yd.stride[0] + h * yd.stride[1] + w * yd.stride[2]] = (T)bi;
}

extern "C" void argmax_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    const char *op = "argmax";
    const ug_tensor *ts[] = {y, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 2, ts)) return;
    bool ok = x->dtype == UG_F32 && x->ndim == 4 && y->ndim == 3 && x->shape[1] >= 1 &&
              (y->dtype == UG_I32 || (y->dtype == UG_U8 && x->shape[1] <= 256)) &&
              y->shape[0] == x->shape[0] && y->shape[1] == x->shape[2] && y->shape[2] == x->shape[3] &&
              x->shape[1] <= 0x7fffffff;
    if (!ok) {
        cu_fail(ctx, op, "x must be F32 [B, C, H, W] (C >= 1), y I32 or U8 (C <= 256) [B, H, W]");
        return;
    }
    int64_t pixels = ug_tensor_numel(y);
    if (pixels == 0) return;
    if ((pixels + AM_THREADS - 1) / AM_THREADS > 0x7fffffff) {
        cu_fail(ctx, op, "too many pixels for one launch");
        return;
    }
    cu_poison_output(ctx, y);
    if (y->dtype == UG_I32)
        UG_LAUNCH(argmax_v1<int32_t>, dim3(cu_blocks(pixels, AM_THREADS)), dim3(AM_THREADS), 0,
                  cu_stream(ctx), (int32_t *)y->data, (const float *)x->data, cu_dims_of(y), cu_dims_of(x),
                  pixels);
    else
        UG_LAUNCH(argmax_v1<uint8_t>, dim3(cu_blocks(pixels, AM_THREADS)), dim3(AM_THREADS), 0,
                  cu_stream(ctx), (uint8_t *)y->data, (const float *)x->data, cu_dims_of(y), cu_dims_of(x),
                  pixels);
    cu_check(ctx, cudaGetLastError(), op);
}
