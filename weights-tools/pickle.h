// weights-tools/pickle.h — a whitelisting pickle machine that never executes anything.
//
// It runs the opcodes of protocols 2-5 as torch.save and pickle.dump write them (the binary
// opcodes; the protocol-0 text forms, INST/OBJ, extension codes and out-of-band buffers are
// refused with an error naming the opcode; unknown opcodes are an error). GLOBAL/STACK_GLOBAL
// make a reference object; nothing is imported or called. A REDUCE/NEWOBJ/BUILD gets meaning
// only for whitelisted globals:
//   collections.OrderedDict, builtins set/frozenset/bytes/bytearray   containers
//   torch._utils._rebuild_tensor(_v2), _rebuild_parameter(_with_state),
//   torch._tensor._rebuild_from_type_v2                                tensors
//   torch.{Float,Half,BFloat16,Double,Long,Int,Byte,Bool,...}Storage    persistent-id storages
//   numpy(.core|._core).multiarray._reconstruct, numpy.ndarray, numpy.dtype,
//   numpy(.core|._core).numeric._frombuffer, _codecs.encode            numpy arrays (detectron2)
// Any other global stays an inert placeholder: calling, instantiating or BUILDing it yields a
// PK_OBJECT that remembers the global's name (`origin`) and is never called. A whitelisted
// reconstructor given arguments it cannot accept (a storage that is a placeholder, an offset
// outside the storage, > 5 dims, an unknown dtype) yields PK_INVALID carrying the reason, so
// the problem surfaces only if that object is used as a tensor.
//
// The machine is iterative (no recursion, so nesting depth cannot overflow the C stack) and
// bounded: stack, mark stack, memo and object counts are capped; every length read from the
// input is checked against the bytes that remain before use. Strings and bytes longer than
// 64 KiB are not copied: objects keep their offset in the input (the caller keeps the input
// mapped) and are read on demand with pk_payload_read.
#ifndef UG_PICKLE_H
#define UG_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tensor.h"

typedef enum pk_kind {
    PK_NONE = 0,
    PK_BOOL,
    PK_INT,
    PK_BIGINT, // an integer beyond int64 (kept inert)
    PK_FLOAT,
    PK_STR,   // a text string (BINUNICODE: UTF-8; Python 2 BINSTRING: raw bytes)
    PK_BYTES, // bytes / bytearray
    PK_TUPLE,
    PK_LIST,
    PK_DICT, // dict or OrderedDict: items = key, value, key, value, ...
    PK_SET,
    PK_GLOBAL,  // reference to a module attribute (whitelisted or not)
    PK_OBJECT,  // inert placeholder made from a non-whitelisted global
    PK_STORAGE, // torch storage named by a persistent id
    PK_TENSOR,  // torch tensor view on a storage
    PK_NDARRAY, // numpy array
    PK_DTYPE,   // numpy dtype
    PK_INVALID, // a whitelisted reconstructor refused its arguments: see `invalid`
} pk_kind;

// The payload of a PK_STR or PK_BYTES: `len` bytes at `off` in the input. `utf8_latin1`:
// the bytes are the UTF-8 encoding of a str whose code points (all < 256) are the real
// bytes — how protocol 2 carries `bytes` (_codecs.encode(s, 'latin1')).
typedef struct pk_payload {
    uint64_t off, len;
    bool utf8_latin1;
} pk_payload;

typedef struct pk_obj pk_obj;
struct pk_obj {
    pk_kind kind;
    const char *origin; // PK_OBJECT: "module.name" of the global it came from
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *s; // NUL-terminated copy for payloads <= 64 KiB, else NULL
            pk_payload p;
        } str; // PK_STR, PK_BYTES
        struct {
            pk_obj **items;
            size_t n, cap;
        } seq; // PK_TUPLE, PK_LIST, PK_SET, PK_DICT (pairs)
        struct {
            const char *module, *name;
            int wl; // whitelist id (0 = not whitelisted)
        } global;
        struct {
            ug_dtype dtype;
            const char *type_name; // "FloatStorage"
            const char *key;       // entry name under data/
            int64_t numel;
        } storage;
        struct {
            pk_obj *storage;
            int64_t offset;
            int ndim;
            int64_t size[UG_MAX_DIMS], stride[UG_MAX_DIMS];
        } tensor;
        struct {
            ug_dtype dtype;
            int ndim;
            int64_t shape[UG_MAX_DIMS];
            bool fortran, built;
            pk_obj *data; // PK_BYTES or PK_STR
        } nd;
        struct {
            ug_dtype dtype; // UG_DTYPE_COUNT when outside what we handle
            const char *name;
            char byteorder;
        } dtype;
        const char *invalid; // PK_INVALID: why
    };
};

typedef struct pk_machine pk_machine;

// Runs the pickle in data[0..size) (not copied; must outlive m and every object). On success
// *root is the value STOP returned; objects live until pk_free. `name` prefixes errors.
ug_status pk_load(pk_machine **m, const void *data, size_t size, const char *name, pk_obj **root,
                  ug_err *err);
void pk_free(pk_machine *m);

// Reads a PK_STR/PK_BYTES payload as bytes into dst, which must receive exactly n bytes
// (latin-1 payloads are decoded; a code point >= 256 or a length mismatch is an error).
ug_status pk_payload_read(const pk_machine *m, const pk_payload *p, void *dst, size_t n, ug_err *err);
// The input bytes a payload occupies (for the caller to release mapped pages after use).
const void *pk_input(const pk_machine *m);

const char *pk_kind_name(pk_kind k);
// One phrase for messages: "a dict", "an object made by os.system (not whitelisted, never
// called)", "an invalid tensor (storage offset 9 + extent 4 > 12 elements)".
const char *pk_describe(const pk_obj *o, char *buf, size_t n);
// Dict lookup by string key (NULL when absent or not a dict).
const pk_obj *pk_dict_get(const pk_obj *d, const char *key);
bool pk_is_str(const pk_obj *o, const char *s);

#endif
