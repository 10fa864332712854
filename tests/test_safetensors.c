// tests/test_safetensors.c — the packed weights format: writer -> reader round trips over
// every dtype and odd shapes, 64-byte alignment, the exact bytes of small files, the layout
// rules of the official reader, hostile files (each must fail with one line naming the file
// and the problem, without crashing or leaking), and writer misuse leaving no file behind.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/json.h"
#include "engine/safetensors.h"
#include "tests/helpers.h"

typedef struct spec {
    const char *name;
    ug_dtype dt;
    int ndim;
    int64_t shape[UG_MAX_DIMS];
} spec;

// Every dtype, scalars, empty tensors, 5 dims, sizes that leave every possible remainder
// modulo 64.
static const spec SPECS[] = {
    {"a.weight", UG_F32, 2, {17, 3}},
    {"a.bias", UG_F32, 1, {3}},
    {"b.half", UG_F16, 3, {1, 3, 17}},
    {"b.brain", UG_BF16, 2, {33, 1}},
    {"c.double", UG_F64, 1, {7}},
    {"d.long", UG_I64, 2, {3, 1}},
    {"d.int", UG_I32, 1, {127}},
    {"e.bytes", UG_U8, 1, {1}},
    {"e.mask", UG_BOOL, 2, {3, 17}},
    {"f.scalar", UG_F32, 0, {0}},
    {"g.empty", UG_F16, 1, {0}},
    {"g.empty3", UG_I32, 3, {2, 0, 5}},
    {"h.five", UG_F32, 5, {1, 2, 1, 3, 1}},
    {"unicode.caf\xc3\xa9\xe2\x82\xac", UG_U8, 1, {5}},
    {"z.last", UG_BF16, 4, {1, 3, 17, 33}},
};
enum { NSPEC = sizeof SPECS / sizeof *SPECS };

static size_t spec_bytes(const spec *s) {
    size_t n = ug_dtype_size(s->dt);
    for (int d = 0; d < s->ndim; d++)
        n *= (size_t)s->shape[d];
    return n;
}

static const char *CONFIG = "{\"encoder_depth\": 4, \"note\": \"quotes \\\" and\\nnewlines\", \"x\": [1, 2]}";

// Writes SPECS with random contents (seeded) to path, in chunks of random sizes that span
// tensor boundaries. data[i] gets the bytes of tensor i (malloc'ed).
static void write_specs(const char *path, uint64_t seed, unsigned char *data[NSPEC]) {
    test_rng r = test_rng_seed(seed);
    size_t total = 0;
    for (int i = 0; i < NSPEC; i++) {
        size_t n = spec_bytes(&SPECS[i]);
        data[i] = malloc(n ? n : 1);
        for (size_t k = 0; k < n; k++)
            data[i][k] = (unsigned char)test_rng_u64(&r);
        total += n;
    }
    unsigned char *all = malloc(total), *p = all;
    for (int i = 0; i < NSPEC; i++) {
        memcpy(p, data[i], spec_bytes(&SPECS[i]));
        p += spec_bytes(&SPECS[i]);
    }
    ug_st_writer *w;
    ug_err err;
    ck_assert_msg(ug_st_writer_create(&w, path, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(ug_st_writer_meta(w, "arch", "sam", &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_meta(w, "config", CONFIG, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_meta(w, "k\xc3\xa9y", "v\tal", &err), UG_OK);
    for (int i = 0; i < NSPEC; i++)
        ck_assert_msg(
            ug_st_writer_declare(w, SPECS[i].name, SPECS[i].dt, SPECS[i].ndim, SPECS[i].shape, &err) == UG_OK,
            "%s", err.msg);
    ck_assert_msg(ug_st_writer_begin(w, &err) == UG_OK, "%s", err.msg);
    size_t off = 0;
    while (off < total) {
        size_t k = (size_t)(test_rng_u64(&r) % 200);
        if (k > total - off) k = total - off;
        ck_assert_msg(ug_st_writer_write(w, all + off, k, &err) == UG_OK, "%s", err.msg);
        off += k;
    }
    ck_assert_msg(ug_st_writer_finish(w, &err) == UG_OK, "%s", err.msg);
    free(all);
}

static void free_data(unsigned char *data[NSPEC]) {
    for (int i = 0; i < NSPEC; i++)
        free(data[i]);
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

typedef struct off_pair {
    int64_t begin, end;
} off_pair;

static int cmp_pair(const void *a, const void *b) {
    const off_pair *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

// The layout rules of the official reader (huggingface/safetensors tensor.rs, read_metadata
// and Metadata::validate), re-checked on the raw bytes: header <= 100,000,000 bytes of UTF-8
// JSON starting with '{', __metadata__ string -> string, and the entries sorted by offsets
// tile the data section exactly from 0 to the end of the file. Our files must pass it so
// Python can read them.
static void assert_official_layout(const unsigned char *file, size_t size) {
    ck_assert_uint_ge(size, 8);
    uint64_t n = le64(file);
    ck_assert_uint_le(n, 100000000);
    ck_assert_uint_le(n, size - 8);
    ck_assert_uint_eq((8 + n) % 64, 0); // our own rule: data starts 64-aligned
    ck_assert_int_eq(file[8], '{');
    ck_assert(ug_utf8_valid((const char *)file + 8, n));
    ug_json_doc *d;
    ug_err err;
    ck_assert_msg(ug_json_parse(&d, (const char *)file + 8, n, "header", &err) == UG_OK, "%s", err.msg);
    const ug_json *root = ug_json_root(d);
    off_pair *pairs = malloc((root->len + 1) * sizeof *pairs);
    size_t np = 0;
    for (size_t i = 0; i < root->len; i++) {
        const ug_json *m = &root->items[i];
        if (strcmp(m->key, "__metadata__") == 0) {
            for (size_t k = 0; k < m->len; k++)
                ck_assert_int_eq(m->items[k].type, UG_JSON_STRING);
            continue;
        }
        const ug_json *offs = ug_json_get(m, "data_offsets");
        ck_assert(offs && offs->len == 2 && offs->items[0].is_int && offs->items[1].is_int);
        pairs[np++] = (off_pair){offs->items[0].integer, offs->items[1].integer};
        // Each entry's offsets are 64-aligned at the start (fillers included).
        ck_assert_int_eq((8 + (int64_t)n + offs->items[0].integer) % 64 == 0 || m->key[0] == '_', 1);
    }
    qsort(pairs, np, sizeof *pairs, cmp_pair);
    int64_t start = 0;
    for (size_t i = 0; i < np; i++) {
        ck_assert_msg(pairs[i].begin == start, "hole or overlap at data offset %lld", (long long)start);
        ck_assert_int_ge(pairs[i].end, pairs[i].begin);
        start = pairs[i].end;
    }
    ck_assert_uint_eq((uint64_t)start + 8 + n, size); // MetadataIncompleteBuffer otherwise
    free(pairs);
    ug_json_free(d);
}

START_TEST(roundtrip_every_dtype) {
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    unsigned char *data[NSPEC];
    write_specs(path, 11, data);

    size_t size;
    unsigned char *raw = test_read_file(path, &size);
    ck_assert_ptr_nonnull(raw);
    assert_official_layout(raw, size);
    free(raw);

    ug_st_file *f;
    ug_err err;
    ck_assert_msg(ug_st_open(&f, path, &err) == UG_OK, "%s", err.msg);
    ck_assert_str_eq(ug_st_path(f), path);
    ck_assert_int_eq(ug_st_count(f), NSPEC); // fillers are not listed
    for (int i = 0; i < NSPEC; i++) {
        const spec *s = &SPECS[i];
        const ug_st_entry *e = ug_st_at(f, i); // declaration order is file order
        ck_assert_str_eq(e->name, s->name);
        ck_assert_ptr_eq(ug_st_find(f, s->name), e);
        ck_assert_int_eq(e->dtype, s->dt);
        ck_assert_int_eq(e->ndim, s->ndim);
        for (int d = 0; d < s->ndim; d++)
            ck_assert_int_eq(e->shape[d], s->shape[d]);
        ck_assert_uint_eq(e->nbytes, spec_bytes(s));
        // The mapping is page-aligned, so a 64-aligned file offset is a 64-aligned pointer.
        ck_assert_msg((uintptr_t)e->data % 64 == 0, "%s at %p", s->name, e->data);
        ck_assert_msg(memcmp(e->data, data[i], e->nbytes) == 0, "%s: data differs", s->name);

        ug_tensor t;
        ck_assert_int_eq(ug_st_tensor(f, s->name, &t, &err), UG_OK);
        ck_assert_ptr_eq(t.data, e->data);
        ck_assert_int_eq(t.ndim, s->ndim);
        ck_assert(ug_tensor_is_contiguous(&t));
        ck_assert_uint_eq(ug_tensor_nbytes(&t), e->nbytes);
        ck_assert_ptr_null(t.alloc);
    }
    ck_assert_ptr_null(ug_st_at(f, NSPEC));
    ck_assert_ptr_null(ug_st_at(f, -1));
    ck_assert_ptr_null(ug_st_find(f, "nope"));
    ck_assert_ptr_null(ug_st_find(f, "__pad_0__"));
    ug_tensor t;
    ck_assert_int_eq(ug_st_tensor(f, "image_encoder.missing", &t, &err), UG_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s: tensor \"image_encoder.missing\" not found", path);
    ck_assert_str_eq(err.msg, want);

    ck_assert_str_eq(ug_st_meta(f, "arch"), "sam");
    ck_assert_str_eq(ug_st_meta(f, "config"), CONFIG);
    ck_assert_str_eq(ug_st_meta(f, "k\xc3\xa9y"), "v\tal");
    ck_assert_ptr_null(ug_st_meta(f, "absent"));
    ck_assert_int_eq(ug_st_meta_count(f), 3);
    ck_assert_str_eq(ug_st_meta_key(f, 0), "arch");
    ck_assert_str_eq(ug_st_meta_key(f, 2), "k\xc3\xa9y");
    ck_assert_ptr_null(ug_st_meta_key(f, 3));
    // The config is itself JSON text and survives escaping.
    ug_json_doc *cfg;
    ck_assert_int_eq(ug_json_parse(&cfg, ug_st_meta(f, "config"), strlen(CONFIG), "config", &err), UG_OK);
    ck_assert_str_eq(ug_json_get(ug_json_root(cfg), "note")->str, "quotes \" and\nnewlines");
    ug_json_free(cfg);
    ug_st_close(f);
    free_data(data);

    // Nothing but the file is left in the directory (no temporary).
    DIR *dd = opendir(dir);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(dd)))
        if (de->d_name[0] != '.') files++;
    closedir(dd);
    ck_assert_int_eq(files, 1);
    test_rmtree(dir);
    free(dir);
}
END_TEST

// Writes one file's worth of declarations + data through the writer and returns its bytes.
static unsigned char *pack(const spec *specs, int n, const char *meta_key, const char *meta_val,
                           size_t *size) {
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    ug_st_writer *w;
    ug_err err;
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    if (meta_key) ck_assert_int_eq(ug_st_writer_meta(w, meta_key, meta_val, &err), UG_OK);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(
            ug_st_writer_declare(w, specs[i].name, specs[i].dt, specs[i].ndim, specs[i].shape, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_begin(w, &err), UG_OK);
    for (int i = 0; i < n; i++) {
        size_t nb = spec_bytes(&specs[i]);
        unsigned char *buf = malloc(nb ? nb : 1);
        for (size_t k = 0; k < nb; k++)
            buf[k] = (unsigned char)(0x10 * i + k + 1);
        ck_assert_int_eq(ug_st_writer_write(w, buf, nb, &err), UG_OK);
        free(buf);
    }
    ck_assert_msg(ug_st_writer_finish(w, &err) == UG_OK, "%s", err.msg);
    unsigned char *raw = test_read_file(path, size);
    ck_assert_ptr_nonnull(raw);
    test_rmtree(dir);
    free(dir);
    return raw;
}

START_TEST(exact_bytes_of_small_files) {
    // One F32 [2]: the header is the spec's JSON padded with spaces so data starts at 64.
    const spec one[] = {{"a", UG_F32, 1, {2}}};
    size_t size;
    unsigned char *raw = pack(one, 1, NULL, NULL, &size);
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    ck_assert_uint_eq(size, 64 + 8);
    ck_assert_uint_eq(le64(raw), 56);
    ck_assert(memcmp(raw + 8, json, strlen(json)) == 0);
    for (size_t i = 8 + strlen(json); i < 64; i++)
        ck_assert_int_eq(raw[i], ' ');
    ck_assert_int_eq(raw[64], 1);
    assert_official_layout(raw, size);
    free(raw);

    // A 3-byte tensor followed by an F32: a filler entry covers the gap to the next 64.
    const spec two[] = {{"a", UG_U8, 1, {3}}, {"b", UG_F32, 0, {0}}};
    raw = pack(two, 2, "arch", "rba", &size);
    json =
        "{\"__metadata__\":{\"arch\":\"rba\"},\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
        "\"__pad_0__\":{\"dtype\":\"U8\",\"shape\":[61],\"data_offsets\":[3,64]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[64,68]}}";
    uint64_t n = le64(raw);
    ck_assert_uint_eq((8 + n) % 64, 0);
    ck_assert(memcmp(raw + 8, json, strlen(json)) == 0);
    ck_assert_uint_eq(size, 8 + n + 68);
    ck_assert(memcmp(raw + 8 + n, "\x01\x02\x03", 3) == 0);
    for (int i = 3; i < 64; i++)
        ck_assert_int_eq(raw[8 + n + (size_t)i], 0);
    ck_assert(memcmp(raw + 8 + n + 64, "\x11\x12\x13\x14", 4) == 0);
    assert_official_layout(raw, size);
    free(raw);

    // No tensors at all: "{}" padded, as the official writer pads to 8.
    raw = pack(NULL, 0, NULL, NULL, &size);
    ck_assert_uint_eq(size, 64);
    ck_assert(memcmp(raw + 8, "{}   ", 5) == 0);
    ug_st_file *f;
    ug_err err;
    ck_assert_int_eq(ug_st_open_memory(&f, raw, size, "empty", &err), UG_OK);
    ck_assert_int_eq(ug_st_count(f), 0);
    ck_assert_ptr_null(ug_st_meta(f, "arch"));
    ck_assert_int_eq(ug_st_meta_count(f), 0);
    ug_st_close(f);
    free(raw);

    // Trailing empty tensors after an unaligned one still get an aligned start and their
    // filler bytes are in the file.
    const spec tail[] = {{"a", UG_U8, 1, {5}}, {"e", UG_F32, 1, {0}}};
    raw = pack(tail, 2, NULL, NULL, &size);
    assert_official_layout(raw, size);
    ck_assert_int_eq(ug_st_open_memory(&f, raw, size, "tail", &err), UG_OK);
    ck_assert_int_eq(ug_st_count(f), 2);
    ck_assert_uint_eq(ug_st_find(f, "e")->nbytes, 0);
    ck_assert_uint_eq((uintptr_t)((const unsigned char *)ug_st_find(f, "e")->data - raw) % 64, 0);
    ug_st_close(f);
    free(raw);
}
END_TEST

START_TEST(many_tensors_lookup) {
    // Enough names to exercise the hashed duplicate check and the binary search.
    enum { N = 700 };
    static spec many[N];
    static char names[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "layer.%d.w", (i * 7919) % N);
        many[i] = (spec){names[i], (ug_dtype)(i % UG_DTYPE_COUNT), 1, {i % 5}};
    }
    size_t size;
    unsigned char *raw = pack(many, N, "arch", "sam", &size);
    assert_official_layout(raw, size);
    ug_st_file *f;
    ug_err err;
    ck_assert_msg(ug_st_open_memory(&f, raw, size, "many", &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(ug_st_count(f), N);
    for (int i = 0; i < N; i++) {
        const ug_st_entry *e = ug_st_find(f, names[i]);
        ck_assert_ptr_nonnull(e);
        ck_assert_ptr_eq(e, ug_st_at(f, i));
    }
    ug_st_close(f);
    free(raw);
}
END_TEST

// A file from a header text and data size (data bytes are zero); exact-size allocation so
// ASan sees any read past the end.
static unsigned char *make_file(const char *header, size_t data_size, size_t *size) {
    size_t n = strlen(header);
    *size = 8 + n + data_size;
    unsigned char *f = calloc(1, *size);
    for (int i = 0; i < 8; i++)
        f[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(f + 8, header, n);
    return f;
}

static void expect_bad_bytes(const unsigned char *file, size_t size, ug_status code, const char *needle) {
    ug_st_file *f = (ug_st_file *)1;
    ug_err err = {0};
    ug_status st = ug_st_open_memory(&f, file, size, "bad.safetensors", &err);
    ck_assert_msg(st == code, "expected %d, got %d (%s) for <%s>", code, st, err.msg, needle);
    ck_assert_ptr_null(f);
    ck_assert_msg(strncmp(err.msg, "bad.safetensors: ", 17) == 0, "message does not name the file: %s",
                  err.msg);
    ck_assert_msg(strstr(err.msg, needle), "message <%s> lacks <%s>", err.msg, needle);
    ck_assert_msg(!strchr(err.msg, '\n'), "message spans lines: %s", err.msg);
}

static void expect_bad(const char *header, size_t data_size, ug_status code, const char *needle) {
    size_t size;
    unsigned char *file = make_file(header, data_size, &size);
    expect_bad_bytes(file, size, code, needle);
    free(file);
}

START_TEST(hostile_headers) {
    const ug_status F = UG_ERR_FORMAT, U = UG_ERR_UNSUPPORTED;
    // A valid baseline for comparison.
    size_t size;
    unsigned char *ok =
        make_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, &size);
    ug_st_file *f;
    ug_err err;
    ck_assert_msg(ug_st_open_memory(&f, ok, size, "ok", &err) == UG_OK, "%s", err.msg);
    ug_st_close(f);
    free(ok);

    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],", 0, F, "header: JSON error at byte");
    expect_bad("[1,2]", 0, F, "header is a JSON array, expected an object");
    expect_bad("{\"t\":[]}", 0, F, "tensor \"t\": entry is a JSON array");
    expect_bad("{\"t\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, U,
               "tensor \"t\": unsupported dtype \"F8_E4M3\"");
    expect_bad("{\"t\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, U,
               "unsupported dtype \"I8\"");
    expect_bad("{\"t\":{\"dtype\":\"F32\\u0000\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, U,
               "unsupported dtype");
    expect_bad("{\"t\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, F, "dtype is a JSON number");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12, F,
               "data_offsets [0, 12] hold 12 bytes, but F32 [2] needs 8");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, F,
               "data_offsets end 8 is beyond the data section (4 bytes");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1000000000000,1000000000008]}}", 8,
               F, "beyond the data section");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, F, "run backwards");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, F,
               "data_offsets[0] is not a non-negative integer");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]}}", 8, F, "data_offsets[1]");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, F, "[begin, end]");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, F,
               "shape[0] is not a non-negative integer");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, F, "shape[0]");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, F, "shape[0]");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, F,
               "shape is a JSON number");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, U,
               "shape has 6 dims, at most 5");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}", 8, F,
               "overflows");
    expect_bad("{\"t\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}}", 8, F,
               "overflows");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, F, "missing field \"data_offsets\"");
    expect_bad("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, F, "missing field \"dtype\"");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, F,
               "unknown field \"extra\"");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, F, "tensors \"a\" [0, 8] and \"b\" [4, 12] overlap");
    // The same range twice, and one range inside another (listed out of order).
    expect_bad("{\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
               "\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
               8, F, "overlap");
    expect_bad("{\"in\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]},"
               "\"z\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[9,10]},"
               "\"out\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
               10, F, "overlap");
    // A filler-looking entry is checked like any other.
    expect_bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
               "\"__pad_0__\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
               10, F, "overlap");
    expect_bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
               "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
               2, F, "duplicate key \"a\"");
    expect_bad("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, F, "NUL");
    expect_bad("{\"__metadata__\":{\"arch\":1}}", 0, F, "__metadata__ value of \"arch\" is a JSON number");
    expect_bad("{\"__metadata__\":{\"arch\":{\"x\":\"y\"}}}", 0, F, "expected a string");
    expect_bad("{\"__metadata__\":[\"a\"]}", 0, F, "__metadata__ is a JSON array");
    expect_bad("{\"__metadata__\":{\"arch\":\"s\\u0000m\"}}", 0, F, "NUL");
    expect_bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, F, "duplicate key");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}\x01", 8, F, "byte 0x01");
    // Names from the file are quoted safely: a newline stays on the message's one line.
    expect_bad("{\"bad\\nname\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, F,
               "tensor \"bad\\x0aname\"");

    // Deep nesting inside the metadata fails cleanly, shallowly.
    enum { DEEP = 200000 };
    char *deep = malloc(DEEP + 64);
    strcpy(deep, "{\"__metadata__\":{\"x\":");
    size_t o = strlen(deep);
    memset(deep + o, '[', DEEP);
    deep[o + DEEP] = '\0';
    expect_bad(deep, 0, F, "nesting deeper");
    free(deep);
}
END_TEST

START_TEST(hostile_lengths_and_truncation) {
    const ug_status F = UG_ERR_FORMAT;
    unsigned char small[8] = {0};
    expect_bad_bytes(small, 0, F, "0 bytes, too short");
    expect_bad_bytes(small, 7, F, "7 bytes, too short");
    // Header length bigger than the file, over the limit, or 2^63 (no overflow in the checks).
    unsigned char hdr[16] = {9, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    expect_bad_bytes(hdr, 16, F, "header length 9 exceeds the 8 bytes that follow it");
    hdr[0] = 0x01, hdr[1] = 0xe1, hdr[2] = 0xf5, hdr[3] = 0x05; // 100,000,001
    expect_bad_bytes(hdr, 16, F, "header length 100000001 is over the limit");
    memset(hdr, 0xff, 8);
    expect_bad_bytes(hdr, 16, F, "is over the limit");
    memset(hdr, 0, 8);
    hdr[7] = 0x80;
    expect_bad_bytes(hdr, 16, F, "is over the limit");
    memset(hdr, 0, 8);
    expect_bad_bytes(hdr, 16, F, "header: JSON error"); // N = 0: empty JSON

    // Every truncation of a small valid file fails cleanly (the last tensor ends the file).
    const spec specs[] = {{"w", UG_F32, 2, {3, 5}}, {"b", UG_BF16, 1, {3}}, {"m", UG_BOOL, 1, {7}}};
    size_t size;
    unsigned char *raw = pack(specs, 3, "config", "{\"a\": [1, 2]}", &size);
    for (size_t len = 0; len < size; len++) {
        unsigned char *copy = malloc(len ? len : 1);
        memcpy(copy, raw, len);
        ug_st_file *f = NULL;
        ug_err err;
        ug_status st = ug_st_open_memory(&f, copy, len, "cut.safetensors", &err);
        ck_assert_msg(st == UG_ERR_FORMAT, "truncated at %zu of %zu: status %d", len, size, st);
        ck_assert_ptr_null(f);
        ck_assert_msg(strncmp(err.msg, "cut.safetensors: ", 17) == 0 && !strchr(err.msg, '\n'), "%s",
                      err.msg);
        free(copy);
    }
    ug_st_file *f;
    ug_err err;
    ck_assert_int_eq(ug_st_open_memory(&f, raw, size, "full", &err), UG_OK);
    ug_st_close(f);

    // The same through real files: empty, cut inside the header, cut inside the data.
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/cut.safetensors", dir);
    size_t cuts[] = {0, 5, 40, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        test_write_file(path, raw, cuts[i]);
        f = (ug_st_file *)1;
        ck_assert_int_eq(ug_st_open(&f, path, &err), UG_ERR_FORMAT);
        ck_assert_ptr_null(f);
        ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
    }
    ck_assert_int_eq(ug_st_open(&f, dir, &err), UG_ERR_IO); // a directory
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    ck_assert_int_eq(ug_st_open(&f, path, &err), UG_ERR_IO);
    ck_assert_msg(strstr(err.msg, "absent.safetensors: cannot open"), "%s", err.msg);
    test_rmtree(dir);
    free(dir);
    free(raw);
}
END_TEST

START_TEST(lenient_but_safe_layouts) {
    // Holes, trailing bytes, empty tensors anywhere and any entry order are accepted: they
    // are safe to map, only the official reader is stricter.
    size_t size;
    unsigned char *file = make_file("{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]},"
                                    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[11,11]},"
                                    "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}  ",
                                    20, &size);
    file[8 + size - 8 - 20 + 10] = 42;
    ug_st_file *f;
    ug_err err;
    ck_assert_msg(ug_st_open_memory(&f, file, size, "lenient", &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(ug_st_count(f), 3);
    ck_assert_str_eq(ug_st_at(f, 0)->name, "b");
    ck_assert_int_eq(((const unsigned char *)ug_st_find(f, "b")->data)[0], 42);
    ck_assert_uint_eq(ug_st_find(f, "e")->nbytes, 0);
    ug_st_close(f);
    free(file);

    // A real U8 tensor whose name merely starts with "__pad_" but is too big to be a filler
    // stays visible.
    file = make_file("{\"__pad_x\":{\"dtype\":\"U8\",\"shape\":[64],\"data_offsets\":[0,64]}}", 64, &size);
    ck_assert_int_eq(ug_st_open_memory(&f, file, size, "pad", &err), UG_OK);
    ck_assert_int_eq(ug_st_count(f), 1);
    ug_st_close(f);
    free(file);
}
END_TEST

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

START_TEST(writer_misuse_leaves_nothing) {
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    ug_st_writer *w;
    ug_err err;
    const int64_t shape[] = {4};
    float buf[8] = {0};

    // Short data: finish fails naming the tensor, no file remains.
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(count_files(dir), 1); // the temporary
    ck_assert_int_eq(ug_st_writer_declare(w, "a", UG_F32, 1, shape, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_declare(w, "b", UG_F32, 1, shape, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_begin(w, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_write(w, buf, 20, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_finish(w, &err), UG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "tensor \"b\" got 4 of its 16 bytes"), "%s", err.msg);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
    ck_assert_int_eq(count_files(dir), 0);

    // Too much data: the write fails, later calls fail, nothing remains.
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_declare(w, "a", UG_F32, 1, shape, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_begin(w, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_write(w, buf, 20, &err), UG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "4 bytes written beyond the declared tensors"), "%s", err.msg);
    ck_assert_int_eq(count_files(dir), 0);
    ck_assert_int_eq(ug_st_writer_write(w, buf, 4, &err), UG_ERR_ARG);
    ck_assert_int_eq(ug_st_writer_finish(w, &err), UG_ERR_ARG);
    ck_assert_int_eq(count_files(dir), 0);

    // Declaration mistakes.
    struct {
        const char *name;
        ug_dtype dt;
        int ndim;
        int64_t shape[UG_MAX_DIMS];
        const char *needle;
    } bad[] = {
        {"", UG_F32, 1, {1}, "empty"},
        {"__metadata__", UG_F32, 1, {1}, "reserved"},
        {"__pad_3__", UG_U8, 1, {1}, "reserved"},
        {"x\xff", UG_F32, 1, {1}, "UTF-8"},
        {"x", UG_DTYPE_COUNT, 1, {1}, "bad dtype"},
        {"x", UG_F32, 6, {1, 1, 1, 1, 1}, "6 dims"},
        {"x", UG_F32, 1, {-1}, "negative dim"},
        {"x", UG_F32, 3, {1 << 20, 1 << 20, 1 << 20}, "more than"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
        ck_assert_int_eq(ug_st_writer_declare(w, bad[i].name, bad[i].dt, bad[i].ndim, bad[i].shape, &err),
                         UG_ERR_ARG);
        ck_assert_msg(strstr(err.msg, bad[i].needle), "case %zu: %s", i, err.msg);
        ck_assert_int_eq(count_files(dir), 0);
        ug_st_writer_abort(w);
    }

    // Duplicate names are caught at begin.
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_declare(w, "a", UG_F32, 1, shape, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_declare(w, "b", UG_F32, 1, shape, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_declare(w, "a", UG_F32, 1, shape, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_begin(w, &err), UG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "tensor \"a\" declared twice"), "%s", err.msg);
    ug_st_writer_abort(w);
    ck_assert_int_eq(count_files(dir), 0);

    // Order mistakes: data before begin, declare/meta after begin, finish before begin,
    // metadata twice or not UTF-8.
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_write(w, buf, 4, &err), UG_ERR_ARG);
    ug_st_writer_abort(w);
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_begin(w, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_declare(w, "late", UG_F32, 1, shape, &err), UG_ERR_ARG);
    ug_st_writer_abort(w);
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_begin(w, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_meta(w, "late", "x", &err), UG_ERR_ARG);
    ug_st_writer_abort(w);
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_finish(w, &err), UG_ERR_ARG);
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_meta(w, "k", "x", &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_meta(w, "k", "y", &err), UG_ERR_ARG);
    ug_st_writer_abort(w);
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_meta(w, "k", "\xc3", &err), UG_ERR_ARG);
    ug_st_writer_abort(w);
    ck_assert_int_eq(count_files(dir), 0);

    // Abort after some data removes the file; an existing file at the path is kept intact
    // until a successful finish replaces it.
    test_write_file(path, "old", 3);
    ck_assert_int_eq(ug_st_writer_create(&w, path, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_declare(w, "a", UG_F32, 1, shape, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_begin(w, &err), UG_OK);
    ck_assert_int_eq(ug_st_writer_write(w, buf, 8, &err), UG_OK);
    ug_st_writer_abort(w);
    ug_st_writer_abort(NULL);
    ck_assert_int_eq(count_files(dir), 1);
    size_t n;
    char *old = test_read_file(path, &n);
    ck_assert(n == 3 && memcmp(old, "old", 3) == 0);
    free(old);

    // An unwritable place fails at create, naming the path.
    char bad_path[600];
    snprintf(bad_path, sizeof bad_path, "%s/no/such/dir/w.safetensors", dir);
    w = (ug_st_writer *)1;
    ck_assert_int_eq(ug_st_writer_create(&w, bad_path, &err), UG_ERR_IO);
    ck_assert_ptr_null(w);
    ck_assert_msg(strncmp(err.msg, bad_path, strlen(bad_path)) == 0, "%s", err.msg);
    test_rmtree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "safetensors", .timeout = 30}, &s);
    test_add(tc, roundtrip_every_dtype, exact_bytes_of_small_files, many_tensors_lookup, hostile_headers,
             hostile_lengths_and_truncation, lenient_but_safe_layouts, writer_misuse_leaves_nothing);
    return test_run_suite(s);
}
