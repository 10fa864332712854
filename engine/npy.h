// engine/npy.h — NumPy .npy files (format 1.0/2.0/3.0, little-endian, C order).
//
// Read: F32, F64 (converted to F32), U8, I32, I64, BOOL (|b1). Fortran order, big-endian
// data, object arrays, bad or truncated headers and data shorter than the shape are errors
// naming the file. Write: F32, U8, I32, I64, BOOL from any (strided) CPU tensor, as format 1.0;
// the file appears complete or not at all (written to a temporary name, then renamed).
#ifndef UG_NPY_H
#define UG_NPY_H

#include <stddef.h>

#include "engine/tensor.h"

// *out becomes an owning contiguous tensor (ug_tensor_free it).
ug_status ug_npy_read(const char *path, ug_tensor *out, ug_err *err);
// The same from memory (fuzz target, tests); `name` is used in error messages.
ug_status ug_npy_parse(const void *data, size_t size, const char *name, ug_tensor *out, ug_err *err);
ug_status ug_npy_write(const char *path, const ug_tensor *t, ug_err *err);

#endif
