// tests/test_zip.c — the ZIP reader: round trips through our writer (plain and zip64), a
// deflated entry, the golden torch checkpoints, and hostile archives (truncation at every
// length, bad CRC, bad offsets, overlapping entries, lying sizes).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tests/helpers.h"
#include "weights-tools/torch_writer.h"
#include "weights-tools/zip.h"

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    put16(p, (uint16_t)v), put16(p + 2, (uint16_t)(v >> 16));
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// Writes entries a (100 bytes), b (empty), c (70000 bytes) with our writer; returns the bytes.
static uint8_t *make_zip(const char *dir, bool zip64, size_t *n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/t%d.zip", dir, zip64);
    ug_zipw *w;
    ug_err err;
    ck_assert_int_eq(ug_zipw_create(&w, path, zip64, &err), UG_OK);
    uint8_t *big = malloc(70000);
    for (int i = 0; i < 70000; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    ck_assert_int_eq(ug_zipw_begin(w, "root/a", &err), UG_OK);
    ck_assert_int_eq(ug_zipw_write(w, big, 100, &err), UG_OK);
    ck_assert_int_eq(ug_zipw_end(w, &err), UG_OK);
    ck_assert_int_eq(ug_zipw_begin(w, "root/b", &err), UG_OK);
    ck_assert_int_eq(ug_zipw_end(w, &err), UG_OK);
    ck_assert_int_eq(ug_zipw_begin(w, "root/c", &err), UG_OK);
    ck_assert_int_eq(ug_zipw_write(w, big, 30000, &err), UG_OK); // in two pieces: streaming
    ck_assert_int_eq(ug_zipw_write(w, big + 30000, 40000, &err), UG_OK);
    ck_assert_int_eq(ug_zipw_end(w, &err), UG_OK);
    ck_assert_int_eq(ug_zipw_finish(w, &err), UG_OK);
    free(big);
    uint8_t *data = test_read_file(path, n);
    ck_assert_ptr_nonnull(data);
    return data;
}

static void check_contents(ug_zip *z) {
    ug_err err;
    ck_assert_int_eq(ug_zip_count(z), 3);
    const ug_zip_entry *c = ug_zip_find(z, "root/c");
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(ug_zip_find(z, "root/d"));
    ck_assert_int_eq(c->size, 70000);
    ck_assert_int_eq(c->data_offset % 64, 0); // aligned as torch aligns storages
    void *d;
    size_t n;
    ck_assert_int_eq(ug_zip_read_entry(z, c, 1 << 20, &d, &n, &err), UG_OK);
    ck_assert_int_eq(n, 70000);
    for (int i = 0; i < 70000; i++)
        ck_assert_int_eq(((uint8_t *)d)[i], (uint8_t)(i * 7 + 3));
    free(d);
    uint8_t part[10];
    ck_assert_int_eq(ug_zip_read_at(z, c, 69990, part, 10, &err), UG_OK);
    ck_assert_int_eq(part[9], (uint8_t)(69999 * 7 + 3));
    ck_assert_int_eq(ug_zip_read_at(z, c, 69991, part, 10, &err), UG_ERR_FORMAT); // past the entry
    ck_assert_int_eq(ug_zip_check_crc(z, ug_zip_find(z, "root/b"), &err), UG_OK);
    ck_assert_int_eq(ug_zip_read_entry(z, c, 1000, &d, &n, &err), UG_ERR_NOMEM); // over the caller's limit
}

START_TEST(roundtrip_plain_and_zip64) {
    char *dir = test_tmpdir();
    for (int z64 = 0; z64 < 2; z64++) {
        size_t n;
        uint8_t *data = make_zip(dir, z64, &n);
        ug_zip *z;
        ug_err err;
        ck_assert_int_eq(ug_zip_open_memory(&z, data, n, "mem.zip", &err), UG_OK);
        check_contents(z);
        ug_zip_close(z);
        char path[4096];
        snprintf(path, sizeof path, "%s/t%d.zip", dir, z64);
        ck_assert_int_eq(ug_zip_open(&z, path, &err), UG_OK); // the pread path
        check_contents(z);
        ug_zip_close(z);
        if (z64) ck_assert_ptr_nonnull(memmem(data, n, "PK\x06\x06", 4)); // a zip64 end record is there
        free(data);
    }
    test_rmtree(dir);
    free(dir);
}
END_TEST

// A one-entry archive with a deflated entry built by hand (our writer only stores).
static uint8_t *make_deflated(const uint8_t *plain, size_t np, uint32_t declared_size, size_t *n) {
    uLongf cap = compressBound(np) + 64;
    uint8_t *comp = malloc(cap);
    z_stream zs = {0};
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (uint8_t *)plain;
    zs.avail_in = (uInt)np;
    zs.next_out = comp;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t nc = cap - zs.avail_out;
    deflateEnd(&zs);
    uint32_t crc = (uint32_t)crc32(0, plain, (uInt)np);
    const char *name = "x/data.pkl";
    size_t nl = strlen(name);
    size_t total = 30 + nl + nc + 46 + nl + 22;
    uint8_t *z = calloc(1, total), *p = z;
    put32(p, 0x04034b50), put16(p + 8, 8), put32(p + 14, crc), put32(p + 18, (uint32_t)nc),
        put32(p + 22, declared_size);
    put16(p + 26, (uint16_t)nl);
    memcpy(p + 30, name, nl);
    memcpy(p + 30 + nl, comp, nc);
    p += 30 + nl + nc;
    put32(p, 0x02014b50), put16(p + 10, 8), put32(p + 16, crc), put32(p + 20, (uint32_t)nc),
        put32(p + 24, declared_size);
    put16(p + 28, (uint16_t)nl);
    memcpy(p + 46, name, nl);
    p += 46 + nl;
    put32(p, 0x06054b50), put16(p + 8, 1), put16(p + 10, 1), put32(p + 12, (uint32_t)(46 + nl)),
        put32(p + 16, (uint32_t)(30 + nl + nc));
    free(comp);
    *n = total;
    return z;
}

START_TEST(deflated_entry_and_lying_sizes) {
    uint8_t plain[5000];
    for (int i = 0; i < 5000; i++)
        plain[i] = (uint8_t)(i % 13);
    size_t n;
    ug_err err;
    ug_zip *z;
    void *d;
    size_t got;
    uint8_t *data = make_deflated(plain, sizeof plain, sizeof plain, &n);
    ck_assert_int_eq(ug_zip_open_memory(&z, data, n, "defl.zip", &err), UG_OK);
    const ug_zip_entry *e = ug_zip_at(z, 0);
    ck_assert_int_eq(e->method, 8);
    ck_assert_int_eq(ug_zip_read_entry(z, e, 1 << 20, &d, &got, &err), UG_OK);
    ck_assert_int_eq(got, sizeof plain);
    ck_assert_mem_eq(d, plain, sizeof plain);
    free(d);
    uint8_t b;
    ck_assert_int_eq(ug_zip_read_at(z, e, 0, &b, 1, &err), UG_ERR_INTERNAL); // no random access into deflate
    ug_zip_close(z);
    free(data);

    // Declared smaller than it inflates to: refused, not overflowed.
    data = make_deflated(plain, sizeof plain, 100, &n);
    ck_assert_int_eq(ug_zip_open_memory(&z, data, n, "short.zip", &err), UG_OK);
    ck_assert_int_eq(ug_zip_read_entry(z, ug_zip_at(z, 0), 1 << 20, &d, &got, &err), UG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than its declared"));
    ug_zip_close(z);
    free(data);
    // Declared larger: the stream ends early.
    data = make_deflated(plain, sizeof plain, 6000, &n);
    ck_assert_int_eq(ug_zip_open_memory(&z, data, n, "long.zip", &err), UG_OK);
    ck_assert_int_eq(ug_zip_read_entry(z, ug_zip_at(z, 0), 1 << 20, &d, &got, &err), UG_ERR_FORMAT);
    ug_zip_close(z);
    free(data);
    // A "bomb" claim (4 GB from a few hundred bytes) is refused before allocating.
    data = make_deflated(plain, sizeof plain, 0xFFFFFFF0u, &n);
    ck_assert_int_eq(ug_zip_open_memory(&z, data, n, "bomb.zip", &err), UG_OK);
    ck_assert_int_ne(ug_zip_read_entry(z, ug_zip_at(z, 0), (size_t)1 << 40, &d, &got, &err), UG_OK);
    ug_zip_close(z);
    // The same claim under an unsupported method (12, bzip2): refused before allocating.
    uint8_t *cen = memmem(data, n, "PK\x01\x02", 4);
    put16(data + 8, 12);
    put16(cen + 10, 12);
    ck_assert_int_eq(ug_zip_open_memory(&z, data, n, "bzip2.zip", &err), UG_OK);
    ck_assert_int_eq(ug_zip_read_entry(z, ug_zip_at(z, 0), (size_t)1 << 40, &d, &got, &err),
                     UG_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "compression method 12"));
    ug_zip_close(z);
    free(data);
}
END_TEST

// Found by tests/fuzz/fuzz_zip.c (a golden checkpoint with its storages cut to 64 bytes ran at
// 1.5 s an input): every entry read took two 1 MiB buffers, whatever its size. They are now
// sized to the entry; deflated entries of every small size still read whole and are still
// refused when they inflate past the declared size, and many small entries read fast.
START_TEST(small_entries_small_buffers) {
    uint8_t plain[80];
    for (int i = 0; i < 80; i++)
        plain[i] = (uint8_t)(i * 29 + 1);
    ug_err err;
    for (size_t np = 0; np <= 70; np++) {
        for (int lie = -1; lie <= 1; lie++) {
            if (np == 0 && lie < 0) continue;
            size_t n, got;
            void *d;
            uint8_t *data = make_deflated(plain, np, (uint32_t)(np + lie), &n);
            ug_zip *z;
            ck_assert_int_eq(ug_zip_open_memory(&z, data, n, "small.zip", &err), UG_OK);
            ug_status st = ug_zip_read_entry(z, ug_zip_at(z, 0), 1 << 20, &d, &got, &err);
            if (lie == 0) {
                ck_assert_msg(st == UG_OK, "%zu bytes: %s", np, err.msg);
                ck_assert_int_eq(got, np);
                if (np) ck_assert_mem_eq(d, plain, np);
                free(d);
            } else {
                ck_assert_int_eq(st, UG_ERR_FORMAT);
                if (lie < 0) ck_assert_ptr_nonnull(strstr(err.msg, "more than its declared"));
            }
            ug_zip_close(z);
            free(data);
        }
    }
    char *dir = test_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/many.zip", dir);
    ug_zipw *w;
    ck_assert_int_eq(ug_zipw_create(&w, path, false, &err), UG_OK);
    for (int i = 0; i < 400; i++) {
        char name[32];
        snprintf(name, sizeof name, "root/data/%d", i);
        ck_assert_int_eq(ug_zipw_begin(w, name, &err), UG_OK);
        ck_assert_int_eq(ug_zipw_write(w, plain, (size_t)(i % 65), &err), UG_OK);
        ck_assert_int_eq(ug_zipw_end(w, &err), UG_OK);
    }
    ck_assert_int_eq(ug_zipw_finish(w, &err), UG_OK);
    size_t n;
    uint8_t *data = test_read_file(path, &n);
    ug_zip *z;
    ck_assert_int_eq(ug_zip_open_memory(&z, data, n, "many.zip", &err), UG_OK);
    ck_assert_int_eq(ug_zip_count(z), 400);
    // Many small entries read whole (a checkpoint's layout); the buffers are sized to each
    // entry (the speed this buys is a bench matter, not asserted here).
    for (int i = 0; i < 400; i++) {
        void *d;
        size_t got;
        ck_assert_int_eq(ug_zip_read_entry(z, ug_zip_at(z, i), 1 << 20, &d, &got, &err), UG_OK);
        ck_assert_int_eq(got, (size_t)(i % 65));
        if (got) ck_assert_mem_eq(d, plain, got);
        free(d);
    }
    ug_zip_close(z);
    free(data);
    test_tmpdir_remove(&dir);
}
END_TEST

START_TEST(truncated_at_every_length) {
    char *dir = test_tmpdir();
    size_t n;
    uint8_t *data = make_zip(dir, true, &n);
    // Every length near the headers and the central directory, a stride through the data.
    for (size_t cut = 0; cut < n; cut += cut < 512 || cut + 1024 >= n ? 1 : 97) {
        uint8_t *p = malloc(cut ? cut : 1); // exact size so ASan sees any overread
        memcpy(p, data, cut);
        ug_zip *z;
        ug_err err;
        ug_status st = ug_zip_open_memory(&z, p, cut, "cut.zip", &err);
        ck_assert_msg(st != UG_OK, "a zip cut at %zu of %zu bytes opened", cut, n);
        ck_assert(strstr(err.msg, "cut.zip: ") == err.msg);
        free(p);
    }
    free(data);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(bad_crc_offsets_and_overlaps) {
    char *dir = test_tmpdir();
    size_t n;
    uint8_t *data = make_zip(dir, false, &n);
    ug_zip *z;
    ug_err err;
    void *d;
    size_t got;
    // CRC: flip one data byte of entry c.
    uint8_t *p = malloc(n);
    memcpy(p, data, n);
    ck_assert_int_eq(ug_zip_open_memory(&z, p, n, "crc.zip", &err), UG_OK);
    uint64_t off = ug_zip_find(z, "root/c")->data_offset;
    ug_zip_close(z);
    p[off + 500] ^= 1;
    ck_assert_int_eq(ug_zip_open_memory(&z, p, n, "crc.zip", &err), UG_OK);
    ck_assert_int_eq(ug_zip_read_entry(z, ug_zip_find(z, "root/c"), 1 << 20, &d, &got, &err), UG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "CRC-32 mismatch"));
    ck_assert_int_eq(ug_zip_check_crc(z, ug_zip_find(z, "root/c"), &err), UG_ERR_FORMAT);
    ug_zip_close(z);

    // Locate the central directory and the end record.
    size_t eocd = n - 22;
    ck_assert_int_eq(get32(data + eocd), 0x06054b50);
    uint32_t cd = get32(data + eocd + 16);
    struct {
        size_t at;
        uint32_t value;
        const char *why;
    } cases[] = {
        {eocd + 16, 0x7FFFFFF0u, "central directory"},     // cd offset past the end
        {eocd + 12, 0x7FFFFFF0u, "central directory"},     // cd size past the end
        {cd + 42, 0x7FFFFFF0u, "local header offset"},     // entry a's local header
        {cd + 42, 1, "bad local header"},                  // points inside a header
        {cd + 20, 0x7FFFFFF0u, "size"},                    // compressed size != size (stored)
        {cd, 0x12345678u, "bad central directory header"}, // signature
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(p, data, n);
        put32(p + cases[i].at, cases[i].value);
        ck_assert_msg(ug_zip_open_memory(&z, p, n, "bad.zip", &err) != UG_OK, "case %zu opened", i);
        ck_assert_msg(strstr(err.msg, cases[i].why), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].why);
    }
    // Overlap: entry c's central record claims entry a's local header (same data).
    memcpy(p, data, n);
    size_t c_rec = cd + 46 + 6 + 46 + 6; // a and b records (name "root/x" is 6 bytes, no extra)
    put32(p + c_rec + 42, get32(data + cd + 42));
    put32(p + c_rec + 20, 100), put32(p + c_rec + 24, 100);
    memcpy(p + c_rec + 46, "root/c", 6);
    ck_assert_int_ne(ug_zip_open_memory(&z, p, n, "dup.zip", &err), UG_OK);
    free(p);
    free(data);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(golden_checkpoints_open_and_verify) {
    test_require_golden();
    const char *files[] = {"sam_tiny/sam_tiny.pth", "rba_tiny/rba_tiny_1dl.d2.pth",
                           "rba_tiny/rba_tiny_1dl.ugains.ckpt"};
    for (size_t f = 0; f < 3; f++) {
        char *path = test_golden_path(files[f]);
        ug_zip *z;
        ug_err err;
        ck_assert_msg(ug_zip_open(&z, path, &err) == UG_OK, "%s", err.msg);
        bool has_pkl = false;
        for (int i = 0; i < ug_zip_count(z); i++) {
            const ug_zip_entry *e = ug_zip_at(z, i);
            ck_assert_int_eq(e->method, 0);
            ck_assert_msg(ug_zip_check_crc(z, e, &err) == UG_OK, "%s", err.msg);
            size_t len = strlen(e->name);
            has_pkl |= len > 9 && !strcmp(e->name + len - 9, "/data.pkl");
        }
        ck_assert(has_pkl);
        ug_zip_close(z);
        free(path);
    }
}
END_TEST

START_TEST(not_a_zip) {
    ug_zip *z;
    ug_err err;
    ck_assert_int_eq(ug_zip_open_memory(&z, "hello", 5, "short", &err), UG_ERR_FORMAT);
    uint8_t junk[300] = {0};
    ck_assert_int_eq(ug_zip_open_memory(&z, junk, sizeof junk, "junk", &err), UG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "no end of central directory"));
    ck_assert_int_eq(ug_zip_open(&z, "/nonexistent/x.zip", &err), UG_ERR_IO);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "zip", .timeout = 60}, &s);
    test_add(tc, roundtrip_plain_and_zip64, deflated_entry_and_lying_sizes, small_entries_small_buffers,
             truncated_at_every_length, bad_crc_offsets_and_overlaps, golden_checkpoints_open_and_verify,
             not_a_zip);
    return test_run_suite(s);
}
