// tests/fuzz/fuzz_ckpt.h — shared by the fuzz targets that end in the torch checkpoint layer
// (fuzz_pickle, fuzz_zip). Header-only: each target is linked alone against the library.
#ifndef UG_FUZZ_CKPT_H
#define UG_FUZZ_CKPT_H

#include <stdlib.h>

#include "weights-tools/torch_ckpt.h"

// Opens bytes as a checkpoint and reads every tensor of at most max_bytes that has no
// problem noted (bigger ones would only slow the fuzzer down, not reach new code).
static inline void fuzz_ckpt_read_all(const uint8_t *data, size_t size, const char *name, size_t max_bytes) {
    ug_ckpt *c;
    ug_err err;
    if (ug_ckpt_open_memory(&c, data, size, name, &err) != UG_OK) return;
    for (int i = 0; i < ug_ckpt_count(c); i++) {
        const ug_ckpt_tensor *t = ug_ckpt_at(c, i);
        if (t->problem || t->nbytes > max_bytes) continue;
        void *d = malloc(t->nbytes + 1);
        if (d) ug_ckpt_read(c, t, d, &err);
        free(d);
    }
    ug_ckpt_close(c);
}

#endif
