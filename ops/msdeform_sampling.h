// ops/msdeform_sampling.h — the sampling locations of the deformable encoder's MSDeformAttn
// (MSDeformAttnTransformerEncoder.get_reference_points + MSDeformAttn.forward, valid ratios 1:
// nothing is padded), the input of ops/msdeform_attn.h.
//
// Dimension letters as in ops/msdeform_attn.h: B batch, S = sum_l H_l * W_l tokens (levels
// concatenated row-major, level l starting at start_l), M heads, L levels, P points per level.
//
//   loc[b, s, m, l * P + p] = ref(s) + off[b, s, m, l * P + p] / (W_l, H_l)       (x first)
//   ref(s) = ((x + 0.5) / W_t, (y + 0.5) / H_t) for token s at row y, column x of its own level t
//
// in float32 as the official code: linspace(0.5, n - 0.5, n) / n for the reference points (the
// steps are exact), then one division by the level size and one addition per coordinate.
#ifndef UG_OPS_MSDEFORM_SAMPLING_H
#define UG_OPS_MSDEFORM_SAMPLING_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: contiguous loc, off [B, S, M, L * P, 2], shapes[l] = {H_l, W_l}.
void msdeform_sampling_locations_ref(float *loc, const float *off, const int64_t (*shapes)[2], int64_t L,
                                     int64_t B, int64_t M, int64_t P);

// Fast kernel: same contract on contiguous F32 tensors loc, off [B, S, M, L * P, 2] (L = number
// of shapes, P = loc.shape[3] / L, sum_l H_l * W_l = S); loc may be off (in place). Threaded
// over tokens; bit-identical to the reference (the same float32 operations).
void msdeform_sampling_locations_cpu(ug_ctx *ctx, ug_tensor *loc, const ug_tensor *off,
                                     const int64_t (*shapes)[2], int64_t L);

#endif
