// ops/elementwise.c — add, mul, scale_add over strided/broadcast views (see elementwise.h).
#include "ops/elementwise.h"

#include <assert.h>
#include <immintrin.h>

void add_ref(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void mul_ref(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}

void scale_add_ref(float *y, const float *x, float alpha, float beta, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)((double)alpha * x[i] + beta);
}

typedef enum { EW_ADD, EW_MUL, EW_AXPB } ew_op;

// The operands after merging dims: shape[0..ndim) with one stride array per operand
// (0 = y, 1 = a, 2 = b). The last dim is the inner run.
typedef struct {
    ew_op op;
    float alpha, beta;
    float *y;
    const float *a, *b;
    int ndim;
    int64_t shape[UG_MAX_DIMS];
    int64_t stride[3][UG_MAX_DIMS];
    int64_t col_blocks; // inner run split into blocks of EW_BLOCK for threading
} ew_job;

enum { EW_BLOCK = 8192 };

static inline __m256 ew_vec(const ew_job *j, __m256 a, __m256 b) {
    switch (j->op) {
    case EW_ADD: return _mm256_add_ps(a, b);
    case EW_MUL: return _mm256_mul_ps(a, b);
    default: return _mm256_fmadd_ps(a, _mm256_set1_ps(j->alpha), _mm256_set1_ps(j->beta));
    }
}

static inline float ew_scalar(const ew_job *j, float a, float b) {
    switch (j->op) {
    case EW_ADD: return a + b;
    case EW_MUL: return a * b;
    default: return __builtin_fmaf(a, j->alpha, j->beta);
    }
}

// One run of n elements with element strides sy, sa, sb.
static void ew_run(const ew_job *j, float *y, const float *a, const float *b, int64_t n, int64_t sy,
                   int64_t sa, int64_t sb) {
    int64_t i = 0;
    if (sy == 1 && sa == 1 && (sb == 1 || sb == 0)) {
        if (sb == 1) {
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(y + i, ew_vec(j, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
        } else {
            __m256 vb = _mm256_set1_ps(*b);
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(y + i, ew_vec(j, _mm256_loadu_ps(a + i), vb));
        }
    }
    for (; i < n; i++)
        y[i * sy] = ew_scalar(j, a[i * sa], b[i * sb]);
}

static void ew_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const ew_job *j = arg;
    int last = j->ndim - 1;
    int64_t inner = j->shape[last];
    for (int64_t it = begin; it < end; it++) {
        int64_t row = it / j->col_blocks, c0 = (it % j->col_blocks) * EW_BLOCK;
        int64_t n = inner - c0 < EW_BLOCK ? inner - c0 : EW_BLOCK;
        int64_t off[3] = {0, 0, 0};
        for (int d = last - 1; d >= 0; d--) { // unravel the row index over the outer dims
            int64_t i = row % j->shape[d];
            row /= j->shape[d];
            for (int t = 0; t < 3; t++)
                off[t] += i * j->stride[t][d];
        }
        for (int t = 0; t < 3; t++)
            off[t] += c0 * j->stride[t][last];
        ew_run(j, j->y + off[0], j->a + off[1], j->b + off[2], n, j->stride[0][last], j->stride[1][last],
               j->stride[2][last]);
    }
}

static void ew_launch(ug_ctx *ctx, ew_op op, float alpha, float beta, ug_tensor *y, const ug_tensor *a,
                      const ug_tensor *b) {
    assert(y->dtype == UG_F32 && a->dtype == UG_F32 && b->dtype == UG_F32);
    assert(ug_tensor_same_shape(y, a) && ug_tensor_same_shape(y, b));
    ew_job j = {.op = op, .alpha = alpha, .beta = beta, .y = y->data, .a = a->data, .b = b->data};
    const ug_tensor *t3[3] = {y, a, b};
    // Drop size-1 dims, then merge a dim into the next one when that is a plain reshape for
    // all three operands (stride[d] == stride[d+1] * shape[d+1]; broadcast dims merge too).
    for (int d = 0; d < y->ndim; d++) {
        if (y->shape[d] == 0) return;
        if (y->shape[d] == 1) continue;
        int k = j.ndim;
        bool merge = k > 0;
        for (int t = 0; t < 3 && merge; t++)
            merge = j.stride[t][k - 1] == t3[t]->stride[d] * y->shape[d];
        if (merge) {
            j.shape[k - 1] *= y->shape[d];
            for (int t = 0; t < 3; t++)
                j.stride[t][k - 1] = t3[t]->stride[d];
        } else {
            j.shape[k] = y->shape[d];
            for (int t = 0; t < 3; t++)
                j.stride[t][k] = t3[t]->stride[d];
            j.ndim++;
        }
    }
    if (j.ndim == 0) { // a single element
        j.ndim = 1;
        j.shape[0] = 1;
    }
    int64_t inner = j.shape[j.ndim - 1], rows = 1;
    for (int d = 0; d < j.ndim - 1; d++)
        rows *= j.shape[d];
    j.col_blocks = (inner + EW_BLOCK - 1) / EW_BLOCK;
    int64_t grain = 1 + EW_BLOCK / inner; // about EW_BLOCK elements per chunk at least
    ug_parallel_for(ctx->pool, rows * j.col_blocks, grain, ew_range, &j);
}

void add_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b) {
    ew_launch(ctx, EW_ADD, 0.0f, 0.0f, y, a, b);
}

void mul_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b) {
    ew_launch(ctx, EW_MUL, 0.0f, 0.0f, y, a, b);
}

void scale_add_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, float alpha, float beta) {
    ew_launch(ctx, EW_AXPB, alpha, beta, y, x, x);
}
