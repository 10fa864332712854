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
#include "tests/golden_models.h"
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

// The golden runs are tests/golden_models.c (shared with the CUDA suite).
START_TEST(golden_pipeline_tiny) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_sam != NULL, "sam_tiny could not be packed and loaded (see stderr)");
    golden_pipeline_instances(&test_ctx, g_sam, false);
}
END_TEST

START_TEST(golden_pipeline_tiny_traced) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_sam != NULL, "sam_tiny could not be packed and loaded (see stderr)");
    golden_pipeline_instances(&test_ctx, g_sam, true);
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
    golden_pipeline_whole_image(&test_ctx, g_rba, g_sam);
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
