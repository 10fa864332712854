// ops/proposals.c — candidate pixels and farthest point sampling (see proposals.h for the
// rules). Dimension letters: H/W image size, N candidates, K samples.
#include "ops/proposals.h"

#include <assert.h>
#include <immintrin.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine/pool.h"

// ---- candidates (NLSSampler: threshold, ignore, coordinate-sum fallback) ----

static inline float masked_score(const float *u, const uint8_t *ignore, int64_t p) {
    return ignore && ignore[p] ? PROPOSALS_IGNORE_VALUE : u[p];
}

// Pixels with U' >= thr, row-major; returns the count, fills xy when non-NULL, and the sum
// of all coordinates (the official fallback test).
static int64_t collect_ref(const float *u, const uint8_t *ignore, int64_t H, int64_t W, float thr,
                           int32_t *xy, int64_t *coord_sum) {
    int64_t n = 0, sum = 0;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            if (!(masked_score(u, ignore, y * W + x) >= thr)) continue;
            if (xy) {
                xy[2 * n] = (int32_t)x;
                xy[2 * n + 1] = (int32_t)y;
            }
            sum += x + y;
            n++;
        }
    *coord_sum = sum;
    return n;
}

void proposals_candidates_ref(int32_t *xy, int64_t *n, const float *u, const uint8_t *ignore, int64_t H,
                              int64_t W, float thr, float fallback) {
    int64_t sum;
    collect_ref(u, ignore, H, W, thr, NULL, &sum);
    if (sum < 1) thr = fallback; // `sample_idx.sum() < 1`: the sum of the coordinates, not the count
    *n = collect_ref(u, ignore, H, W, thr, xy, &sum);
}

// Fixed row blocks: at most CAND_BLOCKS, so the per-block counts live in the job.
enum { CAND_BLOCKS = 256 };

typedef struct cand_job {
    const float *u;
    const uint8_t *ignore;
    int64_t H, W, rows; // rows per block
    float thr, fallback;
    int64_t n_thr[CAND_BLOCKS], n_fallback[CAND_BLOCKS]; // counts per block
    float take;                                          // the threshold chosen for the compaction
    int64_t offset[CAND_BLOCKS];                         // first output row of each block
    int32_t *xy;
} cand_job;

// 8 pixels of U' starting at p (vector part of masked_score).
static inline __m256 masked_score8(const float *u, const uint8_t *ignore, int64_t p) {
    __m256 v = _mm256_loadu_ps(u + p);
    if (!ignore) return v;
    __m256i ig = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(ignore + p)));
    __m256 inside = _mm256_castsi256_ps(_mm256_cmpgt_epi32(ig, _mm256_setzero_si256()));
    return _mm256_blendv_ps(v, _mm256_set1_ps(PROPOSALS_IGNORE_VALUE), inside);
}

static int64_t hsum_epi32(__m256i v) {
    int32_t l[8];
    _mm256_storeu_si256((__m256i *)l, v);
    int64_t s = 0;
    for (int i = 0; i < 8; i++)
        s += l[i];
    return s;
}

// Pass 1: per block, the pixels at or above each threshold (compares are false for NaN).
static void cand_count(void *arg, int64_t b0, int64_t b1, int thread) {
    (void)thread;
    cand_job *j = arg;
    __m256 thr = _mm256_set1_ps(j->thr), fb = _mm256_set1_ps(j->fallback);
    for (int64_t b = b0; b < b1; b++) {
        int64_t y1 = (b + 1) * j->rows < j->H ? (b + 1) * j->rows : j->H, n1 = 0, n2 = 0;
        __m256i c1 = _mm256_setzero_si256(), c2 = _mm256_setzero_si256();
        for (int64_t y = b * j->rows; y < y1; y++) {
            int64_t p = y * j->W, e = p + j->W;
            for (; p + 8 <= e; p += 8) { // a true compare is -1 in every lane
                __m256 v = masked_score8(j->u, j->ignore, p);
                c1 = _mm256_sub_epi32(c1, _mm256_castps_si256(_mm256_cmp_ps(v, thr, _CMP_GE_OQ)));
                c2 = _mm256_sub_epi32(c2, _mm256_castps_si256(_mm256_cmp_ps(v, fb, _CMP_GE_OQ)));
            }
            for (; p < e; p++) {
                float v = masked_score(j->u, j->ignore, p);
                n1 += v >= j->thr;
                n2 += v >= j->fallback;
            }
        }
        j->n_thr[b] = n1 + hsum_epi32(c1);
        j->n_fallback[b] = n2 + hsum_epi32(c2);
    }
}

// Pass 2: each block writes its candidates from its offset on, in row-major order.
static void cand_write(void *arg, int64_t b0, int64_t b1, int thread) {
    (void)thread;
    cand_job *j = arg;
    __m256 take = _mm256_set1_ps(j->take);
    for (int64_t b = b0; b < b1; b++) {
        int32_t *out = j->xy + 2 * j->offset[b];
        int64_t y1 = (b + 1) * j->rows < j->H ? (b + 1) * j->rows : j->H;
        for (int64_t y = b * j->rows; y < y1; y++) {
            int64_t row = y * j->W, x = 0;
            for (; x + 8 <= j->W; x += 8) {
                unsigned m = (unsigned)_mm256_movemask_ps(
                    _mm256_cmp_ps(masked_score8(j->u, j->ignore, row + x), take, _CMP_GE_OQ));
                for (; m; m &= m - 1) {
                    out[0] = (int32_t)(x + __builtin_ctz(m));
                    out[1] = (int32_t)y;
                    out += 2;
                }
            }
            for (; x < j->W; x++)
                if (masked_score(j->u, j->ignore, row + x) >= j->take) {
                    out[0] = (int32_t)x;
                    out[1] = (int32_t)y;
                    out += 2;
                }
        }
    }
}

void proposals_candidates_cpu(ug_ctx *ctx, ug_tensor *xy, ug_tensor *count, const ug_tensor *u,
                              const ug_tensor *ignore, float thr, float fallback) {
    assert(u->dtype == UG_F32 && u->ndim == 2 && ug_tensor_is_contiguous(u));
    assert(!ignore ||
           (ignore->dtype == UG_U8 && ug_tensor_same_shape(ignore, u) && ug_tensor_is_contiguous(ignore)));
    int64_t H = u->shape[0], W = u->shape[1];
    assert(xy->dtype == UG_I32 && xy->ndim == 2 && xy->shape[0] == H * W && xy->shape[1] == 2 &&
           ug_tensor_is_contiguous(xy));
    assert(count->dtype == UG_I64 && ug_tensor_numel(count) == 1);
    cand_job *j = malloc(sizeof *j); // ~6 KB of block counts
    if (!j) ug_nomem_fatal("out of memory for %zu bytes of candidate counts", sizeof *j);
    *j = (cand_job){.u = u->data,
                    .ignore = ignore ? ignore->data : NULL,
                    .H = H,
                    .W = W,
                    .thr = thr,
                    .fallback = fallback,
                    .xy = xy->data};
    j->rows = (H + CAND_BLOCKS - 1) / CAND_BLOCKS;
    int64_t nblocks = H > 0 ? (H + j->rows - 1) / j->rows : 0, n_thr = 0, n = 0;
    ug_parallel_for(ctx ? ctx->pool : NULL, nblocks, 1, cand_count, j);
    for (int64_t b = 0; b < nblocks; b++)
        n_thr += j->n_thr[b];
    // The coordinates are >= 0, so their sum is < 1 exactly when no candidate but pixel (0, 0).
    bool origin = H > 0 && W > 0 && masked_score(j->u, j->ignore, 0) >= thr;
    bool use_fallback = n_thr - origin == 0;
    j->take = use_fallback ? fallback : thr;
    for (int64_t b = 0; b < nblocks; b++) {
        j->offset[b] = n;
        n += use_fallback ? j->n_fallback[b] : j->n_thr[b];
    }
    ug_parallel_for(ctx ? ctx->pool : NULL, nblocks, 1, cand_write, j);
    *(int64_t *)count->data = n;
    free(j);
}

// ---- farthest point sampling ----

// Threads of the pointnet2 kernel: min(2^floor(log2 n), 512) (at least 1).
static int fps_threads(int64_t n) {
    int t = 1;
    while ((int64_t)t * 2 <= n && t < 512)
        t *= 2;
    return t;
}

static unsigned bitrev(unsigned v, int bits) {
    unsigned r = 0;
    for (int b = 0; b < bits; b++)
        r |= ((v >> b) & 1u) << (bits - 1 - b);
    return r;
}

static inline float sqdist(float x1, float y1, float x2, float y2) {
    float dx = x2 - x1, dy = y2 - y1;
    return dx * dx + dy * dy;
}

void proposals_fps_ref(int32_t *idx, const int32_t *xy, int64_t n, int k, proposals_ties ties) {
    if (k <= 0) return;
    float *dist = malloc((size_t)n * sizeof *dist); // [N]
    int T = fps_threads(n);
    float *tbest = malloc((size_t)T * sizeof *tbest);
    int64_t *tidx = malloc((size_t)T * sizeof *tidx);
    for (int64_t i = 0; i < n; i++)
        dist[i] = 1e10f;
    int64_t last = 0;
    idx[0] = 0;
    for (int j = 1; j < k; j++) {
        float x1 = (float)xy[2 * last], y1 = (float)xy[2 * last + 1];
        for (int64_t i = 0; i < n; i++) {
            float d = sqdist(x1, y1, (float)xy[2 * i], (float)xy[2 * i + 1]);
            if (d < dist[i]) dist[i] = d;
        }
        if (ties == PROPOSALS_TIES_LOWEST) {
            int64_t b = 0;
            for (int64_t i = 1; i < n; i++)
                if (dist[i] > dist[b]) b = i;
            last = b;
        } else {
            // Each thread keeps its first strict maximum (best starts at -1) ...
            for (int t = 0; t < T; t++) {
                tbest[t] = -1.0f;
                tidx[t] = 0;
                for (int64_t i = t; i < n; i += T)
                    if (dist[i] > tbest[t]) {
                        tbest[t] = dist[i];
                        tidx[t] = i;
                    }
            }
            // ... then the shared-memory tree keeps the lower slot unless the upper is larger.
            for (int half = T / 2; half >= 1; half /= 2)
                for (int t = 0; t < half; t++) {
                    if (tbest[t + half] > tbest[t]) tidx[t] = tidx[t + half];
                    if (tbest[t + half] > tbest[t]) tbest[t] = tbest[t + half];
                }
            last = tidx[0];
        }
        idx[j] = (int32_t)last;
    }
    free(dist);
    free(tbest);
    free(tidx);
}

enum { FPS_BLOCK = 16384 };

typedef struct fps_job {
    const float *xs, *ys; // [N] candidates in preference order
    float *dist;          // [N]
    int64_t n;
    float x1, y1;
    float *bbest;  // [nblocks]
    int64_t *bpos; // [nblocks]
} fps_job;

// One block: dist = min(dist, |p - last|^2) and the first strict maximum of the block.
static void fps_block(void *arg, int64_t b0, int64_t b1, int thread) {
    (void)thread;
    fps_job *j = arg;
    for (int64_t b = b0; b < b1; b++) {
        int64_t s = b * FPS_BLOCK, e = s + FPS_BLOCK < j->n ? s + FPS_BLOCK : j->n, i = s;
        float best = -1.0f;
        int64_t bpos = s;
        if (e - s >= 8) {
            __m256 x1 = _mm256_set1_ps(j->x1), y1 = _mm256_set1_ps(j->y1);
            __m256 bv = _mm256_set1_ps(-1.0f);
            __m256i bi = _mm256_setzero_si256(), iv = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            const __m256i eight = _mm256_set1_epi32(8);
            for (; i + 8 <= e; i += 8) { // lane positions are relative to s
                __m256 dx = _mm256_sub_ps(_mm256_loadu_ps(j->xs + i), x1);
                __m256 dy = _mm256_sub_ps(_mm256_loadu_ps(j->ys + i), y1);
                __m256 d = _mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy));
                d = _mm256_min_ps(d, _mm256_loadu_ps(j->dist + i));
                _mm256_storeu_ps(j->dist + i, d);
                __m256 gt = _mm256_cmp_ps(d, bv, _CMP_GT_OQ);
                bv = _mm256_blendv_ps(bv, d, gt);
                bi = _mm256_blendv_epi8(bi, iv, _mm256_castps_si256(gt));
                iv = _mm256_add_epi32(iv, eight);
            }
            float lv[8];
            int32_t li[8];
            _mm256_storeu_ps(lv, bv);
            _mm256_storeu_si256((__m256i *)li, bi);
            // Each lane holds its first maximum; across lanes the lowest position wins ties.
            for (int l = 0; l < 8; l++)
                if (lv[l] > best || (lv[l] == best && s + li[l] < bpos)) {
                    best = lv[l];
                    bpos = s + li[l];
                }
        }
        for (; i < e; i++) { // tail positions follow every vector position: strict > only
            float d = sqdist(j->x1, j->y1, j->xs[i], j->ys[i]);
            if (j->dist[i] < d) d = j->dist[i];
            j->dist[i] = d;
            if (d > best) {
                best = d;
                bpos = i;
            }
        }
        j->bbest[b] = best;
        j->bpos[b] = bpos;
    }
}

// perm [N]: position -> candidate index in the preference order of the tie rule.
static void fps_preference_order(int32_t *perm, int64_t n, int ties) {
    if (ties == PROPOSALS_TIES_LOWEST) {
        for (int64_t i = 0; i < n; i++)
            perm[i] = (int32_t)i;
        return;
    }
    // The kernel's order: slot s = bitreverse(thread), then k within a thread.
    int T = fps_threads(n), bits = 0;
    while ((1 << bits) < T)
        bits++;
    int64_t p = 0;
    for (int s = 0; s < T; s++)
        for (int64_t i = bitrev((unsigned)s, bits); i < n; i += T)
            perm[p++] = (int32_t)i;
}

ug_status proposals_fps_cpu(ug_ctx *ctx, ug_tensor *idx_t, ug_tensor *pts_t, const ug_tensor *xy_t, int ties,
                            ug_err *err) {
    assert(xy_t->dtype == UG_I32 && xy_t->ndim == 2 && xy_t->shape[1] == 2 && ug_tensor_is_contiguous(xy_t));
    assert(idx_t->dtype == UG_I32 && idx_t->ndim == 1 && ug_tensor_is_contiguous(idx_t));
    assert(!pts_t || (pts_t->dtype == UG_F32 && pts_t->ndim == 2 && pts_t->shape[0] == idx_t->shape[0] &&
                      pts_t->shape[1] == 2 && ug_tensor_is_contiguous(pts_t)));
    int64_t n = xy_t->shape[0];
    int k = (int)idx_t->shape[0];
    if (n <= 0 || n > INT32_MAX) return ug_errf(err, UG_ERR_ARG, "fps: %lld candidates", (long long)n);
    if (k <= 0) return UG_OK;
    const int32_t *xy = xy_t->data;
    int32_t *idx = idx_t->data;
    int64_t nblocks = (n + FPS_BLOCK - 1) / FPS_BLOCK;
    // Working memory from the context's host arena, which keeps its pages between images
    // (32 MB for the 2M candidates of a 1024 x 2048 image).
    ug_arena *ar = &ctx->arena;
    ug_arena_mark mark = ug_arena_get_mark(ar);
    int32_t *perm = ug_arena_alloc(ar, (size_t)n * sizeof *perm); // [N] position -> candidate index
    float *xs = ug_arena_alloc(ar, (size_t)n * sizeof *xs);       // [N]
    float *ys = ug_arena_alloc(ar, (size_t)n * sizeof *ys);       // [N]
    float *dist = ug_arena_alloc(ar, (size_t)n * sizeof *dist);   // [N]
    float *bbest = ug_arena_alloc(ar, (size_t)nblocks * sizeof *bbest);
    int64_t *bpos = ug_arena_alloc(ar, (size_t)nblocks * sizeof *bpos);
    ug_status st = UG_OK;
    if (!perm || !xs || !ys || !dist || !bbest || !bpos) {
        st = ug_errf(err, UG_ERR_NOMEM, "fps: %lld candidates", (long long)n);
        goto done;
    }
    fps_preference_order(perm, n, ties);
    for (int64_t p = 0; p < n; p++) {
        xs[p] = (float)xy[2 * (int64_t)perm[p]];
        ys[p] = (float)xy[2 * (int64_t)perm[p] + 1];
        dist[p] = 1e10f;
    }
    fps_job job = {xs, ys, dist, n, 0, 0, bbest, bpos};
    int64_t last = 0; // position of candidate 0 in both orders
    idx[0] = perm[0];
    for (int j = 1; j < k; j++) {
        job.x1 = xs[last];
        job.y1 = ys[last];
        ug_parallel_for(ctx ? ctx->pool : NULL, nblocks, 1, fps_block, &job);
        float best = bbest[0];
        last = bpos[0];
        for (int64_t b = 1; b < nblocks; b++)
            if (bbest[b] > best) {
                best = bbest[b];
                last = bpos[b];
            }
        idx[j] = perm[last];
    }
    if (pts_t) {
        float *pts = pts_t->data;
        for (int j = 0; j < k; j++) {
            pts[2 * j] = (float)xy[2 * (int64_t)idx[j]];
            pts[2 * j + 1] = (float)xy[2 * (int64_t)idx[j] + 1];
        }
    }
done:
    ug_arena_release(ar, mark);
    return st;
}
