// engine/ctx.h — what every op needs to run: the thread pool, per-thread scratch buffers,
// the arenas and the backends ops dispatch to.
//
// A context runs models on one device, ctx->device (UG_CPU unless a backend was chosen with
// ug_ctx_use_device, ops/backend.h). Activations of that device come from ug_ctx_arena(ctx);
// ctx->arena is always host memory (the host activations, and the working memory of CPU
// kernels).
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
    ug_arena arena;                     // host memory: activations on the CPU, kernel working memory
    ug_device device;                   // where models put their activations
    ug_arena dev_arena;                 // activations when device is not UG_CPU
    const struct ug_backend *backends[UG_DEVICE_COUNT]; // [UG_CPU] always; others once chosen
    void *dev_state;                                    // the state of ctx->device's backend, or NULL
    void (*dev_close)(struct ug_ctx *);                 // frees dev_state (set with it)
} ug_ctx;

// nthreads <= 0: UGAINS_THREADS or all cores.
ug_status ug_ctx_init(ug_ctx *ctx, int nthreads, ug_err *err);
void ug_ctx_free(ug_ctx *ctx);

// The arena of ctx->device: where model code takes its activations.
static inline ug_arena *ug_ctx_arena(ug_ctx *ctx) {
    return ctx->device == UG_CPU ? &ctx->arena : &ctx->dev_arena;
}

// Per-thread scratch of at least `bytes`, 64-byte aligned, contents undefined. Valid until
// the next call for the same thread. Kernels on validated inputs do not fail, so running
// out of memory for scratch (a few MB at most) is fatal: ug_nomem_fatal (engine/error.h).
void *ug_ctx_scratch(ug_ctx *ctx, int thread, size_t bytes);

#endif
