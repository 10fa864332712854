// tests/test_npy.c — .npy round trips (every written dtype, odd and degenerate shapes, strided
// views), hand-made headers (versions 2.0/3.0, '<f8', Python 2 longs), every golden .npy, and
// hostile files: each must give a one-line error naming the file, never a crash or a leak.
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/npy.h"
#include "tests/helpers.h"

// A .npy in memory from a header dict and raw data (format `major`.0, header padded to 64).
static unsigned char *make_npy(int major, const char *dict, const void *data, size_t n, size_t *size) {
    size_t pre = major == 1 ? 10 : 12;
    size_t hl = strlen(dict) + 1;
    hl += (64 - (pre + hl) % 64) % 64;
    *size = pre + hl + n;
    unsigned char *b = malloc(*size);
    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    b[8] = hl & 0xff;
    b[9] = (hl >> 8) & 0xff;
    if (major != 1) b[10] = b[11] = 0;
    memset(b + pre, ' ', hl);
    memcpy(b + pre, dict, strlen(dict));
    b[pre + hl - 1] = '\n';
    if (n) memcpy(b + pre + hl, data, n);
    return b;
}

START_TEST(roundtrip_dtypes_and_shapes) {
    char *dir = test_tmpdir();
    char *path = test_path_join(dir, "t.npy");
    static const ug_dtype dts[] = {UG_F32, UG_U8, UG_I32, UG_I64, UG_BOOL};
    static const struct {
        int ndim;
        int64_t shape[5];
    } shapes[] = {{0, {0}},    {1, {1}},        {1, {127}},          {2, {3, 17}},
                  {2, {0, 3}}, {3, {33, 1, 3}}, {5, {2, 1, 3, 1, 5}}};
    test_rng rng = test_rng_seed(7);
    for (size_t di = 0; di < sizeof dts / sizeof dts[0]; di++) {
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            ug_tensor t, back, mem;
            ug_err err;
            ck_assert_int_eq(ug_tensor_new(&t, dts[di], shapes[si].ndim, shapes[si].shape, &err), UG_OK);
            unsigned char *b = t.data;
            for (size_t i = 0; i < ug_tensor_nbytes(&t); i++)
                b[i] = (unsigned char)test_rng_u64(&rng);
            if (dts[di] == UG_BOOL)
                for (size_t i = 0; i < ug_tensor_nbytes(&t); i++)
                    b[i] &= 1;
            ck_assert_msg(ug_npy_write(path, &t, &err) == UG_OK, "%s", err.msg);
            ck_assert_msg(ug_npy_read(path, &back, &err) == UG_OK, "%s", err.msg);
            ck_assert_int_eq(back.dtype, dts[di]);
            ck_assert(ug_tensor_same_shape(&back, &t));
            ck_assert_int_eq(memcmp(back.data, t.data, ug_tensor_nbytes(&t)), 0);
            // The memory parser sees the same bytes the same way; data starts 64-byte aligned.
            size_t n;
            void *raw = test_read_file(path, &n);
            ck_assert_ptr_nonnull(raw);
            ck_assert_int_eq((n - ug_tensor_nbytes(&t)) % 64, 0);
            ck_assert_msg(ug_npy_parse(raw, n, "mem", &mem, &err) == UG_OK, "%s", err.msg);
            ck_assert(ug_tensor_same_shape(&mem, &t));
            ck_assert_int_eq(memcmp(mem.data, t.data, ug_tensor_nbytes(&t)), 0);
            free(raw);
            ug_tensor_free(&t);
            ug_tensor_free(&back);
            ug_tensor_free(&mem);
        }
    }
    // Only the final file is left: no temporary names linger.
    ck_assert_int_eq(test_count_entries(dir), 1);
    free(path);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(header_text_is_numpys) {
    char *dir = test_tmpdir();
    char *path = test_path_join(dir, "h.npy");
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, UG_DIMS(5), &err), UG_OK);
    ck_assert_int_eq(ug_npy_write(path, &t, &err), UG_OK);
    size_t n;
    char *raw = test_read_file(path, &n);
    ck_assert_uint_eq(n, 128 + 20);
    ck_assert_int_eq(memcmp(raw + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 57), 0);
    ck_assert_int_eq(raw[127], '\n');
    free(raw);
    ug_tensor_free(&t);
    free(path);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(strided_views_are_written_in_c_order) {
    char *dir = test_tmpdir();
    char *path = test_path_join(dir, "s.npy");
    ug_tensor t, back;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, UG_I32, UG_DIMS(3, 17, 5), &err), UG_OK);
    int32_t *x = t.data;
    for (int i = 0; i < 3 * 17 * 5; i++)
        x[i] = i * 7 - 100;

    ug_tensor views[3];
    views[0] = ug_view_permute(&t, (int[]){2, 0, 1}); // [5, 3, 17]
    views[1] = ug_view_slice(&t, 1, 4, 9);            // [3, 9, 5]
    ug_tensor s = ug_view_slice(&t, 0, 1, 1);         // [1, 17, 5]
    views[2] = ug_view_expand_dim(&s, 0, 2);          // [2, 1, 17, 5], stride 0
    for (int v = 0; v < 3; v++) {
        ck_assert(!ug_tensor_is_contiguous(&views[v]) || v == 2);
        ck_assert_msg(ug_npy_write(path, &views[v], &err) == UG_OK, "%s", err.msg);
        ck_assert_msg(ug_npy_read(path, &back, &err) == UG_OK, "%s", err.msg);
        ck_assert(ug_tensor_same_shape(&back, &views[v]));
        int64_t idx[5] = {0};
        int64_t numel = ug_tensor_numel(&back);
        const int32_t *b = back.data;
        for (int64_t i = 0; i < numel; i++) {
            ck_assert_int_eq(b[i], *(int32_t *)ug_tensor_ptr(&views[v], idx));
            for (int d = back.ndim - 1; d >= 0 && ++idx[d] == back.shape[d]; d--)
                idx[d] = 0;
        }
        ug_tensor_free(&back);
    }
    ug_tensor_free(&t);
    free(path);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(handmade_headers) {
    ug_tensor t;
    ug_err err;
    size_t n;
    // Format 2.0 and 3.0, double quotes, no trailing comma, odd spacing, '<f8' rounded to F32.
    double d[3] = {1.0, -2.5, 1.0 / 3.0};
    for (int major = 2; major <= 3; major++) {
        unsigned char *b =
            make_npy(major, "{\"descr\":\"<f8\",\"fortran_order\":False,\"shape\":( 3 , )}", d, sizeof d, &n);
        ck_assert_msg(ug_npy_parse(b, n, "v2", &t, &err) == UG_OK, "%s", err.msg);
        ck_assert_int_eq(t.dtype, UG_F32);
        ck_assert_int_eq(t.ndim, 1);
        ck_assert_int_eq(t.shape[0], 3);
        float want[3] = {1.0f, -2.5f, (float)(1.0 / 3.0)};
        test_assert_close(t.data, want, 3, 0, 0, "f8 -> f32"); // exact: one rounding each
        ug_tensor_free(&t);
        free(b);
    }
    // Python 2 writes longs as 3L; shape order is C; '<u1' equals '|u1'.
    unsigned char u[6] = {1, 2, 3, 4, 5, 6};
    unsigned char *b = make_npy(1, "{'descr': '<u1', 'fortran_order': False, 'shape': (2L, 3L), }", u, 6, &n);
    ck_assert_msg(ug_npy_parse(b, n, "py2", &t, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(t.dtype, UG_U8);
    ck_assert_int_eq(t.shape[0], 2);
    ck_assert_int_eq(t.shape[1], 3);
    ck_assert_int_eq(((uint8_t *)t.data)[5], 6);
    ug_tensor_free(&t);
    free(b);
    // Scalars, keys in another order, booleans normalised to 0/1.
    unsigned char bl[4] = {0, 1, 2, 255};
    b = make_npy(1, "{'shape': (4,), 'fortran_order': False, 'descr': '|b1'}", bl, 4, &n);
    ck_assert_msg(ug_npy_parse(b, n, "bool", &t, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(t.dtype, UG_BOOL);
    const uint8_t *tb = t.data;
    ck_assert(tb[0] == 0 && tb[1] == 1 && tb[2] == 1 && tb[3] == 1);
    ug_tensor_free(&t);
    free(b);
    int64_t s64 = -5;
    b = make_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }", &s64, 8, &n);
    ck_assert_msg(ug_npy_parse(b, n, "scalar", &t, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(t.ndim, 0);
    ck_assert_int_eq(*(int64_t *)t.data, -5);
    ug_tensor_free(&t);
    free(b);
}
END_TEST

// Each case: a header dict (data sized to the declared shape when `data` is -1) and the error
// code and message fragment expected.
START_TEST(bad_headers_are_clear_errors) {
    static const struct {
        const char *dict;
        long data;
        ug_status code;
        const char *msg;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, UG_ERR_UNSUPPORTED, "Fortran"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, UG_ERR_UNSUPPORTED, "big-endian"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", 2, UG_ERR_UNSUPPORTED,
         "'|i1' is not supported"},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 4, UG_ERR_UNSUPPORTED, "'<f2'"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16, UG_ERR_UNSUPPORTED, "'|O'"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, UG_ERR_UNSUPPORTED,
         "structured"},
        {"{'descr': '<f4', 'shape': (2,), }", 8, UG_ERR_FORMAT, "missing key 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, }", 8, UG_ERR_FORMAT, "missing key 'shape'"},
        {"{'fortran_order': False, 'shape': (2,), }", 8, UG_ERR_FORMAT, "missing key 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, UG_ERR_FORMAT,
         "unknown key 'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, UG_ERR_FORMAT,
         "duplicate"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8, UG_ERR_FORMAT, "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8, UG_ERR_FORMAT, "non-negative"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", 24, UG_ERR_FORMAT, "expected ','"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 8, UG_ERR_FORMAT, "after the dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", 8, UG_ERR_FORMAT, "expected"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 8, UG_ERR_FORMAT, "True or False"},
        {"{'descr': '<f4", 8, UG_ERR_FORMAT, "unterminated string"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1), }", 4, UG_ERR_UNSUPPORTED,
         "dimensions"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 8, UG_ERR_FORMAT,
         "64 bits"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", 8,
         UG_ERR_FORMAT, "absurd"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, UG_ERR_FORMAT, "truncated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, UG_ERR_FORMAT, "trailing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char data[64] = {0};
        size_t n;
        unsigned char *b = make_npy(1, cases[i].dict, data, (size_t)cases[i].data, &n);
        ug_tensor t;
        ug_err err;
        ug_status st = ug_npy_parse(b, n, "case.npy", &t, &err);
        ck_assert_msg(st == cases[i].code, "case %zu: status %d, want %d (%s)", i, st, cases[i].code,
                      st ? err.msg : "ok");
        ck_assert_msg(strstr(err.msg, cases[i].msg) && strncmp(err.msg, "case.npy: ", 10) == 0 &&
                          !strchr(err.msg, '\n'),
                      "case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].msg);
        ck_assert_ptr_null(t.data);
        free(b);
    }
}
END_TEST

START_TEST(bad_prefixes) {
    ug_tensor t;
    ug_err err;
    size_t n;
    float x = 1;
    unsigned char *b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", &x, 4, &n);
    ck_assert_int_eq(ug_npy_parse(b, n, "ok.npy", &t, &err), UG_OK);
    ug_tensor_free(&t);
    // Bad magic, unknown versions, header length beyond the file, absurd header length.
    unsigned char c[4096];
    memcpy(c, b, n);
    c[1] = 'n';
    ck_assert_int_eq(ug_npy_parse(c, n, "m.npy", &t, &err), UG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "magic"));
    memcpy(c, b, n);
    c[6] = 4;
    ck_assert_int_eq(ug_npy_parse(c, n, "v.npy", &t, &err), UG_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "version 4.0"));
    memcpy(c, b, n);
    c[7] = 1;
    ck_assert_int_eq(ug_npy_parse(c, n, "v.npy", &t, &err), UG_ERR_UNSUPPORTED);
    memcpy(c, b, n);
    c[8] = 0xff;
    c[9] = 0x0f;
    ck_assert_int_eq(ug_npy_parse(c, n, "len.npy", &t, &err), UG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "runs past the end"));
    memcpy(c, b, n);
    c[6] = 2;
    memmove(c + 12, b + 10, n - 10);
    c[10] = 0xff, c[11] = 0xff;
    ck_assert_int_eq(ug_npy_parse(c, n + 2, "len2.npy", &t, &err), UG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "absurd"));
    ck_assert_int_eq(ug_npy_parse("", 0, "empty.npy", &t, &err), UG_ERR_FORMAT);
    free(b);
}
END_TEST

// Every prefix of a valid file is an error; random byte flips never crash (ASan/UBSan runs
// of this suite are what make "never crash" a checked property).
START_TEST(truncations_and_flips) {
    char *dir = test_tmpdir();
    char *path = test_path_join(dir, "v.npy");
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, UG_DIMS(3, 5), &err), UG_OK);
    ck_assert_int_eq(ug_npy_write(path, &t, &err), UG_OK);
    ug_tensor_free(&t);
    size_t n;
    unsigned char *raw = test_read_file(path, &n);
    for (size_t len = 0; len < n; len++) {
        ck_assert_msg(ug_npy_parse(raw, len, "cut.npy", &t, &err) != UG_OK, "prefix %zu parsed", len);
        ck_assert_ptr_null(t.data);
        // The file reader must agree.
        test_write_file(path, raw, len);
        ck_assert_msg(ug_npy_read(path, &t, &err) != UG_OK, "file prefix %zu read", len);
        ck_assert_ptr_null(t.data);
    }
    test_rng rng = test_rng_seed(11);
    unsigned char *m = malloc(n);
    for (int it = 0; it < 3000; it++) {
        memcpy(m, raw, n);
        int flips = 1 + (int)(test_rng_u64(&rng) % 4);
        for (int k = 0; k < flips; k++) {
            size_t pos = test_rng_u64(&rng) % 128; // the prefix and header
            m[pos] = (unsigned char)test_rng_u64(&rng);
        }
        if (ug_npy_parse(m, n, "flip.npy", &t, &err) == UG_OK) {
            ck_assert_uint_le(ug_tensor_nbytes(&t), n);
            ug_tensor_free(&t);
        } else {
            ck_assert_ptr_null(t.data);
            ck_assert(err.msg[0] != '\0');
        }
    }
    free(m);
    free(raw);
    free(path);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(file_errors) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_npy_read("/nonexistent/dir/x.npy", &t, &err), UG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/dir/x.npy"));
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, UG_DIMS(2), &err), UG_OK);
    ck_assert_int_eq(ug_npy_write("/nonexistent/dir/x.npy", &t, &err), UG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/dir/x.npy"));
    ug_tensor_free(&t);
    ck_assert_int_eq(ug_tensor_new(&t, UG_F16, UG_DIMS(2), &err), UG_OK);
    ck_assert_int_eq(ug_npy_write("/tmp/never.npy", &t, &err), UG_ERR_UNSUPPORTED);
    ug_tensor_free(&t);
}
END_TEST

// Every golden .npy reads, from the file and from memory, to the same tensor.
static int golden_seen[UG_DTYPE_COUNT];
static int golden_count, golden_folded;

static int check_golden(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    size_t len = strlen(path);
    if (flag != FTW_F || len < 4 || strcmp(path + len - 4, ".npy") != 0) return 0;
    ug_tensor a, b;
    ug_err err;
    ug_npy_shape fa, fb;
    ck_assert_msg(ug_npy_read_folded(path, &a, &fa, &err) == UG_OK, "%s", err.msg);
    size_t n;
    void *raw = test_read_file(path, &n);
    ck_assert_ptr_nonnull(raw);
    ck_assert_msg(ug_npy_parse_folded(raw, n, path, &b, &fb, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(fa.ndim, fb.ndim);
    if (fa.ndim > UG_MAX_DIMS) golden_folded++;
    ck_assert(ug_tensor_same_shape(&a, &b) && a.dtype == b.dtype);
    ck_assert_int_eq(memcmp(a.data, b.data, ug_tensor_nbytes(&a)), 0);
    golden_seen[a.dtype]++;
    golden_count++;
    free(raw);
    ug_tensor_free(&a);
    ug_tensor_free(&b);
    return 0;
}

START_TEST(golden_files) {
    test_require_golden();
    char *root = test_golden_path("");
    ck_assert_int_eq(nftw(root, check_golden, 16, FTW_PHYS), 0);
    free(root);
    ck_assert_int_ge(golden_count, 100);
    ck_assert_int_gt(golden_seen[UG_F32], 0);
    ck_assert_int_gt(golden_seen[UG_U8], 0);
    ck_assert_int_gt(golden_seen[UG_I32], 0);
    ck_assert_int_eq(golden_folded, 2); // the two [1, N, 4, 1, 4, 2] sampling_locations

    // A known one: the SAM test image is [96, 160, 3] uint8.
    char *p = test_golden_path("sam_tiny/input_image_uint8.npy");
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_npy_read(p, &t, &err), UG_OK);
    ck_assert_int_eq(t.ndim, 3);
    ck_assert_int_eq(t.shape[0], 96);
    ck_assert_int_eq(t.shape[1], 160);
    ck_assert_int_eq(t.shape[2], 3);
    ug_tensor_free(&t);
    free(p);
}
END_TEST

START_TEST(folded_reads) {
    float x[2 * 3 * 1 * 2 * 1 * 2];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    size_t n;
    unsigned char *b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 1, 2, 1, 2), }",
                                x, sizeof x, &n);
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_npy_parse(b, n, "six.npy", &t, &err), UG_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "six.npy: .npy shape (2, 3, 1, 2, 1, 2) has more than 5"));
    ug_npy_shape fs;
    ck_assert_msg(ug_npy_parse_folded(b, n, "six.npy", &t, &fs, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(fs.ndim, 6);
    ck_assert_int_eq(fs.shape[1], 3);
    ck_assert_int_eq(t.ndim, 5);
    ck_assert_int_eq(t.shape[0], 6);
    ck_assert_int_eq(t.shape[4], 2);
    test_assert_close(t.data, x, 24, 0, 0, "folded data");
    ug_tensor_free(&t);
    free(b);
    // Up to 64 dims parse; 65 is a format error.
    char dict[512];
    for (int nd = 64; nd <= 65; nd++) {
        int k = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
        for (int d = 0; d < nd; d++)
            k += snprintf(dict + k, sizeof dict - (size_t)k, "1, ");
        snprintf(dict + k, sizeof dict - (size_t)k, "), }");
        b = make_npy(1, dict, x, 4, &n);
        ug_status st = ug_npy_parse_folded(b, n, "many.npy", &t, &fs, &err);
        ck_assert_int_eq(st, nd == 64 ? UG_OK : UG_ERR_FORMAT);
        if (st == UG_OK) ck_assert_int_eq(fs.ndim, 64);
        ug_tensor_free(&t);
        free(b);
    }
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "npy", .timeout = 60}, &s);
    test_add(tc, roundtrip_dtypes_and_shapes, header_text_is_numpys, strided_views_are_written_in_c_order,
             handmade_headers, bad_headers_are_clear_errors, bad_prefixes, truncations_and_flips, file_errors,
             folded_reads, golden_files);
    return test_run_suite(s);
}
