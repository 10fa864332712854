// ops/attention.h — fused multi-head scaled dot-product attention (flash-style: the
// [Nq, Nk] score matrix is never materialised; keys stream through in tiles with an
// online softmax).
//
//   out[b, h] = softmax((q[b, h] * scale) k[b, h]^T + bias0 + bias1 + rel + mask) v[b, h]
//
// Letters: B batch, H heads, Nq queries, Nk keys, D q/k head dim, Dv v head dim.
//   q [B, H, Nq, D], k [B, H, Nk, D], v [B, H, Nk, Dv], out [B, H, Nq, Dv], all F32. Any
//   strides with a unit stride in the last dim, so q/k/v may be views into a fused qkv
//   projection [B, N, 3, H, D] and out a view into [B, Nq, H, Dv].
//
// Semantics follow PyTorch: q is scaled first (SAM and nn.MultiheadAttention both do), the
// additive terms are added to the logits, masked keys are excluded (-inf), softmax over
// the keys, then @ v.
//   * A query row whose keys are ALL masked gets zeros (PyTorch would give NaN; the
//     Mask2Former decoder resets such rows before calling, so this never reaches a model).
//   * Additive terms that are -inf act as a mask. NaN or +inf in the inputs give NaN.
#ifndef UG_OPS_ATTENTION_H
#define UG_OPS_ATTENTION_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Optional terms. Each bias and the mask is a view broadcastable to [B, H, Nq, Nk]:
// numpy rules (fewer dims are aligned to the right; a dim of size 1 or stride 0 is
// broadcast). Swin: rel-pos bias [H, Nq, Nk] and, with the windows as batch B = nW, the
// shift mask as [nW, 1, Nq, Nk].
typedef struct ug_attn_extra {
    const ug_tensor *bias[2]; // NULL or additive F32 terms
    const ug_tensor *mask;    // NULL or U8/BOOL; nonzero = key NOT attended (Mask2Former)
    const ug_tensor *rel_h;   // NULL or SAM decomposed relative positions: F32 [B, H, Nq, kh]
    const ug_tensor *rel_w;   //   and F32 [B, H, Nq, kw] (unit last stride), keys forming a
                              //   kh x kw grid (Nk = kh * kw), row-major:
                              //   logit(q, j) += rel_h[q, j / kw] + rel_w[q, j % kw].
                              //   Both or neither; broadcastable like the biases.
} ug_attn_extra;

// Reference for one (batch, head): plain loops, double accumulation. Row-major with row
// strides: q [Nq, D] (ldq), k [Nk, D] (ldk), v [Nk, Dv] (ldv), out [Nq, Dv] (ldo).
// bias NULL or dense [Nq, Nk] (every additive term summed, ldb); mask NULL or [Nq, Nk]
// (ldm), nonzero = excluded. A fully masked row gives zeros.
void attention_ref(float *out, int64_t ldo, const float *q, int64_t ldq, const float *k, int64_t ldk,
                   const float *v, int64_t ldv, const float *bias, int64_t ldb, const uint8_t *mask,
                   int64_t ldm, int64_t Nq, int64_t Nk, int64_t D, int64_t Dv, float scale);

// Validates shapes, dtypes and strides of a call; fills err naming the offending tensor.
// extra may be NULL.
ug_status attention_check(const ug_tensor *out, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
                          const ug_attn_extra *extra, ug_err *err);

// Fast kernel on validated inputs (asserts attention_check): tiles of queries x keys,
// AVX-512 or AVX2+FMA micro-kernels, threaded over (B * H, query tiles). extra may be NULL.
// In bf16 precision (gemm_uses_bf16(ctx), ops/gemm.h) both products round their operands to bf16
// (q * scale, k; the softmax weights P, v) and sum in f32; logits, terms, softmax and out f32.
void attention_cpu(ug_ctx *ctx, ug_tensor *out, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
                   const ug_attn_extra *extra, float scale);

#endif
