// bench/bench_resample.c — timings of ops/resample* for `ugains bench ops`.
#include "bench/bench.h"

void bench_resample(ug_bench *b) { (void)b; }
