// tests/fuzz/fuzz_npy.c — libFuzzer target: arbitrary bytes through the .npy parser.
//
// The parser allocates only what the input's own data covers (data shorter than the shape is
// an error before allocation), so no size limit is needed here. Seeds: any .npy files.
#include <stddef.h>
#include <stdint.h>

#include "engine/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ug_tensor t;
    ug_err err;
    if (ug_npy_parse(data, size, "fuzz.npy", &t, &err) == UG_OK) ug_tensor_free(&t);
    ug_npy_shape shape;
    if (ug_npy_parse_folded(data, size, "fuzz.npy", &t, &shape, &err) == UG_OK) ug_tensor_free(&t);
    return 0;
}
