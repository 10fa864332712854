// bench/bench_attention.c — timings of ops/attention* for `ugains bench ops`.
#include "bench/bench.h"

void bench_attention(ug_bench *b) { (void)b; }
