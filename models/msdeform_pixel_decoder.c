// models/msdeform_pixel_decoder.c — see msdeform_pixel_decoder.h. Read top to bottom in the
// order of MSDeformAttnPixelDecoder.forward_features: input projections, the deformable
// encoder, the FPN, mask_features.
//
// Layouts: backbone features and every map the decoder hands on are NCHW [1, C, h, w] (what
// GroupNorm, conv and resize want); the encoder works on row-major tokens [S, C] (what the
// linears and MSDeformAttn want). Levels move between the two with one transposing copy.
#include "models/msdeform_pixel_decoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/activation.h"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/gemm.h"
#include "ops/groupnorm.h"
#include "ops/layernorm.h"
#include "ops/movement.h"
#include "ops/msdeform_attn.h"
#include "ops/posembed.h"
#include "ops/resize.h"
#include "ops/softmax.h"
#include "ops/ops.h"

// ---- config ----

ug_status pd_config_check(const pd_config *c, ug_err *err) {
    if (c->conv_dim < 2 || c->conv_dim % 2 || c->mask_dim < 1 || c->gn_groups < 1 || c->conv_dim % c->gn_groups)
        return ug_errf(err, UG_ERR_ARG,
                       "pixel decoder config: conv_dim %d must be even and divisible by %d GroupNorm groups "
                       "(mask_dim %d)",
                       c->conv_dim, c->gn_groups, c->mask_dim);
    if (c->heads < 1 || c->conv_dim % c->heads || c->points < 1 || c->ffn < 1 || c->enc_layers < 0 ||
        c->enc_layers > PD_MAX_ENC_LAYERS)
        return ug_errf(err, UG_ERR_ARG,
                       "pixel decoder config: %d heads for width %d, %d points, FFN %d, %d encoder layers", c->heads,
                       c->conv_dim, c->points, c->ffn, c->enc_layers);
    if (c->n_levels < 1 || c->n_levels > PD_FEATURES)
        return ug_errf(err, UG_ERR_ARG, "pixel decoder config: %d encoder levels (1..%d)", c->n_levels, PD_FEATURES);
    for (int l = 0; l < c->n_levels; l++) {
        int k = c->level_feature[l];
        if (k < 0 || k >= PD_FEATURES || (l > 0 && k >= c->level_feature[l - 1]))
            return ug_errf(err, UG_ERR_ARG,
                           "pixel decoder config: encoder level %d reads res%d (levels must be distinct, coarsest first)",
                           l, k + 2);
    }
    int finest = c->level_feature[c->n_levels - 1];
    if (c->n_fpn < 0 || c->n_fpn > finest)
        return ug_errf(err, UG_ERR_ARG, "pixel decoder config: %d FPN levels below res%d", c->n_fpn, finest + 2);
    if (c->n_multiscale < 1 || c->n_multiscale > PD_MAX_MULTISCALE)
        return ug_errf(err, UG_ERR_ARG, "pixel decoder config: %d multi-scale features (1..%d)", c->n_multiscale,
                       PD_MAX_MULTISCALE);
    for (int k = 0; k < PD_FEATURES; k++) {
        bool used = k < c->n_fpn;
        for (int l = 0; l < c->n_levels; l++) used |= c->level_feature[l] == k;
        if (used && c->in_channels[k] < 1)
            return ug_errf(err, UG_ERR_ARG, "pixel decoder config: res%d has %d channels", k + 2, c->in_channels[k]);
    }
    if (!(c->gn_eps > 0) || !(c->ln_eps > 0)) return ug_errf(err, UG_ERR_ARG, "pixel decoder config: eps must be > 0");
    return UG_OK;
}

static ug_status get_int(const ug_json *root, const char *key, int *out, ug_err *err) {
    int64_t v;
    ug_status st = ug_json_get_int(root, key, &v, err);
    if (st != UG_OK) return st;
    if (v < 0 || v > (1 << 20)) return ug_errf(err, UG_ERR_FORMAT, "key \"%s\" = %lld out of range", key, (long long)v);
    *out = (int)v;
    return UG_OK;
}

// "res2".."res5" -> 0..3, else -1.
static int res_index(const char *s) {
    return s[0] == 'r' && s[1] == 'e' && s[2] == 's' && s[3] >= '2' && s[3] <= '5' && !s[4] ? s[3] - '2' : -1;
}

ug_status pd_config_from_json(pd_config *c, const ug_json *root, const int in_channels[PD_FEATURES], ug_err *err) {
    memset(c, 0, sizeof *c);
    memcpy(c->in_channels, in_channels, sizeof c->in_channels);
    c->gn_groups = 32;
    c->n_multiscale = 3; // MSDeformAttnPixelDecoder.maskformer_num_feature_levels (fixed there)
    c->gn_eps = 1e-5f;
    c->ln_eps = 1e-5f;
    ug_status st;
    int stride = 0;
    if ((st = get_int(root, "pixel_decoder_conv_dim", &c->conv_dim, err)) != UG_OK ||
        (st = get_int(root, "pixel_decoder_mask_dim", &c->mask_dim, err)) != UG_OK ||
        (st = get_int(root, "pixel_decoder_common_stride", &stride, err)) != UG_OK ||
        (st = get_int(root, "pixel_decoder_transformer_nheads", &c->heads, err)) != UG_OK ||
        (st = get_int(root, "pixel_decoder_deform_n_points", &c->points, err)) != UG_OK ||
        (st = get_int(root, "pixel_decoder_transformer_dim_feedforward", &c->ffn, err)) != UG_OK ||
        (st = get_int(root, "pixel_decoder_transformer_enc_layers", &c->enc_layers, err)) != UG_OK)
        return st;
    if (ug_json_get(root, "pixel_decoder_gn_groups") &&
        (st = get_int(root, "pixel_decoder_gn_groups", &c->gn_groups, err)) != UG_OK)
        return st;
    if (ug_json_get(root, "pixel_decoder_norm")) {
        const char *norm;
        if ((st = ug_json_get_string(root, "pixel_decoder_norm", &norm, err)) != UG_OK) return st;
        if (strcmp(norm, "GN") != 0)
            return ug_errf(err, UG_ERR_UNSUPPORTED, "pixel decoder config: norm \"%s\" is not supported (only GN)", norm);
    }
    c->common_stride = stride;
    const ug_json *a;
    if ((st = ug_json_get_typed(root, "pixel_decoder_transformer_in_features", UG_JSON_ARRAY, &a, err)) != UG_OK)
        return st;
    if (a->len < 1 || a->len > PD_FEATURES)
        return ug_errf(err, UG_ERR_FORMAT, "key \"pixel_decoder_transformer_in_features\": %zu features (1..%d)", a->len,
                       PD_FEATURES);
    // The official decoder sorts its transformer features by stride; encoder level 0 is the
    // coarsest (input_proj runs over them reversed).
    bool used[PD_FEATURES] = {false};
    for (size_t i = 0; i < a->len; i++) {
        const ug_json *v = ug_json_at(a, i);
        int k = v->type == UG_JSON_STRING ? res_index(v->str) : -1;
        if (k < 0 || used[k])
            return ug_errf(err, UG_ERR_FORMAT,
                           "key \"pixel_decoder_transformer_in_features\"[%zu]: expected a distinct \"res2\"..\"res5\"", i);
        used[k] = true;
    }
    for (int k = PD_FEATURES - 1; k >= 0; k--)
        if (used[k]) c->level_feature[c->n_levels++] = k;
    // num_fpn_levels = log2(finest transformer stride) - log2(common_stride).
    int finest_stride = 4 << c->level_feature[c->n_levels - 1];
    if (stride < 1 || stride > finest_stride || finest_stride % stride || (stride & (stride - 1)) || stride < 4)
        return ug_errf(err, UG_ERR_ARG,
                       "pixel decoder config: common stride %d must be a power of two in [4, %d] (finest encoder stride)",
                       stride, finest_stride);
    for (int s = finest_stride; s > stride; s /= 2) c->n_fpn++;
    return pd_config_check(c, err);
}

// ---- weights ----

typedef struct loader {
    ug_weights *w;
    const char *prefix;
    char key[512];
} loader;

static const char *key_of(loader *l, const char *fmt, int a, const char *tail) {
    char base[256];
    snprintf(base, sizeof base, fmt, a);
    snprintf(l->key, sizeof l->key, "%s%s%s", l->prefix, base, tail);
    return l->key;
}

static ug_status get_norm(loader *l, pd_norm *n, int64_t C, const char *fmt, int a, ug_err *err) {
    ug_status st;
    if ((st = ug_weights_get_f32(l->w, &n->w, key_of(l, fmt, a, ".weight"), UG_DIMS(C), err)) != UG_OK) return st;
    return ug_weights_get_f32(l->w, &n->b, key_of(l, fmt, a, ".bias"), UG_DIMS(C), err);
}

static ug_status get_linear(loader *l, pd_linear *lin, int64_t out, int64_t in, const char *fmt, int a, ug_err *err) {
    ug_status st;
    if ((st = ug_weights_get(l->w, &lin->w, key_of(l, fmt, a, ".weight"), UG_DIMS(out, in), err)) != UG_OK) return st;
    return ug_weights_get_f32(l->w, &lin->b, key_of(l, fmt, a, ".bias"), UG_DIMS(out), err);
}

// A k x k conv "<fmt>.weight" (+ ".bias" when bias), then its GroupNorm "<fmt><norm_tail>"
// when norm_tail is non-NULL.
static ug_status get_conv(loader *l, pd_conv *cv, int64_t out, int64_t in, int64_t k, bool bias, const char *norm_tail,
                          const char *fmt, int a, ug_err *err) {
    ug_status st;
    char nfmt[256];
    if ((st = ug_weights_get(l->w, &cv->w, key_of(l, fmt, a, ".weight"), UG_DIMS(out, in, k, k), err)) != UG_OK)
        return st;
    if (bias && (st = ug_weights_get_f32(l->w, &cv->b, key_of(l, fmt, a, ".bias"), UG_DIMS(out), err)) != UG_OK)
        return st;
    if (!norm_tail) return UG_OK;
    snprintf(nfmt, sizeof nfmt, "%s%s", fmt, norm_tail);
    return get_norm(l, &cv->norm, out, nfmt, a, err);
}

ug_status pd_load(pd_model *m, const pd_config *cfg, ug_weights *w, const char *prefix, ug_err *err) {
    memset(m, 0, sizeof *m);
    ug_status st = pd_config_check(cfg, err);
    if (st != UG_OK) return st;
    m->cfg = *cfg;
    loader l = {.w = w, .prefix = prefix ? prefix : ""};
    int64_t C = cfg->conv_dim, L = cfg->n_levels, MLP = (int64_t)cfg->heads * L * cfg->points;
    for (int i = 0; i < cfg->n_levels; i++) {
        int64_t cin = cfg->in_channels[cfg->level_feature[i]];
        // nn.Sequential(Conv2d, GroupNorm): the conv is input_proj.<i>.0, its norm input_proj.<i>.1.
        if ((st = get_conv(&l, &m->input_proj[i], C, cin, 1, true, NULL, "input_proj.%d.0", i, err)) != UG_OK ||
            (st = get_norm(&l, &m->input_proj[i].norm, C, "input_proj.%d.1", i, err)) != UG_OK)
            goto fail;
    }
    if ((st = ug_weights_get_f32(w, &m->level_embed, key_of(&l, "transformer.level_embed", 0, ""), UG_DIMS(L, C),
                                 err)) != UG_OK)
        goto fail;
    if (cfg->enc_layers > 0 && !(m->layers = calloc((size_t)cfg->enc_layers, sizeof *m->layers))) {
        st = ug_errf(err, UG_ERR_NOMEM, "pixel decoder: out of memory for %d encoder layers", cfg->enc_layers);
        goto fail;
    }
    for (int i = 0; i < cfg->enc_layers; i++) {
        pd_enc_layer *e = &m->layers[i];
        if ((st = get_linear(&l, &e->sampling_offsets, MLP * 2, C,
                             "transformer.encoder.layers.%d.self_attn.sampling_offsets", i, err)) != UG_OK ||
            (st = get_linear(&l, &e->attention_weights, MLP, C,
                             "transformer.encoder.layers.%d.self_attn.attention_weights", i, err)) != UG_OK ||
            (st = get_linear(&l, &e->value_proj, C, C, "transformer.encoder.layers.%d.self_attn.value_proj", i, err)) !=
                UG_OK ||
            (st = get_linear(&l, &e->output_proj, C, C, "transformer.encoder.layers.%d.self_attn.output_proj", i,
                             err)) != UG_OK ||
            (st = get_norm(&l, &e->norm1, C, "transformer.encoder.layers.%d.norm1", i, err)) != UG_OK ||
            (st = get_linear(&l, &e->linear1, cfg->ffn, C, "transformer.encoder.layers.%d.linear1", i, err)) != UG_OK ||
            (st = get_linear(&l, &e->linear2, C, cfg->ffn, "transformer.encoder.layers.%d.linear2", i, err)) != UG_OK ||
            (st = get_norm(&l, &e->norm2, C, "transformer.encoder.layers.%d.norm2", i, err)) != UG_OK)
            goto fail;
    }
    // adapter_<k+1> / layer_<k+1> belong to res{k+2}; convs with a norm have no bias.
    for (int k = 0; k < cfg->n_fpn; k++)
        if ((st = get_conv(&l, &m->lateral[k], C, cfg->in_channels[k], 1, false, ".norm", "adapter_%d", k + 1, err)) !=
                UG_OK ||
            (st = get_conv(&l, &m->output[k], C, C, 3, false, ".norm", "layer_%d", k + 1, err)) != UG_OK)
            goto fail;
    if ((st = get_conv(&l, &m->mask_features, cfg->mask_dim, C, 1, true, NULL, "mask_features", 0, err)) != UG_OK)
        goto fail;
    return UG_OK;
fail:
    pd_free(m);
    return st;
}

void pd_free(pd_model *m) {
    if (!m) return;
    free(m->layers);
    memset(m, 0, sizeof *m);
}

void pd_output_free(pd_output *out) {
    if (!out) return;
    for (int j = 0; j < PD_MAX_MULTISCALE; j++) ug_tensor_free(&out->multi_scale[j]);
    ug_tensor_free(&out->mask_features);
    memset(out, 0, sizeof *out);
}

// ---- small helpers over the ops ----

static void trace_emit(const pd_trace *tr, const char *name, const ug_tensor *t) {
    if (tr && tr->fn) tr->fn(tr->user, name, t);
}

static ug_status arena_f32(ug_ctx *ctx, ug_tensor *t, int ndim, const int64_t *shape, ug_err *err) {
    return ug_arena_tensor(&ctx->arena, t, UG_F32, ndim, shape, err);
}

// y [1, out, H, W] = act(GN(conv(x))) with "same" padding (k = 1 or 3); no GN when the conv
// has none (mask_features).
static void conv_gn(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const pd_conv *cv, const pd_config *c, bool relu) {
    ug_conv2d(ctx, y, x, &cv->w, cv->b.data ? &cv->b : NULL, 1, (int)(cv->w.shape[2] / 2));
    if (cv->norm.w.data) ug_groupnorm(ctx, y, y, &cv->norm.w, &cv->norm.b, c->gn_groups, c->gn_eps);
    if (relu) ug_relu(ctx, y, y);
}

// y [rows, out] = x [rows, in] @ W^T + b, or y += that when acc (the residual folded into the
// GEMM with beta = 1).
static void linear_rows(ug_ctx *ctx, float *y, const float *x, int64_t rows, const pd_linear *l, bool acc) {
    int64_t out = l->w.shape[0], in = l->w.shape[1];
    ug_tensor xt = ug_tensor_wrap((float *)x, UG_F32, UG_DIMS(rows, in)); // [rows, in]
    ug_tensor yt = ug_tensor_wrap(y, UG_F32, UG_DIMS(rows, out));            // [rows, out]
    ug_tensor wt = ug_view_transpose(&l->w, 0, 1);                           // [in, out]
    ug_matmul(ctx, &yt, &xt, &wt, l->b.data ? &l->b : NULL, 1.0f, acc ? 1.0f : 0.0f);
}

static void norm_rows(ug_ctx *ctx, float *x, int64_t rows, int64_t C, const pd_norm *n, float eps) {
    ug_tensor t = ug_tensor_wrap(x, UG_F32, UG_DIMS(rows, C));
    ug_layernorm(ctx, &t, &t, &n->w, &n->b, eps);
}

// Token rows [n, C] <-> NCHW map [1, C, h, w] (n = h * w), one transposing copy.
static void map_to_rows(ug_ctx *ctx, float *rows, const ug_tensor *map) {
    int64_t C = map->shape[1], n = map->shape[2] * map->shape[3];
    ug_tensor src = ug_view_reshape(map, UG_DIMS(C, n)), dst = ug_tensor_wrap(rows, UG_F32, UG_DIMS(n, C));
    ug_tensor srcT = ug_view_transpose(&src, 0, 1); // [n, C]
    ug_copy(ctx, &dst, &srcT);
}
static void rows_to_map(ug_ctx *ctx, ug_tensor *map, const float *rows) {
    int64_t C = map->shape[1], n = map->shape[2] * map->shape[3];
    ug_tensor dst = ug_view_reshape(map, UG_DIMS(C, n));
    ug_tensor src = ug_tensor_wrap((void *)rows, UG_F32, UG_DIMS(n, C)), srcT = ug_view_transpose(&src, 0, 1);
    ug_copy(ctx, &dst, &srcT);
}

// ---- the deformable encoder ----

// Encoder geometry: level sizes and first tokens, and each token's reference point.
typedef struct enc_geom {
    int L;
    int64_t shapes[PD_FEATURES][2]; // {h_l, w_l}
    int64_t start[PD_FEATURES];     // first token of level l
    int64_t S;
} enc_geom;

// MSDeformAttn sampling locations [S, M, L, P, 2]:
//   loc = ref(token) + offset / (w_l, h_l),  ref = ((x + 0.5) / w, (y + 0.5) / h) of the token's
// own level (valid ratios are 1: nothing is padded), float32 as the official
// linspace(0.5, n - 0.5, n) / n.
static void sampling_locations(float *loc, const float *off, const enc_geom *g, int64_t M, int64_t P) {
    int L = g->L;
    for (int lt = 0; lt < L; lt++) {
        int64_t h = g->shapes[lt][0], w = g->shapes[lt][1];
        for (int64_t t = 0; t < h * w; t++) {
            float rx = ((float)(t % w) + 0.5f) / (float)w, ry = ((float)(t / w) + 0.5f) / (float)h;
            int64_t base = (g->start[lt] + t) * M * L * P * 2;
            for (int64_t m = 0; m < M; m++)
                for (int l = 0; l < L; l++) {
                    float sw = (float)g->shapes[l][1], sh = (float)g->shapes[l][0];
                    for (int64_t p = 0; p < P; p++) {
                        int64_t i = base + ((m * L + l) * P + p) * 2;
                        loc[i] = rx + off[i] / sw;
                        loc[i + 1] = ry + off[i + 1] / sh;
                    }
                }
        }
    }
}

// src [S, C] in place through every encoder layer; pos [S, C] holds PE + level embedding.
static ug_status encoder_fwd(ug_ctx *ctx, const pd_model *m, const enc_geom *g, float *src, const float *pos,
                             const pd_trace *trace, ug_err *err) {
    const pd_config *c = &m->cfg;
    int64_t S = g->S, C = c->conv_dim, M = c->heads, D = C / M, L = g->L, P = c->points, F = c->ffn;
    ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
    ug_status st;
    ug_tensor q, value, off, aw, loc, attn, hid;
    if ((st = arena_f32(ctx, &q, UG_DIMS(S, C), err)) != UG_OK ||              // src + pos
        (st = arena_f32(ctx, &value, UG_DIMS(1, S, M, D), err)) != UG_OK ||    // value_proj(src), heads split
        (st = arena_f32(ctx, &off, UG_DIMS(S, M * L * P * 2), err)) != UG_OK || // sampling offsets
        (st = arena_f32(ctx, &aw, UG_DIMS(1, S, M, L * P), err)) != UG_OK ||   // attention weights
        (st = arena_f32(ctx, &loc, UG_DIMS(1, S, M, L * P, 2), err)) != UG_OK || // sampling locations
        (st = arena_f32(ctx, &attn, UG_DIMS(1, S, C), err)) != UG_OK ||         // heads concatenated
        (st = arena_f32(ctx, &hid, UG_DIMS(S, F), err)) != UG_OK)               // FFN hidden
        goto done;
    ug_tensor src_t = ug_tensor_wrap(src, UG_F32, UG_DIMS(S, C)), pos_t = ug_tensor_wrap((void *)pos, UG_F32, UG_DIMS(S, C));
    for (int i = 0; i < c->enc_layers; i++) {
        const pd_enc_layer *e = &m->layers[i];
        ug_add(ctx, &q, &src_t, &pos_t);
        linear_rows(ctx, value.data, src, S, &e->value_proj, false);
        linear_rows(ctx, off.data, q.data, S, &e->sampling_offsets, false);
        linear_rows(ctx, aw.data, q.data, S, &e->attention_weights, false);
        ug_tensor aw_rows = ug_view_reshape(&aw, UG_DIMS(S * M, L * P)); // softmax per head over levels x points
        ug_softmax(ctx, &aw_rows, &aw_rows);
        sampling_locations(loc.data, off.data, g, M, P);
        ug_msdeform_attn(ctx, &attn, &value, (const int64_t(*)[2])g->shapes, L, &loc, &aw);
        linear_rows(ctx, src, attn.data, S, &e->output_proj, true);
        norm_rows(ctx, src, S, C, &e->norm1, c->ln_eps);
        linear_rows(ctx, hid.data, src, S, &e->linear1, false);
        ug_relu(ctx, &hid, &hid);
        linear_rows(ctx, src, hid.data, S, &e->linear2, true);
        norm_rows(ctx, src, S, C, &e->norm2, c->ln_eps);
        if (trace && trace->fn) {
            char name[96];
            ug_tensor t = ug_tensor_wrap(src, UG_F32, UG_DIMS(1, S, C));
            snprintf(name, sizeof name, "encoder_layer%d", i);
            trace_emit(trace, name, &t);
            t = ug_view_reshape(&loc, UG_DIMS(S, M, L, P, 2));
            snprintf(name, sizeof name, "encoder_layer%d_sampling_locations", i);
            trace_emit(trace, name, &t);
            t = ug_view_reshape(&aw, UG_DIMS(1, S, M, L, P));
            snprintf(name, sizeof name, "encoder_layer%d_attention_weights", i);
            trace_emit(trace, name, &t);
        }
    }
done:
    ug_arena_release(&ctx->arena, mark);
    return st;
}

// ---- forward ----

static ug_status check_feature(const pd_config *c, const ug_tensor *res, int k, ug_err *err) {
    const ug_tensor *t = &res[k];
    if (t->dtype != UG_F32 || t->ndim != 4 || t->shape[0] != 1 || t->shape[1] != c->in_channels[k] || t->shape[2] < 1 ||
        t->shape[3] < 1) {
        char buf[96];
        return ug_errf(err, UG_ERR_ARG, "pixel decoder: res%d is %s %s, expected F32 [1,%d,H,W]", k + 2,
                       ug_dtype_name(t->dtype), ug_shape_str(t, buf, sizeof buf), c->in_channels[k]);
    }
    return UG_OK;
}

ug_status pd_forward(ug_ctx *ctx, const pd_model *m, const ug_tensor res[PD_FEATURES], pd_output *out,
                     const pd_trace *trace, ug_err *err) {
    const pd_config *c = &m->cfg;
    memset(out, 0, sizeof *out);
    ug_status st;
    for (int k = 0; k < PD_FEATURES; k++) {
        bool used = k < c->n_fpn;
        for (int l = 0; l < c->n_levels; l++) used |= c->level_feature[l] == k;
        if (used && (st = check_feature(c, res, k, err)) != UG_OK) return st;
    }
    int64_t C = c->conv_dim;
    int L = c->n_levels, n_out = L + c->n_fpn, n_ms = n_out < c->n_multiscale ? n_out : c->n_multiscale;
    enc_geom g = {.L = L};
    for (int l = 0; l < L; l++) {
        const ug_tensor *f = &res[c->level_feature[l]];
        g.shapes[l][0] = f->shape[2];
        g.shapes[l][1] = f->shape[3];
        g.start[l] = g.S;
        g.S += f->shape[2] * f->shape[3];
    }
    // out[j]: the encoder levels (coarsest first), then the FPN levels res{n_fpn+1} .. res2.
    // The first n_ms are handed to the decoder (owned), the rest live in the arena.
    int feat_of[PD_FEATURES * 2];
    for (int j = 0; j < n_out; j++) feat_of[j] = j < L ? c->level_feature[j] : c->n_fpn - 1 - (j - L);
    ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
    ug_tensor maps[PD_FEATURES * 2];
    for (int j = 0; j < n_out; j++) {
        const ug_tensor *f = &res[feat_of[j]];
        int64_t shape[4] = {1, C, f->shape[2], f->shape[3]}; // [1, C, H_k, W_k]
        st = j < n_ms ? ug_tensor_new(&out->multi_scale[j], UG_F32, 4, shape, err) : arena_f32(ctx, &maps[j], 4, shape, err);
        if (st != UG_OK) goto fail;
        if (j < n_ms) maps[j] = out->multi_scale[j];
    }
    out->n_multiscale = n_ms;

    // Input projections, sine position embedding + level embedding, tokens.
    ug_arena_mark enc_mark = ug_arena_get_mark(&ctx->arena);
    ug_tensor src, pos, pe; // [S, C], [S, C], [C, h, w] scratch
    if ((st = arena_f32(ctx, &src, UG_DIMS(g.S, C), err)) != UG_OK ||
        (st = arena_f32(ctx, &pos, UG_DIMS(g.S, C), err)) != UG_OK)
        goto fail;
    for (int l = 0; l < L; l++) {
        int64_t h = g.shapes[l][0], w = g.shapes[l][1];
        ug_arena_mark lm = ug_arena_get_mark(&ctx->arena);
        ug_tensor proj; // [1, C, h, w]
        if ((st = arena_f32(ctx, &proj, UG_DIMS(1, C, h, w), err)) != UG_OK ||
            (st = arena_f32(ctx, &pe, UG_DIMS(C, h, w), err)) != UG_OK)
            goto fail;
        conv_gn(ctx, &proj, &res[c->level_feature[l]], &m->input_proj[l], c, false);
        char name[64];
        snprintf(name, sizeof name, "input_proj_res%d", c->level_feature[l] + 2);
        trace_emit(trace, name, &proj);
        float *rows = (float *)src.data + g.start[l] * C;
        map_to_rows(ctx, rows, &proj);
        ug_posembed_sine(ctx, &pe);
        ug_tensor pe4 = ug_view_reshape(&pe, UG_DIMS(1, C, h, w));
        float *prow = (float *)pos.data + g.start[l] * C;
        map_to_rows(ctx, prow, &pe4);
        ug_tensor pt = ug_tensor_wrap(prow, UG_F32, UG_DIMS(h * w, C));
        ug_tensor lvl = ug_tensor_wrap((float *)m->level_embed.data + l * C, UG_F32, UG_DIMS(C));
        ug_tensor lvl_b = ug_view_expand_dim(&lvl, 0, h * w); // [h*w, C], row stride 0
        ug_add(ctx, &pt, &pt, &lvl_b);
        ug_arena_release(&ctx->arena, lm);
    }
    if ((st = encoder_fwd(ctx, m, &g, src.data, pos.data, trace, err)) != UG_OK) goto fail;
    for (int l = 0; l < L; l++) rows_to_map(ctx, &maps[l], (float *)src.data + g.start[l] * C);
    ug_arena_release(&ctx->arena, enc_mark);

    // FPN, top-down: y = GN(conv1x1(res_k)) + bilinear(previous), out = relu(GN(conv3x3(y))).
    for (int j = L; j < n_out; j++) {
        int k = feat_of[j];
        ug_arena_mark fm = ug_arena_get_mark(&ctx->arena);
        ug_tensor y; // [1, C, H_k, W_k]
        if ((st = arena_f32(ctx, &y, UG_DIMS(1, C, res[k].shape[2], res[k].shape[3]), err)) != UG_OK) goto fail;
        conv_gn(ctx, &y, &res[k], &m->lateral[k], c, false);
        ug_resize_bilinear(ctx, &maps[j], &maps[j - 1], false);
        ug_add(ctx, &y, &y, &maps[j]);
        conv_gn(ctx, &maps[j], &y, &m->output[k], c, true);
        ug_arena_release(&ctx->arena, fm);
    }

    const ug_tensor *last = &maps[n_out - 1];
    if ((st = ug_tensor_new(&out->mask_features, UG_F32, UG_DIMS(1, c->mask_dim, last->shape[2], last->shape[3]), err)) !=
        UG_OK)
        goto fail;
    conv_gn(ctx, &out->mask_features, last, &m->mask_features, c, false);
    for (int j = 0; j < n_ms; j++) {
        char name[64];
        snprintf(name, sizeof name, "multi_scale_features%d", j);
        trace_emit(trace, name, &out->multi_scale[j]);
    }
    trace_emit(trace, "mask_features", &out->mask_features);
    ug_arena_release(&ctx->arena, mark);
    return UG_OK;
fail:
    ug_arena_release(&ctx->arena, mark);
    pd_output_free(out);
    return st;
}
