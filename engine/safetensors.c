// engine/safetensors.c — see safetensors.h.
#include "engine/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/json.h"

// The official reader refuses longer headers (MAX_HEADER_SIZE in tensor.rs); so do we, and
// the writer never produces one.
#define ST_MAX_HEADER 100000000ull
// Every tensor's data starts at a multiple of this file offset.
#define ST_ALIGN 64u
// A real header needs about a dozen JSON values per tensor; this allows ~170k tensors and
// bounds what a hostile header can make us allocate.
#define ST_MAX_JSON_NODES ((size_t)1 << 21)
// The deepest legal value is a dim inside a shape inside an entry: depth 3.
#define ST_MAX_JSON_DEPTH 8

static const char PAD_PREFIX[] = "__pad_";

struct ug_st_file {
    char *path;
    const unsigned char *base; // the whole file
    size_t size;
    void *map; // our mapping, or NULL over caller memory
    size_t map_size;
    ug_json_doc *doc; // owns names and metadata strings
    const ug_json *meta;
    int count;
    ug_st_entry *entries;       // file order, filler entries left out
    const ug_st_entry **sorted; // by name, for lookups
};

// A data range of any entry (fillers included), for the overlap check.
typedef struct st_range {
    uint64_t begin, end;
    const char *name;
} st_range;

static uint64_t load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static const char *quote(char *buf, size_t n, const char *s) {
    return ug_json_excerpt(buf, n, s, strlen(s));
}

static int cmp_range(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_entry_name(const void *a, const void *b) {
    const ug_st_entry *x = *(const ug_st_entry *const *)a, *y = *(const ug_st_entry *const *)b;
    return strcmp(x->name, y->name);
}

static bool is_filler(const ug_st_entry *e) {
    return strncmp(e->name, PAD_PREFIX, sizeof PAD_PREFIX - 1) == 0 && e->dtype == UG_U8 && e->ndim == 1 &&
           e->nbytes < ST_ALIGN;
}

static ug_status check_metadata(const ug_st_file *f, const ug_json *m, ug_err *err) {
    if (m->type != UG_JSON_OBJECT)
        return ug_errf(err, UG_ERR_FORMAT, "%s: __metadata__ is a JSON %s, expected an object of strings",
                       f->path, ug_json_type_name(m->type));
    for (size_t i = 0; i < m->len; i++) {
        const ug_json *v = &m->items[i];
        char ex[96];
        ug_json_excerpt(ex, sizeof ex, v->key, v->key_len);
        if (v->type != UG_JSON_STRING)
            return ug_errf(err, UG_ERR_FORMAT,
                           "%s: __metadata__ value of \"%s\" is a JSON %s, expected a string", f->path, ex,
                           ug_json_type_name(v->type));
        if (strlen(v->key) != v->key_len || strlen(v->str) != v->len)
            return ug_errf(err, UG_ERR_FORMAT, "%s: __metadata__ entry \"%s\" contains a NUL character",
                           f->path, ex);
    }
    return UG_OK;
}

// Reads one tensor entry `m` (key = name) into e, checking it against the data section.
static ug_status parse_entry(const ug_st_file *f, const ug_json *m, uint64_t data_size,
                             const unsigned char *data, ug_st_entry *e, st_range *r, ug_err *err) {
    char nm[160];
    ug_json_excerpt(nm, sizeof nm, m->key, m->key_len);
    if (strlen(m->key) != m->key_len)
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor name \"%s\" contains a NUL character", f->path, nm);
    if (m->type != UG_JSON_OBJECT)
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\": entry is a JSON %s, expected an object",
                       f->path, nm, ug_json_type_name(m->type));
    const ug_json *dtype = NULL, *shape = NULL, *offs = NULL;
    for (size_t i = 0; i < m->len; i++) {
        const ug_json *fld = &m->items[i];
        if (strcmp(fld->key, "dtype") == 0 && fld->key_len == 5)
            dtype = fld;
        else if (strcmp(fld->key, "shape") == 0 && fld->key_len == 5)
            shape = fld;
        else if (strcmp(fld->key, "data_offsets") == 0 && fld->key_len == 12)
            offs = fld;
        else {
            char fx[64];
            return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\": unknown field \"%s\"", f->path, nm,
                           ug_json_excerpt(fx, sizeof fx, fld->key, fld->key_len));
        }
    }
    if (!dtype || !shape || !offs)
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\": missing field \"%s\"", f->path, nm,
                       !dtype   ? "dtype"
                       : !shape ? "shape"
                                : "data_offsets");

    if (dtype->type != UG_JSON_STRING)
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\": dtype is a JSON %s, expected a string",
                       f->path, nm, ug_json_type_name(dtype->type));
    if (strlen(dtype->str) != dtype->len || !ug_dtype_from_name(dtype->str, &e->dtype)) {
        char dx[48];
        return ug_errf(
            err, UG_ERR_UNSUPPORTED,
            "%s: tensor \"%s\": unsupported dtype \"%s\" (supported: F32 F16 BF16 F64 I64 I32 U8 BOOL)",
            f->path, nm, ug_json_excerpt(dx, sizeof dx, dtype->str, dtype->len));
    }

    if (shape->type != UG_JSON_ARRAY)
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\": shape is a JSON %s, expected an array",
                       f->path, nm, ug_json_type_name(shape->type));
    if (shape->len > UG_MAX_DIMS)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "%s: tensor \"%s\": shape has %zu dims, at most %d are supported", f->path, nm,
                       shape->len, UG_MAX_DIMS);
    e->ndim = (int)shape->len;
    // Element count with overflow checks; a zero dim makes the tensor empty whatever follows.
    uint64_t numel = 1;
    bool overflow = false;
    for (int d = 0; d < e->ndim; d++) {
        const ug_json *dim = &shape->items[d];
        if (dim->type != UG_JSON_NUMBER || !dim->is_int || dim->integer < 0)
            return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\": shape[%d] is not a non-negative integer",
                           f->path, nm, d);
        e->shape[d] = dim->integer;
        uint64_t n = (uint64_t)dim->integer;
        if (n != 0 && numel > UINT64_MAX / n)
            overflow = true;
        else
            numel *= n;
    }
    for (int d = 0; d < e->ndim; d++)
        if (e->shape[d] == 0) numel = 0, overflow = false;
    uint64_t esize = ug_dtype_size(e->dtype);
    if (overflow || numel > UINT64_MAX / esize)
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\": shape overflows a 64-bit byte count", f->path,
                       nm);
    uint64_t nbytes = numel * esize;

    if (offs->type != UG_JSON_ARRAY || offs->len != 2)
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\": data_offsets must be an array [begin, end]",
                       f->path, nm);
    for (int k = 0; k < 2; k++) {
        const ug_json *o = &offs->items[k];
        if (o->type != UG_JSON_NUMBER || !o->is_int || o->integer < 0)
            return ug_errf(err, UG_ERR_FORMAT,
                           "%s: tensor \"%s\": data_offsets[%d] is not a non-negative integer", f->path, nm,
                           k);
    }
    uint64_t begin = (uint64_t)offs->items[0].integer, end = (uint64_t)offs->items[1].integer;
    if (begin > end)
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] run backwards",
                       f->path, nm, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return ug_errf(
            err, UG_ERR_FORMAT,
            "%s: tensor \"%s\": data_offsets end %llu is beyond the data section (%llu bytes; truncated "
            "file?)",
            f->path, nm, (unsigned long long)end, (unsigned long long)data_size);
    if (end - begin != nbytes) {
        char sh[96];
        ug_tensor t = ug_tensor_wrap(NULL, e->dtype, e->ndim, e->shape);
        return ug_errf(err, UG_ERR_FORMAT,
                       "%s: tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes, but %s %s needs %llu",
                       f->path, nm, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)(end - begin), ug_dtype_name(e->dtype),
                       ug_shape_str(&t, sh, sizeof sh), (unsigned long long)nbytes);
    }
    e->name = m->key;
    e->data = data + begin;
    e->nbytes = (size_t)nbytes;
    r->begin = begin;
    r->end = end;
    r->name = m->key;
    return UG_OK;
}

// Validates the whole file (f->base, f->size) and builds the entry tables.
static ug_status st_parse(ug_st_file *f, ug_err *err) {
    if (f->size < 8)
        return ug_errf(err, UG_ERR_FORMAT,
                       "%s: %zu bytes, too short for a safetensors file (8-byte header length)", f->path,
                       f->size);
    uint64_t n = load_le64(f->base);
    if (n > ST_MAX_HEADER)
        return ug_errf(err, UG_ERR_FORMAT, "%s: header length %llu is over the limit of %llu bytes", f->path,
                       (unsigned long long)n, ST_MAX_HEADER);
    if (n > f->size - 8)
        return ug_errf(err, UG_ERR_FORMAT,
                       "%s: header length %llu exceeds the %zu bytes that follow it (truncated?)", f->path,
                       (unsigned long long)n, f->size - 8);
    const unsigned char *data = f->base + 8 + n;
    uint64_t data_size = f->size - 8 - n;

    size_t wn = strlen(f->path) + 16;
    char *what = malloc(wn);
    if (!what) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", f->path);
    snprintf(what, wn, "%s: header", f->path);
    ug_json_limits lim = {ST_MAX_HEADER, ST_MAX_JSON_DEPTH, ST_MAX_JSON_NODES};
    ug_status st = ug_json_parse_ex(&f->doc, (const char *)f->base + 8, (size_t)n, what, &lim, err);
    free(what);
    if (st) return st;
    const ug_json *root = ug_json_root(f->doc);
    if (root->type != UG_JSON_OBJECT)
        return ug_errf(err, UG_ERR_FORMAT, "%s: header is a JSON %s, expected an object", f->path,
                       ug_json_type_name(root->type));

    st_range *ranges = malloc((root->len ? root->len : 1) * sizeof *ranges);
    f->entries = malloc((root->len ? root->len : 1) * sizeof *f->entries);
    f->sorted = malloc((root->len ? root->len : 1) * sizeof *f->sorted);
    if (!ranges || !f->entries || !f->sorted) {
        st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory for %zu header entries", f->path, root->len);
        goto done;
    }
    size_t nranges = 0;
    for (size_t i = 0; i < root->len; i++) {
        const ug_json *m = &root->items[i];
        if (m->key_len == 12 && memcmp(m->key, "__metadata__", 12) == 0) {
            if ((st = check_metadata(f, m, err))) goto done;
            f->meta = m;
            continue;
        }
        ug_st_entry *e = &f->entries[f->count];
        memset(e, 0, sizeof *e);
        if ((st = parse_entry(f, m, data_size, data, e, &ranges[nranges], err))) goto done;
        nranges++;
        if (!is_filler(e)) f->count++;
    }

    // Overlaps: sorted by begin, every non-empty range must start at or after the end of all
    // earlier ones. Empty ranges hold no bytes and cannot collide.
    qsort(ranges, nranges, sizeof *ranges, cmp_range);
    const st_range *prev = NULL;
    for (size_t i = 0; i < nranges; i++) {
        const st_range *r = &ranges[i];
        if (r->begin == r->end) continue;
        if (prev && r->begin < prev->end) {
            char a[96], b[96];
            st =
                ug_errf(err, UG_ERR_FORMAT, "%s: tensors \"%s\" [%llu, %llu] and \"%s\" [%llu, %llu] overlap",
                        f->path, quote(a, sizeof a, prev->name), (unsigned long long)prev->begin,
                        (unsigned long long)prev->end, quote(b, sizeof b, r->name),
                        (unsigned long long)r->begin, (unsigned long long)r->end);
            goto done;
        }
        if (!prev || r->end > prev->end) prev = r;
    }

    // Names are unique: the JSON parser rejects duplicate keys.
    for (int i = 0; i < f->count; i++)
        f->sorted[i] = &f->entries[i];
    qsort(f->sorted, (size_t)f->count, sizeof *f->sorted, cmp_entry_name);
done:
    free(ranges);
    return st;
}

static ug_status st_new(ug_st_file **out, const char *name, ug_err *err) {
    ug_st_file *f = calloc(1, sizeof *f);
    char *path = strdup(name ? name : "safetensors");
    if (!f || !path) {
        free(f);
        free(path);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name ? name : "safetensors");
    }
    f->path = path;
    *out = f;
    return UG_OK;
}

ug_status ug_st_open_memory(ug_st_file **out, const void *data, size_t size, const char *name, ug_err *err) {
    *out = NULL;
    ug_st_file *f;
    ug_status st = st_new(&f, name, err);
    if (st) return st;
    f->base = data;
    f->size = size;
    if ((st = st_parse(f, err))) {
        ug_st_close(f);
        return st;
    }
    *out = f;
    return UG_OK;
}

ug_status ug_st_open(ug_st_file **out, const char *path, ug_err *err) {
    *out = NULL;
    ug_st_file *f;
    ug_status st = st_new(&f, path, err);
    if (st) return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = ug_errf(err, UG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = ug_errf(err, UG_ERR_IO, "%s: not a regular file", path);
        close(fd);
        goto fail;
    }
    f->size = (size_t)sb.st_size;
    if (f->size >= 8) { // mmap of an empty range fails; st_parse reports short files
        void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            st = ug_errf(err, UG_ERR_IO, "%s: cannot map %zu bytes: %s", path, f->size, strerror(errno));
            close(fd);
            goto fail;
        }
        f->map = p;
        f->map_size = f->size;
        f->base = p;
    } else {
        f->base = (const unsigned char *)"";
    }
    close(fd);
    if ((st = st_parse(f, err))) goto fail;
    *out = f;
    return UG_OK;
fail:
    ug_st_close(f);
    return st;
}

void ug_st_close(ug_st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_size);
    ug_json_free(f->doc);
    free(f->entries);
    free(f->sorted);
    free(f->path);
    free(f);
}

const char *ug_st_path(const ug_st_file *f) {
    return f->path;
}
int ug_st_count(const ug_st_file *f) {
    return f->count;
}

const ug_st_entry *ug_st_at(const ug_st_file *f, int i) {
    return i >= 0 && i < f->count ? &f->entries[i] : NULL;
}

const ug_st_entry *ug_st_find(const ug_st_file *f, const char *name) {
    int lo = 0, hi = f->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->sorted[mid]->name);
        if (c == 0) return f->sorted[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *ug_st_meta(const ug_st_file *f, const char *key) {
    const ug_json *v = ug_json_get(f->meta, key);
    return v ? v->str : NULL;
}

int ug_st_meta_count(const ug_st_file *f) {
    return f->meta ? (int)f->meta->len : 0;
}

const char *ug_st_meta_key(const ug_st_file *f, int i) {
    return f->meta && i >= 0 && (size_t)i < f->meta->len ? f->meta->items[i].key : NULL;
}

ug_status ug_st_tensor(const ug_st_file *f, const char *name, ug_tensor *view, ug_err *err) {
    const ug_st_entry *e = ug_st_find(f, name);
    if (!e) {
        char nm[160];
        return ug_errf(err, UG_ERR_FORMAT, "%s: tensor \"%s\" not found", f->path,
                       quote(nm, sizeof nm, name));
    }
    *view = ug_tensor_wrap((void *)e->data, e->dtype, e->ndim, e->shape);
    return UG_OK;
}

// ---------------------------------------------------------------------------------------
// Writer

typedef struct st_decl {
    char *name;
    ug_dtype dtype;
    int ndim;
    int64_t shape[UG_MAX_DIMS];
    uint64_t nbytes;
    uint64_t begin; // in the data section, set by begin
} st_decl;

struct ug_st_writer {
    char *path, *tmp;
    FILE *fp;    // the temporary file while it exists
    char **meta; // key, value, key, value, ...
    int nmeta;
    st_decl *t;
    int n, cap;
    bool begun, failed;
    int cur;           // tensor whose data comes next
    uint64_t cur_done; // bytes of it received
    uint64_t pos;      // bytes of the data section written
};

// Any error ends the write: the temporary file goes, later calls fail.
static void writer_kill(ug_st_writer *w) {
    if (w->fp) fclose(w->fp);
    w->fp = NULL;
    if (w->tmp) unlink(w->tmp);
    w->failed = true;
}

__attribute__((format(printf, 4, 5))) static ug_status wfail(ug_st_writer *w, ug_err *err, ug_status code,
                                                             const char *fmt, ...) {
    char msg[UG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    writer_kill(w);
    return ug_errf(err, code, "%s: %s", w->path, msg);
}

static ug_status wdead(ug_st_writer *w, ug_err *err) {
    return ug_errf(err, UG_ERR_ARG, "%s: the write was already abandoned after an earlier error", w->path);
}

static void writer_free(ug_st_writer *w) {
    for (int i = 0; i < 2 * w->nmeta; i++)
        free(w->meta[i]);
    free(w->meta);
    for (int i = 0; i < w->n; i++)
        free(w->t[i].name);
    free(w->t);
    free(w->path);
    free(w->tmp);
    free(w);
}

ug_status ug_st_writer_create(ug_st_writer **out, const char *path, ug_err *err) {
    *out = NULL;
    ug_st_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path);
    char *tmp = malloc(n + 12);
    char *p = strdup(path);
    if (!w || !tmp || !p) {
        free(w);
        free(tmp);
        free(p);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp.XXXXXX", 12);
    w->path = p;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        ug_status st =
            ug_errf(err, UG_ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        writer_free(w);
        return st;
    }
    w->tmp = tmp;
    // mkstemp makes the file private (0600); weights are ordinary readable files.
    if (fchmod(fd, 0644) != 0 || !(w->fp = fdopen(fd, "wb"))) {
        ug_status st = ug_errf(err, UG_ERR_IO, "%s: cannot set up %s: %s", path, tmp, strerror(errno));
        if (!w->fp) close(fd);
        writer_kill(w);
        writer_free(w);
        return st;
    }
    setvbuf(w->fp, NULL, _IOFBF, 1 << 20);
    *out = w;
    return UG_OK;
}

ug_status ug_st_writer_meta(ug_st_writer *w, const char *key, const char *value, ug_err *err) {
    if (w->failed) return wdead(w, err);
    char ex[96];
    if (w->begun)
        return wfail(w, err, UG_ERR_ARG, "metadata \"%s\" set after begin", quote(ex, sizeof ex, key));
    if (!ug_utf8_valid(key, strlen(key)) || !ug_utf8_valid(value, strlen(value)))
        return wfail(w, err, UG_ERR_ARG, "metadata \"%s\": key or value is not valid UTF-8",
                     quote(ex, sizeof ex, key));
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[2 * i], key) == 0)
            return wfail(w, err, UG_ERR_ARG, "metadata \"%s\" set twice", quote(ex, sizeof ex, key));
    char **m = realloc(w->meta, (size_t)(w->nmeta + 1) * 2 * sizeof *m);
    if (!m) return wfail(w, err, UG_ERR_NOMEM, "out of memory");
    w->meta = m;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return wfail(w, err, UG_ERR_NOMEM, "out of memory");
    }
    m[2 * w->nmeta] = k;
    m[2 * w->nmeta + 1] = v;
    w->nmeta++;
    return UG_OK;
}

ug_status ug_st_writer_declare(ug_st_writer *w, const char *name, ug_dtype dt, int ndim, const int64_t *shape,
                               ug_err *err) {
    if (w->failed) return wdead(w, err);
    char nm[160];
    quote(nm, sizeof nm, name);
    if (w->begun) return wfail(w, err, UG_ERR_ARG, "tensor \"%s\" declared after begin", nm);
    if (!name[0] || !ug_utf8_valid(name, strlen(name)))
        return wfail(w, err, UG_ERR_ARG, "tensor name \"%s\" is empty or not valid UTF-8", nm);
    if (strcmp(name, "__metadata__") == 0 || strncmp(name, PAD_PREFIX, sizeof PAD_PREFIX - 1) == 0)
        return wfail(w, err, UG_ERR_ARG, "tensor name \"%s\" is reserved", nm);
    if ((unsigned)dt >= UG_DTYPE_COUNT)
        return wfail(w, err, UG_ERR_ARG, "tensor \"%s\": bad dtype %d", nm, (int)dt);
    if (ndim < 0 || ndim > UG_MAX_DIMS)
        return wfail(w, err, UG_ERR_ARG, "tensor \"%s\": %d dims, at most %d supported", nm, ndim,
                     UG_MAX_DIMS);
    st_decl d = {.dtype = dt, .ndim = ndim};
    // Sizes stay below UG_MAX_TENSOR_BYTES, so the products never overflow.
    uint64_t numel = 1;
    bool empty = false, big = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return wfail(w, err, UG_ERR_ARG, "tensor \"%s\": negative dim %lld", nm, (long long)shape[i]);
        d.shape[i] = shape[i];
        if (shape[i] == 0)
            empty = true;
        else if (numel > (uint64_t)UG_MAX_TENSOR_BYTES / (uint64_t)shape[i])
            big = true;
        else
            numel *= (uint64_t)shape[i];
    }
    if (empty) numel = 0, big = false;
    if (big || numel > (uint64_t)UG_MAX_TENSOR_BYTES / ug_dtype_size(dt))
        return wfail(w, err, UG_ERR_ARG, "tensor \"%s\": more than %lld bytes", nm,
                     (long long)UG_MAX_TENSOR_BYTES);
    d.nbytes = numel * ug_dtype_size(dt);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        st_decl *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return wfail(w, err, UG_ERR_NOMEM, "out of memory");
        w->t = t;
        w->cap = cap;
    }
    if (!(d.name = strdup(name))) return wfail(w, err, UG_ERR_NOMEM, "out of memory");
    w->t[w->n++] = d;
    return UG_OK;
}

static int cmp_decl_name(const void *a, const void *b) {
    return strcmp((*(const st_decl *const *)a)->name, (*(const st_decl *const *)b)->name);
}

static void write_entry(ug_json_writer *jw, const char *name, ug_dtype dt, int ndim, const int64_t *shape,
                        uint64_t begin, uint64_t end) {
    ug_jw_key(jw, name);
    ug_jw_object_begin(jw);
    ug_jw_key(jw, "dtype");
    ug_jw_string(jw, ug_dtype_name(dt));
    ug_jw_key(jw, "shape");
    ug_jw_array_begin(jw);
    for (int i = 0; i < ndim; i++)
        ug_jw_int(jw, shape[i]);
    ug_jw_array_end(jw);
    ug_jw_key(jw, "data_offsets");
    ug_jw_array_begin(jw);
    ug_jw_int(jw, (int64_t)begin);
    ug_jw_int(jw, (int64_t)end);
    ug_jw_array_end(jw);
    ug_jw_object_end(jw);
}

static uint64_t align_up(uint64_t x) {
    return (x + ST_ALIGN - 1) / ST_ALIGN * ST_ALIGN;
}

// Writes zero bytes up to the next tensor's start and steps over finished (and empty)
// tensors, so the stream position always sits where the next data byte belongs.
static ug_status settle(ug_st_writer *w, ug_err *err) {
    static const unsigned char zeros[ST_ALIGN];
    while (w->cur < w->n) {
        st_decl *t = &w->t[w->cur];
        if (w->pos < t->begin) {
            size_t gap = (size_t)(t->begin - w->pos);
            if (fwrite(zeros, 1, gap, w->fp) != gap)
                return wfail(w, err, UG_ERR_IO, "write failed: %s", strerror(errno));
            w->pos = t->begin;
        }
        if (w->cur_done < t->nbytes) break;
        w->cur++;
        w->cur_done = 0;
    }
    return UG_OK;
}

ug_status ug_st_writer_begin(ug_st_writer *w, ug_err *err) {
    if (w->failed) return wdead(w, err);
    if (w->begun) return wfail(w, err, UG_ERR_ARG, "begin called twice");
    w->begun = true;

    const st_decl **by_name = malloc((w->n ? (size_t)w->n : 1) * sizeof *by_name);
    if (!by_name) return wfail(w, err, UG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < w->n; i++)
        by_name[i] = &w->t[i];
    qsort(by_name, (size_t)w->n, sizeof *by_name, cmp_decl_name);
    for (int i = 1; i < w->n; i++) {
        if (strcmp(by_name[i - 1]->name, by_name[i]->name) == 0) {
            char nm[160];
            quote(nm, sizeof nm, by_name[i]->name);
            free(by_name);
            return wfail(w, err, UG_ERR_ARG, "tensor \"%s\" declared twice", nm);
        }
    }
    free(by_name);

    // Layout in declaration order; a filler entry covers each alignment gap (see the header).
    ug_json_writer jw;
    ug_jw_init(&jw, 0);
    ug_jw_object_begin(&jw);
    if (w->nmeta) {
        ug_jw_key(&jw, "__metadata__");
        ug_jw_object_begin(&jw);
        for (int i = 0; i < w->nmeta; i++) {
            ug_jw_key(&jw, w->meta[2 * i]);
            ug_jw_string(&jw, w->meta[2 * i + 1]);
        }
        ug_jw_object_end(&jw);
    }
    uint64_t pos = 0;
    int npad = 0;
    for (int i = 0; i < w->n; i++) {
        st_decl *t = &w->t[i];
        if (pos % ST_ALIGN) {
            char pad[32];
            snprintf(pad, sizeof pad, "%s%d__", PAD_PREFIX, npad++);
            int64_t gap = (int64_t)(align_up(pos) - pos);
            write_entry(&jw, pad, UG_U8, 1, &gap, pos, align_up(pos));
            pos = align_up(pos);
        }
        t->begin = pos;
        write_entry(&jw, t->name, t->dtype, t->ndim, t->shape, pos, pos + t->nbytes);
        pos += t->nbytes;
    }
    ug_jw_object_end(&jw);
    char *json;
    size_t jlen;
    ug_status st = ug_jw_finish(&jw, &json, &jlen, err);
    if (st) {
        ug_err_prefix(err, "%s: ", w->path);
        writer_kill(w);
        return st;
    }
    // Spaces after the JSON so that the data section starts on an aligned file offset.
    uint64_t hlen = align_up(8 + jlen) - 8;
    if (hlen > ST_MAX_HEADER) {
        free(json);
        return wfail(w, err, UG_ERR_ARG, "header of %llu bytes is over the safetensors limit of %llu",
                     (unsigned long long)hlen, ST_MAX_HEADER);
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(hlen >> (8 * i));
    bool ok = fwrite(len8, 1, 8, w->fp) == 8 && fwrite(json, 1, jlen, w->fp) == jlen;
    for (uint64_t i = jlen; ok && i < hlen; i++)
        ok = fputc(' ', w->fp) != EOF;
    free(json);
    if (!ok) return wfail(w, err, UG_ERR_IO, "write failed: %s", strerror(errno));
    return settle(w, err);
}

ug_status ug_st_writer_write(ug_st_writer *w, const void *data, size_t nbytes, ug_err *err) {
    if (w->failed) return wdead(w, err);
    if (!w->begun) return wfail(w, err, UG_ERR_ARG, "tensor data written before begin");
    const unsigned char *p = data;
    while (nbytes > 0) {
        if (w->cur >= w->n)
            return wfail(w, err, UG_ERR_ARG, "%zu bytes written beyond the declared tensors", nbytes);
        st_decl *t = &w->t[w->cur];
        uint64_t room = t->nbytes - w->cur_done;
        size_t k = nbytes < room ? nbytes : (size_t)room;
        if (fwrite(p, 1, k, w->fp) != k) return wfail(w, err, UG_ERR_IO, "write failed: %s", strerror(errno));
        w->cur_done += k;
        w->pos += k;
        p += k;
        nbytes -= k;
        ug_status st = settle(w, err);
        if (st) return st;
    }
    return UG_OK;
}

ug_status ug_st_writer_finish(ug_st_writer *w, ug_err *err) {
    ug_status st = UG_OK;
    if (w->failed) {
        st = wdead(w, err);
    } else if (!w->begun) {
        st = wfail(w, err, UG_ERR_ARG, "finish before begin");
    } else if (w->cur < w->n) {
        const st_decl *t = &w->t[w->cur];
        char nm[160];
        st = wfail(w, err, UG_ERR_ARG, "tensor \"%s\" got %llu of its %llu bytes (%d of %d tensors complete)",
                   quote(nm, sizeof nm, t->name), (unsigned long long)w->cur_done,
                   (unsigned long long)t->nbytes, w->cur, w->n);
    } else {
        FILE *fp = w->fp;
        w->fp = NULL;
        bool ok = fflush(fp) == 0 && !ferror(fp);
        int e = errno;
        if (fclose(fp) != 0 && ok) {
            ok = false;
            e = errno;
        }
        if (!ok)
            st = wfail(w, err, UG_ERR_IO, "write failed: %s", strerror(e));
        else if (rename(w->tmp, w->path) != 0)
            st = wfail(w, err, UG_ERR_IO, "cannot rename %s into place: %s", w->tmp, strerror(errno));
    }
    writer_free(w);
    return st;
}

void ug_st_writer_abort(ug_st_writer *w) {
    if (!w) return;
    if (!w->failed) writer_kill(w);
    writer_free(w);
}
