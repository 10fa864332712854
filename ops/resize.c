// ops/resize.c — see resize.h for the exact rules.
#include "ops/resize.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// PyTorch bilinear (no antialias)

typedef struct lin_tap {
    int64_t i0, i1;
    float l0, l1;
} lin_tap;

static float bilinear_scale(int64_t n_in, int64_t n_out, bool align_corners) {
    if (align_corners) return n_out > 1 ? (float)(n_in - 1) / (float)(n_out - 1) : 0.0f;
    return (float)n_in / (float)n_out;
}

// Source taps of output index i along one axis. The source coordinate is formed in double from
// the float32 scale: that is what reproduces PyTorch's CPU output to 1 ulp (golden/README.md).
static lin_tap bilinear_tap(float scale, int64_t n_in, int64_t n_out, int64_t i, bool align_corners) {
    lin_tap t;
    if (n_in == n_out) { // PyTorch copies when the size does not change
        t.i0 = t.i1 = i;
        t.l0 = 1.0f;
        t.l1 = 0.0f;
        return t;
    }
    double src = align_corners ? (double)scale * (double)i : (double)scale * ((double)i + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    int64_t i0 = (int64_t)src;
    if (i0 > n_in - 1) i0 = n_in - 1;
    double frac = src - (double)i0;
    t.i0 = i0;
    t.i1 = i0 + (i0 < n_in - 1 ? 1 : 0);
    t.l1 = (float)frac;
    t.l0 = (float)(1.0 - frac);
    return t;
}

void resize_bilinear_ref(float *y, const float *x, int64_t planes, int64_t H, int64_t W, int64_t Ho,
                         int64_t Wo, bool align_corners) {
    float sh = bilinear_scale(H, Ho, align_corners), sw = bilinear_scale(W, Wo, align_corners);
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * H * W;
        for (int64_t oy = 0; oy < Ho; oy++) {
            lin_tap ty = bilinear_tap(sh, H, Ho, oy, align_corners);
            for (int64_t ox = 0; ox < Wo; ox++) {
                lin_tap tx = bilinear_tap(sw, W, Wo, ox, align_corners);
                double top = (double)xp[ty.i0 * W + tx.i0] * tx.l0 + (double)xp[ty.i0 * W + tx.i1] * tx.l1;
                double bot = (double)xp[ty.i1 * W + tx.i0] * tx.l0 + (double)xp[ty.i1 * W + tx.i1] * tx.l1;
                y[(p * Ho + oy) * Wo + ox] = (float)(top * ty.l0 + bot * ty.l1);
            }
        }
    }
}

// Element offset of plane p (flattened leading dims) of a tensor whose last two dims are [H, W].
static int64_t plane_offset(const ug_tensor *t, int64_t p) {
    int64_t off = 0;
    for (int d = t->ndim - 3; d >= 0; d--) {
        off += (p % t->shape[d]) * t->stride[d];
        p /= t->shape[d];
    }
    return off;
}

static size_t align64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

typedef struct bilinear_job {
    ug_ctx *ctx;
    const ug_tensor *x;
    ug_tensor *y;
    bool align_corners;
    int64_t H, W, Ho, Wo, rows, ntask;
} bilinear_job;

// h[j] = row[o0[j]] * l0[j] + row[o1[j]] * l1[j]: one input row interpolated to Wo columns.
// Multiply and add stay separate (no FMA) so the float result is PyTorch's expression.
static void bilinear_hpass(float *h, const float *row, const int32_t *o0, const int32_t *o1, const float *l0,
                           const float *l1, int64_t Wo) {
    int64_t j = 0;
    for (; j + 8 <= Wo; j += 8) {
        __m256 a = _mm256_i32gather_ps(row, _mm256_loadu_si256((const __m256i *)(o0 + j)), 4);
        __m256 b = _mm256_i32gather_ps(row, _mm256_loadu_si256((const __m256i *)(o1 + j)), 4);
        __m256 v = _mm256_add_ps(_mm256_mul_ps(a, _mm256_loadu_ps(l0 + j)),
                                 _mm256_mul_ps(b, _mm256_loadu_ps(l1 + j)));
        _mm256_store_ps(h + j, v);
    }
    for (; j < Wo; j++)
        h[j] = row[o0[j]] * l0[j] + row[o1[j]] * l1[j];
}

static void bilinear_rows(void *arg, int64_t t0, int64_t t1, int thread) {
    const bilinear_job *job = arg;
    const ug_tensor *x = job->x;
    ug_tensor *y = job->y;
    int64_t H = job->H, W = job->W, Ho = job->Ho, Wo = job->Wo;
    int nd = x->ndim;
    int64_t xsh = x->stride[nd - 2], xsw = x->stride[nd - 1];
    int64_t ysh = y->stride[nd - 2], ysw = y->stride[nd - 1];

    // Scratch: column table (offsets, weights) and two cached interpolated rows.
    size_t tab = align64((size_t)Wo * 4);
    char *s = ug_ctx_scratch(job->ctx, thread, 4 * tab + 2 * tab);
    int32_t *o0 = (int32_t *)s, *o1 = (int32_t *)(s + tab);
    float *l0 = (float *)(s + 2 * tab), *l1 = (float *)(s + 3 * tab);
    float *cache[2] = {(float *)(s + 4 * tab), (float *)(s + 5 * tab)};
    int64_t tag[2] = {-1, -1}; // plane * H + input row held by each cache slot

    float sw = bilinear_scale(W, Wo, job->align_corners), sh = bilinear_scale(H, Ho, job->align_corners);
    for (int64_t j = 0; j < Wo; j++) {
        lin_tap t = bilinear_tap(sw, W, Wo, j, job->align_corners);
        o0[j] = (int32_t)(t.i0 * xsw);
        o1[j] = (int32_t)(t.i1 * xsw);
        l0[j] = t.l0;
        l1[j] = t.l1;
    }

    for (int64_t task = t0; task < t1; task++) {
        int64_t r_begin = task * job->rows / job->ntask, r_end = (task + 1) * job->rows / job->ntask;
        for (int64_t r = r_begin; r < r_end; r++) {
            int64_t p = r / Ho, oy = r % Ho;
            lin_tap ty = bilinear_tap(sh, H, Ho, oy, job->align_corners);
            const float *xp = (const float *)x->data + plane_offset(x, p);
            int64_t want[2] = {p * H + ty.i0, p * H + ty.i1};
            int slot[2];
            for (int k = 0; k < 2; k++)
                slot[k] = tag[0] == want[k] ? 0 : tag[1] == want[k] ? 1 : -1;
            for (int k = 0; k < 2; k++) {
                if (slot[k] >= 0) continue;
                // Evict the slot not holding the other row this output row needs.
                int other = slot[1 - k];
                int s_new = other == 0 ? 1 : 0;
                if (k == 1 && want[1] == want[0]) {
                    slot[1] = slot[0];
                    continue;
                }
                bilinear_hpass(cache[s_new], xp + (k ? ty.i1 : ty.i0) * xsh, o0, o1, l0, l1, Wo);
                tag[s_new] = want[k];
                slot[k] = s_new;
            }
            const float *h0 = cache[slot[0]], *h1 = cache[slot[1]];
            float *yr = (float *)y->data + plane_offset(y, p) + oy * ysh;
            if (ysw == 1) {
                __m256 w0 = _mm256_set1_ps(ty.l0), w1 = _mm256_set1_ps(ty.l1);
                int64_t j = 0;
                for (; j + 8 <= Wo; j += 8) {
                    __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_load_ps(h0 + j), w0),
                                             _mm256_mul_ps(_mm256_load_ps(h1 + j), w1));
                    _mm256_storeu_ps(yr + j, v);
                }
                for (; j < Wo; j++)
                    yr[j] = h0[j] * ty.l0 + h1[j] * ty.l1;
            } else {
                for (int64_t j = 0; j < Wo; j++)
                    yr[j * ysw] = h0[j] * ty.l0 + h1[j] * ty.l1;
            }
        }
    }
}

void resize_bilinear_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, bool align_corners) {
    assert(x->dtype == UG_F32 && y->dtype == UG_F32 && x->ndim == y->ndim && x->ndim >= 2);
    int nd = x->ndim;
    int64_t planes = 1;
    for (int d = 0; d < nd - 2; d++) {
        assert(x->shape[d] == y->shape[d]);
        planes *= x->shape[d];
    }
    bilinear_job job = {
        ctx, x, y, align_corners, x->shape[nd - 2], x->shape[nd - 1], y->shape[nd - 2], y->shape[nd - 1],
        0,   0};
    assert(job.H > 0 && job.W > 0);
    // Column offsets go into 32-bit gather indices.
    assert(job.W * x->stride[nd - 1] < INT32_MAX);
    job.rows = planes * job.Ho;
    if (job.rows == 0 || job.Wo == 0) return;
    // A few contiguous bands of rows per thread: enough to balance, few enough that the column
    // table and the row cache are reused across many rows.
    int64_t nt = ctx && ctx->nthreads > 0 ? ctx->nthreads : 1;
    job.ntask = job.rows < 4 * nt ? job.rows : 4 * nt;
    ug_parallel_for(ctx ? ctx->pool : NULL, job.ntask, 1, bilinear_rows, &job);
}

// ---------------------------------------------------------------------------------------------
// Pillow bilinear (antialiased, fixed point)

enum { PILLOW_BITS = 22 };

static int pillow_ksize(int64_t n_in, int64_t n_out) {
    double scale = (double)(float)n_in / (double)n_out;
    double support = scale < 1.0 ? 1.0 : scale;
    return (int)ceil(support) * 2 + 1;
}

// Taps of output index i: first input index, tap count, fixed-point weights k[0..count).
static void pillow_coeffs(int64_t n_in, int64_t n_out, int64_t i, int32_t *k, int64_t *first, int *count) {
    double scale = (double)(float)n_in / (double)n_out;
    double fs = scale < 1.0 ? 1.0 : scale;
    double support = fs; // bilinear support 1 times the filter scale
    double center = ((double)i + 0.5) * scale;
    double ss = 1.0 / fs;
    int64_t xmin = (int64_t)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = (int64_t)(center + support + 0.5);
    if (xmax > n_in) xmax = n_in;
    int n = (int)(xmax - xmin);
    double w[n > 0 ? n : 1], sum = 0.0;
    for (int t = 0; t < n; t++) {
        double a = fabs(((double)(t + xmin) - center + 0.5) * ss);
        w[t] = a < 1.0 ? 1.0 - a : 0.0;
        sum += w[t];
    }
    for (int t = 0; t < n; t++) {
        double v = sum != 0.0 ? w[t] / sum : w[t];
        v *= (double)(1 << PILLOW_BITS);
        k[t] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
    }
    *first = xmin;
    *count = n;
}

static inline uint8_t pillow_clip(int32_t acc) {
    int32_t v = acc >> PILLOW_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void resize_pillow_ref(uint8_t *y, const uint8_t *x, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                       int64_t C) {
    int kx = pillow_ksize(W, Wo), ky = pillow_ksize(H, Ho);
    int32_t k[kx > ky ? kx : ky];
    uint8_t *mid = malloc((size_t)(H * Wo * C)); // [H, Wo, C]: the 8-bit intermediate image
    assert(mid);
    for (int64_t ox = 0; ox < Wo; ox++) {
        int64_t first;
        int n;
        pillow_coeffs(W, Wo, ox, k, &first, &n);
        for (int64_t r = 0; r < H; r++)
            for (int64_t c = 0; c < C; c++) {
                int32_t acc = 1 << (PILLOW_BITS - 1);
                for (int t = 0; t < n; t++)
                    acc += (int32_t)x[(r * W + first + t) * C + c] * k[t];
                mid[(r * Wo + ox) * C + c] = pillow_clip(acc);
            }
    }
    for (int64_t oy = 0; oy < Ho; oy++) {
        int64_t first;
        int n;
        pillow_coeffs(H, Ho, oy, k, &first, &n);
        for (int64_t j = 0; j < Wo * C; j++) {
            int32_t acc = 1 << (PILLOW_BITS - 1);
            for (int t = 0; t < n; t++)
                acc += (int32_t)mid[(first + t) * Wo * C + j] * k[t];
            y[oy * Wo * C + j] = pillow_clip(acc);
        }
    }
    free(mid);
}

typedef struct pillow_job {
    ug_ctx *ctx;
    const ug_tensor *x;
    ug_tensor *y;
    int64_t H, W, Ho, Wo, C, ntask;
    int kx, ky;
} pillow_job;

// One input row resampled horizontally to Wo pixels (8-bit, as Pillow's intermediate).
static void pillow_hpass(uint8_t *out, const uint8_t *row, const int32_t *kk, const int64_t *first,
                         const int *count, int kx, int64_t Wo, int64_t C) {
    for (int64_t ox = 0; ox < Wo; ox++) {
        const int32_t *k = kk + ox * kx;
        const uint8_t *p = row + first[ox] * C;
        int n = count[ox];
        if (C == 3) {
            int32_t a0 = 1 << (PILLOW_BITS - 1), a1 = a0, a2 = a0;
            for (int t = 0; t < n; t++) {
                a0 += (int32_t)p[3 * t + 0] * k[t];
                a1 += (int32_t)p[3 * t + 1] * k[t];
                a2 += (int32_t)p[3 * t + 2] * k[t];
            }
            out[3 * ox + 0] = pillow_clip(a0);
            out[3 * ox + 1] = pillow_clip(a1);
            out[3 * ox + 2] = pillow_clip(a2);
        } else {
            for (int64_t c = 0; c < C; c++) {
                int32_t a = 1 << (PILLOW_BITS - 1);
                for (int t = 0; t < n; t++)
                    a += (int32_t)p[t * C + c] * k[t];
                out[ox * C + c] = pillow_clip(a);
            }
        }
    }
}

// y[j] = clip((2^21 + sum_t rows[t][j] * k[t]) >> 22) over n bytes.
static void pillow_vpass(uint8_t *y, const uint8_t *const *rows, const int32_t *k, int taps, int64_t n) {
    int64_t j = 0;
    const __m256i half = _mm256_set1_epi32(1 << (PILLOW_BITS - 1));
    const __m256i zero = _mm256_setzero_si256(), hi = _mm256_set1_epi32(255);
    for (; j + 8 <= n; j += 8) {
        __m256i acc = half;
        for (int t = 0; t < taps; t++) {
            __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(rows[t] + j)));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v, _mm256_set1_epi32(k[t])));
        }
        acc = _mm256_min_epi32(_mm256_max_epi32(_mm256_srai_epi32(acc, PILLOW_BITS), zero), hi);
        // Pack the eight 32-bit lanes down to bytes.
        __m128i lo = _mm256_castsi256_si128(acc), up = _mm256_extracti128_si256(acc, 1);
        __m128i w16 = _mm_packus_epi32(lo, up);
        __m128i b8 = _mm_packus_epi16(w16, w16);
        _mm_storel_epi64((__m128i *)(y + j), b8);
    }
    for (; j < n; j++) {
        int32_t acc = 1 << (PILLOW_BITS - 1);
        for (int t = 0; t < taps; t++)
            acc += (int32_t)rows[t][j] * k[t];
        y[j] = pillow_clip(acc);
    }
}

static void pillow_rows(void *arg, int64_t t0, int64_t t1, int thread) {
    const pillow_job *job = arg;
    int64_t H = job->H, W = job->W, Ho = job->Ho, Wo = job->Wo, C = job->C;
    int kx = job->kx, ky = job->ky;
    int64_t xs = job->x->stride[0], ys = job->y->stride[0];
    size_t rowb = align64((size_t)(Wo * C));
    size_t kkb = align64((size_t)Wo * (size_t)kx * 4), fb = align64((size_t)Wo * 8),
           cb = align64((size_t)Wo * 4);
    char *s = ug_ctx_scratch(job->ctx, thread, kkb + fb + cb + (size_t)ky * rowb);
    int32_t *kk = (int32_t *)s;
    int64_t *first = (int64_t *)(s + kkb);
    int *count = (int *)(s + kkb + fb);
    uint8_t *ring = (uint8_t *)(s + kkb + fb + cb); // ky horizontally resampled rows, slot = row % ky
    int64_t tag[ky];
    for (int i = 0; i < ky; i++)
        tag[i] = -1;
    for (int64_t ox = 0; ox < Wo; ox++)
        pillow_coeffs(W, Wo, ox, kk + ox * kx, &first[ox], &count[ox]);

    int32_t k[ky];
    const uint8_t *rows[ky];
    const uint8_t *x = job->x->data;
    uint8_t *y = job->y->data;
    for (int64_t task = t0; task < t1; task++) {
        int64_t r0 = task * Ho / job->ntask, r1 = (task + 1) * Ho / job->ntask;
        for (int64_t oy = r0; oy < r1; oy++) {
            int64_t fy;
            int n;
            pillow_coeffs(H, Ho, oy, k, &fy, &n);
            // The window [fy, fy + n) slides forward and n <= ky, so its rows never share a slot.
            for (int t = 0; t < n; t++) {
                int64_t r = fy + t;
                int slot = (int)(r % ky);
                if (tag[slot] != r) {
                    pillow_hpass(ring + (size_t)slot * rowb, x + r * xs, kk, first, count, kx, Wo, C);
                    tag[slot] = r;
                }
                rows[t] = ring + (size_t)slot * rowb;
            }
            pillow_vpass(y + oy * ys, rows, k, n, Wo * C);
        }
    }
}

void resize_pillow_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    assert(x->dtype == UG_U8 && y->dtype == UG_U8 && x->ndim == 3 && y->ndim == 3);
    int64_t C = x->shape[2];
    assert(y->shape[2] == C && C >= 1 && C <= 4);
    assert(x->stride[2] == 1 && x->stride[1] == C && y->stride[2] == 1 && y->stride[1] == C);
    pillow_job job = {ctx, x, y, x->shape[0], x->shape[1], y->shape[0], y->shape[1], C, 0, 0, 0};
    if (job.Ho == 0 || job.Wo == 0) return;
    assert(job.H > 0 && job.W > 0);
    job.kx = pillow_ksize(job.W, job.Wo);
    job.ky = pillow_ksize(job.H, job.Ho);
    int64_t nt = ctx && ctx->nthreads > 0 ? ctx->nthreads : 1;
    job.ntask = job.Ho < 4 * nt ? job.Ho : 4 * nt;
    ug_parallel_for(ctx ? ctx->pool : NULL, job.ntask, 1, pillow_rows, &job);
}

void resize_longest_side_shape(int64_t h, int64_t w, int64_t long_side, int64_t *ho, int64_t *wo) {
    double scale = (double)long_side * 1.0 / (double)(h > w ? h : w);
    *ho = (int64_t)((double)h * scale + 0.5);
    *wo = (int64_t)((double)w * scale + 0.5);
}

// ---------------------------------------------------------------------------------------------
// Input normalisations

typedef struct norm_job {
    ug_tensor *y;
    const ug_tensor *img;
    float mean[3], std[3];
    bool rba; // albumentations formula (subtract, multiply by reciprocal) instead of SAM's division
} norm_job;

// One output row per iteration: r in [0, 3 * S), channel c = r / S.
static void norm_rows(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const norm_job *job = arg;
    const ug_tensor *y = job->y, *img = job->img;
    int64_t S = y->shape[2], Wy = y->shape[3];
    int64_t h = img->shape[0], w = img->shape[1];
    for (int64_t r = begin; r < end; r++) {
        int64_t c = r / S, row = r % S;
        float *yr = (float *)y->data + c * y->stride[1] + row * y->stride[2];
        int64_t q = 0;
        if (row < h) {
            const uint8_t *px = (const uint8_t *)img->data + row * img->stride[0] + c;
            float m = job->mean[c], sd = job->std[c];
            if (job->rba)
                for (; q < w; q++)
                    yr[q] = ((float)px[q * 3] - m) * sd;
            else
                for (; q < w; q++)
                    yr[q] = ((float)px[q * 3] - m) / sd;
        }
        for (; q < Wy; q++)
            yr[q] = 0.0f;
    }
}

void sam_normalize_pad_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img, const float mean[3],
                           const float std[3]) {
    assert(y->dtype == UG_F32 && y->ndim == 4 && y->shape[0] == 1 && y->shape[1] == 3);
    assert(img->dtype == UG_U8 && img->ndim == 3 && img->shape[2] == 3);
    assert(img->shape[0] <= y->shape[2] && img->shape[1] <= y->shape[3]);
    assert(y->stride[3] == 1 && img->stride[1] == 3 && img->stride[2] == 1);
    norm_job job = {y, img, {mean[0], mean[1], mean[2]}, {std[0], std[1], std[2]}, false};
    ug_parallel_for(ctx ? ctx->pool : NULL, 3 * y->shape[2], 16, norm_rows, &job);
}

void rba_normalize_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img) {
    assert(y->dtype == UG_F32 && y->ndim == 4 && y->shape[0] == 1 && y->shape[1] == 3);
    assert(img->dtype == UG_U8 && img->ndim == 3 && img->shape[2] == 3);
    assert(img->shape[0] == y->shape[2] && img->shape[1] == y->shape[3]);
    assert(y->stride[3] == 1 && img->stride[1] == 3 && img->stride[2] == 1);
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    norm_job job = {y, img, {0}, {0}, true};
    for (int c = 0; c < 3; c++) {
        job.mean[c] = mean[c] * 255.0f;
        job.std[c] = 1.0f / (std[c] * 255.0f); // albumentations' "denominator"
    }
    ug_parallel_for(ctx ? ctx->pool : NULL, 3 * y->shape[2], 16, norm_rows, &job);
}
