// models/sam.c — loading a packed SAM: the config from the metadata, then every parameter by
// its official name (segment_anything/modeling: image_encoder.*, prompt_encoder.*,
// mask_decoder.*), shape-checked against the config, and the host tables derived from the
// weights alone (rel-pos gathers, the stacked point embeddings, get_dense_pe).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sam_internal.h"
#include "ops/backend.h"

// Attention (transformer.py) <parent>.<name> of width C with inner = C / downsample.
static void get_attention(nn_loader *l, sam_attention *a, int64_t C, int64_t inner, const char *parent,
                          const char *name) {
    a->inner = (int)inner;
    nn_get_linear(l, &a->q, inner, C, true, "%s.%s.q_proj", parent, name);
    nn_get_linear(l, &a->k, inner, C, true, "%s.%s.k_proj", parent, name);
    nn_get_linear(l, &a->v, inner, C, true, "%s.%s.v_proj", parent, name);
    nn_get_linear(l, &a->out, C, inner, true, "%s.%s.out_proj", parent, name);
}

// MLP(input_dim, hidden_dim, output_dim, num_layers) of mask_decoder.py.
static void get_mlp(nn_loader *l, sam_mlp *mlp, int64_t in, int64_t hidden, int64_t out, int n,
                    const char *name) {
    mlp->n = n;
    for (int i = 0; i < n; i++)
        nn_get_linear(l, &mlp->layer[i], i == n - 1 ? out : hidden, i == 0 ? in : hidden, true,
                      "%s.layers.%d", name, i);
}

static bool is_global(const sam_config *c, int i) {
    for (int k = 0; k < c->n_global; k++)
        if (c->enc_global_attn_indexes[k] == i) return true;
    return false;
}

// get_rel_pos of one table [2S - 1, D] for S x S attention: owned host F32 [S, S, D]. The
// loader checked the length, so the table is never resized here.
static ug_status rel_pos_table(ug_tensor *R, const ug_tensor *table, int64_t S, ug_err *err) {
    int64_t D = table->shape[1];
    ug_status st = ug_tensor_new(R, UG_F32, UG_DIMS(S, S, D), err);
    if (st == UG_OK)
        sam_get_rel_pos(R->data, (int)S, (int)S, table->data, (int)table->shape[0], (int)D, NULL);
    return st;
}

static ug_status load_image_encoder(sam_model *m, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t E = c->enc_embed_dim, p = c->patch_size, g = c->img_size / c->patch_size, C = c->prompt_embed_dim;
    int64_t hd = E / c->enc_num_heads, hidden = (int64_t)(E * c->enc_mlp_ratio);
    nn_loader l;
    nn_loader_init(&l, &m->w, "image_encoder.", err);
    if (c->enc_use_abs_pos) nn_get_f32(&l, &m->pos_embed, UG_DIMS(1, g, g, E), "pos_embed");
    nn_get_conv(&l, &m->patch, E, c->in_chans, p, true, "patch_embed.proj");
    for (int i = 0; i < c->enc_depth && l.st == UG_OK; i++) {
        sam_enc_block *b = &m->blocks[i];
        b->window = is_global(c, i) ? 0 : c->enc_window_size;
        int64_t S = b->window ? b->window : g;
        nn_get_norm(&l, &b->norm1, E, "blocks.%d.norm1", i);
        nn_get_linear(&l, &b->qkv, 3 * E, E, c->enc_qkv_bias, "blocks.%d.attn.qkv", i);
        nn_get_linear(&l, &b->proj, E, E, true, "blocks.%d.attn.proj", i);
        nn_get_norm(&l, &b->norm2, E, "blocks.%d.norm2", i);
        nn_get_linear(&l, &b->lin1, hidden, E, true, "blocks.%d.mlp.lin1", i);
        nn_get_linear(&l, &b->lin2, E, hidden, true, "blocks.%d.mlp.lin2", i);
        if (!c->enc_use_rel_pos) continue;
        ug_tensor th, tw; // F32 [2S - 1, hd]
        nn_read_f32(&l, &th, UG_DIMS(2 * S - 1, hd), "blocks.%d.attn.rel_pos_h", i);
        nn_read_f32(&l, &tw, UG_DIMS(2 * S - 1, hd), "blocks.%d.attn.rel_pos_w", i);
        if (l.st == UG_OK && (l.st = rel_pos_table(&b->rel_h, &th, S, err)) == UG_OK)
            l.st = rel_pos_table(&b->rel_w, &tw, S, err);
        nn_adopt(&l, &b->rel_h);
        nn_adopt(&l, &b->rel_w);
    }
    nn_get_conv(&l, &m->neck0, C, E, 1, false, "neck.0");
    nn_get_norm(&l, &m->neck1, C, "neck.1");
    nn_get_conv(&l, &m->neck2, C, C, 3, false, "neck.2");
    nn_get_norm(&l, &m->neck3, C, "neck.3");
    return l.st;
}

static ug_status load_prompt_encoder(sam_model *m, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t C = c->prompt_embed_dim, mic = c->mask_in_chans;
    nn_loader l;
    nn_loader_init(&l, &m->w, "prompt_encoder.", err);
    nn_get_f32(&l, &m->pe_gauss, UG_DIMS(2, C / 2), "pe_layer.positional_encoding_gaussian_matrix");
    ug_tensor pe[4]; // F32 [1, C] each
    for (int i = 0; i < 4; i++)
        nn_read_f32(&l, &pe[i], UG_DIMS(1, C), "point_embeddings.%d.weight", i);
    nn_get_f32(&l, &m->not_a_point, UG_DIMS(1, C), "not_a_point_embed.weight");
    nn_get_f32(&l, &m->no_mask, UG_DIMS(1, C), "no_mask_embed.weight");
    nn_get_conv(&l, &m->md0, mic / 4, 1, 2, true, "mask_downscaling.0");
    nn_get_norm(&l, &m->md1, mic / 4, "mask_downscaling.1");
    nn_get_conv(&l, &m->md3, mic, mic / 4, 2, true, "mask_downscaling.3");
    nn_get_norm(&l, &m->md4, mic, "mask_downscaling.4");
    nn_get_conv(&l, &m->md6, C, mic, 1, true, "mask_downscaling.6");
    if (l.st != UG_OK) return l.st;
    // The four point embeddings as one host table [4, C] for ug_prompt_pe, indexed by label.
    ug_status st = ug_tensor_new(&m->point_embed, UG_F32, UG_DIMS(4, C), err);
    for (int i = 0; st == UG_OK && i < 4; i++)
        memcpy((float *)m->point_embed.data + i * C, pe[i].data, (size_t)C * sizeof(float));
    if (st == UG_OK) st = ug_weights_adopt(&m->w, &m->point_embed, err);
    return st;
}

static ug_status load_mask_decoder(sam_model *m, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t C = c->prompt_embed_dim, inner = C / c->dec_attn_downsample, nm = c->dec_num_multimask + 1;
    nn_loader l;
    nn_loader_init(&l, &m->w, "mask_decoder.", err);
    for (int i = 0; i < c->dec_depth && l.st == UG_OK; i++) {
        sam_twoway_layer *y = &m->layers[i];
        char name[64];
        snprintf(name, sizeof name, "transformer.layers.%d", i);
        get_attention(&l, &y->self_attn, C, C, name, "self_attn");
        nn_get_norm(&l, &y->norm1, C, "%s.norm1", name);
        get_attention(&l, &y->t2i, C, inner, name, "cross_attn_token_to_image");
        nn_get_norm(&l, &y->norm2, C, "%s.norm2", name);
        nn_get_linear(&l, &y->lin1, c->dec_mlp_dim, C, true, "%s.mlp.lin1", name);
        nn_get_linear(&l, &y->lin2, C, c->dec_mlp_dim, true, "%s.mlp.lin2", name);
        nn_get_norm(&l, &y->norm3, C, "%s.norm3", name);
        nn_get_norm(&l, &y->norm4, C, "%s.norm4", name);
        get_attention(&l, &y->i2t, C, inner, name, "cross_attn_image_to_token");
    }
    get_attention(&l, &m->final_attn, C, inner, "transformer", "final_attn_token_to_image");
    nn_get_norm(&l, &m->norm_final, C, "transformer.norm_final_attn");
    nn_get_f32(&l, &m->iou_token, UG_DIMS(1, C), "iou_token.weight");
    nn_get_f32(&l, &m->mask_tokens, UG_DIMS(nm, C), "mask_tokens.weight");
    // ConvTranspose2d weights are [in, out, 2, 2], the layout ug_conv_transpose2x2 takes.
    nn_get(&l, &m->up0.w, UG_DIMS(C, C / 4, 2, 2), "output_upscaling.0.weight");
    nn_get_f32(&l, &m->up0.b, UG_DIMS(C / 4), "output_upscaling.0.bias");
    nn_get_norm(&l, &m->up1, C / 4, "output_upscaling.1");
    nn_get(&l, &m->up3.w, UG_DIMS(C / 4, C / 8, 2, 2), "output_upscaling.3.weight");
    nn_get_f32(&l, &m->up3.b, UG_DIMS(C / 8), "output_upscaling.3.bias");
    for (int i = 0; i < nm && l.st == UG_OK; i++) {
        char name[64];
        snprintf(name, sizeof name, "output_hypernetworks_mlps.%d", i);
        get_mlp(&l, &m->hyper[i], C, C, C / 8, 3, name);
    }
    get_mlp(&l, &m->iou_head, C, c->dec_iou_hidden, nm, c->dec_iou_depth, "iou_prediction_head");
    return l.st;
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
    ug_status s;
    const char *cfg;
    if ((s = ug_weights_config(&m->w, "sam", "a SAM checkpoint", &cfg, err)) != UG_OK) goto fail;
    if ((s = sam_config_parse(&m->cfg, cfg, err)) != UG_OK) {
        ug_err_prefix(err, "%s: ", name);
        goto fail;
    }
    m->blocks = calloc((size_t)m->cfg.enc_depth, sizeof *m->blocks);
    m->layers = calloc((size_t)m->cfg.dec_depth, sizeof *m->layers);
    if (!m->blocks || !m->layers) {
        s = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    if ((s = load_image_encoder(m, err)) != UG_OK || (s = load_prompt_encoder(m, err)) != UG_OK ||
        (s = load_mask_decoder(m, err)) != UG_OK)
        goto fail;
    const sam_config *c = &m->cfg;
    if ((s = ug_tensor_new(&m->dense_pe, UG_F32, UG_DIMS(1, c->prompt_embed_dim, c->embed_h, c->embed_w),
                           err)) != UG_OK)
        goto fail;
    sam_dense_pe_fill(m, m->dense_pe.data);
    if ((s = ug_weights_adopt(&m->w, &m->dense_pe, err)) != UG_OK) goto fail;
    *out = m;
    return UG_OK;
fail:
    sam_free(m);
    return s;
}

ug_status sam_load(sam_model **m, const char *path, ug_err *err) {
    ug_st_file *st = NULL;
    *m = NULL;
    ug_status s = ug_st_open(&st, path, err);
    if (s != UG_OK) return s;
    const char *base = strrchr(path, '/');
    return sam_load_st(m, st, true, base ? base + 1 : path, err);
}

ug_status sam_to_device(sam_model *m, ug_ctx *ctx, ug_err *err) {
    return ug_weights_place(&m->w, ug_backend_for(ctx, ctx->device)->mem, err);
}

void sam_free(sam_model *m) {
    if (!m) return;
    for (int i = 0; m->blocks && i < m->cfg.enc_depth; i++) {
        ug_tensor_free(&m->blocks[i].rel_h);
        ug_tensor_free(&m->blocks[i].rel_w);
    }
    ug_tensor_free(&m->point_embed);
    ug_tensor_free(&m->dense_pe);
    ug_weights_release(&m->w);
    if (m->own_st) ug_st_close(m->st);
    free(m->blocks);
    free(m->layers);
    free(m);
}
