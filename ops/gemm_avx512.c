// ops/gemm_avx512.c — the AVX-512 GEMM micro-kernel (contract in ops/gemm_internal.h).
//
// 14 x 32 tile: 28 zmm accumulators + 2 for the B row + 1 for the broadcast A element = 31 of
// the 32 registers. Per k step: 2 vector loads, 14 broadcasts, 28 FMAs, so the loads never
// limit the two FMA pipes, and 28 independent chains cover the FMA latency (4 cycles x 2
// pipes needs 8).
#include <immintrin.h>

#include "ops/gemm_internal.h"

enum { MR = GEMM_AVX512_MR, NR = GEMM_AVX512_NR, NV = NR / 16 };
_Static_assert(NV == 2, "gemm_avx512_store stores two vectors a row");

void gemm_micro_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr, int nr,
                       float alpha, float beta, const float *bias) {
    __m512 acc[MR][NV];
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = _mm512_setzero_ps();

            // The C tile is written after the k loop; fetching it now hides the miss behind the FMAs.
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
        if (i < mr) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
        }

#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        __m512 bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
        a += MR;
        b += NR;
    }

    gemm_avx512_store(acc, c, ldc, mr, nr, alpha, beta, bias);
}
