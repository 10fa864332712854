// tests/golden_models.h — the golden model runs, written once for every device: the CPU suites
// (test_sam, test_rba, test_ugains) call them with the host context, the CUDA suite
// (test_cuda_models) with a context on the CUDA device, so both are held to the same golden
// tensors with the same tolerances. Inputs are moved to the context's device, outputs are
// compared through host copies, and every model must be on that device already (sam_to_device,
// rba_to_device).
//
// Tolerances (golden/README.md): float tensors 1e-4 absolute + 1e-4 relative, ten times the
// largest float32-vs-float64 gap of the official model; preprocessing outputs, exact operations
// on the same floats, 1e-6. Decision outputs (argmax maps, masks, keep lists) as each function
// says, from the golden margin tables.
#ifndef UG_TESTS_GOLDEN_MODELS_H
#define UG_TESTS_GOLDEN_MODELS_H

#include <stdbool.h>

#include "engine/ctx.h"
#include "models/rba.h"
#include "models/sam.h"

#define GOLDEN_ATOL 1e-4
#define GOLDEN_RTOL 1e-4

// golden/<rel> on ctx's device (owning; aborts the test when missing).
ug_tensor golden_on(ug_ctx *ctx, const char *rel);
// got (on any device, any strides) against golden/<rel>: same element count, atol + rtol.
void golden_check(ug_ctx *ctx, const ug_tensor *got, const char *rel, double atol, double rtol);

// ---- sam_tiny (golden/sam_tiny) ----

// SamPredictor's preprocessing of the uint8 image (1e-6).
void golden_sam_preprocess(ug_ctx *ctx, const sam_model *m);
// The image encoder on the golden input, with the patch embedding and every block traced.
void golden_sam_encoder(ug_ctx *ctx, const sam_model *m);
// Prompt case i (points, multi-point, box, box + point, mask input): sparse and dense
// embeddings, low-res masks and IoU multimask and single, the upscaled masks where golden.
int golden_sam_case_count(void);
void golden_sam_prompt_case(ug_ctx *ctx, const sam_model *m, int i);
// get_dense_pe.
void golden_sam_dense_pe(ug_ctx *ctx, const sam_model *m);
// The six single-point cases as one batch of prompts, each row against its own golden.
void golden_sam_prompt_batch(ug_ctx *ctx, const sam_model *m);
// The UGainS float path (pipeline_tiny): bilinear resize + pad, encoder, 20 prompts in chunks.
void golden_sam_float_path(ug_ctx *ctx, const sam_model *m);

// ---- rba_tiny (golden/rba_tiny) ----

// rba_forward_u8 of golden/rba_tiny/img<img>.png with every traced tensor that has a golden
// compared (layers: the model's decoder depth, for the names); want_checked of them must be.
void golden_rba_model(ug_ctx *ctx, const rba_model *m, int img, int layers, bool d2pad, int want_checked);

// ---- pipeline_tiny (golden/pipeline_tiny) ----

// ugains_instances on the golden normalised image, RbA score and ignore mask: candidates,
// FPS points, chosen masks, scores, NMS and final keep lists, refined map (traced: the dump
// names arrive with their sizes).
void golden_pipeline_instances(ug_ctx *ctx, const sam_model *sam, bool traced);
// ugains_run_image of rba_tiny/img0.png: U against the golden RbA score, the refined map
// consistent with U and the kept instances.
void golden_pipeline_whole_image(ug_ctx *ctx, const rba_model *rba, const sam_model *sam);

#endif
