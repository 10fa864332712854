// bench/bench_cuda_peak.cu — the f32 FMA peak of the CUDA device, measured (the GPU's bench/peak.c):
// every thread runs 8 independent FMA chains in registers (enough to hide the 4-cycle FMA latency
// at full occupancy), 2 flops per FMA, no memory traffic but one store per thread so the chains
// are not removed. Under the emulator the figure is the CPU's and means nothing.
#include "ops/cuda/cuda_common.cuh"

#include "bench/bench_cuda.h"

static __global__ void fma_chains(float *out, int iters, float a, float b) {
    float x[8];
    for (int k = 0; k < 8; k++)
        x[k] = (float)(threadIdx.x + k);
    for (int i = 0; i < iters; i++)
        for (int k = 0; k < 8; k++)
            x[k] = fmaf(x[k], a, b);
    float s = 0.0f;
    for (int k = 0; k < 8; k++)
        s += x[k];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

extern "C" double bench_cuda_peak_gflops(ug_ctx *ctx, bool quick) {
    struct cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return 0.0;
#ifdef UG_CUDA_EMU
    int blocks = 2, iters = 64;
#else
    int blocks = p.multiProcessorCount * 8, iters = quick ? 4096 : 16384;
#endif
    int threads = 256;
    float *out = NULL;
    if (cudaMalloc((void **)&out, sizeof(float) * (size_t)blocks * threads) != cudaSuccess) return 0.0;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    float ms = 0.0f;
    for (int rep = 0; rep < 2; rep++) { // the first run warms up clocks and caches
        cudaEventRecord(e0, cu_stream(ctx));
        UG_LAUNCH(fma_chains, dim3(blocks), dim3(threads), 0, cu_stream(ctx), out, iters, 0.999f, 0.001f);
        cudaEventRecord(e1, cu_stream(ctx));
        cudaEventSynchronize(e1);
        cudaEventElapsedTime(&ms, e0, e1);
    }
    bool ok = cudaGetLastError() == cudaSuccess;
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(out);
    double flops = 2.0 * 8 * iters * (double)blocks * threads;
    return ok && ms > 0 ? flops / (ms * 1e6) : 0.0;
}
