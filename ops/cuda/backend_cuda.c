// ops/cuda/backend_cuda.c — the CUDA backend: device memory, the per-context state (one
// stream, the first error), the helpers the entries share, and the op table. The kernels and
// their extern "C" entries are in ops/cuda/<op>.cu; this file is plain C against the CUDA
// runtime API (or the emulator's copy of it, tests/cuda_emu/emu_runtime.h).
#include "ops/cuda/backend_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"

// ---- device memory ----

static void *cuda_alloc(size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError(); // the failure is reported by the caller, not left for the next launch
        return NULL;
    }
    return p;
}

static void cuda_free(void *p) {
    if (p) cudaFree(p);
}

static ug_status copy_error(ug_err *err, cudaError_t e, const char *what, size_t bytes) {
    cudaGetLastError();
    return ug_errf(err, e == cudaErrorMemoryAllocation ? UG_ERR_NOMEM : UG_ERR_INTERNAL,
                   "cuda: %s of %zu bytes: %s", what, bytes, cudaGetErrorString(e));
}

static ug_status cuda_zero(void *dst, size_t bytes, ug_err *err) {
    cudaError_t e = cudaMemset(dst, 0, bytes);
    return e == cudaSuccess ? UG_OK : copy_error(err, e, "zero-fill", bytes);
}

// Copies are synchronous on the legacy default stream, which waits for the context's stream
// (created blocking), so they see every kernel queued before them.
static ug_status cuda_to_device(void *dst, const void *src, size_t bytes, ug_err *err) {
    cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? UG_OK : copy_error(err, e, "copy to the device", bytes);
}

static ug_status cuda_to_host(void *dst, const void *src, size_t bytes, ug_err *err) {
    cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
    return e == cudaSuccess ? UG_OK : copy_error(err, e, "copy to the host", bytes);
}

const ug_memory ug_cuda_memory = {.device = UG_CUDA,
                                  .alloc = cuda_alloc,
                                  .free = cuda_free,
                                  .zero = cuda_zero,
                                  .to_device = cuda_to_device,
                                  .to_host = cuda_to_host};

// ---- the device ----

ug_status ug_cuda_available(ug_err *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return ug_errf(err, UG_ERR_UNSUPPORTED, "no usable CUDA device: %s", cudaGetErrorString(e));
    }
    if (n < 1) return ug_errf(err, UG_ERR_UNSUPPORTED, "no usable CUDA device: none found");
    return UG_OK;
}

void ug_cuda_describe(char *buf, size_t n) {
    ug_err err;
    struct cudaDeviceProp p;
    int drv = 0, rt = 0;
    if (ug_cuda_available(&err) != UG_OK) {
        snprintf(buf, n, "%s", err.msg);
        return;
    }
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
        cudaGetLastError();
        snprintf(buf, n, "CUDA device 0: properties unreadable");
        return;
    }
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    snprintf(buf, n, "%s, sm_%d%d, %d SMs, %.1f GiB, driver %d.%d, runtime %d.%d", p.name, p.major, p.minor,
             p.multiProcessorCount, (double)p.totalGlobalMem / (1 << 30), drv / 1000, drv % 1000 / 10,
             rt / 1000, rt % 1000 / 10);
}

static cu_state *state(const ug_ctx *ctx) {
    return (cu_state *)ctx->dev_state;
}

static void cuda_close(ug_ctx *ctx) {
    cu_state *s = state(ctx);
    if (!s) return;
    cudaStreamSynchronize(s->stream);
    cudaStreamDestroy(s->stream);
    cudaGetLastError();
    free(s);
    ctx->dev_state = NULL;
}

static ug_status cuda_open(ug_ctx *ctx, ug_err *err) {
    ug_status st = ug_cuda_available(err);
    if (st != UG_OK) return st;
    cu_state *s = calloc(1, sizeof *s);
    if (!s) return ug_errf(err, UG_ERR_NOMEM, "cuda: out of memory for the context state");
    cudaError_t e = cudaSetDevice(0);
    if (e == cudaSuccess) e = cudaStreamCreate(&s->stream);
    if (e != cudaSuccess) {
        cudaGetLastError();
        free(s);
        return ug_errf(err, UG_ERR_UNSUPPORTED, "cuda: cannot start on device 0: %s", cudaGetErrorString(e));
    }
    ctx->dev_state = s;
    return UG_OK;
}

static ug_status cuda_sync(ug_ctx *ctx, ug_err *err) {
    cu_state *s = state(ctx);
    if (!s) return UG_OK;
    if (s->st == UG_OK) cu_check(ctx, cudaStreamSynchronize(s->stream), "stream");
    if (s->st == UG_OK) cu_check(ctx, cudaGetLastError(), "stream");
    if (s->st != UG_OK && err) *err = s->err;
    return s->st;
}

// ---- for the entries ----

cudaStream_t cu_stream(ug_ctx *ctx) {
    return state(ctx)->stream;
}

bool cu_failed(const ug_ctx *ctx) {
    return state(ctx)->st != UG_OK;
}

static void record(ug_ctx *ctx, ug_status code, const char *op, const char *what) {
    cu_state *s = state(ctx);
    if (s->st != UG_OK) return;
    s->st = ug_errf(&s->err, code, "cuda: %s: %s", op, what);
}

bool cu_check(ug_ctx *ctx, cudaError_t e, const char *op) {
    if (e == cudaSuccess) return true;
    cudaGetLastError();
    record(ctx, e == cudaErrorMemoryAllocation ? UG_ERR_NOMEM : UG_ERR_INTERNAL, op, cudaGetErrorString(e));
    return false;
}

bool cu_fail(ug_ctx *ctx, const char *op, const char *what) {
    record(ctx, UG_ERR_INTERNAL, op, what);
    return false;
}

bool cu_on_device(ug_ctx *ctx, const char *op, int n, const ug_tensor *const *ts) {
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->device != UG_CUDA) {
            char what[96];
            snprintf(what, sizeof what, "operand %d is on the %s, not on the CUDA device", i,
                     ug_device_name(ts[i]->device));
            return cu_fail(ctx, op, what);
        }
    return true;
}

ug_arena_mark cu_mark(ug_ctx *ctx) {
    return ug_arena_get_mark(&ctx->dev_arena);
}

void *cu_scratch(ug_ctx *ctx, size_t bytes, const char *op) {
    void *p = ug_arena_alloc(&ctx->dev_arena, bytes);
    if (!p) {
        char what[96];
        snprintf(what, sizeof what, "out of device memory for %zu bytes of working memory", bytes);
        record(ctx, UG_ERR_NOMEM, op, what);
    }
    return p;
}

void cu_release(ug_ctx *ctx, ug_arena_mark m) {
    ug_arena_release(&ctx->dev_arena, m);
}

bool cu_contiguous_f32(ug_ctx *ctx, ug_tensor *out, const ug_tensor *x, const char *op) {
    if (x->dtype == UG_F32 && ug_tensor_is_contiguous(x)) {
        *out = *x;
        out->alloc = NULL;
        out->mem = NULL;
        return true;
    }
    void *p = cu_scratch(ctx, (size_t)ug_tensor_numel(x) * sizeof(float), op);
    if (!p) return false;
    *out = ug_tensor_wrap_on(p, UG_CUDA, UG_F32, x->ndim, x->shape);
    copy_cuda(ctx, out, x);
    return !cu_failed(ctx);
}

void cu_poison_output(ug_ctx *ctx, const ug_tensor *y) {
#ifdef UG_CUDA_EMU
    if (ug_tensor_is_contiguous(y)) cu_check(ctx, cudaMemset(y->data, 0xff, ug_tensor_nbytes(y)), "poison");
#else
    (void)ctx;
    (void)y;
#endif
}

// ---- the table ----

// Every slot has its kernel: a missing entry is a link error, not a NULL slot.
const ug_backend ug_backend_cuda = {
    .name = "cuda",
    .device = UG_CUDA,
    .mem = &ug_cuda_memory,
    .open = cuda_open,
    .close = cuda_close,
    .sync = cuda_sync,
    .matmul = matmul_cuda,
    .linear = linear_cuda,
    .conv2d = conv2d_cuda,
    .conv_transpose2x2 = conv_transpose2x2_cuda,
    .layernorm = layernorm_cuda,
    .layernorm2d = layernorm2d_cuda,
    .groupnorm = groupnorm_cuda,
    .gelu = gelu_cuda,
    .relu = relu_cuda,
    .sigmoid = sigmoid_cuda,
    .softmax = softmax_cuda,
    .add = add_cuda,
    .mul = mul_cuda,
    .scale_add = scale_add_cuda,
    .attention = attention_cuda,
    .msdeform_attn = msdeform_attn_cuda,
    .resize_bilinear = resize_bilinear_cuda,
    .resize_pillow = resize_pillow_cuda,
    .grid_sample = grid_sample_cuda,
    .rba_normalize = rba_normalize_cuda,
    .sam_normalize_pad = sam_normalize_pad_cuda,
    .copy = copy_cuda,
    .fill = fill_cuda,
    .pad = pad_cuda,
    .concat = concat_cuda,
    .roll = roll_cuda,
    .argmax = argmax_cuda,
    .posembed_sine = posembed_sine_cuda,
    .rba_score = rba_score_cuda,
    .window_gather = window_gather_cuda,
    .window_zero_pads = window_zero_pads_cuda,
    .window_scatter_add = window_scatter_add_cuda,
    .patch_merge_gather = patch_merge_gather_cuda,
    .msdeform_sampling_locations = msdeform_sampling_locations_cuda,
    .attn_mask_threshold = attn_mask_threshold_cuda,
    .prompt_pe = prompt_pe_cuda,
    .proposals_candidates = proposals_candidates_cuda,
    .proposals_fps = proposals_fps_cuda,
    .masks_binarize = masks_binarize_cuda,
    .masks_scores = masks_scores_cuda,
    .masks_nms = masks_nms_cuda,
    .masks_overlap = masks_overlap_cuda,
    .masks_refined = masks_refined_cuda,
};
