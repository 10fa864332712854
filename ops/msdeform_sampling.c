// ops/msdeform_sampling.c — see msdeform_sampling.h.
#include "ops/msdeform_sampling.h"

#include <assert.h>

// The reference point of token t of a level h x w, x first: ((x + 0.5) / w, (y + 0.5) / h).
static inline void reference_point(int64_t t, int64_t h, int64_t w, float ref[2]) {
    ref[0] = ((float)(t % w) + 0.5f) / (float)w;
    ref[1] = ((float)(t / w) + 0.5f) / (float)h;
}

void msdeform_sampling_locations_ref(float *loc, const float *off, const int64_t (*shapes)[2], int64_t L,
                                     int64_t B, int64_t M, int64_t P) {
    int64_t S = 0;
    for (int64_t l = 0; l < L; l++)
        S += shapes[l][0] * shapes[l][1];
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++) {
            // The level of token s and its index inside that level.
            int64_t lt = 0, t = s;
            while (t >= shapes[lt][0] * shapes[lt][1]) {
                t -= shapes[lt][0] * shapes[lt][1];
                lt++;
            }
            float ref[2];
            reference_point(t, shapes[lt][0], shapes[lt][1], ref);
            for (int64_t m = 0; m < M; m++)
                for (int64_t l = 0; l < L; l++)
                    for (int64_t p = 0; p < P; p++) {
                        int64_t i = (((b * S + s) * M + m) * L + l) * P + p;
                        loc[2 * i] = ref[0] + off[2 * i] / (float)shapes[l][1];
                        loc[2 * i + 1] = ref[1] + off[2 * i + 1] / (float)shapes[l][0];
                    }
        }
}

enum { SAMPLING_MAX_LEVELS = 16 };

typedef struct sampling_job {
    float *loc;
    const float *off;
    const int64_t (*shapes)[2];
    int64_t L, S, M, P;
    int64_t start[SAMPLING_MAX_LEVELS + 1]; // first token of each level, then S
    float norm[SAMPLING_MAX_LEVELS][2];     // (W_l, H_l)
} sampling_job;

// Tokens [begin, end) of the flattened [B * S]: each token's row of M * L * P (x, y) pairs.
static void sampling_rows(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const sampling_job *j = arg;
    int64_t row = j->M * j->L * j->P * 2, lt = 0;
    for (int64_t bs = begin; bs < end; bs++) {
        int64_t s = bs % j->S;
        while (s < j->start[lt])
            lt--;
        while (s >= j->start[lt + 1])
            lt++;
        float ref[2];
        reference_point(s - j->start[lt], j->shapes[lt][0], j->shapes[lt][1], ref);
        const float *o = j->off + bs * row;
        float *y = j->loc + bs * row;
        for (int64_t m = 0; m < j->M; m++)
            for (int64_t l = 0; l < j->L; l++) {
                float nx = j->norm[l][0], ny = j->norm[l][1];
                for (int64_t p = 0; p < 2 * j->P; p += 2) {
                    y[p] = ref[0] + o[p] / nx;
                    y[p + 1] = ref[1] + o[p + 1] / ny;
                }
                o += 2 * j->P;
                y += 2 * j->P;
            }
    }
}

void msdeform_sampling_locations_cpu(ug_ctx *ctx, ug_tensor *loc, const ug_tensor *off,
                                     const int64_t (*shapes)[2], int64_t L) {
    assert(loc->dtype == UG_F32 && off->dtype == UG_F32 && loc->ndim == 5 && ug_tensor_same_shape(loc, off));
    assert(ug_tensor_is_contiguous(loc) && ug_tensor_is_contiguous(off));
    assert(L >= 1 && L <= SAMPLING_MAX_LEVELS && loc->shape[3] % L == 0 && loc->shape[4] == 2);
    sampling_job j = {.loc = loc->data,
                      .off = off->data,
                      .shapes = shapes,
                      .L = L,
                      .M = loc->shape[2],
                      .P = loc->shape[3] / L};
    for (int64_t l = 0; l < L; l++) {
        j.start[l] = j.S;
        j.S += shapes[l][0] * shapes[l][1];
        j.norm[l][0] = (float)shapes[l][1];
        j.norm[l][1] = (float)shapes[l][0];
    }
    j.start[L] = j.S;
    assert(j.S == loc->shape[1]);
    int64_t row = j.M * L * j.P;
    ug_parallel_for(ctx ? ctx->pool : NULL, loc->shape[0] * j.S, 1 + 4096 / (row ? row : 1), sampling_rows,
                    &j);
}
