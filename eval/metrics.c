// eval/metrics.c — pixel-level pAP / AUROC / FPR95 and instance-level iAP / iAP50 (see
// metrics.h for the definitions, the memory bound and the pass protocol).
#include "eval/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NBUCKETS = 1 << 16 }; // top 16 bits of a score key

// ---------------------------------------------------------------------------------------------
// The curves, built one distinct score at a time from the highest down.
//
// Every distinct score v_k gives the point (FP_k, TP_k) = inliers / anomalies scoring >= v_k.
// sklearn's roc_curve(drop_intermediate=True) keeps the first and last point and an inner
// point k only if FP or TP has a non-zero second difference there (np.diff(x, 2) over the
// original points, not the kept ones), then prepends (0, 0). So a point is decided when its
// successor arrives: the accumulator keeps the last two original points.

typedef struct roc_pt {
    int64_t tp, fp;
    float score;
} roc_pt;

typedef struct curve {
    int64_t P, N;       // totals, known before the walk
    int64_t tp, fp;     // running counts
    int64_t npoints;    // original points seen
    roc_pt prev2, prev; // points k-2 and k-1
    double ap;          // sum of (recall step) * precision
    double auc, last_fpr, last_tpr;
    int64_t kept; // ROC points emitted, (0, 0) included
    bool found95;
    double fpr95, thr95;
} curve;

static void curve_init(curve *c, int64_t P, int64_t N) {
    memset(c, 0, sizeof *c);
    c->P = P;
    c->N = N;
    c->kept = 1; // (0, 0)
}

// A point that stays on the ROC curve: one more trapezoid, and the FPR95 test (the first kept
// point in order whose TPR is strictly above 0.95, no interpolation).
static void curve_emit(curve *c, roc_pt q) {
    double fpr = (double)q.fp / (double)c->N, tpr = (double)q.tp / (double)c->P;
    c->auc += (fpr - c->last_fpr) * (tpr + c->last_tpr) / 2.0;
    c->last_fpr = fpr;
    c->last_tpr = tpr;
    c->kept++;
    if (!c->found95 && tpr > 0.95) {
        c->found95 = true;
        c->fpr95 = fpr;
        c->thr95 = q.score;
    }
}

static void curve_point(curve *c, int64_t dtp, int64_t dfp, float score) {
    c->tp += dtp;
    c->fp += dfp;
    // average_precision_score: sum_k (R_k - R_(k-1)) * P_k, no interpolation.
    if (dtp) c->ap += ((double)dtp / (double)c->P) * ((double)c->tp / (double)(c->tp + c->fp));
    roc_pt q = {c->tp, c->fp, score};
    if (c->npoints == 0) {
        curve_emit(c, q); // the first point always stays
    } else if (c->npoints >= 2) {
        int64_t d2fp = q.fp - 2 * c->prev.fp + c->prev2.fp, d2tp = q.tp - 2 * c->prev.tp + c->prev2.tp;
        if (d2fp != 0 || d2tp != 0) curve_emit(c, c->prev);
    }
    c->prev2 = c->prev;
    c->prev = q;
    c->npoints++;
}

static void curve_finish(curve *c, ug_pixel_metrics *m) {
    if (c->npoints >= 2) curve_emit(c, c->prev); // the last point always stays
    m->num_pixels = c->P + c->N;
    m->positives = c->P;
    m->negatives = c->N;
    m->distinct_scores = c->npoints;
    m->roc_points = c->kept;
    // No anomaly pixel: recall (TPR) is 0/0. No inlier pixel: FPR is 0/0.
    m->ap = c->P > 0 ? c->ap : NAN;
    bool roc_ok = c->P > 0 && c->N > 0;
    m->auroc = roc_ok ? c->auc : NAN;
    m->fpr95 = roc_ok && c->found95 ? c->fpr95 : NAN;
    m->fpr95_threshold = roc_ok && c->found95 ? c->thr95 : NAN;
}

// ---------------------------------------------------------------------------------------------
// Keys: LSD radix sort of uint32 in 8-bit digits; a digit that is equal in every key is
// skipped (the top bytes of a band usually are).

static void radix_sort_u32(uint32_t *a, uint32_t *tmp, int64_t n) {
    uint32_t *src = a, *dst = tmp;
    for (int shift = 0; shift < 32; shift += 8) {
        int64_t cnt[256] = {0};
        for (int64_t i = 0; i < n; i++)
            cnt[(src[i] >> shift) & 255]++;
        if (n == 0 || cnt[(src[0] >> shift) & 255] == n) continue;
        int64_t sum = 0;
        for (int d = 0; d < 256; d++) {
            int64_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < n; i++)
            dst[cnt[(src[i] >> shift) & 255]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

// Walks two ascending key arrays from the top: one curve point per distinct key.
static void walk_sorted(curve *c, const uint32_t *pos, int64_t npos, const uint32_t *neg, int64_t nneg) {
    int64_t i = npos - 1, j = nneg - 1;
    while (i >= 0 || j >= 0) {
        uint32_t k = i < 0 ? neg[j] : j < 0 ? pos[i] : (pos[i] > neg[j] ? pos[i] : neg[j]);
        int64_t dtp = 0, dfp = 0;
        while (i >= 0 && pos[i] == k)
            i--, dtp++;
        while (j >= 0 && neg[j] == k)
            j--, dfp++;
        curve_point(c, dtp, dfp, ug_score_from_key(k));
    }
}

// ---------------------------------------------------------------------------------------------
// The pass machine.

struct ug_pixel_eval {
    int64_t cap_keys; // keys a sparse band may hold (budget / 8: key + radix scratch)
    int pass;         // the open pass, -1 before the first
    bool done;
    uint64_t *hist; // [NBUCKETS][2]: inlier, anomaly counts per top-16-bit bucket
    int64_t P, N;   // pass 0 totals
    // pass 0: speculative collection while it fits
    bool spec_ok;
    uint32_t *spec[2];
    int64_t spec_n[2], spec_cap[2];
    // pass >= 1: the band of buckets [lo, hi]
    int lo, hi, next; // next: highest bucket not yet walked (-1 when all are)
    bool dense;
    uint32_t *keys[2]; // sparse: [want[l]] keys of label l
    int64_t nkeys[2], want[2];
    uint64_t *cnt; // dense: [65536][2] counts over the low 16 bits
    curve c;
    ug_pixel_metrics result;
};

ug_status ug_pixel_eval_new(ug_pixel_eval **out, size_t budget, ug_err *err) {
    *out = NULL;
    ug_pixel_eval *pe = calloc(1, sizeof *pe);
    if (!pe) return ug_errf(err, UG_ERR_NOMEM, "pixel metrics: out of memory");
    if (budget < ((size_t)1 << 20)) budget = (size_t)1 << 20;
    pe->cap_keys = (int64_t)(budget / 8);
    pe->pass = -1;
    *out = pe;
    return UG_OK;
}

static void free_band(ug_pixel_eval *pe) {
    for (int l = 0; l < 2; l++) {
        free(pe->keys[l]);
        pe->keys[l] = NULL;
        pe->nkeys[l] = pe->want[l] = 0;
    }
    free(pe->cnt);
    pe->cnt = NULL;
}

static void free_spec(ug_pixel_eval *pe) {
    for (int l = 0; l < 2; l++) {
        free(pe->spec[l]);
        pe->spec[l] = NULL;
        pe->spec_n[l] = pe->spec_cap[l] = 0;
    }
}

void ug_pixel_eval_free(ug_pixel_eval *pe) {
    if (!pe) return;
    free(pe->hist);
    free_spec(pe);
    free_band(pe);
    free(pe);
}

int ug_pixel_eval_pass(const ug_pixel_eval *pe) {
    return pe->pass;
}

static int64_t bucket_total(const ug_pixel_eval *pe, int b) {
    return (int64_t)(pe->hist[2 * b] + pe->hist[2 * b + 1]);
}

// Sorts two key arrays with one scratch buffer of the larger size and walks them.
static ug_status sort_and_walk(ug_pixel_eval *pe, uint32_t *pos, int64_t npos, uint32_t *neg, int64_t nneg,
                               ug_err *err) {
    int64_t m = npos > nneg ? npos : nneg;
    uint32_t *tmp = malloc((size_t)(m ? m : 1) * sizeof *tmp);
    if (!tmp)
        return ug_errf(err, UG_ERR_NOMEM, "pixel metrics: out of memory sorting %lld scores", (long long)m);
    radix_sort_u32(pos, tmp, npos);
    radix_sort_u32(neg, tmp, nneg);
    free(tmp);
    walk_sorted(&pe->c, pos, npos, neg, nneg);
    return UG_OK;
}

// Plans the next band from pe->next down and allocates its storage; false when none is left.
static ug_status plan_band(ug_pixel_eval *pe, bool *any, ug_err *err) {
    *any = false;
    while (pe->next >= 0 && bucket_total(pe, pe->next) == 0)
        pe->next--;
    if (pe->next < 0) return UG_OK;
    int hi = pe->next, lo = hi;
    int64_t total = bucket_total(pe, hi);
    pe->dense = total > pe->cap_keys;
    if (!pe->dense)
        while (lo > 0 && total + bucket_total(pe, lo - 1) <= pe->cap_keys)
            total += bucket_total(pe, --lo);
    pe->lo = lo;
    pe->hi = hi;
    pe->next = lo - 1;
    if (pe->dense) {
        pe->cnt = calloc((size_t)NBUCKETS * 2, sizeof *pe->cnt);
        if (!pe->cnt) return ug_errf(err, UG_ERR_NOMEM, "pixel metrics: out of memory");
    } else {
        for (int l = 0; l < 2; l++) {
            int64_t w = 0;
            for (int b = lo; b <= hi; b++)
                w += (int64_t)pe->hist[2 * b + l];
            pe->want[l] = w;
            pe->keys[l] = malloc((size_t)(w ? w : 1) * sizeof(uint32_t));
            if (!pe->keys[l])
                return ug_errf(err, UG_ERR_NOMEM, "pixel metrics: out of memory for %lld scores",
                               (long long)w);
        }
    }
    *any = true;
    return UG_OK;
}

// Walks the band collected in the pass that just ended.
static ug_status close_band(ug_pixel_eval *pe, ug_err *err) {
    if (pe->dense) {
        int64_t seen = 0;
        for (int k = 0; k < 2 * NBUCKETS; k++)
            seen += (int64_t)pe->cnt[k];
        if (seen != bucket_total(pe, pe->hi))
            return ug_errf(err, UG_ERR_ARG,
                           "pixel metrics: pass %d saw %lld pixels of a score band, pass 0 saw %lld "
                           "(the images changed between passes)",
                           pe->pass, (long long)seen, (long long)bucket_total(pe, pe->hi));
        for (int low = NBUCKETS - 1; low >= 0; low--) {
            uint64_t fp = pe->cnt[2 * low], tp = pe->cnt[2 * low + 1];
            if (fp | tp)
                curve_point(&pe->c, (int64_t)tp, (int64_t)fp,
                            ug_score_from_key(((uint32_t)pe->hi << 16) | (uint32_t)low));
        }
    } else {
        if (pe->nkeys[0] != pe->want[0] || pe->nkeys[1] != pe->want[1])
            return ug_errf(err, UG_ERR_ARG,
                           "pixel metrics: pass %d saw %lld pixels of a score band, pass 0 saw %lld "
                           "(the images changed between passes)",
                           pe->pass, (long long)(pe->nkeys[0] + pe->nkeys[1]),
                           (long long)(pe->want[0] + pe->want[1]));
        ug_status st = sort_and_walk(pe, pe->keys[1], pe->nkeys[1], pe->keys[0], pe->nkeys[0], err);
        if (st) return st;
    }
    free_band(pe);
    return UG_OK;
}

static void finish(ug_pixel_eval *pe) {
    curve_finish(&pe->c, &pe->result);
    pe->done = true;
}

ug_status ug_pixel_eval_begin_pass(ug_pixel_eval *pe, bool *more, ug_err *err) {
    *more = false;
    if (pe->done) return UG_OK;
    if (pe->pass < 0) {
        pe->hist = calloc((size_t)NBUCKETS * 2, sizeof *pe->hist);
        if (!pe->hist) return ug_errf(err, UG_ERR_NOMEM, "pixel metrics: out of memory");
        pe->spec_ok = true;
        pe->pass = 0;
        *more = true;
        return UG_OK;
    }
    ug_status st;
    if (pe->pass == 0) {
        pe->N = pe->P = 0;
        for (int b = 0; b < NBUCKETS; b++) {
            pe->N += (int64_t)pe->hist[2 * b];
            pe->P += (int64_t)pe->hist[2 * b + 1];
        }
        curve_init(&pe->c, pe->P, pe->N);
        if (pe->spec_ok) {
            st = sort_and_walk(pe, pe->spec[1], pe->spec_n[1], pe->spec[0], pe->spec_n[0], err);
            free_spec(pe);
            if (st) return st;
            finish(pe);
            return UG_OK;
        }
        free_spec(pe);
        pe->next = NBUCKETS - 1;
    } else {
        st = close_band(pe, err);
        if (st) return st;
    }
    bool any;
    st = plan_band(pe, &any, err);
    if (st) return st;
    if (!any) {
        finish(pe);
        return UG_OK;
    }
    pe->pass++;
    *more = true;
    return UG_OK;
}

// Appends a key to the speculative array of label l; gives up (frees everything) when the
// budget would be exceeded: the bands of the later passes then take over.
static bool spec_push(ug_pixel_eval *pe, int l, uint32_t key) {
    if (pe->spec_n[l] == pe->spec_cap[l]) {
        int64_t room = pe->cap_keys - pe->spec_cap[0] - pe->spec_cap[1];
        if (room <= 0) return false;
        int64_t grow = pe->spec_cap[l] ? pe->spec_cap[l] : 4096;
        if (grow > room) grow = room;
        uint32_t *p = realloc(pe->spec[l], (size_t)(pe->spec_cap[l] + grow) * sizeof *p);
        if (!p) return false;
        pe->spec[l] = p;
        pe->spec_cap[l] += grow;
    }
    pe->spec[l][pe->spec_n[l]++] = key;
    return true;
}

ug_status ug_pixel_eval_add(ug_pixel_eval *pe, const float *scores, const uint8_t *labels, int64_t n,
                            const char *name, ug_err *err) {
    if (pe->pass < 0 || pe->done)
        return ug_errf(err, UG_ERR_ARG, "pixel metrics: %s added outside a pass", name);
    for (int64_t i = 0; i < n; i++) {
        uint8_t y = labels[i];
        if (y == UG_LABEL_IGNORE) continue;
        if (y > 1)
            return ug_errf(err, UG_ERR_ARG,
                           "%s: label %u at pixel %lld (expected 0 inlier, 1 anomaly or 255 ignore)", name, y,
                           (long long)i);
        if (isnan(scores[i]))
            return ug_errf(err, UG_ERR_ARG, "%s: score NaN at pixel %lld", name, (long long)i);
        uint32_t key = ug_score_key(scores[i]);
        int b = (int)(key >> 16);
        if (pe->pass == 0) {
            pe->hist[2 * b + y]++;
            if (pe->spec_ok && !spec_push(pe, y, key)) {
                pe->spec_ok = false;
                free_spec(pe);
            }
        } else if (b >= pe->lo && b <= pe->hi) {
            if (pe->dense) {
                pe->cnt[2 * (key & 0xffffu) + y]++;
            } else {
                if (pe->nkeys[y] == pe->want[y])
                    return ug_errf(err, UG_ERR_ARG,
                                   "%s: more pixels in a score band than in pass 0 "
                                   "(the images changed between passes)",
                                   name);
                pe->keys[y][pe->nkeys[y]++] = key;
            }
        }
    }
    return UG_OK;
}

void ug_pixel_eval_result(const ug_pixel_eval *pe, ug_pixel_metrics *out) {
    *out = pe->result;
}

ug_status ug_pixel_metrics_compute(const float *scores, const uint8_t *labels, int64_t n, size_t budget,
                                   ug_pixel_metrics *out, ug_err *err) {
    ug_pixel_eval *pe;
    ug_status st = ug_pixel_eval_new(&pe, budget, err);
    if (st) return st;
    for (;;) {
        bool more;
        if ((st = ug_pixel_eval_begin_pass(pe, &more, err))) break;
        if (!more) break;
        if ((st = ug_pixel_eval_add(pe, scores, labels, n, "scores", err))) break;
    }
    if (!st) ug_pixel_eval_result(pe, out);
    ug_pixel_eval_free(pe);
    return st;
}

// ---------------------------------------------------------------------------------------------
// Reference: the sklearn code paths written out on whole arrays.

typedef struct pair {
    float s;
    uint8_t y;
} pair;

static int pair_desc(const void *a, const void *b) {
    float x = ((const pair *)a)->s, y = ((const pair *)b)->s;
    return x > y ? -1 : x < y ? 1 : 0;
}

ug_status ug_pixel_metrics_ref(const float *scores, const uint8_t *labels, int64_t n, ug_pixel_metrics *out,
                               ug_err *err) {
    ug_status st = UG_OK;
    pair *pr = malloc((size_t)(n ? n : 1) * sizeof *pr);
    int64_t *tps = malloc((size_t)(n ? n : 1) * sizeof *tps),
            *fps = malloc((size_t)(n ? n : 1) * sizeof *fps);
    float *thr = malloc((size_t)(n ? n : 1) * sizeof *thr);
    int64_t *keep = malloc((size_t)(n ? n : 1) * sizeof *keep);
    if (!pr || !tps || !fps || !thr || !keep) {
        st = ug_errf(err, UG_ERR_NOMEM, "pixel metrics ref: out of memory");
        goto done;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] == UG_LABEL_IGNORE) continue;
        if (labels[i] > 1 || isnan(scores[i])) {
            st = ug_errf(err, UG_ERR_ARG, "pixel metrics ref: bad label or NaN score at %lld", (long long)i);
            goto done;
        }
        pr[m++] = (pair){scores[i], labels[i]};
    }
    qsort(pr, (size_t)m, sizeof *pr, pair_desc);
    // _binary_clf_curve: cumulative counts at the last index of every distinct score.
    int64_t k = 0, tp = 0, fp = 0;
    for (int64_t i = 0; i < m; i++) {
        tp += pr[i].y;
        fp += 1 - pr[i].y;
        if (i == m - 1 || pr[i + 1].s != pr[i].s) {
            tps[k] = tp;
            fps[k] = fp;
            thr[k] = pr[i].s;
            k++;
        }
    }
    int64_t P = tp, N = fp;
    memset(out, 0, sizeof *out);
    out->num_pixels = m;
    out->positives = P;
    out->negatives = N;
    out->distinct_scores = k;
    // AP = sum (R_k - R_(k-1)) P_k.
    double ap = 0, rprev = 0;
    for (int64_t i = 0; i < k; i++) {
        double r = (double)tps[i] / (double)P, p = (double)tps[i] / (double)(tps[i] + fps[i]);
        ap += (r - rprev) * p;
        rprev = r;
    }
    out->ap = P > 0 ? ap : NAN;
    // roc_curve: optimal_idxs = where(r_[True, diff(fps, 2) | diff(tps, 2), True]) if len > 2.
    int64_t nk = 0;
    for (int64_t i = 0; i < k; i++) {
        bool inner = i > 0 && i < k - 1 && k > 2;
        if (!inner || fps[i + 1] - 2 * fps[i] + fps[i - 1] != 0 || tps[i + 1] - 2 * tps[i] + tps[i - 1] != 0)
            keep[nk++] = i;
    }
    out->roc_points = nk + 1;
    double auc = 0, fx = 0, fy = 0, fpr95 = NAN, thr95 = NAN;
    for (int64_t j = 0; j < nk; j++) {
        double x = (double)fps[keep[j]] / (double)N, y = (double)tps[keep[j]] / (double)P;
        auc += (x - fx) * (y + fy) / 2.0;
        fx = x;
        fy = y;
        if (isnan(fpr95) && y > 0.95) {
            fpr95 = x;
            thr95 = thr[keep[j]];
        }
    }
    bool roc_ok = P > 0 && N > 0;
    out->auroc = roc_ok ? auc : NAN;
    out->fpr95 = roc_ok ? fpr95 : NAN;
    out->fpr95_threshold = roc_ok ? thr95 : NAN;
done:
    free(pr);
    free(tps);
    free(fps);
    free(thr);
    free(keep);
    return st;
}

// ---------------------------------------------------------------------------------------------
// Instance level.
//
// Per image we keep what evaluateMatches needs: the class-26 GT regions (instances v >= 1000
// and the group v == 26) with their sizes, and per non-empty prediction its score, pixel
// count, void pixels and overlap with every region it touches.

typedef struct inst_region {
    int32_t id;    // 26 (group) or 26000 + k
    int64_t count; // pixels
} inst_region;

typedef struct inst_pred {
    double score;
    int64_t n, void_px;
    int64_t ov0, nov; // its overlaps: ovs[ov0 .. ov0 + nov)
} inst_pred;

typedef struct inst_ov {
    int64_t region; // index into regions
    int64_t inter;
} inst_ov;

enum { GROUP_SLOT = 1000, NSLOTS = 1001 }; // slots 0..999: 26000 + k; 1000: the group 26

typedef struct inst_image {
    int64_t r0, nr; // regions
    int64_t p0, np; // non-empty predictions
} inst_image;

struct ug_inst_eval {
    inst_region *regions;
    inst_pred *preds;
    inst_ov *ovs;
    inst_image *images;
    int64_t nregions, npreds, novs, nimages;
    int64_t cregions, cpreds, covs, cimages;
    int64_t num_pred; // including empty masks
    // the open image
    int16_t *code; // [HW] slot of a class-26 region, -2 void, -1 anything else
    int64_t HW, ccode;
    int64_t *region_of, *inter; // [NSLOTS]
    char name[256];
};

// Cityscapes labels with ignoreInEval (cityscapesscripts/helpers/labels.py): void for the
// instance evaluation.
static bool cs_void(int32_t id) {
    switch (id) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 9:
    case 10:
    case 14:
    case 15:
    case 16:
    case 18:
    case 29:
    case 30: return true;
    default: return false;
    }
}

ug_status ug_inst_eval_new(ug_inst_eval **out, ug_err *err) {
    ug_inst_eval *ev = calloc(1, sizeof *ev);
    if (ev) {
        ev->region_of = malloc(NSLOTS * sizeof *ev->region_of);
        ev->inter = malloc(NSLOTS * sizeof *ev->inter);
    }
    if (!ev || !ev->region_of || !ev->inter) {
        ug_inst_eval_free(ev);
        *out = NULL;
        return ug_errf(err, UG_ERR_NOMEM, "instance metrics: out of memory");
    }
    *out = ev;
    return UG_OK;
}

void ug_inst_eval_free(ug_inst_eval *ev) {
    if (!ev) return;
    free(ev->regions);
    free(ev->preds);
    free(ev->ovs);
    free(ev->images);
    free(ev->code);
    free(ev->region_of);
    free(ev->inter);
    free(ev);
}

// Grows *p (elements of size sz) to hold at least need; false on allocation failure.
static bool grow(void **p, int64_t *cap, int64_t need, size_t sz) {
    if (need <= *cap) return true;
    int64_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * sz);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

ug_status ug_inst_eval_image(ug_inst_eval *ev, const int32_t *ids, int64_t HW, const char *name,
                             ug_err *err) {
    snprintf(ev->name, sizeof ev->name, "%s", name);
    if (!grow((void **)&ev->code, &ev->ccode, HW ? HW : 1, sizeof *ev->code) ||
        !grow((void **)&ev->images, &ev->cimages, ev->nimages + 1, sizeof *ev->images))
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
    int64_t count[NSLOTS] = {0};
    for (int64_t p = 0; p < HW; p++) {
        int32_t v = ids[p];
        int32_t label = v < 1000 ? v : v / 1000;
        if (v < 0 || label > 33)
            return ug_errf(err, UG_ERR_FORMAT,
                           "%s: instance id %d at pixel %lld is not a Cityscapes label id "
                           "(0..33, or label * 1000 + k)",
                           name, v, (long long)p);
        int16_t c = -1;
        if (v == UG_IAP_CLASS)
            c = GROUP_SLOT;
        else if (label == UG_IAP_CLASS && v >= 1000)
            c = (int16_t)(v - UG_IAP_CLASS * 1000);
        else if (v < 1000 && cs_void(v))
            c = -2;
        ev->code[p] = c;
        if (c >= 0) count[c]++;
    }
    inst_image im = {.r0 = ev->nregions, .p0 = ev->npreds};
    for (int s = 0; s < NSLOTS; s++) {
        ev->region_of[s] = -1;
        if (!count[s]) continue;
        if (!grow((void **)&ev->regions, &ev->cregions, ev->nregions + 1, sizeof *ev->regions))
            return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
        ev->region_of[s] = ev->nregions;
        ev->regions[ev->nregions++] =
            (inst_region){s == GROUP_SLOT ? UG_IAP_CLASS : UG_IAP_CLASS * 1000 + s, count[s]};
    }
    im.nr = ev->nregions - im.r0;
    ev->images[ev->nimages++] = im;
    ev->HW = HW;
    return UG_OK;
}

ug_status ug_inst_eval_pred(ug_inst_eval *ev, const uint8_t *mask, double score, ug_err *err) {
    if (!ev->nimages) return ug_errf(err, UG_ERR_ARG, "instance metrics: a prediction before any image");
    ev->num_pred++;
    int64_t n = 0, vd = 0;
    memset(ev->inter, 0, NSLOTS * sizeof *ev->inter);
    for (int64_t p = 0; p < ev->HW; p++) {
        if (!mask[p]) continue;
        n++;
        int16_t c = ev->code[p];
        if (c >= 0)
            ev->inter[c]++;
        else if (c == -2)
            vd++;
    }
    if (!n) return UG_OK; // an empty mask is skipped entirely, as cityscapesScripts does
    int64_t nov = 0;
    for (int s = 0; s < NSLOTS; s++)
        nov += ev->inter[s] != 0;
    if (!grow((void **)&ev->preds, &ev->cpreds, ev->npreds + 1, sizeof *ev->preds) ||
        !grow((void **)&ev->ovs, &ev->covs, ev->novs + nov, sizeof *ev->ovs))
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", ev->name);
    inst_pred pr = {.score = score, .n = n, .void_px = vd, .ov0 = ev->novs, .nov = nov};
    for (int s = 0; s < NSLOTS; s++)
        if (ev->inter[s]) ev->ovs[ev->novs++] = (inst_ov){ev->region_of[s], ev->inter[s]};
    ev->preds[ev->npreds++] = pr;
    ev->images[ev->nimages - 1].np++;
    return UG_OK;
}

double ug_iap_threshold(int i) {
    // numpy's arange fills start + i * delta with delta = (start + step) - start, which is
    // 0.050000000000000044 here, not 0.05.
    double delta = (0.5 + 0.05) - 0.5;
    return 0.5 + (double)i * delta;
}

typedef struct ys_pair {
    double s;
    uint8_t y;
} ys_pair;

static int ys_asc(const void *a, const void *b) {
    double x = ((const ys_pair *)a)->s, y = ((const ys_pair *)b)->s;
    return x < y ? -1 : x > y ? 1 : 0;
}

double ug_iap_curve(const uint8_t *y, const double *score, int64_t n, int64_t hard_fn, bool have_gt,
                    bool have_pred) {
    if (!have_gt) return NAN;
    if (!have_pred || n == 0) return 0.0; // no pair at all: nothing found (the Python code raises)
    ys_pair *a = malloc((size_t)n * sizeof *a);
    if (!a) // a few pairs per prediction: not worth a failure path in a metric
        ug_nomem_fatal("out of memory for %lld instance pairs", (long long)n);
    int64_t total_true = 0;
    for (int64_t i = 0; i < n; i++) {
        a[i] = (ys_pair){score[i], y[i]};
        total_true += y[i];
    }
    qsort(a, (size_t)n, sizeof *a, ys_asc);
    // Points at every distinct score, ascending, then the artificial (p, r) = (1, 0); the AP
    // is sum_k p_k * (r_(k-1) - r_(k+1)) / 2 with r_(-1) = r_0 and r past the end = 0.
    double ap = 0, r_before = NAN, p_cur = 0, r_cur = 0;
    bool have_cur = false;
    int64_t below_true = 0; // y = 1 with a lower score
    for (int64_t i = 0; i < n;) {
        int64_t j = i, grp_true = 0;
        while (j < n && a[j].s == a[i].s)
            grp_true += a[j++].y;
        int64_t tp = total_true - below_true, fp = n - i - tp, fn = below_true + hard_fn;
        double p = (double)tp / (double)(tp + fp), r = (double)tp / (double)(tp + fn);
        if (have_cur) {
            ap += p_cur * (r_before - r) / 2.0;
            r_before = r_cur;
        } else {
            r_before = r; // r_(-1) = r_0
        }
        p_cur = p;
        r_cur = r;
        have_cur = true;
        below_true += grp_true;
        i = j;
    }
    // The last real point, followed by the artificial (1, 0), followed by r = 0.
    ap += p_cur * (r_before - 0.0) / 2.0;
    ap += 1.0 * (r_cur - 0.0) / 2.0;
    free(a);
    return ap;
}

void ug_inst_eval_result(const ug_inst_eval *ev, ug_inst_metrics *out) {
    memset(out, 0, sizeof *out);
    out->num_images = ev->nimages;
    out->num_pred = ev->num_pred;
    out->num_pred_nonempty = ev->npreds;
    for (int64_t r = 0; r < ev->nregions; r++) {
        if (ev->regions[r].id >= 1000) out->num_gt_any_size++;
        if (ev->regions[r].id >= 1000 && ev->regions[r].count >= UG_IAP_MIN_REGION) out->num_instances++;
    }
    // At most one pair per evaluated GT instance plus one per prediction.
    int64_t cap = out->num_instances + ev->npreds + 1;
    uint8_t *y = malloc((size_t)cap);
    double *s = malloc((size_t)cap * sizeof *s);
    if (!y || !s) ug_nomem_fatal("out of memory for %lld instance pairs", (long long)cap);
    bool have_gt = out->num_instances > 0, have_pred = ev->npreds > 0;
    double sum = 0;
    for (int t = 0; t < UG_IAP_THRESHOLDS; t++) {
        double th = ug_iap_threshold(t);
        int64_t n = 0, hard_fn = 0;
        for (int64_t im = 0; im < ev->nimages; im++) {
            const inst_image *img = &ev->images[im];
            // 1. Every evaluated GT instance: the best match above the threshold is the TP,
            //    every further match a FP with its own (lower) score.
            for (int64_t r = img->r0; r < img->r0 + img->nr; r++) {
                const inst_region *g = &ev->regions[r];
                if (g->id < 1000 || g->count < UG_IAP_MIN_REGION) continue;
                bool matched = false;
                double best = 0;
                for (int64_t p = img->p0; p < img->p0 + img->np; p++) {
                    const inst_pred *pr = &ev->preds[p];
                    for (int64_t o = pr->ov0; o < pr->ov0 + pr->nov; o++) {
                        if (ev->ovs[o].region != r) continue;
                        double iou = (double)ev->ovs[o].inter / (double)(g->count + pr->n - ev->ovs[o].inter);
                        if (!(iou > th)) continue;
                        if (matched) {
                            y[n] = 0;
                            s[n++] = best < pr->score ? best : pr->score;
                            if (pr->score > best) best = pr->score;
                        } else {
                            matched = true;
                            best = pr->score;
                        }
                    }
                }
                if (matched) {
                    y[n] = 1;
                    s[n++] = best;
                } else {
                    hard_fn++;
                }
            }
            // 2. Predictions matching no class-26 region at all: a FP unless mostly ignored
            //    (void, groups, and instances below the minimum size; a small group twice).
            for (int64_t p = img->p0; p < img->p0 + img->np; p++) {
                const inst_pred *pr = &ev->preds[p];
                bool found = false;
                int64_t ignored = pr->void_px;
                for (int64_t o = pr->ov0; o < pr->ov0 + pr->nov; o++) {
                    const inst_region *g = &ev->regions[ev->ovs[o].region];
                    double iou = (double)ev->ovs[o].inter / (double)(g->count + pr->n - ev->ovs[o].inter);
                    if (iou > th) found = true;
                    if (g->id < 1000) ignored += ev->ovs[o].inter;
                    if (g->count < UG_IAP_MIN_REGION) ignored += ev->ovs[o].inter;
                }
                if (found) continue;
                if ((double)ignored / (double)pr->n <= th) {
                    y[n] = 0;
                    s[n++] = pr->score;
                }
            }
        }
        out->ap[t] = ug_iap_curve(y, s, n, hard_fn, have_gt, have_pred);
        sum += out->ap[t];
    }
    out->iap = have_gt ? sum / UG_IAP_THRESHOLDS : NAN;
    out->iap50 = out->ap[0];
    free(y);
    free(s);
}
