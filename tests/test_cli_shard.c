// tests/test_cli_shard.c — `ugains run --shard I/N` and `ugains eval` over several --pred
// folders, as a user runs them (the binary named by UGAINS_BIN). Five images (copies of the
// golden rba_tiny img0/img1 under other names) with the golden rba_tiny and sam_tiny weights
// packed in a tmpdir: for N = 1, 2, 3 the shards are disjoint, round robin over the sorted
// names, cover every image exactly once and count their own images in the progress lines; a
// rerun of a shard processes nothing new; shards sharing one --out form the union; bad --shard
// values are usage errors. eval of two --pred folders equals eval of one holding both (golden
// eval_tiny split in two); an image in two folders or one folder given twice is a usage error.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/cli.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

enum { NIMG = 5 };
// Not in creation order on purpose: shards follow the sorted names.
static const char *const names[NIMG] = {"e_street", "a_street", "d_street", "b_street", "c_street"};
static const char *const sorted[NIMG] = {"a_street", "b_street", "c_street", "d_street", "e_street"};

static char *g_tmp;
static char g_sam[1024], g_rba[1024], g_imgs[1024];
static bool g_ready;

static void setup(void) {
    if (!test_golden_available()) return;
    g_tmp = test_tmpdir();
    if (!test_pack_tiny_pair(g_tmp, g_sam, g_rba, sizeof g_sam)) return;
    snprintf(g_imgs, sizeof g_imgs, "%s/imgs", g_tmp);
    mkdir(g_imgs, 0777);
    for (int i = 0; i < NIMG; i++) {
        char *src = test_golden_path(i % 2 ? "rba_tiny/img1.png" : "rba_tiny/img0.png");
        size_t n;
        void *data = test_read_file(src, &n);
        free(src);
        if (!data) return;
        char dst[1200];
        snprintf(dst, sizeof dst, "%s/%s.png", g_imgs, names[i]);
        FILE *f = fopen(dst, "wb");
        bool ok = f && fwrite(data, 1, n, f) == n;
        if (f) ok = fclose(f) == 0 && ok;
        free(data);
        if (!ok) return;
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

static bool file_contains(const char *path, const char *needle) {
    char *s = test_read_text(path);
    bool r = strstr(s, needle) != NULL;
    free(s);
    return r;
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

// `ugains run --shard spec` of the five images into out; exit status, stderr to errf.
static int run_shard(const char *spec, const char *out, const char *errf) {
    const char *args[] = {"run",       g_imgs, "--rba",       g_rba, "--sam",    g_sam,
                          "--out",     out,    "--threshold", "-20", "--points", "6",
                          "--threads", "2",    "--shard",     spec,  NULL};
    return test_cli_run(args, NULL, errf);
}

// Which of the sorted images have a folder in out (bit i = sorted[i]); fails on anything else.
static unsigned folders_in(const char *out) {
    DIR *d = opendir(out);
    ck_assert_msg(d != NULL, "%s missing", out);
    unsigned set = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            ck_assert_msg(!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."), "%s/%s left", out, e->d_name);
            continue;
        }
        int k = -1;
        for (int i = 0; i < NIMG; i++)
            if (!strcmp(e->d_name, sorted[i])) k = i;
        ck_assert_msg(k >= 0, "unexpected %s/%s", out, e->d_name);
        char p[2048];
        snprintf(p, sizeof p, "%s/%s/anomaly.npy", out, e->d_name);
        struct stat sb;
        ck_assert_msg(stat(p, &sb) == 0, "%s missing", p);
        set |= 1u << k;
    }
    closedir(d);
    return set;
}

START_TEST(shards_are_disjoint_round_robin_and_cover) {
    REQUIRE_READY();
    char errf[1100];
    snprintf(errf, sizeof errf, "%s/err_shard.txt", g_tmp);
    for (int N = 1; N <= 3; N++) {
        unsigned all = 0;
        for (int I = 0; I < N; I++) {
            char spec[16], out[1100], want_line[64];
            snprintf(spec, sizeof spec, "%d/%d", I, N);
            snprintf(out, sizeof out, "%s/out_%d_%d", g_tmp, N, I);
            ck_assert_int_eq(run_shard(spec, out, errf), 0);
            unsigned got = folders_in(out), want = 0;
            int count = 0;
            for (int i = 0; i < NIMG; i++)
                if (i % N == I) want |= 1u << i, count++;
            ck_assert_msg(got == want, "shard %s: images 0x%x, expected 0x%x (round robin)", spec, got, want);
            ck_assert_msg((all & got) == 0, "shard %s overlaps an earlier shard", spec);
            all |= got;
            // The progress lines count the shard's images.
            snprintf(want_line, sizeof want_line, "[%d/%d] ", count, count);
            ck_assert_msg(file_contains(errf, want_line), "shard %s: no '%s' progress line", spec, want_line);
            snprintf(want_line, sizeof want_line, "%d done, 0 skipped", count);
            ck_assert(file_contains(errf, want_line));
            // A rerun of the shard finds everything done.
            ck_assert_int_eq(run_shard(spec, out, errf), 0);
            snprintf(want_line, sizeof want_line, "0 done, %d skipped", count);
            ck_assert_msg(file_contains(errf, want_line), "rerun of shard %s redid images", spec);
            ck_assert(folders_in(out) == want);
        }
        ck_assert_msg(all == (1u << NIMG) - 1, "N=%d: the shards cover 0x%x", N, all);
    }
}
END_TEST

// Shards writing into one --out form the union; a rerun of one of them skips its images.
START_TEST(shards_share_one_out) {
    REQUIRE_READY();
    char errf[1100], out[1100];
    snprintf(errf, sizeof errf, "%s/err_share.txt", g_tmp);
    snprintf(out, sizeof out, "%s/out_shared", g_tmp);
    ck_assert_int_eq(run_shard("1/3", out, errf), 0);
    ck_assert(folders_in(out) == ((1u << 1) | (1u << 4)));
    ck_assert_int_eq(run_shard("0/3", out, errf), 0);
    ck_assert_int_eq(run_shard("2/3", out, errf), 0);
    ck_assert(folders_in(out) == (1u << NIMG) - 1);
    ck_assert_int_eq(run_shard("1/3", out, errf), 0);
    ck_assert(file_contains(errf, "0 done, 2 skipped"));
}
END_TEST

START_TEST(bad_shard_values_are_usage_errors) {
    REQUIRE_READY();
    char errf[1100], out[1100];
    snprintf(errf, sizeof errf, "%s/err_bad.txt", g_tmp);
    snprintf(out, sizeof out, "%s/out_bad", g_tmp);
    static const char *const bad[] = {"",
                                      "1",
                                      "/2",
                                      "1/",
                                      "1/1",
                                      "2/2",
                                      "3/2",
                                      "-1/2",
                                      "1/-2",
                                      "+1/2",
                                      "1/+2",
                                      "1/0",
                                      "0/0",
                                      " 1/2",
                                      "1/2 ",
                                      "1 /2",
                                      "a/2",
                                      "1/b",
                                      "1/2/3",
                                      "1.0/2",
                                      "0x1/2",
                                      "99999999999999999999/2",
                                      "0/99999999999999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(run_shard(bad[k], out, errf) == 2, "--shard '%s' was accepted", bad[k]);
        char *e = test_read_text(errf);
        ck_assert_msg(!strncmp(e, "ugains: run: --shard", 20) && strchr(e, '\n') == e + strlen(e) - 1,
                      "--shard '%s': %s", bad[k], e);
        free(e);
        ck_assert(!is_dir(out));
    }
}
END_TEST

// ---- eval over several --pred folders ----

static void copy_tree(const char *src, const char *dst) {
    ck_assert_msg(mkdir(dst, 0777) == 0 || is_dir(dst), "mkdir %s", dst);
    DIR *d = opendir(src);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *s = test_path_join(src, e->d_name), *t = test_path_join(dst, e->d_name);
        if (is_dir(s)) {
            copy_tree(s, t);
        } else {
            size_t n;
            void *data = test_read_file(s, &n);
            ck_assert_ptr_nonnull(data);
            test_write_file(t, data, n);
            free(data);
        }
        free(s);
        free(t);
    }
    closedir(d);
}

static int eval2(const char *p1, const char *p2, const char *gt, const char *out, const char *errf) {
    const char *args[] = {"eval", "--pred", p1, "--gt", gt, "--out", out, "-q", NULL, NULL, NULL};
    if (p2) args[8] = "--pred", args[9] = p2;
    return test_cli_run(args, NULL, errf);
}

START_TEST(eval_reads_the_union_of_pred_folders) {
    REQUIRE_READY();
    char *pred = test_golden_path("eval_tiny/pred"), *gt = test_golden_path("eval_tiny/gt");
    char pa[1100], pb[1100], m1[1100], m2[1100], errf[1100];
    snprintf(pa, sizeof pa, "%s/pred_a", g_tmp);
    snprintf(pb, sizeof pb, "%s/pred_b", g_tmp);
    snprintf(m1, sizeof m1, "%s/m1.json", g_tmp);
    snprintf(m2, sizeof m2, "%s/m2.json", g_tmp);
    snprintf(errf, sizeof errf, "%s/err_eval.txt", g_tmp);
    mkdir(pa, 0777);
    mkdir(pb, 0777);
    // The golden predictions split in two, alternately (as two shards would write them).
    DIR *d = opendir(pred);
    ck_assert_ptr_nonnull(d);
    char first_b[256] = "";
    int n = 0;
    struct dirent *e;
    char *entries[64];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            ck_assert_int_lt(n, 64);
            entries[n++] = strdup(e->d_name);
        }
    closedir(d);
    ck_assert_int_ge(n, 2);
    for (int i = 0; i < n; i++) {
        char *s = test_path_join(pred, entries[i]), *t = test_path_join(i % 2 ? pb : pa, entries[i]);
        if (is_dir(s)) copy_tree(s, t);
        if (i % 2 && !first_b[0]) snprintf(first_b, sizeof first_b, "%s", entries[i]);
        free(s);
        free(t);
    }
    ck_assert_int_eq(eval2(pred, NULL, gt, m1, errf), 0);
    ck_assert_int_eq(eval2(pa, pb, gt, m2, errf), 0);
    char *j1 = test_read_text(m1), *j2 = test_read_text(m2);
    ck_assert_str_eq(j1, j2); // every metric, num_images included
    free(j1);
    free(j2);
    // An image in both folders: a usage error naming it, before anything is written.
    char *s = test_path_join(pred, first_b), *t = test_path_join(pa, first_b);
    copy_tree(s, t);
    remove(m2);
    ck_assert_int_eq(eval2(pa, pb, gt, m2, errf), 2);
    ck_assert(file_contains(errf, first_b));
    ck_assert(file_contains(errf, "two --pred folders"));
    ck_assert(!test_read_file(m2, &(size_t){0}));
    // The same folder twice.
    char pa_slash[1200];
    snprintf(pa_slash, sizeof pa_slash, "%s/", pa);
    ck_assert_int_eq(eval2(pa, pa_slash, gt, m2, errf), 2);
    ck_assert(file_contains(errf, "same folder"));
    // An image in neither: a runtime error naming it.
    test_rmtree(t);
    char *u = test_path_join(pb, first_b);
    test_rmtree(u);
    ck_assert_int_eq(eval2(pa, pb, gt, m2, errf), 1);
    ck_assert(file_contains(errf, first_b));
    ck_assert(file_contains(errf, "in any of the 2 --pred folders"));
    free(u);
    free(s);
    free(t);
    for (int i = 0; i < n; i++)
        free(entries[i]);
    free(pred);
    free(gt);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cli_shard", .setup_once = setup, .teardown_once = teardown, .timeout = 300},
        &s);
    test_add(tc, shards_are_disjoint_round_robin_and_cover, shards_share_one_out,
             bad_shard_values_are_usage_errors, eval_reads_the_union_of_pred_folders);
    return test_run_suite(s);
}
