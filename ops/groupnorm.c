// ops/groupnorm.c — GroupNorm: reference and AVX2 kernel (see groupnorm.h).
#include "ops/groupnorm.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/vmath.h"

void groupnorm_ref(float *y, const float *x, const float *w, const float *b, int64_t B, int64_t C, int64_t HW,
                   int groups, float eps) {
    int64_t cg = C / groups, n = cg * HW; // a group is cg whole channels: n contiguous values
    for (int64_t i = 0; i < B * groups; i++) {
        const float *xg = x + i * n;
        float *yg = y + i * n;
        double mean = 0.0, var = 0.0;
        for (int64_t k = 0; k < n; k++)
            mean += xg[k];
        mean /= (double)n;
        for (int64_t k = 0; k < n; k++)
            var += ((double)xg[k] - mean) * ((double)xg[k] - mean);
        var /= (double)n;
        double rstd = 1.0 / sqrt(var + (double)eps);
        for (int64_t k = 0; k < n; k++) {
            int64_t c = (i % groups) * cg + k / HW;
            yg[k] = (float)(((double)xg[k] - mean) * rstd * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
        }
    }
}

typedef struct {
    float *y;
    const float *x, *w, *b;
    int64_t C, HW, c0;    // c0: first (b, c) channel of the current wave
    double *mean, *m2;    // per (b, c): channel mean and sum of squared deviations
    float *gmean, *scale; // per (b, c) after merging: group mean - x[b, c, 0], rstd * w[c]
} gn_job;

static void gn_stats(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    gn_job *j = arg;
    for (int64_t i = j->c0 + begin; i < j->c0 + end; i++) {
        // Relative to the channel's first value (see vm_sum_shifted).
        const float *x = j->x + i * j->HW;
        float x0 = x[0];
        double m = vm_sum_shifted(x, j->HW, x0) / (double)j->HW;
        j->mean[i] = (double)x0 + m;
        j->m2[i] = vm_sum_sqdev(x, j->HW, x0, (float)m);
        // M2 was measured around the float-rounded m; move it to the exact one.
        double d = m - (double)(float)m;
        j->m2[i] -= (double)j->HW * d * d;
    }
}

static void gn_apply(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    gn_job *j = arg;
    int64_t HW = j->HW;
    for (int64_t i = j->c0 + begin; i < j->c0 + end; i++) {
        int64_t c = i % j->C;
        const float *x = j->x + i * HW;
        float *y = j->y + i * HW;
        float x0 = x[0], m = j->gmean[i], s = j->scale[i], sh = j->b ? j->b[c] : 0.0f;
        __m256 v0 = _mm256_set1_ps(x0), vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(s),
               vb = _mm256_set1_ps(sh);
        int64_t p = 0;
        for (; p + 8 <= HW; p += 8) {
            __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + p), v0), vm);
            _mm256_storeu_ps(y + p, _mm256_fmadd_ps(d, vs, vb));
        }
        for (; p < HW; p++)
            y[p] = ((x[p] - x0) - m) * s + sh;
    }
}

static const float *vec_or_null(const ug_tensor *t, int64_t C) {
    if (!t) return NULL;
    assert(t->dtype == UG_F32 && ug_tensor_numel(t) == C && ug_tensor_is_contiguous(t));
    (void)C;
    return t->data;
}

void groupnorm_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                   int groups, float eps) {
    assert(x->dtype == UG_F32 && y->dtype == UG_F32 && x->ndim == 4);
    assert(ug_tensor_is_contiguous(x) && ug_tensor_is_contiguous(y) && ug_tensor_same_shape(x, y));
    int64_t B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    assert(groups > 0 && C % groups == 0);
    if (B == 0 || C == 0 || HW == 0) return;
    int64_t BC = B * C, cg = C / groups;
    // Per-channel statistics: 2 doubles + 2 floats per (b, c), a few KB.
    void *mem = malloc((size_t)BC * (2 * sizeof(double) + 2 * sizeof(float)));
    if (!mem) ug_nomem_fatal("out of memory for the statistics of %lld groupnorm channels", (long long)BC);
    gn_job j = {y->data,
                x->data,
                vec_or_null(w, C),
                vec_or_null(b, C),
                C,
                HW,
                0,
                mem,
                (double *)mem + BC,
                (float *)((double *)mem + 2 * BC),
                (float *)((double *)mem + 2 * BC) + BC};
    // Groups go in waves of ~8 MB (at least 2 channels per thread when there are that many):
    // statistics, merge, then the affine pass while the wave is still in L3, so x comes from
    // memory once instead of twice.
    int64_t ngroups = B * groups, gbytes = cg * HW * (int64_t)sizeof(float);
    int64_t wave = (8 << 20) / gbytes;
    if (wave * cg < 2 * ctx->nthreads) wave = (2 * ctx->nthreads + cg - 1) / cg;
    if (wave < 1) wave = 1;
    int64_t grain = 1 + 16384 / HW;
    for (int64_t g0 = 0; g0 < ngroups; g0 += wave) {
        int64_t gn = ngroups - g0 < wave ? ngroups - g0 : wave;
        j.c0 = g0 * cg;
        ug_parallel_for(ctx->pool, gn * cg, grain, gn_stats, &j);
        // Merge the cg channels of each group (equal counts HW): mean = average of the
        // channel means, M2 = sum of channel M2 + HW * sum of squared offsets of the means.
        for (int64_t g = g0; g < g0 + gn; g++) {
            int64_t c0 = g * cg;
            double mean = 0.0, m2 = 0.0;
            for (int64_t k = 0; k < cg; k++)
                mean += j.mean[c0 + k];
            mean /= (double)cg;
            for (int64_t k = 0; k < cg; k++) {
                double d = j.mean[c0 + k] - mean;
                m2 += j.m2[c0 + k] + (double)HW * d * d;
            }
            double rstd = 1.0 / sqrt(m2 / (double)(cg * HW) + (double)eps);
            for (int64_t k = 0; k < cg; k++) {
                int64_t c = (c0 + k) % C;
                j.gmean[c0 + k] = (float)(mean - (double)j.x[(c0 + k) * HW]);
                j.scale[c0 + k] = (float)(rstd * (j.w ? j.w[c] : 1.0));
            }
        }
        ug_parallel_for(ctx->pool, gn * cg, grain, gn_apply, &j);
    }
    free(mem);
}
