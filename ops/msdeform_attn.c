// ops/msdeform_attn.c — see msdeform_attn.h.
#include "ops/msdeform_attn.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>

// Source pixel coordinate of a location in [0, 1] units, as grid_sample's CPU kernel forms it
// from grid = 2 * loc - 1 (float32 throughout).
static inline float msda_source(float loc, int64_t size) {
    float g = 2.0f * loc - 1.0f;
    return (g + 1.0f) * ((float)size / 2.0f) - 0.5f;
}

void msdeform_attn_ref(float *out, const float *value, const int64_t (*shapes)[2], int64_t L, int64_t P,
                       const float *loc, const float *aw, int64_t B, int64_t Nq, int64_t M, int64_t D) {
    int64_t S = 0;
    for (int64_t l = 0; l < L; l++)
        S += shapes[l][0] * shapes[l][1];
    for (int64_t b = 0; b < B; b++)
        for (int64_t q = 0; q < Nq; q++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t d = 0; d < D; d++) {
                    double acc = 0.0;
                    int64_t start = 0;
                    for (int64_t l = 0; l < L; l++) {
                        int64_t H = shapes[l][0], W = shapes[l][1];
                        for (int64_t p = 0; p < P; p++) {
                            int64_t i = ((b * Nq + q) * M + m) * L * P + l * P + p;
                            double ix = msda_source(loc[2 * i], W), iy = msda_source(loc[2 * i + 1], H);
                            if (!(isfinite(ix) && isfinite(iy) && fabs(ix) < 1e15 && fabs(iy) < 1e15))
                                continue;
                            double fx = floor(ix), fy = floor(iy), s = 0.0;
                            for (int k = 0; k < 4; k++) {
                                double cx = fx + (k & 1), cy = fy + (k >> 1);
                                if (cx < 0 || cx >= (double)W || cy < 0 || cy >= (double)H) continue;
                                double wx = (k & 1) ? ix - fx : fx + 1.0 - ix;
                                double wy = (k >> 1) ? iy - fy : fy + 1.0 - iy;
                                int64_t tok = start + (int64_t)cy * W + (int64_t)cx;
                                s += (double)value[((b * S + tok) * M + m) * D + d] * wx * wy;
                            }
                            acc += (double)aw[i] * s;
                        }
                        start += H * W;
                    }
                    out[((b * Nq + q) * M + m) * D + d] = (float)acc;
                }
}

typedef struct msda_job {
    float *out;
    const float *value, *loc, *aw;
    const int64_t (*shapes)[2];
    const int64_t *start; // [L] first token of each level
    int64_t L, P, S, Nq, M, D;
} msda_job;

// Per (query, head): the corner taps of every level and point are formed first (pointer to
// the corner's D-vector and its weight, grid_sample's bilinear weight times the attention
// weight), then each 8-wide slice of the output is accumulated over all taps in registers and
// stored once, so the gathers of different taps overlap instead of waiting on one another.
enum { MSDA_TAP_BLOCK = 256 }; // taps per pass (4 corners x L x P; 48 for 3 levels x 4 points)

static void msda_accumulate(float *out, const float *const *v, const float *a, int64_t n, int64_t D,
                            bool first) {
    int64_t d = 0;
    for (; d + 16 <= D; d += 16) {
        __m256 s0 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(out + d);
        __m256 s1 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(out + d + 8);
        for (int64_t k = 0; k < n; k++) {
            __m256 w = _mm256_set1_ps(a[k]);
            s0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v[k] + d), s0);
            s1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v[k] + d + 8), s1);
        }
        _mm256_storeu_ps(out + d, s0);
        _mm256_storeu_ps(out + d + 8, s1);
    }
    for (; d + 8 <= D; d += 8) {
        __m256 s0 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(out + d);
        for (int64_t k = 0; k < n; k++)
            s0 = _mm256_fmadd_ps(_mm256_set1_ps(a[k]), _mm256_loadu_ps(v[k] + d), s0);
        _mm256_storeu_ps(out + d, s0);
    }
    for (; d < D; d++) {
        float s0 = first ? 0.0f : out[d];
        for (int64_t k = 0; k < n; k++)
            s0 += a[k] * v[k][d];
        out[d] = s0;
    }
}

static void msda_rows(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const msda_job *j = arg;
    int64_t L = j->L, P = j->P, M = j->M, D = j->D, LP = L * P;
    const float *tv[MSDA_TAP_BLOCK];
    float ta[MSDA_TAP_BLOCK];
    for (int64_t r = begin; r < end; r++) { // r = b * Nq + q
        int64_t b = r / j->Nq;
        const float *vb = j->value + b * j->S * M * D;
        for (int64_t m = 0; m < M; m++) {
            float *out = j->out + (r * M + m) * D;
            const float *lr = j->loc + (r * M + m) * LP * 2, *ar = j->aw + (r * M + m) * LP;
            int64_t n = 0;
            bool first = true;
            for (int64_t i = 0; i < LP; i++) {
                int64_t l = i / P, H = j->shapes[l][0], W = j->shapes[l][1];
                float ix = msda_source(lr[2 * i], W), iy = msda_source(lr[2 * i + 1], H);
                // Far outside (or NaN): every corner is outside; keeps the int conversion defined.
                if (!(ix > -2.0f && ix < (float)W + 1.0f && iy > -2.0f && iy < (float)H + 1.0f)) continue;
                float fx = floorf(ix), fy = floorf(iy);
                float w = ix - fx, e = 1.0f - w, nn = iy - fy, s = 1.0f - nn, a = ar[i];
                // grid_sample's weights, then the attention weight (PyTorch multiplies the
                // sampled value by it; folding it into the corner weights moves ~1 ulp).
                float wt[4] = {s * e * a, s * w * a, nn * e * a, nn * w * a};
                const float *vl = vb + j->start[l] * M * D + m * D;
                int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
                for (int k = 0; k < 4; k++) {
                    int64_t cx = x0 + (k & 1), cy = y0 + (k >> 1);
                    if (cx < 0 || cx >= W || cy < 0 || cy >= H) continue; // zero padding
                    tv[n] = vl + (cy * W + cx) * M * D;
                    ta[n++] = wt[k];
                }
                if (n > MSDA_TAP_BLOCK - 4) {
                    msda_accumulate(out, tv, ta, n, D, first);
                    first = false;
                    n = 0;
                }
            }
            msda_accumulate(out, tv, ta, n, D, first);
        }
    }
}

void msdeform_attn_cpu(ug_ctx *ctx, ug_tensor *out, const ug_tensor *value, const int64_t (*shapes)[2],
                       int64_t L, const ug_tensor *loc, const ug_tensor *aw) {
    assert(value->dtype == UG_F32 && loc->dtype == UG_F32 && aw->dtype == UG_F32 && out->dtype == UG_F32);
    assert(value->ndim == 4 && loc->ndim == 5 && aw->ndim == 4 && out->ndim == 3 && L >= 1);
    assert(ug_tensor_is_contiguous(value) && ug_tensor_is_contiguous(loc) && ug_tensor_is_contiguous(aw) &&
           ug_tensor_is_contiguous(out));
    int64_t B = value->shape[0], S = value->shape[1], M = value->shape[2], D = value->shape[3];
    int64_t Nq = loc->shape[1], LP = loc->shape[3];
    assert(loc->shape[0] == B && loc->shape[2] == M && loc->shape[4] == 2 && LP % L == 0);
    assert(aw->shape[0] == B && aw->shape[1] == Nq && aw->shape[2] == M && aw->shape[3] == LP);
    assert(out->shape[0] == B && out->shape[1] == Nq && out->shape[2] == M * D);
    enum { MAX_LEVELS = 64 };
    assert(L <= MAX_LEVELS);
    int64_t start[MAX_LEVELS], total = 0;
    for (int64_t l = 0; l < L; l++) {
        start[l] = total;
        total += shapes[l][0] * shapes[l][1];
    }
    assert(total == S);
    (void)S;
    if (B * Nq == 0) return;
    msda_job job = {out->data, value->data, loc->data, aw->data, shapes, start, L, LP / L, total, Nq, M, D};
    int64_t rows = B * Nq;
    int64_t nt = ctx && ctx->nthreads > 0 ? ctx->nthreads : 1;
    // About 8 chunks per thread for balance, but at least ~2k multiply-adds per chunk.
    int64_t grain = (rows + 8 * nt - 1) / (8 * nt);
    int64_t min_grain = 2048 / (M * LP * D * 4 + 1) + 1;
    if (grain < min_grain) grain = min_grain;
    ug_parallel_for(ctx ? ctx->pool : NULL, rows, grain, msda_rows, &job);
}
