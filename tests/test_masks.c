// tests/test_masks.c — the bit-packed mask ops of ops/masks.h (binarisation, scores, NMS,
// overlaps, refined map): the fast kernels against the literal references on random logits
// and jittered rectangles of odd sizes (the last word of a mask partial), and NMS by hand.
//
// Tolerances: everything is exact. Binarisation, NMS and overlaps are discrete; scores sum
// in double and round once in both; the refined map sums the same floats in the same order.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/masks.h"
#include "tests/helpers.h"

static ug_tensor zeros(ug_dtype dt, int ndim, const int64_t *shape) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, dt, ndim, shape, &err), UG_OK);
    return t;
}

static bool bit(const ug_tensor *bits, int64_t i, int64_t p) {
    return (((const uint64_t *)bits->data)[i * bits->shape[1] + p / 64] >> (p % 64)) & 1u;
}

// U8 masks [N, HW] packed by the binarisation (non-zero = set) into *bits, *area.
static void pack(ug_tensor *bits, ug_tensor *area, uint8_t *masks, int n, int64_t HW) {
    ug_tensor m = ug_tensor_wrap(masks, UG_U8, UG_DIMS(n, HW));
    *bits = zeros(UG_I64, UG_DIMS(n, masks_words(HW)));
    *area = zeros(UG_I64, UG_DIMS(n));
    masks_binarize_cpu(&test_ctx, bits, area, &m, 0.0f);
}

// Random logits with some exact zeros (0 is not > 0), odd sizes so the last word is partial.
START_TEST(binarize_and_scores_match_reference) {
    static const int sizes[][2] = {{1, 1}, {3, 17}, {17, 33}, {33, 127}, {64, 64}, {127, 3}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int H = sizes[s][0], W = sizes[s][1], N = 3;
        int64_t HW = (int64_t)H * W;
        float *x = malloc((size_t)(N * HW) * sizeof *x), *u = malloc((size_t)HW * sizeof *u);
        uint8_t *ref = malloc((size_t)(N * HW));
        test_fill_normal(x, (size_t)(N * HW), 1.0f, 100 + s);
        test_fill_uniform(u, (size_t)HW, -2.0f, 0.0f, 200 + s);
        for (int64_t p = 0; p < N * HW; p += 7)
            x[p] = 0.0f;
        for (int64_t p = 0; p < HW; p++)
            x[2 * HW + p] = -1.0f; // an empty mask: score -1
        ug_tensor xt = ug_tensor_wrap(x, UG_F32, UG_DIMS(N, 1, H, W)),
                  ut = ug_tensor_wrap(u, UG_F32, UG_DIMS(H, W));
        ug_tensor bits = zeros(UG_I64, UG_DIMS(N, masks_words(HW))), area = zeros(UG_I64, UG_DIMS(N));
        masks_binarize_cpu(&test_ctx, &bits, &area, &xt, 0.0f);
        for (int i = 0; i < N; i++) {
            masks_binarize_ref(ref + i * HW, x + i * HW, HW, 0.0f);
            int64_t a = 0;
            for (int64_t p = 0; p < HW; p++) {
                ck_assert_int_eq(bit(&bits, i, p), ref[i * HW + p]);
                a += ref[i * HW + p];
            }
            ck_assert_int_eq(((int64_t *)area.data)[i], a);
            for (int64_t p = HW; p < masks_words(HW) * 64; p++)
                ck_assert(!bit(&bits, i, p)); // trailing bits
        }
        float sc[3], sr[3];
        ug_tensor sct = ug_tensor_wrap(sc, UG_F32, UG_DIMS(N));
        masks_scores_cpu(&test_ctx, &sct, &bits, &area, &ut);
        masks_scores_ref(sr, ref, N, HW, u);
        ck_assert_int_eq(memcmp(sc, sr, sizeof sc), 0);
        ck_assert_float_eq(sc[2], -1.0f);
        ug_tensor_free(&bits);
        ug_tensor_free(&area);
        free(x);
        free(u);
        free(ref);
    }
}
END_TEST

// U8 maps against "x > thr" for thresholds below, inside and above the byte range.
START_TEST(binarize_u8_thresholds) {
    static const float thr[] = {-0.5f, 0.0f, 0.5f, 7.0f, 254.5f, 255.0f, NAN};
    static const int64_t sizes[] = {1, 63, 64, 65, 1000};
    test_rng r = test_rng_seed(9);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t HW = sizes[s];
        uint8_t *x = malloc((size_t)HW);
        for (int64_t p = 0; p < HW; p++)
            x[p] = (uint8_t)(p % 4 == 0 ? 0 : p % 9 == 0 ? 255 : test_rng_u64(&r) % 16);
        ug_tensor xt = ug_tensor_wrap(x, UG_U8, UG_DIMS(1, HW));
        for (size_t t = 0; t < sizeof thr / sizeof thr[0]; t++) {
            ug_tensor bits = zeros(UG_I64, UG_DIMS(1, masks_words(HW))), area = zeros(UG_I64, UG_DIMS(1));
            masks_binarize_cpu(&test_ctx, &bits, &area, &xt, thr[t]);
            int64_t a = 0;
            for (int64_t p = 0; p < HW; p++) {
                bool want = (float)x[p] > thr[t];
                ck_assert_msg(bit(&bits, 0, p) == want, "HW %lld thr %g pixel %lld", (long long)HW, thr[t],
                              (long long)p);
                a += want;
            }
            ck_assert_int_eq(((int64_t *)area.data)[0], a);
            ug_tensor_free(&bits);
            ug_tensor_free(&area);
        }
        free(x);
    }
}
END_TEST

// Rectangles jittered around a few anchors: many pairs overlap above and below 0.7; equal
// scores exercise the stable order. Also an empty mask, which NMS never touches.
START_TEST(nms_overlap_refined_match_reference) {
    static const int sizes[][3] = {{17, 33, 12}, {33, 127, 31}, {40, 40, 50}, {3, 17, 5}};
    test_rng r = test_rng_seed(11);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int H = sizes[s][0], W = sizes[s][1], N = sizes[s][2];
        int64_t HW = (int64_t)H * W;
        uint8_t *mk = calloc((size_t)(N * HW), 1), *ig = calloc((size_t)HW, 1);
        float *sc = malloc((size_t)N * sizeof *sc), *u = malloc((size_t)HW * sizeof *u);
        test_fill_uniform(u, (size_t)HW, -1.0f, 0.0f, 300 + s);
        for (int i = 0; i < N; i++) {
            if (i == N / 2) { // empty mask
                sc[i] = -1.0f;
                continue;
            }
            int ax = (int)(test_rng_u64(&r) % 3) * W / 3, ay = (int)(test_rng_u64(&r) % 2) * H / 2;
            int x0 = ax + (int)(test_rng_u64(&r) % 3), y0 = ay + (int)(test_rng_u64(&r) % 2);
            int x1 = x0 + W / 3 - (int)(test_rng_u64(&r) % 3), y1 = y0 + H / 2 - (int)(test_rng_u64(&r) % 2);
            for (int y = y0; y < y1 && y < H; y++)
                for (int x = x0; x < x1 && x < W; x++)
                    mk[i * HW + (int64_t)y * W + x] = 1;
            sc[i] = (float)(test_rng_u64(&r) % 5) * 0.1f; // many equal scores
        }
        for (int64_t p = HW - 2 * W; p < HW; p++)
            if (p >= 0) ig[p] = 1;
        ug_tensor bits, area, ibits, iarea;
        pack(&bits, &area, mk, N, HW);
        pack(&ibits, &iarea, ig, 1, HW);
        ug_tensor sct = ug_tensor_wrap(sc, UG_F32, UG_DIMS(N)), ut = ug_tensor_wrap(u, UG_F32, UG_DIMS(H, W));
        int32_t *k1 = malloc((size_t)N * sizeof *k1);
        int *k2 = malloc((size_t)N * sizeof *k2);
        int64_t n1;
        ug_tensor keep = ug_tensor_wrap(k1, UG_I32, UG_DIMS(N)),
                  count = ug_tensor_wrap(&n1, UG_I64, UG_DIMS(1));
        masks_nms_cpu(&test_ctx, &keep, &count, &bits, &area, &sct, 0.7f);
        int n2 = masks_nms_ref(k2, mk, N, HW, sc, 0.7f);
        ck_assert_int_eq(n1, n2);
        ck_assert_int_eq(memcmp(k1, k2, (size_t)n1 * sizeof *k1), 0);
        if (N >= 12) ck_assert_int_lt(n1, N - 1); // something was suppressed
        bool empty_kept = false;
        for (int i = 0; i < n1; i++)
            empty_kept |= k1[i] == N / 2;
        ck_assert(empty_kept);
        // Overlaps of the kept masks with the ignore band.
        int64_t *inter = malloc((size_t)N * sizeof *inter), *iref = malloc((size_t)N * sizeof *iref);
        ug_tensor kept = ug_view_slice(&keep, 0, 0, n1), it = ug_tensor_wrap(inter, UG_I64, UG_DIMS(n1));
        masks_overlap_cpu(&test_ctx, &it, &bits, &kept, &ibits);
        masks_overlap_ref(iref, mk, HW, k1, (int)n1, ig);
        ck_assert_int_eq(memcmp(inter, iref, (size_t)n1 * sizeof *inter), 0);
        // The refined map over the kept masks.
        ug_tensor o1 = zeros(UG_F32, UG_DIMS(H, W));
        float *o2 = malloc((size_t)HW * sizeof *o2);
        masks_refined_cpu(&test_ctx, &o1, &bits, &sct, &kept, &ut);
        masks_refined_ref(o2, mk, HW, sc, k1, (int)n1, u);
        ck_assert_int_eq(memcmp(o1.data, o2, (size_t)HW * sizeof *o2), 0);
        ug_tensor none = ug_view_slice(&keep, 0, 0, 0); // no kept mask: U - 1 everywhere
        masks_refined_cpu(&test_ctx, &o1, &bits, &sct, &none, &ut);
        for (int64_t p = 0; p < HW; p++)
            ck_assert_float_eq(((float *)o1.data)[p], -1.0f + u[p]);
        ug_tensor ts[] = {bits, area, ibits, iarea, o1};
        for (int i = 0; i < 5; i++)
            ug_tensor_free(&ts[i]);
        free(o2);
        free(inter);
        free(iref);
        free(k1);
        free(k2);
        free(mk);
        free(ig);
        free(sc);
        free(u);
    }
}
END_TEST

START_TEST(nms_by_hand) {
    // Two masks with IoU 0.75 (3 of 4 pixels): the lower-scored one goes; at threshold 0.75
    // (IoU not > threshold) both stay. Equal scores: the lower index is visited first.
    uint8_t mk[3 * 4] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    float sc[3] = {0.2f, 0.5f, -1.0f};
    int32_t keep[3];
    int64_t n;
    ug_tensor bits, area, kt = ug_tensor_wrap(keep, UG_I32, UG_DIMS(3)),
                          nt = ug_tensor_wrap(&n, UG_I64, UG_DIMS(1));
    ug_tensor st = ug_tensor_wrap(sc, UG_F32, UG_DIMS(3));
    pack(&bits, &area, mk, 3, 4);
    masks_nms_cpu(&test_ctx, &kt, &nt, &bits, &area, &st, 0.7f);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(keep[0], 1);
    ck_assert_int_eq(keep[1], 2);
    masks_nms_cpu(&test_ctx, &kt, &nt, &bits, &area, &st, 0.75f);
    ck_assert_int_eq(n, 3);
    sc[0] = sc[1] = 0.3f;
    masks_nms_cpu(&test_ctx, &kt, &nt, &bits, &area, &st, 0.7f);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(keep[0], 0);
    // No masks at all.
    ug_tensor b0 = ug_view_slice(&bits, 0, 0, 0), a0 = ug_view_slice(&area, 0, 0, 0);
    ug_tensor s0 = ug_view_slice(&st, 0, 0, 0), k0 = ug_view_slice(&kt, 0, 0, 0);
    masks_nms_cpu(&test_ctx, &k0, &nt, &b0, &a0, &s0, 0.7f);
    ck_assert_int_eq(n, 0);
    ug_tensor_free(&bits);
    ug_tensor_free(&area);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "masks", .setup = test_ctx_setup, .teardown = test_ctx_teardown, .timeout = 60},
        &s);
    test_add(tc, binarize_and_scores_match_reference, binarize_u8_thresholds,
             nms_overlap_refined_match_reference, nms_by_hand);
    return test_run_suite(s);
}
