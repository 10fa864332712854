// tests/fuzz/fuzz_safetensors.c — libFuzzer target for the safetensors reader.
//
// Any input must open or fail cleanly with a one-line message. When it opens, every entry
// must lie inside the input (all its bytes are read, so ASan would see an escape), lookups
// by name must find it, and its size must match its dtype and shape.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ug_st_file *f;
    ug_err err;
    if (ug_st_open_memory(&f, data, size, "fuzz", &err) != UG_OK) {
        if (f != NULL || strncmp(err.msg, "fuzz: ", 6) != 0 || strchr(err.msg, '\n')) abort();
        return 0;
    }
    volatile unsigned sum = 0;
    for (int i = 0; i < ug_st_count(f); i++) {
        const ug_st_entry *e = ug_st_at(f, i);
        const uint8_t *p = e->data;
        if (p < data || p + e->nbytes > data + size) abort();
        for (size_t k = 0; k < e->nbytes; k++)
            sum += p[k];
        if (ug_st_find(f, e->name) != e) abort();
        size_t n = ug_dtype_size(e->dtype);
        for (int d = 0; d < e->ndim; d++)
            n *= (size_t)e->shape[d];
        if (n != e->nbytes) abort();
        ug_tensor t;
        if (ug_st_tensor(f, e->name, &t, &err) != UG_OK || t.data != e->data) abort();
    }
    for (int i = 0; i < ug_st_meta_count(f); i++) {
        const char *k = ug_st_meta_key(f, i);
        if (!k || !ug_st_meta(f, k)) abort();
    }
    (void)sum;
    ug_st_close(f);
    return 0;
}
