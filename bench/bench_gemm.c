// bench/bench_gemm.c — timings of ops/gemm* for `ugains bench ops`: nn.Linear shapes of the
// models (weights as the transposed [N, K] view linear_cpu makes), GFLOP/s = 2 M N K / time.
// On an AVX512-BF16 CPU the same shapes again in bf16 precision (rows "gemm_bf16 ...", % of the
// vdpbf16ps peak), unless the whole table already runs in bf16 (--precision bf16).
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "engine/cpu.h"
#include "ops/gemm.h"

typedef struct gemm_case {
    ug_ctx *ctx;
    ug_tensor x, w, y; // x [M, K], w [N, K], y [M, N]
} gemm_case;

static void run_linear(void *arg) {
    gemm_case *c = arg;
    linear_cpu(c->ctx, &c->y, &c->x, &c->w, NULL);
}

static void fill(ug_tensor *t) {
    int64_t n = ug_tensor_numel(t);
    uint32_t s = 12345;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float v = (float)(s >> 8) / (float)(1 << 24) - 0.5f;
        if (t->dtype == UG_F32)
            ((float *)t->data)[i] = v;
        else if (t->dtype == UG_BF16)
            ((uint16_t *)t->data)[i] = ug_f32_to_bf16(v);
        else
            ((uint16_t *)t->data)[i] = ug_f32_to_f16(v);
    }
}

static void bench_linear(ug_bench *b, const char *name, int64_t M, int64_t K, int64_t N, ug_dtype wdt) {
    gemm_case c = {.ctx = b->ctx};
    ug_err err;
    if (ug_tensor_new(&c.x, UG_F32, UG_DIMS(M, K), &err) || ug_tensor_new(&c.w, wdt, UG_DIMS(N, K), &err) ||
        ug_tensor_new(&c.y, UG_F32, UG_DIMS(M, N), &err)) {
        fprintf(b->out, "%-28s skipped: %s\n", name, err.msg);
        goto done;
    }
    fill(&c.x);
    fill(&c.w);
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lld.%lldx%lld%s", (long long)M, (long long)K, (long long)K,
             (long long)N,
             wdt == UG_F32    ? ""
             : wdt == UG_BF16 ? " bf16"
                              : " f16");
    double ms = bench_time_ms(b, run_linear, &c, 300.0);
    bench_row(b, name, shape, ms, 2.0 * (double)M * (double)N * (double)K, 0);
done:
    ug_tensor_free(&c.x);
    ug_tensor_free(&c.w);
    ug_tensor_free(&c.y);
}

static void bench_shapes(ug_bench *b, const char *family) {
    static const struct {
        const char *name;
        int64_t M, K, N;
        ug_dtype wdt;
    } rows[] = {{"vith_qkv", 4096, 1280, 3840, UG_F32},  {"vith_mlp1", 4096, 1280, 5120, UG_F32},
                {"vith_mlp2", 4096, 5120, 1280, UG_F32}, {"vith_mlp1_bf16", 4096, 1280, 5120, UG_BF16},
                {"swinb_qkv", 8192, 512, 1536, UG_F32},  {"m2f_ffn1", 100, 256, 2048, UG_F32}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s %s", family, rows[i].name);
        bench_linear(b, name, rows[i].M, rows[i].K, rows[i].N, rows[i].wdt);
    }
}

void bench_gemm(ug_bench *b) {
    bench_shapes(b, gemm_uses_bf16(b->ctx) ? "gemm_bf16" : "gemm");
    if (gemm_uses_bf16(b->ctx) || !ug_cpu_use_avx512_bf16()) return;
    ug_ctx_set_precision(b->ctx, UG_PRECISION_BF16, NULL);
    bench_shapes(b, "gemm_bf16");
    ug_ctx_set_precision(b->ctx, UG_PRECISION_F32, NULL);
}
