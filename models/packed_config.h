// models/packed_config.h — the schemas (engine/config.h) of the packed "config" metadata, one
// table per architecture, keys as golden/<arch>_tiny/config.json. The models read their
// config through them (sam_config_parse, swin_config_from_json, pd_config_from_json,
// m2f_config_from_json, rba_config_parse), and the packer (weights-tools/arch.c) infers the
// same struct from the shapes, applies --set through the same table and writes it: a key, a
// type, a default or a range is declared once, in models/packed_config.c.
#ifndef UG_PACKED_CONFIG_H
#define UG_PACKED_CONFIG_H

#include "engine/config.h"

// SAM: the table describes sam_config (models/sam.h) itself.
extern const ug_cfg_schema sam_config_schema;

// RbA: every key as one plain value, grouped by the block that reads it (its key prefix);
// swin_config, pd_config and m2f_config are derived from it by their *_from_json.
enum { RBA_CFG_STAGES = 4, RBA_CFG_FEATURES = 4 };

typedef struct rba_packed_config {
    struct { // decoder_*: models/mask2former_decoder.c
        int dec_layers, dim_feedforward, hidden_dim, mask_dim, nheads, num_classes, num_feature_levels,
            num_queries;
        bool enforce_input_project, pre_norm;
    } dec;
    double imagenet_mean[3], imagenet_std[3]; // imagenet_*: models/rba.c
    struct {                                  // pixel_decoder_*: models/msdeform_pixel_decoder.c
        int common_stride, conv_dim, deform_n_points, gn_groups, mask_dim;
        char norm[UG_CFG_STR_MAX];
        int dim_feedforward, enc_layers, nheads; // pixel_decoder_transformer_*
        char in_features[RBA_CFG_FEATURES][UG_CFG_STR_MAX];
        int n_in_features;
    } pd;
    struct { // swin_*: models/swin.c
        bool ape, patch_norm, qkv_bias;
        int depths[RBA_CFG_STAGES], num_heads[RBA_CFG_STAGES];
        int embed_dim, patch_size, window_size;
        double layernorm_eps, mlp_ratio;
    } swin;
} rba_packed_config;

extern const ug_cfg_schema rba_config_schema;

// The input normalisation every released RbA uses (the only one the model accepts).
extern const double rba_imagenet_mean[3], rba_imagenet_std[3];

#endif
