// bench/bench_msdeform.c — timings of ops/msdeform_attn for `ugains bench ops`, at the shapes
// the pixel decoder runs it for a 1024 x 2048 input: RbA (Swin-B, one level: res5 32x64, 8
// heads of 32, 4 points) and the standard three-level Mask2Former encoder (res3..res5).
// GFLOP/s counts 2 flops per corner tap and channel (4 corners x L x P per output element)
// plus the attention-weight multiply folded into the taps.
#include <stdio.h>

#include "bench/bench.h"
#include "ops/msdeform_attn.h"

typedef struct md_case {
    ug_ctx *ctx;
    ug_tensor value, loc, aw, out;
    const int64_t (*shapes)[2];
    int64_t L;
} md_case;

static void fill_f32(ug_tensor *t, float lo, float hi, uint32_t s) {
    float *p = t->data;
    for (int64_t i = 0; i < ug_tensor_numel(t); i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = lo + (hi - lo) * (float)(s >> 8) / (float)(1 << 24);
    }
}

// Locations as the encoder makes them: each query's reference point (its own token's
// normalised position, the same on every level) plus offsets of up to ~4 pixels of the level,
// so the gathers have the locality of the real model (uniformly random locations would turn
// the 3-level case into a cache-miss benchmark).
static void place_near_reference(md_case *c, int64_t M, int64_t P) {
    float *loc = c->loc.data;
    uint32_t s = 2;
    int64_t L = c->L, q = 0;
    for (int64_t lt = 0; lt < L; lt++) {
        int64_t h = c->shapes[lt][0], w = c->shapes[lt][1];
        for (int64_t t = 0; t < h * w; t++, q++) {
            float rx = ((float)(t % w) + 0.5f) / (float)w, ry = ((float)(t / w) + 0.5f) / (float)h;
            for (int64_t i = 0; i < M * L * P; i++) {
                int64_t l = (i / P) % L;
                float r[2];
                for (int e = 0; e < 2; e++) {
                    s = s * 1664525u + 1013904223u;
                    r[e] = 8.0f * ((float)(s >> 8) / (float)(1 << 24) - 0.5f);
                }
                loc[(q * M * L * P + i) * 2] = rx + r[0] / (float)c->shapes[l][1];
                loc[(q * M * L * P + i) * 2 + 1] = ry + r[1] / (float)c->shapes[l][0];
            }
        }
    }
}

static void run_msdeform(void *arg) {
    md_case *c = arg;
    msdeform_attn_cpu(c->ctx, &c->out, &c->value, c->shapes, c->L, &c->loc, &c->aw);
}

static void bench_case(ug_bench *b, const char *name, const int64_t (*shapes)[2], int64_t L, int64_t M,
                       int64_t D, int64_t P) {
    int64_t S = 0;
    for (int64_t l = 0; l < L; l++)
        S += shapes[l][0] * shapes[l][1];
    md_case c = {.ctx = b->ctx, .shapes = shapes, .L = L};
    ug_err err;
    // The encoder's queries are its own tokens: Nq = S.
    if (ug_tensor_new(&c.value, UG_F32, UG_DIMS(1, S, M, D), &err) ||
        ug_tensor_new(&c.loc, UG_F32, UG_DIMS(1, S, M, L * P, 2), &err) ||
        ug_tensor_new(&c.aw, UG_F32, UG_DIMS(1, S, M, L * P), &err) ||
        ug_tensor_new(&c.out, UG_F32, UG_DIMS(1, S, M * D), &err)) {
        fprintf(b->out, "%-28s skipped: %s\n", name, err.msg);
    } else {
        fill_f32(&c.value, -1, 1, 1);
        place_near_reference(&c, M, P);
        fill_f32(&c.aw, 0, 1.0f / (float)(L * P), 3);
        char shape[128];
        snprintf(shape, sizeof shape, "S=%lld M=%lld D=%lld L=%lld P=%lld", (long long)S, (long long)M,
                 (long long)D, (long long)L, (long long)P);
        double ms = bench_time_ms(b, run_msdeform, &c, 300.0);
        bench_row(b, name, shape, ms, (double)S * M * D * L * P * 4 * 2, 0);
    }
    ug_tensor_free(&c.value);
    ug_tensor_free(&c.loc);
    ug_tensor_free(&c.aw);
    ug_tensor_free(&c.out);
}

void bench_msdeform(ug_bench *b) {
    static const int64_t rba[1][2] = {{32, 64}};
    static const int64_t m2f[3][2] = {{32, 64}, {64, 128}, {128, 256}};
    bench_case(b, "msdeform_attn rba", rba, 1, 8, 32, 4);
    bench_case(b, "msdeform_attn m2f 3 levels", m2f, 3, 8, 32, 4);
}
