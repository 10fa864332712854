// tests/test_json.c — the strict JSON parser (escapes, unicode, numbers, limits, errors with
// offsets) and the writer (separators, escaping, shortest numbers, misuse), plus a random
// write -> parse round trip and the golden config/prompt files.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/json.h"
#include "tests/helpers.h"

// Parses a NUL-terminated text; asserts success.
static ug_json_doc *parse_ok(const char *text) {
    ug_json_doc *d = NULL;
    ug_err err = {0};
    ug_status st = ug_json_parse(&d, text, strlen(text), "t.json", &err);
    ck_assert_msg(st == UG_OK, "parse of <%s> failed: %s", text, err.msg);
    ck_assert_ptr_nonnull(d);
    return d;
}

// Asserts that text fails with `code` and a message containing `needle`.
static void parse_bad(const char *text, size_t len, ug_status code, const char *needle) {
    ug_json_doc *d = (ug_json_doc *)1;
    ug_err err = {0};
    ug_status st = ug_json_parse(&d, text, len, "t.json", &err);
    ck_assert_msg(st == code, "parse of <%.*s> gave %d (%s), expected %d", (int)len, text, st, err.msg, code);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err.msg, needle), "message <%s> lacks <%s>", err.msg, needle);
    ck_assert_msg(strncmp(err.msg, "t.json: ", 8) == 0, "message <%s> does not name the input", err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "message spans lines: %s", err.msg);
}

static void bad(const char *text, const char *needle) {
    parse_bad(text, strlen(text), UG_ERR_FORMAT, needle);
}

START_TEST(parse_values_and_order) {
    ug_json_doc *d =
        parse_ok(" {\"z\": 1, \"a\": [true, false, null, \"s\", 2.5, {}], \"m\": {\"k\": []}}\n");
    const ug_json *r = ug_json_root(d);
    ck_assert_int_eq(r->type, UG_JSON_OBJECT);
    ck_assert_uint_eq(r->len, 3);
    // Source order is kept.
    ck_assert_str_eq(r->items[0].key, "z");
    ck_assert_str_eq(r->items[1].key, "a");
    ck_assert_str_eq(r->items[2].key, "m");
    const ug_json *a = ug_json_get(r, "a");
    ck_assert_int_eq(a->type, UG_JSON_ARRAY);
    ck_assert_uint_eq(a->len, 6);
    ck_assert(ug_json_at(a, 0)->type == UG_JSON_BOOL && ug_json_at(a, 0)->boolean);
    ck_assert(ug_json_at(a, 1)->type == UG_JSON_BOOL && !ug_json_at(a, 1)->boolean);
    ck_assert_int_eq(ug_json_at(a, 2)->type, UG_JSON_NULL);
    ck_assert_str_eq(ug_json_at(a, 3)->str, "s");
    ck_assert(ug_json_at(a, 4)->number == 2.5 && !ug_json_at(a, 4)->is_int);
    ck_assert(ug_json_at(a, 5)->type == UG_JSON_OBJECT && ug_json_at(a, 5)->len == 0);
    ck_assert_ptr_null(ug_json_at(a, 6));
    ck_assert_uint_eq(ug_json_at(a, 3)->offset, 35); // byte offset of "s"
    ck_assert_int_eq(ug_json_get(ug_json_get(r, "m"), "k")->type, UG_JSON_ARRAY);
    ck_assert_ptr_null(ug_json_get(r, "missing"));
    ck_assert_ptr_null(ug_json_get(a, "z")); // not an object
    ug_json_free(d);

    // Scalars are valid documents too (RFC 8259).
    d = parse_ok("\"only\"");
    ck_assert_str_eq(ug_json_root(d)->str, "only");
    ug_json_free(d);
}
END_TEST

START_TEST(parse_escapes_and_unicode) {
    ug_json_doc *d =
        parse_ok("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", \"\\uD83D\\uDE00\", \"a\\u0000b\","
                 " \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]");
    const ug_json *r = ug_json_root(d);
    ck_assert_str_eq(r->items[0].str, "\"\\/\b\f\n\r\t");
    ck_assert_str_eq(r->items[1].str, "\xc3\xa9\xe2\x82\xac");
    ck_assert_str_eq(r->items[2].str, "\xf0\x9f\x98\x80"); // U+1F600 from a surrogate pair
    ck_assert_uint_eq(r->items[3].len, 3);                 // the NUL is kept, len says so
    ck_assert(memcmp(r->items[3].str, "a\0b", 4) == 0);
    ck_assert_str_eq(r->items[4].str, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    ug_json_free(d);

    bad("\"\\uD83D\"", "surrogate");        // lone high surrogate
    bad("\"\\uD83Dx\"", "surrogate");       // high surrogate followed by text
    bad("\"\\uD83D\\u0041\"", "surrogate"); // high surrogate followed by a non-low escape
    bad("\"\\uDE00\"", "low surrogate");
    bad("\"\\u12G4\"", "hex");
    bad("\"\\u12\"", "hex");
    bad("\"\\x41\"", "invalid escape");
    bad("\"a\tb\"", "control character");
    bad("\"\xc0\x80\"", "UTF-8");         // overlong NUL
    bad("\"\xed\xa0\x80\"", "UTF-8");     // encoded surrogate
    bad("\"\xf5\x80\x80\x80\"", "UTF-8"); // above U+10FFFF
    bad("\"\xe2\x82\"", "UTF-8");         // truncated sequence
    bad("\"\x80\"", "UTF-8");             // stray continuation
    bad("\"abc", "unterminated");
    bad("\"abc\\\"", "unterminated");
    bad("'a'", "unexpected");
}
END_TEST

START_TEST(parse_numbers) {
    ug_json_doc *d = parse_ok("[0, -0, 123, -9223372036854775808, 9223372036854775807, 9223372036854775808,"
                              " 9007199254740993, 1.5, 1e3, 2.5e-3, 1E+2, -1.25e-300, 1e-400, 4.0, -7]");
    const ug_json *r = ug_json_root(d);
    const ug_json *v = r->items;
    ck_assert(v[0].is_int && v[0].integer == 0 && v[0].number == 0);
    ck_assert(v[1].is_int && v[1].integer == 0 && signbit(v[1].number));
    ck_assert(v[2].is_int && v[2].integer == 123);
    ck_assert(v[3].is_int && v[3].integer == INT64_MIN);
    ck_assert(v[4].is_int && v[4].integer == INT64_MAX);
    ck_assert(!v[5].is_int && v[5].number == 9223372036854775808.0); // beyond int64: double only
    // 2^53 + 1: exact as an int64 although the double rounds to 2^53.
    ck_assert(v[6].is_int && v[6].integer == 9007199254740993LL);
    ck_assert(v[6].number == 9007199254740992.0);
    ck_assert(!v[7].is_int && v[7].number == 1.5);
    ck_assert(v[8].is_int && v[8].integer == 1000);
    ck_assert(!v[9].is_int && v[9].number == 2.5e-3);
    ck_assert(v[10].is_int && v[10].integer == 100);
    ck_assert(v[11].number == -1.25e-300);
    ck_assert(v[12].number == 0); // underflow is fine
    ck_assert(v[13].is_int && v[13].integer == 4);
    ck_assert(v[14].is_int && v[14].integer == -7);
    ug_json_free(d);

    bad("01", "leading zero");
    bad("-", "digit");
    bad("1.", "digit after '.'");
    bad(".5", "unexpected '.'");
    bad("+1", "unexpected '+'");
    bad("1e", "exponent");
    bad("1e+", "exponent");
    bad("0x10", "after the JSON value");
    bad("NaN", "unexpected 'N'");
    bad("Infinity", "unexpected 'I'");
    bad("-Infinity", "digit");
    bad("1e400", "out of range");
    bad("--1", "digit");
}
END_TEST

START_TEST(parse_structure_errors) {
    bad("", "end of input");
    bad("  \n ", "end of input");
    bad("{} x", "after the JSON value");
    bad("[1] [2]", "after the JSON value");
    bad("[1,]", "trailing comma");
    bad("{\"a\":1,}", "trailing comma");
    bad("{a:1}", "string key");
    bad("[1 2]", "expected ',' or ']'");
    bad("{\"a\" 1}", "expected ':'");
    bad("{\"a\":1 \"b\":2}", "expected ',' or '}'");
    bad("[1, /* c */ 2]", "unexpected '/'");
    bad("tru", "literal");
    bad("nul", "literal");
    bad("[\"a\"\x0b]", "byte 0x0b"); // vertical tab is not JSON whitespace
    bad("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key \"a\"");
    parse_bad("[1,\0]", 5, UG_ERR_FORMAT, "byte 0x00");

    // The error names the byte offset with line and column.
    ug_json_doc *d;
    ug_err err;
    ck_assert_int_eq(ug_json_parse(&d, "[1,\n 2,,]", 9, "t.json", &err), UG_ERR_FORMAT);
    ck_assert_str_eq(err.msg,
                     "t.json: JSON error at byte 7 (line 2, column 4): unexpected ',', expected a value");

    // Duplicates in a big object go through the hash table.
    char *buf = malloc(20000);
    size_t o = 0;
    o += (size_t)sprintf(buf + o, "{");
    for (int i = 0; i < 500; i++)
        o += (size_t)sprintf(buf + o, "%s\"k%d\":%d", i ? "," : "", i, i);
    o += (size_t)sprintf(buf + o, "}");
    d = parse_ok(buf);
    ck_assert_uint_eq(ug_json_root(d)->len, 500);
    ck_assert_int_eq(ug_json_get(ug_json_root(d), "k499")->integer, 499);
    ug_json_free(d);
    sprintf(buf + o - 1, ",\"k123\":0}");
    bad(buf, "duplicate key \"k123\"");
    free(buf);
}
END_TEST

START_TEST(parse_depth_limit) {
    enum { DEEP = 100000 };
    char *buf = malloc(2 * DEEP + 1);
    // Exactly the limit parses; one more fails; a huge depth fails cleanly (no recursion blowup).
    for (int depth = UG_JSON_DEFAULT_MAX_DEPTH; depth <= UG_JSON_DEFAULT_MAX_DEPTH + 1; depth++) {
        memset(buf, '[', (size_t)depth);
        memset(buf + depth, ']', (size_t)depth);
        ug_json_doc *d = NULL;
        ug_err err;
        ug_status st = ug_json_parse(&d, buf, 2 * (size_t)depth, "deep", &err);
        if (depth == UG_JSON_DEFAULT_MAX_DEPTH) {
            ck_assert_msg(st == UG_OK, "%s", err.msg);
            ug_json_free(d);
        } else {
            ck_assert_int_eq(st, UG_ERR_FORMAT);
            ck_assert_msg(strstr(err.msg, "nesting deeper than 64"), "%s", err.msg);
        }
    }
    memset(buf, '[', DEEP);
    parse_bad(buf, DEEP, UG_ERR_FORMAT, "nesting deeper");
    for (int i = 0; i < DEEP; i++)
        buf[i] = i % 2 ? '[' : '{';
    parse_bad(buf, DEEP, UG_ERR_FORMAT, "string key"); // '{[' is malformed before it is deep
    for (int i = 0; i < DEEP / 5; i++)
        memcpy(buf + 5 * i, "{\"a\":", 5);
    parse_bad(buf, DEEP, UG_ERR_FORMAT, "nesting deeper");
    free(buf);
}
END_TEST

START_TEST(parse_limits) {
    const char *text = "[1, [2, 3], {\"a\": 4}]"; // 8 values (the key counts too)
    ug_json_doc *d;
    ug_err err;
    ug_json_limits lim = {1000, 64, 8};
    ck_assert_int_eq(ug_json_parse_ex(&d, text, strlen(text), "t", &lim, &err), UG_OK);
    ug_json_free(d);
    lim.max_nodes = 7;
    ck_assert_int_eq(ug_json_parse_ex(&d, text, strlen(text), "t", &lim, &err), UG_ERR_NOMEM);
    ck_assert_msg(strstr(err.msg, "more than 7 values"), "%s", err.msg);
    lim = (ug_json_limits){10, 64, 100};
    ck_assert_int_eq(ug_json_parse_ex(&d, text, strlen(text), "t", &lim, &err), UG_ERR_NOMEM);
    lim = (ug_json_limits){1000, 1, 100};
    ck_assert_int_eq(ug_json_parse_ex(&d, text, strlen(text), "t", &lim, &err), UG_ERR_FORMAT);
}
END_TEST

START_TEST(parse_truncated_everywhere) {
    // Every proper prefix of an object is invalid; each must fail cleanly (ASan checks the
    // parser never reads past the prefix: each one is its own exact-size allocation).
    const char *text = "{\"name\": \"caf\\u00e9 \\uD83D\\uDE00\", \"n\": [-1.5e-3, 0, 123456789012345678],"
                       " \"ok\": true, \"no\": false, \"nil\": null, \"o\": {\"x\": \"\xe2\x82\xac\"}}";
    size_t n = strlen(text);
    for (size_t len = 0; len < n; len++) {
        char *copy = malloc(len ? len : 1);
        memcpy(copy, text, len);
        ug_json_doc *d = NULL;
        ug_err err;
        ug_status st = ug_json_parse(&d, copy, len, "t.json", &err);
        ck_assert_msg(st == UG_ERR_FORMAT, "prefix of %zu bytes gave %d", len, st);
        ck_assert_ptr_null(d);
        ck_assert_msg(strstr(err.msg, "JSON error at byte"), "%s", err.msg);
        free(copy);
    }
    ug_json_free(parse_ok(text));
}
END_TEST

START_TEST(typed_getters) {
    ug_json_doc *d =
        parse_ok("{\"depth\": 4, \"eps\": 1e-6, \"bias\": true, \"name\": \"sam\", \"ratio\": 4.5}");
    const ug_json *r = ug_json_root(d);
    int64_t i;
    double x;
    bool b;
    const char *s;
    ug_err err;
    ck_assert_int_eq(ug_json_get_int(r, "depth", &i, &err), UG_OK);
    ck_assert_int_eq(i, 4);
    ck_assert_int_eq(ug_json_get_number(r, "eps", &x, &err), UG_OK);
    ck_assert(x == 1e-6);
    ck_assert_int_eq(ug_json_get_bool(r, "bias", &b, &err), UG_OK);
    ck_assert(b);
    ck_assert_int_eq(ug_json_get_string(r, "name", &s, &err), UG_OK);
    ck_assert_str_eq(s, "sam");
    ck_assert_int_eq(ug_json_get_int(r, "ratio", &i, &err), UG_ERR_FORMAT);
    ck_assert_str_eq(err.msg, "key \"ratio\": expected an integer, got 4.5");
    ck_assert_int_eq(ug_json_get_int(r, "name", &i, &err), UG_ERR_FORMAT);
    ck_assert_str_eq(err.msg, "key \"name\": expected a number, got a string");
    ck_assert_int_eq(ug_json_get_string(r, "absent", &s, &err), UG_ERR_FORMAT);
    ck_assert_str_eq(err.msg, "key \"absent\": missing");
    ck_assert_int_eq(ug_json_as_int(ug_json_get(r, "eps"), "eps", &i, &err), UG_ERR_FORMAT);
    ck_assert_int_eq(ug_json_as_number(ug_json_get(r, "depth"), "depth", &x, &err), UG_OK);
    ck_assert(x == 4.0);
    ck_assert_int_eq(ug_json_get_int(ug_json_get(r, "name"), "x", &i, &err), UG_ERR_FORMAT);
    ug_json_free(d);
}
END_TEST

// Writer output as a string; asserts success.
static char *finish_ok(ug_json_writer *w) {
    char *text;
    size_t len;
    ug_err err = {0};
    ck_assert_msg(ug_jw_finish(w, &text, &len, &err) == UG_OK, "%s", err.msg);
    ck_assert_uint_eq(len, strlen(text));
    return text;
}

static void build_sample(ug_json_writer *w) {
    ug_jw_object_begin(w);
    ug_jw_key(w, "pAP");
    ug_jw_number(w, 81.25);
    ug_jw_key(w, "ids");
    ug_jw_array_begin(w);
    ug_jw_int(w, 1);
    ug_jw_int(w, -2);
    ug_jw_array_end(w);
    ug_jw_key(w, "empty");
    ug_jw_array_begin(w);
    ug_jw_array_end(w);
    ug_jw_key(w, "o");
    ug_jw_object_begin(w);
    ug_jw_key(w, "s");
    ug_jw_string(w, "a\"b");
    ug_jw_key(w, "t");
    ug_jw_bool(w, true);
    ug_jw_key(w, "n");
    ug_jw_null(w);
    ug_jw_object_end(w);
    ug_jw_object_end(w);
}

START_TEST(writer_layout) {
    ug_json_writer w;
    ug_jw_init(&w, 0);
    build_sample(&w);
    char *t = finish_ok(&w);
    ck_assert_str_eq(
        t, "{\"pAP\":81.25,\"ids\":[1,-2],\"empty\":[],\"o\":{\"s\":\"a\\\"b\",\"t\":true,\"n\":null}}");
    free(t);
    // indent=1 matches Python's json.dumps(obj, indent=1).
    ug_jw_init(&w, 1);
    build_sample(&w);
    t = finish_ok(&w);
    ck_assert_str_eq(t, "{\n \"pAP\": 81.25,\n \"ids\": [\n  1,\n  -2\n ],\n \"empty\": [],\n \"o\": {\n"
                        "  \"s\": \"a\\\"b\",\n  \"t\": true,\n  \"n\": null\n }\n}");
    free(t);
}
END_TEST

START_TEST(writer_escapes_and_numbers) {
    ug_json_writer w;
    ug_jw_init(&w, 0);
    ug_jw_array_begin(&w);
    ug_jw_string(&w, "q\" b\\ n\n r\r t\t \b\f \x01\x1f \x7f caf\xc3\xa9 \xf0\x9f\x98\x80 /");
    ug_jw_string_n(&w, "a\0b", 3);
    ug_jw_number(&w, 0.1);
    ug_jw_number(&w, 1e300);
    ug_jw_number(&w, -0.0);
    ug_jw_number(&w, 5e-324);
    ug_jw_number(&w, 1.0 / 3.0);
    ug_jw_number(&w, 3.0);
    ug_jw_float(&w, 0.9f);
    ug_jw_float(&w, 1.0f / 3.0f);
    ug_jw_int(&w, INT64_MIN);
    ug_jw_int(&w, INT64_MAX);
    ug_jw_array_end(&w);
    char *t = finish_ok(&w);
    ck_assert_str_eq(
        t, "[\"q\\\" b\\\\ n\\n r\\r t\\t \\b\\f \\u0001\\u001f \x7f caf\xc3\xa9 \xf0\x9f\x98\x80 /\","
           "\"a\\u0000b\",0.1,1e+300,-0,5e-324,0.3333333333333333,3,0.9,0.33333334,"
           "-9223372036854775808,9223372036854775807]");
    // Everything reads back to the same values.
    ug_json_doc *d = parse_ok(t);
    const ug_json *r = ug_json_root(d);
    ck_assert_str_eq(r->items[0].str,
                     "q\" b\\ n\n r\r t\t \b\f \x01\x1f \x7f caf\xc3\xa9 \xf0\x9f\x98\x80 /");
    ck_assert(r->items[1].len == 3 && memcmp(r->items[1].str, "a\0b", 3) == 0);
    ck_assert(r->items[2].number == 0.1 && r->items[5].number == 5e-324 && r->items[6].number == 1.0 / 3.0);
    ck_assert((float)r->items[9].number == 1.0f / 3.0f);
    ck_assert(r->items[10].integer == INT64_MIN && r->items[11].integer == INT64_MAX);
    ug_json_free(d);
    free(t);
}
END_TEST

// One number through the writer: its text, and the double it reads back to.
static char *number_text(double v, bool as_float) {
    ug_json_writer w;
    ug_jw_init(&w, 0);
    if (as_float)
        ug_jw_float(&w, (float)v);
    else
        ug_jw_number(&w, v);
    return finish_ok(&w);
}

static void expect_number(double v, const char *text) {
    char *t = number_text(v, false);
    ck_assert_msg(!strcmp(t, text), "%.17g written as %s, expected %s", v, t, text);
    ug_json_doc *d = parse_ok(t);
    double back = ug_json_root(d)->number;
    ck_assert_msg(back == v && signbit(back) == signbit(v), "%s reads back as %.17g, not %.17g", t, back, v);
    ug_json_free(d);
    free(t);
}

// Integers print as integers (a point [30, 58] was written [3e+01, 58]); no exponent where
// plain digits are as short; everything reads back to the same double.
START_TEST(writer_number_forms) {
    expect_number(30.0, "30");
    expect_number(58, "58");
    expect_number(0.5, "0.5");
    expect_number(1e-7, "1e-07");
    expect_number(0.001, "0.001");
    expect_number(0.00015, "0.00015");
    expect_number(1.5e-5, "1.5e-05");
    expect_number(1e20, "100000000000000000000");
    expect_number(1e21, "1e+21");
    expect_number(-0.0, "-0");
    expect_number(9007199254740992.0, "9007199254740992"); // 2^53
    expect_number(9007199254740994.0, "9007199254740994");
    expect_number(-123456789012.0, "-123456789012");
    expect_number(1500.25, "1500.25");
    expect_number(1.5e300, "1.5e+300");
    expect_number(5e-324, "5e-324");
    char *t = number_text(30.0, true);
    ck_assert_str_eq(t, "30");
    free(t);
    t = number_text(3e10, true);
    ck_assert_str_eq(t, "30000000000");
    free(t);
    // Random doubles and floats over many magnitudes: exact round trip, no "e" on integers.
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        double m = (double)(s >> 11) / 9007199254740992.0, v = ldexp(m, (int)(s % 160) - 80);
        if (i % 3 == 0) v = floor(v);
        if (i % 5 == 0) v = -v;
        bool as_float = i % 2;
        if (as_float) v = (float)v;
        t = number_text(v, as_float);
        ug_json_doc *d = parse_ok(t);
        double back = ug_json_root(d)->number;
        if (as_float)
            ck_assert_msg((float)back == (float)v, "float %.9g written as %s", v, t);
        else
            ck_assert_msg(back == v, "%.17g written as %s", v, t);
        if (v == floor(v) && fabs(v) < 1e21)
            ck_assert_msg(!strchr(t, 'e'), "integer %.17g written as %s", v, t);
        ug_json_free(d);
        free(t);
    }
}
END_TEST

static void writer_fails(void (*misuse)(ug_json_writer *), const char *needle) {
    ug_json_writer w;
    ug_jw_init(&w, 0);
    misuse(&w);
    char *text = (char *)1;
    ug_err err;
    ck_assert_int_ne(ug_jw_finish(&w, &text, NULL, &err), UG_OK);
    ck_assert_ptr_null(text);
    ck_assert_msg(strstr(err.msg, needle), "message <%s> lacks <%s>", err.msg, needle);
    ck_assert_ptr_null(w.buf); // nothing held after finish
}

static void m_value_without_key(ug_json_writer *w) {
    ug_jw_object_begin(w);
    ug_jw_int(w, 1);
    ug_jw_object_end(w);
}
static void m_unclosed(ug_json_writer *w) {
    ug_jw_array_begin(w);
    ug_jw_int(w, 1);
}
static void m_mismatched_end(ug_json_writer *w) {
    ug_jw_array_begin(w);
    ug_jw_object_end(w);
}
static void m_two_values(ug_json_writer *w) {
    ug_jw_int(w, 1);
    ug_jw_int(w, 2);
}
static void m_bad_utf8(ug_json_writer *w) {
    ug_jw_string(w, "\xff");
}
static void m_nan(ug_json_writer *w) {
    ug_jw_array_begin(w);
    ug_jw_number(w, NAN);
    ug_jw_array_end(w);
}
static void m_key_in_array(ug_json_writer *w) {
    ug_jw_array_begin(w);
    ug_jw_key(w, "k");
    ug_jw_array_end(w);
}
static void m_dangling_key(ug_json_writer *w) {
    ug_jw_object_begin(w);
    ug_jw_key(w, "k");
    ug_jw_object_end(w);
}
static void m_too_deep(ug_json_writer *w) {
    for (int i = 0; i < 65; i++)
        ug_jw_array_begin(w);
}
static void m_nothing(ug_json_writer *w) {
    (void)w;
}

START_TEST(writer_misuse) {
    writer_fails(m_value_without_key, "without a key");
    writer_fails(m_unclosed, "incomplete");
    writer_fails(m_mismatched_end, "object end without a matching begin");
    writer_fails(m_two_values, "second top-level");
    writer_fails(m_bad_utf8, "not valid UTF-8");
    writer_fails(m_nan, "non-finite");
    writer_fails(m_key_in_array, "outside an object");
    writer_fails(m_dangling_key, "right after a key");
    writer_fails(m_too_deep, "deeper than 64");
    writer_fails(m_nothing, "incomplete");
}
END_TEST

// Random documents: write with the writer, parse back, compare every value.
static void random_string(test_rng *r, char *buf, size_t *len) {
    size_t n = test_rng_u64(r) % 12, o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp;
        switch (test_rng_u64(r) % 4) {
        case 0: cp = (uint32_t)(test_rng_u64(r) % 0x80); break; // ASCII incl. controls and NUL
        case 1: cp = 0x80 + (uint32_t)(test_rng_u64(r) % 0x780); break;
        case 2: cp = 0x800 + (uint32_t)(test_rng_u64(r) % 0xf800); break;
        default: cp = 0x10000 + (uint32_t)(test_rng_u64(r) % 0x100000); break;
        }
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41; // surrogates are not characters
        unsigned char *u = (unsigned char *)buf + o;
        if (cp < 0x80) {
            u[0] = (unsigned char)cp, o += 1;
        } else if (cp < 0x800) {
            u[0] = (unsigned char)(0xc0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3f)), o += 2;
        } else if (cp < 0x10000) {
            u[0] = (unsigned char)(0xe0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
            u[2] = (unsigned char)(0x80 | (cp & 0x3f)), o += 3;
        } else {
            u[0] = (unsigned char)(0xf0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
            u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f)), u[3] = (unsigned char)(0x80 | (cp & 0x3f)),
            o += 4;
        }
    }
    *len = o;
}

START_TEST(random_roundtrip) {
    test_rng r = test_rng_seed(7);
    enum { N = 300 };
    static char strs[N][64];
    static size_t lens[N];
    static double nums[N];
    for (int round = 0; round < 20; round++) {
        ug_json_writer w;
        ug_jw_init(&w, round % 3);
        ug_jw_object_begin(&w);
        for (int i = 0; i < N; i++) {
            // Keys carry the index so they are unique; values alternate strings and numbers.
            char key[96];
            size_t kl;
            random_string(&r, key, &kl);
            kl += (size_t)sprintf(key + kl, "#%d", i);
            ug_jw_key_n(&w, key, kl);
            if (i % 2) {
                random_string(&r, strs[i], &lens[i]);
                ug_jw_string_n(&w, strs[i], lens[i]);
            } else {
                uint64_t bits = test_rng_u64(&r);
                memcpy(&nums[i], &bits, sizeof bits);
                if (!isfinite(nums[i])) nums[i] = (double)(int64_t)bits;
                ug_jw_number(&w, nums[i]);
            }
        }
        ug_jw_object_end(&w);
        char *text;
        size_t len;
        ug_err err;
        ck_assert_msg(ug_jw_finish(&w, &text, &len, &err) == UG_OK, "%s", err.msg);
        ug_json_doc *d;
        ck_assert_msg(ug_json_parse(&d, text, len, "rt", &err) == UG_OK, "%s", err.msg);
        const ug_json *root = ug_json_root(d);
        ck_assert_uint_eq(root->len, N);
        for (int i = 0; i < N; i++) {
            const ug_json *v = &root->items[i];
            char suffix[16];
            int sl = sprintf(suffix, "#%d", i);
            ck_assert(v->key_len >= (size_t)sl && memcmp(v->key + v->key_len - sl, suffix, (size_t)sl) == 0);
            if (i % 2)
                ck_assert(v->type == UG_JSON_STRING && v->len == lens[i] &&
                          memcmp(v->str, strs[i], lens[i]) == 0);
            else
                ck_assert_msg(v->type == UG_JSON_NUMBER && v->number == nums[i], "%.17g vs %.17g", v->number,
                              nums[i]);
        }
        ug_json_free(d);
        free(text);
    }
}
END_TEST

START_TEST(parse_file_and_golden) {
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/p.json", dir);
    const char *text = "[{\"points\": [[10, 20.5]], \"labels\": [1]}]\n";
    test_write_file(path, text, strlen(text));
    ug_json_doc *d;
    ug_err err;
    ck_assert_int_eq(ug_json_parse_file(&d, path, &err), UG_OK);
    ck_assert(ug_json_root(d)->items[0].items[0].items[0].items[1].number == 20.5);
    ug_json_free(d);
    test_write_file(path, "[1,", 3);
    ck_assert_int_eq(ug_json_parse_file(&d, path, &err), UG_ERR_FORMAT);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/absent.json", dir);
    ck_assert_int_eq(ug_json_parse_file(&d, path, &err), UG_ERR_IO);
    ck_assert_int_eq(ug_json_parse_file(&d, dir, &err), UG_ERR_IO); // a directory
    test_rmtree(dir);
    free(dir);

    test_require_golden();
    char *cfg = test_golden_path("sam_tiny/config.json");
    ck_assert_msg(ug_json_parse_file(&d, cfg, &err) == UG_OK, "%s", err.msg);
    const ug_json *r = ug_json_root(d);
    int64_t depth;
    double eps;
    ck_assert_int_eq(ug_json_get_int(r, "encoder_depth", &depth, &err), UG_OK);
    ck_assert_int_eq(depth, 4);
    ck_assert_int_eq(ug_json_get_number(r, "encoder_layernorm_eps", &eps, &err), UG_OK);
    ck_assert(eps == 1e-6);
    ck_assert(ug_json_get(r, "pixel_mean")->items[1].number == 116.28);
    ug_json_free(d);
    free(cfg);
    const char *others[] = {"sam_tiny/prompts.json", "rba_tiny/config.json", "eval_tiny/expected.json"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        char *p = test_golden_path(others[i]);
        ck_assert_msg(ug_json_parse_file(&d, p, &err) == UG_OK, "%s", err.msg);
        ug_json_free(d);
        free(p);
    }
}
END_TEST

START_TEST(excerpt_is_one_line) {
    char buf[32];
    ck_assert_str_eq(ug_json_excerpt(buf, sizeof buf, "a\n\"b\\", 5), "a\\x0a\\\"b\\\\");
    ug_json_excerpt(buf, sizeof buf, "0123456789012345678901234567890123456789", 40);
    ck_assert_uint_lt(strlen(buf), sizeof buf);
    ck_assert(strstr(buf, "..."));
    ck_assert(ug_utf8_valid("caf\xc3\xa9", 5));
    ck_assert(!ug_utf8_valid("caf\xc3", 4));
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "json"}, &s);
    test_add(tc, parse_values_and_order, parse_escapes_and_unicode, parse_numbers, parse_structure_errors,
             parse_depth_limit, parse_limits, parse_truncated_everywhere, typed_getters, writer_layout,
             writer_escapes_and_numbers, writer_number_forms, writer_misuse, random_roundtrip,
             parse_file_and_golden, excerpt_is_one_line);
    return test_run_suite(s);
}
