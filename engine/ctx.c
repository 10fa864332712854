// engine/ctx.c — see ctx.h.
#include "engine/ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu.h"

ug_status ug_ctx_init(ug_ctx *ctx, int nthreads, ug_err *err) {
    memset(ctx, 0, sizeof *ctx);
    ug_status st = ug_pool_create(&ctx->pool, nthreads, err);
    if (st) return st;
    ctx->nthreads = ug_pool_threads(ctx->pool);
    ug_arena_init(&ctx->arena, 0);
    return UG_OK;
}

void ug_ctx_free(ug_ctx *ctx) {
    ug_pool_destroy(ctx->pool);
    for (int i = 0; i < UG_MAX_THREADS; i++)
        free(ctx->scratch[i].mem);
    ug_arena_free(&ctx->arena);
    ug_arena_free(&ctx->dev_arena);
    if (ctx->dev_close) ctx->dev_close(ctx);
    memset(ctx, 0, sizeof *ctx);
}

void *ug_ctx_scratch(ug_ctx *ctx, int thread, size_t bytes) {
    ug_scratch *s = &ctx->scratch[thread];
    if (s->size >= bytes && s->mem) return s->mem;
    size_t size = (bytes + 4095) & ~(size_t)4095;
    void *mem = aligned_alloc(64, size ? size : 4096);
    if (!mem) ug_nomem_fatal("out of memory for %zu bytes of kernel scratch", bytes);
    free(s->mem);
    s->mem = mem;
    s->size = size;
    return mem;
}

ug_precision ug_ctx_set_precision(ug_ctx *ctx, ug_precision want, const char **note) {
    const char *why = NULL;
    if (want == UG_PRECISION_BF16 && !ug_cpu_use_avx512_bf16()) {
        why = !ug_cpu_has_avx512_bf16() ? "this CPU has no AVX512-BF16: running in f32"
              : !ug_cpu_use_avx512()    ? "AVX-512 is turned off (UGAINS_NO_AVX512): running in f32"
                                        : "turned off by UGAINS_NO_AVX512BF16: running in f32";
        want = UG_PRECISION_F32;
    }
    ctx->precision = want;
    if (note) *note = why;
    return want;
}

const char *ug_precision_name(ug_precision p) {
    return p == UG_PRECISION_BF16 ? "bf16" : "f32";
}

bool ug_precision_parse(const char *s, ug_precision *out) {
    if (s && strcmp(s, "f32") == 0)
        *out = UG_PRECISION_F32;
    else if (s && strcmp(s, "bf16") == 0)
        *out = UG_PRECISION_BF16;
    else
        return false;
    return true;
}
