// ops/cuda/movement.cu — strided copy (with dtype widening), fill, pad, concat, roll; contract:
// ops/movement.h. Every entry moves bytes or widens them (BF16 / F16 / U8 -> F32, U8 -> I32):
// results are the CPU's bit for bit. y must not overlap x (rejected when their byte spans meet)
// and must not repeat an element (a stride-0 dim of y is rejected, except by fill).
//
// The copy plan is the CPU's (ops/movement.c): dims reordered by y's strides (outermost first),
// size-1 dims dropped, neighbours merged where both views step over them as one dim. Then:
// v1 memcpy: one contiguous run of the same dtype: cudaMemcpyAsync device to device.
// v1 mv_flat_v1: one run, y unit stride (x any stride, 0 = broadcast): grid-stride, coalesced
//     writes.
// v1 mv_strided_v1: anything else: grid-stride over y's elements in plan order, both offsets
//     unravelled from the merged shape (32-bit indices when every offset fits: the divisions are
//     the cost here).
// v2 mv_tile_v2: a transposing copy (x's unit-stride dim is not y's innermost): 32 x 32 tiles
//     through shared memory, so that both the reads of x and the writes of y are coalesced
//     (v1 reads one element per 128-byte line there).
// Fill: the constant converted on the host as the CPU does, then cudaMemsetAsync when y is one
//     contiguous run of equal bytes, else mv_fill_v1 (grid-stride over the plan of y alone).
// Pad (mv_pad_v1) and roll (mv_roll_v1): one thread per element of y in row-major order, its
//     source index computed per dim; one launch instead of the CPU's 2 ndim fills + copy or
//     2^ndim block copies. Concat: one copy per input into its slice of y.
#include <stdio.h>
#include <string.h>

#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

extern "C" {
#include "ops/movement.h"
}

enum { MV_THREADS = 256, MV_MAX_BLOCKS = 4096, MV_TILE = 32, MV_TILE_ROWS = 8 };

// ---- element kinds: what one element of y is made of ----

enum { MV_1, MV_2, MV_4, MV_8, MV_BF16_F32, MV_F16_F32, MV_U8_F32, MV_U8_I32 };

template <int K> struct mv_kind;
template <> struct mv_kind<MV_1> {
    typedef uint8_t Y;
    typedef uint8_t X;
    static __device__ __forceinline__ Y cvt(X v) { return v; }
};
template <> struct mv_kind<MV_2> {
    typedef uint16_t Y;
    typedef uint16_t X;
    static __device__ __forceinline__ Y cvt(X v) { return v; }
};
template <> struct mv_kind<MV_4> {
    typedef uint32_t Y;
    typedef uint32_t X;
    static __device__ __forceinline__ Y cvt(X v) { return v; }
};
template <> struct mv_kind<MV_8> {
    typedef uint64_t Y;
    typedef uint64_t X;
    static __device__ __forceinline__ Y cvt(X v) { return v; }
};
template <> struct mv_kind<MV_BF16_F32> {
    typedef float Y;
    typedef uint16_t X;
    static __device__ __forceinline__ Y cvt(X v) { return cu_bf16_to_f32(v); }
};
template <> struct mv_kind<MV_F16_F32> {
    typedef float Y;
    typedef uint16_t X;
    static __device__ __forceinline__ Y cvt(X v) { return cu_f16_to_f32(v); }
};
template <> struct mv_kind<MV_U8_F32> {
    typedef float Y;
    typedef uint8_t X;
    static __device__ __forceinline__ Y cvt(X v) { return (float)v; }
};
template <> struct mv_kind<MV_U8_I32> {
    typedef int32_t Y;
    typedef uint8_t X;
    static __device__ __forceinline__ Y cvt(X v) { return (int32_t)v; }
};

// The kind of a copy_dtypes_ok pair.
static int mv_kind_of(ug_dtype ydt, ug_dtype xdt) {
    if (ydt == xdt) {
        size_t es = ug_dtype_size(xdt);
        return es == 1 ? MV_1 : es == 2 ? MV_2 : es == 4 ? MV_4 : MV_8;
    }
    if (ydt == UG_I32) return MV_U8_I32;
    return xdt == UG_BF16 ? MV_BF16_F32 : xdt == UG_F16 ? MV_F16_F32 : MV_U8_F32;
}

// ---- plans ----

// Up to 5 dims, y's and x's element strides.
typedef struct mv_plan {
    int ndim;
    int64_t shape[UG_MAX_DIMS];
    int64_t ys[UG_MAX_DIMS], xs[UG_MAX_DIMS];
} mv_plan;

// The copy plan of ops/movement.c (plan_copy): dims by descending y stride (ties: descending x
// stride), size-1 dims dropped, merged where both views are contiguous across them. xs may be
// NULL (fill: y alone).
static mv_plan mv_plan_of(const ug_tensor *y, const int64_t *xs) {
    mv_plan p;
    memset(&p, 0, sizeof p);
    int nd = 0;
    for (int d = 0; d < y->ndim; d++) {
        if (y->shape[d] == 1) continue;
        int64_t sx = xs ? xs[d] : 0;
        int at = nd;
        while (at > 0 &&
               (p.ys[at - 1] < y->stride[d] || (p.ys[at - 1] == y->stride[d] && p.xs[at - 1] < sx))) {
            p.shape[at] = p.shape[at - 1];
            p.ys[at] = p.ys[at - 1];
            p.xs[at] = p.xs[at - 1];
            at--;
        }
        p.shape[at] = y->shape[d];
        p.ys[at] = y->stride[d];
        p.xs[at] = sx;
        nd++;
    }
    int m = 0;
    for (int d = 0; d < nd; d++) {
        if (m > 0 && p.ys[m - 1] == p.ys[d] * p.shape[d] && p.xs[m - 1] == p.xs[d] * p.shape[d]) {
            p.shape[m - 1] *= p.shape[d];
            p.ys[m - 1] = p.ys[d];
            p.xs[m - 1] = p.xs[d];
        } else {
            p.shape[m] = p.shape[d];
            p.ys[m] = p.ys[d];
            p.xs[m] = p.xs[d];
            m++;
        }
    }
    if (m == 0) { // a single element
        p.shape[0] = 1;
        p.ys[0] = p.xs[0] = 1;
        m = 1;
    }
    p.ndim = m;
    return p;
}

// Largest |offset| (elements) that strides s reach over shape.
static int64_t mv_reach(int ndim, const int64_t *shape, const int64_t *s) {
    int64_t r = 0;
    for (int d = 0; d < ndim; d++)
        r += (shape[d] - 1) * (s[d] < 0 ? -s[d] : s[d]);
    return r;
}

// Whether every index and offset of plan p over n elements fits 32 bits.
static bool mv_fits32(const mv_plan &p, int64_t n) {
    const int64_t lim = (int64_t)1 << 31;
    return n < lim && mv_reach(p.ndim, p.shape, p.ys) < lim && mv_reach(p.ndim, p.shape, p.xs) < lim;
}

static unsigned mv_grid(int64_t n) {
    return cu_min<unsigned>(cu_blocks(n, MV_THREADS), MV_MAX_BLOCKS);
}

// ---- argument checks ----

// The bytes [lo, hi) that t's elements occupy (numel > 0).
static void mv_span(const ug_tensor *t, uintptr_t *lo, uintptr_t *hi) {
    int64_t a = 0, b = 0, es = (int64_t)ug_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) {
        int64_t e = (t->shape[d] - 1) * t->stride[d];
        if (e < 0)
            a += e;
        else
            b += e;
    }
    *lo = (uintptr_t)t->data + (uintptr_t)(a * es);
    *hi = (uintptr_t)t->data + (uintptr_t)((b + 1) * es);
}

static bool mv_overlap(const ug_tensor *y, const ug_tensor *x) {
    if (ug_tensor_numel(y) == 0 || ug_tensor_numel(x) == 0) return false;
    uintptr_t ylo, yhi, xlo, xhi;
    mv_span(y, &ylo, &yhi);
    mv_span(x, &xlo, &xhi);
    return ylo < xhi && xlo < yhi;
}

// A dim of y of size > 1 with stride 0 would write one element several times.
static bool mv_repeats(const ug_tensor *y) {
    for (int d = 0; d < y->ndim; d++)
        if (y->shape[d] > 1 && y->stride[d] == 0) return true;
    return false;
}

// The checks every copy-like entry shares (shapes are the caller's): dtypes, overlap, repeats.
static bool mv_pair_ok(ug_ctx *ctx, const ug_tensor *y, const ug_tensor *x, const char *op) {
    if (!copy_dtypes_ok(y->dtype, x->dtype)) {
        char what[96];
        snprintf(what, sizeof what, "cannot copy %s into %s", ug_dtype_name(x->dtype),
                 ug_dtype_name(y->dtype));
        return cu_fail(ctx, op, what);
    }
    if (ug_tensor_numel(y) > 0 && mv_repeats(y)) return cu_fail(ctx, op, "y has a broadcast (stride 0) dim");
    if (mv_overlap(y, x)) return cu_fail(ctx, op, "y and x overlap");
    return true;
}

// ---- copy ----

template <int K>
static __global__ void __launch_bounds__(MV_THREADS)
    mv_flat_v1(typename mv_kind<K>::Y *y, const typename mv_kind<K>::X *x, int64_t xs, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * MV_THREADS + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * MV_THREADS)
        y[i] = mv_kind<K>::cvt(x[i * xs]);
}

template <int K, class I>
static __global__ void __launch_bounds__(MV_THREADS)
    mv_strided_v1(typename mv_kind<K>::Y *y, const typename mv_kind<K>::X *x, mv_plan p, I n) {
    for (I i = (I)blockIdx.x * MV_THREADS + (I)threadIdx.x; i < n; i += (I)gridDim.x * MV_THREADS) {
        I r = i, oy = 0, ox = 0;
        // A constant trip count (unrolled: the plan stays in parameter space, not on the stack).
        for (int k = UG_MAX_DIMS - 1; k >= 0; k--)
            if (k < p.ndim) {
                I s = (I)p.shape[k], j = r % s;
                r /= s;
                oy += j * (I)p.ys[k];
                ox += j * (I)p.xs[k];
            }
        y[oy] = mv_kind<K>::cvt(x[ox]);
    }
}

// The transposing case: dim t (x's unit stride) and the last dim L (y's unit stride) of the
// plan are tiled 32 x 32; the other dims (at most 3) are the outer index.
typedef struct mv_tiles {
    mv_plan p;       // the plan, dims t and L included
    int t;           // x's unit-stride dim
    int64_t tiles_t; // tiles along t and along L
    int64_t tiles_l;
    int64_t items; // outer * tiles_t * tiles_l
} mv_tiles;

// A block of 32 x 8 threads per tile: reads 32 consecutive elements of x along t per row
// (threadIdx.x runs along t), writes 32 consecutive elements of y along L. The tile holds y's
// dtype (converted on the way in); 33 columns keep the transposed reads off one bank.
template <int K>
static __global__ void __launch_bounds__(MV_TILE *MV_TILE_ROWS)
    mv_tile_v2(typename mv_kind<K>::Y *y, const typename mv_kind<K>::X *x, mv_tiles g) {
    typedef typename mv_kind<K>::Y Y;
    __shared__ Y tile[MV_TILE][MV_TILE + 1]; // [L offset][t offset]
    const mv_plan &p = g.p;
    int L = p.ndim - 1, tx = (int)threadIdx.x, ty = (int)threadIdx.y;
    int64_t nt = p.shape[g.t], nl = p.shape[L], per = g.tiles_t * g.tiles_l;
    for (int64_t it = blockIdx.x; it < g.items; it += gridDim.x) { // uniform over the block
        int64_t o = it / per, q = it % per, yo = 0, xo = 0;
        for (int d = L - 1; d >= 0; d--) {
            if (d == g.t) continue;
            int64_t j = o % p.shape[d];
            o /= p.shape[d];
            yo += j * p.ys[d];
            xo += j * p.xs[d];
        }
        int64_t i0 = q / g.tiles_l * MV_TILE, j0 = q % g.tiles_l * MV_TILE;
        for (int k = ty; k < MV_TILE; k += MV_TILE_ROWS) {
            int64_t i = i0 + tx, j = j0 + k;
            if (i < nt && j < nl) tile[k][tx] = mv_kind<K>::cvt(x[xo + i + j * p.xs[L]]);
        }
        __syncthreads();
        for (int k = ty; k < MV_TILE; k += MV_TILE_ROWS) {
            int64_t i = i0 + k, j = j0 + tx;
            if (i < nt && j < nl) y[yo + i * p.ys[g.t] + j] = tile[tx][k];
        }
        __syncthreads(); // the tile is refilled by the next item
    }
}

// Dim t for the tiled path, or -1: y's innermost dim has unit stride and x's does not (nor 0),
// and x's unit-stride dim t is another one, both at least 8 long (shorter ones waste the tile).
static int mv_tile_dim(const mv_plan &p) {
    int L = p.ndim - 1;
    if (p.ndim < 2 || p.ys[L] != 1 || p.xs[L] == 1 || p.xs[L] == 0 || p.shape[L] < 8) return -1;
    int t = -1;
    for (int d = 0; d < L; d++)
        if (p.xs[d] == 1 && p.shape[d] >= 8) t = d;
    return t;
}

template <int K>
static void mv_copy_launch(ug_ctx *ctx, void *yd, const void *xd, const mv_plan &p, int64_t n) {
    typedef typename mv_kind<K>::Y Y;
    typedef typename mv_kind<K>::X X;
    Y *y = (Y *)yd;
    const X *x = (const X *)xd;
    int t = mv_tile_dim(p);
    if (p.ndim == 1 && p.ys[0] == 1 && p.xs[0] == 1 && K <= MV_8) {
        cu_check(ctx,
                 cudaMemcpyAsync(yd, xd, (size_t)n * sizeof(Y), cudaMemcpyDeviceToDevice, cu_stream(ctx)),
                 "copy");
        return;
    }
    if (p.ndim == 1 && p.ys[0] == 1) {
        UG_LAUNCH(mv_flat_v1<K>, dim3(mv_grid(n)), dim3(MV_THREADS), 0, cu_stream(ctx), y, x, p.xs[0], n);
    } else if (t >= 0) {
        mv_tiles g;
        g.p = p;
        g.t = t;
        g.tiles_t = (p.shape[t] + MV_TILE - 1) / MV_TILE;
        g.tiles_l = (p.shape[p.ndim - 1] + MV_TILE - 1) / MV_TILE;
        g.items = n / (p.shape[t] * p.shape[p.ndim - 1]) * g.tiles_t * g.tiles_l;
        UG_LAUNCH(mv_tile_v2<K>, dim3((unsigned)cu_min<int64_t>(g.items, MV_MAX_BLOCKS)),
                  dim3(MV_TILE, MV_TILE_ROWS), 0, cu_stream(ctx), y, x, g);
    } else if (mv_fits32(p, n)) {
        UG_LAUNCH((mv_strided_v1<K, int32_t>), dim3(mv_grid(n)), dim3(MV_THREADS), 0, cu_stream(ctx), y, x, p,
                  (int32_t)n);
    } else {
        UG_LAUNCH((mv_strided_v1<K, int64_t>), dim3(mv_grid(n)), dim3(MV_THREADS), 0, cu_stream(ctx), y, x, p,
                  n);
    }
    cu_check(ctx, cudaGetLastError(), "copy");
}

// y = x on validated views (same shape, dtypes ok, no overlap).
static void mv_copy(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    int64_t n = ug_tensor_numel(x);
    if (n == 0) return;
    cu_poison_output(ctx, y);
    mv_plan p = mv_plan_of(y, x->stride);
    switch (mv_kind_of(y->dtype, x->dtype)) {
    case MV_1: mv_copy_launch<MV_1>(ctx, y->data, x->data, p, n); break;
    case MV_2: mv_copy_launch<MV_2>(ctx, y->data, x->data, p, n); break;
    case MV_4: mv_copy_launch<MV_4>(ctx, y->data, x->data, p, n); break;
    case MV_8: mv_copy_launch<MV_8>(ctx, y->data, x->data, p, n); break;
    case MV_BF16_F32: mv_copy_launch<MV_BF16_F32>(ctx, y->data, x->data, p, n); break;
    case MV_F16_F32: mv_copy_launch<MV_F16_F32>(ctx, y->data, x->data, p, n); break;
    case MV_U8_F32: mv_copy_launch<MV_U8_F32>(ctx, y->data, x->data, p, n); break;
    default: mv_copy_launch<MV_U8_I32>(ctx, y->data, x->data, p, n); break;
    }
}

extern "C" void copy_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    const ug_tensor *ts[] = {y, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, "copy", 2, ts)) return;
    if (!ug_tensor_same_shape(y, x)) {
        cu_fail(ctx, "copy", "y and x must have one shape");
        return;
    }
    if (mv_pair_ok(ctx, y, x, "copy")) mv_copy(ctx, y, x);
}

// ---- fill ----

// value in dt at *cell (the CPU's store_value); false for a dtype fill does not take.
static bool mv_cell(ug_dtype dt, float v, uint64_t *cell) {
    *cell = 0;
    switch (dt) {
    case UG_F32: memcpy(cell, &v, 4); return true;
    case UG_F64: {
        double d = v;
        memcpy(cell, &d, 8);
        return true;
    }
    case UG_F16: *cell = ug_f32_to_f16(v); return true;
    case UG_BF16: *cell = ug_f32_to_bf16(v); return true;
    case UG_U8: *cell = (uint8_t)v; return true;
    case UG_I32: {
        int32_t i = (int32_t)v;
        memcpy(cell, &i, 4);
        return true;
    }
    case UG_I64: {
        int64_t i = (int64_t)v;
        memcpy(cell, &i, 8);
        return true;
    }
    case UG_BOOL: *cell = v != 0.0f; return true;
    default: return false;
    }
}

template <class T, class I>
static __global__ void __launch_bounds__(MV_THREADS) mv_fill_v1(T *y, T v, mv_plan p, I n) {
    for (I i = (I)blockIdx.x * MV_THREADS + (I)threadIdx.x; i < n; i += (I)gridDim.x * MV_THREADS) {
        I r = i, oy = 0;
        for (int k = UG_MAX_DIMS - 1; k >= 0; k--)
            if (k < p.ndim) {
                I s = (I)p.shape[k];
                oy += r % s * (I)p.ys[k];
                r /= s;
            }
        y[oy] = v;
    }
}

template <class T>
static void mv_fill_launch(ug_ctx *ctx, void *yd, uint64_t cell, const mv_plan &p, int64_t n) {
    T v;
    memcpy(&v, &cell, sizeof v);
    if (mv_fits32(p, n))
        UG_LAUNCH((mv_fill_v1<T, int32_t>), dim3(mv_grid(n)), dim3(MV_THREADS), 0, cu_stream(ctx), (T *)yd, v,
                  p, (int32_t)n);
    else
        UG_LAUNCH((mv_fill_v1<T, int64_t>), dim3(mv_grid(n)), dim3(MV_THREADS), 0, cu_stream(ctx), (T *)yd, v,
                  p, n);
    cu_check(ctx, cudaGetLastError(), "fill");
}

extern "C" void fill_cuda(ug_ctx *ctx, ug_tensor *y, float value) {
    const ug_tensor *ts[] = {y};
    if (cu_failed(ctx) || !cu_on_device(ctx, "fill", 1, ts)) return;
    uint64_t cell;
    if (!mv_cell(y->dtype, value, &cell)) {
        cu_fail(ctx, "fill", "y's dtype cannot be filled");
        return;
    }
    int64_t n = ug_tensor_numel(y);
    if (n == 0) return;
    size_t es = ug_dtype_size(y->dtype);
    mv_plan p = mv_plan_of(y, NULL);
    // Stride-0 dims of y are left out: every element there is the same one, written once.
    int m = 0;
    for (int d = 0; d < p.ndim; d++)
        if (p.ys[d] != 0) {
            p.shape[m] = p.shape[d];
            p.ys[m++] = p.ys[d];
        } else {
            n /= p.shape[d];
        }
    if (m == 0) {
        p.shape[0] = p.ys[0] = 1;
        m = 1;
    }
    p.ndim = m;
    bool same_bytes = true;
    for (size_t b = 1; b < es; b++)
        same_bytes = same_bytes && ((cell >> 8 * b) & 0xff) == (cell & 0xff);
    if (p.ndim == 1 && p.ys[0] == 1 && same_bytes) {
        cu_check(ctx, cudaMemsetAsync(y->data, (int)(cell & 0xff), (size_t)n * es, cu_stream(ctx)), "fill");
        return;
    }
    if (es == 1) mv_fill_launch<uint8_t>(ctx, y->data, cell, p, n);
    if (es == 2) mv_fill_launch<uint16_t>(ctx, y->data, cell, p, n);
    if (es == 4) mv_fill_launch<uint32_t>(ctx, y->data, cell, p, n);
    if (es == 8) mv_fill_launch<uint64_t>(ctx, y->data, cell, p, n);
}

// ---- pad ----

typedef struct mv_pad_dims {
    int ndim;
    int64_t shape[UG_MAX_DIMS];  // y's
    int64_t xshape[UG_MAX_DIMS]; // x's
    int64_t before[UG_MAX_DIMS];
    int64_t ys[UG_MAX_DIMS], xs[UG_MAX_DIMS];
} mv_pad_dims;

template <int K, class I>
static __global__ void __launch_bounds__(MV_THREADS)
    mv_pad_v1(typename mv_kind<K>::Y *y, const typename mv_kind<K>::X *x, mv_pad_dims d,
              typename mv_kind<K>::Y value, I n) {
    for (I i = (I)blockIdx.x * MV_THREADS + (I)threadIdx.x; i < n; i += (I)gridDim.x * MV_THREADS) {
        I r = i, oy = 0, ox = 0;
        bool inside = true;
        for (int k = d.ndim - 1; k >= 0; k--) {
            I s = (I)d.shape[k], j = r % s, xj = j - (I)d.before[k];
            r /= s;
            oy += j * (I)d.ys[k];
            ox += xj * (I)d.xs[k];
            inside = inside && xj >= 0 && xj < (I)d.xshape[k];
        }
        y[oy] = inside ? mv_kind<K>::cvt(x[ox]) : value;
    }
}

template <int K>
static void mv_pad_launch(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const mv_pad_dims &d,
                          uint64_t cell) {
    typedef typename mv_kind<K>::Y Y;
    typedef typename mv_kind<K>::X X;
    Y v;
    memcpy(&v, &cell, sizeof v);
    int64_t n = ug_tensor_numel(y);
    const int64_t lim = (int64_t)1 << 31;
    bool fits = n < lim && mv_reach(d.ndim, d.shape, d.ys) < lim && mv_reach(d.ndim, d.shape, d.xs) < lim;
    if (fits)
        UG_LAUNCH((mv_pad_v1<K, int32_t>), dim3(mv_grid(n)), dim3(MV_THREADS), 0, cu_stream(ctx),
                  (Y *)y->data, (const X *)x->data, d, v, (int32_t)n);
    else
        UG_LAUNCH((mv_pad_v1<K, int64_t>), dim3(mv_grid(n)), dim3(MV_THREADS), 0, cu_stream(ctx),
                  (Y *)y->data, (const X *)x->data, d, v, n);
    cu_check(ctx, cudaGetLastError(), "pad");
}

extern "C" void pad_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const int64_t *before, float value) {
    const ug_tensor *ts[] = {y, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, "pad", 2, ts)) return;
    if (y->ndim != x->ndim) {
        cu_fail(ctx, "pad", "y and x must have the same number of dims");
        return;
    }
    mv_pad_dims d;
    memset(&d, 0, sizeof d);
    d.ndim = y->ndim;
    for (int k = 0; k < y->ndim; k++) {
        if (before[k] < 0 || before[k] + x->shape[k] > y->shape[k]) {
            cu_fail(ctx, "pad", "x does not fit into y at the given offsets");
            return;
        }
        d.shape[k] = y->shape[k];
        d.xshape[k] = x->shape[k];
        d.before[k] = before[k];
        d.ys[k] = y->stride[k];
        d.xs[k] = x->stride[k];
    }
    if (!mv_pair_ok(ctx, y, x, "pad")) return;
    uint64_t cell;
    mv_cell(y->dtype, value, &cell); // y's dtype is one copy_dtypes_ok takes: all fillable
    if (ug_tensor_numel(y) == 0) return;
    cu_poison_output(ctx, y);
    switch (mv_kind_of(y->dtype, x->dtype)) {
    case MV_1: mv_pad_launch<MV_1>(ctx, y, x, d, cell); break;
    case MV_2: mv_pad_launch<MV_2>(ctx, y, x, d, cell); break;
    case MV_4: mv_pad_launch<MV_4>(ctx, y, x, d, cell); break;
    case MV_8: mv_pad_launch<MV_8>(ctx, y, x, d, cell); break;
    case MV_BF16_F32: mv_pad_launch<MV_BF16_F32>(ctx, y, x, d, cell); break;
    case MV_F16_F32: mv_pad_launch<MV_F16_F32>(ctx, y, x, d, cell); break;
    case MV_U8_F32: mv_pad_launch<MV_U8_F32>(ctx, y, x, d, cell); break;
    default: mv_pad_launch<MV_U8_I32>(ctx, y, x, d, cell); break;
    }
}

// ---- concat ----

extern "C" void concat_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xs, int n, int dim) {
    const ug_tensor *ts[] = {y};
    if (cu_failed(ctx) || !cu_on_device(ctx, "concat", 1, ts)) return;
    if (dim < 0 || dim >= y->ndim || n < 0) {
        cu_fail(ctx, "concat", "dim out of range");
        return;
    }
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        const ug_tensor *x = &xs[i];
        if (!cu_on_device(ctx, "concat", 1, &x)) return;
        bool shape_ok = x->ndim == y->ndim;
        for (int k = 0; k < y->ndim && shape_ok; k++)
            shape_ok = k == dim || x->shape[k] == y->shape[k];
        if (!shape_ok) {
            cu_fail(ctx, "concat", "an input's shape differs from y's outside dim");
            return;
        }
        if (!mv_pair_ok(ctx, y, x, "concat")) return;
        at += x->shape[dim];
    }
    if (at != y->shape[dim]) {
        cu_fail(ctx, "concat", "the inputs' sizes along dim do not add up to y's");
        return;
    }
    at = 0;
    for (int i = 0; i < n; i++) {
        ug_tensor part = ug_view_slice(y, dim, at, xs[i].shape[dim]);
        mv_copy(ctx, &part, &xs[i]);
        at += xs[i].shape[dim];
    }
}

// ---- roll ----

typedef struct mv_roll_dims {
    int ndim;
    int64_t shape[UG_MAX_DIMS];
    int64_t shift[UG_MAX_DIMS]; // net, in [0, size)
    int64_t ys[UG_MAX_DIMS], xs[UG_MAX_DIMS];
} mv_roll_dims;

// y[j] = x[(j - shift) mod size] along every dim.
template <int K, class I>
static __global__ void __launch_bounds__(MV_THREADS)
    mv_roll_v1(typename mv_kind<K>::Y *y, const typename mv_kind<K>::X *x, mv_roll_dims d, I n) {
    for (I i = (I)blockIdx.x * MV_THREADS + (I)threadIdx.x; i < n; i += (I)gridDim.x * MV_THREADS) {
        I r = i, oy = 0, ox = 0;
        for (int k = d.ndim - 1; k >= 0; k--) {
            I s = (I)d.shape[k], j = r % s, xj = j - (I)d.shift[k];
            r /= s;
            if (xj < 0) xj += s;
            oy += j * (I)d.ys[k];
            ox += xj * (I)d.xs[k];
        }
        y[oy] = mv_kind<K>::cvt(x[ox]);
    }
}

template <int K>
static void mv_roll_launch(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const mv_roll_dims &d) {
    typedef typename mv_kind<K>::Y Y;
    typedef typename mv_kind<K>::X X;
    int64_t n = ug_tensor_numel(y);
    const int64_t lim = (int64_t)1 << 31;
    bool fits = n < lim && mv_reach(d.ndim, d.shape, d.ys) < lim && mv_reach(d.ndim, d.shape, d.xs) < lim;
    if (fits)
        UG_LAUNCH((mv_roll_v1<K, int32_t>), dim3(mv_grid(n)), dim3(MV_THREADS), 0, cu_stream(ctx),
                  (Y *)y->data, (const X *)x->data, d, (int32_t)n);
    else
        UG_LAUNCH((mv_roll_v1<K, int64_t>), dim3(mv_grid(n)), dim3(MV_THREADS), 0, cu_stream(ctx),
                  (Y *)y->data, (const X *)x->data, d, n);
    cu_check(ctx, cudaGetLastError(), "roll");
}

extern "C" void roll_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int n, const int *dims,
                          const int64_t *shifts) {
    const ug_tensor *ts[] = {y, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, "roll", 2, ts)) return;
    if (!ug_tensor_same_shape(y, x)) {
        cu_fail(ctx, "roll", "y and x must have one shape");
        return;
    }
    mv_roll_dims d;
    memset(&d, 0, sizeof d);
    d.ndim = x->ndim;
    for (int k = 0; k < x->ndim; k++) {
        d.shape[k] = x->shape[k];
        d.ys[k] = y->stride[k];
        d.xs[k] = x->stride[k];
    }
    // Net shift per dim in [0, size), as ops/movement.c's roll_shifts (a dim listed twice adds).
    for (int i = 0; i < n; i++) {
        if (dims[i] < 0 || dims[i] >= x->ndim) {
            cu_fail(ctx, "roll", "a rolled dim is out of range");
            return;
        }
        int64_t size = x->shape[dims[i]];
        if (size == 0) continue;
        d.shift[dims[i]] = ((d.shift[dims[i]] + shifts[i]) % size + size) % size;
    }
    if (!mv_pair_ok(ctx, y, x, "roll") || ug_tensor_numel(y) == 0) return;
    cu_poison_output(ctx, y);
    switch (mv_kind_of(y->dtype, x->dtype)) {
    case MV_1: mv_roll_launch<MV_1>(ctx, y, x, d); break;
    case MV_2: mv_roll_launch<MV_2>(ctx, y, x, d); break;
    case MV_4: mv_roll_launch<MV_4>(ctx, y, x, d); break;
    case MV_8: mv_roll_launch<MV_8>(ctx, y, x, d); break;
    case MV_BF16_F32: mv_roll_launch<MV_BF16_F32>(ctx, y, x, d); break;
    case MV_F16_F32: mv_roll_launch<MV_F16_F32>(ctx, y, x, d); break;
    case MV_U8_F32: mv_roll_launch<MV_U8_F32>(ctx, y, x, d); break;
    default: mv_roll_launch<MV_U8_I32>(ctx, y, x, d); break;
    }
}
