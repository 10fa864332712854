// tests/test_msdeform_pixel_decoder.c — the MSDeformAttn pixel decoder against golden/rba_tiny (every
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

#include "engine/safetensors.h"
#include "models/msdeform_pixel_decoder.h"
#include "ops/msdeform_attn.h"
#include "ops/posembed.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

#define ATOL 1e-4
#define RTOL 1e-4

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
    for (int k = 0; st == UG_OK && k < PD_FEATURES; k++)
        ch[k] = (int)(E << k);
    return st;
}

// Packs golden rba_tiny_1dl.d2.pth as `ugains pack` would (F32; the tiny head counts are
// invisible in the shapes) and loads the pixel decoder. Done once in the parent (unchecked
// fixture); the thread pool is made per test in the forked child.
static void setup(void) {
    if (!test_golden_available()) return;
    g_tmp = test_tmpdir();
    ug_err err;
    char *path = rba_test_pack(g_tmp, "rba_tiny_1dl.d2.pth", "rba_tiny_1dl.safetensors");
    ug_status st =
        path ? rba_test_open(path, &g_st, &g_cfg, &err) : ug_errf(&err, UG_ERR_IO, "packing failed");
    free(path);
    int ch[PD_FEATURES];
    pd_config cfg;
    if (st == UG_OK && (st = res_channels(ug_json_root(g_cfg), ch, &err)) == UG_OK &&
        (st = pd_config_from_json(&cfg, ug_json_root(g_cfg), ch, &err)) == UG_OK) {
        ug_weights_init(&g_w, g_st, "rba_tiny_1dl.safetensors");
        st = pd_load(&g_model, &cfg, &g_w, "pixel_decoder.", &err);
    }
    g_loaded = st == UG_OK;
    if (!g_loaded) fprintf(stderr, "test_msdeform_pixel_decoder: %s\n", err.msg);
}

static void teardown(void) {
    if (g_loaded) pd_free(&g_model);
    ug_weights_release(&g_w);
    ug_json_free(g_cfg);
    if (g_st) ug_st_close(g_st);
    test_tmpdir_remove(&g_tmp);
    g_st = NULL;
    g_cfg = NULL;
    g_loaded = false;
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
    if (!rba_golden_exists(stem)) return;
    rba_check(t, stem, ATOL, RTOL);
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
        ck_assert_msg(rba_golden_exists(stem), "%s missing", stem);
        res[k] = rba_golden(stem);
    }
    cmp_state s = {.img = img};
    nn_trace tr = {compare_trace, &s};
    pd_output out;
    ug_err err;
    ug_status st = pd_forward(&test_ctx, &g_model, res, &out, &tr, &err);
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
    for (int i = 0; i < 9; i++)
        ck_assert_str_eq(s.seen[i], expect[i]);
    // The outputs themselves (the trace shows the same tensors; this checks what callers get).
    ck_assert_int_eq(out.n_multiscale, 3);
    for (int j = 0; j < 3; j++) {
        char stem[64];
        snprintf(stem, sizeof stem, "%s_pd_multi_scale_features%d", img, j);
        ug_tensor want = rba_golden(stem);
        ck_assert(ug_tensor_same_shape(&out.multi_scale[j], &want));
        ug_tensor_free(&want);
    }
    char stem[64];
    snprintf(stem, sizeof stem, "%s_pd_mask_features", img);
    ug_tensor want = rba_golden(stem);
    ck_assert(ug_tensor_same_shape(&out.mask_features, &want));
    test_assert_close(out.mask_features.data, want.data, (size_t)ug_tensor_numel(&want), ATOL, RTOL, stem);
    ug_tensor_free(&want);
    pd_output_free(&out);
    for (int k = 0; k < PD_FEATURES; k++)
        ug_tensor_free(&res[k]);
    ck_assert_uint_eq(test_ctx.arena.used, 0);
}

START_TEST(golden_img0) {
    run_golden("img0");
}
END_TEST

START_TEST(golden_img1) {
    run_golden("img1");
}
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

#define CFG_BASE                                                                                             \
    "\"pixel_decoder_conv_dim\": 256, \"pixel_decoder_mask_dim\": 256, \"pixel_decoder_gn_groups\": 32, "    \
    "\"pixel_decoder_norm\": \"GN\", \"pixel_decoder_transformer_nheads\": 8, "                              \
    "\"pixel_decoder_deform_n_points\": "                                                                    \
    "4, \"pixel_decoder_transformer_dim_feedforward\": 1024, \"pixel_decoder_transformer_enc_layers\": 6, "

START_TEST(config_levels_and_fpn) {
    pd_config c;
    ug_err err;
    // RbA: res5 only, common stride 4 -> FPN over res4, res3, res2.
    ck_assert_int_eq(parse_cfg(&c,
                               "{" CFG_BASE "\"pixel_decoder_common_stride\": 4, "
                               "\"pixel_decoder_transformer_in_features\": [\"res5\"]}",
                               &err),
                     UG_OK);
    ck_assert_int_eq(c.n_levels, 1);
    ck_assert_int_eq(c.level_feature[0], 3);
    ck_assert_int_eq(c.n_fpn, 3);
    // Standard Mask2Former: res3..res5 in any order, sorted by stride, coarsest first.
    ck_assert_int_eq(parse_cfg(&c,
                               "{" CFG_BASE "\"pixel_decoder_common_stride\": 4, "
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
    ck_assert_int_eq(parse_cfg(&c,
                               "{" CFG_BASE "\"pixel_decoder_common_stride\": 8, "
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
        {"{" CFG_BASE
         "\"pixel_decoder_common_stride\": 4, \"pixel_decoder_transformer_in_features\": [\"res6\"]}",
         "res2"},
        {"{" CFG_BASE
         "\"pixel_decoder_common_stride\": 4, \"pixel_decoder_transformer_in_features\": [\"res5\", "
         "\"res5\"]}",
         "distinct"},
        {"{" CFG_BASE
         "\"pixel_decoder_common_stride\": 3, \"pixel_decoder_transformer_in_features\": [\"res5\"]}",
         "common stride 3"},
        {"{" CFG_BASE "\"pixel_decoder_common_stride\": 4, \"pixel_decoder_transformer_in_features\": []}",
         "0 features"},
        {"{\"pixel_decoder_conv_dim\": 256, \"pixel_decoder_mask_dim\": 256}", "pixel_decoder_common_stride"},
        {"{\"pixel_decoder_conv_dim\": 250, \"pixel_decoder_mask_dim\": 256, "
         "\"pixel_decoder_common_stride\": 4, "
         "\"pixel_decoder_transformer_nheads\": 8, \"pixel_decoder_deform_n_points\": 4, "
         "\"pixel_decoder_transformer_dim_feedforward\": 1024, \"pixel_decoder_transformer_enc_layers\": 6, "
         "\"pixel_decoder_transformer_in_features\": [\"res5\"]}",
         "conv_dim 250"},
        {"{\"pixel_decoder_conv_dim\": 256, \"pixel_decoder_mask_dim\": 256, "
         "\"pixel_decoder_common_stride\": 4, "
         "\"pixel_decoder_norm\": \"BN\", \"pixel_decoder_transformer_nheads\": 8, "
         "\"pixel_decoder_deform_n_points\": 4, \"pixel_decoder_transformer_dim_feedforward\": 1024, "
         "\"pixel_decoder_transformer_enc_layers\": 6, \"pixel_decoder_transformer_in_features\": "
         "[\"res5\"]}",
         "BN"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse_cfg(&c, bad[i].json, &err) != UG_OK, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, bad[i].msg), "case %zu: message \"%s\" lacks \"%s\"", i, err.msg,
                      bad[i].msg);
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
    ck_assert_msg(strstr(err.msg, "sampling_offsets") && strstr(err.msg, "[32,64]") &&
                      strstr(err.msg, "expected [64,64]"),
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
        ck_assert_int_eq(
            ug_tensor_new(&res[k], UG_F32, UG_DIMS(1, g_model.cfg.in_channels[k], 9 >> k | 1, 5), &err),
            UG_OK);
    ug_tensor good = res[2];
    ck_assert_int_eq(ug_tensor_new(&res[2], UG_F32, UG_DIMS(1, 33, 3, 3), &err), UG_OK);
    pd_output out;
    ck_assert_int_ne(pd_forward(&test_ctx, &g_model, res, &out, NULL, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "res4"), "%s", err.msg);
    ug_tensor_free(&res[2]);
    res[2] = good;
    // The right channels at tiny odd sizes (1x5 res5) run.
    ck_assert_int_eq(pd_forward(&test_ctx, &g_model, res, &out, NULL, &err), UG_OK);
    ck_assert_int_eq(out.mask_features.shape[2], 9);
    ck_assert_int_eq(out.multi_scale[0].shape[2], 1);
    pd_output_free(&out);
    for (int k = 0; k < PD_FEATURES; k++)
        ug_tensor_free(&res[k]);
}
END_TEST

// ---- a synthetic three-level decoder (standard Mask2Former: res3..res5 in the encoder) ----
//
// The golden model has one encoder level; this one checks the multi-level rules against a
// plain double re-computation of encoder layer 0 from the traced input projections: token
// order (coarsest level first), per-level PE + level embedding, each token's reference point
// on its own level used for every level, offsets normalised by the sampled level's size, the
// softmax over levels x points, then the maps handed on (split back per level) and the FPN.

enum { SYN_C = 32, SYN_M = 4, SYN_P = 2, SYN_F = 48, SYN_MASK = 16, SYN_LAYERS = 2 };
static const int syn_ch[PD_FEATURES] = {8, 16, 32, 64};
static const int64_t syn_hw[PD_FEATURES][2] = {{17, 23}, {9, 12}, {5, 6}, {3, 3}}; // res2..res5

typedef struct syn_tensor {
    char name[192];
    int ndim;
    int64_t shape[4];
    float lo, hi; // uniform init range
} syn_tensor;

static int syn_add(syn_tensor *t, int n, const char *name, float lo, float hi, int ndim, int64_t a, int64_t b,
                   int64_t c, int64_t d) {
    snprintf(t[n].name, sizeof t[n].name, "pixel_decoder.%s", name);
    t[n].ndim = ndim;
    int64_t sh[4] = {a, b, c, d};
    memcpy(t[n].shape, sh, sizeof sh);
    t[n].lo = lo;
    t[n].hi = hi;
    return n + 1;
}

// Every tensor of the synthetic decoder, in the official names. Weights ~ U(+-1/sqrt(fan in));
// sampling-offset biases of a few pixels (as the official init) so points leave their pixel.
static int syn_tensors(syn_tensor *t) {
    int n = 0, L = 3;
    char k[128];
    for (int l = 0; l < L; l++) {
        int cin = syn_ch[3 - l];
        float r = 1.0f / sqrtf((float)cin);
        snprintf(k, sizeof k, "input_proj.%d.0.weight", l);
        n = syn_add(t, n, k, -r, r, 4, SYN_C, cin, 1, 1);
        snprintf(k, sizeof k, "input_proj.%d.0.bias", l);
        n = syn_add(t, n, k, -0.1f, 0.1f, 1, SYN_C, 0, 0, 0);
        snprintf(k, sizeof k, "input_proj.%d.1.weight", l);
        n = syn_add(t, n, k, 0.8f, 1.2f, 1, SYN_C, 0, 0, 0);
        snprintf(k, sizeof k, "input_proj.%d.1.bias", l);
        n = syn_add(t, n, k, -0.2f, 0.2f, 1, SYN_C, 0, 0, 0);
    }
    n = syn_add(t, n, "transformer.level_embed", -0.5f, 0.5f, 2, L, SYN_C, 0, 0);
    float rc = 1.0f / sqrtf((float)SYN_C), rf = 1.0f / sqrtf((float)SYN_F);
    for (int i = 0; i < SYN_LAYERS; i++) {
        static const struct {
            const char *name;
            int out, in;
        } lin[] = {{"self_attn.sampling_offsets", SYN_M * 3 * SYN_P * 2, SYN_C},
                   {"self_attn.attention_weights", SYN_M * 3 * SYN_P, SYN_C},
                   {"self_attn.value_proj", SYN_C, SYN_C},
                   {"self_attn.output_proj", SYN_C, SYN_C},
                   {"linear1", SYN_F, SYN_C},
                   {"linear2", SYN_C, SYN_F}};
        for (size_t j = 0; j < sizeof lin / sizeof lin[0]; j++) {
            bool off = j == 0;
            float r = lin[j].in == SYN_F ? rf : rc;
            snprintf(k, sizeof k, "transformer.encoder.layers.%d.%s.weight", i, lin[j].name);
            n = syn_add(t, n, k, -r, r, 2, lin[j].out, lin[j].in, 0, 0);
            snprintf(k, sizeof k, "transformer.encoder.layers.%d.%s.bias", i, lin[j].name);
            n = syn_add(t, n, k, off ? -2.5f : -0.1f, off ? 2.5f : 0.1f, 1, lin[j].out, 0, 0, 0);
        }
        for (int j = 1; j <= 2; j++) {
            snprintf(k, sizeof k, "transformer.encoder.layers.%d.norm%d.weight", i, j);
            n = syn_add(t, n, k, 0.8f, 1.2f, 1, SYN_C, 0, 0, 0);
            snprintf(k, sizeof k, "transformer.encoder.layers.%d.norm%d.bias", i, j);
            n = syn_add(t, n, k, -0.2f, 0.2f, 1, SYN_C, 0, 0, 0);
        }
    }
    n = syn_add(t, n, "adapter_1.weight", -1 / sqrtf(8), 1 / sqrtf(8), 4, SYN_C, syn_ch[0], 1, 1);
    n = syn_add(t, n, "adapter_1.norm.weight", 0.8f, 1.2f, 1, SYN_C, 0, 0, 0);
    n = syn_add(t, n, "adapter_1.norm.bias", -0.2f, 0.2f, 1, SYN_C, 0, 0, 0);
    n = syn_add(t, n, "layer_1.weight", -rc / 3, rc / 3, 4, SYN_C, SYN_C, 3, 3);
    n = syn_add(t, n, "layer_1.norm.weight", 0.8f, 1.2f, 1, SYN_C, 0, 0, 0);
    n = syn_add(t, n, "layer_1.norm.bias", -0.2f, 0.2f, 1, SYN_C, 0, 0, 0);
    n = syn_add(t, n, "mask_features.weight", -rc, rc, 4, SYN_MASK, SYN_C, 1, 1);
    n = syn_add(t, n, "mask_features.bias", -0.1f, 0.1f, 1, SYN_MASK, 0, 0, 0);
    return n;
}

static ug_status syn_write(const char *path, ug_err *err) {
    syn_tensor t[128];
    int n = syn_tensors(t);
    ug_st_writer *w;
    ug_status st = ug_st_writer_create(&w, path, err);
    if (st != UG_OK) return st;
    for (int i = 0; i < n && st == UG_OK; i++)
        st = ug_st_writer_declare(w, t[i].name, UG_F32, t[i].ndim, t[i].shape, err);
    if (st == UG_OK) st = ug_st_writer_begin(w, err);
    for (int i = 0; i < n && st == UG_OK; i++) {
        size_t cnt = 1;
        for (int d = 0; d < t[i].ndim; d++)
            cnt *= (size_t)t[i].shape[d];
        float *buf = malloc(cnt * sizeof(float));
        test_fill_uniform(buf, cnt, t[i].lo, t[i].hi, 500 + (uint64_t)i);
        st = ug_st_writer_write(w, buf, cnt * sizeof(float), err);
        free(buf);
    }
    if (st != UG_OK) {
        ug_st_writer_abort(w);
        return st;
    }
    return ug_st_writer_finish(w, err);
}

typedef struct syn_capture {
    float *proj[3]; // input_proj traces, [C, h_l * w_l], level order
    float *layer0;  // encoder_layer0 [S, C]
    float *loc0;    // encoder_layer0_sampling_locations [S, M, L, P, 2]
    float *last;    // encoder_layer<last> [S, C]
    int nproj;
} syn_capture;

static float *dup_tensor(const ug_tensor *t) {
    float *p = malloc(ug_tensor_nbytes(t));
    memcpy(p, t->data, ug_tensor_nbytes(t));
    return p;
}

static void syn_trace(void *user, const char *name, const ug_tensor *t) {
    syn_capture *c = user;
    char last[32];
    snprintf(last, sizeof last, "encoder_layer%d", SYN_LAYERS - 1);
    if (!strncmp(name, "input_proj_res", 14) && c->nproj < 3) c->proj[c->nproj++] = dup_tensor(t);
    if (!strcmp(name, "encoder_layer0")) c->layer0 = dup_tensor(t);
    if (!strcmp(name, "encoder_layer0_sampling_locations")) c->loc0 = dup_tensor(t);
    if (!strcmp(name, last)) c->last = dup_tensor(t);
}

static const float *wget(ug_weights *w, const char *key, int ndim, const int64_t *shape) {
    ug_tensor t;
    ug_err err;
    char full[160];
    snprintf(full, sizeof full, "pixel_decoder.%s", key);
    ck_assert_msg(ug_weights_get_f32(w, &t, full, ndim, shape, &err) == UG_OK, "%s", err.msg);
    return t.data;
}

// Parameter "<name><tail>" of encoder layer 0.
static const float *wlayer0(ug_weights *w, const char *name, const char *tail, int ndim,
                            const int64_t *shape) {
    char key[160];
    snprintf(key, sizeof key, "transformer.encoder.layers.0.%s%s", name, tail);
    return wget(w, key, ndim, shape);
}

START_TEST(three_levels_synthetic) {
    char *dir = test_tmpdir(), path[1024];
    snprintf(path, sizeof path, "%s/syn.safetensors", dir);
    ug_err err;
    ck_assert_msg(syn_write(path, &err) == UG_OK, "%s", err.msg);
    ug_st_file *st;
    ck_assert_msg(ug_st_open(&st, path, &err) == UG_OK, "%s", err.msg);
    ug_weights w;
    ug_weights_init(&w, st, "syn.safetensors");
    pd_config cfg = {.conv_dim = SYN_C,
                     .mask_dim = SYN_MASK,
                     .gn_groups = 8,
                     .common_stride = 4,
                     .n_levels = 3,
                     .level_feature = {3, 2, 1},
                     .heads = SYN_M,
                     .points = SYN_P,
                     .ffn = SYN_F,
                     .enc_layers = SYN_LAYERS,
                     .n_fpn = 1,
                     .n_multiscale = 3,
                     .gn_eps = 1e-5f,
                     .ln_eps = 1e-5f};
    memcpy(cfg.in_channels, syn_ch, sizeof syn_ch);
    pd_model m;
    ck_assert_msg(pd_load(&m, &cfg, &w, "pixel_decoder.", &err) == UG_OK, "%s", err.msg);

    ug_tensor res[PD_FEATURES];
    for (int k = 0; k < PD_FEATURES; k++) {
        ck_assert_int_eq(
            ug_tensor_new(&res[k], UG_F32, UG_DIMS(1, syn_ch[k], syn_hw[k][0], syn_hw[k][1]), &err), UG_OK);
        test_fill_normal(res[k].data, (size_t)ug_tensor_numel(&res[k]), 1.0f, 900 + (uint64_t)k);
    }
    syn_capture cap = {0};
    nn_trace tr = {syn_trace, &cap};
    pd_output out;
    ck_assert_msg(pd_forward(&test_ctx, &m, res, &out, &tr, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(cap.nproj, 3);
    ck_assert(cap.layer0 && cap.loc0 && cap.last);

    // Shapes: the three encoder levels (res5, res4, res3) are the multi-scale features, the one
    // FPN level (res2) feeds mask_features.
    ck_assert_int_eq(out.n_multiscale, 3);
    for (int j = 0; j < 3; j++) {
        ck_assert_int_eq(out.multi_scale[j].shape[1], SYN_C);
        ck_assert_int_eq(out.multi_scale[j].shape[2], syn_hw[3 - j][0]);
        ck_assert_int_eq(out.multi_scale[j].shape[3], syn_hw[3 - j][1]);
    }
    ck_assert_int_eq(out.mask_features.shape[1], SYN_MASK);
    ck_assert_int_eq(out.mask_features.shape[2], syn_hw[0][0]);
    ck_assert_int_eq(out.mask_features.shape[3], syn_hw[0][1]);

    // Encoder layer 0 in double from the traced input projections.
    int64_t L = 3, C = SYN_C, M = SYN_M, P = SYN_P, D = C / M, F = SYN_F, shapes[3][2], start[3], S = 0;
    for (int l = 0; l < L; l++) {
        shapes[l][0] = syn_hw[3 - l][0];
        shapes[l][1] = syn_hw[3 - l][1];
        start[l] = S;
        S += shapes[l][0] * shapes[l][1];
    }
    double *src = malloc(sizeof(double) * (size_t)(S * C)), *q = malloc(sizeof(double) * (size_t)(S * C));
    double *refxy = malloc(sizeof(double) * (size_t)(S * 2));
    const float *lvl = wget(&w, "transformer.level_embed", UG_DIMS(L, C));
    for (int l = 0; l < L; l++) {
        int64_t h = shapes[l][0], wd = shapes[l][1];
        float *pe = malloc(sizeof(float) * (size_t)(C * h * wd));
        posembed_sine_ref(pe, C / 2, h, wd);
        for (int64_t t = 0; t < h * wd; t++) {
            int64_t s = start[l] + t;
            refxy[s * 2] = ((double)(t % wd) + 0.5) / (double)wd;
            refxy[s * 2 + 1] = ((double)(t / wd) + 0.5) / (double)h;
            for (int64_t c = 0; c < C; c++) {
                src[s * C + c] = cap.proj[l][c * h * wd + t];
                q[s * C + c] = src[s * C + c] + pe[c * h * wd + t] + lvl[l * C + c];
            }
        }
        free(pe);
    }
#define W2(name, o, i) wlayer0(&w, name, ".weight", UG_DIMS(o, i))
#define B1(name, o)    wlayer0(&w, name, ".bias", UG_DIMS(o))
    int64_t MLP = M * L * P;
    double *off = malloc(sizeof(double) * (size_t)(S * MLP * 2)),
           *awd = malloc(sizeof(double) * (size_t)(S * MLP));
    double *val = malloc(sizeof(double) * (size_t)(S * C)), *tmp = malloc(sizeof(double) * (size_t)(S * F));
    test_linear_f64(off, q, S, C, MLP * 2, W2("self_attn.sampling_offsets", MLP * 2, C),
                    B1("self_attn.sampling_offsets", MLP * 2));
    test_linear_f64(awd, q, S, C, MLP, W2("self_attn.attention_weights", MLP, C),
                    B1("self_attn.attention_weights", MLP));
    test_linear_f64(val, src, S, C, C, W2("self_attn.value_proj", C, C), B1("self_attn.value_proj", C));
    float *locf = malloc(sizeof(float) * (size_t)(S * MLP * 2)),
          *awf = malloc(sizeof(float) * (size_t)(S * MLP));
    float *valf = malloc(sizeof(float) * (size_t)(S * C)), *attf = malloc(sizeof(float) * (size_t)(S * C));
    for (int64_t s = 0; s < S; s++)
        for (int64_t mm = 0; mm < M; mm++) {
            double mx = -1e300, sum = 0;
            for (int64_t i = 0; i < L * P; i++)
                mx = fmax(mx, awd[(s * M + mm) * L * P + i]);
            for (int64_t i = 0; i < L * P; i++)
                sum += exp(awd[(s * M + mm) * L * P + i] - mx);
            for (int64_t i = 0; i < L * P; i++) {
                int64_t j = (s * M + mm) * L * P + i, l = i / P;
                awf[j] = (float)(exp(awd[j] - mx) / sum);
                locf[j * 2] = (float)(refxy[s * 2] + off[j * 2] / (double)shapes[l][1]);
                locf[j * 2 + 1] = (float)(refxy[s * 2 + 1] + off[j * 2 + 1] / (double)shapes[l][0]);
            }
        }
    test_assert_close(cap.loc0, locf, (size_t)(S * MLP * 2), 1e-5, 1e-5, "3-level sampling locations");
    for (int64_t i = 0; i < S * C; i++)
        valf[i] = (float)val[i];
    msdeform_attn_ref(attf, valf, (const int64_t(*)[2])shapes, L, P, locf, awf, 1, S, M, D);
    for (int64_t i = 0; i < S * C; i++)
        q[i] = attf[i];
    test_linear_f64(val, q, S, C, C, W2("self_attn.output_proj", C, C), B1("self_attn.output_proj", C));
    for (int64_t i = 0; i < S * C; i++)
        src[i] += val[i];
    test_layernorm_f64(src, src, S, C, wlayer0(&w, "norm1", ".weight", UG_DIMS(C)), B1("norm1", C), 1e-5);
    test_linear_f64(tmp, src, S, C, F, W2("linear1", F, C), B1("linear1", F));
    for (int64_t i = 0; i < S * F; i++)
        tmp[i] = tmp[i] > 0 ? tmp[i] : 0;
    test_linear_f64(val, tmp, S, F, C, W2("linear2", C, F), B1("linear2", C));
    for (int64_t i = 0; i < S * C; i++)
        src[i] += val[i];
    test_layernorm_f64(src, src, S, C, wlayer0(&w, "norm2", ".weight", UG_DIMS(C)), B1("norm2", C), 1e-5);
#undef W2
#undef B1
    float *want = malloc(sizeof(float) * (size_t)(S * C));
    for (int64_t i = 0; i < S * C; i++)
        want[i] = (float)src[i];
    // 1e-4 as for the golden tensors: float32 kernels against a double re-computation.
    test_assert_close(cap.layer0, want, (size_t)(S * C), 1e-4, 1e-4, "3-level encoder layer 0");

    // The multi-scale features are the last layer's tokens split back per level (a copy).
    for (int l = 0; l < L; l++) {
        int64_t hw = shapes[l][0] * shapes[l][1];
        for (int64_t t = 0; t < hw; t++)
            for (int64_t c = 0; c < C; c++)
                ck_assert_float_eq(((float *)out.multi_scale[l].data)[c * hw + t],
                                   cap.last[(start[l] + t) * C + c]);
    }
    for (int64_t i = 0; i < ug_tensor_numel(&out.mask_features); i++)
        ck_assert(isfinite(((float *)out.mask_features.data)[i]));

    free(want);
    free(src);
    free(q);
    free(refxy);
    free(off);
    free(awd);
    free(val);
    free(tmp);
    free(locf);
    free(awf);
    free(valf);
    free(attf);
    for (int l = 0; l < 3; l++)
        free(cap.proj[l]);
    free(cap.layer0);
    free(cap.loc0);
    free(cap.last);
    pd_output_free(&out);
    for (int kk = 0; kk < PD_FEATURES; kk++)
        ug_tensor_free(&res[kk]);
    pd_free(&m);
    ug_weights_release(&w);
    ug_st_close(st);
    test_rmtree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "pixel_decoder",
                                           .setup = test_ctx_setup,
                                           .teardown = test_ctx_teardown,
                                           .setup_once = setup,
                                           .teardown_once = teardown,
                                           .timeout = 60},
                          &s);
    test_add(tc, golden_img0, golden_img1, config_levels_and_fpn, config_errors, load_checks_shapes,
             forward_checks_inputs, three_levels_synthetic);
    return test_run_suite(s);
}
