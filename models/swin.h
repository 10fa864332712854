// models/swin.h — the Swin Transformer backbone of Mask2Former / RbA (Mask2Former
// mask2former/modeling/backbone/swin.py = ugains/models/mask2former/swin.py), sized entirely
// from a swin_config (the same code runs the tiny test model and Swin-B).
//
// Dimension letters: C channels of a stage (embed_dim << stage), H/W the stage's token grid,
// Hp/Wp that grid padded to window multiples, N = window^2 tokens per window, nW windows.
//
//   image [1, 3, Hi, Wi] -> patch embed (zero pad to multiples of patch, p x p conv, LayerNorm)
//   -> 4 stages: depth x block (plain / shifted windows alternately), stage norm -> res{s+2}
//      [1, C, H, W], patch merging ([H, W, C] -> [ceil(H/2), ceil(W/2), 2C]) between stages.
//
// Typical use (weights packed by `ugains pack`, names "backbone.*"):
//   swin_config cfg; swin_config_from_json(&cfg, root, &err);
//   swin_model m;    swin_load(&m, &cfg, &weights, "backbone.", &err);
//   ug_tensor res[4]; swin_forward(ctx, &m, &image, res, NULL, &err);   // owned NCHW maps
#ifndef UG_MODELS_SWIN_H
#define UG_MODELS_SWIN_H

#include <stdbool.h>

#include "engine/ctx.h"
#include "engine/json.h"
#include "engine/tensor.h"
#include "models/nn.h"
#include "models/weights.h"

enum { SWIN_STAGES = 4, SWIN_MAX_DEPTH = 64 };

typedef struct swin_config {
    int in_chans;               // 3
    int patch_size;             // 4
    int embed_dim;              // C of stage 0 (128 for Swin-B); stage s has embed_dim << s
    int depths[SWIN_STAGES];    // blocks per stage (Swin-B: 2, 2, 18, 2)
    int num_heads[SWIN_STAGES]; // heads per stage (Swin-B: 4, 8, 16, 32)
    int window;                 // window size (12); shifted blocks shift by window / 2
    double mlp_ratio;           // MLP hidden = C * mlp_ratio (4)
    float eps;                  // LayerNorm eps of every Swin norm (1e-5)
    bool patch_norm;            // LayerNorm after the patch embedding (true in the release)
    bool qkv_bias;              // qkv Linear has a bias (true in the release)
    int chunk_tokens;           // not a model size: tokens per work chunk (0 = automatic,
                                // about 2M floats per buffer). Windows are attended and rows
                                // go through the MLP in chunks; tests make it tiny to cover
                                // the chunk edges.
} swin_config;

// Reads the swin_* keys of the packed RbA config (names of golden/rba_tiny/config.json):
// swin_embed_dim, swin_depths, swin_num_heads, swin_window_size, swin_patch_size,
// swin_mlp_ratio, swin_layernorm_eps, swin_patch_norm, swin_qkv_bias, swin_ape (must be false:
// absolute position embeddings are not supported). in_chans is 3. Checks every size.
ug_status swin_config_from_json(swin_config *cfg, const ug_json *root, ug_err *err);
// Sanity of a caller-filled config (positive sizes, heads dividing every stage width, ...).
ug_status swin_config_check(const swin_config *cfg, ug_err *err);

typedef struct swin_block {
    nn_norm norm1, norm2;
    nn_linear qkv, proj, fc1, fc2; // [3C, C], [C, C], [hidden, C], [C, hidden]
    ug_tensor rel_bias;            // owned F32 [heads, N, N]: relative_position_bias_table
                                   // [relative_position_index], gathered once at load
} swin_block;

typedef struct swin_stage {
    int dim, heads, depth;
    swin_block *blocks; // [depth]
    nn_norm out_norm;   // norm{s}: LayerNorm of the stage output (-> res{s+2})
    nn_norm merge_norm; // downsample.norm, LayerNorm(4C) (not in the last stage)
    nn_linear merge;    // downsample.reduction [2C, 4C], no bias
} swin_stage;

typedef struct swin_model {
    swin_config cfg;
    nn_conv patch;         // patch_embed.proj [C, in_chans, p, p] + bias
    nn_norm patch_norm;    // F32 [C] (data NULL without patch_norm)
    ug_tensor shift_masks; // owned F32 [4, N, N]: the attention mask of each window kind
                           // (ops/window.h) in shifted blocks, made once at load
    swin_stage stages[SWIN_STAGES];
} swin_model;

// Fetches every "<prefix>..." tensor (prefix "backbone." for packed RbA files) with its shape
// checked against cfg, and prepares what depends on weights and config alone (the relative
// position biases, the shift masks). The model holds views into w's file (and w's widened
// copies): keep both alive while the model is used. Free with swin_free.
ug_status swin_load(swin_model *m, const swin_config *cfg, ug_weights *w, const char *prefix, ug_err *err);
void swin_free(swin_model *m);

// img F32 [1, in_chans, Hi, Wi] on ctx->device (any size >= 1, contiguous) -> res[s] owning
// F32 [1, embed_dim << s, H_s, W_s] (NCHW) on ctx->device with H_0 = ceil(Hi / p),
// H_{s+1} = ceil(H_s / 2). Activations come from the arena of ctx->device and are released
// before returning; on failure res is zeroed.
// trace (may be NULL) gets contiguous F32 intermediates on ctx->device. Names (the golden file
// stems without "img*_backbone_"): "patch_embed" [1, C, H, W] (NCHW, after its LayerNorm),
// "stage<s>_block<b>" [1, H, W, C] (NHWC, as the official blocks hold them).
ug_status swin_forward(ug_ctx *ctx, const swin_model *m, const ug_tensor *img, ug_tensor res[SWIN_STAGES],
                       const nn_trace *trace, ug_err *err);

// Output sizes for an input of hi x wi: hw[s][0..1] = H_s, W_s.
void swin_output_sizes(const swin_config *cfg, int64_t hi, int64_t wi, int64_t hw[SWIN_STAGES][2]);

#endif
