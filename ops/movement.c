// ops/movement.c — see movement.h.
#include "ops/movement.h"
#include "ops/vmath.h"

#include <assert.h>
#include <immintrin.h>
#include <string.h>

bool copy_dtypes_ok(ug_dtype y, ug_dtype x) {
    return y == x || (y == UG_F32 && (x == UG_BF16 || x == UG_F16 || x == UG_U8)) ||
           (y == UG_I32 && x == UG_U8);
}

static float load_f32(ug_dtype dt, const void *p) {
    switch (dt) {
    case UG_BF16: return ug_bf16_to_f32(*(const uint16_t *)p);
    case UG_F16: return ug_f16_to_f32(*(const uint16_t *)p);
    case UG_U8: return (float)*(const uint8_t *)p;
    default: return *(const float *)p;
    }
}

// One element of a widening copy (copy_dtypes_ok, y's dtype not x's).
static void widen_one(ug_dtype ydt, void *py, ug_dtype xdt, const void *px) {
    if (ydt == UG_I32)
        *(int32_t *)py = *(const uint8_t *)px;
    else
        *(float *)py = load_f32(xdt, px);
}

// value converted to dt and written at p (fill and pad constants).
static void store_value(ug_dtype dt, void *p, float v) {
    switch (dt) {
    case UG_F32: *(float *)p = v; break;
    case UG_F64: *(double *)p = v; break;
    case UG_F16: *(uint16_t *)p = ug_f32_to_f16(v); break;
    case UG_BF16: *(uint16_t *)p = ug_f32_to_bf16(v); break;
    case UG_U8: *(uint8_t *)p = (uint8_t)v; break;
    case UG_I32: *(int32_t *)p = (int32_t)v; break;
    case UG_I64: *(int64_t *)p = (int64_t)v; break;
    case UG_BOOL: *(uint8_t *)p = v != 0.0f; break;
    default: assert(!"store_value: dtype"); break;
    }
}

// Steps to the next multi-index of `shape` (last dim fastest); false after the last one.
static bool next_index(int64_t *idx, const int64_t *shape, int nd) {
    for (int d = nd - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) return true;
        idx[d] = 0;
    }
    return false;
}

void copy_ref(ug_tensor *y, const ug_tensor *x) {
    assert(ug_tensor_same_shape(y, x) && copy_dtypes_ok(y->dtype, x->dtype));
    if (ug_tensor_numel(x) == 0) return;
    int64_t idx[UG_MAX_DIMS] = {0};
    size_t es = ug_dtype_size(x->dtype);
    do {
        void *py = ug_tensor_ptr(y, idx);
        const void *px = ug_tensor_ptr(x, idx);
        if (y->dtype == x->dtype)
            memcpy(py, px, es);
        else
            widen_one(y->dtype, py, x->dtype, px);
    } while (next_index(idx, x->shape, x->ndim));
}

// ---------------------------------------------------------------------------------------------
// Runs: n elements, element strides ys / xs (xs may be 0: broadcast).

#define STRIDED_LOOP(T, y, ys, x, xs, n)                                                                     \
    do {                                                                                                     \
        T *yy_ = (T *)(y);                                                                                   \
        const T *xx_ = (const T *)(x);                                                                       \
        for (int64_t i_ = 0; i_ < (n); i_++)                                                                 \
            yy_[i_ * (ys)] = xx_[i_ * (xs)];                                                                 \
    } while (0)

static void widen_bf16(float *y, const uint16_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, vm_load8_bf16(x + i));
    for (; i < n; i++)
        y[i] = ug_bf16_to_f32(x[i]);
}

static void widen_f16(float *y, const uint16_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, vm_load8_f16(x + i));
    for (; i < n; i++)
        y[i] = ug_f16_to_f32(x[i]);
}

static void widen_u8(float *y, const uint8_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x + i)))));
    for (; i < n; i++)
        y[i] = (float)x[i];
}

static void widen_u8_i32(int32_t *y, const uint8_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_si256((__m256i *)(y + i),
                            _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x + i))));
    for (; i < n; i++)
        y[i] = x[i];
}

static void run_copy(void *y, int64_t ys, const void *x, int64_t xs, int64_t n, ug_dtype ydt, ug_dtype xdt) {
    if (ydt == xdt) {
        size_t es = ug_dtype_size(xdt);
        if (ys == 1 && xs == 1) {
            memcpy(y, x, (size_t)n * es);
            return;
        }
        switch (es) {
        case 1: STRIDED_LOOP(uint8_t, y, ys, x, xs, n); break;
        case 2: STRIDED_LOOP(uint16_t, y, ys, x, xs, n); break;
        case 4: STRIDED_LOOP(uint32_t, y, ys, x, xs, n); break;
        default: STRIDED_LOOP(uint64_t, y, ys, x, xs, n); break;
        }
        return;
    }
    bool contig = ys == 1 && xs == 1;
    if (ydt == UG_I32) { // U8 -> I32
        if (contig)
            widen_u8_i32(y, x, n);
        else
            for (int64_t i = 0; i < n; i++)
                ((int32_t *)y)[i * ys] = ((const uint8_t *)x)[i * xs];
        return;
    }
    float *yf = y;
    switch (xdt) {
    case UG_BF16:
        if (contig)
            widen_bf16(yf, x, n);
        else
            for (int64_t i = 0; i < n; i++)
                yf[i * ys] = ug_bf16_to_f32(((const uint16_t *)x)[i * xs]);
        break;
    case UG_F16:
        if (contig)
            widen_f16(yf, x, n);
        else
            for (int64_t i = 0; i < n; i++)
                yf[i * ys] = ug_f16_to_f32(((const uint16_t *)x)[i * xs]);
        break;
    default: // UG_U8
        if (contig)
            widen_u8(yf, x, n);
        else
            for (int64_t i = 0; i < n; i++)
                yf[i * ys] = (float)((const uint8_t *)x)[i * xs];
        break;
    }
}

// 4-byte elements: y[i * ysi + j] = x[i + j * xsj] for i < ni, j < nj, by 8 x 8 register blocks.
static void transpose_tile4(float *y, int64_t ysi, const float *x, int64_t xsj, int64_t ni, int64_t nj) {
    int64_t i = 0;
    for (; i + 8 <= ni; i += 8) {
        int64_t j = 0;
        for (; j + 8 <= nj; j += 8) {
            __m256 r[8];
            for (int k = 0; k < 8; k++)
                r[k] = _mm256_loadu_ps(x + (j + k) * xsj + i);
            vm_transpose8(r);
            for (int k = 0; k < 8; k++)
                _mm256_storeu_ps(y + (i + k) * ysi + j, r[k]);
        }
        for (; j < nj; j++)
            for (int k = 0; k < 8; k++)
                y[(i + k) * ysi + j] = x[j * xsj + i + k];
    }
    for (; i < ni; i++)
        for (int64_t j = 0; j < nj; j++)
            y[i * ysi + j] = x[i + j * xsj];
}

// ---------------------------------------------------------------------------------------------
// Copy plan: dims sorted by y stride (outermost first), size-1 dims dropped, contiguous
// neighbours merged. Work items are row chunks, or tiles when x's stride-1 dim (tdim) is not
// the innermost one of y.

enum { RUN_CHUNK = 1 << 14, TILE = 32 };

typedef struct copy_plan {
    char *yd;
    const char *xd;
    ug_dtype ydt, xdt;
    int64_t yes, xes; // element sizes in bytes
    int nd, tdim;
    int64_t shape[UG_MAX_DIMS], ys[UG_MAX_DIMS], xs[UG_MAX_DIMS];
    int64_t nchunk, tiles_t, tiles_l; // per-row chunks (rows mode) or tile counts (tile mode)
} copy_plan;

static void plan_copy(copy_plan *p, ug_tensor *y, const ug_tensor *x) {
    memset(p, 0, sizeof *p);
    p->yd = y->data;
    p->xd = x->data;
    p->ydt = y->dtype;
    p->xdt = x->dtype;
    p->yes = (int64_t)ug_dtype_size(y->dtype);
    p->xes = (int64_t)ug_dtype_size(x->dtype);
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (x->shape[d] == 1) continue;
        // Insertion by descending y stride (ties: descending x stride) keeps the sort stable.
        int at = nd;
        while (at > 0 && (p->ys[at - 1] < y->stride[d] ||
                          (p->ys[at - 1] == y->stride[d] && p->xs[at - 1] < x->stride[d]))) {
            p->shape[at] = p->shape[at - 1];
            p->ys[at] = p->ys[at - 1];
            p->xs[at] = p->xs[at - 1];
            at--;
        }
        p->shape[at] = x->shape[d];
        p->ys[at] = y->stride[d];
        p->xs[at] = x->stride[d];
        nd++;
    }
    // Merge dim d into d - 1 when both views step over d - 1 exactly as over d's extent.
    int m = 0;
    for (int d = 0; d < nd; d++) {
        if (m > 0 && p->ys[m - 1] == p->ys[d] * p->shape[d] && p->xs[m - 1] == p->xs[d] * p->shape[d]) {
            p->shape[m - 1] *= p->shape[d];
            p->ys[m - 1] = p->ys[d];
            p->xs[m - 1] = p->xs[d];
        } else {
            p->shape[m] = p->shape[d];
            p->ys[m] = p->ys[d];
            p->xs[m] = p->xs[d];
            m++;
        }
    }
    if (m == 0) { // a single element
        p->shape[0] = 1;
        p->ys[0] = p->xs[0] = 1;
        m = 1;
    }
    p->nd = m;
    p->tdim = -1;
    int last = m - 1;
    if (p->xs[last] != 1 && p->xs[last] != 0 && p->shape[last] >= 4) {
        for (int d = 0; d < last; d++)
            if (p->xs[d] == 1 && p->shape[d] >= 4) p->tdim = d;
    }
    if (p->tdim >= 0) {
        p->tiles_t = (p->shape[p->tdim] + TILE - 1) / TILE;
        p->tiles_l = (p->shape[last] + TILE - 1) / TILE;
    } else {
        p->nchunk = (p->shape[last] + RUN_CHUNK - 1) / RUN_CHUNK;
    }
}

static int64_t plan_items(const copy_plan *p) {
    int64_t outer = 1;
    for (int d = 0; d < p->nd - 1; d++)
        if (d != p->tdim) outer *= p->shape[d];
    return outer * (p->tdim >= 0 ? p->tiles_t * p->tiles_l : p->nchunk);
}

// Offsets (elements) of outer index o over dims [0, nd - 1) except tdim.
static void outer_offsets(const copy_plan *p, int64_t o, int64_t *yo, int64_t *xo) {
    int64_t a = 0, b = 0;
    for (int d = p->nd - 2; d >= 0; d--) {
        if (d == p->tdim) continue;
        int64_t i = o % p->shape[d];
        o /= p->shape[d];
        a += i * p->ys[d];
        b += i * p->xs[d];
    }
    *yo = a;
    *xo = b;
}

static void copy_items(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const copy_plan *p = arg;
    int last = p->nd - 1;
    for (int64_t it = begin; it < end; it++) {
        int64_t yo, xo;
        if (p->tdim < 0) {
            int64_t c = it % p->nchunk;
            outer_offsets(p, it / p->nchunk, &yo, &xo);
            int64_t j0 = c * RUN_CHUNK, n = p->shape[last] - j0 < RUN_CHUNK ? p->shape[last] - j0 : RUN_CHUNK;
            yo += j0 * p->ys[last];
            xo += j0 * p->xs[last];
            run_copy(p->yd + yo * p->yes, p->ys[last], p->xd + xo * p->xes, p->xs[last], n, p->ydt, p->xdt);
        } else {
            // Tile [i0, i0 + TILE) along tdim x [j0, j0 + TILE) along the last dim: each run
            // writes along y's contiguous dim and reads TILE lines of x that stay in L1.
            int64_t per = p->tiles_t * p->tiles_l, t = it % per;
            outer_offsets(p, it / per, &yo, &xo);
            int64_t i0 = (t / p->tiles_l) * TILE, j0 = (t % p->tiles_l) * TILE;
            int64_t ni = p->shape[p->tdim] - i0 < TILE ? p->shape[p->tdim] - i0 : TILE;
            int64_t nj = p->shape[last] - j0 < TILE ? p->shape[last] - j0 : TILE;
            if (p->ydt == p->xdt && p->yes == 4 && p->ys[last] == 1) {
                int64_t a = yo + i0 * p->ys[p->tdim] + j0, b = xo + i0 + j0 * p->xs[last];
                transpose_tile4((float *)p->yd + a, p->ys[p->tdim], (const float *)p->xd + b, p->xs[last], ni,
                                nj);
                continue;
            }
            for (int64_t i = i0; i < i0 + ni; i++) {
                int64_t a = yo + i * p->ys[p->tdim] + j0 * p->ys[last];
                int64_t b = xo + i * p->xs[p->tdim] + j0 * p->xs[last];
                run_copy(p->yd + a * p->yes, p->ys[last], p->xd + b * p->xes, p->xs[last], nj, p->ydt,
                         p->xdt);
            }
        }
    }
}

void copy_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    assert(ug_tensor_same_shape(y, x) && copy_dtypes_ok(y->dtype, x->dtype));
    if (ug_tensor_numel(x) == 0) return;
    copy_plan p;
    plan_copy(&p, y, x);
    int64_t items = plan_items(&p);
    int64_t nt = ctx && ctx->nthreads > 0 ? ctx->nthreads : 1;
    // Small copies run inline; otherwise ~16 chunks of work per thread.
    int64_t grain = ug_tensor_numel(x) < (1 << 15) ? items : (items + 16 * nt - 1) / (16 * nt);
    ug_parallel_for(ctx ? ctx->pool : NULL, items, grain > 0 ? grain : 1, copy_items, &p);
}

void fill_cpu(ug_ctx *ctx, ug_tensor *y, float value) {
    uint64_t cell = 0; // the constant in y's dtype, broadcast with stride 0
    store_value(y->dtype, &cell, value);
    ug_tensor src = *y;
    src.data = &cell;
    src.alloc = NULL;
    for (int d = 0; d < src.ndim; d++)
        src.stride[d] = 0;
    copy_cpu(ctx, y, &src);
}

// ---------------------------------------------------------------------------------------------
// Pad, concat, roll: compositions of views, fills and copies.

void pad_ref(ug_tensor *y, const ug_tensor *x, const int64_t *before, float value) {
    assert(y->ndim == x->ndim && copy_dtypes_ok(y->dtype, x->dtype));
    if (ug_tensor_numel(y) == 0) return;
    int64_t idx[UG_MAX_DIMS] = {0}, xi[UG_MAX_DIMS];
    size_t es = ug_dtype_size(x->dtype);
    do {
        bool inside = true;
        for (int d = 0; d < y->ndim; d++) {
            xi[d] = idx[d] - before[d];
            if (xi[d] < 0 || xi[d] >= x->shape[d]) inside = false;
        }
        void *py = ug_tensor_ptr(y, idx);
        if (!inside)
            store_value(y->dtype, py, value);
        else if (y->dtype == x->dtype)
            memcpy(py, ug_tensor_ptr(x, xi), es);
        else
            widen_one(y->dtype, py, x->dtype, ug_tensor_ptr(x, xi));
    } while (next_index(idx, y->shape, y->ndim));
}

void pad_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const int64_t *before, float value) {
    assert(y->ndim == x->ndim);
    // The border is 2 slabs per dim: along dim d the parts before and after x, restricted to
    // x's extent in the dims already handled (so no element is filled twice).
    ug_tensor rest = *y;
    for (int d = 0; d < y->ndim; d++) {
        assert(before[d] >= 0 && before[d] + x->shape[d] <= y->shape[d]);
        int64_t after = before[d] + x->shape[d];
        ug_tensor lo = ug_view_slice(&rest, d, 0, before[d]);
        ug_tensor hi = ug_view_slice(&rest, d, after, y->shape[d] - after);
        fill_cpu(ctx, &lo, value);
        fill_cpu(ctx, &hi, value);
        rest = ug_view_slice(&rest, d, before[d], x->shape[d]);
    }
    copy_cpu(ctx, &rest, x);
}

void concat_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xs, int n, int dim) {
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        ug_tensor part = ug_view_slice(y, dim, at, xs[i].shape[dim]);
        copy_cpu(ctx, &part, &xs[i]);
        at += xs[i].shape[dim];
    }
    assert(at == y->shape[dim]);
}

// Net shift per dim in [0, size).
static void roll_shifts(const ug_tensor *x, int n, const int *dims, const int64_t *shifts, int64_t *s) {
    for (int d = 0; d < x->ndim; d++)
        s[d] = 0;
    for (int i = 0; i < n; i++) {
        assert(dims[i] >= 0 && dims[i] < x->ndim);
        int64_t size = x->shape[dims[i]];
        if (size == 0) continue;
        s[dims[i]] = ((s[dims[i]] + shifts[i]) % size + size) % size;
    }
}

void roll_ref(ug_tensor *y, const ug_tensor *x, int n, const int *dims, const int64_t *shifts) {
    assert(ug_tensor_same_shape(y, x) && copy_dtypes_ok(y->dtype, x->dtype));
    if (ug_tensor_numel(x) == 0) return;
    int64_t s[UG_MAX_DIMS], idx[UG_MAX_DIMS] = {0}, yi[UG_MAX_DIMS];
    roll_shifts(x, n, dims, shifts, s);
    size_t es = ug_dtype_size(x->dtype);
    do {
        for (int d = 0; d < x->ndim; d++)
            yi[d] = (idx[d] + s[d]) % x->shape[d];
        void *py = ug_tensor_ptr(y, yi);
        if (y->dtype == x->dtype)
            memcpy(py, ug_tensor_ptr(x, idx), es);
        else
            widen_one(y->dtype, py, x->dtype, ug_tensor_ptr(x, idx));
    } while (next_index(idx, x->shape, x->ndim));
}

void roll_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int n, const int *dims, const int64_t *shifts) {
    assert(ug_tensor_same_shape(y, x) && copy_dtypes_ok(y->dtype, x->dtype));
    int64_t s[UG_MAX_DIMS];
    roll_shifts(x, n, dims, shifts, s);
    // Each shifted dim splits into two blocks: x[0, size - s) -> y[s, size) and
    // x[size - s, size) -> y[0, s). Every combination of blocks is one copy.
    for (int mask = 0; mask < (1 << x->ndim); mask++) {
        ug_tensor xv = *x, yv = *y;
        bool skip = false;
        for (int d = 0; d < x->ndim && !skip; d++) {
            int64_t size = x->shape[d], sd = s[d];
            if (!(mask >> d & 1)) {
                if (sd == 0) continue;
                xv = ug_view_slice(&xv, d, 0, size - sd);
                yv = ug_view_slice(&yv, d, sd, size - sd);
            } else {
                if (sd == 0) {
                    skip = true;
                    break;
                }
                xv = ug_view_slice(&xv, d, size - sd, sd);
                yv = ug_view_slice(&yv, d, 0, sd);
            }
        }
        if (!skip) copy_cpu(ctx, &yv, &xv);
    }
}
