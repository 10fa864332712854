// models/sam_config.c — the SAM config JSON of the packed metadata (key names as
// golden/sam_tiny/config.json, i.e. the arguments of segment_anything's build_sam): read
// through the shared table (models/packed_config.c), then checked for what the model needs.
#include <math.h>
#include <string.h>

#include "engine/json.h"
#include "models/packed_config.h"
#include "models/sam.h"

static ug_status parse_root(sam_config *c, const ug_json *root, ug_err *err) {
    memset(c, 0, sizeof *c);
    ug_status st = ug_cfg_read(&sam_config_schema, c, root, NULL, err);
    if (st != UG_OK) return st;
    for (int i = 0; i < c->n_global; i++)
        if (c->enc_global_attn_indexes[i] >= c->enc_depth)
            return ug_errf(err, UG_ERR_FORMAT,
                           "key \"encoder_global_attn_indexes\": block %d does not exist (depth %d)",
                           c->enc_global_attn_indexes[i], c->enc_depth);
    // (x - mean) / std: a zero, negative or non-finite std (or mean) turns every input to NaN.
    for (int i = 0; i < 3; i++)
        if (!isfinite(c->pixel_mean[i]) || !(c->pixel_std[i] > 0) || !isfinite(c->pixel_std[i]))
            return ug_errf(
                err, UG_ERR_FORMAT,
                "pixel_mean %g or pixel_std %g (channel %d) is not a finite mean and a positive std",
                (double)c->pixel_mean[i], (double)c->pixel_std[i], i);
    if (!isfinite(c->mask_threshold))
        return ug_errf(err, UG_ERR_FORMAT, "mask_threshold %g is not a finite float",
                       (double)c->mask_threshold);

    // Consistency the model code relies on.
    if (c->img_size % c->patch_size || c->img_size / c->patch_size != c->embed_h || c->embed_h != c->embed_w)
        return ug_errf(err, UG_ERR_FORMAT,
                       "img_size %d / patch_size %d does not give image_embedding_size [%d, %d]", c->img_size,
                       c->patch_size, c->embed_h, c->embed_w);
    if (c->enc_embed_dim % c->enc_num_heads)
        return ug_errf(err, UG_ERR_FORMAT, "encoder_embed_dim %d is not divisible by encoder_num_heads %d",
                       c->enc_embed_dim, c->enc_num_heads);
    if (c->dec_embed_dim != c->prompt_embed_dim)
        return ug_errf(err, UG_ERR_FORMAT,
                       "decoder_transformer_embedding_dim %d differs from prompt_embed_dim %d",
                       c->dec_embed_dim, c->prompt_embed_dim);
    int C = c->prompt_embed_dim;
    if (C % 8 || C % (2 * c->dec_num_heads) || (C / c->dec_attn_downsample) % c->dec_num_heads ||
        C % c->dec_attn_downsample)
        return ug_errf(
            err, UG_ERR_FORMAT,
            "prompt_embed_dim %d does not split into %d heads (downsample %d) or C/8 upscaled channels", C,
            c->dec_num_heads, c->dec_attn_downsample);
    if (c->dec_num_multimask + 1 > SAM_MAX_MASK_TOKENS || c->dec_iou_depth > SAM_MAX_MLP_LAYERS ||
        c->in_chans != 3)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "unsupported sizes: %d multimask outputs, IoU head depth %d, %d input channels",
                       c->dec_num_multimask, c->dec_iou_depth, c->in_chans);
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
