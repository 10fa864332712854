// ops/vmath.h — 8-wide AVX2 helpers: exp and erfc for the pointwise kernels (GELU, sigmoid;
// a softmax may use vm_exp too), blocked float sums for the normalisations, and the loads and
// the 8x8 transpose that packing and copying kernels share. Header-only
// so that every caller inlines them.
//
// Accuracy, measured against libm in double at every float of the range they accept:
//   vm_exp:  |rel err| < 1.2e-7 (1.3 ulp) for x in [-87.3, 88.3]; below -87.3 the
//            result is 0, above 88.3 it is +inf (real expf overflows at 88.72).
//   vm_erfc: |rel err| < 4.3e-7 (6.5 ulp, worst near z = 0.73) for z in [0, 9.2]; 0 beyond 9.2 (erfc(9.2) is
//            below the smallest normal float). Negative z is not accepted: callers use
//            erfc(|z|) and the symmetry erf(-z) = -erf(z).
// Both were designed for this project: the polynomial coefficients below are Chebyshev fits
// made with mpmath (chebyfit, 40 digits) to the functions named in the comments.
#ifndef UG_OPS_VMATH_H
#define UG_OPS_VMATH_H

#include <immintrin.h>
#include <stdint.h>

// Horizontal sum of 8 lanes, in double.
static inline double vm_hsum(__m256 v) {
    __m256d a = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                              _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

// e^x. Range reduction x = n ln2 + r, |r| <= ln2 / 2, e^r = 1 + r + r^2 h(r) with h a
// degree-4 fit of (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2] (abs err 7.8e-9), times 2^n built
// in the exponent field.
static inline __m256 vm_exp(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.3f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // ln2 split in a float and the float nearest the rest: r = x - n ln2 to about 1e-9.
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693147182464599609375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-1.904654323148236e-09f), r);
    __m256 h = _mm256_set1_ps(1.392617612e-03f);
    h = _mm256_fmadd_ps(h, r, _mm256_set1_ps(8.363173075e-03f));
    h = _mm256_fmadd_ps(h, r, _mm256_set1_ps(4.166655466e-02f));
    h = _mm256_fmadd_ps(h, r, _mm256_set1_ps(1.666657703e-01f));
    h = _mm256_fmadd_ps(h, r, _mm256_set1_ps(0.5f));
    __m256 p = _mm256_fmadd_ps(_mm256_mul_ps(r, r), h, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_andnot_ps(under, y);
    y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), over);
    // NaN in, NaN out (the clamps above would have turned it into a number).
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// erfc(z) for z >= 0 given also z^2 = s + e split exactly (s the rounded square, e the
// rest): t e^{-z^2} Q(t) with t = 1 / (1 + z/2) and Q a degree-10 fit of erfc(z) e^{z^2} / t
// on z in [0, 9.25] (abs err 1.9e-9 on values in [0.28, 1]). e^{-z^2} = e^{-s} (1 - e): its
// relative sensitivity to z^2 is z^2 itself (up to 85 here), so z^2 must not be rounded;
// Q(t) is insensitive (relative sensitivity <= 1) and takes the rounded z.
static inline __m256 vm_erfc_split(__m256 z, __m256 s, __m256 e) {
    const __m256 zmax = _mm256_set1_ps(9.2f);
    __m256 beyond = _mm256_cmp_ps(z, zmax, _CMP_GT_OQ);
    z = _mm256_min_ps(z, zmax);
    s = _mm256_min_ps(s, _mm256_set1_ps(9.2f * 9.2f));
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), one));
    __m256 q = _mm256_set1_ps(3.052528781e-02f);
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.602863764e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(3.024271509e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.727973555e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.317661187e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.038346371e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(2.631956736e-02f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.934590576e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(2.438143609e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(2.823869926e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(2.820827982e-01f));
    __m256 g = _mm256_mul_ps(vm_exp(_mm256_sub_ps(_mm256_setzero_ps(), s)), _mm256_sub_ps(one, e));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(t, q), g);
    return _mm256_andnot_ps(beyond, y);
}

// erfc(z) for z >= 0.
static inline __m256 vm_erfc(__m256 z) {
    __m256 s = _mm256_mul_ps(z, z);
    return vm_erfc_split(z, s, _mm256_fmsub_ps(z, z, s));
}

// Sums for mean and variance. Values are taken relative to a shift (normalisations pass the
// row's first value): x - shift is exact for values near it, and the float partial sums then
// carry the spread of the data instead of its offset, so a mean of 0.3 with std 1e-3 is not
// lost to the rounding of 0.3. 8-lane float partial sums over blocks of 512 elements, each
// block's total added in double.

// Sum of (x[i] - shift) over x[0..n), in double.
static inline double vm_sum_shifted(const float *x, int64_t n, float shift) {
    double total = 0.0;
    __m256 s = _mm256_set1_ps(shift);
    int64_t i = 0;
    while (i + 32 <= n) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t end = i + 512 <= n ? i + 512 : n - (n - i) % 32;
        for (; i < end; i += 32) {
            a0 = _mm256_add_ps(a0, _mm256_sub_ps(_mm256_loadu_ps(x + i), s));
            a1 = _mm256_add_ps(a1, _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), s));
            a2 = _mm256_add_ps(a2, _mm256_sub_ps(_mm256_loadu_ps(x + i + 16), s));
            a3 = _mm256_add_ps(a3, _mm256_sub_ps(_mm256_loadu_ps(x + i + 24), s));
        }
        total += vm_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
    for (; i < n; i++)
        total += (double)(x[i] - shift);
    return total;
}

// Sum of ((x[i] - shift) - m)^2 over x[0..n), blocked like vm_sum_shifted; m is the mean
// minus the shift.
static inline double vm_sum_sqdev(const float *x, int64_t n, float shift, float m) {
    double total = 0.0;
    __m256 s = _mm256_set1_ps(shift), vm = _mm256_set1_ps(m);
    int64_t i = 0;
    while (i + 32 <= n) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t end = i + 512 <= n ? i + 512 : n - (n - i) % 32;
        for (; i < end; i += 32) {
            __m256 d0 = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), s), vm);
            __m256 d1 = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), s), vm);
            __m256 d2 = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 16), s), vm);
            __m256 d3 = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 24), s), vm);
            a0 = _mm256_fmadd_ps(d0, d0, a0);
            a1 = _mm256_fmadd_ps(d1, d1, a1);
            a2 = _mm256_fmadd_ps(d2, d2, a2);
            a3 = _mm256_fmadd_ps(d3, d3, a3);
        }
        total += vm_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
    for (; i < n; i++) {
        double d = (double)((x[i] - shift) - m);
        total += d * d;
    }
    return total;
}

// 8 consecutive BF16 / F16 values widened to f32 (BF16 is the top half of an f32; F16 via F16C).
static inline __m256 vm_load8_bf16(const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
static inline __m256 vm_load8_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

// In-register transpose of 8 rows of 8 floats.
static inline void vm_transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

#endif
