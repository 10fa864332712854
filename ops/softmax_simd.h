// ops/softmax_simd.h — the few float-vector operations softmax and attention need, written
// once for AVX2 (8 lanes) and AVX-512 (16 lanes). The ISA is the one the including file is
// compiled for: *_avx512.c files see the AVX-512 version, every other file the AVX2 one, so
// kernels written against `vf` compile to both (ops/attention_tile.h).
//
// vf_exp accuracy: max error 1 ulp over [-87.3, 88] (checked against double exp on every
// 97th float of that range in tests/test_softmax.c; measured max 1 ulp). Inputs below
// -87.33 (including -inf) give exactly 0 (no denormals); inputs above 88 are clamped to 88
// (the kernels only feed x <= 0); NaN propagates.
#ifndef UG_OPS_SOFTMAX_SIMD_H
#define UG_OPS_SOFTMAX_SIMD_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define UG_INLINE static inline __attribute__((always_inline))

// exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2], with ln 2
// split in a short high part (n * hi is exact, so the subtraction is too) and a low part.
// exp(r) is its Taylor series to degree 7: the truncation error r^8/8! < 6e-9 relative is
// a tenth of an ulp, so the Horner rounding dominates.
#define UG_EXP_LOG2E  1.44269504088896341f
#define UG_EXP_LN2_HI 0.693359375f
#define UG_EXP_LN2_LO -2.12194440e-4f
#define UG_EXP_XMIN   -87.3365447f // ln(2^-126): below, the result would be denormal -> 0
#define UG_EXP_XMAX   88.0f        // keeps n <= 127
#define UG_EXP_C7     (1.0f / 5040.0f)
#define UG_EXP_C6     (1.0f / 720.0f)
#define UG_EXP_C5     (1.0f / 120.0f)
#define UG_EXP_C4     (1.0f / 24.0f)
#define UG_EXP_C3     (1.0f / 6.0f)
#define UG_EXP_C2     0.5f

#if defined(__AVX512F__)

enum { VL = 16 };
typedef __m512 vf;

UG_INLINE vf vf_load(const float *p) {
    return _mm512_loadu_ps(p);
}
UG_INLINE void vf_store(float *p, vf x) {
    _mm512_storeu_ps(p, x);
}
// First n lanes (0 <= n <= VL) of p; the others read as 0 and memory past p + n is not touched.
UG_INLINE vf vf_load_n(const float *p, int n) {
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
UG_INLINE void vf_store_n(float *p, vf x, int n) {
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), x);
}
UG_INLINE vf vf_set1(float a) {
    return _mm512_set1_ps(a);
}
UG_INLINE vf vf_zero(void) {
    return _mm512_setzero_ps();
}
UG_INLINE vf vf_add(vf a, vf b) {
    return _mm512_add_ps(a, b);
}
UG_INLINE vf vf_sub(vf a, vf b) {
    return _mm512_sub_ps(a, b);
}
UG_INLINE vf vf_mul(vf a, vf b) {
    return _mm512_mul_ps(a, b);
}
UG_INLINE vf vf_fma(vf a, vf b, vf c) {
    return _mm512_fmadd_ps(a, b, c);
} // a * b + c
// max/min return the second operand when either is NaN: pass the data second.
UG_INLINE vf vf_max(vf a, vf b) {
    return _mm512_max_ps(a, b);
}
UG_INLINE vf vf_min(vf a, vf b) {
    return _mm512_min_ps(a, b);
}
UG_INLINE float vf_hmax(vf a) {
    return _mm512_reduce_max_ps(a);
}
UG_INLINE float vf_hsum(vf a) {
    return _mm512_reduce_add_ps(a);
}
// Lanes whose byte in m[0..VL) is nonzero become -inf.
UG_INLINE vf vf_mask_u8(vf x, const uint8_t *m) {
    __m128i b = _mm_loadu_si128((const __m128i *)m);
    __mmask16 k = _mm_test_epi8_mask(b, b);
    return _mm512_mask_blend_ps(k, x, _mm512_set1_ps(-INFINITY));
}
UG_INLINE vf vf_exp(vf x) {
    __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(UG_EXP_XMIN), _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_set1_ps(UG_EXP_XMAX), x);
    vf n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(UG_EXP_LOG2E)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf r = _mm512_fnmadd_ps(n, _mm512_set1_ps(UG_EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(UG_EXP_LN2_LO), r);
    vf p = _mm512_set1_ps(UG_EXP_C7);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(UG_EXP_C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(UG_EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(UG_EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(UG_EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(UG_EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps((__mmask16)~tiny, p, n);
}

#else // AVX2 + FMA

enum { VL = 8 };
typedef __m256 vf;

// Sliding window over 8 ones then 8 zeros: loading at offset 8 - n gives the first-n mask.
static const int32_t ug_simd_tail_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

UG_INLINE __m256i vf_tail_mask_(int n) {
    return _mm256_loadu_si256((const __m256i *)(ug_simd_tail_mask + 8 - n));
}
UG_INLINE vf vf_load(const float *p) {
    return _mm256_loadu_ps(p);
}
UG_INLINE void vf_store(float *p, vf x) {
    _mm256_storeu_ps(p, x);
}
UG_INLINE vf vf_load_n(const float *p, int n) {
    return _mm256_maskload_ps(p, vf_tail_mask_(n));
}
UG_INLINE void vf_store_n(float *p, vf x, int n) {
    _mm256_maskstore_ps(p, vf_tail_mask_(n), x);
}
UG_INLINE vf vf_set1(float a) {
    return _mm256_set1_ps(a);
}
UG_INLINE vf vf_zero(void) {
    return _mm256_setzero_ps();
}
UG_INLINE vf vf_add(vf a, vf b) {
    return _mm256_add_ps(a, b);
}
UG_INLINE vf vf_sub(vf a, vf b) {
    return _mm256_sub_ps(a, b);
}
UG_INLINE vf vf_mul(vf a, vf b) {
    return _mm256_mul_ps(a, b);
}
UG_INLINE vf vf_fma(vf a, vf b, vf c) {
    return _mm256_fmadd_ps(a, b, c);
}
UG_INLINE vf vf_max(vf a, vf b) {
    return _mm256_max_ps(a, b);
}
UG_INLINE vf vf_min(vf a, vf b) {
    return _mm256_min_ps(a, b);
}
UG_INLINE float vf_hmax(vf a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
UG_INLINE float vf_hsum(vf a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
UG_INLINE vf vf_mask_u8(vf x, const uint8_t *m) {
    __m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)m));
    __m256i keep = _mm256_cmpeq_epi32(w, _mm256_setzero_si256());
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), x, _mm256_castsi256_ps(keep));
}
UG_INLINE vf vf_exp(vf x) {
    vf tiny = _mm256_cmp_ps(x, _mm256_set1_ps(UG_EXP_XMIN), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_set1_ps(UG_EXP_XMAX), x);
    vf n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(UG_EXP_LOG2E)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf r = _mm256_fnmadd_ps(n, _mm256_set1_ps(UG_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(UG_EXP_LN2_LO), r);
    vf p = _mm256_set1_ps(UG_EXP_C7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(UG_EXP_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(UG_EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(UG_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(UG_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(UG_EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    // 2^n built in the exponent field; n is in [-126, 127] here. NaN lanes keep p (NaN).
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    vf y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(tiny, y);
}

#endif

#endif
