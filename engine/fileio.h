// engine/fileio.h — whole-file reads with a size cap, and all-or-nothing file writes.
//
// Writers create `<path>.tmp.XXXXXX` in the destination's directory, write it, and rename it
// over `path` on commit, so a reader (or a crash mid-write) never sees a half-written file.
// There is no fsync: outputs are reproducible, so surviving a power cut is not worth its cost.
#ifndef UG_FILEIO_H
#define UG_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "engine/error.h"

// Fails unless `path` names a regular file: one line for a missing file, a directory or a FIFO,
// socket or device. It stats, never opens: opening a FIFO for reading blocks until someone
// writes to it. Inputs are checked with it before they are opened.
ug_status ug_file_check_regular(const char *path, ug_err *err);

// Reads all of `path` into a malloc'ed buffer (*data, free it; never NULL on success, even for an
// empty file). Files larger than max_bytes are refused before anything is allocated.
ug_status ug_file_read_all(const char *path, size_t max_bytes, void **data, size_t *size, ug_err *err);

typedef struct ug_atomic_file {
    FILE *f;    // write here
    char *tmp;  // the temporary name (malloc'ed)
    char *path; // the final name (malloc'ed copy)
} ug_atomic_file;

// Creates the temporary file (mode 0666 minus the umask, like fopen would).
ug_status ug_atomic_open(ug_atomic_file *af, const char *path, ug_err *err);
// Flushes, closes and renames into place; on failure the temporary file is removed.
// Either way *af is released.
ug_status ug_atomic_commit(ug_atomic_file *af, ug_err *err);
// Closes and removes the temporary file; safe on a zeroed or already released struct.
void ug_atomic_abort(ug_atomic_file *af);

#endif
