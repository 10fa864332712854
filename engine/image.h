// engine/image.h — 8-bit images in and out: PNG (libpng) and JPEG (libjpeg-turbo).
//
// Images are U8 tensors [H, W, C] with C = 1 (gray) or 3 (RGB). Corrupt or truncated files are
// errors naming the file, never a crash; sizes above the pixel limit (UG_IMAGE_MAX_PIXELS
// unless a call says otherwise) are refused before anything is allocated.
//
// Conversion rules (the same for PNG and JPEG):
//   UG_IMAGE_RGB   gray -> R = G = B = value; palette -> its RGB colour; alpha (RGBA, gray+alpha,
//                  palette tRNS) is dropped, not composited; 16-bit samples keep their high
//                  byte (v >> 8, as PIL and OpenCV do); gray of 1/2/4 bits is scaled to 0..255.
//   UG_IMAGE_GRAY  for label and mask files. Gray PNG/JPEG -> the stored value (1/2/4-bit gray
//                  scaled to 0..255, 16-bit -> high byte, alpha dropped). Palette PNG -> the
//                  palette INDEX, not a colour (Cityscapes trainId/colour label files are
//                  palette PNGs whose index is the label). RGB(A) PNG and colour JPEG are
//                  accepted only when every pixel has R == G == B (a gray image saved as RGB);
//                  otherwise the read fails naming the first coloured pixel: a luma conversion
//                  would silently turn colours into wrong labels.
// JPEG: CMYK/YCCK is refused; missing data ("premature end of JPEG file" or "... of data
// segment", which libjpeg would fill with grey) is an error, as are
// more than 500 progressive scans (a known decoder denial of service).
#ifndef UG_IMAGE_H
#define UG_IMAGE_H

#include <stddef.h>

#include "engine/tensor.h"

#define UG_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

typedef enum ug_image_mode { UG_IMAGE_RGB = 3, UG_IMAGE_GRAY = 1 } ug_image_mode;

// PNG or JPEG by content (signature), *out = owning U8 [H, W, mode].
ug_status ug_image_read(const char *path, ug_image_mode mode, ug_tensor *out, ug_err *err);
// From memory (fuzz targets, tests); `name` is used in error messages.
ug_status ug_image_decode(const void *data, size_t size, const char *name, ug_image_mode mode, ug_tensor *out,
                          ug_err *err);
// The same with a caller's pixel limit (fuzz targets use a small one to stay fast).
ug_status ug_image_decode_max(const void *data, size_t size, const char *name, ug_image_mode mode,
                              int64_t max_pixels, ug_tensor *out, ug_err *err);

// 16-bit PNGs kept at 16 bits (Cityscapes instanceIds): *out = owning I32 [H, W] of the
// first channel (R of RGB, the index of a palette PNG). 8-bit PNGs are widened, 1/2/4-bit gray
// is scaled to 0..255 as above. JPEG is refused.
ug_status ug_png_read_u16(const char *path, ug_tensor *out, ug_err *err);
ug_status ug_png_decode_u16(const void *data, size_t size, const char *name, ug_tensor *out, ug_err *err);

// PNG from a U8 CPU tensor [H, W] or [H, W, 1|3|4] (any strides): gray, RGB or RGBA, 8 bits.
// Written to `<path>.tmp.XXXXXX` and renamed into place: never a half-written file.
ug_status ug_png_write(const char *path, const ug_tensor *img, ug_err *err);

#endif
