// tests/cuda_emu/emu_kernel.h — the device side of CUDA C++ for a `make CUDA=emu` build: the
// .cu sources of ops/cuda/ compile with the host C++ compiler against this header and run on
// the CPU under the emulator of emu.c.
//
// Model: a launch runs its blocks one after another (in the order of the schedule); each thread
// of a block is a fiber with its own stack that runs until it reaches a barrier, a warp
// collective or its end, and only there hands over to the next thread. So:
//   * __syncthreads must be reached by every thread of the block at the same source line, or the
//     launch fails with a report (a barrier after an early return, threads at two barriers);
//   * shuffles, votes and __syncwarp are rendezvous of the lanes their mask names: the mask must
//     hold the calling lane, every named lane must arrive at the same line with the same mask,
//     or the launch fails (a divergent shuffle, a collective with absent lanes);
//   * __shared__ memory (static and dynamic) holds NaN bytes (0xFF) when each block starts;
//   * atomics are plain read-modify-writes (no thread switches inside one), so the emulator does
//     not see races between switch points or between blocks: see docs/ARCHITECTURE.md.
#ifndef UG_EMU_KERNEL_H
#define UG_EMU_KERNEL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tests/cuda_emu/emu_runtime.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
// Static shared memory lives in one section that the emulator poisons at every block start.
#define __shared__   static __attribute__((section("ugemushm")))
#define __constant__ static const

extern "C" {
struct emu_thread_view {
    uint3 threadIdx, blockIdx;
    dim3 blockDim, gridDim;
    void *dyn_shared;
};
extern __thread const struct emu_thread_view *emu_cur;

void emu_syncthreads(const char *file, int line);
// One warp collective: kind (EMU_SHFL, ...), the mask, this lane's value, the argument (source
// lane, delta or xor mask) and width; returns this lane's result.
uint64_t emu_warp_op(int kind, unsigned mask, uint64_t value, int arg, int width, const char *file, int line);
void emu_trap(const char *what, const char *file, int line);

typedef void (*emu_body_fn)(void *arg);
cudaError_t emu_launch(const char *kernel, const char *file, int line, dim3 grid, dim3 block, size_t smem,
                       cudaStream_t s, emu_body_fn body, void *arg);
}

enum { EMU_SHFL, EMU_SHFL_UP, EMU_SHFL_DOWN, EMU_SHFL_XOR, EMU_BALLOT, EMU_ANY, EMU_ALL, EMU_SYNCWARP };

#define threadIdx       (emu_cur->threadIdx)
#define blockIdx        (emu_cur->blockIdx)
#define blockDim        (emu_cur->blockDim)
#define gridDim         (emu_cur->gridDim)
#define warpSize        32
#define __syncthreads() emu_syncthreads(__FILE__, __LINE__)
#define __trap()        emu_trap("__trap", __FILE__, __LINE__)

// ---- warp collectives ----

template <class T> static inline uint64_t emu_bits(T v) {
    static_assert(sizeof(T) <= 8, "shuffle of a value wider than 8 bytes");
    uint64_t b = 0;
    memcpy(&b, &v, sizeof v);
    return b;
}
template <class T> static inline T emu_from_bits(uint64_t b) {
    T v;
    memcpy(&v, &b, sizeof v);
    return v;
}

template <class T>
static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32, const char *file = __builtin_FILE(),
                            int line = __builtin_LINE()) {
    return emu_from_bits<T>(emu_warp_op(EMU_SHFL, mask, emu_bits(v), src, width, file, line));
}
template <class T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32,
                               const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return emu_from_bits<T>(emu_warp_op(EMU_SHFL_UP, mask, emu_bits(v), (int)delta, width, file, line));
}
template <class T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32,
                                 const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return emu_from_bits<T>(emu_warp_op(EMU_SHFL_DOWN, mask, emu_bits(v), (int)delta, width, file, line));
}
template <class T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32,
                                const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return emu_from_bits<T>(emu_warp_op(EMU_SHFL_XOR, mask, emu_bits(v), lane_mask, width, file, line));
}
static inline unsigned __ballot_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                                     int line = __builtin_LINE()) {
    return (unsigned)emu_warp_op(EMU_BALLOT, mask, pred != 0, 0, 32, file, line);
}
static inline int __any_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                             int line = __builtin_LINE()) {
    return (int)emu_warp_op(EMU_ANY, mask, pred != 0, 0, 32, file, line);
}
static inline int __all_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                             int line = __builtin_LINE()) {
    return (int)emu_warp_op(EMU_ALL, mask, pred != 0, 0, 32, file, line);
}
static inline void __syncwarp(unsigned mask = 0xffffffffu, const char *file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
    emu_warp_op(EMU_SYNCWARP, mask, 0, 0, 32, file, line);
}

// ---- atomics: no switch inside one, so a plain update is atomic here ----

template <class T> static inline T atomicAdd(T *p, T v) {
    T old = *p;
    *p = old + v;
    return old;
}
template <class T> static inline T atomicMax(T *p, T v) {
    T old = *p;
    *p = old < v ? v : old;
    return old;
}
template <class T> static inline T atomicMin(T *p, T v) {
    T old = *p;
    *p = v < old ? v : old;
    return old;
}
template <class T> static inline T atomicExch(T *p, T v) {
    T old = *p;
    *p = v;
    return old;
}
template <class T> static inline T atomicCAS(T *p, T cmp, T v) {
    T old = *p;
    if (old == cmp) *p = v;
    return old;
}
template <class T> static inline T atomicOr(T *p, T v) {
    T old = *p;
    *p = old | v;
    return old;
}
static inline void __threadfence(void) {}
static inline void __threadfence_block(void) {}

// ---- intrinsics ----

template <class T> static inline T __ldg(const T *p) {
    return *p;
}
static inline float __uint_as_float(unsigned u) {
    return emu_from_bits<float>(u);
}
static inline unsigned __float_as_uint(float f) {
    return (unsigned)emu_bits(f);
}
static inline float __int_as_float(int i) {
    return emu_from_bits<float>((uint64_t)(uint32_t)i);
}
static inline int __float_as_int(float f) {
    return (int)(uint32_t)emu_bits(f);
}
// glibc declares __expf / __logf itself (the exact functions): the fast CUDA ones map to them.
#define __expf expf
#define __logf logf
static inline float __fdividef(float a, float b) {
    return a / b;
}
static inline float rsqrtf(float x) {
    return 1.0f / sqrtf(x);
}
static inline float __saturatef(float x) {
    return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
}
static inline float __fmaf_rn(float a, float b, float c) {
    return fmaf(a, b, c);
}
static inline int __float2int_rn(float x) {
    return (int)nearbyintf(x);
}
static inline int __popc(unsigned x) {
    return __builtin_popcount(x);
}
static inline int __ffs(int x) {
    return __builtin_ffs(x);
}
static inline int __clz(int x) {
    return x ? __builtin_clz((unsigned)x) : 32;
}

// ---- launches: f(args...) on every thread of the grid ----

template <class F> static void emu_body(void *arg) {
    (*(F *)arg)();
}
template <class F>
static inline cudaError_t emu_launch_fn(const char *kernel, const char *file, int line, dim3 grid, dim3 block,
                                        size_t smem, cudaStream_t s, F f) {
    return emu_launch(kernel, file, line, grid, block, smem, s, emu_body<F>, &f);
}

#endif
