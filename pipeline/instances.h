// pipeline/instances.h — from SAM's per-point masks to UGainS' anomaly instances
// (kumuji/ugains: ugains/models/sam_sampling.py, Segmentation.forward / test_step):
//
//   best of M   the mask with the highest predicted IoU per prompt (first on ties, torch.max)
//   binarise    logits > mask_threshold (0) at the original resolution
//   score       float32 mean of U (the RbA score, not the ignore-modified one) under the mask,
//               -1 when the mask is empty
//   NMS         greedy mask NMS (batched_mask_nms): masks visited by descending score — our tie
//               rule is a STABLE sort (equal scores: lower index first; torch.sort is not
//               stable, so compare keep lists as sets); a visited mask i that is not removed
//               removes every not-yet-removed j != i with tp > 0 and
//               tp / (tp + fp + fn) > threshold (float32). The keep list comes out in visiting
//               order (highest score first).
//   ignore      keep j if |m_j & ignore| < max_overlap pixels (release: 100)
//   refined     R = sum over kept q of score_q * m_q (float32, kept order), R == 0 -> -1, + U
//   RLE         COCO run-length encoding (column-major, runs start with background) with the
//               pycocotools compressed string form of the counts.
//
// Masks are bit-packed: pixel p = y * W + x is bit p % 64 of word p / 64 of its row of
// `words` uint64 (trailing bits zero), so intersections are AND + popcount.
// Dimension letters: N masks (prompts), M masks per prompt, H/W image size.
#ifndef UG_PIPELINE_INSTANCES_H
#define UG_PIPELINE_INSTANCES_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/ctx.h"
#include "engine/error.h"

typedef struct inst_masks {
    int n, H, W;
    int64_t words;  // uint64 words per mask: ceil(H * W / 64)
    uint64_t *bits; // [N, words]
    int64_t *area;  // [N] set pixels (filled by instances_binarize / instances_masks_count)
} inst_masks;

ug_status instances_masks_alloc(inst_masks *m, int n, int H, int W, ug_err *err);
void instances_masks_free(inst_masks *m);
static inline bool inst_mask_get(const inst_masks *m, int i, int64_t p) {
    return (m->bits[(int64_t)i * m->words + p / 64] >> (p % 64)) & 1u;
}
// Packs a U8 [H, W] map (non-zero = set) into mask i and counts its area.
void instances_pack_u8(inst_masks *m, int i, const uint8_t *map);
// Recounts area[i] for every mask.
void instances_masks_count(inst_masks *m);

// chosen[i] = argmax_m iou[i, m] (first maximum), iou [N, M].
void instances_best_of(int *chosen, const float *iou, int N, int M);

// Reference binarisation: plain loop.
void instances_binarize_ref(uint8_t *mask, const float *logits, int64_t HW, float thr);
// Mask i = logits [H, W] (contiguous) > thr, vectorised and threaded over words; sets area[i].
void instances_binarize_cpu(ug_ctx *ctx, inst_masks *m, int i, const float *logits, float thr);

// scores[i] = float32 mean of u [H, W] under mask i (double sum), -1 when empty.
void instances_scores_ref(float *scores, const uint8_t *masks, int n, int64_t HW, const float *u);
void instances_scores_cpu(ug_ctx *ctx, float *scores, const inst_masks *m, const float *u);

// NMS over U8 masks [N, HW], literally as batched_mask_nms (with our stable visiting order);
// keep gets the kept indices in visiting order, returns their count.
int instances_nms_ref(int *keep, const uint8_t *masks, int n, int64_t HW, const float *scores, float iou_thr);
// Same on packed masks (popcounts), pairwise intersections threaded.
int instances_nms_cpu(ug_ctx *ctx, int *keep, const inst_masks *m, const float *scores, float iou_thr);

// Ignore filter over keep[0..nkeep): out gets the kept j (same order) with
// |m_j & ignore| < max_overlap; inter (optional) [nkeep] the intersections. ignore is a
// one-mask inst_masks of the same size; NULL keeps everything. Returns the count.
int instances_ignore_filter(int *out, const int *keep, int nkeep, const inst_masks *m,
                            const inst_masks *ignore, int64_t max_overlap, int64_t *inter);

// Refined score map [H, W]; masks U8 [N, HW] for the reference.
void instances_refined_ref(float *out, const uint8_t *masks, int64_t HW, const float *scores,
                           const int *keep, int nkeep, const float *u);
void instances_refined_cpu(ug_ctx *ctx, float *out, const inst_masks *m, const float *scores,
                           const int *keep, int nkeep, const float *u);

// Bounding box of mask i as COCO [x, y, w, h] (all 0 for an empty mask).
void instances_bbox(const inst_masks *m, int i, int bbox[4]);

// COCO RLE of mask i: run lengths over the column-major (x outer, y inner) pixel order,
// starting with a background run; *counts = malloc'ed pycocotools string (rleToString).
ug_status instances_rle(const inst_masks *m, int i, char **counts, ug_err *err);
// The string form of explicit run lengths (exposed for tests): malloc'ed, NULL on OOM.
char *instances_rle_string(const uint32_t *runs, int64_t nruns);

#endif
