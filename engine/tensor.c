// engine/tensor.c — see tensor.h.
#include "engine/tensor.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[UG_DTYPE_COUNT] = {
    [UG_F32] = {"F32", 4}, [UG_F16] = {"F16", 2}, [UG_BF16] = {"BF16", 2}, [UG_F64] = {"F64", 8},
    [UG_U8] = {"U8", 1},   [UG_I32] = {"I32", 4}, [UG_I64] = {"I64", 8},   [UG_BOOL] = {"BOOL", 1},
};

size_t ug_dtype_size(ug_dtype dt) {
    return (unsigned)dt < UG_DTYPE_COUNT ? dtype_info[dt].size : 0;
}

const char *ug_dtype_name(ug_dtype dt) {
    return (unsigned)dt < UG_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

bool ug_dtype_from_name(const char *name, ug_dtype *dt) {
    for (int i = 0; i < UG_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            *dt = (ug_dtype)i;
            return true;
        }
    }
    return false;
}

static void set_contiguous_strides(ug_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->stride[d] = s;
        s *= t->shape[d];
    }
}

ug_tensor ug_tensor_wrap_on(void *data, ug_device device, ug_dtype dt, int ndim, const int64_t *shape) {
    assert(ndim >= 0 && ndim <= UG_MAX_DIMS);
    ug_tensor t = {.data = data, .dtype = dt, .device = device, .ndim = ndim};
    for (int d = 0; d < ndim; d++)
        t.shape[d] = shape[d];
    set_contiguous_strides(&t);
    return t;
}

ug_tensor ug_tensor_wrap(void *data, ug_dtype dt, int ndim, const int64_t *shape) {
    return ug_tensor_wrap_on(data, UG_CPU, dt, ndim, shape);
}

ug_status ug_tensor_new(ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape, ug_err *err) {
    return ug_tensor_new_on(t, NULL, dt, ndim, shape, err);
}

ug_status ug_tensor_new_on(ug_tensor *t, const ug_memory *mem, ug_dtype dt, int ndim, const int64_t *shape,
                           ug_err *err) {
    memset(t, 0, sizeof *t);
    if (!mem) mem = &ug_host_memory;
    if (ndim < 0 || ndim > UG_MAX_DIMS || (unsigned)dt >= UG_DTYPE_COUNT)
        return ug_errf(err, UG_ERR_ARG, "tensor: bad rank %d or dtype %d", ndim, (int)dt);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && numel > UG_MAX_TENSOR_BYTES / shape[d]))
            return ug_errf(err, UG_ERR_NOMEM, "tensor: dimension %d of size %lld is absurd", d,
                           (long long)shape[d]);
        numel *= shape[d];
    }
    int64_t bytes = numel * (int64_t)ug_dtype_size(dt);
    if (bytes > UG_MAX_TENSOR_BYTES)
        return ug_errf(err, UG_ERR_NOMEM, "tensor: %lld bytes is over the limit", (long long)bytes);
    size_t alloc_bytes = ((size_t)bytes + 63) & ~(size_t)63;
    if (alloc_bytes == 0) alloc_bytes = 64;
    void *p = mem->alloc(alloc_bytes);
    if (!p)
        return ug_errf(err, UG_ERR_NOMEM, "tensor: out of %s memory for %lld bytes",
                       mem->device == UG_CPU ? "host" : ug_device_name(mem->device), (long long)bytes);
    ug_status st = mem->zero(p, alloc_bytes, err);
    if (st != UG_OK) {
        mem->free(p);
        return st;
    }
    *t = ug_tensor_wrap_on(p, mem->device, dt, ndim, shape);
    t->alloc = p;
    t->mem = mem == &ug_host_memory ? NULL : mem;
    return UG_OK;
}

void ug_tensor_free(ug_tensor *t) {
    if (!t) return;
    if (t->mem)
        t->mem->free(t->alloc);
    else
        free(t->alloc);
    memset(t, 0, sizeof *t);
}

int64_t ug_tensor_numel(const ug_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

size_t ug_tensor_nbytes(const ug_tensor *t) {
    return (size_t)ug_tensor_numel(t) * ug_dtype_size(t->dtype);
}

bool ug_tensor_is_contiguous(const ug_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != s) return false;
        s *= t->shape[d];
    }
    return true;
}

bool ug_tensor_same_shape(const ug_tensor *a, const ug_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

static const char *dims_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

const char *ug_shape_str(const ug_tensor *t, char *buf, size_t n) {
    return dims_str(t->ndim, t->shape, buf, n);
}

ug_status ug_tensor_check_shape(const ug_tensor *t, int ndim, const int64_t *shape, const char *what,
                                ug_err *err) {
    bool ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = t->shape[d] == shape[d];
    if (ok) return UG_OK;
    char got[128], want[128];
    return ug_errf(err, UG_ERR_ARG, "%s: shape %s, expected %s", what, ug_shape_str(t, got, sizeof got),
                   dims_str(ndim, shape, want, sizeof want));
}

void *ug_tensor_ptr(const ug_tensor *t, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        assert(idx[d] >= 0 && idx[d] < t->shape[d]);
        off += idx[d] * t->stride[d];
    }
    return (char *)t->data + off * (int64_t)ug_dtype_size(t->dtype);
}

ug_tensor ug_view_slice(const ug_tensor *t, int dim, int64_t start, int64_t len) {
    assert(dim >= 0 && dim < t->ndim && start >= 0 && len >= 0 && start + len <= t->shape[dim]);
    ug_tensor v = *t;
    v.alloc = NULL;
    v.mem = NULL;
    v.data = (char *)t->data + start * t->stride[dim] * (int64_t)ug_dtype_size(t->dtype);
    v.shape[dim] = len;
    return v;
}

ug_tensor ug_view_permute(const ug_tensor *t, const int *perm) {
    ug_tensor v = *t;
    v.alloc = NULL;
    v.mem = NULL;
    for (int d = 0; d < t->ndim; d++) {
        assert(perm[d] >= 0 && perm[d] < t->ndim);
        v.shape[d] = t->shape[perm[d]];
        v.stride[d] = t->stride[perm[d]];
    }
    return v;
}

ug_tensor ug_view_transpose(const ug_tensor *t, int d0, int d1) {
    assert(d0 >= 0 && d0 < t->ndim && d1 >= 0 && d1 < t->ndim);
    ug_tensor v = *t;
    v.alloc = NULL;
    v.mem = NULL;
    v.shape[d0] = t->shape[d1];
    v.shape[d1] = t->shape[d0];
    v.stride[d0] = t->stride[d1];
    v.stride[d1] = t->stride[d0];
    return v;
}

ug_tensor ug_view_expand_dim(const ug_tensor *t, int dim, int64_t n) {
    assert(t->ndim < UG_MAX_DIMS && dim >= 0 && dim <= t->ndim);
    ug_tensor v = *t;
    v.alloc = NULL;
    v.mem = NULL;
    v.ndim = t->ndim + 1;
    for (int d = t->ndim; d > dim; d--) {
        v.shape[d] = t->shape[d - 1];
        v.stride[d] = t->stride[d - 1];
    }
    v.shape[dim] = n;
    v.stride[dim] = 0;
    return v;
}

ug_tensor ug_view_reshape(const ug_tensor *t, int ndim, const int64_t *shape) {
    assert(ug_tensor_is_contiguous(t));
    ug_tensor v = ug_tensor_wrap(t->data, t->dtype, ndim, shape);
    v.device = t->device;
    assert(ug_tensor_numel(&v) == ug_tensor_numel(t));
    return v;
}

float ug_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ug_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                          // round to nearest even
    return (uint16_t)(u >> 16);
}

float ug_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { // subnormal: normalise
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ug_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  // NaN
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); // overflow (rounds up) -> inf
    if (abs < 0x38800000u) {                                   // subnormal or zero in f16
        if (abs < 0x33000000u) return (uint16_t)sign;          // below half the smallest subnormal
        uint32_t e = abs >> 23;
        uint32_t man = (abs & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; // 14..24
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u) - ((uint32_t)(127 - 15) << 23);
    return (uint16_t)(sign | (r >> 13));
}

ug_tensor ug_view_strided(const ug_tensor *t, int64_t offset, int ndim, const int64_t *shape,
                          const int64_t *stride) {
    assert(ndim >= 0 && ndim <= UG_MAX_DIMS);
    ug_tensor v = {.data = (char *)t->data + offset * (int64_t)ug_dtype_size(t->dtype),
                   .dtype = t->dtype,
                   .device = t->device,
                   .ndim = ndim};
    for (int d = 0; d < ndim; d++) {
        v.shape[d] = shape[d];
        v.stride[d] = stride[d];
    }
    return v;
}

// ---- host memory ----

static void *host_alloc(size_t bytes) {
    return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

static ug_status host_zero(void *dst, size_t bytes, ug_err *err) {
    (void)err;
    memset(dst, 0, bytes);
    return UG_OK;
}

static ug_status host_copy(void *dst, const void *src, size_t bytes, ug_err *err) {
    (void)err;
    if (bytes) memcpy(dst, src, bytes);
    return UG_OK;
}

const ug_memory ug_host_memory = {.device = UG_CPU,
                                  .alloc = host_alloc,
                                  .free = free,
                                  .zero = host_zero,
                                  .to_device = host_copy,
                                  .to_host = host_copy};

const char *ug_device_name(ug_device d) {
    switch (d) {
    case UG_CPU: return "cpu";
    case UG_CUDA: return "cuda";
    case UG_POISON: return "poison";
    default: return "?";
    }
}
