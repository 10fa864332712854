// engine/arena.c — see arena.h.
#include "engine/arena.h"

#include <stdlib.h>
#include <string.h>

struct ug_arena_chunk {
    ug_arena_chunk *next; // older chunk
    size_t size, offset;
    unsigned char *mem;
};

void ug_arena_init_on(ug_arena *a, const ug_memory *mem, size_t chunk_bytes) {
    memset(a, 0, sizeof *a);
    a->chunk_bytes = chunk_bytes ? chunk_bytes : ((size_t)64 << 20);
    a->mem = mem == &ug_host_memory ? NULL : mem;
}

void ug_arena_init(ug_arena *a, size_t chunk_bytes) {
    ug_arena_init_on(a, NULL, chunk_bytes);
}

static const ug_memory *memory_of(const ug_arena *a) {
    return a->mem ? a->mem : &ug_host_memory;
}

static void free_list(const ug_arena *a, ug_arena_chunk *c) {
    while (c) {
        ug_arena_chunk *next = c->next;
        memory_of(a)->free(c->mem);
        free(c);
        c = next;
    }
}

void ug_arena_free(ug_arena *a) {
    free_list(a, a->chunks);
    free_list(a, a->spare);
    ug_arena_init_on(a, a->mem, a->chunk_bytes);
}

void ug_arena_trim(ug_arena *a) {
    for (ug_arena_chunk *c = a->spare; c; c = c->next)
        a->total -= c->size;
    free_list(a, a->spare);
    a->spare = NULL;
}

// Keeps at most MAX_SPARES spare chunks, dropping the smallest: inputs of ever new sizes
// must not make the arena hold one chunk per size seen.
enum { MAX_SPARES = 8 };
static void trim_spares(ug_arena *a) {
    for (;;) {
        int n = 0;
        ug_arena_chunk **smallest = NULL;
        for (ug_arena_chunk **p = &a->spare; *p; p = &(*p)->next, n++)
            if (!smallest || (*p)->size < (*smallest)->size) smallest = p;
        if (n <= MAX_SPARES) return;
        ug_arena_chunk *c = *smallest;
        *smallest = c->next;
        a->total -= c->size;
        memory_of(a)->free(c->mem);
        free(c);
    }
}

// The smallest spare chunk that holds `need` bytes, unlinked from the spare list.
static ug_arena_chunk *take_spare(ug_arena *a, size_t need) {
    ug_arena_chunk **best = NULL;
    for (ug_arena_chunk **p = &a->spare; *p; p = &(*p)->next)
        if ((*p)->size >= need && (!best || (*p)->size < (*best)->size)) best = p;
    if (!best) return NULL;
    ug_arena_chunk *c = *best;
    *best = c->next;
    return c;
}

void *ug_arena_alloc(ug_arena *a, size_t bytes) {
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need < bytes) return NULL;
    if (need == 0) need = 64;
    ug_arena_chunk *c = a->chunks;
    // A released chunk stays in the list with offset 0; reuse the newest one that fits.
    if (!c || c->size - c->offset < need) {
        ug_arena_chunk *n = take_spare(a, need);
        if (!n) {
            // No spare is big enough: free them all before asking for more, so the arena
            // never holds more than it did before the spares existed (in-use + one new chunk).
            ug_arena_trim(a);
            size_t size = need > a->chunk_bytes ? need : a->chunk_bytes;
            n = calloc(1, sizeof *n);
            unsigned char *mem = n ? memory_of(a)->alloc(size) : NULL;
            // Under an address-space limit (ulimit -v) a whole chunk may not fit where the
            // request would: then a chunk of just the request.
            if (n && !mem && size > need) mem = memory_of(a)->alloc(size = need);
            if (!mem) {
                free(n);
                return NULL;
            }
            n->mem = mem;
            n->size = size;
            a->total += size;
        }
        n->offset = 0;
        n->next = c;
        a->chunks = n;
        if (c) a->used += c->size - c->offset; // the tail of the old chunk is lost until release
        c = n;
    }
    void *p = c->mem + c->offset;
    c->offset += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    if (a->mem) {
        ug_err err;
        if (a->mem->zero(p, need, &err) != UG_OK) return NULL;
    } else {
        memset(p, 0, need);
    }
    return p;
}

ug_arena_mark ug_arena_get_mark(const ug_arena *a) {
    ug_arena_mark m = {a->chunks, a->chunks ? a->chunks->offset : 0, a->used};
    return m;
}

void ug_arena_release(ug_arena *a, ug_arena_mark m) {
    // Chunks made after the mark go to the spare list; a later allocation reuses the
    // smallest one that fits, so `total` stays bounded by the largest working set.
    while (a->chunks && a->chunks != m.chunk) {
        ug_arena_chunk *c = a->chunks;
        a->chunks = c->next;
        c->next = a->spare;
        a->spare = c;
    }
    trim_spares(a);
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
    if (!p) {
        ug_device d = memory_of(a)->device;
        return ug_errf(err, UG_ERR_NOMEM, "arena: out of %s memory for %zu bytes",
                       d == UG_CPU ? "host" : ug_device_name(d), bytes);
    }
    *t = ug_tensor_wrap_on(p, memory_of(a)->device, dt, ndim, shape);
    return UG_OK;
}
