// ops/cuda/masks.cu — binarisation, mask scores, greedy mask NMS, overlaps and the refined map
// on bit-packed masks (pixel p of mask i = bit p % 64 of word p / 64 of row i of I64 [N, words]);
// contract: ops/masks.h.
//   masks_binarize: x F32 or U8 [N, ...] (other dtypes / strided views made contiguous F32
//                   first) -> bits I64 [N, words] (trailing bits zero), area I64 [N] or NULL.
//   masks_scores:   bits, area, u F32 [H, W] -> scores F32 [N], the mean of u under each mask
//                   (double sums in a fixed order, one rounding), -1 when empty.
//   masks_nms:      bits, area, scores -> keep I32 [N] (rows [0, count) written), count I64 [1]:
//                   the CPU's greedy NMS (stable descending order, tp > 0 and tp / union >
//                   threshold in float32); NaN scores are visited last (the CPU leaves them to
//                   qsort's whim), -0 equals +0.
//   masks_overlap:  bits, idx I32 [n], other I64 [1, words] -> inter I64 [n].
//   masks_refined:  bits, scores, keep I32 [nkeep], u -> out F32 [H, W], each pixel's sum in kept
//                   order: the CPU's bits.
// Dimension letters: N masks, H/W image size (HW = H * W pixels).
#include "ops/cuda/cuda_common.cuh"

#include "ops/cuda/cuda_ops.h"
#include "ops/masks.h"

static __device__ __forceinline__ int popc64(uint64_t x) {
    return __popc((unsigned)x) + __popc((unsigned)(x >> 32));
}

static bool packed(const ug_tensor *bits) {
    return bits->dtype == UG_I64 && bits->ndim == 2 && ug_tensor_is_contiguous(bits);
}

static bool contiguous_of(const ug_tensor *t, ug_dtype dt, int64_t numel) {
    return t->dtype == dt && ug_tensor_numel(t) == numel && ug_tensor_is_contiguous(t);
}

enum { MK_THREADS = 256, MK_WARPS = MK_THREADS / 32 };

// Sum over the block of an int64 (integers: the same value under any tree). Every thread gets it.
static __device__ __forceinline__ int64_t block_sum_i64(int64_t v, int64_t *shared) {
    int t = (int)threadIdx.x, lane = t % 32, wid = t / 32;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(UG_FULL_MASK, v, o);
    __syncthreads();
    if (lane == 0) shared[wid] = v;
    __syncthreads();
    int64_t s = 0;
    for (int k = 0; k < MK_WARPS; k++)
        s += shared[k];
    return s;
}

// ---- binarisation ----

// v1: one warp per 64-pixel word (grid-stride over the N * words words): lane l tests pixels
//     64 w + l and 64 w + 32 + l (coalesced), two ballots make the word. U8 compares as
//     (float)x > thr, the CPU's rule.
template <class T>
static __global__ void __launch_bounds__(MK_THREADS)
    bin_words_v1(uint64_t *bits, const T *x, int64_t n, int64_t HW, int64_t words, float thr) {
    int lane = (int)threadIdx.x % 32;
    int64_t warp = ((int64_t)blockIdx.x * MK_THREADS + threadIdx.x) / 32,
            nwarps = (int64_t)gridDim.x * MK_WARPS;
    for (int64_t g = warp; g < n * words; g += nwarps) {
        int64_t i = g / words, p0 = (g % words) * 64;
        const T *xi = x + i * HW;
        bool lo = p0 + lane < HW && (float)xi[p0 + lane] > thr;
        bool hi = p0 + 32 + lane < HW && (float)xi[p0 + 32 + lane] > thr;
        unsigned bl = __ballot_sync(UG_FULL_MASK, lo), bh = __ballot_sync(UG_FULL_MASK, hi);
        if (lane == 0) bits[g] = (uint64_t)bl | (uint64_t)bh << 32;
    }
}

// v1: one block per mask: popcounts of its words, thread-strided, summed over the block.
static __global__ void __launch_bounds__(MK_THREADS)
    area_v1(int64_t *area, const uint64_t *bits, int64_t words) {
    __shared__ int64_t part[MK_WARPS];
    const uint64_t *w = bits + (int64_t)blockIdx.x * words;
    int64_t c = 0;
    for (int64_t k = threadIdx.x; k < words; k += MK_THREADS)
        c += popc64(w[k]);
    c = block_sum_i64(c, part);
    if (threadIdx.x == 0) area[blockIdx.x] = c;
}

// Blocks of a grid-stride launch over `work` items of `per_block` each (at most 4096 blocks).
static unsigned grid_for(int64_t work, int per_block) {
    int64_t b = (work + per_block - 1) / per_block;
    return (unsigned)(b < 1 ? 1 : b > 4096 ? 4096 : b);
}

extern "C" void masks_binarize_cuda(ug_ctx *ctx, ug_tensor *bits, ug_tensor *area, const ug_tensor *x,
                                    float thr) {
    const char *op = "masks_binarize";
    const ug_tensor *ts[] = {bits, area, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 3, ts)) return;
    int64_t n = bits->shape[0], words = bits->shape[1];
    int64_t HW = n > 0 && x->ndim >= 1 ? ug_tensor_numel(x) / n : 0;
    if (!packed(bits) || x->ndim < 1 || x->shape[0] != n || words != masks_words(HW) ||
        (area && !contiguous_of(area, UG_I64, n))) {
        cu_fail(ctx, op, "bits must be contiguous I64 [N, ceil(HW / 64)] for x [N, ...], area I64 [N]");
        return;
    }
    if (n == 0) return;
    ug_arena_mark mark = cu_mark(ctx);
    cudaStream_t s = cu_stream(ctx);
    bool u8 = x->dtype == UG_U8 && ug_tensor_is_contiguous(x);
    ug_tensor xc;
    if (u8 || cu_contiguous_f32(ctx, &xc, x, op)) {
        if (u8)
            UG_LAUNCH(bin_words_v1<uint8_t>, dim3(grid_for(n * words, MK_WARPS)), dim3(MK_THREADS), 0, s,
                      (uint64_t *)bits->data, (const uint8_t *)x->data, n, HW, words, thr);
        else
            UG_LAUNCH(bin_words_v1<float>, dim3(grid_for(n * words, MK_WARPS)), dim3(MK_THREADS), 0, s,
                      (uint64_t *)bits->data, (const float *)xc.data, n, HW, words, thr);
        if (cu_check(ctx, cudaGetLastError(), op) && area) {
            UG_LAUNCH(area_v1, dim3((unsigned)n), dim3(MK_THREADS), 0, s, (int64_t *)area->data,
                      (const uint64_t *)bits->data, words);
            cu_check(ctx, cudaGetLastError(), op);
        }
    }
    cu_release(ctx, mark);
}

// ---- scores ----

enum { SCORE_CHUNK = 1024 }; // words of one mask per block of masks_scores

// v1: block (mask i, chunk c) of SCORE_CHUNK words: warp w takes words c0 + w, c0 + w + 8, ...,
//     lane l the pixels 64 k + l and 64 k + 32 + l of word k (the word a broadcast load, u
//     coalesced, only set bits read). Double sums: per lane in its word order, then a fixed
//     xor tree and the warps in order: the partial sum of (i, c) does not depend on the
//     schedule. Why chunks: N is ~50 masks, one block per mask would leave most SMs idle.
static __global__ void __launch_bounds__(MK_THREADS)
    score_part_v1(double *part, const uint64_t *bits, const float *u, int64_t words, int64_t HW,
                  int64_t chunks) {
    __shared__ double wsum[MK_WARPS];
    int lane = (int)threadIdx.x % 32, wid = (int)threadIdx.x / 32;
    int64_t i = blockIdx.x / chunks, c = blockIdx.x % chunks;
    const uint64_t *w = bits + i * words;
    int64_t k1 = cu_min((c + 1) * (int64_t)SCORE_CHUNK, words);
    double s = 0;
    for (int64_t k = c * SCORE_CHUNK + wid; k < k1; k += MK_WARPS) {
        uint64_t b = w[k];
        int64_t p = k * 64 + lane;
        if (((b >> lane) & 1u) && p < HW) s += u[p];
        if (((b >> (lane + 32)) & 1u) && p + 32 < HW) s += u[p + 32];
    }
    for (int o = 16; o > 0; o >>= 1)
        s += __shfl_xor_sync(UG_FULL_MASK, s, o);
    if (lane == 0) wsum[wid] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0;
        for (int k = 0; k < MK_WARPS; k++)
            t += wsum[k];
        part[blockIdx.x] = t;
    }
}

// v1: one thread per mask: its chunk sums in chunk order, one division, one rounding.
static __global__ void score_finish_v1(float *scores, const double *part, const int64_t *area, int64_t n,
                                       int64_t chunks) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    double s = 0;
    for (int64_t c = 0; c < chunks; c++)
        s += part[i * chunks + c];
    scores[i] = area[i] ? (float)(s / (double)area[i]) : -1.0f;
}

extern "C" void masks_scores_cuda(ug_ctx *ctx, ug_tensor *scores, const ug_tensor *bits,
                                  const ug_tensor *area, const ug_tensor *u) {
    const char *op = "masks_scores";
    const ug_tensor *ts[] = {scores, bits, area, u};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 4, ts)) return;
    int64_t n = bits->shape[0], words = bits->shape[1], HW = ug_tensor_numel(u);
    if (!packed(bits) || words != masks_words(HW) || !contiguous_of(scores, UG_F32, n) ||
        !contiguous_of(area, UG_I64, n) || u->dtype != UG_F32) {
        cu_fail(ctx, op,
                "bits must be contiguous I64 [N, ceil(HW / 64)], scores F32 [N], area I64 [N], u F32");
        return;
    }
    if (n == 0) return;
    int64_t chunks = words > 0 ? (words + SCORE_CHUNK - 1) / SCORE_CHUNK : 1;
    ug_arena_mark mark = cu_mark(ctx);
    cudaStream_t s = cu_stream(ctx);
    ug_tensor uc;
    double *part = (double *)cu_scratch(ctx, (size_t)(n * chunks) * sizeof(double), op); // [N, chunks]
    if (part && cu_contiguous_f32(ctx, &uc, u, op)) {
        UG_LAUNCH(score_part_v1, dim3((unsigned)(n * chunks)), dim3(MK_THREADS), 0, s, part,
                  (const uint64_t *)bits->data, (const float *)uc.data, words, HW, chunks);
        if (cu_check(ctx, cudaGetLastError(), op)) {
            UG_LAUNCH(score_finish_v1, dim3(cu_blocks(n, 128)), dim3(128), 0, s, (float *)scores->data,
                      (const double *)part, (const int64_t *)area->data, n, chunks);
            cu_check(ctx, cudaGetLastError(), op);
        }
    }
    cu_release(ctx, mark);
}

// ---- NMS ----

// v1: one warp per mask: the first and one past the last non-zero word (lo = words, hi = 0 when
//     empty), min / max over lanes.
static __global__ void __launch_bounds__(MK_THREADS)
    nms_ranges_v1(int64_t *lo, int64_t *hi, const uint64_t *bits, int64_t n, int64_t words) {
    int lane = (int)threadIdx.x % 32;
    int64_t i = ((int64_t)blockIdx.x * MK_THREADS + threadIdx.x) / 32;
    bool on = i < n;
    int64_t a = words, b = 0;
    if (on)
        for (int64_t k = lane; k < words; k += 32)
            if (bits[i * words + k]) {
                a = cu_min(a, k);
                b = k + 1;
            }
    for (int o = 16; o > 0; o >>= 1) {
        a = cu_min(a, __shfl_xor_sync(UG_FULL_MASK, a, o));
        b = cu_max(b, __shfl_xor_sync(UG_FULL_MASK, b, o));
    }
    if (on && lane == 0) {
        lo[i] = a;
        hi[i] = b;
    }
}

// v1: one block per pair i < j (flattened i * N + j; the other blocks idle): |m_i & m_j| over
//     the words both can hold, into inter[i, j] and inter[j, i]. The greedy loop then needs no
//     pass over the bits; the CPU recomputes them per visited mask, the counts are the same.
static __global__ void __launch_bounds__(MK_THREADS)
    nms_inter_v1(int64_t *inter, const uint64_t *bits, const int64_t *lo, const int64_t *hi, int64_t n,
                 int64_t words) {
    __shared__ int64_t part[MK_WARPS];
    int64_t i = blockIdx.x / n, j = blockIdx.x % n;
    int64_t c = 0;
    if (i < j) {
        int64_t k0 = cu_max(lo[i], lo[j]), k1 = cu_min(hi[i], hi[j]);
        const uint64_t *a = bits + i * words, *b = bits + j * words;
        for (int64_t k = k0 + threadIdx.x; k < k1; k += MK_THREADS)
            c += popc64(a[k] & b[k]);
    }
    c = block_sum_i64(c, part);
    if (i < j && threadIdx.x == 0) {
        inter[i * n + j] = c;
        inter[j * n + i] = c;
    }
}

// Sort key of a score: larger key = visited earlier; -0 as +0, NaN below everything.
static __device__ __forceinline__ uint32_t score_key(float s) {
    if (s != s) return 0;
    if (s == 0.0f) s = 0.0f;
    uint32_t b = __float_as_uint(s);
    return b & 0x80000000u ? ~b : b | 0x80000000u;
}

// v1: one block: the visiting order by rank (rank of i = the masks before it: higher key, or
//     equal key and lower index: the stable descending sort), then the greedy loop over it,
//     each visited mask's removals spread over the threads (each j is decided alone, as in the
//     CPU loop), then the keep list in visiting order. order / removed in global scratch.
static __global__ void __launch_bounds__(MK_THREADS)
    nms_greedy_v1(int32_t *keep, int64_t *count, int32_t *order, int32_t *removed, const int64_t *inter,
                  const int64_t *area, const float *scores, int n, float iou_thr) {
    int t = (int)threadIdx.x;
    for (int i = t; i < n; i += MK_THREADS) {
        uint32_t ki = score_key(scores[i]);
        int r = 0;
        for (int j = 0; j < n; j++) {
            uint32_t kj = score_key(scores[j]);
            r += kj > ki || (kj == ki && j < i);
        }
        order[r] = i;
        removed[i] = 0;
    }
    __syncthreads();
    for (int a = 0; a < n; a++) {
        int i = order[a];
        if (!removed[i])
            for (int j = t; j < n; j += MK_THREADS) {
                if (j == i || removed[j]) continue;
                int64_t tp = inter[(int64_t)i * n + j];
                if (tp == 0) continue;
                int64_t uni = area[i] + area[j] - tp; // tp + fp + fn
                if ((float)tp / (float)uni > iou_thr) removed[j] = 1;
            }
        __syncthreads();
    }
    if (t == 0) {
        int nk = 0;
        for (int a = 0; a < n; a++)
            if (!removed[order[a]]) keep[nk++] = order[a];
        *count = nk;
    }
}

extern "C" void masks_nms_cuda(ug_ctx *ctx, ug_tensor *keep, ug_tensor *count, const ug_tensor *bits,
                               const ug_tensor *area, const ug_tensor *scores, float iou_thr) {
    const char *op = "masks_nms";
    const ug_tensor *ts[] = {keep, count, bits, area, scores};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 5, ts)) return;
    int64_t n = bits->shape[0], words = bits->shape[1];
    if (!packed(bits) || !contiguous_of(keep, UG_I32, n) || count->dtype != UG_I64 ||
        ug_tensor_numel(count) != 1 || !contiguous_of(area, UG_I64, n) || !contiguous_of(scores, UG_F32, n)) {
        cu_fail(ctx, op,
                "bits must be contiguous I64 [N, words], keep I32 [N], count I64 [1], area I64 [N], "
                "scores F32 [N]");
        return;
    }
    if (n > 46340) { // the N x N intersections: one block each, and N^2 int64 of scratch
        cu_fail(ctx, op, "more than 46340 masks");
        return;
    }
    cudaStream_t s = cu_stream(ctx);
    if (n == 0) {
        cu_check(ctx, cudaMemsetAsync(count->data, 0, sizeof(int64_t), s), op);
        return;
    }
    ug_arena_mark mark = cu_mark(ctx);
    int64_t *lo = (int64_t *)cu_scratch(ctx, (size_t)(2 * n + n * n) * sizeof(int64_t), op); // [N] [N] [N, N]
    int32_t *order = (int32_t *)cu_scratch(ctx, (size_t)(2 * n) * sizeof(int32_t), op);      // [N] [N]
    if (lo && order) {
        int64_t *hi = lo + n, *inter = lo + 2 * n;
        UG_LAUNCH(nms_ranges_v1, dim3(cu_blocks(n, MK_WARPS)), dim3(MK_THREADS), 0, s, lo, hi,
                  (const uint64_t *)bits->data, n, words);
        bool ok = cu_check(ctx, cudaGetLastError(), op);
        if (ok) {
            UG_LAUNCH(nms_inter_v1, dim3((unsigned)(n * n)), dim3(MK_THREADS), 0, s, inter,
                      (const uint64_t *)bits->data, (const int64_t *)lo, (const int64_t *)hi, n, words);
            ok = cu_check(ctx, cudaGetLastError(), op);
        }
        if (ok) {
            UG_LAUNCH(nms_greedy_v1, dim3(1), dim3(MK_THREADS), 0, s, (int32_t *)keep->data,
                      (int64_t *)count->data, order, order + n, (const int64_t *)inter,
                      (const int64_t *)area->data, (const float *)scores->data, (int)n, iou_thr);
            cu_check(ctx, cudaGetLastError(), op);
        }
    }
    cu_release(ctx, mark);
}

// ---- overlaps with one mask ----

// v1: one block per list entry: popcount(m_idx[a] & other) over the words, thread-strided.
static __global__ void __launch_bounds__(MK_THREADS)
    overlap_v1(int64_t *inter, const uint64_t *bits, const int32_t *idx, const uint64_t *other,
               int64_t words) {
    __shared__ int64_t part[MK_WARPS];
    const uint64_t *x = bits + (int64_t)idx[blockIdx.x] * words;
    int64_t c = 0;
    for (int64_t k = threadIdx.x; k < words; k += MK_THREADS)
        c += popc64(x[k] & other[k]);
    c = block_sum_i64(c, part);
    if (threadIdx.x == 0) inter[blockIdx.x] = c;
}

extern "C" void masks_overlap_cuda(ug_ctx *ctx, ug_tensor *inter, const ug_tensor *bits, const ug_tensor *idx,
                                   const ug_tensor *other) {
    const char *op = "masks_overlap";
    const ug_tensor *ts[] = {inter, bits, idx, other};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 4, ts)) return;
    int64_t n = ug_tensor_numel(idx);
    if (!packed(bits) || !packed(other) || other->shape[0] != 1 || other->shape[1] != bits->shape[1] ||
        !contiguous_of(idx, UG_I32, n) || !contiguous_of(inter, UG_I64, n)) {
        cu_fail(
            ctx, op,
            "bits and other must be contiguous I64 [N, words] and [1, words], idx I32 [n], inter I64 [n]");
        return;
    }
    if (n == 0) return;
    UG_LAUNCH(overlap_v1, dim3((unsigned)n), dim3(MK_THREADS), 0, cu_stream(ctx), (int64_t *)inter->data,
              (const uint64_t *)bits->data, (const int32_t *)idx->data, (const uint64_t *)other->data,
              bits->shape[1]);
    cu_check(ctx, cudaGetLastError(), op);
}

// ---- refined map ----

// v1: one thread per pixel (a warp's 32 pixels share one word: a broadcast load per kept mask),
//     the kept list staged in shared memory 256 at a time (mask index and score); the sum runs
//     over the kept masks in kept order from 0.0f, adding the score where the bit is set: the
//     CPU's additions, so the CPU's bits.
static __global__ void __launch_bounds__(MK_THREADS)
    refined_v1(float *out, const uint64_t *bits, const float *scores, const int32_t *keep, int64_t nkeep,
               const float *u, int64_t HW, int64_t words) {
    __shared__ int32_t sk[MK_THREADS];
    __shared__ float ss[MK_THREADS];
    int t = (int)threadIdx.x;
    int64_t p = (int64_t)blockIdx.x * MK_THREADS + t, pw = p < HW ? p / 64 : 0;
    int bit = (int)(p % 64);
    float r = 0.0f;
    for (int64_t c0 = 0; c0 < nkeep; c0 += MK_THREADS) {
        __syncthreads(); // the previous part of the list is consumed
        if (c0 + t < nkeep) {
            sk[t] = keep[c0 + t];
            ss[t] = scores[sk[t]];
        }
        __syncthreads();
        int m = (int)cu_min((int64_t)MK_THREADS, nkeep - c0);
        for (int a = 0; a < m; a++)
            if ((bits[(int64_t)sk[a] * words + pw] >> bit) & 1u) r += ss[a];
    }
    if (p < HW) out[p] = (r == 0.0f ? -1.0f : r) + u[p];
}

extern "C" void masks_refined_cuda(ug_ctx *ctx, ug_tensor *out, const ug_tensor *bits,
                                   const ug_tensor *scores, const ug_tensor *keep, const ug_tensor *u) {
    const char *op = "masks_refined";
    const ug_tensor *ts[] = {out, bits, scores, keep, u};
    if (cu_failed(ctx) || !cu_on_device(ctx, op, 5, ts)) return;
    int64_t HW = ug_tensor_numel(u), nkeep = ug_tensor_numel(keep);
    if (!packed(bits) || bits->shape[1] != masks_words(HW) || !contiguous_of(out, UG_F32, HW) ||
        u->dtype != UG_F32 || !contiguous_of(scores, UG_F32, bits->shape[0]) ||
        !contiguous_of(keep, UG_I32, nkeep)) {
        cu_fail(ctx, op,
                "bits must be contiguous I64 [N, ceil(HW / 64)], out F32 [H, W], scores F32 [N], keep I32");
        return;
    }
    if (HW == 0) return;
    ug_arena_mark mark = cu_mark(ctx);
    ug_tensor uc;
    if (cu_contiguous_f32(ctx, &uc, u, op)) {
        cu_poison_output(ctx, out);
        UG_LAUNCH(refined_v1, dim3(cu_blocks(HW, MK_THREADS)), dim3(MK_THREADS), 0, cu_stream(ctx),
                  (float *)out->data, (const uint64_t *)bits->data, (const float *)scores->data,
                  (const int32_t *)keep->data, nkeep, (const float *)uc.data, HW, bits->shape[1]);
        cu_check(ctx, cudaGetLastError(), op);
    }
    cu_release(ctx, mark);
}
