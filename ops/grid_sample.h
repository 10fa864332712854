// ops/grid_sample.h — F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
// align_corners=False).
//
//   x [B, C, H, W], grid [B, Ho, Wo, 2] holding (gx, gy) in [-1, 1] -> y [B, C, Ho, Wo]
//   ix = ((gx + 1) * W - 1) / 2,  iy = ((gy + 1) * H - 1) / 2       (pixel centres at integers)
//   x0 = floor(ix), y0 = floor(iy), x1 = x0 + 1, y1 = y0 + 1
//   w = ix - x0, e = 1 - w, n = iy - y0, s = 1 - n
//   y = v(y0,x0) s e + v(y0,x1) s w + v(y1,x0) n e + v(y1,x1) n w,
//   v = 0 outside the map (each corner on its own)
// All in float32 in that order, as PyTorch's (vectorised) CPU kernel. Our choice: grid values
// that are not finite or lie far outside [-1, 1] sample 0 (PyTorch gives NaN for NaN/inf).
// MSDeformAttn samples at pixel (loc * size - 0.5), i.e. grid = 2 * loc - 1.
#ifndef UG_OPS_GRID_SAMPLE_H
#define UG_OPS_GRID_SAMPLE_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: contiguous tensors, double accumulation.
void grid_sample_ref(float *y, const float *x, const float *grid, int64_t B, int64_t C, int64_t H, int64_t W,
                     int64_t Ho, int64_t Wo);
// Fast kernel: F32 tensors of the shapes above, any strides. Corner taps are computed once per
// sampling point and reused for every channel; threaded over (batch, block of points).
void grid_sample_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *grid);

#endif
