// models/nn.h — the small layer every model file is written in (after vision.cpp's nn.h):
// parameter structs, weight fetching by prefix with sticky errors, tensors on the context's
// device, the trace hook, head splits of fused projections, and one form of input check.
//
// Model code reaches activations only through ops (ops/ops.h) and the views below, so a
// model runs on whatever device ctx->device names (tests/test_device_boundary.c proves it).
// Weights are fetched as host tensors (views into the mapped file, or small F32 copies); what a
// model prepares from weights alone, once at load, is computed on the host and adopted. Every
// parameter is kept in the ug_weights, so the model moves to a device in one call
// (ug_weights_place; sam_to_device, rba_to_device) and its fields become device tensors.
#ifndef UG_MODELS_NN_H
#define UG_MODELS_NN_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/ctx.h"
#include "engine/error.h"
#include "engine/tensor.h"
#include "models/weights.h"

// ---- parameters ----

typedef struct nn_linear {
    ug_tensor w; // [out, in], packed dtype
    ug_tensor b; // F32 [out]; data NULL when the layer has no bias
} nn_linear;

typedef struct nn_norm {
    ug_tensor w, b; // F32 [C]
} nn_norm;

typedef struct nn_conv {
    ug_tensor w; // [out, in, kh, kw], packed dtype
    ug_tensor b; // F32 [out] or data NULL
} nn_conv;

// The bias of a layer for ug_linear / ug_matmul / ug_conv2d: NULL when it has none.
static inline const ug_tensor *nn_bias(const ug_tensor *b) {
    return b->data ? b : NULL;
}

// ---- fetching weights ----

// Keys are prefix + printf(fmt, ...). The first failure sticks: later calls do nothing and
// l->st / *l->err keep the first message, so a loader is a list of calls and one check.
typedef struct nn_loader {
    ug_weights *w;
    char prefix[256];
    ug_status st;
    ug_err *err;
} nn_loader;

void nn_loader_init(nn_loader *l, ug_weights *w, const char *prefix, ug_err *err);
// Stored dtype / F32 (widened copy for BF16, F16), exact shape. Zeroes *out on failure.
// *out is a parameter field of the model: it is kept (ug_weights_keep) and must stay put.
void nn_get(nn_loader *l, ug_tensor *out, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void nn_get_f32(nn_loader *l, ug_tensor *out, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
// The same for a tensor that the loader only reads on the host (a table it gathers from, a
// fused weight it slices into kept views): not kept, so it may be a local.
void nn_read(nn_loader *l, ug_tensor *out, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void nn_read_f32(nn_loader *l, ug_tensor *out, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
// A field derived from weights at load (a view into a fused weight) kept like a parameter.
void nn_keep(nn_loader *l, ug_tensor *field);
// An owning host tensor the loader computed (ug_weights_adopt): kept, and freed with the weights.
void nn_adopt(nn_loader *l, ug_tensor *field);
// true when prefix + key exists (optional parameters).
bool nn_has(const nn_loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// <name>.weight [out, in] and, if bias, <name>.bias [out].
void nn_get_linear(nn_loader *l, nn_linear *lin, int64_t out, int64_t in, bool bias, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
// <name>.weight, <name>.bias, both F32 [C].
void nn_get_norm(nn_loader *l, nn_norm *n, int64_t C, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
// <name>.weight [out, in, k, k] and, if bias, <name>.bias [out].
void nn_get_conv(nn_loader *l, nn_conv *c, int64_t out, int64_t in, int64_t k, bool bias, const char *fmt,
                 ...) __attribute__((format(printf, 7, 8)));

// ---- tensors on ctx->device ----

// A zero-filled tensor from the activation arena of ctx (released with the arena).
ug_status nn_tensor(ug_ctx *ctx, ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape, ug_err *err);
static inline ug_status nn_f32(ug_ctx *ctx, ug_tensor *t, int ndim, const int64_t *shape, ug_err *err) {
    return nn_tensor(ctx, t, UG_F32, ndim, shape, err);
}
// A zero-filled tensor on ctx->device that the caller owns (a model's outputs).
ug_status nn_output(ug_ctx *ctx, ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape, ug_err *err);

typedef ug_arena_mark nn_mark;
static inline nn_mark nn_get_mark(ug_ctx *ctx) {
    return ug_arena_get_mark(ug_ctx_arena(ctx));
}
static inline void nn_release(ug_ctx *ctx, nn_mark m) {
    ug_arena_release(ug_ctx_arena(ctx), m);
}

// ---- views ----

// The head split of x [B, N, heads * D] (any row stride, unit last stride) as
// [B, heads, N, D]: no copy.
ug_tensor nn_split_heads(const ug_tensor *x, int64_t heads);
// q, k, v as [B, heads, N, D] views into a fused projection qkv [B, N, 3 * heads * D]
// (per token q | k | v, each heads x D, the layout of timm's and SAM's qkv Linear).
void nn_split_qkv(const ug_tensor *qkv, int64_t heads, ug_tensor *q, ug_tensor *k, ug_tensor *v);
// An NHWC map [B, H, W, C] seen as NCHW [B, C, H, W] (channel stride 1), the channels-last
// layout ug_conv2d and ug_conv_transpose2x2 accept.
ug_tensor nn_nhwc_as_nchw(const ug_tensor *x);

// ---- checks ----

// x must have dtype dt (UG_DTYPE_COUNT: any), ndim dims with shape[d] == want[d] where
// want[d] >= 0 (-1: any size >= 1) and, if contiguous, no holes. Otherwise one message:
// "<what>: input F16 [1,4,5] must be a contiguous F32 [1,3,H,W]" (`dims` spells the shape).
ug_status nn_check_input(const ug_tensor *x, ug_dtype dt, int ndim, const int64_t *want, bool contiguous,
                         const char *what, const char *dims, ug_err *err);
// The model's weights must be on ctx->device: "<what>: the weights are on the cpu, the context
// runs on the cuda (move them first)".
ug_status nn_check_weights(const ug_ctx *ctx, const ug_weights *w, const char *what, ug_err *err);
// x must be on ctx->device (model inputs): "<what>: input is on the cpu, the model runs on cuda".
ug_status nn_check_device(const ug_ctx *ctx, const ug_tensor *x, const char *what, ug_err *err);

// ---- trace ----

// Called with every named intermediate a block produces (golden dumps, --dump). The tensor
// is on ctx->device and valid during the call only: copy it out with ug_to_host.
typedef struct nn_trace {
    void (*fn)(void *user, const char *name, const ug_tensor *t);
    void *user;
} nn_trace;

static inline bool nn_tracing(const nn_trace *tr) {
    return tr && tr->fn;
}
static inline void nn_emit(const nn_trace *tr, const char *name, const ug_tensor *t) {
    if (tr && tr->fn) tr->fn(tr->user, name, t);
}

#endif
