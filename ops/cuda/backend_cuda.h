// ops/cuda/backend_cuda.h — the CUDA backend (make CUDA=1 with nvcc, make CUDA=emu on the
// emulator of tests/cuda_emu/): its op table, and what its entries share.
//
// Every table entry is <slot>_cuda with the contract of <slot>_cpu (ops/<op>.h). Entries are
// extern "C" functions in ops/cuda/<op>.cu; they return void like the CPU kernels, so a CUDA
// error (a failed launch, device memory exhausted) is kept as the context's first error: later
// entries do nothing, and the next ug_to_host / ug_to_device / ug_ctx_device_status returns it
// as "cuda: <op>: <CUDA error string>". Nothing aborts or exits.
#ifndef UG_OPS_CUDA_BACKEND_H
#define UG_OPS_CUDA_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/backend.h"

#ifdef UG_CUDA_EMU
#include "tests/cuda_emu/emu_runtime.h"
#else
#include <cuda_runtime_api.h>
#endif

extern const ug_backend ug_backend_cuda;
extern const ug_memory ug_cuda_memory;

// Whether a usable CUDA device is there; if not, err says why ("no CUDA device: ...").
ug_status ug_cuda_available(ug_err *err);
// One line naming the device ("NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB, driver 13.0") or why
// there is none; for --version.
void ug_cuda_describe(char *buf, size_t n);

// ---- for the entries in ops/cuda/*.cu ----

typedef struct cu_state {
    cudaStream_t stream; // every launch and copy of the context goes here
    ug_status st;        // first failure (UG_OK while none)
    ug_err err;
} cu_state;

cudaStream_t cu_stream(ug_ctx *ctx);
// True once an entry of this context failed: entries return at once.
bool cu_failed(const ug_ctx *ctx);
// Records e (if not cudaSuccess) as the context's first error, "cuda: <op>: <string>"; returns
// e == cudaSuccess. Call it with cudaGetLastError() after every launch.
bool cu_check(ug_ctx *ctx, cudaError_t e, const char *op);
// Records a failure that is not a CUDA error (an input on the wrong device, a shape that the
// kernel does not take) as the first error; returns false.
bool cu_fail(ug_ctx *ctx, const char *op, const char *what);
// Every tensor given must be on the CUDA device (NULLs are skipped); else cu_fail.
bool cu_on_device(ug_ctx *ctx, const char *op, int n, const ug_tensor *const *ts);

// Device working memory of one entry, from the context's device arena: take a mark, ask, and
// release to the mark before returning. NULL (and the error recorded) when out of memory.
ug_arena_mark cu_mark(ug_ctx *ctx);
void *cu_scratch(ug_ctx *ctx, size_t bytes, const char *op);
void cu_release(ug_ctx *ctx, ug_arena_mark m);

// *out = x when x is a contiguous F32 tensor, else a contiguous F32 copy of x (widened from
// BF16/F16/U8) in scratch memory (so take a mark first). False when that failed.
bool cu_contiguous_f32(ug_ctx *ctx, ug_tensor *out, const ug_tensor *x, const char *op);

// Fills y's bytes with 0xFF (NaN) in an emulated build, before a kernel that must write every
// element of y: an element it misses shows in the tests. No-op on a real GPU.
void cu_poison_output(ug_ctx *ctx, const ug_tensor *y);

// The strided copy kernel of ops/cuda/movement.cu (copy_cuda), also used by the helpers above.
void copy_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);

#endif
