// pipeline/proposals.c — point prompts for SAM from the RbA score map (see proposals.h for the
// rules). Dimension letters: H/W image size, N candidates, K samples.
#include "pipeline/proposals.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- candidates (NLSSampler: threshold, ignore, coordinate-sum fallback) ----

// Pixels with U' >= thr, row-major; returns the count, fills xy when non-NULL, and the sum
// of all coordinates (the official fallback test).
static int64_t collect(const float *u, const uint8_t *ignore, int H, int W, float thr, int32_t *xy,
                       int64_t *coord_sum) {
    int64_t n = 0, sum = 0;
    for (int y = 0; y < H; y++) {
        const float *row = u + (int64_t)y * W;
        const uint8_t *ig = ignore ? ignore + (int64_t)y * W : NULL;
        for (int x = 0; x < W; x++) {
            float v = (ig && ig[x]) ? PROPOSALS_IGNORE_VALUE : row[x];
            if (!(v >= thr)) continue;
            if (xy) {
                xy[2 * n] = x;
                xy[2 * n + 1] = y;
            }
            sum += x + y;
            n++;
        }
    }
    *coord_sum = sum;
    return n;
}

ug_status proposals_candidates(const float *u, const uint8_t *ignore, int H, int W, float threshold,
                               float fallback, int32_t **xy, int64_t *n, ug_err *err) {
    *xy = NULL;
    *n = 0;
    if (H <= 0 || W <= 0) return ug_errf(err, UG_ERR_ARG, "proposals: image size %dx%d", H, W);
    int64_t sum;
    float thr = threshold;
    int64_t cnt = collect(u, ignore, H, W, thr, NULL, &sum);
    if (sum < 1) { // `sample_idx.sum() < 1`: the sum of the coordinates, not the count
        thr = fallback;
        cnt = collect(u, ignore, H, W, thr, NULL, &sum);
    }
    if (cnt == 0) return UG_OK;
    int32_t *p = malloc((size_t)cnt * 2 * sizeof *p); // [N, 2]
    if (!p) return ug_errf(err, UG_ERR_NOMEM, "proposals: %lld candidates", (long long)cnt);
    collect(u, ignore, H, W, thr, p, &sum);
    *xy = p;
    *n = cnt;
    return UG_OK;
}

// ---- farthest point sampling ----

// Threads of the pointnet2 kernel: min(2^floor(log2 n), 512) (at least 1).
static int fps_threads(int64_t n) {
    int t = 1;
    while ((int64_t)t * 2 <= n && t < 512) t *= 2;
    return t;
}

static unsigned bitrev(unsigned v, int bits) {
    unsigned r = 0;
    for (int b = 0; b < bits; b++) r |= ((v >> b) & 1u) << (bits - 1 - b);
    return r;
}

static inline float sqdist(float x1, float y1, float x2, float y2) {
    float dx = x2 - x1, dy = y2 - y1;
    return dx * dx + dy * dy;
}

void proposals_fps_ref(int32_t *idx, const int32_t *xy, int64_t n, int k, proposals_ties ties) {
    if (k <= 0) return;
    float *dist = malloc((size_t)n * sizeof *dist); // [N]
    int T = fps_threads(n);
    float *tbest = malloc((size_t)T * sizeof *tbest);
    int64_t *tidx = malloc((size_t)T * sizeof *tidx);
    for (int64_t i = 0; i < n; i++) dist[i] = 1e10f;
    int64_t last = 0;
    idx[0] = 0;
    for (int j = 1; j < k; j++) {
        float x1 = (float)xy[2 * last], y1 = (float)xy[2 * last + 1];
        for (int64_t i = 0; i < n; i++) {
            float d = sqdist(x1, y1, (float)xy[2 * i], (float)xy[2 * i + 1]);
            if (d < dist[i]) dist[i] = d;
        }
        if (ties == PROPOSALS_TIES_LOWEST) {
            int64_t b = 0;
            for (int64_t i = 1; i < n; i++)
                if (dist[i] > dist[b]) b = i;
            last = b;
        } else {
            // Each thread keeps its first strict maximum (best starts at -1) ...
            for (int t = 0; t < T; t++) {
                tbest[t] = -1.0f;
                tidx[t] = 0;
                for (int64_t i = t; i < n; i += T)
                    if (dist[i] > tbest[t]) {
                        tbest[t] = dist[i];
                        tidx[t] = i;
                    }
            }
            // ... then the shared-memory tree keeps the lower slot unless the upper is larger.
            for (int half = T / 2; half >= 1; half /= 2)
                for (int t = 0; t < half; t++) {
                    if (tbest[t + half] > tbest[t]) tidx[t] = tidx[t + half];
                    if (tbest[t + half] > tbest[t]) tbest[t] = tbest[t + half];
                }
            last = tidx[0];
        }
        idx[j] = (int32_t)last;
    }
    free(dist);
    free(tbest);
    free(tidx);
}

enum { FPS_BLOCK = 16384 };

typedef struct fps_job {
    const float *xs, *ys; // [N] candidates in preference order
    float *dist;          // [N]
    int64_t n;
    float x1, y1;
    float *bbest;   // [nblocks]
    int64_t *bpos;  // [nblocks]
} fps_job;

// One block: dist = min(dist, |p - last|^2) and the first strict maximum of the block.
static void fps_block(void *arg, int64_t b0, int64_t b1, int thread) {
    fps_job *j = arg;
    for (int64_t b = b0; b < b1; b++) {
        int64_t s = b * FPS_BLOCK, e = s + FPS_BLOCK < j->n ? s + FPS_BLOCK : j->n, i = s;
        float best = -1.0f;
        int64_t bpos = s;
        if (e - s >= 8) {
            __m256 x1 = _mm256_set1_ps(j->x1), y1 = _mm256_set1_ps(j->y1);
            __m256 bv = _mm256_set1_ps(-1.0f);
            __m256i bi = _mm256_setzero_si256(), iv = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            const __m256i eight = _mm256_set1_epi32(8);
            for (; i + 8 <= e; i += 8) { // lane positions are relative to s
                __m256 dx = _mm256_sub_ps(_mm256_loadu_ps(j->xs + i), x1);
                __m256 dy = _mm256_sub_ps(_mm256_loadu_ps(j->ys + i), y1);
                __m256 d = _mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy));
                d = _mm256_min_ps(d, _mm256_loadu_ps(j->dist + i));
                _mm256_storeu_ps(j->dist + i, d);
                __m256 gt = _mm256_cmp_ps(d, bv, _CMP_GT_OQ);
                bv = _mm256_blendv_ps(bv, d, gt);
                bi = _mm256_blendv_epi8(bi, iv, _mm256_castps_si256(gt));
                iv = _mm256_add_epi32(iv, eight);
            }
            float lv[8];
            int32_t li[8];
            _mm256_storeu_ps(lv, bv);
            _mm256_storeu_si256((__m256i *)li, bi);
            // Each lane holds its first maximum; across lanes the lowest position wins ties.
            for (int l = 0; l < 8; l++)
                if (lv[l] > best || (lv[l] == best && s + li[l] < bpos)) {
                    best = lv[l];
                    bpos = s + li[l];
                }
        }
        for (; i < e; i++) { // tail positions follow every vector position: strict > only
            float d = sqdist(j->x1, j->y1, j->xs[i], j->ys[i]);
            if (j->dist[i] < d) d = j->dist[i];
            j->dist[i] = d;
            if (d > best) {
                best = d;
                bpos = i;
            }
        }
        j->bbest[b] = best;
        j->bpos[b] = bpos;
    }
}

ug_status proposals_fps_cpu(ug_ctx *ctx, int32_t *idx, const int32_t *xy, int64_t n, int k,
                            proposals_ties ties, ug_err *err) {
    if (n <= 0 || n > INT32_MAX) return ug_errf(err, UG_ERR_ARG, "fps: %lld candidates", (long long)n);
    if (k <= 0) return UG_OK;
    int64_t nblocks = (n + FPS_BLOCK - 1) / FPS_BLOCK;
    int32_t *perm = malloc((size_t)n * sizeof *perm);  // [N] position -> candidate index
    float *xs = malloc((size_t)n * sizeof *xs);        // [N]
    float *ys = malloc((size_t)n * sizeof *ys);        // [N]
    float *dist = malloc((size_t)n * sizeof *dist);    // [N]
    float *bbest = malloc((size_t)nblocks * sizeof *bbest);
    int64_t *bpos = malloc((size_t)nblocks * sizeof *bpos);
    ug_status st = UG_OK;
    if (!perm || !xs || !ys || !dist || !bbest || !bpos) {
        st = ug_errf(err, UG_ERR_NOMEM, "fps: %lld candidates", (long long)n);
        goto done;
    }
    if (ties == PROPOSALS_TIES_LOWEST) {
        for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    } else {
        // Preference order of the kernel: slot s = bitreverse(thread), then k within a thread.
        int T = fps_threads(n), bits = 0;
        while ((1 << bits) < T) bits++;
        int64_t p = 0;
        for (int s = 0; s < T; s++)
            for (int64_t i = bitrev((unsigned)s, bits); i < n; i += T) perm[p++] = (int32_t)i;
    }
    for (int64_t p = 0; p < n; p++) {
        xs[p] = (float)xy[2 * (int64_t)perm[p]];
        ys[p] = (float)xy[2 * (int64_t)perm[p] + 1];
        dist[p] = 1e10f;
    }
    fps_job job = {xs, ys, dist, n, 0, 0, bbest, bpos};
    int64_t last = 0; // position of candidate 0 in both orders
    idx[0] = perm[0];
    for (int j = 1; j < k; j++) {
        job.x1 = xs[last];
        job.y1 = ys[last];
        ug_parallel_for(ctx ? ctx->pool : NULL, nblocks, 1, fps_block, &job);
        float best = bbest[0];
        last = bpos[0];
        for (int64_t b = 1; b < nblocks; b++)
            if (bbest[b] > best) {
                best = bbest[b];
                last = bpos[b];
            }
        idx[j] = perm[last];
    }
done:
    free(perm);
    free(xs);
    free(ys);
    free(dist);
    free(bbest);
    free(bpos);
    return st;
}

// ---- seeded randomness (splitmix64) ----

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return (double)(splitmix(s) >> 11) * 0x1.0p-53; }

// Uniform integer in [0, n) without modulo bias.
static int64_t uniform_below(uint64_t *s, int64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % (uint64_t)n, r;
    do r = splitmix(s);
    while (r >= lim);
    return (int64_t)(r % (uint64_t)n);
}

// ---- k-means ----

enum { KM_BLOCK = 65536 };

typedef struct km_job {
    const int32_t *xy;
    int64_t n;
    int k;
    const double *cx, *cy; // [K]
    int32_t *assign;       // [N]
    double *bsum;          // [nblocks, K, 3]: sum x, sum y, count
    int64_t *bchanged;     // [nblocks]
} km_job;

static int nearest_centre(const double *cx, const double *cy, int k, double x, double y) {
    int best = 0;
    double bd = INFINITY;
    for (int c = 0; c < k; c++) {
        double dx = x - cx[c], dy = y - cy[c], d = dx * dx + dy * dy;
        if (d < bd) {
            bd = d;
            best = c;
        }
    }
    return best;
}

static void km_assign(void *arg, int64_t b0, int64_t b1, int thread) {
    km_job *j = arg;
    for (int64_t b = b0; b < b1; b++) {
        double *sum = j->bsum + b * j->k * 3;
        memset(sum, 0, (size_t)j->k * 3 * sizeof *sum);
        int64_t changed = 0, e = (b + 1) * KM_BLOCK < j->n ? (b + 1) * KM_BLOCK : j->n;
        for (int64_t i = b * KM_BLOCK; i < e; i++) {
            double x = j->xy[2 * i], y = j->xy[2 * i + 1];
            int c = nearest_centre(j->cx, j->cy, j->k, x, y);
            changed += c != j->assign[i];
            j->assign[i] = c;
            sum[3 * c] += x;
            sum[3 * c + 1] += y;
            sum[3 * c + 2] += 1;
        }
        j->bchanged[b] = changed;
    }
}

ug_status proposals_kmeans(ug_ctx *ctx, float *pts, const int32_t *xy, int64_t n, int k, uint64_t seed,
                           int max_iter, ug_err *err) {
    if (n <= 0 || k <= 0) return ug_errf(err, UG_ERR_ARG, "kmeans: %lld candidates, %d centres", (long long)n, k);
    int64_t nblocks = (n + KM_BLOCK - 1) / KM_BLOCK;
    double *cx = malloc((size_t)k * sizeof *cx), *cy = malloc((size_t)k * sizeof *cy); // [K]
    double *d2 = malloc((size_t)n * sizeof *d2);                                         // [N]
    int32_t *assign = malloc((size_t)n * sizeof *assign);                                // [N]
    double *bsum = malloc((size_t)(nblocks * k * 3) * sizeof *bsum);
    int64_t *bchanged = malloc((size_t)nblocks * sizeof *bchanged);
    ug_status st = UG_OK;
    if (!cx || !cy || !d2 || !assign || !bsum || !bchanged) {
        st = ug_errf(err, UG_ERR_NOMEM, "kmeans: %lld candidates", (long long)n);
        goto done;
    }
    uint64_t rng = seed;
    // k-means++: the first centre uniform, each next one with probability ~ D(x)^2.
    int64_t first = uniform_below(&rng, n);
    cx[0] = xy[2 * first];
    cy[0] = xy[2 * first + 1];
    for (int64_t i = 0; i < n; i++) {
        double dx = xy[2 * i] - cx[0], dy = xy[2 * i + 1] - cy[0];
        d2[i] = dx * dx + dy * dy;
    }
    for (int c = 1; c < k; c++) {
        double total = 0;
        for (int64_t i = 0; i < n; i++) total += d2[i];
        int64_t pick = n - 1;
        if (total > 0) {
            double r = uniform01(&rng) * total, acc = 0;
            for (int64_t i = 0; i < n; i++) {
                acc += d2[i];
                if (acc > r) {
                    pick = i;
                    break;
                }
            }
        } else {
            pick = uniform_below(&rng, n); // every point is a centre already (K > N)
        }
        cx[c] = xy[2 * pick];
        cy[c] = xy[2 * pick + 1];
        for (int64_t i = 0; i < n; i++) {
            double dx = xy[2 * i] - cx[c], dy = xy[2 * i + 1] - cy[c], d = dx * dx + dy * dy;
            if (d < d2[i]) d2[i] = d;
        }
    }
    for (int64_t i = 0; i < n; i++) assign[i] = -1;
    km_job job = {xy, n, k, cx, cy, assign, bsum, bchanged};
    for (int it = 0; it < max_iter; it++) {
        ug_parallel_for(ctx ? ctx->pool : NULL, nblocks, 1, km_assign, &job);
        int64_t changed = 0;
        for (int64_t b = 0; b < nblocks; b++) changed += bchanged[b];
        if (changed == 0) break;
        for (int c = 0; c < k; c++) { // block order fixed: the means do not depend on threads
            double sx = 0, sy = 0, cnt = 0;
            for (int64_t b = 0; b < nblocks; b++) {
                sx += bsum[(b * k + c) * 3];
                sy += bsum[(b * k + c) * 3 + 1];
                cnt += bsum[(b * k + c) * 3 + 2];
            }
            if (cnt > 0) { // an empty cluster keeps its centre
                cx[c] = sx / cnt;
                cy[c] = sy / cnt;
            }
        }
    }
    // Snap every centre to its nearest candidate (lowest index on ties).
    for (int c = 0; c < k; c++) {
        int64_t best = 0;
        double bd = INFINITY;
        for (int64_t i = 0; i < n; i++) {
            double dx = xy[2 * i] - cx[c], dy = xy[2 * i + 1] - cy[c], d = dx * dx + dy * dy;
            if (d < bd) {
                bd = d;
                best = i;
            }
        }
        pts[2 * c] = (float)xy[2 * best];
        pts[2 * c + 1] = (float)xy[2 * best + 1];
    }
done:
    free(cx);
    free(cy);
    free(d2);
    free(assign);
    free(bsum);
    free(bchanged);
    return st;
}

// ---- random and grid ----

ug_status proposals_random(float *pts, const int32_t *xy, int64_t n, int k, uint64_t seed, int *drawn,
                           ug_err *err) {
    *drawn = 0;
    if (n <= 0 || k <= 0) return UG_OK;
    int64_t m = k < n ? k : n;
    int32_t *ix = malloc((size_t)n * sizeof *ix); // [N]
    if (!ix) return ug_errf(err, UG_ERR_NOMEM, "random sampler: %lld candidates", (long long)n);
    for (int64_t i = 0; i < n; i++) ix[i] = (int32_t)i;
    uint64_t rng = seed;
    for (int64_t i = 0; i < m; i++) {
        int64_t r = i + uniform_below(&rng, n - i);
        int32_t t = ix[i];
        ix[i] = ix[r];
        ix[r] = t;
        pts[2 * i] = (float)xy[2 * (int64_t)ix[i]];
        pts[2 * i + 1] = (float)xy[2 * (int64_t)ix[i] + 1];
    }
    free(ix);
    *drawn = (int)m;
    return UG_OK;
}

void proposals_grid(float *pts, int side, int H, int W) {
    // build_point_grid: np.linspace(1/(2s), 1 - 1/(2s), s) in double, scaled by (W, H).
    double off = 1.0 / (2.0 * side);
    for (int j = 0; j < side; j++)
        for (int i = 0; i < side; i++) {
            double step = side > 1 ? (1.0 - 2.0 * off) / (side - 1) : 0;
            double gx = i == side - 1 && side > 1 ? 1.0 - off : off + i * step;
            double gy = j == side - 1 && side > 1 ? 1.0 - off : off + j * step;
            pts[2 * ((int64_t)j * side + i)] = (float)(gx * W);
            pts[2 * ((int64_t)j * side + i) + 1] = (float)(gy * H);
        }
}

// ---- the sampling step ----

ug_status proposals_sample(ug_ctx *ctx, const float *u, const uint8_t *ignore, int H, int W,
                           const proposals_opts *o, float **pts, int *npts, int64_t *ncand, ug_err *err) {
    *pts = NULL;
    *npts = 0;
    if (ncand) *ncand = 0;
    if (o->points <= 0) return ug_errf(err, UG_ERR_ARG, "proposals: --points %d (must be positive)", o->points);
    if (o->sampler == PROPOSALS_GRID) {
        int side = (int)lround(sqrt((double)o->points));
        if (side < 1) side = 1;
        float *p = malloc((size_t)side * side * 2 * sizeof *p); // [side^2, 2]
        if (!p) return ug_errf(err, UG_ERR_NOMEM, "proposals: grid of %d^2 points", side);
        proposals_grid(p, side, H, W);
        *pts = p;
        *npts = side * side;
        return UG_OK;
    }
    int32_t *xy = NULL;
    int64_t n = 0;
    ug_status st = proposals_candidates(u, ignore, H, W, o->threshold, PROPOSALS_FALLBACK_THRESHOLD, &xy, &n, err);
    if (st != UG_OK) return st;
    if (ncand) *ncand = n;
    if (n == 0) return UG_OK;
    int k = o->points;
    float *p = malloc((size_t)k * 2 * sizeof *p); // [K, 2]
    int32_t *idx = NULL;
    if (!p) {
        st = ug_errf(err, UG_ERR_NOMEM, "proposals: %d points", k);
        goto done;
    }
    switch (o->sampler) {
    case PROPOSALS_FPS:
        idx = malloc((size_t)k * sizeof *idx); // [K]
        if (!idx) {
            st = ug_errf(err, UG_ERR_NOMEM, "proposals: %d points", k);
            break;
        }
        st = proposals_fps_cpu(ctx, idx, xy, n, k, o->ties, err);
        for (int i = 0; st == UG_OK && i < k; i++) {
            p[2 * i] = (float)xy[2 * (int64_t)idx[i]];
            p[2 * i + 1] = (float)xy[2 * (int64_t)idx[i] + 1];
        }
        break;
    case PROPOSALS_KMEANS:
        st = proposals_kmeans(ctx, p, xy, n, k, o->seed, 30, err);
        break;
    case PROPOSALS_RANDOM:
        st = proposals_random(p, xy, n, k, o->seed, &k, err);
        break;
    default:
        st = ug_errf(err, UG_ERR_ARG, "proposals: unknown sampler %d", (int)o->sampler);
    }
done:
    free(idx);
    free(xy);
    if (st != UG_OK) {
        free(p);
        return st;
    }
    *pts = p;
    *npts = k;
    return UG_OK;
}
