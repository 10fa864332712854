// ops/groupnorm.h — GroupNorm over an NCHW map (the pixel decoder's norm, 32 groups).
//
//   y[b, c, p] = (x[b, c, p] - mean[b, g]) / sqrt(var[b, g] + eps) * w[c] + b[c],  g = c / (C/G)
//
// mean and var are over the C/G channels of group g and all H x W pixels; var is biased.
#ifndef UG_OPS_GROUPNORM_H
#define UG_OPS_GROUPNORM_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: plain loops, double accumulation. w and b may be NULL (weight 1, bias 0).
void groupnorm_ref(float *y, const float *x, const float *w, const float *b, int64_t B, int64_t C, int64_t HW,
                   int groups, float eps);

// Fast kernel. x and y are contiguous F32 [B, C, H, W] (y may be x); C % groups == 0; w and
// b are F32 [C] or NULL. Groups in waves of ~8 MB: statistics per channel in parallel (two
// passes, merged per group with Chan's formula), then the affine pass over the wave's
// channels in parallel while they are still cached.
void groupnorm_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                   int groups, float eps);

#endif
