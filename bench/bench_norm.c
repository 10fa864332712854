// bench/bench_norm.c — timings of ops/norm* for `ugains bench ops`.
#include "bench/bench.h"

void bench_norm(ug_bench *b) { (void)b; }
