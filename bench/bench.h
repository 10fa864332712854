// bench/bench.h — timing harness for `ugains bench`. Every figure in docs/PERFORMANCE.md
// comes from here: wall-clock ms (median of repeated runs), GFLOP/s or GB/s, and % of the
// FMA peak this machine reaches in bench/peak.c.
#ifndef UG_BENCH_H
#define UG_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/ctx.h"

typedef struct ug_bench {
    ug_ctx *ctx;
    double peak_gflops;      // measured f32 FMA peak with ctx->nthreads threads
    double peak_bf16_gflops; // measured vdpbf16ps peak (bench_measure_peak_bf16_gflops), 0 if unknown
    bool quick;              // fewer repetitions (smoke runs)
    const char *filter;      // run only entries whose name contains this (NULL = all)
    FILE *out;
} ug_bench;

typedef void (*bench_fn)(void *arg);

// Median wall time in ms of fn(arg): one warm-up call, then repeated until `min_ms` of total
// time has passed (at least 3 runs, at most 100; quick mode: 1 run after warm-up).
double bench_time_ms(const ug_bench *b, bench_fn fn, void *arg, double min_ms);

// One table row. flops (or bytes) may be 0 when not meaningful. "% peak" is of peak_gflops, or
// of peak_bf16_gflops (when measured) while ctx computes in bf16 (gemm_uses_bf16).
void bench_header(ug_bench *b);
void bench_row(ug_bench *b, const char *op, const char *shape, double ms, double flops, double bytes);

// Option values shared by the model benchmarks (`ugains bench <what>`). On a bad value they
// print "ugains: bench <what>: ..." to stderr and return false (the caller exits with 2).
// --image HxW, each side 1..max (max <= 0: no upper bound).
bool bench_parse_image(const char *what, const char *arg, int max, int *H, int *W);
// --dtype of packed weights: f32, bf16 or f16.
bool bench_parse_dtype(const char *what, const char *arg, ug_dtype *dt);
// --precision: f32 or bf16.
bool bench_parse_precision(const char *what, const char *arg, ug_precision *p);
// Sets ctx's precision; when bf16 falls back to f32 prints the one line "ugains: bench <what>:
// --precision bf16: <why>: running in f32" (stderr) and goes on.
void bench_use_precision(const char *what, ug_ctx *ctx, ug_precision p);

// f32 FMA throughput of this machine on ctx->nthreads threads (AVX-512 when the CPU has it).
double bench_measure_peak_gflops(ug_ctx *ctx);
// The same for vdpbf16ps (16 lanes x 2 products x 2 flops per instruction: twice the f32 FMA's
// flops); 0 when ug_cpu_use_avx512_bf16() is false.
double bench_measure_peak_bf16_gflops(ug_ctx *ctx);

// Per-op-family entries of `ugains bench ops` (bench/bench_<op>.c), run in this order.
void bench_peak(ug_bench *b);
void bench_gemm(ug_bench *b);      // bench/bench_gemm.c
void bench_conv(ug_bench *b);      // bench/bench_conv.c: conv2d, conv_transpose2x2
void bench_norm(ug_bench *b);      // bench/bench_norm.c: layernorm(2d), groupnorm, activations, softmax
void bench_attention(ug_bench *b); // bench/bench_attention.c
void bench_resample(ug_bench *b);  // bench/bench_resample.c: resizes, grid sample, data movement
void bench_msdeform(ug_bench *b);  // bench/bench_msdeform.c: multi-scale deformable attention core

// `ugains bench ops`: the peak row, then every entry above (filtered by name). In bf16
// precision the families without bf16 kernels (norm, resample, msdeform) run in f32.
void bench_ops_run(ug_bench *b);

// A model's parameters (name and F32 shape of up to 4 dims), to build random weights in memory.
typedef struct bench_params {
    char (*name)[128];
    int64_t (*shape)[4];
    int *ndim;
    int n, cap;
} bench_params;

void bench_params_add(bench_params *l, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, const char *fmt,
                      ...) __attribute__((format(printf, 7, 8)));
void bench_params_free(bench_params *l);

// A safetensors image in memory (aligned_alloc'ed, *size bytes) holding every parameter of l
// as random F32: U(-a, a) with a = 1/sqrt(fan_in) for matrices (1 for relative-position bias
// tables), 0.02 for other 1-D tensors, norm weights 1 +- 0.02, so activations stay in a
// realistic range. Metadata: arch, and config (a JSON text) unless NULL. NULL on OOM.
unsigned char *bench_random_safetensors(const bench_params *l, const char *arch, const char *config,
                                        size_t *size);

// Model-level benchmarks, each a small program of its own (`ugains bench <what> --help`).
int bench_sam_main(int argc, char **argv);  // bench/bench_sam.c
int bench_swin_main(int argc, char **argv); // bench/bench_swin.c
int bench_pack_main(int argc, char **argv); // bench/bench_pack.c
int bench_rba_main(int argc, char **argv);  // bench/bench_rba.c
int bench_run_main(int argc, char **argv);  // bench/bench_run.c

#endif
