// engine/image.h — 8-bit images in and out: PNG (libpng) and JPEG (libjpeg-turbo).
//
// Images are U8 tensors [H, W, C] with C = 1 (gray) or 3 (RGB). Reading converts palette,
// gray+alpha, RGBA (alpha dropped) and 16-bit PNGs to 8-bit RGB (or gray when asked);
// corrupt or truncated files are errors naming the file, never a crash; sizes above
// UG_IMAGE_MAX_PIXELS are refused before decoding.
#ifndef UG_IMAGE_H
#define UG_IMAGE_H

#include <stddef.h>

#include "engine/tensor.h"

#define UG_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

typedef enum ug_image_mode { UG_IMAGE_RGB = 3, UG_IMAGE_GRAY = 1 } ug_image_mode;

// PNG or JPEG by content (signature), *out = owning U8 [H, W, mode].
ug_status ug_image_read(const char *path, ug_image_mode mode, ug_tensor *out, ug_err *err);
// From memory (fuzz targets, tests).
ug_status ug_image_decode(const void *data, size_t size, const char *name, ug_image_mode mode,
                          ug_tensor *out, ug_err *err);
// 16-bit PNGs kept at 16 bits (Cityscapes instanceIds): *out = owning I32 [H, W] of the
// first channel. 8-bit PNGs are widened.
ug_status ug_png_read_u16(const char *path, ug_tensor *out, ug_err *err);
// PNG from U8 [H, W] or [H, W, 1|3|4]; written to a temporary name and renamed into place.
ug_status ug_png_write(const char *path, const ug_tensor *img, ug_err *err);

#endif
