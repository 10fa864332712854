// tests/test_cli_limits.c — bad input, again: every command under an address-space limit
// (RLIMIT_AS, `ulimit -v`) and a weights file truncated while `ugains run` has it mapped.
//
// Memory: each command (pack, inspect, sam, rba, run, eval) runs under limits from a few MiB
// (where not even the dynamic loader can map libc: exit 127, skipped) upwards in small steps
// until it succeeds. Every limit below that must end with exit 1, ONE stderr line "ugains: ..."
// and nothing half-written: no output folder or file, no staging folder, no *.tmp.* file (a
// `ugains run` may leave the image folders it finished, each complete). `bench ops` with one
// small family must answer one line and exit 1, or run (rows that cannot get memory say so).
// Under AddressSanitizer RLIMIT_AS cannot work (it reserves terabytes of shadow memory): those
// tests then pass with a note "skipped under ASan" on stderr.
//
// Truncation: `ugains run` over a folder of images; once the first image's folder appears the
// SAM (then the RbA) weights file is truncated. The next read of the mapping raises SIGBUS: the
// run must exit 1 with the one line "ugains: <file>: the weights file changed on disk while in
// use (truncated?)", the finished image folders intact and no partial or staging folder left.
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h> // after stdio.h: it uses FILE

#include "engine/image.h"
#include "tests/cli.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

static char *g_tmp;
static char g_sam[1024], g_rba[1024], g_imgs[1024], g_prompts[1024], g_png[1100], g_jpg[1100];
static char g_many[1024]; // 24 copies of one image, for the truncation test
static bool g_ready;

enum { NMANY = 24 };

static bool write_jpeg(const char *path, int W, int H) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)W;
    c.image_height = (JDIMENSION)H;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_simple_progression(&c); // progressive: libjpeg's biggest allocations
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)W * 3);
    for (int y = 0; row && y < H; y++) {
        for (int x = 0; x < W * 3; x++)
            row[x] = (unsigned char)(x * 7 + y * 13);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    bool ok = row != NULL;
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return fclose(f) == 0 && ok;
}

static bool write_random_png(const char *path, int H, int W, uint64_t seed) {
    ug_tensor img;
    ug_err err;
    if (ug_tensor_new(&img, UG_U8, UG_DIMS(H, W, 3), &err) != UG_OK) return false;
    test_rng r = test_rng_seed(seed);
    uint8_t *p = img.data;
    for (int64_t k = 0; k < ug_tensor_numel(&img); k++)
        p[k] = (uint8_t)(test_rng_u64(&r) >> 56);
    ug_status st = ug_png_write(path, &img, &err);
    ug_tensor_free(&img);
    return st == UG_OK;
}

static void setup(void) {
    if (!test_golden_available()) return;
    g_tmp = test_tmpdir();
    if (!test_pack_tiny_pair(g_tmp, g_sam, g_rba, sizeof g_sam)) return;
    snprintf(g_imgs, sizeof g_imgs, "%s/imgs", g_tmp);
    snprintf(g_many, sizeof g_many, "%s/many", g_tmp);
    mkdir(g_imgs, 0777);
    mkdir(g_many, 0777);
    snprintf(g_png, sizeof g_png, "%s/a.png", g_imgs);
    snprintf(g_jpg, sizeof g_jpg, "%s/b.jpg", g_imgs);
    if (!write_random_png(g_png, 96, 160, 5) || !write_jpeg(g_jpg, 200, 120)) return;
    for (int i = 0; i < NMANY; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/m%02d.png", g_many, i);
        if (!write_random_png(p, 64, 96, 7)) return;
    }
    snprintf(g_prompts, sizeof g_prompts, "%s/prompts.json", g_tmp);
    static const char prompts[] = "[{\"points\": [[37.0, 41.0]]}, {\"points\": [[40, 40], [110, 60]], "
                                  "\"labels\": [1, 0]}, {\"box\": [30, 20, 120, 80]}]\n";
    FILE *f = fopen(g_prompts, "w");
    if (!f || fputs(prompts, f) < 0 || fclose(f) != 0) return;
    g_ready = true;
}

static void teardown(void) {
    if (g_tmp) test_rmtree(g_tmp);
    free(g_tmp);
    g_tmp = NULL;
}

#define REQUIRE_READY()                                                                                      \
    ck_assert_msg(g_ready, "golden weights could not be packed or inputs written (see stderr)")

// Passes (with the note) when RLIMIT_AS cannot work.
#define REQUIRE_AS_LIMIT()                                                                                   \
    do {                                                                                                     \
        if (!test_cli_as_limit_works()) {                                                                    \
            fprintf(stderr,                                                                                  \
                    "test_cli_limits: %s skipped under ASan (RLIMIT_AS cannot work with its "                \
                    "shadow memory)\n",                                                                      \
                    __func__);                                                                               \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

// Runs `ugains args` under the limit (0: none), killed after 60 s. Exit status, 128 + signal,
// or -2 when it had to be killed.
static int run_limited(const char *const *args, size_t limit, const char *outf, const char *errf) {
    pid_t pid = test_cli_spawn_limited(args, outf, errf, limit);
    ck_assert_int_gt(pid, 0);
    return test_cli_wait_deadline(pid, 60);
}

// Exactly one line, "ugains: ...\n".
static bool one_ugains_line(const char *e) {
    size_t n = strlen(e);
    return n > 9 && !strncmp(e, "ugains: ", 8) && strchr(e, '\n') == e + n - 1;
}

// No staging leftovers in dir: nothing named .tmp-* and nothing holding ".tmp.".
static void check_no_tmp(const char *dir, const char *what, size_t limit) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        ck_assert_msg(strncmp(e->d_name, ".tmp-", 5) && !strstr(e->d_name, ".tmp."),
                      "%s at %zu KiB: %s/%s left behind", what, limit >> 10, dir, e->d_name);
    closedir(d);
}

// `ugains run --out out`: only complete image folders (no hidden entries).
static void check_run_out(const char *out, const char *what, size_t limit) {
    DIR *d = opendir(out);
    if (!d) return;
    static const char *const files[] = {"semantic.png", "semantic_color.png", "rba_score.npy", "anomaly.npy",
                                        "anomaly.png",  "instances.json",     "overlay.png"};
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        ck_assert_msg(e->d_name[0] != '.', "%s at %zu KiB: %s/%s left behind", what, limit >> 10, out,
                      e->d_name);
        for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
            char p[2400];
            snprintf(p, sizeof p, "%s/%s/%s", out, e->d_name, files[k]);
            ck_assert_msg(exists(p), "%s at %zu KiB: %s missing (half-written folder)", what, limit >> 10, p);
        }
        n++;
    }
    closedir(d);
    ck_assert_msg(n > 0, "%s at %zu KiB: an empty %s left behind", what, limit >> 10, out);
}

typedef struct sweep_case {
    const char *what;
    const char *const *args;
    const char *gone[3];   // outputs that must not exist after a failure (NULL-terminated)
    const char *clean_dir; // a folder where no staging leftovers may remain
    const char *run_out;   // `ugains run`'s --out: finished image folders may stay
    size_t step;           // bytes between limits
} sweep_case;

// Limits from 2 MiB up in `step` until the command succeeds; every failure is checked.
static void sweep(const sweep_case *c) {
    char errf[1200], outf[1200];
    snprintf(errf, sizeof errf, "%s/sweep_err.txt", g_tmp);
    snprintf(outf, sizeof outf, "%s/sweep_out.txt", g_tmp);
    int failures = 0;
    size_t limit;
    for (limit = (size_t)2 << 20; limit <= (size_t)512 << 20; limit += c->step) {
        for (int k = 0; c->gone[k]; k++)
            test_rmtree(c->gone[k]);
        if (c->run_out) test_rmtree(c->run_out);
        int rc = run_limited(c->args, limit, outf, errf);
        char *e = test_read_text(errf);
        if (rc == 127 && strncmp(e, "ugains: ", 8)) { // the loader could not map a library
            free(e);
            continue;
        }
        if (rc == 0) {
            free(e);
            break;
        }
        ck_assert_msg(rc == 1 && one_ugains_line(e), "%s at %zu KiB: exit %d, stderr: %s", c->what,
                      limit >> 10, rc, e);
        free(e);
        for (int k = 0; c->gone[k]; k++)
            ck_assert_msg(!exists(c->gone[k]), "%s at %zu KiB: %s left behind", c->what, limit >> 10,
                          c->gone[k]);
        if (c->clean_dir) check_no_tmp(c->clean_dir, c->what, limit);
        if (c->run_out) {
            check_run_out(c->run_out, c->what, limit);
            check_no_tmp(c->run_out, c->what, limit);
        }
        failures++;
    }
    ck_assert_msg(limit <= (size_t)512 << 20, "%s never succeeded under 512 MiB", c->what);
    ck_assert_msg(failures > 0, "%s: no limit made it fail", c->what);
    fprintf(stderr, "test_cli_limits: %s: %d limits failed cleanly, ran at %zu KiB\n", c->what, failures,
            limit >> 10);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(pack_inspect_eval_under_memory_limits) {
    REQUIRE_READY();
    REQUIRE_AS_LIMIT();
    char dir[1100], out[1200], metrics[1200];
    snprintf(dir, sizeof dir, "%s/small", g_tmp);
    mkdir(dir, 0777);
    snprintf(out, sizeof out, "%s/x.safetensors", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.json", dir);
    char *pth = test_golden_path("rba_tiny/rba_tiny_1dl.d2.pth");
    char *sam_pth = test_golden_path("sam_tiny/sam_tiny.pth");
    char *pred = test_golden_path("eval_tiny/pred"), *gt = test_golden_path("eval_tiny/gt");
    const sweep_case cases[] = {
        {"pack",
         ARGS("pack", "--in", pth, "--out", out, "--set", "pixel_decoder_transformer_nheads=4", "--set",
              "decoder_nheads=4", "-q"),
         {out, NULL},
         dir,
         NULL,
         128 << 10},
        {"inspect safetensors", ARGS("inspect", g_sam), {NULL}, NULL, NULL, 128 << 10},
        {"inspect checkpoint", ARGS("inspect", sam_pth), {NULL}, NULL, NULL, 128 << 10},
        {"eval",
         ARGS("eval", "--pred", pred, "--gt", gt, "--out", metrics, "-q"),
         {metrics, NULL},
         dir,
         NULL,
         128 << 10},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        sweep(&cases[k]);
    free(pth);
    free(sam_pth);
    free(pred);
    free(gt);
}
END_TEST

START_TEST(sam_rba_run_under_memory_limits) {
    REQUIRE_READY();
    REQUIRE_AS_LIMIT();
    char dir[1100], sam_out[1200], sam_dump[1200], rba_out[1200], rba_dump[1200], run_out[1200];
    snprintf(dir, sizeof dir, "%s/models", g_tmp);
    mkdir(dir, 0777);
    snprintf(sam_out, sizeof sam_out, "%s/sam/out", dir);
    snprintf(sam_dump, sizeof sam_dump, "%s/sam", dir); // both made by the run, both removed
    snprintf(rba_out, sizeof rba_out, "%s/rba_out", dir);
    snprintf(rba_dump, sizeof rba_dump, "%s/rba_dump", dir);
    snprintf(run_out, sizeof run_out, "%s/run_out", dir);
    const sweep_case cases[] = {
        {"sam",
         ARGS("sam", "--weights", g_sam, "--image", g_png, "--prompts", g_prompts, "--all-masks", "--dump",
              sam_dump, "--out", sam_out, "--threads", "2"),
         {sam_dump, NULL},
         dir,
         NULL,
         256 << 10},
        {"rba",
         ARGS("rba", "--weights", g_rba, "--image", g_jpg, "--dump", rba_dump, "--out", rba_out, "--threads",
              "2"),
         {rba_out, rba_dump, NULL},
         dir,
         NULL,
         256 << 10},
        {"run",
         ARGS("run", "--rba", g_rba, "--sam", g_sam, "--out", run_out, "--threshold", "-20", "--points", "6",
              "--threads", "2", "-q", g_imgs),
         {NULL},
         dir,
         run_out,
         256 << 10},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        sweep(&cases[k]);
}
END_TEST

// bench writes nothing; a row that cannot get memory is reported in the table (exit 0).
START_TEST(bench_under_memory_limits) {
    REQUIRE_READY();
    REQUIRE_AS_LIMIT();
    char errf[1200], outf[1200];
    snprintf(errf, sizeof errf, "%s/bench_err.txt", g_tmp);
    snprintf(outf, sizeof outf, "%s/bench_out.txt", g_tmp);
    int failures = 0;
    for (size_t limit = (size_t)2 << 20; limit <= (size_t)64 << 20; limit += (size_t)1 << 20) {
        int rc = run_limited(ARGS("bench", "ops", "--filter", "msdeform", "--quick", "--threads", "2"), limit,
                             outf, errf);
        char *e = test_read_text(errf);
        if (rc == 127 && strncmp(e, "ugains: ", 8)) {
            free(e);
            continue;
        }
        if (rc == 0) {
            free(e);
            break;
        }
        ck_assert_msg(rc == 1 && one_ugains_line(e), "bench at %zu KiB: exit %d, stderr: %s", limit >> 10, rc,
                      e);
        free(e);
        failures++;
    }
    ck_assert_int_gt(failures, 0);
}
END_TEST

// ---- a weights file truncated while mapped ----

static int count_visible(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void truncate_while_running(const char *which) {
    char sam[1200], rba[1200], out[1200], errf[1200], victim_name[64];
    snprintf(sam, sizeof sam, "%s/trunc_sam.safetensors", g_tmp);
    snprintf(rba, sizeof rba, "%s/trunc_rba.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/trunc_out_%s", g_tmp, which);
    snprintf(errf, sizeof errf, "%s/trunc_err.txt", g_tmp);
    const char *victim = !strcmp(which, "sam") ? sam : rba;
    snprintf(victim_name, sizeof victim_name, "trunc_%s.safetensors", which);
    const char *srcs[2] = {g_sam, g_rba}, *dsts[2] = {sam, rba};
    for (int k = 0; k < 2; k++) { // private copies: the suite's weights stay intact
        size_t n;
        void *data = test_read_file(srcs[k], &n);
        ck_assert_ptr_nonnull(data);
        test_write_file(dsts[k], data, n);
        free(data);
    }
    const char *const *args = ARGS("run", "--rba", rba, "--sam", sam, "--out", out, "--threshold", "-20",
                                   "--points", "6", "--threads", "2", "-q", g_many);
    pid_t pid = test_cli_spawn(args, NULL, errf);
    ck_assert_int_gt(pid, 0);
    struct timespec nap = {0, 200 * 1000}, t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status = 0;
    bool exited = false;
    while (count_visible(out) == 0) { // the first image's folder
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        ck_assert_msg(now.tv_sec - t0.tv_sec < 60, "no image folder after 60 s");
        nanosleep(&nap, NULL);
    }
    ck_assert_msg(!exited, "the run ended before its first image folder appeared");
    ck_assert_int_eq(truncate(victim, 4096), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char *e = test_read_text(errf);
    ck_assert_msg(rc == 1 && one_ugains_line(e), "%s truncated: exit %d, stderr: %s", which, rc, e);
    ck_assert_msg(strstr(e, victim_name) &&
                      strstr(e, ": the weights file changed on disk while in use (truncated?)\n"),
                  "%s truncated: %s", which, e);
    free(e);
    int done = count_visible(out);
    ck_assert_msg(done >= 1 && done < NMANY, "%d of %d images done: the truncation came too late", done,
                  NMANY);
    check_run_out(out, "truncated weights", 0);
    check_no_tmp(out, "truncated weights", 0);
}

START_TEST(weights_truncated_while_mapped) {
    REQUIRE_READY();
    truncate_while_running("sam");
    truncate_while_running("rba");
}
END_TEST

// Truncated before the run: refused when opened (the size check), one line, nothing made.
START_TEST(weights_truncated_before_use) {
    REQUIRE_READY();
    char sam[1200], out[1200], errf[1200];
    snprintf(sam, sizeof sam, "%s/short_sam.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/short_out", g_tmp);
    snprintf(errf, sizeof errf, "%s/short_err.txt", g_tmp);
    size_t n;
    void *data = test_read_file(g_sam, &n);
    ck_assert_ptr_nonnull(data);
    test_write_file(sam, data, n / 2);
    free(data);
    int rc = run_limited(ARGS("run", "--rba", g_rba, "--sam", sam, "--out", out, "-q", g_png), 0, NULL, errf);
    char *e = test_read_text(errf);
    ck_assert_msg(rc == 1 && one_ugains_line(e) && strstr(e, "short_sam.safetensors"), "exit %d: %s", rc, e);
    free(e);
    ck_assert(!exists(out));
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cli_limits", .setup_once = setup, .teardown_once = teardown, .timeout = 600},
        &s);
    test_add(tc, pack_inspect_eval_under_memory_limits, sam_rba_run_under_memory_limits,
             bench_under_memory_limits, weights_truncated_while_mapped, weights_truncated_before_use);
    return test_run_suite(s);
}
