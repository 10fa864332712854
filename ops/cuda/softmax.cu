// ops/cuda/softmax.cu — softmax over the last dim; contract: ops/softmax.h.
//
//   y[r, :] = exp(x[r, :] - m) / sum_c exp(x[r, c] - m),  m = max_c x[r, c]   (f32)
// -inf entries give exactly 0; a row of only -inf gives NaN everywhere (0/0, as PyTorch); NaN or
// +inf in a row make the row NaN (through the sum). x and y: F32 of one shape, 1 to 5 dims, any
// strides with a unit last stride; y may be x: every thread writes only the elements it read.
//
// v1 sm_rows_warp_v1: one warp per row (C <= SM_WARP_MAX), 8 rows per 256-thread block. Lanes
//     stride the row (coalesced); pass 1 the max, pass 2 the sum of exp(x - m), pass 3 writes
//     exp(x - m) * (1 / sum), re-reading x from L1/L2 (recomputing exp keeps y = x legal). Lane
//     partials are reduced by an xor butterfly: a fixed order, every lane gets the same value.
//     Why a warp: attention-sized rows (tens to a thousand entries) keep 32 lanes busy with no
//     block barrier.
// v1 sm_rows_block_v1: one 256-thread block per longer row, the same three passes; the 8 warp
//     partials meet in shared memory and every thread combines them in warp order (deterministic).
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { SM_THREADS = 256, SM_WARPS = SM_THREADS / 32, SM_WARP_MAX = 1024 };

static __device__ __forceinline__ float sm_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(UG_FULL_MASK, v, o));
    return v;
}

static __device__ __forceinline__ float sm_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(UG_FULL_MASK, v, o);
    return v;
}

// The dims before the last one, right-aligned in 4 slots (softmax takes 1 to 5 dims). A fixed
// trip count keeps the loop unrolled and the struct in registers (cu_offset's runtime ndim would
// copy it to local memory).
typedef struct sm_lead {
    int64_t shape[4], stride[4];
} sm_lead;

// Offset of row r.
static __device__ __forceinline__ int64_t sm_row(const sm_lead &d, int64_t r) {
    int64_t off = 0;
    for (int k = 3; k >= 0; k--) {
        off += (r % d.shape[k]) * d.stride[k];
        r /= d.shape[k];
    }
    return off;
}

static __global__ void sm_rows_warp_v1(float *y, const float *x, sm_lead ly, sm_lead lx, int64_t rows,
                                       int64_t C) {
    int lane = (int)threadIdx.x & 31;
    int64_t r = (int64_t)blockIdx.x * SM_WARPS + threadIdx.x / 32;
    if (r < rows) { // whole warps skip together: the shuffles see all 32 lanes
        const float *xr = x + sm_row(lx, r);
        float *yr = y + sm_row(ly, r);
        float m = -INFINITY;
        for (int64_t c = lane; c < C; c += 32)
            m = fmaxf(m, xr[c]);
        m = sm_warp_max(m);
        float s = 0.0f;
        if (m != -INFINITY)
            for (int64_t c = lane; c < C; c += 32)
                s += expf(xr[c] - m);
        s = sm_warp_sum(s);
        float inv = m == -INFINITY ? NAN : 1.0f / s; // all -inf: 0/0
        for (int64_t c = lane; c < C; c += 32)
            yr[c] = m == -INFINITY ? NAN : expf(xr[c] - m) * inv;
    }
}

static __global__ void sm_rows_block_v1(float *y, const float *x, sm_lead ly, sm_lead lx, int64_t C) {
    __shared__ float part[2][SM_WARPS];
    int tid = (int)threadIdx.x, lane = tid & 31, warp = tid / 32;
    int64_t r = blockIdx.x;
    const float *xr = x + sm_row(lx, r);
    float *yr = y + sm_row(ly, r);
    float m = -INFINITY;
    for (int64_t c = tid; c < C; c += SM_THREADS)
        m = fmaxf(m, xr[c]);
    m = sm_warp_max(m);
    if (lane == 0) part[0][warp] = m;
    __syncthreads();
    m = part[0][0];
    for (int w = 1; w < SM_WARPS; w++)
        m = fmaxf(m, part[0][w]);
    float s = 0.0f;
    if (m != -INFINITY)
        for (int64_t c = tid; c < C; c += SM_THREADS)
            s += expf(xr[c] - m);
    s = sm_warp_sum(s);
    if (lane == 0) part[1][warp] = s;
    __syncthreads();
    s = part[1][0];
    for (int w = 1; w < SM_WARPS; w++)
        s += part[1][w];
    float inv = m == -INFINITY ? NAN : 1.0f / s;
    for (int64_t c = tid; c < C; c += SM_THREADS)
        yr[c] = m == -INFINITY ? NAN : expf(xr[c] - m) * inv;
}

// The leading dims of t (all but the last), right-aligned in 4 slots (unused: size 1).
static sm_lead sm_lead_of(const ug_tensor *t) {
    sm_lead d;
    int n = t->ndim - 1;
    for (int k = 0; k < 4; k++) {
        int td = k - (4 - n);
        d.shape[k] = td >= 0 ? t->shape[td] : 1;
        d.stride[k] = td >= 0 ? t->stride[td] : 0;
    }
    return d;
}

extern "C" void softmax_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    const ug_tensor *ts[] = {y, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, "softmax", 2, ts)) return;
    if (x->dtype != UG_F32 || y->dtype != UG_F32 || x->ndim < 1 || !ug_tensor_same_shape(x, y)) {
        cu_fail(ctx, "softmax", "x and y must be F32 of the same shape (1 to 5 dims)");
        return;
    }
    int last = x->ndim - 1;
    int64_t C = x->shape[last];
    if (C > 1 && (x->stride[last] != 1 || y->stride[last] != 1)) {
        cu_fail(ctx, "softmax", "x and y must have a unit stride in the last dim");
        return;
    }
    int64_t rows = C ? ug_tensor_numel(x) / C : 0;
    if (rows == 0) return;
    if (y->data != x->data) cu_poison_output(ctx, y); // not in place
    if (C <= SM_WARP_MAX) {
        if ((rows + SM_WARPS - 1) / SM_WARPS > 0x7fffffff) {
            cu_fail(ctx, "softmax", "too many rows for one launch");
            return;
        }
        UG_LAUNCH(sm_rows_warp_v1, dim3(cu_blocks(rows, SM_WARPS)), dim3(SM_THREADS), 0, cu_stream(ctx),
                  (float *)y->data, (const float *)x->data, sm_lead_of(y), sm_lead_of(x), rows, C);
    } else {
        if (rows > 0x7fffffff) {
            cu_fail(ctx, "softmax", "too many rows for one launch");
            return;
        }
        UG_LAUNCH(sm_rows_block_v1, dim3((unsigned)rows), dim3(SM_THREADS), 0, cu_stream(ctx),
                  (float *)y->data, (const float *)x->data, sm_lead_of(y), sm_lead_of(x), C);
    }
    cu_check(ctx, cudaGetLastError(), "softmax");
}
