// tests/fuzz/fuzz_jpeg.c — libFuzzer target: arbitrary bytes through the JPEG reader.
//
// Both modes (RGB, and GRAY with its colour check). The pixel limit is lowered
// (ug_image_decode_max) so a frame header declaring a large image stays fast; the check is the
// same code. Inputs not starting with a JPEG SOI get one, so mutations are not wasted on the
// signature. Seeds: any JPEGs (see docs/TESTING.md).
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/image.h"

enum { FUZZ_MAX_PIXELS = 1 << 22 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = NULL;
    if (size < 3 || data[0] != 0xff || data[1] != 0xd8 || data[2] != 0xff) {
        buf = malloc(size + 3);
        if (!buf) return 0;
        buf[0] = 0xff, buf[1] = 0xd8, buf[2] = 0xff;
        if (size) memcpy(buf + 3, data, size);
        data = buf;
        size += 3;
    }
    ug_tensor t;
    ug_err err;
    if (ug_image_decode_max(data, size, "fuzz.jpg", UG_IMAGE_RGB, FUZZ_MAX_PIXELS, &t, &err) == UG_OK)
        ug_tensor_free(&t);
    if (ug_image_decode_max(data, size, "fuzz.jpg", UG_IMAGE_GRAY, FUZZ_MAX_PIXELS, &t, &err) == UG_OK)
        ug_tensor_free(&t);
    free(buf);
    return 0;
}
