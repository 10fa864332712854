// ops/softmax.h — softmax over the last dimension.
//
//   y[r, :] = exp(x[r, :] - max_r) / sum(exp(x[r, :] - max_r))
//
// Entries of -inf give exactly 0. A row whose entries are all -inf gives NaN in every
// entry, as PyTorch does (0/0); the models never feed one. NaN or +inf in a row make the
// whole row NaN (also as PyTorch).
#ifndef UG_OPS_SOFTMAX_H
#define UG_OPS_SOFTMAX_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: plain loops, double accumulation. x and y are [rows, cols] contiguous; y may be x.
void softmax_ref(float *y, const float *x, int64_t rows, int64_t cols);

// Fast kernel: x and y F32 of the same shape (1 to 5 dims), any strides with a unit stride
// in the last dim; y may be x (in place). Rows are spread over the pool; AVX2 (the op is
// memory bound, AVX-512 buys nothing here).
void softmax_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);

#endif
