// pipeline/instances.h — from SAM's per-point masks to UGainS' anomaly instances
// (kumuji/ugains: ugains/models/sam_sampling.py, Segmentation.forward / test_step):
//
//   best of M   the mask with the highest predicted IoU per prompt (first on ties, torch.max)
//   binarise, score, NMS   the ops of ops/masks.h (rules there), on ctx->device
//   ignore      keep j if |m_j & ignore| < max_overlap pixels (release: 100); the
//               intersections are ops/masks.h's overlap, the decision is made here
//   refined     pipeline/refined.h
//   RLE         COCO run-length encoding (column-major, runs start with background) with the
//               pycocotools compressed string form of the counts.
//
// inst_masks is the host form of the final masks (what apps and eval read): bit-packed as in
// ops/masks.h, pixel p = y * W + x is bit p % 64 of word p / 64 of its row of `words` uint64
// (trailing bits zero). Dimension letters: N masks (prompts), M masks per prompt, H/W image.
#ifndef UG_PIPELINE_INSTANCES_H
#define UG_PIPELINE_INSTANCES_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/tensor.h"

typedef struct inst_masks {
    int n, H, W;
    int64_t words;            // uint64 words per mask: ceil(H * W / 64)
    uint64_t *bits;           // [N, words], the data of bits_t
    int64_t *area;            // [N] set pixels, the data of area_t
    ug_tensor bits_t, area_t; // owned host tensors I64 [N, words], I64 [N]
} inst_masks;

// Masks from host tensors bits I64 [N, words] and area I64 [N] (downloaded from a device):
// they move into *m (*bits and *area are left zeroed).
ug_status instances_masks_adopt(inst_masks *m, int H, int W, ug_tensor *bits, ug_tensor *area, ug_err *err);
void instances_masks_free(inst_masks *m);
static inline bool inst_mask_get(const inst_masks *m, int i, int64_t p) {
    return (m->bits[(int64_t)i * m->words + p / 64] >> (p % 64)) & 1u;
}

// chosen[i] = argmax_m iou[i, m] (first maximum), iou [N, M].
void instances_best_of(int *chosen, const float *iou, int N, int M);

// Ignore filter over keep[0..nkeep): out gets the kept j (same order) whose intersection
// with the ignore mask inter[a] (ops/masks.h overlap, in keep's order) is < max_overlap;
// inter NULL (no ignore mask) keeps everything. Returns the count.
int instances_ignore_filter(int *out, const int *keep, int nkeep, const int64_t *inter, int64_t max_overlap);

// Bounding box of mask i as COCO [x, y, w, h] (all 0 for an empty mask).
void instances_bbox(const inst_masks *m, int i, int bbox[4]);

// COCO RLE of mask i: run lengths over the column-major (x outer, y inner) pixel order,
// starting with a background run; *counts = malloc'ed pycocotools string (rleToString).
ug_status instances_rle(const inst_masks *m, int i, char **counts, ug_err *err);
// The string form of explicit run lengths (exposed for tests): malloc'ed, NULL on OOM.
char *instances_rle_string(const uint32_t *runs, int64_t nruns);

#endif
