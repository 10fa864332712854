// tests/test_cli_run.c — `ugains run` as a user runs it (the binary named by UGAINS_BIN,
// which `make test` sets): a directory of three PNGs of different sizes with the golden
// rba_tiny and sam_tiny weights packed in a tmpdir. Every §5 output exists and agrees with
// instances.json, a second run skips finished images, --overwrite redoes them, a run killed
// while it writes leaves no partial output folder (and the next run cleans up and
// finishes), --dump writes the §6 tensors, and usage / runtime errors give exit codes 2 / 1.
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/image.h"
#include "engine/json.h"
#include "engine/npy.h"
#include "tests/cli.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

static char *g_tmp;
static char g_sam[1024], g_rba[1024], g_imgs[1024];
static bool g_ready;

static const int sizes[3][2] = {{96, 160}, {120, 200}, {64, 64}}; // H, W
static const char *const stems[3] = {"img_a", "img_b", "img_c"};

static void setup(void) {
    if (!test_golden_available()) return;
    ug_err err;
    g_tmp = test_tmpdir();
    if (!test_pack_tiny_pair(g_tmp, g_sam, g_rba, sizeof g_sam)) return;
    snprintf(g_imgs, sizeof g_imgs, "%s/imgs", g_tmp);
    mkdir(g_imgs, 0777);
    test_rng r = test_rng_seed(9);
    for (int i = 0; i < 3; i++) {
        ug_tensor img;
        if (ug_tensor_new(&img, UG_U8, UG_DIMS(sizes[i][0], sizes[i][1], 3), &err) != UG_OK) return;
        uint8_t *p = img.data;
        for (int64_t k = 0; k < ug_tensor_numel(&img); k++)
            p[k] = (uint8_t)(test_rng_u64(&r) >> 56);
        char path[1100];
        snprintf(path, sizeof path, "%s/%s.png", g_imgs, stems[i]);
        ug_status st = ug_png_write(path, &img, &err);
        ug_tensor_free(&img);
        if (st != UG_OK) return;
    }
    g_ready = true;
}

static void teardown(void) {
    if (g_tmp) test_rmtree(g_tmp);
    free(g_tmp);
    g_tmp = NULL;
}

#define REQUIRE_READY()                                                                                      \
    ck_assert_msg(g_ready, "golden weights could not be packed or images written (see stderr)")

// Runs `ugains args...` (NULL-terminated), stdout to /dev/null, stderr to errfile.
static int run(const char *const *args, const char *errfile) {
    return test_cli_run(args, NULL, errfile);
}

static bool exists(const char *dir, const char *name) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat sb;
    return stat(p, &sb) == 0;
}

// Every §5 file of one image folder, consistent with instances.json and the image size.
static void check_folder(const char *out, int i) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/%s", out, stems[i]);
    static const char *const files[] = {"semantic.png", "semantic_color.png", "rba_score.npy", "anomaly.npy",
                                        "anomaly.png",  "instances.json",     "overlay.png"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        ck_assert_msg(exists(dir, files[k]), "%s/%s missing", dir, files[k]);
    ug_err err;
    char p[2048];
    ug_tensor t;
    const char *maps[] = {"rba_score.npy", "anomaly.npy"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, maps[k]);
        ck_assert_int_eq(ug_npy_read(p, &t, &err), UG_OK);
        ck_assert_int_eq(t.ndim, 2);
        ck_assert_int_eq(t.shape[0], sizes[i][0]);
        ck_assert_int_eq(t.shape[1], sizes[i][1]);
        ug_tensor_free(&t);
    }
    snprintf(p, sizeof p, "%s/semantic.png", dir);
    ck_assert_int_eq(ug_image_read(p, UG_IMAGE_GRAY, &t, &err), UG_OK);
    ck_assert_int_eq(t.shape[0], sizes[i][0]);
    ck_assert_int_eq(t.shape[1], sizes[i][1]);
    ug_tensor_free(&t);
    snprintf(p, sizeof p, "%s/instances.json", dir);
    ug_json_doc *doc;
    ck_assert_int_eq(ug_json_parse_file(&doc, p, &err), UG_OK);
    const ug_json *root = ug_json_root(doc), *inst = ug_json_get(root, "instances");
    ck_assert_ptr_nonnull(inst);
    ck_assert_int_eq(inst->type, UG_JSON_ARRAY);
    ck_assert_int_eq(ug_json_get(root, "height")->integer, sizes[i][0]);
    ck_assert_int_eq(ug_json_get(root, "width")->integer, sizes[i][1]);
    ck_assert_uint_ge(inst->len, 1);
    double prev = 1e9;
    for (size_t k = 0; k < inst->len; k++) {
        const ug_json *e = ug_json_at(inst, k), *png = ug_json_get(e, "mask_png");
        ck_assert_int_eq(ug_json_get(e, "id")->integer, (int64_t)k);
        double score = ug_json_get(e, "score")->number;
        ck_assert(score <= prev); // highest score first
        prev = score;
        ck_assert_ptr_nonnull(png);
        snprintf(p, sizeof p, "%s/%s", dir, png->str);
        ck_assert_int_eq(ug_image_read(p, UG_IMAGE_GRAY, &t, &err), UG_OK);
        int64_t area = 0;
        for (int64_t q = 0; q < ug_tensor_numel(&t); q++) {
            uint8_t v = ((uint8_t *)t.data)[q];
            ck_assert(v == 0 || v == 255);
            area += v == 255;
        }
        ck_assert_int_eq(area, ug_json_get(e, "area")->integer);
        ck_assert_ptr_nonnull(ug_json_get(ug_json_get(e, "segmentation"), "counts"));
        ug_tensor_free(&t);
    }
    char name[32];
    snprintf(name, sizeof name, "instance_%03zu.png", inst->len);
    ck_assert(!exists(dir, name)); // no stray instance files
    ug_json_free(doc);
}

static long long mtime_of(const char *dir, const char *stem, const char *file) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s/%s", dir, stem, file);
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    return (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
}

static bool file_contains(const char *path, const char *needle) {
    char *s = test_read_text(path);
    bool r = strstr(s, needle) != NULL;
    free(s);
    return r;
}

START_TEST(directory_run_skip_overwrite) {
    REQUIRE_READY();
    char out[1100], errf[1100];
    snprintf(out, sizeof out, "%s/out1", g_tmp);
    snprintf(errf, sizeof errf, "%s/err1.txt", g_tmp);
    const char *args[] = {"run", "--rba",    g_rba, "--sam",     g_sam, "--out", out, "--threshold",
                          "-20", "--points", "6",   "--threads", "2",   g_imgs,  NULL};
    ck_assert_int_eq(run(args, errf), 0);
    for (int i = 0; i < 3; i++)
        check_folder(out, i);
    ck_assert(file_contains(errf, "[3/3]")); // plain progress lines off a terminal
    long long t0 = mtime_of(out, stems[1], "instances.json");
    ck_assert_int_eq(run(args, errf), 0);
    ck_assert(file_contains(errf, "skipped"));
    ck_assert(file_contains(errf, "0 done, 3 skipped"));
    ck_assert(mtime_of(out, stems[1], "instances.json") == t0);
    const char *args2[] = {"run",         "--rba", g_rba,      "--sam", g_sam,         "--out", out,
                           "--threshold", "-20",   "--points", "6",     "--overwrite", g_imgs,  NULL};
    ck_assert_int_eq(run(args2, errf), 0);
    ck_assert(file_contains(errf, "3 done, 0 skipped"));
    for (int i = 0; i < 3; i++)
        check_folder(out, i);
}
END_TEST

// Names in out: final folders (checked complete) and hidden temporary ones (counted).
static int scan_out(const char *out, int *hidden) {
    DIR *d = opendir(out);
    *hidden = 0;
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (e->d_name[0] == '.') {
            (*hidden)++;
            continue;
        }
        int i = -1;
        for (int k = 0; k < 3; k++)
            if (!strcmp(e->d_name, stems[k])) i = k;
        ck_assert_msg(i >= 0, "unexpected entry %s", e->d_name);
        check_folder(out, i);
        n++;
    }
    closedir(d);
    return n;
}

static bool has_tmp(const char *out) {
    DIR *d = opendir(out);
    if (!d) return false;
    bool r = false;
    struct dirent *e;
    while ((e = readdir(d)))
        r |= !strncmp(e->d_name, ".tmp-", 5);
    closedir(d);
    return r;
}

// SIGKILL at the moment an image's temporary folder exists (outputs being written), for the
// first, second and third image in turn; each time the final folders present are complete.
START_TEST(killed_run_leaves_no_partial_folder) {
    REQUIRE_READY();
    char out[1100];
    snprintf(out, sizeof out, "%s/out2", g_tmp);
    const char *args[] = {"run", "--rba",    g_rba, "--sam",     g_sam, "--out", out, "--threshold",
                          "-20", "--points", "6",   "--threads", "1",   g_imgs,  NULL};
    int killed_mid_write = 0;
    for (int round = 0; round < 3; round++) {
        pid_t pid = test_cli_spawn(args, NULL, NULL);
        ck_assert_int_ge(pid, 0);
        struct timespec ts = {0, 200000}; // 0.2 ms
        bool seen = false;
        for (int k = 0; k < 100000 && !seen; k++) {
            if (has_tmp(out))
                seen = true;
            else if (waitpid(pid, NULL, WNOHANG) == pid)
                break;
            else
                nanosleep(&ts, NULL);
        }
        if (seen) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            killed_mid_write++;
        }
        int hidden, done = scan_out(out, &hidden);
        if (seen) ck_assert_int_lt(done, 3);
    }
    ck_assert_int_ge(killed_mid_write, 1);
    // The next run finishes the rest and removes the stale temporary folders.
    ck_assert_int_eq(run(args, NULL), 0);
    int hidden, done = scan_out(out, &hidden);
    ck_assert_int_eq(done, 3);
    ck_assert_int_eq(hidden, 0);
}
END_TEST

START_TEST(dump_and_ignore_mask) {
    REQUIRE_READY();
    char out[1100], dump[1100], ig[1100], img[1100];
    snprintf(out, sizeof out, "%s/out3", g_tmp);
    snprintf(dump, sizeof dump, "%s/dump", g_tmp);
    snprintf(ig, sizeof ig, "%s/ignore.png", g_tmp);
    snprintf(img, sizeof img, "%s/%s.png", g_imgs, stems[2]);
    // Everything ignored: candidates get -30 (below the -20 threshold and the -15 fallback)
    // so there are no points, no instances, and the refined map is U - 1.
    ug_tensor m;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&m, UG_U8, UG_DIMS(64, 64), &err), UG_OK);
    memset(m.data, 1, 64 * 64);
    ck_assert_int_eq(ug_png_write(ig, &m, &err), UG_OK);
    ug_tensor_free(&m);
    const char *args[] = {"run",        "--rba",  g_rba,         "--sam",     g_sam,
                          "--out",      out,      "--threshold", "-20",       "--ignore-mask",
                          ig,           "--dump", dump,          "--sampler", "fps",
                          "--fps-ties", "lowest", img,           NULL};
    ck_assert_int_eq(run(args, NULL), 0);
    char p[2048];
    snprintf(p, sizeof p, "%s/%s/instances.json", out, stems[2]);
    char *s = test_read_text(p);
    ck_assert_ptr_nonnull(strstr(s, "\"instances\": []"));
    free(s);
    ug_tensor U, A;
    snprintf(p, sizeof p, "%s/%s/rba_score.npy", out, stems[2]);
    ck_assert_int_eq(ug_npy_read(p, &U, &err), UG_OK);
    snprintf(p, sizeof p, "%s/%s/anomaly.npy", out, stems[2]);
    ck_assert_int_eq(ug_npy_read(p, &A, &err), UG_OK);
    for (int64_t q = 0; q < 64 * 64; q++)
        ck_assert_float_eq(((float *)A.data)[q], ((float *)U.data)[q] - 1.0f);
    ug_tensor_free(&U);
    ug_tensor_free(&A);
    snprintf(p, sizeof p, "%s/%s", dump, stems[2]);
    static const char *const dumps[] = {"input.npy",    "res5.npy", "pred_logits.npy", "rba_score.npy",
                                        "semantic.npy", "keep.npy", "anomaly.npy"};
    for (size_t k = 0; k < sizeof dumps / sizeof dumps[0]; k++)
        ck_assert_msg(exists(p, dumps[k]), "dump %s missing", dumps[k]);

    // With points (no ignore mask) the SAM dumps appear too, with their shapes.
    const char *args2[] = {"run",         "--rba",  g_rba,      "--sam", g_sam,    "--out", out,
                           "--threshold", "-20",    "--points", "4",     "--dump", dump,    "--overwrite",
                           "--sampler",   "kmeans", "--seed",   "3",     img,      NULL};
    ck_assert_int_eq(run(args2, NULL), 0);
    ug_tensor t;
    snprintf(p, sizeof p, "%s/%s/masks.npy", dump, stems[2]);
    ck_assert_int_eq(ug_npy_read(p, &t, &err), UG_OK);
    ck_assert_int_eq(t.ndim, 4);
    ck_assert_int_eq(t.shape[0], 4);
    ck_assert_int_eq(t.shape[1], 3);
    ck_assert_int_eq(t.shape[2], 64);
    ug_tensor_free(&t);
    snprintf(p, sizeof p, "%s/%s/points.npy", dump, stems[2]);
    ck_assert_int_eq(ug_npy_read(p, &t, &err), UG_OK);
    ck_assert_int_eq(t.shape[0], 4);
    ck_assert_int_eq(t.shape[1], 2);
    ug_tensor_free(&t);
    check_folder(out, 2);
}
END_TEST

START_TEST(usage_and_runtime_errors) {
    REQUIRE_READY();
    char out[1100], errf[1100], img[1100], bad[1100];
    snprintf(out, sizeof out, "%s/out4", g_tmp);
    snprintf(errf, sizeof errf, "%s/err4.txt", g_tmp);
    snprintf(img, sizeof img, "%s/%s.png", g_imgs, stems[0]);
    snprintf(bad, sizeof bad, "%s/nothing.png", g_tmp);
    const char *help[] = {"run", "--help", NULL};
    ck_assert_int_eq(run(help, NULL), 0);
    const char *no_rba[] = {"run", "--sam", g_sam, "--out", out, img, NULL};
    ck_assert_int_eq(run(no_rba, errf), 2);
    ck_assert(file_contains(errf, "--rba"));
    const char *bad_sampler[] = {"run", "--rba",     g_rba,  "--sam", g_sam, "--out",
                                 out,   "--sampler", "best", img,     NULL};
    ck_assert_int_eq(run(bad_sampler, errf), 2);
    ck_assert(file_contains(errf, "sampler"));
    const char *bad_nms[] = {"run", "--rba", g_rba, "--sam", g_sam, "--out", out, "--nms", "1.5", img, NULL};
    ck_assert_int_eq(run(bad_nms, errf), 2);
    const char *no_image[] = {"run", "--rba", g_rba, "--sam", g_sam, "--out", out, NULL};
    ck_assert_int_eq(run(no_image, errf), 2);
    const char *bad_precision[] = {"run", "--rba",       g_rba, "--sam", g_sam, "--out",
                                   out,   "--precision", "f64", img,     NULL};
    ck_assert_int_eq(run(bad_precision, errf), 2);
    ck_assert(file_contains(errf, "--precision wants f32 or bf16, got 'f64'"));
    const char *missing[] = {"run", "--rba", g_rba, "--sam", g_sam, "--out", out, bad, NULL};
    ck_assert_int_eq(run(missing, errf), 1);
    ck_assert(file_contains(errf, "nothing.png"));
    // A SAM file given as RbA weights: a runtime error naming the file.
    const char *swapped[] = {"run", "--rba", g_sam, "--sam", g_sam, "--out", out, img, NULL};
    ck_assert_int_eq(run(swapped, errf), 1);
    ck_assert(file_contains(errf, "sam.safetensors"));
    // An ignore mask of another size fails that image (exit 1), names the mask, no folder.
    char ig[1100];
    snprintf(ig, sizeof ig, "%s/ignore64.png", g_tmp); // 64x64, the image is 160x96
    ug_tensor m;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&m, UG_U8, UG_DIMS(64, 64), &err), UG_OK);
    ck_assert_int_eq(ug_png_write(ig, &m, &err), UG_OK);
    ug_tensor_free(&m);
    const char *wrong_ignore[] = {"run", "--rba",         g_rba, "--sam", g_sam, "--out",
                                  out,   "--ignore-mask", ig,    img,     NULL};
    ck_assert_int_eq(run(wrong_ignore, errf), 1);
    ck_assert(file_contains(errf, "ignore mask"));
    ck_assert(!exists(out, stems[0]));
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cli_run", .setup_once = setup, .teardown_once = teardown, .timeout = 120},
        &s);
    test_add(tc, directory_run_skip_overwrite, killed_run_leaves_no_partial_folder, dump_and_ignore_mask,
             usage_and_runtime_errors);
    return test_run_suite(s);
}
