// ops/window.h — Swin's shifted-window partition and its reverse, straight between the token
// map and a chunk of windows (the padded, rolled, partitioned map is never materialised), and
// PatchMerging's 2x2 gather.
//
// Dimension letters: H, W the token grid, C channels, ws the window size, N = ws * ws tokens
// per window, nwy = ceil(H / ws) and nwx = ceil(W / ws) windows down and across (the padded
// grid is Hp = nwy ws by Wp = nwx ws), nW = nwy nwx, nb windows in a chunk.
//
// Token t = (ty, tx) of window (wy, wx) sits at (r, c) = (wy ws + ty, wx ws + tx) of the padded
// map rolled by -shift (torch.roll(shifts=-shift)), i.e. at ((r + shift) mod Hp, (c + shift)
// mod Wp) of the padded map: a token of x when that is inside H x W, a zero pad (F.pad) if not.
//
// Windows are numbered in mask-kind order, so that a chunk of consecutive windows shares one
// shift mask except at a few kind boundaries. The kind of window (wy, wx) is bit 0: last window
// row, bit 1: last window column (BasicLayer's img_mask differs only there); with shift 0 every
// window has kind 0. Kinds come in order 0, 1, 2, 3, row-major within a kind, so with shift 0
// the order is plain row-major.
#ifndef UG_OPS_WINDOW_H
#define UG_OPS_WINDOW_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Windows [start[k], start[k + 1]) of mask-kind order have kind k (start[0] = 0, start[4] = nW).
void window_kind_starts(int64_t nwy, int64_t nwx, int64_t shift, int64_t start[5]);
// The row-major index wy * nwx + wx of window i of mask-kind order.
int64_t window_at(int64_t nwy, int64_t nwx, int64_t shift, int64_t i);

// y [nb, N, C] = windows [w0, w0 + nb) of x [H, W, C] (zeros at the pads).
// Reference: contiguous arrays, the window order built by scanning the kinds.
void window_gather_ref(float *y, const float *x, int64_t H, int64_t W, int64_t C, int64_t ws, int64_t shift,
                       int64_t w0, int64_t nb);
// Fast kernel: x F32 [H, W, C], y F32 [nb, ws * ws, C], both contiguous; 0 <= shift < ws.
// Threaded over windows.
void window_gather_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t ws, int64_t shift, int64_t w0);

// y[i, t, :] = 0 at every pad token t of windows [w0, w0 + nb) of an H x W map: Swin pads
// after norm1, so the pads of a gathered, normalised chunk must be zeros again.
void window_zero_pads_ref(float *y, int64_t H, int64_t W, int64_t C, int64_t ws, int64_t shift, int64_t w0,
                          int64_t nb);
// Fast kernel: y F32 [nb, ws * ws, C] contiguous.
void window_zero_pads_cpu(ug_ctx *ctx, ug_tensor *y, int64_t H, int64_t W, int64_t ws, int64_t shift,
                          int64_t w0);

// x [H, W, C] += windows [w0, w0 + nb) of y [nb, N, C] at their real tokens (pads dropped):
// window_reverse, the roll back, the crop and the residual add in one pass.
void window_scatter_add_ref(float *x, const float *y, int64_t H, int64_t W, int64_t C, int64_t ws,
                            int64_t shift, int64_t w0, int64_t nb);
// Fast kernel: same tensors as window_gather_cpu, x written. Threaded over windows (they
// cover disjoint tokens).
void window_scatter_add_cpu(ug_ctx *ctx, ug_tensor *x, const ug_tensor *y, int64_t ws, int64_t shift,
                            int64_t w0);

// PatchMerging's gather: merged token (i, j) of the H2 x W2 grid (H2 = ceil(H / 2), W2 =
// ceil(W / 2)) is [x(2i, 2j), x(2i+1, 2j), x(2i, 2j+1), x(2i+1, 2j+1)] with zeros past the
// edge (F.pad of an odd size, then torch.cat([x0, x1, x2, x3], -1)).
// y [n, 4C] = merged tokens [t0, t0 + n) in row-major order of x [H, W, C].
void patch_merge_gather_ref(float *y, const float *x, int64_t H, int64_t W, int64_t C, int64_t t0, int64_t n);
// Fast kernel: x F32 [H, W, C], y F32 [n, 4C], both contiguous. Threaded over merged tokens.
void patch_merge_gather_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, int64_t t0);

#endif
