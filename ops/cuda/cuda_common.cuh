// ops/cuda/cuda_common.cuh — what every kernel file of ops/cuda/ includes: the CUDA surface
// (nvcc's, or the emulator's under UG_CUDA_EMU), the launch macro, dtype widening, index
// helpers, and the C side of the backend (ops/cuda/backend_cuda.h: stream, sticky errors,
// device scratch) that the extern "C" entries use.
//
// Rules that keep one source valid for nvcc and for the emulator (tests/cuda_emu/):
//   * launch with UG_LAUNCH, never with <<< >>> directly;
//   * dynamic shared memory through UG_DYNAMIC_SHARED;
//   * barriers in uniform control flow: threads past the end of the data stay in the kernel and
//     skip work with a bounds check, they do not return before a __syncthreads;
//   * every warp collective with an explicit mask naming exactly the lanes that reach it;
//   * no inline PTX outside a wrapper that the emulator implements as well.
#ifndef UG_CUDA_COMMON_CUH
#define UG_CUDA_COMMON_CUH

#include <stdint.h>

#ifdef UG_CUDA_EMU
#include "tests/cuda_emu/emu_kernel.h"
#else
#include <cuda_runtime.h>
#endif

extern "C" {
#include "ops/cuda/backend_cuda.h"
}

// UG_LAUNCH(kernel, grid, block, shared_bytes, stream, args...): one launch. Template kernels
// with several arguments go in parentheses: UG_LAUNCH((k<64, 4>), ...).
#ifdef UG_CUDA_EMU
#define UG_LAUNCH(kernel, grid, block, smem, stream, ...)                                                    \
    emu_launch_fn(#kernel, __FILE__, __LINE__, grid, block, smem, stream, [=]() { kernel(__VA_ARGS__); })
#define UG_DYNAMIC_SHARED(type, name) type *name = (type *)emu_cur->dyn_shared
#else
#define UG_LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#define UG_DYNAMIC_SHARED(type, name)                                                                        \
    extern __shared__ __align__(16) unsigned char ug_dyn_shared_[];                                          \
    type *name = (type *)ug_dyn_shared_
#endif

#define UG_FULL_MASK 0xffffffffu

// ---- dtypes: weights keep their packed dtype and are widened where they are read ----

static __device__ __forceinline__ float cu_bf16_to_f32(uint16_t h) {
    return __uint_as_float((unsigned)h << 16);
}

// IEEE half to float without the cuda_fp16 types, so the emulator runs the same code.
static __device__ __forceinline__ float cu_f16_to_f32(uint16_t h) {
    unsigned sign = (unsigned)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return __uint_as_float(sign | 0x7f800000u | (man << 13)); // inf / NaN
    if (exp == 0) {                                                            // zero / subnormal
        float f = (float)man * (1.0f / 16777216.0f);                           // man * 2^-24
        return sign ? -f : f;
    }
    return __uint_as_float(sign | ((exp + 112u) << 23) | (man << 13));
}

// Element i of a weight stored as F32, BF16 or F16 (ug_dtype values UG_F32 / UG_BF16 / UG_F16).
static __device__ __forceinline__ float cu_load_weight(const void *p, int dtype, int64_t i) {
    if (dtype == 2) return cu_bf16_to_f32(((const uint16_t *)p)[i]); // UG_BF16
    if (dtype == 1) return cu_f16_to_f32(((const uint16_t *)p)[i]);  // UG_F16
    return ((const float *)p)[i];
}

// ---- single roundings ----

// Products and sums that must round one by one, as the CPU reference does: nvcc fuses a * b + c
// into an fma by default (so does g++ for C++ unless -ffp-contract=off). On the device these
// are the _rn intrinsics, which are never contracted; in the emulator an empty asm hides the
// product from the host compiler as well.
#ifdef UG_CUDA_EMU
static inline float cu_fmul(float a, float b) {
    float r = a * b;
    __asm__("" : "+x"(r));
    return r;
}
static inline float cu_fadd(float a, float b) {
    return a + b;
}
static inline double cu_dmul(double a, double b) {
    double r = a * b;
    __asm__("" : "+x"(r));
    return r;
}
static inline double cu_dadd(double a, double b) {
    return a + b;
}
#else
#define cu_fmul __fmul_rn
#define cu_fadd __fadd_rn
#define cu_dmul __dmul_rn
#define cu_dadd __dadd_rn
#endif

// ---- sizes ----

static inline unsigned cu_blocks(int64_t n, int threads) {
    return (unsigned)((n + threads - 1) / threads);
}
template <class T> static __device__ __host__ __forceinline__ T cu_min(T a, T b) {
    return a < b ? a : b;
}
template <class T> static __device__ __host__ __forceinline__ T cu_max(T a, T b) {
    return a < b ? b : a;
}

// Up to 5-D shape and element strides passed by value to a kernel, for ops on strided views.
typedef struct cu_dims {
    int ndim;
    int64_t shape[5];
    int64_t stride[5];
} cu_dims;

// Offset of linear (row-major) element i of a tensor with dims d.
static __device__ __forceinline__ int64_t cu_offset(const cu_dims &d, int64_t i) {
    int64_t off = 0;
    for (int k = d.ndim - 1; k >= 0; k--) {
        int64_t s = d.shape[k];
        off += (i % s) * d.stride[k];
        i /= s;
    }
    return off;
}

static inline cu_dims cu_dims_of(const ug_tensor *t) {
    cu_dims d;
    d.ndim = t->ndim;
    for (int k = 0; k < 5; k++) {
        d.shape[k] = k < t->ndim ? t->shape[k] : 1;
        d.stride[k] = k < t->ndim ? t->stride[k] : 0;
    }
    return d;
}

#endif
