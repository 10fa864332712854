// bench/peak.c — measured f32 FMA peak: every pool thread runs independent chains of vector
// FMAs (enough of them to cover the FMA latency x throughput of current x86 cores) and the
// total flop count over wall time is the machine's ceiling that "% of peak" refers to.
#include <immintrin.h>

#include "bench/bench.h"
#include "engine/cpu.h"
#include "engine/timer.h"

enum { PEAK_ITERS = 20 * 1000 * 1000 / 16 };

// 12 accumulators x 16 lanes x 2 flops per iteration.
__attribute__((target("avx512f"))) static float fma_loop_avx512(int64_t iters) {
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i * 1e-3f);
    const __m512 a = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, c);
    __m512 s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

// 12 accumulators x 8 lanes x 2 flops per iteration.
static float fma_loop_avx2(int64_t iters) {
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i * 1e-3f);
    const __m256 a = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, c);
    __m256 s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, acc[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

typedef struct {
    bool avx512;
    int64_t iters;
    volatile float sink[UG_MAX_THREADS];
} peak_arg;

static void peak_worker(void *varg, int64_t begin, int64_t end, int thread) {
    peak_arg *a = varg;
    for (int64_t i = begin; i < end; i++)
        a->sink[thread] += a->avx512 ? fma_loop_avx512(a->iters) : fma_loop_avx2(a->iters);
}

double bench_measure_peak_gflops(ug_ctx *ctx) {
    peak_arg a = {.avx512 = ug_cpu_use_avx512(), .iters = PEAK_ITERS};
    int lanes = a.avx512 ? 16 : 8;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) { // best of 3: the peak is a ceiling, not an average
        double t0 = ug_now_ms();
        ug_parallel_for(ctx->pool, ctx->nthreads, 1, peak_worker, &a);
        double ms = ug_now_ms() - t0;
        double flops = (double)ctx->nthreads * (double)a.iters * 12 * lanes * 2;
        double g = flops / (ms * 1e6);
        if (g > best) best = g;
    }
    return best;
}

void bench_peak(ug_bench *b) {
    char shape[64];
    snprintf(shape, sizeof shape, "%d threads, %s", b->ctx->nthreads, ug_cpu_name());
    fprintf(b->out, "%-28s %-34s %10s %10.1f %8s %9s\n", "fma_peak", shape, "-", b->peak_gflops, "100.0", "-");
}
