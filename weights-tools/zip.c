// weights-tools/zip.c — see zip.h. Record layouts follow PKWARE APPNOTE 6.3 (sections 4.3.7
// local header, 4.3.12 central header, 4.3.14-16 zip64 end records, 4.5.3 zip64 extra).
#include "weights-tools/zip.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum {
    SIG_LOCAL = 0x04034b50,
    SIG_CENTRAL = 0x02014b50,
    SIG_EOCD = 0x06054b50,
    SIG_EOCD64 = 0x06064b50,
    SIG_LOC64 = 0x07064b50,
    EOCD_SIZE = 22,
    LOC64_SIZE = 20,
    EOCD64_SIZE = 56,
    CENTRAL_SIZE = 46,
    LOCAL_SIZE = 30,
    CHUNK = 1 << 20,
};

struct ug_zip {
    char *name;
    int fd;             // -1 for a memory archive
    const uint8_t *mem; // memory archive
    uint64_t size;      // archive bytes
    ug_zip_entry *entries;
    char *names; // all entry names, NUL-separated
    int count;
    int *sorted; // entry indices sorted by name, for ug_zip_find
};

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static ug_status zread(ug_zip *z, uint64_t off, void *buf, size_t n, ug_err *err) {
    if (off > z->size || n > z->size - off)
        return ug_errf(err, UG_ERR_FORMAT,
                       "%s: truncated (read of %zu bytes at offset %llu past the end, %llu bytes)", z->name,
                       n, (unsigned long long)off, (unsigned long long)z->size);
    if (z->fd < 0) {
        memcpy(buf, z->mem + off, n);
        return UG_OK;
    }
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = pread(z->fd, p, n > (1u << 30) ? (1u << 30) : n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return ug_errf(err, UG_ERR_IO, "%s: read failed at offset %llu: %s", z->name,
                           (unsigned long long)off, r < 0 ? strerror(errno) : "unexpected end of file");
        p += r;
        off += (uint64_t)r;
        n -= (size_t)r;
    }
    return UG_OK;
}

static int cmp_name_idx(const void *a, const void *b, void *arg) {
    const ug_zip *z = arg;
    return strcmp(z->entries[*(const int *)a].name, z->entries[*(const int *)b].name);
}

static int cmp_offset(const void *a, const void *b, void *arg) {
    const ug_zip *z = arg;
    uint64_t x = z->entries[*(const int *)a].data_offset, y = z->entries[*(const int *)b].data_offset;
    return x < y ? -1 : x > y;
}

// Finds the end of central directory record: the last signature within the final 64 KiB +
// 22 bytes whose comment length reaches exactly the end of the file.
static ug_status find_eocd(ug_zip *z, uint8_t *eocd, uint64_t *pos, ug_err *err) {
    if (z->size < EOCD_SIZE)
        return ug_errf(err, UG_ERR_FORMAT, "%s: not a zip archive (%llu bytes, too short)", z->name,
                       (unsigned long long)z->size);
    uint64_t span = z->size < EOCD_SIZE + 65535 ? z->size : EOCD_SIZE + 65535;
    uint8_t *tail = malloc(span);
    if (!tail) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", z->name);
    ug_status st = zread(z, z->size - span, tail, span, err);
    if (st) {
        free(tail);
        return st;
    }
    for (uint64_t i = span - EOCD_SIZE + 1; i-- > 0;) {
        if (rd32(tail + i) == SIG_EOCD && i + EOCD_SIZE + rd16(tail + i + 20) == span) {
            memcpy(eocd, tail + i, EOCD_SIZE);
            *pos = z->size - span + i;
            free(tail);
            return UG_OK;
        }
    }
    free(tail);
    return ug_errf(err, UG_ERR_FORMAT, "%s: not a zip archive (no end of central directory record)", z->name);
}

// Reads the zip64 extended-information extra field: the fields present are exactly those
// whose 32-bit central value is 0xFFFFFFFF, in the order size, compressed size, offset.
static ug_status zip64_extra(ug_zip *z, const char *ename, const uint8_t *extra, size_t n, uint64_t *size,
                             uint64_t *csize, uint64_t *loff, bool need_size, bool need_csize, bool need_off,
                             ug_err *err) {
    size_t i = 0;
    while (i + 4 <= n) {
        uint16_t id = rd16(extra + i), len = rd16(extra + i + 2);
        if (i + 4 + len > n) break;
        if (id == 0x0001) {
            const uint8_t *p = extra + i + 4;
            size_t k = 0, want = 8u * (need_size + need_csize + need_off);
            if (len < want) break;
            if (need_size) *size = rd64(p + k), k += 8;
            if (need_csize) *csize = rd64(p + k), k += 8;
            if (need_off) *loff = rd64(p + k);
            return UG_OK;
        }
        i += 4u + len;
    }
    if (!need_size && !need_csize && !need_off) return UG_OK;
    return ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': missing or short zip64 extra field", z->name, ename);
}

static ug_status parse(ug_zip *z, ug_err *err) {
    uint8_t eocd[EOCD_SIZE] = {0};
    uint64_t eocd_pos = 0;
    ug_status st = find_eocd(z, eocd, &eocd_pos, err);
    if (st) return st;
    uint64_t n_entries = rd16(eocd + 10), cd_size = rd32(eocd + 12), cd_off = rd32(eocd + 16);
    uint64_t cd_end_limit = eocd_pos;
    if (rd16(eocd + 4) != 0 || rd16(eocd + 6) != 0 || rd16(eocd + 8) != rd16(eocd + 10))
        return ug_errf(err, UG_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported", z->name);
    // A zip64 locator sits right before the end record when any field overflowed.
    if (eocd_pos >= LOC64_SIZE) {
        uint8_t loc[LOC64_SIZE];
        if ((st = zread(z, eocd_pos - LOC64_SIZE, loc, LOC64_SIZE, err))) return st;
        if (rd32(loc) == SIG_LOC64) {
            uint64_t e64_pos = rd64(loc + 8);
            uint8_t e64[EOCD64_SIZE];
            if (e64_pos > eocd_pos - LOC64_SIZE || eocd_pos - LOC64_SIZE - e64_pos < EOCD64_SIZE)
                return ug_errf(err, UG_ERR_FORMAT, "%s: zip64 end record offset %llu out of bounds", z->name,
                               (unsigned long long)e64_pos);
            if ((st = zread(z, e64_pos, e64, EOCD64_SIZE, err))) return st;
            if (rd32(e64) != SIG_EOCD64)
                return ug_errf(err, UG_ERR_FORMAT, "%s: bad zip64 end record signature", z->name);
            if (rd64(e64 + 24) != rd64(e64 + 32) || rd32(e64 + 16) != 0 || rd32(e64 + 20) != 0)
                return ug_errf(err, UG_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                               z->name);
            n_entries = rd64(e64 + 32);
            cd_size = rd64(e64 + 40);
            cd_off = rd64(e64 + 48);
            cd_end_limit = e64_pos;
        }
    }
    if (cd_off > cd_end_limit || cd_size > cd_end_limit - cd_off)
        return ug_errf(err, UG_ERR_FORMAT, "%s: central directory (offset %llu, %llu bytes) out of bounds",
                       z->name, (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (n_entries > cd_size / CENTRAL_SIZE)
        return ug_errf(err, UG_ERR_FORMAT, "%s: %llu entries cannot fit in a %llu-byte central directory",
                       z->name, (unsigned long long)n_entries, (unsigned long long)cd_size);
    if (n_entries > INT_MAX / 2) return ug_errf(err, UG_ERR_NOMEM, "%s: too many entries", z->name);
    uint8_t *cd = malloc(cd_size ? cd_size : 1);
    z->entries = calloc(n_entries ? n_entries : 1, sizeof *z->entries);
    z->names = malloc(cd_size + 1); // names are shorter than their headers
    z->sorted = malloc((n_entries ? n_entries : 1) * sizeof *z->sorted);
    if (!cd || !z->entries || !z->names || !z->sorted) {
        free(cd);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory for the central directory", z->name);
    }
    if ((st = zread(z, cd_off, cd, cd_size, err))) {
        free(cd);
        return st;
    }
    size_t pos = 0, names_len = 0;
    for (uint64_t i = 0; i < n_entries; i++) {
        if (cd_size - pos < CENTRAL_SIZE || rd32(cd + pos) != SIG_CENTRAL) {
            free(cd);
            return ug_errf(err, UG_ERR_FORMAT, "%s: bad central directory header %llu", z->name,
                           (unsigned long long)i);
        }
        const uint8_t *h = cd + pos;
        size_t nlen = rd16(h + 28), xlen = rd16(h + 30), clen = rd16(h + 32);
        if (cd_size - pos - CENTRAL_SIZE < nlen + xlen + clen) {
            free(cd);
            return ug_errf(err, UG_ERR_FORMAT, "%s: central directory header %llu truncated", z->name,
                           (unsigned long long)i);
        }
        char *name = z->names + names_len;
        memcpy(name, h + CENTRAL_SIZE, nlen);
        name[nlen] = '\0';
        names_len += nlen + 1;
        if (strlen(name) != nlen) {
            free(cd);
            return ug_errf(err, UG_ERR_FORMAT, "%s: entry %llu has a NUL byte in its name", z->name,
                           (unsigned long long)i);
        }
        ug_zip_entry *e = &z->entries[i];
        e->name = name;
        e->flags = rd16(h + 8);
        e->method = rd16(h + 10);
        e->crc = rd32(h + 16);
        uint64_t csize = rd32(h + 20), size = rd32(h + 24), loff = rd32(h + 42);
        if ((st = zip64_extra(z, name, h + CENTRAL_SIZE + nlen, xlen, &size, &csize, &loff,
                              size == 0xFFFFFFFFu, csize == 0xFFFFFFFFu, loff == 0xFFFFFFFFu, err))) {
            free(cd);
            return st;
        }
        e->size = size;
        e->comp_size = csize;
        if (e->method == 0 && size != csize && !(e->flags & 1)) {
            free(cd);
            return ug_errf(err, UG_ERR_FORMAT,
                           "%s: stored entry '%s' has size %llu but %llu bytes in the archive", z->name, name,
                           (unsigned long long)size, (unsigned long long)csize);
        }
        // The local header repeats the name; its own extra field may differ (torch pads
        // there to align the data), so the data starts after *its* lengths.
        uint8_t lh[LOCAL_SIZE];
        if (loff > cd_off || cd_off - loff < LOCAL_SIZE) {
            free(cd);
            return ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': local header offset %llu out of bounds",
                           z->name, name, (unsigned long long)loff);
        }
        if ((st = zread(z, loff, lh, LOCAL_SIZE, err))) {
            free(cd);
            return st;
        }
        uint64_t lnlen = rd16(lh + 26), lxlen = rd16(lh + 28);
        if (rd32(lh) != SIG_LOCAL || lnlen != nlen) {
            free(cd);
            return ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': bad local header at offset %llu", z->name,
                           name, (unsigned long long)loff);
        }
        e->data_offset = loff + LOCAL_SIZE + lnlen + lxlen;
        if (e->data_offset > cd_off || csize > cd_off - e->data_offset) {
            free(cd);
            return ug_errf(err, UG_ERR_FORMAT,
                           "%s: entry '%s': data (offset %llu, %llu bytes) runs past the central directory",
                           z->name, name, (unsigned long long)e->data_offset, (unsigned long long)csize);
        }
        char lname[65536];
        if ((st = zread(z, loff + LOCAL_SIZE, lname, lnlen, err))) {
            free(cd);
            return st;
        }
        if (memcmp(lname, name, nlen) != 0) {
            free(cd);
            return ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': local header names a different file", z->name,
                           name);
        }
        z->sorted[i] = (int)i;
        pos += CENTRAL_SIZE + nlen + xlen + clen;
    }
    free(cd);
    z->count = (int)n_entries;
    // Data ranges must not overlap: a crafted archive could otherwise alias one entry's bytes
    // as another's (local header included).
    qsort_r(z->sorted, (size_t)z->count, sizeof *z->sorted, cmp_offset, z);
    for (int i = 1; i < z->count; i++) {
        const ug_zip_entry *a = &z->entries[z->sorted[i - 1]], *b = &z->entries[z->sorted[i]];
        if (a->data_offset + a->comp_size > b->data_offset - LOCAL_SIZE)
            return ug_errf(err, UG_ERR_FORMAT, "%s: entries '%s' and '%s' overlap", z->name, a->name,
                           b->name);
    }
    for (int i = 0; i < z->count; i++)
        z->sorted[i] = i;
    qsort_r(z->sorted, (size_t)z->count, sizeof *z->sorted, cmp_name_idx, z);
    for (int i = 1; i < z->count; i++)
        if (!strcmp(z->entries[z->sorted[i - 1]].name, z->entries[z->sorted[i]].name))
            return ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s' appears twice", z->name,
                           z->entries[z->sorted[i]].name);
    return UG_OK;
}

static ug_status open_common(ug_zip **out, ug_zip *z, ug_err *err) {
    ug_status st = parse(z, err);
    if (st) {
        ug_zip_close(z);
        return st;
    }
    *out = z;
    return UG_OK;
}

ug_status ug_zip_open(ug_zip **out, const char *path, ug_err *err) {
    *out = NULL;
    ug_zip *z = calloc(1, sizeof *z);
    if (!z || !(z->name = strdup(path))) {
        free(z);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
    }
    z->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (z->fd < 0 || fstat(z->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ug_status st =
            ug_errf(err, UG_ERR_IO, "%s: %s", path, z->fd < 0 ? strerror(errno) : "not a regular file");
        ug_zip_close(z);
        return st;
    }
    z->size = (uint64_t)sb.st_size;
    return open_common(out, z, err);
}

ug_status ug_zip_open_memory(ug_zip **out, const void *data, size_t size, const char *name, ug_err *err) {
    *out = NULL;
    ug_zip *z = calloc(1, sizeof *z);
    if (!z || !(z->name = strdup(name))) {
        free(z);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
    }
    z->fd = -1;
    z->mem = data;
    z->size = size;
    return open_common(out, z, err);
}

void ug_zip_close(ug_zip *z) {
    if (!z) return;
    if (z->fd >= 0) close(z->fd);
    free(z->entries);
    free(z->names);
    free(z->sorted);
    free(z->name);
    free(z);
}

const char *ug_zip_name(const ug_zip *z) {
    return z->name;
}
int ug_zip_count(const ug_zip *z) {
    return z->count;
}
const ug_zip_entry *ug_zip_at(const ug_zip *z, int i) {
    return i >= 0 && i < z->count ? &z->entries[i] : NULL;
}

const ug_zip_entry *ug_zip_find(const ug_zip *z, const char *name) {
    int lo = 0, hi = z->count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(z->entries[z->sorted[mid]].name, name);
        if (c == 0) return &z->entries[z->sorted[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static ug_status check_readable(ug_zip *z, const ug_zip_entry *e, ug_err *err) {
    if (e->flags & 1)
        return ug_errf(err, UG_ERR_UNSUPPORTED, "%s: entry '%s' is encrypted", z->name, e->name);
    if (e->method != 0 && e->method != 8)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "%s: entry '%s' uses compression method %u (only stored and deflated are supported)",
                       z->name, e->name, e->method);
    return UG_OK;
}

// Streams the uncompressed bytes of e in bounded chunks, then checks length and CRC.
// `dst` != NULL (e->size bytes) receives the bytes; NULL only verifies.
static ug_status stream_entry(ug_zip *z, const ug_zip_entry *e, uint8_t *dst, ug_err *err) {
    ug_status st = check_readable(z, e, err);
    if (st) return st;
    // Buffers of at most CHUNK, no bigger than the entry needs: a checkpoint has hundreds of
    // small entries, and two 1 MiB buffers each cost more than reading them.
    uint64_t in_need = e->method == 0 ? (dst ? 1 : e->size) : e->comp_size;
    size_t in_n = in_need == 0 ? 1 : in_need < CHUNK ? (size_t)in_need : CHUNK;
    size_t out_n = e->method == 0 ? 1 : e->size < CHUNK ? (size_t)e->size + 1 : CHUNK;
    uint8_t *in = malloc(in_n), *out = malloc(out_n);
    if (!in || !out) {
        free(in);
        free(out);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", z->name);
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t produced = 0;
    if (e->method == 0) {
        for (uint64_t off = 0; off < e->size && !st;) {
            size_t n = e->size - off < CHUNK ? (size_t)(e->size - off) : CHUNK;
            uint8_t *p = dst ? dst + off : in;
            if (!(st = zread(z, e->data_offset + off, p, n, err))) crc = crc32(crc, p, (uInt)n);
            off += n;
        }
        produced = e->size;
    } else {
        // Inflate chunk by chunk into `out`; the total may never exceed the declared size.
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
            free(in);
            free(out);
            return ug_errf(err, UG_ERR_NOMEM, "%s: inflateInit failed", z->name);
        }
        uint64_t consumed = 0;
        int zr = Z_OK;
        while (zr != Z_STREAM_END) {
            if (zs.avail_in == 0) {
                if (consumed == e->comp_size) {
                    st = ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': deflate stream truncated", z->name,
                                 e->name);
                    break;
                }
                size_t n = e->comp_size - consumed < CHUNK ? (size_t)(e->comp_size - consumed) : CHUNK;
                if ((st = zread(z, e->data_offset + consumed, in, n, err))) break;
                consumed += n;
                zs.next_in = in;
                zs.avail_in = (uInt)n;
            }
            zs.next_out = out;
            zs.avail_out = (uInt)out_n;
            zr = inflate(&zs, Z_NO_FLUSH);
            if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR && zs.avail_in == 0)) {
                st = ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': corrupt deflate data (%s)", z->name,
                             e->name, zs.msg ? zs.msg : "inflate error");
                break;
            }
            size_t got = out_n - zs.avail_out;
            if (got > e->size - produced) {
                st = ug_errf(err, UG_ERR_FORMAT,
                             "%s: entry '%s': inflates to more than its declared %llu bytes", z->name,
                             e->name, (unsigned long long)e->size);
                break;
            }
            crc = crc32(crc, out, (uInt)got);
            if (dst) memcpy(dst + produced, out, got);
            produced += got;
        }
        inflateEnd(&zs);
    }
    free(in);
    free(out);
    if (st) return st;
    if (produced != e->size)
        return ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': %llu bytes of data, declared %llu", z->name,
                       e->name, (unsigned long long)produced, (unsigned long long)e->size);
    if ((uint32_t)crc != e->crc)
        return ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': CRC-32 mismatch (stored %08x, computed %08x)",
                       z->name, e->name, e->crc, (unsigned)crc);
    return UG_OK;
}

ug_status ug_zip_read_entry(ug_zip *z, const ug_zip_entry *e, size_t max_size, void **data, size_t *size,
                            ug_err *err) {
    *data = NULL;
    ug_status st = check_readable(z, e, err);
    if (st) return st;
    if (e->size > max_size)
        return ug_errf(err, UG_ERR_NOMEM, "%s: entry '%s' declares %llu bytes, more than the %zu allowed",
                       z->name, e->name, (unsigned long long)e->size, max_size);
    // A deflate stream expands at most ~1032x; a larger claim is a lie we need not allocate for.
    if (e->method == 8 && e->size / 1032 > e->comp_size + 1)
        return ug_errf(err, UG_ERR_FORMAT,
                       "%s: entry '%s' declares %llu bytes from %llu compressed bytes (impossible)", z->name,
                       e->name, (unsigned long long)e->size, (unsigned long long)e->comp_size);
    uint8_t *buf = malloc((size_t)e->size + 1);
    if (!buf) return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory for entry '%s'", z->name, e->name);
    st = stream_entry(z, e, buf, err);
    if (st) {
        free(buf);
        return st;
    }
    buf[e->size] = 0;
    *data = buf;
    if (size) *size = (size_t)e->size;
    return UG_OK;
}

ug_status ug_zip_read_at(ug_zip *z, const ug_zip_entry *e, uint64_t off, void *buf, size_t n, ug_err *err) {
    ug_status st = check_readable(z, e, err);
    if (st) return st;
    if (e->method != 0)
        return ug_errf(err, UG_ERR_INTERNAL, "%s: entry '%s' is compressed; no random access", z->name,
                       e->name);
    if (off > e->size || n > e->size - off)
        return ug_errf(err, UG_ERR_FORMAT, "%s: entry '%s': bytes [%llu, %llu) are outside its %llu bytes",
                       z->name, e->name, (unsigned long long)off, (unsigned long long)(off + n),
                       (unsigned long long)e->size);
    return zread(z, e->data_offset + off, buf, n, err);
}

ug_status ug_zip_check_crc(ug_zip *z, const ug_zip_entry *e, ug_err *err) {
    return stream_entry(z, e, NULL, err);
}
