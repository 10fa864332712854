// bench/bench_conv.c — timings of ops/conv* for `ugains bench ops`.
#include "bench/bench.h"

void bench_conv(ug_bench *b) { (void)b; }
