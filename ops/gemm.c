// ops/gemm.c — see gemm.h.
// First version: the reference loops behind the tensor interface, so that everything built
// on matmul_cpu can be written and tested; the blocked SIMD kernel replaces the body.
#include "ops/gemm.h"

#include <assert.h>
#include <stdlib.h>

void gemm_ref(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa, int64_t csa,
              const float *B, int64_t rsb, int64_t csb, float beta, float *C, int64_t ldc,
              const float *bias) {
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++) acc += (double)A[m * rsa + k * csa] * (double)B[k * rsb + n * csb];
            double c = alpha * acc;
            if (beta != 0.0f) c += (double)beta * C[m * ldc + n];
            if (bias) c += bias[n];
            C[m * ldc + n] = (float)c;
        }
    }
}

static float load_weight(const ug_tensor *B, const void *p) {
    switch (B->dtype) {
    case UG_BF16: return ug_bf16_to_f32(*(const uint16_t *)p);
    case UG_F16: return ug_f16_to_f32(*(const uint16_t *)p);
    default: return *(const float *)p;
    }
}

void matmul_cpu(ug_ctx *ctx, ug_tensor *C, const ug_tensor *A, const ug_tensor *B,
                const ug_tensor *bias, float alpha, float beta) {
    (void)ctx;
    int batched = C->ndim == 3;
    int64_t Bt = batched ? C->shape[0] : 1;
    int64_t M = C->shape[C->ndim - 2], N = C->shape[C->ndim - 1], K = A->shape[A->ndim - 1];
    size_t esz = ug_dtype_size(B->dtype);
    for (int64_t b = 0; b < Bt; b++) {
        const float *a = (const float *)A->data + (A->ndim == 3 ? b * A->stride[0] : 0);
        const char *w = (const char *)B->data + (B->ndim == 3 ? b * B->stride[0] : 0) * (int64_t)esz;
        float *c = (float *)C->data + (batched ? b * C->stride[0] : 0);
        int64_t rsa = A->stride[A->ndim - 2], csa = A->stride[A->ndim - 1];
        int64_t rsb = B->stride[B->ndim - 2], csb = B->stride[B->ndim - 1];
        int64_t ldc = C->stride[C->ndim - 2];
        for (int64_t m = 0; m < M; m++) {
            for (int64_t n = 0; n < N; n++) {
                float acc = 0.0f;
                for (int64_t k = 0; k < K; k++)
                    acc += a[m * rsa + k * csa] * load_weight(B, w + (k * rsb + n * csb) * (int64_t)esz);
                float v = alpha * acc;
                if (beta != 0.0f) v += beta * c[m * ldc + n];
                if (bias) v += ((const float *)bias->data)[n];
                c[m * ldc + n] = v;
            }
        }
    }
}

void linear_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *W, const ug_tensor *b) {
    int64_t in = x->shape[x->ndim - 1], out = y->shape[y->ndim - 1];
    int64_t rows = ug_tensor_numel(x) / (in ? in : 1);
    assert(ug_tensor_is_contiguous(x) && ug_tensor_is_contiguous(y));
    ug_tensor x2 = ug_view_reshape(x, UG_DIMS(rows, in));
    ug_tensor y2 = ug_view_reshape(y, UG_DIMS(rows, out));
    ug_tensor wt = ug_view_transpose(W, 0, 1); // [in, out]
    matmul_cpu(ctx, &y2, &x2, &wt, b, 1.0f, 0.0f);
}
