// tests/test_swin.c — the Swin backbone against golden/rba_tiny (patch embedding, every block,
// res2..res5 for img0 128x256 and img1 120x200, the size that needs padding everywhere), the
// config reader, the weight checks, and a small random model with odd sizes against a plain
// double-precision re-implementation of the official forward pass written here.
//
// Tolerance for golden tensors: 1e-4 absolute + 1e-4 relative (golden/README.md: ten times
// the largest float32-vs-float64 gap of the official model). The random model is held to
// 2e-4 absolute + 2e-4 relative against the double reference: same arithmetic, but float32
// GEMMs, attention (online softmax) and LayerNorms over a few blocks with LayerNorm-amplified
// values of magnitude up to ~4.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/json.h"
#include "engine/safetensors.h"
#include "models/swin.h"
#include "models/weights.h"
#include "tests/helpers.h"
#include "weights-tools/packer.h"

#define ATOL 1e-4
#define RTOL 1e-4

// ---- golden model ----

typedef struct loaded {
    ug_st_file *st;
    ug_weights w;
    swin_model m;
    char *tmp;
    ug_json_doc *cfg;
} loaded;

// Packs the golden 1-layer checkpoint into a tmpdir (weights as `dtype`) and loads its backbone.
static void load_golden_as(loaded *L, ug_dtype dtype) {
    memset(L, 0, sizeof *L);
    ug_err err;
    L->tmp = test_tmpdir();
    char out[1024];
    snprintf(out, sizeof out, "%s/rba_tiny.safetensors", L->tmp);
    char *pth = test_golden_path("rba_tiny/rba_tiny_1dl.d2.pth");
    const char *set[] = {"pixel_decoder_transformer_nheads=4", "decoder_nheads=4"};
    ug_pack_opts o = {.arch = "rba", .dtype = dtype, .set = set, .nset = 2};
    ug_pack_stats stats;
    ug_status st = ug_pack(pth, out, &o, &stats, &err);
    free(pth);
    ck_assert_msg(st == UG_OK, "pack: %s", err.msg);
    ck_assert_msg(ug_st_open(&L->st, out, &err) == UG_OK, "%s", err.msg);
    const char *arch = ug_st_meta(L->st, "arch"), *cfg = ug_st_meta(L->st, "config");
    ck_assert_msg(arch && strcmp(arch, "rba") == 0, "arch %s", arch ? arch : "(none)");
    ck_assert_ptr_nonnull(cfg);
    ck_assert_msg(ug_json_parse(&L->cfg, cfg, strlen(cfg), "config", &err) == UG_OK, "%s", err.msg);
    swin_config sc;
    ck_assert_msg(swin_config_from_json(&sc, ug_json_root(L->cfg), &err) == UG_OK, "%s", err.msg);
    ug_weights_init(&L->w, L->st, "rba_tiny.safetensors");
    ck_assert_msg(swin_load(&L->m, &sc, &L->w, "backbone.", &err) == UG_OK, "%s", err.msg);
}

static void load_golden(loaded *L) {
    load_golden_as(L, UG_F32);
}

static void unload(loaded *L) {
    swin_free(&L->m);
    ug_weights_release(&L->w);
    ug_st_close(L->st);
    ug_json_free(L->cfg);
    if (L->tmp) test_rmtree(L->tmp);
    free(L->tmp);
}

static void check_golden(const ug_tensor *got, const char *rel) {
    ug_tensor want = test_golden_npy(rel);
    ck_assert_msg(ug_tensor_same_shape(got, &want), "%s: shape differs from the golden file", rel);
    test_assert_close(got->data, want.data, (size_t)ug_tensor_numel(&want), ATOL, RTOL, rel);
    ug_tensor_free(&want);
}

typedef struct trace_ctx {
    const char *img;
    int seen;
} trace_ctx;

static void on_trace(void *user, const char *name, const ug_tensor *t) {
    trace_ctx *tc = user;
    char rel[256];
    snprintf(rel, sizeof rel, "rba_tiny/%s_backbone_%s.npy", tc->img, name);
    check_golden(t, rel);
    tc->seen++;
}

static void run_golden_image(const char *img) {
    loaded L;
    load_golden(&L);
    char rel[256];
    snprintf(rel, sizeof rel, "rba_tiny/%s_input.npy", img);
    ug_tensor in = test_golden_npy(rel);
    ug_tensor res[SWIN_STAGES];
    trace_ctx tc = {img, 0};
    nn_trace tr = {on_trace, &tc};
    ug_err err;
    ck_assert_msg(swin_forward(&test_ctx, &L.m, &in, res, &tr, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(tc.seen, 1 + 8); // patch_embed + 4 stages x 2 blocks
    for (int s = 0; s < SWIN_STAGES; s++) {
        snprintf(rel, sizeof rel, "rba_tiny/%s_backbone_res%d.npy", img, s + 2);
        check_golden(&res[s], rel);
        ug_tensor_free(&res[s]);
    }
    ug_tensor_free(&in);
    unload(&L);
}

START_TEST(golden_img0) {
    run_golden_image("img0");
}
END_TEST

START_TEST(golden_img1_not_multiple_of_32) {
    run_golden_image("img1");
}
END_TEST

// The same tensors come out without a trace, with one window per chunk (chunk_tokens 1), and
// when a run reuses the arena.
START_TEST(golden_no_trace_small_chunks) {
    loaded L;
    load_golden(&L);
    ug_tensor in = test_golden_npy("rba_tiny/img1_input.npy");
    ug_err err;
    for (int rep = 0; rep < 2; rep++) {
        L.m.cfg.chunk_tokens = rep;
        ug_tensor res[SWIN_STAGES];
        ck_assert_msg(swin_forward(&test_ctx, &L.m, &in, res, NULL, &err) == UG_OK, "%s", err.msg);
        for (int s = 0; s < SWIN_STAGES; s++) {
            char rel[128];
            snprintf(rel, sizeof rel, "rba_tiny/img1_backbone_res%d.npy", s + 2);
            check_golden(&res[s], rel);
            ug_tensor_free(&res[s]);
        }
    }
    ck_assert_uint_eq(test_ctx.arena.used, 0);
    ug_tensor_free(&in);
    unload(&L);
}
END_TEST

// Weights packed as BF16 / F16 stay in that dtype for the GEMMs (norms, biases and the bias
// tables are widened at load). Rounding every weight to 8 (BF16) or 11 (F16) mantissa bits
// moves the outputs by about 2^-8 / 2^-11 relative per layer; measured max abs errors on
// values up to ~4: BF16 0.11 (res4), F16 0.008. The bounds (0.3 and 0.03) leave room for
// another summation order and stay far below what a wrong conversion or layout gives
// (errors of order 1 and more).
START_TEST(golden_half_precision_weights) {
    const ug_dtype dts[2] = {UG_BF16, UG_F16};
    const double tol[2] = {0.3, 0.03};
    for (int d = 0; d < 2; d++) {
        loaded L;
        load_golden_as(&L, dts[d]);
        ck_assert_int_eq(L.m.stages[2].blocks[1].qkv.w.dtype, dts[d]);
        ug_tensor in = test_golden_npy("rba_tiny/img0_input.npy");
        ug_tensor res[SWIN_STAGES];
        ug_err err;
        ck_assert_msg(swin_forward(&test_ctx, &L.m, &in, res, NULL, &err) == UG_OK, "%s", err.msg);
        for (int s = 0; s < SWIN_STAGES; s++) {
            char rel[128];
            snprintf(rel, sizeof rel, "rba_tiny/img0_backbone_res%d.npy", s + 2);
            ug_tensor want = test_golden_npy(rel);
            test_assert_close(res[s].data, want.data, (size_t)ug_tensor_numel(&want), tol[d], 0, rel);
            ug_tensor_free(&want);
            ug_tensor_free(&res[s]);
        }
        ug_tensor_free(&in);
        unload(&L);
    }
}
END_TEST

// ---- config and weight checks ----

static const char *tiny_json =
    "{\"swin_embed_dim\": 8, \"swin_depths\": [2, 2, 2, 2], \"swin_num_heads\": [1, 2, 4, 8],"
    " \"swin_window_size\": 12, \"swin_patch_size\": 4, \"swin_mlp_ratio\": 4.0, \"swin_layernorm_eps\": "
    "1e-05,"
    " \"swin_patch_norm\": true, \"swin_qkv_bias\": true, \"swin_ape\": false}";

static ug_status parse_cfg(const char *text, swin_config *c, ug_err *err) {
    ug_json_doc *doc;
    ug_status st = ug_json_parse(&doc, text, strlen(text), "config", err);
    if (st != UG_OK) return st;
    st = swin_config_from_json(c, ug_json_root(doc), err);
    ug_json_free(doc);
    return st;
}

START_TEST(config_parse_and_reject) {
    swin_config c;
    ug_err err;
    ck_assert_msg(parse_cfg(tiny_json, &c, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(c.embed_dim, 8);
    ck_assert_int_eq(c.depths[3], 2);
    ck_assert_int_eq(c.num_heads[3], 8);
    ck_assert_int_eq(c.window, 12);
    ck_assert_int_eq(c.patch_size, 4);
    ck_assert_float_eq(c.eps, 1e-5f);
    ck_assert(c.patch_norm && c.qkv_bias);

    const char *bad[] = {
        "{\"swin_embed_dim\": 8, \"swin_depths\": [2, 2, 2], \"swin_num_heads\": [1, 2, 4, 8],"
        " \"swin_window_size\": 12, \"swin_patch_size\": 4}", // 3 stages
        "{\"swin_embed_dim\": 8, \"swin_depths\": [2, 2, 2, 2], \"swin_num_heads\": [3, 2, 4, 8],"
        " \"swin_window_size\": 12, \"swin_patch_size\": 4}", // 3 heads for 8 channels
        "{\"swin_embed_dim\": 8, \"swin_depths\": [2, 2, 2, 2], \"swin_num_heads\": [1, 2, 4, 8],"
        " \"swin_window_size\": 12, \"swin_patch_size\": 4, \"swin_ape\": true}", // absolute positions
        "{\"swin_embed_dim\": 8, \"swin_depths\": [2, 2, 2, 2], \"swin_num_heads\": [1, 2, 4, 8],"
        " \"swin_patch_size\": 4}", // no window
        "{\"swin_embed_dim\": 0, \"swin_depths\": [2, 2, 2, 2], \"swin_num_heads\": [1, 2, 4, 8],"
        " \"swin_window_size\": 12, \"swin_patch_size\": 4}", // zero width
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(parse_cfg(bad[i], &c, &err) != UG_OK, "bad config %zu accepted", i);
        ck_assert(err.msg[0] != 0);
    }
}
END_TEST

// A config that disagrees with the file fails at load time naming the tensor and both shapes.
START_TEST(load_rejects_wrong_sizes) {
    loaded L;
    load_golden(&L);
    swin_config c = L.m.cfg;
    swin_model m;
    ug_err err;
    c.embed_dim = 16;
    c.num_heads[0] = 2;
    ck_assert(swin_load(&m, &c, &L.w, "backbone.", &err) != UG_OK);
    ck_assert_msg(strstr(err.msg, "backbone.patch_embed.proj.weight") && strstr(err.msg, "[8,3,4,4]"), "%s",
                  err.msg);
    c = L.m.cfg;
    c.depths[2] = 3; // one block more than the file holds
    ck_assert(swin_load(&m, &c, &L.w, "backbone.", &err) != UG_OK);
    ck_assert_msg(strstr(err.msg, "layers.2.blocks.2") && strstr(err.msg, "missing"), "%s", err.msg);
    c = L.m.cfg;
    c.window = 7;
    ck_assert(swin_load(&m, &c, &L.w, "backbone.", &err) != UG_OK);
    ck_assert_msg(strstr(err.msg, "relative_position_bias_table"), "%s", err.msg);

    ug_tensor bad;
    ck_assert_int_eq(ug_tensor_new(&bad, UG_F32, UG_DIMS(1, 4, 32, 32), &err), UG_OK);
    ug_tensor res[SWIN_STAGES];
    ck_assert(swin_forward(&test_ctx, &L.m, &bad, res, NULL, &err) == UG_ERR_ARG);
    ck_assert_ptr_null(res[0].data);
    ug_tensor_free(&bad);
    unload(&L);
}
END_TEST

START_TEST(output_sizes) {
    swin_config c;
    ug_err err;
    ck_assert_msg(parse_cfg(tiny_json, &c, &err) == UG_OK, "%s", err.msg);
    int64_t hw[SWIN_STAGES][2];
    swin_output_sizes(&c, 120, 200, hw);
    const int64_t want[4][2] = {{30, 50}, {15, 25}, {8, 13}, {4, 7}};
    for (int s = 0; s < 4; s++) {
        ck_assert_int_eq(hw[s][0], want[s][0]);
        ck_assert_int_eq(hw[s][1], want[s][1]);
    }
    swin_output_sizes(&c, 1, 3, hw);
    for (int s = 0; s < 4; s++)
        ck_assert(hw[s][0] == 1 && hw[s][1] == 1);
}
END_TEST

// ---- random model vs a double re-implementation of the official forward ----
//
// The reference below follows swin.py literally: F.pad of the whole map, torch.roll, the
// img_mask region labels, window_partition, the full relative_position_index, window_reverse,
// and PatchMerging's strided slices. Sizes: embed 6 (heads 1, 2, 3, 6 -> head dims 6, 6, 8, 8),
// window 3 (shift 1), patch 3, mlp ratio 2, depths 1, 2, 1, 2; image 1x2x17x23, so every
// stage is padded and merging sees odd sizes.

typedef struct rand_model {
    swin_config cfg;
    ug_tensor *owned;
    int nowned;
    ug_st_file *st;
    void *file;
    ug_weights w;
    swin_model m;
    char *tmp;
} rand_model;

typedef struct named {
    char name[128];
    int ndim;
    int64_t shape[4];
    float *data;
} named;

static named g_params[512];
static int g_nparams;

static float *add_param(const char *name, int ndim, const int64_t *shape, float std, float mean,
                        uint64_t seed) {
    named *p = &g_params[g_nparams++];
    ck_assert_int_lt(g_nparams, 512);
    snprintf(p->name, sizeof p->name, "backbone.%s", name);
    p->ndim = ndim;
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (p->shape[d] = shape[d]);
    p->data = malloc((size_t)n * sizeof(float));
    test_fill_normal(p->data, (size_t)n, std, seed);
    for (int64_t i = 0; i < n; i++)
        p->data[i] += mean;
    return p->data;
}

static const float *param(const char *fmt, int a, int b) {
    char tail[128], name[160];
    snprintf(tail, sizeof tail, fmt, a, b);
    snprintf(name, sizeof name, "backbone.%s", tail);
    for (int i = 0; i < g_nparams; i++)
        if (strcmp(g_params[i].name, name) == 0) return g_params[i].data;
    ck_abort_msg("no param %s", name);
    return NULL;
}

static void make_random_params(const swin_config *c) {
    g_nparams = 0;
    uint64_t seed = 100;
    int64_t C0 = c->embed_dim, p = c->patch_size, T = (2 * c->window - 1) * (2 * c->window - 1);
    char n[128];
    add_param("patch_embed.proj.weight", UG_DIMS(C0, c->in_chans, p, p), 0.3f, 0, seed++);
    add_param("patch_embed.proj.bias", UG_DIMS(C0), 0.1f, 0, seed++);
    add_param("patch_embed.norm.weight", UG_DIMS(C0), 0.1f, 1, seed++);
    add_param("patch_embed.norm.bias", UG_DIMS(C0), 0.1f, 0, seed++);
    for (int s = 0; s < SWIN_STAGES; s++) {
        int64_t C = C0 << s, hid = (int64_t)(C * c->mlp_ratio), H = c->num_heads[s];
        float sc = 1.0f / sqrtf((float)C);
        for (int b = 0; b < c->depths[s]; b++) {
#define P(suffix, std, mean, ...)                                                                            \
    snprintf(n, sizeof n, "layers.%d.blocks.%d.%s", s, b, suffix);                                           \
    add_param(n, UG_DIMS(__VA_ARGS__), std, mean, seed++)
            P("norm1.weight", 0.1f, 1, C);
            P("norm1.bias", 0.1f, 0, C);
            P("attn.relative_position_bias_table", 0.5f, 0, T, H);
            P("attn.qkv.weight", 2 * sc, 0, 3 * C, C);
            P("attn.qkv.bias", 0.1f, 0, 3 * C);
            P("attn.proj.weight", sc, 0, C, C);
            P("attn.proj.bias", 0.1f, 0, C);
            P("norm2.weight", 0.1f, 1, C);
            P("norm2.bias", 0.1f, 0, C);
            P("mlp.fc1.weight", sc, 0, hid, C);
            P("mlp.fc1.bias", 0.1f, 0, hid);
            P("mlp.fc2.weight", 1.0f / sqrtf((float)hid), 0, C, hid);
            P("mlp.fc2.bias", 0.1f, 0, C);
#undef P
        }
        snprintf(n, sizeof n, "norm%d.weight", s);
        add_param(n, UG_DIMS(C), 0.1f, 1, seed++);
        snprintf(n, sizeof n, "norm%d.bias", s);
        add_param(n, UG_DIMS(C), 0.1f, 0, seed++);
        if (s + 1 < SWIN_STAGES) {
            snprintf(n, sizeof n, "layers.%d.downsample.norm.weight", s);
            add_param(n, UG_DIMS(4 * C), 0.1f, 1, seed++);
            snprintf(n, sizeof n, "layers.%d.downsample.norm.bias", s);
            add_param(n, UG_DIMS(4 * C), 0.1f, 0, seed++);
            snprintf(n, sizeof n, "layers.%d.downsample.reduction.weight", s);
            add_param(n, UG_DIMS(2 * C, 4 * C), 1.0f / sqrtf((float)(4 * C)), 0, seed++);
        }
    }
}

static void free_params(void) {
    for (int i = 0; i < g_nparams; i++)
        free(g_params[i].data);
    g_nparams = 0;
}

static void write_params(const char *path) {
    ug_st_writer *w;
    ug_err err;
    ck_assert_msg(ug_st_writer_create(&w, path, &err) == UG_OK, "%s", err.msg);
    for (int i = 0; i < g_nparams; i++)
        ck_assert_msg(ug_st_writer_declare(w, g_params[i].name, UG_F32, g_params[i].ndim, g_params[i].shape,
                                           &err) == UG_OK,
                      "%s", err.msg);
    ck_assert_msg(ug_st_writer_begin(w, &err) == UG_OK, "%s", err.msg);
    for (int i = 0; i < g_nparams; i++) {
        int64_t n = 1;
        for (int d = 0; d < g_params[i].ndim; d++)
            n *= g_params[i].shape[d];
        ck_assert_msg(ug_st_writer_write(w, g_params[i].data, (size_t)n * sizeof(float), &err) == UG_OK, "%s",
                      err.msg);
    }
    ck_assert_msg(ug_st_writer_finish(w, &err) == UG_OK, "%s", err.msg);
}

// Double reference pieces on NHWC maps [H][W][C].
static void ref_block(const swin_config *c, int s, int b, double *x, int64_t H, int64_t W, int64_t C) {
    int64_t ws = c->window, shift = b % 2 ? ws / 2 : 0, heads = c->num_heads[s], hd = C / heads, N = ws * ws;
    int64_t Hp = (H + ws - 1) / ws * ws, Wp = (W + ws - 1) / ws * ws, nwx = Wp / ws, nW = Hp / ws * nwx;
    int64_t hid = (int64_t)(C * c->mlp_ratio);
    double *xn = calloc((size_t)(H * W * C), sizeof(double));
    double *pad = calloc((size_t)(Hp * Wp * C), sizeof(double)),
           *rolled = calloc((size_t)(Hp * Wp * C), sizeof(double));
    test_layernorm_f64(xn, x, H * W, C, param("layers.%d.blocks.%d.norm1.weight", s, b),
                       param("layers.%d.blocks.%d.norm1.bias", s, b), c->eps);
    for (int64_t r = 0; r < H; r++)
        memcpy(pad + r * Wp * C, xn + r * W * C, (size_t)(W * C) * sizeof(double));
    // torch.roll(x, (-shift, -shift)): rolled[i] = pad[(i + shift) mod size].
    for (int64_t r = 0; r < Hp; r++)
        for (int64_t q = 0; q < Wp; q++)
            memcpy(rolled + (r * Wp + q) * C, pad + (((r + shift) % Hp) * Wp + (q + shift) % Wp) * C,
                   (size_t)C * sizeof(double));
    // img_mask labels: slices (0, -ws), (-ws, -shift), (-shift, None) per axis.
    int *label = calloc((size_t)(Hp * Wp), sizeof(int));
    for (int64_t r = 0; r < Hp; r++)
        for (int64_t q = 0; q < Wp; q++) {
            int lr = r < Hp - ws ? 0 : r < Hp - shift ? 1 : 2, lq = q < Wp - ws ? 0 : q < Wp - shift ? 1 : 2;
            label[r * Wp + q] = lr * 3 + lq;
        }
    const float *table = param("layers.%d.blocks.%d.attn.relative_position_bias_table", s, b);
    double *win = malloc((size_t)(N * C) * sizeof(double)),
           *qkv = malloc((size_t)(N * 3 * C) * sizeof(double));
    double *o = malloc((size_t)(N * C) * sizeof(double)), *pr = malloc((size_t)(N * C) * sizeof(double));
    double *logit = malloc((size_t)N * sizeof(double));
    double *attn_map = calloc((size_t)(Hp * Wp * C), sizeof(double));
    for (int64_t wi = 0; wi < nW; wi++) {
        int64_t wy = wi / nwx, wx = wi % nwx;
        for (int64_t t = 0; t < N; t++)
            memcpy(win + t * C, rolled + ((wy * ws + t / ws) * Wp + wx * ws + t % ws) * C,
                   (size_t)C * sizeof(double));
        test_linear_f64(qkv, win, N, C, 3 * C, param("layers.%d.blocks.%d.attn.qkv.weight", s, b),
                        param("layers.%d.blocks.%d.attn.qkv.bias", s, b));
        for (int64_t h = 0; h < heads; h++)
            for (int64_t i = 0; i < N; i++) {
                double mx = -INFINITY;
                for (int64_t j = 0; j < N; j++) {
                    double d = 0;
                    for (int64_t e = 0; e < hd; e++)
                        d += qkv[i * 3 * C + h * hd + e] / sqrt((double)hd) * qkv[j * 3 * C + C + h * hd + e];
                    int64_t idx = (i / ws - j / ws + ws - 1) * (2 * ws - 1) + (i % ws - j % ws + ws - 1);
                    d += table[idx * heads + h];
                    if (shift) {
                        int li = label[(wy * ws + i / ws) * Wp + wx * ws + i % ws];
                        int lj = label[(wy * ws + j / ws) * Wp + wx * ws + j % ws];
                        if (li != lj) d += -100.0;
                    }
                    logit[j] = d;
                    mx = fmax(mx, d);
                }
                double sum = 0;
                for (int64_t j = 0; j < N; j++)
                    sum += (logit[j] = exp(logit[j] - mx));
                for (int64_t e = 0; e < hd; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < N; j++)
                        acc += logit[j] * qkv[j * 3 * C + 2 * C + h * hd + e];
                    o[i * C + h * hd + e] = acc / sum;
                }
            }
        test_linear_f64(pr, o, N, C, C, param("layers.%d.blocks.%d.attn.proj.weight", s, b),
                        param("layers.%d.blocks.%d.attn.proj.bias", s, b));
        for (int64_t t = 0; t < N; t++) // window_reverse
            memcpy(attn_map + ((wy * ws + t / ws) * Wp + wx * ws + t % ws) * C, pr + t * C,
                   (size_t)C * sizeof(double));
    }
    // roll back by +shift, crop, residual.
    for (int64_t r = 0; r < H; r++)
        for (int64_t q = 0; q < W; q++) {
            const double *src =
                attn_map + ((((r - shift) % Hp + Hp) % Hp) * Wp + ((q - shift) % Wp + Wp) % Wp) * C;
            for (int64_t e = 0; e < C; e++)
                x[(r * W + q) * C + e] += src[e];
        }
    double *h1 = malloc((size_t)(H * W * hid) * sizeof(double)),
           *h2 = malloc((size_t)(H * W * C) * sizeof(double));
    test_layernorm_f64(xn, x, H * W, C, param("layers.%d.blocks.%d.norm2.weight", s, b),
                       param("layers.%d.blocks.%d.norm2.bias", s, b), c->eps);
    test_linear_f64(h1, xn, H * W, C, hid, param("layers.%d.blocks.%d.mlp.fc1.weight", s, b),
                    param("layers.%d.blocks.%d.mlp.fc1.bias", s, b));
    for (int64_t i = 0; i < H * W * hid; i++)
        h1[i] = 0.5 * h1[i] * (1 + erf(h1[i] / sqrt(2.0)));
    test_linear_f64(h2, h1, H * W, hid, C, param("layers.%d.blocks.%d.mlp.fc2.weight", s, b),
                    param("layers.%d.blocks.%d.mlp.fc2.bias", s, b));
    for (int64_t i = 0; i < H * W * C; i++)
        x[i] += h2[i];
    free(xn), free(pad), free(rolled), free(label), free(win), free(qkv), free(o), free(pr), free(logit);
    free(attn_map), free(h1), free(h2);
}

// The official forward in double: img [Cin][Hi][Wi] -> res[s] NCHW (malloc'ed).
static void ref_forward(const swin_config *c, const float *img, int64_t Hi, int64_t Wi,
                        double *res[SWIN_STAGES], int64_t hw[SWIN_STAGES][2]) {
    int64_t p = c->patch_size, H = (Hi + p - 1) / p, W = (Wi + p - 1) / p, C = c->embed_dim,
            Cin = c->in_chans;
    double *x = calloc((size_t)(H * W * C), sizeof(double));
    const float *pw = param("patch_embed.proj.weight", 0, 0), *pb = param("patch_embed.proj.bias", 0, 0);
    for (int64_t r = 0; r < H; r++)
        for (int64_t q = 0; q < W; q++)
            for (int64_t o = 0; o < C; o++) {
                double acc = pb[o];
                for (int64_t ci = 0; ci < Cin; ci++)
                    for (int64_t ky = 0; ky < p; ky++)
                        for (int64_t kx = 0; kx < p; kx++) {
                            int64_t y = r * p + ky, xx = q * p + kx;
                            if (y < Hi && xx < Wi)
                                acc += (double)img[(ci * Hi + y) * Wi + xx] *
                                       pw[((o * Cin + ci) * p + ky) * p + kx];
                        }
                x[(r * W + q) * C + o] = acc;
            }
    test_layernorm_f64(x, x, H * W, C, param("patch_embed.norm.weight", 0, 0),
                       param("patch_embed.norm.bias", 0, 0), c->eps);
    for (int s = 0; s < SWIN_STAGES; s++) {
        for (int b = 0; b < c->depths[s]; b++)
            ref_block(c, s, b, x, H, W, C);
        hw[s][0] = H;
        hw[s][1] = W;
        double *xn = malloc((size_t)(H * W * C) * sizeof(double));
        test_layernorm_f64(xn, x, H * W, C, param("norm%d.weight", s, 0), param("norm%d.bias", s, 0), c->eps);
        res[s] = malloc((size_t)(H * W * C) * sizeof(double));
        for (int64_t e = 0; e < C; e++)
            for (int64_t i = 0; i < H * W; i++)
                res[s][e * H * W + i] = xn[i * C + e];
        free(xn);
        if (s + 1 == SWIN_STAGES) break;
        // PatchMerging: pad odd sizes, x0..x3 = [0::2, 0::2], [1::2, 0::2], [0::2, 1::2], [1::2, 1::2].
        int64_t H2 = (H + 1) / 2, W2 = (W + 1) / 2;
        double *cat = calloc((size_t)(H2 * W2 * 4 * C), sizeof(double));
        for (int64_t r = 0; r < H2; r++)
            for (int64_t q = 0; q < W2; q++)
                for (int k = 0; k < 4; k++) {
                    int64_t sr = 2 * r + (k & 1), sq = 2 * q + (k >> 1);
                    if (sr < H && sq < W)
                        memcpy(cat + ((r * W2 + q) * 4 + k) * C, x + (sr * W + sq) * C,
                               (size_t)C * sizeof(double));
                }
        test_layernorm_f64(cat, cat, H2 * W2, 4 * C, param("layers.%d.downsample.norm.weight", s, 0),
                           param("layers.%d.downsample.norm.bias", s, 0), c->eps);
        free(x);
        x = malloc((size_t)(H2 * W2 * 2 * C) * sizeof(double));
        test_linear_f64(x, cat, H2 * W2, 4 * C, 2 * C, param("layers.%d.downsample.reduction.weight", s, 0),
                        NULL);
        free(cat);
        H = H2, W = W2, C *= 2;
    }
    free(x);
}

START_TEST(random_odd_sizes_vs_double_reference) {
    swin_config c = {.in_chans = 2,
                     .patch_size = 3,
                     .embed_dim = 6,
                     .depths = {1, 2, 1, 2},
                     .num_heads = {1, 2, 3, 6},
                     .window = 3,
                     .mlp_ratio = 2.0,
                     .eps = 1e-5f,
                     .patch_norm = true,
                     .qkv_bias = true};
    ug_err err;
    ck_assert_msg(swin_config_check(&c, &err) == UG_OK, "%s", err.msg);
    make_random_params(&c);
    char *tmp = test_tmpdir(), path[1024];
    snprintf(path, sizeof path, "%s/rand.safetensors", tmp);
    write_params(path);
    ug_st_file *st;
    ck_assert_msg(ug_st_open(&st, path, &err) == UG_OK, "%s", err.msg);
    ug_weights w;
    ug_weights_init(&w, st, "rand.safetensors");
    swin_model m;
    ck_assert_msg(swin_load(&m, &c, &w, "backbone.", &err) == UG_OK, "%s", err.msg);

    // chunk_tokens 1: one window per attention chunk and row chunks of a few tokens in the
    // MLP, merging, patch embedding and stage norms, so every chunk edge is crossed.
    const int64_t sizes[][3] = {{17, 23, 0}, {1, 1, 0}, {40, 7, 0}, {17, 23, 1}, {40, 7, 1}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t Hi = sizes[k][0], Wi = sizes[k][1];
        m.cfg.chunk_tokens = (int)sizes[k][2];
        ug_tensor img;
        ck_assert_int_eq(ug_tensor_new(&img, UG_F32, UG_DIMS(1, 2, Hi, Wi), &err), UG_OK);
        test_fill_normal(img.data, (size_t)(2 * Hi * Wi), 1.0f, 7 + k % 3);
        ug_tensor res[SWIN_STAGES];
        ck_assert_msg(swin_forward(&test_ctx, &m, &img, res, NULL, &err) == UG_OK, "%s", err.msg);
        double *want[SWIN_STAGES];
        int64_t hw[SWIN_STAGES][2];
        ref_forward(&c, img.data, Hi, Wi, want, hw);
        for (int s = 0; s < SWIN_STAGES; s++) {
            int64_t C = (int64_t)c.embed_dim << s, n = C * hw[s][0] * hw[s][1];
            ck_assert_int_eq(res[s].shape[1], C);
            ck_assert_int_eq(res[s].shape[2], hw[s][0]);
            ck_assert_int_eq(res[s].shape[3], hw[s][1]);
            float *wf = malloc((size_t)n * sizeof(float));
            for (int64_t i = 0; i < n; i++)
                wf[i] = (float)want[s][i];
            char what[64];
            snprintf(what, sizeof what, "%lldx%lld chunk %d res%d", (long long)Hi, (long long)Wi,
                     m.cfg.chunk_tokens, s + 2);
            test_assert_close(res[s].data, wf, (size_t)n, 2e-4, 2e-4, what);
            free(wf);
            free(want[s]);
            ug_tensor_free(&res[s]);
        }
        ug_tensor_free(&img);
    }
    swin_free(&m);
    ug_weights_release(&w);
    ug_st_close(st);
    test_rmtree(tmp);
    free(tmp);
    free_params();
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "swin", .setup = test_ctx_setup, .teardown = test_ctx_teardown, .timeout = 60},
        &s);
    test_add(tc, config_parse_and_reject, output_sizes, random_odd_sizes_vs_double_reference, golden_img0,
             golden_img1_not_multiple_of_32, golden_no_trace_small_chunks, golden_half_precision_weights,
             load_rejects_wrong_sizes);
    return test_run_suite(s);
}
