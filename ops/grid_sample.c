// ops/grid_sample.c — see grid_sample.h.
#include "ops/grid_sample.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>

// Corner taps of one sampling point: element offsets inside an [H, W] plane (-1 = outside the
// map) and the four float32 weights in PyTorch's order nw, ne, sw, se.
typedef struct gs_tap {
    int64_t off[4];
    float w[4];
} gs_tap;

static gs_tap grid_tap(float gx, float gy, int64_t H, int64_t W, int64_t sh, int64_t sw) {
    gs_tap t;
    float ix = (gx + 1.0f) * ((float)W / 2.0f) - 0.5f;
    float iy = (gy + 1.0f) * ((float)H / 2.0f) - 0.5f;
    // Far outside (or NaN): every corner is outside; also keeps the int conversion defined.
    if (!(ix > -2.0f && ix < (float)W + 1.0f && iy > -2.0f && iy < (float)H + 1.0f)) {
        for (int k = 0; k < 4; k++) {
            t.off[k] = -1;
            t.w[k] = 0.0f;
        }
        return t;
    }
    float fx = floorf(ix), fy = floorf(iy);
    float w = ix - fx, e = 1.0f - w, n = iy - fy, s = 1.0f - n;
    t.w[0] = s * e;
    t.w[1] = s * w;
    t.w[2] = n * e;
    t.w[3] = n * w;
    int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
    for (int k = 0; k < 4; k++) {
        int64_t cx = x0 + (k & 1), cy = y0 + (k >> 1);
        t.off[k] = cx >= 0 && cx < W && cy >= 0 && cy < H ? cy * sh + cx * sw : -1;
    }
    return t;
}

void grid_sample_ref(float *y, const float *x, const float *grid, int64_t B, int64_t C, int64_t H, int64_t W,
                     int64_t Ho, int64_t Wo) {
    int64_t P = Ho * Wo;
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < P; p++) {
            // The source coordinate is float32 in PyTorch (part of the op's definition: at
            // ix ~ 100 its rounding moves the weights by ~4e-6); the rest is done in double.
            double ix = (double)(((grid[(b * P + p) * 2] + 1.0f) * (float)W - 1.0f) / 2.0f);
            double iy = (double)(((grid[(b * P + p) * 2 + 1] + 1.0f) * (float)H - 1.0f) / 2.0f);
            bool usable = isfinite(ix) && isfinite(iy) && fabs(ix) < 1e15 && fabs(iy) < 1e15;
            double fx = usable ? floor(ix) : 0.0, fy = usable ? floor(iy) : 0.0;
            for (int64_t c = 0; c < C; c++) {
                const float *xc = x + (b * C + c) * H * W;
                double acc = 0.0;
                for (int k = 0; usable && k < 4; k++) {
                    double cx = fx + (k & 1), cy = fy + (k >> 1);
                    if (cx < 0 || cx >= (double)W || cy < 0 || cy >= (double)H) continue;
                    double wx = (k & 1) ? ix - fx : fx + 1.0 - ix;
                    double wy = (k >> 1) ? iy - fy : fy + 1.0 - iy;
                    acc += (double)xc[(int64_t)cy * W + (int64_t)cx] * wx * wy;
                }
                y[(b * C + c) * P + p] = (float)acc;
            }
        }
}

enum { GS_BLOCK = 64 };

typedef struct gs_job {
    ug_tensor *y;
    const ug_tensor *x, *grid;
    int64_t nblock; // blocks of points per batch
} gs_job;

static void gs_blocks(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const gs_job *job = arg;
    const ug_tensor *x = job->x, *g = job->grid;
    ug_tensor *y = job->y;
    int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3], Wo = y->shape[3];
    int64_t P = y->shape[2] * Wo;
    int64_t off[4][GS_BLOCK], yoff[GS_BLOCK];
    float wt[4][GS_BLOCK];
    for (int64_t it = begin; it < end; it++) {
        int64_t b = it / job->nblock, p0 = (it % job->nblock) * GS_BLOCK;
        int64_t np = P - p0 < GS_BLOCK ? P - p0 : GS_BLOCK;
        const float *gb = (const float *)g->data + b * g->stride[0];
        for (int64_t i = 0; i < np; i++) {
            int64_t ho = (p0 + i) / Wo, wo = (p0 + i) % Wo;
            const float *gp = gb + ho * g->stride[1] + wo * g->stride[2];
            gs_tap t = grid_tap(gp[0], gp[g->stride[3]], H, W, x->stride[2], x->stride[3]);
            for (int k = 0; k < 4; k++) {
                off[k][i] = t.off[k];
                wt[k][i] = t.w[k];
            }
            yoff[i] = ho * y->stride[2] + wo * y->stride[3];
        }
        // Taps are shared by every channel; one channel's plane stays in L1 while its points
        // are gathered.
        for (int64_t c = 0; c < C; c++) {
            const float *xc = (const float *)x->data + b * x->stride[0] + c * x->stride[1];
            float *yc = (float *)y->data + b * y->stride[0] + c * y->stride[1];
            for (int64_t i = 0; i < np; i++) {
                float v0 = off[0][i] >= 0 ? xc[off[0][i]] : 0.0f;
                float v1 = off[1][i] >= 0 ? xc[off[1][i]] : 0.0f;
                float v2 = off[2][i] >= 0 ? xc[off[2][i]] : 0.0f;
                float v3 = off[3][i] >= 0 ? xc[off[3][i]] : 0.0f;
                yc[yoff[i]] = v0 * wt[0][i] + v1 * wt[1][i] + v2 * wt[2][i] + v3 * wt[3][i];
            }
        }
    }
}

void grid_sample_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *grid) {
    assert(x->dtype == UG_F32 && y->dtype == UG_F32 && grid->dtype == UG_F32);
    assert(x->ndim == 4 && y->ndim == 4 && grid->ndim == 4 && grid->shape[3] == 2);
    assert(y->shape[0] == x->shape[0] && y->shape[1] == x->shape[1] && grid->shape[0] == x->shape[0]);
    assert(y->shape[2] == grid->shape[1] && y->shape[3] == grid->shape[2]);
    int64_t P = y->shape[2] * y->shape[3];
    if (P == 0 || x->shape[0] == 0) return;
    gs_job job = {y, x, grid, (P + GS_BLOCK - 1) / GS_BLOCK};
    int64_t items = x->shape[0] * job.nblock;
    int64_t nt = ctx && ctx->nthreads > 0 ? ctx->nthreads : 1;
    int64_t grain = (items + 8 * nt - 1) / (8 * nt);
    ug_parallel_for(ctx ? ctx->pool : NULL, items, grain, gs_blocks, &job);
}
