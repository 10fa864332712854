// ops/gemm.h — matrix multiply, the op that carries almost all of the flops.
//
//   C[b] = alpha * A[b] @ B[b] + beta * C[b] + bias      A [M, K], B [K, N], C [M, N]
//
// Tensor form: A is [M, K] or [Bt, M, K]; B is [K, N] or [Bt, K, N] (a 2-D B, or a batch
// stride of 0, is shared by every batch); C is [M, N] or [Bt, M, N]. A and B may be any
// strided view whose last or second-to-last stride is 1, so a transposed operand is just
// ug_view_transpose (no copy). A and C are F32; B is F32, BF16 or F16 (weights keep their
// packed dtype and are widened while packing). bias is NULL or F32 [N]. beta == 0 means C is
// not read (it may hold garbage, even NaN).
//
// Precision: with ctx->precision == UG_PRECISION_BF16 on a CPU with AVX512-BF16 (gemm_uses_bf16)
// every fast entry below rounds A and B to bf16 (nearest, ties to even; BF16 weights are taken
// as they are) while packing them, and sums the products in f32: C = alpha * bf16(A) @ bf16(B)
// + beta * C + bias, alpha, beta, bias and C in f32. Otherwise everything is f32.
#ifndef UG_OPS_GEMM_H
#define UG_OPS_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: plain loops, double accumulation. Row-major with explicit element strides:
// A(m, k) = A[m * rsa + k * csa], B(k, n) = B[k * rsb + n * csb], C(m, n) = C[m * ldc + n].
// B is F32 here; tests widen BF16/F16 weights first.
void gemm_ref(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa, int64_t csa,
              const float *B, int64_t rsb, int64_t csb, float beta, float *C, int64_t ldc, const float *bias);

// Whether the GEMMs of ctx run in bf16 now (the precision asked and ug_cpu_use_avx512_bf16()).
bool gemm_uses_bf16(const ug_ctx *ctx);

// Fast kernel: same contract on tensors, threaded over the pool, AVX-512 or AVX2+FMA (chosen
// per call by ug_cpu_use_avx512()). Call it from outside any parallel region.
void matmul_cpu(ug_ctx *ctx, ug_tensor *C, const ug_tensor *A, const ug_tensor *B, const ug_tensor *bias,
                float alpha, float beta);

// Fast kernel on raw pointers (strides as in gemm_ref; B is F32, BF16 or F16 with element
// strides rsb/csb), threaded over ctx's pool. Like matmul_cpu it uses every thread's scratch,
// so it must not be called from inside a parallel region: use gemm_cpu_serial there.
void gemm_cpu(ug_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
              int64_t csa, const void *B, ug_dtype bdt, int64_t rsb, int64_t csb, float beta, float *C,
              int64_t ldc, const float *bias);

// The same on the calling thread only, packing into ug_ctx_scratch(ctx, thread, ...): for ops
// that run many small GEMMs inside their own ug_parallel_for (pass the worker's thread index).
void gemm_cpu_serial(ug_ctx *ctx, int thread, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t rsa, int64_t csa, const void *B, ug_dtype bdt, int64_t rsb, int64_t csb,
                     float beta, float *C, int64_t ldc, const float *bias);

// B given by a packing callback instead of memory, for ops whose B is computed from another
// layout (a convolution's im2col matrix, written straight into the packed panel instead of
// materialised and copied again). fn fills one sliver of B, rows [k0, k0 + kc) and columns
// [j0, j0 + cols), as out[k * w + j] = B(k0 + k, j0 + j) for j < cols and 0 for cols <= j < w
// (w is the micro-kernel width). It is called from several threads at once, on distinct
// slivers, so it must only read shared state. Otherwise the same contract as gemm_cpu.
typedef void (*gemm_pack_b_fn)(void *arg, float *out, int w, int64_t k0, int64_t kc, int64_t j0, int cols);
void gemm_cpu_packb(ug_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
                    int64_t csa, gemm_pack_b_fn pack_b, void *pack_arg, float beta, float *C, int64_t ldc,
                    const float *bias);

// gemm_cpu_packb on the calling thread only (scratch of `thread`), like gemm_cpu_serial.
void gemm_cpu_packb_serial(ug_ctx *ctx, int thread, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *A, int64_t rsa, int64_t csa, gemm_pack_b_fn pack_b, void *pack_arg,
                           float beta, float *C, int64_t ldc, const float *bias);

// PyTorch nn.Linear: y [..., out] = x [..., in] @ W^T + b, W [out, in] (any dtype above),
// b NULL or [out]. x and y are contiguous in their last dim; leading dims are flattened.
void linear_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *W, const ug_tensor *b);

#endif
