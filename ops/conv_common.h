// ops/conv_common.h — small helpers shared by ops/conv2d.c and ops/conv_transpose.c: GEMM
// operand views, weight widening, temporary buffers.
#ifndef UG_OPS_CONV_COMMON_H
#define UG_OPS_CONV_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tensor.h"

// A 2-D F32/BF16/F16 view [rows, cols] with element strides (sr, sc), for matmul_cpu.
static inline ug_tensor conv_view2(void *data, ug_dtype dt, int64_t rows, int64_t cols, int64_t sr,
                                   int64_t sc) {
    ug_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dt;
    t.device = UG_CPU;
    t.ndim = 2;
    t.shape[0] = rows, t.shape[1] = cols;
    t.stride[0] = sr, t.stride[1] = sc;
    return t;
}

// Temporary buffers of a kernel on validated inputs (im2col tiles, widened weights, a few MB):
// like ug_ctx_scratch, running out of memory is fatal (ug_nomem_fatal). Not ug_ctx_scratch
// itself: matmul_cpu uses every thread's scratch while these buffers are alive.
static inline void *conv_alloc(size_t bytes, const char *what) {
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p) ug_nomem_fatal("out of memory for %zu bytes of %s", bytes, what);
    return p;
}

// dst[i] = t[i] widened to F32, for a contiguous F32/BF16/F16 tensor of n elements.
static inline void conv_widen(float *dst, const ug_tensor *t, int64_t n) {
    const uint16_t *h = t->data;
    switch (t->dtype) {
    case UG_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = ug_bf16_to_f32(h[i]);
        break;
    case UG_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = ug_f16_to_f32(h[i]);
        break;
    default: memcpy(dst, t->data, (size_t)n * sizeof(float)); break;
    }
}

// F32 pointer to a bias [n]: the tensor's own data when it is F32, else widened into *tmp
// (freed by the caller). NULL bias gives NULL.
static inline const float *conv_bias_f32(const ug_tensor *b, int64_t n, float **tmp) {
    *tmp = NULL;
    if (!b) return NULL;
    if (b->dtype == UG_F32) return b->data;
    *tmp = conv_alloc((size_t)n * sizeof(float), "a widened bias");
    conv_widen(*tmp, b, n);
    return *tmp;
}

#endif
