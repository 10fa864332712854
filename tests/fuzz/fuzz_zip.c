// tests/fuzz/fuzz_zip.c — libFuzzer target: arbitrary bytes through the ZIP reader and the
// torch checkpoint layer on top of it (data.pkl lookup, pickle, storages, tensor reads).
//
// Every entry is read whole (bounded) and CRC-checked, every small tensor is read. Inputs not
// starting with a local header signature get one, so mutations are not wasted on it. Seeds:
// the golden .pth/.ckpt files, or zips written by weights-tools/torch_writer.h.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_ckpt.h"
#include "weights-tools/zip.h"

enum { FUZZ_MAX_BYTES = 1 << 20 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = NULL;
    if (size < 4 || memcmp(data, "PK\x03\x04", 4) != 0) {
        buf = malloc(size + 4);
        if (!buf) return 0;
        memcpy(buf, "PK\x03\x04", 4);
        if (size) memcpy(buf + 4, data, size);
        data = buf;
        size += 4;
    }
    ug_zip *z;
    ug_err err;
    if (ug_zip_open_memory(&z, data, size, "fuzz.zip", &err) == UG_OK) {
        for (int i = 0; i < ug_zip_count(z); i++) {
            const ug_zip_entry *e = ug_zip_at(z, i);
            void *d;
            size_t n;
            if (ug_zip_read_entry(z, e, FUZZ_MAX_BYTES, &d, &n, &err) == UG_OK) free(d);
            uint8_t b[16];
            ug_zip_read_at(z, e, e->size / 2, b,
                           e->size - e->size / 2 < 16 ? (size_t)(e->size - e->size / 2) : 16, &err);
            ug_zip_find(z, e->name);
        }
        ug_zip_close(z);
    }
    fuzz_ckpt_read_all(data, size, "fuzz.pth", FUZZ_MAX_BYTES);
    free(buf);
    return 0;
}
