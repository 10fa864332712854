// models/sam_internal.h — helpers shared by the three SAM blocks (not a public API).
//
// The blocks call the ops only through the backend front-ends of ops/ops.h (ug_linear,
// ug_attention, ug_layernorm, ...), on tensors and views, so that another backend runs SAM
// without a change here. What remains below is glue that no op covers: parameter views in
// the shape an op wants, arena allocation and the trace hook.
#ifndef UG_MODELS_SAM_INTERNAL_H
#define UG_MODELS_SAM_INTERNAL_H

#include "engine/ctx.h"
#include "models/sam.h"

// The bias of a linear layer for ug_linear / ug_matmul: NULL when the layer has none.
static inline const ug_tensor *sam_bias(const sam_linear *l) { return l->b.data ? &l->b : NULL; }

// A conv weight kept flattened in sam_model ([out, in * kh * kw], as GEMM-based loaders
// store it) seen again as [out, in, kh, kw] for ug_conv2d (a view, no copy).
static inline ug_tensor sam_conv_weight(const ug_tensor *w, int64_t in, int64_t kh, int64_t kw) {
    return ug_view_reshape(w, UG_DIMS(w->shape[0], in, kh, kw));
}

// An NHWC buffer [B, H, W, C] seen as the NCHW tensor [B, C, H, W] with channel stride 1:
// the channels-last layout ug_conv2d and ug_conv_transpose2x2 accept on either side.
static inline ug_tensor sam_nhwc_as_nchw(float *data, int64_t B, int64_t H, int64_t W, int64_t C) {
    ug_tensor t = ug_tensor_wrap(data, UG_F32, UG_DIMS(B, H, W, C));
    return ug_view_permute(&t, (const int[]){0, 3, 1, 2});
}

// get_dense_pe into pe [C, h, w] (done once at load; sam_dense_pe hands out copies).
void sam_dense_pe_fill(const sam_model *m, float *pe);

// F32 scratch tensor from ctx->arena (zero-filled).
ug_status sam_arena_f32(ug_ctx *ctx, ug_tensor *t, int ndim, const int64_t *shape, ug_err *err);

static inline void sam_trace_emit(const sam_trace *tr, const char *name, const ug_tensor *t) {
    if (tr && tr->fn) tr->fn(tr->user, name, t);
}

#endif
