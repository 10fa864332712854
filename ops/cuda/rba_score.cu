// ops/cuda/rba_score.cu — RbA class scores at image resolution fused with the bilinear mask
// upsampling (score = -sum_k S[k], semantic = first argmax_k S[k], S[k] = sum_q softmax(l_q)[k]
// sigmoid(up(mask_q))); contract: ops/rba_score.h.
//   rba_score: logits [Q, K+1] and masks [Q, h, w] (strided or BF16/F16 views are made contiguous
//              F32 first) -> score F32 [H, W], semantic U8 [H, W] or NULL; the upsampled
//              [Q, Ht, Wt] stack never exists, not even a band of it.
// The upsampling is F.interpolate(bilinear, align_corners=False) with rba_score_cpu's rounding:
// scale in float, source position in double, tap weights rounded to float, then
// (a[x0] lx0 + a[x1] lx1) ly0 + (b[x0] lx0 + b[x1] lx1) ly1 with every product and sum rounded
// separately (no FMA contraction). Ties of the argmax: the first class reaching the maximum
// (strictly greater replaces), -sum over the classes in class order, as the CPU kernel.
#include "ops/cuda/cuda_common.cuh"

#include "ops/cuda/cuda_ops.h"

// #pragma unroll for nvcc (g++ of the emulated build does not know it).
#ifdef UG_CUDA_EMU
#define UNROLL
#else
#define UNROLL _Pragma("unroll")
#endif

// The first error of the context as this entry's status (UG_OK while there is none).
static ug_status entry_status(ug_ctx *ctx, ug_err *err) {
    const cu_state *s = (const cu_state *)ctx->dev_state;
    if (s->st != UG_OK && err) *err = s->err;
    return s->st;
}

// v1: one warp per query: max and sum of exp over the K+1 logits (lane-strided, then a fixed
//     xor-shuffle tree, so the bits do not depend on the schedule), p[q, k] for k < K.
//     Q x (K+1) is tiny; a separate launch keeps the per-pixel kernel free of it.
static __global__ void rba_probs_v1(float *p, const float *logits, int Q, int K) {
    int lane = (int)threadIdx.x % 32, q = (int)(blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32);
    bool on = q < Q;
    const float *l = logits + (int64_t)(on ? q : 0) * (K + 1);
    float mx = -INFINITY;
    for (int k = lane; k <= K; k += 32)
        mx = fmaxf(mx, l[k]);
    for (int o = 16; o > 0; o >>= 1)
        mx = fmaxf(mx, __shfl_xor_sync(UG_FULL_MASK, mx, o));
    float sum = 0.0f;
    for (int k = lane; k <= K; k += 32)
        sum += expf(l[k] - mx);
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(UG_FULL_MASK, sum, o);
    if (on)
        for (int k = lane; k < K; k += 32)
            p[(int64_t)q * K + k] = expf(l[k] - mx) / sum;
}

// Source taps of output index i for n_in -> n_out (rba_score_cpu's axis_taps, per index).
static __device__ __forceinline__ void axis_tap(int64_t i, int64_t n_in, float scale, int64_t *i0,
                                                int64_t *i1, float *l0, float *l1) {
    double src = cu_dadd(cu_dmul((double)scale, cu_dadd((double)i, 0.5)), -0.5);
    if (src < 0) src = 0;
    int64_t a = (int64_t)src;
    if (a > n_in - 1) a = n_in - 1;
    double frac = cu_dadd(src, -(double)a);
    *i0 = a;
    *i1 = a < n_in - 1 ? a + 1 : a;
    *l1 = (float)frac;
    *l0 = (float)cu_dadd(1.0, -frac);
}

enum { SC_THREADS = 128, SC_KT = 32, SC_QT = 32 };

// v1: one thread per output pixel (pixels in raster order, so warps read neighbouring mask
//     taps and write coalesced), SC_KT class accumulators in registers. Per tile of SC_QT
//     queries the block stages p[q, k-tile] in shared memory (zero-padded past K: a broadcast
//     read per FMA); each thread interpolates its pixel of those masks, applies the sigmoid and
//     accumulates S[k] += p[q, k] s_q in query order (fmaf: deterministic). K > 32 repeats the
//     interpolation once per class tile rather than spilling K accumulators. Why not a GEMM
//     like the CPU: the [Q, pixels] operand would have to be materialised; here K (19) and Q
//     (100) are small enough that the FMAs are cheaper than writing it.
static __global__ void __launch_bounds__(SC_THREADS)
    rba_score_v1(float *score, uint8_t *semantic, const float *p, const float *masks, int Q, int K, int64_t h,
                 int64_t w, float sy, float sx, int64_t H, int64_t W) {
    __shared__ float ps[SC_QT][SC_KT];
    int t = (int)threadIdx.x;
    int64_t pix = (int64_t)blockIdx.x * SC_THREADS + t;
    bool on = pix < H * W;
    int64_t y = on ? pix / W : 0, x = on ? pix % W : 0;
    int64_t x0, x1, y0, y1;
    float lx0, lx1, ly0, ly1;
    axis_tap(x, w, sx, &x0, &x1, &lx0, &lx1);
    axis_tap(y, h, sy, &y0, &y1, &ly0, &ly1);
    float total = 0.0f, best = 0.0f;
    int bestk = 0;
    for (int kc = 0; kc < K; kc += SC_KT) {
        float acc[SC_KT];
        UNROLL
        for (int kk = 0; kk < SC_KT; kk++)
            acc[kk] = 0.0f;
        for (int qc = 0; qc < Q; qc += SC_QT) {
            __syncthreads(); // the previous tile is consumed
            for (int e = t; e < SC_QT * SC_KT; e += SC_THREADS) {
                int q = qc + e / SC_KT, k = kc + e % SC_KT;
                ps[e / SC_KT][e % SC_KT] = q < Q && k < K ? p[(int64_t)q * K + k] : 0.0f;
            }
            __syncthreads();
            int nq = cu_min((int)SC_QT, Q - qc);
            for (int qq = 0; qq < nq; qq++) {
                const float *m = masks + (int64_t)(qc + qq) * h * w;
                const float *a = m + y0 * w, *b = m + y1 * w;
                float ha = cu_fadd(cu_fmul(a[x0], lx0), cu_fmul(a[x1], lx1));
                float hb = cu_fadd(cu_fmul(b[x0], lx0), cu_fmul(b[x1], lx1));
                float v = cu_fadd(cu_fmul(ha, ly0), cu_fmul(hb, ly1));
                float s = 1.0f / (1.0f + expf(-v));
                UNROLL
                for (int kk = 0; kk < SC_KT; kk++)
                    acc[kk] = fmaf(ps[qq][kk], s, acc[kk]);
            }
        }
        UNROLL
        for (int kk = 0; kk < SC_KT; kk++) {
            int k = kc + kk;
            if (k < K) {
                total += acc[kk];
                if (k == 0 || acc[kk] > best) {
                    best = acc[kk];
                    bestk = k;
                }
            }
        }
    }
    if (on) {
        score[pix] = 0.0f - total;
        if (semantic) semantic[pix] = (uint8_t)bestk;
    }
}

extern "C" ug_status rba_score_cuda(ug_ctx *ctx, ug_tensor *score, ug_tensor *semantic,
                                    const ug_tensor *logits, const ug_tensor *masks, int64_t Ht, int64_t Wt,
                                    ug_err *err) {
    const ug_tensor *ts[] = {score, semantic, logits, masks};
    if (cu_failed(ctx) || !cu_on_device(ctx, "rba_score", 4, ts)) return entry_status(ctx, err);
    if (masks->ndim != 3 || logits->ndim != 2 || score->ndim != 2 || (semantic && semantic->ndim != 2))
        return ug_errf(err, UG_ERR_ARG,
                       "rba score: masks must be [Q, h, w], logits [Q, K+1], outputs [H, W]");
    int64_t Q = masks->shape[0], h = masks->shape[1], w = masks->shape[2], K = logits->shape[1] - 1;
    int64_t H = score->shape[0], W = score->shape[1];
    if (logits->shape[0] != Q || K < 1 || K > 256 || H > Ht || W > Wt || H < 1 || W < 1 || h < 1 || w < 1 ||
        (semantic && (semantic->shape[0] != H || semantic->shape[1] != W)))
        return ug_errf(err, UG_ERR_ARG,
                       "rba score: inconsistent sizes (Q %lld, K %lld, masks %lldx%lld -> %lldx%lld, "
                       "output %lldx%lld)",
                       (long long)Q, (long long)K, (long long)h, (long long)w, (long long)Ht, (long long)Wt,
                       (long long)H, (long long)W);
    if (score->dtype != UG_F32 || !ug_tensor_is_contiguous(score) ||
        (semantic && (semantic->dtype != UG_U8 || !ug_tensor_is_contiguous(semantic))))
        return ug_errf(err, UG_ERR_ARG, "rba score: score must be contiguous F32, semantic contiguous U8");
    if (Q < 1 || Q > INT32_MAX) return ug_errf(err, UG_ERR_ARG, "rba score: %lld queries", (long long)Q);
    ug_arena_mark mark = cu_mark(ctx);
    ug_tensor lg, mk;
    float *p = NULL;
    if (cu_contiguous_f32(ctx, &lg, logits, "rba_score") && cu_contiguous_f32(ctx, &mk, masks, "rba_score"))
        p = (float *)cu_scratch(ctx, (size_t)(Q * K) * sizeof(float), "rba_score"); // [Q, K]
    if (p) {
        cu_poison_output(ctx, score);
        if (semantic) cu_poison_output(ctx, semantic);
        UG_LAUNCH(rba_probs_v1, dim3(cu_blocks(Q, 4)), dim3(128), 0, cu_stream(ctx), p,
                  (const float *)lg.data, (int)Q, (int)K);
        if (cu_check(ctx, cudaGetLastError(), "rba_score")) {
            UG_LAUNCH(rba_score_v1, dim3(cu_blocks(H * W, SC_THREADS)), dim3(SC_THREADS), 0, cu_stream(ctx),
                      (float *)score->data, semantic ? (uint8_t *)semantic->data : (uint8_t *)NULL,
                      (const float *)p, (const float *)mk.data, (int)Q, (int)K, h, w, (float)h / (float)Ht,
                      (float)w / (float)Wt, H, W);
            cu_check(ctx, cudaGetLastError(), "rba_score");
        }
    }
    cu_release(ctx, mark);
    return entry_status(ctx, err);
}
