// tests/test_mask2former_decoder.c — the masked-attention decoder against golden/rba_tiny: the pixel
// decoder's golden outputs go in, every prediction comes out (aux before each layer, the final
// one, and the queries after layer 0), for both images (img1 is 120 x 200, not a multiple of
// 32) and both depths (1 and 3 layers: the 3-layer run uses all three levels and exercises
// the fully-masked-row reset at every step, see the golden margin table). Plus the config and
// weight checks.
//
// Tolerance: 1e-4 absolute + 1e-4 relative (golden/README.md: ten times the largest
// float32-vs-float64 gap of the official model). The attention masks are discrete, but the
// smallest |mask logit| at attention-mask resolution is 1.7e-3, far above float noise.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "models/mask2former_decoder.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

#define ATOL 1e-4
#define RTOL 1e-4

static char *g_tmp;
static ug_st_file *g_st[3]; // 1dl, 3dl, 1dl with BF16 weights
static ug_json_doc *g_cfg[3];

// Packing runs once in the parent; the thread pool is made per test (threads do not survive
// the fork Check runs each test in).
static void setup(void) {
    ug_err err;
    if (!test_golden_available()) return;
    g_tmp = test_tmpdir();
    const char *ckpt[2] = {"rba_tiny_1dl.d2.pth", "rba_tiny_3dl.d2.pkl"};
    const char *out[2] = {"rba1.safetensors", "rba3.safetensors"};
    for (int i = 0; i < 3; i++) {
        char *p = i < 2 ? rba_test_pack(g_tmp, ckpt[i], out[i])
                        : rba_test_pack_as(g_tmp, ckpt[0], "rba1_bf16.safetensors", UG_BF16);
        if (p && rba_test_open(p, &g_st[i], &g_cfg[i], &err) != UG_OK)
            fprintf(stderr, "%s: %s\n", p, err.msg);
        free(p);
    }
}

static void teardown(void) {
    for (int i = 0; i < 3; i++) {
        ug_json_free(g_cfg[i]);
        ug_st_close(g_st[i]);
        g_cfg[i] = NULL;
        g_st[i] = NULL;
    }
    test_tmpdir_remove(&g_tmp);
}

// The decoder of packed file i (0: 1 layer, 1: 3 layers).
static void load(int i, m2f_decoder *d, ug_weights *w) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_st[i] != NULL, "rba_tiny could not be packed (see stderr)");
    ug_err err;
    m2f_config cfg;
    ck_assert_msg(m2f_config_from_json(&cfg, ug_json_root(g_cfg[i]), &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(cfg.layers, i == 1 ? 3 : 1);
    ug_weights_init(w, g_st[i], "rba_tiny");
    ck_assert_msg(m2f_load(d, &cfg, w, "predictor.", &err) == UG_OK, "%s", err.msg);
}

typedef struct tracer {
    char prefix[32]; // "img0_1dl_"
    int checked;
} tracer;

// Every traced tensor that has a golden counterpart is compared.
static void on_trace(void *user, const char *name, const ug_tensor *t) {
    tracer *tr = user;
    char stem[128];
    snprintf(stem, sizeof stem, "%s%s", tr->prefix, name);
    if (!rba_golden_exists(stem)) return;
    rba_check(t, stem, ATOL, RTOL);
    tr->checked++;
}

// The decoder's golden inputs for image img: the pixel decoder's multi-scale features and
// mask features.
static void golden_inputs(int img, ug_tensor feats[3], ug_tensor *mf) {
    char stem[64];
    for (int l = 0; l < 3; l++) {
        snprintf(stem, sizeof stem, "img%d_pd_multi_scale_features%d", img, l);
        feats[l] = rba_golden(stem);
    }
    snprintf(stem, sizeof stem, "img%d_pd_mask_features", img);
    *mf = rba_golden(stem);
}

// Frees a decoder run: its outputs, its inputs, the decoder and its weights.
static void free_run(ug_tensor *logits, ug_tensor *masks, ug_tensor feats[3], ug_tensor *mf, m2f_decoder *d,
                     ug_weights *w) {
    ug_tensor_free(logits);
    ug_tensor_free(masks);
    for (int l = 0; l < 3; l++)
        ug_tensor_free(&feats[l]);
    ug_tensor_free(mf);
    m2f_free(d);
    ug_weights_release(w);
}

static void run_golden(int img, int which) {
    m2f_decoder d;
    ug_weights w;
    load(which, &d, &w);
    char stem[128];
    ug_tensor feats[3], mf;
    golden_inputs(img, feats, &mf);

    tracer tr = {.checked = 0};
    snprintf(tr.prefix, sizeof tr.prefix, "img%d_%ddl_", img, which ? 3 : 1);
    nn_trace trace = {on_trace, &tr};
    ug_tensor logits, masks;
    ug_err err;
    ck_assert_msg(m2f_forward(&test_ctx, &d, feats, 3, &mf, &logits, &masks, &trace, &err) == UG_OK, "%s",
                  err.msg);
    // 1 layer: aux0 logits/masks + queries after layer 0; 3 layers: aux0..2 logits/masks.
    ck_assert_int_eq(tr.checked, which ? 6 : 3);
    ck_assert_int_eq(logits.shape[0], 10);
    ck_assert_int_eq(logits.shape[1], 20);
    ck_assert_int_eq(masks.shape[1], mf.shape[2]);
    ck_assert_int_eq(masks.shape[2], mf.shape[3]);
    snprintf(stem, sizeof stem, "%spred_logits", tr.prefix);
    rba_check(&logits, stem, ATOL, RTOL);
    snprintf(stem, sizeof stem, "%spred_masks", tr.prefix);
    rba_check(&masks, stem, ATOL, RTOL);
    // The arena is back where it started.
    ck_assert_uint_eq(test_ctx.arena.used, 0);
    free_run(&logits, &masks, feats, &mf, &d, &w);
}

// Weights kept in BF16 (GEMMs widen them while packing; in_proj row blocks are BF16 views):
// the final prediction stays near the F32 golden one. BF16 rounds each weight by up to 2^-9
// relative: logits (magnitude ~5) move by ~1e-2, tolerance 0.05 + 0.05 relative; mask logits
// (up to 12, dot products over 32 channels with mask features up to 4) move by ~0.1,
// tolerance 0.2 + 0.05 relative.
START_TEST(bf16_weights) {
    m2f_decoder d;
    ug_weights w;
    load(2, &d, &w);
    ck_assert_int_eq(d.layers[0].cross.q.w.dtype, UG_BF16);
    ug_tensor feats[3], mf, logits, masks;
    golden_inputs(1, feats, &mf);
    ug_err err;
    ck_assert_msg(m2f_forward(&test_ctx, &d, feats, 3, &mf, &logits, &masks, NULL, &err) == UG_OK, "%s",
                  err.msg);
    rba_check(&logits, "img1_1dl_pred_logits", 0.05, 0.05);
    rba_check(&masks, "img1_1dl_pred_masks", 0.2, 0.05);
    free_run(&logits, &masks, feats, &mf, &d, &w);
}
END_TEST

START_TEST(golden_img0_1dl) {
    run_golden(0, 0);
}
END_TEST
START_TEST(golden_img1_1dl) {
    run_golden(1, 0);
}
END_TEST
START_TEST(golden_img0_3dl) {
    run_golden(0, 1);
}
END_TEST
START_TEST(golden_img1_3dl) {
    run_golden(1, 1);
}
END_TEST

static ug_status parse_cfg(const char *json, m2f_config *cfg, ug_err *err) {
    ug_json_doc *doc;
    ug_status st = ug_json_parse(&doc, json, strlen(json), "test", err);
    ck_assert_int_eq(st, UG_OK);
    st = m2f_config_from_json(cfg, ug_json_root(doc), err);
    ug_json_free(doc);
    return st;
}

#define CFG_BASE                                                                                             \
    "\"decoder_hidden_dim\": 64, \"decoder_nheads\": 4, \"decoder_dim_feedforward\": 64, "                   \
    "\"decoder_num_queries\": 10, \"decoder_num_classes\": 19, \"decoder_mask_dim\": 32, "                   \
    "\"decoder_num_feature_levels\": 3"

START_TEST(config_checks) {
    m2f_config c;
    ug_err err;
    ck_assert_int_eq(parse_cfg("{" CFG_BASE ", \"decoder_dec_layers\": 2}", &c, &err), UG_OK);
    ck_assert_int_eq(c.hidden, 64);
    ck_assert_int_eq(c.layers, 2);
    ck_assert_int_eq(c.levels, 3);
    // Missing key, bad head split, unsupported pre-norm, nonsense size.
    ck_assert_int_ne(parse_cfg("{" CFG_BASE "}", &c, &err), UG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "decoder_dec_layers"));
    ck_assert_int_eq(
        parse_cfg("{\"decoder_hidden_dim\": 64, \"decoder_nheads\": 5, \"decoder_dim_feedforward\": 64, "
                  "\"decoder_num_queries\": 10, \"decoder_num_classes\": 19, \"decoder_mask_dim\": 32, "
                  "\"decoder_num_feature_levels\": 3, \"decoder_dec_layers\": 1}",
                  &c, &err),
        UG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "not divisible"));
    ck_assert_int_eq(
        parse_cfg("{" CFG_BASE ", \"decoder_dec_layers\": 1, \"decoder_pre_norm\": true}", &c, &err),
        UG_ERR_UNSUPPORTED);
    ck_assert_int_eq(parse_cfg("{" CFG_BASE ", \"decoder_dec_layers\": 0}", &c, &err), UG_ERR_FORMAT);
}
END_TEST

// A config that does not match the file fails at load naming the tensor; bad inputs fail at
// forward naming the input.
START_TEST(load_and_input_checks) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_st[0] != NULL, "rba_tiny could not be packed (see stderr)");
    ug_err err;
    m2f_config cfg;
    ck_assert_int_eq(m2f_config_from_json(&cfg, ug_json_root(g_cfg[0]), &err), UG_OK);
    ug_weights w;
    ug_weights_init(&w, g_st[0], "rba_tiny");
    m2f_decoder d;
    cfg.layers = 2; // the 1-layer file has no layer 1
    ck_assert_int_ne(m2f_load(&d, &cfg, &w, "predictor.", &err), UG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "transformer_cross_attention_layers.1"));
    cfg.layers = 1;
    cfg.queries = 11;
    ck_assert_int_ne(m2f_load(&d, &cfg, &w, "predictor.", &err), UG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "query_feat"));
    cfg.queries = 10;
    ck_assert_int_eq(m2f_load(&d, &cfg, &w, "predictor.", &err), UG_OK);

    ug_tensor f[3], mf, lg, mk;
    for (int l = 0; l < 3; l++)
        ck_assert_int_eq(ug_tensor_new(&f[l], UG_F32, UG_DIMS(1, 64, 2 << l, 3 << l), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&mf, UG_F32, UG_DIMS(1, 31, 16, 24), &err), UG_OK); // E is 32
    ck_assert_int_eq(m2f_forward(&test_ctx, &d, f, 3, &mf, &lg, &mk, NULL, &err), UG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "mask_features"));
    ck_assert_int_eq(m2f_forward(&test_ctx, &d, f, 2, &mf, &lg, &mk, NULL, &err), UG_ERR_ARG);
    ug_tensor_free(&mf);
    // Odd sizes everywhere (levels 1 x 1 up, a 1 x 3 mask grid) run and give finite numbers.
    ck_assert_int_eq(ug_tensor_new(&mf, UG_F32, UG_DIMS(1, 32, 1, 3), &err), UG_OK);
    ug_tensor_free(&f[0]);
    ck_assert_int_eq(ug_tensor_new(&f[0], UG_F32, UG_DIMS(1, 64, 1, 1), &err), UG_OK);
    for (int l = 0; l < 3; l++)
        test_fill_normal(f[l].data, (size_t)ug_tensor_numel(&f[l]), 1.0f, 7 + l);
    test_fill_normal(mf.data, (size_t)ug_tensor_numel(&mf), 1.0f, 3);
    ck_assert_int_eq(m2f_forward(&test_ctx, &d, f, 3, &mf, &lg, &mk, NULL, &err), UG_OK);
    const float *m = mk.data;
    for (int i = 0; i < 10 * 3; i++)
        ck_assert(m[i] == m[i]);
    free_run(&lg, &mk, f, &mf, &d, &w);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "m2f_decoder",
                                           .setup = test_ctx_setup,
                                           .teardown = test_ctx_teardown,
                                           .setup_once = setup,
                                           .teardown_once = teardown,
                                           .timeout = 60},
                          &s);
    test_add(tc, golden_img0_1dl, golden_img1_1dl, golden_img0_3dl, golden_img1_3dl, bf16_weights,
             config_checks, load_and_input_checks);
    return test_run_suite(s);
}
