// engine/ctx.c — see ctx.h.
#include "engine/ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
