// ops/conv2d.h — 2-D convolution (nn.Conv2d, groups = 1) as im2col + GEMM.
//
//   y[b, o, oy, ox] = bias[o] + sum_{c, ky, kx} w[o, c, ky, kx] x[b, c, oy*s - pt + ky, ox*s - pl + kx]
//
// x [B, Cin, H, W], w [Cout, Cin, kh, kw], bias [Cout], y [B, Cout, Ho, Wo]; taps that fall
// outside x read zero (zero padding). With symmetric padding p the output size is
// floor((H + 2p - kh) / s) + 1 (PyTorch).
//
// Paths of conv2d_cpu (all end in the GEMM of ops/gemm.h, which carries the flops):
//   * 1x1, stride 1, no padding, channels-last input or output: y[b] = W [Cout, Cin] @ x[b]
//     [Cin, HW] straight on the input (no copy; e.g. SAM's neck on NHWC tokens);
//   * NCHW output otherwise (1x1 on NCHW input, 3x3 pad 1, strided, patchify):
//     y[b] = [W | bias] @ [im2col; ones], the im2col written by gemm_cpu_packb_serial's
//     callback straight into the GEMM's packed B slivers (no im2col matrix at all); chunks of
//     at most 2048 output pixels, one serial GEMM each, spread over the threads, each computed
//     into a buffer with a cache-friendly row pitch and copied into y;
//   * channels-last output (patchify kxk stride k for Swin / SAM): im2col into a buffer of
//     whole output rows, [Cin*kh*kw, rows*Wo] at most ~24 MB, then one GEMM per tile.
// The output may be NCHW (pixels contiguous) or a channels-last view (channels contiguous,
// e.g. ug_view_permute of an NHWC buffer): then the GEMM is transposed, y[b]^T = col^T @ W^T,
// and the tokens come out ready for Swin / SAM blocks.
#ifndef UG_OPS_CONV2D_H
#define UG_OPS_CONV2D_H

#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// floor((in + 2 pad - k) / stride) + 1, the PyTorch output size (0 if the kernel does not fit).
int64_t conv2d_out_size(int64_t in, int64_t k, int stride, int pad);

// Reference: plain loops, double accumulation, contiguous NCHW arrays. pad_top / pad_left
// shift the window; Ho, Wo give the output size (taps outside x are zero).
void conv2d_ref(float *y, const float *x, const float *w, const float *b, int64_t B, int64_t Cin, int64_t H,
                int64_t W, int64_t Cout, int kh, int kw, int stride, int pad_top, int pad_left, int64_t Ho,
                int64_t Wo);

// Fast kernel, symmetric padding; y must have the floor size above. Like matmul_cpu it uses
// every thread's scratch: call it from outside any parallel region.
//   x: F32 [B, Cin, H, W], any strides.
//   w: [Cout, Cin, kh, kw] contiguous, F32, BF16 or F16 (widened to F32 for the GEMM when
//      the output is NCHW; used as is in the channels-last case).
//   b: NULL or [Cout], F32, BF16 or F16.
//   y: F32 [B, Cout, Ho, Wo] whose (Ho, Wo) flatten into one pixel dim, with pixel stride 1
//      (NCHW) or channel stride 1 (channels-last view).
void conv2d_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                int stride, int pad);

// The same with the output size taken from y and only the top/left padding given: the
// bottom/right padding is whatever y's size implies, e.g. Swin's PatchEmbed, which pads H and
// W up to a multiple of 4 on the bottom/right (pad_top = pad_left = 0, Ho = ceil(H / 4)).
void conv2d_cpu_ex(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                   int stride, int pad_top, int pad_left);

#endif
