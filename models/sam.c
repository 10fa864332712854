// models/sam.c — loading a packed SAM: the config from the metadata, then every parameter by
// its official name (segment_anything/modeling: image_encoder.*, prompt_encoder.*,
// mask_decoder.*), shape-checked against the config.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sam_internal.h"

typedef struct loader {
    sam_model *m;
    ug_err *err;
    ug_status st; // first failure; later fetches do nothing
} loader;

// Fetches "<fmt...>" with the given shape; f32 widens (norms, biases, embeddings: whatever
// our own loops read). Sticky on error so the table below reads like the checkpoint.
static void fetch(loader *L, ug_tensor *out, bool f32, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void fetch(loader *L, ug_tensor *out, bool f32, int ndim, const int64_t *shape, const char *fmt, ...) {
    if (L->st != UG_OK) return;
    char key[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    L->st = f32 ? ug_weights_get_f32(&L->m->w, out, key, ndim, shape, L->err)
                : ug_weights_get(&L->m->w, out, key, ndim, shape, L->err);
}

static void fetch_linear(loader *L, sam_linear *l, int64_t out, int64_t in, bool bias, const char *prefix) {
    fetch(L, &l->w, false, UG_DIMS(out, in), "%s.weight", prefix);
    if (bias) fetch(L, &l->b, true, UG_DIMS(out), "%s.bias", prefix);
}

static void fetch_norm(loader *L, sam_norm *n, int64_t C, const char *prefix) {
    fetch(L, &n->w, true, UG_DIMS(C), "%s.weight", prefix);
    fetch(L, &n->b, true, UG_DIMS(C), "%s.bias", prefix);
}

// A conv weight [out, in, kh, kw] seen as the matrix [out, in * kh * kw] GEMM multiplies.
static void fetch_conv(loader *L, ug_tensor *w, int64_t out, int64_t in, int64_t kh, int64_t kw, const char *key) {
    fetch(L, w, false, UG_DIMS(out, in, kh, kw), "%s", key);
    if (L->st == UG_OK) *w = ug_view_reshape(w, UG_DIMS(out, in * kh * kw));
}

static void fetch_attention(loader *L, sam_attention *a, int64_t C, int64_t inner, const char *prefix) {
    char key[256];
    a->inner = (int)inner;
    snprintf(key, sizeof key, "%s.q_proj", prefix);
    fetch_linear(L, &a->q, inner, C, true, key);
    snprintf(key, sizeof key, "%s.k_proj", prefix);
    fetch_linear(L, &a->k, inner, C, true, key);
    snprintf(key, sizeof key, "%s.v_proj", prefix);
    fetch_linear(L, &a->v, inner, C, true, key);
    snprintf(key, sizeof key, "%s.out_proj", prefix);
    fetch_linear(L, &a->out, C, inner, true, key);
}

// MLP(input_dim, hidden_dim, output_dim, num_layers) of mask_decoder.py.
static void fetch_mlp(loader *L, sam_mlp *mlp, int64_t in, int64_t hidden, int64_t out, int n, const char *prefix) {
    char key[256];
    mlp->n = n;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s.layers.%d", prefix, i);
        fetch_linear(L, &mlp->layer[i], i == n - 1 ? out : hidden, i == 0 ? in : hidden, true, key);
    }
}

static bool is_global(const sam_config *c, int i) {
    for (int k = 0; k < c->n_global; k++)
        if (c->enc_global_attn_indexes[k] == i) return true;
    return false;
}

static void load_image_encoder(loader *L) {
    sam_model *m = L->m;
    const sam_config *c = &m->cfg;
    int64_t E = c->enc_embed_dim, p = c->patch_size, g = c->img_size / c->patch_size, C = c->prompt_embed_dim;
    int64_t hd = E / c->enc_num_heads, hidden = (int64_t)(E * c->enc_mlp_ratio);
    if (c->enc_use_abs_pos) fetch(L, &m->pos_embed, true, UG_DIMS(1, g, g, E), "image_encoder.pos_embed");
    fetch_conv(L, &m->patch_w, E, c->in_chans, p, p, "image_encoder.patch_embed.proj.weight");
    fetch(L, &m->patch_b, true, UG_DIMS(E), "image_encoder.patch_embed.proj.bias");
    for (int i = 0; i < c->enc_depth && L->st == UG_OK; i++) {
        sam_enc_block *b = &m->blocks[i];
        char pre[128], key[160];
        snprintf(pre, sizeof pre, "image_encoder.blocks.%d", i);
        b->window = is_global(c, i) ? 0 : c->enc_window_size;
        int64_t S = b->window ? b->window : g;
        snprintf(key, sizeof key, "%s.norm1", pre);
        fetch_norm(L, &b->norm1, E, key);
        if (c->enc_use_rel_pos) {
            fetch(L, &b->rel_pos_h, true, UG_DIMS(2 * S - 1, hd), "%s.attn.rel_pos_h", pre);
            fetch(L, &b->rel_pos_w, true, UG_DIMS(2 * S - 1, hd), "%s.attn.rel_pos_w", pre);
        }
        snprintf(key, sizeof key, "%s.attn.qkv", pre);
        fetch_linear(L, &b->qkv, 3 * E, E, c->enc_qkv_bias, key);
        snprintf(key, sizeof key, "%s.attn.proj", pre);
        fetch_linear(L, &b->proj, E, E, true, key);
        snprintf(key, sizeof key, "%s.norm2", pre);
        fetch_norm(L, &b->norm2, E, key);
        snprintf(key, sizeof key, "%s.mlp.lin1", pre);
        fetch_linear(L, &b->lin1, hidden, E, true, key);
        snprintf(key, sizeof key, "%s.mlp.lin2", pre);
        fetch_linear(L, &b->lin2, E, hidden, true, key);
    }
    fetch_conv(L, &m->neck0_w, C, E, 1, 1, "image_encoder.neck.0.weight");
    fetch_norm(L, &m->neck1, C, "image_encoder.neck.1");
    fetch_conv(L, &m->neck2_w, C, C, 3, 3, "image_encoder.neck.2.weight");
    fetch_norm(L, &m->neck3, C, "image_encoder.neck.3");
}

static void load_prompt_encoder(loader *L) {
    sam_model *m = L->m;
    const sam_config *c = &m->cfg;
    int64_t C = c->prompt_embed_dim, mic = c->mask_in_chans;
    fetch(L, &m->pe_gauss, true, UG_DIMS(2, C / 2), "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    for (int i = 0; i < 4; i++) fetch(L, &m->point_embed[i], true, UG_DIMS(1, C), "prompt_encoder.point_embeddings.%d.weight", i);
    fetch(L, &m->not_a_point, true, UG_DIMS(1, C), "prompt_encoder.not_a_point_embed.weight");
    fetch(L, &m->no_mask, true, UG_DIMS(1, C), "prompt_encoder.no_mask_embed.weight");
    fetch_conv(L, &m->md0.w, mic / 4, 1, 2, 2, "prompt_encoder.mask_downscaling.0.weight");
    fetch(L, &m->md0.b, true, UG_DIMS(mic / 4), "prompt_encoder.mask_downscaling.0.bias");
    fetch_norm(L, &m->md1, mic / 4, "prompt_encoder.mask_downscaling.1");
    fetch_conv(L, &m->md3.w, mic, mic / 4, 2, 2, "prompt_encoder.mask_downscaling.3.weight");
    fetch(L, &m->md3.b, true, UG_DIMS(mic), "prompt_encoder.mask_downscaling.3.bias");
    fetch_norm(L, &m->md4, mic, "prompt_encoder.mask_downscaling.4");
    fetch_conv(L, &m->md6.w, C, mic, 1, 1, "prompt_encoder.mask_downscaling.6.weight");
    fetch(L, &m->md6.b, true, UG_DIMS(C), "prompt_encoder.mask_downscaling.6.bias");
}

static void load_mask_decoder(loader *L) {
    sam_model *m = L->m;
    const sam_config *c = &m->cfg;
    int64_t C = c->prompt_embed_dim, inner = C / c->dec_attn_downsample, nm = c->dec_num_multimask + 1;
    char pre[128], key[192];
    for (int i = 0; i < c->dec_depth && L->st == UG_OK; i++) {
        sam_twoway_layer *l = &m->layers[i];
        snprintf(pre, sizeof pre, "mask_decoder.transformer.layers.%d", i);
        snprintf(key, sizeof key, "%s.self_attn", pre);
        fetch_attention(L, &l->self_attn, C, C, key);
        snprintf(key, sizeof key, "%s.norm1", pre);
        fetch_norm(L, &l->norm1, C, key);
        snprintf(key, sizeof key, "%s.cross_attn_token_to_image", pre);
        fetch_attention(L, &l->t2i, C, inner, key);
        snprintf(key, sizeof key, "%s.norm2", pre);
        fetch_norm(L, &l->norm2, C, key);
        snprintf(key, sizeof key, "%s.mlp.lin1", pre);
        fetch_linear(L, &l->lin1, c->dec_mlp_dim, C, true, key);
        snprintf(key, sizeof key, "%s.mlp.lin2", pre);
        fetch_linear(L, &l->lin2, C, c->dec_mlp_dim, true, key);
        snprintf(key, sizeof key, "%s.norm3", pre);
        fetch_norm(L, &l->norm3, C, key);
        snprintf(key, sizeof key, "%s.norm4", pre);
        fetch_norm(L, &l->norm4, C, key);
        snprintf(key, sizeof key, "%s.cross_attn_image_to_token", pre);
        fetch_attention(L, &l->i2t, C, inner, key);
    }
    fetch_attention(L, &m->final_attn, C, inner, "mask_decoder.transformer.final_attn_token_to_image");
    fetch_norm(L, &m->norm_final, C, "mask_decoder.transformer.norm_final_attn");
    fetch(L, &m->iou_token, true, UG_DIMS(1, C), "mask_decoder.iou_token.weight");
    fetch(L, &m->mask_tokens, true, UG_DIMS(nm, C), "mask_decoder.mask_tokens.weight");
    // ConvTranspose2d weight [in, out, 2, 2] = the matrix [in, out * 4] that maps one input
    // pixel to its 2x2 output block.
    fetch(L, &m->up0.w, false, UG_DIMS(C, C / 4, 2, 2), "mask_decoder.output_upscaling.0.weight");
    if (L->st == UG_OK) m->up0.w = ug_view_reshape(&m->up0.w, UG_DIMS(C, C));
    fetch(L, &m->up0.b, true, UG_DIMS(C / 4), "mask_decoder.output_upscaling.0.bias");
    fetch_norm(L, &m->up1, C / 4, "mask_decoder.output_upscaling.1");
    fetch(L, &m->up3.w, false, UG_DIMS(C / 4, C / 8, 2, 2), "mask_decoder.output_upscaling.3.weight");
    if (L->st == UG_OK) m->up3.w = ug_view_reshape(&m->up3.w, UG_DIMS(C / 4, C / 2));
    fetch(L, &m->up3.b, true, UG_DIMS(C / 8), "mask_decoder.output_upscaling.3.bias");
    for (int i = 0; i < nm && L->st == UG_OK; i++) {
        snprintf(key, sizeof key, "mask_decoder.output_hypernetworks_mlps.%d", i);
        fetch_mlp(L, &m->hyper[i], C, C, C / 8, 3, key);
    }
    fetch_mlp(L, &m->iou_head, C, c->dec_iou_hidden, nm, c->dec_iou_depth, "mask_decoder.iou_prediction_head");
}

ug_status sam_load_st(sam_model **out, ug_st_file *st, bool take_ownership, const char *name, ug_err *err) {
    *out = NULL;
    sam_model *m = calloc(1, sizeof *m);
    if (!m) {
        if (take_ownership) ug_st_close(st);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
    }
    m->st = st;
    m->own_st = take_ownership;
    snprintf(m->name, sizeof m->name, "%s", name);
    ug_weights_init(&m->w, st, m->name);
    loader L = {m, err, UG_OK};
    const char *cfg;
    if ((L.st = ug_weights_config(&m->w, "sam", "a SAM checkpoint", &cfg, err)) != UG_OK) goto fail;
    if ((L.st = sam_config_parse(&m->cfg, cfg, err)) != UG_OK) {
        ug_err_prefix(err, "%s: ", name);
        goto fail;
    }
    m->blocks = calloc((size_t)m->cfg.enc_depth, sizeof *m->blocks);
    m->layers = calloc((size_t)m->cfg.dec_depth, sizeof *m->layers);
    if (!m->blocks || !m->layers) {
        L.st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    load_image_encoder(&L);
    load_prompt_encoder(&L);
    load_mask_decoder(&L);
    if (L.st != UG_OK) goto fail;
    const sam_config *c = &m->cfg;
    if ((L.st = ug_tensor_new(&m->dense_pe, UG_F32, UG_DIMS(1, c->prompt_embed_dim, c->embed_h, c->embed_w), err)) !=
        UG_OK)
        goto fail;
    sam_dense_pe_fill(m, m->dense_pe.data);
    *out = m;
    return UG_OK;
fail:
    sam_free(m);
    return L.st;
}

ug_status sam_load(sam_model **m, const char *path, ug_err *err) {
    ug_st_file *st = NULL;
    *m = NULL;
    ug_status s = ug_st_open(&st, path, err);
    if (s != UG_OK) return s;
    const char *base = strrchr(path, '/');
    return sam_load_st(m, st, true, base ? base + 1 : path, err);
}

void sam_free(sam_model *m) {
    if (!m) return;
    ug_tensor_free(&m->dense_pe);
    ug_weights_release(&m->w);
    if (m->own_st) ug_st_close(m->st);
    free(m->blocks);
    free(m->layers);
    free(m);
}
