// ops/msdeform_attn.h — the core of multi-scale deformable attention (Deformable DETR
// MSDeformAttn, ms_deform_attn_core_pytorch in Mask2Former's pixel decoder).
//
// Dimension letters: B batch, Nq queries, M heads, D head dim, L levels, P points per level,
// S = sum_l H_l * W_l value tokens (levels concatenated row-major, level l starting at
// start_l = sum_{j<l} H_j * W_j).
//
//   out[b, q, m * D + d] = sum_{l, p} aw[b, q, m, l, p] * sample_l(value[b, :, m, d], loc[b, q, m, l, p])
//
// sample_l is F.grid_sample(mode="bilinear", padding_mode="zeros", align_corners=False) of
// level l's H_l x W_l map at grid = 2 * loc - 1, computed in float32 as PyTorch does:
//   g  = 2 * loc - 1,  ix = (gx + 1) * (W_l / 2) - 0.5,  iy = (gy + 1) * (H_l / 2) - 0.5
//   x0 = floor(ix), y0 = floor(iy), w = ix - x0, n = iy - y0
//   s = v(y0,x0)(1-n)(1-w) + v(y0,x0+1)(1-n)w + v(y0+1,x0)n(1-w) + v(y0+1,x0+1)nw
// with v = 0 outside the map, each corner on its own (points outside the map give partial or
// zero samples). Locations are in [0, 1] units of the level (x first); ours like grid_sample:
// non-finite or far-away locations sample 0.
//
// Tensor layout: the official 6-D [B, Nq, M, L, P, 2] locations do not fit UG_MAX_DIMS, so the
// (level, point) pair is one dim of size L * P, level-major (index l * P + p) — the same memory.
//   value [B, S, M, D], loc [B, Nq, M, L * P, 2], aw [B, Nq, M, L * P] -> out [B, Nq, M * D]
#ifndef UG_OPS_MSDEFORM_ATTN_H
#define UG_OPS_MSDEFORM_ATTN_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: contiguous arrays as above, shapes[l] = {H_l, W_l}, double accumulation (the
// source coordinates ix, iy are formed in float32: they are part of the op's definition).
void msdeform_attn_ref(float *out, const float *value, const int64_t (*shapes)[2], int64_t L, int64_t P,
                       const float *loc, const float *aw, int64_t B, int64_t Nq, int64_t M, int64_t D);

// Fast kernel: same contract on contiguous F32 tensors of the shapes above (L = number of
// shapes, P = loc.shape[3] / L; sum_l H_l * W_l must equal value.shape[1]). Threaded over
// blocks of queries; per (query, head) the corner taps of all levels and points are formed
// first, then every 16-float slice of the output is summed over them in AVX2 registers.
void msdeform_attn_cpu(ug_ctx *ctx, ug_tensor *out, const ug_tensor *value, const int64_t (*shapes)[2],
                       int64_t L, const ug_tensor *loc, const ug_tensor *aw);

#endif
