// engine/arena.c — see arena.h.
#include "engine/arena.h"

#include <stdlib.h>
#include <string.h>

struct ug_arena_chunk {
    ug_arena_chunk *next; // older chunk
    size_t size, offset;
    unsigned char *mem;
};

void ug_arena_init(ug_arena *a, size_t chunk_bytes) {
    memset(a, 0, sizeof *a);
    a->chunk_bytes = chunk_bytes ? chunk_bytes : ((size_t)64 << 20);
}

void ug_arena_free(ug_arena *a) {
    ug_arena_chunk *c = a->chunks;
    while (c) {
        ug_arena_chunk *next = c->next;
        free(c->mem);
        free(c);
        c = next;
    }
    size_t chunk_bytes = a->chunk_bytes;
    ug_arena_init(a, chunk_bytes);
}

void *ug_arena_alloc(ug_arena *a, size_t bytes) {
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need < bytes) return NULL;
    if (need == 0) need = 64;
    ug_arena_chunk *c = a->chunks;
    // A released chunk stays in the list with offset 0; reuse the newest one that fits.
    if (!c || c->size - c->offset < need) {
        size_t size = need > a->chunk_bytes ? need : a->chunk_bytes;
        ug_arena_chunk *n = calloc(1, sizeof *n);
        unsigned char *mem = n ? aligned_alloc(64, size) : NULL;
        if (!mem) {
            free(n);
            return NULL;
        }
        n->mem = mem;
        n->size = size;
        n->next = c;
        a->chunks = n;
        a->total += size;
        if (c) a->used += c->size - c->offset; // the tail of the old chunk is lost until release
        c = n;
    }
    void *p = c->mem + c->offset;
    c->offset += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    memset(p, 0, need);
    return p;
}

ug_arena_mark ug_arena_get_mark(const ug_arena *a) {
    ug_arena_mark m = {a->chunks, a->chunks ? a->chunks->offset : 0, a->used};
    return m;
}

void ug_arena_release(ug_arena *a, ug_arena_mark m) {
    // Chunks made after the mark are freed: keeping them would make `total` grow without
    // bound when block sizes differ.
    while (a->chunks && a->chunks != m.chunk) {
        ug_arena_chunk *c = a->chunks;
        a->chunks = c->next;
        a->total -= c->size;
        free(c->mem);
        free(c);
    }
    if (a->chunks) a->chunks->offset = m.offset;
    a->used = m.used;
}

ug_status ug_arena_tensor(ug_arena *a, ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape,
                          ug_err *err) {
    memset(t, 0, sizeof *t);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && numel > UG_MAX_TENSOR_BYTES / shape[d]))
            return ug_errf(err, UG_ERR_NOMEM, "arena: dimension %d of size %lld is absurd", d,
                           (long long)shape[d]);
        numel *= shape[d];
    }
    size_t bytes = (size_t)numel * ug_dtype_size(dt);
    if ((int64_t)bytes > UG_MAX_TENSOR_BYTES)
        return ug_errf(err, UG_ERR_NOMEM, "arena: %zu bytes is over the limit", bytes);
    void *p = ug_arena_alloc(a, bytes);
    if (!p) return ug_errf(err, UG_ERR_NOMEM, "arena: cannot allocate %zu bytes", bytes);
    *t = ug_tensor_wrap(p, dt, ndim, shape);
    return UG_OK;
}
