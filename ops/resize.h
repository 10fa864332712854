// ops/resize.h — image and feature-map resizing, and the two input normalisations.
//
//   resize_bilinear:  F.interpolate(x, size, mode="bilinear", align_corners=False|True), no
//                     antialias, F32 [.., H, W] -> [.., Ho, Wo] (PyTorch CPU to 1 ulp).
//   resize_pillow:    PIL Image.resize(size, BILINEAR) of an 8-bit image U8 [H, W, C]
//                     (antialiased when shrinking; bit exact, 22-bit fixed point).
//   sam_normalize_pad / rba_normalize: the SAM and UGainS (albumentations) input transforms.
//
// Dimension letters: B batch, C channels, H/W input size, Ho/Wo output size.
//
// Numerical rules (golden/README.md, "Numerical building blocks"):
//  bilinear, per axis, n_in -> n_out, output index i:
//   align_corners=False: scale = (float)n_in / (float)n_out, src = (double)scale * (i + 0.5) - 0.5,
//                        src = max(src, 0);
//   align_corners=True:  scale = (float)(n_in - 1) / (float)(n_out - 1) (0 when n_out == 1),
//                        src = (double)scale * i   (our choice: the same double rule as above);
//   i0 = min((int)src, n_in - 1), i1 = i0 + (i0 < n_in - 1), l1 = (float)(src - i0),
//   l0 = (float)(1 - (src - i0)); n_in == n_out is an exact copy (PyTorch special-cases it).
//   y = (x[y0][x0] * lx0 + x[y0][x1] * lx1) * ly0 + (x[y1][x0] * lx0 + x[y1][x1] * lx1) * ly1.
//  Pillow: horizontal pass into an 8-bit intermediate, then vertical; per axis
//   scale = n_in / n_out (double), fs = max(scale, 1), support = fs, center = (i + 0.5) * scale,
//   taps k in [max((int)(center - support + 0.5), 0), min((int)(center + support + 0.5), n_in)),
//   w_k = max(0, 1 - |(k - center + 0.5) * (1 / fs)|), normalised to sum 1, then
//   (int)(w * 2^22 + 0.5); out = clamp((2^21 + sum p_k * w_k) >> 22, 0, 255).
#ifndef UG_OPS_RESIZE_H
#define UG_OPS_RESIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Reference: `planes` contiguous [H, W] planes -> [Ho, Wo] planes, double arithmetic.
void resize_bilinear_ref(float *y, const float *x, int64_t planes, int64_t H, int64_t W, int64_t Ho,
                         int64_t Wo, bool align_corners);
// Fast kernel. x, y: F32 with 2..4 dims, equal leading dims ([B, C, H, W] -> [B, C, Ho, Wo]);
// any strides (a cropped view works as input, a slice of a larger map as output).
// Threaded over output rows; each horizontally interpolated input row is computed once per
// thread and reused by the output rows that need it.
void resize_bilinear_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, bool align_corners);

// Reference: contiguous U8 [H, W, C] -> [Ho, Wo, C], literal two-pass Pillow algorithm.
void resize_pillow_ref(uint8_t *y, const uint8_t *x, int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t C);
// Fast kernel: U8 [H, W, C] -> U8 [Ho, Wo, C], C = 1..4, rows may be strided (pixels and
// channels contiguous). Bit exact with the reference.
void resize_pillow_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x);

// ResizeLongestSide.get_preprocess_shape: scale = long_side / max(h, w) (double),
// (*ho, *wo) = ((int)(h * scale + 0.5), (int)(w * scale + 0.5)).
void resize_longest_side_shape(int64_t h, int64_t w, int64_t long_side, int64_t *ho, int64_t *wo);

// Sam.preprocess: y [1, 3, S, S] F32 (NCHW), img U8 [h, w, 3] with h, w <= S;
// y[c, r, q] = (f32(img[r, q, c]) - mean[c]) / std[c] inside the image, 0 on the right and
// bottom padding. The official float32 division, not a reciprocal.
void sam_normalize_pad_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img, const float mean[3],
                           const float std[3]);

// UGainS / RbA input (albumentations Normalize, ImageNet mean/std): y [1, 3, H, W] F32,
// img U8 [H, W, 3]; y = (f32(p) - f32(mean) * 255) * (1 / (f32(std) * 255)), float32 steps.
void rba_normalize_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *img);

#endif
