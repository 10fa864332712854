// bench/peak.c — measured f32 FMA peak: every pool thread runs independent chains of vector
// FMAs (enough of them to cover the FMA latency x throughput of current x86 cores) and the
// total flop count over wall time is the machine's ceiling that "% of peak" refers to. The bf16
// peak is the same probe with vdpbf16ps (the bf16 GEMM's instruction) in place of the FMA.
#include <immintrin.h>

#include "bench/bench.h"
#include "engine/cpu.h"
#include "engine/timer.h"

enum { PEAK_ITERS = 20 * 1000 * 1000 / 16 };

// 12 independent accumulators x 16 lanes x 2 flops per iteration; the chains are written out
// so that they stay in registers (a rolled loop over an array spills them to memory).
#define FMA12(fma, acc, a, c)                                                                                \
    do {                                                                                                     \
        acc##0 = fma(acc##0, a, c);                                                                          \
        acc##1 = fma(acc##1, a, c);                                                                          \
        acc##2 = fma(acc##2, a, c);                                                                          \
        acc##3 = fma(acc##3, a, c);                                                                          \
        acc##4 = fma(acc##4, a, c);                                                                          \
        acc##5 = fma(acc##5, a, c);                                                                          \
        acc##6 = fma(acc##6, a, c);                                                                          \
        acc##7 = fma(acc##7, a, c);                                                                          \
        acc##8 = fma(acc##8, a, c);                                                                          \
        acc##9 = fma(acc##9, a, c);                                                                          \
        acc##10 = fma(acc##10, a, c);                                                                        \
        acc##11 = fma(acc##11, a, c);                                                                        \
    } while (0)

__attribute__((target("avx512f"))) static float fma_loop_avx512(int64_t iters) {
    __m512 r0 = _mm512_set1_ps(0.0f), r1 = _mm512_set1_ps(0.1f), r2 = _mm512_set1_ps(0.2f),
           r3 = _mm512_set1_ps(0.3f), r4 = _mm512_set1_ps(0.4f), r5 = _mm512_set1_ps(0.5f),
           r6 = _mm512_set1_ps(0.6f), r7 = _mm512_set1_ps(0.7f), r8 = _mm512_set1_ps(0.8f),
           r9 = _mm512_set1_ps(0.9f), r10 = _mm512_set1_ps(1.0f), r11 = _mm512_set1_ps(1.1f);
    const __m512 a = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; it++)
        FMA12(_mm512_fmadd_ps, r, a, c);
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(r0, r1), _mm512_add_ps(r2, r3)),
                             _mm512_add_ps(_mm512_add_ps(r4, r5), _mm512_add_ps(r6, r7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(r8, r9), _mm512_add_ps(r10, r11)));
    return _mm512_reduce_add_ps(s);
}

// The same chains of vdpbf16ps: 16 lanes x 2 products x 2 flops per instruction.
__attribute__((target("avx512f,avx512bf16"))) static float dpbf16_loop(int64_t iters) {
    __m512 r0 = _mm512_set1_ps(0.0f), r1 = _mm512_set1_ps(0.1f), r2 = _mm512_set1_ps(0.2f),
           r3 = _mm512_set1_ps(0.3f), r4 = _mm512_set1_ps(0.4f), r5 = _mm512_set1_ps(0.5f),
           r6 = _mm512_set1_ps(0.6f), r7 = _mm512_set1_ps(0.7f), r8 = _mm512_set1_ps(0.8f),
           r9 = _mm512_set1_ps(0.9f), r10 = _mm512_set1_ps(1.0f), r11 = _mm512_set1_ps(1.1f);
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f)),
                   c = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4f), _mm512_set1_ps(1e-4f));
    for (int64_t it = 0; it < iters; it++)
        FMA12(_mm512_dpbf16_ps, r, a, c);
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(r0, r1), _mm512_add_ps(r2, r3)),
                             _mm512_add_ps(_mm512_add_ps(r4, r5), _mm512_add_ps(r6, r7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(r8, r9), _mm512_add_ps(r10, r11)));
    return _mm512_reduce_add_ps(s);
}

// The same with 8 lanes (AVX2 + FMA).
static float fma_loop_avx2(int64_t iters) {
    __m256 r0 = _mm256_set1_ps(0.0f), r1 = _mm256_set1_ps(0.1f), r2 = _mm256_set1_ps(0.2f),
           r3 = _mm256_set1_ps(0.3f), r4 = _mm256_set1_ps(0.4f), r5 = _mm256_set1_ps(0.5f),
           r6 = _mm256_set1_ps(0.6f), r7 = _mm256_set1_ps(0.7f), r8 = _mm256_set1_ps(0.8f),
           r9 = _mm256_set1_ps(0.9f), r10 = _mm256_set1_ps(1.0f), r11 = _mm256_set1_ps(1.1f);
    const __m256 a = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; it++)
        FMA12(_mm256_fmadd_ps, r, a, c);
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r0, r1), _mm256_add_ps(r2, r3)),
                             _mm256_add_ps(_mm256_add_ps(r4, r5), _mm256_add_ps(r6, r7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(r8, r9), _mm256_add_ps(r10, r11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

typedef struct {
    bool avx512, bf16;
    int64_t iters;
    volatile float sink[UG_MAX_THREADS];
} peak_arg;

static void peak_worker(void *varg, int64_t begin, int64_t end, int thread) {
    peak_arg *a = varg;
    for (int64_t i = begin; i < end; i++)
        a->sink[thread] += a->bf16     ? dpbf16_loop(a->iters)
                           : a->avx512 ? fma_loop_avx512(a->iters)
                                       : fma_loop_avx2(a->iters);
}

// Best of 3 runs of the loop on every thread; flops_per_iter counts all 12 chains.
static double measure(ug_ctx *ctx, peak_arg *pa, double flops_per_iter) {
    double best = 0;
    for (int rep = 0; rep < 3; rep++) { // best of 3: the peak is a ceiling, not an average
        double t0 = ug_now_ms();
        ug_parallel_for(ctx->pool, ctx->nthreads, 1, peak_worker, pa);
        double ms = ug_now_ms() - t0;
        double g = (double)ctx->nthreads * (double)pa->iters * flops_per_iter / (ms * 1e6);
        if (g > best) best = g;
    }
    return best;
}

double bench_measure_peak_gflops(ug_ctx *ctx) {
    peak_arg a = {.avx512 = ug_cpu_use_avx512(), .iters = PEAK_ITERS};
    return measure(ctx, &a, 12.0 * (a.avx512 ? 16 : 8) * 2);
}

double bench_measure_peak_bf16_gflops(ug_ctx *ctx) {
    if (!ug_cpu_use_avx512_bf16()) return 0;
    peak_arg a = {.bf16 = true, .iters = PEAK_ITERS};
    return measure(ctx, &a, 12.0 * 16 * 2 * 2);
}

void bench_peak(ug_bench *b) {
    char shape[64];
    snprintf(shape, sizeof shape, "%d threads, %s", b->ctx->nthreads, ug_cpu_name());
    fprintf(b->out, "%-28s %-34s %10s %10.1f %8s %9s\n", "fma_peak", shape, "-", b->peak_gflops, "100.0",
            "-");
    if (b->peak_bf16_gflops > 0) {
        snprintf(shape, sizeof shape, "%d threads, avx512 vdpbf16ps", b->ctx->nthreads);
        fprintf(b->out, "%-28s %-34s %10s %10.1f %8s %9s\n", "dpbf16_peak", shape, "-", b->peak_bf16_gflops,
                "100.0", "-");
    }
}
