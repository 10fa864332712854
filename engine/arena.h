// engine/arena.h — a bump allocator for activations, with mark/release and a peak counter.
//
// Model code allocates a forward pass's tensors from an arena, releases back to a mark when
// a block is done, and reads `peak` to report memory. Memory comes in chunks of at least
// `chunk_bytes` (or of just the request, when a whole chunk cannot be had: an address-space
// limit); chunks are kept for reuse until ug_arena_free. An arena may hold the memory of
// a device (ug_arena_init_on): the bump arithmetic is the same, chunks come from that device
// and are zeroed by it, and its tensors carry that device.
#ifndef UG_ARENA_H
#define UG_ARENA_H

#include <stddef.h>

#include "engine/tensor.h"

typedef struct ug_arena_chunk ug_arena_chunk;

typedef struct ug_arena {
    ug_arena_chunk *chunks; // newest first
    ug_arena_chunk *spare;  // released chunks kept for reuse (their pages stay mapped)
    size_t chunk_bytes;
    size_t used;          // bytes handed out and not released (incl. alignment)
    size_t peak;          // high-water mark of used
    size_t total;         // bytes held in chunks, spare ones included
    const ug_memory *mem; // where chunks come from (NULL: the host)
} ug_arena;

typedef struct ug_arena_mark {
    ug_arena_chunk *chunk;
    size_t offset;
    size_t used;
} ug_arena_mark;

void ug_arena_init(ug_arena *a, size_t chunk_bytes);
// An arena of device memory (mem NULL: the host, as ug_arena_init).
void ug_arena_init_on(ug_arena *a, const ug_memory *mem, size_t chunk_bytes);
void ug_arena_free(ug_arena *a);
// 64-byte aligned, zero-filled; NULL on OOM (or when the device fails to zero it).
void *ug_arena_alloc(ug_arena *a, size_t bytes);
ug_arena_mark ug_arena_get_mark(const ug_arena *a);
// Frees the spare (released) chunks now; the arena keeps working.
void ug_arena_trim(ug_arena *a);
void ug_arena_release(ug_arena *a, ug_arena_mark m);
// A contiguous tensor from the arena (not owning: released with the arena).
ug_status ug_arena_tensor(ug_arena *a, ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape,
                          ug_err *err);

#endif
