// ops/attention_avx512.c — the AVX-512 instance of the tiled attention kernel
// (ops/attention_tile.h); chosen at run time by attention_cpu.
#define UG_ATTENTION_TILE_IMPL
#include "ops/attention_tile.h"
