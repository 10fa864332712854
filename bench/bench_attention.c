// bench/bench_attention.c — timings of ops/attention* (and ops/softmax) for `ugains bench ops`:
// the attention shapes of the models, GFLOP/s = 2 Nq Nk (D + Dv) per batch * head / time
// (the QK^T and PV products; the softmax's exps are not counted).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "engine/cpu.h"
#include "ops/attention.h"
#include "ops/softmax.h"

typedef struct attn_case {
    ug_ctx *ctx;
    ug_tensor qkv;              // [B, N, 3, H, D] fused projection (self-attention)
    ug_tensor qbuf, kbuf, vbuf; // [B, Nq|Nk, 1, H, D] separate projections (cross-attention)
    ug_tensor obuf;             // [B, Nq, H, D] output buffer
    ug_tensor q, k, v, out;     // [B, H, N, D] views
    ug_tensor bias, shift;      // Swin: rel-pos bias [H, N, N], shift mask [nW, 1, N, N]
    ug_tensor mask;             // [B, H, Nq, Nk] U8
    ug_tensor rel_h, rel_w;     // SAM: [B, H, Nq, grid]
    ug_attn_extra extra;
    float scale;
} attn_case;

static void run_attention(void *arg) {
    attn_case *c = arg;
    attention_cpu(c->ctx, &c->out, &c->q, &c->k, &c->v, &c->extra, c->scale);
}

static void fill(ug_tensor *t, float scale) {
    int64_t n = ug_tensor_numel(t);
    uint32_t s = 2463534242u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float r = ((float)(s >> 8) / (float)(1 << 24) - 0.5f) * scale;
        if (t->dtype == UG_F32)
            ((float *)t->data)[i] = r;
        else
            ((uint8_t *)t->data)[i] = r > 0.2f * scale; // ~30% of keys masked
    }
}

// [B, H, N, D] view of part w of a [B, N, P, H, D] buffer (P projections side by side).
static ug_tensor head_view(const ug_tensor *buf, int w) {
    ug_tensor s = ug_view_slice(buf, 2, w, 1); // [B, N, 1, H, D]; drop the 1 by hand
    ug_tensor s4 = {.data = s.data,
                    .dtype = UG_F32,
                    .ndim = 4,
                    .shape = {s.shape[0], s.shape[1], s.shape[3], s.shape[4]},
                    .stride = {s.stride[0], s.stride[1], s.stride[3], s.stride[4]}};
    return ug_view_permute(&s4, (int[]){0, 2, 1, 3});
}

// As the models have them: self-attention (Nq == Nk) reads q, k, v from one fused qkv
// projection [B, N, 3, H, D]; cross-attention has separate q, k, v projections [B, N, 1, H, D].
// The output is a view into [B, Nq, H, D], ready for the output projection.
static ug_status make_case(attn_case *c, int64_t B, int64_t H, int64_t Nq, int64_t Nk, int64_t D,
                           ug_err *err) {
    ug_status st;
    if ((st = ug_tensor_new(&c->obuf, UG_F32, UG_DIMS(B, Nq, H, D), err))) return st;
    if (Nq == Nk) {
        if ((st = ug_tensor_new(&c->qkv, UG_F32, UG_DIMS(B, Nk, 3, H, D), err))) return st;
        fill(&c->qkv, 2.0f);
        c->q = head_view(&c->qkv, 0);
        c->k = head_view(&c->qkv, 1);
        c->v = head_view(&c->qkv, 2);
    } else {
        if ((st = ug_tensor_new(&c->qbuf, UG_F32, UG_DIMS(B, Nq, 1, H, D), err)) ||
            (st = ug_tensor_new(&c->kbuf, UG_F32, UG_DIMS(B, Nk, 1, H, D), err)) ||
            (st = ug_tensor_new(&c->vbuf, UG_F32, UG_DIMS(B, Nk, 1, H, D), err)))
            return st;
        fill(&c->qbuf, 2.0f);
        fill(&c->kbuf, 2.0f);
        fill(&c->vbuf, 2.0f);
        c->q = head_view(&c->qbuf, 0);
        c->k = head_view(&c->kbuf, 0);
        c->v = head_view(&c->vbuf, 0);
    }
    c->out = ug_view_permute(&c->obuf, (int[]){0, 2, 1, 3}); // [B, H, Nq, D]
    c->scale = 1.0f / sqrtf((float)D);
    return UG_OK;
}

static void free_case(attn_case *c) {
    ug_tensor *all[] = {&c->qkv,  &c->qbuf,  &c->kbuf, &c->vbuf,  &c->obuf,
                        &c->bias, &c->shift, &c->mask, &c->rel_h, &c->rel_w};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ug_tensor_free(all[i]);
}

enum { WITH_REL = 1, WITH_SWIN = 2, WITH_MASK = 4 };

static void bench_case(ug_bench *b, const char *name, int64_t B, int64_t H, int64_t Nq, int64_t Nk, int64_t D,
                       int64_t grid, int extras) {
    attn_case c = {.ctx = b->ctx};
    ug_err err;
    ug_status st = make_case(&c, B, H, Nq, Nk, D, &err);
    if (!st && (extras & WITH_REL)) { // SAM: keys on a grid x grid map
        if (!(st = ug_tensor_new(&c.rel_h, UG_F32, UG_DIMS(B, H, Nq, grid), &err)) &&
            !(st = ug_tensor_new(&c.rel_w, UG_F32, UG_DIMS(B, H, Nq, grid), &err))) {
            fill(&c.rel_h, 4.0f);
            fill(&c.rel_w, 4.0f);
            c.extra.rel_h = &c.rel_h;
            c.extra.rel_w = &c.rel_w;
        }
    }
    if (!st && (extras & WITH_SWIN)) { // rel-pos bias [H, N, N] + shift mask [nW, 1, N, N]
        if (!(st = ug_tensor_new(&c.bias, UG_F32, UG_DIMS(H, Nq, Nk), &err)) &&
            !(st = ug_tensor_new(&c.shift, UG_F32, UG_DIMS(B, 1, Nq, Nk), &err))) {
            fill(&c.bias, 4.0f);
            float *m = c.shift.data;
            for (int64_t i = 0; i < ug_tensor_numel(&c.shift); i++)
                m[i] = (i / 37) % 3 ? 0.0f : -100.0f;
            c.extra.bias[0] = &c.bias;
            c.extra.bias[1] = &c.shift; // the shift mask is additive (-100), not boolean
        }
    }
    if (!st && (extras & WITH_MASK)) {
        if (!(st = ug_tensor_new(&c.mask, UG_U8, UG_DIMS(B, H, Nq, Nk), &err))) {
            fill(&c.mask, 1.0f);
            c.extra.mask = &c.mask;
        }
    }
    if (!st) st = attention_check(&c.out, &c.q, &c.k, &c.v, &c.extra, &err);
    if (st) {
        fprintf(b->out, "%-28s skipped: %s\n", name, err.msg);
        free_case(&c);
        return;
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lld %lldx%lld D%lld%s", (long long)B, (long long)H, (long long)Nq,
             (long long)Nk, (long long)D,
             extras & WITH_REL    ? " rel"
             : extras & WITH_SWIN ? " bias+shift"
             : extras & WITH_MASK ? " mask"
                                  : "");
    double ms = bench_time_ms(b, run_attention, &c, 300.0);
    bench_row(b, name, shape, ms, 2.0 * (double)(B * H) * (double)Nq * (double)Nk * (double)(2 * D), 0);
    free_case(&c);
}

typedef struct softmax_case {
    ug_ctx *ctx;
    ug_tensor x;
} softmax_case;

static void run_softmax(void *arg) {
    softmax_case *c = arg;
    softmax_cpu(c->ctx, &c->x, &c->x);
}

static void bench_softmax(ug_bench *b, const char *name, int64_t rows, int64_t cols) {
    softmax_case c = {.ctx = b->ctx};
    ug_err err;
    if (ug_tensor_new(&c.x, UG_F32, UG_DIMS(rows, cols), &err)) {
        fprintf(b->out, "%-28s skipped: %s\n", name, err.msg);
        return;
    }
    fill(&c.x, 8.0f);
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lld in place", (long long)rows, (long long)cols);
    double ms = bench_time_ms(b, run_softmax, &c, 200.0);
    bench_row(b, name, shape, ms, 0, 2.0 * (double)ug_tensor_nbytes(&c.x)); // read + write
    ug_tensor_free(&c.x);
}

void bench_attention(ug_bench *b) {
    bench_case(b, "attn sam_vith_global", 1, 16, 4096, 4096, 80, 64, WITH_REL);
    bench_case(b, "attn sam_vith_window", 25, 16, 196, 196, 80, 14, WITH_REL);
    // Swin-B stage 3 at 1024 x 2048: 64 x 128 tokens padded to 72 x 132 -> 66 windows of 12 x 12.
    bench_case(b, "attn swinb_s3_window", 66, 16, 144, 144, 32, 0, WITH_SWIN);
    // Mask2Former masked cross-attention: 100 queries over a 32 x 64 level.
    bench_case(b, "attn m2f_masked_cross", 1, 8, 100, 2048, 32, 0, WITH_MASK);
    // SAM mask decoder token-to-image: 50 prompts x 7 tokens over 64 x 64 keys, C/2 = 128.
    bench_case(b, "attn sam_dec_t2i", 50, 8, 7, 4096, 16, 0, 0);
    // ... and image-to-token: 64 x 64 queries over the 7 tokens (one vector of keys per row).
    bench_case(b, "attn sam_dec_i2t", 50, 8, 4096, 7, 16, 0, 0);
    bench_softmax(b, "softmax m2f_attn_rows", 800, 2048);
}
