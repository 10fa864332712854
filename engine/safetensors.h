// engine/safetensors.h — the packed weights format (DESIGN §3).
//
// File: u64 little-endian header length N, N bytes of JSON
//   {"__metadata__": {"arch": "sam", "config": "<json string>"},
//    "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the raw little-endian data; offsets are relative to the end of the header. We write
// every tensor's data at a 64-byte aligned file offset (the header is padded with spaces) so
// the mapped file can be used in place.
//
// Alignment padding: the official reader (huggingface/safetensors, tensor.rs `validate`)
// requires the data offsets, sorted, to tile the data section exactly — no holes, nothing
// after the last tensor. So a gap in front of a tensor whose start would otherwise be
// unaligned is covered by a filler entry "__pad_<k>__": {"dtype": "U8", "shape": [gap],
// ...} with gap < 64 (zero bytes). Python sees these as small extra U8 tensors (drop keys
// starting with "__pad_" before load_state_dict); this reader validates them like any entry
// and then leaves them out of the count, lookups and iteration. An entry is treated as
// filler only when it has that name form, dtype U8, one dim and fewer than 64 bytes.
//
// Reading mmaps the file and validates everything before anything is used: header length
// within the file and at most 100,000,000 bytes (the official limit), JSON well-formed and
// an object, known dtypes (F32 F16 BF16 F64 I64 I32 U8 BOOL), at most 5 dims, shapes whose
// byte size equals the offset range without overflow, ranges inside the data section, no
// two tensors overlapping, unique names without NUL, only the fields dtype/shape/
// data_offsets, `__metadata__` an object of strings. Holes between tensors and bytes after
// the last one are accepted (the official reader refuses them; we only need them safe).
// Every error is one line naming the file and the problem.
#ifndef UG_SAFETENSORS_H
#define UG_SAFETENSORS_H

#include <stddef.h>

#include "engine/tensor.h"

typedef struct ug_st_entry {
    const char *name;
    ug_dtype dtype;
    int ndim;
    int64_t shape[UG_MAX_DIMS];
    const void *data; // inside the mapping
    size_t nbytes;
} ug_st_entry;

typedef struct ug_st_file ug_st_file;

ug_status ug_st_open(ug_st_file **f, const char *path, ug_err *err);
// The same over caller memory (not copied; must outlive f) — fuzz target and tests.
ug_status ug_st_open_memory(ug_st_file **f, const void *data, size_t size, const char *name, ug_err *err);
void ug_st_close(ug_st_file *f);

const char *ug_st_path(const ug_st_file *f); // the path or name given at open, for messages
int ug_st_count(const ug_st_file *f);
const ug_st_entry *ug_st_at(const ug_st_file *f, int i); // in file order
const ug_st_entry *ug_st_find(const ug_st_file *f, const char *name);
// __metadata__ value for key, or NULL.
const char *ug_st_meta(const ug_st_file *f, const char *key);
// __metadata__ entries in file order (for `ugains inspect`).
int ug_st_meta_count(const ug_st_file *f);
const char *ug_st_meta_key(const ug_st_file *f, int i);
// Tensor view into the mapping (read-only by convention). Error names the file and tensor
// when missing.
ug_status ug_st_tensor(const ug_st_file *f, const char *name, ug_tensor *view, ug_err *err);

// Streaming writer: declare every tensor (and metadata) first, then `begin` writes the
// header, then the data of each declared tensor in declaration order, in as many
// ug_st_write calls as the caller likes (a call may span tensors; the writer inserts the
// alignment padding). `finish` checks that every byte came, flushes and renames the
// temporary file `<path>.tmp.XXXXXX` (same directory) into place with mode 0644; `abort`
// (or any error) removes it, so a failed pack never leaves a half-written file. After an
// error every later call fails too; finish or abort must still be called to free w.
// Names must be non-empty UTF-8, unique, not "__metadata__" and not start with "__pad_".
// Metadata keys and values are any UTF-8 strings (JSON-escaped in the header).
typedef struct ug_st_writer ug_st_writer;

ug_status ug_st_writer_create(ug_st_writer **w, const char *path, ug_err *err);
ug_status ug_st_writer_meta(ug_st_writer *w, const char *key, const char *value, ug_err *err);
ug_status ug_st_writer_declare(ug_st_writer *w, const char *name, ug_dtype dt, int ndim, const int64_t *shape,
                               ug_err *err);
ug_status ug_st_writer_begin(ug_st_writer *w, ug_err *err);
ug_status ug_st_writer_write(ug_st_writer *w, const void *data, size_t nbytes, ug_err *err);
ug_status ug_st_writer_finish(ug_st_writer *w, ug_err *err); // frees w
void ug_st_writer_abort(ug_st_writer *w);                    // frees w, removes the temp file

#endif
