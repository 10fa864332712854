// ops/elementwise.h — pointwise arithmetic for residuals, embeddings and scalings.
//
//   add:       y = a + b
//   mul:       y = a * b
//   scale_add: y = alpha * x + beta
//
// Broadcasting is done by the caller with views: y, a and b have the same shape (up to 5
// dims) but any strides, so b is typically a stride-0 view (ug_view_expand_dim), e.g. a
// per-channel bias [C] seen as [B, C, H, W] with strides (0, 1, 0, 0). y may be the very
// same view as a (or b) for in-place updates; other overlaps are not allowed.
#ifndef UG_OPS_ELEMENTWISE_H
#define UG_OPS_ELEMENTWISE_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// References on contiguous arrays (broadcast operands are materialised by the tests).
void add_ref(float *y, const float *a, const float *b, int64_t n);
void mul_ref(float *y, const float *a, const float *b, int64_t n);
void scale_add_ref(float *y, const float *x, float alpha, float beta, int64_t n);

// Fast kernels on F32 tensors: dims that are contiguous in all operands are merged, the
// innermost run is vectorised (unit stride, or a broadcast scalar), threaded over rows and
// blocks of columns. add and mul round exactly like the references; scale_add uses one fma.
void add_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b);
void mul_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b);
void scale_add_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, float alpha, float beta);

#endif
