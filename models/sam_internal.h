// models/sam_internal.h — helpers shared by the three SAM blocks (not a public API).
//
// The SAM blocks need row LayerNorm, GELU/ReLU, nn.Linear and multi-head attention with
// optional decomposed relative positions: thin wrappers over the ops/ kernels on raw rows,
// so the model files read like the official forward passes.
#ifndef UG_MODELS_SAM_INTERNAL_H
#define UG_MODELS_SAM_INTERNAL_H

#include "engine/ctx.h"
#include "models/sam.h"

// y[r, :] = LayerNorm(x[r, :]) over `cols` with the norm's F32 weight/bias. y may equal x.
// LayerNorm2d on an NHWC map is the same thing (it normalises channels per pixel).
void sam_layernorm_rows(ug_ctx *ctx, float *y, const float *x, int64_t rows, int64_t cols,
                        const sam_norm *n, float eps);
void sam_gelu(ug_ctx *ctx, float *x, int64_t n); // exact erf GELU, in place
void sam_relu(ug_ctx *ctx, float *x, int64_t n); // in place
// y [rows, out] = x [rows, in] @ W^T + b (contiguous rows).
void sam_linear_fwd(ug_ctx *ctx, float *y, const float *x, int64_t rows, const sam_linear *l);

// Multi-head attention, softmax(scale * q k^T + rel) v, over views [B, H, N, D] whose last
// stride is 1 (a batch or head stride of 0 shares k/v between prompts). rel_h/rel_w are
// NULL or contiguous [B, H, Nq, kh] / [B, H, Nq, kw] with Nk = kh * kw (key j = ky * kw +
// kx gets rel_h[.., ky] + rel_w[.., kx]): SAM's decomposed relative positions, never
// expanded to [H, Nq, Nk].
void sam_mha(ug_ctx *ctx, ug_tensor *o, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
             float scale, const float *rel_h, const float *rel_w, int kh, int kw);

// get_dense_pe into pe [C, h, w] (done once at load; sam_dense_pe hands out copies).
void sam_dense_pe_fill(const sam_model *m, float *pe);

// F32 scratch tensor from ctx->arena (zero-filled).
ug_status sam_arena_f32(ug_ctx *ctx, ug_tensor *t, int ndim, const int64_t *shape, ug_err *err);

static inline void sam_trace_emit(const sam_trace *tr, const char *name, const ug_tensor *t) {
    if (tr && tr->fn) tr->fn(tr->user, name, t);
}

#endif
