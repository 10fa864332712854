// ops/argmax.c — see argmax.h.
#include "ops/argmax.h"

#include <assert.h>
#include <immintrin.h>
#include <stdbool.h>

// torch.argmax order: v replaces the running best when it is larger, or when it is NaN and the
// best is not (NaN is the maximum; the first one stays).
static inline bool argmax_takes(float v, float best) {
    return best == best && (v > best || v != v);
}

void argmax_ref(int32_t *y, const float *x, int64_t B, int64_t C, int64_t HW) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < HW; i++) {
            float best = x[b * C * HW + i];
            int32_t bi = 0;
            for (int64_t c = 1; c < C; c++) {
                float v = x[(b * C + c) * HW + i];
                if (argmax_takes(v, best)) {
                    best = v;
                    bi = (int32_t)c;
                }
            }
            y[b * HW + i] = bi;
        }
}

typedef struct argmax_job {
    ug_tensor *y;
    const ug_tensor *x;
} argmax_job;

static void store_index(const ug_tensor *y, char *row, int64_t w, int32_t v) {
    if (y->dtype == UG_I32)
        ((int32_t *)row)[w * y->stride[2]] = v;
    else
        ((uint8_t *)row)[w * y->stride[2]] = (uint8_t)v;
}

// One (b, h) row of W pixels per iteration; 32 pixels at a time in registers, channels inner.
static void argmax_rows(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const argmax_job *job = arg;
    const ug_tensor *x = job->x, *y = job->y;
    int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t sc = x->stride[1], sw = x->stride[3];
    size_t yes = y->dtype == UG_I32 ? 4 : 1;
    for (int64_t r = begin; r < end; r++) {
        int64_t b = r / H, h = r % H;
        const float *xr = (const float *)x->data + b * x->stride[0] + h * x->stride[2];
        char *yr = (char *)y->data + (b * y->stride[0] + h * y->stride[1]) * (int64_t)yes;
        int64_t w = 0;
        if (sw == 1) {
            for (; w + 32 <= W; w += 32) {
                __m256 best[4];
                __m256i bi[4];
                for (int k = 0; k < 4; k++) {
                    best[k] = _mm256_loadu_ps(xr + w + 8 * k);
                    bi[k] = _mm256_setzero_si256();
                }
                for (int64_t c = 1; c < C; c++) {
                    __m256i cv = _mm256_set1_epi32((int)c);
                    for (int k = 0; k < 4; k++) {
                        __m256 v = _mm256_loadu_ps(xr + c * sc + w + 8 * k);
                        __m256 take =
                            _mm256_or_ps(_mm256_cmp_ps(v, best[k], _CMP_GT_OQ),
                                         _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q),
                                                       _mm256_cmp_ps(best[k], best[k], _CMP_ORD_Q)));
                        best[k] = _mm256_blendv_ps(best[k], v, take);
                        bi[k] = _mm256_castps_si256(
                            _mm256_blendv_ps(_mm256_castsi256_ps(bi[k]), _mm256_castsi256_ps(cv), take));
                    }
                }
                if (y->dtype == UG_I32 && y->stride[2] == 1) {
                    for (int k = 0; k < 4; k++)
                        _mm256_storeu_si256((__m256i *)((int32_t *)yr + w + 8 * k), bi[k]);
                } else {
                    int32_t tmp[32];
                    for (int k = 0; k < 4; k++)
                        _mm256_storeu_si256((__m256i *)(tmp + 8 * k), bi[k]);
                    for (int i = 0; i < 32; i++)
                        store_index(y, yr, w + i, tmp[i]);
                }
            }
        }
        for (; w < W; w++) {
            float best = xr[w * sw];
            int32_t bi = 0;
            for (int64_t c = 1; c < C; c++) {
                float v = xr[c * sc + w * sw];
                if (argmax_takes(v, best)) {
                    best = v;
                    bi = (int32_t)c;
                }
            }
            store_index(y, yr, w, bi);
        }
    }
}

void argmax_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    assert(x->dtype == UG_F32 && x->ndim == 4 && y->ndim == 3);
    assert(y->dtype == UG_I32 || (y->dtype == UG_U8 && x->shape[1] <= 256));
    assert(y->shape[0] == x->shape[0] && y->shape[1] == x->shape[2] && y->shape[2] == x->shape[3]);
    assert(x->shape[1] >= 1);
    int64_t rows = x->shape[0] * x->shape[2];
    if (rows == 0 || x->shape[3] == 0) return;
    argmax_job job = {y, x};
    ug_parallel_for(ctx ? ctx->pool : NULL, rows, 4, argmax_rows, &job);
}
