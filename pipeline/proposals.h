// pipeline/proposals.h — where UGainS puts its SAM point prompts (kumuji/ugains:
// ugains/models/sampler.py, NLSSampler.__call__), and the samplers of the paper's ablation.
//
// Dimension letters: H/W image size, N candidate pixels, K sampled points.
//
//   candidates, fps: the ops of ops/proposals.h (rules there), run on ctx->device.
//   kmeans:     Lloyd's k-means on the candidate coordinates, k-means++ initialisation drawn
//               from a seeded splitmix64 stream; each centre is then snapped to the nearest
//               candidate (lowest index on ties) so every prompt lies on an anomalous pixel.
//   random:     K distinct candidates drawn uniformly (seeded partial Fisher-Yates), in draw
//               order.
//   grid:       SAM's automatic-mask-generator grid (build_point_grid): s x s points at
//               ((i + 0.5) / s * W, (j + 0.5) / s * H), row by row; it ignores U entirely.
// kmeans and random (the ablation samplers) run on the host over the downloaded candidate
// list; the release path (fps) keeps the candidates on the device and downloads K points.
#ifndef UG_PIPELINE_PROPOSALS_H
#define UG_PIPELINE_PROPOSALS_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/error.h"
#include "engine/tensor.h"
#include "ops/proposals.h"

typedef enum proposals_sampler {
    PROPOSALS_FPS = 0,
    PROPOSALS_KMEANS,
    PROPOSALS_RANDOM,
    PROPOSALS_GRID,
} proposals_sampler;

// The official fallback threshold of the candidates.
#define PROPOSALS_FALLBACK_THRESHOLD (-15.0f)

// k-means points: pts [K, 2] (x, y) get candidate pixels of xy [N, 2] (host); at most
// max_iter Lloyd steps. Needs N >= 1; with K > N some centres coincide.
ug_status proposals_kmeans(ug_ctx *ctx, float *pts, const int32_t *xy, int64_t n, int k, uint64_t seed,
                           int max_iter, ug_err *err);
// Random points: pts [K, 2] from min(K, N) distinct candidates; returns how many were drawn.
ug_status proposals_random(float *pts, const int32_t *xy, int64_t n, int k, uint64_t seed, int *drawn,
                           ug_err *err);
// Grid points: pts [side * side, 2] (x, y) in pixel units.
void proposals_grid(float *pts, int side, int H, int W);

// The whole sampling step: u F32 [H, W] and ignore U8 [H, W] (non-zero = ignored) or NULL,
// both on ctx->device -> *pts malloc'ed host [K', 2] float (x, y) pixels,
// *npts = K' (K for fps/kmeans when N >= 1, min(K, N) for random, side^2 with side =
// round(sqrt(K)) for grid, 0 when there is no candidate at all). *ncand (optional) gets N.
typedef struct proposals_opts {
    proposals_sampler sampler;
    int points;      // K
    float threshold; // -0.15 in the release
    proposals_ties ties;
    uint64_t seed; // kmeans, random
} proposals_opts;

ug_status proposals_sample(ug_ctx *ctx, const ug_tensor *u, const ug_tensor *ignore, const proposals_opts *o,
                           float **pts, int *npts, int64_t *ncand, ug_err *err);

#endif
