// ops/prompt_pe.h — SAM's sparse prompt tokens (segment_anything/modeling/prompt_encoder.py:
// PositionEmbeddingRandom.forward_with_coords, then the label-dependent embedding of
// PromptEncoder._embed_points / _embed_boxes).
//
// Dimension letters: P points (prompt points, padding points and box corners, flattened over
// the prompts), C channels (prompt_embed_dim), E learned point embeddings.
//
//   c = (xy + 0.5) / size,  c = 2c - 1,  f[k] = 2 pi (c_x G[0, k] + c_y G[1, k])      k < C/2
//   pe = [sin f, cos f]                                                              [C]
//   y[p] = 0 + not_a_point          label[p] == -1 (the encoding is dropped, as the official
//                                   point_embedding[labels == -1] = 0.0, then += not_a_point)
//        = pe + embed[label[p]]     0 <= label[p] < E (0 background, 1 foreground, 2 / 3 the
//                                   box corners)
//        = pe                       any other label
// Each step in float32 in this order, as the official code computes it.
#ifndef UG_OPS_PROMPT_PE_H
#define UG_OPS_PROMPT_PE_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: contiguous arrays, y [P, C], xy [P, 2], labels [P], gauss [2, C/2], embed [E, C],
// not_a_point [C]; double arithmetic throughout.
void prompt_pe_ref(float *y, const float *xy, const int32_t *labels, const float *gauss, const float *embed,
                   int64_t E, const float *not_a_point, int64_t P, int64_t C, float size);
// Fast kernel: y F32 [P, C] (unit last stride), xy F32 [P, 2], labels I32 [P], gauss F32
// [2, C/2], embed F32 [E, C], not_a_point F32 [1, C] or [C], all contiguous. The float32 rule
// above; threaded over points.
void prompt_pe_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xy, const ug_tensor *labels,
                   const ug_tensor *gauss, const ug_tensor *embed, const ug_tensor *not_a_point, float size);

// The encoding pe of one point (x, y) on a size_x x size_y frame into out[0], out[stride], ...,
// out[(C - 1) * stride], gauss [2, half] with half = C/2 (the float32 rule above). The kernel's
// body, also used on the host at load for get_dense_pe (models/sam_prompt_encoder.c).
void prompt_pe_point(float *out, int64_t stride, float x, float y, float size_x, float size_y,
                     const float *gauss, int64_t half);

#endif
