// tests/test_config.c — the declarative config schema (engine/config.h) on a small table (read
// with defaults and every error form, --set, write), and the two packed-config tables of
// models/packed_config.h: consistent, and read -> write -> read is the identity on the golden
// SAM config and on the config the packer infers for the release RbA.
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "models/packed_config.h"
#include "models/sam.h"
#include "tests/helpers.h"
#include "weights-tools/arch.h"

typedef struct demo {
    int depth, stages[3], n_ids, ids[4];
    double eps;
    float mean[2];
    bool flag;
    char norm[UG_CFG_STR_MAX], feats[2][UG_CFG_STR_MAX];
    int n_feats;
} demo;

static const double demo_mean[2] = {0.5, 0.25};
static const ug_cfg_field demo_fields[] = {
    UG_FIELD_INT(demo, "a_depth", depth, 1, 64),           UG_FIELD_INT_LIST(demo, "a_ids", ids, n_ids, 0, 9),
    UG_FIELD_INTS(demo, "a_stages", stages, 0, 100),       UG_FIELD_VALUE_OR(demo, "b_eps", eps, 1e-5),
    UG_FIELD_STRING_LIST(demo, "b_feats", feats, n_feats), UG_FIELD_VALUE_OR(demo, "b_flag", flag, true),
    UG_FIELD_NUMBERS_OR(demo, "b_mean", mean, demo_mean),  UG_FIELD_STRING_OR(demo, "b_norm", norm, "GN"),
};
static const ug_cfg_schema demo_schema = {demo_fields, sizeof demo_fields / sizeof demo_fields[0],
                                          sizeof(demo)};

static ug_status read_text(const ug_cfg_schema *s, void *cfg, const char *json, const char *prefix,
                           ug_err *err) {
    ug_json_doc *doc;
    ck_assert_int_eq(ug_json_parse(&doc, json, strlen(json), "test", err), UG_OK);
    ug_status st = ug_cfg_read(s, cfg, ug_json_root(doc), prefix, err);
    ug_json_free(doc);
    return st;
}

static void read_fails(const char *json, const char *msg) {
    demo d;
    ug_err err;
    ck_assert_int_eq(read_text(&demo_schema, &d, json, NULL, &err), UG_ERR_FORMAT);
    ck_assert_msg(!strcmp(err.msg, msg), "'%s', expected '%s'", err.msg, msg);
}

#define DEMO_REQUIRED "\"a_depth\": 4, \"a_ids\": [1, 3], \"a_stages\": [2, 2, 6]"

START_TEST(read_defaults_and_errors) {
    demo d;
    ug_err err;
    ck_assert_int_eq(ug_cfg_schema_check(&demo_schema, &err), UG_OK);
    memset(&d, 0, sizeof d);
    ck_assert_msg(read_text(&demo_schema, &d, "{" DEMO_REQUIRED ", \"b_feats\": [\"res5\"], \"other\": 1}",
                            NULL, &err) == UG_OK,
                  "%s", err.msg);
    ck_assert_int_eq(d.depth, 4);
    ck_assert(d.n_ids == 2 && d.ids[0] == 1 && d.ids[1] == 3);
    ck_assert(d.stages[0] == 2 && d.stages[2] == 6);
    ck_assert(d.eps == 1e-5 && d.flag && d.mean[0] == 0.5f && d.mean[1] == 0.25f);
    ck_assert_str_eq(d.norm, "GN");
    ck_assert(d.n_feats == 1 && !strcmp(d.feats[0], "res5"));
    // A prefix reads only its keys: the required a_* ones may be absent.
    ck_assert_int_eq(read_text(&demo_schema, &d, "{\"b_flag\": false, \"b_feats\": []}", "b_", &err), UG_OK);
    ck_assert(!d.flag && d.n_feats == 0 && d.depth == 4);

    read_fails("[]", "expected a JSON object");
    read_fails("{\"a_ids\": [], \"a_stages\": [1, 1, 1]}", "key \"a_depth\": missing");
    read_fails("{\"a_depth\": \"4\"}", "key \"a_depth\": expected an integer, got a string");
    read_fails("{\"a_depth\": 4.5}", "key \"a_depth\": expected an integer, got 4.5");
    read_fails("{\"a_depth\": 1000000000}", "key \"a_depth\": 1000000000 is not a valid size: it is over 64");
    read_fails("{\"a_depth\": 0}", "key \"a_depth\": 0 is not a valid size: it is under 1");
    read_fails("{\"a_depth\": 4, \"a_ids\": 1}", "key \"a_ids\": expected an array, got a number");
    read_fails("{\"a_depth\": 4, \"a_ids\": [1, 2, 3, 4, 5]}", "key \"a_ids\": expected 0 to 4 items, got 5");
    read_fails("{\"a_depth\": 4, \"a_ids\": [1, 10]}",
               "key \"a_ids\"[1]: 10 is not a valid size: it is over 9");
    read_fails("{\"a_depth\": 4, \"a_ids\": [], \"a_stages\": [1, 1]}",
               "key \"a_stages\": expected 3 items, got 2");
    read_fails("{" DEMO_REQUIRED ", \"b_feats\": [], \"b_flag\": 1}",
               "key \"b_flag\": expected true or false, got a number");
    read_fails("{" DEMO_REQUIRED ", \"b_feats\": [], \"b_mean\": [1, \"x\"]}",
               "key \"b_mean\"[1]: expected a number, got a string");
    read_fails("{" DEMO_REQUIRED ", \"b_feats\": [], \"b_norm\": \"0123456789012345678901234567890123\"}",
               "key \"b_norm\": expected a string of at most 31 bytes");
}
END_TEST

START_TEST(set_and_write) {
    demo d;
    ug_err err;
    ck_assert_int_eq(read_text(&demo_schema, &d, "{" DEMO_REQUIRED ", \"b_feats\": []}", NULL, &err), UG_OK);
    const ug_cfg_field *f = NULL;
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "a_depth=8", &f, &err), UG_OK);
    ck_assert(d.depth == 8 && f == &demo_fields[0]);
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "b_norm=BN", NULL, &err), UG_OK); // a bare word
    ck_assert_str_eq(d.norm, "BN");
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "b_norm=\"LN\"", NULL, &err), UG_OK);
    ck_assert_str_eq(d.norm, "LN");
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "a_ids=[9]", NULL, &err), UG_OK);
    ck_assert(d.n_ids == 1 && d.ids[0] == 9);
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "b_feats=[\"res4\",\"res5\"]", NULL, &err), UG_OK);
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "b_eps=0.001", NULL, &err), UG_OK);

    static const struct {
        const char *kv, *msg;
    } bad[] = {
        {"a_depth", "--set 'a_depth': expected key=value"},
        {"nope=1", "--set 'nope=1': unknown config key 'nope' for this architecture"},
        {"a_depth=100", "--set: key \"a_depth\": 100 is not a valid size: it is over 64"},
        {"a_depth=x", "--set: key \"a_depth\": 'x' is not a JSON value"},
        {"a_stages=[1,2]", "--set: key \"a_stages\": expected 3 items, got 2"},
        {"b_flag=yes", "--set: key \"b_flag\": 'yes' is not a JSON value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, bad[i].kv, NULL, &err), UG_ERR_ARG);
        ck_assert_msg(!strcmp(err.msg, bad[i].msg), "'%s', expected '%s'", err.msg, bad[i].msg);
    }
    ck_assert_int_eq(d.depth, 8); // a refused value is not stored

    char *text;
    ck_assert_int_eq(ug_cfg_write(&demo_schema, &d, &text, &err), UG_OK);
    ck_assert_str_eq(
        text,
        "{\"a_depth\":8,\"a_ids\":[9],\"a_stages\":[2,2,6],\"b_eps\":0.001,\"b_feats\":[\"res4\",\"res5\"],"
        "\"b_flag\":true,\"b_mean\":[0.5,0.25],\"b_norm\":\"LN\"}");
    demo back;
    memset(&back, 0, sizeof back);
    ck_assert_int_eq(read_text(&demo_schema, &back, text, NULL, &err), UG_OK);
    ck_assert(back.depth == 8 && back.n_ids == 1 && back.eps == 0.001 && !strcmp(back.feats[1], "res5"));
    free(text);
}
END_TEST

// Found by tests/fuzz/fuzz_inputs.c: a --set bare word that is not UTF-8 was stored, then
// ug_cfg_write (the packer writing the config) failed on it.
START_TEST(set_refuses_what_cannot_be_written) {
    ug_err err;
    demo d;
    ug_cfg_defaults(&demo_schema, &d);
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "b_norm=G\xff\xffsw\x07", NULL, &err), UG_ERR_ARG);
    ck_assert_str_eq(err.msg, "--set: key \"b_norm\": the string is not valid UTF-8");
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "b_norm=\xc3(", NULL, &err), UG_ERR_ARG);
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "b_norm=Gr\xc3\xbc\x07n", NULL, &err), UG_OK);
    // The fuzzer's input, on the real table.
    rba_packed_config p;
    ug_cfg_defaults(&rba_config_schema, &p);
    static const char kv[] = "pixel_decoder_norm=G\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xffsw\x07";
    ck_assert_int_eq(ug_cfg_set(&rba_config_schema, &p, kv, NULL, &err), UG_ERR_ARG);
    // Also found by the fuzzer: a finite double that is no float (1e39) became inf in a float
    // field, which the writer refuses.
    ck_assert_int_eq(ug_cfg_set(&demo_schema, &d, "b_mean=[0.5,1e39]", NULL, &err), UG_ERR_ARG);
    ck_assert_str_eq(err.msg, "--set: key \"b_mean\"[1]: 1e+39 does not fit a float");
    sam_config sc;
    ug_cfg_defaults(&sam_config_schema, &sc);
    ck_assert_int_eq(ug_cfg_set(&sam_config_schema, &sc, "pixel_mean=[0.5,2,6.6e70]", NULL, &err),
                     UG_ERR_ARG);
    ck_assert_int_eq(read_text(&demo_schema, &d,
                               "{\"a_depth\":1,\"a_ids\":[],\"a_stages\":[1,2,3],"
                               "\"b_feats\":[],\"b_mean\":[-3.5e38,0]}",
                               NULL, &err),
                     UG_ERR_FORMAT);
    char *text;
    ck_assert_int_eq(ug_cfg_write(&demo_schema, &d, &text, &err), UG_OK);
    free(text);
    ck_assert_int_eq(ug_cfg_write(&sam_config_schema, &sc, &text, &err), UG_OK);
    free(text);
    ck_assert_int_eq(ug_cfg_write(&rba_config_schema, &p, &text, &err), UG_OK);
    free(text);
}
END_TEST

START_TEST(packed_tables_are_consistent) {
    ug_err err;
    ck_assert_msg(ug_cfg_schema_check(&sam_config_schema, &err) == UG_OK, "sam: %s", err.msg);
    ck_assert_msg(ug_cfg_schema_check(&rba_config_schema, &err) == UG_OK, "rba: %s", err.msg);
    // A broken table is caught: unsorted keys, a member of the wrong size.
    const ug_cfg_field unsorted[] = {demo_fields[1], demo_fields[0]};
    ck_assert_int_ne(ug_cfg_schema_check(&(ug_cfg_schema){unsorted, 2, sizeof(demo)}, &err), UG_OK);
    ug_cfg_field wrong = demo_fields[2];
    wrong.max_items = wrong.min_items = 2;
    ck_assert_int_ne(ug_cfg_schema_check(&(ug_cfg_schema){&wrong, 1, sizeof(demo)}, &err), UG_OK);
}
END_TEST

// Written text read back and written again is the same text.
static void expect_write_read_write(const ug_cfg_schema *s, void *a, void *b, const char *json) {
    ug_err err;
    memset(a, 0, s->size);
    ck_assert_msg(read_text(s, a, json, NULL, &err) == UG_OK, "%s", err.msg);
    char *t1, *t2;
    ck_assert_int_eq(ug_cfg_write(s, a, &t1, &err), UG_OK);
    memset(b, 0, s->size);
    ck_assert_msg(read_text(s, b, t1, NULL, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(ug_cfg_write(s, b, &t2, &err), UG_OK);
    ck_assert_str_eq(t1, t2);
    ck_assert(!memcmp(a, b, s->size));
    free(t1);
    free(t2);
}

START_TEST(packed_configs_round_trip) {
    test_require_golden();
    char *path = test_golden_path("sam_tiny/config.json");
    char *sam_json = test_read_text(path);
    ck_assert_ptr_nonnull(sam_json);
    sam_config a, b;
    expect_write_read_write(&sam_config_schema, &a, &b, sam_json);
    ck_assert(a.enc_depth > 0 && a.embed_h == a.embed_w && a.pixel_std[2] == 57.375f);
    free(sam_json);
    free(path);

    ug_arch_plan p;
    ug_err err;
    ck_assert_int_eq(ug_arch_rba_official("swin_b", 1, &p, &err), UG_OK);
    rba_packed_config r, r2;
    expect_write_read_write(&rba_config_schema, &r, &r2, p.config_json);
    char *again;
    ck_assert_int_eq(ug_cfg_write(&rba_config_schema, &r, &again, &err), UG_OK);
    ck_assert_str_eq(again, p.config_json); // the packer writes through the same table
    ck_assert(r.swin.depths[2] == 18 && r.pd.n_in_features == 1 && r.dec.num_queries == 100);
    free(again);
    ug_arch_plan_free(&p);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "config"}, &s);
    test_add(tc, read_defaults_and_errors, set_and_write, set_refuses_what_cannot_be_written,
             packed_tables_are_consistent, packed_configs_round_trip);
    return test_run_suite(s);
}
