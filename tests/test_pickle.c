// tests/test_pickle.c — the whitelisting pickle machine: values, torch tensors, numpy arrays,
// placeholders for non-whitelisted globals (os.system, builtins.eval: never called), and
// hostile streams (unknown and refused opcodes, truncation at every length, deep nesting,
// huge declared sizes, bad memo use, out-of-bounds storage offsets).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/helpers.h"
#include "weights-tools/pickle.h"
#include "weights-tools/torch_writer.h"

static pk_machine *load_ok(const ug_pkw *w, pk_obj **root) {
    pk_machine *m;
    ug_err err;
    ck_assert(ug_pkw_ok(w));
    ug_status st = pk_load(&m, w->buf, w->len, "t.pkl", root, &err);
    ck_assert_msg(st == UG_OK, "%s", err.msg);
    return m;
}

static ug_status load_fail(const void *p, size_t n, ug_err *err) {
    pk_machine *m;
    pk_obj *root;
    ug_status st = pk_load(&m, p, n, "bad.pkl", &root, err);
    if (st == UG_OK) pk_free(m);
    return st;
}

START_TEST(values_and_containers) {
    ug_pkw w;
    ug_pkw_init(&w);
    ug_pkw_op(&w, '}');
    ug_pkw_op(&w, '(');
    ug_pkw_str(&w, "n");
    ug_pkw_int(&w, -123456789);
    ug_pkw_str(&w, "big");
    ug_pkw_int(&w, (int64_t)1 << 40);
    ug_pkw_str(&w, "list");
    ug_pkw_op(&w, ']');
    ug_pkw_int(&w, 1);
    ug_pkw_op(&w, 'a');
    ug_pkw_str(&w, "none");
    ug_pkw_op(&w, 'N');
    ug_pkw_op(&w, 'u');
    ug_pkw_op(&w, '.');
    pk_obj *root;
    pk_machine *m = load_ok(&w, &root);
    ck_assert_int_eq(root->kind, PK_DICT);
    ck_assert_int_eq(pk_dict_get(root, "n")->i, -123456789);
    ck_assert_int_eq(pk_dict_get(root, "big")->i, (int64_t)1 << 40);
    ck_assert_int_eq(pk_dict_get(root, "list")->seq.n, 1);
    ck_assert_int_eq(pk_dict_get(root, "none")->kind, PK_NONE);
    ck_assert_ptr_null(pk_dict_get(root, "absent"));
    pk_free(m);
    ug_pkw_free(&w);
}
END_TEST

START_TEST(torch_tensor_views) {
    ug_pkw w;
    ug_pkw_init(&w);
    ug_pkw_op(&w, '(');
    // [3, 4] transposed view of a 12-element storage, offset 0, strides (1, 3).
    ug_pkw_tensor(&w, UG_F32, "0", 12, 0, 2, (int64_t[]){3, 4}, (int64_t[]){1, 3});
    // Reaches element 12 of 12: out of bounds -> an invalid object, not an error.
    ug_pkw_tensor(&w, UG_F32, "0", 12, 9, 1, (int64_t[]){4}, (int64_t[]){1});
    // int64 scalar (0-dim).
    ug_pkw_tensor(&w, UG_I64, "1", 1, 0, 0, NULL, NULL);
    ug_pkw_op(&w, 't');
    ug_pkw_op(&w, '.');
    pk_obj *root;
    pk_machine *m = load_ok(&w, &root);
    ck_assert_int_eq(root->seq.n, 3);
    const pk_obj *t = root->seq.items[0];
    ck_assert_int_eq(t->kind, PK_TENSOR);
    ck_assert_int_eq(t->tensor.ndim, 2);
    ck_assert_int_eq(t->tensor.stride[1], 3);
    ck_assert_int_eq(t->tensor.storage->storage.dtype, UG_F32);
    ck_assert_str_eq(t->tensor.storage->storage.key, "0");
    const pk_obj *bad = root->seq.items[1];
    ck_assert_int_eq(bad->kind, PK_INVALID);
    char what[256];
    ck_assert_ptr_nonnull(strstr(pk_describe(bad, what, sizeof what), "storage '0'"));
    ck_assert_int_eq(root->seq.items[2]->kind, PK_TENSOR);
    ck_assert_int_eq(root->seq.items[2]->tensor.storage->storage.dtype, UG_I64);
    pk_free(m);
    ug_pkw_free(&w);
}
END_TEST

START_TEST(numpy_arrays) {
    float data[6] = {1, -2, 3.5f, 0, 255, -0.0f}; // bytes >= 0x80 exercise the latin-1 path
    ug_pkw w;
    ug_pkw_init(&w);
    ug_pkw_op(&w, '(');
    ug_pkw_ndarray(&w, UG_F32, 2, (int64_t[]){2, 3}, data, sizeof data, false);
    ug_pkw_ndarray(&w, UG_F32, 2, (int64_t[]){2, 3}, data, sizeof data, true);
    ug_pkw_op(&w, 't');
    ug_pkw_op(&w, '.');
    pk_obj *root;
    pk_machine *m = load_ok(&w, &root);
    const pk_obj *a = root->seq.items[0];
    ck_assert_int_eq(a->kind, PK_NDARRAY);
    ck_assert(a->nd.built);
    ck_assert_int_eq(a->nd.dtype, UG_F32);
    ck_assert_int_eq(a->nd.shape[1], 3);
    ck_assert(!a->nd.fortran);
    ck_assert(root->seq.items[1]->nd.fortran);
    float back[6];
    ug_err err;
    ck_assert_int_eq(pk_payload_read(m, &a->nd.data->str.p, back, sizeof back, &err), UG_OK);
    ck_assert_mem_eq(back, data, sizeof data);
    ck_assert_int_eq(pk_payload_read(m, &a->nd.data->str.p, back, sizeof back - 4, &err), UG_ERR_FORMAT);
    pk_free(m);
    ug_pkw_free(&w);
}
END_TEST

// GLOBAL os system / builtins eval + REDUCE: inert placeholders that remember the global.
START_TEST(non_whitelisted_globals_are_never_called) {
    char *dir = test_tmpdir();
    char cmd[4400], sentinel[4200];
    snprintf(sentinel, sizeof sentinel, "%s/pwned", dir);
    snprintf(cmd, sizeof cmd, "touch %s", sentinel);
    ug_pkw w;
    ug_pkw_init(&w);
    ug_pkw_op(&w, '(');
    ug_pkw_global(&w, "os", "system");
    ug_pkw_str(&w, cmd);
    ug_pkw_op(&w, 0x85);
    ug_pkw_op(&w, 'R');
    ug_pkw_global(&w, "builtins", "eval");
    ug_pkw_str(&w, "__import__('os').system('true')");
    ug_pkw_op(&w, 0x85);
    ug_pkw_op(&w, 'R');
    // A placeholder's result called again, BUILT and given items: still inert.
    ug_pkw_op(&w, ')');
    ug_pkw_op(&w, 'R');
    ug_pkw_op(&w, '}');
    ug_pkw_op(&w, 'b');
    ug_pkw_op(&w, 't');
    ug_pkw_op(&w, '.');
    pk_obj *root;
    pk_machine *m = load_ok(&w, &root);
    ck_assert_int_eq(root->seq.n, 2);
    ck_assert_int_eq(root->seq.items[0]->kind, PK_OBJECT);
    ck_assert_str_eq(root->seq.items[0]->origin, "os.system");
    ck_assert_int_eq(root->seq.items[1]->kind, PK_OBJECT);
    ck_assert_str_eq(root->seq.items[1]->origin, "builtins.eval");
    char what[256];
    ck_assert_ptr_nonnull(strstr(pk_describe(root->seq.items[0], what, sizeof what),
                                 "os.system (not whitelisted, never called)"));
    ck_assert_int_ne(access(sentinel, F_OK), 0);
    pk_free(m);
    ug_pkw_free(&w);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(refused_and_unknown_opcodes) {
    ug_err err;
    const struct {
        const char *bytes;
        size_t n;
        const char *why;
    } cases[] = {
        {"\x80\x02\xff.", 4, "unknown opcode 0xff"},
        {"\x80\x02i__main__\nX\n.", 15, "INST"},
        {"\x80\x02I1\n.", 6, "INT"},
        {"\x80\x02\x82\x01.", 5, "EXT1"},
        {"\x80\x02\x97.", 4, "NEXT_BUFFER"},
        {"\x80\x09N.", 4, "protocol 9"},
        {"\x80\x02h\x05.", 5, "memo entry 5 used before"},
        {"\x80\x02R.", 4, "stack underflow"},
        {"\x80\x02N(0.", 6, "stack underflow"}, // POP below the MARK
        {"\x80\x02t.", 4, "no MARK"},
        {"\x80\x02Nr\xff\xff\xff\x7f.", 9, "memo index"},
        {"\x80\x02\x8d\x00\x00\x00\x00\x00\x00\x00\x40N.", 13, "truncated"}, // BINUNICODE8 of 2^62 bytes
        {"\x80\x02\x8b\xff\xff\xff\x7f.", 8, "truncated"},                   // LONG4 of 2 GB
        {"\x80\x02N", 3, "truncated"},                                       // no STOP
        {"\x80\x02}Na.", 6, "APPEND to dict"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(load_fail(cases[i].bytes, cases[i].n, &err) != UG_OK, "case %zu loaded", i);
        ck_assert_msg(strstr(err.msg, cases[i].why), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].why);
        ck_assert(strstr(err.msg, "bad.pkl: pickle: ") == err.msg);
    }
}
END_TEST

START_TEST(deep_nesting_is_bounded) {
    // 200k nested lists (EMPTY_LIST, then APPEND each into its parent at the end): the
    // machine has no recursion, so this loads; 2M open MARKs exceed the mark limit.
    size_t depth = 200000, n = 2 + 2 * depth + 1;
    uint8_t *p = malloc(n + 8);
    size_t k = 0;
    p[k++] = 0x80, p[k++] = 2;
    for (size_t i = 0; i < depth; i++)
        p[k++] = ']';
    for (size_t i = 1; i < depth; i++)
        p[k++] = 'a';
    p[k++] = '.';
    pk_machine *m;
    pk_obj *root;
    ug_err err;
    ck_assert_int_eq(pk_load(&m, p, k, "deep.pkl", &root, &err), UG_OK);
    ck_assert_int_eq(root->kind, PK_LIST);
    pk_free(m);
    free(p);
    size_t marks = 2000000;
    p = malloc(marks + 3);
    p[0] = 0x80, p[1] = 2;
    memset(p + 2, '(', marks);
    p[marks + 2] = '.';
    ck_assert_int_eq(load_fail(p, marks + 3, &err), UG_ERR_NOMEM);
    ck_assert_ptr_nonnull(strstr(err.msg, "nested MARKs"));
    free(p);
}
END_TEST

START_TEST(truncated_everywhere) {
    ug_pkw w;
    ug_pkw_init(&w);
    ug_pkw_op(&w, '}');
    ug_pkw_str(&w, "a");
    ug_pkw_tensor(&w, UG_F32, "0", 6, 0, 2, (int64_t[]){2, 3}, (int64_t[]){3, 1});
    ug_pkw_op(&w, 's');
    ug_pkw_str(&w, "b");
    ug_pkw_ndarray(&w, UG_I64, 1, (int64_t[]){2}, (int64_t[]){7, -1}, 16, false);
    ug_pkw_op(&w, 's');
    ug_pkw_op(&w, '.');
    ck_assert(ug_pkw_ok(&w));
    for (size_t cut = 0; cut < w.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, w.buf, cut);
        ug_err err;
        ck_assert_msg(load_fail(p, cut, &err) != UG_OK, "cut at %zu of %zu loaded", cut, w.len);
        free(p);
    }
    ug_pkw_free(&w);
}
END_TEST

START_TEST(golden_detectron2_pickle) {
    test_require_golden();
    char *path = test_golden_path("rba_tiny/rba_tiny_3dl.d2.pkl");
    size_t n;
    void *data = test_read_file(path, &n);
    ck_assert_ptr_nonnull(data);
    pk_machine *m;
    pk_obj *root;
    ug_err err;
    ck_assert_msg(pk_load(&m, data, n, path, &root, &err) == UG_OK, "%s", err.msg);
    const pk_obj *model = pk_dict_get(root, "model");
    ck_assert_ptr_nonnull(model);
    ck_assert_int_eq(model->kind, PK_DICT);
    const pk_obj *idx = pk_dict_get(model, "backbone.layers.0.blocks.0.attn.relative_position_index");
    ck_assert_int_eq(idx->kind, PK_NDARRAY);
    ck_assert_int_eq(idx->nd.dtype, UG_I64);
    ck_assert_int_eq(idx->nd.shape[0], 144);
    // (dy + 11) * 23 + (dx + 11) for query 0 and key 143 (dy = dx = -11): 0.
    int64_t *v = malloc(144 * 144 * 8);
    ck_assert_int_eq(pk_payload_read(m, &idx->nd.data->str.p, v, 144 * 144 * 8, &err), UG_OK);
    ck_assert_int_eq(v[143], 0);
    ck_assert_int_eq(v[0], 11 * 23 + 11);
    free(v);
    pk_free(m);
    free(data);
    free(path);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "pickle", .timeout = 60}, &s);
    test_add(tc, values_and_containers, torch_tensor_views, numpy_arrays,
             non_whitelisted_globals_are_never_called, refused_and_unknown_opcodes, deep_nesting_is_bounded,
             truncated_everywhere, golden_detectron2_pickle);
    return test_run_suite(s);
}
