// tests/cuda_emu/planted.h — the launchers of tests/cuda_emu/planted.cu (pointers are device
// memory of the emulator).
#ifndef UG_TEST_PLANTED_H
#define UG_TEST_PLANTED_H

#include "tests/cuda_emu/emu_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

cudaError_t planted_block_sum(float *out, const float *x, int n); // out[b] = sum of block b's 256
cudaError_t planted_warp_ops(int *out, const int *x, int warps);  // 5 ints per thread
cudaError_t planted_order(int *order, int *counter, int blocks, int threads);
cudaError_t planted_read_shared(float *out, int n, int blocks);         // out [2n]: static, dynamic
cudaError_t planted_missing_barrier(float *out, const float *x, int n); // 64 threads
cudaError_t planted_early_return(float *out, int n);                    // 64 threads
cudaError_t planted_divergent_shuffle(float *out);                      // 32 threads
cudaError_t planted_two_barriers(float *out);                           // 64 threads
cudaError_t planted_foreign_mask(float *out);                           // 32 threads
cudaError_t planted_oversized(float *out);                              // 2048 threads

#ifdef __cplusplus
}
#endif

#endif
