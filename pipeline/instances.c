// pipeline/instances.c — best-of-M, the ignore filter, boxes and COCO RLE of UGainS instances
// (rules in instances.h), on the host form of the masks.
#include "pipeline/instances.h"

#include <stdlib.h>
#include <string.h>

#include "ops/masks.h"

ug_status instances_masks_adopt(inst_masks *m, int H, int W, ug_tensor *bits, ug_tensor *area, ug_err *err) {
    memset(m, 0, sizeof *m);
    int64_t words = masks_words((int64_t)H * W);
    if (bits->device != UG_CPU || area->device != UG_CPU || bits->dtype != UG_I64 || area->dtype != UG_I64 ||
        bits->ndim != 2 || bits->shape[1] != words || area->ndim != 1 || area->shape[0] != bits->shape[0] ||
        !ug_tensor_is_contiguous(bits) || !ug_tensor_is_contiguous(area))
        return ug_errf(err, UG_ERR_ARG, "instances: packed masks of %dx%d must be host I64 [N, %lld] and [N]",
                       H, W, (long long)words);
    m->n = (int)bits->shape[0];
    m->H = H;
    m->W = W;
    m->words = words;
    m->bits_t = *bits;
    m->area_t = *area;
    m->bits = m->bits_t.data;
    m->area = m->area_t.data;
    memset(bits, 0, sizeof *bits);
    memset(area, 0, sizeof *area);
    return UG_OK;
}

void instances_masks_free(inst_masks *m) {
    ug_tensor_free(&m->bits_t);
    ug_tensor_free(&m->area_t);
    memset(m, 0, sizeof *m);
}

void instances_best_of(int *chosen, const float *iou, int N, int M) {
    for (int i = 0; i < N; i++) {
        int b = 0;
        for (int k = 1; k < M; k++)
            if (iou[(int64_t)i * M + k] > iou[(int64_t)i * M + b]) b = k;
        chosen[i] = b;
    }
}

int instances_ignore_filter(int *out, const int *keep, int nkeep, const int64_t *inter, int64_t max_overlap) {
    int n = 0;
    for (int a = 0; a < nkeep; a++)
        if (!inter || inter[a] < max_overlap) out[n++] = keep[a];
    return n;
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
                        return ug_errf(err, UG_ERR_NOMEM, "instance %d: RLE of %lld pixels", i,
                                       (long long)HW);
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
