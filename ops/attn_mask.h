// ops/attn_mask.h — the attention mask of Mask2Former's masked cross-attention from mask
// logits (MultiScaleMaskedTransformerDecoder.forward_prediction_heads, then forward):
//
//   blocked[q, n] = sigmoid(x[q, n]) < 0.5          (attn_mask.sigmoid() < 0.5)
//   a row whose keys are all blocked is cleared     (attn_mask[sum(-1) == N] = False)
//
// Dimension letters: Q queries (rows), N keys (the level's H x W grid). The sigmoid is
// evaluated in float32 as PyTorch does, 1 / (1 + expf(-x)), so logits within ~6e-8 below 0
// still attend; NaN attends. mask is U8, nonzero = blocked (ug_attn_extra.mask).
#ifndef UG_OPS_ATTN_MASK_H
#define UG_OPS_ATTN_MASK_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: contiguous mask U8 [Q, N], x F32 [Q, N], the float32 formula on every element.
void attn_mask_threshold_ref(uint8_t *mask, const float *x, int64_t Q, int64_t N);

// Fast kernel: mask U8 [Q, N] contiguous, x F32 [Q, N] with unit last stride. Threaded over
// rows; the sigmoid is only evaluated where the sign of the logit does not already decide
// (-1e-6 <= x < 0), so the result is bit-identical to the reference.
void attn_mask_threshold_cpu(ug_ctx *ctx, ug_tensor *mask, const ug_tensor *x);

#endif
