// ops/activation.c — GELU, ReLU, sigmoid: references and AVX2 kernels (see activation.h).
#include "ops/activation.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>

#include "ops/vmath.h"

void gelu_ref(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(0.5 * v * erfc(-v / sqrt(2.0))); // = 0.5 v (1 + erf(v/sqrt2)), no cancellation
    }
}

void relu_ref(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i]; // NaN passes through
}

void sigmoid_ref(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}

static inline __m256 gelu8(__m256 x) {
    const __m256 half = _mm256_set1_ps(0.5f);
    // z = |x| / sqrt2; z^2 = x^2 / 2 split exactly, since erfc's error grows with that of z^2
    // (rounding z alone would cost ~2 z^2 ulp, 1e-6 relative at x = -3.7).
    __m256 z =
        _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.70710678118654752f));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 x2e = _mm256_fmsub_ps(x, x, x2);
    __m256 hc = _mm256_mul_ps(half, vm_erfc_split(z, _mm256_mul_ps(half, x2), _mm256_mul_ps(half, x2e)));
    __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
    __m256 h = _mm256_blendv_ps(hc, _mm256_sub_ps(_mm256_set1_ps(1.0f), hc), pos); // (1+erf)/2
    return _mm256_mul_ps(x, h);
}

static inline __m256 relu8(__m256 x) {
    // max(x, 0) with x second so that NaN passes through like torch.relu.
    return _mm256_max_ps(_mm256_setzero_ps(), x);
}

static inline __m256 sigmoid8(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, vm_exp(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// One span kernel per activation: full vectors, then the last < 8 elements through masked
// loads so that every element goes through the same arithmetic.
#define DEFINE_SPAN(name, f)                                                                                 \
    static void name(float *y, const float *x, int64_t n) {                                                  \
        int64_t i = 0;                                                                                       \
        for (; i + 8 <= n; i += 8)                                                                           \
            _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));                                              \
        if (i < n) {                                                                                         \
            __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);                                        \
            __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), lane);                           \
            _mm256_maskstore_ps(y + i, m, f(_mm256_maskload_ps(x + i, m)));                                  \
        }                                                                                                    \
    }
DEFINE_SPAN(gelu_span, gelu8)
DEFINE_SPAN(relu_span, relu8)
DEFINE_SPAN(sigmoid_span, sigmoid8)

typedef struct {
    float *y;
    const float *x;
    void (*span)(float *y, const float *x, int64_t n);
    int64_t n;
} act_job;

enum { ACT_CHUNK = 16384 }; // elements per work item: 64 KB in, 64 KB out

static void act_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    act_job *j = arg;
    int64_t lo = begin * ACT_CHUNK, hi = end * ACT_CHUNK < j->n ? end * ACT_CHUNK : j->n;
    j->span(j->y + lo, j->x + lo, hi - lo);
}

static void act_run(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x,
                    void (*span)(float *, const float *, int64_t)) {
    assert(x->dtype == UG_F32 && y->dtype == UG_F32);
    assert(ug_tensor_is_contiguous(x) && ug_tensor_is_contiguous(y));
    assert(ug_tensor_numel(x) == ug_tensor_numel(y));
    act_job j = {y->data, x->data, span, ug_tensor_numel(x)};
    ug_parallel_for(ctx->pool, (j.n + ACT_CHUNK - 1) / ACT_CHUNK, 1, act_range, &j);
}

void gelu_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    act_run(ctx, y, x, gelu_span);
}
void relu_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    act_run(ctx, y, x, relu_span);
}
void sigmoid_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    act_run(ctx, y, x, sigmoid_span);
}
