// engine/json.h — a small strict JSON (RFC 8259) parser into a DOM, and a writer.
//
// Used for the safetensors header, the model config string in its metadata, prompt files,
// instances.json and metrics.json.
//
// Parser: strict — no comments, no trailing commas, no NaN/Infinity, no leading zeros or '+',
// only space/tab/CR/LF as whitespace, strings must be valid UTF-8 without raw control
// characters, \uXXXX escapes must pair surrogates, duplicate keys in one object are an error,
// nothing but whitespace may follow the top-level value. Objects keep their keys in source
// order. Every allocation is checked, and the input size, the nesting depth and the number
// of values are bounded (ug_json_limits) so a hostile input cannot exhaust the stack or
// memory. Errors name the input, the byte offset (with line and column) and the problem:
//   "prompts.json: JSON error at byte 17 (line 2, column 5): expected ',' or ']' in array"
//
// Numbers are kept as a double and, when the value is integral and fits in int64, as an
// exact int64 as well: plain integer literals are read digit by digit, so 9007199254740993
// (2^53 + 1) stays exact in `integer` even though `number` rounds.
//
// Numbers are converted with strtod/snprintf, which follow LC_NUMERIC: nothing in ugains
// calls setlocale, so they run in the "C" locale.
#ifndef UG_JSON_H
#define UG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

typedef enum ug_json_type {
    UG_JSON_NULL = 0,
    UG_JSON_BOOL,
    UG_JSON_NUMBER,
    UG_JSON_STRING,
    UG_JSON_ARRAY,
    UG_JSON_OBJECT,
} ug_json_type;

typedef struct ug_json ug_json;
struct ug_json {
    ug_json_type type;
    bool boolean;    // UG_JSON_BOOL
    bool is_int;     // UG_JSON_NUMBER: integral and within int64; `integer` is then exact
    double number;   // UG_JSON_NUMBER
    int64_t integer; // UG_JSON_NUMBER when is_int
    const char *str; // UG_JSON_STRING: UTF-8, NUL-terminated (may hold \u0000 escapes: see len)
    size_t len;      // string bytes without the terminator, or element count of array/object
    ug_json *items;  // UG_JSON_ARRAY elements / UG_JSON_OBJECT members, in source order
    const char *key; // for an object member: its key (NUL-terminated), else NULL
    size_t key_len;  // key bytes without the terminator
    size_t offset;   // byte offset of the value in the source text (for callers' messages)
};

// The parsed document owns every node and string; free it with ug_json_free.
typedef struct ug_json_doc ug_json_doc;

typedef struct ug_json_limits {
    size_t max_bytes; // input size
    int max_depth;    // nesting of arrays/objects; the top-level container is depth 1
    size_t max_nodes; // values in the document
} ug_json_limits;

enum { UG_JSON_DEFAULT_MAX_DEPTH = 64 };
#define UG_JSON_DEFAULT_MAX_BYTES ((size_t)1 << 28)
#define UG_JSON_DEFAULT_MAX_NODES ((size_t)1 << 22)

// Parses len bytes of text (no terminator needed). `what` names the input in errors. On
// failure *doc is NULL and err says why (UG_ERR_FORMAT, or UG_ERR_NOMEM for limits/memory).
ug_status ug_json_parse(ug_json_doc **doc, const char *text, size_t len, const char *what, ug_err *err);
// The same with explicit limits (NULL = defaults).
ug_status ug_json_parse_ex(ug_json_doc **doc, const char *text, size_t len, const char *what,
                           const ug_json_limits *limits, ug_err *err);
// Reads and parses a whole file; errors name the path.
ug_status ug_json_parse_file(ug_json_doc **doc, const char *path, ug_err *err);
void ug_json_free(ug_json_doc *doc);
const ug_json *ug_json_root(const ug_json_doc *doc);

const char *ug_json_type_name(ug_json_type t); // "null", "bool", "number", ...
const char *ug_json_a_type(ug_json_type t);    // "null", "a bool", "a number", ... (for messages)
// Member of an object by key, or NULL (also when obj is NULL or not an object).
const ug_json *ug_json_get(const ug_json *obj, const char *key);
// Element i of an array or member i of an object, or NULL when out of range.
const ug_json *ug_json_at(const ug_json *v, size_t i);

// Typed access for config and prompt files. Errors name the key (callers prefix the file):
//   key "encoder_depth": expected an integer, got a string
ug_status ug_json_get_typed(const ug_json *obj, const char *key, ug_json_type type, const ug_json **out,
                            ug_err *err);
ug_status ug_json_get_int(const ug_json *obj, const char *key, int64_t *out, ug_err *err);
ug_status ug_json_get_number(const ug_json *obj, const char *key, double *out, ug_err *err);
ug_status ug_json_get_bool(const ug_json *obj, const char *key, bool *out, ug_err *err);
ug_status ug_json_get_string(const ug_json *obj, const char *key, const char **out, ug_err *err);
// The same on a value; `what` names it in the error ("points[3][1]").
ug_status ug_json_as_int(const ug_json *v, const char *what, int64_t *out, ug_err *err);
ug_status ug_json_as_number(const ug_json *v, const char *what, double *out, ug_err *err);

// True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool ug_utf8_valid(const char *s, size_t n);
// A short one-line quotable excerpt of untrusted text for error messages: printable ASCII is
// kept, other bytes become \xHH, '"' and '\' are escaped, longer texts end in "...".
const char *ug_json_excerpt(char *buf, size_t bufsize, const char *s, size_t n);

// Writer: builds JSON text in memory with separators, nesting and string escaping handled.
//   ug_json_writer w; ug_jw_init(&w, 1);
//   ug_jw_object_begin(&w); ug_jw_key(&w, "pAP"); ug_jw_number(&w, 81.2); ug_jw_object_end(&w);
//   char *text; if (ug_jw_finish(&w, &text, NULL, err) == UG_OK) { ...; free(text); }
// Misuse (a value where a key is due, unbalanced ends, invalid UTF-8, a non-finite number)
// and allocation failure are sticky: later calls do nothing and ug_jw_finish reports the
// first problem. indent 0 writes compact text (",", ":"); indent > 0 writes one value per
// line indented by that many spaces per level, like Python's json.dump(indent=n).
typedef struct ug_json_writer {
    char *buf;
    size_t len, cap;
    int indent;
    int depth;
    bool in_object[UG_JSON_DEFAULT_MAX_DEPTH]; // container kind per level
    size_t count[UG_JSON_DEFAULT_MAX_DEPTH];   // values written per level
    bool key_pending;                          // a key was written, its value is due
    bool done;                                 // the top-level value is complete
    ug_status status;
    char msg[128];
} ug_json_writer;

void ug_jw_init(ug_json_writer *w, int indent);
void ug_jw_object_begin(ug_json_writer *w);
void ug_jw_object_end(ug_json_writer *w);
void ug_jw_array_begin(ug_json_writer *w);
void ug_jw_array_end(ug_json_writer *w);
void ug_jw_key(ug_json_writer *w, const char *key);
void ug_jw_key_n(ug_json_writer *w, const char *key, size_t n);
void ug_jw_string(ug_json_writer *w, const char *s);
void ug_jw_string_n(ug_json_writer *w, const char *s, size_t n);
void ug_jw_int(ug_json_writer *w, int64_t v);
// Shortest text that reads back to the same double / float (the float form suits values
// computed in f32, e.g. scores: 0.9 rather than 0.8999999761581421). Integers below 1e21 are
// plain digits (30, never 3e+01); other values use plain notation unless the exponent form is
// strictly shorter (0.001, 1e-07). Non-finite -> error.
void ug_jw_number(ug_json_writer *w, double v);
void ug_jw_float(ug_json_writer *w, float v);
void ug_jw_bool(ug_json_writer *w, bool v);
void ug_jw_null(ug_json_writer *w);
// Hands over the text (malloc'ed, NUL-terminated; *len without the NUL if len is non-NULL)
// and resets w. On error nothing is handed over. Either way w holds no memory afterwards.
ug_status ug_jw_finish(ug_json_writer *w, char **text, size_t *len, ug_err *err);
// Releases w without producing text (for error paths).
void ug_jw_free(ug_json_writer *w);

#endif
