// bench/bench_ops.c — `ugains bench ops`: the per-op table of docs/PERFORMANCE.md.
#include <string.h>

#include "bench/bench.h"

static const struct {
    const char *name;
    void (*fn)(ug_bench *b);
    bool bf16; // has bf16 kernels (GEMM, convolution, attention)
} entries[] = {
    {"peak", bench_peak, true},           {"gemm", bench_gemm, true},
    {"conv", bench_conv, true},           {"norm", bench_norm, false},
    {"attention", bench_attention, true}, {"resample", bench_resample, false},
    {"msdeform", bench_msdeform, false},
};

void bench_ops_run(ug_bench *b) {
    bench_header(b);
    ug_precision p = b->ctx->precision;
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        if (b->filter && i > 0 && !strstr(entries[i].name, b->filter)) continue;
        ug_ctx_set_precision(b->ctx, entries[i].bf16 ? p : UG_PRECISION_F32, NULL);
        entries[i].fn(b);
    }
    ug_ctx_set_precision(b->ctx, p, NULL);
}
