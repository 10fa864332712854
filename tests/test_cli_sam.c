// tests/test_cli_sam.c — `ugains sam` end to end: the binary ($UGAINS_BIN, default
// build/bin/ugains) runs sam_tiny packed by `ugains pack`, and its outputs and dumps are held
// to the golden SamPredictor results; every error case has its exit code and one-line message.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "engine/image.h"
#include "engine/json.h"
#include "engine/npy.h"
#include "tests/helpers.h"

// golden/README.md: a float32 engine lands within 1e-4 abs + 1e-4 rel of every float tensor
// (10x the float32-vs-float64 gap of the official code).
#define ATOL 1e-4
#define RTOL 1e-4

static char *g_dir;         // temporary folder of the suite
static char g_sam[1200];    // sam_tiny packed by the CLI
static char g_notsam[1200]; // a valid safetensors file whose arch is "rba"
static char g_image[1200];  // golden input image (96 x 160)

static const char *bin(void) {
    const char *b = getenv("UGAINS_BIN");
    return b && *b ? b : "build/bin/ugains";
}

// Runs `ugains <args>`; stdout is dropped, stderr lands in <dir>/stderr.txt. Exit status.
static int run(const char *args) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>%s/stderr.txt", bin(), args, g_dir);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *read_stderr(void) {
    char p[1300];
    snprintf(p, sizeof p, "%s/stderr.txt", g_dir);
    size_t n;
    char *s = test_read_file(p, &n);
    ck_assert_ptr_nonnull(s);
    char *z = realloc(s, n + 1);
    ck_assert_ptr_nonnull(z);
    z[n] = '\0';
    return z;
}

static void setup(void) {
    if (!test_golden_available()) return;
    g_dir = test_tmpdir();
    snprintf(g_sam, sizeof g_sam, "%s/sam_tiny.safetensors", g_dir);
    snprintf(g_notsam, sizeof g_notsam, "%s/rba.safetensors", g_dir);
    char *pth = test_golden_path("sam_tiny/sam_tiny.pth"),
         *img = test_golden_path("sam_tiny/input_image.png");
    snprintf(g_image, sizeof g_image, "%s", img);
    char args[4096];
    // sam_tiny's decoder has 4 heads, which the weights cannot reveal (config.json says so).
    snprintf(args, sizeof args, "pack -q --in %s --out %s --set decoder_transformer_num_heads=4", pth, g_sam);
    if (run(args) != 0) fprintf(stderr, "test_cli_sam: packing sam_tiny failed\n");
    free(pth);
    free(img);
    // A well-formed safetensors file with no tensors whose metadata says rba.
    const char hdr[] = "{\"__metadata__\":{\"arch\":\"rba\",\"config\":\"{}\"}}      ";
    unsigned char buf[8 + sizeof hdr];
    uint64_t len = sizeof hdr - 1;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(len >> (8 * i));
    memcpy(buf + 8, hdr, len);
    test_write_file(g_notsam, buf, 8 + len);
}

static void teardown(void) {
    if (g_dir) test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

#define REQUIRE()                                                                                            \
    do {                                                                                                     \
        ck_assert_msg(test_golden_available(), "golden set missing");                                        \
        ck_assert_msg(exists(bin()), "%s missing (set UGAINS_BIN)", bin());                                  \
        ck_assert_msg(g_dir &&exists(g_sam), "sam_tiny could not be packed (see stderr)");                   \
    } while (0)

static ug_tensor load_npy(const char *path) {
    ug_tensor t;
    ug_err err;
    ck_assert_msg(ug_npy_read(path, &t, &err) == UG_OK, "%s", err.msg);
    return t;
}

static ug_tensor golden(const char *rel) {
    char *p = test_golden_path(rel);
    ug_tensor t = load_npy(p);
    free(p);
    return t;
}

static ug_tensor dumped(const char *dump, const char *name) {
    char p[1500];
    snprintf(p, sizeof p, "%s/%s.npy", dump, name);
    return load_npy(p);
}

static void want_shape(const ug_tensor *t, int ndim, const int64_t *shape, const char *what) {
    char a[64], b[64];
    ug_tensor s = ug_tensor_wrap(NULL, UG_F32, ndim, shape);
    ck_assert_msg(ug_tensor_same_shape(t, &s), "%s: shape %s, expected %s", what,
                  ug_shape_str(t, a, sizeof a), ug_shape_str(&s, b, sizeof b));
}

// Row `row` of a dumped [N, ...] tensor against a whole golden [1, ...] tensor.
static void check_row(const ug_tensor *got, int64_t row, const char *rel) {
    ug_tensor want = golden(rel);
    int64_t per = ug_tensor_numel(got) / got->shape[0];
    ck_assert_int_eq(per, ug_tensor_numel(&want));
    test_assert_close((const float *)got->data + row * per, want.data, (size_t)per, ATOL, RTOL, rel);
    ug_tensor_free(&want);
}

// mask_NNN.png must be logits > 0 of the golden mask `k` wherever the golden logit is not
// within 1e-3 of the threshold (the README's decision margins: a handful of near-zero logits
// may flip), and only 0 or 255.
static void check_png(const char *path, const char *rel, int64_t k) {
    ug_tensor png, want = golden(rel);
    ug_err err;
    ck_assert_msg(ug_image_read(path, UG_IMAGE_GRAY, &png, &err) == UG_OK, "%s", err.msg);
    int64_t H = want.shape[2], W = want.shape[3];
    ck_assert_int_eq(png.shape[0], H);
    ck_assert_int_eq(png.shape[1], W);
    const uint8_t *px = png.data;
    const float *lg = (const float *)want.data + k * H * W;
    int64_t on = 0;
    for (int64_t i = 0; i < H * W; i++) {
        ck_assert_msg(px[i] == 0 || px[i] == 255, "%s: pixel %lld is %d", path, (long long)i, px[i]);
        if (fabsf(lg[i]) > 1e-3f)
            ck_assert_msg((px[i] == 255) == (lg[i] > 0), "%s: pixel %lld, logit %g", path, (long long)i,
                          lg[i]);
        on += px[i] == 255;
    }
    ck_assert_msg(on > 0 && on < H * W, "%s: %lld of %lld pixels set: the comparison proves little", path,
                  (long long)on, (long long)(H * W));
    ug_tensor_free(&png);
    ug_tensor_free(&want);
}

static int argmax3(const float *v, int n) {
    int b = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[b]) b = k;
    return b;
}

// scores.json entry i against a golden IoU file; returns "best".
static int check_scores(const ug_json *root, int i, const char *rel, int M) {
    const ug_json *e = ug_json_at(ug_json_get(root, "prompts"), (size_t)i);
    ck_assert_ptr_nonnull(e);
    int64_t idx, best;
    ug_err err;
    ck_assert_int_eq(ug_json_get_int(e, "index", &idx, &err), UG_OK);
    ck_assert_int_eq(idx, i);
    ck_assert_int_eq(ug_json_get_int(e, "best", &best, &err), UG_OK);
    const ug_json *a = ug_json_get(e, "iou_predictions");
    ck_assert_msg(a && a->type == UG_JSON_ARRAY && (int)a->len == M, "prompt %d: iou_predictions", i);
    float got[3];
    for (int k = 0; k < M; k++) {
        const ug_json *v = ug_json_at(a, (size_t)k);
        ck_assert_msg(v->type == UG_JSON_NUMBER, "prompt %d: iou_predictions[%d] is a %s", i, k,
                      ug_json_type_name(v->type));
        got[k] = (float)v->number;
    }
    ug_tensor want = golden(rel);
    test_assert_close(got, want.data, (size_t)M, ATOL, RTOL, rel);
    // The golden gap between best and second IoU is >= 0.0112, so the choice is stable.
    ck_assert_int_eq(best, argmax3(want.data, M));
    ug_tensor_free(&want);
    return (int)best;
}

static ug_json_doc *read_scores(const char *out) {
    char p[1400];
    snprintf(p, sizeof p, "%s/scores.json", out);
    ug_json_doc *doc;
    ug_err err;
    ck_assert_msg(ug_json_parse_file(&doc, p, &err) == UG_OK, "%s", err.msg);
    return doc;
}

static void write_text(const char *name, const char *text, char *path, size_t n) {
    snprintf(path, n, "%s/%s", g_dir, name);
    test_write_file(path, text, strlen(text));
}

// Four prompts of four token structures (T = 2, 4, 2, 3) in one file: every output row must
// be its golden case, whatever grouping ran it.
START_TEST(prompt_file_golden) {
    REQUIRE();
    char pf[1400], args[8192], out[1400], dump[1400], p[1500];
    write_text("four.json",
               "[{\"points\": [[37.0, 41.0]]},\n"
               " {\"points\": [[40, 40], [110, 60], [75, 20]], \"labels\": [1, 1, 0]},\n"
               " {\"box\": [30, 20, 120, 80]},\n"
               " {\"points\": [[115, 30]], \"labels\": [1], \"box\": [90, 10, 140, 50]}]\n",
               pf, sizeof pf);
    snprintf(out, sizeof out, "%s/four_out", g_dir);
    snprintf(dump, sizeof dump, "%s/four_dump/deeper", g_dir);
    snprintf(args, sizeof args,
             "sam --weights %s --image %s --prompts %s --out %s --dump %s --all-masks --threads 2", g_sam,
             g_image, pf, out, dump);
    ck_assert_int_eq(run(args), 0);
    static const char *const names[4] = {"p0", "multi", "box", "box_point"};
    static const int64_t T[4] = {2, 4, 2, 3};

    ug_tensor emb = dumped(dump, "image_embeddings"), iou = dumped(dump, "iou_predictions"),
              low = dumped(dump, "low_res_masks"), masks = dumped(dump, "masks"),
              dense = dumped(dump, "dense_embeddings");
    want_shape(&iou, UG_DIMS(4, 3), "iou_predictions");
    want_shape(&low, UG_DIMS(4, 3, 64, 64), "low_res_masks");
    want_shape(&masks, UG_DIMS(4, 3, 96, 160), "masks");
    want_shape(&dense, UG_DIMS(4, 64, 16, 16), "dense_embeddings");
    check_row(&emb, 0, "sam_tiny/image_embeddings.npy");
    snprintf(p, sizeof p, "%s/sparse_embeddings.npy", dump);
    ck_assert_msg(!exists(p), "mixed token counts must not write one sparse_embeddings.npy");
    ug_json_doc *doc = read_scores(out);
    for (int i = 0; i < 4; i++) {
        char rel[128], name[64];
        snprintf(rel, sizeof rel, "sam_tiny/%s-iou_predictions_multi.npy", names[i]);
        check_row(&iou, i, rel);
        int best = check_scores(ug_json_root(doc), i, rel, 3);
        snprintf(rel, sizeof rel, "sam_tiny/%s-low_res_masks_multi.npy", names[i]);
        check_row(&low, i, rel);
        check_row(&dense, i, "sam_tiny/no_mask_dense_embeddings.npy");
        snprintf(name, sizeof name, "sparse_embeddings_%03d", i);
        ug_tensor sp = dumped(dump, name);
        want_shape(&sp, UG_DIMS(1, T[i], 64), name);
        snprintf(rel, sizeof rel, "sam_tiny/%s-sparse_embeddings.npy", names[i]);
        check_row(&sp, 0, rel);
        ug_tensor_free(&sp);
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "%s/mask_%03d_%d.png", out, i, k);
            ck_assert_msg(exists(p), "%s missing", p);
        }
        if (i == 0 || i == 2) { // the cases with golden full-size masks
            snprintf(rel, sizeof rel, "sam_tiny/%s-masks_multi.npy", names[i]);
            check_row(&masks, i, rel);
            snprintf(p, sizeof p, "%s/mask_%03d.png", out, i);
            check_png(p, rel, best);
            for (int k = 0; k < 3; k++) {
                snprintf(p, sizeof p, "%s/mask_%03d_%d.png", out, i, k);
                check_png(p, rel, k);
            }
        }
    }
    ug_json_free(doc);
    ug_tensor *ts[] = {&emb, &iou, &low, &masks, &dense};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        ug_tensor_free(ts[i]);
}
END_TEST

// Prompts of one token count: sparse_embeddings.npy holds them all as [N, T, C]. The six
// golden single points cycled to 70 prompts, so they run as more than one decoder batch (64).
START_TEST(prompt_file_uniform_tokens) {
    REQUIRE();
    static const float pts[6][2] = {{37.0f, 41.0f}, {120.5f, 30.25f}, {80, 70},
                                    {0, 0},         {159, 95},        {12.7f, 88.3f}};
    enum { N = 70 };
    char text[N * 48 + 16], pf[1400], args[8192], out[1400], p[1500];
    size_t len = (size_t)snprintf(text, sizeof text, "[");
    for (int i = 0; i < N; i++)
        len +=
            (size_t)snprintf(text + len, sizeof text - len, "%s{\"points\": [[%g, %g]]%s}", i ? ",\n" : "",
                             (double)pts[i % 6][0], (double)pts[i % 6][1], i % 2 ? ", \"labels\": [1]" : "");
    snprintf(text + len, sizeof text - len, "]");
    write_text("seventy.json", text, pf, sizeof pf);
    snprintf(out, sizeof out, "%s/seventy", g_dir);
    snprintf(args, sizeof args, "sam --weights %s --image %s --prompts %s --out %s --dump %s", g_sam, g_image,
             pf, out, out);
    ck_assert_int_eq(run(args), 0);
    ug_tensor sp = dumped(out, "sparse_embeddings"), iou = dumped(out, "iou_predictions");
    want_shape(&sp, UG_DIMS(N, 2, 64), "sparse_embeddings");
    want_shape(&iou, UG_DIMS(N, 3), "iou_predictions");
    ug_json_doc *doc = read_scores(out);
    for (int i = 0; i < N; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "sam_tiny/p%d-sparse_embeddings.npy", i % 6);
        check_row(&sp, i, rel);
        snprintf(rel, sizeof rel, "sam_tiny/p%d-iou_predictions_multi.npy", i % 6);
        check_row(&iou, i, rel);
        check_scores(ug_json_root(doc), i, rel, 3);
    }
    snprintf(p, sizeof p, "%s/mask_%03d.png", out, N - 1);
    ck_assert_msg(exists(p), "%s missing", p);
    ug_json_free(doc);
    ug_tensor_free(&sp);
    ug_tensor_free(&iou);
}
END_TEST

// Command-line prompts: repeated --point is one prompt; --box joins it; --single-mask.
START_TEST(command_line_prompts) {
    REQUIRE();
    char args[8192], out[1400], p[1500];
    snprintf(out, sizeof out, "%s/cl", g_dir);

    snprintf(args, sizeof args, "sam --weights %s --image %s --point 37,41 --single-mask --out %s --dump %s",
             g_sam, g_image, out, out);
    ck_assert_int_eq(run(args), 0);
    ug_tensor m = dumped(out, "masks"), iou = dumped(out, "iou_predictions"),
              sp = dumped(out, "sparse_embeddings");
    want_shape(&m, UG_DIMS(1, 1, 96, 160), "masks");
    check_row(&m, 0, "sam_tiny/p0-masks_single.npy");
    check_row(&iou, 0, "sam_tiny/p0-iou_predictions_single.npy");
    check_row(&sp, 0, "sam_tiny/p0-sparse_embeddings.npy");
    snprintf(p, sizeof p, "%s/mask_000.png", out);
    check_png(p, "sam_tiny/p0-masks_single.npy", 0);
    ug_json_doc *doc = read_scores(out);
    ck_assert_int_eq(check_scores(ug_json_root(doc), 0, "sam_tiny/p0-iou_predictions_single.npy", 1), 0);
    ug_json_free(doc);
    ug_tensor_free(&m);
    ug_tensor_free(&iou);
    ug_tensor_free(&sp);

    snprintf(args, sizeof args,
             "sam --weights %s --image %s --point 40,40 --point 110,60,1 --point 75,20,0 --out %s --dump %s",
             g_sam, g_image, out, out);
    ck_assert_int_eq(run(args), 0);
    iou = dumped(out, "iou_predictions");
    want_shape(&iou, UG_DIMS(1, 3), "iou_predictions");
    check_row(&iou, 0, "sam_tiny/multi-iou_predictions_multi.npy");
    ug_tensor_free(&iou);

    snprintf(args, sizeof args,
             "sam --weights %s --image %s --box 90,10,140,50 --point 115,30 --out %s --dump %s", g_sam,
             g_image, out, out);
    ck_assert_int_eq(run(args), 0);
    iou = dumped(out, "iou_predictions");
    sp = dumped(out, "sparse_embeddings");
    check_row(&iou, 0, "sam_tiny/box_point-iou_predictions_multi.npy");
    check_row(&sp, 0, "sam_tiny/box_point-sparse_embeddings.npy");
    ug_tensor_free(&iou);
    ug_tensor_free(&sp);
    char *e = read_stderr();
    ck_assert_msg(!strstr(e, "warning"), "unexpected: %s", e);
    free(e);
}
END_TEST

// A point outside the image is used as SamPredictor would use it, with a warning.
START_TEST(outside_point_warns) {
    REQUIRE();
    char args[8192], out[1400], p[1500];
    snprintf(out, sizeof out, "%s/outside", g_dir);
    snprintf(args, sizeof args, "sam --weights %s --image %s --point 200,10 --point -1,50 --out %s", g_sam,
             g_image, out);
    ck_assert_int_eq(run(args), 0);
    char *e = read_stderr();
    ck_assert_msg(strstr(e, "warning") && strstr(e, "(200, 10)") && strstr(e, "(-1, 50)") &&
                      strstr(e, "outside"),
                  "%s", e);
    free(e);
    snprintf(p, sizeof p, "%s/mask_000.png", out);
    ck_assert(exists(p));
}
END_TEST

typedef struct err_case {
    const char *args; // after "sam --weights W --image I"; %s = the suite's folder
    int rc;
    const char *needle; // in the one-line message
} err_case;

START_TEST(errors) {
    REQUIRE();
    char pf[1400];
    write_text("broken.json", "[{\"points\": [[1, 2]]},]", pf, sizeof pf);
    write_text("empty.json", "[]", pf, sizeof pf);
    write_text("inf.json", "[{\"points\": [[1, 1e300]]}]", pf, sizeof pf);
    write_text("huge.json", "[{\"points\": [[1e999, 2]]}]", pf, sizeof pf);
    write_text("nan.json", "[{\"points\": [[NaN, 2]]}]", pf, sizeof pf);
    write_text("nothing.json", "[{\"points\": [[1, 2]]}, {}]", pf, sizeof pf);
    write_text("labelsonly.json", "[{\"labels\": []}]", pf, sizeof pf);
    write_text("labels.json", "[{\"points\": [[1, 2]], \"labels\": [1, 0]}]", pf, sizeof pf);
    write_text("label3.json", "[{\"points\": [[1, 2]], \"labels\": [3]}]", pf, sizeof pf);
    write_text("typo.json", "[{\"point\": [[1, 2]]}]", pf, sizeof pf);
    write_text("object.json", "{\"points\": [[1, 2]]}", pf, sizeof pf);
    write_text("short.json", "[{\"box\": [1, 2, 3]}]", pf, sizeof pf);
    static const err_case cases[] = {
        {"--point 1,2 --out %s/e --bogus", 2, "unknown option"},
        {"--out %s/e", 2, "no prompt"},
        {"--point 1,2", 2, "--out"},
        {"--point nan,3 --out %s/e", 2, "finite"},
        {"--point 3,inf --out %s/e", 2, "finite"},
        {"--point 1 --out %s/e", 2, "X,Y"},
        {"--point 1,2,5 --out %s/e", 2, "label"},
        {"--point 1,2x --out %s/e", 2, "X,Y"},
        {"--box 1,2,3 --out %s/e", 2, "X0,Y0,X1,Y1"},
        {"--box 1,2,3,4 --box 1,2,3,4 --out %s/e", 2, "twice"},
        {"--point 1,2 --prompts %s/empty.json --out %s/e", 2, "not both"},
        {"--point 1,2 --out %s/e --threads 0", 2, "threads"},
        {"--point 1,2 --out %s/e extra", 2, "unexpected"},
        {"--prompts %s/broken.json --out %s/e", 1, "broken.json: JSON error"},
        {"--prompts %s/empty.json --out %s/e", 1, "empty.json: the prompt list is empty"},
        {"--prompts %s/inf.json --out %s/e", 1, "inf.json: prompt 0: points[0][1] = 1e+300 is out of range"},
        {"--prompts %s/huge.json --out %s/e", 1, "huge.json: JSON error"},
        {"--prompts %s/nan.json --out %s/e", 1, "nan.json: JSON error"},
        {"--prompts %s/nothing.json --out %s/e", 1, "nothing.json: prompt 1: has neither points nor a box"},
        {"--prompts %s/labelsonly.json --out %s/e", 1, "labels without points"},
        {"--point 1,2 --out", 2, "--out"},
        {"--prompts %s/labels.json --out %s/e", 1, "one per point"},
        {"--prompts %s/label3.json --out %s/e", 1, "labels[0]"},
        {"--prompts %s/typo.json --out %s/e", 1, "unknown key \"point\""},
        {"--prompts %s/object.json --out %s/e", 1, "expected an array of prompts"},
        {"--prompts %s/short.json --out %s/e", 1, "box must be an array of 4 numbers"},
        {"--prompts %s/missing.json --out %s/e", 1, "missing.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char tail[4096], args[8192];
        snprintf(tail, sizeof tail, cases[i].args, g_dir, g_dir);
        snprintf(args, sizeof args, "sam --weights %s --image %s %s", g_sam, g_image, tail);
        int rc = run(args);
        char *e = read_stderr();
        ck_assert_msg(rc == cases[i].rc, "%s: exit %d, expected %d (%s)", tail, rc, cases[i].rc, e);
        ck_assert_msg(strstr(e, cases[i].needle), "%s: message lacks '%s': %s", tail, cases[i].needle, e);
        ck_assert_msg(!strncmp(e, "ugains: ", 8) && strchr(e, '\n') == e + strlen(e) - 1,
                      "%s: not one line: %s", tail, e);
        if (rc == 1) ck_assert_msg(!strncmp(e, "ugains: sam: ", 13), "%s: %s", tail, e);
        free(e);
    }
}
END_TEST

// Weights and image problems are runtime errors naming the file.
START_TEST(file_errors) {
    REQUIRE();
    char args[8192];
    struct {
        const char *weights, *image, *needle;
    } cases[] = {
        {g_notsam, g_image, "rba.safetensors: not a SAM checkpoint"},
        {"/nonexistent/sam.safetensors", g_image, "/nonexistent/sam.safetensors"},
        {g_image, g_image, "input_image.png"},
        {g_sam, "/nonexistent/img.png", "/nonexistent/img.png"},
        {g_sam, g_notsam, "rba.safetensors"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(args, sizeof args, "sam --weights %s --image %s --point 1,2 --out %s/fe", cases[i].weights,
                 cases[i].image, g_dir);
        int rc = run(args);
        char *e = read_stderr();
        ck_assert_msg(rc == 1, "case %zu: exit %d (%s)", i, rc, e);
        ck_assert_msg(!strncmp(e, "ugains: sam: ", 13) && strstr(e, cases[i].needle) &&
                          strchr(e, '\n') == e + strlen(e) - 1,
                      "case %zu: %s", i, e);
        free(e);
    }
    ck_assert_int_eq(run("sam --help"), 0);
    // --precision: a bad value is a usage error; bf16 runs (on any CPU: f32 with one line where
    // AVX512-BF16 is missing or, here, forced off).
    snprintf(args, sizeof args, "sam --weights %s --image %s --point 1,2 --out %s/pr --precision fp16", g_sam,
             g_image, g_dir);
    ck_assert_int_eq(run(args), 2);
    char *e = read_stderr();
    ck_assert_msg(strstr(e, "--precision wants f32 or bf16, got 'fp16'"), "%s", e);
    free(e);
    snprintf(args, sizeof args, "sam --weights %s --image %s --point 1,2 --out %s/pr --precision bf16", g_sam,
             g_image, g_dir);
    ck_assert_int_eq(run(args), 0);
    setenv("UGAINS_NO_AVX512BF16", "1", 1);
    ck_assert_int_eq(run(args), 0);
    unsetenv("UGAINS_NO_AVX512BF16");
    e = read_stderr();
    ck_assert_msg(
        strstr(e, "ugains: sam: --precision bf16: turned off by UGAINS_NO_AVX512BF16: running in f32\n"),
        "%s", e);
    free(e);
    // --out that cannot be a folder.
    snprintf(args, sizeof args, "sam --weights %s --image %s --point 1,2 --out %s", g_sam, g_image, g_sam);
    ck_assert_int_eq(run(args), 1);
    e = read_stderr();
    ck_assert_msg(strstr(e, "sam_tiny.safetensors"), "%s", e);
    free(e);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cli_sam", .setup_once = setup, .teardown_once = teardown, .timeout = 120},
        &s);
    test_add(tc, prompt_file_golden, prompt_file_uniform_tokens, command_line_prompts, outside_point_warns,
             errors, file_errors);
    return test_run_suite(s);
}
