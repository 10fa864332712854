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
    memset(w, 0, sizeof *w);
    w->st = st;
    w->name = name ? name : "weights";
    w->device = UG_CPU;
}

static void free_host_copies(ug_weights *w) {
    ug_weights_copy *c = w->owned;
    while (c) {
        ug_weights_copy *next = c->next;
        ug_tensor_free(&c->t);
        free(c);
        c = next;
    }
    w->owned = NULL;
}

static void free_blocks(const ug_memory *mem, void **blocks, int n) {
    for (int i = 0; i < n; i++)
        mem->free(blocks[i]);
    free(blocks);
}

void ug_weights_release(ug_weights *w) {
    free_host_copies(w);
    if (w->blocks) free_blocks(w->mem, w->blocks, w->nblocks);
    free(w->kept);
    w->blocks = NULL;
    w->kept = NULL;
    w->nblocks = w->nkept = w->cap = 0;
}

// ---- following the model to its device ----

ug_status ug_weights_keep(ug_weights *w, ug_tensor *field, ug_err *err) {
    if (w->device != UG_CPU)
        return ug_errf(err, UG_ERR_INTERNAL, "%s: a parameter was added after the weights moved to the %s",
                       w->name, ug_device_name(w->device));
    if (w->nkept == w->cap) {
        int cap = w->cap ? 2 * w->cap : 256;
        ug_tensor **k = realloc(w->kept, (size_t)cap * sizeof *k);
        if (!k) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory for the parameter list", w->name);
        w->kept = k;
        w->cap = cap;
    }
    w->kept[w->nkept++] = field;
    return UG_OK;
}

ug_status ug_weights_adopt(ug_weights *w, ug_tensor *field, ug_err *err) {
    ug_weights_copy *c = calloc(1, sizeof *c);
    if (!c) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", w->name);
    ug_status st = ug_weights_keep(w, field, err);
    if (st != UG_OK) {
        free(c);
        return st;
    }
    c->t = *field;
    c->next = w->owned;
    w->owned = c;
    field->alloc = NULL; // a view now: the model's ug_tensor_free of it does nothing
    field->mem = NULL;
    return UG_OK;
}

// The bytes [lo, hi) that a field's elements span (any strides, including negative ones).
typedef struct span {
    uintptr_t lo, hi;
    int field;
} span;

static span field_span(const ug_tensor *t, int i) {
    int64_t lo = 0, hi = 0;
    for (int d = 0; d < t->ndim; d++) {
        int64_t reach = (t->shape[d] - 1) * t->stride[d];
        if (reach < 0)
            lo += reach;
        else
            hi += reach;
    }
    size_t es = ug_dtype_size(t->dtype);
    uintptr_t base = (uintptr_t)t->data;
    return (span){base + (uintptr_t)(lo * (int64_t)es), base + (uintptr_t)((hi + 1) * (int64_t)es), i};
}

static int span_cmp(const void *a, const void *b) {
    uintptr_t x = ((const span *)a)->lo, y = ((const span *)b)->lo;
    return x < y ? -1 : x > y;
}

// One device copy of [lo, hi) whose address is congruent to lo modulo 64, so every field keeps
// the alignment it had on the host. *dev gets the device address of lo.
static ug_status upload_block(const ug_weights *w, const ug_memory *mem, uintptr_t lo, uintptr_t hi,
                              void **block, uintptr_t *dev, ug_err *err) {
    size_t skew = lo % 64, bytes = hi - lo;
    *block = mem->alloc(bytes + skew);
    if (!*block)
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of %s memory for %zu bytes of weights", w->name,
                       ug_device_name(mem->device), bytes);
    *dev = (uintptr_t)*block + skew;
    ug_status st = mem->to_device((void *)*dev, (const void *)lo, bytes, err);
    if (st != UG_OK) ug_err_prefix(err, "%s: weights: ", w->name);
    return st;
}

ug_status ug_weights_place(ug_weights *w, const ug_memory *mem, ug_err *err) {
    if (mem->device == w->device) return UG_OK;
    if (w->device != UG_CPU)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "%s: the weights are on the %s already, not moving them to the %s", w->name,
                       ug_device_name(w->device), ug_device_name(mem->device));
    span *sp = calloc((size_t)(w->nkept ? w->nkept : 1), sizeof *sp);
    uintptr_t *dev = calloc((size_t)(w->nkept ? w->nkept : 1), sizeof *dev); // device address per span
    void **blocks = calloc((size_t)(w->nkept ? w->nkept : 1), sizeof *blocks);
    if (!sp || !dev || !blocks) {
        free(sp), free(dev), free(blocks);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory placing the weights", w->name);
    }
    int n = 0;
    for (int i = 0; i < w->nkept; i++)
        if (w->kept[i]->data && ug_tensor_numel(w->kept[i]) > 0) sp[n++] = field_span(w->kept[i], i);
    qsort(sp, (size_t)n, sizeof *sp, span_cmp);
    // Spans that overlap (views of one fused weight, a field kept twice) share one block; dev[k]
    // and block_lo[k] are the device and host addresses of span k's block.
    ug_status st = UG_OK;
    int nb = 0;
    uintptr_t *block_lo = calloc((size_t)(n ? n : 1), sizeof *block_lo);
    if (!block_lo) st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory placing the weights", w->name);
    for (int i = 0; st == UG_OK && i < n;) {
        uintptr_t lo = sp[i].lo, hi = sp[i].hi;
        int j = i + 1;
        while (j < n && sp[j].lo < hi) {
            if (sp[j].hi > hi) hi = sp[j].hi;
            j++;
        }
        uintptr_t d = 0;
        st = upload_block(w, mem, lo, hi, &blocks[nb], &d, err);
        if (blocks[nb]) nb++;
        for (int k = i; k < j; k++) {
            dev[k] = d;
            block_lo[k] = lo;
        }
        i = j;
    }
    if (st != UG_OK) {
        free_blocks(mem, blocks, nb);
        free(sp), free(dev), free(block_lo);
        return st;
    }
    // Every upload succeeded: only now do the fields change. The new addresses are all worked
    // out before any is written, so a field kept twice moves once.
    for (int k = 0; k < n; k++)
        dev[k] += (uintptr_t)w->kept[sp[k].field]->data - block_lo[k];
    for (int k = 0; k < n; k++)
        w->kept[sp[k].field]->data = (void *)dev[k];
    for (int i = 0; i < w->nkept; i++) {
        w->kept[i]->device = mem->device;
        w->kept[i]->alloc = NULL;
        w->kept[i]->mem = NULL;
    }
    free(sp), free(dev), free(block_lo);
    free_host_copies(w); // every field that looked at them looks at the device now
    w->blocks = blocks;
    w->nblocks = nb;
    w->mem = mem;
    w->device = mem->device;
    return UG_OK;
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
