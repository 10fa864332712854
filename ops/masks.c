// ops/masks.c — binarisation, mask scores, mask NMS, overlaps and the refined map on
// bit-packed masks (rules in masks.h).
#include "ops/masks.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine/pool.h"

static int64_t popcount_words(const uint64_t *w, int64_t n) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        c += __builtin_popcountll(w[i]);
    return c;
}

static bool packed_masks(const ug_tensor *bits) {
    return bits->dtype == UG_I64 && bits->ndim == 2 && ug_tensor_is_contiguous(bits);
}

// ---- binarisation ----

void masks_binarize_ref(uint8_t *mask, const float *logits, int64_t HW, float thr) {
    for (int64_t p = 0; p < HW; p++)
        mask[p] = logits[p] > thr;
}

typedef struct bin_job {
    uint64_t *w;   // [words] of one mask
    const void *x; // [HW] F32 or U8
    int64_t HW;
    float thr;
    int u8_from; // U8: x > thr is x >= u8_from (256: never)
} bin_job;

static void bin_words_f32(void *arg, int64_t w0, int64_t w1, int thread) {
    (void)thread;
    bin_job *j = arg;
    const float *x = j->x;
    __m256 t = _mm256_set1_ps(j->thr);
    for (int64_t w = w0; w < w1; w++) {
        int64_t p0 = w * 64;
        uint64_t bits = 0;
        if (p0 + 64 <= j->HW) {
            for (int k = 0; k < 8; k++) {
                __m256 gt = _mm256_cmp_ps(_mm256_loadu_ps(x + p0 + 8 * k), t, _CMP_GT_OQ);
                bits |= (uint64_t)(unsigned)_mm256_movemask_ps(gt) << (8 * k);
            }
        } else {
            for (int64_t p = p0; p < j->HW; p++)
                if (x[p] > j->thr) bits |= 1ull << (p - p0);
        }
        j->w[w] = bits;
    }
}

static void bin_words_u8(void *arg, int64_t w0, int64_t w1, int thread) {
    (void)thread;
    bin_job *j = arg;
    const uint8_t *x = j->x;
    __m256i t = _mm256_set1_epi8((char)(uint8_t)(j->u8_from < 256 ? j->u8_from : 0));
    for (int64_t w = w0; w < w1; w++) {
        int64_t p0 = w * 64;
        uint64_t bits = 0;
        if (j->u8_from == 256) {
            bits = 0;
        } else if (p0 + 64 <= j->HW) {
            for (int k = 0; k < 2; k++) { // x >= t  <=>  max(x, t) == x (unsigned bytes)
                __m256i v = _mm256_loadu_si256((const __m256i *)(x + p0 + 32 * k));
                __m256i ge = _mm256_cmpeq_epi8(_mm256_max_epu8(v, t), v);
                bits |= (uint64_t)(uint32_t)_mm256_movemask_epi8(ge) << (32 * k);
            }
        } else {
            for (int64_t p = p0; p < j->HW; p++)
                if ((float)x[p] > j->thr) bits |= 1ull << (p - p0);
        }
        j->w[w] = bits;
    }
}

// The smallest byte value above thr (256 when none is, NaN included).
static int u8_above(float thr) {
    if (!(thr < 255.0f)) return 256;
    return thr < 0.0f ? 0 : (int)floorf(thr) + 1;
}

void masks_binarize_cpu(ug_ctx *ctx, ug_tensor *bits, ug_tensor *area, const ug_tensor *x, float thr) {
    assert(packed_masks(bits) && (x->dtype == UG_F32 || x->dtype == UG_U8) && ug_tensor_is_contiguous(x));
    int64_t n = bits->shape[0], words = bits->shape[1];
    assert(x->ndim >= 1 && x->shape[0] == n);
    int64_t HW = n > 0 ? ug_tensor_numel(x) / n : 0;
    assert(words == masks_words(HW));
    assert(!area || (area->dtype == UG_I64 && ug_tensor_numel(area) == n && ug_tensor_is_contiguous(area)));
    size_t es = ug_dtype_size(x->dtype);
    for (int64_t i = 0; i < n; i++) {
        bin_job j = {(uint64_t *)bits->data + i * words, (const char *)x->data + (size_t)(i * HW) * es, HW,
                     thr, u8_above(thr)};
        ug_parallel_for(ctx ? ctx->pool : NULL, words, 2048,
                        x->dtype == UG_F32 ? bin_words_f32 : bin_words_u8, &j);
        if (area) ((int64_t *)area->data)[i] = popcount_words(j.w, words);
    }
}

// ---- scores ----

void masks_scores_ref(float *scores, const uint8_t *masks, int n, int64_t HW, const float *u) {
    for (int i = 0; i < n; i++) {
        double s = 0;
        int64_t c = 0;
        for (int64_t p = 0; p < HW; p++)
            if (masks[(int64_t)i * HW + p]) {
                s += u[p];
                c++;
            }
        scores[i] = c ? (float)(s / (double)c) : -1.0f;
    }
}

typedef struct score_job {
    const uint64_t *bits;
    const int64_t *area;
    int64_t words;
    const float *u;
    float *scores;
} score_job;

static void score_masks(void *arg, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    score_job *j = arg;
    for (int64_t i = i0; i < i1; i++) {
        const uint64_t *w = j->bits + i * j->words;
        double s = 0;
        for (int64_t k = 0; k < j->words; k++)
            for (uint64_t b = w[k]; b; b &= b - 1)
                s += j->u[k * 64 + __builtin_ctzll(b)];
        j->scores[i] = j->area[i] ? (float)(s / (double)j->area[i]) : -1.0f;
    }
}

void masks_scores_cpu(ug_ctx *ctx, ug_tensor *scores, const ug_tensor *bits, const ug_tensor *area,
                      const ug_tensor *u) {
    assert(packed_masks(bits) && u->dtype == UG_F32 && ug_tensor_is_contiguous(u));
    int64_t n = bits->shape[0];
    assert(bits->shape[1] == masks_words(ug_tensor_numel(u)));
    assert(scores->dtype == UG_F32 && ug_tensor_numel(scores) == n && ug_tensor_is_contiguous(scores));
    assert(area->dtype == UG_I64 && ug_tensor_numel(area) == n && ug_tensor_is_contiguous(area));
    score_job j = {bits->data, area->data, bits->shape[1], u->data, scores->data};
    ug_parallel_for(ctx ? ctx->pool : NULL, n, 1, score_masks, &j);
}

// ---- NMS ----

// Visiting order: descending score, equal scores by ascending index (stable).
typedef struct score_idx {
    float s;
    int i;
} score_idx;

static int cmp_score_desc(const void *a, const void *b) {
    const score_idx *x = a, *y = b;
    if (x->s > y->s) return -1;
    if (x->s < y->s) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

static score_idx *visit_order(const float *scores, int n) {
    score_idx *o = malloc((size_t)(n > 0 ? n : 1) * sizeof *o);
    if (!o) return NULL;
    for (int i = 0; i < n; i++)
        o[i] = (score_idx){scores[i], i};
    qsort(o, (size_t)n, sizeof *o, cmp_score_desc);
    return o;
}

int masks_nms_ref(int *keep, const uint8_t *masks, int n, int64_t HW, const float *scores, float iou_thr) {
    score_idx *o = visit_order(scores, n);
    bool *removed = calloc((size_t)(n > 0 ? n : 1), sizeof *removed);
    int nk = 0;
    for (int a = 0; a < n; a++) {
        int i = o[a].i;
        if (removed[i]) continue;
        for (int j = 0; j < n; j++) {
            if (j == i || removed[j]) continue;
            int64_t tp = 0, fp = 0, fn = 0;
            for (int64_t p = 0; p < HW; p++) {
                bool mi = masks[(int64_t)i * HW + p], mj = masks[(int64_t)j * HW + p];
                tp += mi && mj;
                fp += mj && !mi;
                fn += mi && !mj;
            }
            if (tp == 0) continue;
            if ((float)tp / (float)(tp + fp + fn) > iou_thr) removed[j] = true;
        }
    }
    for (int a = 0; a < n; a++)
        if (!removed[o[a].i]) keep[nk++] = o[a].i;
    free(o);
    free(removed);
    return nk;
}

typedef struct nms_job {
    const uint64_t *bits;
    int64_t words;
    const int64_t *lo, *hi; // [N] first / one past the last non-zero word
    const bool *removed;
    int i;
    int64_t *inter; // [N]
} nms_job;

static void nms_inter(void *arg, int64_t j0, int64_t j1, int thread) {
    (void)thread;
    nms_job *job = arg;
    int i = job->i;
    const uint64_t *a = job->bits + (int64_t)i * job->words;
    for (int64_t j = j0; j < j1; j++) {
        job->inter[j] = 0;
        if (j == i || job->removed[j]) continue;
        int64_t lo = job->lo[i] > job->lo[j] ? job->lo[i] : job->lo[j];
        int64_t hi = job->hi[i] < job->hi[j] ? job->hi[i] : job->hi[j];
        const uint64_t *b = job->bits + j * job->words;
        int64_t c = 0;
        for (int64_t k = lo; k < hi; k++)
            c += __builtin_popcountll(a[k] & b[k]);
        job->inter[j] = c;
    }
}

void masks_nms_cpu(ug_ctx *ctx, ug_tensor *keep_t, ug_tensor *count, const ug_tensor *bits,
                   const ug_tensor *area_t, const ug_tensor *scores, float iou_thr) {
    assert(packed_masks(bits));
    int n = (int)bits->shape[0], nk = 0;
    int64_t words = bits->shape[1];
    assert(keep_t->dtype == UG_I32 && ug_tensor_numel(keep_t) == n && ug_tensor_is_contiguous(keep_t));
    assert(count->dtype == UG_I64 && ug_tensor_numel(count) == 1);
    assert(area_t->dtype == UG_I64 && ug_tensor_numel(area_t) == n && ug_tensor_is_contiguous(area_t));
    assert(scores->dtype == UG_F32 && ug_tensor_numel(scores) == n && ug_tensor_is_contiguous(scores));
    int32_t *keep = keep_t->data;
    const int64_t *area = area_t->data;
    if (n == 0) {
        *(int64_t *)count->data = 0;
        return;
    }
    score_idx *o = visit_order(scores->data, n);
    bool *removed = calloc((size_t)n, sizeof *removed);
    int64_t *lo = malloc((size_t)n * sizeof *lo), *hi = malloc((size_t)n * sizeof *hi);
    int64_t *inter = malloc((size_t)n * sizeof *inter);
    if (!o || !removed || !lo || !hi || !inter) // a few bytes per mask
        ug_nomem_fatal("out of memory for the NMS state of %d masks", n);
    for (int i = 0; i < n; i++) { // word range that can hold set bits (empty: lo == hi)
        const uint64_t *w = (const uint64_t *)bits->data + (int64_t)i * words;
        int64_t a = 0, b = words;
        while (a < b && !w[a])
            a++;
        while (b > a && !w[b - 1])
            b--;
        lo[i] = a;
        hi[i] = b;
    }
    nms_job job = {bits->data, words, lo, hi, removed, 0, inter};
    for (int a = 0; a < n; a++) {
        int i = o[a].i;
        if (removed[i]) continue;
        job.i = i;
        ug_parallel_for(ctx ? ctx->pool : NULL, n, 4, nms_inter, &job);
        for (int j = 0; j < n; j++) {
            if (j == i || removed[j] || inter[j] == 0) continue;
            // tp + fp + fn = |m_i| + |m_j| - tp
            int64_t uni = area[i] + area[j] - inter[j];
            if ((float)inter[j] / (float)uni > iou_thr) removed[j] = true;
        }
    }
    for (int a = 0; a < n; a++)
        if (!removed[o[a].i]) keep[nk++] = o[a].i;
    *(int64_t *)count->data = nk;
    free(o);
    free(removed);
    free(lo);
    free(hi);
    free(inter);
}

// ---- overlaps with one mask ----

void masks_overlap_ref(int64_t *inter, const uint8_t *masks, int64_t HW, const int *idx, int n,
                       const uint8_t *other) {
    for (int a = 0; a < n; a++) {
        int64_t c = 0;
        for (int64_t p = 0; p < HW; p++)
            c += masks[(int64_t)idx[a] * HW + p] && other[p];
        inter[a] = c;
    }
}

typedef struct overlap_job {
    const uint64_t *bits, *other;
    int64_t words;
    const int32_t *idx;
    int64_t *inter;
} overlap_job;

static void overlap_list(void *arg, int64_t a0, int64_t a1, int thread) {
    (void)thread;
    overlap_job *j = arg;
    for (int64_t a = a0; a < a1; a++) {
        const uint64_t *x = j->bits + (int64_t)j->idx[a] * j->words;
        int64_t c = 0;
        for (int64_t k = 0; k < j->words; k++)
            c += __builtin_popcountll(x[k] & j->other[k]);
        j->inter[a] = c;
    }
}

void masks_overlap_cpu(ug_ctx *ctx, ug_tensor *inter, const ug_tensor *bits, const ug_tensor *idx,
                       const ug_tensor *other) {
    assert(packed_masks(bits) && packed_masks(other) && other->shape[0] == 1 &&
           other->shape[1] == bits->shape[1]);
    assert(idx->dtype == UG_I32 && ug_tensor_is_contiguous(idx));
    assert(inter->dtype == UG_I64 && ug_tensor_numel(inter) == ug_tensor_numel(idx) &&
           ug_tensor_is_contiguous(inter));
    overlap_job j = {bits->data, other->data, bits->shape[1], idx->data, inter->data};
    ug_parallel_for(ctx ? ctx->pool : NULL, ug_tensor_numel(idx), 1, overlap_list, &j);
}

// ---- refined map ----

void masks_refined_ref(float *out, const uint8_t *masks, int64_t HW, const float *scores, const int *keep,
                       int nkeep, const float *u) {
    for (int64_t p = 0; p < HW; p++) {
        float r = 0.0f;
        for (int a = 0; a < nkeep; a++)
            r += scores[keep[a]] * (float)masks[(int64_t)keep[a] * HW + p];
        out[p] = (r == 0.0f ? -1.0f : r) + u[p];
    }
}

typedef struct refine_job {
    float *out;
    const uint64_t *bits;
    int64_t words, HW;
    const float *scores, *u;
    const int32_t *keep;
    int64_t nkeep;
} refine_job;

// Threaded over 64-pixel words: each pixel's sum runs over the kept masks in kept order.
static void refine_words(void *arg, int64_t w0, int64_t w1, int thread) {
    (void)thread;
    refine_job *j = arg;
    int64_t p0 = w0 * 64, p1 = w1 * 64 < j->HW ? w1 * 64 : j->HW;
    for (int64_t p = p0; p < p1; p++)
        j->out[p] = 0.0f;
    for (int64_t a = 0; a < j->nkeep; a++) {
        const uint64_t *w = j->bits + (int64_t)j->keep[a] * j->words;
        float s = j->scores[j->keep[a]];
        for (int64_t k = w0; k < w1; k++)
            for (uint64_t b = w[k]; b; b &= b - 1)
                j->out[k * 64 + __builtin_ctzll(b)] += s;
    }
    for (int64_t p = p0; p < p1; p++)
        j->out[p] = (j->out[p] == 0.0f ? -1.0f : j->out[p]) + j->u[p];
}

void masks_refined_cpu(ug_ctx *ctx, ug_tensor *out, const ug_tensor *bits, const ug_tensor *scores,
                       const ug_tensor *keep, const ug_tensor *u) {
    int64_t HW = ug_tensor_numel(u);
    assert(packed_masks(bits) && bits->shape[1] == masks_words(HW));
    assert(out->dtype == UG_F32 && u->dtype == UG_F32 && ug_tensor_numel(out) == HW);
    assert(ug_tensor_is_contiguous(out) && ug_tensor_is_contiguous(u));
    assert(scores->dtype == UG_F32 && ug_tensor_numel(scores) == bits->shape[0] &&
           ug_tensor_is_contiguous(scores));
    assert(keep->dtype == UG_I32 && ug_tensor_is_contiguous(keep));
    refine_job j = {out->data,    bits->data, bits->shape[1], HW,
                    scores->data, u->data,    keep->data,     ug_tensor_numel(keep)};
    ug_parallel_for(ctx ? ctx->pool : NULL, masks_words(HW), 1024, refine_words, &j);
}
