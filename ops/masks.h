// ops/masks.h — the per-pixel work on UGainS' instance masks (kumuji/ugains:
// ugains/models/sam_sampling.py, Segmentation.forward / test_step), on bit-packed masks:
//
//   binarise   mask = x > thr (SAM logits against mask_threshold; a U8 map with thr 0 packs
//              "non-zero"), with the area (set pixels) of each mask
//   scores     float32 mean of U under the mask (double sum, one rounding), -1 when empty
//   NMS        greedy mask NMS (batched_mask_nms): masks visited by descending score — our tie
//              rule is a STABLE sort (equal scores: lower index first; torch.sort is not
//              stable); a visited mask i that is not removed removes every not-yet-removed
//              j != i with tp > 0 and tp / (tp + fp + fn) > threshold (float32). The keep
//              list comes out in visiting order (highest score first).
//   overlap    |m_idx[a] & other| for a list of masks against one mask (the ignore filter)
//   refined    R = sum over kept q of score_q * m_q (float32, kept order), R == 0 -> -1, + U
//
// Packing: pixel p = y * W + x of mask i is bit p % 64 of word p / 64 of row i of an I64
// [N, words] tensor, words = ceil(H * W / 64), trailing bits zero; intersections are AND +
// popcount. Dimension letters: N masks, H/W image size (HW = H * W pixels).
#ifndef UG_OPS_MASKS_H
#define UG_OPS_MASKS_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Words of one packed mask of HW pixels.
static inline int64_t masks_words(int64_t HW) {
    return (HW + 63) / 64;
}

// Reference binarisation: mask [HW] = logits > thr.
void masks_binarize_ref(uint8_t *mask, const float *logits, int64_t HW, float thr);
// Fast kernel: x F32 or U8 [N, ...] contiguous, HW = numel / N pixels per mask -> bits I64
// [N, words] and, when area is not NULL, area I64 [N]. Vectorised, threaded over words.
void masks_binarize_cpu(ug_ctx *ctx, ug_tensor *bits, ug_tensor *area, const ug_tensor *x, float thr);

// Reference scores over U8 masks [N, HW] and u [HW].
void masks_scores_ref(float *scores, const uint8_t *masks, int n, int64_t HW, const float *u);
// Fast kernel: scores F32 [N] from bits I64 [N, words], area I64 [N], u F32 [H, W]
// contiguous; threaded over masks, visiting set bits only.
void masks_scores_cpu(ug_ctx *ctx, ug_tensor *scores, const ug_tensor *bits, const ug_tensor *area,
                      const ug_tensor *u);

// Reference NMS over U8 masks [N, HW], literally as batched_mask_nms (with our stable visiting
// order): keep gets the kept indices in visiting order, returns their count.
int masks_nms_ref(int *keep, const uint8_t *masks, int n, int64_t HW, const float *scores, float iou_thr);
// Fast kernel: keep I32 [N] (entries [0, count) written) and count I64 [1] from bits I64
// [N, words], area I64 [N], scores F32 [N]; popcounts over the word range both masks can
// hold, the intersections of each visited mask with the others threaded.
void masks_nms_cpu(ug_ctx *ctx, ug_tensor *keep, ug_tensor *count, const ug_tensor *bits,
                   const ug_tensor *area, const ug_tensor *scores, float iou_thr);

// Reference overlap: inter[a] = |masks[idx[a]] & other| over U8 masks [N, HW], other [HW].
void masks_overlap_ref(int64_t *inter, const uint8_t *masks, int64_t HW, const int *idx, int n,
                       const uint8_t *other);
// Fast kernel: inter I64 [n] from bits I64 [N, words], idx I32 [n], other I64 [1, words];
// threaded over the list.
void masks_overlap_cpu(ug_ctx *ctx, ug_tensor *inter, const ug_tensor *bits, const ug_tensor *idx,
                       const ug_tensor *other);

// Reference refined map: out [HW] from U8 masks [N, HW], scores [N], keep [nkeep], u [HW].
void masks_refined_ref(float *out, const uint8_t *masks, int64_t HW, const float *scores, const int *keep,
                       int nkeep, const float *u);
// Fast kernel: out F32 [H, W] from bits I64 [N, words], scores F32 [N], keep I32 [nkeep],
// u F32 [H, W], all contiguous; threaded over 64-pixel words, each pixel's sum in kept order.
void masks_refined_cpu(ug_ctx *ctx, ug_tensor *out, const ug_tensor *bits, const ug_tensor *scores,
                       const ug_tensor *keep, const ug_tensor *u);

#endif
