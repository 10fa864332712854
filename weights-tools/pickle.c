// weights-tools/pickle.c — see pickle.h. Opcode semantics follow CPython's
// Lib/pickletools.py documentation (the opcode table and its stack effects); nothing here is
// ever imported, instantiated or called.
#include "weights-tools/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SHORT_MAX = 64 * 1024, // payloads up to this size get an in-memory NUL-terminated copy
    MAX_STACK = 1 << 22,   // values on the stack
    MAX_MARKS = 1 << 20,   // open MARKs
    MAX_OBJECTS = 1 << 22, // objects made in total
    OBJ_CHUNK = 4096,      // objects per allocation block
    TEXT_CHUNK = 1 << 16,  // bytes per string arena block
};

// Whitelist ids: what a GLOBAL means when it is called, instantiated or BUILT.
enum {
    WL_NONE = 0,
    WL_ORDERED_DICT,
    WL_DICT,
    WL_SET,
    WL_FROZENSET,
    WL_BYTES,
    WL_BYTEARRAY,
    WL_CODECS_ENCODE,
    WL_REBUILD_TENSOR,
    WL_REBUILD_TENSOR_V2,
    WL_REBUILD_PARAMETER,
    WL_REBUILD_FROM_TYPE_V2,
    WL_STORAGE,
    WL_NP_RECONSTRUCT,
    WL_NP_NDARRAY,
    WL_NP_DTYPE,
    WL_NP_FROMBUFFER,
};

static const struct {
    const char *module, *name;
    int wl;
    ug_dtype dtype; // storages
} whitelist[] = {
    {"collections", "OrderedDict", WL_ORDERED_DICT, 0},
    {"builtins", "dict", WL_DICT, 0},
    {"__builtin__", "dict", WL_DICT, 0},
    {"builtins", "set", WL_SET, 0},
    {"__builtin__", "set", WL_SET, 0},
    {"builtins", "frozenset", WL_FROZENSET, 0},
    {"__builtin__", "frozenset", WL_FROZENSET, 0},
    {"builtins", "bytes", WL_BYTES, 0},
    {"__builtin__", "bytes", WL_BYTES, 0},
    {"builtins", "bytearray", WL_BYTEARRAY, 0},
    {"__builtin__", "bytearray", WL_BYTEARRAY, 0},
    {"_codecs", "encode", WL_CODECS_ENCODE, 0},
    {"torch._utils", "_rebuild_tensor", WL_REBUILD_TENSOR, 0},
    {"torch._utils", "_rebuild_tensor_v2", WL_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_parameter", WL_REBUILD_PARAMETER, 0},
    {"torch._utils", "_rebuild_parameter_with_state", WL_REBUILD_PARAMETER, 0},
    {"torch._tensor", "_rebuild_from_type_v2", WL_REBUILD_FROM_TYPE_V2, 0},
    {"torch", "FloatStorage", WL_STORAGE, UG_F32},
    {"torch", "HalfStorage", WL_STORAGE, UG_F16},
    {"torch", "BFloat16Storage", WL_STORAGE, UG_BF16},
    {"torch", "DoubleStorage", WL_STORAGE, UG_F64},
    {"torch", "LongStorage", WL_STORAGE, UG_I64},
    {"torch", "IntStorage", WL_STORAGE, UG_I32},
    {"torch", "ByteStorage", WL_STORAGE, UG_U8},
    {"torch", "BoolStorage", WL_STORAGE, UG_BOOL},
    // Storages we recognise but cannot represent: tensors on them are invalid if needed.
    {"torch", "ShortStorage", WL_STORAGE, UG_DTYPE_COUNT},
    {"torch", "CharStorage", WL_STORAGE, UG_DTYPE_COUNT},
    {"torch", "ComplexFloatStorage", WL_STORAGE, UG_DTYPE_COUNT},
    {"torch", "ComplexDoubleStorage", WL_STORAGE, UG_DTYPE_COUNT},
    {"numpy.core.multiarray", "_reconstruct", WL_NP_RECONSTRUCT, 0},
    {"numpy._core.multiarray", "_reconstruct", WL_NP_RECONSTRUCT, 0},
    {"numpy", "ndarray", WL_NP_NDARRAY, 0},
    {"numpy", "dtype", WL_NP_DTYPE, 0},
    {"numpy.core.numeric", "_frombuffer", WL_NP_FROMBUFFER, 0},
    {"numpy._core.numeric", "_frombuffer", WL_NP_FROMBUFFER, 0},
};

typedef struct obj_block {
    struct obj_block *next;
    size_t used;
    pk_obj objs[OBJ_CHUNK];
} obj_block;

typedef struct text_block {
    struct text_block *next;
    size_t used, cap;
    char data[];
} text_block;

struct pk_machine {
    const uint8_t *in;
    size_t size, pos;
    const char *name;
    obj_block *objs;
    size_t nobjs;
    text_block *text;
    pk_obj **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    pk_obj **memo;
    size_t memo_cap, memo_count;
    size_t ops;
    pk_obj none_obj;
    ug_err *err;
    ug_status st;
};

// ---- allocation ----------------------------------------------------------------------------

static ug_status fail(pk_machine *m, ug_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ug_status fail(pk_machine *m, ug_status code, const char *fmt, ...) {
    if (m->st) return m->st;
    char msg[UG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    m->st = ug_errf(m->err, code, "%s: pickle: %s", m->name, msg);
    return m->st;
}

static pk_obj *new_obj(pk_machine *m, pk_kind kind) {
    if (m->nobjs >= MAX_OBJECTS) {
        fail(m, UG_ERR_NOMEM, "more than %d objects", MAX_OBJECTS);
        return NULL;
    }
    if (!m->objs || m->objs->used == OBJ_CHUNK) {
        obj_block *b = malloc(sizeof *b);
        if (!b) {
            fail(m, UG_ERR_NOMEM, "out of memory");
            return NULL;
        }
        b->next = m->objs;
        b->used = 0;
        m->objs = b;
    }
    pk_obj *o = &m->objs->objs[m->objs->used++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    m->nobjs++;
    return o;
}

static char *new_text(pk_machine *m, const void *src, size_t n) {
    size_t need = n + 1;
    if (!m->text || m->text->cap - m->text->used < need) {
        size_t cap = need > TEXT_CHUNK ? need : TEXT_CHUNK;
        text_block *b = malloc(sizeof *b + cap);
        if (!b) {
            fail(m, UG_ERR_NOMEM, "out of memory");
            return NULL;
        }
        b->next = m->text;
        b->used = 0;
        b->cap = cap;
        m->text = b;
    }
    char *p = m->text->data + m->text->used;
    memcpy(p, src, n);
    p[n] = '\0';
    m->text->used += need;
    return p;
}

static char *text_printf(pk_machine *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *text_printf(pk_machine *m, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
    return new_text(m, buf, (size_t)n);
}

static bool seq_push(pk_machine *m, pk_obj *s, pk_obj *v) {
    if (s->seq.n == s->seq.cap) {
        size_t cap = s->seq.cap ? s->seq.cap * 2 : 4;
        pk_obj **items = realloc(s->seq.items, cap * sizeof *items);
        if (!items) {
            fail(m, UG_ERR_NOMEM, "out of memory");
            return false;
        }
        s->seq.items = items;
        s->seq.cap = cap;
    }
    s->seq.items[s->seq.n++] = v;
    return true;
}

static pk_obj *make_invalid(pk_machine *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static pk_obj *make_invalid(pk_machine *m, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pk_obj *o = new_obj(m, PK_INVALID);
    if (o && !(o->invalid = new_text(m, buf, strlen(buf)))) return NULL;
    return o;
}

static pk_obj *make_placeholder(pk_machine *m, const char *origin) {
    pk_obj *o = new_obj(m, PK_OBJECT);
    if (o) o->origin = origin;
    return o;
}

// ---- the stack -----------------------------------------------------------------------------

static bool push(pk_machine *m, pk_obj *o) {
    if (!o) return false;
    if (m->sp == m->stack_cap) {
        if (m->sp >= MAX_STACK) {
            fail(m, UG_ERR_NOMEM, "stack deeper than %d values", MAX_STACK);
            return false;
        }
        size_t cap = m->stack_cap ? m->stack_cap * 2 : 256;
        pk_obj **s = realloc(m->stack, cap * sizeof *s);
        if (!s) {
            fail(m, UG_ERR_NOMEM, "out of memory");
            return false;
        }
        m->stack = s;
        m->stack_cap = cap;
    }
    m->stack[m->sp++] = o;
    return true;
}

// The stack top must be above the innermost MARK: opcodes never reach below it.
static size_t floor_(const pk_machine *m) {
    return m->nmarks ? m->marks[m->nmarks - 1] : 0;
}

static pk_obj *pop(pk_machine *m) {
    if (m->sp <= floor_(m)) {
        fail(m, UG_ERR_FORMAT, "stack underflow at offset %zu", m->pos);
        return NULL;
    }
    return m->stack[--m->sp];
}

static pk_obj *top(pk_machine *m) {
    if (m->sp <= floor_(m)) {
        fail(m, UG_ERR_FORMAT, "stack underflow at offset %zu", m->pos);
        return NULL;
    }
    return m->stack[m->sp - 1];
}

// Pops back to the innermost MARK; items [*first, m->sp) are the marked values (still valid
// in the stack array until the next push).
static bool pop_mark(pk_machine *m, size_t *first, size_t *n) {
    if (!m->nmarks) {
        fail(m, UG_ERR_FORMAT, "no MARK on the stack at offset %zu", m->pos);
        return false;
    }
    size_t k = m->marks[--m->nmarks];
    *first = k;
    *n = m->sp - k;
    m->sp = k;
    return true;
}

// ---- input ---------------------------------------------------------------------------------

static const uint8_t *take(pk_machine *m, size_t n) {
    if (n > m->size - m->pos) {
        fail(m, UG_ERR_FORMAT, "truncated: %zu bytes wanted at offset %zu, %zu left", n, m->pos,
             m->size - m->pos);
        return NULL;
    }
    const uint8_t *p = m->in + m->pos;
    m->pos += n;
    return p;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static pk_obj *make_payload(pk_machine *m, pk_kind kind, uint64_t len) {
    if (len > m->size - m->pos) {
        fail(m, UG_ERR_FORMAT, "truncated: a %s of %llu bytes at offset %zu, %zu bytes left",
             kind == PK_STR ? "string" : "bytes", (unsigned long long)len, m->pos, m->size - m->pos);
        return NULL;
    }
    pk_obj *o = new_obj(m, kind);
    if (!o) return NULL;
    o->str.p.off = m->pos;
    o->str.p.len = len;
    o->str.p.utf8_latin1 = false;
    if (len <= SHORT_MAX && !(o->str.s = new_text(m, m->in + m->pos, (size_t)len))) return NULL;
    m->pos += (size_t)len;
    return o;
}

// Reads "text\n" (GLOBAL operands).
static const char *read_line(pk_machine *m) {
    const uint8_t *nl = memchr(m->in + m->pos, '\n', m->size - m->pos);
    if (!nl) {
        fail(m, UG_ERR_FORMAT, "truncated: unterminated GLOBAL operand at offset %zu", m->pos);
        return NULL;
    }
    size_t n = (size_t)(nl - (m->in + m->pos));
    if (n > 1024) {
        fail(m, UG_ERR_FORMAT, "GLOBAL operand of %zu bytes at offset %zu", n, m->pos);
        return NULL;
    }
    const char *s = new_text(m, m->in + m->pos, n);
    m->pos += n + 1;
    if (s && strlen(s) != n) {
        fail(m, UG_ERR_FORMAT, "NUL byte in a GLOBAL operand at offset %zu", m->pos);
        return NULL;
    }
    return s;
}

static pk_obj *make_global(pk_machine *m, const char *module, const char *name) {
    pk_obj *o = new_obj(m, PK_GLOBAL);
    if (!o) return NULL;
    o->global.module = module;
    o->global.name = name;
    for (size_t i = 0; i < sizeof whitelist / sizeof whitelist[0]; i++)
        if (!strcmp(whitelist[i].module, module) && !strcmp(whitelist[i].name, name))
            o->global.wl = (int)i + 1;
    return o;
}

static int wl_kind(const pk_obj *g) {
    return g->kind == PK_GLOBAL && g->global.wl ? whitelist[g->global.wl - 1].wl : WL_NONE;
}

static const char *global_origin(pk_machine *m, const pk_obj *g) {
    return text_printf(m, "%s.%s", g->global.module, g->global.name);
}

// ---- reconstructors --------------------------------------------------------------------------

bool pk_is_str(const pk_obj *o, const char *s) {
    return o && o->kind == PK_STR && o->str.s && o->str.p.len == strlen(s) &&
           !memcmp(o->str.s, s, o->str.p.len);
}

static bool get_int(const pk_obj *o, int64_t *v) {
    if (!o) return false;
    if (o->kind == PK_INT) {
        *v = o->i;
        return true;
    }
    if (o->kind == PK_BOOL) {
        *v = o->b;
        return true;
    }
    return false;
}

// Reads a tuple/list of ints (sizes, strides, shapes) of at most UG_MAX_DIMS entries.
static const char *get_dims(const pk_obj *o, int64_t *dims, int *ndim) {
    if (!o || (o->kind != PK_TUPLE && o->kind != PK_LIST)) return "is not a tuple";
    if (o->seq.n > UG_MAX_DIMS) return "has more than 5 dimensions";
    for (size_t i = 0; i < o->seq.n; i++) {
        if (!get_int(o->seq.items[i], &dims[i])) return "holds a non-integer";
        if (dims[i] < 0 || dims[i] > ((int64_t)1 << 40)) return "holds a negative or absurd value";
    }
    *ndim = (int)o->seq.n;
    return NULL;
}

static pk_obj *rebuild_tensor(pk_machine *m, const pk_obj *args) {
    char what[160];
    if (args->seq.n < 4) return make_invalid(m, "_rebuild_tensor_v2 with %zu arguments", args->seq.n);
    const pk_obj *storage = args->seq.items[0];
    if (storage->kind != PK_STORAGE)
        return make_invalid(m, "a tensor whose storage is %s", pk_describe(storage, what, sizeof what));
    int64_t offset;
    if (!get_int(args->seq.items[1], &offset) || offset < 0)
        return make_invalid(m, "a tensor with a bad storage offset");
    int64_t size[UG_MAX_DIMS], stride[UG_MAX_DIMS];
    int nd = 0, nd2 = 0;
    const char *why = get_dims(args->seq.items[2], size, &nd);
    if (why) return make_invalid(m, "a tensor whose size %s", why);
    if ((why = get_dims(args->seq.items[3], stride, &nd2)))
        return make_invalid(m, "a tensor whose stride %s", why);
    if (nd != nd2) return make_invalid(m, "a tensor with %d sizes but %d strides", nd, nd2);
    // Highest element index touched; every factor is < 2^40 so products are checked by
    // division before they can overflow.
    int64_t numel = 1, extent = 0;
    for (int d = 0; d < nd; d++) {
        if (size[d] == 0)
            numel = 0;
        else if (numel && numel > ((int64_t)1 << 50) / size[d])
            return make_invalid(m, "a tensor with an absurd size");
        else
            numel *= size[d];
    }
    if (numel > 0) {
        for (int d = 0; d < nd; d++) {
            if (stride[d] && size[d] - 1 > (((int64_t)1 << 60) - extent) / stride[d])
                return make_invalid(m, "a tensor with an absurd stride");
            extent += (size[d] - 1) * stride[d];
        }
        if (offset > storage->storage.numel || extent >= storage->storage.numel - offset)
            return make_invalid(m,
                                "a tensor reaching element %lld of storage '%s' (%lld elements; offset %lld, "
                                "last index %lld)",
                                (long long)(offset + extent), storage->storage.key,
                                (long long)storage->storage.numel, (long long)offset, (long long)extent);
    } else if (offset > storage->storage.numel) {
        return make_invalid(m, "a tensor with storage offset %lld beyond storage '%s' (%lld elements)",
                            (long long)offset, storage->storage.key, (long long)storage->storage.numel);
    }
    if (storage->storage.dtype == UG_DTYPE_COUNT)
        return make_invalid(m, "a tensor on a torch.%s (dtype not supported)", storage->storage.type_name);
    pk_obj *t = new_obj(m, PK_TENSOR);
    if (!t) return NULL;
    t->tensor.storage = (pk_obj *)storage;
    t->tensor.offset = offset;
    t->tensor.ndim = nd;
    memcpy(t->tensor.size, size, sizeof size);
    memcpy(t->tensor.stride, stride, sizeof stride);
    return t;
}

static bool np_dtype_from_name(const char *s, ug_dtype *dt) {
    static const struct {
        const char *name;
        ug_dtype dt;
    } map[] = {{"f4", UG_F32}, {"f2", UG_F16}, {"f8", UG_F64}, {"i8", UG_I64},
               {"i4", UG_I32}, {"u1", UG_U8},  {"b1", UG_BOOL}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(s, map[i].name)) {
            *dt = map[i].dt;
            return true;
        }
    return false;
}

static pk_obj *np_dtype(pk_machine *m, const pk_obj *args) {
    if (args->seq.n < 1 || args->seq.items[0]->kind != PK_STR || !args->seq.items[0]->str.s)
        return make_invalid(m, "numpy.dtype called without a type code");
    const char *name = args->seq.items[0]->str.s;
    pk_obj *o = new_obj(m, PK_DTYPE);
    if (!o || !(o->dtype.name = new_text(m, name, strlen(name)))) return NULL;
    o->dtype.byteorder = '=';
    if (!np_dtype_from_name(name, &o->dtype.dtype)) o->dtype.dtype = UG_DTYPE_COUNT;
    return o;
}

// The array payload: bytes (raw or latin-1), or a Python 2 str holding raw bytes.
static bool is_payload(const pk_obj *o) {
    return o && (o->kind == PK_BYTES || o->kind == PK_STR);
}

static void np_set(pk_machine *m, pk_obj *a, const pk_obj *shape, const pk_obj *dtype, bool fortran,
                   pk_obj *data) {
    char what[160];
    const char *why = get_dims(shape, a->nd.shape, &a->nd.ndim);
    pk_obj *bad = NULL;
    if (why)
        bad = make_invalid(m, "a numpy array whose shape %s", why);
    else if (!dtype || dtype->kind != PK_DTYPE)
        bad = make_invalid(m, "a numpy array whose dtype is %s", pk_describe(dtype, what, sizeof what));
    else if (dtype->dtype.dtype == UG_DTYPE_COUNT)
        bad = make_invalid(m, "a numpy array of dtype '%s' (not supported)", dtype->dtype.name);
    else if (dtype->dtype.byteorder == '>' && ug_dtype_size(dtype->dtype.dtype) > 1)
        bad = make_invalid(m, "a big-endian numpy array (not supported)");
    else if (!is_payload(data))
        bad = make_invalid(m, "a numpy array whose data is %s", pk_describe(data, what, sizeof what));
    if (bad) {
        *a = *bad;
        return;
    }
    a->nd.dtype = dtype->dtype.dtype;
    a->nd.fortran = fortran;
    a->nd.data = data;
    a->nd.built = true;
}

// REDUCE / NEWOBJ of a whitelisted global. `args` is a tuple.
static pk_obj *call_whitelisted(pk_machine *m, const pk_obj *g, const pk_obj *args, bool newobj) {
    int wl = wl_kind(g);
    size_t n = args->seq.n;
    pk_obj *const *a = args->seq.items;
    switch (wl) {
    case WL_ORDERED_DICT:
    case WL_DICT: {
        pk_obj *d = new_obj(m, PK_DICT);
        if (!d) return NULL;
        if (n == 0) return d;
        // OrderedDict([[k, v], ...]) as protocol 0/1 write it.
        if (n == 1 && (a[0]->kind == PK_LIST || a[0]->kind == PK_TUPLE)) {
            for (size_t i = 0; i < a[0]->seq.n; i++) {
                const pk_obj *kv = a[0]->seq.items[i];
                if ((kv->kind != PK_TUPLE && kv->kind != PK_LIST) || kv->seq.n != 2)
                    return make_invalid(m, "%s.%s called with a non-pair item", g->global.module,
                                        g->global.name);
                if (!seq_push(m, d, kv->seq.items[0]) || !seq_push(m, d, kv->seq.items[1])) return NULL;
            }
            return d;
        }
        return make_invalid(m, "%s.%s called with unexpected arguments", g->global.module, g->global.name);
    }
    case WL_SET:
    case WL_FROZENSET: {
        pk_obj *s = new_obj(m, PK_SET);
        if (!s) return NULL;
        if (n == 1 && (a[0]->kind == PK_LIST || a[0]->kind == PK_TUPLE || a[0]->kind == PK_SET))
            for (size_t i = 0; i < a[0]->seq.n; i++)
                if (!seq_push(m, s, a[0]->seq.items[i])) return NULL;
        return s;
    }
    case WL_BYTES:
    case WL_BYTEARRAY:
    case WL_CODECS_ENCODE: {
        if (n == 0) {
            pk_obj *b = new_obj(m, PK_BYTES);
            if (b) b->str.s = "";
            return b;
        }
        if (a[0]->kind == PK_BYTES && n == 1) return a[0];
        if (a[0]->kind == PK_STR && n == 2 && (pk_is_str(a[1], "latin1") || pk_is_str(a[1], "latin-1"))) {
            pk_obj *b = new_obj(m, PK_BYTES);
            if (!b) return NULL;
            // A BINUNICODE str carries each byte as a code point (decoded on read); a Python 2
            // BINSTRING str already holds the raw bytes. The payload flag says which.
            b->str = a[0]->str;
            if (b->str.p.utf8_latin1 && b->str.s) {
                // Decode short payloads now so later comparisons see the real bytes.
                size_t len = (size_t)b->str.p.len, k = 0;
                char *t = new_text(m, b->str.s, len);
                if (!t) return NULL;
                const uint8_t *u = (const uint8_t *)b->str.s;
                for (size_t i = 0; i < len; i++) {
                    if (u[i] < 0x80)
                        t[k++] = (char)u[i];
                    else if ((u[i] & 0xFE) == 0xC2 && i + 1 < len && (u[i + 1] & 0xC0) == 0x80) {
                        t[k++] = (char)(((u[i] & 0x03) << 6) | (u[i + 1] & 0x3F));
                        i++;
                    } else {
                        return make_invalid(m, "_codecs.encode of a str that is not latin-1");
                    }
                }
                t[k] = '\0';
                b->str.s = t;
            }
            return b;
        }
        return make_invalid(m, "%s.%s called with unexpected arguments", g->global.module, g->global.name);
    }
    case WL_REBUILD_TENSOR:
    case WL_REBUILD_TENSOR_V2: return rebuild_tensor(m, args);
    case WL_REBUILD_PARAMETER:
        if (n >= 1 && (a[0]->kind == PK_TENSOR || a[0]->kind == PK_INVALID)) return a[0];
        return make_invalid(m, "_rebuild_parameter of a non-tensor");
    case WL_REBUILD_FROM_TYPE_V2:
        // (func, new_type, args, state): the tensor is func(*args); the type only adds
        // Python behaviour.
        if (n >= 3 && wl_kind(a[0]) != WL_NONE && a[2]->kind == PK_TUPLE)
            return call_whitelisted(m, a[0], a[2], false);
        return make_invalid(m, "_rebuild_from_type_v2 with unexpected arguments");
    case WL_NP_RECONSTRUCT: {
        if (n < 1 || wl_kind(a[0]) != WL_NP_NDARRAY) {
            if (n >= 1 && a[0]->kind == PK_GLOBAL) return make_placeholder(m, global_origin(m, a[0]));
            return make_invalid(m, "numpy _reconstruct of something other than numpy.ndarray");
        }
        return new_obj(m, PK_NDARRAY);
    }
    case WL_NP_DTYPE: return np_dtype(m, args);
    case WL_NP_FROMBUFFER: {
        // _frombuffer(buffer, dtype, shape, order) — numpy's protocol-5 reduction.
        if (n != 4) return make_invalid(m, "numpy _frombuffer with %zu arguments", n);
        pk_obj *arr = new_obj(m, PK_NDARRAY);
        if (!arr) return NULL;
        np_set(m, arr, a[2], a[1], pk_is_str(a[3], "F"), a[0]);
        return arr;
    }
    case WL_NP_NDARRAY:
    case WL_STORAGE:
    default: break;
    }
    (void)newobj;
    return make_placeholder(m, global_origin(m, g));
}

static pk_obj *call(pk_machine *m, pk_obj *callable, pk_obj *args, bool newobj) {
    if (!callable || !args) return NULL;
    if (callable->kind != PK_GLOBAL) {
        // Calling a placeholder's result (or anything else): still nothing runs.
        return make_placeholder(m, callable->kind == PK_OBJECT ? callable->origin : "a non-callable value");
    }
    if (args->kind != PK_TUPLE)
        return make_invalid(m, "%s.%s called with non-tuple arguments", callable->global.module,
                            callable->global.name);
    if (wl_kind(callable) == WL_NONE) return make_placeholder(m, global_origin(m, callable));
    return call_whitelisted(m, callable, args, newobj);
}

static void build(pk_machine *m, pk_obj *obj, const pk_obj *state) {
    if (obj->kind == PK_NDARRAY && !obj->nd.built) {
        // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata)) or the 4-tuple form.
        if (state->kind != PK_TUPLE || (state->seq.n != 5 && state->seq.n != 4)) {
            pk_obj *bad = make_invalid(m, "a numpy array with an unexpected state");
            if (bad) *obj = *bad;
            return;
        }
        pk_obj *const *s = state->seq.items + (state->seq.n == 5);
        int64_t fortran = 0;
        get_int(s[2], &fortran);
        np_set(m, obj, s[0], s[1], fortran != 0, s[3]);
    } else if (obj->kind == PK_DTYPE) {
        // dtype.__setstate__((version, byteorder, ...)).
        if (state->kind == PK_TUPLE && state->seq.n >= 2 && state->seq.items[1]->kind == PK_STR &&
            state->seq.items[1]->str.s && state->seq.items[1]->str.p.len == 1)
            obj->dtype.byteorder = state->seq.items[1]->str.s[0];
    }
    // Everything else (OrderedDict._metadata, Parameter attributes, placeholders) keeps no
    // state: nothing of it is needed and nothing is called.
}

// ---- the interpreter -----------------------------------------------------------------------

static bool memo_put(pk_machine *m, uint64_t idx, pk_obj *o) {
    if (!o) return false;
    // A real pickler numbers memo entries consecutively, so an index far beyond the number of
    // opcodes run so far is hostile.
    if (idx > 2 * m->ops + 1024) {
        fail(m, UG_ERR_FORMAT, "memo index %llu out of range at offset %zu", (unsigned long long)idx, m->pos);
        return false;
    }
    if (idx >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 256;
        while (cap <= idx)
            cap *= 2;
        pk_obj **mm = realloc(m->memo, cap * sizeof *mm);
        if (!mm) {
            fail(m, UG_ERR_NOMEM, "out of memory");
            return false;
        }
        memset(mm + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *mm);
        m->memo = mm;
        m->memo_cap = cap;
    }
    if (!m->memo[idx]) m->memo_count++;
    m->memo[idx] = o;
    return true;
}

static pk_obj *memo_get(pk_machine *m, uint64_t idx) {
    if (idx >= m->memo_cap || !m->memo[idx]) {
        fail(m, UG_ERR_FORMAT, "memo entry %llu used before it was set (offset %zu)", (unsigned long long)idx,
             m->pos);
        return NULL;
    }
    return m->memo[idx];
}

static pk_obj *make_tuple(pk_machine *m, pk_obj *const *items, size_t n) {
    pk_obj *t = new_obj(m, PK_TUPLE);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!seq_push(m, t, items[i])) return NULL;
    return t;
}

static pk_obj *make_str(pk_machine *m, uint64_t len, bool utf8) {
    pk_obj *o = make_payload(m, PK_STR, len);
    if (o) o->str.p.utf8_latin1 = utf8; // for a str: "the payload is UTF-8 text"
    return o;
}

static pk_obj *persistent(pk_machine *m, const pk_obj *pid) {
    // torch: ('storage', torch.<T>Storage, key, location, numel)
    char what[160];
    if (pid->kind != PK_TUPLE || pid->seq.n != 5 || !pk_is_str(pid->seq.items[0], "storage"))
        return make_invalid(m, "a persistent id that is %s, not a torch storage",
                            pk_describe(pid, what, sizeof what));
    pk_obj *const *a = pid->seq.items;
    if (wl_kind(a[1]) != WL_STORAGE)
        return make_invalid(m, "a storage of type %s", pk_describe(a[1], what, sizeof what));
    int64_t numel;
    if (a[2]->kind != PK_STR || !a[2]->str.s || !get_int(a[4], &numel) || numel < 0)
        return make_invalid(m, "a storage with a malformed persistent id");
    pk_obj *s = new_obj(m, PK_STORAGE);
    if (!s) return NULL;
    s->storage.dtype = whitelist[a[1]->global.wl - 1].dtype;
    s->storage.type_name = a[1]->global.name;
    s->storage.key = a[2]->str.s;
    s->storage.numel = numel;
    return s;
}

static const char *opname(uint8_t op) {
    switch (op) {
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'F': return "FLOAT";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'g': return "GET";
    case 'p': return "PUT";
    case 'P': return "PERSID";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    }
    return NULL;
}

static ug_status run(pk_machine *m, pk_obj **root) {
    const uint8_t *p;
    for (;;) {
        if (m->st) return m->st;
        size_t at = m->pos;
        if (!(p = take(m, 1))) return m->st;
        uint8_t op = *p;
        m->ops++;
        pk_obj *o = NULL, *a, *b;
        size_t first, n;
        switch (op) {
        case 0x80: // PROTO
            if (!(p = take(m, 1))) break;
            if (*p > 5) fail(m, UG_ERR_UNSUPPORTED, "protocol %d (at most 5 is supported)", *p);
            break;
        case 0x95: // FRAME: framing is only a read-ahead hint
            take(m, 8);
            break;
        case '.': // STOP
            if ((o = pop(m))) *root = o;
            return m->st;
        case '(': // MARK
            if (m->nmarks == m->marks_cap) {
                if (m->nmarks >= MAX_MARKS) {
                    fail(m, UG_ERR_NOMEM, "more than %d nested MARKs", MAX_MARKS);
                    break;
                }
                size_t cap = m->marks_cap ? m->marks_cap * 2 : 64;
                size_t *mk = realloc(m->marks, cap * sizeof *mk);
                if (!mk) {
                    fail(m, UG_ERR_NOMEM, "out of memory");
                    break;
                }
                m->marks = mk;
                m->marks_cap = cap;
            }
            m->marks[m->nmarks++] = m->sp;
            break;
        case '0': pop(m); break;                  // POP
        case '1': pop_mark(m, &first, &n); break; // POP_MARK
        case '2':                                 // DUP
            if ((o = top(m))) push(m, o);
            break;
        case 'N': push(m, &m->none_obj); break;
        case 0x88: // NEWTRUE
        case 0x89: // NEWFALSE
            if ((o = new_obj(m, PK_BOOL))) o->b = op == 0x88;
            push(m, o);
            break;
        case 'J':   // BININT
        case 'K':   // BININT1
        case 'M': { // BININT2
            int w = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            if (!(p = take(m, (size_t)w))) break;
            if ((o = new_obj(m, PK_INT))) o->i = op == 'J' ? (int64_t)(int32_t)le(p, 4) : (int64_t)le(p, w);
            push(m, o);
            break;
        }
        case 0x8a:   // LONG1
        case 0x8b: { // LONG4
            if (!(p = take(m, op == 0x8a ? 1 : 4))) break;
            uint64_t len = le(p, op == 0x8a ? 1 : 4);
            if (len > m->size - m->pos) {
                fail(m, UG_ERR_FORMAT, "truncated: LONG of %llu bytes at offset %zu", (unsigned long long)len,
                     at);
                break;
            }
            p = take(m, (size_t)len);
            if (len <= 8) {
                uint64_t v = le(p, (int)len);
                if (len > 0 && len < 8 && (p[len - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * len); // sign-extend
                if ((o = new_obj(m, PK_INT))) o->i = (int64_t)v;
            } else {
                o = new_obj(m, PK_BIGINT);
            }
            push(m, o);
            break;
        }
        case 'G': { // BINFLOAT (big-endian)
            if (!(p = take(m, 8))) break;
            uint64_t v = 0;
            for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
            if ((o = new_obj(m, PK_FLOAT))) memcpy(&o->f, &v, sizeof v);
            push(m, o);
            break;
        }
        case 'X':    // BINUNICODE
        case 0x8c:   // SHORT_BINUNICODE
        case 0x8d: { // BINUNICODE8
            int w = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
            if (!(p = take(m, (size_t)w))) break;
            push(m, make_str(m, le(p, w), true));
            break;
        }
        case 'T':   // BINSTRING (Python 2 str: raw bytes)
        case 'U': { // SHORT_BINSTRING
            int w = op == 'T' ? 4 : 1;
            if (!(p = take(m, (size_t)w))) break;
            uint64_t len = le(p, w);
            if (op == 'T' && (len >> 31)) {
                fail(m, UG_ERR_FORMAT, "BINSTRING with negative length at offset %zu", at);
                break;
            }
            push(m, make_str(m, len, false));
            break;
        }
        case 'B':    // BINBYTES
        case 'C':    // SHORT_BINBYTES
        case 0x8e:   // BINBYTES8
        case 0x96: { // BYTEARRAY8
            int w = op == 'B' ? 4 : op == 'C' ? 1 : 8;
            if (!(p = take(m, (size_t)w))) break;
            push(m, make_payload(m, PK_BYTES, le(p, w)));
            break;
        }
        case ')': push(m, new_obj(m, PK_TUPLE)); break; // EMPTY_TUPLE
        case ']': push(m, new_obj(m, PK_LIST)); break;  // EMPTY_LIST
        case '}': push(m, new_obj(m, PK_DICT)); break;  // EMPTY_DICT
        case 0x8f: push(m, new_obj(m, PK_SET)); break;  // EMPTY_SET
        case 0x85:                                      // TUPLE1
        case 0x86:                                      // TUPLE2
        case 0x87: {                                    // TUPLE3
            size_t k = (size_t)(op - 0x84);
            if (m->sp < floor_(m) + k) {
                fail(m, UG_ERR_FORMAT, "stack underflow at offset %zu", at);
                break;
            }
            m->sp -= k;
            push(m, make_tuple(m, m->stack + m->sp, k));
            break;
        }
        case 't':  // TUPLE
        case 'l':  // LIST
        case 0x91: // FROZENSET
            if (!pop_mark(m, &first, &n)) break;
            if ((o = make_tuple(m, m->stack + first, n)))
                o->kind = op == 't' ? PK_TUPLE : op == 'l' ? PK_LIST : PK_SET;
            push(m, o);
            break;
        case 'd': // DICT
            if (!pop_mark(m, &first, &n)) break;
            if (n % 2) {
                fail(m, UG_ERR_FORMAT, "DICT with an odd number of items at offset %zu", at);
                break;
            }
            if ((o = make_tuple(m, m->stack + first, n))) o->kind = PK_DICT;
            push(m, o);
            break;
        case 'a': // APPEND
            if (!(b = pop(m)) || !(a = top(m))) break;
            if (a->kind == PK_LIST)
                seq_push(m, a, b);
            else if (a->kind != PK_OBJECT)
                fail(m, UG_ERR_FORMAT, "APPEND to %s at offset %zu", pk_kind_name(a->kind), at);
            break;
        case 'e':  // APPENDS
        case 0x90: // ADDITEMS
            if (!pop_mark(m, &first, &n) || !(a = top(m))) break;
            if (a->kind == (op == 'e' ? PK_LIST : PK_SET)) {
                for (size_t i = 0; i < n && !m->st; i++)
                    seq_push(m, a, m->stack[first + i]);
            } else if (a->kind != PK_OBJECT) {
                fail(m, UG_ERR_FORMAT, "%s to %s at offset %zu", op == 'e' ? "APPENDS" : "ADDITEMS",
                     pk_kind_name(a->kind), at);
            }
            break;
        case 's': // SETITEM
            if (!(b = pop(m)) || !(o = pop(m)) || !(a = top(m))) break;
            if (a->kind == PK_DICT) {
                if (seq_push(m, a, o)) seq_push(m, a, b);
            } else if (a->kind != PK_OBJECT) {
                fail(m, UG_ERR_FORMAT, "SETITEM on %s at offset %zu", pk_kind_name(a->kind), at);
            }
            break;
        case 'u': // SETITEMS
            if (!pop_mark(m, &first, &n) || !(a = top(m))) break;
            if (n % 2)
                fail(m, UG_ERR_FORMAT, "SETITEMS with an odd number of items at offset %zu", at);
            else if (a->kind == PK_DICT)
                for (size_t i = 0; i < n && !m->st; i++)
                    seq_push(m, a, m->stack[first + i]);
            else if (a->kind != PK_OBJECT)
                fail(m, UG_ERR_FORMAT, "SETITEMS on %s at offset %zu", pk_kind_name(a->kind), at);
            break;
        case 'q':   // BINPUT
        case 'r': { // LONG_BINPUT
            if (!(p = take(m, op == 'q' ? 1 : 4))) break;
            if ((o = top(m))) memo_put(m, le(p, op == 'q' ? 1 : 4), o);
            break;
        }
        case 0x94: // MEMOIZE
            if ((o = top(m))) memo_put(m, m->memo_count, o);
            break;
        case 'h':   // BINGET
        case 'j': { // LONG_BINGET
            if (!(p = take(m, op == 'h' ? 1 : 4))) break;
            push(m, memo_get(m, le(p, op == 'h' ? 1 : 4)));
            break;
        }
        case 'c': { // GLOBAL
            const char *mod = read_line(m), *name = mod ? read_line(m) : NULL;
            if (name) push(m, make_global(m, mod, name));
            break;
        }
        case 0x93: // STACK_GLOBAL
            if (!(b = pop(m)) || !(a = pop(m))) break;
            if (a->kind != PK_STR || b->kind != PK_STR || !a->str.s || !b->str.s ||
                strlen(a->str.s) != a->str.p.len || strlen(b->str.s) != b->str.p.len) {
                fail(m, UG_ERR_FORMAT, "STACK_GLOBAL without two strings at offset %zu", at);
                break;
            }
            push(m, make_global(m, a->str.s, b->str.s));
            break;
        case 'R': // REDUCE
            if (!(b = pop(m)) || !(a = pop(m))) break;
            push(m, call(m, a, b, false));
            break;
        case 0x81: // NEWOBJ
            if (!(b = pop(m)) || !(a = pop(m))) break;
            push(m, call(m, a, b, true));
            break;
        case 0x92: // NEWOBJ_EX (cls, args, kwargs): keyword arguments are ignored
            if (!pop(m) || !(b = pop(m)) || !(a = pop(m))) break;
            push(m, call(m, a, b, true));
            break;
        case 'b': // BUILD
            if (!(b = pop(m)) || !(a = top(m))) break;
            build(m, a, b);
            break;
        case 'Q': // BINPERSID
            if ((a = pop(m))) push(m, persistent(m, a));
            break;
        default: {
            const char *nm = opname(op);
            if (nm)
                fail(m, UG_ERR_UNSUPPORTED, "opcode %s (0x%02x) at offset %zu is not supported", nm, op, at);
            else
                fail(m, UG_ERR_FORMAT, "unknown opcode 0x%02x at offset %zu", op, at);
            break;
        }
        }
    }
}

ug_status pk_load(pk_machine **out, const void *data, size_t size, const char *name, pk_obj **root,
                  ug_err *err) {
    *out = NULL;
    *root = NULL;
    pk_machine *m = calloc(1, sizeof *m);
    if (!m) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
    m->in = data;
    m->size = size;
    m->err = err;
    m->none_obj.kind = PK_NONE;
    if (!(m->name = new_text(m, name, strlen(name)))) {
        ug_status st = m->st ? m->st : ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
        pk_free(m);
        return st;
    }
    ug_status st = run(m, root);
    if (st) {
        *root = NULL;
        pk_free(m);
        return st;
    }
    // The interpreter's working memory is no longer needed; objects stay.
    free(m->stack);
    free(m->marks);
    free(m->memo);
    m->stack = NULL;
    m->marks = NULL;
    m->memo = NULL;
    *out = m;
    return UG_OK;
}

void pk_free(pk_machine *m) {
    if (!m) return;
    for (obj_block *b = m->objs; b;) {
        for (size_t i = 0; i < b->used; i++) {
            pk_kind k = b->objs[i].kind;
            if (k == PK_TUPLE || k == PK_LIST || k == PK_DICT || k == PK_SET) free(b->objs[i].seq.items);
        }
        obj_block *next = b->next;
        free(b);
        b = next;
    }
    for (text_block *t = m->text; t;) {
        text_block *next = t->next;
        free(t);
        t = next;
    }
    free(m->stack);
    free(m->marks);
    free(m->memo);
    free(m);
}

ug_status pk_payload_read(const pk_machine *m, const pk_payload *p, void *dst, size_t n, ug_err *err) {
    if (p->off > m->size || p->len > m->size - p->off)
        return ug_errf(err, UG_ERR_INTERNAL, "%s: payload out of range", m->name);
    const uint8_t *s = m->in + p->off;
    if (!p->utf8_latin1) {
        if (p->len != n)
            return ug_errf(err, UG_ERR_FORMAT, "%s: data holds %llu bytes, expected %zu", m->name,
                           (unsigned long long)p->len, n);
        memcpy(dst, s, n);
        return UG_OK;
    }
    uint8_t *d = dst;
    size_t k = 0;
    for (uint64_t i = 0; i < p->len; i++) {
        uint8_t c = s[i];
        if (k == n)
            return ug_errf(err, UG_ERR_FORMAT, "%s: latin-1 data longer than the expected %zu bytes", m->name,
                           n);
        if (c < 0x80) {
            d[k++] = c;
        } else if ((c & 0xFE) == 0xC2 && i + 1 < p->len && (s[i + 1] & 0xC0) == 0x80) {
            d[k++] = (uint8_t)(((c & 0x03) << 6) | (s[i + 1] & 0x3F));
            i++;
        } else {
            return ug_errf(err, UG_ERR_FORMAT,
                           "%s: latin-1 data has an invalid UTF-8 sequence at offset %llu", m->name,
                           (unsigned long long)(p->off + i));
        }
    }
    if (k != n)
        return ug_errf(err, UG_ERR_FORMAT, "%s: latin-1 data holds %zu bytes, expected %zu", m->name, k, n);
    return UG_OK;
}

const void *pk_input(const pk_machine *m) {
    return m->in;
}

const char *pk_kind_name(pk_kind k) {
    static const char *names[] = {"None",        "bool",    "int",    "big int", "float", "str",
                                  "bytes",       "tuple",   "list",   "dict",    "set",   "global",
                                  "placeholder", "storage", "tensor", "ndarray", "dtype", "invalid"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

const char *pk_describe(const pk_obj *o, char *buf, size_t n) {
    if (!o)
        snprintf(buf, n, "nothing");
    else if (o->kind == PK_OBJECT)
        snprintf(buf, n, "an object made by %s (not whitelisted, never called)", o->origin);
    else if (o->kind == PK_GLOBAL)
        snprintf(buf, n, "the global %s.%s%s", o->global.module, o->global.name,
                 o->global.wl ? "" : " (not whitelisted)");
    else if (o->kind == PK_INVALID)
        snprintf(buf, n, "an invalid object: %s", o->invalid);
    else if (o->kind == PK_NDARRAY && !o->nd.built)
        snprintf(buf, n, "a numpy array without state");
    else {
        const char *k = pk_kind_name(o->kind);
        snprintf(buf, n, "%s %s", strchr("aeiou", k[0]) ? "an" : "a", k);
    }
    return buf;
}

const pk_obj *pk_dict_get(const pk_obj *d, const char *key) {
    if (!d || d->kind != PK_DICT) return NULL;
    const pk_obj *found = NULL;
    for (size_t i = 0; i + 1 < d->seq.n; i += 2)
        if (pk_is_str(d->seq.items[i], key)) found = d->seq.items[i + 1]; // the last assignment wins
    return found;
}
