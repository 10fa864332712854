// ops/softmax.c — softmax over the last dimension (see softmax.h).
//   x, y [R, C]: R rows (every leading dim flattened), C = last dim.
#include "ops/softmax.h"

#include <assert.h>
#include <math.h>

#include "ops/softmax_simd.h"

void softmax_ref(float *y, const float *x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        double m = -INFINITY;
        for (int64_t c = 0; c < cols; c++)
            m = fmax(m, (double)xr[c]);
        if (m == -INFINITY) { // all -inf: 0/0 as in PyTorch
            for (int64_t c = 0; c < cols; c++)
                yr[c] = NAN;
            continue;
        }
        double s = 0;
        for (int64_t c = 0; c < cols; c++)
            s += exp((double)xr[c] - m);
        // Second pass recomputes exp so that y may alias x.
        for (int64_t c = 0; c < cols; c++)
            yr[c] = (float)(exp((double)xr[c] - m) / s);
    }
}

// One row: max, then exp(x - max) written to y while summing, then y *= 1 / sum.
static void softmax_row(float *y, const float *x, int64_t n) {
    vf vm = vf_set1(-INFINITY);
    int64_t c = 0;
    for (; c + VL <= n; c += VL)
        vm = vf_max(vm, vf_load(x + c));
    float m = vf_hmax(vm);
    for (; c < n; c++)
        m = fmaxf(m, x[c]);
    if (m == -INFINITY) {
        for (c = 0; c < n; c++)
            y[c] = NAN;
        return;
    }
    vf mv = vf_set1(m), acc = vf_zero();
    for (c = 0; c + VL <= n; c += VL) {
        vf e = vf_exp(vf_sub(vf_load(x + c), mv));
        vf_store(y + c, e);
        acc = vf_add(acc, e);
    }
    if (c < n) {
        int t = (int)(n - c);
        vf_store_n(y + c, vf_exp(vf_sub(vf_load_n(x + c, t), mv)), t);
        acc = vf_add(acc, vf_load_n(y + c, t)); // reload: lanes past the row read as 0
    }
    vf inv = vf_set1(1.0f / vf_hsum(acc));
    for (c = 0; c + VL <= n; c += VL)
        vf_store(y + c, vf_mul(vf_load(y + c), inv));
    if (c < n) vf_store_n(y + c, vf_mul(vf_load_n(y + c, (int)(n - c)), inv), (int)(n - c));
}

typedef struct softmax_job {
    float *y;
    const float *x;
    int nlead;                  // number of leading dims
    int64_t shape[UG_MAX_DIMS]; // leading dims
    int64_t sx[UG_MAX_DIMS], sy[UG_MAX_DIMS];
    int64_t cols;
} softmax_job;

static void softmax_rows(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const softmax_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        int64_t rem = r, ox = 0, oy = 0;
        for (int d = j->nlead - 1; d >= 0; d--) {
            int64_t i = rem % j->shape[d];
            rem /= j->shape[d];
            ox += i * j->sx[d];
            oy += i * j->sy[d];
        }
        softmax_row(j->y + oy, j->x + ox, j->cols);
    }
}

void softmax_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    assert(x->dtype == UG_F32 && y->dtype == UG_F32 && ug_tensor_same_shape(x, y));
    assert(x->ndim >= 1 && x->stride[x->ndim - 1] == 1 && y->stride[y->ndim - 1] == 1);
    softmax_job j = {.y = y->data, .x = x->data, .nlead = x->ndim - 1, .cols = x->shape[x->ndim - 1]};
    int64_t rows = 1;
    for (int d = 0; d < j.nlead; d++) {
        j.shape[d] = x->shape[d];
        j.sx[d] = x->stride[d];
        j.sy[d] = y->stride[d];
        rows *= x->shape[d];
    }
    if (rows == 0 || j.cols == 0) return;
    // Chunks of about 16K elements: enough work per hand-out to hide the pool's overhead.
    int64_t grain = (16384 + j.cols - 1) / j.cols;
    ug_parallel_for(ctx->pool, rows, grain, softmax_rows, &j);
}
