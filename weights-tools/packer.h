// weights-tools/packer.h — checkpoint (.pth / .ckpt / .pkl) -> safetensors (DESIGN §3).
//
// Opens the checkpoint (weights-tools/torch_ckpt.h), plans the architecture and names
// (weights-tools/arch.h), then streams: every tensor is read into one reused buffer the size
// of the largest tensor, converted if asked (F32 <-> BF16/F16, round to nearest even;
// integer tensors stay as they are), and written through the safetensors writer, which
// renames its temporary file into place only when everything succeeded. `__metadata__`
// holds "arch" and "config". Notes (ignored entries, dropped buffers, --set values) go to
// the note callback; warnings (config values guessed, not read from the shapes) to the warn
// callback, or to the note callback when warn is NULL. Neither is an error.
#ifndef UG_PACKER_H
#define UG_PACKER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tensor.h"

typedef struct ug_pack_opts {
    const char *arch;       // "auto" (or NULL), "sam", "rba"
    ug_dtype dtype;         // float tensors are written as UG_F32, UG_BF16 or UG_F16
    const char *const *set; // "key=value" config overrides
    int nset;
    void (*note)(void *user, const char *msg);
    void (*warn)(void *user, const char *msg);
    void *user;
} ug_pack_opts;

typedef struct ug_pack_stats {
    char arch[8];
    int ntensors;
    uint64_t bytes;      // tensor data written
    size_t buffer_bytes; // the one tensor buffer held while packing
} ug_pack_stats;

// stats may be NULL.
ug_status ug_pack(const char *in, const char *out, const ug_pack_opts *opts, ug_pack_stats *stats,
                  ug_err *err);

#endif
