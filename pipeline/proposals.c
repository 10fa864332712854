// pipeline/proposals.c — point prompts for SAM from the RbA score map (see proposals.h for the
// rules). Dimension letters: H/W image size, N candidates, K samples.
#include "pipeline/proposals.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/nn.h"
#include "ops/ops.h"

// ---- seeded randomness (splitmix64) ----

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) {
    return (double)(splitmix(s) >> 11) * 0x1.0p-53;
}

// Uniform integer in [0, n) without modulo bias.
static int64_t uniform_below(uint64_t *s, int64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % (uint64_t)n, r;
    do
        r = splitmix(s);
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
    if (n <= 0 || k <= 0)
        return ug_errf(err, UG_ERR_ARG, "kmeans: %lld candidates, %d centres", (long long)n, k);
    int64_t nblocks = (n + KM_BLOCK - 1) / KM_BLOCK;
    double *cx = malloc((size_t)k * sizeof *cx), *cy = malloc((size_t)k * sizeof *cy); // [K]
    double *d2 = malloc((size_t)n * sizeof *d2);                                       // [N]
    int32_t *assign = malloc((size_t)n * sizeof *assign);                              // [N]
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
        for (int64_t i = 0; i < n; i++)
            total += d2[i];
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
    for (int64_t i = 0; i < n; i++)
        assign[i] = -1;
    km_job job = {xy, n, k, cx, cy, assign, bsum, bchanged};
    for (int it = 0; it < max_iter; it++) {
        ug_parallel_for(ctx ? ctx->pool : NULL, nblocks, 1, km_assign, &job);
        int64_t changed = 0;
        for (int64_t b = 0; b < nblocks; b++)
            changed += bchanged[b];
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
    for (int64_t i = 0; i < n; i++)
        ix[i] = (int32_t)i;
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

// The candidates of u (and ignore) on ctx->device: *xy [H * W, 2] (from the activation arena:
// its pages are kept between images) holding them in rows [0, *n); the count is the one number
// downloaded.
static ug_status device_candidates(ug_ctx *ctx, const ug_tensor *u, const ug_tensor *ignore, float threshold,
                                   ug_tensor *xy, int64_t *n, ug_err *err) {
    int64_t HW = u->shape[0] * u->shape[1];
    ug_tensor count = {0}, count_h = {0};
    ug_status st = nn_tensor(ctx, xy, UG_I32, UG_DIMS(HW, 2), err); // [H * W, 2]
    if (st == UG_OK) st = ug_tensor_new_dev(ctx, &count, UG_I64, UG_DIMS(1), err);
    if (st == UG_OK) {
        ug_proposals_candidates(ctx, xy, &count, u, ignore, threshold, PROPOSALS_FALLBACK_THRESHOLD);
        st = ug_to_host(ctx, &count_h, &count, err);
    }
    if (st == UG_OK) *n = *(const int64_t *)count_h.data;
    ug_tensor_free(&count);
    ug_tensor_free(&count_h);
    return st;
}

// FPS on the device: pts [K, 2] gets the (x, y) of the K samples of cand [N, 2].
static ug_status fps_points(ug_ctx *ctx, const ug_tensor *cand, int k, proposals_ties ties, float *pts,
                            ug_err *err) {
    ug_tensor idx = {0}, sel = {0}, sel_h = {0};
    ug_status st = ug_tensor_new_dev(ctx, &idx, UG_I32, UG_DIMS(k), err);           // [K]
    if (st == UG_OK) st = ug_tensor_new_dev(ctx, &sel, UG_F32, UG_DIMS(k, 2), err); // [K, 2]
    if (st == UG_OK) st = ug_proposals_fps(ctx, &idx, &sel, cand, ties, err);
    if (st == UG_OK) st = ug_to_host(ctx, &sel_h, &sel, err);
    if (st == UG_OK) memcpy(pts, sel_h.data, (size_t)k * 2 * sizeof *pts);
    ug_tensor_free(&idx);
    ug_tensor_free(&sel);
    ug_tensor_free(&sel_h);
    return st;
}

static ug_status check_maps(const ug_ctx *ctx, const ug_tensor *u, const ug_tensor *ignore, ug_err *err) {
    ug_status st =
        nn_check_input(u, UG_F32, 2, (const int64_t[]){-1, -1}, true, "proposals: U", "[H, W]", err);
    if (st == UG_OK) st = nn_check_device(ctx, u, "proposals: U", err);
    if (st != UG_OK || !ignore) return st;
    st = nn_check_input(ignore, UG_U8, 2, u->shape, true, "proposals: ignore mask", "[H, W] (U's size)", err);
    if (st == UG_OK) st = nn_check_device(ctx, ignore, "proposals: ignore mask", err);
    return st;
}

ug_status proposals_sample(ug_ctx *ctx, const ug_tensor *u, const ug_tensor *ignore, const proposals_opts *o,
                           float **pts, int *npts, int64_t *ncand, ug_err *err) {
    *pts = NULL;
    *npts = 0;
    if (ncand) *ncand = 0;
    if (o->points <= 0)
        return ug_errf(err, UG_ERR_ARG, "proposals: --points %d (must be positive)", o->points);
    ug_status st = check_maps(ctx, u, ignore, err);
    if (st != UG_OK) return st;
    int H = (int)u->shape[0], W = (int)u->shape[1];
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
    ug_tensor xy = {0}, xy_h = {0};
    int64_t n = 0;
    float *p = NULL;
    int k = o->points;
    nn_mark mark = nn_get_mark(ctx);
    if ((st = device_candidates(ctx, u, ignore, o->threshold, &xy, &n, err)) != UG_OK || n == 0) goto done;
    if (ncand) *ncand = n;
    p = malloc((size_t)k * 2 * sizeof *p); // [K, 2]
    if (!p) {
        st = ug_errf(err, UG_ERR_NOMEM, "proposals: %d points", k);
        goto done;
    }
    ug_tensor cand = ug_view_slice(&xy, 0, 0, n); // [N, 2]
    if (o->sampler == PROPOSALS_FPS) {
        st = fps_points(ctx, &cand, k, o->ties, p, err);
    } else if (o->sampler == PROPOSALS_KMEANS || o->sampler == PROPOSALS_RANDOM) {
        if ((st = ug_to_host(ctx, &xy_h, &cand, err)) != UG_OK) goto done;
        if (o->sampler == PROPOSALS_KMEANS)
            st = proposals_kmeans(ctx, p, xy_h.data, n, k, o->seed, 30, err);
        else
            st = proposals_random(p, xy_h.data, n, k, o->seed, &k, err);
    } else {
        st = ug_errf(err, UG_ERR_ARG, "proposals: unknown sampler %d", (int)o->sampler);
    }
done:
    ug_tensor_free(&xy_h);
    nn_release(ctx, mark); // xy
    if (st != UG_OK || n == 0) {
        free(p);
        return st;
    }
    *pts = p;
    *npts = k;
    return UG_OK;
}
