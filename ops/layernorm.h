// ops/layernorm.h — LayerNorm over the last dimension, and LayerNorm2d over the channels of
// an NCHW map (SAM's neck and mask up/downscaling).
//
//   layernorm:   y[r, :]    = (x[r, :]    - mean) / sqrt(var + eps) * w + b   over C
//   layernorm2d: y[b, :, p] = (x[b, :, p] - mean) / sqrt(var + eps) * w + b   over C, per pixel p
//
// var is the biased variance (divide by C), as in PyTorch. eps: 1e-6 in SAM's image encoder
// and every LayerNorm2d, 1e-5 elsewhere (golden/README.md).
#ifndef UG_OPS_LAYERNORM_H
#define UG_OPS_LAYERNORM_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// References: plain loops, double accumulation. w and b may be NULL (weight 1, bias 0).
void layernorm_ref(float *y, const float *x, const float *w, const float *b, int64_t rows, int64_t C,
                   float eps);
void layernorm2d_ref(float *y, const float *x, const float *w, const float *b, int64_t B, int64_t C,
                     int64_t HW, float eps);

// Fast kernels. x and y are contiguous F32 of the same shape and may be the same tensor.
// layernorm: x [..., C], leading dims flattened into rows, threaded over rows.
// layernorm2d: x [B, C, H, W], threaded over blocks of pixels, 8 pixels per vector.
// w and b are F32 [C] or NULL.
void layernorm_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                   float eps);
void layernorm2d_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                     float eps);

#endif
