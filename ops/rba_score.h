// ops/rba_score.h — RbA class scores at image resolution, fused with the mask upsampling
// (NLSSegmentation.prediction_step): masks [Q, h, w] are resized bilinearly
// (align_corners=False) to [Ht, Wt] and cropped to [H, W], then
//   S[k]   = sum_q softmax(logits_q)[k] * sigmoid(mask_q)     k < K (no-object dropped)
//   score  = -sum_k S[k]          semantic = argmax_k S[k] (first maximum)
// Letters: Q queries, K classes (logits carry K + 1), h/w mask size, H/W output size.
#ifndef UG_OPS_RBA_SCORE_H
#define UG_OPS_RBA_SCORE_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: plain loops, double arithmetic, the whole [Q, Ht, Wt] upsampled stack in memory.
// logits [Q, K+1], masks [Q, h, w] contiguous -> score [H, W] and semantic [H, W] (may be
// NULL), H <= Ht, W <= Wt.
void rba_score_ref(float *score, uint8_t *semantic, const float *logits, const float *masks, int64_t Q,
                   int64_t K, int64_t h, int64_t w, int64_t Ht, int64_t Wt, int64_t H, int64_t W);

// Fast kernel: the same contract on tensors, score F32 [H, W], semantic U8 [H, W] or NULL
// (K <= 256), logits F32 [Q, K+1], masks F32 [Q, h, w], all contiguous. Never holds the
// upsampled [Q, Ht, Wt] stack: threads take bands of output rows, interpolate those rows of
// every mask, apply the sigmoid and reduce over the queries with one GEMM per band
// ([K, Q] @ [Q, band pixels]). Band buffers come from ctx->arena (released before returning),
// so the only failure is running out of memory.
ug_status rba_score_cpu(ug_ctx *ctx, ug_tensor *score, ug_tensor *semantic, const ug_tensor *logits,
                        const ug_tensor *masks, int64_t Ht, int64_t Wt, ug_err *err);

#endif
