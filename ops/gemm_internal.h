// ops/gemm_internal.h — what ops/gemm.c shares with the AVX-512 micro-kernels in
// ops/gemm_avx512.c (compiled with AVX-512 flags, called only when ug_cpu_use_avx512()) and
// ops/gemm_avx512bf16.c (AVX-512 + AVX512-BF16, only when ug_cpu_use_avx512_bf16()).
//
// A micro-kernel computes one MR x NR tile of C from a packed A sliver and a packed B sliver:
//   a: kc x MR floats, a[k * MR + i] = A(i, k)  (rows past the edge are zero)
//   b: kc x NR floats, b[k * NR + j] = B(k, j)  (64-byte aligned; columns past the edge zero)
// and stores rows i < mr, columns j < nr of
//   C(i, j) = alpha * sum_k a(i, k) b(k, j) + beta * C(i, j) + bias[j]
// where beta == 0 means C is not read and bias may be NULL.
//
// The bf16 micro-kernel has the same contract with k counted in pairs: every packed 32-bit word
// is two bf16 values (low half first), a[p * MR + i] = (A(i, 2p), A(i, 2p + 1)) and
// b[p * NR + j] = (B(2p, j), B(2p + 1, j)), and its kc is the number of pairs. The slivers are
// still passed as float pointers (the packed buffers are the same scratch), written and read
// as uint32_t words.
#ifndef UG_OPS_GEMM_INTERNAL_H
#define UG_OPS_GEMM_INTERNAL_H

#include <stdint.h>

#include "engine/tensor.h"

typedef void (*gemm_micro_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                              int nr, float alpha, float beta, const float *bias);

enum { GEMM_AVX512_MR = 14, GEMM_AVX512_NR = 32 };

void gemm_micro_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr, int nr,
                       float alpha, float beta, const float *bias);

// The bf16 kernel: the same 14 x 32 tile, one vdpbf16ps (two k steps) where the f32 kernel has
// an FMA. kp = pairs of k.
void gemm_micro_avx512bf16(int64_t kp, const float *a, const float *b, float *c, int64_t ldc, int mr, int nr,
                           float alpha, float beta, const float *bias);

// One sliver packed as bf16 pairs for the bf16 kernel (w = MR for A, NR for B):
//   out[p * w + r] = (X(r, 2p), X(r, 2p + 1)),  X(r, k) = src[r * rs + k * ks]
// for p < (kc + 1) / 2, with X(r, k) = 0 for rows <= r < w and for k = kc (odd kc). src is F32,
// BF16 or F16; F32 and F16 are rounded to the nearest bf16, ties to even (vcvtneps2bf16, which
// also reads f32 denormals as zero), BF16 is copied.
void gemm_pack_bf16(uint32_t *out, int w, const void *src, int64_t rs, int64_t ks, ug_dtype dt, int rows,
                    int64_t kc);

#if defined(__AVX512F__)
#include <immintrin.h>

// The common end of both AVX-512 micro-kernels: rows i < mr, columns j < nr of
// C = alpha * acc + beta * C + bias (beta == 0: C not read). Always inlined into a fully
// unrolled caller, so acc stays in registers.
static inline __attribute__((always_inline)) void gemm_avx512_store(__m512 acc[GEMM_AVX512_MR][2], float *c,
                                                                    int64_t ldc, int mr, int nr, float alpha,
                                                                    float beta, const float *bias) {
    __mmask16 mask[2];
    __m512 vbias[2];
#pragma GCC unroll 4
    for (int v = 0; v < 2; v++) {
        int rem = nr - 16 * v;
        mask[v] = rem >= 16 ? (__mmask16)0xFFFF : rem <= 0 ? (__mmask16)0 : (__mmask16)((1u << rem) - 1);
        vbias[v] = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps();
    }
    const __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
    // Constant row indices keep acc in registers; rows past mr are simply not stored.
#pragma GCC unroll 32
    for (int i = 0; i < GEMM_AVX512_MR; i++) {
        if (i >= mr) break;
        float *ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < 2; v++) {
            __m512 x = _mm512_fmadd_ps(acc[i][v], valpha, vbias[v]);
            if (beta != 0.0f) x = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask[v], ci + 16 * v), x);
            _mm512_mask_storeu_ps(ci + 16 * v, mask[v], x);
        }
    }
}
#endif

#endif
