// ops/ops.h — what model code calls: ug_<op>(ctx, ...) runs the op on the backend of the
// output tensor's device (ops/backend.h). Contracts: see the CPU kernel in ops/<op>.h.
// ug_to_device / ug_to_host are the only ways data crosses between the host and a device.
#ifndef UG_OPS_OPS_H
#define UG_OPS_OPS_H

#include "ops/backend.h"

static inline void ug_matmul(ug_ctx *ctx, ug_tensor *C, const ug_tensor *A, const ug_tensor *B,
                             const ug_tensor *bias, float alpha, float beta) {
    ug_backend_for(ctx, C->device)->matmul(ctx, C, A, B, bias, alpha, beta);
}

static inline void ug_linear(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *W,
                             const ug_tensor *b) {
    ug_backend_for(ctx, y->device)->linear(ctx, y, x, W, b);
}

static inline void ug_conv2d(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                             const ug_tensor *b, int stride, int pad) {
    ug_backend_for(ctx, y->device)->conv2d(ctx, y, x, w, b, stride, pad);
}

static inline void ug_conv_transpose2x2(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                        const ug_tensor *b) {
    ug_backend_for(ctx, y->device)->conv_transpose2x2(ctx, y, x, w, b);
}

static inline void ug_layernorm(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                const ug_tensor *b, float eps) {
    ug_backend_for(ctx, y->device)->layernorm(ctx, y, x, w, b, eps);
}

static inline void ug_layernorm2d(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                  const ug_tensor *b, float eps) {
    ug_backend_for(ctx, y->device)->layernorm2d(ctx, y, x, w, b, eps);
}

static inline void ug_groupnorm(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                const ug_tensor *b, int groups, float eps) {
    ug_backend_for(ctx, y->device)->groupnorm(ctx, y, x, w, b, groups, eps);
}

static inline void ug_gelu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    ug_backend_for(ctx, y->device)->gelu(ctx, y, x);
}

static inline void ug_relu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    ug_backend_for(ctx, y->device)->relu(ctx, y, x);
}

static inline void ug_sigmoid(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    ug_backend_for(ctx, y->device)->sigmoid(ctx, y, x);
}

static inline void ug_softmax(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    ug_backend_for(ctx, y->device)->softmax(ctx, y, x);
}

static inline void ug_add(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b) {
    ug_backend_for(ctx, y->device)->add(ctx, y, a, b);
}

static inline void ug_mul(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b) {
    ug_backend_for(ctx, y->device)->mul(ctx, y, a, b);
}

static inline void ug_scale_add(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, float alpha, float beta) {
    ug_backend_for(ctx, y->device)->scale_add(ctx, y, x, alpha, beta);
}

static inline void ug_attention(ug_ctx *ctx, ug_tensor *out, const ug_tensor *q, const ug_tensor *k,
                                const ug_tensor *v, const ug_attn_extra *extra, float scale) {
    ug_backend_for(ctx, out->device)->attention(ctx, out, q, k, v, extra, scale);
}

static inline void ug_msdeform_attn(ug_ctx *ctx, ug_tensor *out, const ug_tensor *value,
                                    const int64_t (*shapes)[2], int64_t levels, const ug_tensor *loc,
                                    const ug_tensor *aw) {
    ug_backend_for(ctx, out->device)->msdeform_attn(ctx, out, value, shapes, levels, loc, aw);
}

static inline void ug_resize_bilinear(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, bool align_corners) {
    ug_backend_for(ctx, y->device)->resize_bilinear(ctx, y, x, align_corners);
}

static inline void ug_resize_pillow(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    ug_backend_for(ctx, y->device)->resize_pillow(ctx, y, x);
}

static inline void ug_grid_sample(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *grid) {
    ug_backend_for(ctx, y->device)->grid_sample(ctx, y, x, grid);
}

static inline void ug_rba_normalize(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img) {
    ug_backend_for(ctx, y->device)->rba_normalize(ctx, y, img);
}

static inline void ug_sam_normalize_pad(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img, const float *mean,
                                        const float *std) {
    ug_backend_for(ctx, y->device)->sam_normalize_pad(ctx, y, img, mean, std);
}

static inline void ug_copy(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    ug_backend_for(ctx, y->device)->copy(ctx, y, x);
}

static inline void ug_fill(ug_ctx *ctx, ug_tensor *y, float value) {
    ug_backend_for(ctx, y->device)->fill(ctx, y, value);
}

static inline void ug_pad(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const int64_t *before, float value) {
    ug_backend_for(ctx, y->device)->pad(ctx, y, x, before, value);
}

static inline void ug_concat(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xs, int n, int dim) {
    ug_backend_for(ctx, y->device)->concat(ctx, y, xs, n, dim);
}

static inline void ug_roll(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int n, const int *dims,
                           const int64_t *shifts) {
    ug_backend_for(ctx, y->device)->roll(ctx, y, x, n, dims, shifts);
}

static inline void ug_argmax(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x) {
    ug_backend_for(ctx, y->device)->argmax(ctx, y, x);
}

static inline void ug_posembed_sine(ug_ctx *ctx, ug_tensor *y) {
    ug_backend_for(ctx, y->device)->posembed_sine(ctx, y);
}

static inline ug_status ug_rba_score(ug_ctx *ctx, ug_tensor *score, ug_tensor *semantic,
                                     const ug_tensor *logits, const ug_tensor *masks, int64_t Ht, int64_t Wt,
                                     ug_err *err) {
    return ug_backend_for(ctx, score->device)->rba_score(ctx, score, semantic, logits, masks, Ht, Wt, err);
}

// ---- ops that were loops in the model files, one block per room ----
// swin
static inline void ug_window_gather(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t ws, int64_t shift,
                                    int64_t w0) {
    ug_backend_for(ctx, y->device)->window_gather(ctx, y, x, ws, shift, w0);
}
static inline void ug_window_zero_pads(ug_ctx *ctx, ug_tensor *y, int64_t H, int64_t W, int64_t ws,
                                       int64_t shift, int64_t w0) {
    ug_backend_for(ctx, y->device)->window_zero_pads(ctx, y, H, W, ws, shift, w0);
}
static inline void ug_window_scatter_add(ug_ctx *ctx, ug_tensor *x, const ug_tensor *y, int64_t ws,
                                         int64_t shift, int64_t w0) {
    ug_backend_for(ctx, x->device)->window_scatter_add(ctx, x, y, ws, shift, w0);
}
static inline void ug_patch_merge_gather(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t t0) {
    ug_backend_for(ctx, y->device)->patch_merge_gather(ctx, y, x, t0);
}
// msdeform pixel decoder / mask2former decoder / rba
static inline void ug_msdeform_sampling_locations(ug_ctx *ctx, ug_tensor *loc, const ug_tensor *off,
                                                  const int64_t (*shapes)[2], int64_t levels) {
    ug_backend_for(ctx, loc->device)->msdeform_sampling_locations(ctx, loc, off, shapes, levels);
}
static inline void ug_attn_mask_threshold(ug_ctx *ctx, ug_tensor *mask, const ug_tensor *x) {
    ug_backend_for(ctx, mask->device)->attn_mask_threshold(ctx, mask, x);
}
// sam
static inline void ug_prompt_pe(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xy, const ug_tensor *labels,
                                const ug_tensor *gauss, const ug_tensor *embed, const ug_tensor *not_a_point,
                                float size) {
    ug_backend_for(ctx, y->device)->prompt_pe(ctx, y, xy, labels, gauss, embed, not_a_point, size);
}
// pipeline
static inline void ug_proposals_candidates(ug_ctx *ctx, ug_tensor *xy, ug_tensor *count, const ug_tensor *u,
                                           const ug_tensor *ignore, float thr, float fallback) {
    ug_backend_for(ctx, xy->device)->proposals_candidates(ctx, xy, count, u, ignore, thr, fallback);
}
static inline ug_status ug_proposals_fps(ug_ctx *ctx, ug_tensor *idx, ug_tensor *pts, const ug_tensor *xy,
                                         int ties, ug_err *err) {
    return ug_backend_for(ctx, idx->device)->proposals_fps(ctx, idx, pts, xy, ties, err);
}
static inline void ug_masks_binarize(ug_ctx *ctx, ug_tensor *bits, ug_tensor *area, const ug_tensor *x,
                                     float thr) {
    ug_backend_for(ctx, bits->device)->masks_binarize(ctx, bits, area, x, thr);
}
static inline void ug_masks_scores(ug_ctx *ctx, ug_tensor *scores, const ug_tensor *bits,
                                   const ug_tensor *area, const ug_tensor *u) {
    ug_backend_for(ctx, scores->device)->masks_scores(ctx, scores, bits, area, u);
}
static inline void ug_masks_nms(ug_ctx *ctx, ug_tensor *keep, ug_tensor *count, const ug_tensor *bits,
                                const ug_tensor *area, const ug_tensor *scores, float iou_thr) {
    ug_backend_for(ctx, keep->device)->masks_nms(ctx, keep, count, bits, area, scores, iou_thr);
}
static inline void ug_masks_overlap(ug_ctx *ctx, ug_tensor *inter, const ug_tensor *bits,
                                    const ug_tensor *idx, const ug_tensor *other) {
    ug_backend_for(ctx, inter->device)->masks_overlap(ctx, inter, bits, idx, other);
}
static inline void ug_masks_refined(ug_ctx *ctx, ug_tensor *out, const ug_tensor *bits,
                                    const ug_tensor *scores, const ug_tensor *keep, const ug_tensor *u) {
    ug_backend_for(ctx, out->device)->masks_refined(ctx, out, bits, scores, keep, u);
}

// *out = a new contiguous tensor on ctx->device holding x (any device, any strides).
ug_status ug_to_device(ug_ctx *ctx, ug_tensor *out, const ug_tensor *x, ug_err *err);
// *out = a new contiguous host (CPU) tensor holding x (any device, any strides).
ug_status ug_to_host(ug_ctx *ctx, ug_tensor *out, const ug_tensor *x, ug_err *err);
// A new zero-filled tensor on ctx->device, owned by the caller (model outputs).
ug_status ug_tensor_new_dev(ug_ctx *ctx, ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape,
                            ug_err *err);

#endif
