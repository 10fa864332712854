// weights-tools/torch_ckpt.h — a checkpoint as a list of named tensors with lazy data.
//
// Reads, without Python and without running anything (DESIGN §3):
//   - PyTorch zip checkpoints (torch.save >= 1.6): `<root>/data.pkl` found by suffix, tensors
//     = _rebuild_tensor_v2 on persistent-id storages `<root>/data/<key>` (offsets, strides,
//     non-contiguous views, storages shared by several tensors; F32/F16/BF16/F64/I64/I32/U8/
//     BOOL storages);
//   - pickles of numpy arrays (detectron2 `.pkl`, protocol 2 `_codecs.encode` latin-1 bytes
//     or protocol 3-5 bytes; C or Fortran order).
// The state dict is the top-level dict itself, or its "state_dict" entry (Lightning), or its
// "model" entry (detectron2); other top-level entries (epoch, optimizer states, hyper-
// parameters — possibly inert placeholders of non-whitelisted classes) are ignored with a
// note. A state-dict entry that is not a real tensor is listed with `problem` saying what it
// is (and which global made it); it becomes an error only if someone needs it.
//
// Tensor data is read on demand (ug_ckpt_read), straight into the caller's buffer: a
// contiguous tensor costs one read of its bytes; nothing else is held in memory except a
// deflated storage (inflated whole, the last one cached) and a bounded read window. A .pkl is
// mapped and its pages are released after each tensor is read. Every storage's CRC-32 is
// verified the first time one of its tensors is read.
#ifndef UG_TORCH_CKPT_H
#define UG_TORCH_CKPT_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/tensor.h"

typedef struct ug_ckpt_tensor {
    const char *name;    // key as found in the state dict
    const char *problem; // NULL for a real tensor; else what the entry is ("an object made by os.system ...")
    ug_dtype dtype;
    int ndim;
    int64_t shape[UG_MAX_DIMS];
    size_t nbytes; // contiguous size
} ug_ckpt_tensor;

typedef struct ug_ckpt ug_ckpt;

ug_status ug_ckpt_open(ug_ckpt **c, const char *path, ug_err *err);
// The same over caller memory (not copied; must outlive c): fuzz targets and tests.
ug_status ug_ckpt_open_memory(ug_ckpt **c, const void *data, size_t size, const char *name, ug_err *err);
void ug_ckpt_close(ug_ckpt *c);

const char *ug_ckpt_path(const ug_ckpt *c);
// "torch zip, {'state_dict': ...}", "pickle of numpy arrays, {'model': ...}", ...
const char *ug_ckpt_layout(const ug_ckpt *c);
int ug_ckpt_count(const ug_ckpt *c);
const ug_ckpt_tensor *ug_ckpt_at(const ug_ckpt *c, int i); // state-dict order
const ug_ckpt_tensor *ug_ckpt_find(const ug_ckpt *c, const char *name);
// Notes made while opening (ignored entries and why), for the user.
int ug_ckpt_note_count(const ug_ckpt *c);
const char *ug_ckpt_note(const ug_ckpt *c, int i);

// The tensor's elements, C-contiguous little-endian, t->nbytes of them, into dst. Fails for
// an entry with a problem (the message names the entry and says what it is).
ug_status ug_ckpt_read(ug_ckpt *c, const ug_ckpt_tensor *t, void *dst, ug_err *err);

#endif
