// engine/config.h — a declarative config schema: one table of fields describes a plain C
// struct, and generic functions read it from a JSON object, apply "key=value" overrides and
// write it back as JSON. The packed "config" metadata of each architecture is described once
// this way (models/packed_config.h): the models that parse it and the packer that infers,
// overrides and writes it (weights-tools/arch.c) share the keys, types, defaults and ranges.
//
//   static const ug_cfg_field fields[] = {
//       UG_FIELD_INT(my_cfg, "depth", depth, 1, 64),          // required int in [1, 64]
//       UG_FIELD_VALUE_OR(my_cfg, "eps", eps, 1e-5),          // optional double, default 1e-5
//       UG_FIELD_INTS(my_cfg, "stages", stages, 0, 1 << 20),  // int stages[4]: exactly 4 items
//   };
//   static const ug_cfg_schema schema = {fields, sizeof fields / sizeof fields[0], sizeof(my_cfg)};
//   ug_cfg_read(&schema, &cfg, root, NULL, &err);
//
// Errors name the key, in one form (reading: UG_ERR_FORMAT; --set: UG_ERR_ARG, "--set: "
// first):
//   key "depth": missing
//   key "depth": expected an integer, got a string
//   key "depth": 1000000000 is not a valid size: it is over 64
//   key "stages": expected 4 items, got 3
//   key "stages"[2]: expected an integer, got 2.5
#ifndef UG_CONFIG_H
#define UG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/error.h"
#include "engine/json.h"

enum { UG_CFG_STR_MAX = 32 }; // bytes of a string value, terminator included

// The C type of a value (or of each item of an array).
typedef enum ug_cfg_kind {
    UG_CFG_INT,    // int: a size, count or index, in [min, max]
    UG_CFG_DOUBLE, // double
    UG_CFG_FLOAT,  // float (written in its shortest float form)
    UG_CFG_BOOL,   // bool
    UG_CFG_STRING, // char[UG_CFG_STR_MAX]
} ug_cfg_kind;

typedef struct ug_cfg_field {
    const char *key;
    ug_cfg_kind kind;
    size_t off;               // offset of the value (or the first item) in the struct
    size_t size;              // bytes of the member (ug_cfg_schema_check compares with kind x items)
    int min_items, max_items; // arrays: accepted lengths (equal: fixed length); scalars: 0, 0
    size_t count_off;         // arrays of variable length: offset of the int item count
    int min, max;             // UG_CFG_INT: accepted values
    bool optional;            // an absent key takes the default instead of being an error
    double dflt;              // default of an optional number or bool
    const char *dflt_str;     // default of an optional string
    const double *dflt_items; // default of an optional fixed-length number array
} ug_cfg_field;

typedef struct ug_cfg_schema {
    const ug_cfg_field *fields;
    int n;
    size_t size; // of the struct
} ug_cfg_schema;

// Table rows. T: the struct, m: its member. The kind follows the member's C type.
#define UG_CFG_KIND_(x)                                                                                      \
    _Generic((x), int: UG_CFG_INT, double: UG_CFG_DOUBLE, float: UG_CFG_FLOAT, bool: UG_CFG_BOOL, char *: UG_CFG_STRING)
#define UG_CFG_ITEMS_(T, m) ((int)(sizeof(((T *)0)->m) / sizeof(((T *)0)->m[0])))
#define UG_CFG_AT_(T, m)    .off = offsetof(T, m), .size = sizeof(((T *)0)->m)
// Required scalars: an int in [lo, hi]; a number, bool or string.
#define UG_FIELD_INT(T, k, m, lo, hi)                                                                        \
    { .key = k, .kind = UG_CFG_INT, UG_CFG_AT_(T, m), .min = lo, .max = hi }
#define UG_FIELD_VALUE(T, k, m)                                                                              \
    { .key = k, .kind = UG_CFG_KIND_(((T *)0)->m), UG_CFG_AT_(T, m) }
// Optional scalars with their default.
#define UG_FIELD_INT_OR(T, k, m, lo, hi, d)                                                                  \
    { .key = k, .kind = UG_CFG_INT, UG_CFG_AT_(T, m), .min = lo, .max = hi, .optional = true, .dflt = d }
#define UG_FIELD_VALUE_OR(T, k, m, d)                                                                        \
    { .key = k, .kind = UG_CFG_KIND_(((T *)0)->m), UG_CFG_AT_(T, m), .optional = true, .dflt = d }
#define UG_FIELD_STRING_OR(T, k, m, d)                                                                       \
    { .key = k, .kind = UG_CFG_STRING, UG_CFG_AT_(T, m), .optional = true, .dflt_str = d }
// Arrays filling the whole member m[n]: of ints in [lo, hi]; of numbers with a default.
#define UG_FIELD_INTS(T, k, m, lo, hi)                                                                       \
    {                                                                                                        \
        .key = k, .kind = UG_CFG_INT, UG_CFG_AT_(T, m), .min_items = UG_CFG_ITEMS_(T, m),                    \
        .max_items = UG_CFG_ITEMS_(T, m), .min = lo, .max = hi                                               \
    }
#define UG_FIELD_NUMBERS_OR(T, k, m, d)                                                                      \
    {                                                                                                        \
        .key = k, .kind = UG_CFG_KIND_(((T *)0)->m[0]), UG_CFG_AT_(T, m), .min_items = UG_CFG_ITEMS_(T, m),  \
        .max_items = UG_CFG_ITEMS_(T, m), .optional = true, .dflt_items = d                                  \
    }
// Arrays of 0 to n items (ints in [lo, hi], or strings), their count in the int member cnt.
#define UG_FIELD_INT_LIST(T, k, m, cnt, lo, hi)                                                              \
    {                                                                                                        \
        .key = k, .kind = UG_CFG_INT, UG_CFG_AT_(T, m), .max_items = UG_CFG_ITEMS_(T, m),                    \
        .count_off = offsetof(T, cnt), .min = lo, .max = hi                                                  \
    }
#define UG_FIELD_STRING_LIST(T, k, m, cnt)                                                                   \
    {                                                                                                        \
        .key = k, .kind = UG_CFG_STRING, UG_CFG_AT_(T, m), .max_items = UG_CFG_ITEMS_(T, m),                 \
        .count_off = offsetof(T, cnt)                                                                        \
    }

// Fills every field whose key starts with prefix (NULL: all) from the JSON object obj, in
// table order; absent optional fields take their default. Other keys of obj are ignored.
// The first problem is the error (UG_ERR_FORMAT), naming the key.
ug_status ug_cfg_read(const ug_cfg_schema *s, void *cfg, const ug_json *obj, const char *prefix, ug_err *err);

// Zeroes cfg, then gives every optional field its default (the start of a struct that is
// filled field by field, as the packer does from the shapes).
void ug_cfg_defaults(const ug_cfg_schema *s, void *cfg);

// Applies one "key=value" (value in JSON: 4, 0.5, true, [2,2,18,2], "GN"; a string may also be
// a bare word) with the same checks as ug_cfg_read. *which (if which is non-NULL) gets the
// field set. Errors are UG_ERR_ARG.
ug_status ug_cfg_set(const ug_cfg_schema *s, void *cfg, const char *kv, const ug_cfg_field **which,
                     ug_err *err);

// Writes every field as one compact JSON object in table order (*out malloc'ed). Values are
// written as they are, not checked.
ug_status ug_cfg_write(const ug_cfg_schema *s, const void *cfg, char **out, ug_err *err);

// The field with this key, or NULL.
const ug_cfg_field *ug_cfg_find(const ug_cfg_schema *s, const char *key, size_t key_len);

// Consistency of a table (for tests): keys sorted and unique (so written JSON has sorted
// keys), members inside the struct with sizes that match the kind and item count, sane
// ranges, defaults in range.
ug_status ug_cfg_schema_check(const ug_cfg_schema *s, ug_err *err);

#endif
