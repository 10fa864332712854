// ops/rba_score.c — see rba_score.h. The fused kernel never holds the upsampled [Q, Ht, Wt]
// stack (800 MB for the release model at 1024 x 2048): threads work on bands of output rows.
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pool.h"
#include "ops/activation.h"
#include "ops/gemm.h"
#include "ops/rba_score.h"
#include "ops/resize.h"
#include "ops/softmax.h"

// F.interpolate(bilinear, align_corners=False) source taps of output indices [0, count) for
// n_in -> n_out, with the exact float/double rule of golden/README.md (and ops/resize.h):
// scale in float, source position in double, weights rounded to float.
static void axis_taps(int64_t n_in, int64_t n_out, int64_t count, int32_t *i0, int32_t *i1, float *l0,
                      float *l1) {
    float scale = (float)n_in / (float)n_out;
    for (int64_t i = 0; i < count; i++) {
        double src = (double)scale * ((double)i + 0.5) - 0.5;
        if (src < 0) src = 0;
        int64_t a = (int64_t)src;
        if (a > n_in - 1) a = n_in - 1;
        i0[i] = (int32_t)a;
        i1[i] = (int32_t)(a < n_in - 1 ? a + 1 : a);
        l1[i] = (float)(src - (double)a);
        l0[i] = (float)(1.0 - (src - (double)a));
    }
}

void rba_score_ref(float *score, uint8_t *semantic, const float *logits, const float *masks, int64_t Q,
                   int64_t K, int64_t h, int64_t w, int64_t Ht, int64_t Wt, int64_t H, int64_t W) {
    double *p = malloc((size_t)(Q * K) * sizeof *p);        // [Q, K] class probabilities, no-object dropped
    float *up = malloc((size_t)(Q * Ht * Wt) * sizeof *up); // [Q, Ht, Wt]
    double *s = malloc((size_t)K * sizeof *s);
    for (int64_t q = 0; q < Q; q++) {
        const float *l = logits + q * (K + 1);
        double mx = l[0], sum = 0;
        for (int64_t k = 1; k <= K; k++)
            mx = l[k] > mx ? l[k] : mx;
        for (int64_t k = 0; k <= K; k++)
            sum += exp((double)l[k] - mx);
        for (int64_t k = 0; k < K; k++)
            p[q * K + k] = exp((double)l[k] - mx) / sum;
    }
    resize_bilinear_ref(up, masks, Q, h, w, Ht, Wt, false);
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            double total = 0;
            int best = 0;
            for (int64_t k = 0; k < K; k++) {
                s[k] = 0;
                for (int64_t q = 0; q < Q; q++)
                    s[k] += p[q * K + k] / (1.0 + exp(-(double)up[(q * Ht + y) * Wt + x]));
                total += s[k];
                if (s[k] > s[best]) best = (int)k;
            }
            score[y * W + x] = (float)-total;
            if (semantic) semantic[y * W + x] = (uint8_t)best;
        }
    free(p);
    free(up);
    free(s);
}

typedef struct score_job {
    ug_ctx *ctx;
    const float *probs;          // [Q, K+1] softmax of the logits (column K unused)
    const float *masks;          // [Q, h, w]
    int64_t Q, K, h, w, H, W, R; // R output rows per band
    int64_t nsrc;                // most source rows a band reads
    const int32_t *x0, *x1, *y0, *y1;
    const float *lx0, *lx1, *ly0, *ly1;
    float *buf;         // per thread: S [Q, R*W], semseg [K, R*W], best [R*W], hrows [nsrc, W],
                        // bestk (I32) [R*W]
    int64_t buf_floats; // floats per thread (a multiple of 16)
    float *score;       // [H, W]
    uint8_t *semantic;  // [H, W] or NULL
} score_job;

// hrow[x] = a[x0[x]] * lx0[x] + a[x1[x]] * lx1[x]: one source row interpolated horizontally.
// Products and sum rounded separately (no FMA), as the scalar formula: the results are the
// same bits either way.
static void hinterp(float *restrict hrow, const float *a, const int32_t *x0, const int32_t *x1,
                    const float *lx0, const float *lx1, int64_t W) {
    int64_t x = 0;
    for (; x + 8 <= W; x += 8) {
        __m256 v0 = _mm256_i32gather_ps(a, _mm256_loadu_si256((const __m256i *)(x0 + x)), 4);
        __m256 v1 = _mm256_i32gather_ps(a, _mm256_loadu_si256((const __m256i *)(x1 + x)), 4);
        __m256 p0 = _mm256_mul_ps(v0, _mm256_loadu_ps(lx0 + x)),
               p1 = _mm256_mul_ps(v1, _mm256_loadu_ps(lx1 + x));
        _mm256_storeu_ps(hrow + x, _mm256_add_ps(p0, p1));
    }
    for (; x < W; x++)
        hrow[x] = a[x0[x]] * lx0[x] + a[x1[x]] * lx1[x];
}

// o[x] = a[x] * ly0 + b[x] * ly1 (the vertical step, rounded like the scalar formula).
static void vinterp(float *restrict o, const float *a, const float *b, float ly0, float ly1, int64_t W) {
    __m256 w0 = _mm256_set1_ps(ly0), w1 = _mm256_set1_ps(ly1);
    int64_t x = 0;
    for (; x + 8 <= W; x += 8)
        _mm256_storeu_ps(o + x, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(a + x), w0),
                                              _mm256_mul_ps(_mm256_loadu_ps(b + x), w1)));
    for (; x < W; x++)
        o[x] = a[x] * ly0 + b[x] * ly1;
}

// Over the K rows of semseg [K, n]: sc = -sum_k (k in order), best index = the first k reaching
// the maximum (strictly greater replaces). bestv is scratch [n].
static void reduce_classes(float *restrict sc, int32_t *restrict bestk, float *restrict bestv,
                           const float *ss, int64_t K, int64_t n) {
    int64_t p = 0;
    for (; p + 8 <= n; p += 8) {
        __m256 sum = _mm256_loadu_ps(ss + p), best = sum;
        __m256i idx = _mm256_setzero_si256();
        for (int64_t k = 1; k < K; k++) {
            __m256 v = _mm256_loadu_ps(ss + k * n + p);
            sum = _mm256_add_ps(sum, v);
            __m256 gt = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
            best = _mm256_blendv_ps(best, v, gt);
            idx = _mm256_blendv_epi8(idx, _mm256_set1_epi32((int)k), _mm256_castps_si256(gt));
        }
        _mm256_storeu_ps(sc + p, _mm256_sub_ps(_mm256_setzero_ps(), sum));
        _mm256_storeu_si256((__m256i *)(bestk + p), idx);
    }
    for (; p < n; p++) {
        float sum = ss[p];
        bestv[p] = ss[p];
        bestk[p] = 0;
        for (int64_t k = 1; k < K; k++) {
            float v = ss[k * n + p];
            sum += v;
            if (v > bestv[p]) {
                bestv[p] = v;
                bestk[p] = (int32_t)k;
            }
        }
        sc[p] = -sum;
    }
}

static void score_bands(void *arg, int64_t b0, int64_t b1, int thread) {
    const score_job *j = arg;
    int64_t Q = j->Q, K = j->K, w = j->w, W = j->W, R = j->R;
    float *S = j->buf + (int64_t)thread * j->buf_floats;
    for (int64_t band = b0; band < b1; band++) {
        int64_t r0 = band * R, r1 = r0 + R < j->H ? r0 + R : j->H, n = (r1 - r0) * W;
        float *ss = S + Q * R * W, *best = ss + K * R * W, *hrows = best + R * W;
        int32_t *bestk = (int32_t *)(hrows + j->nsrc * W);
        int64_t s0 = j->y0[r0], s1 = j->y1[r1 - 1]; // source rows of the band (taps are monotonic)
        // Rows r0..r1 of every upsampled mask, exactly F.interpolate's
        // (a[x0] lx0 + a[x1] lx1) ly0 + (b[x0] lx0 + b[x1] lx1) ly1: the bracketed horizontal
        // terms are computed once per source row and shared by the output rows using it.
        for (int64_t q = 0; q < Q; q++) {
            for (int64_t sr = s0; sr <= s1; sr++)
                hinterp(hrows + (sr - s0) * W, j->masks + (q * j->h + sr) * w, j->x0, j->x1, j->lx0, j->lx1,
                        W);
            for (int64_t r = r0; r < r1; r++)
                vinterp(S + q * n + (r - r0) * W, hrows + (j->y0[r] - s0) * W, hrows + (j->y1[r] - s0) * W,
                        j->ly0[r], j->ly1[r], W);
        }
        ug_tensor sv = ug_tensor_wrap(S, UG_F32, UG_DIMS(Q * n));
        sigmoid_cpu(j->ctx, &sv, &sv); // inside a parallel region: runs on this thread
        // semseg [K, n] = probs^T [K, Q] @ sigmoid(masks) [Q, n].
        gemm_cpu_serial(j->ctx, thread, K, n, Q, 1.0f, j->probs, 1, K + 1, S, UG_F32, n, 1, 0.0f, ss, n,
                        NULL);
        reduce_classes(j->score + r0 * W, bestk, best, ss, K, n);
        if (j->semantic) {
            uint8_t *sem = j->semantic + r0 * W;
            for (int64_t p = 0; p < n; p++)
                sem[p] = (uint8_t)bestk[p];
        }
    }
}

// Pixels per band: enough columns for an efficient GEMM and several output rows sharing each
// horizontally interpolated source row (4 rows of a 2048-wide image), while a thread's band of
// Q interpolated rows stays a few megabytes for Q = 100.
enum { SCORE_BAND_PIXELS = 8192 };

ug_status rba_score_cpu(ug_ctx *ctx, ug_tensor *score, ug_tensor *semantic, const ug_tensor *logits,
                        const ug_tensor *masks, int64_t Ht, int64_t Wt, ug_err *err) {
    int64_t Q = masks->shape[0], h = masks->shape[1], w = masks->shape[2], K = logits->shape[1] - 1;
    int64_t H = score->shape[0], W = score->shape[1];
    if (logits->shape[0] != Q || K < 1 || K > 256 || H > Ht || W > Wt || H < 1 || W < 1 || h < 1 || w < 1 ||
        (semantic && (semantic->shape[0] != H || semantic->shape[1] != W)))
        return ug_errf(err, UG_ERR_ARG,
                       "rba score: inconsistent sizes (Q %lld, K %lld, masks %lldx%lld -> %lldx%lld, "
                       "output %lldx%lld)",
                       (long long)Q, (long long)K, (long long)h, (long long)w, (long long)Ht, (long long)Wt,
                       (long long)H, (long long)W);
    ug_arena *ar = &ctx->arena;
    ug_arena_mark mark = ug_arena_get_mark(ar);
    ug_status st = UG_OK;
    int64_t R = SCORE_BAND_PIXELS / W > 0 ? SCORE_BAND_PIXELS / W : 1, n = R * W;
    int nt = ctx->nthreads > 0 ? ctx->nthreads : 1;
    float *probs = ug_arena_alloc(ar, (size_t)(Q * (K + 1)) * sizeof(float));
    int32_t *idx = ug_arena_alloc(ar, (size_t)(2 * (W + H)) * sizeof(int32_t));
    float *wts = ug_arena_alloc(ar, (size_t)(2 * (W + H)) * sizeof(float));
    if (!probs || !idx || !wts) {
        st = ug_errf(err, UG_ERR_NOMEM, "rba score: out of memory");
        goto done;
    }
    axis_taps(w, Wt, W, idx, idx + W, wts, wts + W);
    axis_taps(h, Ht, H, idx + 2 * W, idx + 2 * W + H, wts + 2 * W, wts + 2 * W + H);
    const int32_t *y0 = idx + 2 * W, *y1 = idx + 2 * W + H;
    int64_t nsrc = 1;
    for (int64_t r0 = 0; r0 < H; r0 += R) {
        int64_t r1 = r0 + R < H ? r0 + R : H;
        nsrc = y1[r1 - 1] - y0[r0] + 1 > nsrc ? y1[r1 - 1] - y0[r0] + 1 : nsrc;
    }
    int64_t per_thread = (Q + K + 2) * n + nsrc * W;
    per_thread = (per_thread + 15) / 16 * 16; // keeps every thread's block 64-byte aligned
    float *buf = ug_arena_alloc(ar, (size_t)(per_thread * nt) * sizeof(float));
    if (!buf) {
        st = ug_errf(err, UG_ERR_NOMEM, "rba score: out of memory for %d band buffers of %lld pixels", nt,
                     (long long)n);
        goto done;
    }
    ug_tensor pv = ug_tensor_wrap(probs, UG_F32, UG_DIMS(Q, K + 1));
    softmax_cpu(ctx, &pv, logits);
    score_job job = {ctx,
                     probs,
                     masks->data,
                     Q,
                     K,
                     h,
                     w,
                     H,
                     W,
                     R,
                     nsrc,
                     idx,
                     idx + W,
                     y0,
                     y1,
                     wts,
                     wts + W,
                     wts + 2 * W,
                     wts + 2 * W + H,
                     buf,
                     per_thread,
                     score->data,
                     semantic ? semantic->data : NULL};
    ug_parallel_for(ctx->pool, (H + R - 1) / R, 1, score_bands, &job);
done:
    ug_arena_release(ar, mark);
    return st;
}
