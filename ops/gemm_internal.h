// ops/gemm_internal.h — what ops/gemm.c shares with the AVX-512 micro-kernel in
// ops/gemm_avx512.c (compiled with AVX-512 flags, called only when ug_cpu_use_avx512()).
//
// A micro-kernel computes one MR x NR tile of C from a packed A sliver and a packed B sliver:
//   a: kc x MR floats, a[k * MR + i] = A(i, k)  (rows past the edge are zero)
//   b: kc x NR floats, b[k * NR + j] = B(k, j)  (64-byte aligned; columns past the edge zero)
// and stores rows i < mr, columns j < nr of
//   C(i, j) = alpha * sum_k a(i, k) b(k, j) + beta * C(i, j) + bias[j]
// where beta == 0 means C is not read and bias may be NULL.
#ifndef UG_OPS_GEMM_INTERNAL_H
#define UG_OPS_GEMM_INTERNAL_H

#include <stdint.h>

typedef void (*gemm_micro_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                              int nr, float alpha, float beta, const float *bias);

enum { GEMM_AVX512_MR = 14, GEMM_AVX512_NR = 32 };

void gemm_micro_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr, int nr,
                       float alpha, float beta, const float *bias);

#endif
