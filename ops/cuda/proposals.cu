// ops/cuda/proposals.cu — candidate pixels of UGainS' point prompts and farthest point sampling
// over them; contract: ops/proposals.h (the thresholds, the coordinate-sum fallback, the ties).
//   proposals_candidates: u F32 [H, W] (a strided view is made contiguous first), ignore U8
//                         [H, W] or NULL -> xy I32 [H * W, 2] rows [0, n) in row-major order,
//                         count I64 [1] = n; no atomics, so the list is the CPU's.
//   proposals_fps:        xy I32 [N, 2] -> idx I32 [K], pts F32 [K, 2] or NULL, either tie rule.
// Dimension letters: H/W image size, N candidates, K samples.
#include "ops/cuda/cuda_common.cuh"

#include "ops/cuda/cuda_ops.h"
#include "ops/proposals.h"

// The first error of the context as this entry's status (UG_OK while there is none).
static ug_status entry_status(ug_ctx *ctx, ug_err *err) {
    const cu_state *s = (const cu_state *)ctx->dev_state;
    if (s->st != UG_OK && err) *err = s->err;
    return s->st;
}

// ---- candidates ----

enum { CAND_THREADS = 256, CAND_PER_THREAD = 8, CAND_PIXELS = CAND_THREADS * CAND_PER_THREAD };

// U' of pixel p (masked_score of ops/proposals.c); the ignore map is U8, or F32 when a strided
// view of it was made contiguous.
template <class IG>
static __device__ __forceinline__ float masked_u(const float *u, const IG *ignore, int64_t p) {
    return ignore && ignore[p] != 0 ? PROPOSALS_IGNORE_VALUE : u[p];
}

// Sum over the block of an int (fixed tree; integers, so any tree gives the same value).
static __device__ __forceinline__ int block_sum_int(int v, int *shared32) {
    int t = (int)threadIdx.x, lane = t % 32, wid = t / 32;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(UG_FULL_MASK, v, o);
    __syncthreads(); // shared32 free from any earlier use
    if (lane == 0) shared32[wid] = v;
    __syncthreads();
    int s = 0;
    for (int k = 0; k < (int)blockDim.x / 32; k++)
        s += shared32[k];
    return s;
}

// v1: pass 1, one block per CAND_PIXELS pixels (coalesced, 8 per thread): the counts at or
//     above each threshold (NaN compares false), one integer pair per block.
template <class IG>
static __global__ void __launch_bounds__(CAND_THREADS)
    cand_count_v1(int *counts, const float *u, const IG *ignore, int64_t HW, float thr, float fallback) {
    __shared__ int part[CAND_THREADS / 32];
    int64_t base = (int64_t)blockIdx.x * CAND_PIXELS;
    int n1 = 0, n2 = 0;
    for (int r = 0; r < CAND_PER_THREAD; r++) {
        int64_t p = base + r * CAND_THREADS + threadIdx.x;
        if (p < HW) {
            float v = masked_u(u, ignore, p);
            n1 += v >= thr;
            n2 += v >= fallback;
        }
    }
    n1 = block_sum_int(n1, part);
    n2 = block_sum_int(n2, part);
    if (threadIdx.x == 0) {
        counts[2 * blockIdx.x] = n1;
        counts[2 * blockIdx.x + 1] = n2;
    }
}

// v1: pass 2, one block: the total at thr decides the threshold (the coordinate sum is < 1
//     exactly when no candidate but pixel (0, 0)), then an exclusive scan of the chosen counts
//     gives each pass-1 block its first output row; count = the total. 256 blocks per round,
//     each round a warp-shuffle scan plus the warps' totals in shared memory.
template <class IG>
static __global__ void __launch_bounds__(CAND_THREADS)
    cand_scan_v1(int64_t *offsets, int *take_fallback, int64_t *count, const int *counts, int64_t nblocks,
                 const float *u, const IG *ignore, float thr) {
    __shared__ int64_t wsum[CAND_THREADS / 32];
    __shared__ int use_fb;
    int t = (int)threadIdx.x, lane = t % 32, wid = t / 32;
    int64_t n_thr = 0; // thread-strided partial sums, then the block total
    for (int64_t b = t; b < nblocks; b += CAND_THREADS)
        n_thr += counts[2 * b];
    for (int o = 16; o > 0; o >>= 1)
        n_thr += __shfl_xor_sync(UG_FULL_MASK, n_thr, o);
    if (lane == 0) wsum[wid] = n_thr;
    __syncthreads();
    if (t == 0) {
        int64_t total = 0;
        for (int k = 0; k < CAND_THREADS / 32; k++)
            total += wsum[k];
        bool origin = nblocks > 0 && masked_u(u, ignore, 0) >= thr;
        use_fb = total - origin == 0;
        *take_fallback = use_fb;
    }
    __syncthreads();
    int col = use_fb ? 1 : 0;
    int64_t carry = 0;
    for (int64_t b0 = 0; b0 < nblocks; b0 += CAND_THREADS) {
        int64_t b = b0 + t;
        int64_t v = b < nblocks ? counts[2 * b + col] : 0, inc = v;
        for (int o = 1; o < 32; o <<= 1) {
            int64_t up = __shfl_up_sync(UG_FULL_MASK, inc, (unsigned)o);
            if (lane >= o) inc += up;
        }
        __syncthreads(); // wsum of the previous round (or the total) has been read
        if (lane == 31) wsum[wid] = inc;
        __syncthreads();
        int64_t before = carry, round = 0;
        for (int k = 0; k < CAND_THREADS / 32; k++) {
            if (k < wid) before += wsum[k];
            round += wsum[k];
        }
        if (b < nblocks) offsets[b] = before + inc - v;
        carry += round;
    }
    if (t == 0) *count = carry;
}

// v1: pass 3, the blocks of pass 1 again: each writes its candidates from its offset on, in
//     raster order: per round of 256 pixels a ballot + popcount gives each lane its place in
//     the warp, the warps' counts in shared memory its place in the block.
template <class IG>
static __global__ void __launch_bounds__(CAND_THREADS)
    cand_write_v1(int32_t *xy, const int64_t *offsets, const int *take_fallback, const float *u,
                  const IG *ignore, int64_t HW, int64_t W, float thr, float fallback) {
    __shared__ int wcount[CAND_THREADS / 32];
    int t = (int)threadIdx.x, lane = t % 32, wid = t / 32;
    float take = *take_fallback ? fallback : thr;
    int64_t base = (int64_t)blockIdx.x * CAND_PIXELS, out = offsets[blockIdx.x];
    for (int r = 0; r < CAND_PER_THREAD; r++) {
        int64_t p = base + r * CAND_THREADS + t;
        bool c = p < HW && masked_u(u, ignore, p) >= take;
        unsigned bal = __ballot_sync(UG_FULL_MASK, c);
        __syncthreads(); // wcount of the previous round has been read
        if (lane == 0) wcount[wid] = __popc(bal);
        __syncthreads();
        int64_t before = out;
        int round = 0;
        for (int k = 0; k < CAND_THREADS / 32; k++) {
            if (k < wid) before += wcount[k];
            round += wcount[k];
        }
        if (c) {
            int64_t o = before + __popc(bal & ((1u << lane) - 1u));
            xy[2 * o] = (int32_t)(p % W);
            xy[2 * o + 1] = (int32_t)(p / W);
        }
        out += round;
    }
}

template <class IG>
static void candidates_launch(ug_ctx *ctx, int32_t *xy, int64_t *count, const float *u, const IG *ignore,
                              int64_t HW, int64_t W, float thr, float fallback, int *counts, int64_t *offsets,
                              int *take, int64_t nblocks) {
    cudaStream_t s = cu_stream(ctx);
    if (nblocks > 0) {
        UG_LAUNCH(cand_count_v1<IG>, dim3((unsigned)nblocks), dim3(CAND_THREADS), 0, s, counts, u, ignore, HW,
                  thr, fallback);
        if (!cu_check(ctx, cudaGetLastError(), "proposals_candidates")) return;
    }
    UG_LAUNCH(cand_scan_v1<IG>, dim3(1), dim3(CAND_THREADS), 0, s, offsets, take, count, (const int *)counts,
              nblocks, u, ignore, thr);
    if (!cu_check(ctx, cudaGetLastError(), "proposals_candidates") || nblocks == 0) return;
    UG_LAUNCH(cand_write_v1<IG>, dim3((unsigned)nblocks), dim3(CAND_THREADS), 0, s, xy,
              (const int64_t *)offsets, (const int *)take, u, ignore, HW, W, thr, fallback);
    cu_check(ctx, cudaGetLastError(), "proposals_candidates");
}

extern "C" void proposals_candidates_cuda(ug_ctx *ctx, ug_tensor *xy, ug_tensor *count, const ug_tensor *u,
                                          const ug_tensor *ignore, float thr, float fallback) {
    const char *op = "proposals_candidates";
    const ug_tensor *ts[] = {xy, count, u, ignore};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 4, ts)) return;
    if (u->ndim != 2 || (ignore && !ug_tensor_same_shape(ignore, u))) {
        cu_fail(ctx, op, "u must be [H, W] and ignore the same shape");
        return;
    }
    int64_t H = u->shape[0], W = u->shape[1], HW = H * W;
    if (xy->dtype != UG_I32 || xy->ndim != 2 || xy->shape[0] != HW || xy->shape[1] != 2 ||
        !ug_tensor_is_contiguous(xy) || count->dtype != UG_I64 || ug_tensor_numel(count) != 1) {
        cu_fail(ctx, op, "xy must be contiguous I32 [H * W, 2] and count I64 [1]");
        return;
    }
    int64_t nblocks = (HW + CAND_PIXELS - 1) / CAND_PIXELS;
    ug_arena_mark mark = cu_mark(ctx);
    ug_tensor uc, igc;
    // [nblocks, 2] counts, [nblocks] offsets, the threshold flag
    int *counts = (int *)cu_scratch(ctx, (size_t)(2 * nblocks + 1) * sizeof(int), op);
    int64_t *offsets = (int64_t *)cu_scratch(ctx, (size_t)(nblocks + 1) * sizeof(int64_t), op);
    bool ok = counts && offsets && cu_contiguous_f32(ctx, &uc, u, op);
    bool ig_u8 = ignore && ignore->dtype == UG_U8 && ug_tensor_is_contiguous(ignore);
    if (ok && ignore && !ig_u8) ok = cu_contiguous_f32(ctx, &igc, ignore, op); // ignore != 0, widened
    if (ok) {
        int *take = counts + 2 * nblocks;
        if (!ignore)
            candidates_launch<uint8_t>(ctx, (int32_t *)xy->data, (int64_t *)count->data,
                                       (const float *)uc.data, (const uint8_t *)NULL, HW, W, thr, fallback,
                                       counts, offsets, take, nblocks);
        else if (ig_u8)
            candidates_launch<uint8_t>(ctx, (int32_t *)xy->data, (int64_t *)count->data,
                                       (const float *)uc.data, (const uint8_t *)ignore->data, HW, W, thr,
                                       fallback, counts, offsets, take, nblocks);
        else
            candidates_launch<float>(ctx, (int32_t *)xy->data, (int64_t *)count->data, (const float *)uc.data,
                                     (const float *)igc.data, HW, W, thr, fallback, counts, offsets, take,
                                     nblocks);
    }
    cu_release(ctx, mark);
}

// ---- farthest point sampling ----

enum { FPS_THREADS = 1024 };

// Threads of the pointnet2 kernel, min(2^floor(log2 n), 512), as a power of two: its log2.
static int fps_log2_threads(int64_t n) {
    int b = 0;
    while (((int64_t)2 << b) <= n && b < 9)
        b++;
    return b;
}

// Preference key of candidate i under the tie rule: lower wins among equal distances. OFFICIAL:
// (bitreverse_bits(i mod 2^bits), i), the order ops/proposals.h derives from the kernel's
// strided scan and shared-memory tree; LOWEST: i.
static __device__ __forceinline__ uint64_t fps_key(int64_t i, int bits) {
    unsigned s = (unsigned)(i & ((1 << bits) - 1)), r = 0;
    for (int b = 0; b < bits; b++)
        r |= ((s >> b) & 1u) << (bits - 1 - b);
    return ((uint64_t)r << 32) | (uint64_t)i;
}

static __device__ __forceinline__ bool fps_better(float d, uint64_t k, float bd, uint64_t bk) {
    return d > bd || (d == bd && k < bk);
}

// v1: one block of FPS_THREADS threads, K - 1 steps: thread t owns candidates t, t + T, ...
//     (coalesced; its min-distances stay in global memory, touched by it alone), updates them
//     against the last sample and keeps its best (distance, key); a warp-shuffle and then a
//     shared-memory argmax over the total order "larger distance, then lower key" picks the
//     next sample, so the result is the CPU's under any reduction tree. Why one block: the
//     steps are sequential and each is a few microseconds for the N of an image; several
//     blocks would need a grid-wide barrier per step.
static __global__ void __launch_bounds__(FPS_THREADS)
    fps_v1(int32_t *idx, float *pts, float *dist, const int32_t *xy, int64_t n, int k, int bits) {
    __shared__ float wd[FPS_THREADS / 32];
    __shared__ uint64_t wk[FPS_THREADS / 32];
    __shared__ int64_t s_last;
    int t = (int)threadIdx.x, lane = t % 32, wid = t / 32;
    for (int64_t i = t; i < n; i += FPS_THREADS)
        dist[i] = 1e10f;
    if (t == 0) {
        idx[0] = 0;
        if (pts) {
            pts[0] = (float)xy[0];
            pts[1] = (float)xy[1];
        }
    }
    int64_t last = 0;
    for (int j = 1; j < k; j++) {
        float x1 = (float)xy[2 * last], y1 = (float)xy[2 * last + 1];
        float bd = -1.0f;
        uint64_t bk = ~(uint64_t)0;
        for (int64_t i = t; i < n; i += FPS_THREADS) {
            float dx = (float)xy[2 * i] - x1, dy = (float)xy[2 * i + 1] - y1;
            float d = cu_fadd(cu_fmul(dx, dx), cu_fmul(dy, dy)), old = dist[i];
            if (old < d) d = old;
            dist[i] = d;
            uint64_t key = fps_key(i, bits);
            if (fps_better(d, key, bd, bk)) {
                bd = d;
                bk = key;
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            float od = __shfl_xor_sync(UG_FULL_MASK, bd, o);
            uint64_t ok = __shfl_xor_sync(UG_FULL_MASK, bk, o);
            if (fps_better(od, ok, bd, bk)) {
                bd = od;
                bk = ok;
            }
        }
        if (lane == 0) {
            wd[wid] = bd;
            wk[wid] = bk;
        }
        __syncthreads();
        if (wid == 0) {
            bd = wd[lane];
            bk = wk[lane];
            for (int o = 16; o > 0; o >>= 1) {
                float od = __shfl_xor_sync(UG_FULL_MASK, bd, o);
                uint64_t ok = __shfl_xor_sync(UG_FULL_MASK, bk, o);
                if (fps_better(od, ok, bd, bk)) {
                    bd = od;
                    bk = ok;
                }
            }
            if (lane == 0) {
                int64_t sel = (int64_t)(bk & 0xffffffffu);
                s_last = sel;
                idx[j] = (int32_t)sel;
                if (pts) {
                    pts[2 * j] = (float)xy[2 * sel];
                    pts[2 * j + 1] = (float)xy[2 * sel + 1];
                }
            }
        }
        __syncthreads();
        last = s_last;
    }
}

extern "C" ug_status proposals_fps_cuda(ug_ctx *ctx, ug_tensor *idx, ug_tensor *pts, const ug_tensor *xy,
                                        int ties, ug_err *err) {
    const char *op = "proposals_fps";
    const ug_tensor *ts[] = {idx, pts, xy};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 3, ts)) return entry_status(ctx, err);
    if (xy->dtype != UG_I32 || xy->ndim != 2 || xy->shape[1] != 2 || !ug_tensor_is_contiguous(xy) ||
        idx->dtype != UG_I32 || idx->ndim != 1 || !ug_tensor_is_contiguous(idx) ||
        (pts && (pts->dtype != UG_F32 || pts->ndim != 2 || pts->shape[0] != idx->shape[0] ||
                 pts->shape[1] != 2 || !ug_tensor_is_contiguous(pts))))
        return ug_errf(err, UG_ERR_ARG, "fps: xy must be contiguous I32 [N, 2], idx I32 [K], pts F32 [K, 2]");
    int64_t n = xy->shape[0];
    int64_t k = idx->shape[0];
    if (n <= 0 || n > INT32_MAX) return ug_errf(err, UG_ERR_ARG, "fps: %lld candidates", (long long)n);
    if (k <= 0) return UG_OK;
    if (k > INT32_MAX) return ug_errf(err, UG_ERR_ARG, "fps: %lld samples", (long long)k);
    ug_arena_mark mark = cu_mark(ctx);
    float *dist = (float *)cu_scratch(ctx, (size_t)n * sizeof(float), op); // [N]
    if (dist) {
        int bits = ties == PROPOSALS_TIES_LOWEST ? 0 : fps_log2_threads(n);
        UG_LAUNCH(fps_v1, dim3(1), dim3(FPS_THREADS), 0, cu_stream(ctx), (int32_t *)idx->data,
                  pts ? (float *)pts->data : (float *)NULL, dist, (const int32_t *)xy->data, n, (int)k, bits);
        cu_check(ctx, cudaGetLastError(), op);
    }
    cu_release(ctx, mark);
    return entry_status(ctx, err);
}
