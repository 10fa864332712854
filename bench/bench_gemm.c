// bench/bench_gemm.c — timings of ops/gemm* for `ugains bench ops`.
#include "bench/bench.h"

void bench_gemm(ug_bench *b) { (void)b; }
