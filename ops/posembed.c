// ops/posembed.c — see posembed.h.
#include "ops/posembed.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>

void posembed_sine_ref(float *y, int64_t F, int64_t H, int64_t W) {
    const double two_pi = 6.283185307179586;
    for (int64_t k = 0; k < F; k++) {
        double dim_t = pow(10000.0, (double)(2 * (k / 2)) / (double)F);
        for (int64_t r = 0; r < H; r++)
            for (int64_t q = 0; q < W; q++) {
                double ye = (double)(r + 1) / ((double)H + 1e-6) * two_pi;
                double xe = (double)(q + 1) / ((double)W + 1e-6) * two_pi;
                y[(k * H + r) * W + q] = (float)(k % 2 ? cos(ye / dim_t) : sin(ye / dim_t));
                y[((F + k) * H + r) * W + q] = (float)(k % 2 ? cos(xe / dim_t) : sin(xe / dim_t));
            }
    }
}

typedef struct pe_job {
    ug_tensor *y;
    int64_t F;
} pe_job;

// Channel index ch of the (flattened) [B * 2F] channels per iteration.
static void pe_channels(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const pe_job *job = arg;
    ug_tensor *y = job->y;
    int nd = y->ndim;
    int64_t F = job->F, H = y->shape[nd - 2], W = y->shape[nd - 1];
    const float scale = (float)(2.0 * M_PI); // Python's 2 * math.pi as a float32 operand
    for (int64_t it = begin; it < end; it++) {
        int64_t b = it / (2 * F), ch = it % (2 * F);
        bool is_x = ch >= F;
        int64_t k = is_x ? ch - F : ch;
        float dim_t = powf(10000.0f, (float)(2 * (k / 2)) / (float)F);
        float *yc = (float *)y->data + (nd == 4 ? b * y->stride[0] : 0) + ch * y->stride[nd - 3];
        int64_t sh = y->stride[nd - 2];
        // cumsum of ones gives row + 1; divided by the last value + eps, times the scale.
        float den = (float)(is_x ? W : H) + 1e-6f;
        if (is_x) {
            for (int64_t q = 0; q < W; q++) {
                float e = (float)(q + 1) / den * scale;
                yc[q] = k % 2 ? cosf(e / dim_t) : sinf(e / dim_t);
            }
            for (int64_t r = 1; r < H; r++)
                for (int64_t q = 0; q < W; q++)
                    yc[r * sh + q] = yc[q];
        } else {
            for (int64_t r = 0; r < H; r++) {
                float e = (float)(r + 1) / den * scale;
                float v = k % 2 ? cosf(e / dim_t) : sinf(e / dim_t);
                for (int64_t q = 0; q < W; q++)
                    yc[r * sh + q] = v;
            }
        }
    }
}

void posembed_sine_cpu(ug_ctx *ctx, ug_tensor *y) {
    assert(y->dtype == UG_F32 && (y->ndim == 3 || y->ndim == 4));
    assert(y->stride[y->ndim - 1] == 1 && y->shape[y->ndim - 3] % 2 == 0);
    int64_t B = y->ndim == 4 ? y->shape[0] : 1;
    pe_job job = {y, y->shape[y->ndim - 3] / 2};
    ug_parallel_for(ctx ? ctx->pool : NULL, B * 2 * job.F, 1, pe_channels, &job);
}
