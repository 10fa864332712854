// models/sam.h — Segment Anything (facebookresearch/segment-anything, segment_anything/
// modeling/*.py, predictor.py, utils/transforms.py): image encoder, prompt encoder, mask
// decoder, and the two preprocessing paths, sized entirely from the packed config
// (the same code runs sam_tiny, vit_b, vit_l and vit_h).
//
// Dimension letters: C channels (prompt_embed_dim unless said otherwise), E encoder width,
// h/w the image-embedding grid (64x64 for a 1024 input), N prompts in a batch, T sparse tokens
// per prompt, M masks per prompt (3 multimask, 1 single), S the square input size (img_size).
//
// Typical use (SamPredictor):
//   sam_load(&m, "sam_vit_h.safetensors", &err);
// Inputs are tensors on ctx->device (outputs are made there too); prompt coordinates, labels
// and boxes are small host arrays, uploaded by sam_encode_prompts.
//
//   sam_preprocess_u8(ctx, m, img_u8, &input, input_hw, &err);           // [1,3,S,S]
//   sam_encode_image(ctx, m, &input, &emb, NULL, &err);                  // [1,C,h,w]
//   sam_apply_coords(orig_hw, input_hw, xy, npoints);                     // pixels -> input frame
//   sam_encode_prompts(ctx, m, &prompts, &sparse, &dense, &err);          // [N,T,C], [1|N,C,h,w]
//   sam_decode_masks(ctx, m, &emb, &sparse, &dense, true, &low, &iou, NULL, &err);
//   sam_postprocess_masks(ctx, m, &low, input_hw, orig_hw, &masks, &err); // [N,M,H,W] logits
#ifndef UG_MODELS_SAM_H
#define UG_MODELS_SAM_H

#include <stdbool.h>

#include "engine/ctx.h"
#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "models/nn.h"
#include "models/weights.h"

enum { SAM_MAX_DEPTH = 64, SAM_MAX_MASK_TOKENS = 8, SAM_MAX_MLP_LAYERS = 8 };

// The packed metadata "config" (key names as golden/sam_tiny/config.json).
typedef struct sam_config {
    int img_size, patch_size, in_chans;
    int enc_embed_dim, enc_depth, enc_num_heads, enc_window_size;
    double enc_mlp_ratio, enc_ln_eps;
    bool enc_qkv_bias, enc_use_abs_pos, enc_use_rel_pos;
    int n_global;
    int enc_global_attn_indexes[SAM_MAX_DEPTH];
    int prompt_embed_dim; // C: neck output, prompt tokens, decoder width
    int embed_h, embed_w; // image_embedding_size
    int mask_in_chans;
    int dec_depth, dec_embed_dim, dec_mlp_dim, dec_num_heads, dec_attn_downsample;
    int dec_num_multimask, dec_iou_depth, dec_iou_hidden;
    float pixel_mean[3], pixel_std[3];
    float mask_threshold;
} sam_config;

// Parses the config JSON; every size is checked for sanity (positive, divisible where the
// model needs it). Missing keys are errors except mask_threshold, pixel_mean/std (SAM
// defaults) and the encoder flags (official defaults).
ug_status sam_config_parse(sam_config *cfg, const char *json, ug_err *err);

// Parameters, as views into the mapped file (F32 copies for small ones, see weights.h), and
// host tables derived from them at load.
typedef struct sam_enc_block {
    nn_norm norm1, norm2;
    nn_linear qkv, proj, lin1, lin2;
    // get_rel_pos of attn.rel_pos_h / rel_pos_w for this block's S x S attention (S = window,
    // or the grid for global blocks): owned F32 [S, S, E/heads], data NULL without rel pos.
    ug_tensor rel_h, rel_w;
    int window; // 0 = global attention
} sam_enc_block;

typedef struct sam_attention {
    nn_linear q, k, v, out; // q/k/v: [inner, C], out: [C, inner]
    int inner;              // C / downsample
} sam_attention;

typedef struct sam_twoway_layer {
    sam_attention self_attn, t2i, i2t;
    nn_norm norm1, norm2, norm3, norm4;
    nn_linear lin1, lin2;
} sam_twoway_layer;

typedef struct sam_mlp {
    int n;
    nn_linear layer[SAM_MAX_MLP_LAYERS];
} sam_mlp;

typedef struct sam_model {
    sam_config cfg;
    ug_st_file *st;
    bool own_st;
    char name[256]; // file name for messages
    ug_weights w;
    // image encoder
    nn_conv patch;         // [E, in_chans, p, p], F32 [E]
    ug_tensor pos_embed;   // F32 [1, h, w, E] (data NULL without abs pos)
    sam_enc_block *blocks; // [enc_depth]
    nn_conv neck0, neck2;  // [C, E, 1, 1], [C, C, 3, 3], no bias
    nn_norm neck1, neck3;  // LayerNorm2d
    // prompt encoder
    ug_tensor pe_gauss;             // F32 [2, C/2]
    ug_tensor point_embed;          // owned F32 [4, C]: negative, positive, box corner 0, box corner 1
    ug_tensor not_a_point, no_mask; // F32 [1, C]
    ug_tensor dense_pe;             // owned F32 [1, C, h, w]: get_dense_pe, computed at load
    nn_conv md0, md3, md6;          // mask downscaling convs
    nn_norm md1, md4;
    // mask decoder
    sam_twoway_layer *layers; // [dec_depth]
    sam_attention final_attn;
    nn_norm norm_final;
    ug_tensor iou_token;   // F32 [1, C]
    ug_tensor mask_tokens; // F32 [num_mask_tokens, C]
    nn_conv up0, up3;      // ConvTranspose2d 2x2/2: weight [in, out, 2, 2], F32 bias [out]
    nn_norm up1;
    sam_mlp hyper[SAM_MAX_MASK_TOKENS];
    sam_mlp iou_head;
} sam_model;

// Opens and maps the packed file (metadata arch "sam"), parses the config and checks the
// name, shape and dtype of every tensor.
ug_status sam_load(sam_model **m, const char *path, ug_err *err);
// The same from an already opened file; with take_ownership the model closes it.
ug_status sam_load_st(sam_model **m, ug_st_file *st, bool take_ownership, const char *name, ug_err *err);
void sam_free(sam_model *m);
// Moves the weights to ctx's device (no-op on the host, or when they are there already); the
// model then runs on contexts of that device only. On failure the model is unchanged.
ug_status sam_to_device(sam_model *m, ug_ctx *ctx, ug_err *err);

// Intermediates for tests and dumps go through an nn_trace (models/nn.h): contiguous F32
// tensors on ctx->device, valid only during the call. Names: "patch_embed_plus_pos"
// [1,h,w,E], "block<i>" [1,h,w,E] (NHWC like the official blocks), "two_way_tokens_out"
// [N,5+T,C], "two_way_image_out" [N,h*w,C], "upscaled_embedding" [N,C/8,4h,4w].

// ---- preprocessing (models/sam_preprocess.c) ----

// ResizeLongestSide.get_preprocess_shape: long side -> long_side, the other scaled and
// rounded half up (double arithmetic).
void sam_preprocess_shape(int h, int w, int long_side, int *out_h, int *out_w);
// ResizeLongestSide.apply_coords: xy [n, 2] (x, y) in original pixels -> the resized frame,
// x * (new_w / old_w), y * (new_h / old_h) in double, rounded to float. In place.
void sam_apply_coords(const int orig_hw[2], const int input_hw[2], float *xy, int n);

// SamPredictor: U8 [H, W, 3] RGB -> Pillow-exact antialiased bilinear resize of the uint8
// image (long side img_size) -> (x - pixel_mean) / pixel_std -> zero pad to [1, 3, S, S].
// *input becomes an owning tensor; input_hw gets the resized (unpadded) size.
ug_status sam_preprocess_u8(ug_ctx *ctx, const sam_model *m, const ug_tensor *img, ug_tensor *input,
                            int input_hw[2], ug_err *err);
// UGainS: an already normalised F32 [1, 3, H, W] (or [3, H, W]) image -> PyTorch bilinear
// resize (align_corners=False, no antialias) so the long side is img_size -> zero pad.
ug_status sam_preprocess_f32(ug_ctx *ctx, const sam_model *m, const ug_tensor *img, ug_tensor *input,
                             int input_hw[2], ug_err *err);

// ---- image encoder (models/sam_image_encoder.c) ----

// input F32 [1, 3, S, S] -> *emb owning F32 [1, C, h, w]. Activations come from the arena of
// ctx->device and are released before returning. Positions are not interpolated (as in the
// official model), so the input must be S x S.
ug_status sam_encode_image(ug_ctx *ctx, const sam_model *m, const ug_tensor *input, ug_tensor *emb,
                           const nn_trace *trace, ug_err *err);

// get_rel_pos on host weights (done once per block at load): relative position table
// rel_pos [L, D] -> R [q_size, k_size, D] with R[i][j] = table[(i - j) + (k_size - 1)]
// (size-ratio scaled when q_size != k_size); the table is first resized to
// 2 * max(q_size, k_size) - 1 rows with 1-D linear interpolation (align_corners=False) when
// its length differs (into tmp, [2 * max - 1, D] floats; unused otherwise). Exposed for tests.
void sam_get_rel_pos(float *R, int q_size, int k_size, const float *rel_pos, int L, int D, float *tmp);

// ---- prompt encoder (models/sam_prompt_encoder.c) ----

// A batch of N prompts of the same structure (as SamPredictor.predict_torch takes them).
typedef struct sam_prompts {
    int n;                  // N prompts
    int n_points;           // points per prompt, 0 = none
    const float *coords;    // host [N, n_points, 2] (x, y) in the input frame (after sam_apply_coords)
    const int *labels;      // host [N, n_points]: 1 foreground, 0 background, -1 not a point
    const float *boxes;     // host [N, 4] (x0, y0, x1, y1) in the input frame, or NULL
    const ug_tensor *masks; // F32 [N, 1, 4h, 4w] low-res mask logits on ctx->device, or NULL
} sam_prompts;

// sparse: owning [N, T, C] with T = n_points (+1 padding point when there is no box) (+2
// with a box). dense: owning [1, C, h, w] (no_mask_embed, shared by every prompt) without
// masks, else [N, C, h, w] from mask_downscaling. Both on ctx->device.
ug_status sam_encode_prompts(ug_ctx *ctx, const sam_model *m, const sam_prompts *p, ug_tensor *sparse,
                             ug_tensor *dense, ug_err *err);
// PromptEncoder.get_dense_pe: owning [1, C, h, w] on ctx->device.
ug_status sam_dense_pe(ug_ctx *ctx, const sam_model *m, ug_tensor *pe, ug_err *err);

// ---- mask decoder (models/sam_mask_decoder.c) ----

// One image embedding [1, C, h, w], N prompts: sparse [N, T, C], dense [1 or N, C, h, w]
// -> low_res owning [N, M, 4h, 4w] logits and iou owning [N, M], M = num_multimask (tokens
// 1..M) when multimask, else 1 (token 0).
ug_status sam_decode_masks(ug_ctx *ctx, const sam_model *m, const ug_tensor *image_emb,
                           const ug_tensor *sparse, const ug_tensor *dense, bool multimask,
                           ug_tensor *low_res, ug_tensor *iou, const nn_trace *trace, ug_err *err);

// Sam.postprocess_masks: low_res [N, M, 4h, 4w] -> bilinear to S x S -> crop to input_hw
// -> bilinear to orig_hw: owning [N, M, H, W] logits (mask = logits > mask_threshold).
ug_status sam_postprocess_masks(ug_ctx *ctx, const sam_model *m, const ug_tensor *low_res,
                                const int input_hw[2], const int orig_hw[2], ug_tensor *masks, ug_err *err);
// The same into masks, a given F32 [N, M, H, W] tensor (any strides) on ctx->device: for a
// caller that reuses one buffer (the pipeline's chunks of prompts, from its arena).
ug_status sam_postprocess_masks_into(ug_ctx *ctx, const sam_model *m, const ug_tensor *low_res,
                                     const int input_hw[2], const int orig_hw[2], ug_tensor *masks,
                                     ug_err *err);

#endif
