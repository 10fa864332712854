// ops/cuda/layernorm.cu — LayerNorm over the last dim and LayerNorm2d over the channels of an
// NCHW map; contract: ops/layernorm.h.
//
//   y = ((x - x0) - m) * rstd * w + b,  m = mean - x0,  rstd = 1 / sqrt(var + eps)  (var biased)
// x0 is the row's (pixel's) first value: the sums hold the spread over C, not the offset, as in
// the CPU kernel (vm_sum_shifted). Two passes (mean, then squared deviations around it), f32.
//
// v1 ln_rows_v1: one warp per row, 8 rows per 256-thread block; lanes stride the row (coalesced),
//     f32 lane partials reduced by an xor butterfly (fixed order: deterministic, every lane gets
//     the same sum), two reduction passes and a writing pass re-read the row from L1/L2. Why a
//     warp and not a block: C = 96..1280 here, a warp keeps every lane busy without barriers.
// v1 ln2d_v1: a block is 32 neighbouring pixels (threadIdx.x, a coalesced 128-byte line per
//     channel) x 8 slices of the channels (threadIdx.y); the 8 slice partials of each pixel meet
//     in shared memory and every thread adds them in slice order (deterministic).
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum { LN_THREADS = 256, LN2D_PIX = 32, LN2D_SLICES = 8 };

static __device__ __forceinline__ float ln_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(UG_FULL_MASK, v, o);
    return v;
}

static __global__ void ln_rows_v1(float *y, const float *x, const float *w, const float *b, int64_t rows,
                                  int64_t C, float eps) {
    int lane = (int)threadIdx.x & 31;
    int64_t r = (int64_t)blockIdx.x * (LN_THREADS / 32) + threadIdx.x / 32;
    if (r < rows) { // whole warps skip together: the shuffles below see all 32 lanes
        const float *xr = x + r * C;
        float *yr = y + r * C;
        float x0 = xr[0];
        float s = 0.0f;
        for (int64_t c = lane; c < C; c += 32)
            s += xr[c] - x0;
        float m = ln_warp_sum(s) / (float)C;
        float q = 0.0f;
        for (int64_t c = lane; c < C; c += 32) {
            float d = (xr[c] - x0) - m;
            q += d * d;
        }
        float rstd = 1.0f / sqrtf(ln_warp_sum(q) / (float)C + eps);
        // Each lane writes only the elements it read itself: y may be x.
        for (int64_t c = lane; c < C; c += 32)
            yr[c] = ((xr[c] - x0) - m) * rstd * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
    }
}

static __global__ void ln2d_v1(float *y, const float *x, const float *w, const float *b, int64_t C,
                               int64_t HW, int64_t tiles, float eps) {
    __shared__ float part[2][LN2D_SLICES][LN2D_PIX];
    int tx = (int)threadIdx.x, ty = (int)threadIdx.y;
    int64_t n = blockIdx.x / tiles, p = (int64_t)(blockIdx.x % tiles) * LN2D_PIX + tx;
    bool ok = p < HW;
    const float *xp = x + n * C * HW + p; // channel c of the pixel at xp[c * HW]
    float *yp = y + n * C * HW + p;
    float x0 = ok ? xp[0] : 0.0f;
    float s = 0.0f;
    if (ok)
        for (int64_t c = ty; c < C; c += LN2D_SLICES)
            s += xp[c * HW] - x0;
    part[0][ty][tx] = s;
    __syncthreads();
    float tot = 0.0f;
    for (int k = 0; k < LN2D_SLICES; k++)
        tot += part[0][k][tx];
    float m = tot / (float)C;
    float q = 0.0f;
    if (ok)
        for (int64_t c = ty; c < C; c += LN2D_SLICES) {
            float d = (xp[c * HW] - x0) - m;
            q += d * d;
        }
    part[1][ty][tx] = q;
    // After this barrier every read of other threads' elements is done: the writes below may
    // overwrite x (y may be x).
    __syncthreads();
    tot = 0.0f;
    for (int k = 0; k < LN2D_SLICES; k++)
        tot += part[1][k][tx];
    float rstd = 1.0f / sqrtf(tot / (float)C + eps);
    if (ok)
        for (int64_t c = ty; c < C; c += LN2D_SLICES)
            yp[c * HW] = ((xp[c * HW] - x0) - m) * rstd * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
}

// w or b: NULL, or F32 [C] contiguous (the CPU contract). False (and the error recorded) else.
static bool ln_affine_ok(ug_ctx *ctx, const ug_tensor *t, int64_t C, const char *op) {
    if (!t) return true;
    if (t->dtype != UG_F32 || ug_tensor_numel(t) != C || !ug_tensor_is_contiguous(t))
        return cu_fail(ctx, op, "weight and bias must be contiguous F32 [C]");
    return true;
}

// Common checks of both entries; *xc gets x itself or its contiguous F32 copy (scratch).
static bool ln_prepare(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                       int64_t C, ug_tensor *xc, const char *op) {
    if (y->dtype != UG_F32 || !ug_tensor_is_contiguous(y) || !ug_tensor_same_shape(x, y))
        return cu_fail(ctx, op, "y must be contiguous F32 of x's shape");
    if (!ln_affine_ok(ctx, w, C, op) || !ln_affine_ok(ctx, b, C, op)) return false;
    return cu_contiguous_f32(ctx, xc, x, op);
}

extern "C" void layernorm_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                               const ug_tensor *b, float eps) {
    const ug_tensor *ts[] = {y, x, w, b};
    if (cu_failed(ctx) || !cu_on_device(ctx, "layernorm", 4, ts)) return;
    if (x->ndim < 1) {
        cu_fail(ctx, "layernorm", "x has no dims");
        return;
    }
    int64_t C = x->shape[x->ndim - 1], rows = C ? ug_tensor_numel(x) / C : 0;
    if (rows == 0) return;
    ug_arena_mark mk = cu_mark(ctx);
    ug_tensor xc;
    if (ln_prepare(ctx, y, x, w, b, C, &xc, "layernorm")) {
        if (y->data != xc.data) cu_poison_output(ctx, y); // not in place
        UG_LAUNCH(ln_rows_v1, dim3(cu_blocks(rows, LN_THREADS / 32)), dim3(LN_THREADS), 0, cu_stream(ctx),
                  (float *)y->data, (const float *)xc.data, w ? (const float *)w->data : NULL,
                  b ? (const float *)b->data : NULL, rows, C, eps);
        cu_check(ctx, cudaGetLastError(), "layernorm");
    }
    cu_release(ctx, mk);
}

extern "C" void layernorm2d_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                 const ug_tensor *b, float eps) {
    const ug_tensor *ts[] = {y, x, w, b};
    if (cu_failed(ctx) || !cu_on_device(ctx, "layernorm2d", 4, ts)) return;
    if (x->ndim != 4) {
        cu_fail(ctx, "layernorm2d", "x must be [B, C, H, W]");
        return;
    }
    int64_t B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    if (B == 0 || C == 0 || HW == 0) return;
    ug_arena_mark mk = cu_mark(ctx);
    ug_tensor xc;
    if (ln_prepare(ctx, y, x, w, b, C, &xc, "layernorm2d")) {
        if (y->data != xc.data) cu_poison_output(ctx, y); // not in place
        int64_t tiles = (HW + LN2D_PIX - 1) / LN2D_PIX;
        UG_LAUNCH(ln2d_v1, dim3((unsigned)(B * tiles)), dim3(LN2D_PIX, LN2D_SLICES), 0, cu_stream(ctx),
                  (float *)y->data, (const float *)xc.data, w ? (const float *)w->data : NULL,
                  b ? (const float *)b->data : NULL, C, HW, tiles, eps);
        cu_check(ctx, cudaGetLastError(), "layernorm2d");
    }
    cu_release(ctx, mk);
}
