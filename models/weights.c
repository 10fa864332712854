// models/weights.c — see weights.h.
#include "models/weights.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ug_weights_copy {
    ug_weights_copy *next;
    ug_tensor t;
};

void ug_weights_init(ug_weights *w, const ug_st_file *st, const char *name) {
    w->st = st;
    w->name = name ? name : "weights";
    w->owned = NULL;
}

void ug_weights_release(ug_weights *w) {
    ug_weights_copy *c = w->owned;
    while (c) {
        ug_weights_copy *next = c->next;
        ug_tensor_free(&c->t);
        free(c);
        c = next;
    }
    w->owned = NULL;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

bool ug_weights_has(const ug_weights *w, const char *key) {
    return ug_st_find(w->st, key) != NULL;
}

ug_status ug_weights_get(ug_weights *w, ug_tensor *out, const char *key, int ndim, const int64_t *shape,
                         ug_err *err) {
    const ug_st_entry *e = ug_st_find(w->st, key);
    if (!e) return ug_errf(err, UG_ERR_FORMAT, "%s: tensor %s is missing", w->name, key);
    bool same = e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = e->shape[d] == shape[d];
    if (!same) {
        char got[96], want[96];
        shape_str(got, sizeof got, e->ndim, e->shape);
        shape_str(want, sizeof want, ndim, shape);
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor %s has shape %s, expected %s", w->name, key, got,
                       want);
    }
    if (e->dtype != UG_F32 && e->dtype != UG_BF16 && e->dtype != UG_F16)
        return ug_errf(err, UG_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s, expected F32, BF16 or F16",
                       w->name, key, ug_dtype_name(e->dtype));
    // Kernels read the mapping through typed pointers: refuse data that is not aligned to its
    // element size (packed files align every tensor to 64 bytes).
    if ((uintptr_t)e->data % ug_dtype_size(e->dtype))
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor %s is not aligned to its %zu-byte elements", w->name,
                       key, ug_dtype_size(e->dtype));
    *out = ug_tensor_wrap((void *)e->data, e->dtype, ndim, shape);
    return UG_OK;
}

ug_status ug_weights_get_f32(ug_weights *w, ug_tensor *out, const char *key, int ndim, const int64_t *shape,
                             ug_err *err) {
    ug_tensor v;
    ug_status st = ug_weights_get(w, &v, key, ndim, shape, err);
    if (st != UG_OK) return st;
    if (v.dtype == UG_F32) {
        *out = v;
        return UG_OK;
    }
    ug_weights_copy *c = calloc(1, sizeof *c);
    if (!c) return ug_errf(err, UG_ERR_NOMEM, "%s: tensor %s: out of memory", w->name, key);
    st = ug_tensor_new(&c->t, UG_F32, ndim, shape, err);
    if (st != UG_OK) {
        free(c);
        ug_err_prefix(err, "%s: tensor %s: ", w->name, key);
        return st;
    }
    int64_t n = ug_tensor_numel(&v);
    const uint16_t *src = v.data;
    float *dst = c->t.data;
    for (int64_t i = 0; i < n; i++)
        dst[i] = v.dtype == UG_BF16 ? ug_bf16_to_f32(src[i]) : ug_f16_to_f32(src[i]);
    c->next = w->owned;
    w->owned = c;
    *out = c->t;
    out->alloc = NULL; // the copy is owned by w, the caller gets a view
    return UG_OK;
}

ug_status ug_weights_config(const ug_weights *w, const char *arch, const char *what, const char **config,
                            ug_err *err) {
    const char *got = ug_st_meta(w->st, "arch");
    *config = ug_st_meta(w->st, "config");
    if (!got || strcmp(got, arch) != 0)
        return ug_errf(err, UG_ERR_ARG, "%s: not %s (metadata arch is %s%s%s)", w->name, what,
                       got ? "\"" : "", got ? got : "missing", got ? "\"" : "");
    if (!*config) return ug_errf(err, UG_ERR_FORMAT, "%s: metadata has no config", w->name);
    return UG_OK;
}
