// engine/ctx.h — what every op needs to run: the thread pool, per-thread scratch buffers,
// the activation arena and the backend ops dispatch to.
#ifndef UG_CTX_H
#define UG_CTX_H

#include <stddef.h>

#include "engine/arena.h"
#include "engine/error.h"
#include "engine/pool.h"

struct ug_backend; // ops/backend.h

typedef struct ug_scratch {
    void *mem;
    size_t size;
} ug_scratch;

typedef struct ug_ctx {
    ug_pool *pool;
    int nthreads;
    ug_scratch scratch[UG_MAX_THREADS]; // one growable buffer per pool thread
    ug_arena arena;                     // activations of the model being run
    const struct ug_backend *cuda;      // set when a CUDA backend is loaded (make CUDA=1)
} ug_ctx;

// nthreads <= 0: UGAINS_THREADS or all cores.
ug_status ug_ctx_init(ug_ctx *ctx, int nthreads, ug_err *err);
void ug_ctx_free(ug_ctx *ctx);

// Per-thread scratch of at least `bytes`, 64-byte aligned, contents undefined. Valid until
// the next call for the same thread. Kernels on validated inputs do not fail, so running
// out of memory for scratch (a few MB at most) aborts the process with a message.
void *ug_ctx_scratch(ug_ctx *ctx, int thread, size_t bytes);

#endif
