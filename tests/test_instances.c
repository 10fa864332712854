// tests/test_instances.c — best-of-3, binarisation, mask scores, mask NMS, ignore filter,
// refined map and COCO RLE: golden/pipeline_tiny from its chosen masks onwards, and the fast
// (bit-packed) kernels against the literal references on random masks of odd sizes.
//
// Tolerances: binarisation, NMS, ignore filter and RLE are discrete and exact. Scores: the
// reference and the kernel both sum in double and round once: exact; against the golden
// (float32 torch mean, pairwise summation) 1e-5 absolute. Refined map: float32 sums of a few
// scores in the same order as the reference: exact; against the golden (einsum, another
// summation order) 1e-5 absolute.
#include <stdlib.h>
#include <string.h>

#include "pipeline/instances.h"
#include "tests/helpers.h"

START_TEST(golden_pipeline_tail) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ug_err err;
    ug_tensor u = test_golden_npy("pipeline_tiny/rba_score.npy"), ig = test_golden_npy("pipeline_tiny/ignore_mask.npy");
    ug_tensor masks = test_golden_npy("pipeline_tiny/masks.npy"), scores = test_golden_npy("pipeline_tiny/scores.npy");
    ug_tensor iou = test_golden_npy("pipeline_tiny/sam_iou_predictions.npy"), chosen = test_golden_npy("pipeline_tiny/chosen_mask_index.npy");
    ug_tensor nms = test_golden_npy("pipeline_tiny/nms_keep.npy"), inter = test_golden_npy("pipeline_tiny/ignore_intersections.npy");
    ug_tensor fin = test_golden_npy("pipeline_tiny/final_keep.npy"), refined = test_golden_npy("pipeline_tiny/refined_score.npy");
    int N = (int)masks.shape[0], H = (int)masks.shape[1], W = (int)masks.shape[2];
    int64_t HW = (int64_t)H * W;

    int ch[8];
    instances_best_of(ch, iou.data, N, 3);
    for (int i = 0; i < N; i++) ck_assert_int_eq(ch[i], ((int32_t *)chosen.data)[i]);

    inst_masks m, im;
    ck_assert_int_eq(instances_masks_alloc(&m, N, H, W, &err), UG_OK);
    ck_assert_int_eq(instances_masks_alloc(&im, 1, H, W, &err), UG_OK);
    for (int i = 0; i < N; i++) instances_pack_u8(&m, i, (uint8_t *)masks.data + i * HW);
    instances_pack_u8(&im, 0, ig.data);
    static const int64_t areas[8] = {4803, 7821, 8211, 8857, 2359, 8883, 9547, 5273};
    for (int i = 0; i < N; i++) ck_assert_int_eq(m.area[i], areas[i]);

    float sc[8], sr[8];
    instances_scores_cpu(&test_ctx, sc, &m, u.data);
    instances_scores_ref(sr, masks.data, N, HW, u.data);
    ck_assert_int_eq(memcmp(sc, sr, sizeof sc), 0);
    test_assert_close(sc, scores.data, N, 1e-5, 0, "pipeline_tiny/scores.npy");

    // NMS on the golden scores (the decision the official code made), compared as sets.
    int keep[8], keep_ref[8];
    int nk = instances_nms_cpu(&test_ctx, keep, &m, scores.data, 0.7f);
    int nkr = instances_nms_ref(keep_ref, masks.data, N, HW, scores.data, 0.7f);
    ck_assert_int_eq(nk, nms.shape[0]);
    ck_assert_int_eq(nkr, nk);
    for (int i = 0; i < nk; i++) {
        ck_assert(test_i32_contains(nms.data, nk, keep[i]));
        ck_assert_int_eq(keep[i], keep_ref[i]);
        if (i) ck_assert(((float *)scores.data)[keep[i - 1]] >= ((float *)scores.data)[keep[i]]); // visiting order
    }

    // Ignore filter at 500 pixels, fed the official keep order so intersections line up.
    int fk[8], gk[8];
    int64_t it[8];
    for (int i = 0; i < nk; i++) gk[i] = ((int32_t *)nms.data)[i];
    int nf = instances_ignore_filter(fk, gk, nk, &m, &im, 500, it);
    ck_assert_int_eq(nf, fin.shape[0]);
    for (int i = 0; i < nk; i++) ck_assert_int_eq(it[i], ((int32_t *)inter.data)[i]);
    for (int i = 0; i < nf; i++) ck_assert_int_eq(fk[i], ((int32_t *)fin.data)[i]);

    float *out = malloc((size_t)HW * sizeof *out), *ref = malloc((size_t)HW * sizeof *ref);
    instances_refined_cpu(&test_ctx, out, &m, scores.data, fk, nf, u.data);
    instances_refined_ref(ref, masks.data, HW, scores.data, fk, nf, u.data);
    ck_assert_int_eq(memcmp(out, ref, (size_t)HW * sizeof *out), 0);
    test_assert_close(out, refined.data, (size_t)HW, 1e-5, 0, "pipeline_tiny/refined_score.npy");

    free(out);
    free(ref);
    instances_masks_free(&m);
    instances_masks_free(&im);
    ug_tensor *all[] = {&u, &ig, &masks, &scores, &iou, &chosen, &nms, &inter, &fin, &refined};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ug_tensor_free(all[i]);
}
END_TEST

// Random logits with some exact zeros (0 is not > 0), odd sizes so the last word is partial.
START_TEST(binarize_and_scores_match_reference) {
    static const int sizes[][2] = {{1, 1}, {3, 17}, {17, 33}, {33, 127}, {64, 64}, {127, 3}};
    ug_err err;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int H = sizes[s][0], W = sizes[s][1], N = 3;
        int64_t HW = (int64_t)H * W;
        float *x = malloc((size_t)(N * HW) * sizeof *x), *u = malloc((size_t)HW * sizeof *u);
        uint8_t *ref = malloc((size_t)(N * HW));
        test_fill_normal(x, (size_t)(N * HW), 1.0f, 100 + s);
        test_fill_uniform(u, (size_t)HW, -2.0f, 0.0f, 200 + s);
        for (int64_t p = 0; p < N * HW; p += 7) x[p] = 0.0f;
        for (int64_t p = 0; p < HW; p++) x[2 * HW + p] = -1.0f; // an empty mask: score -1
        inst_masks m;
        ck_assert_int_eq(instances_masks_alloc(&m, N, H, W, &err), UG_OK);
        for (int i = 0; i < N; i++) {
            instances_binarize_cpu(&test_ctx, &m, i, x + i * HW, 0.0f);
            instances_binarize_ref(ref + i * HW, x + i * HW, HW, 0.0f);
            int64_t area = 0;
            for (int64_t p = 0; p < HW; p++) {
                ck_assert_int_eq(inst_mask_get(&m, i, p), ref[i * HW + p]);
                area += ref[i * HW + p];
            }
            ck_assert_int_eq(m.area[i], area);
        }
        float sc[3], sr[3];
        instances_scores_cpu(&test_ctx, sc, &m, u);
        instances_scores_ref(sr, ref, N, HW, u);
        ck_assert_int_eq(memcmp(sc, sr, sizeof sc), 0);
        ck_assert_float_eq(sc[2], -1.0f);
        instances_masks_free(&m);
        free(x);
        free(u);
        free(ref);
    }
}
END_TEST

// Rectangles jittered around a few anchors: many pairs overlap above and below 0.7; equal
// scores exercise the stable order. Also an empty mask, which NMS never touches.
START_TEST(nms_ignore_refined_match_reference) {
    static const int sizes[][3] = {{17, 33, 12}, {33, 127, 31}, {40, 40, 50}, {3, 17, 5}};
    ug_err err;
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
                for (int x = x0; x < x1 && x < W; x++) mk[i * HW + (int64_t)y * W + x] = 1;
            sc[i] = (float)(test_rng_u64(&r) % 5) * 0.1f; // many equal scores
        }
        for (int64_t p = HW - 2 * W; p < HW; p++)
            if (p >= 0) ig[p] = 1;
        inst_masks m, im;
        ck_assert_int_eq(instances_masks_alloc(&m, N, H, W, &err), UG_OK);
        ck_assert_int_eq(instances_masks_alloc(&im, 1, H, W, &err), UG_OK);
        for (int i = 0; i < N; i++) instances_pack_u8(&m, i, mk + i * HW);
        instances_pack_u8(&im, 0, ig);
        int *k1 = malloc((size_t)N * sizeof *k1), *k2 = malloc((size_t)N * sizeof *k2);
        int n1 = instances_nms_cpu(&test_ctx, k1, &m, sc, 0.7f), n2 = instances_nms_ref(k2, mk, N, HW, sc, 0.7f);
        ck_assert_int_eq(n1, n2);
        ck_assert_int_eq(memcmp(k1, k2, (size_t)n1 * sizeof *k1), 0);
        if (N >= 12) ck_assert_int_lt(n1, N - 1); // something was suppressed
        bool empty_kept = false;
        for (int i = 0; i < n1; i++) empty_kept |= k1[i] == N / 2;
        ck_assert(empty_kept);
        // Ignore filter against a direct count.
        int *f = malloc((size_t)N * sizeof *f);
        int64_t *inter = malloc((size_t)N * sizeof *inter);
        int nf = instances_ignore_filter(f, k1, n1, &m, &im, W, inter), nf2 = 0;
        for (int a = 0; a < n1; a++) {
            int64_t c = 0;
            for (int64_t p = 0; p < HW; p++) c += mk[k1[a] * HW + p] && ig[p];
            ck_assert_int_eq(inter[a], c);
            if (c < W) ck_assert_int_eq(f[nf2++], k1[a]);
        }
        ck_assert_int_eq(nf, nf2);
        ck_assert_int_eq(instances_ignore_filter(f, k1, n1, &m, NULL, 0, NULL), n1);
        float *o1 = malloc((size_t)HW * sizeof *o1), *o2 = malloc((size_t)HW * sizeof *o2);
        instances_refined_cpu(&test_ctx, o1, &m, sc, k1, n1, u);
        instances_refined_ref(o2, mk, HW, sc, k1, n1, u);
        ck_assert_int_eq(memcmp(o1, o2, (size_t)HW * sizeof *o1), 0);
        free(o1);
        free(o2);
        free(f);
        free(inter);
        free(k1);
        free(k2);
        instances_masks_free(&m);
        instances_masks_free(&im);
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
    enum { H = 2, W = 2 };
    uint8_t mk[3 * 4] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    float sc[3] = {0.2f, 0.5f, -1.0f};
    int keep[3];
    inst_masks m;
    ug_err err;
    ck_assert_int_eq(instances_masks_alloc(&m, 3, H, W, &err), UG_OK);
    for (int i = 0; i < 3; i++) instances_pack_u8(&m, i, mk + 4 * i);
    ck_assert_int_eq(instances_nms_cpu(&test_ctx, keep, &m, sc, 0.7f), 2);
    ck_assert_int_eq(keep[0], 1);
    ck_assert_int_eq(keep[1], 2);
    ck_assert_int_eq(instances_nms_cpu(&test_ctx, keep, &m, sc, 0.75f), 3);
    sc[0] = sc[1] = 0.3f;
    ck_assert_int_eq(instances_nms_cpu(&test_ctx, keep, &m, sc, 0.7f), 2);
    ck_assert_int_eq(keep[0], 0);
    instances_masks_free(&m);
}
END_TEST

// Decoder of the compressed counts (the inverse of rleToString), for round trips.
static int64_t rle_decode(const char *s, uint32_t *cnts, int64_t cap) {
    int64_t m = 0;
    for (size_t p = 0; s[p];) {
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            int64_t c = s[p] - 48;
            x |= (c & 0x1f) << (5 * k);
            more = (int)(c & 0x20);
            p++;
            k++;
            if (!more && (c & 0x10)) x |= -((int64_t)1 << (5 * k));
        }
        if (m > 2) x += cnts[m - 2];
        ck_assert_int_lt(m, cap);
        cnts[m++] = (uint32_t)x;
    }
    return m;
}

START_TEST(rle_strings) {
    // Worked by hand from the pycocotools algorithm: 100 -> "T3", 50 -> "b1", 30 -> "n0"
    // (bit 4 set forces a second group), 40 - 50 = -10 -> "F".
    uint32_t runs[] = {100, 50, 30, 40};
    char *s = instances_rle_string(runs, 4);
    ck_assert_str_eq(s, "T3b1n0F");
    free(s);
    uint32_t zero[] = {0, 4};
    s = instances_rle_string(zero, 2);
    ck_assert_str_eq(s, "04");
    free(s);

    // Column-major runs: [[0, 1, 1], [1, 1, 0]] (H 2, W 3) in Fortran order is 0,1, 1,1, 1,0
    // -> runs 1, 4, 1.
    uint8_t map[6] = {0, 1, 1, 1, 1, 0};
    inst_masks m;
    ug_err err;
    ck_assert_int_eq(instances_masks_alloc(&m, 1, 2, 3, &err), UG_OK);
    instances_pack_u8(&m, 0, map);
    ck_assert_int_eq(instances_rle(&m, 0, &s, &err), UG_OK);
    ck_assert_str_eq(s, "141");
    free(s);
    int bb[4];
    instances_bbox(&m, 0, bb);
    ck_assert_int_eq(bb[0], 0);
    ck_assert_int_eq(bb[1], 0);
    ck_assert_int_eq(bb[2], 3);
    ck_assert_int_eq(bb[3], 2);
    instances_masks_free(&m);

    // Round trip of random masks through the string.
    enum { H = 33, W = 17 };
    uint8_t big[H * W];
    test_rng r = test_rng_seed(5);
    for (int i = 0; i < H * W; i++) big[i] = (test_rng_u64(&r) % 7) < 3;
    ck_assert_int_eq(instances_masks_alloc(&m, 1, H, W, &err), UG_OK);
    instances_pack_u8(&m, 0, big);
    ck_assert_int_eq(instances_rle(&m, 0, &s, &err), UG_OK);
    uint32_t cnts[H * W + 1];
    int64_t nc = rle_decode(s, cnts, H * W + 1), p = 0;
    int v = 0;
    for (int64_t k = 0; k < nc; k++, v ^= 1)
        for (uint32_t c = 0; c < cnts[k]; c++, p++) ck_assert_int_eq(big[(p % H) * W + p / H], v);
    ck_assert_int_eq(p, H * W);
    free(s);
    instances_masks_free(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("instances");
    TCase *tc = tcase_create("instances");
    tcase_add_checked_fixture(tc, test_ctx_setup, test_ctx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, golden_pipeline_tail);
    tcase_add_test(tc, binarize_and_scores_match_reference);
    tcase_add_test(tc, nms_ignore_refined_match_reference);
    tcase_add_test(tc, nms_by_hand);
    tcase_add_test(tc, rle_strings);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
