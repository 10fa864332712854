// tests/test_pixel_decoder.c — the MSDeformAttn pixel decoder against golden/rba_tiny (every
// pd_* intermediate for img0 128x256 and img1 120x200, the size not divisible by 32, from the
// golden backbone features), the config parser, weight-shape errors and a synthetic
// three-level (standard Mask2Former res3..res5) run.
//
// Tolerance for every float tensor: 1e-4 absolute + 1e-4 relative (the acceptance
// bound; golden/README.md: ten times the largest float32-vs-float64 gap of the official model).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/npy.h"
#include "engine/safetensors.h"
#include "models/msdeform_pixel_decoder.h"
#include "tests/helpers.h"
#include "weights-tools/packer.h"

#define ATOL 1e-4
#define RTOL 1e-4

static ug_ctx g_ctx;
static char *g_tmp;
static ug_st_file *g_st;
static ug_json_doc *g_cfg;
static ug_weights g_w;
static pd_model g_model;
static bool g_loaded;

// Channels of res2..res5 of the Swin in a packed RbA config: embed << k.
static ug_status res_channels(const ug_json *root, int ch[PD_FEATURES], ug_err *err) {
    int64_t E;
    ug_status st = ug_json_get_int(root, "swin_embed_dim", &E, err);
    for (int k = 0; st == UG_OK && k < PD_FEATURES; k++) ch[k] = (int)(E << k);
    return st;
}

// Packs golden rba_tiny_1dl.d2.pth as `ugains pack` would (F32; the tiny head counts are
// invisible in the shapes) and loads the pixel decoder. Done once in the parent (unchecked
// fixture); the thread pool is made per test in the forked child.
static void setup(void) {
    if (!test_golden_available()) return;
    g_tmp = test_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/rba_tiny_1dl.safetensors", g_tmp);
    char *in = test_golden_path("rba_tiny/rba_tiny_1dl.d2.pth");
    static const char *const sets[] = {"pixel_decoder_transformer_nheads=4", "decoder_nheads=4"};
    ug_pack_opts opts = {.arch = "rba", .dtype = UG_F32, .set = sets, .nset = 2};
    ug_pack_stats stats;
    ug_err err;
    ug_status st = ug_pack(in, path, &opts, &stats, &err);
    free(in);
    const char *json = NULL;
    if (st == UG_OK && (st = ug_st_open(&g_st, path, &err)) == UG_OK) {
        json = ug_st_meta(g_st, "config");
        st = json ? ug_json_parse(&g_cfg, json, strlen(json), "config", &err)
                  : ug_errf(&err, UG_ERR_FORMAT, "%s: no config in the metadata", path);
    }
    int ch[PD_FEATURES];
    pd_config cfg;
    if (st == UG_OK && (st = res_channels(ug_json_root(g_cfg), ch, &err)) == UG_OK &&
        (st = pd_config_from_json(&cfg, ug_json_root(g_cfg), ch, &err)) == UG_OK) {
        ug_weights_init(&g_w, g_st, "rba_tiny_1dl.safetensors");
        st = pd_load(&g_model, &cfg, &g_w, "pixel_decoder.", &err);
    }
    g_loaded = st == UG_OK;
    if (!g_loaded) fprintf(stderr, "test_pixel_decoder: %s\n", err.msg);
}

static void teardown(void) {
    if (g_loaded) pd_free(&g_model);
    ug_weights_release(&g_w);
    ug_json_free(g_cfg);
    if (g_st) ug_st_close(g_st);
    if (g_tmp) test_rmtree(g_tmp);
    free(g_tmp);
    g_tmp = NULL;
    g_st = NULL;
    g_cfg = NULL;
    g_loaded = false;
}

static void setup_ctx(void) {
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&g_ctx, 2, &err), UG_OK);
}
static void teardown_ctx(void) { ug_ctx_free(&g_ctx); }

// golden/rba_tiny/<stem>.npy (the folded reader: sampling locations are 6-D).
static bool golden_try(const char *stem, ug_tensor *t) {
    char rel[256];
    snprintf(rel, sizeof rel, "rba_tiny/%s.npy", stem);
    char *p = test_golden_path(rel);
    ug_err err;
    FILE *f = fopen(p, "rb");
    bool ok = f != NULL;
    if (f) fclose(f);
    if (ok) {
        ug_status st = ug_npy_read_folded(p, t, NULL, &err);
        ck_assert_msg(st == UG_OK, "%s: %s", stem, err.msg);
    }
    free(p);
    return ok;
}

typedef struct cmp_state {
    const char *img;
    int compared;
    char seen[16][64];
} cmp_state;

// Trace hook: every intermediate that has a golden file is compared on the spot.
static void compare_trace(void *user, const char *name, const ug_tensor *t) {
    cmp_state *s = user;
    char stem[128];
    snprintf(stem, sizeof stem, "%s_pd_%s", s->img, name);
    ug_tensor want;
    if (!golden_try(stem, &want)) return;
    ck_assert_msg(ug_tensor_numel(t) == ug_tensor_numel(&want), "%s: %lld elements, golden has %lld", stem,
                  (long long)ug_tensor_numel(t), (long long)ug_tensor_numel(&want));
    ck_assert(t->dtype == UG_F32 && ug_tensor_is_contiguous(t));
    test_assert_close(t->data, want.data, (size_t)ug_tensor_numel(&want), ATOL, RTOL, stem);
    ug_tensor_free(&want);
    if (s->compared < 16) snprintf(s->seen[s->compared], sizeof s->seen[0], "%s", name);
    s->compared++;
}

static void run_golden(const char *img) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_loaded, "rba_tiny_1dl could not be packed and loaded (see stderr)");
    ug_tensor res[PD_FEATURES];
    for (int k = 0; k < PD_FEATURES; k++) {
        char stem[64];
        snprintf(stem, sizeof stem, "%s_backbone_res%d", img, k + 2);
        ck_assert_msg(golden_try(stem, &res[k]), "%s missing", stem);
    }
    cmp_state s = {.img = img};
    pd_trace tr = {compare_trace, &s};
    pd_output out;
    ug_err err;
    ug_status st = pd_forward(&g_ctx, &g_model, res, &out, &tr, &err);
    ck_assert_msg(st == UG_OK, "%s", err.msg);
    // input_proj_res5, encoder_layer{0,1}, layer0 sampling locations and attention weights,
    // multi_scale_features{0,1,2}, mask_features: 9 golden files.
    static const char *const expect[] = {"input_proj_res5",
                                         "encoder_layer0",
                                         "encoder_layer0_sampling_locations",
                                         "encoder_layer0_attention_weights",
                                         "encoder_layer1",
                                         "multi_scale_features0",
                                         "multi_scale_features1",
                                         "multi_scale_features2",
                                         "mask_features"};
    ck_assert_int_eq(s.compared, 9);
    for (int i = 0; i < 9; i++) ck_assert_str_eq(s.seen[i], expect[i]);
    // The outputs themselves (the trace shows the same tensors; this checks what callers get).
    ck_assert_int_eq(out.n_multiscale, 3);
    for (int j = 0; j < 3; j++) {
        ug_tensor want;
        char stem[64];
        snprintf(stem, sizeof stem, "%s_pd_multi_scale_features%d", img, j);
        ck_assert(golden_try(stem, &want));
        ck_assert(ug_tensor_same_shape(&out.multi_scale[j], &want));
        ug_tensor_free(&want);
    }
    ug_tensor want;
    char stem[64];
    snprintf(stem, sizeof stem, "%s_pd_mask_features", img);
    ck_assert(golden_try(stem, &want));
    ck_assert(ug_tensor_same_shape(&out.mask_features, &want));
    test_assert_close(out.mask_features.data, want.data, (size_t)ug_tensor_numel(&want), ATOL, RTOL, stem);
    ug_tensor_free(&want);
    pd_output_free(&out);
    for (int k = 0; k < PD_FEATURES; k++) ug_tensor_free(&res[k]);
    ck_assert_uint_eq(g_ctx.arena.used, 0);
}

START_TEST(golden_img0) { run_golden("img0"); }
END_TEST

START_TEST(golden_img1) { run_golden("img1"); }
END_TEST

// ---- config ----

static ug_status parse_cfg(pd_config *c, const char *json, ug_err *err) {
    ug_json_doc *doc;
    ug_status st = ug_json_parse(&doc, json, strlen(json), "cfg", err);
    if (st != UG_OK) return st;
    static const int ch[PD_FEATURES] = {128, 256, 512, 1024};
    st = pd_config_from_json(c, ug_json_root(doc), ch, err);
    ug_json_free(doc);
    return st;
}

#define CFG_BASE                                                                                                 \
    "\"pixel_decoder_conv_dim\": 256, \"pixel_decoder_mask_dim\": 256, \"pixel_decoder_gn_groups\": 32, "        \
    "\"pixel_decoder_norm\": \"GN\", \"pixel_decoder_transformer_nheads\": 8, \"pixel_decoder_deform_n_points\": " \
    "4, \"pixel_decoder_transformer_dim_feedforward\": 1024, \"pixel_decoder_transformer_enc_layers\": 6, "

START_TEST(config_levels_and_fpn) {
    pd_config c;
    ug_err err;
    // RbA: res5 only, common stride 4 -> FPN over res4, res3, res2.
    ck_assert_int_eq(parse_cfg(&c, "{" CFG_BASE "\"pixel_decoder_common_stride\": 4, "
                                   "\"pixel_decoder_transformer_in_features\": [\"res5\"]}",
                               &err),
                     UG_OK);
    ck_assert_int_eq(c.n_levels, 1);
    ck_assert_int_eq(c.level_feature[0], 3);
    ck_assert_int_eq(c.n_fpn, 3);
    // Standard Mask2Former: res3..res5 in any order, sorted by stride, coarsest first.
    ck_assert_int_eq(parse_cfg(&c, "{" CFG_BASE "\"pixel_decoder_common_stride\": 4, "
                                   "\"pixel_decoder_transformer_in_features\": [\"res4\", \"res3\", \"res5\"]}",
                               &err),
                     UG_OK);
    ck_assert_int_eq(c.n_levels, 3);
    ck_assert_int_eq(c.level_feature[0], 3);
    ck_assert_int_eq(c.level_feature[1], 2);
    ck_assert_int_eq(c.level_feature[2], 1);
    ck_assert_int_eq(c.n_fpn, 1);
    ck_assert_int_eq(c.heads, 8);
    ck_assert_int_eq(c.ffn, 1024);
    // Common stride 8 with res5: FPN over res4, res3 only.
    ck_assert_int_eq(parse_cfg(&c, "{" CFG_BASE "\"pixel_decoder_common_stride\": 8, "
                                   "\"pixel_decoder_transformer_in_features\": [\"res5\"]}",
                               &err),
                     UG_OK);
    ck_assert_int_eq(c.n_fpn, 2);
}
END_TEST

START_TEST(config_errors) {
    pd_config c;
    ug_err err;
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{" CFG_BASE "\"pixel_decoder_common_stride\": 4, \"pixel_decoder_transformer_in_features\": [\"res6\"]}",
         "res2"},
        {"{" CFG_BASE "\"pixel_decoder_common_stride\": 4, \"pixel_decoder_transformer_in_features\": [\"res5\", "
         "\"res5\"]}",
         "distinct"},
        {"{" CFG_BASE "\"pixel_decoder_common_stride\": 3, \"pixel_decoder_transformer_in_features\": [\"res5\"]}",
         "common stride 3"},
        {"{" CFG_BASE "\"pixel_decoder_common_stride\": 4, \"pixel_decoder_transformer_in_features\": []}",
         "0 features"},
        {"{\"pixel_decoder_conv_dim\": 256, \"pixel_decoder_mask_dim\": 256}", "pixel_decoder_common_stride"},
        {"{\"pixel_decoder_conv_dim\": 250, \"pixel_decoder_mask_dim\": 256, \"pixel_decoder_common_stride\": 4, "
         "\"pixel_decoder_transformer_nheads\": 8, \"pixel_decoder_deform_n_points\": 4, "
         "\"pixel_decoder_transformer_dim_feedforward\": 1024, \"pixel_decoder_transformer_enc_layers\": 6, "
         "\"pixel_decoder_transformer_in_features\": [\"res5\"]}",
         "conv_dim 250"},
        {"{\"pixel_decoder_conv_dim\": 256, \"pixel_decoder_mask_dim\": 256, \"pixel_decoder_common_stride\": 4, "
         "\"pixel_decoder_norm\": \"BN\", \"pixel_decoder_transformer_nheads\": 8, "
         "\"pixel_decoder_deform_n_points\": 4, \"pixel_decoder_transformer_dim_feedforward\": 1024, "
         "\"pixel_decoder_transformer_enc_layers\": 6, \"pixel_decoder_transformer_in_features\": [\"res5\"]}",
         "BN"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse_cfg(&c, bad[i].json, &err) != UG_OK, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, bad[i].msg), "case %zu: message \"%s\" lacks \"%s\"", i, err.msg, bad[i].msg);
    }
}
END_TEST

// A config whose head count does not match the packed weights fails at load time naming the
// tensor and both shapes.
START_TEST(load_checks_shapes) {
    ck_assert_msg(g_loaded, "rba_tiny_1dl could not be packed and loaded (see stderr)");
    pd_config c = g_model.cfg;
    c.heads = 8;
    pd_model m;
    ug_err err;
    ck_assert_int_ne(pd_load(&m, &c, &g_w, "pixel_decoder.", &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "sampling_offsets") && strstr(err.msg, "[32,64]") && strstr(err.msg, "expected [64,64]"),
                  "%s", err.msg);
    c = g_model.cfg;
    c.in_channels[1] = 17; // res3 channels: adapter_2 has 16 input channels
    ck_assert_int_ne(pd_load(&m, &c, &g_w, "pixel_decoder.", &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "adapter_2"), "%s", err.msg);
}
END_TEST

// Wrong backbone features are argument errors, not crashes.
START_TEST(forward_checks_inputs) {
    ck_assert_msg(g_loaded, "rba_tiny_1dl could not be packed and loaded (see stderr)");
    ug_tensor res[PD_FEATURES];
    ug_err err;
    for (int k = 0; k < PD_FEATURES; k++)
        ck_assert_int_eq(ug_tensor_new(&res[k], UG_F32, UG_DIMS(1, g_model.cfg.in_channels[k], 9 >> k | 1, 5), &err),
                         UG_OK);
    ug_tensor good = res[2];
    ck_assert_int_eq(ug_tensor_new(&res[2], UG_F32, UG_DIMS(1, 33, 3, 3), &err), UG_OK);
    pd_output out;
    ck_assert_int_ne(pd_forward(&g_ctx, &g_model, res, &out, NULL, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "res4"), "%s", err.msg);
    ug_tensor_free(&res[2]);
    res[2] = good;
    // The right channels at tiny odd sizes (1x5 res5) run.
    ck_assert_int_eq(pd_forward(&g_ctx, &g_model, res, &out, NULL, &err), UG_OK);
    ck_assert_int_eq(out.mask_features.shape[2], 9);
    ck_assert_int_eq(out.multi_scale[0].shape[2], 1);
    pd_output_free(&out);
    for (int k = 0; k < PD_FEATURES; k++) ug_tensor_free(&res[k]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("pixel_decoder");
    TCase *tc = tcase_create("pixel_decoder");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, setup_ctx, teardown_ctx);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, golden_img0);
    tcase_add_test(tc, golden_img1);
    tcase_add_test(tc, config_levels_and_fpn);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, load_checks_shapes);
    tcase_add_test(tc, forward_checks_inputs);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
