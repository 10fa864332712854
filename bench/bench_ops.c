// bench/bench_ops.c — `ugains bench ops`: the per-op table of docs/PERFORMANCE.md.
#include <string.h>

#include "bench/bench.h"

static const struct {
    const char *name;
    void (*fn)(ug_bench *b);
} entries[] = {
    {"peak", bench_peak},         {"gemm", bench_gemm},           {"conv", bench_conv},
    {"norm", bench_norm},         {"attention", bench_attention}, {"resample", bench_resample},
    {"msdeform", bench_msdeform},
};

void bench_ops_run(ug_bench *b) {
    bench_header(b);
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        if (b->filter && i > 0 && !strstr(entries[i].name, b->filter)) continue;
        entries[i].fn(b);
    }
}
