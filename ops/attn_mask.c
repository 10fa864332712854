// ops/attn_mask.c — see attn_mask.h.
#include "ops/attn_mask.h"

#include <assert.h>
#include <math.h>
#include <string.h>

static inline uint8_t sigmoid_below_half(float v) {
    return 1.0f / (1.0f + expf(-v)) < 0.5f;
}

// Clears a row of N flags when every one is set.
static inline void unblock_full_row(uint8_t *m, int64_t blocked, int64_t N) {
    if (blocked == N) memset(m, 0, (size_t)N);
}

void attn_mask_threshold_ref(uint8_t *mask, const float *x, int64_t Q, int64_t N) {
    for (int64_t q = 0; q < Q; q++) {
        int64_t blocked = 0;
        for (int64_t n = 0; n < N; n++)
            blocked += mask[q * N + n] = sigmoid_below_half(x[q * N + n]);
        unblock_full_row(mask + q * N, blocked, N);
    }
}

// Below BAND the float sigmoid is certainly < 0.5 (1 + expf(1e-6) rounds above 2, whose
// reciprocal rounds below 0.5); at or above 0 it is certainly >= 0.5 (expf(-x) <= 1). Only
// logits in [BAND, 0) need the formula itself.
#define BAND (-1e-6f)

typedef struct mask_job {
    ug_tensor *mask;
    const ug_tensor *x;
} mask_job;

static void mask_rows(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const mask_job *j = arg;
    int64_t N = j->mask->shape[1];
    for (int64_t q = begin; q < end; q++) {
        const float *x = (const float *)j->x->data + q * j->x->stride[0];
        uint8_t *m = (uint8_t *)j->mask->data + q * N;
        // Branch-free first pass (vectorised): the sign decides, the band is counted.
        int64_t blocked = 0, band = 0;
        for (int64_t n = 0; n < N; n++) {
            uint8_t b = x[n] < BAND;
            m[n] = b;
            blocked += b;
            band += x[n] >= BAND && x[n] < 0.0f;
        }
        for (int64_t n = 0; band && n < N; n++)
            if (x[n] >= BAND && x[n] < 0.0f) {
                blocked += m[n] = sigmoid_below_half(x[n]);
                band--;
            }
        unblock_full_row(m, blocked, N);
    }
}

void attn_mask_threshold_cpu(ug_ctx *ctx, ug_tensor *mask, const ug_tensor *x) {
    assert(mask->dtype == UG_U8 && x->dtype == UG_F32 && mask->ndim == 2 && ug_tensor_same_shape(mask, x));
    assert(ug_tensor_is_contiguous(mask) && x->stride[1] == 1);
    mask_job j = {mask, x};
    int64_t N = mask->shape[1];
    ug_parallel_for(ctx ? ctx->pool : NULL, mask->shape[0], 1 + 8192 / (N ? N : 1), mask_rows, &j);
}
