// tests/test_instances.c — golden/pipeline_tiny from its chosen masks onwards (best-of-3, the
// mask ops of ops/masks.h on the golden masks, the ignore filter, the refined map), and
// the host side of the instances: packed masks, boxes and COCO RLE. The mask ops against
// their references on random masks are tests/test_masks.c.
//
// Tolerances: binarisation, NMS, ignore filter and RLE are discrete and exact. Scores: the
// reference and the kernel both sum in double and round once: exact; against the golden
// (float32 torch mean, pairwise summation) 1e-5 absolute. Refined map: float32 sums of a few
// scores in the same order as the reference: exact; against the golden (einsum, another
// summation order) 1e-5 absolute.
#include <stdlib.h>
#include <string.h>

#include "ops/masks.h"
#include "pipeline/instances.h"
#include "tests/helpers.h"

static ug_tensor zeros(ug_dtype dt, int ndim, const int64_t *shape) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, dt, ndim, shape, &err), UG_OK);
    return t;
}

// One U8 map [H, W] (non-zero = set) as a one-mask inst_masks, packed by the binarisation.
static void mask_from_u8(inst_masks *m, const uint8_t *map, int H, int W) {
    ug_err err;
    ug_tensor x = ug_tensor_wrap((void *)map, UG_U8, UG_DIMS(1, H, W));
    ug_tensor bits = zeros(UG_I64, UG_DIMS(1, masks_words((int64_t)H * W))), area = zeros(UG_I64, UG_DIMS(1));
    masks_binarize_cpu(&test_ctx, &bits, &area, &x, 0.0f);
    ck_assert_int_eq(instances_masks_adopt(m, H, W, &bits, &area, &err), UG_OK);
}

START_TEST(golden_pipeline_tail) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ug_tensor u = test_golden_npy("pipeline_tiny/rba_score.npy"),
              ig = test_golden_npy("pipeline_tiny/ignore_mask.npy");
    ug_tensor masks = test_golden_npy("pipeline_tiny/masks.npy"),
              scores = test_golden_npy("pipeline_tiny/scores.npy");
    ug_tensor iou = test_golden_npy("pipeline_tiny/sam_iou_predictions.npy"),
              chosen = test_golden_npy("pipeline_tiny/chosen_mask_index.npy");
    ug_tensor nms = test_golden_npy("pipeline_tiny/nms_keep.npy"),
              inter = test_golden_npy("pipeline_tiny/ignore_intersections.npy");
    ug_tensor fin = test_golden_npy("pipeline_tiny/final_keep.npy"),
              refined = test_golden_npy("pipeline_tiny/refined_score.npy");
    int N = (int)masks.shape[0], H = (int)masks.shape[1], W = (int)masks.shape[2];
    int64_t HW = (int64_t)H * W, words = masks_words(HW);

    int ch[8];
    instances_best_of(ch, iou.data, N, 3);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(ch[i], ((int32_t *)chosen.data)[i]);

    // The golden U8 masks and the ignore mask packed by the binarisation (non-zero = set).
    ug_tensor bits = zeros(UG_I64, UG_DIMS(N, words)), area = zeros(UG_I64, UG_DIMS(N));
    ug_tensor ibits = zeros(UG_I64, UG_DIMS(1, words)), ig1 = ug_view_reshape(&ig, UG_DIMS(1, H, W));
    masks_binarize_cpu(&test_ctx, &bits, &area, &masks, 0.0f);
    masks_binarize_cpu(&test_ctx, &ibits, NULL, &ig1, 0.0f);
    static const int64_t areas[8] = {4803, 7821, 8211, 8857, 2359, 8883, 9547, 5273};
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(((int64_t *)area.data)[i], areas[i]);

    float sc[8], sr[8];
    ug_tensor sc_t = ug_tensor_wrap(sc, UG_F32, UG_DIMS(N));
    masks_scores_cpu(&test_ctx, &sc_t, &bits, &area, &u);
    masks_scores_ref(sr, masks.data, N, HW, u.data);
    ck_assert_int_eq(memcmp(sc, sr, sizeof sc), 0);
    test_assert_close(sc, scores.data, N, 1e-5, 0, "pipeline_tiny/scores.npy");

    // NMS on the golden scores (the decision the official code made), compared as sets.
    int32_t keep[8];
    int keep_ref[8];
    int64_t nk;
    ug_tensor keep_t = ug_tensor_wrap(keep, UG_I32, UG_DIMS(N)),
              nk_t = ug_tensor_wrap(&nk, UG_I64, UG_DIMS(1));
    masks_nms_cpu(&test_ctx, &keep_t, &nk_t, &bits, &area, &scores, 0.7f);
    int nkr = masks_nms_ref(keep_ref, masks.data, N, HW, scores.data, 0.7f);
    ck_assert_int_eq(nk, nms.shape[0]);
    ck_assert_int_eq(nkr, nk);
    for (int i = 0; i < nk; i++) {
        ck_assert(test_i32_contains(nms.data, (int)nk, keep[i]));
        ck_assert_int_eq(keep[i], keep_ref[i]);
        const float *sv = scores.data;
        if (i) ck_assert(sv[keep[i - 1]] >= sv[keep[i]]); // visiting order
    }

    // Ignore filter at 500 pixels, fed the official keep order so intersections line up.
    int fk[8];
    int64_t it[8];
    ug_tensor it_t = ug_tensor_wrap(it, UG_I64, UG_DIMS(nk));
    masks_overlap_cpu(&test_ctx, &it_t, &bits, &nms, &ibits);
    for (int i = 0; i < nk; i++)
        ck_assert_int_eq(it[i], ((int32_t *)inter.data)[i]);
    int nf = instances_ignore_filter(fk, nms.data, (int)nk, it, 500);
    ck_assert_int_eq(nf, fin.shape[0]);
    for (int i = 0; i < nf; i++)
        ck_assert_int_eq(fk[i], ((int32_t *)fin.data)[i]);
    int all_kept[8];
    ck_assert_int_eq(instances_ignore_filter(all_kept, nms.data, (int)nk, NULL, 500), nk); // no ignore mask

    ug_tensor out = zeros(UG_F32, UG_DIMS(H, W)), fk_t = ug_tensor_wrap(fk, UG_I32, UG_DIMS(nf));
    float *ref = malloc((size_t)HW * sizeof *ref);
    masks_refined_cpu(&test_ctx, &out, &bits, &scores, &fk_t, &u);
    masks_refined_ref(ref, masks.data, HW, scores.data, fk, nf, u.data);
    ck_assert_int_eq(memcmp(out.data, ref, (size_t)HW * sizeof *ref), 0);
    test_assert_close(out.data, refined.data, (size_t)HW, 1e-5, 0, "pipeline_tiny/refined_score.npy");

    free(ref);
    ug_tensor *all[] = {&u,     &ig,  &masks,   &scores, &iou,  &chosen, &nms,
                        &inter, &fin, &refined, &bits,   &area, &ibits,  &out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ug_tensor_free(all[i]);
}
END_TEST

// Packed masks handed over from tensors (what the pipeline downloads), and the checks on them.
START_TEST(masks_adopt) {
    ug_err err;
    ug_tensor bits = zeros(UG_I64, UG_DIMS(2, 2)), area = zeros(UG_I64, UG_DIMS(2));
    ((int64_t *)bits.data)[2] = 5; // mask 1: pixels 0 and 2
    ((int64_t *)area.data)[1] = 2;
    inst_masks m;
    ck_assert_int_eq(instances_masks_adopt(&m, 11, 7, &bits, &area, &err), UG_OK); // 77 pixels: 2 words
    ck_assert_ptr_null(bits.data);
    ck_assert_int_eq(m.n, 2);
    ck_assert(inst_mask_get(&m, 1, 0) && !inst_mask_get(&m, 1, 1) && inst_mask_get(&m, 1, 2));
    ck_assert(!inst_mask_get(&m, 0, 0));
    ck_assert_int_eq(m.area[1], 2);
    instances_masks_free(&m);
    ug_tensor wrong = zeros(UG_I64, UG_DIMS(2, 3)), a2 = zeros(UG_I64, UG_DIMS(2));
    ck_assert_int_eq(instances_masks_adopt(&m, 11, 7, &wrong, &a2, &err), UG_ERR_ARG);
    ug_tensor_free(&wrong);
    ug_tensor_free(&a2);
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
    mask_from_u8(&m, map, 2, 3);
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
    for (int i = 0; i < H * W; i++)
        big[i] = (test_rng_u64(&r) % 7) < 3;
    mask_from_u8(&m, big, H, W);
    ck_assert_int_eq(instances_rle(&m, 0, &s, &err), UG_OK);
    uint32_t cnts[H * W + 1];
    int64_t nc = rle_decode(s, cnts, H * W + 1), p = 0;
    int v = 0;
    for (int64_t k = 0; k < nc; k++, v ^= 1)
        for (uint32_t c = 0; c < cnts[k]; c++, p++)
            ck_assert_int_eq(big[(p % H) * W + p / H], v);
    ck_assert_int_eq(p, H * W);
    free(s);
    instances_masks_free(&m);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "instances", .setup = test_ctx_setup, .teardown = test_ctx_teardown, .timeout = 60},
        &s);
    test_add(tc, golden_pipeline_tail, masks_adopt, rle_strings);
    return test_run_suite(s);
}
