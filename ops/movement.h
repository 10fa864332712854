// ops/movement.h — data movement: strided copy (with dtype widening), fill, pad, concat, roll.
//
// Crop, permute, slice, transpose are views (engine/tensor.h) followed by copy_cpu into a
// contiguous tensor; nothing here allocates. y and x must not overlap.
//
// Supported dtype pairs (copy_dtypes_ok): the same dtype (any, bytes are moved), widening into
// F32 from BF16, F16 or U8 (weights kept packed, 8-bit images), or U8 into I32 (class maps
// dumped as indices).
#ifndef UG_OPS_MOVEMENT_H
#define UG_OPS_MOVEMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

bool copy_dtypes_ok(ug_dtype y, ug_dtype x);

// Reference: y[i] = x[i] element by element over the multi-index (equal shapes).
void copy_ref(ug_tensor *y, const ug_tensor *x);
// Fast kernel: same contract. Dims are reordered by y's strides and merged where both views
// are contiguous; contiguous runs are converted with SIMD, a transposing copy (x's stride-1 dim
// is not y's) goes through cache tiles. Threaded over rows / tiles.
void copy_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);

// y[:] = value (converted to y's dtype: F32, F64, F16, BF16, U8, I32, I64, BOOL).
void fill_cpu(ug_ctx *ctx, ug_tensor *y, float value);

// Constant padding: y[before + i] = x[i], every other element of y = value. Same ndim;
// before[d] >= 0 and before[d] + x.shape[d] <= y.shape[d] for every dim d.
void pad_ref(ug_tensor *y, const ug_tensor *x, const int64_t *before, float value);
void pad_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const int64_t *before, float value);

// torch.cat(xs, dim): the n inputs have y's shape except along `dim`, where the sizes add up.
void concat_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xs, int n, int dim);

// torch.roll(x, shifts, dims): y[(i + shift) mod size] = x[i] along each listed dim (shifts may
// be negative or exceed the size; a dim listed twice adds its shifts). y has x's shape.
void roll_ref(ug_tensor *y, const ug_tensor *x, int n, const int *dims, const int64_t *shifts);
void roll_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int n, const int *dims, const int64_t *shifts);

#endif
