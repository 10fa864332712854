// engine/ctx.h — what every op needs to run: the thread pool, per-thread scratch buffers,
// the arenas and the backends ops dispatch to.
//
// A context runs models on one device, ctx->device (UG_CPU unless a backend was chosen with
// ug_ctx_use_device, ops/backend.h). Activations of that device come from ug_ctx_arena(ctx);
// ctx->arena is always host memory (the host activations, and the working memory of CPU
// kernels).
//
// ctx->precision is how the CPU's GEMM, convolution and attention kernels multiply:
// UG_PRECISION_F32 (the default), or UG_PRECISION_BF16: both operands rounded to bf16 (round to
// nearest even) while they are packed and multiplied with vdpbf16ps, sums, alpha, beta, bias and
// every other op in f32. Set it with ug_ctx_set_precision, which falls back to f32 on a CPU
// without AVX512-BF16.
#ifndef UG_CTX_H
#define UG_CTX_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/arena.h"
#include "engine/error.h"
#include "engine/pool.h"

struct ug_backend; // ops/backend.h

typedef struct ug_scratch {
    void *mem;
    size_t size;
} ug_scratch;

typedef enum ug_precision { UG_PRECISION_F32 = 0, UG_PRECISION_BF16 = 1 } ug_precision;

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
    ug_precision precision;                             // of the CPU's GEMM, conv and attention
} ug_ctx;

// nthreads <= 0: UGAINS_THREADS or all cores.
ug_status ug_ctx_init(ug_ctx *ctx, int nthreads, ug_err *err);
void ug_ctx_free(ug_ctx *ctx);

// The arena of ctx->device: where model code takes its activations.
static inline ug_arena *ug_ctx_arena(ug_ctx *ctx) {
    return ctx->device == UG_CPU ? &ctx->arena : &ctx->dev_arena;
}

// Asks for a compute precision and returns the one in effect. UG_PRECISION_BF16 needs
// ug_cpu_use_avx512_bf16() (engine/cpu.h); without it the context keeps f32, the call returns
// UG_PRECISION_F32 and *note (when note is not NULL) gets a static one-line reason to show the
// user ("this CPU has no AVX512-BF16: running in f32"); otherwise *note is NULL.
ug_precision ug_ctx_set_precision(ug_ctx *ctx, ug_precision want, const char **note);

// "f32" / "bf16" and back; ug_precision_parse returns false on anything else.
const char *ug_precision_name(ug_precision p);
bool ug_precision_parse(const char *s, ug_precision *out);

// Per-thread scratch of at least `bytes`, 64-byte aligned, contents undefined. Valid until
// the next call for the same thread. Kernels on validated inputs do not fail, so running
// out of memory for scratch (a few MB at most) is fatal: ug_nomem_fatal (engine/error.h).
void *ug_ctx_scratch(ug_ctx *ctx, int thread, size_t bytes);

#endif
