// ops/prompt_pe.c — see prompt_pe.h.
#include "ops/prompt_pe.h"

#include <assert.h>
#include <math.h>

void prompt_pe_ref(float *y, const float *xy, const int32_t *labels, const float *gauss, const float *embed,
                   int64_t E, const float *not_a_point, int64_t P, int64_t C, float size) {
    const double two_pi = 6.283185307179586;
    int64_t half = C / 2;
    for (int64_t p = 0; p < P; p++) {
        float *row = y + p * C;
        int32_t label = labels[p];
        if (label == -1) {
            for (int64_t c = 0; c < C; c++)
                row[c] = not_a_point[c];
            continue;
        }
        double cx = 2.0 * (((double)xy[2 * p] + 0.5) / size) - 1.0;
        double cy = 2.0 * (((double)xy[2 * p + 1] + 0.5) / size) - 1.0;
        for (int64_t k = 0; k < half; k++) {
            double f = two_pi * (cx * gauss[k] + cy * gauss[half + k]);
            double add_s = 0, add_c = 0;
            if (label >= 0 && label < E) {
                add_s = embed[label * C + k];
                add_c = embed[label * C + half + k];
            }
            row[k] = (float)(sin(f) + add_s);
            row[half + k] = (float)(cos(f) + add_c);
        }
    }
}

void prompt_pe_point(float *out, int64_t stride, float x, float y, float size_x, float size_y,
                     const float *gauss, int64_t half) {
    const float two_pi = (float)(2.0 * M_PI);
    float cx = 2.0f * ((x + 0.5f) / size_x) - 1.0f, cy = 2.0f * ((y + 0.5f) / size_y) - 1.0f;
    for (int64_t k = 0; k < half; k++) {
        float f = two_pi * (cx * gauss[k] + cy * gauss[half + k]);
        out[k * stride] = sinf(f);
        out[(half + k) * stride] = cosf(f);
    }
}

typedef struct pe_job {
    ug_tensor *y;
    const float *xy, *gauss, *embed, *na;
    const int32_t *labels;
    int64_t E;
    float size;
} pe_job;

// Points [begin, end): one token row each.
static void pe_points(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const pe_job *j = arg;
    int64_t C = j->y->shape[1], half = C / 2;
    for (int64_t p = begin; p < end; p++) {
        float *row = (float *)j->y->data + p * j->y->stride[0];
        int32_t label = j->labels[p];
        if (label == -1) {
            for (int64_t c = 0; c < C; c++)
                row[c] = 0.0f + j->na[c];
            continue;
        }
        prompt_pe_point(row, 1, j->xy[2 * p], j->xy[2 * p + 1], j->size, j->size, j->gauss, half);
        if (label >= 0 && label < j->E) {
            const float *e = j->embed + label * C;
            for (int64_t c = 0; c < C; c++)
                row[c] += e[c];
        }
    }
}

void prompt_pe_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xy, const ug_tensor *labels,
                   const ug_tensor *gauss, const ug_tensor *embed, const ug_tensor *not_a_point, float size) {
    assert(y->dtype == UG_F32 && y->ndim == 2 && y->stride[1] == 1 && y->shape[1] % 2 == 0);
    int64_t P = y->shape[0], C = y->shape[1];
    assert(xy->dtype == UG_F32 && ug_tensor_numel(xy) == 2 * P && ug_tensor_is_contiguous(xy));
    assert(labels->dtype == UG_I32 && ug_tensor_numel(labels) == P && ug_tensor_is_contiguous(labels));
    assert(gauss->dtype == UG_F32 && ug_tensor_numel(gauss) == C && ug_tensor_is_contiguous(gauss));
    assert(embed->dtype == UG_F32 && embed->ndim == 2 && embed->shape[1] == C &&
           ug_tensor_is_contiguous(embed));
    assert(not_a_point->dtype == UG_F32 && ug_tensor_numel(not_a_point) == C &&
           ug_tensor_is_contiguous(not_a_point));
    pe_job j = {y,   xy->data, gauss->data, embed->data, not_a_point->data, labels->data, embed->shape[0],
                size};
    // C/2 sinf + cosf per point: a few points per prompt, thousands for large batches.
    ug_parallel_for(ctx ? ctx->pool : NULL, P, 16, pe_points, &j);
}
