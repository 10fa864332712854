// tests/fuzz/fuzz_json.c — libFuzzer target for the JSON parser and writer.
//
// Any input must parse or fail cleanly. A document that parses is written back with the
// writer (compact or indented), parsed again, and must come out identical: same types, keys,
// strings byte for byte, numbers equal, integers exact.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/json.h"

static void emit(ug_json_writer *w, const ug_json *v) {
    switch (v->type) {
    case UG_JSON_NULL: ug_jw_null(w); break;
    case UG_JSON_BOOL: ug_jw_bool(w, v->boolean); break;
    case UG_JSON_NUMBER:
        if (v->is_int)
            ug_jw_int(w, v->integer);
        else
            ug_jw_number(w, v->number);
        break;
    case UG_JSON_STRING: ug_jw_string_n(w, v->str, v->len); break;
    case UG_JSON_ARRAY:
        ug_jw_array_begin(w);
        for (size_t i = 0; i < v->len; i++)
            emit(w, &v->items[i]);
        ug_jw_array_end(w);
        break;
    case UG_JSON_OBJECT:
        ug_jw_object_begin(w);
        for (size_t i = 0; i < v->len; i++) {
            ug_jw_key_n(w, v->items[i].key, v->items[i].key_len);
            emit(w, &v->items[i]);
        }
        ug_jw_object_end(w);
        break;
    }
}

static int same(const ug_json *a, const ug_json *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case UG_JSON_NULL: return 1;
    case UG_JSON_BOOL: return a->boolean == b->boolean;
    case UG_JSON_NUMBER:
        if (a->is_int != b->is_int) return 0;
        return a->is_int ? a->integer == b->integer : a->number == b->number;
    case UG_JSON_STRING: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case UG_JSON_ARRAY:
    case UG_JSON_OBJECT:
        if (a->len != b->len) return 0;
        for (size_t i = 0; i < a->len; i++) {
            const ug_json *x = &a->items[i], *y = &b->items[i];
            if (a->type == UG_JSON_OBJECT &&
                (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0))
                return 0;
            if (!same(x, y)) return 0;
        }
        return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // Small limits keep each run fast; the default depth is what is being tested.
    ug_json_limits lim = {1 << 20, UG_JSON_DEFAULT_MAX_DEPTH, 1 << 16};
    ug_json_doc *doc;
    ug_err err;
    if (ug_json_parse_ex(&doc, (const char *)data, size, "fuzz", &lim, &err) != UG_OK) {
        if (doc != NULL || err.msg[0] == '\0') abort();
        return 0;
    }
    ug_json_writer w;
    ug_jw_init(&w, size % 3);
    emit(&w, ug_json_root(doc));
    char *text;
    size_t len;
    if (ug_jw_finish(&w, &text, &len, &err) != UG_OK) abort(); // parsed input is always writable
    ug_json_doc *again;
    ug_json_limits lim2 = {SIZE_MAX, UG_JSON_DEFAULT_MAX_DEPTH, 1 << 16};
    if (ug_json_parse_ex(&again, text, len, "rewritten", &lim2, &err) != UG_OK) abort();
    if (!same(ug_json_root(doc), ug_json_root(again))) abort();
    ug_json_free(again);
    free(text);
    ug_json_free(doc);
    return 0;
}
