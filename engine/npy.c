// engine/npy.c — NumPy .npy reading and writing (see npy.h for what is accepted).
//
// Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0/3.0), then
// the header — a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and a newline — then the raw C-order data.
// The dict is parsed with a tiny recursive-descent parser that knows exactly the literals a
// header can hold (strings, True/False, tuples of integers); everything else is an error.
#include "engine/npy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/fileio.h"

// numpy itself refuses headers over 10000 bytes by default; leave room for odd writers.
#define NPY_MAX_HEADER ((size_t)1 << 20)

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

typedef struct npy_header {
    size_t data_off; // where the data starts
    ug_dtype out_dt; // dtype of the tensor we build
    int item;        // bytes per element in the file
    bool f64;        // '<f8' data, rounded to F32
    bool boolean;    // '|b1' data, normalised to 0/1
    int file_ndim;   // the file's shape
    int64_t file_shape[UG_NPY_MAX_DIMS];
    int ndim; // the tensor's: the file's, or with leading dims merged (folded reads)
    int64_t shape[UG_MAX_DIMS];
    int64_t numel;
    uint64_t nbytes; // numel * item, bytes of data in the file
} npy_header;

// ---------------------------------------------------------------------------------------------
// Header dict parser

typedef struct npy_parser {
    const char *p, *end;
    const char *start; // the header text, for byte offsets in messages
    const char *name;
    ug_err *err;
} npy_parser;

static void skip_ws(npy_parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool eat(npy_parser *ps, char c) {
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

static ug_status bad_header(npy_parser *ps, const char *what) {
    return ug_errf(ps->err, UG_ERR_FORMAT, "%s: bad .npy header: %s at header byte %td", ps->name, what,
                   ps->p - ps->start);
}

// A quoted string without escapes (no header key or dtype needs one); *s/*n point into the input.
static ug_status parse_str(npy_parser *ps, const char **s, size_t *n) {
    skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"')) return bad_header(ps, "expected a string");
    char q = *ps->p++;
    const char *start = ps->p;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\n') return bad_header(ps, "unterminated string");
        if (*ps->p == '\\') return bad_header(ps, "escapes in strings are not supported");
        ps->p++;
    }
    if (ps->p >= ps->end) return bad_header(ps, "unterminated string");
    *s = start;
    *n = (size_t)(ps->p - start);
    ps->p++;
    return UG_OK;
}

static bool word(npy_parser *ps, const char *w) {
    skip_ws(ps);
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

// (), (5,), (3, 4) and Python 2's (3L, 4L). A one-element tuple needs its comma: (5) is an int.
static ug_status parse_shape(npy_parser *ps, npy_header *h) {
    if (!eat(ps, '(')) return bad_header(ps, "'shape' is not a tuple");
    h->file_ndim = 0;
    bool comma = false;
    for (;;) {
        skip_ws(ps);
        if (eat(ps, ')')) break;
        if (h->file_ndim > 0 && !comma) return bad_header(ps, "expected ',' or ')' in 'shape'");
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return bad_header(ps, "'shape' holds something other than non-negative integers");
        int64_t v = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return bad_header(ps, "dimension does not fit in 64 bits");
            v = v * 10 + (*ps->p++ - '0');
        }
        if (ps->p < ps->end && *ps->p == 'L') ps->p++;
        if (h->file_ndim == UG_NPY_MAX_DIMS) return bad_header(ps, "more than 64 dimensions");
        h->file_shape[h->file_ndim++] = v;
        comma = eat(ps, ',');
    }
    if (h->file_ndim == 1 && !comma) return bad_header(ps, "'shape' (n) is not a tuple (write (n,))");
    return UG_OK;
}

static ug_status parse_descr(npy_parser *ps, npy_header *h) {
    skip_ws(ps);
    if (ps->p < ps->end && (*ps->p == '[' || *ps->p == '{'))
        return ug_errf(ps->err, UG_ERR_UNSUPPORTED, "%s: structured .npy dtypes are not supported", ps->name);
    const char *s;
    size_t n;
    ug_status st = parse_str(ps, &s, &n);
    if (st != UG_OK) return st;
    static const struct {
        const char *descr;
        ug_dtype dt;
        int item;
    } known[] = {
        {"<f4", UG_F32, 4}, {"<f8", UG_F32, 8}, {"|u1", UG_U8, 1},   {"<u1", UG_U8, 1},
        {"<i4", UG_I32, 4}, {"<i8", UG_I64, 8}, {"|b1", UG_BOOL, 1},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strlen(known[i].descr) == n && memcmp(known[i].descr, s, n) == 0) {
            h->out_dt = known[i].dt;
            h->item = known[i].item;
            h->f64 = known[i].item == 8 && known[i].dt == UG_F32;
            h->boolean = known[i].dt == UG_BOOL;
            return UG_OK;
        }
    }
    int shown = n > 32 ? 32 : (int)n;
    if (n > 0 && s[0] == '>')
        return ug_errf(ps->err, UG_ERR_UNSUPPORTED, "%s: big-endian .npy dtype '%.*s' is not supported",
                       ps->name, shown, s);
    return ug_errf(ps->err, UG_ERR_UNSUPPORTED,
                   "%s: .npy dtype '%.*s' is not supported (supported: <f4 <f8 |u1 <i4 <i8 |b1)", ps->name,
                   shown, s);
}

static ug_status parse_dict(const char *text, size_t len, const char *name, npy_header *h, ug_err *err) {
    npy_parser ps = {text, text + len, text, name, err};
    if (!eat(&ps, '{')) return bad_header(&ps, "expected '{'");
    bool seen_descr = false, seen_order = false, seen_shape = false;
    bool first = true;
    for (;;) {
        if (eat(&ps, '}')) break;
        if (!first && !eat(&ps, ',')) return bad_header(&ps, "expected ',' or '}'");
        if (!first && eat(&ps, '}')) break; // trailing comma
        first = false;
        const char *key;
        size_t klen;
        ug_status st = parse_str(&ps, &key, &klen);
        if (st != UG_OK) return st;
        if (!eat(&ps, ':')) return bad_header(&ps, "expected ':'");
        bool *seen;
        if (klen == 5 && memcmp(key, "descr", 5) == 0) {
            seen = &seen_descr;
            st = parse_descr(&ps, h);
        } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) {
            seen = &seen_order;
            if (word(&ps, "True"))
                return ug_errf(err, UG_ERR_UNSUPPORTED, "%s: Fortran-order .npy arrays are not supported",
                               name);
            if (!word(&ps, "False")) return bad_header(&ps, "'fortran_order' is not True or False");
        } else if (klen == 5 && memcmp(key, "shape", 5) == 0) {
            seen = &seen_shape;
            st = parse_shape(&ps, h);
        } else {
            int shown = klen > 32 ? 32 : (int)klen;
            return ug_errf(err, UG_ERR_FORMAT, "%s: bad .npy header: unknown key '%.*s'", name, shown, key);
        }
        if (st != UG_OK) return st;
        if (*seen) return bad_header(&ps, "duplicate key");
        *seen = true;
    }
    skip_ws(&ps);
    if (ps.p != ps.end) return bad_header(&ps, "text after the dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return ug_errf(err, UG_ERR_FORMAT, "%s: bad .npy header: missing key '%s'", name,
                       !seen_descr   ? "descr"
                       : !seen_order ? "fortran_order"
                                     : "shape");
    return UG_OK;
}

// Magic, version and header length from the first bytes (at least 12, or the whole file).
// Sets h->data_off; the header text is [10 or 12, data_off).
static ug_status parse_prefix(const unsigned char *p, size_t n, const char *name, size_t *hdr_off,
                              npy_header *h, ug_err *err) {
    if (n < 10 || memcmp(p, npy_magic, 6) != 0)
        return ug_errf(err, UG_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
    int major = p[6], minor = p[7];
    size_t len;
    if (major == 1 && minor == 0) {
        *hdr_off = 10;
        len = (size_t)p[8] | (size_t)p[9] << 8;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (n < 12) return ug_errf(err, UG_ERR_FORMAT, "%s: truncated .npy header", name);
        *hdr_off = 12;
        len = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
    } else {
        return ug_errf(err, UG_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported", name, major,
                       minor);
    }
    if (len > NPY_MAX_HEADER)
        return ug_errf(err, UG_ERR_FORMAT, "%s: .npy header of %zu bytes is absurd", name, len);
    h->data_off = *hdr_off + len;
    return UG_OK;
}

// "(1, 32, 4, 1, 4, 2)" for messages, cut short with "..." if it does not fit.
static const char *shape_text(const npy_header *h, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < h->file_ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, d ? ", %lld" : "%lld", (long long)h->file_shape[d]);
    if (used < n) snprintf(buf + used, n - used, h->file_ndim == 1 ? ",)" : ")");
    if (used >= n && n > 4) memcpy(buf + n - 4, "...", 4);
    return buf;
}

// Element count and data size with overflow checks (shapes come from the file), and the
// tensor's shape: more than UG_MAX_DIMS dims are an error, or with `fold` merged into the
// leading one (C order makes that a reshape).
static ug_status header_sizes(npy_header *h, bool fold, const char *name, ug_err *err) {
    char text[128];
    int64_t numel = 1;
    for (int d = 0; d < h->file_ndim; d++) {
        if (h->file_shape[d] != 0 && numel > (INT64_MAX / 8) / h->file_shape[d])
            return ug_errf(err, UG_ERR_FORMAT, "%s: .npy shape %s is absurd", name,
                           shape_text(h, text, sizeof text));
        numel *= h->file_shape[d];
    }
    h->numel = numel;
    h->nbytes = (uint64_t)numel * (uint64_t)h->item;
    int extra = h->file_ndim - UG_MAX_DIMS;
    if (extra > 0 && !fold)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "%s: .npy shape %s has more than %d dimensions (ug_npy_read_folded reads it)", name,
                       shape_text(h, text, sizeof text), UG_MAX_DIMS);
    if (extra < 0) extra = 0;
    h->ndim = h->file_ndim - extra;
    for (int d = 0; d < h->ndim; d++)
        h->shape[d] = h->file_shape[d + extra];
    for (int d = 0; d < extra; d++)
        h->shape[0] *= h->file_shape[d];
    return UG_OK;
}

static ug_status parse_all(const unsigned char *p, size_t n, uint64_t file_size, bool fold, const char *name,
                           npy_header *h, ug_err *err) {
    memset(h, 0, sizeof *h);
    size_t hdr_off;
    ug_status st = parse_prefix(p, n, name, &hdr_off, h, err);
    if (st != UG_OK) return st;
    if (h->data_off > n)
        return ug_errf(err, UG_ERR_FORMAT, "%s: .npy header length %zu runs past the end of the file", name,
                       h->data_off - hdr_off);
    st = parse_dict((const char *)p + hdr_off, h->data_off - hdr_off, name, h, err);
    if (st != UG_OK) return st;
    st = header_sizes(h, fold, name, err);
    if (st != UG_OK) return st;
    uint64_t have = file_size - h->data_off;
    if (have != h->nbytes) {
        char text[128];
        return ug_errf(err, UG_ERR_FORMAT, "%s: .npy data is %llu bytes, shape %s needs %llu%s", name,
                       (unsigned long long)have, shape_text(h, text, sizeof text),
                       (unsigned long long)h->nbytes,
                       have < h->nbytes ? " (truncated)" : " (trailing bytes)");
    }
    return UG_OK;
}

static void report_shape(const npy_header *h, ug_npy_shape *shape) {
    if (!shape) return;
    shape->ndim = h->file_ndim;
    memcpy(shape->shape, h->file_shape, sizeof shape->shape);
}

// Converts `count` file elements at src into the tensor's dtype at dst.
static void convert_data(const npy_header *h, void *dst, const void *src, int64_t count) {
    if (h->f64) {
        const unsigned char *s = src;
        float *d = dst;
        for (int64_t i = 0; i < count; i++) {
            double v;
            memcpy(&v, s + 8 * i, 8); // the file gives no alignment guarantee
            d[i] = (float)v;
        }
    } else if (h->boolean) {
        const unsigned char *s = src;
        unsigned char *d = dst;
        for (int64_t i = 0; i < count; i++)
            d[i] = s[i] != 0;
    } else if (dst != src) {
        memcpy(dst, src, (size_t)count * (size_t)h->item);
    }
}

static ug_status new_tensor(const npy_header *h, const char *name, ug_tensor *out, ug_err *err) {
    ug_status st = ug_tensor_new(out, h->out_dt, h->ndim, h->shape, err);
    if (st != UG_OK) ug_err_prefix(err, "%s: ", name);
    return st;
}

static ug_status parse_mem(const void *data, size_t size, const char *name, bool fold, ug_tensor *out,
                           ug_npy_shape *shape, ug_err *err) {
    memset(out, 0, sizeof *out);
    npy_header h;
    ug_status st = parse_all(data, size, size, fold, name, &h, err);
    if (st != UG_OK) return st;
    report_shape(&h, shape);
    st = new_tensor(&h, name, out, err);
    if (st != UG_OK) return st;
    convert_data(&h, out->data, (const unsigned char *)data + h.data_off, h.numel);
    return UG_OK;
}

// Reads the header, then the data straight into the tensor (through a bounded buffer when it
// must be converted), so a large file is never held twice.
static ug_status read_file(const char *path, bool fold, ug_tensor *out, ug_npy_shape *shape, ug_err *err) {
    memset(out, 0, sizeof *out);
    ug_status st = UG_OK;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ug_errf(err, UG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = ug_errf(err, UG_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    uint64_t file_size = (uint64_t)sb.st_size;
    unsigned char prefix[12];
    size_t np = fread(prefix, 1, sizeof prefix, f);
    npy_header h;
    size_t hdr_off;
    st = parse_prefix(prefix, np, path, &hdr_off, &h, err);
    if (st != UG_OK) goto done;
    if (h.data_off > file_size) {
        st = ug_errf(err, UG_ERR_FORMAT, "%s: .npy header length %zu runs past the end of the file", path,
                     h.data_off - hdr_off);
        goto done;
    }
    buf = malloc(h.data_off);
    if (!buf) {
        st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(buf, prefix, np < h.data_off ? np : h.data_off);
    if (np < h.data_off && fread(buf + np, 1, h.data_off - np, f) != h.data_off - np) {
        st = ug_errf(err, UG_ERR_IO, "%s: short read", path);
        goto done;
    }
    st = parse_all(buf, h.data_off, file_size, fold, path, &h, err);
    if (st != UG_OK) goto done;
    report_shape(&h, shape);
    if (fseek(f, (long)h.data_off, SEEK_SET) != 0) {
        st = ug_errf(err, UG_ERR_IO, "%s: seek failed: %s", path, strerror(errno));
        goto done;
    }
    st = new_tensor(&h, path, out, err);
    if (st != UG_OK) goto done;
    if (!h.f64) {
        if (fread(out->data, 1, (size_t)h.nbytes, f) != h.nbytes) {
            st = ug_errf(err, UG_ERR_IO, "%s: short read", path);
            goto done;
        }
        convert_data(&h, out->data, out->data, h.numel); // |b1 -> 0/1 in place
    } else {
        enum { CHUNK = 1 << 16 }; // doubles per read
        free(buf);
        buf = malloc(CHUNK * 8);
        if (!buf) {
            st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        for (int64_t i = 0; i < h.numel; i += CHUNK) {
            int64_t m = h.numel - i < CHUNK ? h.numel - i : CHUNK;
            if (fread(buf, 8, (size_t)m, f) != (size_t)m) {
                st = ug_errf(err, UG_ERR_IO, "%s: short read", path);
                goto done;
            }
            convert_data(&h, (float *)out->data + i, buf, m);
        }
    }
done:
    if (st != UG_OK) ug_tensor_free(out);
    free(buf);
    fclose(f);
    return st;
}

ug_status ug_npy_parse(const void *data, size_t size, const char *name, ug_tensor *out, ug_err *err) {
    return parse_mem(data, size, name, false, out, NULL, err);
}

ug_status ug_npy_read(const char *path, ug_tensor *out, ug_err *err) {
    return read_file(path, false, out, NULL, err);
}

ug_status ug_npy_parse_folded(const void *data, size_t size, const char *name, ug_tensor *out,
                              ug_npy_shape *shape, ug_err *err) {
    return parse_mem(data, size, name, true, out, shape, err);
}

ug_status ug_npy_read_folded(const char *path, ug_tensor *out, ug_npy_shape *shape, ug_err *err) {
    return read_file(path, true, out, shape, err);
}

// ---------------------------------------------------------------------------------------------
// Writing

ug_status ug_npy_write(const char *path, const ug_tensor *t, ug_err *err) {
    const char *descr;
    switch (t->dtype) {
    case UG_F32: descr = "<f4"; break;
    case UG_U8: descr = "|u1"; break;
    case UG_I32: descr = "<i4"; break;
    case UG_I64: descr = "<i8"; break;
    case UG_BOOL: descr = "|b1"; break;
    default:
        return ug_errf(err, UG_ERR_UNSUPPORTED, "%s: cannot write a %s tensor as .npy", path,
                       ug_dtype_name(t->dtype));
    }
    if (t->device != UG_CPU) return ug_errf(err, UG_ERR_ARG, "%s: .npy writing needs a CPU tensor", path);
    if (t->ndim < 0 || t->ndim > UG_MAX_DIMS)
        return ug_errf(err, UG_ERR_ARG, "%s: bad tensor rank %d", path, t->ndim);

    // numpy's spelling, padded with spaces and a newline so the data starts 64-byte aligned.
    char hdr[512]; // ~60 bytes of keys + up to 5 x 21 digits + 63 of padding
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int d = 0; d < t->ndim; d++)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%s), }", t->ndim == 1 ? "," : "");
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    memset(hdr + n, ' ', (size_t)pad);
    hdr[n + pad] = '\n';
    int hlen = n + pad + 1;
    unsigned char prefix[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};

    ug_atomic_file af;
    ug_status st = ug_atomic_open(&af, path, err);
    if (st != UG_OK) return st;
    fwrite(prefix, 1, sizeof prefix, af.f);
    fwrite(hdr, 1, (size_t)hlen, af.f);
    size_t item = ug_dtype_size(t->dtype);
    int64_t numel = ug_tensor_numel(t);
    if (ug_tensor_is_contiguous(t)) {
        fwrite(t->data, item, (size_t)numel, af.f);
    } else if (numel > 0) {
        // Element by element in C order through a buffer: any strides, broadcasts included.
        enum { BUF = 1 << 16 };
        unsigned char *buf = malloc(BUF);
        if (!buf) {
            ug_atomic_abort(&af);
            return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
        }
        int64_t idx[UG_MAX_DIMS] = {0};
        size_t used = 0;
        for (int64_t i = 0; i < numel; i++) {
            int64_t off = 0;
            for (int d = 0; d < t->ndim; d++)
                off += idx[d] * t->stride[d];
            memcpy(buf + used, (const unsigned char *)t->data + off * (int64_t)item, item);
            used += item;
            if (used + item > BUF) {
                fwrite(buf, 1, used, af.f);
                used = 0;
            }
            for (int d = t->ndim - 1; d >= 0 && ++idx[d] == t->shape[d]; d--)
                idx[d] = 0;
        }
        fwrite(buf, 1, used, af.f);
        free(buf);
    }
    return ug_atomic_commit(&af, err); // checks the stream's error flag for the fwrites above
}
