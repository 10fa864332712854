// pipeline/ugains.h — the UGainS pipeline for one image (DESIGN §1; kumuji/ugains:
// ugains/models/sampler.py NLSSampler, ugains/models/sam_sampling.py Segmentation):
//
//   image U8 [H, W, 3] -> normalise (ImageNet mean/std) -> RbA -> U [H, W], semantic [H, W]
//   -> proposals (threshold + fallback, ignore mask, fps | kmeans | random | grid) -> K points
//   -> SAM float-path input (the normalised image resized bilinear so the long side is
//      img_size, zero pad) -> image embedding (once) -> K single-point prompts through the
//      mask decoder in batches -> best of 3 by predicted IoU -> postprocess to H x W in small
//      chunks, binarise at mask_threshold -> scores (mean U, -1 if empty) -> mask NMS
//   -> ignore filter -> refined = (sum_kept score * mask, 0 -> -1) + U
//
// Dimension letters: H/W image, K points (= prompts), S SAM input size, h/w SAM embedding.
// Nothing here touches files (dumps go through the trace callback) or activation memory:
// activations stay on ctx->device, and only small decisions (candidate and keep counts, IoU
// predictions, keep lists) and the results cross to the host.
#ifndef UG_PIPELINE_UGAINS_H
#define UG_PIPELINE_UGAINS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "models/nn.h"
#include "models/rba.h"
#include "models/sam.h"
#include "pipeline/instances.h"
#include "pipeline/proposals.h"

typedef struct ugains_opts {
    proposals_opts prop;    // sampler, points (50), threshold (-0.15), ties, seed
    float nms;              // mask NMS IoU threshold (0.7)
    int64_t ignore_overlap; // drop masks with >= this many pixels in the ignore mask (100)
    bool pad32;             // RbA's detectron2 padding (DESIGN §2)
    int batch;              // prompts per mask-decoder call (default 64; ignored when tracing)
} ugains_opts;

// The released configuration: fps (official ties), 50 points, -0.15, NMS 0.7, 100 px, seed 0.
void ugains_opts_default(ugains_opts *o);

// Dumps (DESIGN §6) go through an nn_trace (models/nn.h): fn gets a name and a contiguous
// tensor valid only during the call, on ctx->device or on the host (copy it out with
// ug_to_host). RbA: "input", "res2".."res5", "mask_features", "multi_scale_0"..,
// "pred_logits", "pred_masks", "rba_score", "semantic" (I32); SAM: "image_embeddings",
// "sparse_embeddings", "dense_embeddings", "low_res_masks", "iou_predictions", "masks"
// [K, M, H, W] logits (all prompts in one batch when tracing); run: "points" [K, 2],
// "point_scores" [K], "keep" (I32, the final kept point indices, highest score first),
// "anomaly" [H, W].

enum {
    UGAINS_STAGE_RBA = 0,
    UGAINS_STAGE_PROPOSALS,
    UGAINS_STAGE_SAM_ENCODER,
    UGAINS_STAGE_SAM_DECODER,
    UGAINS_STAGE_MASKS,
    UGAINS_STAGE_INSTANCES,
    UGAINS_NSTAGES
};
extern const char *const ugains_stage_names[UGAINS_NSTAGES];

// Every result is host data (what apps and eval read), whatever device ctx runs on.
typedef struct ugains_result {
    int H, W;
    ug_tensor score;    // owned host F32 [H, W]: U (after ugains_run_image; ugains_instances leaves it)
    ug_tensor semantic; // owned host U8 [H, W] trainIds (idem)
    ug_tensor refined;  // owned host F32 [H, W]
    int64_t ncandidates;
    int npoints;
    float *points;     // [K, 2] (x, y) original pixels
    int *chosen;       // [K] index of the mask kept per prompt (0..M-1)
    float *chosen_iou; // [K]
    float *scores;     // [K]
    inst_masks masks;  // [K] binary masks at H x W
    int nnms;
    int *nms_keep; // [nnms] after NMS, highest score first
    int nkeep;
    int *keep;                     // [nkeep] after NMS and the ignore filter, highest score first
    double ms[UGAINS_NSTAGES];     // wall time per stage (the device's work included)
    double cpu_ms[UGAINS_NSTAGES]; // CPU time of the process per stage, all threads
} ugains_result;

void ugains_result_free(ugains_result *r);

// Everything after RbA, on ctx->device: sam_input F32 [1, 3, H, W] is the normalised image
// (the UGainS batch image), u F32 [H, W] the RbA score, ignore U8 [H, W] (non-zero = ignore)
// or NULL. Fills every field of *r except score/semantic. On failure *r is freed.
ug_status ugains_instances(ug_ctx *ctx, const sam_model *sam, const ug_tensor *sam_input, const ug_tensor *u,
                           const ug_tensor *ignore, const ugains_opts *o, ugains_result *r,
                           const nn_trace *trace, ug_err *err);

// The whole image from the host: img U8 [H, W, 3], ignore host U8 [H, W] (non-zero = ignore)
// or NULL; both are uploaded to ctx->device, and only the results come back.
ug_status ugains_run_image(ug_ctx *ctx, const rba_model *rba, const sam_model *sam, const ug_tensor *img,
                           const uint8_t *ignore, const ugains_opts *o, ugains_result *r,
                           const nn_trace *trace, ug_err *err);

#endif
