// pipeline/refined.h — UGainS' refined anomaly score, the pixel map that is evaluated
// (kumuji/ugains: ugains/models/sam_sampling.py, Segmentation.test_step):
//
//   R = sum over the kept instances q of score_q * m_q   (float32, in kept order)
//   refined = (R == 0 ? -1 : R) + U
//
// so a pixel covered by no kept instance drops by 1 below its RbA score U. Dimension letters:
// N masks, H/W image size.
#ifndef UG_PIPELINE_REFINED_H
#define UG_PIPELINE_REFINED_H

#include "engine/ctx.h"
#include "engine/error.h"
#include "engine/tensor.h"

// out F32 [H, W] from bits I64 [N, words] packed masks (ops/masks.h), scores F32 [N] and
// u F32 [H, W], all on ctx->device; keep [nkeep] the kept mask indices (host, uploaded here).
ug_status refined_score(ug_ctx *ctx, ug_tensor *out, const ug_tensor *bits, const ug_tensor *scores,
                        const int *keep, int nkeep, const ug_tensor *u, ug_err *err);

#endif
