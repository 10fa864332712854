// engine/tensor.h — a small strided tensor: dtype, device, up to 5 dims, views without copies.
//
// Dimension letters used across the code base: B batch, N tokens, C channels, H/W spatial,
// Q queries, K classes, D head dim, M/N/K also name GEMM sizes where no confusion arises.
//
// A tensor is a plain value. `data` points at element [0, 0, ...]; `stride` is in elements
// (0 = broadcast). A tensor owns its memory only when `alloc` is non-NULL (ug_tensor_new);
// views (slice, permute, transpose, expand, reshape, strided) never own, never copy, keep the
// device of the tensor they look into, and must not outlive it.
//
// `data` of a tensor whose device is not UG_CPU is that device's address: only the kernels of
// its backend (ops/backend.h) and the copies of engine/device.h may use it. Host code moves data
// with ug_to_host / ug_to_device (ops/ops.h).
#ifndef UG_TENSOR_H
#define UG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/device.h"
#include "engine/error.h"

typedef enum ug_dtype {
    UG_F32 = 0,
    UG_F16,
    UG_BF16,
    UG_F64,
    UG_U8,
    UG_I32,
    UG_I64,
    UG_BOOL, // one byte, 0 or 1
    UG_DTYPE_COUNT
} ug_dtype;

enum { UG_MAX_DIMS = 5 };

typedef struct ug_tensor {
    void *data;
    ug_dtype dtype;
    ug_device device;
    int ndim;
    int64_t shape[UG_MAX_DIMS];
    int64_t stride[UG_MAX_DIMS]; // in elements
    void *alloc;                 // owned allocation, or NULL for a view
    const ug_memory *mem;        // the memory `alloc` came from (NULL: the host's)
} ug_tensor;

// UG_DIMS(2, 3, 4) expands to `3, (const int64_t[]){2, 3, 4}`: an (ndim, shape) argument pair.
#define UG_NARGS_(a, b, c, d, e, n, ...) n
#define UG_NARGS(...)                    UG_NARGS_(__VA_ARGS__, 5, 4, 3, 2, 1, 0)
#define UG_DIMS(...)                                                                                         \
    UG_NARGS(__VA_ARGS__), (const int64_t[]) {                                                               \
        __VA_ARGS__                                                                                          \
    }

size_t ug_dtype_size(ug_dtype dt);
const char *ug_dtype_name(ug_dtype dt); // "F32", "BF16", ... (safetensors spelling)
bool ug_dtype_from_name(const char *name, ug_dtype *dt);

// Largest number of elements / bytes we agree to allocate for one tensor; sizes from files
// are checked against it before any allocation.
#define UG_MAX_TENSOR_BYTES ((int64_t)1 << 36)

// New contiguous CPU tensor, zero-filled, 64-byte aligned. Fails on bad shapes or OOM.
ug_status ug_tensor_new(ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape, ug_err *err);
// The same on the device of `mem` (NULL or &ug_host_memory: the host).
ug_status ug_tensor_new_on(ug_tensor *t, const ug_memory *mem, ug_dtype dt, int ndim, const int64_t *shape,
                           ug_err *err);
// Frees an owning tensor (no-op for views and zeroed structs); leaves *t zeroed.
void ug_tensor_free(ug_tensor *t);
// Contiguous view over caller (host) memory.
ug_tensor ug_tensor_wrap(void *data, ug_dtype dt, int ndim, const int64_t *shape);
// Contiguous view over memory of `device` (arena chunks of a device, a device's outputs).
ug_tensor ug_tensor_wrap_on(void *data, ug_device device, ug_dtype dt, int ndim, const int64_t *shape);

int64_t ug_tensor_numel(const ug_tensor *t);
size_t ug_tensor_nbytes(const ug_tensor *t); // numel * dtype size (contiguous footprint)
bool ug_tensor_is_contiguous(const ug_tensor *t);
bool ug_tensor_same_shape(const ug_tensor *a, const ug_tensor *b);
// Checks ndim/shape equality; on mismatch fills err with "<what>: shape [..], expected [..]".
ug_status ug_tensor_check_shape(const ug_tensor *t, int ndim, const int64_t *shape, const char *what,
                                ug_err *err);
// Formats "[1,64,64,768]" into buf.
const char *ug_shape_str(const ug_tensor *t, char *buf, size_t n);

// Element address (any dtype) of a multi-index of length ndim.
void *ug_tensor_ptr(const ug_tensor *t, const int64_t *idx);

// Views. Indices are checked by assert; they are programming errors, not input errors.
ug_tensor ug_view_slice(const ug_tensor *t, int dim, int64_t start, int64_t len);
ug_tensor ug_view_permute(const ug_tensor *t, const int *perm);
ug_tensor ug_view_transpose(const ug_tensor *t, int d0, int d1);
// Inserts a broadcast (stride 0) dim of size n at position dim.
ug_tensor ug_view_expand_dim(const ug_tensor *t, int dim, int64_t n);
// Reshape of a contiguous tensor (numel must match).
ug_tensor ug_view_reshape(const ug_tensor *t, int ndim, const int64_t *shape);
// Any view into the memory of t: element `offset` of t's storage as element [0, ...], with the
// given shape and strides (in elements). The caller keeps it inside t's allocation; the
// dtype and device are t's. Head splits of fused projections are made with it.
ug_tensor ug_view_strided(const ug_tensor *t, int64_t offset, int ndim, const int64_t *shape,
                          const int64_t *stride);

// f16 / bf16 scalar conversions (round to nearest even, NaN preserved).
float ug_bf16_to_f32(uint16_t h);
uint16_t ug_f32_to_bf16(float f);
float ug_f16_to_f32(uint16_t h);
uint16_t ug_f32_to_f16(float f);

#endif
