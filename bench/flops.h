// bench/flops.h — the matrix work of each model stage, from its config and the input size, for
// the benches' GFLOP/s. A multiply-add counts 2; only GEMMs, convolutions and the two products
// of attention are counted (norms, activations, resampling and data movement are not), so a
// stage's GFLOP/s against the FMA peak says how close its matrix work runs to the machine.
#ifndef UG_BENCH_FLOPS_H
#define UG_BENCH_FLOPS_H

#include <stdint.h>

#include "models/rba.h"
#include "models/sam.h"

// SAM image encoder: patch embed, one windowed or global block (qkv + proj on the window-padded
// tokens, MLP on the real ones, q k^T and p v), neck; total over the config's blocks.
typedef struct flops_sam_enc {
    double patch, window_block, global_block, neck, total;
} flops_sam_enc;
flops_sam_enc flops_sam_encoder(const sam_config *c);

// SAM prompt encoder + mask decoder for n prompts of t sparse tokens each (the image embedding
// repeated per prompt, as SamPredictor batches them): the two-way layers, the final token-to-
// image attention, the upscaling transposed convs and the mask product.
double flops_sam_decoder(const sam_config *c, int64_t n, int64_t t);

// Swin: the patch embedding at the stage-0 grid hw0, and stage s at its grid (blocks on the
// window-padded grid, plus the patch merging into the stage).
double flops_swin_patch(const swin_config *c, int64_t h0, int64_t w0);
double flops_swin_stage(const swin_config *c, int s, int64_t h, int64_t w);

// Pixel decoder at the backbone grids hw[k] (res2..res5): input projections, one deformable
// encoder layer, the FPN with the mask-feature conv.
typedef struct flops_pd {
    double input_proj, layer, fpn, total;
    int64_t tokens; // S, the encoder's tokens
} flops_pd;
flops_pd flops_pixel_decoder(const pd_config *c, const int64_t hw[SWIN_STAGES][2]);

// Mask2Former decoder: the prediction heads (run layers + 1 times on masks of mh x mw), and
// each layer on the tokens of its level (level_tokens[i % levels]).
typedef struct flops_m2f {
    double heads, layer[M2F_MAX_LAYERS], total;
} flops_m2f;
flops_m2f flops_m2f_decoder(const m2f_config *c, const double *level_tokens, int64_t mh, int64_t mw);

// The RbA score: softmax . sigmoid summed over Q queries for K classes at H x W.
double flops_rba_score(int64_t Q, int64_t K, int64_t H, int64_t W);

// The whole RbA forward on an image of H x W (Ht x Wt after --pad32, or the same).
double flops_rba(const rba_config *c, int64_t Ht, int64_t Wt, int64_t H, int64_t W);

#endif
