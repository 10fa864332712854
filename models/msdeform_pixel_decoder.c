// models/msdeform_pixel_decoder.c — see msdeform_pixel_decoder.h. Read top to bottom in the
// order of MSDeformAttnPixelDecoder.forward_features: input projections, the deformable
// encoder, the FPN, mask_features; then the config and the loading.
//
// Layouts: backbone features and every map the decoder hands on are NCHW [1, C, h, w] (what
// GroupNorm, conv and resize want); the encoder works on row-major tokens [S, C] (what the
// linears and MSDeformAttn want). Levels move between the two with one transposing copy.
#include "models/msdeform_pixel_decoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/packed_config.h"
#include "ops/ops.h"

// ---- small helpers over the ops ----

// y [1, out, H, W] = act(norm(conv(x))) with "same" padding (k = 1 or 3); norm NULL: none
// (mask_features).
static void conv_gn(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const nn_conv *cv, const nn_norm *norm,
                    const pd_config *c, bool relu) {
    ug_conv2d(ctx, y, x, &cv->w, nn_bias(&cv->b), 1, (int)(cv->w.shape[2] / 2));
    if (norm) ug_groupnorm(ctx, y, y, &norm->w, &norm->b, c->gn_groups, c->gn_eps);
    if (relu) ug_relu(ctx, y, y);
}

// y [rows, out] = x [rows, in] @ W^T + b, or y += that when acc (the residual folded into the
// GEMM with beta = 1).
static void linear_rows(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const nn_linear *l, bool acc) {
    ug_tensor wt = ug_view_transpose(&l->w, 0, 1); // [in, out]
    ug_matmul(ctx, y, x, &wt, nn_bias(&l->b), 1.0f, acc ? 1.0f : 0.0f);
}

// Token rows [n, C] <-> NCHW map [1, C, h, w] (n = h * w), one transposing copy.
static void map_to_rows(ug_ctx *ctx, ug_tensor *rows, const ug_tensor *map) {
    int64_t C = map->shape[1], n = map->shape[2] * map->shape[3];
    ug_tensor src = ug_view_reshape(map, UG_DIMS(C, n)), srcT = ug_view_transpose(&src, 0, 1); // [n, C]
    ug_copy(ctx, rows, &srcT);
}
static void rows_to_map(ug_ctx *ctx, ug_tensor *map, const ug_tensor *rows) {
    int64_t C = map->shape[1], n = map->shape[2] * map->shape[3];
    ug_tensor dst = ug_view_reshape(map, UG_DIMS(C, n)), rowsT = ug_view_transpose(rows, 0, 1); // [C, n]
    ug_copy(ctx, &dst, &rowsT);
}

// ---- geometry ----

// Encoder geometry: level sizes and first tokens.
typedef struct enc_geom {
    int L;
    int64_t shapes[PD_FEATURES][2]; // {h_l, w_l}
    int64_t start[PD_FEATURES];     // first token of level l
    int64_t S;
} enc_geom;

static enc_geom encoder_geometry(const pd_config *c, const ug_tensor res[PD_FEATURES]) {
    enc_geom g = {.L = c->n_levels};
    for (int l = 0; l < g.L; l++) {
        const ug_tensor *f = &res[c->level_feature[l]];
        g.shapes[l][0] = f->shape[2];
        g.shapes[l][1] = f->shape[3];
        g.start[l] = g.S;
        g.S += f->shape[2] * f->shape[3];
    }
    return g;
}

// The output maps out[j]: the encoder levels (coarsest first), then the FPN levels
// res{n_fpn+1} .. res2; feat[j] is the backbone feature of map j. The first n_ms are handed to
// the decoder (owned), the rest live in the arena.
typedef struct pd_maps {
    int n, n_ms;
    int feat[PD_FEATURES * 2];
    ug_tensor map[PD_FEATURES * 2]; // [1, C, H_k, W_k]
} pd_maps;

static ug_status output_maps(ug_ctx *ctx, const pd_config *c, const ug_tensor res[PD_FEATURES],
                             pd_output *out, pd_maps *mp, ug_err *err) {
    int L = c->n_levels;
    mp->n = L + c->n_fpn;
    mp->n_ms = mp->n < c->n_multiscale ? mp->n : c->n_multiscale;
    for (int j = 0; j < mp->n; j++) {
        mp->feat[j] = j < L ? c->level_feature[j] : c->n_fpn - 1 - (j - L);
        const ug_tensor *f = &res[mp->feat[j]];
        int64_t shape[4] = {1, c->conv_dim, f->shape[2], f->shape[3]}; // [1, C, H_k, W_k]
        ug_status st = j < mp->n_ms ? nn_output(ctx, &out->multi_scale[j], UG_F32, 4, shape, err)
                                    : nn_f32(ctx, &mp->map[j], 4, shape, err);
        if (st != UG_OK) return st;
        if (j < mp->n_ms) mp->map[j] = out->multi_scale[j];
    }
    out->n_multiscale = mp->n_ms;
    return UG_OK;
}

// ---- input projections ----

// src [S, C] = the encoder levels projected (1x1 conv + GN) as token rows; pos [S, C] = their
// sine position embedding + level embedding.
static ug_status input_projections(ug_ctx *ctx, const pd_model *m, const ug_tensor res[PD_FEATURES],
                                   const enc_geom *g, ug_tensor *src, ug_tensor *pos, const nn_trace *trace,
                                   ug_err *err) {
    const pd_config *c = &m->cfg;
    int64_t C = c->conv_dim;
    for (int l = 0; l < g->L; l++) {
        int64_t h = g->shapes[l][0], w = g->shapes[l][1];
        nn_mark mark = nn_get_mark(ctx);
        ug_tensor proj, pe; // [1, C, h, w], [C, h, w]
        ug_status st;
        if ((st = nn_f32(ctx, &proj, UG_DIMS(1, C, h, w), err)) != UG_OK ||
            (st = nn_f32(ctx, &pe, UG_DIMS(C, h, w), err)) != UG_OK)
            return st;
        conv_gn(ctx, &proj, &res[c->level_feature[l]], &m->input_proj[l].conv, &m->input_proj[l].norm, c,
                false);
        char name[64];
        snprintf(name, sizeof name, "input_proj_res%d", c->level_feature[l] + 2);
        nn_emit(trace, name, &proj);
        ug_tensor rows = ug_view_slice(src, 0, g->start[l], h * w),
                  prow = ug_view_slice(pos, 0, g->start[l], h * w);
        map_to_rows(ctx, &rows, &proj);
        ug_posembed_sine(ctx, &pe);
        ug_tensor pe4 = ug_view_reshape(&pe, UG_DIMS(1, C, h, w));
        map_to_rows(ctx, &prow, &pe4);
        ug_tensor lvl_row = ug_view_slice(&m->level_embed, 0, l, 1);
        ug_tensor lvl = ug_view_reshape(&lvl_row, UG_DIMS(C));
        ug_tensor lvl_b = ug_view_expand_dim(&lvl, 0, h * w); // [h*w, C], row stride 0
        ug_add(ctx, &prow, &prow, &lvl_b);
        nn_release(ctx, mark);
    }
    return UG_OK;
}

// ---- the deformable encoder ----

// Working tensors of one encoder layer, reused by every layer.
typedef struct enc_work {
    ug_tensor q;     // [S, C] src + pos
    ug_tensor value; // [1, S, M, D] value_proj(src), heads split
    ug_tensor off;   // [S, M * L * P * 2] sampling offsets
    ug_tensor aw;    // [1, S, M, L * P] attention weights
    ug_tensor loc;   // [1, S, M, L * P, 2] sampling locations
    ug_tensor attn;  // [1, S, C] heads concatenated
    ug_tensor hid;   // [S, F] FFN hidden
} enc_work;

static ug_status enc_work_alloc(ug_ctx *ctx, const pd_config *c, const enc_geom *g, enc_work *w,
                                ug_err *err) {
    int64_t S = g->S, C = c->conv_dim, M = c->heads, D = C / M, L = g->L, P = c->points, F = c->ffn;
    ug_status st;
    if ((st = nn_f32(ctx, &w->q, UG_DIMS(S, C), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->value, UG_DIMS(1, S, M, D), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->off, UG_DIMS(S, M * L * P * 2), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->aw, UG_DIMS(1, S, M, L * P), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->loc, UG_DIMS(1, S, M, L * P, 2), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->attn, UG_DIMS(1, S, C), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->hid, UG_DIMS(S, F), err)) != UG_OK)
        return st;
    return UG_OK;
}

// MSDeformAttnTransformerEncoderLayer on src [S, C] in place:
//   src = LN1(src + output_proj(MSDeformAttn(src + pos, ref, value_proj(src))))
//   src = LN2(src + linear2(relu(linear1(src))))
static void encoder_layer(ug_ctx *ctx, const pd_enc_layer *e, const pd_config *c, const enc_geom *g,
                          ug_tensor *src, const ug_tensor *pos, enc_work *w) {
    int64_t S = g->S, C = c->conv_dim, M = c->heads, L = g->L, P = c->points;
    ug_tensor value = ug_view_reshape(&w->value, UG_DIMS(S, C));
    ug_tensor aw = ug_view_reshape(&w->aw, UG_DIMS(S, M * L * P));
    ug_tensor attn = ug_view_reshape(&w->attn, UG_DIMS(S, C));
    ug_add(ctx, &w->q, src, pos);
    linear_rows(ctx, &value, src, &e->value_proj, false);
    linear_rows(ctx, &w->off, &w->q, &e->sampling_offsets, false);
    linear_rows(ctx, &aw, &w->q, &e->attention_weights, false);
    ug_tensor aw_rows =
        ug_view_reshape(&w->aw, UG_DIMS(S * M, L * P)); // softmax per head over levels x points
    ug_softmax(ctx, &aw_rows, &aw_rows);
    ug_tensor off = ug_view_reshape(&w->off, UG_DIMS(1, S, M, L * P, 2));
    ug_msdeform_sampling_locations(ctx, &w->loc, &off, (const int64_t(*)[2])g->shapes, L);
    ug_msdeform_attn(ctx, &w->attn, &w->value, (const int64_t(*)[2])g->shapes, L, &w->loc, &w->aw);
    linear_rows(ctx, src, &attn, &e->output_proj, true);
    ug_layernorm(ctx, src, src, &e->norm1.w, &e->norm1.b, c->ln_eps);
    linear_rows(ctx, &w->hid, src, &e->linear1, false);
    ug_relu(ctx, &w->hid, &w->hid);
    linear_rows(ctx, src, &w->hid, &e->linear2, true);
    ug_layernorm(ctx, src, src, &e->norm2.w, &e->norm2.b, c->ln_eps);
}

static void trace_layer(const nn_trace *trace, int i, const pd_config *c, const enc_geom *g,
                        const ug_tensor *src, const enc_work *w) {
    int64_t S = g->S, C = c->conv_dim, M = c->heads, L = g->L, P = c->points;
    char name[96];
    ug_tensor t = ug_view_reshape(src, UG_DIMS(1, S, C));
    snprintf(name, sizeof name, "encoder_layer%d", i);
    nn_emit(trace, name, &t);
    t = ug_view_reshape(&w->loc, UG_DIMS(S, M, L, P, 2));
    snprintf(name, sizeof name, "encoder_layer%d_sampling_locations", i);
    nn_emit(trace, name, &t);
    t = ug_view_reshape(&w->aw, UG_DIMS(1, S, M, L, P));
    snprintf(name, sizeof name, "encoder_layer%d_attention_weights", i);
    nn_emit(trace, name, &t);
}

// The encoder levels through input projections and every encoder layer, written back into
// maps[0 .. L) as NCHW maps.
static ug_status encoder(ug_ctx *ctx, const pd_model *m, const ug_tensor res[PD_FEATURES], const enc_geom *g,
                         ug_tensor *maps, const nn_trace *trace, ug_err *err) {
    const pd_config *c = &m->cfg;
    int64_t C = c->conv_dim;
    nn_mark mark = nn_get_mark(ctx);
    ug_tensor src, pos; // [S, C], [S, C]
    enc_work w;
    ug_status st;
    if ((st = nn_f32(ctx, &src, UG_DIMS(g->S, C), err)) != UG_OK ||
        (st = nn_f32(ctx, &pos, UG_DIMS(g->S, C), err)) != UG_OK ||
        (st = input_projections(ctx, m, res, g, &src, &pos, trace, err)) != UG_OK ||
        (st = enc_work_alloc(ctx, c, g, &w, err)) != UG_OK)
        goto done;
    for (int i = 0; i < c->enc_layers; i++) {
        encoder_layer(ctx, &m->layers[i], c, g, &src, &pos, &w);
        if (nn_tracing(trace)) trace_layer(trace, i, c, g, &src, &w);
    }
    for (int l = 0; l < g->L; l++) {
        ug_tensor rows = ug_view_slice(&src, 0, g->start[l], g->shapes[l][0] * g->shapes[l][1]);
        rows_to_map(ctx, &maps[l], &rows);
    }
done:
    nn_release(ctx, mark);
    return st;
}

// ---- FPN and mask features ----

// Top-down over the finer backbone levels: y = GN(conv1x1(res_k)) + bilinear(previous map),
// map = relu(GN(conv3x3(y))).
static ug_status fpn(ug_ctx *ctx, const pd_model *m, const ug_tensor res[PD_FEATURES], pd_maps *mp,
                     ug_err *err) {
    const pd_config *c = &m->cfg;
    for (int j = c->n_levels; j < mp->n; j++) {
        int k = mp->feat[j];
        nn_mark mark = nn_get_mark(ctx);
        ug_tensor y; // [1, C, H_k, W_k]
        ug_status st = nn_f32(ctx, &y, UG_DIMS(1, c->conv_dim, res[k].shape[2], res[k].shape[3]), err);
        if (st != UG_OK) return st;
        conv_gn(ctx, &y, &res[k], &m->lateral[k].conv, &m->lateral[k].norm, c, false);
        ug_resize_bilinear(ctx, &mp->map[j], &mp->map[j - 1], false);
        ug_add(ctx, &y, &y, &mp->map[j]);
        conv_gn(ctx, &mp->map[j], &y, &m->output[k].conv, &m->output[k].norm, c, true);
        nn_release(ctx, mark);
    }
    return UG_OK;
}

// mask_features [1, mask_dim, H, W] = conv1x1(the finest map).
static ug_status mask_features(ug_ctx *ctx, const pd_model *m, const pd_maps *mp, pd_output *out,
                               ug_err *err) {
    const ug_tensor *last = &mp->map[mp->n - 1];
    ug_status st = nn_output(ctx, &out->mask_features, UG_F32,
                             UG_DIMS(1, m->cfg.mask_dim, last->shape[2], last->shape[3]), err);
    if (st != UG_OK) return st;
    conv_gn(ctx, &out->mask_features, last, &m->mask_features, NULL, &m->cfg, false);
    return UG_OK;
}

static void trace_outputs(const nn_trace *trace, const pd_output *out) {
    for (int j = 0; j < out->n_multiscale; j++) {
        char name[64];
        snprintf(name, sizeof name, "multi_scale_features%d", j);
        nn_emit(trace, name, &out->multi_scale[j]);
    }
    nn_emit(trace, "mask_features", &out->mask_features);
}

// ---- forward ----

// Every backbone level the config reads: F32 [1, in_channels[k], H, W] on ctx->device.
static ug_status check_features(const ug_ctx *ctx, const pd_config *c, const ug_tensor res[PD_FEATURES],
                                ug_err *err) {
    for (int k = 0; k < PD_FEATURES; k++) {
        bool used = k < c->n_fpn;
        for (int l = 0; l < c->n_levels; l++)
            used |= c->level_feature[l] == k;
        if (!used) continue;
        char what[32], dims[32];
        snprintf(what, sizeof what, "pixel decoder: res%d", k + 2);
        snprintf(dims, sizeof dims, "[1,%d,H,W]", c->in_channels[k]);
        ug_status st = nn_check_input(&res[k], UG_F32, 4, (const int64_t[]){1, c->in_channels[k], -1, -1},
                                      false, what, dims, err);
        if (st == UG_OK) st = nn_check_device(ctx, &res[k], what, err);
        if (st != UG_OK) return st;
    }
    return UG_OK;
}

ug_status pd_forward(ug_ctx *ctx, const pd_model *m, const ug_tensor res[PD_FEATURES], pd_output *out,
                     const nn_trace *trace, ug_err *err) {
    memset(out, 0, sizeof *out);
    ug_status st = check_features(ctx, &m->cfg, res, err);
    if (st != UG_OK) return st;
    enc_geom g = encoder_geometry(&m->cfg, res);
    pd_maps mp;
    nn_mark mark = nn_get_mark(ctx);
    if ((st = output_maps(ctx, &m->cfg, res, out, &mp, err)) != UG_OK ||
        (st = encoder(ctx, m, res, &g, mp.map, trace, err)) != UG_OK ||
        (st = fpn(ctx, m, res, &mp, err)) != UG_OK || (st = mask_features(ctx, m, &mp, out, err)) != UG_OK) {
        nn_release(ctx, mark);
        pd_output_free(out);
        return st;
    }
    trace_outputs(trace, out);
    nn_release(ctx, mark);
    return UG_OK;
}

void pd_output_free(pd_output *out) {
    if (!out) return;
    for (int j = 0; j < PD_MAX_MULTISCALE; j++)
        ug_tensor_free(&out->multi_scale[j]);
    ug_tensor_free(&out->mask_features);
    memset(out, 0, sizeof *out);
}

// ---- config ----

ug_status pd_config_check(const pd_config *c, ug_err *err) {
    if (c->conv_dim < 2 || c->conv_dim % 2 || c->mask_dim < 1 || c->gn_groups < 1 ||
        c->conv_dim % c->gn_groups)
        return ug_errf(err, UG_ERR_ARG,
                       "pixel decoder config: conv_dim %d must be even and divisible by %d GroupNorm groups "
                       "(mask_dim %d)",
                       c->conv_dim, c->gn_groups, c->mask_dim);
    if (c->heads < 1 || c->conv_dim % c->heads || c->points < 1 || c->ffn < 1 || c->enc_layers < 0 ||
        c->enc_layers > PD_MAX_ENC_LAYERS)
        return ug_errf(err, UG_ERR_ARG,
                       "pixel decoder config: %d heads for width %d, %d points, FFN %d, %d encoder layers",
                       c->heads, c->conv_dim, c->points, c->ffn, c->enc_layers);
    if (c->n_levels < 1 || c->n_levels > PD_FEATURES)
        return ug_errf(err, UG_ERR_ARG, "pixel decoder config: %d encoder levels (1..%d)", c->n_levels,
                       PD_FEATURES);
    for (int l = 0; l < c->n_levels; l++) {
        int k = c->level_feature[l];
        if (k < 0 || k >= PD_FEATURES || (l > 0 && k >= c->level_feature[l - 1]))
            return ug_errf(err, UG_ERR_ARG,
                           "pixel decoder config: encoder level %d reads res%d (levels must be distinct, "
                           "coarsest first)",
                           l, k + 2);
    }
    int finest = c->level_feature[c->n_levels - 1];
    if (c->n_fpn < 0 || c->n_fpn > finest)
        return ug_errf(err, UG_ERR_ARG, "pixel decoder config: %d FPN levels below res%d", c->n_fpn,
                       finest + 2);
    if (c->n_multiscale < 1 || c->n_multiscale > PD_MAX_MULTISCALE)
        return ug_errf(err, UG_ERR_ARG, "pixel decoder config: %d multi-scale features (1..%d)",
                       c->n_multiscale, PD_MAX_MULTISCALE);
    for (int k = 0; k < PD_FEATURES; k++) {
        bool used = k < c->n_fpn;
        for (int l = 0; l < c->n_levels; l++)
            used |= c->level_feature[l] == k;
        if (used && c->in_channels[k] < 1)
            return ug_errf(err, UG_ERR_ARG, "pixel decoder config: res%d has %d channels", k + 2,
                           c->in_channels[k]);
    }
    if (!(c->gn_eps > 0) || !(c->ln_eps > 0))
        return ug_errf(err, UG_ERR_ARG, "pixel decoder config: eps must be > 0");
    return UG_OK;
}

// "res2".."res5" -> 0..3, else -1.
static int res_index(const char *s) {
    return s[0] == 'r' && s[1] == 'e' && s[2] == 's' && s[3] >= '2' && s[3] <= '5' && !s[4] ? s[3] - '2' : -1;
}

// The pixel_decoder_* keys through the shared RbA table (models/packed_config.c: defaults,
// ranges), then the levels and FPN depth they imply.
ug_status pd_config_from_json(pd_config *c, const ug_json *root, const int in_channels[PD_FEATURES],
                              ug_err *err) {
    _Static_assert((int)RBA_CFG_FEATURES == (int)PD_FEATURES,
                   "one transformer input feature per backbone level");
    rba_packed_config p;
    ug_status st = ug_cfg_read(&rba_config_schema, &p, root, "pixel_decoder_", err);
    if (st != UG_OK) return st;
    if (strcmp(p.pd.norm, "GN") != 0)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "pixel decoder config: norm \"%s\" is not supported (only GN)", p.pd.norm);
    memset(c, 0, sizeof *c);
    memcpy(c->in_channels, in_channels, sizeof c->in_channels);
    c->conv_dim = p.pd.conv_dim;
    c->mask_dim = p.pd.mask_dim;
    c->gn_groups = p.pd.gn_groups;
    c->heads = p.pd.nheads;
    c->points = p.pd.deform_n_points;
    c->ffn = p.pd.dim_feedforward;
    c->enc_layers = p.pd.enc_layers;
    c->n_multiscale = 3; // MSDeformAttnPixelDecoder.maskformer_num_feature_levels (fixed there)
    c->gn_eps = 1e-5f;
    c->ln_eps = 1e-5f;
    int stride = c->common_stride = p.pd.common_stride;
    if (p.pd.n_in_features < 1)
        return ug_errf(err, UG_ERR_FORMAT,
                       "key \"pixel_decoder_transformer_in_features\": %d features (1..%d)",
                       p.pd.n_in_features, PD_FEATURES);
    // The official decoder sorts its transformer features by stride; encoder level 0 is the
    // coarsest (input_proj runs over them reversed).
    bool used[PD_FEATURES] = {false};
    for (int i = 0; i < p.pd.n_in_features; i++) {
        int k = res_index(p.pd.in_features[i]);
        if (k < 0 || used[k])
            return ug_errf(
                err, UG_ERR_FORMAT,
                "key \"pixel_decoder_transformer_in_features\"[%d]: expected a distinct \"res2\"..\"res5\"",
                i);
        used[k] = true;
    }
    for (int k = PD_FEATURES - 1; k >= 0; k--)
        if (used[k]) c->level_feature[c->n_levels++] = k;
    // num_fpn_levels = log2(finest transformer stride) - log2(common_stride).
    int finest_stride = 4 << c->level_feature[c->n_levels - 1];
    if (stride < 1 || stride > finest_stride || finest_stride % stride || (stride & (stride - 1)) ||
        stride < 4)
        return ug_errf(err, UG_ERR_ARG,
                       "pixel decoder config: common stride %d must be a power of two in [4, %d] (finest "
                       "encoder stride)",
                       stride, finest_stride);
    for (int s = finest_stride; s > stride; s /= 2)
        c->n_fpn++;
    return pd_config_check(c, err);
}

// ---- weights ----

// A conv "<name>.weight" [out, in, k, k] (+ ".bias") and its GroupNorm "<norm>" [out].
static void get_conv_gn(nn_loader *l, pd_conv_gn *cv, int64_t out, int64_t in, int64_t k, bool bias,
                        const char *name, const char *norm) {
    nn_get_conv(l, &cv->conv, out, in, k, bias, "%s", name);
    nn_get_norm(l, &cv->norm, out, "%s", norm);
}

static void get_enc_layer(nn_loader *l, pd_enc_layer *e, const pd_config *c, int i) {
    int64_t C = c->conv_dim, MLP = (int64_t)c->heads * c->n_levels * c->points;
    const char *base = "transformer.encoder.layers";
    nn_get_linear(l, &e->sampling_offsets, MLP * 2, C, true, "%s.%d.self_attn.sampling_offsets", base, i);
    nn_get_linear(l, &e->attention_weights, MLP, C, true, "%s.%d.self_attn.attention_weights", base, i);
    nn_get_linear(l, &e->value_proj, C, C, true, "%s.%d.self_attn.value_proj", base, i);
    nn_get_linear(l, &e->output_proj, C, C, true, "%s.%d.self_attn.output_proj", base, i);
    nn_get_norm(l, &e->norm1, C, "%s.%d.norm1", base, i);
    nn_get_linear(l, &e->linear1, c->ffn, C, true, "%s.%d.linear1", base, i);
    nn_get_linear(l, &e->linear2, C, c->ffn, true, "%s.%d.linear2", base, i);
    nn_get_norm(l, &e->norm2, C, "%s.%d.norm2", base, i);
}

ug_status pd_load(pd_model *m, const pd_config *cfg, ug_weights *w, const char *prefix, ug_err *err) {
    memset(m, 0, sizeof *m);
    ug_status st = pd_config_check(cfg, err);
    if (st != UG_OK) return st;
    m->cfg = *cfg;
    if (cfg->enc_layers > 0 && !(m->layers = calloc((size_t)cfg->enc_layers, sizeof *m->layers)))
        return ug_errf(err, UG_ERR_NOMEM, "pixel decoder: out of memory for %d encoder layers",
                       cfg->enc_layers);
    nn_loader l;
    nn_loader_init(&l, w, prefix, err);
    int64_t C = cfg->conv_dim;
    char name[64], norm[64];
    for (int i = 0; i < cfg->n_levels; i++) {
        // nn.Sequential(Conv2d, GroupNorm): the conv is input_proj.<i>.0, its norm input_proj.<i>.1.
        snprintf(name, sizeof name, "input_proj.%d.0", i);
        snprintf(norm, sizeof norm, "input_proj.%d.1", i);
        get_conv_gn(&l, &m->input_proj[i], C, cfg->in_channels[cfg->level_feature[i]], 1, true, name, norm);
    }
    nn_get_f32(&l, &m->level_embed, UG_DIMS(cfg->n_levels, C), "transformer.level_embed");
    for (int i = 0; i < cfg->enc_layers; i++)
        get_enc_layer(&l, &m->layers[i], cfg, i);
    // adapter_<k+1> / layer_<k+1> belong to res{k+2}; convs with a norm have no bias.
    for (int k = 0; k < cfg->n_fpn; k++) {
        snprintf(name, sizeof name, "adapter_%d", k + 1);
        snprintf(norm, sizeof norm, "adapter_%d.norm", k + 1);
        get_conv_gn(&l, &m->lateral[k], C, cfg->in_channels[k], 1, false, name, norm);
        snprintf(name, sizeof name, "layer_%d", k + 1);
        snprintf(norm, sizeof norm, "layer_%d.norm", k + 1);
        get_conv_gn(&l, &m->output[k], C, C, 3, false, name, norm);
    }
    nn_get_conv(&l, &m->mask_features, cfg->mask_dim, C, 1, true, "mask_features");
    if (l.st != UG_OK) pd_free(m);
    return l.st;
}

void pd_free(pd_model *m) {
    if (!m) return;
    free(m->layers);
    memset(m, 0, sizeof *m);
}
