// models/mask2former_decoder.c — MultiScaleMaskedTransformerDecoder, post-norm, batch 1
// (mask2former_transformer_decoder.py: forward, forward_prediction_heads, CrossAttentionLayer,
// SelfAttentionLayer, FFNLayer, MLP). Read top to bottom in the order of the forward pass;
// the letters are those of models/mask2former_decoder.h.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/mask2former_decoder.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/gemm.h"
#include "ops/layernorm.h"
#include "ops/movement.h"
#include "ops/posembed.h"
#include "ops/resize.h"
#include "ops/ops.h"

// Every LayerNorm of the decoder uses PyTorch's default eps (golden/README.md).
#define M2F_LN_EPS 1e-5f

// Sizes must be positive and small enough that products of a few of them stay far inside
// int64; the bound only rejects nonsense.
enum { M2F_MAX_SIZE = 1 << 16 };

// ---- config ----

static ug_status get_size(const ug_json *root, const char *key, int *out, ug_err *err) {
    int64_t v;
    ug_status st = ug_json_get_int(root, key, &v, err);
    if (st != UG_OK) return st;
    if (v < 1 || v > M2F_MAX_SIZE)
        return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": %lld is not a valid size", key, (long long)v);
    *out = (int)v;
    return UG_OK;
}

ug_status m2f_config_check(const m2f_config *c, ug_err *err) {
    const int sizes[] = {c->hidden, c->nheads, c->ffn, c->queries, c->classes, c->mask_dim, c->levels, c->layers};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i] < 1 || sizes[i] > M2F_MAX_SIZE)
            return ug_errf(err, UG_ERR_ARG, "decoder config: size %d is out of range", sizes[i]);
    if (c->hidden % c->nheads)
        return ug_errf(err, UG_ERR_ARG, "decoder config: decoder_hidden_dim %d is not divisible by decoder_nheads %d",
                       c->hidden, c->nheads);
    // The sine position embedding gives C/2 channels per axis.
    if (c->hidden % 2)
        return ug_errf(err, UG_ERR_ARG, "decoder config: decoder_hidden_dim %d is odd", c->hidden);
    if (c->levels > M2F_MAX_LEVELS || c->layers > M2F_MAX_LAYERS)
        return ug_errf(err, UG_ERR_UNSUPPORTED, "decoder config: %d levels / %d layers (at most %d / %d)", c->levels,
                       c->layers, M2F_MAX_LEVELS, M2F_MAX_LAYERS);
    return UG_OK;
}

ug_status m2f_config_from_json(m2f_config *c, const ug_json *root, ug_err *err) {
    memset(c, 0, sizeof *c);
    ug_status st;
    if ((st = get_size(root, "decoder_hidden_dim", &c->hidden, err)) != UG_OK ||
        (st = get_size(root, "decoder_nheads", &c->nheads, err)) != UG_OK ||
        (st = get_size(root, "decoder_dim_feedforward", &c->ffn, err)) != UG_OK ||
        (st = get_size(root, "decoder_num_queries", &c->queries, err)) != UG_OK ||
        (st = get_size(root, "decoder_num_classes", &c->classes, err)) != UG_OK ||
        (st = get_size(root, "decoder_mask_dim", &c->mask_dim, err)) != UG_OK ||
        (st = get_size(root, "decoder_num_feature_levels", &c->levels, err)) != UG_OK ||
        (st = get_size(root, "decoder_dec_layers", &c->layers, err)) != UG_OK)
        goto fail;
    bool pre_norm = false, enforce = false;
    if ((ug_json_get(root, "decoder_pre_norm") && (st = ug_json_get_bool(root, "decoder_pre_norm", &pre_norm, err))) ||
        (ug_json_get(root, "decoder_enforce_input_project") &&
         (st = ug_json_get_bool(root, "decoder_enforce_input_project", &enforce, err))))
        goto fail;
    if (pre_norm || enforce)
        return ug_errf(err, UG_ERR_UNSUPPORTED, "decoder config: %s is not supported (released models use false)",
                       pre_norm ? "decoder_pre_norm" : "decoder_enforce_input_project");
    return m2f_config_check(c, err);
fail:
    ug_err_prefix(err, "decoder config: ");
    return st;
}

// ---- weights ----

typedef struct loader {
    ug_weights *w;
    const char *prefix;
    char key[320];
} loader;

// "<prefix><base><suffix>"
static const char *key_of(loader *l, const char *base, const char *suffix) {
    snprintf(l->key, sizeof l->key, "%s%s%s", l->prefix, base, suffix);
    return l->key;
}

static ug_status get_norm(loader *l, m2f_norm *n, int64_t C, const char *base, ug_err *err) {
    ug_status st = ug_weights_get_f32(l->w, &n->w, key_of(l, base, ".weight"), UG_DIMS(C), err);
    return st != UG_OK ? st : ug_weights_get_f32(l->w, &n->b, key_of(l, base, ".bias"), UG_DIMS(C), err);
}

static ug_status get_linear(loader *l, m2f_linear *lin, int64_t out, int64_t in, const char *base, ug_err *err) {
    ug_status st = ug_weights_get(l->w, &lin->w, key_of(l, base, ".weight"), UG_DIMS(out, in), err);
    return st != UG_OK ? st : ug_weights_get_f32(l->w, &lin->b, key_of(l, base, ".bias"), UG_DIMS(out), err);
}

// nn.MultiheadAttention "<base>.{in_proj_weight, in_proj_bias, out_proj}" and "<norm>".
static ug_status get_mha(loader *l, m2f_mha *a, int64_t C, const char *base, const char *norm, ug_err *err) {
    ug_tensor w, b; // [3C, C], F32 [3C]
    ug_status st;
    if ((st = ug_weights_get(l->w, &w, key_of(l, base, ".in_proj_weight"), UG_DIMS(3 * C, C), err)) != UG_OK ||
        (st = ug_weights_get_f32(l->w, &b, key_of(l, base, ".in_proj_bias"), UG_DIMS(3 * C), err)) != UG_OK)
        return st;
    m2f_linear *qkv[3] = {&a->q, &a->k, &a->v}; // row blocks in the order q, k, v
    for (int i = 0; i < 3; i++) {
        qkv[i]->w = ug_view_slice(&w, 0, i * C, C);
        qkv[i]->b = ug_view_slice(&b, 0, i * C, C);
    }
    char out[256];
    snprintf(out, sizeof out, "%s.out_proj", base);
    if ((st = get_linear(l, &a->out, C, C, out, err)) != UG_OK) return st;
    return get_norm(l, &a->norm, C, norm, err);
}

ug_status m2f_load(m2f_decoder *d, const m2f_config *cfg, ug_weights *w, const char *prefix, ug_err *err) {
    memset(d, 0, sizeof *d);
    ug_status st = m2f_config_check(cfg, err);
    if (st != UG_OK) return st;
    d->cfg = *cfg;
    int64_t C = cfg->hidden, Q = cfg->queries;
    loader l = {.w = w, .prefix = prefix};
    d->layers = calloc((size_t)cfg->layers, sizeof *d->layers);
    if (!d->layers) return ug_errf(err, UG_ERR_NOMEM, "decoder: out of memory");
    char base[128], norm[128];
    for (int i = 0; i < cfg->layers; i++) {
        m2f_layer *ly = &d->layers[i];
        snprintf(base, sizeof base, "transformer_cross_attention_layers.%d.multihead_attn", i);
        snprintf(norm, sizeof norm, "transformer_cross_attention_layers.%d.norm", i);
        if ((st = get_mha(&l, &ly->cross, C, base, norm, err)) != UG_OK) goto fail;
        snprintf(base, sizeof base, "transformer_self_attention_layers.%d.self_attn", i);
        snprintf(norm, sizeof norm, "transformer_self_attention_layers.%d.norm", i);
        if ((st = get_mha(&l, &ly->self, C, base, norm, err)) != UG_OK) goto fail;
        snprintf(base, sizeof base, "transformer_ffn_layers.%d.linear1", i);
        if ((st = get_linear(&l, &ly->lin1, cfg->ffn, C, base, err)) != UG_OK) goto fail;
        snprintf(base, sizeof base, "transformer_ffn_layers.%d.linear2", i);
        if ((st = get_linear(&l, &ly->lin2, C, cfg->ffn, base, err)) != UG_OK) goto fail;
        snprintf(base, sizeof base, "transformer_ffn_layers.%d.norm", i);
        if ((st = get_norm(&l, &ly->ffn_norm, C, base, err)) != UG_OK) goto fail;
    }
    if ((st = get_norm(&l, &d->decoder_norm, C, "decoder_norm", err)) != UG_OK ||
        (st = ug_weights_get_f32(w, &d->query_feat, key_of(&l, "query_feat.weight", ""), UG_DIMS(Q, C), err)) != UG_OK ||
        (st = ug_weights_get_f32(w, &d->query_embed, key_of(&l, "query_embed.weight", ""), UG_DIMS(Q, C), err)) !=
            UG_OK ||
        (st = ug_weights_get_f32(w, &d->level_embed, key_of(&l, "level_embed.weight", ""), UG_DIMS(cfg->levels, C),
                                 err)) != UG_OK ||
        (st = get_linear(&l, &d->class_embed, cfg->classes + 1, C, "class_embed", err)) != UG_OK ||
        (st = get_linear(&l, &d->mask_embed[0], C, C, "mask_embed.layers.0", err)) != UG_OK ||
        (st = get_linear(&l, &d->mask_embed[1], C, C, "mask_embed.layers.1", err)) != UG_OK ||
        (st = get_linear(&l, &d->mask_embed[2], cfg->mask_dim, C, "mask_embed.layers.2", err)) != UG_OK)
        goto fail;
    return UG_OK;
fail:
    m2f_free(d);
    return st;
}

void m2f_free(m2f_decoder *d) {
    if (!d) return;
    free(d->layers);
    memset(d, 0, sizeof *d);
}

// ---- forward ----

typedef struct fwd {
    ug_ctx *ctx;
    const m2f_decoder *d;
    const m2f_trace *trace;
    ug_err *err;
    int64_t C, Q, h, w; // width, queries, mask-feature grid
} fwd;

static ug_status arena_f32(fwd *f, ug_tensor *t, int ndim, const int64_t *shape) {
    return ug_arena_tensor(&f->ctx->arena, t, UG_F32, ndim, shape, f->err);
}

static void emit(const fwd *f, const char *name, const ug_tensor *t) {
    if (f->trace && f->trace->fn) f->trace->fn(f->trace->user, name, t);
}

static void linear(fwd *f, ug_tensor *y, const ug_tensor *x, const m2f_linear *l) {
    ug_linear(f->ctx, y, x, &l->w, &l->b);
}

// x = LN(x + r) over C (the post-norm residual of every decoder sub-layer).
static void add_norm(fwd *f, ug_tensor *x, const ug_tensor *r, const m2f_norm *n) {
    ug_add(f->ctx, x, x, r);
    ug_layernorm(f->ctx, x, x, &n->w, &n->b, M2F_LN_EPS);
}

// One feature level as token rows: src [N, C] = feature^T + level_embed[l], pos [N, C] = the
// sine embedding of the H x W grid (PositionEmbeddingSine(C/2, normalize=True)), transposed.
static ug_status level_tokens(fwd *f, const ug_tensor *feature, int l, ug_tensor *src, ug_tensor *pos) {
    int64_t C = f->C, H = feature->shape[2], W = feature->shape[3], N = H * W;
    ug_status st;
    if ((st = arena_f32(f, src, UG_DIMS(N, C))) != UG_OK || (st = arena_f32(f, pos, UG_DIMS(N, C))) != UG_OK)
        return st;
    ug_arena_mark mark = ug_arena_get_mark(&f->ctx->arena);
    ug_tensor pe; // [C, H, W]
    if ((st = arena_f32(f, &pe, UG_DIMS(C, H, W))) != UG_OK) return st;
    ug_tensor fv = ug_tensor_wrap(feature->data, UG_F32, UG_DIMS(C, N));
    ug_tensor fT = ug_view_transpose(&fv, 0, 1); // [N, C]
    ug_copy(f->ctx, src, &fT);
    ug_tensor row = ug_view_slice(&f->d->level_embed, 0, l, 1);
    ug_tensor row1 = ug_tensor_wrap(row.data, UG_F32, UG_DIMS(C));
    ug_tensor lvl = ug_view_expand_dim(&row1, 0, N); // [N, C], stride 0 over tokens
    ug_add(f->ctx, src, src, &lvl);
    ug_posembed_sine(f->ctx, &pe);
    ug_tensor pv = ug_tensor_wrap(pe.data, UG_F32, UG_DIMS(C, N));
    ug_tensor pT = ug_view_transpose(&pv, 0, 1); // [N, C]
    ug_copy(f->ctx, pos, &pT);
    ug_arena_release(&f->ctx->arena, mark);
    return UG_OK;
}

// forward_prediction_heads: x [Q, C] -> logits [Q, K+1], masks [Q, h * w].
static ug_status heads(fwd *f, const ug_tensor *x, const ug_tensor *mask_features, ug_tensor *logits,
                       ug_tensor *masks) {
    const m2f_decoder *d = f->d;
    int64_t Q = f->Q, C = f->C, E = d->cfg.mask_dim;
    ug_arena_mark mark = ug_arena_get_mark(&f->ctx->arena);
    ug_tensor xn, e0, e1, emb; // [Q, C] x3, [Q, E]
    ug_status st;
    if ((st = arena_f32(f, &xn, UG_DIMS(Q, C))) != UG_OK || (st = arena_f32(f, &e0, UG_DIMS(Q, C))) != UG_OK ||
        (st = arena_f32(f, &e1, UG_DIMS(Q, C))) != UG_OK || (st = arena_f32(f, &emb, UG_DIMS(Q, E))) != UG_OK)
        goto done;
    ug_layernorm(f->ctx, &xn, x, &d->decoder_norm.w, &d->decoder_norm.b, M2F_LN_EPS);
    linear(f, logits, &xn, &d->class_embed);
    // MLP: ReLU after every layer but the last.
    linear(f, &e0, &xn, &d->mask_embed[0]);
    ug_relu(f->ctx, &e0, &e0);
    linear(f, &e1, &e0, &d->mask_embed[1]);
    ug_relu(f->ctx, &e1, &e1);
    linear(f, &emb, &e1, &d->mask_embed[2]);
    // einsum("qc,chw->qhw"): [Q, E] @ [E, h * w].
    ug_tensor mf = ug_tensor_wrap(mask_features->data, UG_F32, UG_DIMS(E, f->h * f->w));
    ug_matmul(f->ctx, masks, &emb, &mf, NULL, 1.0f, 0.0f);
done:
    ug_arena_release(&f->ctx->arena, mark);
    return st;
}

// The attention mask of a layer from the prediction before it: masks [Q, h, w] resized
// bilinearly to the level's H x W; a key is blocked where sigmoid(logit) < 0.5 (evaluated in
// float as PyTorch does, so logits within ~6e-8 below 0 still attend); a query whose keys are
// all blocked attends to all of them instead. mask [Q, H * W] U8, nonzero = blocked.
static ug_status attn_mask(fwd *f, const ug_tensor *masks, int64_t H, int64_t W, ug_tensor *mask) {
    int64_t Q = f->Q, N = H * W;
    ug_status st = ug_arena_tensor(&f->ctx->arena, mask, UG_U8, UG_DIMS(Q, N), f->err);
    if (st != UG_OK) return st;
    ug_arena_mark mark = ug_arena_get_mark(&f->ctx->arena);
    ug_tensor small; // [Q, H, W]
    if ((st = arena_f32(f, &small, UG_DIMS(Q, H, W))) != UG_OK) return st;
    ug_tensor src = ug_tensor_wrap(masks->data, UG_F32, UG_DIMS(Q, f->h, f->w));
    ug_resize_bilinear(f->ctx, &small, &src, false);
    const float *s = small.data;
    uint8_t *m = mask->data;
    for (int64_t q = 0; q < Q; q++) {
        int64_t blocked = 0;
        for (int64_t n = 0; n < N; n++) {
            float v = s[q * N + n];
            m[q * N + n] = 1.0f / (1.0f + expf(-v)) < 0.5f;
            blocked += m[q * N + n];
        }
        if (blocked == N) memset(m + q * N, 0, (size_t)N);
    }
    ug_arena_release(&f->ctx->arena, mark);
    return UG_OK;
}

// nn.MultiheadAttention(q_in, k_in, v_in, attn_mask) -> out [Nq, C] (before out_proj's residual):
// q/k/v projections, heads split as strided views, fused attention, out_proj.
static ug_status mha(fwd *f, const m2f_mha *a, ug_tensor *out, const ug_tensor *q_in, const ug_tensor *k_in,
                     const ug_tensor *v_in, const ug_tensor *mask) {
    int64_t C = f->C, Hh = f->d->cfg.nheads, D = C / Hh, Nq = q_in->shape[0], Nk = k_in->shape[0];
    ug_arena_mark mark = ug_arena_get_mark(&f->ctx->arena);
    ug_tensor q, k, v, o; // [Nq, C], [Nk, C], [Nk, C], [Nq, C]
    ug_status st;
    if ((st = arena_f32(f, &q, UG_DIMS(Nq, C))) != UG_OK || (st = arena_f32(f, &k, UG_DIMS(Nk, C))) != UG_OK ||
        (st = arena_f32(f, &v, UG_DIMS(Nk, C))) != UG_OK || (st = arena_f32(f, &o, UG_DIMS(Nq, C))) != UG_OK)
        goto done;
    linear(f, &q, q_in, &a->q);
    linear(f, &k, k_in, &a->k);
    linear(f, &v, v_in, &a->v);
    // [N, C] seen as [1, heads, N, D]: head j of token n at n * C + j * D.
    ug_tensor *t[4] = {&q, &k, &v, &o};
    ug_tensor hv[4];
    for (int i = 0; i < 4; i++) {
        int64_t n = t[i]->shape[0];
        hv[i] = ug_tensor_wrap(t[i]->data, UG_F32, UG_DIMS(1, Hh, n, D));
        hv[i].stride[0] = 0;
        hv[i].stride[1] = D;
        hv[i].stride[2] = C;
        hv[i].stride[3] = 1;
    }
    ug_attn_extra extra = {.mask = mask}; // [Nq, Nk] broadcast over heads
    ug_attention(f->ctx, &hv[3], &hv[0], &hv[1], &hv[2], mask ? &extra : NULL, 1.0f / sqrtf((float)D));
    linear(f, out, &o, &a->out);
done:
    ug_arena_release(&f->ctx->arena, mark);
    return st;
}

// One decoder layer on x [Q, C] (in place) against level tokens src/pos [N, C].
static ug_status layer_fwd(fwd *f, const m2f_layer *ly, ug_tensor *x, const ug_tensor *src, const ug_tensor *pos,
                           const ug_tensor *mask) {
    const m2f_decoder *d = f->d;
    int64_t Q = f->Q, C = f->C, N = src->shape[0];
    ug_arena_mark mark = ug_arena_get_mark(&f->ctx->arena);
    ug_tensor xq, kin, r, hid; // [Q, C], [N, C], [Q, C], [Q, ffn]
    ug_status st;
    if ((st = arena_f32(f, &xq, UG_DIMS(Q, C))) != UG_OK || (st = arena_f32(f, &kin, UG_DIMS(N, C))) != UG_OK ||
        (st = arena_f32(f, &r, UG_DIMS(Q, C))) != UG_OK || (st = arena_f32(f, &hid, UG_DIMS(Q, d->cfg.ffn))) != UG_OK)
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
    linear(f, &hid, x, &ly->lin1);
    ug_relu(f->ctx, &hid, &hid);
    linear(f, &r, &hid, &ly->lin2);
    add_norm(f, x, &r, &ly->ffn_norm);
done:
    ug_arena_release(&f->ctx->arena, mark);
    return st;
}

static ug_status check_inputs(const m2f_config *c, const ug_tensor *features, int nfeatures,
                              const ug_tensor *mask_features, ug_err *err) {
    if (nfeatures != c->levels)
        return ug_errf(err, UG_ERR_ARG, "decoder: %d feature levels given, the config has %d", nfeatures, c->levels);
    for (int l = 0; l < nfeatures; l++) {
        const ug_tensor *t = &features[l];
        if (t->dtype != UG_F32 || t->ndim != 4 || t->shape[0] != 1 || t->shape[1] != c->hidden || t->shape[2] < 1 ||
            t->shape[3] < 1 || !ug_tensor_is_contiguous(t)) {
            char buf[96];
            return ug_errf(err, UG_ERR_ARG, "decoder: feature level %d is %s %s, expected contiguous F32 [1,%d,H,W]", l,
                           ug_dtype_name(t->dtype), ug_shape_str(t, buf, sizeof buf), c->hidden);
        }
    }
    const ug_tensor *m = mask_features;
    if (m->dtype != UG_F32 || m->ndim != 4 || m->shape[0] != 1 || m->shape[1] != c->mask_dim || m->shape[2] < 1 ||
        m->shape[3] < 1 || !ug_tensor_is_contiguous(m)) {
        char buf[96];
        return ug_errf(err, UG_ERR_ARG, "decoder: mask_features is %s %s, expected contiguous F32 [1,%d,h,w]",
                       ug_dtype_name(m->dtype), ug_shape_str(m, buf, sizeof buf), c->mask_dim);
    }
    return UG_OK;
}

// Emits one prediction under "aux<i>_pred_logits" / "aux<i>_pred_masks".
static void emit_aux(fwd *f, int i, const ug_tensor *logits, const ug_tensor *masks) {
    char name[64];
    snprintf(name, sizeof name, "aux%d_pred_logits", i);
    emit(f, name, logits);
    snprintf(name, sizeof name, "aux%d_pred_masks", i);
    ug_tensor m3 = ug_tensor_wrap(masks->data, UG_F32, UG_DIMS(f->Q, f->h, f->w));
    emit(f, name, &m3);
}

ug_status m2f_forward(ug_ctx *ctx, const m2f_decoder *d, const ug_tensor *features, int nfeatures,
                      const ug_tensor *mask_features, ug_tensor *logits, ug_tensor *masks, const m2f_trace *trace,
                      ug_err *err) {
    memset(logits, 0, sizeof *logits);
    memset(masks, 0, sizeof *masks);
    const m2f_config *c = &d->cfg;
    ug_status st = check_inputs(c, features, nfeatures, mask_features, err);
    if (st != UG_OK) return st;
    fwd f = {ctx, d, trace, err, c->hidden, c->queries, mask_features->shape[2], mask_features->shape[3]};
    int64_t Q = f.Q, C = f.C, K1 = c->classes + 1, L = c->levels;
    ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
    ug_tensor x;                                        // [Q, C]
    ug_tensor src[M2F_MAX_LEVELS], pos[M2F_MAX_LEVELS]; // [N_l, C] each, made when first used
    memset(src, 0, sizeof src);
    memset(pos, 0, sizeof pos);
    // The heads write every prediction straight into the outputs: logits [Q, K+1], masks
    // [Q, h * w] (the masks are the largest tensor here: 52 MB at 1024 x 2048 with Q = 100).
    if ((st = ug_tensor_new(logits, UG_F32, UG_DIMS(Q, K1), err)) != UG_OK ||
        (st = ug_tensor_new(masks, UG_F32, UG_DIMS(Q, f.h, f.w), err)) != UG_OK ||
        (st = arena_f32(&f, &x, UG_DIMS(Q, C))) != UG_OK)
        goto done;
    ug_tensor mk = ug_tensor_wrap(masks->data, UG_F32, UG_DIMS(Q, f.h * f.w));
    memcpy(x.data, d->query_feat.data, (size_t)(Q * C) * sizeof(float));
    if ((st = heads(&f, &x, mask_features, logits, &mk)) != UG_OK) goto done;
    for (int i = 0; i < c->layers; i++) {
        emit_aux(&f, i, logits, &mk);
        int l = (int)(i % L);
        const ug_tensor *feat = &features[l];
        if (!src[l].data && (st = level_tokens(&f, feat, l, &src[l], &pos[l])) != UG_OK) goto done;
        ug_arena_mark lm = ug_arena_get_mark(&ctx->arena);
        ug_tensor mask; // [Q, N_l] U8
        if ((st = attn_mask(&f, &mk, feat->shape[2], feat->shape[3], &mask)) != UG_OK ||
            (st = layer_fwd(&f, &d->layers[i], &x, &src[l], &pos[l], &mask)) != UG_OK)
            goto done;
        ug_arena_release(&ctx->arena, lm);
        char name[64];
        snprintf(name, sizeof name, "decoder_queries_layer%d", i);
        emit(&f, name, &x);
        if ((st = heads(&f, &x, mask_features, logits, &mk)) != UG_OK) goto done;
    }
done:
    ug_arena_release(&ctx->arena, mark);
    if (st != UG_OK) {
        ug_tensor_free(logits);
        ug_tensor_free(masks);
    }
    return st;
}
