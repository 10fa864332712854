// weights-tools/torch_writer.c — see torch_writer.h. Record layouts: PKWARE APPNOTE 6.3;
// opcodes: CPython Lib/pickletools.py.
#include "weights-tools/torch_writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct zent {
    char *name;
    uint64_t local, size;
    uint32_t crc;
} zent;

struct ug_zipw {
    FILE *fp;
    char *path;
    bool zip64;
    zent *e;
    int n, cap;
    bool open_entry;
    uLong crc;
    uint64_t written;
};

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    put16(p, (uint16_t)v), put16(p + 2, (uint16_t)(v >> 16));
}
static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)v), put32(p + 4, (uint32_t)(v >> 32));
}

static ug_status wr(ug_zipw *w, const void *p, size_t n, ug_err *err) {
    if (n && fwrite(p, 1, n, w->fp) != n)
        return ug_errf(err, UG_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    return UG_OK;
}

ug_status ug_zipw_create(ug_zipw **out, const char *path, bool force_zip64, ug_err *err) {
    *out = NULL;
    ug_zipw *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!(w->fp = fopen(path, "wb"))) {
        ug_status st = ug_errf(err, UG_ERR_IO, "%s: %s", path, strerror(errno));
        free(w->path);
        free(w);
        return st;
    }
    w->zip64 = force_zip64;
    *out = w;
    return UG_OK;
}

ug_status ug_zipw_begin(ug_zipw *w, const char *name, ug_err *err) {
    size_t nlen = strlen(name);
    if (w->open_entry || nlen > 0xFFFF) return ug_errf(err, UG_ERR_ARG, "%s: bad entry '%s'", w->path, name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        zent *e = realloc(w->e, (size_t)cap * sizeof *e);
        if (!e) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", w->path);
        w->e = e;
        w->cap = cap;
    }
    zent *e = &w->e[w->n];
    if (!(e->name = strdup(name))) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", w->path);
    w->n++;
    off_t pos = ftello(w->fp);
    if (pos < 0) return ug_errf(err, UG_ERR_IO, "%s: %s", w->path, strerror(errno));
    e->local = (uint64_t)pos;
    // Extra: [zip64: id 1, sizes] + ['FB' padding so the data starts 64-byte aligned].
    size_t z64 = w->zip64 ? 20 : 0;
    uint64_t base = e->local + 30 + nlen + z64 + 4;
    size_t pad = (size_t)((64 - base % 64) % 64);
    uint8_t h[30 + 20 + 4 + 64] = {0};
    put32(h, 0x04034b50);
    put16(h + 4, w->zip64 ? 45 : 20);
    put16(h + 26, (uint16_t)nlen);
    put16(h + 28, (uint16_t)(z64 + 4 + pad));
    ug_status st = wr(w, h, 30, err);
    if (!st) st = wr(w, name, nlen, err);
    uint8_t x[20 + 4 + 64] = {0};
    size_t k = 0;
    if (w->zip64) {
        put16(x, 0x0001);
        put16(x + 2, 16);
        k = 20;
    }
    put16(x + k, 0x4246);
    put16(x + k + 2, (uint16_t)pad);
    if (!st) st = wr(w, x, k + 4 + pad, err);
    w->open_entry = true;
    w->crc = crc32(0L, Z_NULL, 0);
    w->written = 0;
    return st;
}

ug_status ug_zipw_write(ug_zipw *w, const void *data, size_t n, ug_err *err) {
    const uint8_t *p = data;
    for (size_t off = 0; off < n; off += 1u << 30) {
        size_t k = n - off < (1u << 30) ? n - off : (1u << 30);
        w->crc = crc32(w->crc, p + off, (uInt)k);
    }
    w->written += n;
    return wr(w, data, n, err);
}

ug_status ug_zipw_end(ug_zipw *w, ug_err *err) {
    zent *e = &w->e[w->n - 1];
    e->size = w->written;
    e->crc = (uint32_t)w->crc;
    w->open_entry = false;
    if (!w->zip64 && e->size >= 0xFFFFFFFFu)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "%s: entry '%s' needs zip64 (create the writer with force_zip64)", w->path, e->name);
    off_t end = ftello(w->fp);
    uint8_t h[12];
    put32(h, e->crc);
    put32(h + 4, w->zip64 ? 0xFFFFFFFFu : (uint32_t)e->size);
    put32(h + 8, w->zip64 ? 0xFFFFFFFFu : (uint32_t)e->size);
    ug_status st = UG_OK;
    if (end < 0 || fseeko(w->fp, (off_t)e->local + 14, SEEK_SET))
        return ug_errf(err, UG_ERR_IO, "%s: seek failed", w->path);
    st = wr(w, h, 12, err);
    if (!st && w->zip64) {
        uint8_t s[16];
        put64(s, e->size);
        put64(s + 8, e->size);
        if (fseeko(w->fp, (off_t)(e->local + 30 + strlen(e->name) + 4), SEEK_SET))
            return ug_errf(err, UG_ERR_IO, "%s: seek failed", w->path);
        st = wr(w, s, 16, err);
    }
    if (!st && fseeko(w->fp, end, SEEK_SET)) return ug_errf(err, UG_ERR_IO, "%s: seek failed", w->path);
    return st;
}

static void zipw_free(ug_zipw *w) {
    for (int i = 0; i < w->n; i++)
        free(w->e[i].name);
    free(w->e);
    free(w->path);
    free(w);
}

ug_status ug_zipw_finish(ug_zipw *w, ug_err *err) {
    ug_status st = UG_OK;
    off_t cd = ftello(w->fp);
    bool z64 = w->zip64 || (uint64_t)cd >= 0xFFFFFFFFu || w->n >= 0xFFFF;
    for (int i = 0; i < w->n && !st; i++) {
        const zent *e = &w->e[i];
        bool ez = w->zip64 || e->local >= 0xFFFFFFFFu;
        size_t nlen = strlen(e->name);
        uint8_t h[46] = {0}, x[28] = {0};
        put32(h, 0x02014b50);
        put16(h + 4, ez ? 45 : 20);
        put16(h + 6, ez ? 45 : 20);
        put32(h + 16, e->crc);
        put32(h + 20, w->zip64 ? 0xFFFFFFFFu : (uint32_t)e->size);
        put32(h + 24, w->zip64 ? 0xFFFFFFFFu : (uint32_t)e->size);
        put16(h + 28, (uint16_t)nlen);
        size_t xl = 0;
        if (ez) {
            // Fields present = those set to 0xFFFFFFFF above, in the order size, csize, offset.
            put16(x, 0x0001);
            xl = 4;
            if (w->zip64) {
                put64(x + xl, e->size);
                put64(x + xl + 8, e->size);
                xl += 16;
            }
            put64(x + xl, e->local);
            xl += 8;
            put16(x + 2, (uint16_t)(xl - 4));
        }
        put16(h + 30, (uint16_t)xl);
        put32(h + 42, ez ? 0xFFFFFFFFu : (uint32_t)e->local);
        if (!(st = wr(w, h, 46, err)) && !(st = wr(w, e->name, nlen, err))) st = wr(w, x, xl, err);
    }
    off_t cd_end = ftello(w->fp);
    uint64_t cd_size = (uint64_t)(cd_end - cd);
    if (!st && z64) {
        uint8_t r[56 + 20] = {0};
        put32(r, 0x06064b50);
        put64(r + 4, 44);
        put16(r + 12, 45);
        put16(r + 14, 45);
        put64(r + 24, (uint64_t)w->n);
        put64(r + 32, (uint64_t)w->n);
        put64(r + 40, cd_size);
        put64(r + 48, (uint64_t)cd);
        put32(r + 56, 0x07064b50);
        put64(r + 56 + 8, (uint64_t)cd_end);
        put32(r + 56 + 16, 1);
        st = wr(w, r, sizeof r, err);
    }
    if (!st) {
        uint8_t r[22] = {0};
        put32(r, 0x06054b50);
        put16(r + 8, z64 ? 0xFFFF : (uint16_t)w->n);
        put16(r + 10, z64 ? 0xFFFF : (uint16_t)w->n);
        put32(r + 12, z64 ? 0xFFFFFFFFu : (uint32_t)cd_size);
        put32(r + 16, z64 ? 0xFFFFFFFFu : (uint32_t)cd);
        st = wr(w, r, sizeof r, err);
    }
    if (fclose(w->fp) != 0 && !st)
        st = ug_errf(err, UG_ERR_IO, "%s: close failed: %s", w->path, strerror(errno));
    if (st) remove(w->path);
    zipw_free(w);
    return st;
}

void ug_zipw_abort(ug_zipw *w) {
    if (!w) return;
    fclose(w->fp);
    remove(w->path);
    zipw_free(w);
}

// ---- pickle --------------------------------------------------------------------------------

void ug_pkw_raw(ug_pkw *w, const void *p, size_t n) {
    if (w->oom) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *b = realloc(w->buf, cap);
        if (!b) {
            w->oom = true;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void ug_pkw_init(ug_pkw *w) {
    memset(w, 0, sizeof *w);
    ug_pkw_raw(w, "\x80\x02", 2);
}

void ug_pkw_free(ug_pkw *w) {
    free(w->buf);
    memset(w, 0, sizeof *w);
}

bool ug_pkw_ok(const ug_pkw *w) {
    return !w->oom;
}
void ug_pkw_op(ug_pkw *w, uint8_t op) {
    ug_pkw_raw(w, &op, 1);
}

void ug_pkw_global(ug_pkw *w, const char *module, const char *name) {
    ug_pkw_op(w, 'c');
    ug_pkw_raw(w, module, strlen(module));
    ug_pkw_op(w, '\n');
    ug_pkw_raw(w, name, strlen(name));
    ug_pkw_op(w, '\n');
}

static void pkw_unicode(ug_pkw *w, const void *s, size_t n) {
    uint8_t h[5] = {'X'};
    put32(h + 1, (uint32_t)n);
    ug_pkw_raw(w, h, 5);
    ug_pkw_raw(w, s, n);
}

void ug_pkw_str(ug_pkw *w, const char *s) {
    pkw_unicode(w, s, strlen(s));
}

void ug_pkw_int(ug_pkw *w, int64_t v) {
    uint8_t h[10];
    if (v >= 0 && v < 256) {
        h[0] = 'K', h[1] = (uint8_t)v;
        ug_pkw_raw(w, h, 2);
    } else if (v >= 0 && v < 65536) {
        h[0] = 'M';
        put16(h + 1, (uint16_t)v);
        ug_pkw_raw(w, h, 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        h[0] = 'J';
        put32(h + 1, (uint32_t)(int32_t)v);
        ug_pkw_raw(w, h, 5);
    } else {
        h[0] = 0x8a, h[1] = 8;
        put64(h + 2, (uint64_t)v);
        ug_pkw_raw(w, h, 10);
    }
}

void ug_pkw_ints(ug_pkw *w, int n, const int64_t *v) {
    ug_pkw_op(w, '(');
    for (int i = 0; i < n; i++)
        ug_pkw_int(w, v[i]);
    ug_pkw_op(w, 't');
}

static const char *storage_type(ug_dtype dt) {
    switch (dt) {
    case UG_F16: return "HalfStorage";
    case UG_BF16: return "BFloat16Storage";
    case UG_F64: return "DoubleStorage";
    case UG_I64: return "LongStorage";
    case UG_I32: return "IntStorage";
    case UG_U8: return "ByteStorage";
    case UG_BOOL: return "BoolStorage";
    default: return "FloatStorage";
    }
}

void ug_pkw_tensor(ug_pkw *w, ug_dtype dtype, const char *key, int64_t numel, int64_t offset, int ndim,
                   const int64_t *size, const int64_t *stride) {
    ug_pkw_global(w, "torch._utils", "_rebuild_tensor_v2");
    ug_pkw_op(w, '(');
    ug_pkw_op(w, '(');
    ug_pkw_str(w, "storage");
    ug_pkw_global(w, "torch", storage_type(dtype));
    ug_pkw_str(w, key);
    ug_pkw_str(w, "cpu");
    ug_pkw_int(w, numel);
    ug_pkw_op(w, 't');
    ug_pkw_op(w, 'Q'); // BINPERSID
    ug_pkw_int(w, offset);
    ug_pkw_ints(w, ndim, size);
    ug_pkw_ints(w, ndim, stride);
    ug_pkw_op(w, 0x89); // NEWFALSE: requires_grad
    ug_pkw_global(w, "collections", "OrderedDict");
    ug_pkw_op(w, ')');
    ug_pkw_op(w, 'R');
    ug_pkw_op(w, 't');
    ug_pkw_op(w, 'R');
}

// bytes as protocol 2 carries them: _codecs.encode(<str of code points = bytes>, 'latin1').
static void pkw_latin1(ug_pkw *w, const uint8_t *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] < 0x80 ? 1 : 2;
    uint8_t *u = malloc(k ? k : 1);
    if (!u) {
        w->oom = true;
        return;
    }
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80)
            u[k++] = p[i];
        else
            u[k++] = (uint8_t)(0xC0 | p[i] >> 6), u[k++] = (uint8_t)(0x80 | (p[i] & 0x3F));
    }
    ug_pkw_global(w, "_codecs", "encode");
    pkw_unicode(w, u, k);
    ug_pkw_str(w, "latin1");
    ug_pkw_op(w, 0x86); // TUPLE2
    ug_pkw_op(w, 'R');
    free(u);
}

void ug_pkw_ndarray(ug_pkw *w, ug_dtype dtype, int ndim, const int64_t *shape, const void *data,
                    size_t nbytes, bool fortran) {
    const char *code = dtype == UG_I64   ? "i8"
                       : dtype == UG_F16 ? "f2"
                       : dtype == UG_F64 ? "f8"
                       : dtype == UG_I32 ? "i4"
                       : dtype == UG_U8  ? "u1"
                                         : "f4";
    ug_pkw_global(w, "numpy.core.multiarray", "_reconstruct");
    ug_pkw_global(w, "numpy", "ndarray");
    ug_pkw_int(w, 0);
    ug_pkw_op(w, 0x85); // TUPLE1
    pkw_latin1(w, (const uint8_t *)"b", 1);
    ug_pkw_op(w, 0x87); // TUPLE3
    ug_pkw_op(w, 'R');
    ug_pkw_op(w, '(');
    ug_pkw_int(w, 1);
    ug_pkw_ints(w, ndim, shape);
    ug_pkw_global(w, "numpy", "dtype");
    ug_pkw_str(w, code);
    ug_pkw_op(w, 0x89);
    ug_pkw_op(w, 0x88);
    ug_pkw_op(w, 0x87);
    ug_pkw_op(w, 'R');
    ug_pkw_op(w, '(');
    ug_pkw_int(w, 3);
    ug_pkw_str(w, ug_dtype_size(dtype) == 1 ? "|" : "<");
    ug_pkw_op(w, 'N');
    ug_pkw_op(w, 'N');
    ug_pkw_op(w, 'N');
    ug_pkw_int(w, -1);
    ug_pkw_int(w, -1);
    ug_pkw_int(w, 0);
    ug_pkw_op(w, 't');
    ug_pkw_op(w, 'b');
    ug_pkw_op(w, fortran ? 0x88 : 0x89);
    pkw_latin1(w, data, nbytes);
    ug_pkw_op(w, 't');
    ug_pkw_op(w, 'b');
}

// ---- a whole checkpoint --------------------------------------------------------------------

ug_status ug_torch_write(const char *path, const char *root, const ug_pkw *pickle, int nstorages,
                         const uint64_t *sizes, ug_tw_fill fill, void *arg, bool force_zip64, ug_err *err) {
    if (!ug_pkw_ok(pickle)) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory building the pickle", path);
    enum { CHUNK = 4 << 20 };
    ug_zipw *w;
    ug_status st = ug_zipw_create(&w, path, force_zip64, err);
    if (st) return st;
    uint8_t *buf = malloc(CHUNK);
    char name[512];
    if (!buf) st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
    snprintf(name, sizeof name, "%s/data.pkl", root);
    if (!st && !(st = ug_zipw_begin(w, name, err)) && !(st = ug_zipw_write(w, pickle->buf, pickle->len, err)))
        st = ug_zipw_end(w, err);
    for (int k = 0; k < nstorages && !st; k++) {
        snprintf(name, sizeof name, "%s/data/%d", root, k);
        if ((st = ug_zipw_begin(w, name, err))) break;
        for (uint64_t off = 0; off < sizes[k] && !st; off += CHUNK) {
            size_t n = sizes[k] - off < CHUNK ? (size_t)(sizes[k] - off) : CHUNK;
            fill(arg, k, buf, off, n);
            st = ug_zipw_write(w, buf, n, err);
        }
        if (!st) st = ug_zipw_end(w, err);
    }
    snprintf(name, sizeof name, "%s/version", root);
    if (!st && !(st = ug_zipw_begin(w, name, err)) && !(st = ug_zipw_write(w, "3\n", 2, err)))
        st = ug_zipw_end(w, err);
    free(buf);
    if (st) {
        ug_zipw_abort(w);
        return st;
    }
    return ug_zipw_finish(w, err);
}
