// models/mask2former_decoder.c — MultiScaleMaskedTransformerDecoder, post-norm, batch 1
// (mask2former_transformer_decoder.py: forward, forward_prediction_heads, CrossAttentionLayer,
// SelfAttentionLayer, FFNLayer, MLP). Read top to bottom in the order of the forward pass, then
// the config and the loading; the letters are those of models/mask2former_decoder.h.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/mask2former_decoder.h"
#include "models/packed_config.h"
#include "ops/ops.h"

// Every LayerNorm of the decoder uses PyTorch's default eps (golden/README.md).
#define M2F_LN_EPS 1e-5f

// Sizes must be positive and small enough that products of a few of them stay far inside
// int64; the bound only rejects nonsense.
enum { M2F_MAX_SIZE = 1 << 16 };

// ---- forward ----

typedef struct fwd {
    ug_ctx *ctx;
    const m2f_decoder *d;
    const nn_trace *trace;
    ug_err *err;
    int64_t C, Q, h, w; // width, queries, mask-feature grid
} fwd;

// x = LN(x + r) over C (the post-norm residual of every decoder sub-layer).
static void add_norm(fwd *f, ug_tensor *x, const ug_tensor *r, const nn_norm *n) {
    ug_add(f->ctx, x, x, r);
    ug_layernorm(f->ctx, x, x, &n->w, &n->b, M2F_LN_EPS);
}

// One feature level as token rows: src [N, C] = feature^T + level_embed[l], pos [N, C] = the
// sine embedding of the H x W grid (PositionEmbeddingSine(C/2, normalize=True)), transposed.
static ug_status level_tokens(fwd *f, const ug_tensor *feature, int l, ug_tensor *src, ug_tensor *pos) {
    int64_t C = f->C, H = feature->shape[2], W = feature->shape[3], N = H * W;
    ug_status st;
    if ((st = nn_f32(f->ctx, src, UG_DIMS(N, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, pos, UG_DIMS(N, C), f->err)) != UG_OK)
        return st;
    nn_mark mark = nn_get_mark(f->ctx);
    ug_tensor pe; // [C, H, W]
    if ((st = nn_f32(f->ctx, &pe, UG_DIMS(C, H, W), f->err)) != UG_OK) return st;
    ug_tensor fv = ug_view_reshape(feature, UG_DIMS(C, N));
    ug_tensor fT = ug_view_transpose(&fv, 0, 1); // [N, C]
    ug_copy(f->ctx, src, &fT);
    ug_tensor row = ug_view_slice(&f->d->level_embed, 0, l, 1);
    ug_tensor row1 = ug_view_reshape(&row, UG_DIMS(C));
    ug_tensor lvl = ug_view_expand_dim(&row1, 0, N); // [N, C], stride 0 over tokens
    ug_add(f->ctx, src, src, &lvl);
    ug_posembed_sine(f->ctx, &pe);
    ug_tensor pv = ug_view_reshape(&pe, UG_DIMS(C, N));
    ug_tensor pT = ug_view_transpose(&pv, 0, 1); // [N, C]
    ug_copy(f->ctx, pos, &pT);
    nn_release(f->ctx, mark);
    return UG_OK;
}

// forward_prediction_heads: x [Q, C] -> logits [Q, K+1], masks [Q, h * w].
static ug_status heads(fwd *f, const ug_tensor *x, const ug_tensor *mask_features, ug_tensor *logits,
                       ug_tensor *masks) {
    const m2f_decoder *d = f->d;
    int64_t Q = f->Q, C = f->C, E = d->cfg.mask_dim;
    nn_mark mark = nn_get_mark(f->ctx);
    ug_tensor xn, e0, e1, emb; // [Q, C] x3, [Q, E]
    ug_status st;
    if ((st = nn_f32(f->ctx, &xn, UG_DIMS(Q, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, &e0, UG_DIMS(Q, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, &e1, UG_DIMS(Q, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, &emb, UG_DIMS(Q, E), f->err)) != UG_OK)
        goto done;
    ug_layernorm(f->ctx, &xn, x, &d->decoder_norm.w, &d->decoder_norm.b, M2F_LN_EPS);
    ug_linear(f->ctx, logits, &xn, &d->class_embed.w, &d->class_embed.b);
    // MLP: ReLU after every layer but the last.
    ug_linear(f->ctx, &e0, &xn, &d->mask_embed[0].w, &d->mask_embed[0].b);
    ug_relu(f->ctx, &e0, &e0);
    ug_linear(f->ctx, &e1, &e0, &d->mask_embed[1].w, &d->mask_embed[1].b);
    ug_relu(f->ctx, &e1, &e1);
    ug_linear(f->ctx, &emb, &e1, &d->mask_embed[2].w, &d->mask_embed[2].b);
    // einsum("qc,chw->qhw"): [Q, E] @ [E, h * w].
    ug_tensor mf = ug_view_reshape(mask_features, UG_DIMS(E, f->h * f->w));
    ug_matmul(f->ctx, masks, &emb, &mf, NULL, 1.0f, 0.0f);
done:
    nn_release(f->ctx, mark);
    return st;
}

// The attention mask of a layer from the prediction before it: masks [Q, h * w] resized
// bilinearly to the level's H x W, then blocked where sigmoid < 0.5, a query whose keys are
// all blocked attending to all of them instead (ops/attn_mask.h). mask [Q, H * W] U8, nonzero
// = blocked.
static ug_status attn_mask(fwd *f, const ug_tensor *masks, int64_t H, int64_t W, ug_tensor *mask) {
    int64_t Q = f->Q;
    ug_status st = nn_tensor(f->ctx, mask, UG_U8, UG_DIMS(Q, H * W), f->err);
    if (st != UG_OK) return st;
    nn_mark mark = nn_get_mark(f->ctx);
    ug_tensor small; // [Q, H, W]
    if ((st = nn_f32(f->ctx, &small, UG_DIMS(Q, H, W), f->err)) != UG_OK) return st;
    ug_tensor src = ug_view_reshape(masks, UG_DIMS(Q, f->h, f->w));
    ug_resize_bilinear(f->ctx, &small, &src, false);
    ug_tensor logits = ug_view_reshape(&small, UG_DIMS(Q, H * W));
    ug_attn_mask_threshold(f->ctx, mask, &logits);
    nn_release(f->ctx, mark);
    return UG_OK;
}

// [N, C] token rows seen as [1, heads, N, D]: head j of token n at n * C + j * D.
static ug_tensor split_heads(const ug_tensor *t, int64_t heads) {
    ug_tensor t3 = ug_view_reshape(t, UG_DIMS(1, t->shape[0], t->shape[1]));
    return nn_split_heads(&t3, heads);
}

// nn.MultiheadAttention(q_in, k_in, v_in, attn_mask) -> out [Nq, C] (before out_proj's residual):
// q/k/v projections, heads split as strided views, fused attention, out_proj.
static ug_status mha(fwd *f, const m2f_mha *a, ug_tensor *out, const ug_tensor *q_in, const ug_tensor *k_in,
                     const ug_tensor *v_in, const ug_tensor *mask) {
    int64_t C = f->C, Hh = f->d->cfg.nheads, D = C / Hh, Nq = q_in->shape[0], Nk = k_in->shape[0];
    nn_mark mark = nn_get_mark(f->ctx);
    ug_tensor q, k, v, o; // [Nq, C], [Nk, C], [Nk, C], [Nq, C]
    ug_status st;
    if ((st = nn_f32(f->ctx, &q, UG_DIMS(Nq, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, &k, UG_DIMS(Nk, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, &v, UG_DIMS(Nk, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, &o, UG_DIMS(Nq, C), f->err)) != UG_OK)
        goto done;
    ug_linear(f->ctx, &q, q_in, &a->q.w, &a->q.b);
    ug_linear(f->ctx, &k, k_in, &a->k.w, &a->k.b);
    ug_linear(f->ctx, &v, v_in, &a->v.w, &a->v.b);
    ug_tensor qh = split_heads(&q, Hh), kh = split_heads(&k, Hh), vh = split_heads(&v, Hh),
              oh = split_heads(&o, Hh);
    ug_attn_extra extra = {.mask = mask}; // [Nq, Nk] broadcast over heads
    ug_attention(f->ctx, &oh, &qh, &kh, &vh, mask ? &extra : NULL, 1.0f / sqrtf((float)D));
    ug_linear(f->ctx, out, &o, &a->out.w, &a->out.b);
done:
    nn_release(f->ctx, mark);
    return st;
}

// One decoder layer on x [Q, C] (in place) against level tokens src/pos [N, C].
static ug_status layer_fwd(fwd *f, const m2f_layer *ly, ug_tensor *x, const ug_tensor *src,
                           const ug_tensor *pos, const ug_tensor *mask) {
    const m2f_decoder *d = f->d;
    int64_t Q = f->Q, C = f->C, N = src->shape[0];
    nn_mark mark = nn_get_mark(f->ctx);
    ug_tensor xq, kin, r, hid; // [Q, C], [N, C], [Q, C], [Q, ffn]
    ug_status st;
    if ((st = nn_f32(f->ctx, &xq, UG_DIMS(Q, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, &kin, UG_DIMS(N, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, &r, UG_DIMS(Q, C), f->err)) != UG_OK ||
        (st = nn_f32(f->ctx, &hid, UG_DIMS(Q, d->cfg.ffn), f->err)) != UG_OK)
        goto done;
    // Masked cross-attention: queries + query_pos against keys src + pos, values src.
    ug_add(f->ctx, &xq, x, &d->query_embed);
    ug_add(f->ctx, &kin, src, pos);
    if ((st = mha(f, &ly->cross, &r, &xq, &kin, src, mask)) != UG_OK) goto done;
    add_norm(f, x, &r, &ly->cross.norm);
    // Self-attention among the queries.
    ug_add(f->ctx, &xq, x, &d->query_embed);
    if ((st = mha(f, &ly->self, &r, &xq, &xq, x, NULL)) != UG_OK) goto done;
    add_norm(f, x, &r, &ly->self.norm);
    // FFN.
    ug_linear(f->ctx, &hid, x, &ly->lin1.w, &ly->lin1.b);
    ug_relu(f->ctx, &hid, &hid);
    ug_linear(f->ctx, &r, &hid, &ly->lin2.w, &ly->lin2.b);
    add_norm(f, x, &r, &ly->ffn_norm);
done:
    nn_release(f->ctx, mark);
    return st;
}

static ug_status check_inputs(const ug_ctx *ctx, const m2f_config *c, const ug_tensor *features,
                              int nfeatures, const ug_tensor *mask_features, ug_err *err) {
    if (nfeatures != c->levels)
        return ug_errf(err, UG_ERR_ARG, "decoder: %d feature levels given, the config has %d", nfeatures,
                       c->levels);
    char what[48], dims[32];
    ug_status st;
    snprintf(dims, sizeof dims, "[1,%d,H,W]", c->hidden);
    for (int l = 0; l < nfeatures; l++) {
        snprintf(what, sizeof what, "decoder: feature level %d", l);
        if ((st = nn_check_input(&features[l], UG_F32, 4, (const int64_t[]){1, c->hidden, -1, -1}, true, what,
                                 dims, err)) != UG_OK ||
            (st = nn_check_device(ctx, &features[l], what, err)) != UG_OK)
            return st;
    }
    snprintf(dims, sizeof dims, "[1,%d,h,w]", c->mask_dim);
    if ((st = nn_check_input(mask_features, UG_F32, 4, (const int64_t[]){1, c->mask_dim, -1, -1}, true,
                             "decoder: mask_features", dims, err)) != UG_OK)
        return st;
    return nn_check_device(ctx, mask_features, "decoder: mask_features", err);
}

// Emits one prediction under "aux<i>_pred_logits" / "aux<i>_pred_masks".
static void emit_aux(fwd *f, int i, const ug_tensor *logits, const ug_tensor *masks) {
    char name[64];
    snprintf(name, sizeof name, "aux%d_pred_logits", i);
    nn_emit(f->trace, name, logits);
    snprintf(name, sizeof name, "aux%d_pred_masks", i);
    ug_tensor m3 = ug_view_reshape(masks, UG_DIMS(f->Q, f->h, f->w));
    nn_emit(f->trace, name, &m3);
}

ug_status m2f_forward(ug_ctx *ctx, const m2f_decoder *d, const ug_tensor *features, int nfeatures,
                      const ug_tensor *mask_features, ug_tensor *logits, ug_tensor *masks,
                      const nn_trace *trace, ug_err *err) {
    memset(logits, 0, sizeof *logits);
    memset(masks, 0, sizeof *masks);
    const m2f_config *c = &d->cfg;
    ug_status st = check_inputs(ctx, c, features, nfeatures, mask_features, err);
    if (st != UG_OK) return st;
    fwd f = {ctx, d, trace, err, c->hidden, c->queries, mask_features->shape[2], mask_features->shape[3]};
    int64_t Q = f.Q, C = f.C, K1 = c->classes + 1, L = c->levels;
    nn_mark mark = nn_get_mark(ctx);
    ug_tensor x;                                        // [Q, C]
    ug_tensor src[M2F_MAX_LEVELS], pos[M2F_MAX_LEVELS]; // [N_l, C] each, made when first used
    bool made[M2F_MAX_LEVELS] = {false};
    // The heads write every prediction straight into the outputs: logits [Q, K+1], masks
    // [Q, h * w] (the masks are the largest tensor here: 52 MB at 1024 x 2048 with Q = 100).
    if ((st = nn_output(ctx, logits, UG_F32, UG_DIMS(Q, K1), err)) != UG_OK ||
        (st = nn_output(ctx, masks, UG_F32, UG_DIMS(Q, f.h, f.w), err)) != UG_OK ||
        (st = nn_f32(ctx, &x, UG_DIMS(Q, C), err)) != UG_OK)
        goto done;
    ug_tensor mk = ug_view_reshape(masks, UG_DIMS(Q, f.h * f.w));
    ug_copy(ctx, &x, &d->query_feat);
    if ((st = heads(&f, &x, mask_features, logits, &mk)) != UG_OK) goto done;
    for (int i = 0; i < c->layers; i++) {
        emit_aux(&f, i, logits, &mk);
        int l = (int)(i % L);
        const ug_tensor *feat = &features[l];
        if (!made[l]) {
            if ((st = level_tokens(&f, feat, l, &src[l], &pos[l])) != UG_OK) goto done;
            made[l] = true;
        }
        nn_mark lm = nn_get_mark(ctx);
        ug_tensor mask; // [Q, N_l] U8
        if ((st = attn_mask(&f, &mk, feat->shape[2], feat->shape[3], &mask)) != UG_OK ||
            (st = layer_fwd(&f, &d->layers[i], &x, &src[l], &pos[l], &mask)) != UG_OK)
            goto done;
        nn_release(ctx, lm);
        char name[64];
        snprintf(name, sizeof name, "decoder_queries_layer%d", i);
        nn_emit(trace, name, &x);
        if ((st = heads(&f, &x, mask_features, logits, &mk)) != UG_OK) goto done;
    }
done:
    nn_release(ctx, mark);
    if (st != UG_OK) {
        ug_tensor_free(logits);
        ug_tensor_free(masks);
    }
    return st;
}

// ---- config ----

ug_status m2f_config_check(const m2f_config *c, ug_err *err) {
    const int sizes[] = {c->hidden,  c->nheads,   c->ffn,    c->queries,
                         c->classes, c->mask_dim, c->levels, c->layers};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i] < 1 || sizes[i] > M2F_MAX_SIZE)
            return ug_errf(err, UG_ERR_ARG, "decoder config: size %d is out of range", sizes[i]);
    if (c->hidden % c->nheads)
        return ug_errf(err, UG_ERR_ARG,
                       "decoder config: decoder_hidden_dim %d is not divisible by decoder_nheads %d",
                       c->hidden, c->nheads);
    // The sine position embedding gives C/2 channels per axis.
    if (c->hidden % 2)
        return ug_errf(err, UG_ERR_ARG, "decoder config: decoder_hidden_dim %d is odd", c->hidden);
    if (c->levels > M2F_MAX_LEVELS || c->layers > M2F_MAX_LAYERS)
        return ug_errf(err, UG_ERR_UNSUPPORTED, "decoder config: %d levels / %d layers (at most %d / %d)",
                       c->levels, c->layers, M2F_MAX_LEVELS, M2F_MAX_LAYERS);
    return UG_OK;
}

// The decoder_* keys through the shared RbA table (models/packed_config.c: ranges, defaults).
ug_status m2f_config_from_json(m2f_config *c, const ug_json *root, ug_err *err) {
    rba_packed_config p;
    ug_status st = ug_cfg_read(&rba_config_schema, &p, root, "decoder_", err);
    if (st != UG_OK) {
        ug_err_prefix(err, "decoder config: ");
        return st;
    }
    if (p.dec.pre_norm || p.dec.enforce_input_project)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "decoder config: %s is not supported (released models use false)",
                       p.dec.pre_norm ? "decoder_pre_norm" : "decoder_enforce_input_project");
    memset(c, 0, sizeof *c);
    c->hidden = p.dec.hidden_dim;
    c->nheads = p.dec.nheads;
    c->ffn = p.dec.dim_feedforward;
    c->queries = p.dec.num_queries;
    c->classes = p.dec.num_classes;
    c->mask_dim = p.dec.mask_dim;
    c->levels = p.dec.num_feature_levels;
    c->layers = p.dec.dec_layers;
    return m2f_config_check(c, err);
}

// ---- weights ----

// nn.MultiheadAttention "<base>.{in_proj_weight, in_proj_bias, out_proj}" and its LayerNorm
// "<norm>".
static void get_mha(nn_loader *l, m2f_mha *a, int64_t C, const char *base, const char *norm) {
    ug_tensor w, b; // [3C, C], F32 [3C]: read here, the kept parameters are their row blocks
    nn_read(l, &w, UG_DIMS(3 * C, C), "%s.in_proj_weight", base);
    nn_read_f32(l, &b, UG_DIMS(3 * C), "%s.in_proj_bias", base);
    nn_get_linear(l, &a->out, C, C, true, "%s.out_proj", base);
    nn_get_norm(l, &a->norm, C, "%s", norm);
    if (l->st != UG_OK) return;
    nn_linear *qkv[3] = {&a->q, &a->k, &a->v}; // row blocks in the order q, k, v
    for (int i = 0; i < 3; i++) {
        qkv[i]->w = ug_view_slice(&w, 0, i * C, C);
        qkv[i]->b = ug_view_slice(&b, 0, i * C, C);
        nn_keep(l, &qkv[i]->w);
        nn_keep(l, &qkv[i]->b);
    }
}

static void get_layer(nn_loader *l, m2f_layer *ly, const m2f_config *cfg, int i) {
    int64_t C = cfg->hidden;
    char base[128], norm[128];
    snprintf(base, sizeof base, "transformer_cross_attention_layers.%d.multihead_attn", i);
    snprintf(norm, sizeof norm, "transformer_cross_attention_layers.%d.norm", i);
    get_mha(l, &ly->cross, C, base, norm);
    snprintf(base, sizeof base, "transformer_self_attention_layers.%d.self_attn", i);
    snprintf(norm, sizeof norm, "transformer_self_attention_layers.%d.norm", i);
    get_mha(l, &ly->self, C, base, norm);
    nn_get_linear(l, &ly->lin1, cfg->ffn, C, true, "transformer_ffn_layers.%d.linear1", i);
    nn_get_linear(l, &ly->lin2, C, cfg->ffn, true, "transformer_ffn_layers.%d.linear2", i);
    nn_get_norm(l, &ly->ffn_norm, C, "transformer_ffn_layers.%d.norm", i);
}

ug_status m2f_load(m2f_decoder *d, const m2f_config *cfg, ug_weights *w, const char *prefix, ug_err *err) {
    memset(d, 0, sizeof *d);
    ug_status st = m2f_config_check(cfg, err);
    if (st != UG_OK) return st;
    d->cfg = *cfg;
    int64_t C = cfg->hidden, Q = cfg->queries;
    d->layers = calloc((size_t)cfg->layers, sizeof *d->layers);
    if (!d->layers) return ug_errf(err, UG_ERR_NOMEM, "decoder: out of memory");
    nn_loader l;
    nn_loader_init(&l, w, prefix, err);
    for (int i = 0; i < cfg->layers; i++)
        get_layer(&l, &d->layers[i], cfg, i);
    nn_get_norm(&l, &d->decoder_norm, C, "decoder_norm");
    nn_get_f32(&l, &d->query_feat, UG_DIMS(Q, C), "query_feat.weight");
    nn_get_f32(&l, &d->query_embed, UG_DIMS(Q, C), "query_embed.weight");
    nn_get_f32(&l, &d->level_embed, UG_DIMS(cfg->levels, C), "level_embed.weight");
    nn_get_linear(&l, &d->class_embed, cfg->classes + 1, C, true, "class_embed");
    nn_get_linear(&l, &d->mask_embed[0], C, C, true, "mask_embed.layers.0");
    nn_get_linear(&l, &d->mask_embed[1], C, C, true, "mask_embed.layers.1");
    nn_get_linear(&l, &d->mask_embed[2], cfg->mask_dim, C, true, "mask_embed.layers.2");
    if (l.st != UG_OK) m2f_free(d);
    return l.st;
}

void m2f_free(m2f_decoder *d) {
    if (!d) return;
    free(d->layers);
    memset(d, 0, sizeof *d);
}
