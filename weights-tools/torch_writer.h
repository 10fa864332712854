// weights-tools/torch_writer.h — writes PyTorch-style checkpoints without Python: a
// streaming stored-zip writer and a pickle protocol 2 emitter. Used by the tests (golden-like
// and hostile checkpoints) and by `ugains bench pack` (a synthetic full-size SAM ViT-H).
//
// Zip: entries are stored (no compression), their data 64-byte aligned as torch aligns it
// (padding in a local extra field), CRC-32 and sizes patched into the local header when the
// entry ends, so an entry's data is streamed and never held whole. zip64 records are written
// when needed or when forced (tests of the reader's zip64 path).
//
// Pickle: the opcodes torch.save protocol 2 uses, plus helpers for a torch tensor
// (_rebuild_tensor_v2 on a persistent-id storage) and a numpy array as pickle.dump protocol 2
// writes it (_reconstruct + BUILD, bytes as _codecs.encode(latin-1 str)).
#ifndef UG_TORCH_WRITER_H
#define UG_TORCH_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tensor.h"

// ---- zip -----------------------------------------------------------------------------------
typedef struct ug_zipw ug_zipw;

ug_status ug_zipw_create(ug_zipw **w, const char *path, bool force_zip64, ug_err *err);
ug_status ug_zipw_begin(ug_zipw *w, const char *name, ug_err *err);
ug_status ug_zipw_write(ug_zipw *w, const void *data, size_t n, ug_err *err);
ug_status ug_zipw_end(ug_zipw *w, ug_err *err);
// Writes the central directory and closes the file; frees w.
ug_status ug_zipw_finish(ug_zipw *w, ug_err *err);
// Closes and removes the file; frees w.
void ug_zipw_abort(ug_zipw *w);

// ---- pickle --------------------------------------------------------------------------------
typedef struct ug_pkw {
    uint8_t *buf;
    size_t len, cap;
    bool oom; // sticky allocation failure, reported by ug_pkw_ok
} ug_pkw;

void ug_pkw_init(ug_pkw *w); // starts with PROTO 2
void ug_pkw_free(ug_pkw *w);
bool ug_pkw_ok(const ug_pkw *w);
void ug_pkw_op(ug_pkw *w, uint8_t op); // any single-byte opcode: '(' 't' '}' 'u' 's' 'R' 'b' '.' ...
void ug_pkw_raw(ug_pkw *w, const void *p, size_t n);
void ug_pkw_global(ug_pkw *w, const char *module, const char *name);
void ug_pkw_str(ug_pkw *w, const char *s);            // BINUNICODE
void ug_pkw_int(ug_pkw *w, int64_t v);                // BININT1/BININT2/BININT/LONG1
void ug_pkw_ints(ug_pkw *w, int n, const int64_t *v); // a tuple of ints
// torch tensor on storage `key` (`numel` elements of `dtype`) viewed at offset/size/stride.
void ug_pkw_tensor(ug_pkw *w, ug_dtype dtype, const char *key, int64_t numel, int64_t offset, int ndim,
                   const int64_t *size, const int64_t *stride);
// numpy array (C order, or Fortran when `fortran`: then `data` is in column-major order).
void ug_pkw_ndarray(ug_pkw *w, ug_dtype dtype, int ndim, const int64_t *shape, const void *data,
                    size_t nbytes, bool fortran);

// ---- a whole checkpoint --------------------------------------------------------------------
// Writes a torch zip checkpoint `<root>/data.pkl`, `<root>/data/<k>`, `<root>/version`:
// `pickle` is the data.pkl bytes; storages[k] is produced by fill(arg, k, buf, off, n) in
// chunks of at most `chunk` bytes (so nothing is held whole) and has sizes[k] bytes.
typedef void (*ug_tw_fill)(void *arg, int storage, void *buf, uint64_t off, size_t n);
ug_status ug_torch_write(const char *path, const char *root, const ug_pkw *pickle, int nstorages,
                         const uint64_t *sizes, ug_tw_fill fill, void *arg, bool force_zip64, ug_err *err);

#endif
