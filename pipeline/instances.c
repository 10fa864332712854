// pipeline/instances.c — best-of-M, binarisation, mask scores, mask NMS, ignore filter,
// refined score map and COCO RLE for UGainS instances (rules in instances.h).
#include "pipeline/instances.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

ug_status instances_masks_alloc(inst_masks *m, int n, int H, int W, ug_err *err) {
    memset(m, 0, sizeof *m);
    if (n < 0 || H <= 0 || W <= 0) return ug_errf(err, UG_ERR_ARG, "instances: %d masks of %dx%d", n, H, W);
    m->n = n;
    m->H = H;
    m->W = W;
    m->words = ((int64_t)H * W + 63) / 64;
    size_t nw = (size_t)(n > 0 ? n : 1) * (size_t)m->words;
    m->bits = calloc(nw, sizeof *m->bits);                          // [N, words]
    m->area = calloc((size_t)(n > 0 ? n : 1), sizeof *m->area);     // [N]
    if (!m->bits || !m->area) {
        instances_masks_free(m);
        return ug_errf(err, UG_ERR_NOMEM, "instances: %d masks of %dx%d", n, H, W);
    }
    return UG_OK;
}

void instances_masks_free(inst_masks *m) {
    free(m->bits);
    free(m->area);
    memset(m, 0, sizeof *m);
}

static int64_t popcount_words(const uint64_t *w, int64_t n) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += __builtin_popcountll(w[i]);
    return c;
}

void instances_masks_count(inst_masks *m) {
    for (int i = 0; i < m->n; i++) m->area[i] = popcount_words(m->bits + (int64_t)i * m->words, m->words);
}

void instances_pack_u8(inst_masks *m, int i, const uint8_t *map) {
    uint64_t *w = m->bits + (int64_t)i * m->words;
    memset(w, 0, (size_t)m->words * sizeof *w);
    int64_t HW = (int64_t)m->H * m->W;
    for (int64_t p = 0; p < HW; p++)
        if (map[p]) w[p / 64] |= 1ull << (p % 64);
    m->area[i] = popcount_words(w, m->words);
}

void instances_best_of(int *chosen, const float *iou, int N, int M) {
    for (int i = 0; i < N; i++) {
        int b = 0;
        for (int k = 1; k < M; k++)
            if (iou[(int64_t)i * M + k] > iou[(int64_t)i * M + b]) b = k;
        chosen[i] = b;
    }
}

// ---- binarisation ----

void instances_binarize_ref(uint8_t *mask, const float *logits, int64_t HW, float thr) {
    for (int64_t p = 0; p < HW; p++) mask[p] = logits[p] > thr;
}

typedef struct bin_job {
    uint64_t *w;
    const float *x;
    int64_t HW;
    float thr;
} bin_job;

static void bin_words(void *arg, int64_t w0, int64_t w1, int thread) {
    bin_job *j = arg;
    __m256 t = _mm256_set1_ps(j->thr);
    for (int64_t w = w0; w < w1; w++) {
        int64_t p0 = w * 64;
        uint64_t bits = 0;
        if (p0 + 64 <= j->HW) {
            for (int k = 0; k < 8; k++) {
                __m256 gt = _mm256_cmp_ps(_mm256_loadu_ps(j->x + p0 + 8 * k), t, _CMP_GT_OQ);
                bits |= (uint64_t)(unsigned)_mm256_movemask_ps(gt) << (8 * k);
            }
        } else {
            for (int64_t p = p0; p < j->HW; p++)
                if (j->x[p] > j->thr) bits |= 1ull << (p - p0);
        }
        j->w[w] = bits;
    }
}

void instances_binarize_cpu(ug_ctx *ctx, inst_masks *m, int i, const float *logits, float thr) {
    bin_job j = {m->bits + (int64_t)i * m->words, logits, (int64_t)m->H * m->W, thr};
    ug_parallel_for(ctx ? ctx->pool : NULL, m->words, 2048, bin_words, &j);
    m->area[i] = popcount_words(j.w, m->words);
}

// ---- scores ----

void instances_scores_ref(float *scores, const uint8_t *masks, int n, int64_t HW, const float *u) {
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
    const inst_masks *m;
    const float *u;
    float *scores;
} score_job;

static void score_masks(void *arg, int64_t i0, int64_t i1, int thread) {
    score_job *j = arg;
    for (int64_t i = i0; i < i1; i++) {
        const uint64_t *w = j->m->bits + i * j->m->words;
        double s = 0;
        for (int64_t k = 0; k < j->m->words; k++)
            for (uint64_t b = w[k]; b; b &= b - 1) s += j->u[k * 64 + __builtin_ctzll(b)];
        j->scores[i] = j->m->area[i] ? (float)(s / (double)j->m->area[i]) : -1.0f;
    }
}

void instances_scores_cpu(ug_ctx *ctx, float *scores, const inst_masks *m, const float *u) {
    score_job j = {m, u, scores};
    ug_parallel_for(ctx ? ctx->pool : NULL, m->n, 1, score_masks, &j);
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
    for (int i = 0; i < n; i++) o[i] = (score_idx){scores[i], i};
    qsort(o, (size_t)n, sizeof *o, cmp_score_desc);
    return o;
}

int instances_nms_ref(int *keep, const uint8_t *masks, int n, int64_t HW, const float *scores, float iou_thr) {
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
    const inst_masks *m;
    const int64_t *lo, *hi; // [N] first / one past the last non-zero word
    const bool *removed;
    int i;
    int64_t *inter; // [N]
} nms_job;

static void nms_inter(void *arg, int64_t j0, int64_t j1, int thread) {
    nms_job *job = arg;
    const inst_masks *m = job->m;
    int i = job->i;
    const uint64_t *a = m->bits + (int64_t)i * m->words;
    for (int64_t j = j0; j < j1; j++) {
        job->inter[j] = 0;
        if (j == i || job->removed[j]) continue;
        int64_t lo = job->lo[i] > job->lo[j] ? job->lo[i] : job->lo[j];
        int64_t hi = job->hi[i] < job->hi[j] ? job->hi[i] : job->hi[j];
        const uint64_t *b = m->bits + j * m->words;
        int64_t c = 0;
        for (int64_t k = lo; k < hi; k++) c += __builtin_popcountll(a[k] & b[k]);
        job->inter[j] = c;
    }
}

int instances_nms_cpu(ug_ctx *ctx, int *keep, const inst_masks *m, const float *scores, float iou_thr) {
    int n = m->n, nk = 0;
    if (n == 0) return 0;
    score_idx *o = visit_order(scores, n);
    bool *removed = calloc((size_t)n, sizeof *removed);
    int64_t *lo = malloc((size_t)n * sizeof *lo), *hi = malloc((size_t)n * sizeof *hi);
    int64_t *inter = malloc((size_t)n * sizeof *inter);
    if (!o || !removed || !lo || !hi || !inter) abort(); // a few bytes per mask
    for (int i = 0; i < n; i++) { // word range that can hold set bits (empty: lo == hi)
        const uint64_t *w = m->bits + (int64_t)i * m->words;
        int64_t a = 0, b = m->words;
        while (a < b && !w[a]) a++;
        while (b > a && !w[b - 1]) b--;
        lo[i] = a;
        hi[i] = b;
    }
    nms_job job = {m, lo, hi, removed, 0, inter};
    for (int a = 0; a < n; a++) {
        int i = o[a].i;
        if (removed[i]) continue;
        job.i = i;
        ug_parallel_for(ctx ? ctx->pool : NULL, n, 4, nms_inter, &job);
        for (int j = 0; j < n; j++) {
            if (j == i || removed[j] || inter[j] == 0) continue;
            // tp + fp + fn = |m_i| + |m_j| - tp
            int64_t uni = m->area[i] + m->area[j] - inter[j];
            if ((float)inter[j] / (float)uni > iou_thr) removed[j] = true;
        }
    }
    for (int a = 0; a < n; a++)
        if (!removed[o[a].i]) keep[nk++] = o[a].i;
    free(o);
    free(removed);
    free(lo);
    free(hi);
    free(inter);
    return nk;
}

// ---- ignore filter and refined map ----

int instances_ignore_filter(int *out, const int *keep, int nkeep, const inst_masks *m,
                            const inst_masks *ignore, int64_t max_overlap, int64_t *inter) {
    int n = 0;
    for (int a = 0; a < nkeep; a++) {
        int64_t c = 0;
        if (ignore) {
            const uint64_t *x = m->bits + (int64_t)keep[a] * m->words;
            for (int64_t k = 0; k < m->words; k++) c += __builtin_popcountll(x[k] & ignore->bits[k]);
        }
        if (inter) inter[a] = c;
        if (!ignore || c < max_overlap) out[n++] = keep[a];
    }
    return n;
}

void instances_refined_ref(float *out, const uint8_t *masks, int64_t HW, const float *scores,
                           const int *keep, int nkeep, const float *u) {
    for (int64_t p = 0; p < HW; p++) {
        float r = 0.0f;
        for (int a = 0; a < nkeep; a++) r += scores[keep[a]] * (float)masks[(int64_t)keep[a] * HW + p];
        out[p] = (r == 0.0f ? -1.0f : r) + u[p];
    }
}

typedef struct refine_job {
    float *out;
    const inst_masks *m;
    const float *scores, *u;
    const int *keep;
    int nkeep;
} refine_job;

// Threaded over 64-pixel words: each pixel's sum runs over the kept masks in kept order.
static void refine_words(void *arg, int64_t w0, int64_t w1, int thread) {
    refine_job *j = arg;
    int64_t HW = (int64_t)j->m->H * j->m->W;
    int64_t p0 = w0 * 64, p1 = w1 * 64 < HW ? w1 * 64 : HW;
    for (int64_t p = p0; p < p1; p++) j->out[p] = 0.0f;
    for (int a = 0; a < j->nkeep; a++) {
        const uint64_t *w = j->m->bits + (int64_t)j->keep[a] * j->m->words;
        float s = j->scores[j->keep[a]];
        for (int64_t k = w0; k < w1; k++)
            for (uint64_t b = w[k]; b; b &= b - 1) j->out[k * 64 + __builtin_ctzll(b)] += s;
    }
    for (int64_t p = p0; p < p1; p++) j->out[p] = (j->out[p] == 0.0f ? -1.0f : j->out[p]) + j->u[p];
}

void instances_refined_cpu(ug_ctx *ctx, float *out, const inst_masks *m, const float *scores,
                           const int *keep, int nkeep, const float *u) {
    refine_job j = {out, m, scores, u, keep, nkeep};
    ug_parallel_for(ctx ? ctx->pool : NULL, m->words, 1024, refine_words, &j);
}

// ---- boxes and RLE ----

void instances_bbox(const inst_masks *m, int i, int bbox[4]) {
    int x0 = m->W, y0 = m->H, x1 = -1, y1 = -1;
    const uint64_t *w = m->bits + (int64_t)i * m->words;
    for (int64_t k = 0; k < m->words; k++)
        for (uint64_t b = w[k]; b; b &= b - 1) {
            int64_t p = k * 64 + __builtin_ctzll(b);
            int y = (int)(p / m->W), x = (int)(p % m->W);
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
    if (x1 < 0) {
        bbox[0] = bbox[1] = bbox[2] = bbox[3] = 0;
        return;
    }
    bbox[0] = x0;
    bbox[1] = y0;
    bbox[2] = x1 - x0 + 1;
    bbox[3] = y1 - y0 + 1;
}

char *instances_rle_string(const uint32_t *runs, int64_t nruns) {
    // Each count takes at most 7 characters of 5 bits (a 32-bit count, or a signed delta).
    char *s = malloc((size_t)nruns * 7 + 1);
    if (!s) return NULL;
    size_t p = 0;
    for (int64_t i = 0; i < nruns; i++) {
        // Counts after the second are stored as the difference to the count two back (same
        // colour), which is small for smooth shapes; 5-bit groups, low first, 0x20 = more
        // groups follow, offset by 48 into printable ASCII.
        int64_t x = runs[i];
        if (i > 2) x -= runs[i - 2];
        bool more = true;
        while (more) {
            int64_t c = x & 0x1f;
            x >>= 5; // arithmetic shift: a negative delta ends at -1 with the sign bit 0x10 set
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s[p++] = (char)(c + 48);
        }
    }
    s[p] = '\0';
    return s;
}

ug_status instances_rle(const inst_masks *m, int i, char **counts, ug_err *err) {
    *counts = NULL;
    int64_t HW = (int64_t)m->H * m->W, n = 0, cap = 64;
    uint32_t *runs = malloc((size_t)cap * sizeof *runs);
    if (!runs) return ug_errf(err, UG_ERR_NOMEM, "instance %d: RLE", i);
    bool cur = false; // runs start with background
    uint32_t len = 0;
    for (int x = 0; x < m->W; x++)
        for (int y = 0; y < m->H; y++) {
            bool v = inst_mask_get(m, i, (int64_t)y * m->W + x);
            if (v != cur) {
                if (n == cap) {
                    cap *= 2;
                    uint32_t *r = realloc(runs, (size_t)cap * sizeof *runs);
                    if (!r) {
                        free(runs);
                        return ug_errf(err, UG_ERR_NOMEM, "instance %d: RLE of %lld pixels", i, (long long)HW);
                    }
                    runs = r;
                }
                runs[n++] = len;
                len = 0;
                cur = v;
            }
            len++;
        }
    if (n == cap) {
        uint32_t *r = realloc(runs, (size_t)(cap + 1) * sizeof *runs);
        if (!r) {
            free(runs);
            return ug_errf(err, UG_ERR_NOMEM, "instance %d: RLE", i);
        }
        runs = r;
    }
    runs[n++] = len;
    *counts = instances_rle_string(runs, n);
    free(runs);
    if (!*counts) return ug_errf(err, UG_ERR_NOMEM, "instance %d: RLE string", i);
    return UG_OK;
}
