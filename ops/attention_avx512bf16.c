// ops/attention_avx512bf16.c — the AVX-512 instance of the tiled attention kernel
// (ops/attention_tile.h) with bf16 products (vdpbf16ps); chosen at run time by attention_cpu
// when the context computes in bf16 (gemm_uses_bf16).
#define UG_ATTENTION_BF16
#define UG_ATTENTION_TILE_IMPL
#include "ops/attention_tile.h"
