// ops/window.c — see window.h.
#include "ops/window.h"

#include <assert.h>
#include <immintrin.h>
#include <string.h>

#include "engine/pool.h"

// ---- window order ----

void window_kind_starts(int64_t nwy, int64_t nwx, int64_t shift, int64_t start[5]) {
    int64_t nW = nwy * nwx;
    start[0] = 0;
    if (!shift) {
        start[1] = start[2] = start[3] = start[4] = nW;
        return;
    }
    start[1] = (nwy - 1) * (nwx - 1); // neither last row nor last column
    start[2] = start[1] + nwx - 1;    // last row
    start[3] = start[2] + nwy - 1;    // last column
    start[4] = nW;                    // the corner
}

int64_t window_at(int64_t nwy, int64_t nwx, int64_t shift, int64_t i) {
    int64_t start[5];
    window_kind_starts(nwy, nwx, shift, start);
    if (i < start[1]) return shift ? i / (nwx - 1) * nwx + i % (nwx - 1) : i;
    if (i < start[2]) return (nwy - 1) * nwx + (i - start[1]);
    if (i < start[3]) return (i - start[2]) * nwx + nwx - 1;
    return nwy * nwx - 1;
}

// ---- reference ----

// Window i of mask-kind order, found by scanning every window for each kind in turn.
static int64_t ref_window(int64_t nwy, int64_t nwx, int64_t shift, int64_t i) {
    int64_t n = 0;
    for (int kind = 0; kind < 4; kind++)
        for (int64_t w = 0; w < nwy * nwx; w++) {
            int k = shift ? (w / nwx == nwy - 1) | (w % nwx == nwx - 1) << 1 : 0;
            if (k == kind && n++ == i) return w;
        }
    return -1;
}

// Row of x [H * W, C] behind token t of window i, or -1 for a pad (the formula of window.h).
static int64_t ref_src(int64_t H, int64_t W, int64_t ws, int64_t shift, int64_t i, int64_t t) {
    int64_t nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws, win = ref_window(nwy, nwx, shift, i);
    int64_t r = (win / nwx * ws + t / ws + shift) % (nwy * ws),
            c = (win % nwx * ws + t % ws + shift) % (nwx * ws);
    return r < H && c < W ? r * W + c : -1;
}

void window_gather_ref(float *y, const float *x, int64_t H, int64_t W, int64_t C, int64_t ws, int64_t shift,
                       int64_t w0, int64_t nb) {
    int64_t N = ws * ws;
    for (int64_t i = 0; i < nb; i++)
        for (int64_t t = 0; t < N; t++) {
            int64_t src = ref_src(H, W, ws, shift, w0 + i, t);
            for (int64_t c = 0; c < C; c++)
                y[(i * N + t) * C + c] = src >= 0 ? x[src * C + c] : 0.0f;
        }
}

void window_zero_pads_ref(float *y, int64_t H, int64_t W, int64_t C, int64_t ws, int64_t shift, int64_t w0,
                          int64_t nb) {
    int64_t N = ws * ws;
    for (int64_t i = 0; i < nb; i++)
        for (int64_t t = 0; t < N; t++)
            if (ref_src(H, W, ws, shift, w0 + i, t) < 0)
                for (int64_t c = 0; c < C; c++)
                    y[(i * N + t) * C + c] = 0.0f;
}

void window_scatter_add_ref(float *x, const float *y, int64_t H, int64_t W, int64_t C, int64_t ws,
                            int64_t shift, int64_t w0, int64_t nb) {
    int64_t N = ws * ws;
    for (int64_t i = 0; i < nb; i++)
        for (int64_t t = 0; t < N; t++) {
            int64_t src = ref_src(H, W, ws, shift, w0 + i, t);
            if (src >= 0)
                for (int64_t c = 0; c < C; c++)
                    x[src * C + c] += y[(i * N + t) * C + c];
        }
}

void patch_merge_gather_ref(float *y, const float *x, int64_t H, int64_t W, int64_t C, int64_t t0,
                            int64_t n) {
    int64_t W2 = (W + 1) / 2;
    for (int64_t t = 0; t < n; t++)
        for (int q = 0; q < 4; q++) {
            int64_t r = 2 * ((t0 + t) / W2) + q % 2, col = 2 * ((t0 + t) % W2) + q / 2;
            for (int64_t c = 0; c < C; c++)
                y[(t * 4 + q) * C + c] = r < H && col < W ? x[(r * W + col) * C + c] : 0.0f;
        }
}

// ---- fast kernels ----

typedef struct win_job {
    float *y; // [nb, N, C] the chunk
    float *x; // [H * W, C] the map
    int64_t H, W, C, ws, shift, nwy, nwx, w0;
} win_job;

static win_job win_job_of(float *y, const ug_tensor *x, int64_t H, int64_t W, int64_t C, int64_t ws,
                          int64_t shift, int64_t w0) {
    win_job j = {y, x ? x->data : NULL, H, W, C, ws, shift, (H + ws - 1) / ws, (W + ws - 1) / ws, w0};
    return j;
}

// Where window i of the chunk starts in the padded map, the shift included: token (ty, tx)
// is at ((r0 + ty) mod Hp, (c0 + tx) mod Wp).
static inline void window_origin(const win_job *j, int64_t i, int64_t *r0, int64_t *c0) {
    int64_t win = window_at(j->nwy, j->nwx, j->shift, j->w0 + i);
    *r0 = win / j->nwx * j->ws + j->shift;
    *c0 = win % j->nwx * j->ws + j->shift;
}

// Row of x behind token t of the window at (r0, c0), or -1 for a pad.
static inline int64_t token_src(const win_job *j, int64_t r0, int64_t c0, int64_t t) {
    int64_t r = (r0 + t / j->ws) % (j->nwy * j->ws), c = (c0 + t % j->ws) % (j->nwx * j->ws);
    return r < j->H && c < j->W ? r * j->W + c : -1;
}

static void gather_windows(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const win_job *j = arg;
    int64_t C = j->C, N = j->ws * j->ws;
    for (int64_t i = begin; i < end; i++) {
        int64_t r0, c0;
        window_origin(j, i, &r0, &c0);
        for (int64_t t = 0; t < N; t++) {
            int64_t src = token_src(j, r0, c0, t);
            float *dst = j->y + (i * N + t) * C;
            if (src >= 0)
                memcpy(dst, j->x + src * C, (size_t)C * sizeof(float));
            else
                memset(dst, 0, (size_t)C * sizeof(float));
        }
    }
}

static void zero_pads(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const win_job *j = arg;
    int64_t C = j->C, N = j->ws * j->ws;
    for (int64_t i = begin; i < end; i++) {
        int64_t r0, c0;
        window_origin(j, i, &r0, &c0);
        for (int64_t t = 0; t < N; t++)
            if (token_src(j, r0, c0, t) < 0) memset(j->y + (i * N + t) * C, 0, (size_t)C * sizeof(float));
    }
}

// d[0:n] += s[0:n], 8 lanes at a time (the same float additions as the scalar loop).
static inline void add_run(float *restrict d, const float *restrict s, int64_t n) {
    int64_t c = 0;
    for (; c + 8 <= n; c += 8)
        _mm256_storeu_ps(d + c, _mm256_add_ps(_mm256_loadu_ps(d + c), _mm256_loadu_ps(s + c)));
    for (; c < n; c++)
        d[c] += s[c];
}

static void scatter_add_windows(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const win_job *j = arg;
    int64_t C = j->C, N = j->ws * j->ws;
    for (int64_t i = begin; i < end; i++) {
        int64_t r0, c0;
        window_origin(j, i, &r0, &c0);
        for (int64_t t = 0; t < N; t++) {
            int64_t src = token_src(j, r0, c0, t);
            if (src >= 0) add_run(j->x + src * C, j->y + (i * N + t) * C, C);
        }
    }
}

// The chunk y [nb, ws * ws, C] against the map x [H, W, C].
static void check_window_args(const ug_tensor *y, const ug_tensor *x, int64_t ws, int64_t shift, int64_t w0) {
    (void)y, (void)x, (void)ws, (void)shift, (void)w0;
    assert(x->dtype == UG_F32 && y->dtype == UG_F32 && x->ndim == 3 && y->ndim == 3);
    assert(ug_tensor_is_contiguous(x) && ug_tensor_is_contiguous(y));
    assert(ws >= 1 && shift >= 0 && shift < ws && y->shape[1] == ws * ws && y->shape[2] == x->shape[2]);
    assert(w0 >= 0 && w0 + y->shape[0] <= ((x->shape[0] + ws - 1) / ws) * ((x->shape[1] + ws - 1) / ws));
}

void window_gather_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t ws, int64_t shift, int64_t w0) {
    check_window_args(y, x, ws, shift, w0);
    win_job j = win_job_of(y->data, x, x->shape[0], x->shape[1], x->shape[2], ws, shift, w0);
    ug_parallel_for(ctx ? ctx->pool : NULL, y->shape[0], 1, gather_windows, &j);
}

void window_zero_pads_cpu(ug_ctx *ctx, ug_tensor *y, int64_t H, int64_t W, int64_t ws, int64_t shift,
                          int64_t w0) {
    assert(y->dtype == UG_F32 && y->ndim == 3 && ug_tensor_is_contiguous(y) && y->shape[1] == ws * ws);
    assert(ws >= 1 && shift >= 0 && shift < ws && H >= 1 && W >= 1 && w0 >= 0);
    assert(w0 + y->shape[0] <= ((H + ws - 1) / ws) * ((W + ws - 1) / ws));
    win_job j = win_job_of(y->data, NULL, H, W, y->shape[2], ws, shift, w0);
    ug_parallel_for(ctx ? ctx->pool : NULL, y->shape[0], 1, zero_pads, &j);
}

void window_scatter_add_cpu(ug_ctx *ctx, ug_tensor *x, const ug_tensor *y, int64_t ws, int64_t shift,
                            int64_t w0) {
    check_window_args(y, x, ws, shift, w0);
    win_job j = win_job_of(y->data, x, x->shape[0], x->shape[1], x->shape[2], ws, shift, w0);
    ug_parallel_for(ctx ? ctx->pool : NULL, y->shape[0], 1, scatter_add_windows, &j);
}

typedef struct merge_job {
    float *y;       // [n, 4C] merged tokens [t0, t0 + n)
    const float *x; // [H * W, C]
    int64_t H, W, C, W2, t0;
} merge_job;

static void merge_tokens(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const merge_job *j = arg;
    int64_t C = j->C;
    for (int64_t t = begin; t < end; t++) {
        int64_t i = (j->t0 + t) / j->W2, jj = (j->t0 + t) % j->W2;
        float *dst = j->y + t * 4 * C;
        for (int q = 0; q < 4; q++) {
            int64_t r = 2 * i + q % 2, c = 2 * jj + q / 2;
            if (r < j->H && c < j->W)
                memcpy(dst + q * C, j->x + (r * j->W + c) * C, (size_t)C * sizeof(float));
            else
                memset(dst + q * C, 0, (size_t)C * sizeof(float));
        }
    }
}

void patch_merge_gather_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t t0) {
    assert(x->dtype == UG_F32 && y->dtype == UG_F32 && x->ndim == 3 && y->ndim == 2);
    assert(ug_tensor_is_contiguous(x) && ug_tensor_is_contiguous(y) && y->shape[1] == 4 * x->shape[2]);
    int64_t H = x->shape[0], W = x->shape[1], W2 = (W + 1) / 2;
    assert(t0 >= 0 && t0 + y->shape[0] <= ((H + 1) / 2) * W2);
    merge_job j = {y->data, x->data, H, W, x->shape[2], W2, t0};
    ug_parallel_for(ctx ? ctx->pool : NULL, y->shape[0], 64, merge_tokens, &j);
}
