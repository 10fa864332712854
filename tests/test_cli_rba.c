// tests/test_cli_rba.c — `ugains rba`, `ugains pack` and `ugains inspect` as a user runs them:
// the binary ($UGAINS_BIN, which `make test` sets; default build/bin/ugains) is started with
// fork/execv (arguments passed as they are, no shell), the golden rba_tiny 1-layer checkpoint
// is packed by `ugains pack`, and the outputs and §6 dumps of `ugains rba` are held to the
// golden NLSSegmentation results. Every error case has its exit code and a one-line
// "ugains: ..." message, and a failed run leaves --out and --dump as it found them.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/image.h"
#include "tests/cli.h"
#include "tests/helpers.h"

// golden/README.md: a float32 engine lands within 1e-4 abs + 1e-4 rel of every float tensor
// (10x the float32-vs-float64 gap of the official code).
#define ATOL 1e-4
#define RTOL 1e-4
// golden/README.md, rba_tiny decision margins: img0_1dl has 10 pixels whose relative top-2
// semseg gap is below 1e-4 (smallest 6.8e-6); only those may take another class.
#define IMG0_ARGMAX_SLACK 10

static char *g_dir;        // temporary folder of the suite
static char g_rba[1200];   // rba_tiny_1dl packed by the CLI
static char g_sam[1200];   // sam_tiny packed by the CLI (not an RbA model)
static char g_img0[1200];  // golden rba_tiny/img0.png (128 x 256)
static char g_img1[1200];  // golden rba_tiny/img1.png (120 x 200)
static char g_trunc[1200]; // img0.png cut short
static char g_errf[1200];  // stderr of the last run
static char g_outf[1200];  // stdout of the last run

// Runs `ugains args...` (NULL-terminated); stdout to g_outf, stderr to g_errf.
#define RUN(...) test_cli_run((const char *const[]){__VA_ARGS__, NULL}, g_outf, g_errf)

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void setup(void) {
    if (!test_golden_available()) return;
    g_dir = test_tmpdir();
    snprintf(g_errf, sizeof g_errf, "%s/stderr.txt", g_dir);
    snprintf(g_outf, sizeof g_outf, "%s/stdout.txt", g_dir);
    snprintf(g_rba, sizeof g_rba, "%s/rba_tiny.safetensors", g_dir);
    snprintf(g_sam, sizeof g_sam, "%s/sam_tiny.safetensors", g_dir);
    snprintf(g_trunc, sizeof g_trunc, "%s/truncated.png", g_dir);
    char *pth = test_golden_path("rba_tiny/rba_tiny_1dl.d2.pth"),
         *spth = test_golden_path("sam_tiny/sam_tiny.pth");
    char *i0 = test_golden_path("rba_tiny/img0.png"), *i1 = test_golden_path("rba_tiny/img1.png");
    snprintf(g_img0, sizeof g_img0, "%s", i0);
    snprintf(g_img1, sizeof g_img1, "%s", i1);
    // The tiny head counts (4 and 4) are not visible in the weights' shapes.
    if (RUN("pack", "-q", "--in", pth, "--out", g_rba, "--set", "pixel_decoder_transformer_nheads=4", "--set",
            "decoder_nheads=4") != 0)
        fprintf(stderr, "test_cli_rba: packing rba_tiny failed\n");
    if (RUN("pack", "-q", "--in", spth, "--out", g_sam, "--set", "decoder_transformer_num_heads=4") != 0)
        fprintf(stderr, "test_cli_rba: packing sam_tiny failed\n");
    // A PNG cut in the middle of its image data: the header reads, the pixels do not.
    size_t n;
    unsigned char *png = test_read_file(g_img0, &n);
    if (png) {
        FILE *f = fopen(g_trunc, "wb");
        if (f) {
            fwrite(png, 1, n / 2, f);
            fclose(f);
        }
    }
    free(png);
    free(pth);
    free(spth);
    free(i0);
    free(i1);
}

static void teardown(void) {
    if (g_dir) test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

#define REQUIRE()                                                                                            \
    do {                                                                                                     \
        ck_assert_msg(test_golden_available(), "golden set missing");                                        \
        ck_assert_msg(exists(test_cli_bin()), "%s missing (set UGAINS_BIN)", test_cli_bin());                \
        ck_assert_msg(g_dir &&exists(g_rba) && exists(g_sam), "the tiny models could not be packed");        \
    } while (0)

// A fresh folder under the suite's tmpdir (not created).
static void subdir(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
}

static ug_tensor file_npy(const char *dir, const char *name) {
    char p[1500];
    snprintf(p, sizeof p, "%s/%s.npy", dir, name);
    return test_load_npy(p);
}

static ug_tensor golden(const char *stem) {
    char rel[256];
    snprintf(rel, sizeof rel, "rba_tiny/%s.npy", stem);
    return test_golden_npy(rel);
}

static ug_tensor image(const char *dir, const char *name, ug_image_mode mode) {
    char p[1500];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ug_tensor t;
    ug_err err;
    ck_assert_msg(ug_image_read(p, mode, &t, &err) == UG_OK, "%s", err.msg);
    return t;
}

static void want_shape(const ug_tensor *t, ug_dtype dt, int ndim, const int64_t *shape, const char *what) {
    char a[64], b[64];
    ug_tensor s = ug_tensor_wrap(NULL, dt, ndim, shape);
    ck_assert_msg(ug_tensor_same_shape(t, &s), "%s: shape %s, expected %s", what,
                  ug_shape_str(t, a, sizeof a), ug_shape_str(&s, b, sizeof b));
    ck_assert_msg(t->dtype == dt, "%s: dtype %s, expected %s", what, ug_dtype_name(t->dtype),
                  ug_dtype_name(dt));
}

// got (any shape) against golden <stem> (a leading 1 more), element by element.
static void check_golden(const ug_tensor *got, const char *stem) {
    ug_tensor want = golden(stem);
    ck_assert_int_eq(ug_tensor_numel(got), ug_tensor_numel(&want));
    test_assert_close(got->data, want.data, (size_t)ug_tensor_numel(&want), ATOL, RTOL, stem);
    ug_tensor_free(&want);
}

// stderr of the last run: exactly one line, "ugains: " first, containing `needle`.
static void check_one_line(const char *needle) {
    char *s = test_read_text(g_errf);
    size_t n = strlen(s);
    ck_assert_msg(n > 0 && s[n - 1] == '\n' && strchr(s, '\n') == s + n - 1, "not one line on stderr: '%s'",
                  s);
    ck_assert_msg(!strncmp(s, "ugains: ", 8), "stderr does not start with 'ugains: ': '%s'", s);
    ck_assert_msg(strstr(s, needle), "stderr '%s' does not mention '%s'", s, needle);
    free(s);
}

// Cityscapes trainId colours (cityscapesScripts labels.py), written out again here so that a
// wrong entry in the command's table is caught.
static const uint8_t palette[19][3] = {
    {128, 64, 128},  {244, 35, 232}, {70, 70, 70},  {102, 102, 156}, {190, 153, 153},
    {153, 153, 153}, {250, 170, 30}, {220, 220, 0}, {107, 142, 35},  {152, 251, 152},
    {70, 130, 180},  {220, 20, 60},  {255, 0, 0},   {0, 0, 142},     {0, 0, 70},
    {0, 60, 100},    {0, 80, 100},   {0, 0, 230},   {119, 11, 32},
};

// img0 with the 1-layer model: all four outputs of --out against golden, and the §6 dumps.
START_TEST(img0_outputs_and_dumps) {
    REQUIRE();
    char out[1300], dump[1300];
    subdir(out, sizeof out, "img0/out"); // parents created
    subdir(dump, sizeof dump, "img0/dump");
    ck_assert_int_eq(
        RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--dump", dump, "--threads", "2"), 0);
    const int64_t H = 128, W = 256;

    // semantic.png: 8-bit gray trainIds = golden argmax except at the few near-tie pixels.
    ug_tensor sem = image(out, "semantic.png", UG_IMAGE_GRAY), want = golden("img0_1dl_semantic_argmax");
    want_shape(&sem, UG_U8, UG_DIMS(H, W, 1), "semantic.png");
    const uint8_t *s = sem.data, *ws = want.data;
    int diff = 0;
    for (int64_t i = 0; i < H * W; i++) {
        ck_assert_msg(s[i] < 19, "semantic.png pixel %lld is %d", (long long)i, s[i]);
        if (s[i] != ws[i]) {
            diff++;
            // README: classes present are 2, 3, 6, 9; a near tie is between two of them.
            ck_assert_msg(s[i] == 2 || s[i] == 3 || s[i] == 6 || s[i] == 9, "pixel %lld: class %d",
                          (long long)i, s[i]);
        }
    }
    ck_assert_msg(diff <= IMG0_ARGMAX_SLACK, "semantic.png differs from golden at %d pixels", diff);
    ug_tensor_free(&want);

    // semantic_color.png: RGB, the palette colour of each id.
    ug_tensor col = image(out, "semantic_color.png", UG_IMAGE_RGB);
    want_shape(&col, UG_U8, UG_DIMS(H, W, 3), "semantic_color.png");
    const uint8_t *c = col.data;
    for (int64_t i = 0; i < H * W; i++)
        ck_assert_msg(!memcmp(c + 3 * i, palette[s[i]], 3),
                      "semantic_color.png pixel %lld: (%d,%d,%d) for id %d", (long long)i, c[3 * i],
                      c[3 * i + 1], c[3 * i + 2], s[i]);
    ug_tensor_free(&col);

    // rba_score.npy: F32 [H, W] = golden U.
    ug_tensor u = file_npy(out, "rba_score");
    want_shape(&u, UG_F32, UG_DIMS(H, W), "rba_score.npy");
    check_golden(&u, "img0_1dl_rba_score");

    // rba_score.png: decodes, RGB at the image size, and is not one flat colour (U spans
    // [-1.896, -0.291], so the map must show more than one shade).
    ug_tensor heat = image(out, "rba_score.png", UG_IMAGE_RGB);
    want_shape(&heat, UG_U8, UG_DIMS(H, W, 3), "rba_score.png");
    const uint8_t *h = heat.data;
    bool varied = false;
    for (int64_t i = 1; i < H * W && !varied; i++)
        varied = memcmp(h, h + 3 * i, 3) != 0;
    ck_assert_msg(varied, "rba_score.png is a single colour");
    ug_tensor_free(&heat);

    // Dumps: DESIGN §6 names, shapes and dtypes (tiny sizes from golden/README.md).
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
        const char *golden; // compared when set
    } dumps[] = {
        {"input", 4, {1, 3, 128, 256}, "img0_input"},
        {"res2", 4, {1, 8, 32, 64}, NULL},
        {"res3", 4, {1, 16, 16, 32}, NULL},
        {"res4", 4, {1, 32, 8, 16}, NULL},
        {"res5", 4, {1, 64, 4, 8}, "img0_backbone_res5"},
        {"mask_features", 4, {1, 32, 32, 64}, "img0_pd_mask_features"},
        {"multi_scale_0", 4, {1, 64, 4, 8}, NULL},
        {"multi_scale_1", 4, {1, 64, 8, 16}, NULL},
        {"multi_scale_2", 4, {1, 64, 16, 32}, NULL},
        {"pred_logits", 2, {10, 20}, "img0_1dl_pred_logits"},
        {"pred_masks", 3, {10, 32, 64}, "img0_1dl_pred_masks"},
        {"rba_score", 2, {128, 256}, "img0_1dl_rba_score"},
    };
    for (size_t k = 0; k < sizeof dumps / sizeof dumps[0]; k++) {
        ug_tensor t = file_npy(dump, dumps[k].name);
        want_shape(&t, UG_F32, dumps[k].ndim, dumps[k].shape, dumps[k].name);
        if (dumps[k].golden) check_golden(&t, dumps[k].golden);
        ug_tensor_free(&t);
    }
    ug_tensor ds = file_npy(dump, "semantic");
    want_shape(&ds, UG_I32, UG_DIMS(H, W), "semantic.npy");
    for (int64_t i = 0; i < H * W; i++)
        ck_assert_int_eq(((const int32_t *)ds.data)[i], s[i]);
    ug_tensor du = file_npy(dump, "rba_score");
    ck_assert_msg(!memcmp(du.data, u.data, (size_t)(H * W) * 4), "dumped rba_score differs from the output");
    ck_assert_int_eq(test_count_entries(dump), 13); // nothing else, no staging folder left
    ck_assert_int_eq(test_count_entries(out), 4);
    ug_tensor_free(&ds);
    ug_tensor_free(&du);
    ug_tensor_free(&u);
    ug_tensor_free(&sem);
}
END_TEST

// img1 (120 x 200, not a multiple of 32): --pad32 is RbA's detectron2 path, the default is
// UGainS's unpadded one; each must match its own golden score, and they differ.
START_TEST(img1_pad32) {
    REQUIRE();
    char out[1300], out2[1300];
    subdir(out, sizeof out, "img1_pad");
    subdir(out2, sizeof out2, "img1_nopad");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img1, "--out", out, "--pad32"), 0);
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img1, "--out", out2), 0);
    ug_tensor u = file_npy(out, "rba_score"), u2 = file_npy(out2, "rba_score");
    want_shape(&u, UG_F32, UG_DIMS(120, 200), "rba_score.npy (--pad32)");
    check_golden(&u, "img1_1dl_d2pad_rba_score");
    check_golden(&u2, "img1_1dl_rba_score");
    // The two paths must really differ here, or the --pad32 comparison would prove nothing.
    float maxd = 0;
    for (int64_t i = 0; i < 120 * 200; i++) {
        float dd = ((const float *)u.data)[i] - ((const float *)u2.data)[i];
        if (dd < 0) dd = -dd;
        if (dd > maxd) maxd = dd;
    }
    ck_assert_msg(maxd > 1e-2f, "--pad32 changed the score by at most %g", maxd);
    ug_tensor_free(&u);
    ug_tensor_free(&u2);
}
END_TEST

// Usage errors: exit 2 and one line.
START_TEST(usage_errors) {
    REQUIRE();
    char out[1300];
    subdir(out, sizeof out, "usage_out");
    ck_assert_int_eq(RUN("rba", "--image", g_img0, "--out", out), 2);
    check_one_line("--weights");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--frobnicate"), 2);
    check_one_line("--frobnicate");
    ck_assert_int_eq(RUN("rba"), 2);
    check_one_line("required");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--threads", "0"), 2);
    check_one_line("--threads");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--threads", "2x"), 2);
    check_one_line("--threads");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "extra"), 2);
    check_one_line("extra");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out"), 2); // value missing
    check_one_line("--out");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--device", "gpu"), 2);
    check_one_line("--device wants cpu or cuda, got 'gpu'");
    setenv("UGAINS_DEVICE", "tpu", 1);
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out), 2);
    check_one_line("UGAINS_DEVICE wants cpu or cuda, got 'tpu'");
    unsetenv("UGAINS_DEVICE");
    ck_assert_msg(!exists(out), "a usage error created %s", out);

    // --help: exit 0 on stdout, every option named.
    ck_assert_int_eq(RUN("rba", "--help"), 0);
    char *help = test_read_text(g_outf);
    static const char *const opts[] = {"--weights", "--image",  "--out",       "--dump", "--pad32",
                                       "--threads", "--device", "--precision", "--help"};
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
        ck_assert_msg(strstr(help, opts[k]), "--help does not mention %s", opts[k]);
    free(help);
}
END_TEST

// Runtime errors: exit 1, one line naming the problem, and --out / --dump untouched: an
// existing folder keeps exactly its old entries, a missing one is not created.
START_TEST(runtime_errors_leave_no_outputs) {
    REQUIRE();
    char out[1300], dump[1300], newout[1300], p[1500];
    subdir(out, sizeof out, "rt_out");
    subdir(dump, sizeof dump, "rt_dump");
    subdir(newout, sizeof newout, "rt_new/a/b");
    ck_assert_int_eq(mkdir(out, 0777), 0);
    snprintf(p, sizeof p, "%s/keep.txt", out);
    test_write_file(p, "x", 1);

    // A device this build does not have (these suites run in the plain build only).
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--device", "cuda"), 1);
    check_one_line("--device cuda: this ugains is built without CUDA");
    setenv("UGAINS_DEVICE", "cuda", 1);
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out), 1);
    check_one_line("built without CUDA");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--device", "cpu"), 0);
    unsetenv("UGAINS_DEVICE");
    ck_assert_int_eq(test_count_entries(out), 1 + 4); // keep.txt and the cpu run's four files
    test_rmtree(out);
    ck_assert_int_eq(mkdir(out, 0777), 0);
    test_write_file(p, "x", 1);

    // SAM weights.
    ck_assert_int_eq(RUN("rba", "--weights", g_sam, "--image", g_img0, "--out", out), 1);
    check_one_line("not an RbA model");
    // Not a weights file at all.
    ck_assert_int_eq(RUN("rba", "--weights", g_img0, "--image", g_img0, "--out", out), 1);
    check_one_line("img0.png");
    // Truncated PNG.
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_trunc, "--out", out, "--dump", dump), 1);
    check_one_line("truncated.png");
    ck_assert_int_eq(test_count_entries(out), 1);
    ck_assert_msg(!exists(dump), "a failed run created --dump");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_trunc, "--out", newout), 1);
    subdir(p, sizeof p, "rt_new");
    ck_assert_msg(!exists(p), "a failed run created --out's parents");
    // Missing image.
    subdir(p, sizeof p, "no_such_image.png");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", p, "--out", out), 1);
    check_one_line("no_such_image.png");
    ck_assert_int_eq(test_count_entries(out), 1);
    // Missing weights file.
    subdir(p, sizeof p, "no_such.safetensors");
    ck_assert_int_eq(RUN("rba", "--weights", p, "--image", g_img0, "--out", out), 1);
    check_one_line("no_such.safetensors");

    // A late failure, after the model ran: an output name is taken by a folder. No other
    // output may be left behind, and no staging folder either.
    snprintf(p, sizeof p, "%s/rba_score.png", out);
    ck_assert_int_eq(mkdir(p, 0777), 0);
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--dump", newout), 1);
    check_one_line("rba_score.png");
    ck_assert_int_eq(test_count_entries(out), 2);
    subdir(p, sizeof p, "rt_new");
    ck_assert_msg(!exists(p), "a failed run left --dump's folders");
    // The same in --dump: the outputs of --out are not written either.
    snprintf(p, sizeof p, "%s/rba_score.png", out);
    ck_assert_int_eq(rmdir(p), 0);
    ck_assert_int_eq(mkdir(dump, 0777), 0);
    snprintf(p, sizeof p, "%s/res5.npy", dump);
    ck_assert_int_eq(mkdir(p, 0777), 0);
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--dump", dump), 1);
    check_one_line("res5.npy");
    ck_assert_int_eq(test_count_entries(out), 1);
    ck_assert_int_eq(test_count_entries(dump), 1);
    // --out is a file.
    snprintf(p, sizeof p, "%s/keep.txt", out);
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", p), 1);
    check_one_line("keep.txt");
}
END_TEST

// `ugains pack` and `ugains inspect` around the same files.
START_TEST(pack_and_inspect) {
    REQUIRE();
    char out[1300], p[1500];
    char *pth = test_golden_path("rba_tiny/rba_tiny_1dl.d2.pth");
    // pack prints its one-line summary on stdout; bf16 packing works and the result runs.
    subdir(out, sizeof out, "rba_bf16.safetensors");
    ck_assert_int_eq(RUN("pack", "--in", pth, "--out", out, "--dtype", "bf16", "--set",
                         "pixel_decoder_transformer_nheads=4", "--set", "decoder_nheads=4"),
                     0);
    char *so = test_read_text(g_outf);
    ck_assert_msg(strstr(so, "rba") && strstr(so, "213 tensors") && strstr(so, "BF16"), "pack summary: '%s'",
                  so);
    free(so);
    subdir(p, sizeof p, "bf16_out");
    ck_assert_int_eq(RUN("rba", "--weights", out, "--image", g_img1, "--out", p), 0);

    // inspect of the packed file: arch, the head counts set on the command line, 213 tensors.
    ck_assert_int_eq(RUN("inspect", g_rba), 0);
    char *txt = test_read_text(g_outf);
    ck_assert_msg(strstr(txt, "arch:    rba"), "inspect: no arch line:\n%.400s", txt);
    ck_assert_msg(strstr(txt, "tensors: 213"), "inspect: tensor count:\n%.400s", txt);
    ck_assert_msg(strstr(txt, "\"decoder_nheads\":4") || strstr(txt, "\"decoder_nheads\": 4"),
                  "inspect: config:\n%.600s", txt);
    free(txt);
    // inspect of the raw checkpoint: read the way pack reads it.
    ck_assert_int_eq(RUN("inspect", "--set", "decoder_nheads=4", pth), 0);
    txt = test_read_text(g_outf);
    ck_assert_msg(strstr(txt, "arch:    rba"), "inspect .pth: no arch line:\n%.400s", txt);
    ck_assert_msg(strstr(txt, "sem_seg_head.predictor.class_embed.weight"),
                  "inspect .pth: class_embed not listed");
    free(txt);

    // Errors: usage 2, runtime 1, and a failed pack leaves no output file.
    ck_assert_int_eq(RUN("inspect"), 2);
    check_one_line("inspect");
    subdir(p, sizeof p, "nothing_here.pth");
    ck_assert_int_eq(RUN("inspect", p), 1);
    check_one_line("nothing_here.pth");
    subdir(out, sizeof out, "never.safetensors");
    ck_assert_int_eq(RUN("pack", "--in", pth, "--out", out, "--dtype", "f64"), 2);
    check_one_line("--dtype");
    ck_assert_int_eq(RUN("pack", "--out", out), 2);
    check_one_line("--in");
    ck_assert_int_eq(RUN("pack", "-q", "--in", p, "--out", out), 1);
    check_one_line("nothing_here.pth");
    ck_assert_int_eq(RUN("pack", "-q", "--in", g_img0, "--out", out), 1);
    check_one_line("img0.png");
    ck_assert_msg(!exists(out), "a failed pack left %s", out);
    ck_assert_int_eq(RUN("pack", "--help"), 0);
    ck_assert_int_eq(RUN("inspect", "--help"), 0);
    free(pth);
}
END_TEST

// --precision: a bad value is a usage error; bf16 writes the same outputs with the score within
// the bound of tests/test_rba.c (2e-2 of max |U| for this 1-layer model); with bf16 forced off
// (UGAINS_NO_AVX512BF16, as on a CPU without AVX512-BF16) one line says so and the run is the
// f32 one, golden to 1e-4.
START_TEST(precision_option) {
    REQUIRE();
    char out[1300];
    subdir(out, sizeof out, "precision");
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--precision", "fp8"),
                     2);
    check_one_line("--precision wants f32 or bf16, got 'fp8'");
    ck_assert_msg(!exists(out), "a usage error created %s", out);

    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--precision", "bf16"),
                     0);
    ug_tensor u = file_npy(out, "rba_score"), want = golden("img0_1dl_rba_score");
    ck_assert_int_eq(ug_tensor_numel(&u), ug_tensor_numel(&want));
    double e = 0, r = 0;
    for (int64_t i = 0; i < ug_tensor_numel(&want); i++) {
        e = fmax(e, fabs((double)((float *)u.data)[i] - ((float *)want.data)[i]));
        r = fmax(r, fabs((double)((float *)want.data)[i]));
    }
    ck_assert_msg(e <= 2e-2 * r, "--precision bf16: rba_score off by %g (max |U| %g)", e, r);
    ug_tensor_free(&u);
    test_rmtree(out);

    setenv("UGAINS_NO_AVX512BF16", "1", 1);
    ck_assert_int_eq(RUN("rba", "--weights", g_rba, "--image", g_img0, "--out", out, "--precision", "bf16"),
                     0);
    unsetenv("UGAINS_NO_AVX512BF16");
    check_one_line("rba: --precision bf16: turned off by UGAINS_NO_AVX512BF16: running in f32");
    u = file_npy(out, "rba_score");
    check_golden(&u, "img0_1dl_rba_score");
    ug_tensor_free(&u);
    ug_tensor_free(&want);
    test_rmtree(out);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cli_rba", .setup_once = setup, .teardown_once = teardown, .timeout = 120},
        &s);
    test_add(tc, img0_outputs_and_dumps, img1_pad32, usage_errors, runtime_errors_leave_no_outputs,
             precision_option, pack_and_inspect);
    return test_run_suite(s);
}
