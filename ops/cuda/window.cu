// ops/cuda/window.cu — Swin's shifted-window gather, pad zeroing and scatter-add, and
// PatchMerging's 2x2 gather; contract: ops/window.h (index maps and the mask-kind window order
// there; x F32 [H, W, C] and the chunk y F32 [nb, ws * ws, C], both contiguous).
//
// Dimension letters: H, W the token grid, C channels, ws the window size, N = ws * ws tokens
// per window, nwy / nwx windows down / across, nb windows in the chunk (w0 its first window in
// mask-kind order), n merged tokens (t0 the first).
//
// Every op is a row copy: row r of the chunk (window r / N, token r % N) comes from one row of
// x, or is a pad. v1 win_*_v1 / merge_gather_v1: one warp per row (grid-stride over rows, 8
// warps a block), the row's source computed once by the warp (window_at of ops/window.c, then
// the rolled, padded position), its C floats moved by the lanes in 128-byte lines (16-byte vectors when
// C % 4 == 0 and the rows are 16-byte aligned: C = 96..768 in Swin). Why a warp per row and not
// a thread per element: the index map costs ~10 64-bit divisions, paid once per C elements.
// Scatter-add: the windows of a chunk cover disjoint tokens, so every element of x gets at most
// one add, x + y rounded once as on the CPU: no atomics, bit-identical results.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { WIN_THREADS = 256, WIN_WARPS = WIN_THREADS / 32, WIN_MAX_BLOCKS = 4096 };

// Four floats moved by one 16-byte load / store (the emulator has no float4).
struct alignas(16) win_f4 {
    float x, y, z, w;
};

typedef struct win_geom {
    int64_t H, W, C, ws, shift, nwy, nwx, w0, N;
} win_geom;

// The row-major index of window i of mask-kind order (window_at, ops/window.c).
static __device__ __forceinline__ int64_t win_at(int64_t nwy, int64_t nwx, int64_t shift, int64_t i) {
    if (!shift) return i;
    int64_t s1 = (nwy - 1) * (nwx - 1), s2 = s1 + nwx - 1, s3 = s2 + nwy - 1;
    if (i < s1) return i / (nwx - 1) * nwx + i % (nwx - 1);
    if (i < s2) return (nwy - 1) * nwx + (i - s1);
    if (i < s3) return (i - s2) * nwx + nwx - 1;
    return nwy * nwx - 1;
}

// Row of x [H * W, C] behind row r = i * N + t of the chunk, or -1 for a pad: token (ty, tx) of
// window (wy, wx) is at ((wy ws + ty + shift) mod Hp, (wx ws + tx + shift) mod Wp).
static __device__ __forceinline__ int64_t win_src(const win_geom &g, int64_t r) {
    int64_t win = win_at(g.nwy, g.nwx, g.shift, g.w0 + r / g.N), t = r % g.N;
    int64_t row = (win / g.nwx * g.ws + t / g.ws + g.shift) % (g.nwy * g.ws);
    int64_t col = (win % g.nwx * g.ws + t % g.ws + g.shift) % (g.nwx * g.ws);
    return row < g.H && col < g.W ? row * g.W + col : -1;
}

// ---- row movers: V = 4 moves float4s (C % 4 == 0, rows 16-byte aligned), V = 1 floats ----

template <int V>
static __device__ __forceinline__ void row_copy(float *d, const float *s, int64_t C, int lane) {
    if (V == 4) {
        win_f4 *d4 = (win_f4 *)d;
        const win_f4 *s4 = (const win_f4 *)s;
        for (int64_t c = lane; c < C / 4; c += 32)
            d4[c] = s4[c];
    } else {
        for (int64_t c = lane; c < C; c += 32)
            d[c] = s[c];
    }
}

template <int V> static __device__ __forceinline__ void row_zero(float *d, int64_t C, int lane) {
    if (V == 4) {
        win_f4 *d4 = (win_f4 *)d, z = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t c = lane; c < C / 4; c += 32)
            d4[c] = z;
    } else {
        for (int64_t c = lane; c < C; c += 32)
            d[c] = 0.0f;
    }
}

template <int V>
static __device__ __forceinline__ void row_add(float *d, const float *s, int64_t C, int lane) {
    if (V == 4) {
        win_f4 *d4 = (win_f4 *)d;
        const win_f4 *s4 = (const win_f4 *)s;
        for (int64_t c = lane; c < C / 4; c += 32) {
            win_f4 a = d4[c], b = s4[c], r = {a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w};
            d4[c] = r;
        }
    } else {
        for (int64_t c = lane; c < C; c += 32)
            d[c] = d[c] + s[c];
    }
}

// ---- kernels: warp w of the grid takes rows w, w + nwarps, ... ----

enum { WIN_GATHER, WIN_ZERO_PADS, WIN_SCATTER_ADD };

// y: the chunk [nb * N, C]; x: the map [H * W, C].
template <int OP, int V>
static __global__ void __launch_bounds__(WIN_THREADS)
    win_rows_v1(float *y, float *x, win_geom g, int64_t rows) {
    int lane = (int)threadIdx.x % 32;
    int64_t warp = ((int64_t)blockIdx.x * WIN_THREADS + threadIdx.x) / 32,
            nwarps = (int64_t)gridDim.x * WIN_WARPS;
    for (int64_t r = warp; r < rows; r += nwarps) {
        int64_t src = win_src(g, r);
        float *yr = y + r * g.C;
        if (OP == WIN_GATHER) {
            if (src >= 0)
                row_copy<V>(yr, x + src * g.C, g.C, lane);
            else
                row_zero<V>(yr, g.C, lane);
        } else if (OP == WIN_ZERO_PADS) {
            if (src < 0) row_zero<V>(yr, g.C, lane);
        } else {
            if (src >= 0) row_add<V>(x + src * g.C, yr, g.C, lane);
        }
    }
}

// y [n * 4, C]: row 4 t + q of merged token t0 + t = (i, j) is x(2i + q % 2, 2j + q / 2) or 0.
template <int V>
static __global__ void __launch_bounds__(WIN_THREADS)
    merge_gather_v1(float *y, const float *x, int64_t H, int64_t W, int64_t C, int64_t t0, int64_t rows) {
    int lane = (int)threadIdx.x % 32;
    int64_t warp = ((int64_t)blockIdx.x * WIN_THREADS + threadIdx.x) / 32,
            nwarps = (int64_t)gridDim.x * WIN_WARPS;
    int64_t W2 = (W + 1) / 2;
    for (int64_t r = warp; r < rows; r += nwarps) {
        int64_t t = t0 + r / 4, q = r % 4, row = 2 * (t / W2) + q % 2, col = 2 * (t % W2) + q / 2;
        float *yr = y + r * C;
        if (row < H && col < W)
            row_copy<V>(yr, x + (row * W + col) * C, C, lane);
        else
            row_zero<V>(yr, C, lane);
    }
}

// ---- entries ----

static unsigned win_grid(int64_t rows) {
    return cu_min<unsigned>(cu_blocks(rows, WIN_WARPS), WIN_MAX_BLOCKS);
}

// Rows of C floats at p and q can move as float4s.
static bool win_vec4(int64_t C, const void *p, const void *q) {
    return C % 4 == 0 && ((uintptr_t)p % 16 == 0) && (q == NULL || (uintptr_t)q % 16 == 0);
}

static bool win_f32_contiguous(const ug_tensor *t, int ndim) {
    return t->dtype == UG_F32 && t->ndim == ndim && ug_tensor_is_contiguous(t);
}

static bool win_disjoint(const ug_tensor *a, const ug_tensor *b) {
    uintptr_t a0 = (uintptr_t)a->data, a1 = a0 + ug_tensor_nbytes(a), b0 = (uintptr_t)b->data,
              b1 = b0 + ug_tensor_nbytes(b);
    return a0 == a1 || b0 == b1 || a1 <= b0 || b1 <= a0;
}

// The checks of window_gather_cpu / window_scatter_add_cpu (check_window_args, ops/window.c)
// and the overlap of the chunk y with the map x.
static bool win_args_ok(ug_ctx *ctx, const ug_tensor *y, const ug_tensor *x, int64_t ws, int64_t shift,
                        int64_t w0, const char *op) {
    if (!win_f32_contiguous(x, 3) || !win_f32_contiguous(y, 3))
        return cu_fail(ctx, op, "x [H, W, C] and y [nb, ws * ws, C] must be contiguous F32");
    if (ws < 1 || shift < 0 || shift >= ws) return cu_fail(ctx, op, "needs ws >= 1 and 0 <= shift < ws");
    if (y->shape[1] != ws * ws || y->shape[2] != x->shape[2])
        return cu_fail(ctx, op, "y must be [nb, ws * ws, C] with x's C");
    int64_t nW = ((x->shape[0] + ws - 1) / ws) * ((x->shape[1] + ws - 1) / ws);
    if (w0 < 0 || w0 + y->shape[0] > nW)
        return cu_fail(ctx, op, "windows [w0, w0 + nb) are not all in the map");
    if (!win_disjoint(y, x)) return cu_fail(ctx, op, "y and x overlap");
    return true;
}

static win_geom win_geom_of(int64_t H, int64_t W, int64_t C, int64_t ws, int64_t shift, int64_t w0) {
    win_geom g = {H, W, C, ws, shift, (H + ws - 1) / ws, (W + ws - 1) / ws, w0, ws * ws};
    return g;
}

template <int OP>
static void win_launch(ug_ctx *ctx, float *y, float *x, const win_geom &g, int64_t rows, const char *op) {
    if (win_vec4(g.C, y, x))
        UG_LAUNCH((win_rows_v1<OP, 4>), dim3(win_grid(rows)), dim3(WIN_THREADS), 0, cu_stream(ctx), y, x, g,
                  rows);
    else
        UG_LAUNCH((win_rows_v1<OP, 1>), dim3(win_grid(rows)), dim3(WIN_THREADS), 0, cu_stream(ctx), y, x, g,
                  rows);
    cu_check(ctx, cudaGetLastError(), op);
}

extern "C" void window_gather_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t ws, int64_t shift,
                                   int64_t w0) {
    const ug_tensor *ts[] = {y, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, "window_gather", 2, ts)) return;
    if (!win_args_ok(ctx, y, x, ws, shift, w0, "window_gather")) return;
    int64_t rows = y->shape[0] * y->shape[1];
    if (rows == 0 || y->shape[2] == 0) return;
    cu_poison_output(ctx, y);
    win_geom g = win_geom_of(x->shape[0], x->shape[1], x->shape[2], ws, shift, w0);
    win_launch<WIN_GATHER>(ctx, (float *)y->data, (float *)x->data, g, rows, "window_gather");
}

extern "C" void window_zero_pads_cuda(ug_ctx *ctx, ug_tensor *y, int64_t H, int64_t W, int64_t ws,
                                      int64_t shift, int64_t w0) {
    const ug_tensor *ts[] = {y};
    if (cu_failed(ctx) || !cu_on_device(ctx, "window_zero_pads", 1, ts)) return;
    if (!win_f32_contiguous(y, 3) || ws < 1 || y->shape[1] != ws * ws) {
        cu_fail(ctx, "window_zero_pads", "y must be contiguous F32 [nb, ws * ws, C]");
        return;
    }
    if (shift < 0 || shift >= ws || H < 1 || W < 1 || w0 < 0 ||
        w0 + y->shape[0] > ((H + ws - 1) / ws) * ((W + ws - 1) / ws)) {
        cu_fail(ctx, "window_zero_pads",
                "needs 0 <= shift < ws, H, W >= 1 and windows [w0, w0 + nb) in the map");
        return;
    }
    int64_t rows = y->shape[0] * y->shape[1];
    if (rows == 0 || y->shape[2] == 0) return;
    win_geom g = win_geom_of(H, W, y->shape[2], ws, shift, w0);
    win_launch<WIN_ZERO_PADS>(ctx, (float *)y->data, NULL, g, rows, "window_zero_pads");
}

extern "C" void window_scatter_add_cuda(ug_ctx *ctx, ug_tensor *x, const ug_tensor *y, int64_t ws,
                                        int64_t shift, int64_t w0) {
    const ug_tensor *ts[] = {x, y};
    if (cu_failed(ctx) || !cu_on_device(ctx, "window_scatter_add", 2, ts)) return;
    if (!win_args_ok(ctx, y, x, ws, shift, w0, "window_scatter_add")) return;
    int64_t rows = y->shape[0] * y->shape[1];
    if (rows == 0 || y->shape[2] == 0) return;
    win_geom g = win_geom_of(x->shape[0], x->shape[1], x->shape[2], ws, shift, w0);
    win_launch<WIN_SCATTER_ADD>(ctx, (float *)y->data, (float *)x->data, g, rows, "window_scatter_add");
}

extern "C" void patch_merge_gather_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t t0) {
    const ug_tensor *ts[] = {y, x};
    if (cu_failed(ctx) || !cu_on_device(ctx, "patch_merge_gather", 2, ts)) return;
    if (!win_f32_contiguous(x, 3) || !win_f32_contiguous(y, 2) || y->shape[1] != 4 * x->shape[2]) {
        cu_fail(ctx, "patch_merge_gather", "x [H, W, C] and y [n, 4C] must be contiguous F32");
        return;
    }
    int64_t H = x->shape[0], W = x->shape[1], C = x->shape[2];
    if (t0 < 0 || t0 + y->shape[0] > ((H + 1) / 2) * ((W + 1) / 2)) {
        cu_fail(ctx, "patch_merge_gather", "merged tokens [t0, t0 + n) are not all in the map");
        return;
    }
    if (!win_disjoint(y, x)) {
        cu_fail(ctx, "patch_merge_gather", "y and x overlap");
        return;
    }
    int64_t rows = y->shape[0] * 4;
    if (rows == 0 || C == 0) return;
    cu_poison_output(ctx, y);
    float *yp = (float *)y->data;
    const float *xp = (const float *)x->data;
    if (win_vec4(C, yp, xp))
        UG_LAUNCH(merge_gather_v1<4>, dim3(win_grid(rows)), dim3(WIN_THREADS), 0, cu_stream(ctx), yp, xp, H,
                  W, C, t0, rows);
    else
        UG_LAUNCH(merge_gather_v1<1>, dim3(win_grid(rows)), dim3(WIN_THREADS), 0, cu_stream(ctx), yp, xp, H,
                  W, C, t0, rows);
    cu_check(ctx, cudaGetLastError(), "patch_merge_gather");
}
