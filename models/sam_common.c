// models/sam_common.c — see sam_internal.h (segment_anything/modeling/common.py and the
// attention arithmetic shared by image_encoder.py and transformer.py).
#include "models/sam_internal.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/gemm.h"
#include "ops/layernorm.h"

ug_status sam_arena_f32(ug_ctx *ctx, ug_tensor *t, int ndim, const int64_t *shape, ug_err *err) {
    return ug_arena_tensor(&ctx->arena, t, UG_F32, ndim, shape, err);
}

void sam_layernorm_rows(ug_ctx *ctx, float *y, const float *x, int64_t rows, int64_t cols,
                        const sam_norm *n, float eps) {
    ug_tensor yt = ug_tensor_wrap(y, UG_F32, UG_DIMS(rows, cols));
    ug_tensor xt = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(rows, cols));
    layernorm_cpu(ctx, &yt, &xt, &n->w, &n->b, eps);
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

void sam_mha(ug_ctx *ctx, ug_tensor *o, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
             float scale, const float *rel_h, const float *rel_w, int kh, int kw) {
    ug_attn_extra extra = {0};
    ug_tensor th, tw;
    if (rel_h) {
        th = ug_tensor_wrap((void *)rel_h, UG_F32, UG_DIMS(q->shape[0], q->shape[1], q->shape[2], kh));
        tw = ug_tensor_wrap((void *)rel_w, UG_F32, UG_DIMS(q->shape[0], q->shape[1], q->shape[2], kw));
        extra.rel_h = &th;
        extra.rel_w = &tw;
    }
    attention_cpu(ctx, o, q, k, v, rel_h ? &extra : NULL, scale);
}
