// ops/gemm_avx512bf16.c — the bf16 GEMM micro-kernel and the packing into bf16 pairs
// (contracts in ops/gemm_internal.h); compiled with AVX-512 + AVX512-BF16, called by ops/gemm.c
// only when the context asks for bf16 and ug_cpu_use_avx512_bf16().
//
// vdpbf16ps acc, a, b: acc[j] += a[2j] b[2j] + a[2j+1] b[2j+1] for the 16 f32 lanes j, the
// products of two bf16 exact in f32, the sums rounded to f32 (denormals read and written as 0).
// So with A and B packed as pairs along k, one instruction is two k steps of the f32 kernel's
// FMA on the same 14 x 32 tile: 28 zmm accumulators, 2 B vectors (16 columns x 2 k each), one
// broadcast A pair; per pair of k, 2 loads, 14 broadcasts, 28 dot products.
#include <immintrin.h>
#include <string.h>

#include "ops/gemm_internal.h"
#include "ops/vmath.h"

enum { MR = GEMM_AVX512_MR, NR = GEMM_AVX512_NR, NV = NR / 16 };
_Static_assert(NV == 2, "gemm_avx512_store stores two vectors a row");

void gemm_micro_avx512bf16(int64_t kp, const float *a, const float *b, float *c, int64_t ldc, int mr, int nr,
                           float alpha, float beta, const float *bias) {
    const uint32_t *aw = (const uint32_t *)a, *bw = (const uint32_t *)b;
    __m512 acc[MR][NV];
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = _mm512_setzero_ps();

            // The C tile is written after the k loop; fetching it now hides the miss behind the math.
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
        if (i < mr) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
        }

#pragma GCC unroll 4
    for (int64_t p = 0; p < kp; p++) {
        __m512bh bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = (__m512bh)_mm512_load_si512((const void *)(bw + 16 * v));
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)aw[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, bv[v]);
        }
        aw += MR;
        bw += NR;
    }

    gemm_avx512_store(acc, c, ldc, mr, nr, alpha, beta, bias);
}

// ---------------------------------------------------------------------------------------------
// Packing. Three source layouts, as in ops/gemm.c: k-contiguous (X(r, k) = src[r * ld + k]:
// row-major A, nn.Linear weights as B), r-contiguous (X(r, k) = src[k * ld + r]: transposed A,
// row-major B, the f32 slivers of a packing callback) and any other strides (scalar).

static inline __mmask16 lanes16(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

// The first n (<= 16) elements at p (element i of dtype dt) as 16 bf16, zeros past n.
static inline __m256i load16_bf16(const void *p, int64_t i, ug_dtype dt, int64_t n) {
    __mmask16 m = lanes16(n);
    switch (dt) {
    case UG_BF16: return _mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i);
    case UG_F16:
        return (__m256i)_mm512_cvtneps_pbh(
            _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i)));
    default: return (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, (const float *)p + i));
    }
}

static inline uint16_t bf16_of(const void *p, int64_t i, ug_dtype dt) {
    switch (dt) {
    case UG_BF16: return ((const uint16_t *)p)[i];
    case UG_F16: return ug_f32_to_bf16(ug_f16_to_f32(((const uint16_t *)p)[i]));
    default: return ug_f32_to_bf16(((const float *)p)[i]);
    }
}

enum { PACK_AHEAD = 256 }; // elements prefetched ahead along a source row

// X(r, k) = src[r * ld + k]: per 8 rows, 16 k (8 pairs) of each row converted in one vector,
// then the 8 x 8 pairs transposed in registers as 32-bit words.
static inline void pack_kcontig(uint32_t *out, int w, const void *src, int64_t ld, ug_dtype dt, int rows,
                                int64_t kc) {
    int64_t esz = dt == UG_F32 ? 4 : 2;
    for (int g = 0; g < w; g += 8) {
        int nst = w - g < 8 ? w - g : 8;           // lanes stored
        int nld = rows - g < nst ? rows - g : nst; // lanes holding data
        if (nld < 0) nld = 0;
        __mmask8 smask = (__mmask8)((1u << nst) - 1);
        for (int64_t k = 0; k < kc; k += 16) {
            // A is re-read from memory for every B panel: fetch ahead along each row (as the f32
            // packing does), a line per row every 64 bytes of source.
            if (esz == 4 || k % 32 == 0)
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    if (j < nld)
                        _mm_prefetch((const char *)src + ((g + j) * ld + k + PACK_AHEAD) * esz, _MM_HINT_T0);
            int64_t n = kc - k < 16 ? kc - k : 16;
            __m256 r[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                r[j] = j < nld ? _mm256_castsi256_ps(load16_bf16(src, (g + j) * ld + k, dt, n))
                               : _mm256_setzero_ps();
            vm_transpose8(r); // r[p] = pair k / 2 + p of rows g .. g + 8
            int np = (int)((n + 1) / 2);
            uint32_t *o = out + k / 2 * w + g;
            if (nst == 8 && np == 8) {
#pragma GCC unroll 8
                for (int p = 0; p < 8; p++)
                    _mm256_storeu_ps((float *)(o + p * w), r[p]);
            } else {
                for (int p = 0; p < np; p++)
                    _mm256_mask_storeu_epi32(o + p * w, smask, _mm256_castps_si256(r[p]));
            }
        }
    }
}

// X(r, k) = src[k * ld + r]: the rows k = 2p and 2p + 1 converted 16 r at a time and interleaved.
static inline void pack_rcontig(uint32_t *out, int w, const void *src, int64_t ld, ug_dtype dt, int rows,
                                int64_t kc) {
    // Word r of the result = (element r of row 2p, element r of row 2p + 1).
    const __m512i ilv = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                         22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int64_t p = 0; p < (kc + 1) / 2; p++) {
        int64_t k = 2 * p;
        for (int r = 0; r < w; r += 16) {
            int64_t n = rows - r;
            __m256i lo = load16_bf16(src, k * ld + r, dt, n);
            __m256i hi = k + 1 < kc ? load16_bf16(src, (k + 1) * ld + r, dt, n) : _mm256_setzero_si256();
            __m512i v = _mm512_permutexvar_epi16(ilv, _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
            _mm512_mask_storeu_epi32(out + p * w + r, lanes16(w - r), v);
        }
    }
}

static void pack_strided(uint32_t *out, int w, const void *src, int64_t rs, int64_t ks, ug_dtype dt, int rows,
                         int64_t kc) {
    for (int64_t p = 0; p < (kc + 1) / 2; p++) {
        int64_t k = 2 * p;
        for (int r = 0; r < w; r++) {
            uint32_t lo = r < rows ? bf16_of(src, r * rs + k * ks, dt) : 0;
            uint32_t hi = r < rows && k + 1 < kc ? bf16_of(src, r * rs + (k + 1) * ks, dt) : 0;
            out[p * w + r] = lo | hi << 16;
        }
    }
}

void gemm_pack_bf16(uint32_t *out, int w, const void *src, int64_t rs, int64_t ks, ug_dtype dt, int rows,
                    int64_t kc) {
    if (ks == 1 || kc == 1) {
        switch (dt) { // one instance per dtype so the loads inline without a branch
        case UG_BF16: pack_kcontig(out, w, src, rs, UG_BF16, rows, kc); break;
        case UG_F16: pack_kcontig(out, w, src, rs, UG_F16, rows, kc); break;
        default: pack_kcontig(out, w, src, rs, UG_F32, rows, kc); break;
        }
    } else if (rs == 1 || rows == 1) {
        switch (dt) {
        case UG_BF16: pack_rcontig(out, w, src, ks, UG_BF16, rows, kc); break;
        case UG_F16: pack_rcontig(out, w, src, ks, UG_F16, rows, kc); break;
        default: pack_rcontig(out, w, src, ks, UG_F32, rows, kc); break;
        }
    } else {
        pack_strided(out, w, src, rs, ks, dt, rows, kc);
    }
}
