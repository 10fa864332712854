// ops/cuda/elementwise.cu — add, mul, scale_add over strided / broadcast views; contract:
// ops/elementwise.h (y, a, b F32 of one shape up to 5 dims, any strides, stride-0 broadcasts;
// y may be the very view a or b).
//
// The host merges dims as the CPU kernel does (size-1 dims dropped, a dim folded into the next
// when that is a plain reshape for all three operands), so most calls become one flat run.
// v1 ew_flat_v1: that flat run (unit strides, b unit or stride 0): grid-stride, coalesced.
// v1 ew_strided_v1: anything else: grid-stride over y's elements in row-major order, each
//     operand's offset unravelled from the merged shape (a few divisions per element; the views
//     met here are transposes and slices that the merging leaves at 2..3 dims).
// Rounding: add and mul are single IEEE operations, scale_add one fmaf(x, alpha, beta) like the
// CPU kernel: results are bit-identical to ops/elementwise.c.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { EW_THREADS = 256, EW_MAX_BLOCKS = 4096 };
enum { EW_ADD, EW_MUL, EW_AXPB };

typedef struct ew_dims {
    int ndim;
    int64_t shape[UG_MAX_DIMS];
    int64_t stride[3][UG_MAX_DIMS]; // 0 = y, 1 = a, 2 = b
} ew_dims;

template <int OP> static __device__ __forceinline__ float ew_one(float a, float b, float alpha, float beta) {
    if (OP == EW_ADD) return a + b;
    if (OP == EW_MUL) return a * b;
    return fmaf(a, alpha, beta);
}

template <int OP>
static __global__ void ew_flat_v1(float *y, const float *a, const float *b, int64_t sb, int64_t n,
                                  float alpha, float beta) {
    for (int64_t i = (int64_t)blockIdx.x * EW_THREADS + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * EW_THREADS)
        y[i] = ew_one<OP>(a[i], b[i * sb], alpha, beta);
}

template <int OP>
static __global__ void ew_strided_v1(float *y, const float *a, const float *b, ew_dims d, int64_t n,
                                     float alpha, float beta) {
    for (int64_t i = (int64_t)blockIdx.x * EW_THREADS + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * EW_THREADS) {
        int64_t r = i, oy = 0, oa = 0, ob = 0;
        for (int k = d.ndim - 1; k >= 0; k--) {
            int64_t j = r % d.shape[k];
            r /= d.shape[k];
            oy += j * d.stride[0][k];
            oa += j * d.stride[1][k];
            ob += j * d.stride[2][k];
        }
        y[oy] = ew_one<OP>(a[oa], b[ob], alpha, beta);
    }
}

template <int OP>
static void ew_launch(ug_ctx *ctx, float alpha, float beta, ug_tensor *y, const ug_tensor *a,
                      const ug_tensor *b, const char *op) {
    const ug_tensor *ts[] = {y, a, b};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 3, ts)) return;
    if (y->dtype != UG_F32 || a->dtype != UG_F32 || b->dtype != UG_F32 || !ug_tensor_same_shape(y, a) ||
        !ug_tensor_same_shape(y, b)) {
        cu_fail(ctx, op, "y, a and b must be F32 of one shape");
        return;
    }
    ew_dims d = {};
    for (int k = 0; k < y->ndim; k++) {
        if (y->shape[k] == 0) return;
        if (y->shape[k] == 1) continue;
        int m = d.ndim;
        bool merge = m > 0;
        for (int t = 0; t < 3 && merge; t++)
            merge = d.stride[t][m - 1] == ts[t]->stride[k] * y->shape[k];
        if (merge) {
            d.shape[m - 1] *= y->shape[k];
            for (int t = 0; t < 3; t++)
                d.stride[t][m - 1] = ts[t]->stride[k];
        } else {
            d.shape[m] = y->shape[k];
            for (int t = 0; t < 3; t++)
                d.stride[t][m] = ts[t]->stride[k];
            d.ndim++;
        }
    }
    if (d.ndim == 0) { // a single element
        d.ndim = 1;
        d.shape[0] = 1;
        for (int t = 0; t < 3; t++)
            d.stride[t][0] = 1;
    }
    int64_t n = ug_tensor_numel(y);
    unsigned blocks = cu_min<unsigned>(cu_blocks(n, EW_THREADS), EW_MAX_BLOCKS);
    float *yp = (float *)y->data;
    const float *ap = (const float *)a->data, *bp = (const float *)b->data;
    if (d.ndim == 1 && d.stride[0][0] == 1 && d.stride[1][0] == 1 &&
        (d.stride[2][0] == 1 || d.stride[2][0] == 0))
        UG_LAUNCH(ew_flat_v1<OP>, dim3(blocks), dim3(EW_THREADS), 0, cu_stream(ctx), yp, ap, bp,
                  d.stride[2][0], n, alpha, beta);
    else
        UG_LAUNCH(ew_strided_v1<OP>, dim3(blocks), dim3(EW_THREADS), 0, cu_stream(ctx), yp, ap, bp, d, n,
                  alpha, beta);
    cu_check(ctx, cudaGetLastError(), op);
}

extern "C" void add_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b) {
    ew_launch<EW_ADD>(ctx, 0.0f, 0.0f, y, a, b, "add");
}

extern "C" void mul_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b) {
    ew_launch<EW_MUL>(ctx, 0.0f, 0.0f, y, a, b, "mul");
}

extern "C" void scale_add_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, float alpha, float beta) {
    ew_launch<EW_AXPB>(ctx, alpha, beta, y, x, x, "scale_add");
}
