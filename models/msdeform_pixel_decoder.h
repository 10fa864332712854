// models/msdeform_pixel_decoder.h — Mask2Former's MSDeformAttnPixelDecoder
// (mask2former/modeling/pixel_decoder/msdeformattn.py = ugains/models/mask2former/...),
// sized entirely from a pd_config (the same code runs the tiny test model, RbA's Swin-B
// decoder with one encoder level and the standard three-level Mask2Former decoder).
//
// Dimension letters: C conv_dim (the decoder width), L encoder levels, M heads, D = C / M,
// P points per level, S = sum_l h_l * w_l encoder tokens, F the encoder FFN width.
// Backbone features res2..res5 (strides 4..32) are [1, C_k, H_k, W_k] NCHW.
//
//   encoder levels (coarsest first, l = 0 is the last of transformer_in_features):
//     src_l = GN(conv1x1(res_l)) [1, C, h_l, w_l], pos_l = sine PE (C/2) + level_embed[l]
//   tokens [S, C] = the levels flattened row-major and concatenated;
//   enc_layers x { src = LN1(src + MSDeformAttn(src + pos, ref, src)); src = LN2(src + FFN(src)) }
//   out = the encoder tokens split back into maps (coarsest first), then the FPN top-down for
//   the finer backbone levels down to the common stride: y = GN(conv1x1(res_k)) +
//   bilinear(out[-1] -> H_k x W_k), out += relu(GN(conv3x3(y)))
//   multi_scale_features = out[0 .. min(3, |out|)), mask_features = conv1x1(out[-1]).
//
// Typical use (weights packed by `ugains pack`, names "pixel_decoder.*"):
//   pd_config cfg; pd_config_from_json(&cfg, root, in_channels, &err);
//   pd_model m;    pd_load(&m, &cfg, &weights, "pixel_decoder.", &err);
//   pd_output o;   pd_forward(ctx, &m, res, &o, NULL, &err); ... pd_output_free(&o);
#ifndef UG_MODELS_MSDEFORM_PIXEL_DECODER_H
#define UG_MODELS_MSDEFORM_PIXEL_DECODER_H

#include <stdbool.h>

#include "engine/ctx.h"
#include "engine/json.h"
#include "engine/tensor.h"
#include "models/nn.h"
#include "models/weights.h"

// Backbone features res2..res5 (index k = res{k+2}, stride 4 << k).
enum { PD_FEATURES = 4, PD_MAX_ENC_LAYERS = 64, PD_MAX_MULTISCALE = 3 };

typedef struct pd_config {
    int in_channels[PD_FEATURES];   // channels of res2..res5 (from the backbone)
    int conv_dim;                   // C (256 in the release)
    int mask_dim;                   // mask_features channels (256)
    int gn_groups;                  // GroupNorm groups (32)
    int common_stride;              // stride of mask_features (4)
    int n_levels;                   // L: encoder levels (RbA 1, standard Mask2Former 3)
    int level_feature[PD_FEATURES]; // backbone index k of encoder level l, coarsest first
    int heads;                      // M
    int points;                     // P
    int ffn;                        // F (1024)
    int enc_layers;                 // deformable encoder layers (6)
    int n_fpn;                      // FPN levels below the encoder: res{n_fpn+1} .. res2
    int n_multiscale;               // multi_scale_features handed to the decoder (3)
    float gn_eps, ln_eps;           // 1e-5, 1e-5 (PyTorch defaults)
} pd_config;

// Reads the pixel_decoder_* keys of the packed RbA config (names of golden/rba_tiny/config.json):
// pixel_decoder_conv_dim, _mask_dim, _gn_groups, _common_stride, _norm (must be "GN"),
// _transformer_in_features (any of res2..res5, increasing stride), _transformer_nheads,
// _deform_n_points, _transformer_dim_feedforward, _transformer_enc_layers.
// in_channels[k] are the backbone channels of res{k+2}. Derives n_fpn =
// log2(finest encoder stride / common_stride) and checks every size.
ug_status pd_config_from_json(pd_config *cfg, const ug_json *root, const int in_channels[PD_FEATURES],
                              ug_err *err);
// Sanity of a caller-filled config (positive sizes, heads dividing C, groups dividing C, ...).
ug_status pd_config_check(const pd_config *cfg, ug_err *err);

// A conv followed by its GroupNorm (input projections, FPN adapters and outputs).
typedef struct pd_conv_gn {
    nn_conv conv; // [out, in, k, k] in the packed dtype; bias only on the input projections
    nn_norm norm; // GroupNorm over out
} pd_conv_gn;

typedef struct pd_enc_layer {
    nn_linear sampling_offsets;        // [M * L * P * 2, C], rows [head][level][point][x, y]
    nn_linear attention_weights;       // [M * L * P, C], rows [head][level * point]
    nn_linear value_proj, output_proj; // [C, C]
    nn_norm norm1, norm2;
    nn_linear linear1, linear2; // [F, C], [C, F]
} pd_enc_layer;

typedef struct pd_model {
    pd_config cfg;
    pd_conv_gn input_proj[PD_FEATURES]; // [l]: 1x1 conv with bias + GN, level l (coarsest first)
    ug_tensor level_embed;              // F32 [L, C]
    pd_enc_layer *layers;               // [enc_layers]
    pd_conv_gn lateral[PD_FEATURES];    // [k]: adapter_{k+1}, 1x1 conv (no bias) + GN on res{k+2}
    pd_conv_gn output[PD_FEATURES];     // [k]: layer_{k+1}, 3x3 conv (no bias) + GN (+ ReLU)
    nn_conv mask_features;              // 1x1 conv with bias, [mask_dim, C, 1, 1]
} pd_model;

// Fetches every "<prefix>..." tensor (prefix "pixel_decoder." for packed RbA files) with its
// shape checked against cfg. The model holds views into w's file (and w's widened copies):
// keep both alive while the model is used. Free with pd_free.
ug_status pd_load(pd_model *m, const pd_config *cfg, ug_weights *w, const char *prefix, ug_err *err);
void pd_free(pd_model *m);

// Intermediates for tests and dumps (nn_trace: the tensor is on ctx->device, valid only during
// the call). Names (the golden file stems without "img*_pd_"):
//   "input_proj_res<k>"                     [1, C, h, w]  encoder level input after GN
//   "encoder_layer<i>"                      [1, S, C]     tokens after layer i
//   "encoder_layer<i>_sampling_locations"   [S, M, L, P, 2] (the official [1, S, M, L, P, 2])
//   "encoder_layer<i>_attention_weights"    [1, S, M, L, P] after the softmax
//   "multi_scale_features<j>", "mask_features" (NCHW, as in pd_output)

typedef struct pd_output {
    int n_multiscale;
    ug_tensor multi_scale[PD_MAX_MULTISCALE]; // owned F32 [1, C, h_j, w_j] on ctx->device, coarsest first
    ug_tensor mask_features;                  // owned F32 [1, mask_dim, H_2, W_2] on ctx->device
} pd_output;

// res[k]: F32 [1, in_channels[k], H_k, W_k] (any strides) on ctx->device, the sizes a backbone
// gives for one image (every level at least 1x1; only the levels the config uses are read).
// Activations come from the arena of ctx->device and are released before returning; the
// outputs are owned tensors on ctx->device (free with pd_output_free). On failure *out is
// zeroed. trace may be NULL.
ug_status pd_forward(ug_ctx *ctx, const pd_model *m, const ug_tensor res[PD_FEATURES], pd_output *out,
                     const nn_trace *trace, ug_err *err);
void pd_output_free(pd_output *out);

#endif
