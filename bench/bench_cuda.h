// bench/bench_cuda.h — `ugains bench ops --device cuda`: the CUDA kernels at the models' shapes.
#ifndef UG_BENCH_CUDA_H
#define UG_BENCH_CUDA_H

#include <stdbool.h>

#include "engine/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ug_bench;

// The device's measured f32 FMA peak in GFLOP/s (bench/bench_cuda_peak.cu); 0 if it failed.
double bench_cuda_peak_gflops(ug_ctx *ctx, bool quick);

// Every row of the CUDA table of docs/PERFORMANCE.md; b->ctx must be on the CUDA device.
// Returns false (err set) when a device error stopped it.
bool bench_cuda_ops(struct ug_bench *b, ug_err *err);

#ifdef __cplusplus
}
#endif

#endif
