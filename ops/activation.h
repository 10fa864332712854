// ops/activation.h — pointwise activations: GELU (exact erf form), ReLU, sigmoid.
//
//   gelu(x)    = 0.5 x (1 + erf(x / sqrt 2))     (nn.GELU(), approximate="none")
//   relu(x)    = max(x, 0)
//   sigmoid(x) = 1 / (1 + exp(-x))
//
// Tensors: x and y are contiguous F32 with the same number of elements (any shape); y may
// be x itself (in place).
#ifndef UG_OPS_ACTIVATION_H
#define UG_OPS_ACTIVATION_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: double precision libm (erf, exp). Used by tests only.
void gelu_ref(float *y, const float *x, int64_t n);
void relu_ref(float *y, const float *x, int64_t n);
void sigmoid_ref(float *y, const float *x, int64_t n);

// Fast kernels: AVX2, threaded over chunks. GELU evaluates erfc(|x|/sqrt 2) with
// ops/vmath.h (a few ulp) and forms x (1 - erfc/2) for x >= 0, x erfc/2 for x < 0, which
// is the formula above without its cancellation for negative x: relative error below 1e-6
// everywhere (measured max 4.7e-7 = 7 ulp near x = -1; PyTorch's float formula loses about
// as much to the cancellation in 1 + erf for x < 0). Sigmoid: at most 3 ulp measured.
void gelu_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);
void relu_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);
void sigmoid_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);

#endif
