// ops/conv_transpose.h — 2x2 stride-2 transposed convolution (SAM's output upscaling).
//
//   y[b, o, 2i + a, 2j + c] = bias[o] + sum_k x[b, k, i, j] w[k, o, a, c]     a, c in {0, 1}
//
// x [B, Cin, H, W], w [Cin, Cout, 2, 2] (PyTorch ConvTranspose2d layout), y [B, Cout, 2H, 2W].
// Kernel 2 with stride 2 means the 2x2 output blocks do not overlap: the op is one GEMM
// T [Cout*4, HW] = W^T [Cout*4, Cin] @ x[b] [Cin, HW] and a scatter of T into y.
#ifndef UG_OPS_CONV_TRANSPOSE_H
#define UG_OPS_CONV_TRANSPOSE_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: plain loops, double accumulation, contiguous arrays; b may be NULL.
void conv_transpose2x2_ref(float *y, const float *x, const float *w, const float *b, int64_t B, int64_t Cin,
                           int64_t H, int64_t W, int64_t Cout);

// Fast kernel. x F32 [B, Cin, H, W] whose pixels flatten with pixel or channel stride 1
// (NCHW or a channels-last view); w [Cin, Cout, 2, 2] contiguous F32/BF16/F16; b NULL or
// [Cout] F32/BF16/F16; y F32 [B, Cout, 2H, 2W], any strides. Tiled over input rows so that
// T stays below ~8 MB. Calls matmul_cpu: not from inside a parallel region.
void conv_transpose2x2_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                           const ug_tensor *b);

#endif
