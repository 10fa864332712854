// ops/argmax.h — argmax over the channel dim: y[b, h, w] = argmax_c x[b, c, h, w].
//
// torch.argmax semantics: the first maximum wins on ties; NaN counts as larger than every
// number (the first NaN wins). Dimension letters: B batch, C channels (classes), H/W spatial.
#ifndef UG_OPS_ARGMAX_H
#define UG_OPS_ARGMAX_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: x contiguous [B, C, HW] -> y [B, HW].
void argmax_ref(int32_t *y, const float *x, int64_t B, int64_t C, int64_t HW);
// Fast kernel: x F32 [B, C, H, W] (any strides), y I32 or U8 (C <= 256) [B, H, W] (any
// strides); vectorised over pixels, threaded over rows.
void argmax_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);

#endif
