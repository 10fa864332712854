// tests/cuda_emu/planted.cu — kernels for the emulator's own test (tests/test_cuda_emu.c): a few
// correct ones whose results the test knows, and planted bugs the emulator must report. Built
// only with the emulator (make CUDA=emu): the buggy kernels are undefined behaviour on a GPU.
#include "ops/cuda/cuda_common.cuh"

#include "tests/cuda_emu/planted.h"

// ---- correct kernels ----

// Block sum through shared memory (tree with barriers), then a warp shuffle for the last 32.
static __global__ void block_sum_kernel(float *out, const float *x, int n) {
    __shared__ float part[256];
    int t = (int)threadIdx.x, i = (int)(blockIdx.x * blockDim.x) + t;
    part[t] = i < n ? x[i] : 0.0f;
    __syncthreads();
    for (int s = 128; s >= 32; s >>= 1) {
        if (t < s) part[t] += part[t + s];
        __syncthreads();
    }
    if (t < 32) {
        float v = part[t];
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_xor_sync(UG_FULL_MASK, v, o);
        if (t == 0) out[blockIdx.x] = v;
    }
}

extern "C" cudaError_t planted_block_sum(float *out, const float *x, int n) {
    UG_LAUNCH(block_sum_kernel, dim3(cu_blocks(n, 256)), dim3(256), 0, 0, out, x, n);
    return cudaGetLastError();
}

// Each lane: inclusive prefix sum by __shfl_up_sync, its ballot of odd values, the value of
// lane 31 - lane by __shfl_sync, and the warp's __all_sync / __any_sync of "value > 0".
static __global__ void warp_ops_kernel(int *out, const int *x) {
    int lane = (int)threadIdx.x % 32, v = x[threadIdx.x], scan = v;
    for (int o = 1; o < 32; o <<= 1) {
        int u = __shfl_up_sync(UG_FULL_MASK, scan, (unsigned)o);
        if (lane >= o) scan += u;
    }
    unsigned odd = __ballot_sync(UG_FULL_MASK, v & 1);
    int mirror = __shfl_sync(UG_FULL_MASK, v, 31 - lane);
    int all = __all_sync(UG_FULL_MASK, v > 0), any = __any_sync(UG_FULL_MASK, v > 0);
    int *o4 = out + 5 * threadIdx.x;
    o4[0] = scan;
    o4[1] = (int)odd;
    o4[2] = mirror;
    o4[3] = all;
    o4[4] = any;
}

extern "C" cudaError_t planted_warp_ops(int *out, const int *x, int warps) {
    UG_LAUNCH(warp_ops_kernel, dim3(1), dim3(32 * warps), 0, 0, out, x);
    return cudaGetLastError();
}

// The order in which threads (and blocks) run, as seen by a counter: schedule-dependent on
// purpose (the test checks that the schedules differ).
static __global__ void order_kernel(int *order, int *counter) {
    int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    order[i] = atomicAdd(counter, 1);
}

extern "C" cudaError_t planted_order(int *order, int *counter, int blocks, int threads) {
    UG_LAUNCH(order_kernel, dim3(blocks), dim3(threads), 0, 0, order, counter);
    return cudaGetLastError();
}

// Copies its static and dynamic shared memory out before writing either: shows the poison.
static __global__ void read_shared_kernel(float *out, int n) {
    __shared__ float s[64];
    UG_DYNAMIC_SHARED(float, d);
    int t = (int)threadIdx.x;
    if (t < n) {
        out[t] = s[t];
        out[n + t] = d[t];
    }
    s[t] = 1.0f;
    d[t] = 2.0f;
}

extern "C" cudaError_t planted_read_shared(float *out, int n, int blocks) {
    UG_LAUNCH(read_shared_kernel, dim3(blocks), dim3(64), 64 * sizeof(float), 0, out, n);
    return cudaGetLastError();
}

// ---- planted bugs ----

// The reduction above with the barrier between the store and the first read left out: a
// thread reads its neighbour's slot before the neighbour has written it (poison).
static __global__ void missing_barrier_kernel(float *out, const float *x, int n) {
    __shared__ float part[64];
    int t = (int)threadIdx.x;
    part[t] = t < n ? x[t] : 0.0f;
    float v = part[t] + part[(t + 1) % 64];
    __syncthreads();
    out[t] = v;
}

extern "C" cudaError_t planted_missing_barrier(float *out, const float *x, int n) {
    UG_LAUNCH(missing_barrier_kernel, dim3(1), dim3(64), 0, 0, out, x, n);
    return cudaGetLastError();
}

// Threads past n return before the block's barrier.
static __global__ void early_return_kernel(float *out, int n) {
    __shared__ float s[64];
    int t = (int)threadIdx.x;
    if (t >= n) return;
    s[t] = (float)t;
    __syncthreads();
    out[t] = s[(t + 1) % n];
}

extern "C" cudaError_t planted_early_return(float *out, int n) {
    UG_LAUNCH(early_return_kernel, dim3(1), dim3(64), 0, 0, out, n);
    return cudaGetLastError();
}

// Half of the warp takes a branch with a full-mask shuffle in it.
static __global__ void divergent_shuffle_kernel(float *out) {
    float v = (float)threadIdx.x;
    if (threadIdx.x < 16) v = __shfl_xor_sync(UG_FULL_MASK, v, 1);
    out[threadIdx.x] = v;
}

extern "C" cudaError_t planted_divergent_shuffle(float *out) {
    UG_LAUNCH(divergent_shuffle_kernel, dim3(1), dim3(32), 0, 0, out);
    return cudaGetLastError();
}

// Even and odd threads wait at two different barriers.
static __global__ void two_barriers_kernel(float *out) {
    if (threadIdx.x % 2)
        __syncthreads();
    else
        __syncthreads();
    out[threadIdx.x] = 1.0f;
}

extern "C" cudaError_t planted_two_barriers(float *out) {
    UG_LAUNCH(two_barriers_kernel, dim3(1), dim3(64), 0, 0, out);
    return cudaGetLastError();
}

// A shuffle whose mask leaves out the calling lane.
static __global__ void foreign_mask_kernel(float *out) {
    out[threadIdx.x] = __shfl_sync(0x0000ffffu, 1.0f, 0);
}

extern "C" cudaError_t planted_foreign_mask(float *out) {
    UG_LAUNCH(foreign_mask_kernel, dim3(1), dim3(32), 0, 0, out);
    return cudaGetLastError();
}

extern "C" cudaError_t planted_oversized(float *out) {
    UG_LAUNCH(two_barriers_kernel, dim3(1), dim3(2048), 0, 0, out);
    return cudaGetLastError();
}
