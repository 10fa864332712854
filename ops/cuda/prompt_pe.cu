// ops/cuda/prompt_pe.cu — SAM's sparse prompt tokens: the random-Fourier encoding of points
// and box corners plus the embedding their label selects; contract: ops/prompt_pe.h (y F32
// [P, C], any strides here; xy [P, 2], labels I32 [P], gauss [2, C/2], embed [E, C],
// not_a_point [C] contiguous).
//
//   c = 2 ((xy + 0.5) / size) - 1,  f[k] = 2 pi (c_x G[0, k] + c_y G[1, k]),  pe = [sin f, cos f]
//   y[p] = 0 + not_a_point (label -1), pe + embed[label] (0 <= label < E), pe (other labels)
// Every step in float32 in the CPU kernel's order with single roundings (no fma), so the
// angles are bit-identical to the CPU's; sinf / cosf are the device's (CUDA: at most 2 ulp from
// the exact value; |f| reaches ~40 for SAM's N(0, 1) Gaussian matrix).
//
// v1 prompt_pe_v1: one thread per (point, frequency k < C/2), writing channels k and C/2 + k;
//     consecutive threads on consecutive frequencies of a point (coalesced reads and writes).
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { PP_THREADS = 128 };

static __global__ void __launch_bounds__(PP_THREADS)
    prompt_pe_v1(float *y, int64_t ys0, int64_t ys1, const float *xy, const int32_t *labels,
                 const float *gauss, const float *embed, int64_t E, const float *na, int64_t half, float size,
                 int64_t threads) {
    int64_t t = (int64_t)blockIdx.x * PP_THREADS + threadIdx.x;
    if (t >= threads) return; // no barrier or collective in this kernel
    int64_t p = t / half, k = t % half, C = 2 * half;
    float *row = y + p * ys0;
    int32_t label = labels[p];
    float vs, vc;
    if (label == -1) { // the encoding is dropped: 0 + not_a_point (turns -0 into +0, as the CPU)
        vs = cu_fadd(0.0f, na[k]);
        vc = cu_fadd(0.0f, na[half + k]);
    } else {
        const float two_pi = (float)6.283185307179586;
        float cx = cu_fadd(cu_fmul(2.0f, (xy[2 * p] + 0.5f) / size), -1.0f);
        float cy = cu_fadd(cu_fmul(2.0f, (xy[2 * p + 1] + 0.5f) / size), -1.0f);
        float f = cu_fmul(two_pi, cu_fadd(cu_fmul(cx, gauss[k]), cu_fmul(cy, gauss[half + k])));
        vs = sinf(f);
        vc = cosf(f);
        if (label >= 0 && label < E) {
            vs = cu_fadd(vs, embed[label * C + k]);
            vc = cu_fadd(vc, embed[label * C + half + k]);
        }
    }
    row[k * ys1] = vs;
    row[(half + k) * ys1] = vc;
}

static bool pp_contiguous(const ug_tensor *t, ug_dtype dt, int64_t numel) {
    return t->dtype == dt && ug_tensor_numel(t) == numel && ug_tensor_is_contiguous(t);
}

extern "C" void prompt_pe_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xy, const ug_tensor *labels,
                               const ug_tensor *gauss, const ug_tensor *embed, const ug_tensor *not_a_point,
                               float size) {
    const char *op = "prompt_pe";
    const ug_tensor *ts[] = {y, xy, labels, gauss, embed, not_a_point};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 6, ts)) return;
    if (y->dtype != UG_F32 || y->ndim != 2 || y->shape[1] % 2 != 0) {
        cu_fail(ctx, op, "y must be F32 [P, C] with C even");
        return;
    }
    int64_t P = y->shape[0], C = y->shape[1];
    if (!pp_contiguous(xy, UG_F32, 2 * P) || !pp_contiguous(labels, UG_I32, P) ||
        !pp_contiguous(gauss, UG_F32, C) || embed->dtype != UG_F32 || embed->ndim != 2 ||
        embed->shape[1] != C || !ug_tensor_is_contiguous(embed) || !pp_contiguous(not_a_point, UG_F32, C)) {
        cu_fail(ctx, op,
                "xy F32 [P, 2], labels I32 [P], gauss F32 [2, C/2], embed F32 [E, C] and not_a_point F32 [C] "
                "must be contiguous");
        return;
    }
    int64_t threads = P * (C / 2);
    if (threads == 0) return;
    if ((threads + PP_THREADS - 1) / PP_THREADS > 0x7fffffff) {
        cu_fail(ctx, op, "too many points for one launch");
        return;
    }
    cu_poison_output(ctx, y);
    UG_LAUNCH(prompt_pe_v1, dim3(cu_blocks(threads, PP_THREADS)), dim3(PP_THREADS), 0, cu_stream(ctx),
              (float *)y->data, y->stride[0], y->stride[1], (const float *)xy->data,
              (const int32_t *)labels->data, (const float *)gauss->data, (const float *)embed->data,
              embed->shape[0], (const float *)not_a_point->data, C / 2, size, threads);
    cu_check(ctx, cudaGetLastError(), op);
}
