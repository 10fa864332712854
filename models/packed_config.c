// models/packed_config.c — the packed config tables (see packed_config.h). Rows are sorted by
// key, so the written JSON has sorted keys; ranges only reject nonsense, the models check
// what their sizes must satisfy together (divisibility, consistency).
#include "models/packed_config.h"

#include "models/sam.h"

// ---- SAM: the arguments of segment_anything's build_sam ----

// Every size must be positive and small enough that products of a few of them stay far
// inside int64 (the largest official value is 4096 = vit_h's MLP hidden, plus 2048 for the
// decoder MLP); the bound only rejects nonsense.
enum { SAM_MAX_SIZE = 1 << 16 };

#define SIZE(key, m) UG_FIELD_INT(sam_config, key, m, 1, SAM_MAX_SIZE)
static const double sam_mean[3] = {123.675, 116.28, 103.53}, sam_std[3] = {58.395, 57.12, 57.375};

// image_embedding_size [h, w] fills embed_h and embed_w.
_Static_assert(offsetof(sam_config, embed_w) == offsetof(sam_config, embed_h) + sizeof(int),
               "embed_h, embed_w must be adjacent");

static const ug_cfg_field sam_fields[] = {
    SIZE("decoder_attention_downsample_rate", dec_attn_downsample),
    SIZE("decoder_iou_head_depth", dec_iou_depth),
    SIZE("decoder_iou_head_hidden_dim", dec_iou_hidden),
    SIZE("decoder_num_multimask_outputs", dec_num_multimask),
    SIZE("decoder_transformer_depth", dec_depth),
    SIZE("decoder_transformer_embedding_dim", dec_embed_dim),
    SIZE("decoder_transformer_mlp_dim", dec_mlp_dim),
    SIZE("decoder_transformer_num_heads", dec_num_heads),
    UG_FIELD_INT(sam_config, "encoder_depth", enc_depth, 1, SAM_MAX_DEPTH),
    SIZE("encoder_embed_dim", enc_embed_dim),
    UG_FIELD_INT_LIST(sam_config, "encoder_global_attn_indexes", enc_global_attn_indexes, n_global, 0,
                      SAM_MAX_DEPTH - 1),
    UG_FIELD_VALUE_OR(sam_config, "encoder_layernorm_eps", enc_ln_eps, 1e-6),
    UG_FIELD_VALUE(sam_config, "encoder_mlp_ratio", enc_mlp_ratio),
    SIZE("encoder_num_heads", enc_num_heads),
    UG_FIELD_VALUE_OR(sam_config, "encoder_qkv_bias", enc_qkv_bias, true),
    UG_FIELD_VALUE_OR(sam_config, "encoder_use_abs_pos", enc_use_abs_pos, true),
    UG_FIELD_VALUE_OR(sam_config, "encoder_use_rel_pos", enc_use_rel_pos, true),
    UG_FIELD_INT(sam_config, "encoder_window_size", enc_window_size, 0, SAM_MAX_SIZE), // 0: global only
    {.key = "image_embedding_size",
     .kind = UG_CFG_INT,
     .off = offsetof(sam_config, embed_h),
     .size = 2 * sizeof(int),
     .min_items = 2,
     .max_items = 2,
     .min = 1,
     .max = SAM_MAX_SIZE},
    SIZE("img_size", img_size),
    SIZE("in_chans", in_chans),
    SIZE("mask_in_chans", mask_in_chans),
    UG_FIELD_VALUE_OR(sam_config, "mask_threshold", mask_threshold, 0.0),
    SIZE("patch_size", patch_size),
    UG_FIELD_NUMBERS_OR(sam_config, "pixel_mean", pixel_mean, sam_mean),
    UG_FIELD_NUMBERS_OR(sam_config, "pixel_std", pixel_std, sam_std),
    SIZE("prompt_embed_dim", prompt_embed_dim),
};
#undef SIZE

const ug_cfg_schema sam_config_schema = {sam_fields, sizeof sam_fields / sizeof sam_fields[0],
                                         sizeof(sam_config)};

// ---- RbA: Swin backbone, MSDeformAttn pixel decoder, Mask2Former decoder ----

// Decoder sizes as SAM's; the Swin and pixel-decoder bounds are looser (their configs are
// checked by swin_config_check / pd_config_check).
enum { DEC_MAX_SIZE = 1 << 16, BLOCK_MAX_INT = 1 << 20 };

const double rba_imagenet_mean[3] = {0.485, 0.456, 0.406}, rba_imagenet_std[3] = {0.229, 0.224, 0.225};

#define DEC(key, m)    UG_FIELD_INT(rba_packed_config, "decoder_" key, dec.m, 1, DEC_MAX_SIZE)
#define PD(key, m)     UG_FIELD_INT(rba_packed_config, "pixel_decoder_" key, pd.m, 0, BLOCK_MAX_INT)
#define SWIN(key, m)   UG_FIELD_INT(rba_packed_config, "swin_" key, swin.m, 0, BLOCK_MAX_INT)
#define OPT(key, m, d) UG_FIELD_VALUE_OR(rba_packed_config, key, m, d)
static const ug_cfg_field rba_fields[] = {
    DEC("dec_layers", dec_layers),
    DEC("dim_feedforward", dim_feedforward),
    OPT("decoder_enforce_input_project", dec.enforce_input_project, false),
    DEC("hidden_dim", hidden_dim),
    DEC("mask_dim", mask_dim),
    DEC("nheads", nheads),
    DEC("num_classes", num_classes),
    DEC("num_feature_levels", num_feature_levels),
    DEC("num_queries", num_queries),
    OPT("decoder_pre_norm", dec.pre_norm, false),
    UG_FIELD_NUMBERS_OR(rba_packed_config, "imagenet_mean", imagenet_mean, rba_imagenet_mean),
    UG_FIELD_NUMBERS_OR(rba_packed_config, "imagenet_std", imagenet_std, rba_imagenet_std),
    PD("common_stride", common_stride),
    PD("conv_dim", conv_dim),
    PD("deform_n_points", deform_n_points),
    UG_FIELD_INT_OR(rba_packed_config, "pixel_decoder_gn_groups", pd.gn_groups, 0, BLOCK_MAX_INT, 32),
    PD("mask_dim", mask_dim),
    UG_FIELD_STRING_OR(rba_packed_config, "pixel_decoder_norm", pd.norm, "GN"),
    PD("transformer_dim_feedforward", dim_feedforward),
    PD("transformer_enc_layers", enc_layers),
    UG_FIELD_STRING_LIST(rba_packed_config, "pixel_decoder_transformer_in_features", pd.in_features,
                         pd.n_in_features),
    PD("transformer_nheads", nheads),
    OPT("swin_ape", swin.ape, false),
    UG_FIELD_INTS(rba_packed_config, "swin_depths", swin.depths, 0, BLOCK_MAX_INT),
    SWIN("embed_dim", embed_dim),
    OPT("swin_layernorm_eps", swin.layernorm_eps, 1e-5),
    OPT("swin_mlp_ratio", swin.mlp_ratio, 4.0),
    UG_FIELD_INTS(rba_packed_config, "swin_num_heads", swin.num_heads, 0, BLOCK_MAX_INT),
    OPT("swin_patch_norm", swin.patch_norm, true),
    SWIN("patch_size", patch_size),
    OPT("swin_qkv_bias", swin.qkv_bias, true),
    SWIN("window_size", window_size),
};
#undef DEC
#undef PD
#undef SWIN
#undef OPT

const ug_cfg_schema rba_config_schema = {rba_fields, sizeof rba_fields / sizeof rba_fields[0],
                                         sizeof(rba_packed_config)};
