// weights-tools/torch_ckpt.c — see torch_ckpt.h.
#include "weights-tools/torch_ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "weights-tools/pickle.h"
#include "weights-tools/zip.h"

enum {
    WINDOW = 1 << 20,  // read window for strided gathers
    MAX_PKL = 1 << 30, // data.pkl larger than this is not a checkpoint
    MAX_NOTES = 64,
};

typedef struct entry {
    ug_ckpt_tensor pub;
    const pk_obj *obj;        // PK_TENSOR or PK_NDARRAY when pub.problem is NULL
    const ug_zip_entry *zent; // storage entry (torch)
} entry;

struct ug_ckpt {
    char *path;
    char layout[96];
    ug_zip *zip;
    char *root_prefix; // "<root>/" inside the zip
    void *pkl;         // data.pkl bytes (zip) or the mapped .pkl file
    size_t pkl_size;
    bool mapped;
    pk_machine *pm;
    entry *entries;
    int count;
    char *notes[MAX_NOTES];
    int nnotes;
    const ug_zip_entry **verified; // storages whose CRC has been checked
    int nverified, verified_cap;
    const ug_zip_entry *cached; // last inflated deflated storage
    uint8_t *cache;
};

static void note(ug_ckpt *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(ug_ckpt *c, const char *fmt, ...) {
    if (c->nnotes == MAX_NOTES) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = strdup(buf);
    if (s) c->notes[c->nnotes++] = s;
}

// Every problem string is a heap copy owned by the entry.
static bool set_problem(entry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool set_problem(entry *e, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    e->obj = NULL;
    free((char *)e->pub.problem);
    e->pub.problem = strdup(buf);
    return e->pub.problem != NULL;
}

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

// Appends "k1, k2, ..." of a dict's string keys other than `skip` to buf.
static void list_keys(const pk_obj *d, const char *skip, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i + 1 < d->seq.n && len + 8 < n; i += 2) {
        const pk_obj *k = d->seq.items[i];
        if (skip && pk_is_str(k, skip)) continue;
        const char *s = k->kind == PK_STR && k->str.s ? k->str.s : "<non-string key>";
        int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", s);
        if (w < 0 || (size_t)w >= n - len) {
            snprintf(buf + (n > 5 ? n - 5 : 0), n > 5 ? 5 : n, "...");
            return;
        }
        len += (size_t)w;
    }
}

static int cmp_entry_name(const void *a, const void *b) {
    const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
    int c = strcmp(x->pub.name, y->pub.name);
    return c ? c : (x < y ? -1 : x > y);
}

// Builds the entry list from the chosen state dict.
static ug_status collect(ug_ckpt *c, const pk_obj *sd, ug_err *err) {
    size_t npairs = sd->seq.n / 2;
    c->entries = calloc(npairs ? npairs : 1, sizeof *c->entries);
    if (!c->entries) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", c->path);
    char what[256];
    int skipped_keys = 0;
    for (size_t i = 0; i < npairs; i++) {
        const pk_obj *k = sd->seq.items[2 * i], *v = sd->seq.items[2 * i + 1];
        if (k->kind != PK_STR || !k->str.s || strlen(k->str.s) != k->str.p.len) {
            skipped_keys++;
            continue;
        }
        entry *e = &c->entries[c->count++];
        e->pub.name = k->str.s;
        if (v->kind == PK_TENSOR) {
            const pk_obj *s = v->tensor.storage;
            e->pub.dtype = s->storage.dtype;
            e->pub.ndim = v->tensor.ndim;
            memcpy(e->pub.shape, v->tensor.size, sizeof e->pub.shape);
            e->obj = v;
            if (c->zip) {
                char name[1024];
                snprintf(name, sizeof name, "%sdata/%s", c->root_prefix, s->storage.key);
                e->zent = ug_zip_find(c->zip, name);
                uint64_t need = (uint64_t)s->storage.numel * ug_dtype_size(s->storage.dtype);
                bool ok = true;
                if (!e->zent)
                    ok = set_problem(e, "a tensor whose storage '%s' is missing from the archive", name);
                else if (e->zent->size < need)
                    ok = set_problem(e,
                                     "a tensor whose storage '%s' holds %llu bytes, less than the %llu its "
                                     "persistent id declares",
                                     name, (unsigned long long)e->zent->size, (unsigned long long)need);
                if (!ok) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", c->path);
            } else if (!set_problem(e, "a torch tensor outside a zip checkpoint")) {
                return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", c->path);
            }
        } else if (v->kind == PK_NDARRAY && v->nd.built) {
            e->pub.dtype = v->nd.dtype;
            e->pub.ndim = v->nd.ndim;
            memcpy(e->pub.shape, v->nd.shape, sizeof e->pub.shape);
            e->obj = v;
        } else {
            if (!set_problem(e, "%s", pk_describe(v, what, sizeof what)))
                return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", c->path);
            continue;
        }
        if (e->obj) {
            int64_t n = numel_of(e->pub.ndim, e->pub.shape);
            if (n > UG_MAX_TENSOR_BYTES / (int64_t)ug_dtype_size(e->pub.dtype)) {
                if (!set_problem(e, "a tensor of %lld elements, more than the supported maximum",
                                 (long long)n))
                    return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", c->path);
            } else {
                e->pub.nbytes = (size_t)n * ug_dtype_size(e->pub.dtype);
            }
        }
    }
    if (skipped_keys)
        note(c, "%s: ignored %d state-dict entries whose keys are not strings", c->path, skipped_keys);
    // Python dicts cannot hold a key twice; a pickle can assign one twice (the last wins).
    entry **order = malloc((c->count ? c->count : 1) * sizeof *order);
    if (!order) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", c->path);
    for (int i = 0; i < c->count; i++)
        order[i] = &c->entries[i];
    qsort(order, (size_t)c->count, sizeof *order, cmp_entry_name);
    bool any_dup = false;
    for (int i = 0; i + 1 < c->count; i++)
        if (!strcmp(order[i]->pub.name, order[i + 1]->pub.name)) {
            order[i]->pub.name = NULL; // superseded by the later assignment
            any_dup = true;
        }
    free(order);
    if (any_dup) {
        int k = 0;
        for (int i = 0; i < c->count; i++) {
            if (c->entries[i].pub.name)
                c->entries[k++] = c->entries[i];
            else
                free((char *)c->entries[i].pub.problem);
        }
        c->count = k;
    }
    return UG_OK;
}

static ug_status select_state_dict(ug_ckpt *c, const pk_obj *root, const char *kind, ug_err *err) {
    char what[256], keys[512];
    if (!root || root->kind != PK_DICT) {
        if (root && (root->kind == PK_INT || root->kind == PK_BIGINT))
            return ug_errf(
                err, UG_ERR_UNSUPPORTED,
                "%s: the legacy (pre-1.6) torch.save format is not supported; re-save with a recent torch",
                c->path);
        return ug_errf(err, UG_ERR_FORMAT, "%s: the checkpoint holds %s, not a dict of tensors", c->path,
                       pk_describe(root, what, sizeof what));
    }
    const char *keyname = NULL;
    const pk_obj *sd = root;
    static const char *const wrappers[] = {"state_dict", "model"};
    for (size_t i = 0; i < 2; i++) {
        const pk_obj *v = pk_dict_get(root, wrappers[i]);
        if (!v) continue;
        if (v->kind != PK_DICT)
            return ug_errf(err, UG_ERR_FORMAT, "%s: top-level entry '%s' is %s, not a state dict", c->path,
                           wrappers[i], pk_describe(v, what, sizeof what));
        keyname = wrappers[i];
        sd = v;
        break;
    }
    if (keyname) {
        snprintf(c->layout, sizeof c->layout, "%s, {'%s': state_dict}", kind, keyname);
        list_keys(root, keyname, keys, sizeof keys);
        if (keys[0]) note(c, "%s: ignored top-level entries: %s", c->path, keys);
    } else {
        snprintf(c->layout, sizeof c->layout, "%s, flat state_dict", kind);
    }
    return collect(c, sd, err);
}

static ug_status open_zip(ug_ckpt *c, ug_err *err) {
    const ug_zip_entry *pkl = NULL;
    for (int i = 0; i < ug_zip_count(c->zip); i++) {
        const ug_zip_entry *e = ug_zip_at(c->zip, i);
        size_t n = strlen(e->name);
        if ((n == 8 || (n > 8 && e->name[n - 9] == '/')) && !strcmp(e->name + n - 8, "data.pkl")) {
            // The record at the archive root is torch's; a deeper one could be anything.
            if (!pkl || strlen(pkl->name) > n) pkl = e;
        }
    }
    if (!pkl)
        return ug_errf(err, UG_ERR_FORMAT, "%s: zip archive without data.pkl (not a torch checkpoint)",
                       c->path);
    size_t plen = strlen(pkl->name) - 8;
    c->root_prefix = strndup(pkl->name, plen);
    if (!c->root_prefix) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", c->path);
    char name[1024];
    snprintf(name, sizeof name, "%sbyteorder", c->root_prefix);
    const ug_zip_entry *bo = ug_zip_find(c->zip, name);
    if (bo) {
        void *txt;
        size_t n;
        ug_status st = ug_zip_read_entry(c->zip, bo, 64, &txt, &n, err);
        if (st) return st;
        bool little = n == 6 && !memcmp(txt, "little", 6);
        free(txt);
        if (!little)
            return ug_errf(err, UG_ERR_UNSUPPORTED,
                           "%s: big-endian checkpoint (byteorder record is not 'little')", c->path);
    }
    ug_status st = ug_zip_read_entry(c->zip, pkl, MAX_PKL, &c->pkl, &c->pkl_size, err);
    if (st) return st;
    pk_obj *root;
    char pname[1100];
    snprintf(pname, sizeof pname, "%s: %s", c->path, pkl->name);
    if ((st = pk_load(&c->pm, c->pkl, c->pkl_size, pname, &root, err))) return st;
    return select_state_dict(c, root, "torch zip", err);
}

static ug_status open_pickle(ug_ckpt *c, ug_err *err) {
    pk_obj *root;
    ug_status st = pk_load(&c->pm, c->pkl, c->pkl_size, c->path, &root, err);
    if (st) return st;
    return select_state_dict(c, root, "pickle", err);
}

static ug_status open_common(ug_ckpt **out, ug_ckpt *c, ug_err *err) {
    ug_status st;
    const uint8_t *head = c->pkl;
    if (c->pkl_size >= 4 && !memcmp(head, "PK\x03\x04", 4)) {
        // A zip: re-open it as one (the caller's bytes or the file, read with pread).
        if (c->mapped) {
            munmap(c->pkl, c->pkl_size);
            c->mapped = false;
            c->pkl = NULL;
            st = ug_zip_open(&c->zip, c->path, err);
        } else {
            st = ug_zip_open_memory(&c->zip, c->pkl, c->pkl_size, c->path, err);
            c->pkl = NULL;
        }
        if (!st) st = open_zip(c, err);
    } else if (c->pkl_size >= 2 && head[0] == 0x80) {
        st = open_pickle(c, err);
    } else {
        st = ug_errf(err, UG_ERR_FORMAT, "%s: neither a zip (torch.save) nor a pickle file", c->path);
    }
    if (st) {
        ug_ckpt_close(c);
        return st;
    }
    *out = c;
    return UG_OK;
}

ug_status ug_ckpt_open(ug_ckpt **out, const char *path, ug_err *err) {
    *out = NULL;
    ug_ckpt *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ug_status st =
            ug_errf(err, UG_ERR_IO, "%s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) close(fd);
        ug_ckpt_close(c);
        return st;
    }
    if (sb.st_size == 0) {
        close(fd);
        ug_ckpt_close(c);
        return ug_errf(err, UG_ERR_FORMAT, "%s: empty file", path);
    }
    // Mapped so that a .pkl's large payloads are read in place (and released after use).
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        ug_status st = ug_errf(err, UG_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        ug_ckpt_close(c);
        return st;
    }
    c->pkl = p;
    c->pkl_size = (size_t)sb.st_size;
    c->mapped = true;
    return open_common(out, c, err);
}

ug_status ug_ckpt_open_memory(ug_ckpt **out, const void *data, size_t size, const char *name, ug_err *err) {
    *out = NULL;
    ug_ckpt *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(name))) {
        free(c);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
    }
    c->pkl = (void *)data;
    c->pkl_size = size;
    return open_common(out, c, err);
}

void ug_ckpt_close(ug_ckpt *c) {
    if (!c) return;
    for (int i = 0; i < c->count; i++)
        free((char *)c->entries[i].pub.problem);
    free(c->entries);
    pk_free(c->pm);
    if (c->mapped)
        munmap(c->pkl, c->pkl_size);
    else if (c->zip)
        free(c->pkl);
    ug_zip_close(c->zip);
    for (int i = 0; i < c->nnotes; i++)
        free(c->notes[i]);
    free(c->verified);
    free(c->cache);
    free(c->root_prefix);
    free(c->path);
    free(c);
}

const char *ug_ckpt_path(const ug_ckpt *c) {
    return c->path;
}
const char *ug_ckpt_layout(const ug_ckpt *c) {
    return c->layout;
}
int ug_ckpt_count(const ug_ckpt *c) {
    return c->count;
}
const ug_ckpt_tensor *ug_ckpt_at(const ug_ckpt *c, int i) {
    return i >= 0 && i < c->count ? &c->entries[i].pub : NULL;
}
int ug_ckpt_note_count(const ug_ckpt *c) {
    return c->nnotes;
}
const char *ug_ckpt_note(const ug_ckpt *c, int i) {
    return i >= 0 && i < c->nnotes ? c->notes[i] : NULL;
}

const ug_ckpt_tensor *ug_ckpt_find(const ug_ckpt *c, const char *name) {
    for (int i = 0; i < c->count; i++)
        if (!strcmp(c->entries[i].pub.name, name)) return &c->entries[i].pub;
    return NULL;
}

// ---- data ----------------------------------------------------------------------------------

// Byte source of a storage: a stored zip entry (pread) or memory.
typedef struct src {
    ug_ckpt *c;
    const ug_zip_entry *zent; // NULL: memory
    const uint8_t *mem;
    uint64_t size;
} src;

static ug_status src_read(const src *s, uint64_t off, void *dst, size_t n, ug_err *err) {
    if (!s->zent) {
        memcpy(dst, s->mem + off, n); // ranges were validated against the storage size
        return UG_OK;
    }
    return ug_zip_read_at(s->c->zip, s->zent, off, dst, n, err);
}

// Copies the elements of a strided view (element offset, sizes, strides) into dst in
// C order. Runs along the last dim are contiguous when its stride is 1; a window of
// WINDOW bytes serves nearby small runs so that transposed views do not read per element.
static ug_status gather(const src *s, size_t es, int64_t offset, int ndim, const int64_t *size,
                        const int64_t *stride, uint8_t *dst, ug_err *err) {
    int64_t numel = numel_of(ndim, size);
    if (numel == 0) return UG_OK;
    int64_t run = ndim && stride[ndim - 1] == 1 ? size[ndim - 1] : 1;
    int outer = ndim && stride[ndim - 1] == 1 ? ndim - 1 : ndim;
    uint8_t *win = NULL;
    uint64_t win_lo = 0, win_len = 0;
    int64_t idx[UG_MAX_DIMS] = {0};
    ug_status st = UG_OK;
    size_t run_bytes = (size_t)run * es;
    for (int64_t done = 0; done < numel && !st; done += run) {
        int64_t e = offset;
        for (int d = 0; d < outer; d++)
            e += idx[d] * stride[d];
        uint64_t off = (uint64_t)e * es;
        if (run_bytes >= WINDOW / 4) {
            st = src_read(s, off, dst, run_bytes, err);
        } else {
            if (!win && !(win = malloc(WINDOW)))
                return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", s->c->path);
            if (off < win_lo || off + run_bytes > win_lo + win_len) {
                win_lo = off;
                win_len = s->size - off < WINDOW ? s->size - off : WINDOW;
                st = src_read(s, win_lo, win, (size_t)win_len, err);
            }
            if (!st) memcpy(dst, win + (off - win_lo), run_bytes);
        }
        dst += run_bytes;
        for (int d = outer - 1; d >= 0; d--) {
            if (++idx[d] < size[d]) break;
            idx[d] = 0;
        }
    }
    free(win);
    return st;
}

static bool is_verified(const ug_ckpt *c, const ug_zip_entry *z) {
    for (int i = 0; i < c->nverified; i++)
        if (c->verified[i] == z) return true;
    return false;
}

static ug_status mark_verified(ug_ckpt *c, const ug_zip_entry *z, ug_err *err) {
    if (c->nverified == c->verified_cap) {
        int cap = c->verified_cap ? 2 * c->verified_cap : 64;
        const ug_zip_entry **v = realloc(c->verified, (size_t)cap * sizeof *v);
        if (!v) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", c->path);
        c->verified = v;
        c->verified_cap = cap;
    }
    c->verified[c->nverified++] = z;
    return UG_OK;
}

static bool contiguous(int ndim, const int64_t *size, const int64_t *stride) {
    int64_t want = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        if (size[d] != 1 && stride[d] != want) return false;
        want *= size[d];
    }
    return true;
}

static ug_status read_torch(ug_ckpt *c, const entry *e, uint8_t *dst, ug_err *err) {
    const pk_obj *t = e->obj;
    const ug_zip_entry *z = e->zent;
    size_t es = ug_dtype_size(e->pub.dtype);
    ug_status st;
    src s = {.c = c, .zent = z, .size = z->size};
    if (z->method != 0) {
        // Compressed storages have no random access: inflate the entry once (CRC checked).
        if (c->cached != z) {
            free(c->cache);
            c->cache = NULL;
            c->cached = NULL;
            void *buf;
            if ((st = ug_zip_read_entry(c->zip, z, (size_t)UG_MAX_TENSOR_BYTES, &buf, NULL, err))) return st;
            c->cache = buf;
            c->cached = z;
        }
        s.zent = NULL;
        s.mem = c->cache;
        return gather(&s, es, t->tensor.offset, t->tensor.ndim, t->tensor.size, t->tensor.stride, dst, err);
    }
    bool whole = false;
    if (contiguous(t->tensor.ndim, t->tensor.size, t->tensor.stride)) {
        if ((st = src_read(&s, (uint64_t)t->tensor.offset * es, dst, e->pub.nbytes, err))) return st;
        whole = t->tensor.offset == 0 && e->pub.nbytes == z->size;
    } else if ((st = gather(&s, es, t->tensor.offset, t->tensor.ndim, t->tensor.size, t->tensor.stride, dst,
                            err))) {
        return st;
    }
    if (is_verified(c, z)) return UG_OK;
    if (whole) {
        // The usual case — one tensor per storage — checks the CRC on the bytes just read.
        uLong crc = crc32(0L, Z_NULL, 0);
        for (size_t off = 0; off < e->pub.nbytes; off += 1u << 30) {
            size_t n = e->pub.nbytes - off < (1u << 30) ? e->pub.nbytes - off : (1u << 30);
            crc = crc32(crc, dst + off, (uInt)n);
        }
        if ((uint32_t)crc != z->crc)
            return ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': CRC-32 mismatch (stored %08x, computed %08x)",
                           c->path, z->name, z->crc, (unsigned)crc);
    } else if ((st = ug_zip_check_crc(c->zip, z, err))) {
        return st;
    }
    return mark_verified(c, z, err);
}

static ug_status read_numpy(ug_ckpt *c, const entry *e, uint8_t *dst, ug_err *err) {
    const pk_obj *a = e->obj;
    const pk_payload *p = &a->nd.data->str.p;
    ug_status st;
    if (!a->nd.fortran || a->nd.ndim < 2) {
        st = pk_payload_read(c->pm, p, dst, e->pub.nbytes, err);
    } else {
        // Fortran order: element (i0, .., ik) sits at i0 + s0 * (i1 + s1 * (...)).
        uint8_t *tmp = malloc(e->pub.nbytes ? e->pub.nbytes : 1);
        if (!tmp) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory for '%s'", c->path, e->pub.name);
        st = pk_payload_read(c->pm, p, tmp, e->pub.nbytes, err);
        if (!st) {
            int64_t stride[UG_MAX_DIMS], acc = 1;
            for (int d = 0; d < a->nd.ndim; d++) {
                stride[d] = acc;
                acc *= a->nd.shape[d];
            }
            src s = {.c = c, .mem = tmp, .size = e->pub.nbytes};
            st = gather(&s, ug_dtype_size(e->pub.dtype), 0, a->nd.ndim, a->nd.shape, stride, dst, err);
        }
        free(tmp);
    }
    if (st) ug_err_prefix(err, "tensor '%s': ", e->pub.name);
    if (c->mapped && p->len > 0) {
        // Give the payload's pages back: packing streams through the file once.
        long pg = sysconf(_SC_PAGESIZE);
        uintptr_t lo = (uintptr_t)c->pkl + p->off, hi = lo + p->len;
        lo = (lo + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
        hi &= ~((uintptr_t)pg - 1);
        if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
    return st;
}

ug_status ug_ckpt_read(ug_ckpt *c, const ug_ckpt_tensor *t, void *dst, ug_err *err) {
    const entry *e = (const entry *)t;
    if (t->problem || !e->obj)
        return ug_errf(err, UG_ERR_FORMAT, "%s: '%s' is not a tensor but %s", c->path, t->name,
                       t->problem ? t->problem : "nothing");
    return e->obj->kind == PK_TENSOR ? read_torch(c, e, dst, err) : read_numpy(c, e, dst, err);
}
