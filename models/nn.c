// models/nn.c — see nn.h.
#include "models/nn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops.h"

// ---- fetching weights ----

void nn_loader_init(nn_loader *l, ug_weights *w, const char *prefix, ug_err *err) {
    memset(l, 0, sizeof *l);
    l->w = w;
    l->err = err;
    snprintf(l->prefix, sizeof l->prefix, "%s", prefix ? prefix : "");
}

// prefix + fmt(args) + suffix into key; false (and a sticky error) when it does not fit.
static bool make_key(nn_loader *l, char *key, size_t n, const char *suffix, const char *fmt, va_list ap) {
    char tail[384];
    int len = vsnprintf(tail, sizeof tail, fmt, ap);
    int full =
        len < 0 || (size_t)len >= sizeof tail ? -1 : snprintf(key, n, "%s%s%s", l->prefix, tail, suffix);
    if (full < 0 || (size_t)full >= n) {
        l->st = ug_errf(l->err, UG_ERR_ARG, "%s: parameter name %s%s... is too long", l->w->name, l->prefix,
                        tail);
        return false;
    }
    return true;
}

// A parameter (kept: it moves with the model) or a tensor the loader only reads on the host.
enum { READ = 0, KEEP = 1 };

static void get_key(nn_loader *l, ug_tensor *out, bool f32, int keep, int ndim, const int64_t *shape,
                    const char *suffix, const char *fmt, va_list ap) {
    memset(out, 0, sizeof *out);
    if (l->st != UG_OK) return;
    char key[512];
    if (!make_key(l, key, sizeof key, suffix, fmt, ap)) return;
    l->st = f32 ? ug_weights_get_f32(l->w, out, key, ndim, shape, l->err)
                : ug_weights_get(l->w, out, key, ndim, shape, l->err);
    if (l->st == UG_OK && keep == KEEP) l->st = ug_weights_keep(l->w, out, l->err);
    if (l->st != UG_OK) memset(out, 0, sizeof *out);
}

void nn_get(nn_loader *l, ug_tensor *out, int ndim, const int64_t *shape, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    get_key(l, out, false, KEEP, ndim, shape, "", fmt, ap);
    va_end(ap);
}

void nn_get_f32(nn_loader *l, ug_tensor *out, int ndim, const int64_t *shape, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    get_key(l, out, true, KEEP, ndim, shape, "", fmt, ap);
    va_end(ap);
}

void nn_read(nn_loader *l, ug_tensor *out, int ndim, const int64_t *shape, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    get_key(l, out, false, READ, ndim, shape, "", fmt, ap);
    va_end(ap);
}

void nn_read_f32(nn_loader *l, ug_tensor *out, int ndim, const int64_t *shape, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    get_key(l, out, true, READ, ndim, shape, "", fmt, ap);
    va_end(ap);
}

void nn_keep(nn_loader *l, ug_tensor *field) {
    if (l->st == UG_OK) l->st = ug_weights_keep(l->w, field, l->err);
}

void nn_adopt(nn_loader *l, ug_tensor *field) {
    if (l->st == UG_OK) l->st = ug_weights_adopt(l->w, field, l->err);
}

bool nn_has(const nn_loader *l, const char *fmt, ...) {
    char tail[384], key[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof tail) return false;
    int full = snprintf(key, sizeof key, "%s%s", l->prefix, tail);
    return full > 0 && (size_t)full < sizeof key && ug_weights_has(l->w, key);
}

// <name>.weight of shape w_shape (stored dtype or F32) and, if b, <name>.bias F32 [b_len].
static void get_weight_bias(nn_loader *l, ug_tensor *w, bool w_f32, int ndim, const int64_t *w_shape,
                            ug_tensor *b, int64_t b_len, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    get_key(l, w, w_f32, KEEP, ndim, w_shape, ".weight", fmt, ap);
    if (b) {
        get_key(l, b, true, KEEP, UG_DIMS(b_len), ".bias", fmt, again);
    }
    va_end(again);
}

void nn_get_linear(nn_loader *l, nn_linear *lin, int64_t out, int64_t in, bool bias, const char *fmt, ...) {
    memset(&lin->b, 0, sizeof lin->b);
    va_list ap;
    va_start(ap, fmt);
    get_weight_bias(l, &lin->w, false, UG_DIMS(out, in), bias ? &lin->b : NULL, out, fmt, ap);
    va_end(ap);
}

void nn_get_norm(nn_loader *l, nn_norm *n, int64_t C, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    get_weight_bias(l, &n->w, true, UG_DIMS(C), &n->b, C, fmt, ap);
    va_end(ap);
}

void nn_get_conv(nn_loader *l, nn_conv *c, int64_t out, int64_t in, int64_t k, bool bias, const char *fmt,
                 ...) {
    memset(&c->b, 0, sizeof c->b);
    va_list ap;
    va_start(ap, fmt);
    get_weight_bias(l, &c->w, false, UG_DIMS(out, in, k, k), bias ? &c->b : NULL, out, fmt, ap);
    va_end(ap);
}

// ---- tensors on ctx->device ----

ug_status nn_tensor(ug_ctx *ctx, ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape, ug_err *err) {
    return ug_arena_tensor(ug_ctx_arena(ctx), t, dt, ndim, shape, err);
}

ug_status nn_output(ug_ctx *ctx, ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape, ug_err *err) {
    return ug_tensor_new_dev(ctx, t, dt, ndim, shape, err);
}

// ---- views ----

ug_tensor nn_split_heads(const ug_tensor *x, int64_t heads) {
    int64_t B = x->shape[0], N = x->shape[1], D = x->shape[2] / heads;
    return ug_view_strided(x, 0, UG_DIMS(B, heads, N, D),
                           (const int64_t[]){x->stride[0], D, x->stride[1], 1});
}

void nn_split_qkv(const ug_tensor *qkv, int64_t heads, ug_tensor *q, ug_tensor *k, ug_tensor *v) {
    int64_t B = qkv->shape[0], N = qkv->shape[1], C = qkv->shape[2] / 3, D = C / heads;
    const int64_t shape[4] = {B, heads, N, D}, stride[4] = {qkv->stride[0], D, qkv->stride[1], 1};
    *q = ug_view_strided(qkv, 0, 4, shape, stride);
    *k = ug_view_strided(qkv, C, 4, shape, stride);
    *v = ug_view_strided(qkv, 2 * C, 4, shape, stride);
}

ug_tensor nn_nhwc_as_nchw(const ug_tensor *x) {
    return ug_view_permute(x, (const int[]){0, 3, 1, 2});
}

// ---- checks ----

ug_status nn_check_input(const ug_tensor *x, ug_dtype dt, int ndim, const int64_t *want, bool contiguous,
                         const char *what, const char *dims, ug_err *err) {
    bool ok = (dt == UG_DTYPE_COUNT || x->dtype == dt) && x->ndim == ndim &&
              (!contiguous || ug_tensor_is_contiguous(x));
    for (int d = 0; ok && d < ndim; d++)
        ok = want[d] >= 0 ? x->shape[d] == want[d] : x->shape[d] >= 1;
    if (ok) return UG_OK;
    char buf[96];
    return ug_errf(err, UG_ERR_ARG, "%s: input %s %s must be a%s %s %s", what, ug_dtype_name(x->dtype),
                   ug_shape_str(x, buf, sizeof buf), contiguous ? " contiguous" : "",
                   dt == UG_DTYPE_COUNT ? "tensor" : ug_dtype_name(dt), dims);
}

ug_status nn_check_weights(const ug_ctx *ctx, const ug_weights *w, const char *what, ug_err *err) {
    if (w->device == ctx->device) return UG_OK;
    return ug_errf(err, UG_ERR_ARG,
                   "%s: the weights are on the %s, the context runs on the %s (move them first)", what,
                   ug_device_name(w->device), ug_device_name(ctx->device));
}

ug_status nn_check_device(const ug_ctx *ctx, const ug_tensor *x, const char *what, ug_err *err) {
    if (x->device == ctx->device) return UG_OK;
    return ug_errf(err, UG_ERR_ARG, "%s: input is on the %s, the model runs on %s", what,
                   ug_device_name(x->device), ug_device_name(ctx->device));
}
