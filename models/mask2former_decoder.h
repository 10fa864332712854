// models/mask2former_decoder.h — the masked-attention transformer decoder of Mask2Former
// (mask2former/modeling/transformer_decoder/mask2former_transformer_decoder.py =
// ugains/models/mask2former/mask2former_transformer_decoder.py), post-norm, batch 1, sized
// entirely from an m2f_config (the tiny test model and the released RbA decoder run the same
// code; any number of layers and feature levels).
//
// Dimension letters: Q queries, C hidden width, K classes (the class head emits K + 1 logits,
// the last one "no object"), E mask embedding width (mask_dim), h/w the mask-feature grid
// (stride 4), H_l/W_l the grid of feature level l (l = 0 is the coarsest), N_l = H_l * W_l.
//
//   queries [Q, C] = query_feat; query_pos = query_embed
//   heads(queries) -> logits [Q, K+1], masks [Q, h, w]                (aux 0)
//   for layer i, level l = i mod L:
//     attention mask = bilinear(masks -> H_l x W_l), sigmoid < 0.5 = not attended,
//                      rows that block every key attend everywhere instead
//     queries = LN(queries + MHA(queries + query_pos, src_l + pos_l, src_l, mask))
//     queries = LN(queries + MHA(queries + query_pos, queries + query_pos, queries))
//     queries = LN(queries + linear2(relu(linear1(queries))))
//     heads(queries) -> aux i+1 (or the final prediction after the last layer)
//   heads(x) = decoder_norm -> class_embed, mask_embed MLP (3 layers, ReLU) . mask_features
//   src_l = feature_l + level_embed[l], pos_l = sine position embedding (C/2 per axis).
//
// Typical use (weights packed by `ugains pack`, names "predictor.*"):
//   m2f_config cfg; m2f_config_from_json(&cfg, root, &err);
//   m2f_decoder d;  m2f_load(&d, &cfg, &weights, "predictor.", &err);
//   m2f_forward(ctx, &d, features, 3, &mask_features, &logits, &masks, NULL, &err);
#ifndef UG_MODELS_MASK2FORMER_DECODER_H
#define UG_MODELS_MASK2FORMER_DECODER_H

#include <stdbool.h>

#include "engine/ctx.h"
#include "engine/json.h"
#include "engine/tensor.h"
#include "models/nn.h"
#include "models/weights.h"

enum { M2F_MAX_LAYERS = 64, M2F_MAX_LEVELS = 8 };

typedef struct m2f_config {
    int hidden;   // C: decoder_hidden_dim (256 released)
    int nheads;   // decoder_nheads (8)
    int ffn;      // decoder_dim_feedforward (2048)
    int queries;  // Q: decoder_num_queries (100)
    int classes;  // K: decoder_num_classes (19); class logits are K + 1
    int mask_dim; // E: decoder_mask_dim (256), the channels of mask_features
    int levels;   // L: decoder_num_feature_levels (3)
    int layers;   // decoder_dec_layers (1 in the released RbA models)
} m2f_config;

// Reads the decoder_* keys of the packed RbA config (names of golden/rba_tiny/config.json plus
// decoder_dec_layers). decoder_pre_norm and decoder_enforce_input_project must be false (the
// release; the official code then has no input projection): anything else is UG_ERR_UNSUPPORTED.
ug_status m2f_config_from_json(m2f_config *cfg, const ug_json *root, ug_err *err);
// Sanity of a caller-filled config (positive sizes, heads dividing C, C even for the PE, ...).
ug_status m2f_config_check(const m2f_config *cfg, ug_err *err);

// nn.MultiheadAttention + its residual LayerNorm.
typedef struct m2f_mha {
    nn_linear q, k, v; // row blocks of in_proj_weight [3C, C] (q, k, v) and in_proj_bias
    nn_linear out;     // out_proj [C, C]
    nn_norm norm;
} m2f_mha;

typedef struct m2f_layer {
    m2f_mha cross, self;
    nn_linear lin1, lin2; // [ffn, C], [C, ffn]
    nn_norm ffn_norm;
} m2f_layer;

typedef struct m2f_decoder {
    m2f_config cfg;
    m2f_layer *layers; // [layers]
    nn_norm decoder_norm;
    ug_tensor query_feat;    // F32 [Q, C]
    ug_tensor query_embed;   // F32 [Q, C]
    ug_tensor level_embed;   // F32 [L, C]
    nn_linear class_embed;   // [K + 1, C]
    nn_linear mask_embed[3]; // [C, C], [C, C], [E, C]
} m2f_decoder;

// Fetches every "<prefix>..." tensor (prefix "predictor." for packed RbA files) with its shape
// checked against cfg. The decoder holds views into w's file and w's widened copies: keep both
// alive while it is used. Free with m2f_free.
ug_status m2f_load(m2f_decoder *d, const m2f_config *cfg, ug_weights *w, const char *prefix, ug_err *err);
void m2f_free(m2f_decoder *d);

// Intermediates for tests and dumps (nn_trace: the tensor is on ctx->device, valid only during
// the call). Names (the golden file stems without "img*_<n>dl_"): "aux<i>_pred_logits"
// [Q, K+1] and "aux<i>_pred_masks" [Q, h, w] (the prediction before layer i),
// "decoder_queries_layer<i>" [Q, C] (the queries after layer i's FFN).

// features[l] F32 [1, C, H_l, W_l] contiguous, l = 0 the coarsest (the pixel decoder's
// multi_scale_features, nfeatures == cfg.levels); mask_features F32 [1, E, h, w] contiguous;
// all on ctx->device. -> *logits owning F32 [Q, K+1], *masks owning F32 [Q, h, w] (mask logits
// at stride 4), both on ctx->device. Activations come from the arena of ctx->device and are
// released before returning; on failure the outputs are zeroed. trace may be NULL.
ug_status m2f_forward(ug_ctx *ctx, const m2f_decoder *d, const ug_tensor *features, int nfeatures,
                      const ug_tensor *mask_features, ug_tensor *logits, ug_tensor *masks,
                      const nn_trace *trace, ug_err *err);

#endif
