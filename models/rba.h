// models/rba.h — the RbA branch of UGainS (kumuji/ugains ugains/models/sampler.py,
// NLSSegmentation.prediction_step): normalise -> Swin -> MSDeformAttn pixel decoder ->
// masked-attention decoder -> per-pixel class scores, semantic argmax and the RbA score, all
// sized from the packed config (the tiny golden model and the released Swin-B RbA run the
// same code, at any image size).
//
// Dimension letters: H/W the image, Q queries, K classes (logits have K + 1, the last being
// "no object"), h/w the stride-4 mask grid, Ht/Wt the size the masks are upsampled to (the
// image, or with pad32 the image padded to a multiple of 32).
//
//   semseg[k, y, x] = sum_q softmax(logits_q)[k] * sigmoid(up(mask_q)[y, x])     k < K
//   score = -sum_k semseg[k]  (in [-Q, 0]; UGainS' RbA score, no tanh)
//   semantic = argmax_k semseg[k] (first maximum on ties), trainIds
//   up = F.interpolate(bilinear, align_corners=False) to Ht x Wt, cropped to H x W.
//
// Typical use (the image on ctx->device: for a CPU context, as read):
//   rba_model *m; rba_load(&m, "rba_swinb.safetensors", &err);
//   rba_output o; rba_forward_u8(ctx, m, &img_u8, false, &o, NULL, &err);  // U, semantic
//   ...; rba_output_free(&o); rba_free(m);
#ifndef UG_MODELS_RBA_H
#define UG_MODELS_RBA_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/ctx.h"
#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "models/mask2former_decoder.h"
#include "models/msdeform_pixel_decoder.h"
#include "models/nn.h"
#include "models/swin.h"
#include "models/weights.h"
#include "ops/rba_score.h"

// The packed metadata "config" (key names of golden/rba_tiny/config.json + decoder_dec_layers).
typedef struct rba_config {
    swin_config swin;
    pd_config pd;
    m2f_config dec;
} rba_config;

// Parses the config JSON into the three block configs and checks they fit together (the
// pixel decoder's width is the decoder's width, its mask_dim the decoder's mask_dim, it hands
// over as many levels as the decoder reads). imagenet_mean/std, when present, must be the
// ImageNet values the normalisation uses.
ug_status rba_config_parse(rba_config *cfg, const char *json, ug_err *err);

typedef struct rba_model {
    rba_config cfg;
    ug_st_file *st;
    bool own_st;
    char name[256]; // file name for messages
    ug_weights w;
    swin_model swin;
    pd_model pd;
    m2f_decoder dec;
} rba_model;

// Opens and maps a packed file (metadata arch "rba"), parses the config and fetches every
// tensor with its shape checked (backbone.*, pixel_decoder.*, predictor.*).
ug_status rba_load(rba_model **m, const char *path, ug_err *err);
// The same from an already opened file; with take_ownership the model closes it.
ug_status rba_load_st(rba_model **m, ug_st_file *st, bool take_ownership, const char *name, ug_err *err);
void rba_free(rba_model *m);
// Moves the weights to ctx's device (no-op on the host, or when they are there already); the
// model then runs on contexts of that device only. On failure the model is unchanged.
ug_status rba_to_device(rba_model *m, ug_ctx *ctx, ug_err *err);

// Intermediates for tests and dumps (nn_trace: the tensor is on ctx->device, valid only during
// the call). Names: "input" [1, 3, H', W'] (normalised, padded with pad32), the backbone's as
// "backbone_<swin name>" and "backbone_res<k>" [1, C_k, H_k, W_k], the pixel decoder's as
// "pd_<name>" (see msdeform_pixel_decoder.h), the decoder's as they are (see
// mask2former_decoder.h), then the outputs "pred_logits" [Q, K+1], "pred_masks" [Q, h, w],
// "rba_score" F32 [H, W] and "semantic_argmax" U8 [H, W] — that is the golden file stems
// without "img*_" / "img*_<n>dl_".

// The DESIGN §6 dump name of a traced intermediate ("backbone_res2" -> "res2",
// "pd_mask_features" -> "mask_features", ...), or NULL when that intermediate is not dumped.
// The outputs (pred_*, rba_score, semantic) map to NULL: they are dumped from rba_output, in the
// DESIGN §6 shapes.
const char *rba_dump_name(const char *traced);

typedef struct rba_output {
    ug_tensor pred_logits; // owned F32 [Q, K+1]
    ug_tensor pred_masks;  // owned F32 [Q, h, w] mask logits at stride 4 (of the padded input with pad32)
    ug_tensor score;       // owned F32 [H, W], the RbA score U
    ug_tensor semantic;    // owned U8 [H, W], trainIds
    double ms[4];          // wall time of the stages: backbone, pixel decoder, decoder, scoring
} rba_output;

// input F32 [1, 3, H, W] normalised (the UGainS / albumentations formula), contiguous, any
// H, W >= 1, on ctx->device. pad32: RbA's detectron2 path (zero-pad to a multiple of 32,
// upsample the masks to the padded size, crop); otherwise UGainS' (no outer padding). The
// outputs are on ctx->device. On failure *out is zeroed.
ug_status rba_forward(ug_ctx *ctx, const rba_model *m, const ug_tensor *input, bool pad32, rba_output *out,
                      const nn_trace *trace, ug_err *err);
// The same from an RGB image U8 [H, W, 3] on ctx->device (rba_normalize_image first).
ug_status rba_forward_u8(ug_ctx *ctx, const rba_model *m, const ug_tensor *img, bool pad32, rba_output *out,
                         const nn_trace *trace, ug_err *err);
void rba_output_free(rba_output *out);

// *x = a new F32 [1, 3, H, W] on ctx->device: img U8 [H, W, 3] RGB (on ctx->device, pixel
// stride 3) normalised with ImageNet's mean and std (ug_rba_normalize).
ug_status rba_normalize_image(ug_ctx *ctx, const ug_tensor *img, ug_tensor *x, ug_err *err);

// ---- the stages of rba_forward ----
//
// rba_forward is exactly rba_stage_input, _backbone, _pixel_decoder, _decoder and _score called
// in this order on one rba_state, then rba_state_free; they are public so that a caller can
// time or inspect each block (bench/bench_rba.c) without a copy of the forward pass. Each stage
// reads what the one before left in the state and frees what no later stage needs; a failed
// stage leaves the state to rba_state_free.
typedef struct rba_state {
    int64_t H, W;               // the image
    int64_t Ht, Wt;             // the size the masks are upsampled to (padded with pad32)
    ug_tensor padded;           // owned F32 [1, 3, Ht, Wt] when the input had to be padded
    ug_tensor input;            // view: the backbone's input, [1, 3, Ht, Wt] (the caller's or padded)
    ug_tensor res[SWIN_STAGES]; // owned backbone features res2..res5
    pd_output pd;               // owned pixel decoder outputs
} rba_state;

// Checks the input (as rba_forward), pads it with pad32, emits "input".
ug_status rba_stage_input(ug_ctx *ctx, const rba_model *m, const ug_tensor *input, bool pad32, rba_state *s,
                          const nn_trace *trace, ug_err *err);
// Swin on s->input -> s->res (emits "backbone_*"); frees s->padded.
ug_status rba_stage_backbone(ug_ctx *ctx, const rba_model *m, rba_state *s, const nn_trace *trace,
                             ug_err *err);
// The pixel decoder on s->res -> s->pd (emits "pd_*"); frees s->res.
ug_status rba_stage_pixel_decoder(ug_ctx *ctx, const rba_model *m, rba_state *s, const nn_trace *trace,
                                  ug_err *err);
// The decoder on s->pd -> out->pred_logits, out->pred_masks (emits its names and "pred_*");
// frees s->pd.
ug_status rba_stage_decoder(ug_ctx *ctx, const rba_model *m, rba_state *s, rba_output *out,
                            const nn_trace *trace, ug_err *err);
// The predictions -> out->score, out->semantic at H x W (emits "rba_score", "semantic_argmax").
ug_status rba_stage_score(ug_ctx *ctx, const rba_model *m, rba_state *s, rba_output *out,
                          const nn_trace *trace, ug_err *err);
void rba_state_free(rba_state *s);

#endif
