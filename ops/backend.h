// ops/backend.h — the op table a backend provides. Model code calls the ug_<op> front-ends
// of ops/ops.h, which pick the table of the output tensor's device: the CPU table below, a
// CUDA table (ops/cuda/, make CUDA=1), or the poison table of the device-boundary test
// (tests/poison_backend.c), with no change to models/.
//
// Every entry has the contract of the CPU kernel of the same name (ops/<op>.h).
#ifndef UG_OPS_BACKEND_H
#define UG_OPS_BACKEND_H

#include <stdbool.h>

#include "engine/ctx.h"
#include "engine/error.h"
#include "engine/tensor.h"
#include "ops/attention.h"

typedef struct ug_backend {
    const char *name;
    ug_device device;
    const ug_memory *mem; // the memory of `device` (ug_host_memory for the CPU)
    // Per-context state of a device (its stream, its first error) in ctx->dev_state: made when
    // a context starts using the device, freed when it stops. NULL for the host.
    ug_status (*open)(ug_ctx *, ug_err *);
    void (*close)(ug_ctx *);
    // Waits for the work queued on the device and returns the context's first device error
    // (a failed launch, memory exhausted inside an op). NULL: nothing can fail asynchronously.
    ug_status (*sync)(ug_ctx *, ug_err *);
    // ops/gemm.h
    void (*matmul)(ug_ctx *, ug_tensor *C, const ug_tensor *A, const ug_tensor *B, const ug_tensor *bias,
                   float alpha, float beta);
    void (*linear)(ug_ctx *, ug_tensor *y, const ug_tensor *x, const ug_tensor *W, const ug_tensor *b);
    // ops/conv2d.h, ops/conv_transpose.h
    void (*conv2d)(ug_ctx *, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                   int stride, int pad);
    void (*conv_transpose2x2)(ug_ctx *, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                              const ug_tensor *b);
    // ops/layernorm.h, ops/groupnorm.h
    void (*layernorm)(ug_ctx *, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                      float eps);
    void (*layernorm2d)(ug_ctx *, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                        float eps);
    void (*groupnorm)(ug_ctx *, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                      int groups, float eps);
    // ops/activation.h, ops/softmax.h, ops/elementwise.h
    void (*gelu)(ug_ctx *, ug_tensor *y, const ug_tensor *x);
    void (*relu)(ug_ctx *, ug_tensor *y, const ug_tensor *x);
    void (*sigmoid)(ug_ctx *, ug_tensor *y, const ug_tensor *x);
    void (*softmax)(ug_ctx *, ug_tensor *y, const ug_tensor *x);
    void (*add)(ug_ctx *, ug_tensor *y, const ug_tensor *a, const ug_tensor *b);
    void (*mul)(ug_ctx *, ug_tensor *y, const ug_tensor *a, const ug_tensor *b);
    void (*scale_add)(ug_ctx *, ug_tensor *y, const ug_tensor *x, float alpha, float beta);
    // ops/attention.h, ops/msdeform_attn.h
    void (*attention)(ug_ctx *, ug_tensor *out, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
                      const ug_attn_extra *extra, float scale);
    void (*msdeform_attn)(ug_ctx *, ug_tensor *out, const ug_tensor *value, const int64_t (*shapes)[2],
                          int64_t levels, const ug_tensor *loc, const ug_tensor *aw);
    // ops/resize.h, ops/grid_sample.h
    void (*resize_bilinear)(ug_ctx *, ug_tensor *y, const ug_tensor *x, bool align_corners);
    void (*resize_pillow)(ug_ctx *, ug_tensor *y, const ug_tensor *x);
    void (*grid_sample)(ug_ctx *, ug_tensor *y, const ug_tensor *x, const ug_tensor *grid);
    void (*rba_normalize)(ug_ctx *, ug_tensor *y, const ug_tensor *img);
    void (*sam_normalize_pad)(ug_ctx *, ug_tensor *y, const ug_tensor *img, const float *mean,
                              const float *std);
    // ops/movement.h, ops/argmax.h, ops/posembed.h
    void (*copy)(ug_ctx *, ug_tensor *y, const ug_tensor *x);
    void (*fill)(ug_ctx *, ug_tensor *y, float value);
    void (*pad)(ug_ctx *, ug_tensor *y, const ug_tensor *x, const int64_t *before, float value);
    void (*concat)(ug_ctx *, ug_tensor *y, const ug_tensor *xs, int n, int dim);
    void (*roll)(ug_ctx *, ug_tensor *y, const ug_tensor *x, int n, const int *dims, const int64_t *shifts);
    void (*argmax)(ug_ctx *, ug_tensor *y, const ug_tensor *x);
    void (*posembed_sine)(ug_ctx *, ug_tensor *y);
    // ops/rba_score.h (needs working memory from ctx->arena, so it can fail)
    ug_status (*rba_score)(ug_ctx *, ug_tensor *score, ug_tensor *semantic, const ug_tensor *logits,
                           const ug_tensor *masks, int64_t Ht, int64_t Wt, ug_err *err);
    // ---- ops that were loops in the model files, one block per room ----
    // swin
    // ops/window.h
    void (*window_gather)(ug_ctx *, ug_tensor *y, const ug_tensor *x, int64_t ws, int64_t shift, int64_t w0);
    void (*window_zero_pads)(ug_ctx *, ug_tensor *y, int64_t H, int64_t W, int64_t ws, int64_t shift,
                             int64_t w0);
    void (*window_scatter_add)(ug_ctx *, ug_tensor *x, const ug_tensor *y, int64_t ws, int64_t shift,
                               int64_t w0);
    void (*patch_merge_gather)(ug_ctx *, ug_tensor *y, const ug_tensor *x, int64_t t0);
    // msdeform pixel decoder / mask2former decoder / rba
    void (*msdeform_sampling_locations)(ug_ctx *, ug_tensor *loc, const ug_tensor *off,
                                        const int64_t (*shapes)[2], int64_t levels);
    void (*attn_mask_threshold)(ug_ctx *, ug_tensor *mask, const ug_tensor *x);
    // sam
    void (*prompt_pe)(ug_ctx *, ug_tensor *y, const ug_tensor *xy, const ug_tensor *labels,
                      const ug_tensor *gauss, const ug_tensor *embed, const ug_tensor *not_a_point,
                      float size);
    // pipeline
    // ops/proposals.h (fps: working memory, so it can fail; ties is a proposals_ties), ops/masks.h
    void (*proposals_candidates)(ug_ctx *, ug_tensor *xy, ug_tensor *count, const ug_tensor *u,
                                 const ug_tensor *ignore, float thr, float fallback);
    ug_status (*proposals_fps)(ug_ctx *, ug_tensor *idx, ug_tensor *pts, const ug_tensor *xy, int ties,
                               ug_err *err);
    void (*masks_binarize)(ug_ctx *, ug_tensor *bits, ug_tensor *area, const ug_tensor *x, float thr);
    void (*masks_scores)(ug_ctx *, ug_tensor *scores, const ug_tensor *bits, const ug_tensor *area,
                         const ug_tensor *u);
    void (*masks_nms)(ug_ctx *, ug_tensor *keep, ug_tensor *count, const ug_tensor *bits,
                      const ug_tensor *area, const ug_tensor *scores, float iou_thr);
    void (*masks_overlap)(ug_ctx *, ug_tensor *inter, const ug_tensor *bits, const ug_tensor *idx,
                          const ug_tensor *other);
    void (*masks_refined)(ug_ctx *, ug_tensor *out, const ug_tensor *bits, const ug_tensor *scores,
                          const ug_tensor *keep, const ug_tensor *u);
} ug_backend;

extern const ug_backend ug_backend_cpu; // ops/backend_cpu.c

// The table for tensors on `device`: the CPU table, or the one chosen for that device with
// ug_ctx_use_device (asking for a backend that is not there is a programming error).
const ug_backend *ug_backend_for(const ug_ctx *ctx, ug_device device);

// Makes b's device the one ctx runs models on: installs the table, opens the device's state
// and gives ctx a fresh activation arena on that device (b = &ug_backend_cpu goes back to the
// host). Fails when the device cannot be used (then ctx is back on the host).
ug_status ug_ctx_use_device(ug_ctx *ctx, const ug_backend *b, ug_err *err);

// The first error of ctx's device since it was chosen (waiting for its queued work first);
// UG_OK on the host. ug_to_host and ug_to_device check it before they copy.
ug_status ug_ctx_device_status(ug_ctx *ctx, ug_err *err);

// Every backend compiled into this binary (the CPU one first), for the cross-backend test.
int ug_backend_count(const ug_ctx *ctx);
const ug_backend *ug_backend_at(const ug_ctx *ctx, int i);

#endif
