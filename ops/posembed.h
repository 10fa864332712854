// ops/posembed.h — Mask2Former PositionEmbeddingSine(F, normalize=True, scale=2 pi,
// temperature=10000) of an unmasked H x W map (pixel decoder and transformer decoder).
//
//   y_e = (row + 1) / (H + 1e-6) * 2 pi,   x_e = (col + 1) / (W + 1e-6) * 2 pi
//   dim_t[k] = 10000^(2 floor(k / 2) / F),   k in [0, F)
//   out[k]     = sin(y_e / dim_t[k]) for even k, cos(y_e / dim_t[k]) for odd k   (k < F)
//   out[F + k] = the same with x_e
// Every step in float32 as PyTorch computes it (cumsum of ones, then the division by the last
// value + eps, then the scale, then the division by dim_t).
#ifndef UG_OPS_POSEMBED_H
#define UG_OPS_POSEMBED_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: y contiguous [2F, H, W], double arithmetic throughout.
void posembed_sine_ref(float *y, int64_t F, int64_t H, int64_t W);
// Fast kernel: y F32 [2F, H, W] or [B, 2F, H, W] (every batch gets the same map), last dim
// contiguous. The float32 rule above.
void posembed_sine_cpu(ug_ctx *ctx, ug_tensor *y);

#endif
