// engine/npy.h — NumPy .npy files (format 1.0/2.0/3.0, little-endian, C order).
//
// Read: '<f4' -> F32, '<f8' -> F32 (rounded), '|u1' (or '<u1') -> U8, '<i4' -> I32, '<i8' -> I64,
// '|b1' -> BOOL (any non-zero byte reads as 1). Shapes of 0 to UG_MAX_DIMS dims, `()` being a
// scalar (more dims: see the folded readers below). Anything else — other dtypes, big-endian data,
// fortran_order True, structured or object arrays, missing/unknown/duplicate header keys, a header running
// past the file, data shorter or longer than the shape says, shapes whose size overflows — is a one-line
// error naming the file. Write: F32, U8, I32, I64, BOOL from any (strided) CPU tensor, as format 1.0 with the
// header padded to 64 bytes like numpy; the file appears complete or not at all (written to a temporary name,
// then renamed).
#ifndef UG_NPY_H
#define UG_NPY_H

#include <stddef.h>

#include "engine/tensor.h"

// *out becomes an owning contiguous tensor (ug_tensor_free it).
ug_status ug_npy_read(const char *path, ug_tensor *out, ug_err *err);
// The same from memory (fuzz target, tests); `name` is used in error messages.
ug_status ug_npy_parse(const void *data, size_t size, const char *name, ug_tensor *out, ug_err *err);
ug_status ug_npy_write(const char *path, const ug_tensor *t, ug_err *err);

// numpy arrays may have more dims than a tensor (up to 64). The folded readers accept them by
// merging the leading dims into the first (a reshape in C order: [1,32,4,1,4,2] reads as
// [32,4,1,4,2], [2,3,4,5,6,7] as [6,4,5,6,7]); *shape (if non-NULL) gets the file's shape.
// Arrays of up to UG_MAX_DIMS dims read exactly as with ug_npy_read.
#define UG_NPY_MAX_DIMS 64
typedef struct ug_npy_shape {
    int ndim;
    int64_t shape[UG_NPY_MAX_DIMS];
} ug_npy_shape;
ug_status ug_npy_read_folded(const char *path, ug_tensor *out, ug_npy_shape *shape, ug_err *err);
ug_status ug_npy_parse_folded(const void *data, size_t size, const char *name, ug_tensor *out,
                              ug_npy_shape *shape, ug_err *err);

#endif
