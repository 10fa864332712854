// models/sam_common.c — see sam_internal.h (segment_anything/modeling/common.py and the
// attention arithmetic shared by image_encoder.py and transformer.py).
#include <math.h>
#include <string.h>

#include "engine/pool.h"
#include "models/sam_internal.h"
#include "ops/activation.h"
#include "ops/gemm.h"

ug_status sam_arena_f32(ug_ctx *ctx, ug_tensor *t, int ndim, const int64_t *shape, ug_err *err) {
    return ug_arena_tensor(&ctx->arena, t, UG_F32, ndim, shape, err);
}

typedef struct ln_job {
    float *y;
    const float *x, *w, *b;
    int64_t cols;
    float eps;
} ln_job;

static void ln_rows(void *arg, int64_t begin, int64_t end, int thread) {
    const ln_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->cols;
        float *y = j->y + r * j->cols;
        double s = 0.0, ss = 0.0;
        for (int64_t c = 0; c < j->cols; c++) s += x[c];
        double mean = s / (double)j->cols;
        for (int64_t c = 0; c < j->cols; c++) ss += (x[c] - mean) * (x[c] - mean);
        float rstd = (float)(1.0 / sqrt(ss / (double)j->cols + (double)j->eps)), mu = (float)mean;
        for (int64_t c = 0; c < j->cols; c++) y[c] = (x[c] - mu) * rstd * j->w[c] + j->b[c];
    }
}

void sam_layernorm_rows(ug_ctx *ctx, float *y, const float *x, int64_t rows, int64_t cols,
                        const sam_norm *n, float eps) {
    ln_job j = {y, x, n->w.data, n->b.data, cols, eps};
    ug_parallel_for(ctx->pool, rows, 64, ln_rows, &j);
}

void sam_gelu(ug_ctx *ctx, float *x, int64_t n) {
    ug_tensor t = ug_tensor_wrap(x, UG_F32, UG_DIMS(n));
    gelu_cpu(ctx, &t, &t);
}

void sam_relu(ug_ctx *ctx, float *x, int64_t n) {
    ug_tensor t = ug_tensor_wrap(x, UG_F32, UG_DIMS(n));
    relu_cpu(ctx, &t, &t);
}

void sam_linear_fwd(ug_ctx *ctx, float *y, const float *x, int64_t rows, const sam_linear *l) {
    int64_t out = l->w.shape[0], in = l->w.shape[1];
    ug_tensor yt = ug_tensor_wrap(y, UG_F32, UG_DIMS(rows, out));
    ug_tensor xt = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(rows, in));
    linear_cpu(ctx, &yt, &xt, &l->w, l->b.data ? &l->b : NULL);
}

// One task = one (batch, head) pair and a block of queries; the logits of one query row live
// in per-thread scratch, so memory is O(Nk) per thread whatever the sequence length.
typedef struct mha_job {
    ug_ctx *ctx;
    const ug_tensor *o, *q, *k, *v;
    float scale;
    const float *rel_h, *rel_w;
    int kh, kw;
    int64_t H, Nq, Nk, D, Dv, qblocks;
} mha_job;

enum { MHA_QBLOCK = 16 };

static void mha_range(void *arg, int64_t begin, int64_t end, int thread) {
    const mha_job *j = arg;
    float *logit = ug_ctx_scratch(j->ctx, thread, (size_t)(j->Nk + j->Dv) * sizeof(float));
    float *acc = logit + j->Nk;
    for (int64_t t = begin; t < end; t++) {
        int64_t bh = t / j->qblocks, qb = t % j->qblocks;
        int64_t b = bh / j->H, h = bh % j->H;
        const float *qbase = (const float *)j->q->data + b * j->q->stride[0] + h * j->q->stride[1];
        const float *kbase = (const float *)j->k->data + b * j->k->stride[0] + h * j->k->stride[1];
        const float *vbase = (const float *)j->v->data + b * j->v->stride[0] + h * j->v->stride[1];
        float *obase = (float *)j->o->data + b * j->o->stride[0] + h * j->o->stride[1];
        int64_t q0 = qb * MHA_QBLOCK, q1 = q0 + MHA_QBLOCK < j->Nq ? q0 + MHA_QBLOCK : j->Nq;
        for (int64_t i = q0; i < q1; i++) {
            const float *qi = qbase + i * j->q->stride[2];
            float mx = -INFINITY;
            for (int64_t n = 0; n < j->Nk; n++) {
                const float *kn = kbase + n * j->k->stride[2];
                float s = 0.0f;
                for (int64_t d = 0; d < j->D; d++) s += qi[d] * kn[d];
                s *= j->scale;
                if (j->rel_h) {
                    int64_t row = (bh * j->Nq + i);
                    s += j->rel_h[row * j->kh + n / j->kw] + j->rel_w[row * j->kw + n % j->kw];
                }
                logit[n] = s;
                if (s > mx) mx = s;
            }
            float sum = 0.0f;
            for (int64_t n = 0; n < j->Nk; n++) {
                logit[n] = expf(logit[n] - mx);
                sum += logit[n];
            }
            memset(acc, 0, (size_t)j->Dv * sizeof(float));
            for (int64_t n = 0; n < j->Nk; n++) {
                const float *vn = vbase + n * j->v->stride[2];
                float p = logit[n];
                for (int64_t d = 0; d < j->Dv; d++) acc[d] += p * vn[d];
            }
            float inv = 1.0f / sum;
            float *oi = obase + i * j->o->stride[2];
            for (int64_t d = 0; d < j->Dv; d++) oi[d] = acc[d] * inv;
        }
    }
}

void sam_mha(ug_ctx *ctx, ug_tensor *o, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
             float scale, const float *rel_h, const float *rel_w, int kh, int kw) {
    mha_job j = {ctx, o, q, k, v, scale, rel_h, rel_w, kh, kw, q->shape[1], q->shape[2], k->shape[2],
                 q->shape[3], v->shape[3], 0};
    j.qblocks = (j.Nq + MHA_QBLOCK - 1) / MHA_QBLOCK;
    ug_parallel_for(ctx->pool, q->shape[0] * j.H * j.qblocks, 1, mha_range, &j);
}
