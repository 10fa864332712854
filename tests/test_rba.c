// tests/test_rba.c — the RbA model: the fused scoring against its double reference at odd
// sizes and against the golden scores, and the whole model (PNG -> score, semantic) against
// every golden rba_tiny tensor for both images, both decoder depths and the detectron2
// padding path.
//
// Tolerances: golden float tensors 1e-4 absolute + 1e-4 relative (golden/README.md: ten times
// the largest float32-vs-float64 gap of the official model). Scoring vs its double reference:
// 1e-5 absolute + 1e-5 relative (float GEMM over Q <= 33 terms and a few-ulp sigmoid; the
// score is at most Q in magnitude). Argmax maps: exact, except that img0_1dl may differ on the
// 10 pixels whose top-2 relative gap is below 1e-4 (golden margin table).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu.h"
#include "engine/ctx.h"
#include "engine/image.h"
#include "models/rba.h"
#include "tests/golden_models.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

#define ATOL 1e-4
#define RTOL 1e-4

static char *g_tmp;
static char *g_path[3]; // packed 1dl (detectron2 .pth), 3dl (.pkl), 1dl (UGainS .ckpt)

static void setup(void) {
    if (!test_golden_available()) return;
    g_tmp = test_tmpdir();
    g_path[0] = rba_test_pack(g_tmp, "rba_tiny_1dl.d2.pth", "rba1.safetensors");
    g_path[1] = rba_test_pack(g_tmp, "rba_tiny_3dl.d2.pkl", "rba3.safetensors");
    g_path[2] = rba_test_pack(g_tmp, "rba_tiny_1dl.ugains.ckpt", "rba1_ugains.safetensors");
}

static void teardown(void) {
    for (int i = 0; i < 3; i++) {
        free(g_path[i]);
        g_path[i] = NULL;
    }
    test_tmpdir_remove(&g_tmp);
}

// Threads do not survive the fork Check runs each test in: one pool per test.
// ---- scoring ----

static void score_case(int64_t Q, int64_t K, int64_t h, int64_t w, int64_t Ht, int64_t Wt, int64_t H,
                       int64_t W, uint64_t seed) {
    ug_err err;
    ug_tensor lg, mk, sc, sem;
    ck_assert_int_eq(ug_tensor_new(&lg, UG_F32, UG_DIMS(Q, K + 1), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&mk, UG_F32, UG_DIMS(Q, h, w), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&sc, UG_F32, UG_DIMS(H, W), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&sem, UG_U8, UG_DIMS(H, W), &err), UG_OK);
    test_fill_normal(lg.data, (size_t)(Q * (K + 1)), 2.0f, seed);
    test_fill_normal(mk.data, (size_t)(Q * h * w), 3.0f, seed + 1);
    float *want = malloc((size_t)(H * W) * sizeof *want);
    uint8_t *want_sem = malloc((size_t)(H * W));
    rba_score_ref(want, want_sem, lg.data, mk.data, Q, K, h, w, Ht, Wt, H, W);
    ck_assert_int_eq(rba_score_cpu(&test_ctx, &sc, &sem, &lg, &mk, Ht, Wt, &err), UG_OK);
    char what[128];
    snprintf(what, sizeof what, "score Q%lld K%lld %lldx%lld->%lldx%lld crop %lldx%lld", (long long)Q,
             (long long)K, (long long)h, (long long)w, (long long)Ht, (long long)Wt, (long long)H,
             (long long)W);
    test_assert_close(sc.data, want, (size_t)(H * W), 1e-5, 1e-5, what);
    // Random data: no near-ties at these seeds, so the maps agree exactly.
    const uint8_t *got_sem = sem.data;
    for (int64_t i = 0; i < H * W; i++)
        ck_assert_msg(got_sem[i] == want_sem[i], "%s: semantic[%lld] = %d, reference %d", what, (long long)i,
                      got_sem[i], want_sem[i]);
    ck_assert_uint_eq(test_ctx.arena.used, 0);
    free(want);
    free(want_sem);
    ug_tensor_free(&lg);
    ug_tensor_free(&mk);
    ug_tensor_free(&sc);
    ug_tensor_free(&sem);
}

START_TEST(score_vs_reference) {
    score_case(1, 1, 1, 1, 1, 1, 1, 1, 1);
    score_case(3, 3, 1, 3, 5, 7, 5, 7, 2);        // upsampling from a single row
    score_case(17, 19, 7, 13, 27, 51, 27, 51, 3); // non-integer scales
    score_case(10, 19, 8, 14, 32, 56, 30, 50, 4); // pad32 style: upsample, crop
    score_case(33, 5, 18, 16, 70, 61, 70, 61, 5); // several bands of 33 rows over 2 threads
    score_case(5, 2, 9, 9, 4, 3, 3, 2, 6);        // downsampling
}
END_TEST

// Golden pred_logits / pred_masks -> golden rba_score and semantic_argmax.
static void golden_score(const char *prefix, int64_t Ht, int64_t Wt, int allowed_flips) {
    char stem[128];
    snprintf(stem, sizeof stem, "%spred_logits", prefix);
    ug_tensor lg4 = rba_golden(stem);
    snprintf(stem, sizeof stem, "%spred_masks", prefix);
    ug_tensor mk4 = rba_golden(stem);
    snprintf(stem, sizeof stem, "%srba_score", prefix);
    ug_tensor want = rba_golden(stem);
    int64_t Q = lg4.shape[1], K1 = lg4.shape[2], H = want.shape[1], W = want.shape[2];
    ug_tensor lg = ug_tensor_wrap(lg4.data, UG_F32, UG_DIMS(Q, K1));
    ug_tensor mk = ug_tensor_wrap(mk4.data, UG_F32, UG_DIMS(Q, mk4.shape[2], mk4.shape[3]));
    ug_tensor sc, sem;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&sc, UG_F32, UG_DIMS(H, W), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&sem, UG_U8, UG_DIMS(H, W), &err), UG_OK);
    ck_assert_int_eq(rba_score_cpu(&test_ctx, &sc, &sem, &lg, &mk, Ht ? Ht : H, Wt ? Wt : W, &err), UG_OK);
    rba_check(&sc, stem, ATOL, RTOL);
    snprintf(stem, sizeof stem, "%ssemantic_argmax", prefix);
    if (rba_golden_exists(stem)) {
        ug_tensor ws = rba_golden(stem);
        const uint8_t *g = sem.data, *e = ws.data;
        int flips = 0;
        for (int64_t i = 0; i < H * W; i++)
            flips += g[i] != e[i];
        ck_assert_msg(flips <= allowed_flips, "%s: %d pixels differ (at most %d near-ties allowed)", stem,
                      flips, allowed_flips);
        ug_tensor_free(&ws);
    }
    ug_tensor_free(&sc);
    ug_tensor_free(&sem);
    ug_tensor_free(&lg4);
    ug_tensor_free(&mk4);
    ug_tensor_free(&want);
}

START_TEST(golden_scoring) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    golden_score("img0_1dl_", 0, 0, 10);
    golden_score("img0_3dl_", 0, 0, 0);
    golden_score("img1_1dl_", 0, 0, 0);
    golden_score("img1_3dl_", 0, 0, 0);
    // detectron2 path: masks at 1/4 of 128 x 224, upsampled to it, cropped to 120 x 200.
    golden_score("img1_1dl_d2pad_", 128, 224, 0);
}
END_TEST

// ---- the whole model ----
// The golden run itself is tests/golden_models.c (shared with the CUDA suite).
static void run_model(int which, int img, bool d2pad, int want_checked) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_path[which] != NULL, "rba_tiny could not be packed (see stderr)");
    ug_err err;
    rba_model *m;
    ck_assert_msg(rba_load(&m, g_path[which], &err) == UG_OK, "%s", err.msg);
    golden_rba_model(&test_ctx, m, img, which == 1 ? 3 : 1, d2pad, want_checked);
    rba_free(m);
}

// Tensors compared per run: input, patch_embed, 8 blocks, res2..5, input_proj_res5,
// 2 encoder layers, sampling locations, attention weights, 3 multi-scale features, mask
// features (23 shared), then aux/queries/pred/score/argmax.
START_TEST(model_img0_1dl) {
    run_model(0, 0, false, 23 + 3 + 2 + 2);
}
END_TEST
START_TEST(model_img1_1dl) {
    run_model(0, 1, false, 23 + 3 + 2 + 2);
}
END_TEST
START_TEST(model_img0_3dl) {
    run_model(1, 0, false, 23 + 6 + 2 + 2);
}
END_TEST
START_TEST(model_img1_3dl) {
    run_model(1, 1, false, 23 + 6 + 2 + 2);
}
END_TEST
START_TEST(model_img1_1dl_d2pad) {
    run_model(0, 1, true, 3);
}
END_TEST
// The UGainS Lightning checkpoint names the decoder sem_seg_head.*: same weights, same numbers.
START_TEST(model_img1_1dl_ugains_ckpt) {
    run_model(2, 1, false, 23 + 3 + 2 + 2);
}
END_TEST

// bf16 precision (issue 12): every GEMM, convolution and attention of the forward pass rounds
// its operands to bf16 and sums in f32 (F32 weights). The bound: the RbA score U within
// 2e-2 of max |U| of the golden score. It holds for the 1-decoder-layer model (the release
// RbA's depth; measured 1.6e-2 and 1.25e-2 on img0 / img1). The 3-layer tiny decoder amplifies
// any 8-bit rounding of what it reads: 4.1e-2 and 3.9e-2 in bf16, and storing its weights as
// BF16 with f32 compute already gives 2.4e-2 and 1.9e-2, so it is held to 6e-2 (a wrong
// kernel is off by O(1)). On a CPU without AVX512-BF16 the precision falls back to f32, held
// to 1e-4 by the golden tests above.
START_TEST(bf16_precision_golden) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_int_eq(ug_ctx_set_precision(&test_ctx, UG_PRECISION_BF16, NULL),
                     ug_cpu_use_avx512_bf16() ? UG_PRECISION_BF16 : UG_PRECISION_F32);
    for (int which = 0; which < 2; which++)
        for (int img = 0; img < 2; img++) {
            ck_assert_msg(g_path[which] != NULL, "rba_tiny could not be packed (see stderr)");
            ug_err err;
            rba_model *m;
            ck_assert_msg(rba_load(&m, g_path[which], &err) == UG_OK, "%s", err.msg);
            char rel[64];
            snprintf(rel, sizeof rel, "rba_tiny/img%d.png", img);
            char *png = test_golden_path(rel);
            ug_tensor im;
            ck_assert_msg(ug_image_read(png, UG_IMAGE_RGB, &im, &err) == UG_OK, "%s", err.msg);
            free(png);
            rba_output o;
            ck_assert_msg(rba_forward_u8(&test_ctx, m, &im, false, &o, NULL, &err) == UG_OK, "%s", err.msg);
            snprintf(rel, sizeof rel, "rba_tiny/img%d_%ddl_rba_score.npy", img, which ? 3 : 1);
            ug_tensor want = test_golden_npy(rel);
            ck_assert_int_eq(ug_tensor_numel(&o.score), ug_tensor_numel(&want));
            const float *a = o.score.data, *b = want.data;
            double e = 0, r = 0;
            for (int64_t i = 0; i < ug_tensor_numel(&want); i++) {
                e = fmax(e, fabs((double)a[i] - b[i]));
                r = fmax(r, fabs((double)b[i]));
            }
            printf("rba_tiny bf16: %s max |err| %.3g = %.3g of max |ref| %.3g\n", rel, e, e / r, r);
            double bound = which ? 6e-2 : 2e-2;
            ck_assert_msg(e <= bound * r, "%s: bf16 score off by %g, bound %g x %g", rel, e, bound, r);
            ug_tensor_free(&want);
            rba_output_free(&o);
            ug_tensor_free(&im);
            rba_free(m);
        }
}
END_TEST

START_TEST(config_and_load_errors) {
    ug_err err;
    rba_config c;
    ck_assert_int_ne(rba_config_parse(&c, "[1]", &err), UG_OK);
    ck_assert_int_ne(rba_config_parse(&c, "{\"swin_embed_dim\": 8}", &err), UG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "rba config"));
    rba_model *m;
    ck_assert_int_ne(rba_load(&m, "/nonexistent/rba.safetensors", &err), UG_OK);
    ck_assert_ptr_null(m);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "rba",
                                           .setup = test_ctx_setup,
                                           .teardown = test_ctx_teardown,
                                           .setup_once = setup,
                                           .teardown_once = teardown,
                                           .timeout = 60},
                          &s);
    test_add(tc, score_vs_reference, golden_scoring, model_img0_1dl, model_img1_1dl, model_img0_3dl,
             model_img1_3dl, model_img1_1dl_d2pad, model_img1_1dl_ugains_ckpt, bf16_precision_golden,
             config_and_load_errors);
    return test_run_suite(s);
}
