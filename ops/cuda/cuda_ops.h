// ops/cuda/cuda_ops.h — the entries of the CUDA op table, one per slot of ops/backend.h, each
// named <slot>_cuda with the contract of <slot>_cpu; defined as extern "C" in ops/cuda/<op>.cu.
#ifndef UG_OPS_CUDA_OPS_H
#define UG_OPS_CUDA_OPS_H

#include "ops/backend.h"

#ifdef __cplusplus
#define UG_CUDA_ENTRY extern "C"
#else
#define UG_CUDA_ENTRY
#endif

UG_CUDA_ENTRY void matmul_cuda(ug_ctx *ctx, ug_tensor *C, const ug_tensor *A, const ug_tensor *B,
                               const ug_tensor *bias, float alpha, float beta);
UG_CUDA_ENTRY void linear_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *W,
                               const ug_tensor *b);
UG_CUDA_ENTRY void conv2d_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                               const ug_tensor *b, int stride, int pad);
UG_CUDA_ENTRY void conv_transpose2x2_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                          const ug_tensor *b);
UG_CUDA_ENTRY void layernorm_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                  const ug_tensor *b, float eps);
UG_CUDA_ENTRY void layernorm2d_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                    const ug_tensor *b, float eps);
UG_CUDA_ENTRY void groupnorm_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                                  const ug_tensor *b, int groups, float eps);
UG_CUDA_ENTRY void gelu_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);
UG_CUDA_ENTRY void relu_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);
UG_CUDA_ENTRY void sigmoid_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);
UG_CUDA_ENTRY void softmax_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);
UG_CUDA_ENTRY void add_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b);
UG_CUDA_ENTRY void mul_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *a, const ug_tensor *b);
UG_CUDA_ENTRY void scale_add_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, float alpha, float beta);
UG_CUDA_ENTRY void attention_cuda(ug_ctx *ctx, ug_tensor *out, const ug_tensor *q, const ug_tensor *k,
                                  const ug_tensor *v, const ug_attn_extra *extra, float scale);
UG_CUDA_ENTRY void msdeform_attn_cuda(ug_ctx *ctx, ug_tensor *out, const ug_tensor *value,
                                      const int64_t (*shapes)[2], int64_t levels, const ug_tensor *loc,
                                      const ug_tensor *aw);
UG_CUDA_ENTRY void resize_bilinear_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, bool align_corners);
UG_CUDA_ENTRY void resize_pillow_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);
UG_CUDA_ENTRY void grid_sample_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *grid);
UG_CUDA_ENTRY void rba_normalize_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img);
UG_CUDA_ENTRY void sam_normalize_pad_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img, const float *mean,
                                          const float *std);
UG_CUDA_ENTRY void copy_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);
UG_CUDA_ENTRY void fill_cuda(ug_ctx *ctx, ug_tensor *y, float value);
UG_CUDA_ENTRY void pad_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const int64_t *before,
                            float value);
UG_CUDA_ENTRY void concat_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xs, int n, int dim);
UG_CUDA_ENTRY void roll_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int n, const int *dims,
                             const int64_t *shifts);
UG_CUDA_ENTRY void argmax_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);
UG_CUDA_ENTRY void posembed_sine_cuda(ug_ctx *ctx, ug_tensor *y);
UG_CUDA_ENTRY ug_status rba_score_cuda(ug_ctx *ctx, ug_tensor *score, ug_tensor *semantic,
                                       const ug_tensor *logits, const ug_tensor *masks, int64_t Ht,
                                       int64_t Wt, ug_err *err);
UG_CUDA_ENTRY void window_gather_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t ws,
                                      int64_t shift, int64_t w0);
UG_CUDA_ENTRY void window_zero_pads_cuda(ug_ctx *ctx, ug_tensor *y, int64_t H, int64_t W, int64_t ws,
                                         int64_t shift, int64_t w0);
UG_CUDA_ENTRY void window_scatter_add_cuda(ug_ctx *ctx, ug_tensor *x, const ug_tensor *y, int64_t ws,
                                           int64_t shift, int64_t w0);
UG_CUDA_ENTRY void patch_merge_gather_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t t0);
UG_CUDA_ENTRY void msdeform_sampling_locations_cuda(ug_ctx *ctx, ug_tensor *loc, const ug_tensor *off,
                                                    const int64_t (*shapes)[2], int64_t levels);
UG_CUDA_ENTRY void attn_mask_threshold_cuda(ug_ctx *ctx, ug_tensor *mask, const ug_tensor *x);
UG_CUDA_ENTRY void prompt_pe_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *xy, const ug_tensor *labels,
                                  const ug_tensor *gauss, const ug_tensor *embed,
                                  const ug_tensor *not_a_point, float size);
UG_CUDA_ENTRY void proposals_candidates_cuda(ug_ctx *ctx, ug_tensor *xy, ug_tensor *count, const ug_tensor *u,
                                             const ug_tensor *ignore, float thr, float fallback);
UG_CUDA_ENTRY ug_status proposals_fps_cuda(ug_ctx *ctx, ug_tensor *idx, ug_tensor *pts, const ug_tensor *xy,
                                           int ties, ug_err *err);
UG_CUDA_ENTRY void masks_binarize_cuda(ug_ctx *ctx, ug_tensor *bits, ug_tensor *area, const ug_tensor *x,
                                       float thr);
UG_CUDA_ENTRY void masks_scores_cuda(ug_ctx *ctx, ug_tensor *scores, const ug_tensor *bits,
                                     const ug_tensor *area, const ug_tensor *u);
UG_CUDA_ENTRY void masks_nms_cuda(ug_ctx *ctx, ug_tensor *keep, ug_tensor *count, const ug_tensor *bits,
                                  const ug_tensor *area, const ug_tensor *scores, float iou_thr);
UG_CUDA_ENTRY void masks_overlap_cuda(ug_ctx *ctx, ug_tensor *inter, const ug_tensor *bits,
                                      const ug_tensor *idx, const ug_tensor *other);
UG_CUDA_ENTRY void masks_refined_cuda(ug_ctx *ctx, ug_tensor *out, const ug_tensor *bits,
                                      const ug_tensor *scores, const ug_tensor *keep, const ug_tensor *u);

#endif
