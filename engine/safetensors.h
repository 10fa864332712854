// engine/safetensors.h — the packed weights format (DESIGN §3).
//
// File: u64 little-endian header length N, N bytes of JSON
//   {"__metadata__": {"arch": "sam", "config": "<json string>"},
//    "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the raw little-endian data; offsets are relative to the end of the header. We write
// every tensor's data at a 64-byte aligned file offset (the header is padded with spaces) so
// the mapped file can be used in place.
//
// Reading mmaps the file and validates everything before anything is used: header length
// within the file, JSON well-formed, known dtypes, shapes whose byte size equals the offset
// range, ranges inside the data section, no two tensors overlapping, unique names.
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

int ug_st_count(const ug_st_file *f);
const ug_st_entry *ug_st_at(const ug_st_file *f, int i); // in file order
const ug_st_entry *ug_st_find(const ug_st_file *f, const char *name);
// __metadata__ value for key, or NULL.
const char *ug_st_meta(const ug_st_file *f, const char *key);
// Tensor view into the mapping (read-only by convention). Error names the file and tensor
// when missing.
ug_status ug_st_tensor(const ug_st_file *f, const char *name, ug_tensor *view, ug_err *err);

// Streaming writer: declare every tensor (and metadata) first, then `begin` writes the
// header, then the data of each declared tensor in declaration order, in as many
// ug_st_write calls as the caller likes. `finish` checks that every byte came, flushes and
// renames the temporary file into place; `abort` (or any error) removes it, so a failed
// pack never leaves a half-written file.
typedef struct ug_st_writer ug_st_writer;

ug_status ug_st_writer_create(ug_st_writer **w, const char *path, ug_err *err);
ug_status ug_st_writer_meta(ug_st_writer *w, const char *key, const char *value, ug_err *err);
ug_status ug_st_writer_declare(ug_st_writer *w, const char *name, ug_dtype dt, int ndim,
                               const int64_t *shape, ug_err *err);
ug_status ug_st_writer_begin(ug_st_writer *w, ug_err *err);
ug_status ug_st_writer_write(ug_st_writer *w, const void *data, size_t nbytes, ug_err *err);
ug_status ug_st_writer_finish(ug_st_writer *w, ug_err *err); // frees w
void ug_st_writer_abort(ug_st_writer *w);                    // frees w, removes the temp file

#endif
