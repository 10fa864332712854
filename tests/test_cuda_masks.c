// tests/test_cuda_masks.c — the packed-mask entries of ops/cuda/masks.cu against the _ref
// functions of ops/masks.h under every emulator schedule (built only with make CUDA=emu / CUDA=1).
//   masks_binarize: N = 1, 3, 17 masks of HW = 1, 51, 64, 4191 pixels (a word boundary, not a
//                   multiple of 64), F32 with values at thr and NaN, U8 with thr 0 and 127.5, a
//                   strided F32 view; area NULL or not.
//   masks_scores:   random rectangles (empty masks included) over the same sizes.
//   masks_nms:      N = 1, 3, 17, 50 rectangles with duplicates (IoU 1), equal scores (the
//                   stable order), empty masks, nested masks, thresholds 0, 0.5 and 0.9; N = 0.
//   masks_overlap:  an index list with repeats against one mask.
//   masks_refined:  kept lists of 0, 1, some and 300 masks (more than one 256-entry part).
// Tolerance: binarisation, areas, NMS, overlaps: exact (integers and bits). Scores: 1 ulp
// (rtol 1.2e-7) against the reference's sequential double sum (ours sums in a fixed tree, then
// the same single rounding). Refined map: exact, the sums are the CPU's additions in kept order.
// Every output bit-identical across schedules.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/masks.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

// bits [n, words] of U8 masks [n, HW]; area [n] (may be NULL).
static void pack(uint64_t *bits, int64_t *area, const uint8_t *m, int n, int64_t HW) {
    int64_t words = masks_words(HW);
    memset(bits, 0, (size_t)(n * words) * sizeof *bits);
    for (int i = 0; i < n; i++) {
        int64_t c = 0;
        for (int64_t p = 0; p < HW; p++)
            if (m[i * HW + p]) {
                bits[i * words + p / 64] |= 1ull << (p % 64);
                c++;
            }
        if (area) area[i] = c;
    }
}

// n masks [n, H * W]: mask i a random rectangle (empty when i % 7 == 6); every 5th a copy of
// the previous one.
static uint8_t *rect_masks(int n, int64_t H, int64_t W, uint64_t seed) {
    uint8_t *m = calloc((size_t)(n * H * W) + 1, 1);
    test_rng r = test_rng_seed(seed);
    for (int i = 0; i < n; i++) {
        if (i % 5 == 4) {
            memcpy(m + i * H * W, m + (i - 1) * H * W, (size_t)(H * W));
            continue;
        }
        if (i % 7 == 6) continue;
        int64_t y0 = (int64_t)(test_rng_u64(&r) % (uint64_t)H),
                x0 = (int64_t)(test_rng_u64(&r) % (uint64_t)W);
        int64_t y1 = y0 + 1 + (int64_t)(test_rng_u64(&r) % (uint64_t)(H - y0));
        int64_t x1 = x0 + 1 + (int64_t)(test_rng_u64(&r) % (uint64_t)(W - x0));
        for (int64_t y = y0; y < y1; y++)
            for (int64_t x = x0; x < x1; x++)
                m[i * H * W + y * W + x] = 1;
    }
    return m;
}

// ---- binarisation ----

// x [n, H, W]: F32 normal values, every 13th exactly thr and every 29th NaN; or U8 values
// 0..255 (u8). strided: F32 x passes as the even columns of [n, H, 2W].
static void bin_case(int n, int64_t H, int64_t W, float thr, bool u8, bool strided, bool with_area,
                     uint64_t seed) {
    int64_t HW = H * W, words = masks_words(HW), S = strided ? 2 : 1;
    float *xf = malloc((size_t)(n * HW * S) * sizeof *xf), *xc = malloc((size_t)(n * HW) * sizeof *xc);
    uint8_t *xu = malloc((size_t)(n * HW)), *m = malloc((size_t)(n * HW));
    test_fill_normal(xf, (size_t)(n * HW * S), 1.0f, seed);
    test_rng r = test_rng_seed(seed + 1);
    for (int64_t e = 0; e < n * HW; e++) {
        float v = xf[e * S];
        if (e % 13 == 2) v = thr;
        if (e % 29 == 3) v = NAN;
        xf[e * S] = xc[e] = v;
        xu[e] = (uint8_t)(test_rng_u64(&r) % 4 ? 0 : test_rng_u64(&r) % 256);
        if (u8) xc[e] = xu[e];
    }
    for (int i = 0; i < n; i++)
        masks_binarize_ref(m + i * HW, xc + i * HW, HW, thr);
    uint64_t *want = malloc((size_t)(n * words + 1) * sizeof *want);
    int64_t *want_area = malloc((size_t)n * sizeof *want_area);
    pack(want, want_area, m, n, HW);
    char what[128];
    snprintf(what, sizeof what, "binarize %d x %lldx%lld thr %g%s%s", n, (long long)H, (long long)W, thr,
             u8 ? " u8" : "", strided ? " strided" : "");
    ug_tensor hx =
        u8 ? ug_tensor_wrap(xu, UG_U8, UG_DIMS(n, H, W)) : ug_tensor_wrap(xf, UG_F32, UG_DIMS(n, H, W * S));
    ug_tensor first = {0}, first_area = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor dx = cut_upload(&hx);
        ug_tensor dxv = strided ? ug_view_strided(&dx, 0, 3, (const int64_t[]){n, H, W},
                                                  (const int64_t[]){H * W * 2, W * 2, 2})
                                : dx;
        ug_tensor bits = cut_empty(UG_I64, UG_DIMS(n, words)), area = cut_empty(UG_I64, UG_DIMS(n));
        masks_binarize_cuda(&cut_ctx, &bits, with_area ? &area : NULL, &dxv, thr);
        cut_check_exact(&bits, want, &first, w2);
        if (with_area) cut_check_exact(&area, want_area, &first_area, w2);
        ug_tensor_free(&dx), ug_tensor_free(&bits), ug_tensor_free(&area);
    }
    ck_assert_uint_eq(cut_ctx.dev_arena.used, 0);
    ug_tensor_free(&first), ug_tensor_free(&first_area);
    free(xf), free(xc), free(xu), free(m), free(want), free(want_area);
}

START_TEST(binarize_vs_reference) {
    bin_case(1, 1, 1, 0.0f, false, false, true, 1);
    bin_case(3, 3, 17, 0.0f, false, false, true, 2);
    bin_case(17, 8, 8, 0.25f, false, false, false, 3);
    bin_case(3, 33, 127, -0.5f, false, false, true, 4);
    bin_case(3, 33, 127, 0.0f, true, false, true, 5);
    bin_case(17, 3, 17, 127.5f, true, false, true, 6);
}
END_TEST

START_TEST(binarize_strided) {
    bin_case(3, 5, 17, 0.0f, false, true, true, 7);
}
END_TEST

// ---- scores ----

static void scores_case(int n, int64_t H, int64_t W, uint64_t seed) {
    int64_t HW = H * W, words = masks_words(HW);
    uint8_t *m = rect_masks(n, H, W, seed);
    float *u = malloc((size_t)HW * sizeof *u), *want = malloc((size_t)n * sizeof *want);
    test_fill_uniform(u, (size_t)HW, -3.0f, 2.0f, seed + 1);
    uint64_t *bits = malloc((size_t)(n * words + 1) * sizeof *bits);
    int64_t *area = malloc((size_t)n * sizeof *area);
    pack(bits, area, m, n, HW);
    masks_scores_ref(want, m, n, HW, u);
    char what[96];
    snprintf(what, sizeof what, "scores %d x %lldx%lld", n, (long long)H, (long long)W);
    ug_tensor hb = ug_tensor_wrap(bits, UG_I64, UG_DIMS(n, words)),
              ha = ug_tensor_wrap(area, UG_I64, UG_DIMS(n));
    ug_tensor hu = ug_tensor_wrap(u, UG_F32, UG_DIMS(H, W));
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor db = cut_upload(&hb), da = cut_upload(&ha), du = cut_upload(&hu);
        ug_tensor sc = cut_empty(UG_F32, UG_DIMS(n));
        masks_scores_cuda(&cut_ctx, &sc, &db, &da, &du);
        cut_check(&sc, want, 0, 1.2e-7, &first, w2);
        ug_tensor_free(&db), ug_tensor_free(&da), ug_tensor_free(&du), ug_tensor_free(&sc);
    }
    ck_assert_uint_eq(cut_ctx.dev_arena.used, 0);
    ug_tensor_free(&first);
    free(m), free(u), free(want), free(bits), free(area);
}

START_TEST(scores_vs_reference) {
    scores_case(1, 1, 1, 1);
    scores_case(3, 3, 17, 2);
    scores_case(17, 33, 127, 3);
    scores_case(7, 127, 33, 4);
    scores_case(2, 300, 301, 5); // 1412 words: two chunks of 1024
}
END_TEST

// ---- NMS ----

// scores: uniform, but mask i takes the score of mask i - 3 when i % 4 == 1 (equal scores).
static void nms_case(int n, int64_t H, int64_t W, float thr, uint64_t seed) {
    int64_t HW = H * W, words = masks_words(HW);
    uint8_t *m = rect_masks(n, H, W, seed);
    if (n > 8) // a mask nested in another
        for (int64_t p = 0; p < HW; p++)
            m[8 * HW + p] = m[7 * HW + p] && (p % W) < W / 2;
    float *sc = malloc((size_t)(n + 1) * sizeof *sc);
    test_fill_uniform(sc, (size_t)n, 0.0f, 1.0f, seed + 1);
    for (int i = 3; i < n; i++)
        if (i % 4 == 1) sc[i] = sc[i - 3];
    uint64_t *bits = malloc((size_t)(n * words + 1) * sizeof *bits);
    int64_t *area = malloc((size_t)(n + 1) * sizeof *area);
    pack(bits, area, m, n, HW);
    int *keep = malloc((size_t)(n + 1) * sizeof *keep);
    int32_t *want = malloc((size_t)(n + 1) * sizeof *want);
    int64_t want_n = masks_nms_ref(keep, m, n, HW, sc, thr);
    memset(want, 0xff, (size_t)(n + 1) * sizeof *want); // entries past count: untouched poison
    for (int64_t a = 0; a < want_n; a++)
        want[a] = keep[a];
    char what[96];
    snprintf(what, sizeof what, "nms %d x %lldx%lld thr %g (keeps %lld)", n, (long long)H, (long long)W, thr,
             (long long)want_n);
    ug_tensor hb = ug_tensor_wrap(bits, UG_I64, UG_DIMS(n, words)),
              ha = ug_tensor_wrap(area, UG_I64, UG_DIMS(n));
    ug_tensor hs = ug_tensor_wrap(sc, UG_F32, UG_DIMS(n));
    ug_tensor first = {0}, first_n = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor db = cut_upload(&hb), da = cut_upload(&ha), ds = cut_upload(&hs);
        ug_tensor dk = cut_empty(UG_I32, UG_DIMS(n)), dc = cut_empty(UG_I64, UG_DIMS(1));
        masks_nms_cuda(&cut_ctx, &dk, &dc, &db, &da, &ds, thr);
        cut_check_exact(&dc, &want_n, &first_n, w2);
        if (n > 0) cut_check_exact(&dk, want, &first, w2);
        ug_tensor_free(&db), ug_tensor_free(&da), ug_tensor_free(&ds), ug_tensor_free(&dk),
            ug_tensor_free(&dc);
    }
    ck_assert_uint_eq(cut_ctx.dev_arena.used, 0);
    ug_tensor_free(&first), ug_tensor_free(&first_n);
    free(m), free(sc), free(bits), free(area), free(keep), free(want);
}

START_TEST(nms_vs_reference) {
    nms_case(0, 3, 3, 0.5f, 1);
    nms_case(1, 1, 1, 0.5f, 2);
    nms_case(3, 3, 17, 0.5f, 3);
    nms_case(17, 33, 127, 0.5f, 4);
    nms_case(17, 33, 127, 0.0f, 5);
    nms_case(50, 40, 41, 0.5f, 6);
    nms_case(50, 40, 41, 0.9f, 7);
    nms_case(50, 17, 9, 0.3f, 8);
}
END_TEST

// ---- overlaps ----

START_TEST(overlap_vs_reference) {
    int n = 17, nl = 33;
    int64_t H = 33, W = 127, HW = H * W, words = masks_words(HW);
    uint8_t *m = rect_masks(n, H, W, 11), *other = rect_masks(1, H, W, 12);
    int idx[33];
    for (int a = 0; a < nl; a++)
        idx[a] = (a * 7) % n;
    int64_t want[33];
    masks_overlap_ref(want, m, HW, idx, nl, other);
    uint64_t *bits = malloc((size_t)(n * words) * sizeof *bits), *ob = malloc((size_t)words * sizeof *ob);
    pack(bits, NULL, m, n, HW);
    pack(ob, NULL, other, 1, HW);
    int32_t idx32[33];
    for (int a = 0; a < nl; a++)
        idx32[a] = idx[a];
    ug_tensor hb = ug_tensor_wrap(bits, UG_I64, UG_DIMS(n, words)),
              ho = ug_tensor_wrap(ob, UG_I64, UG_DIMS(1, words));
    ug_tensor hi = ug_tensor_wrap(idx32, UG_I32, UG_DIMS(nl));
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[96];
        snprintf(w2, sizeof w2, "overlap [%s]", cut_use_schedule(s));
        ug_tensor db = cut_upload(&hb), dob = cut_upload(&ho), di = cut_upload(&hi);
        ug_tensor inter = cut_empty(UG_I64, UG_DIMS(nl));
        masks_overlap_cuda(&cut_ctx, &inter, &db, &di, &dob);
        cut_check_exact(&inter, want, &first, w2);
        ug_tensor_free(&db), ug_tensor_free(&dob), ug_tensor_free(&di), ug_tensor_free(&inter);
    }
    ug_tensor_free(&first);
    free(m), free(other), free(bits), free(ob);
}
END_TEST

// ---- refined map ----

static void refined_case(int n, int nkeep, int64_t H, int64_t W, uint64_t seed) {
    int64_t HW = H * W, words = masks_words(HW);
    uint8_t *m = rect_masks(n, H, W, seed);
    float *sc = malloc((size_t)n * sizeof *sc), *u = malloc((size_t)HW * sizeof *u);
    float *want = malloc((size_t)HW * sizeof *want);
    test_fill_uniform(sc, (size_t)n, -1.0f, 1.0f, seed + 1);
    test_fill_uniform(u, (size_t)HW, -2.0f, 2.0f, seed + 2);
    int *keep = malloc((size_t)(nkeep + 1) * sizeof *keep);
    int32_t *keep32 = malloc((size_t)(nkeep + 1) * sizeof *keep32);
    for (int a = 0; a < nkeep; a++)
        keep[a] = keep32[a] = (a * 5 + 3) % n;
    masks_refined_ref(want, m, HW, sc, keep, nkeep, u);
    uint64_t *bits = malloc((size_t)(n * words) * sizeof *bits);
    pack(bits, NULL, m, n, HW);
    char what[96];
    snprintf(what, sizeof what, "refined %d keep %d %lldx%lld", n, nkeep, (long long)H, (long long)W);
    ug_tensor hb = ug_tensor_wrap(bits, UG_I64, UG_DIMS(n, words)),
              hs = ug_tensor_wrap(sc, UG_F32, UG_DIMS(n));
    ug_tensor hk = ug_tensor_wrap(keep32, UG_I32, UG_DIMS(nkeep)),
              hu = ug_tensor_wrap(u, UG_F32, UG_DIMS(H, W));
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor db = cut_upload(&hb), ds = cut_upload(&hs), dk = cut_upload(&hk), du = cut_upload(&hu);
        ug_tensor out = cut_empty(UG_F32, UG_DIMS(H, W));
        masks_refined_cuda(&cut_ctx, &out, &db, &ds, &dk, &du);
        cut_check(&out, want, 0, 0, &first, w2);
        ug_tensor_free(&db), ug_tensor_free(&ds), ug_tensor_free(&dk), ug_tensor_free(&du),
            ug_tensor_free(&out);
    }
    ck_assert_uint_eq(cut_ctx.dev_arena.used, 0);
    ug_tensor_free(&first);
    free(m), free(sc), free(u), free(want), free(keep), free(keep32), free(bits);
}

START_TEST(refined_vs_reference) {
    refined_case(1, 0, 1, 1, 1);
    refined_case(3, 1, 3, 17, 2);
    refined_case(17, 9, 33, 127, 3);
    refined_case(50, 300, 17, 33, 4); // repeats: 300 entries over 50 masks
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cuda_masks", .setup = cut_setup, .teardown = cut_teardown, .timeout = 300},
        &s);
    test_add(tc, binarize_vs_reference, binarize_strided, scores_vs_reference, nms_vs_reference,
             overlap_vs_reference, refined_vs_reference);
    return test_run_suite(s);
}
