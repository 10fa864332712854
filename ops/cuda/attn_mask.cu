// ops/cuda/attn_mask.cu — the mask of Mask2Former's masked cross-attention from mask logits;
// contract: ops/attn_mask.h (mask U8 [Q, N], x F32 [Q, N]; any strides here).
//
//   blocked[q, n] = 1 / (1 + expf(-x[q, n])) < 0.5 in float32, then a row with every key
//   blocked is cleared (it attends everywhere).
// As the CPU kernel, the sign decides outside the band [-1e-6, 0): below it the float sigmoid
// is < 0.5, at or above 0 (and NaN) it is not. Inside the band expf(-x) is taken as the double
// exp rounded once to float (the device's expf may be 2 ulp off; for these arguments, 1 to
// 1 + 1e-6, the rounded double is the correctly rounded float, which glibc's expf also returns:
// checked for every float of the band on the host), so the mask is bit-identical to the CPU's.
//
// v1 attn_mask_v1: one block of 256 threads per row (Q = 100 queries: a warp per row would
//     leave most of the GPU idle), threads stride the row writing their flags and counting
//     them, an exact integer block sum, then the threads of a full row clear their own flags.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { AMK_THREADS = 256, AMK_WARPS = AMK_THREADS / 32 };

static __device__ __forceinline__ unsigned char amk_blocked(float v) {
    if (v < -1e-6f) return 1;
    if (!(v < 0.0f)) return 0; // v >= 0 or NaN: the sigmoid is >= 0.5 (NaN attends)
    float e = (float)exp(-(double)v);
    return 1.0f / (1.0f + e) < 0.5f;
}

static __global__ void __launch_bounds__(AMK_THREADS)
    attn_mask_v1(uint8_t *mask, const float *x, int64_t N, int64_t ms0, int64_t ms1, int64_t xs0,
                 int64_t xs1) {
    __shared__ int part[AMK_WARPS];
    int tid = (int)threadIdx.x;
    uint8_t *mr = mask + (int64_t)blockIdx.x * ms0;
    const float *xr = x + (int64_t)blockIdx.x * xs0;
    int count = 0;
    for (int64_t n = tid; n < N; n += AMK_THREADS) {
        unsigned char b = amk_blocked(xr[n * xs1]);
        mr[n * ms1] = b;
        count += b;
    }
    for (int o = 16; o > 0; o >>= 1)
        count += __shfl_xor_sync(UG_FULL_MASK, count, o);
    if (tid % 32 == 0) part[tid / 32] = count;
    __syncthreads();
    int64_t total = 0;
    for (int w = 0; w < AMK_WARPS; w++)
        total += part[w];
    if (total == N)
        for (int64_t n = tid; n < N; n += AMK_THREADS)
            mr[n * ms1] = 0;
}

extern "C" void attn_mask_threshold_cuda(ug_ctx *ctx, ug_tensor *mask, const ug_tensor *x) {
    const char *op = "attn_mask_threshold";
    const ug_tensor *ts[] = {mask, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 2, ts)) return;
    if (mask->dtype != UG_U8 || x->dtype != UG_F32 || mask->ndim != 2 || !ug_tensor_same_shape(mask, x)) {
        cu_fail(ctx, op, "mask must be U8 [Q, N] and x F32 [Q, N]");
        return;
    }
    int64_t Q = x->shape[0], N = x->shape[1];
    if (Q == 0 || N == 0) return;
    if (Q > 0x7fffffff || N > 0x7fffffff) {
        cu_fail(ctx, op, "more than 2^31 - 1 rows or keys");
        return;
    }
    cu_poison_output(ctx, mask);
    UG_LAUNCH(attn_mask_v1, dim3((unsigned)Q), dim3(AMK_THREADS), 0, cu_stream(ctx), (uint8_t *)mask->data,
              (const float *)x->data, N, mask->stride[0], mask->stride[1], x->stride[0], x->stride[1]);
    cu_check(ctx, cudaGetLastError(), op);
}
