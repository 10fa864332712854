// tests/test_cuda_movement.c — the CUDA copy, fill, pad, concat and roll (ops/cuda/movement.cu)
// against the CPU (copy_ref, pad_ref, roll_ref; fill_cpu and concat_cpu with a CPU context) under
// every emulator schedule.
//   copy:   every dtype pair copy_dtypes_ok takes (the 8 dtypes onto themselves, BF16 / F16 / U8
//           -> F32, U8 -> I32) on contiguous runs (the memcpy and flat paths), transposes and
//           permutations of 2..5 dims (the tiled path, tiles cut at the edges, and the strided
//           path), slices, columns, stride-0 broadcasts; into a fresh tensor, into a window of
//           a bigger buffer (its other elements must stay) and into a transposed destination.
//   fill:   every fill dtype, values 0 (the memset path), -2.5, 1e-6 (an F16 subnormal), 7 and
//           70000 (F16 overflow), on contiguous, sliced and broadcast views.
//   pad:    F32, U8 -> F32 from a permuted image view, BF16 -> F32, U8 -> I32, F16, 5 dims, an
//           empty x, a strided destination.
//   concat: along the first, a middle and the last dim, strided and widened parts, a part of
//           size 0.
//   roll:   negative, oversized and repeated shifts, Swin's (-3, -3) over H, W of a token map,
//           strided x, a widening pair.
// Plus the errors: an operand on the CPU, overlapping or mismatched operands are recorded and
// nothing crashes. These ops move bytes: inputs are random bytes (NaN, Inf and subnormal
// payloads included) and every comparison is exact (cut_check_exact), bit-identical across
// schedules.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/movement.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static void fill_bytes(ug_tensor *t, uint64_t seed) {
    test_rng r = test_rng_seed(seed);
    uint8_t *p = t->data;
    for (size_t i = 0; i < ug_tensor_nbytes(t); i++)
        p[i] = (uint8_t)(test_rng_u64(&r) >> 56);
}

static ug_tensor host_rand(ug_dtype dt, int nd, const int64_t *shape, uint64_t seed) {
    ug_tensor t = cut_host_new(dt, nd, shape);
    fill_bytes(&t, seed);
    return t;
}

static ug_tensor host_clone(const ug_tensor *t) {
    ug_tensor c = cut_host_new(t->dtype, t->ndim, t->shape);
    memcpy(c.data, t->data, ug_tensor_nbytes(t));
    return c;
}

// The view of base that v is of vbase (same element offset, shape and strides).
static ug_tensor same_view(const ug_tensor *base, const ug_tensor *vbase, const ug_tensor *v) {
    int64_t off = ((const char *)v->data - (const char *)vbase->data) / (int64_t)ug_dtype_size(vbase->dtype);
    return ug_view_strided(base, off, v->ndim, v->shape, v->stride);
}

// A throwaway CPU context for the _cpu kernels that have no _ref.
static ug_ctx *cpu_ctx(void) {
    static ug_ctx c;
    static bool ready;
    if (!ready) {
        ug_err err;
        ck_assert_int_eq(ug_ctx_init(&c, 1, &err), UG_OK);
        ready = true;
    }
    return &c;
}

// ---- copy ----

typedef struct view_spec {
    const char *name;
    int nd;
    int64_t shape[5]; // the base tensor
    int perm[5];      // permute first (perm[0] < 0: none)
    int sdim;         // then slice [s0, s0 + slen) of dim sdim (< 0: none)
    int64_t s0, slen;
    int edim; // then a broadcast dim of size en at edim (< 0: none)
    int64_t en;
} view_spec;

static const view_spec views[] = {
    {"one element", 1, {1}, {-1}, -1, 0, 0, -1, 0},
    {"contiguous 1001", 1, {1001}, {-1}, -1, 0, 0, -1, 0},
    {"contiguous 3x17x33", 3, {3, 17, 33}, {-1}, -1, 0, 0, -1, 0},
    {"transpose 17x33", 2, {17, 33}, {1, 0}, -1, 0, 0, -1, 0},
    {"transpose 40x9 (edge tiles)", 2, {40, 9}, {1, 0}, -1, 0, 0, -1, 0},
    {"transpose 3x5 (small)", 2, {3, 5}, {1, 0}, -1, 0, 0, -1, 0},
    {"permute 3x17x33 201", 3, {3, 17, 33}, {2, 0, 1}, -1, 0, 0, -1, 0},
    {"permute 3x17x33 120", 3, {3, 17, 33}, {1, 2, 0}, -1, 0, 0, -1, 0},
    {"permute 3x17x33 210", 3, {3, 17, 33}, {2, 1, 0}, -1, 0, 0, -1, 0},
    {"permute 3x17x33 021", 3, {3, 17, 33}, {0, 2, 1}, -1, 0, 0, -1, 0},
    {"nhwc -> nchw 2x5x9x33", 4, {2, 5, 9, 33}, {0, 3, 1, 2}, -1, 0, 0, -1, 0},
    {"nchw -> nhwc 2x33x5x9", 4, {2, 33, 5, 9}, {0, 2, 3, 1}, -1, 0, 0, -1, 0},
    {"5-D 2x3x1x5x7 42031", 5, {2, 3, 1, 5, 7}, {4, 2, 0, 3, 1}, -1, 0, 0, -1, 0},
    {"slice 3x17x33 cols 5..28", 3, {3, 17, 33}, {-1}, 2, 5, 23, -1, 0},
    {"slice of a transpose", 3, {3, 17, 33}, {0, 2, 1}, 1, 3, 27, -1, 0},
    {"column 17x33", 2, {17, 33}, {-1}, 1, 7, 1, -1, 0},
    {"broadcast rows 5 x 17x33", 2, {17, 33}, {-1}, -1, 0, 0, 0, 5},
    {"broadcast inner 17 x 3 x 9", 2, {17, 9}, {-1}, -1, 0, 0, 1, 3},
    {"broadcast scalar 7", 1, {1}, {-1}, -1, 0, 0, 0, 7},
};

static ug_tensor make_view(const ug_tensor *base, const view_spec *v) {
    ug_tensor t = *base;
    t.alloc = NULL;
    if (v->perm[0] >= 0) t = ug_view_permute(&t, v->perm);
    if (v->sdim >= 0) t = ug_view_slice(&t, v->sdim, v->s0, v->slen);
    if (v->edim >= 0) t = ug_view_expand_dim(&t, v->edim, v->en);
    return t;
}

// Destinations: a fresh tensor; a window (offset 1 in every dim) of a buffer 2 longer in each
// dim; the transpose of a contiguous buffer of the reversed shape.
enum { DST_FRESH, DST_WINDOW, DST_TRANSPOSED, DST_COUNT };
static const char *const dst_names[] = {"fresh", "window", "transposed"};

// ybase (the buffer) and *yv (the destination view into it) for a copy of shape x.
static ug_tensor make_dst(ug_dtype dt, const ug_tensor *x, int mode, ug_tensor *yv, uint64_t seed) {
    int64_t shape[5] = {0};
    int nd = x->ndim;
    for (int d = 0; d < nd; d++)
        shape[d] = mode == DST_WINDOW       ? x->shape[d] + 2
                   : mode == DST_TRANSPOSED ? x->shape[nd - 1 - d]
                                            : x->shape[d];
    ug_tensor b = host_rand(dt, nd, shape, seed);
    *yv = b;
    yv->alloc = NULL;
    if (mode == DST_WINDOW)
        for (int d = 0; d < nd; d++)
            *yv = ug_view_slice(yv, d, 1, x->shape[d]);
    if (mode == DST_TRANSPOSED) {
        int perm[5];
        for (int d = 0; d < nd; d++)
            perm[d] = nd - 1 - d;
        *yv = ug_view_permute(yv, perm);
    }
    return b;
}

static void copy_case(const view_spec *v, ug_dtype ydt, ug_dtype xdt, int mode, uint64_t seed) {
    char what[160];
    snprintf(what, sizeof what, "copy %s %s -> %s, %s destination", v->name, ug_dtype_name(xdt),
             ug_dtype_name(ydt), dst_names[mode]);
    ug_tensor hx = host_rand(xdt, v->nd, v->shape, seed), hv = make_view(&hx, v);
    ug_tensor hyv, hyb = make_dst(ydt, &hv, mode, &hyv, seed + 1), want = host_clone(&hyb);
    ug_tensor wv = same_view(&want, &hyb, &hyv);
    copy_ref(&wv, &hv);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dx = cut_upload(&hx), dxv = same_view(&dx, &hx, &hv);
        ug_tensor dyb = mode == DST_FRESH ? cut_empty(ydt, hyb.ndim, hyb.shape) : cut_upload(&hyb);
        ug_tensor dyv = same_view(&dyb, &hyb, &hyv);
        copy_cuda(&cut_ctx, &dyv, &dxv);
        cut_check_exact(&dyb, want.data, &first, what);
        ug_tensor_free(&dx), ug_tensor_free(&dyb);
    }
    ug_tensor_free(&first), ug_tensor_free(&hx), ug_tensor_free(&hyb), ug_tensor_free(&want);
}

static const ug_dtype pairs[][2] = {
    {UG_F32, UG_F32},  {UG_F16, UG_F16}, {UG_BF16, UG_BF16}, {UG_F64, UG_F64},
    {UG_U8, UG_U8},    {UG_I32, UG_I32}, {UG_I64, UG_I64},   {UG_BOOL, UG_BOOL},
    {UG_F32, UG_BF16}, {UG_F32, UG_F16}, {UG_F32, UG_U8},    {UG_I32, UG_U8},
};
enum { NPAIRS = sizeof pairs / sizeof pairs[0], NVIEWS = sizeof views / sizeof views[0] };

// Every view for every pair, into a fresh tensor.
START_TEST(copy_views_all_pairs) {
    for (int p = 0; p < NPAIRS; p++)
        for (int v = 0; v < NVIEWS; v++)
            copy_case(&views[v], pairs[p][0], pairs[p][1], DST_FRESH, (uint64_t)(p * 100 + v));
}
END_TEST

// Strided destinations: one element size each (1, 2, 4, 8 bytes) and two widenings.
START_TEST(copy_strided_destinations) {
    static const int some[] = {0, 2, 4, 5, 8, 11};
    for (size_t k = 0; k < sizeof some / sizeof some[0]; k++)
        for (int v = 0; v < NVIEWS; v++)
            for (int mode = DST_WINDOW; mode < DST_COUNT; mode++) {
                if (views[v].edim >= 0 && mode == DST_TRANSPOSED && views[v].nd > 2) continue;
                copy_case(&views[v], pairs[some[k]][0], pairs[some[k]][1], mode, (uint64_t)(k * 1000 + v));
            }
}
END_TEST

// A long contiguous run of each element size (cudaMemcpyAsync) and a long widening (flat).
START_TEST(copy_long_runs) {
    static const ug_dtype dts[] = {UG_U8, UG_F16, UG_F32, UG_I64};
    view_spec v = {"contiguous 100003", 1, {100003}, {-1}, -1, 0, 0, -1, 0};
    for (int d = 0; d < 4; d++)
        copy_case(&v, dts[d], dts[d], DST_FRESH, 70 + (uint64_t)d);
    view_spec w = {"contiguous 4099", 1, {4099}, {-1}, -1, 0, 0, -1, 0};
    copy_case(&w, UG_F32, UG_BF16, DST_FRESH, 75);
    copy_case(&w, UG_I32, UG_U8, DST_FRESH, 76);
    // Past one element per thread of the grid (4096 blocks x 256): the grid-stride loops.
    view_spec big = {"contiguous 1100000", 1, {1100000}, {-1}, -1, 0, 0, -1, 0};
    copy_case(&big, UG_F32, UG_U8, DST_FRESH, 77);
    view_spec rows = {"broadcast 1100 x 1001", 1, {1001}, {-1}, -1, 0, 0, 0, 1100};
    copy_case(&rows, UG_U8, UG_U8, DST_FRESH, 78);
}
END_TEST

// More tiles than blocks (4100 tiles of 8 x 8 > 4096 blocks): the tiled kernel's item loop.
START_TEST(copy_many_tiles) {
    view_spec v = {"4100 transposes of 8x8", 3, {4100, 8, 8}, {0, 2, 1}, -1, 0, 0, -1, 0};
    copy_case(&v, UG_F32, UG_F32, DST_FRESH, 80);
}
END_TEST

// Empty tensors: nothing is launched, nothing fails.
START_TEST(copy_empty) {
    ug_tensor a = cut_empty(UG_F32, UG_DIMS(3, 0, 2)), b = cut_empty(UG_F32, UG_DIMS(3, 0, 2));
    copy_cuda(&cut_ctx, &b, &a);
    fill_cuda(&cut_ctx, &b, 1.0f);
    roll_cuda(&cut_ctx, &b, &a, 1, (const int[]){1}, (const int64_t[]){3});
    cut_assert_ok();
    ug_tensor_free(&a), ug_tensor_free(&b);
}
END_TEST

// ---- fill ----

START_TEST(fill_all_dtypes) {
    static const ug_dtype dts[] = {UG_F32, UG_F64, UG_F16, UG_BF16, UG_U8, UG_I32, UG_I64, UG_BOOL};
    static const float values[] = {0.0f, -2.5f, 1e-6f, 7.0f, 70000.0f};
    for (int d = 0; d < 8; d++)
        for (int k = 0; k < 5; k++) {
            if ((dts[d] == UG_U8 || dts[d] == UG_I32 || dts[d] == UG_I64 || dts[d] == UG_BOOL) &&
                values[k] < 0)
                continue; // (U8)-2.5 is undefined in C: the CPU's own result is not one
            if (dts[d] == UG_U8 && values[k] > 255) continue;
            for (int shape = 0; shape < 3; shape++) {
                char what[96];
                snprintf(what, sizeof what, "fill %s %g view %d", ug_dtype_name(dts[d]), (double)values[k],
                         shape);
                ug_tensor hb = host_rand(dts[d], UG_DIMS(5, 37), (uint64_t)(d * 10 + k)),
                          want = host_clone(&hb);
                ug_tensor hv = hb; // 0: all; 1: columns 2..30 of rows 1..3; 2: row 2 seen 4 times
                hv.alloc = NULL;
                if (shape == 1) hv = ug_view_slice(&hv, 0, 1, 3), hv = ug_view_slice(&hv, 1, 2, 29);
                if (shape == 2) {
                    ug_tensor row = ug_view_slice(&hv, 0, 2, 1); // [1, 37]
                    hv = ug_view_expand_dim(&row, 0, 4);         // [4, 1, 37], stride 0
                }
                ug_tensor wv = same_view(&want, &hb, &hv);
                fill_cpu(cpu_ctx(), &wv, values[k]);
                ug_tensor first = {0};
                for (int s = 0; s < cut_schedule_count(); s++) {
                    cut_use_schedule(s);
                    ug_tensor db = cut_upload(&hb), dv = same_view(&db, &hb, &hv);
                    fill_cuda(&cut_ctx, &dv, values[k]);
                    cut_check_exact(&db, want.data, &first, what);
                    ug_tensor_free(&db);
                }
                ug_tensor_free(&first), ug_tensor_free(&hb), ug_tensor_free(&want);
            }
        }
}
END_TEST

// ---- pad ----

// x: the view v of a random base of xdt; y: [yshape] of ydt, fresh or a window of a bigger one.
static void pad_case(const view_spec *v, ug_dtype ydt, ug_dtype xdt, const int64_t *yshape,
                     const int64_t *before, float value, bool window, uint64_t seed) {
    char what[160];
    snprintf(what, sizeof what, "pad %s %s -> %s%s", v->name, ug_dtype_name(xdt), ug_dtype_name(ydt),
             window ? " (window)" : "");
    ug_tensor hx = host_rand(xdt, v->nd, v->shape, seed), hv = make_view(&hx, v);
    ug_tensor shape_of_y = ug_tensor_wrap(NULL, ydt, hv.ndim, yshape);
    ug_tensor hyv, hyb = make_dst(ydt, &shape_of_y, window ? DST_WINDOW : DST_FRESH, &hyv, seed + 1);
    ug_tensor want = host_clone(&hyb), wv = same_view(&want, &hyb, &hyv);
    pad_ref(&wv, &hv, before, value);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dx = cut_upload(&hx), dxv = same_view(&dx, &hx, &hv);
        ug_tensor dyb = window ? cut_upload(&hyb) : cut_empty(ydt, hyb.ndim, hyb.shape);
        ug_tensor dyv = same_view(&dyb, &hyb, &hyv);
        pad_cuda(&cut_ctx, &dyv, &dxv, before, value);
        cut_check_exact(&dyb, want.data, &first, what);
        ug_tensor_free(&dx), ug_tensor_free(&dyb);
    }
    ug_tensor_free(&first), ug_tensor_free(&hx), ug_tensor_free(&hyb), ug_tensor_free(&want);
}

START_TEST(pad_vs_reference) {
    view_spec a = {"2x3x4", 3, {2, 3, 4}, {-1}, -1, 0, 0, -1, 0};
    pad_case(&a, UG_F32, UG_F32, (const int64_t[]){3, 7, 5}, (const int64_t[]){1, 2, 0}, -1.0f, false, 1);
    pad_case(&a, UG_F32, UG_F32, (const int64_t[]){3, 7, 5}, (const int64_t[]){1, 2, 0}, -1.0f, true, 2);
    pad_case(&a, UG_F32, UG_F32, (const int64_t[]){2, 3, 4}, (const int64_t[]){0, 0, 0}, 5.0f, false, 3);
    // An 8-bit image [17, 33, 3] seen as CHW, padded on the right to [3, 32, 64] (the RBA input).
    view_spec img = {"hwc image as chw", 3, {17, 33, 3}, {2, 0, 1}, -1, 0, 0, -1, 0};
    pad_case(&img, UG_F32, UG_U8, (const int64_t[]){3, 32, 64}, (const int64_t[]){0, 0, 31}, 0.0f, false, 4);
    pad_case(&img, UG_U8, UG_U8, (const int64_t[]){3, 19, 40}, (const int64_t[]){0, 1, 2}, 7.0f, false, 5);
    pad_case(&img, UG_I32, UG_U8, (const int64_t[]){3, 19, 40}, (const int64_t[]){0, 1, 2}, -3.0f, true, 6);
    view_spec w = {"bf16 17x9 transposed", 2, {17, 9}, {1, 0}, -1, 0, 0, -1, 0};
    pad_case(&w, UG_F32, UG_BF16, (const int64_t[]){12, 21}, (const int64_t[]){3, 4}, 0.5f, false, 7);
    pad_case(&w, UG_F16, UG_F16, (const int64_t[]){9, 17}, (const int64_t[]){0, 0}, 1e-6f, false, 8);
    pad_case(&w, UG_F64, UG_F64, (const int64_t[]){11, 18}, (const int64_t[]){1, 1}, -2.0f, true, 9);
    view_spec five = {"5-D", 5, {2, 1, 3, 5, 4}, {-1}, -1, 0, 0, -1, 0};
    pad_case(&five, UG_F32, UG_F32, (const int64_t[]){3, 2, 3, 8, 5}, (const int64_t[]){1, 1, 0, 2, 1}, 9.0f,
             false, 10);
    view_spec empty = {"empty x", 2, {0, 5}, {-1}, -1, 0, 0, -1, 0};
    pad_case(&empty, UG_F32, UG_F32, (const int64_t[]){3, 7}, (const int64_t[]){1, 1}, 4.0f, false, 11);
}
END_TEST

// ---- concat ----

START_TEST(concat_vs_cpu) {
    // Parts of [2, r, 5] along dim 1 (one empty, one transposed, one widened from BF16), along
    // dim 0 and along the last dim.
    for (int dim = 0; dim < 3; dim++) {
        int64_t sizes[4] = {3, 1, 0, 17}, total = 21;
        ug_tensor hb[4], hv[4], dparts[4], dbase[4];
        int64_t yshape[3] = {2, 7, 5};
        yshape[dim] = total;
        for (int i = 0; i < 4; i++) {
            int64_t shape[3] = {2, 7, 5};
            shape[dim] = sizes[i];
            ug_dtype dt = i == 3 ? UG_BF16 : UG_F32;
            if (i == 0) { // stored transposed: the part is a transposed view
                int64_t ts[3] = {shape[2], shape[1], shape[0]};
                hb[i] = host_rand(dt, 3, ts, 50 + (uint64_t)i);
                hv[i] = ug_view_permute(&hb[i], (const int[]){2, 1, 0});
            } else {
                hb[i] = host_rand(dt, 3, shape, 50 + (uint64_t)i);
                hv[i] = hb[i];
                hv[i].alloc = NULL;
            }
        }
        char what[64];
        snprintf(what, sizeof what, "concat dim %d", dim);
        ug_tensor want = cut_host_new(UG_F32, 3, yshape);
        concat_cpu(cpu_ctx(), &want, hv, 4, dim);
        ug_tensor first = {0};
        for (int s = 0; s < cut_schedule_count(); s++) {
            cut_use_schedule(s);
            for (int i = 0; i < 4; i++) {
                dbase[i] = cut_upload(&hb[i]);
                dparts[i] = same_view(&dbase[i], &hb[i], &hv[i]);
            }
            ug_tensor dy = cut_empty(UG_F32, 3, yshape);
            concat_cuda(&cut_ctx, &dy, dparts, 4, dim);
            cut_check_exact(&dy, want.data, &first, what);
            ug_tensor_free(&dy);
            for (int i = 0; i < 4; i++)
                ug_tensor_free(&dbase[i]);
        }
        ug_tensor_free(&first), ug_tensor_free(&want);
        for (int i = 0; i < 4; i++)
            ug_tensor_free(&hb[i]);
    }
}
END_TEST

// ---- roll ----

static void roll_case(const view_spec *v, ug_dtype ydt, ug_dtype xdt, int n, const int *dims,
                      const int64_t *shifts, uint64_t seed) {
    char what[160];
    snprintf(what, sizeof what, "roll %s %s -> %s, %d shifts (first %lld)", v->name, ug_dtype_name(xdt),
             ug_dtype_name(ydt), n, n ? (long long)shifts[0] : 0LL);
    ug_tensor hx = host_rand(xdt, v->nd, v->shape, seed), hv = make_view(&hx, v);
    ug_tensor want = cut_host_new(ydt, hv.ndim, hv.shape);
    roll_ref(&want, &hv, n, dims, shifts);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dx = cut_upload(&hx), dxv = same_view(&dx, &hx, &hv),
                  dy = cut_empty(ydt, hv.ndim, hv.shape);
        roll_cuda(&cut_ctx, &dy, &dxv, n, dims, shifts);
        cut_check_exact(&dy, want.data, &first, what);
        ug_tensor_free(&dx), ug_tensor_free(&dy);
    }
    ug_tensor_free(&first), ug_tensor_free(&hx), ug_tensor_free(&want);
}

START_TEST(roll_vs_reference) {
    view_spec a = {"5x7x3", 3, {5, 7, 3}, {-1}, -1, 0, 0, -1, 0};
    roll_case(&a, UG_F32, UG_F32, 1, (const int[]){0}, (const int64_t[]){2}, 1);
    roll_case(&a, UG_F32, UG_F32, 1, (const int[]){1}, (const int64_t[]){-3}, 2);
    roll_case(&a, UG_F32, UG_F32, 2, (const int[]){0, 1}, (const int64_t[]){17, -23}, 3);     // oversized
    roll_case(&a, UG_F32, UG_F32, 3, (const int[]){2, 0, 2}, (const int64_t[]){1, -5, 4}, 4); // dim twice
    roll_case(&a, UG_F32, UG_F32, 3, (const int[]){0, 1, 2}, (const int64_t[]){5, 7, 3}, 5);  // all wrap
    roll_case(&a, UG_F32, UG_F32, 0, NULL, NULL, 6);                                          // no shift
    // Swin's cyclic shift of a token map [H, W, C] by (-3, -3) and back.
    view_spec map = {"17x20x4 map", 3, {17, 20, 4}, {-1}, -1, 0, 0, -1, 0};
    roll_case(&map, UG_F32, UG_F32, 2, (const int[]){0, 1}, (const int64_t[]){-3, -3}, 7);
    roll_case(&map, UG_F32, UG_F32, 2, (const int[]){0, 1}, (const int64_t[]){3, 3}, 8);
    view_spec t = {"permuted 3x17x33", 3, {3, 17, 33}, {2, 0, 1}, -1, 0, 0, -1, 0};
    roll_case(&t, UG_F32, UG_F32, 2, (const int[]){0, 2}, (const int64_t[]){-40, 5}, 9);
    roll_case(&t, UG_F32, UG_U8, 1, (const int[]){1}, (const int64_t[]){-1}, 10);
    roll_case(&t, UG_I64, UG_I64, 1, (const int[]){2}, (const int64_t[]){1000003}, 11);
    roll_case(&t, UG_F16, UG_F16, 2, (const int[]){1, 0}, (const int64_t[]){2, -2}, 12);
}
END_TEST

// ---- errors ----

static void expect_error(const char *op, const char *needle) {
    ug_err err;
    ck_assert_int_eq(ug_ctx_device_status(&cut_ctx, &err), UG_ERR_INTERNAL);
    ck_assert_msg(strstr(err.msg, op) && strstr(err.msg, needle), "unexpected error: %s", err.msg);
}

START_TEST(copy_rejects_host_operand) {
    ug_tensor hx = host_rand(UG_F32, UG_DIMS(3, 4), 1), dy = cut_empty(UG_F32, UG_DIMS(3, 4));
    copy_cuda(&cut_ctx, &dy, &hx);
    expect_error("cuda: copy", "not on the CUDA device");
    // Later entries do nothing once the context failed.
    fill_cuda(&cut_ctx, &dy, 1.0f);
    expect_error("cuda: copy", "not on the CUDA device");
    ug_tensor_free(&hx), ug_tensor_free(&dy);
}
END_TEST

START_TEST(copy_rejects_overlap) {
    ug_tensor d = cut_empty(UG_F32, UG_DIMS(4, 8));
    ug_tensor a = ug_view_slice(&d, 1, 0, 5), b = ug_view_slice(&d, 1, 3, 5);
    copy_cuda(&cut_ctx, &a, &b);
    expect_error("cuda: copy", "overlap");
    ug_tensor_free(&d);
}
END_TEST

START_TEST(roll_rejects_in_place) {
    ug_tensor d = cut_empty(UG_F32, UG_DIMS(4, 8));
    roll_cuda(&cut_ctx, &d, &d, 1, (const int[]){0}, (const int64_t[]){1});
    expect_error("cuda: roll", "overlap");
    ug_tensor_free(&d);
}
END_TEST

START_TEST(copy_rejects_mismatch) {
    ug_tensor a = cut_empty(UG_F32, UG_DIMS(3, 4)), b = cut_empty(UG_F32, UG_DIMS(4, 3));
    copy_cuda(&cut_ctx, &a, &b);
    expect_error("cuda: copy", "one shape");
    ug_tensor_free(&a), ug_tensor_free(&b);
}
END_TEST

START_TEST(copy_rejects_dtype_pair) {
    ug_tensor a = cut_empty(UG_BF16, UG_DIMS(3, 4)), b = cut_empty(UG_F32, UG_DIMS(3, 4));
    copy_cuda(&cut_ctx, &a, &b);
    expect_error("cuda: copy", "cannot copy F32 into BF16");
    ug_tensor_free(&a), ug_tensor_free(&b);
}
END_TEST

START_TEST(pad_rejects_bad_offsets) {
    ug_tensor x = cut_empty(UG_F32, UG_DIMS(3, 4)), y = cut_empty(UG_F32, UG_DIMS(4, 5));
    pad_cuda(&cut_ctx, &y, &x, (const int64_t[]){0, 2}, 0.0f);
    expect_error("cuda: pad", "does not fit");
    ug_tensor_free(&x), ug_tensor_free(&y);
}
END_TEST

START_TEST(concat_rejects_bad_sizes) {
    ug_tensor a = cut_empty(UG_F32, UG_DIMS(2, 3)), b = cut_empty(UG_F32, UG_DIMS(2, 4)),
              y = cut_empty(UG_F32, UG_DIMS(2, 8));
    concat_cuda(&cut_ctx, &y, (ug_tensor[]){a, b}, 2, 1);
    expect_error("cuda: concat", "add up");
    ug_tensor_free(&a), ug_tensor_free(&b), ug_tensor_free(&y);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cuda_movement", .setup = cut_setup, .teardown = cut_teardown, .timeout = 600},
        &s);
    test_add(tc, copy_views_all_pairs, copy_strided_destinations, copy_long_runs, copy_many_tiles, copy_empty,
             fill_all_dtypes, pad_vs_reference, concat_vs_cpu, roll_vs_reference);
    TCase *te = tcase_create("cuda_movement_errors");
    tcase_add_checked_fixture(te, cut_setup, cut_teardown_keep_error);
    tcase_add_test(te, copy_rejects_host_operand);
    tcase_add_test(te, copy_rejects_overlap);
    tcase_add_test(te, roll_rejects_in_place);
    tcase_add_test(te, copy_rejects_mismatch);
    tcase_add_test(te, copy_rejects_dtype_pair);
    tcase_add_test(te, pad_rejects_bad_offsets);
    tcase_add_test(te, concat_rejects_bad_sizes);
    suite_add_tcase(s, te);
    return test_run_suite(s);
}
