// tests/test_ugains.c — the UGainS pipeline against golden/pipeline_tiny (sam_tiny weights
// packed by the real packer in a tmpdir): normalised image + RbA score map + ignore mask ->
// candidates, FPS points, SAM per point, chosen masks, scores, NMS and ignore keep lists,
// refined map; and the whole image path (RbA from golden/rba_tiny) end to end.
//
// Tolerances (golden/README.md, pipeline_tiny decision margins): points, chosen indices and
// keep lists exact (keep lists as sets); masks up to a few pixels (53 chosen-mask pixels have
// |logit| < 1e-4, our SAM is within ~1e-5 of the golden logits): at most 8 flipped pixels
// per mask; scores 1e-4 absolute; refined map 1e-4 absolute except on flipped pixels.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/image.h"
#include "pipeline/ugains.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

static sam_model *g_sam;
static rba_model *g_rba;
static char *g_tmp;

// Packing and loading happen once in the parent; threads are made per test (fork).
static void setup(void) {
    if (!test_golden_available()) return;
    g_tmp = test_tmpdir();
    g_sam = sam_test_load(g_tmp, "sam_tiny.safetensors", "test_ugains");
    g_rba = rba_test_load(g_tmp, "rba_tiny_1dl.d2.pth", "rba_tiny.safetensors", "test_ugains");
}

static void teardown(void) {
    sam_free(g_sam);
    rba_free(g_rba);
    g_sam = NULL;
    g_rba = NULL;
    test_tmpdir_remove(&g_tmp);
}

// Records which dump names arrive, with their element counts.
typedef struct seen {
    char names[40][32];
    int64_t numel[40];
    int n;
} seen;

static void on_dump(void *user, const char *name, const ug_tensor *t) {
    seen *s = user;
    ck_assert(ug_tensor_is_contiguous(t));
    if (s->n < 40) {
        snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
        s->numel[s->n++] = ug_tensor_numel(t);
    }
}

static int64_t seen_numel(const seen *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name)) return s->numel[i];
    return -1;
}

static void check_golden_instances(bool traced) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_sam != NULL, "sam_tiny could not be packed and loaded (see stderr)");
    ug_err err;
    ug_tensor img = test_golden_npy("pipeline_tiny/sam_input_normalized.npy"),
              u = test_golden_npy("pipeline_tiny/rba_score.npy");
    ug_tensor ig = test_golden_npy("pipeline_tiny/ignore_mask.npy"),
              pts = test_golden_npy("pipeline_tiny/fps_points_xy.npy");
    ug_tensor chosen = test_golden_npy("pipeline_tiny/chosen_mask_index.npy"),
              masks = test_golden_npy("pipeline_tiny/masks.npy");
    ug_tensor scores = test_golden_npy("pipeline_tiny/scores.npy"),
              nms = test_golden_npy("pipeline_tiny/nms_keep.npy");
    ug_tensor fin = test_golden_npy("pipeline_tiny/final_keep.npy"),
              refined = test_golden_npy("pipeline_tiny/refined_score.npy");
    ug_tensor ciou = test_golden_npy("pipeline_tiny/chosen_iou.npy");
    ugains_opts o;
    ugains_opts_default(&o);
    o.prop.points = 8;
    o.ignore_overlap = 500;
    o.batch = 3; // several decoder batches
    ugains_result r;
    memset(&r, 0, sizeof r);
    seen s = {0};
    nn_trace tr = {on_dump, &s};
    ck_assert_int_eq(ugains_instances(&test_ctx, g_sam, &img, &u, &ig, &o, &r, traced ? &tr : NULL, &err),
                     UG_OK);
    int H = 96, W = 160;
    int64_t HW = (int64_t)H * W;
    ck_assert_int_eq(r.ncandidates, 224);
    ck_assert_int_eq(r.npoints, 8);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(r.points[i], (float)((int32_t *)pts.data)[i]);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(r.chosen[i], ((int32_t *)chosen.data)[i]);
    test_assert_close(r.chosen_iou, ciou.data, 8, 1e-4, 1e-4, "chosen_iou");
    for (int i = 0; i < 8; i++) {
        int flips = 0;
        for (int64_t p = 0; p < HW; p++)
            flips += inst_mask_get(&r.masks, i, p) != ((uint8_t *)masks.data)[i * HW + p];
        ck_assert_msg(flips <= 8, "mask %d: %d pixels differ from the golden", i, flips);
    }
    test_assert_close(r.scores, scores.data, 8, 1e-4, 0, "pipeline_tiny/scores.npy");
    ck_assert_int_eq(r.nnms, nms.shape[0]);
    for (int i = 0; i < r.nnms; i++)
        ck_assert(test_i32_contains(nms.data, r.nnms, r.nms_keep[i]));
    ck_assert_int_eq(r.nkeep, fin.shape[0]);
    for (int i = 0; i < r.nkeep; i++)
        ck_assert(test_i32_contains(fin.data, r.nkeep, r.keep[i]));
    const float *got = r.refined.data, *want = refined.data;
    int bad = 0;
    for (int64_t p = 0; p < HW; p++)
        bad += !(got[p] - want[p] <= 1e-4f && want[p] - got[p] <= 1e-4f);
    ck_assert_msg(bad <= 16, "refined map: %d pixels off by more than 1e-4", bad);
    if (traced) {
        ck_assert_int_eq(seen_numel(&s, "points"), 16);
        ck_assert_int_eq(seen_numel(&s, "point_scores"), 8);
        ck_assert_int_eq(seen_numel(&s, "keep"), 2);
        ck_assert_int_eq(seen_numel(&s, "anomaly"), HW);
        ck_assert_int_eq(seen_numel(&s, "image_embeddings"), 64 * 16 * 16);
        ck_assert_int_eq(seen_numel(&s, "low_res_masks"), 8 * 3 * 64 * 64);
        ck_assert_int_eq(seen_numel(&s, "iou_predictions"), 8 * 3);
        ck_assert_int_eq(seen_numel(&s, "sparse_embeddings"), 8 * 2 * 64);
        ck_assert_int_eq(seen_numel(&s, "masks"), 8 * 3 * HW);
    }
    ugains_result_free(&r);
    ug_tensor *all[] = {&img, &u, &ig, &pts, &chosen, &masks, &scores, &nms, &fin, &refined, &ciou};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ug_tensor_free(all[i]);
}

START_TEST(golden_pipeline_tiny) {
    check_golden_instances(false);
}
END_TEST

START_TEST(golden_pipeline_tiny_traced) {
    check_golden_instances(true);
}
END_TEST

// No candidate anywhere (U far below both thresholds): no SAM work, refined = U - 1.
START_TEST(no_candidates) {
    ck_assert_msg(g_sam != NULL, "sam_tiny could not be packed and loaded (see stderr)");
    enum { H = 20, W = 30 };
    ug_err err;
    ug_tensor img;
    ck_assert_int_eq(ug_tensor_new(&img, UG_F32, UG_DIMS(1, 3, H, W), &err), UG_OK);
    float u[H * W];
    for (int i = 0; i < H * W; i++)
        u[i] = -40.0f + (float)i * 1e-3f;
    ugains_opts o;
    ugains_opts_default(&o);
    ugains_result r;
    memset(&r, 0, sizeof r);
    ug_tensor ut = ug_tensor_wrap(u, UG_F32, UG_DIMS(H, W));
    ck_assert_int_eq(ugains_instances(&test_ctx, g_sam, &img, &ut, NULL, &o, &r, NULL, &err), UG_OK);
    ck_assert_int_eq(r.npoints, 0);
    ck_assert_int_eq(r.nkeep, 0);
    for (int i = 0; i < H * W; i++)
        ck_assert_float_eq(((float *)r.refined.data)[i], u[i] - 1.0f);
    ugains_result_free(&r);
    ug_tensor_free(&img);
}
END_TEST

// The whole image path with rba_tiny on golden/rba_tiny/img0.png: U matches the golden RbA
// score (1e-4, as test_rba holds it), and the instance outputs are consistent with U.
START_TEST(whole_image_rba_tiny) {
    ck_assert_msg(g_sam != NULL && g_rba != NULL, "tiny models could not be packed and loaded (see stderr)");
    ug_err err;
    char *p = test_golden_path("rba_tiny/img0.png");
    ug_tensor img;
    ck_assert_int_eq(ug_image_read(p, UG_IMAGE_RGB, &img, &err), UG_OK);
    free(p);
    ugains_opts o;
    ugains_opts_default(&o);
    o.prop.points = 5;
    o.prop.threshold = -1e9f; // every pixel is a candidate: random weights give no anomalies
    ugains_result r;
    ck_assert_int_eq(ugains_run_image(&test_ctx, g_rba, g_sam, &img, NULL, &o, &r, NULL, &err), UG_OK);
    ug_tensor want = rba_golden("img0_1dl_rba_score");
    ck_assert_int_eq(r.H, img.shape[0]);
    ck_assert_int_eq(r.W, img.shape[1]);
    test_assert_close(r.score.data, want.data, (size_t)ug_tensor_numel(&want), 1e-4, 1e-4,
                      "img0_1dl_rba_score");
    ck_assert_int_eq(r.npoints, 5);
    ck_assert_int_ge(r.nkeep, 1);
    int64_t HW = (int64_t)r.H * r.W;
    const float *U = r.score.data, *R = r.refined.data;
    for (int64_t q = 0; q < HW; q++) { // refined - U is -1 or a sum of kept scores
        float s = 0;
        for (int a = 0; a < r.nkeep; a++)
            if (inst_mask_get(&r.masks, r.keep[a], q)) s += r.scores[r.keep[a]];
        ck_assert_float_eq_tol(R[q], (s == 0 ? -1.0f : s) + U[q], 1e-5f);
    }
    ugains_result_free(&r);
    ug_tensor_free(&want);
    ug_tensor_free(&img);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "ugains",
                                           .setup = test_ctx_setup,
                                           .teardown = test_ctx_teardown,
                                           .setup_once = setup,
                                           .teardown_once = teardown,
                                           .timeout = 120},
                          &s);
    test_add(tc, golden_pipeline_tiny, golden_pipeline_tiny_traced, no_candidates, whole_image_rba_tiny);
    return test_run_suite(s);
}
