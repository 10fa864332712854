// ops/proposals.h — the per-pixel work of UGainS' point prompts (kumuji/ugains:
// ugains/models/sampler.py, NLSSampler.__call__): candidate pixels from the RbA score map,
// and farthest point sampling over them. The samplers around them live in pipeline/proposals.c.
//
// Dimension letters: H/W image size, N candidate pixels, K sampled points.
//
//   candidates: U' = U outside the ignore mask, PROPOSALS_IGNORE_VALUE (-30) inside; the
//               pixels with U' >= thr in row-major order as (x, y); if the SUM OF THEIR
//               COORDINATES is < 1 (no candidate, or only pixel (0, 0): the official
//               `sample_idx.sum() < 1` quirk), the pixels with U' >= fallback instead.
//   fps:        farthest point sampling over the candidates (squared Euclidean distance in
//               float32, exact for integer pixels), first sample = candidate 0. Ties:
//               PROPOSALS_TIES_OFFICIAL reproduces the pointnet2 CUDA kernel (T =
//               min(2^floor(log2 N), 512) threads, thread t scans k = t, t+T, ...; among the
//               candidates at the maximum the smallest bitreverse_log2(T)(k mod T) wins, then
//               the smallest k); PROPOSALS_TIES_LOWEST takes the lowest candidate index. When K
//               exceeds N every distance becomes 0 and both rules repeat candidate 0, as the
//               kernel does.
#ifndef UG_OPS_PROPOSALS_H
#define UG_OPS_PROPOSALS_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/error.h"
#include "engine/tensor.h"

// The tie rule of FPS (the backend table passes it as an int).
typedef enum proposals_ties { PROPOSALS_TIES_OFFICIAL = 0, PROPOSALS_TIES_LOWEST } proposals_ties;

// The value U takes inside the ignore mask.
#define PROPOSALS_IGNORE_VALUE (-30.0f)

// Reference: u [H, W], ignore [H, W] (non-zero = ignored) or NULL -> *n candidates written
// to xy [n, 2] (x, y) (room for H * W).
void proposals_candidates_ref(int32_t *xy, int64_t *n, const float *u, const uint8_t *ignore, int64_t H,
                              int64_t W, float thr, float fallback);
// Fast kernel: u F32 [H, W] and ignore U8 [H, W] (or NULL) contiguous -> xy I32 [H * W, 2]
// (rows [0, n) written, the rest untouched) and count I64 [1] = n. One vectorised counting
// pass for both thresholds, then the compaction at prefix offsets, both threaded over fixed
// row blocks (the output does not depend on the thread count).
void proposals_candidates_cpu(ug_ctx *ctx, ug_tensor *xy, ug_tensor *count, const ug_tensor *u,
                              const ug_tensor *ignore, float thr, float fallback);

// Reference FPS: plain loops, the tie rule applied literally (per-thread first strict maximum,
// then the kernel's tree reduction). idx [K] gets candidate indices of xy [N, 2].
void proposals_fps_ref(int32_t *idx, const int32_t *xy, int64_t n, int k, proposals_ties ties);
// Fast FPS: idx I32 [K] (candidate indices) and, when pts is not NULL, pts F32 [K, 2] (their
// (x, y), the SAM prompt form) from xy I32 [N, 2] contiguous, N >= 1; ties a proposals_ties.
// The candidates are permuted once into the tie rule's preference order so the rule becomes
// "largest distance, lowest position"; the min-distance array and the argmax are one AVX2
// pass per sample, threaded over fixed blocks (the result does not depend on the thread
// count). Working memory (16 bytes per candidate) comes from ctx->arena (released before it
// returns): the only failure is OOM.
ug_status proposals_fps_cpu(ug_ctx *ctx, ug_tensor *idx, ug_tensor *pts, const ug_tensor *xy, int ties,
                            ug_err *err);

#endif
