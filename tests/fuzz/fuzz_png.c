// tests/fuzz/fuzz_png.c — libFuzzer target: arbitrary bytes through the PNG readers.
//
// Every input goes through both 8-bit modes and the 16-bit reader. The pixel limit is lowered
// (ug_image_decode_max) so a header declaring a large image costs milliseconds, not seconds:
// the limit check itself is the same code either way. Seeds: any PNGs (see docs/TESTING.md).
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/image.h"

enum { FUZZ_MAX_PIXELS = 1 << 22 };

// ug_png_decode_u16 has no limit argument: skip inputs whose IHDR is over ours.
static int small_enough(const uint8_t *d, size_t n) {
    if (n < 24 || memcmp(d + 12, "IHDR", 4) != 0) return 1;
    uint64_t w = (uint64_t)d[16] << 24 | (uint64_t)d[17] << 16 | (uint64_t)d[18] << 8 | d[19];
    uint64_t h = (uint64_t)d[20] << 24 | (uint64_t)d[21] << 16 | (uint64_t)d[22] << 8 | d[23];
    return w * h <= FUZZ_MAX_PIXELS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ug_tensor t;
    ug_err err;
    if (ug_image_decode_max(data, size, "fuzz.png", UG_IMAGE_RGB, FUZZ_MAX_PIXELS, &t, &err) == UG_OK)
        ug_tensor_free(&t);
    if (ug_image_decode_max(data, size, "fuzz.png", UG_IMAGE_GRAY, FUZZ_MAX_PIXELS, &t, &err) == UG_OK)
        ug_tensor_free(&t);
    if (small_enough(data, size) && ug_png_decode_u16(data, size, "fuzz.png", &t, &err) == UG_OK)
        ug_tensor_free(&t);
    return 0;
}
