// engine/config.c — see config.h.
#include "engine/config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t item_size(ug_cfg_kind k) {
    switch (k) {
    case UG_CFG_INT: return sizeof(int);
    case UG_CFG_DOUBLE: return sizeof(double);
    case UG_CFG_FLOAT: return sizeof(float);
    case UG_CFG_BOOL: return sizeof(bool);
    case UG_CFG_STRING: return UG_CFG_STR_MAX;
    }
    return 0;
}

static void *item_at(const ug_cfg_field *f, void *cfg, int i) {
    return (char *)cfg + f->off + (size_t)i * item_size(f->kind);
}

static bool variable_length(const ug_cfg_field *f) {
    return f->min_items < f->max_items;
}

// ---- one value -----------------------------------------------------------------------------

// Stores the JSON value v as one item of field f; `what` names it in errors ('key "k"' or
// 'key "k"[i]').
static ug_status store_item(const ug_cfg_field *f, void *dst, const ug_json *v, const char *what,
                            ug_err *err) {
    ug_status st;
    switch (f->kind) {
    case UG_CFG_INT: {
        int64_t x;
        if ((st = ug_json_as_int(v, what, &x, err)) != UG_OK) return st;
        if (x < f->min || x > f->max)
            return ug_errf(err, UG_ERR_FORMAT, "%s: %lld is not a valid size: it is %s %d", what,
                           (long long)x, x < f->min ? "under" : "over", x < f->min ? f->min : f->max);
        *(int *)dst = (int)x;
        return UG_OK;
    }
    case UG_CFG_DOUBLE:
    case UG_CFG_FLOAT: {
        double x;
        if ((st = ug_json_as_number(v, what, &x, err)) != UG_OK) return st;
        if (f->kind == UG_CFG_DOUBLE) {
            *(double *)dst = x;
        } else {
            if (!isfinite((float)x)) // 1e39 is a finite double but no float
                return ug_errf(err, UG_ERR_FORMAT, "%s: %g does not fit a float", what, x);
            *(float *)dst = (float)x;
        }
        return UG_OK;
    }
    case UG_CFG_BOOL:
        if (v->type != UG_JSON_BOOL)
            return ug_errf(err, UG_ERR_FORMAT, "%s: expected true or false, got %s", what,
                           ug_json_a_type(v->type));
        *(bool *)dst = v->boolean;
        return UG_OK;
    case UG_CFG_STRING:
        if (v->type != UG_JSON_STRING)
            return ug_errf(err, UG_ERR_FORMAT, "%s: expected a string, got %s", what,
                           ug_json_a_type(v->type));
        if (v->len >= UG_CFG_STR_MAX || strlen(v->str) != v->len)
            return ug_errf(err, UG_ERR_FORMAT, "%s: expected a string of at most %d bytes", what,
                           UG_CFG_STR_MAX - 1);
        // A --set bare word is not checked by the JSON parser; the writer takes UTF-8 only.
        if (!ug_utf8_valid(v->str, v->len))
            return ug_errf(err, UG_ERR_FORMAT, "%s: the string is not valid UTF-8", what);
        memcpy(dst, v->str, v->len + 1);
        return UG_OK;
    }
    return UG_OK;
}

// Stores v (a scalar, or an array of the field's items) into the field.
static ug_status store(const ug_cfg_field *f, void *cfg, const ug_json *v, ug_err *err) {
    char what[96];
    snprintf(what, sizeof what, "key \"%s\"", f->key);
    if (!f->max_items) return store_item(f, item_at(f, cfg, 0), v, what, err);
    if (v->type != UG_JSON_ARRAY)
        return ug_errf(err, UG_ERR_FORMAT, "%s: expected an array, got %s", what, ug_json_a_type(v->type));
    if (v->len < (size_t)f->min_items || v->len > (size_t)f->max_items) {
        if (!variable_length(f))
            return ug_errf(err, UG_ERR_FORMAT, "%s: expected %d items, got %zu", what, f->max_items, v->len);
        return ug_errf(err, UG_ERR_FORMAT, "%s: expected %d to %d items, got %zu", what, f->min_items,
                       f->max_items, v->len);
    }
    for (size_t i = 0; i < v->len; i++) {
        snprintf(what, sizeof what, "key \"%s\"[%zu]", f->key, i);
        ug_status st = store_item(f, item_at(f, cfg, (int)i), ug_json_at(v, i), what, err);
        if (st != UG_OK) return st;
    }
    if (variable_length(f)) *(int *)((char *)cfg + f->count_off) = (int)v->len;
    return UG_OK;
}

static void store_default(const ug_cfg_field *f, void *cfg) {
    int n = f->max_items ? f->max_items : 1;
    for (int i = 0; i < n; i++) {
        void *dst = item_at(f, cfg, i);
        double d = f->dflt_items ? f->dflt_items[i] : f->dflt;
        switch (f->kind) {
        case UG_CFG_INT: *(int *)dst = (int)d; break;
        case UG_CFG_DOUBLE: *(double *)dst = d; break;
        case UG_CFG_FLOAT: *(float *)dst = (float)d; break;
        case UG_CFG_BOOL: *(bool *)dst = d != 0; break;
        case UG_CFG_STRING: snprintf(dst, UG_CFG_STR_MAX, "%s", f->dflt_str ? f->dflt_str : ""); break;
        }
    }
}

// ---- defaults, reading, --set, writing -----------------------------------------------------

void ug_cfg_defaults(const ug_cfg_schema *s, void *cfg) {
    memset(cfg, 0, s->size);
    for (int i = 0; i < s->n; i++)
        if (s->fields[i].optional) store_default(&s->fields[i], cfg);
}

ug_status ug_cfg_read(const ug_cfg_schema *s, void *cfg, const ug_json *obj, const char *prefix,
                      ug_err *err) {
    if (!obj || obj->type != UG_JSON_OBJECT) return ug_errf(err, UG_ERR_FORMAT, "expected a JSON object");
    size_t np = prefix ? strlen(prefix) : 0;
    for (int i = 0; i < s->n; i++) {
        const ug_cfg_field *f = &s->fields[i];
        if (np && strncmp(f->key, prefix, np)) continue;
        const ug_json *v = ug_json_get(obj, f->key);
        if (!v && !f->optional) return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": missing", f->key);
        if (!v) {
            store_default(f, cfg);
            continue;
        }
        ug_status st = store(f, cfg, v, err);
        if (st != UG_OK) return st;
    }
    return UG_OK;
}

const ug_cfg_field *ug_cfg_find(const ug_cfg_schema *s, const char *key, size_t key_len) {
    for (int i = 0; i < s->n; i++)
        if (strlen(s->fields[i].key) == key_len && !strncmp(s->fields[i].key, key, key_len))
            return &s->fields[i];
    return NULL;
}

ug_status ug_cfg_set(const ug_cfg_schema *s, void *cfg, const char *kv, const ug_cfg_field **which,
                     ug_err *err) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return ug_errf(err, UG_ERR_ARG, "--set '%s': expected key=value", kv);
    const ug_cfg_field *f = ug_cfg_find(s, kv, (size_t)(eq - kv));
    if (!f)
        return ug_errf(err, UG_ERR_ARG, "--set '%s': unknown config key '%.*s' for this architecture", kv,
                       (int)(eq - kv), kv);
    if (which) *which = f;
    const char *val = eq + 1;
    ug_json_doc *doc = NULL;
    ug_err jerr;
    const ug_json *v = NULL;
    if (ug_json_parse(&doc, val, strlen(val), "--set", &jerr) == UG_OK) v = ug_json_root(doc);
    // A string may be given as a bare word (GN), or as any text that is not a JSON string.
    ug_json word = {.type = UG_JSON_STRING, .str = val, .len = strlen(val)};
    if (f->kind == UG_CFG_STRING && !f->max_items && (!v || v->type != UG_JSON_STRING)) v = &word;
    ug_status st = v ? store(f, cfg, v, err)
                     : ug_errf(err, UG_ERR_FORMAT, "key \"%s\": '%s' is not a JSON value", f->key, val);
    ug_json_free(doc);
    if (st != UG_OK) {
        ug_err_prefix(err, "--set: ");
        err->code = UG_ERR_ARG;
        return UG_ERR_ARG;
    }
    return UG_OK;
}

static void write_item(ug_json_writer *w, const ug_cfg_field *f, const void *cfg, int i) {
    const void *p = item_at(f, (void *)cfg, i);
    switch (f->kind) {
    case UG_CFG_INT: ug_jw_int(w, *(const int *)p); break;
    case UG_CFG_DOUBLE: ug_jw_number(w, *(const double *)p); break;
    case UG_CFG_FLOAT: ug_jw_float(w, *(const float *)p); break;
    case UG_CFG_BOOL: ug_jw_bool(w, *(const bool *)p); break;
    case UG_CFG_STRING: ug_jw_string_n(w, p, strnlen(p, UG_CFG_STR_MAX - 1)); break;
    }
}

ug_status ug_cfg_write(const ug_cfg_schema *s, const void *cfg, char **out, ug_err *err) {
    ug_json_writer w;
    ug_jw_init(&w, 0);
    ug_jw_object_begin(&w);
    for (int i = 0; i < s->n; i++) {
        const ug_cfg_field *f = &s->fields[i];
        ug_jw_key(&w, f->key);
        if (!f->max_items) {
            write_item(&w, f, cfg, 0);
            continue;
        }
        int n = f->max_items;
        if (variable_length(f)) {
            n = *(const int *)((const char *)cfg + f->count_off);
            n = n < 0 ? 0 : n > f->max_items ? f->max_items : n;
        }
        ug_jw_array_begin(&w);
        for (int k = 0; k < n; k++)
            write_item(&w, f, cfg, k);
        ug_jw_array_end(&w);
    }
    ug_jw_object_end(&w);
    return ug_jw_finish(&w, out, NULL, err);
}

ug_status ug_cfg_schema_check(const ug_cfg_schema *s, ug_err *err) {
    for (int i = 0; i < s->n; i++) {
        const ug_cfg_field *f = &s->fields[i];
        size_t items = f->max_items ? (size_t)f->max_items : 1;
        if (i > 0 && strcmp(s->fields[i - 1].key, f->key) >= 0)
            return ug_errf(err, UG_ERR_ARG, "key \"%s\": not sorted after \"%s\"", f->key,
                           s->fields[i - 1].key);
        if (f->off + f->size > s->size || (variable_length(f) && f->count_off + sizeof(int) > s->size))
            return ug_errf(err, UG_ERR_ARG, "key \"%s\": member outside the %zu-byte struct", f->key,
                           s->size);
        if (f->size != items * item_size(f->kind))
            return ug_errf(err, UG_ERR_ARG, "key \"%s\": member of %zu bytes for %zu items of %zu", f->key,
                           f->size, items, item_size(f->kind));
        if (f->min_items < 0 || f->min_items > f->max_items)
            return ug_errf(err, UG_ERR_ARG, "key \"%s\": item counts %d to %d", f->key, f->min_items,
                           f->max_items);
        if (f->kind == UG_CFG_INT && f->min > f->max)
            return ug_errf(err, UG_ERR_ARG, "key \"%s\": range %d to %d", f->key, f->min, f->max);
        bool int_default_out =
            f->kind == UG_CFG_INT && !f->max_items && (f->dflt < f->min || f->dflt > f->max);
        if (f->optional &&
            (int_default_out || (f->max_items && !f->dflt_items) || (f->max_items && variable_length(f))))
            return ug_errf(err, UG_ERR_ARG,
                           "key \"%s\": a default out of range or for a variable-length array", f->key);
    }
    return UG_OK;
}
