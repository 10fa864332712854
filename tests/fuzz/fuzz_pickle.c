// tests/fuzz/fuzz_pickle.c — libFuzzer target: arbitrary bytes through the whitelisting
// pickle machine and the numpy-pickle checkpoint layer (state-dict selection, ndarray
// payloads, latin-1 decoding, Fortran order).
//
// Inputs not starting with PROTO get "\x80\x02", so mutations start in the opcode stream.
// Seeds: rba_tiny_3dl.d2.pkl, the data.pkl of the golden .pth files, or pickles from
// weights-tools/torch_writer.h.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_ckpt.h"
#include "weights-tools/pickle.h"

enum { FUZZ_MAX_BYTES = 1 << 20 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = NULL;
    if (size < 1 || data[0] != 0x80) {
        buf = malloc(size + 2);
        if (!buf) return 0;
        buf[0] = 0x80, buf[1] = 2;
        if (size) memcpy(buf + 2, data, size);
        data = buf;
        size += 2;
    }
    pk_machine *m;
    pk_obj *root;
    ug_err err;
    if (pk_load(&m, data, size, "fuzz.pkl", &root, &err) == UG_OK) {
        char what[256];
        pk_describe(root, what, sizeof what);
        pk_dict_get(root, "model");
        pk_free(m);
    }
    fuzz_ckpt_read_all(data, size, "fuzz.pkl", FUZZ_MAX_BYTES);
    free(buf);
    return 0;
}
