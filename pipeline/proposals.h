// pipeline/proposals.h — where UGainS puts its SAM point prompts (kumuji/ugains:
// ugains/models/sampler.py, NLSSampler.__call__), and the samplers of the paper's ablation.
//
// Dimension letters: H/W image size, N candidate pixels, K sampled points.
//
//   candidates: U' = U outside the ignore mask, -30 inside; pixels with U' >= threshold in
//               row-major order as (x, y); if the SUM OF THEIR COORDINATES is < 1 (no
//               candidate, or only pixel (0, 0): the official `sample_idx.sum() < 1` quirk),
//               the pixels with U' >= fallback (-15) instead.
//   fps:        farthest point sampling over the candidates (squared Euclidean distance in
//               float32, exact for integer pixels), first sample = candidate 0. Ties:
//               PROPOSALS_TIES_OFFICIAL reproduces the pointnet2 CUDA kernel (T =
//               min(2^floor(log2 N), 512) threads, thread t scans k = t, t+T, ...; among the
//               candidates at the maximum the smallest bitreverse_log2(T)(k mod T) wins, then
//               the smallest k); PROPOSALS_TIES_LOWEST takes the lowest candidate index. When K
//               exceeds N every distance becomes 0 and both rules repeat candidate 0, as the
//               kernel does.
//   kmeans:     Lloyd's k-means on the candidate coordinates, k-means++ initialisation drawn
//               from a seeded splitmix64 stream; each centre is then snapped to the nearest
//               candidate (lowest index on ties) so every prompt lies on an anomalous pixel.
//   random:     K distinct candidates drawn uniformly (seeded partial Fisher-Yates), in draw
//               order.
//   grid:       SAM's automatic-mask-generator grid (build_point_grid): s x s points at
//               ((i + 0.5) / s * W, (j + 0.5) / s * H), row by row; it ignores U entirely.
#ifndef UG_PIPELINE_PROPOSALS_H
#define UG_PIPELINE_PROPOSALS_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/error.h"

typedef enum proposals_ties { PROPOSALS_TIES_OFFICIAL = 0, PROPOSALS_TIES_LOWEST } proposals_ties;

typedef enum proposals_sampler {
    PROPOSALS_FPS = 0,
    PROPOSALS_KMEANS,
    PROPOSALS_RANDOM,
    PROPOSALS_GRID,
} proposals_sampler;

// The value U takes inside the ignore mask, and the official fallback threshold.
#define PROPOSALS_IGNORE_VALUE (-30.0f)
#define PROPOSALS_FALLBACK_THRESHOLD (-15.0f)

// Candidate pixels. u [H, W] row-major; ignore [H, W] (non-zero = ignored) or NULL.
// *xy becomes a malloc'ed [N, 2] int32 (x, y) array (NULL when N == 0); *n gets N.
ug_status proposals_candidates(const float *u, const uint8_t *ignore, int H, int W, float threshold,
                               float fallback, int32_t **xy, int64_t *n, ug_err *err);

// Reference FPS: plain loops, the tie rule applied literally (per-thread first strict maximum,
// then the kernel's tree reduction). idx [K] gets candidate indices.
void proposals_fps_ref(int32_t *idx, const int32_t *xy, int64_t n, int k, proposals_ties ties);
// Fast FPS: candidates permuted once into the tie rule's preference order so the rule becomes
// "largest distance, lowest position"; the min-distance array and the argmax are one AVX2
// pass per sample, threaded over fixed blocks (the result does not depend on the thread
// count). Same contract as the reference; needs N >= 1 (K samples are written regardless).
ug_status proposals_fps_cpu(ug_ctx *ctx, int32_t *idx, const int32_t *xy, int64_t n, int k,
                            proposals_ties ties, ug_err *err);

// k-means points: pts [K, 2] (x, y) get candidate pixels; at most max_iter Lloyd steps.
// Needs N >= 1; with K > N some centres coincide.
ug_status proposals_kmeans(ug_ctx *ctx, float *pts, const int32_t *xy, int64_t n, int k, uint64_t seed,
                           int max_iter, ug_err *err);
// Random points: pts [K, 2] from min(K, N) distinct candidates; returns how many were drawn.
ug_status proposals_random(float *pts, const int32_t *xy, int64_t n, int k, uint64_t seed, int *drawn,
                           ug_err *err);
// Grid points: pts [side * side, 2] (x, y) in pixel units.
void proposals_grid(float *pts, int side, int H, int W);

// The whole sampling step: u, ignore as above -> *pts malloc'ed [K', 2] float (x, y) pixels,
// *npts = K' (K for fps/kmeans when N >= 1, min(K, N) for random, side^2 with side =
// round(sqrt(K)) for grid, 0 when there is no candidate at all). *ncand (optional) gets N.
typedef struct proposals_opts {
    proposals_sampler sampler;
    int points;         // K
    float threshold;    // -0.15 in the release
    proposals_ties ties;
    uint64_t seed;      // kmeans, random
} proposals_opts;

ug_status proposals_sample(ug_ctx *ctx, const float *u, const uint8_t *ignore, int H, int W,
                           const proposals_opts *o, float **pts, int *npts, int64_t *ncand, ug_err *err);

#endif
