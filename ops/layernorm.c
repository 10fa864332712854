// ops/layernorm.c — LayerNorm and LayerNorm2d: references and AVX2 kernels (see layernorm.h).
#include "ops/layernorm.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>

#include "ops/vmath.h"

void layernorm_ref(float *y, const float *x, const float *w, const float *b, int64_t rows, int64_t C,
                   float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        double mean = 0.0, var = 0.0;
        for (int64_t c = 0; c < C; c++)
            mean += xr[c];
        mean /= (double)C;
        for (int64_t c = 0; c < C; c++)
            var += ((double)xr[c] - mean) * ((double)xr[c] - mean);
        var /= (double)C;
        double rstd = 1.0 / sqrt(var + (double)eps);
        for (int64_t c = 0; c < C; c++)
            yr[c] = (float)(((double)xr[c] - mean) * rstd * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
    }
}

void layernorm2d_ref(float *y, const float *x, const float *w, const float *b, int64_t B, int64_t C,
                     int64_t HW, float eps) {
    for (int64_t n = 0; n < B; n++) {
        for (int64_t p = 0; p < HW; p++) {
            const float *xp = x + n * C * HW + p; // channel c at xp[c * HW]
            float *yp = y + n * C * HW + p;
            double mean = 0.0, var = 0.0;
            for (int64_t c = 0; c < C; c++)
                mean += xp[c * HW];
            mean /= (double)C;
            for (int64_t c = 0; c < C; c++)
                var += ((double)xp[c * HW] - mean) * ((double)xp[c * HW] - mean);
            var /= (double)C;
            double rstd = 1.0 / sqrt(var + (double)eps);
            for (int64_t c = 0; c < C; c++)
                yp[c * HW] =
                    (float)(((double)xp[c * HW] - mean) * rstd * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
        }
    }
}

static const float *vec_or_null(const ug_tensor *t, int64_t C) {
    if (!t) return NULL;
    assert(t->dtype == UG_F32 && ug_tensor_numel(t) == C && ug_tensor_is_contiguous(t));
    (void)C;
    return t->data;
}

// ---- LayerNorm over the last dim: one row per iteration, two passes over the row (mean,
// then squared deviations: no cancellation), then one pass writing y. The row is read
// before it is written, so y may be x.

typedef struct {
    float *y;
    const float *x, *w, *b;
    int64_t C;
    float eps;
} ln_job;

static void ln_rows(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const ln_job *j = arg;
    int64_t C = j->C;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * C;
        float *y = j->y + r * C;
        // Everything relative to the row's first value (see vm_sum_shifted): y uses
        // d = (x - x0) - m with m = mean - x0.
        float x0 = x[0];
        float m = (float)(vm_sum_shifted(x, C, x0) / (double)C);
        double var = vm_sum_sqdev(x, C, x0, m) / (double)C;
        float rstd = (float)(1.0 / sqrt(var + (double)j->eps));
        __m256 v0 = _mm256_set1_ps(x0), vm = _mm256_set1_ps(m), vr = _mm256_set1_ps(rstd);
        int64_t c = 0;
        if (j->w && j->b) {
            for (; c + 8 <= C; c += 8) {
                __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), v0), vm), vr);
                _mm256_storeu_ps(y + c,
                                 _mm256_fmadd_ps(d, _mm256_loadu_ps(j->w + c), _mm256_loadu_ps(j->b + c)));
            }
        }
        for (; c < C; c++)
            y[c] = ((x[c] - x0) - m) * rstd * (j->w ? j->w[c] : 1.0f) + (j->b ? j->b[c] : 0.0f);
    }
}

void layernorm_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                   float eps) {
    assert(x->dtype == UG_F32 && y->dtype == UG_F32 && x->ndim >= 1);
    assert(ug_tensor_is_contiguous(x) && ug_tensor_is_contiguous(y) && ug_tensor_same_shape(x, y));
    int64_t C = x->shape[x->ndim - 1];
    if (C == 0) return;
    ln_job j = {y->data, x->data, vec_or_null(w, C), vec_or_null(b, C), C, eps};
    int64_t rows = ug_tensor_numel(x) / C;
    ug_parallel_for(ctx->pool, rows, 1 + 8192 / C, ln_rows, &j);
}

// ---- LayerNorm2d: the C values of a pixel are HW apart, so a vector holds 8 neighbouring
// pixels and the reductions over C are plain vertical adds. A work item is a block of up to
// LN2D_BLOCK pixels of one image; its C x LN2D_BLOCK floats (64 KB at C = 256) stay in L2
// across the three passes.

enum { LN2D_BLOCK = 64, LN2D_VECS = LN2D_BLOCK / 8 };

typedef struct {
    float *y;
    const float *x, *w, *b;
    int64_t C, HW, blocks_per_image;
    float eps;
} ln2d_job;

// One pixel at a time (the HW % 8 tail), double accumulation.
static void ln2d_pixel(const ln2d_job *j, const float *x, float *y) {
    int64_t C = j->C, HW = j->HW;
    double mean = 0.0, var = 0.0;
    for (int64_t c = 0; c < C; c++)
        mean += x[c * HW];
    mean /= (double)C;
    for (int64_t c = 0; c < C; c++)
        var += ((double)x[c * HW] - mean) * ((double)x[c * HW] - mean);
    float rstd = (float)(1.0 / sqrt(var / (double)C + (double)j->eps));
    float x0 = x[0], m = (float)(mean - x0); // relative to channel 0, like the vector path
    for (int64_t c = 0; c < C; c++)
        y[c * HW] = ((x[c * HW] - x0) - m) * rstd * (j->w ? j->w[c] : 1.0f) + (j->b ? j->b[c] : 0.0f);
}

static void ln2d_blocks(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const ln2d_job *j = arg;
    int64_t C = j->C, HW = j->HW;
    __m256 invC = _mm256_set1_ps(1.0f / (float)C), veps = _mm256_set1_ps(j->eps), one = _mm256_set1_ps(1.0f);
    for (int64_t it = begin; it < end; it++) {
        int64_t n = it / j->blocks_per_image, p0 = (it % j->blocks_per_image) * LN2D_BLOCK;
        int64_t np = HW - p0 < LN2D_BLOCK ? HW - p0 : LN2D_BLOCK;
        const float *x = j->x + n * C * HW + p0;
        float *y = j->y + n * C * HW + p0;
        int nv = (int)(np / 8);
        // Values relative to channel 0 of each pixel (x0), as in vm_sum_shifted: the float
        // sums then hold the spread over C, not the offset. m = mean - x0.
        __m256 x0[LN2D_VECS], m[LN2D_VECS], rstd[LN2D_VECS];
        for (int v = 0; v < nv; v++) {
            x0[v] = _mm256_loadu_ps(x + 8 * v);
            m[v] = _mm256_setzero_ps();
        }
        for (int64_t c = 1; c < C; c++)
            for (int v = 0; v < nv; v++)
                m[v] = _mm256_add_ps(m[v], _mm256_sub_ps(_mm256_loadu_ps(x + c * HW + 8 * v), x0[v]));
        for (int v = 0; v < nv; v++) {
            m[v] = _mm256_mul_ps(m[v], invC);
            rstd[v] = _mm256_setzero_ps();
        }
        for (int64_t c = 0; c < C; c++) {
            for (int v = 0; v < nv; v++) {
                __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c * HW + 8 * v), x0[v]), m[v]);
                rstd[v] = _mm256_fmadd_ps(d, d, rstd[v]);
            }
        }
        // 1 / sqrt in full precision (not rsqrt's 12 bits).
        for (int v = 0; v < nv; v++)
            rstd[v] = _mm256_div_ps(one, _mm256_sqrt_ps(_mm256_fmadd_ps(rstd[v], invC, veps)));
        for (int64_t c = 0; c < C; c++) {
            __m256 wc = _mm256_set1_ps(j->w ? j->w[c] : 1.0f), bc = _mm256_set1_ps(j->b ? j->b[c] : 0.0f);
            for (int v = 0; v < nv; v++) {
                __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c * HW + 8 * v), x0[v]), m[v]);
                _mm256_storeu_ps(y + c * HW + 8 * v, _mm256_fmadd_ps(_mm256_mul_ps(d, rstd[v]), wc, bc));
            }
        }
        for (int64_t p = 8 * nv; p < np; p++)
            ln2d_pixel(j, x + p, y + p);
    }
}

void layernorm2d_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                     float eps) {
    assert(x->dtype == UG_F32 && y->dtype == UG_F32 && x->ndim == 4);
    assert(ug_tensor_is_contiguous(x) && ug_tensor_is_contiguous(y) && ug_tensor_same_shape(x, y));
    int64_t B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    if (B == 0 || C == 0 || HW == 0) return;
    ln2d_job j = {
        y->data, x->data, vec_or_null(w, C), vec_or_null(b, C), C, HW, (HW + LN2D_BLOCK - 1) / LN2D_BLOCK,
        eps};
    ug_parallel_for(ctx->pool, B * j.blocks_per_image, 1, ln2d_blocks, &j);
}
