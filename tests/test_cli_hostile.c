// tests/test_cli_hostile.c — hostile input to the finished commands (sam, eval, pack, inspect):
// corrupt or absurd images, truncated / wrong-arch / hostile-config / NaN weights, prompt files
// that nest, overflow or ask for millions of things, broken data sets, FIFOs, unwritable
// outputs. Every case must end with the right exit code (1 runtime, 2 usage) and ONE stderr line
// "ugains: ..." naming the problem, within a time limit (a hang is a failure), leaving no
// partial outputs. The binary is $UGAINS_BIN, run by fork/execv (tests/cli.h); inputs are built
// in a temporary folder from the golden sam_tiny checkpoint.
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/image.h"
#include "engine/npy.h"
#include "engine/safetensors.h"
#include "tests/cli.h"
#include "tests/helpers.h"

static char *g_dir;         // temporary folder of the suite
static char g_sam[1200];    // sam_tiny packed by `ugains pack`
static char g_img[1200];    // a small RGB PNG (40 x 30)
static char g_errf[1200];   // stderr of the last run
static char g_pth[1200];    // golden sam_tiny.pth (a checkpoint, not safetensors)
static unsigned char *g_st; // bytes of g_sam
static size_t g_st_size;

// Paths in the suite's folder.
static const char *P(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}
#define PATH(var, name)                                                                                      \
    char var[1400];                                                                                          \
    P(var, sizeof var, name)

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

// Runs `ugains args...`, killed after `limit_s` seconds. Exit status, or -2 when killed.
static int run_limited(const char *const *args, int limit_s) {
    pid_t pid = test_cli_spawn(args, NULL, g_errf);
    ck_assert_int_gt(pid, 0);
    return test_cli_wait_deadline(pid, limit_s);
}
#define RUN(...) run_limited((const char *const[]){__VA_ARGS__, NULL}, 60)

static char *read_err(void) {
    return test_read_text(g_errf);
}

// The last run failed with exit `rc` and one stderr line "ugains: ..." holding `needle`
// (warnings, also "ugains: " lines, may come before it when allow_warnings).
static void expect_fail(int got, int rc, const char *needle, const char *what) {
    char *e = read_err();
    ck_assert_msg(got == rc, "%s: exit %d, expected %d (stderr: %s)", what, got, rc, e);
    const char *last = e;
    for (const char *q = e; *q; q++)
        if (q[0] == '\n' && q[1]) last = q + 1;
    ck_assert_msg(!strncmp(last, "ugains: ", 8) && strstr(last, needle), "%s: message lacks '%s': %s", what,
                  needle, e);
    ck_assert_msg(strchr(last, '\n') == last + strlen(last) - 1, "%s: the error is not one line: %s", what,
                  e);
    for (const char *q = e; *q; q = strchr(q, '\n') + 1) {
        ck_assert_msg(!strncmp(q, "ugains: ", 8),
                      "%s: a stderr line is not 'ugains: ...' (sanitizer report?): %s", what, e);
        if (!strchr(q, '\n')) break;
    }
    free(e);
}

static void write_text(const char *name, const char *text) {
    PATH(p, name);
    test_write_file(p, text, strlen(text));
}

// ---- PNG by hand: chunk CRCs from zlib, so headers may claim anything ----

static size_t put_chunk(unsigned char *b, const char *type, const unsigned char *data, uint32_t n) {
    unsigned char *q = b;
    *q++ = (unsigned char)(n >> 24), *q++ = (unsigned char)(n >> 16), *q++ = (unsigned char)(n >> 8),
    *q++ = (unsigned char)n;
    memcpy(q, type, 4);
    if (n) memcpy(q + 4, data, n);
    uLong crc = crc32(crc32(0L, Z_NULL, 0), q, n + 4);
    q += 4 + n;
    *q++ = (unsigned char)(crc >> 24), *q++ = (unsigned char)(crc >> 16), *q++ = (unsigned char)(crc >> 8),
    *q++ = (unsigned char)crc;
    return (size_t)(q - b);
}

// A PNG of w x h declared in IHDR, with `raw` (filter bytes included) deflated as its IDAT.
static void make_png(const char *name, uint32_t w, uint32_t h, int depth, int ctype, const unsigned char *raw,
                     size_t rawlen, const unsigned char *plte, uint32_t plte_len) {
    uLongf zlen = compressBound((uLong)rawlen);
    unsigned char *z = malloc(zlen), *b = malloc(zlen + plte_len + 128);
    ck_assert(z && b);
    ck_assert_int_eq(compress(z, &zlen, raw, (uLong)rawlen), Z_OK);
    size_t n = 0;
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    n = 8;
    unsigned char ihdr[13] = {(unsigned char)(w >> 24),
                              (unsigned char)(w >> 16),
                              (unsigned char)(w >> 8),
                              (unsigned char)w,
                              (unsigned char)(h >> 24),
                              (unsigned char)(h >> 16),
                              (unsigned char)(h >> 8),
                              (unsigned char)h,
                              (unsigned char)depth,
                              (unsigned char)ctype,
                              0,
                              0,
                              0};
    n += put_chunk(b + n, "IHDR", ihdr, 13);
    if (plte) n += put_chunk(b + n, "PLTE", plte, plte_len);
    n += put_chunk(b + n, "IDAT", z, (uint32_t)zlen);
    n += put_chunk(b + n, "IEND", NULL, 0);
    PATH(p, name);
    test_write_file(p, b, n);
    free(z);
    free(b);
}

// Raw rows of w x h samples of `bytes_pp` bytes each, filter 0, a gradient.
static unsigned char *rows(int w, int h, int bytes_pp, size_t *len) {
    size_t stride = (size_t)w * bytes_pp + 1;
    unsigned char *r = malloc(stride * (size_t)h);
    ck_assert_ptr_nonnull(r);
    for (int y = 0; y < h; y++) {
        r[y * stride] = 0;
        for (size_t x = 1; x < stride; x++)
            r[y * stride + x] = (unsigned char)(x * 7 + (size_t)y * 3);
    }
    *len = stride * (size_t)h;
    return r;
}

// ---- safetensors edits: the header is JSON text; the config is a JSON string inside it ----

// Writes g_sam with the first `from` in its header replaced by `to` (header length fixed up).
static void st_edit(const char *name, const char *from, const char *to) {
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++)
        hl |= (uint64_t)g_st[i] << (8 * i);
    const char *hdr = (const char *)g_st + 8;
    char *h = malloc(hl + 1);
    ck_assert_ptr_nonnull(h);
    memcpy(h, hdr, hl);
    h[hl] = '\0';
    char *at = strstr(h, from);
    ck_assert_msg(at, "'%s' not in the header", from);
    size_t nf = strlen(from), nt = strlen(to), nl = hl - nf + nt, pad = (8 - nl % 8) % 8;
    unsigned char *b = malloc(8 + nl + pad + (g_st_size - 8 - hl));
    ck_assert_ptr_nonnull(b);
    uint64_t L = nl + pad;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(L >> (8 * i));
    size_t pre = (size_t)(at - h), k = 8;
    memcpy(b + k, h, pre), k += pre;
    memcpy(b + k, to, nt), k += nt;
    memcpy(b + k, at + nf, hl - pre - nf), k += hl - pre - nf;
    memset(b + k, ' ', pad), k += pad;
    memcpy(b + k, g_st + 8 + hl, g_st_size - 8 - hl), k += g_st_size - 8 - hl;
    PATH(p, name);
    test_write_file(p, b, k);
    free(b);
    free(h);
}

// Writes g_sam with the first float of tensor `tensor` set to v.
static void st_poke(const char *name, const char *tensor, float v) {
    ug_st_file *f;
    ug_err err;
    ck_assert_msg(ug_st_open_memory(&f, g_st, g_st_size, "sam", &err) == UG_OK, "%s", err.msg);
    const ug_st_entry *e = ug_st_find(f, tensor);
    ck_assert_ptr_nonnull(e);
    size_t off = (size_t)((const unsigned char *)e->data - g_st);
    ug_st_close(f);
    unsigned char *b = malloc(g_st_size);
    ck_assert_ptr_nonnull(b);
    memcpy(b, g_st, g_st_size);
    memcpy(b + off, &v, sizeof v);
    PATH(p, name);
    test_write_file(p, b, g_st_size);
    free(b);
}

static void setup(void) {
    g_dir = test_tmpdir();
    P(g_sam, sizeof g_sam, "sam.safetensors");
    P(g_img, sizeof g_img, "img.png");
    P(g_errf, sizeof g_errf, "stderr.txt");
    if (!test_golden_available()) return;
    char *pth = test_golden_path("sam_tiny/sam_tiny.pth");
    snprintf(g_pth, sizeof g_pth, "%s", pth);
    free(pth);
    // sam_tiny's decoder has 4 heads, which the weights cannot reveal.
    if (test_cli_run((const char *const[]){"pack", "-q", "--in", g_pth, "--out", g_sam, "--set",
                                           "decoder_transformer_num_heads=4", NULL},
                     NULL, NULL) != 0)
        fprintf(stderr, "test_cli_hostile: packing sam_tiny failed\n");
    g_st = test_read_file(g_sam, &g_st_size);
    // A 40 x 30 RGB image.
    uint8_t px[30 * 40 * 3];
    for (int i = 0; i < (int)sizeof px; i++)
        px[i] = (uint8_t)(i * 13);
    ug_tensor t = ug_tensor_wrap(px, UG_U8, 3, (const int64_t[]){30, 40, 3});
    ug_err err;
    if (ug_png_write(g_img, &t, &err) != UG_OK) fprintf(stderr, "test_cli_hostile: %s\n", err.msg);
}

static void teardown(void) {
    if (g_dir) test_rmtree(g_dir);
    free(g_dir);
    free(g_st);
    g_dir = NULL;
    g_st = NULL;
}

#define REQUIRE()                                                                                            \
    do {                                                                                                     \
        ck_assert_msg(test_golden_available(), "golden set missing");                                        \
        ck_assert_msg(exists(test_cli_bin()), "%s missing (set UGAINS_BIN)", test_cli_bin());                \
        ck_assert_msg(g_st != NULL, "sam_tiny could not be packed");                                         \
    } while (0)

// Entries of a folder other than . and .. (-1 when it cannot be opened).
static int count_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

// ---------------------------------------------------------------------------------------------

// Images: corrupt, truncated, absurd sizes fail in one line; gray, palette and 16-bit work.
START_TEST(sam_images) {
    REQUIRE();
    size_t len;
    unsigned char *r = rows(40, 30, 1, &len);
    make_png("gray8.png", 40, 30, 8, 0, r, len, NULL, 0);
    unsigned char pal[3 * 256];
    for (int i = 0; i < 768; i++)
        pal[i] = (unsigned char)(i * 5);
    make_png("palette.png", 40, 30, 8, 3, r, len, pal, sizeof pal);
    free(r);
    r = rows(40, 30, 2, &len);
    make_png("gray16.png", 40, 30, 16, 0, r, len, NULL, 0);
    free(r);
    r = rows(1, 600, 1, &len);
    make_png("strip.png", 1, 600, 8, 0, r, len, NULL, 0); // 1 x 600: 0 pixels wide at 256
    free(r);
    unsigned char tiny[64] = {0};
    make_png("huge.png", 100000, 100000, 8, 2, tiny, sizeof tiny, NULL, 0);
    make_png("zero.png", 0, 0, 8, 2, tiny, 1, NULL, 0);
    size_t n;
    unsigned char *img = test_read_file(g_img, &n);
    ck_assert_ptr_nonnull(img);
    PATH(trunc, "trunc.png");
    test_write_file(trunc, img, n / 2);
    free(img);
    write_text("text.png", "not an image\n");

    PATH(out, "img_out");
    static const char *ok[] = {"gray8.png", "palette.png", "gray16.png"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        PATH(p, ok[i]);
        int rc = RUN("sam", "--weights", g_sam, "--image", p, "--out", out, "--point", "5,5");
        char *e = read_err();
        ck_assert_msg(rc == 0 && !*e, "%s: exit %d: %s", ok[i], rc, e);
        free(e);
        char m[1500];
        snprintf(m, sizeof m, "%s/mask_000.png", out);
        ug_tensor mask;
        ug_err err;
        ck_assert_msg(ug_image_read(m, UG_IMAGE_GRAY, &mask, &err) == UG_OK, "%s", err.msg);
        ck_assert_int_eq(mask.shape[0], 30);
        ck_assert_int_eq(mask.shape[1], 40);
        ug_tensor_free(&mask);
    }
    test_rmtree(out);
    struct {
        const char *file, *needle;
    } bad[] = {
        {"strip.png", "too thin"},         {"huge.png", "over the"},
        {"zero.png", "zero.png"},          {"trunc.png", "trunc.png"},
        {"text.png", "not a PNG or JPEG"}, {"missing.png", "missing.png: cannot open"},
        {".", "is a directory"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        PATH(p, bad[i].file);
        expect_fail(RUN("sam", "--weights", g_sam, "--image", p, "--out", out, "--point", "0,0"), 1,
                    bad[i].needle, bad[i].file);
        ck_assert_msg(!exists(out), "%s: --out was created for a run that failed", bad[i].file);
    }
}
END_TEST

// Weights: truncated, a checkpoint, the wrong arch, hostile configs, missing or misshapen
// tensors, NaN values; BF16 packs work.
START_TEST(sam_weights) {
    REQUIRE();
    PATH(trunc, "trunc.safetensors");
    test_write_file(trunc, g_st, g_st_size / 2);
    PATH(tiny, "tiny.safetensors");
    test_write_file(tiny, g_st, 5);
    // A valid safetensors file with no tensors whose metadata says rba.
    const char hdr[] = "{\"__metadata__\":{\"arch\":\"rba\",\"config\":\"{}\"}}      ";
    unsigned char buf[8 + sizeof hdr];
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((sizeof hdr - 1) >> (8 * i));
    memcpy(buf + 8, hdr, sizeof hdr - 1);
    PATH(rba, "rba.safetensors");
    test_write_file(rba, buf, 8 + sizeof hdr - 1);
    st_edit("depth.safetensors", "\\\"encoder_depth\\\":4", "\\\"encoder_depth\\\":1000000000");
    st_edit("imgsize.safetensors", "\\\"img_size\\\":256", "\\\"img_size\\\":0");
    st_edit("negdim.safetensors", "\\\"prompt_embed_dim\\\":64", "\\\"prompt_embed_dim\\\":-64");
    st_edit("std0.safetensors", "\\\"pixel_std\\\":[58.395,57.12,57.375]", "\\\"pixel_std\\\":[0,0,0]");
    st_edit("notjson.safetensors", "\"config\":\"{", "\"config\":\"nope{");
    st_edit("missing.safetensors", "\"mask_decoder.iou_token.weight\"", "\"mask_decoder.iou_tokex.weight\"");
    st_edit("shape.safetensors", "\"mask_decoder.iou_token.weight\":{\"dtype\":\"F32\",\"shape\":[1,64]",
            "\"mask_decoder.iou_token.weight\":{\"dtype\":\"F32\",\"shape\":[64,1]");
    st_edit("dtype.safetensors", "\"mask_decoder.iou_token.weight\":{\"dtype\":\"F32\"",
            "\"mask_decoder.iou_token.weight\":{\"dtype\":\"I32\"");
    st_poke("nan.safetensors", "mask_decoder.iou_token.weight", NAN);

    PATH(out, "w_out");
    struct {
        const char *file, *needle;
    } bad[] = {
        {"trunc.safetensors", "truncated"},
        {"tiny.safetensors", "too short"},
        {"rba.safetensors", "not a SAM checkpoint"},
        {"depth.safetensors", "\"encoder_depth\": 1000000000 is not a valid size"},
        {"imgsize.safetensors", "\"img_size\": 0 is not a valid size"},
        {"negdim.safetensors", "\"prompt_embed_dim\": -64 is not a valid size"},
        {"std0.safetensors", "pixel_std 0"},
        {"notjson.safetensors", "sam config: JSON error"},
        {"missing.safetensors", "mask_decoder.iou_token.weight is missing"},
        {"shape.safetensors", "has shape [64,1], expected [1,64]"},
        {"dtype.safetensors", "has dtype I32"},
        {"nan.safetensors", "non-finite"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        PATH(p, bad[i].file);
        expect_fail(RUN("sam", "--weights", p, "--image", g_img, "--out", out, "--point", "5,5"), 1,
                    bad[i].needle, bad[i].file);
        ck_assert_msg(!exists(out), "%s: --out left behind by a failed run", bad[i].file);
    }
    // The checkpoint itself: a hint to pack it.
    expect_fail(RUN("sam", "--weights", g_pth, "--image", g_img, "--out", out, "--point", "5,5"), 1,
                "ugains pack", "checkpoint");

    // BF16 weights run.
    PATH(bf16, "bf16.safetensors");
    ck_assert_int_eq(RUN("pack", "-q", "--in", g_pth, "--out", bf16, "--dtype", "bf16", "--set",
                         "decoder_transformer_num_heads=4"),
                     0);
    int rc = RUN("sam", "--weights", bf16, "--image", g_img, "--out", out, "--point", "5,5");
    char *e = read_err();
    ck_assert_msg(rc == 0 && !*e, "bf16: exit %d: %s", rc, e);
    free(e);
}
END_TEST

// Prompt files: nesting, overflowing numbers, too many points or prompts, control characters.
START_TEST(sam_prompts) {
    REQUIRE();
    // 100000 '[' then as many ']'.
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    ck_assert_ptr_nonnull(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    write_text("deep.json", deep);
    free(deep);
    write_text("big.json", "[{\"points\": [[1e38, 5]]}]");
    write_text("key.json", "[{\"points\": [[1, 2]], \"a\\nb\": 1}]");
    // 2000 points in one prompt, 70000 box prompts.
    size_t cap = 70000 * 24 + 64, k = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    k += (size_t)sprintf(s + k, "[{\"points\": [");
    for (int i = 0; i < 2000; i++)
        k += (size_t)sprintf(s + k, "%s[1, 2]", i ? "," : "");
    sprintf(s + k, "]}]");
    write_text("points.json", s);
    k = (size_t)sprintf(s, "[");
    for (int i = 0; i < 70000; i++)
        k += (size_t)sprintf(s + k, "%s{\"box\":[1,2,3,4]}", i ? "," : "");
    sprintf(s + k, "]");
    write_text("prompts.json", s);
    free(s);

    PATH(out, "p_out");
    struct {
        const char *file, *needle;
    } bad[] = {
        {"deep.json", "nesting deeper"},
        {"big.json", "out of range"},
        {"key.json", "unknown key \"a?b\""},
        {"points.json", "2000 points is more than the 1024"},
        {"prompts.json", "70000 prompts is more than"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        PATH(p, bad[i].file);
        expect_fail(RUN("sam", "--weights", g_sam, "--image", g_img, "--out", out, "--prompts", p), 1,
                    bad[i].needle, bad[i].file);
        ck_assert(!exists(out));
    }
    expect_fail(RUN("sam", "--weights", g_sam, "--image", g_img, "--out", out, "--point", "1e38,5"), 2,
                "within +-1e9", "--point 1e38");
    expect_fail(RUN("sam", "--weights", g_sam, "--image", g_img, "--out", out, "--point", "1,2\nx"), 2,
                "'1,2?x'", "newline");
    expect_fail(RUN("sam", "--weights", g_sam, "--image", g_img, "--out", "", "--point", "1,2"), 2,
                "--out is an empty path", "empty out");
}
END_TEST

// Outputs: a failed run leaves --out exactly as it was (no partial masks, no staging folder);
// --out that is a file, or under a file, fails before any work.
START_TEST(sam_outputs) {
    REQUIRE();
    PATH(out, "o_out");
    ck_assert_int_eq(mkdir(out, 0777), 0);
    char old[1500];
    snprintf(old, sizeof old, "%s/mask_000.png", out);
    test_write_file(old, "old", 3);
    st_poke("nan.safetensors", "mask_decoder.iou_token.weight", NAN);
    PATH(nan, "nan.safetensors");
    // Two prompts of different structure: the first batch would be written before the second fails.
    write_text("two.json", "[{\"points\": [[5, 5]]}, {\"box\": [1, 2, 30, 20]}]");
    PATH(two, "two.json");
    expect_fail(RUN("sam", "--weights", nan, "--image", g_img, "--out", out, "--prompts", two, "--dump", out),
                1, "non-finite", "nan");
    size_t n;
    char *o = test_read_file(old, &n);
    ck_assert_msg(o && n == 3 && !memcmp(o, "old", 3), "the old mask_000.png was replaced by a failed run");
    free(o);
    ck_assert_msg(count_dir(out) == 1, "a failed run left files in --out (%d entries)", count_dir(out));
    // A name taken by a folder fails before anything moves.
    char scores[1500];
    snprintf(scores, sizeof scores, "%s/scores.json", out);
    ck_assert_int_eq(mkdir(scores, 0777), 0);
    expect_fail(RUN("sam", "--weights", g_sam, "--image", g_img, "--out", out, "--point", "5,5"), 1,
                "is a directory", "scores dir");
    o = test_read_file(old, &n);
    ck_assert_msg(o && n == 3, "mask_000.png replaced although scores.json could not be written");
    free(o);
    ck_assert_int_eq(count_dir(out), 2);
    // A file as --out, a file as its parent, a nested new --out that is removed after a failure.
    expect_fail(RUN("sam", "--weights", g_sam, "--image", g_img, "--out", g_img, "--point", "5,5"), 1,
                "not a directory", "file out");
    char under[1500];
    snprintf(under, sizeof under, "%s/x", g_img);
    expect_fail(RUN("sam", "--weights", g_sam, "--image", g_img, "--out", under, "--point", "5,5"), 1,
                "cannot create", "under file");
    PATH(nested, "new/deeper/out");
    expect_fail(RUN("sam", "--weights", nan, "--image", g_img, "--out", nested, "--point", "5,5"), 1,
                "non-finite", "nested");
    PATH(newdir, "new");
    ck_assert_msg(!exists(newdir), "folders created by a failed run were left behind");
    // Success replaces the old mask and leaves no staging folder.
    ck_assert_int_eq(rmdir(scores), 0);
    ck_assert_int_eq(RUN("sam", "--weights", g_sam, "--image", g_img, "--out", out, "--point", "5,5"), 0);
    ck_assert_int_eq(count_dir(out), 2); // mask_000.png, scores.json
}
END_TEST

// FIFOs as inputs would block open() forever: every command refuses them at once.
START_TEST(fifo_inputs) {
    REQUIRE();
    PATH(fifo, "fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    PATH(out, "f_out");
    PATH(st, "f.safetensors");
    const char *needle = "not a regular file";
    expect_fail(run_limited((const char *const[]){"sam", "--weights", fifo, "--image", g_img, "--out", out,
                                                  "--point", "1,1", NULL},
                            20),
                1, needle, "sam weights");
    expect_fail(run_limited((const char *const[]){"sam", "--weights", g_sam, "--image", fifo, "--out", out,
                                                  "--point", "1,1", NULL},
                            20),
                1, needle, "sam image");
    expect_fail(run_limited((const char *const[]){"sam", "--weights", g_sam, "--image", g_img, "--out", out,
                                                  "--prompts", fifo, NULL},
                            20),
                1, needle, "sam prompts");
    expect_fail(run_limited((const char *const[]){"pack", "--in", fifo, "--out", st, NULL}, 20), 1, needle,
                "pack");
    expect_fail(run_limited((const char *const[]){"inspect", fifo, NULL}, 20), 1, needle, "inspect");
}
END_TEST

// pack and inspect: option errors in the ugains form, absurd --set values, bad --out.
START_TEST(pack_inspect) {
    REQUIRE();
    PATH(st, "x.safetensors");
    expect_fail(RUN("pack", "--in", g_pth, "--out", st, "--bogus"), 2, "pack: unknown option",
                "pack --bogus");
    expect_fail(RUN("inspect", "--bogus", g_sam), 2, "inspect: unknown option", "inspect --bogus");
    // A depth of 1e9 is refused, not enumerated (this used to run for minutes).
    expect_fail(run_limited((const char *const[]){"pack", "-q", "--in", g_pth, "--out", st, "--set",
                                                  "encoder_depth=1000000000", NULL},
                            20),
                2, "is over 64", "pack depth");
    expect_fail(RUN("pack", "--in", g_pth, "--out", g_dir), 1, "is a directory", "pack out dir");
    PATH(nodir, "nodir/x.safetensors");
    expect_fail(RUN("pack", "--in", g_pth, "--out", nodir), 1, "cannot write there", "pack out parent");
    ck_assert(!exists(st));
    PATH(trunc, "trunc.pth");
    size_t n;
    unsigned char *b = test_read_file(g_pth, &n);
    ck_assert_ptr_nonnull(b);
    test_write_file(trunc, b, n / 2);
    free(b);
    expect_fail(RUN("pack", "--in", trunc, "--out", st), 1, "trunc.pth", "pack trunc");
    expect_fail(RUN("inspect", trunc), 1, "trunc.pth", "inspect trunc");
    ck_assert(!exists(st));
}
END_TEST

// ---- eval: a synthetic fs_lost_found data set of two 8 x 12 images ----

enum { EH = 8, EW = 12 };

static void mkdirs(const char *rel) {
    char p[1500];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    for (char *q = p + strlen(g_dir) + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            ck_assert_msg(mkdir(p, 0777) == 0 || errno == EEXIST, "mkdir %s", p);
            *q = c;
            if (!c) break;
        }
    }
}

static void write_u8_png(const char *rel, int h, int w, const uint8_t *px) {
    PATH(p, rel);
    ug_tensor t = ug_tensor_wrap((void *)px, UG_U8, 2, (const int64_t[]){h, w});
    ug_err err;
    ck_assert_msg(ug_png_write(p, &t, &err) == UG_OK, "%s", err.msg);
}

// anomaly.npy of h x w scores; with `poisoned`, pixel (1, 1) (an evaluated one) gets `poison`.
static void write_scores(const char *rel, ug_dtype dt, int h, int w, bool poisoned, float poison) {
    PATH(p, rel);
    float v[EH * EW];
    for (int i = 0; i < h * w; i++)
        v[i] = (float)(i % 7) * 0.1f;
    if (poisoned) v[EW + 1] = poison;
    ug_tensor t = ug_tensor_wrap(v, UG_F32, 2, (const int64_t[]){h, w});
    ug_tensor conv = {0};
    ug_err err;
    if (dt != UG_F32) {
        ck_assert(ug_tensor_new(&conv, dt, UG_DIMS(h, w), &err) == UG_OK);
        int32_t *q = conv.data;
        for (int i = 0; i < h * w; i++)
            q[i] = (int32_t)i;
        t = conv;
    }
    ck_assert_msg(ug_npy_write(p, &t, &err) == UG_OK, "%s", err.msg);
    ug_tensor_free(&conv);
}

// ds/gt and ds/pred with images a and b; pixel (0, 0) ignored, (1, 1) evaluated.
static void make_dataset(const char *ds) {
    static const char *names[] = {"a_000000_000001", "b_000000_000002"};
    uint8_t lab[EH * EW], ids[EH * EW], mask[EH * EW];
    for (int i = 0; i < EH * EW; i++) {
        lab[i] = (i % EW) >= 8 ? 1 : 0;
        ids[i] = 0;
        mask[i] = (i % EW) >= 8 ? 255 : 0;
    }
    lab[0] = 255;
    char rel[600];
    for (int k = 0; k < 2; k++) {
        snprintf(rel, sizeof rel, "%s/gt/gtCoarse/test/city", ds);
        mkdirs(rel);
        snprintf(rel, sizeof rel, "%s/gt/gtCoarse/test/city/%s_gtCoarse_labelTrainIds.png", ds, names[k]);
        write_u8_png(rel, EH, EW, lab);
        snprintf(rel, sizeof rel, "%s/gt/gtCoarse/test/city/%s_gtCoarse_instanceIds.png", ds, names[k]);
        write_u8_png(rel, EH, EW, ids);
        snprintf(rel, sizeof rel, "%s/pred/%s_leftImg8bit", ds, names[k]);
        mkdirs(rel);
        snprintf(rel, sizeof rel, "%s/pred/%s_leftImg8bit/anomaly.npy", ds, names[k]);
        write_scores(rel, UG_F32, EH, EW, false, 0);
        snprintf(rel, sizeof rel, "%s/pred/%s_leftImg8bit/instance_000.png", ds, names[k]);
        write_u8_png(rel, EH, EW, mask);
        snprintf(rel, sizeof rel, "%s/pred/%s_leftImg8bit/instances.json", ds, names[k]);
        write_text(rel, "{\"instances\": [{\"score\": 0.5, \"mask_png\": \"instance_000.png\"}]}");
    }
}

static int eval_run(const char *ds, const char *out) {
    char pred[1400], gt[1400];
    snprintf(pred, sizeof pred, "%s/%s/pred", g_dir, ds);
    snprintf(gt, sizeof gt, "%s/%s/gt", g_dir, ds);
    if (out)
        return run_limited(
            (const char *const[]){"eval", "-q", "--pred", pred, "--gt", gt, "--out", out, NULL}, 30);
    return run_limited((const char *const[]){"eval", "-q", "--pred", pred, "--gt", gt, NULL}, 30);
}

START_TEST(eval_hostile) {
    REQUIRE();
    const char *A = "a_000000_000001_leftImg8bit";
    char rel[600];
    make_dataset("ok");
    ck_assert_int_eq(eval_run("ok", NULL), 0);
    PATH(okm, "ok/pred/metrics.json");
    ck_assert(exists(okm));

    make_dataset("nan");
    snprintf(rel, sizeof rel, "nan/pred/%s/anomaly.npy", A);
    write_scores(rel, UG_F32, EH, EW, true, NAN);
    expect_fail(eval_run("nan", NULL), 1, "anomaly.npy: score nan at (x 1, y 1)", "NaN score");
    make_dataset("inf");
    snprintf(rel, sizeof rel, "inf/pred/%s/anomaly.npy", A);
    write_scores(rel, UG_F32, EH, EW, true, INFINITY);
    expect_fail(eval_run("inf", NULL), 1, "anomaly.npy: score inf", "inf score");
    make_dataset("i32");
    snprintf(rel, sizeof rel, "i32/pred/%s/anomaly.npy", A);
    write_scores(rel, UG_I32, EH, EW, false, 0);
    expect_fail(eval_run("i32", NULL), 1, "I32 [8,12], expected F32 [8,12]", "I32 scores");
    make_dataset("size");
    snprintf(rel, sizeof rel, "size/pred/%s/anomaly.npy", A);
    write_scores(rel, UG_F32, EH - 1, EW, false, 0);
    expect_fail(eval_run("size", NULL), 1, "F32 [7,12], expected F32 [8,12]", "score size");
    make_dataset("inst");
    uint8_t small[4] = {0};
    snprintf(rel, sizeof rel, "inst/pred/%s/instance_000.png", A);
    write_u8_png(rel, 2, 2, small);
    expect_fail(eval_run("inst", NULL), 1, "instance_000.png: 2x2 pixels, the labels have 12x8",
                "instance size");
    make_dataset("nopred");
    snprintf(rel, sizeof rel, "%s/nopred/pred/%s", g_dir, A);
    test_rmtree(rel);
    expect_fail(eval_run("nopred", NULL), 1, "anomaly.npy: cannot open", "missing prediction");
    make_dataset("fifods");
    snprintf(rel, sizeof rel, "%s/fifods/pred/%s/anomaly.npy", g_dir, A);
    ck_assert_int_eq(unlink(rel), 0);
    ck_assert_int_eq(mkfifo(rel, 0600), 0);
    expect_fail(eval_run("fifods", NULL), 1, "not a regular file", "FIFO scores");
    mkdirs("empty/gt/gtCoarse/test/city");
    mkdirs("empty/pred");
    expect_fail(eval_run("empty", NULL), 1, "no */*/*_gtCoarse_labelTrainIds.png files", "empty data set");
    // --out: a folder, a missing parent, a file as parent; nothing is written.
    PATH(okdir, "ok");
    expect_fail(eval_run("ok", okdir), 1, "is a directory", "out dir");
    PATH(nodir, "nodir/m.json");
    expect_fail(eval_run("ok", nodir), 1, "cannot write there", "out parent");
    char under[1500];
    snprintf(under, sizeof under, "%s/m.json", okm);
    expect_fail(eval_run("ok", under), 1, "is not a folder", "out under file");
    PATH(nod, "nodir");
    ck_assert(!exists(nod));
    PATH(pred, "ok/pred");
    PATH(gt, "ok/gt");
    expect_fail(RUN("eval", "--pred", pred, "--gt", gt, "--bogus"), 2, "eval: unknown option",
                "eval --bogus");
    expect_fail(RUN("eval", "--pred", pred, "--gt", gt, "--out", ""), 2, "--out is an empty path",
                "eval empty out");
    expect_fail(RUN("eval", "--pred", "/nonexistent", "--gt", gt), 1, "not a folder (--pred)",
                "eval no pred");
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cli_hostile", .setup_once = setup, .teardown_once = teardown, .timeout = 120},
        &s);
    test_add(tc, sam_images, sam_weights, sam_prompts, sam_outputs, fifo_inputs, pack_inspect, eval_hostile);
    return test_run_suite(s);
}
