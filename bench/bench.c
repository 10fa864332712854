// bench/bench.c — see bench.h.
#include "bench/bench.h"

#include <stdlib.h>
#include <string.h>

#include "engine/timer.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_time_ms(const ug_bench *b, bench_fn fn, void *arg, double min_ms) {
    fn(arg); // warm-up: page faults, scratch growth, caches
    enum { MAX_RUNS = 100 };
    double t[MAX_RUNS];
    int n = 0;
    double total = 0;
    int min_runs = b->quick ? 1 : 3;
    while (n < MAX_RUNS && (n < min_runs || (!b->quick && total < min_ms))) {
        double t0 = ug_now_ms();
        fn(arg);
        t[n] = ug_now_ms() - t0;
        total += t[n++];
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return t[n / 2];
}

void bench_header(ug_bench *b) {
    fprintf(b->out, "%-28s %-34s %10s %10s %8s %9s\n", "op", "shape", "ms", "GFLOP/s", "%peak", "GB/s");
}

void bench_row(ug_bench *b, const char *op, const char *shape, double ms, double flops, double bytes) {
    double gflops = flops > 0 ? flops / (ms * 1e6) : 0;
    double gbs = bytes > 0 ? bytes / (ms * 1e6) : 0;
    char gf[16] = "-", pk[16] = "-", bw[16] = "-";
    if (flops > 0) {
        snprintf(gf, sizeof gf, "%.1f", gflops);
        snprintf(pk, sizeof pk, "%.1f", 100.0 * gflops / b->peak_gflops);
    }
    if (bytes > 0) snprintf(bw, sizeof bw, "%.2f", gbs);
    fprintf(b->out, "%-28s %-34s %10.3f %10s %8s %9s\n", op, shape, ms, gf, pk, bw);
    fflush(b->out);
}

bool bench_parse_image(const char *what, const char *arg, int max, int *H, int *W) {
    bool ok = sscanf(arg, "%dx%d", H, W) == 2 && *H >= 1 && *W >= 1;
    if (max > 0) {
        ok = ok && *H <= max && *W <= max;
        if (!ok) fprintf(stderr, "ugains: bench %s: --image wants HxW (1..%d each), got '%s'\n", what, max, arg);
    } else if (!ok) {
        fprintf(stderr, "ugains: bench %s: --image wants HxW, got '%s'\n", what, arg);
    }
    return ok;
}

bool bench_parse_dtype(const char *what, const char *arg, ug_dtype *dt) {
    if (!strcmp(arg, "f32")) *dt = UG_F32;
    else if (!strcmp(arg, "bf16")) *dt = UG_BF16;
    else if (!strcmp(arg, "f16")) *dt = UG_F16;
    else {
        fprintf(stderr, "ugains: bench %s: --dtype wants f32, bf16 or f16\n", what);
        return false;
    }
    return true;
}
