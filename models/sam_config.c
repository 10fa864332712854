// models/sam_config.c — the SAM config JSON of the packed metadata (key names as
// golden/sam_tiny/config.json, i.e. the arguments of segment_anything's build_sam).
#include <math.h>
#include <string.h>

#include "engine/json.h"
#include "models/sam.h"

// Every size must be positive and small enough that products of a few of them stay far
// inside int64 (the largest official value is 4096 = vit_h's MLP hidden, plus 2048 for the
// decoder MLP); the bound only rejects nonsense.
enum { SAM_MAX_SIZE = 1 << 16 };

static ug_status get_size(const ug_json *root, const char *key, int *out, ug_err *err) {
    int64_t v;
    ug_status st = ug_json_get_int(root, key, &v, err);
    if (st != UG_OK) return st;
    if (v < 1 || v > SAM_MAX_SIZE)
        return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": %lld is not a valid size", key, (long long)v);
    *out = (int)v;
    return UG_OK;
}

static ug_status get_bool_default(const ug_json *root, const char *key, bool dflt, bool *out, ug_err *err) {
    *out = dflt;
    return ug_json_get(root, key) ? ug_json_get_bool(root, key, out, err) : UG_OK;
}

static ug_status get_triple_default(const ug_json *root, const char *key, const float dflt[3], float out[3],
                                    ug_err *err) {
    memcpy(out, dflt, 3 * sizeof(float));
    const ug_json *a = ug_json_get(root, key);
    if (!a) return UG_OK;
    if (a->type != UG_JSON_ARRAY || a->len != 3)
        return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": expected an array of 3 numbers", key);
    for (int i = 0; i < 3; i++) {
        double v;
        ug_status st = ug_json_as_number(ug_json_at(a, (size_t)i), key, &v, err);
        if (st != UG_OK) return st;
        out[i] = (float)v;
    }
    return UG_OK;
}

static ug_status parse_root(sam_config *c, const ug_json *root, ug_err *err) {
    ug_status st;
    memset(c, 0, sizeof *c);
    if (root->type != UG_JSON_OBJECT) return ug_errf(err, UG_ERR_FORMAT, "expected a JSON object");
#define SIZE(key, field)                                                                                 \
    if ((st = get_size(root, key, &c->field, err)) != UG_OK) return st
    SIZE("img_size", img_size);
    SIZE("patch_size", patch_size);
    SIZE("in_chans", in_chans);
    SIZE("encoder_embed_dim", enc_embed_dim);
    SIZE("encoder_depth", enc_depth);
    SIZE("encoder_num_heads", enc_num_heads);
    SIZE("prompt_embed_dim", prompt_embed_dim);
    SIZE("mask_in_chans", mask_in_chans);
    SIZE("decoder_transformer_depth", dec_depth);
    SIZE("decoder_transformer_embedding_dim", dec_embed_dim);
    SIZE("decoder_transformer_mlp_dim", dec_mlp_dim);
    SIZE("decoder_transformer_num_heads", dec_num_heads);
    SIZE("decoder_attention_downsample_rate", dec_attn_downsample);
    SIZE("decoder_num_multimask_outputs", dec_num_multimask);
    SIZE("decoder_iou_head_depth", dec_iou_depth);
    SIZE("decoder_iou_head_hidden_dim", dec_iou_hidden);
#undef SIZE
    int64_t ws;
    if ((st = ug_json_get_int(root, "encoder_window_size", &ws, err)) != UG_OK) return st;
    if (ws < 0 || ws > SAM_MAX_SIZE)
        return ug_errf(err, UG_ERR_FORMAT, "key \"encoder_window_size\": %lld is not a valid size", (long long)ws);
    c->enc_window_size = (int)ws;
    if ((st = ug_json_get_number(root, "encoder_mlp_ratio", &c->enc_mlp_ratio, err)) != UG_OK) return st;
    c->enc_ln_eps = 1e-6;
    if (ug_json_get(root, "encoder_layernorm_eps") &&
        (st = ug_json_get_number(root, "encoder_layernorm_eps", &c->enc_ln_eps, err)) != UG_OK)
        return st;
    if ((st = get_bool_default(root, "encoder_qkv_bias", true, &c->enc_qkv_bias, err)) != UG_OK ||
        (st = get_bool_default(root, "encoder_use_abs_pos", true, &c->enc_use_abs_pos, err)) != UG_OK ||
        (st = get_bool_default(root, "encoder_use_rel_pos", true, &c->enc_use_rel_pos, err)) != UG_OK)
        return st;

    const ug_json *g;
    if ((st = ug_json_get_typed(root, "encoder_global_attn_indexes", UG_JSON_ARRAY, &g, err)) != UG_OK) return st;
    if (g->len > SAM_MAX_DEPTH)
        return ug_errf(err, UG_ERR_FORMAT, "key \"encoder_global_attn_indexes\": more than %d entries", SAM_MAX_DEPTH);
    c->n_global = (int)g->len;
    for (size_t i = 0; i < g->len; i++) {
        int64_t v;
        if ((st = ug_json_as_int(ug_json_at(g, i), "encoder_global_attn_indexes[]", &v, err)) != UG_OK) return st;
        if (v < 0 || v >= c->enc_depth)
            return ug_errf(err, UG_ERR_FORMAT, "key \"encoder_global_attn_indexes\": block %lld does not exist (depth %d)",
                           (long long)v, c->enc_depth);
        c->enc_global_attn_indexes[i] = (int)v;
    }
    const ug_json *es;
    if ((st = ug_json_get_typed(root, "image_embedding_size", UG_JSON_ARRAY, &es, err)) != UG_OK) return st;
    int64_t eh, ew;
    if (es->len != 2 || (st = ug_json_as_int(ug_json_at(es, 0), "image_embedding_size[0]", &eh, err)) != UG_OK ||
        (st = ug_json_as_int(ug_json_at(es, 1), "image_embedding_size[1]", &ew, err)) != UG_OK)
        return es->len != 2 ? ug_errf(err, UG_ERR_FORMAT, "key \"image_embedding_size\": expected [h, w]") : st;
    c->embed_h = (int)eh;
    c->embed_w = (int)ew;

    static const float mean[3] = {123.675f, 116.28f, 103.53f}, stdv[3] = {58.395f, 57.12f, 57.375f};
    if ((st = get_triple_default(root, "pixel_mean", mean, c->pixel_mean, err)) != UG_OK ||
        (st = get_triple_default(root, "pixel_std", stdv, c->pixel_std, err)) != UG_OK)
        return st;
    double thr = 0.0;
    if (ug_json_get(root, "mask_threshold") && (st = ug_json_get_number(root, "mask_threshold", &thr, err)) != UG_OK)
        return st;
    c->mask_threshold = (float)thr;
    // (x - mean) / std: a zero, negative or non-finite std (or mean) turns every input to NaN.
    for (int i = 0; i < 3; i++)
        if (!isfinite(c->pixel_mean[i]) || !(c->pixel_std[i] > 0) || !isfinite(c->pixel_std[i]))
            return ug_errf(err, UG_ERR_FORMAT, "pixel_mean %g or pixel_std %g (channel %d) is not a finite mean and a positive std",
                           (double)c->pixel_mean[i], (double)c->pixel_std[i], i);
    if (!isfinite(c->mask_threshold)) return ug_errf(err, UG_ERR_FORMAT, "mask_threshold %g is not a finite float", thr);

    // Consistency the model code relies on.
    if (c->img_size % c->patch_size || c->img_size / c->patch_size != c->embed_h || c->embed_h != c->embed_w)
        return ug_errf(err, UG_ERR_FORMAT, "img_size %d / patch_size %d does not give image_embedding_size [%d, %d]",
                       c->img_size, c->patch_size, c->embed_h, c->embed_w);
    if (c->enc_embed_dim % c->enc_num_heads)
        return ug_errf(err, UG_ERR_FORMAT, "encoder_embed_dim %d is not divisible by encoder_num_heads %d",
                       c->enc_embed_dim, c->enc_num_heads);
    if (c->dec_embed_dim != c->prompt_embed_dim)
        return ug_errf(err, UG_ERR_FORMAT, "decoder_transformer_embedding_dim %d differs from prompt_embed_dim %d",
                       c->dec_embed_dim, c->prompt_embed_dim);
    int C = c->prompt_embed_dim;
    if (C % 8 || C % (2 * c->dec_num_heads) || (C / c->dec_attn_downsample) % c->dec_num_heads ||
        C % c->dec_attn_downsample)
        return ug_errf(err, UG_ERR_FORMAT,
                       "prompt_embed_dim %d does not split into %d heads (downsample %d) or C/8 upscaled channels",
                       C, c->dec_num_heads, c->dec_attn_downsample);
    if (c->dec_num_multimask + 1 > SAM_MAX_MASK_TOKENS || c->dec_iou_depth > SAM_MAX_MLP_LAYERS || c->in_chans != 3 ||
        c->enc_depth > SAM_MAX_DEPTH)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "unsupported sizes: %d multimask outputs, IoU head depth %d, %d input channels, depth %d",
                       c->dec_num_multimask, c->dec_iou_depth, c->in_chans, c->enc_depth);
    if (c->enc_mlp_ratio <= 0 || c->enc_mlp_ratio > 64 || !(c->enc_ln_eps > 0 && c->enc_ln_eps < 1))
        return ug_errf(err, UG_ERR_FORMAT, "encoder_mlp_ratio %g or encoder_layernorm_eps %g is out of range",
                       c->enc_mlp_ratio, c->enc_ln_eps);
    return UG_OK;
}

ug_status sam_config_parse(sam_config *cfg, const char *json, ug_err *err) {
    ug_json_doc *doc = NULL;
    ug_status st = ug_json_parse(&doc, json, strlen(json), "sam config", err);
    if (st != UG_OK) return st;
    st = parse_root(cfg, ug_json_root(doc), err);
    if (st != UG_OK) ug_err_prefix(err, "sam config: ");
    ug_json_free(doc);
    return st;
}
