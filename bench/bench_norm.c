// bench/bench_norm.c — timings of the memory-bound ops for `ugains bench ops`: LayerNorm,
// LayerNorm2d, GroupNorm, activations, elementwise add. GB/s counts the bytes that must
// move at least once: read x, write y (and read the second operand of add).
#include <stdio.h>

#include "bench/bench.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/groupnorm.h"
#include "ops/layernorm.h"

typedef enum { K_LN, K_LN2D, K_GN, K_GELU, K_RELU, K_SIGMOID, K_ADD } norm_kind;

typedef struct norm_case {
    ug_ctx *ctx;
    norm_kind kind;
    ug_tensor x, y, w, b, z;
} norm_case;

static void run_norm(void *arg) {
    norm_case *c = arg;
    switch (c->kind) {
    case K_LN: layernorm_cpu(c->ctx, &c->y, &c->x, &c->w, &c->b, 1e-6f); break;
    case K_LN2D: layernorm2d_cpu(c->ctx, &c->y, &c->x, &c->w, &c->b, 1e-6f); break;
    case K_GN: groupnorm_cpu(c->ctx, &c->y, &c->x, &c->w, &c->b, 32, 1e-5f); break;
    case K_GELU: gelu_cpu(c->ctx, &c->y, &c->x); break;
    case K_RELU: relu_cpu(c->ctx, &c->y, &c->x); break;
    case K_SIGMOID: sigmoid_cpu(c->ctx, &c->y, &c->x); break;
    case K_ADD: add_cpu(c->ctx, &c->y, &c->x, &c->z); break;
    }
}

static void fill(ug_tensor *t, float lo, float hi) {
    int64_t n = ug_tensor_numel(t);
    float *p = t->data;
    uint32_t s = 99;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = lo + (hi - lo) * (float)(s >> 8) / (float)(1 << 24);
    }
}

// shape: [d0, d1] or [1, d0, d1, d2] (NCHW kinds); C = the normalised / affine dim.
static void bench_one(ug_bench *b, const char *name, norm_kind kind, int ndim, const int64_t *shape) {
    norm_case c = {.ctx = b->ctx, .kind = kind};
    int64_t C = shape[1]; // [rows, C] or [1, C, H, W]
    ug_err err;
    ug_status st = ug_tensor_new(&c.x, UG_F32, ndim, shape, &err);
    if (!st) st = ug_tensor_new(&c.y, UG_F32, ndim, shape, &err);
    if (!st) st = ug_tensor_new(&c.w, UG_F32, UG_DIMS(C), &err);
    if (!st) st = ug_tensor_new(&c.b, UG_F32, UG_DIMS(C), &err);
    if (!st && kind == K_ADD) st = ug_tensor_new(&c.z, UG_F32, ndim, shape, &err);
    if (st) {
        fprintf(b->out, "%-28s skipped: %s\n", name, err.msg);
        goto done;
    }
    fill(&c.x, -3.0f, 3.0f);
    fill(&c.w, 0.5f, 1.5f);
    fill(&c.b, -0.5f, 0.5f);
    if (kind == K_ADD) fill(&c.z, -1.0f, 1.0f);
    char sh[64];
    if (ndim == 2)
        snprintf(sh, sizeof sh, "[%lld,%lld]", (long long)shape[0], (long long)shape[1]);
    else
        snprintf(sh, sizeof sh, "[%lld,%lld,%lld]", (long long)shape[1], (long long)shape[2],
                 (long long)shape[3]);
    double ms = bench_time_ms(b, run_norm, &c, 300.0);
    double bytes = (kind == K_ADD ? 3.0 : 2.0) * (double)ug_tensor_nbytes(&c.x);
    bench_row(b, name, sh, ms, 0, bytes);
done:
    ug_tensor_free(&c.x);
    ug_tensor_free(&c.y);
    ug_tensor_free(&c.w);
    ug_tensor_free(&c.b);
    ug_tensor_free(&c.z);
}

void bench_norm(ug_bench *b) {
    bench_one(b, "layernorm vith_tokens", K_LN, UG_DIMS(4096, 1280));
    bench_one(b, "layernorm2d sam_neck", K_LN2D, UG_DIMS(1, 256, 64, 64));
    bench_one(b, "groupnorm32 pixdec", K_GN, UG_DIMS(1, 256, 256, 512));
    bench_one(b, "gelu vith_mlp", K_GELU, UG_DIMS(4096, 5120));
    bench_one(b, "relu vith_mlp", K_RELU, UG_DIMS(4096, 5120));
    bench_one(b, "sigmoid masks", K_SIGMOID, UG_DIMS(100, 256 * 512));
    bench_one(b, "add residual", K_ADD, UG_DIMS(4096, 1280));
}
