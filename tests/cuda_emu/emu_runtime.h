// tests/cuda_emu/emu_runtime.h — the CUDA runtime API subset the backend uses, for host code
// (C11 or C++) of a `make CUDA=emu` build, where kernels run on the CPU (emu.c). Names,
// signatures and error codes are the CUDA runtime's, so ops/cuda/ includes this or
// <cuda_runtime_api.h> and is otherwise the same code.
//
// Device memory is host memory filled with 0xFF bytes (a NaN in every float, -1 in every
// integer) when allocated, so a kernel that reads what nobody wrote sees poison. Streams and
// events are synchronous: a launch has finished when it returns.
#ifndef UG_EMU_RUNTIME_H
#define UG_EMU_RUNTIME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorLaunchFailure = 719,
} cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

typedef struct emu_stream *cudaStream_t;
typedef struct emu_event *cudaEvent_t;

#ifdef __cplusplus
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
#else
typedef struct dim3 {
    unsigned x, y, z;
} dim3;
#endif
typedef struct uint3 {
    unsigned x, y, z;
} uint3;

// The fields of cudaDeviceProp that ugains reads.
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    size_t sharedMemPerBlockOptin;
    int warpSize;
    int maxThreadsPerBlock;
    int multiProcessorCount;
    int major, minor;
    int clockRate;       // kHz
    int memoryClockRate; // kHz
    int memoryBusWidth;  // bits
};

cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaGetDevice(int *dev);
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int dev);
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaRuntimeGetVersion(int *v);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);

cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t s);
cudaError_t cudaMemset(void *p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s);

cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

// The error of the last failed call (then reset to cudaSuccess), as in CUDA.
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorName(cudaError_t e);
// For cudaErrorLaunchFailure: the emulator's report of the last failed launch (kernel, block,
// thread, file:line and what went wrong), so it reaches the op's ug_err.
const char *cudaGetErrorString(cudaError_t e);

// ---- the emulator's own controls (tests) ----

// Schedule of blocks and threads: "fwd", "rev" or "rand:SEED"; NULL reads UGAINS_EMU_SCHEDULE
// (default fwd). Returns false (and keeps the old one) for an unknown spelling.
int emu_set_schedule(const char *spec);
const char *emu_schedule(void);
// The report of the last failed launch ("" if none since emu_clear_report).
const char *emu_last_report(void);
void emu_clear_report(void);
// The n-th cudaMalloc from now (1 = the next) and every later one fail with
// cudaErrorMemoryAllocation, until emu_fail_malloc_after(0) disarms.
void emu_fail_malloc_after(long n);
// Live device allocations and their bytes (leak checks).
long emu_live_allocations(void);
size_t emu_live_bytes(void);
// Kernel launches so far.
long emu_launch_count(void);

#ifdef __cplusplus
}
#endif

#endif
