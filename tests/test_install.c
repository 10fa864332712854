// tests/test_install.c — the library as someone else gets it: `make install PREFIX=<tmpdir>
// BUILD=<this build>` (UGAINS_BUILD, which `make test` sets; else the folder above this
// binary's tests/), the installed files, the soname and the exported symbols of the shared
// library (readelf, dlopen), then apps/examples/ugains_demo.c compiled with `cc` against the
// installed tree through pkg-config, once shared and once static, and run on the golden tiny
// weights and rba_tiny/img0.png: the same instances (count, points, scores) as the same image
// through the public API in this process. Also the API's errors and the demo's.
//
// The sub-make runs without the caller's MAKEFLAGS; in a sanitizer build (ASan detected at
// compile time) it gets the `make sanitize` flags and the demo is compiled with the
// sanitizers too, since the installed library needs their runtime.
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/log.h"
#include "include/ugains.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif
#define SAN_FLAGS "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

static char *g_tmp;
static char g_build[4096], g_prefix[4200], g_rba[4200], g_sam[4200], g_img[4200];
static int g_make_rc = -1;
static bool g_packed;

// Demo options and the API's, the same run.
#define DEMO_THREADS   "2"
#define DEMO_POINTS    "5"
#define DEMO_THRESHOLD "-1e9" // every pixel a candidate: the tiny random weights give no anomaly

// ---- running programs ----

// Runs argv[0] (PATH searched) with stdout/stderr to files (NULL: /dev/null); env entries
// "NAME=VALUE" are set and "NAME" unset in the child. The exit status, 128 + signal, or -1.
static int run_prog(const char *const *argv, const char *out, const char *errf, const char *const *env) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (!freopen(out ? out : "/dev/null", "w", stdout)) _exit(127);
        if (!freopen(errf ? errf : "/dev/null", "w", stderr)) _exit(127);
        for (int i = 0; env && env[i]; i++) {
            const char *eq = strchr(env[i], '=');
            if (eq)
                putenv((char *)env[i]);
            else
                unsetenv(env[i]);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// `sh -c line` with stdout to out and stderr to errf.
static int run_sh(const char *line, const char *out, const char *errf, const char *const *env) {
    const char *argv[] = {"/bin/sh", "-c", line, NULL};
    return run_prog(argv, out, errf, env);
}

// The C compiler of the example: $CC, else cc.
static const char *compiler(void) {
    const char *cc = getenv("CC");
    return cc && *cc ? cc : "cc";
}

static char *tmp_file(const char *name) {
    return test_path_join(g_tmp, name);
}

// The whole text of a file ("" when it cannot be read), malloc'ed.
static char *slurp(const char *path) {
    size_t n;
    char *t = test_read_file(path, &n);
    if (!t) return strdup("");
    char *s = malloc(n + 1);
    memcpy(s, t, n);
    s[n] = '\0';
    free(t);
    return s;
}

// ---- the fixture: pack the weights, install into a tmpdir (once, in the parent) ----

// This build's folder: $UGAINS_BUILD, else two levels above /proc/self/exe (BUILD/tests/x),
// relative to the working directory when it lies inside it.
static void find_build(void) {
    const char *b = getenv("UGAINS_BUILD");
    if (b && *b) {
        snprintf(g_build, sizeof g_build, "%s", b);
        return;
    }
    char exe[4096], cwd[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    snprintf(g_build, sizeof g_build, "build");
    if (n <= 0) return;
    exe[n] = '\0';
    for (int k = 0; k < 2; k++) {
        char *slash = strrchr(exe, '/');
        if (!slash) return;
        *slash = '\0';
    }
    const char *rel = exe;
    size_t c = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    if (c && !strncmp(exe, cwd, c) && exe[c] == '/') rel = exe + c + 1;
    snprintf(g_build, sizeof g_build, "%s", rel);
}

static void setup(void) {
    find_build();
    g_tmp = test_tmpdir();
    snprintf(g_prefix, sizeof g_prefix, "%s/prefix", g_tmp);
    char prefix_arg[4300], build_arg[4200], *log = tmp_file("make.log");
    snprintf(prefix_arg, sizeof prefix_arg, "PREFIX=%s", g_prefix);
    snprintf(build_arg, sizeof build_arg, "BUILD=%s", g_build);
    // Without ASan the NULL after BUILD ends the list: no flags are passed.
    const char *argv[] = {"make",
                          "--no-print-directory",
                          "install",
                          prefix_arg,
                          build_arg,
                          SANITIZED ? "OPT=-O1" : NULL,
                          "EXTRA_CFLAGS=" SAN_FLAGS,
                          "EXTRA_LDFLAGS=-fsanitize=address,undefined",
                          NULL};
    static const char *const env[] = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", NULL};
    g_make_rc = run_prog(argv, log, log, env);
    free(log);
    if (!test_golden_available()) return;
    char *sp = sam_test_pack(g_tmp, "sam.safetensors");
    char *rp = rba_test_pack(g_tmp, "rba_tiny_1dl.d2.pth", "rba.safetensors");
    char *ip = test_golden_path("rba_tiny/img0.png");
    if (sp && rp) {
        snprintf(g_sam, sizeof g_sam, "%s", sp);
        snprintf(g_rba, sizeof g_rba, "%s", rp);
        snprintf(g_img, sizeof g_img, "%s", ip);
        g_packed = true;
    }
    free(sp);
    free(rp);
    free(ip);
}

static void teardown(void) {
    if (g_tmp) test_rmtree(g_tmp);
    free(g_tmp);
    g_tmp = NULL;
}

static void require_install(void) {
    if (g_make_rc == 0) return;
    char *log = tmp_file("make.log"), *text = slurp(log);
    size_t n = strlen(text);
    ck_abort_msg("make install PREFIX=%s BUILD=%s exited %d:\n%s", g_prefix, g_build, g_make_rc,
                 n > 3000 ? text + n - 3000 : text);
}

static char *installed(const char *rel) {
    return test_path_join(g_prefix, rel);
}

static bool is_file(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

// ---- the installed tree ----

START_TEST(installs_every_file) {
    require_install();
    char so[64], soname[64];
    snprintf(so, sizeof so, "lib/libugains.so.%s", UGAINS_VERSION);
    snprintf(soname, sizeof soname, "libugains.so.%d", UGAINS_VERSION_MAJOR);
    const char *files[] = {"lib/libugains.a", so, "include/ugains.h", "lib/pkgconfig/ugains.pc",
                           "bin/ugains"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *p = installed(files[i]);
        ck_assert_msg(is_file(p), "%s is not installed as a file", p);
        free(p);
    }
    // The symlinks: libugains.so -> libugains.so.X -> libugains.so.X.Y.Z.
    char rel[80];
    snprintf(rel, sizeof rel, "lib/%s", soname);
    const char *links[2][2] = {{"lib/libugains.so", soname}, {rel, so + 4}};
    for (int i = 0; i < 2; i++) {
        char *p = installed(links[i][0]), target[256];
        ssize_t n = readlink(p, target, sizeof target - 1);
        ck_assert_msg(n > 0, "%s is not a symlink", p);
        target[n] = '\0';
        ck_assert_str_eq(target, links[i][1]);
        free(p);
    }
    // The header is the tree's; only standard headers are included by it.
    char *h = installed("include/ugains.h"), *got = test_read_text(h),
         *want = test_read_text("include/ugains.h");
    ck_assert_str_eq(got, want);
    for (const char *q = strstr(got, "#include"); q; q = strstr(q + 1, "#include"))
        ck_assert_msg(!strncmp(q, "#include <std", 13), "ugains.h includes a non-standard header: %.40s", q);
    free(h);
    free(got);
    free(want);
    char *pc = installed("lib/pkgconfig/ugains.pc"), *text = test_read_text(pc);
    char line[4400];
    snprintf(line, sizeof line, "Version: %s\n", UGAINS_VERSION);
    ck_assert_msg(strstr(text, line), "ugains.pc has no '%s'", line);
    snprintf(line, sizeof line, "prefix=%s\n", g_prefix);
    ck_assert_msg(strstr(text, line), "ugains.pc has no '%s'", line);
    ck_assert_msg(strstr(text, "Libs: -L${libdir} -lugains\n"), "ugains.pc: Libs");
    ck_assert_msg(strstr(text, "Libs.private: -lpng -ljpeg -lz -lm -pthread\n"), "ugains.pc: Libs.private");
    ck_assert_msg(strstr(text, "Cflags: -I${includedir}\n"), "ugains.pc: Cflags");
    free(pc);
    free(text);
    // The installed binary prints the same version.
    char *bin = installed("bin/ugains"), *out = tmp_file("version.txt");
    const char *argv[] = {bin, "--version", NULL};
    ck_assert_int_eq(run_prog(argv, out, NULL, NULL), 0);
    char *v = test_read_text(out);
    snprintf(line, sizeof line, "ugains %s\ncuda: ", UGAINS_VERSION); // then whether CUDA is built in
    ck_assert_msg(!strncmp(v, line, strlen(line)), "--version printed '%s'", v);
    free(v);
    free(bin);
    free(out);
}
END_TEST

START_TEST(shared_library_soname_and_exports) {
    require_install();
    char cmd[8192], *out = tmp_file("readelf.txt");
    snprintf(cmd, sizeof cmd, "readelf -d '%s/lib/libugains.so.%s'", g_prefix, UGAINS_VERSION);
    ck_assert_int_eq(run_sh(cmd, out, NULL, NULL), 0);
    char *text = test_read_text(out), want[64];
    snprintf(want, sizeof want, "Library soname: [libugains.so.%d]", UGAINS_VERSION_MAJOR);
    ck_assert_msg(strstr(text, want), "readelf -d shows no '%s':\n%s", want, text);
    free(text);
    // Only the public API is exported (defined dynamic symbols).
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s/lib/libugains.so.%s'", g_prefix, UGAINS_VERSION);
    ck_assert_int_eq(run_sh(cmd, out, NULL, NULL), 0);
    text = test_read_text(out);
    int exported = 0;
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        const char *name = strrchr(l, ' ');
        name = name ? name + 1 : l;
        ck_assert_msg(!strncmp(name, "ugains_", 7), "libugains.so exports %s", name);
        exported++;
    }
    ck_assert_int_ge(exported, 15);
    free(text);
    free(out);
    // dlopen by the soname's file, as the dynamic linker finds it.
    char path[4400];
    snprintf(path, sizeof path, "%s/lib/libugains.so.%d", g_prefix, UGAINS_VERSION_MAJOR);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
    const char *(*version)(void) = (const char *(*)(void))dlsym(h, "ugains_version");
    ck_assert_msg(version != NULL, "no ugains_version in %s", path);
    ck_assert_str_eq(version(), UGAINS_VERSION);
    const char *hidden[] = {"ug_ctx_init", "rba_load", "sam_load", "ugains_run_image", "gemm_cpu_serial"};
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
        ck_assert_msg(dlsym(h, hidden[i]) == NULL, "libugains.so exports the internal %s", hidden[i]);
    ck_assert_ptr_nonnull(dlsym(h, "ugains_open"));
    dlclose(h);
}
END_TEST

// ---- the example against the installed tree ----

// What the demo prints, from the same run through the API in this process.
static char *expected_output(void) {
    ugains_options opt;
    ugains_options_default(&opt);
    opt.threads = atoi(DEMO_THREADS);
    opt.points = atoi(DEMO_POINTS);
    opt.threshold = strtof(DEMO_THRESHOLD, NULL);
    ugains_model *m = NULL;
    ugains_output *o = NULL;
    ugains_error err;
    uint8_t *rgb = NULL;
    int h, w;
    ck_assert_msg(ugains_open(g_rba, g_sam, &opt, &m, &err) == UGAINS_OK, "ugains_open: %s", err.message);
    ck_assert_msg(ugains_image_read(g_img, UGAINS_IMAGE_RGB, &rgb, &h, &w, &err) == UGAINS_OK, "%s",
                  err.message);
    ck_assert_msg(ugains_run(m, rgb, h, w, NULL, &o, &err) == UGAINS_OK, "ugains_run: %s", err.message);
    ck_assert_int_eq(err.code, UGAINS_OK);
    int oh, ow;
    ugains_output_size(o, &oh, &ow);
    ck_assert_int_eq(oh, h);
    ck_assert_int_eq(ow, w);
    // The maps are the pipeline's: U is golden rba_tiny's (1e-4, as test_rba holds it).
    ug_tensor want = rba_golden("img0_1dl_rba_score");
    ck_assert_int_eq(ug_tensor_numel(&want), (int64_t)h * w);
    test_assert_close(ugains_output_rba_score(o), want.data, (size_t)h * w, 1e-4, 1e-4, "img0_1dl_rba_score");
    ug_tensor_free(&want);
    ck_assert_ptr_nonnull(ugains_output_refined(o));
    ck_assert_ptr_nonnull(ugains_output_semantic(o));
    ck_assert_int_eq(ugains_output_num_points(o), atoi(DEMO_POINTS));
    int n = ugains_output_count(o);
    ck_assert_int_ge(n, 1);
    size_t cap = 4096 + (size_t)n * 160, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "image %s: %dx%d, %d points, %d instances\n", g_img, w, h,
                            ugains_output_num_points(o), n);
    uint8_t *mask = malloc((size_t)h * w);
    for (int i = 0; i < n; i++) {
        ugains_instance in;
        ck_assert_int_eq(ugains_output_instance(o, i, &in), UGAINS_OK);
        ck_assert_int_eq(ugains_output_mask(o, i, mask), UGAINS_OK);
        int64_t area = 0;
        for (int64_t p = 0; p < (int64_t)h * w; p++)
            area += mask[p];
        ck_assert_int_eq(area, in.area);
        len += (size_t)snprintf(text + len, cap - len,
                                "instance %d: score %.9g point %.1f,%.1f bbox %d,%d,%d,%d area %lld\n", i,
                                in.score, in.point[0], in.point[1], in.bbox[0], in.bbox[1], in.bbox[2],
                                in.bbox[3], (long long)in.area);
    }
    ugains_instance in;
    ck_assert_int_eq(ugains_output_instance(o, n, &in), UGAINS_ERR_ARG);
    ck_assert_int_eq(ugains_output_mask(o, -1, mask), UGAINS_ERR_ARG);
    free(mask);
    ugains_output_free(o);
    ugains_image_free(rgb);
    ugains_close(m);
    return text;
}

// Compares the demo's output with the API's line by line: the same lines, scores within 1e-5
// (the shared library's objects are compiled apart from the static ones).
static void compare_outputs(const char *what, char *got, char *want) {
    char *sg, *sw;
    char *lg = strtok_r(got, "\n", &sg), *lw = strtok_r(want, "\n", &sw);
    int line = 1;
    for (; lg && lw; lg = strtok_r(NULL, "\n", &sg), lw = strtok_r(NULL, "\n", &sw), line++) {
        const char *pg = strstr(lg, "score "), *pw = strstr(lw, "score ");
        if (!pg || !pw) {
            ck_assert_msg(!strcmp(lg, lw), "%s line %d: '%s', API: '%s'", what, line, lg, lw);
            continue;
        }
        ck_assert_msg(pg - lg == pw - lw && !strncmp(lg, lw, (size_t)(pg - lg)),
                      "%s line %d: '%s', API: '%s'", what, line, lg, lw);
        char *eg, *ew;
        double a = strtod(pg + 6, &eg), b = strtod(pw + 6, &ew);
        ck_assert_msg(fabs(a - b) <= 1e-5, "%s line %d: score %.9g, API %.9g", what, line, a, b);
        ck_assert_msg(!strcmp(eg, ew), "%s line %d: '%s', API: '%s'", what, line, lg, lw);
    }
    ck_assert_msg(!lg && !lw, "%s: %s lines than the API's", what, lg ? "more" : "fewer");
}

START_TEST(example_builds_and_runs_against_the_installed_tree) {
    require_install();
    test_require_golden();
    ck_assert_msg(g_packed, "golden tiny weights could not be packed (see stderr)");
    char *want = expected_output();
    char pkg_env[4400], cmd[16384];
    snprintf(pkg_env, sizeof pkg_env, "PKG_CONFIG_PATH=%s/lib/pkgconfig", g_prefix);
    const char *env[] = {pkg_env, NULL};
    const char *cc = compiler();
    const char *flags = "-std=c11 -O1 -Wall -Wextra -Wpedantic -Werror";
    const char *san = SANITIZED ? SAN_FLAGS : "";
    struct {
        const char *name, *libs;
    } kinds[2] = {{"shared", "$(pkg-config --libs ugains)"},
                  // static: libugains.a by file name, then what it needs (Libs.private)
                  {"static", "$(pkg-config --static --libs ugains | sed 's/-lugains/-l:libugains.a/')"}};
    for (int k = 0; k < 2; k++) {
        char *exe = tmp_file(kinds[k].name), *log = tmp_file("cc.log"), *out = tmp_file("demo.txt");
        snprintf(cmd, sizeof cmd,
                 "%s %s %s apps/examples/ugains_demo.c $(pkg-config --cflags ugains) %s -o '%s'", cc, flags,
                 san, kinds[k].libs, exe);
        int rc = run_sh(cmd, log, log, env);
        char *text = slurp(log);
        ck_assert_msg(rc == 0, "%s: exit %d:\n%s", cmd, rc, text);
        free(text);
        // Linked as asked: the shared one needs libugains.so.X, the static one does not.
        snprintf(cmd, sizeof cmd, "readelf -d '%s'", exe);
        ck_assert_int_eq(run_sh(cmd, out, NULL, NULL), 0);
        text = slurp(out);
        char needed[64];
        snprintf(needed, sizeof needed, "[libugains.so.%d]", UGAINS_VERSION_MAJOR);
        ck_assert_msg((strstr(text, needed) != NULL) == (k == 0), "%s demo: NEEDED %s is %s", kinds[k].name,
                      needed, k == 0 ? "missing" : "there");
        free(text);
        // Run it: the shared one finds the library through LD_LIBRARY_PATH only.
        char ld[4400];
        snprintf(ld, sizeof ld, "LD_LIBRARY_PATH=%s/lib", g_prefix);
        const char *run_env[] = {k == 0 ? ld : "LD_LIBRARY_PATH", NULL};
        const char *argv[] = {exe,           "--threads",    DEMO_THREADS, "--points", DEMO_POINTS,
                              "--threshold", DEMO_THRESHOLD, g_rba,        g_sam,      g_img,
                              NULL};
        rc = run_prog(argv, out, log, run_env);
        char *errs = slurp(log);
        ck_assert_msg(rc == 0, "%s demo exited %d: %s", kinds[k].name, rc, errs);
        ck_assert_msg(errs[0] == '\0', "%s demo printed on stderr: %s", kinds[k].name, errs);
        free(errs);
        char *got = slurp(out), *w = strdup(want);
        compare_outputs(kinds[k].name, got, w);
        free(got);
        free(w);
        free(exe);
        free(log);
        free(out);
    }
    free(want);
}
END_TEST

// ---- errors: codes and one line, nothing printed ----

START_TEST(api_errors_are_codes_and_one_line) {
    ugains_model *m = (ugains_model *)1;
    ugains_error err;
    // The library prints nothing: stderr goes to a file for the calls below.
    char *errf = tmp_file("api_stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    ck_assert(freopen(errf, "w", stderr) != NULL);
    ugains_status st =
        ugains_open("/nonexistent/rba.safetensors", "/nonexistent/sam.safetensors", NULL, &m, &err);
    ck_assert_int_eq(st, UGAINS_ERR_IO);
    ck_assert_int_eq(err.code, UGAINS_ERR_IO);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.message, "/nonexistent/rba.safetensors"), "message: %s", err.message);
    ck_assert_ptr_null(strchr(err.message, '\n'));
    ck_assert_str_eq(ugains_status_name(UGAINS_ERR_IO), "i/o error");
    ugains_options opt;
    ugains_options_default(&opt);
    ck_assert_int_eq(opt.points, 50);
    ck_assert_float_eq(opt.nms, 0.7f);
    ck_assert_int_eq(opt.ignore_overlap, 100);
    opt.nms = 2;
    ck_assert_int_eq(ugains_open("a", "b", &opt, &m, &err), UGAINS_ERR_ARG);
    ck_assert_msg(strstr(err.message, "nms"), "message: %s", err.message);
    ugains_options_default(&opt);
    opt.points = 0;
    ck_assert_int_eq(ugains_open("a", "b", &opt, &m, NULL), UGAINS_ERR_ARG); // err may be NULL
    ck_assert_int_eq(ugains_open(g_tmp, g_tmp, NULL, &m, &err), UGAINS_ERR_IO);
    ck_assert_msg(strstr(err.message, "directory"), "message: %s", err.message);
    // A file that is not packed weights.
    char *junk = tmp_file("junk.safetensors");
    test_write_file(junk, "not weights", 11);
    st = ugains_open(junk, junk, NULL, &m, &err);
    ck_assert_int_ne(st, UGAINS_OK);
    ck_assert_int_eq(err.code, st);
    ck_assert_msg(strstr(err.message, "junk.safetensors"), "message: %s", err.message);
    ugains_output *o = (ugains_output *)1;
    uint8_t px[3] = {0};
    ck_assert_int_eq(ugains_run(NULL, px, 1, 1, NULL, &o, &err), UGAINS_ERR_ARG);
    ck_assert_ptr_null(o);
    uint8_t *pixels = (uint8_t *)1;
    int h = -1, w = -1;
    ck_assert_int_eq(ugains_image_read(junk, UGAINS_IMAGE_RGB, &pixels, &h, &w, &err), UGAINS_ERR_FORMAT);
    ck_assert_ptr_null(pixels);
    ck_assert_int_eq(h, 0);
    ck_assert_int_eq(ugains_image_read("/nonexistent.png", UGAINS_IMAGE_GRAY, &pixels, &h, &w, &err),
                     UGAINS_ERR_IO);
    // NULL handles are no-ops or zeros.
    ugains_close(NULL);
    ugains_output_free(NULL);
    ugains_image_free(NULL);
    ck_assert_int_eq(ugains_output_count(NULL), 0);
    ck_assert_ptr_null(ugains_output_rba_score(NULL));
    ug_warn("a library warning nobody asked for"); // dropped once the API is in use
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *printed = slurp(errf);
    ck_assert_msg(printed[0] == '\0', "the library printed: %s", printed);
    free(printed);
    free(errf);
    free(junk);
    ck_assert_str_eq(ugains_version(), UGAINS_VERSION);
}
END_TEST

typedef struct log_seen {
    int n;
    ugains_log_level level;
    char last[256];
} log_seen;

static void on_log(void *user, ugains_log_level level, const char *message) {
    log_seen *s = user;
    s->n++;
    s->level = level;
    snprintf(s->last, sizeof s->last, "%s", message);
}

START_TEST(log_messages_go_to_the_callback) {
    log_seen s = {0};
    ugains_set_log(on_log, &s, UGAINS_LOG_WARN);
    ug_warn("warning %d", 7);
    ug_info("a note above max_level");
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.level, UGAINS_LOG_WARN);
    ck_assert_str_eq(s.last, "warning 7");
    ugains_set_log(on_log, &s, UGAINS_LOG_INFO);
    ug_info("a note");
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.last, "a note");
    ugains_set_log(NULL, NULL, UGAINS_LOG_WARN); // off again
    ug_warn("dropped");
    ck_assert_int_eq(s.n, 2);
}
END_TEST

START_TEST(api_runs_with_an_ignore_mask_and_checks_sizes) {
    test_require_golden();
    ck_assert_msg(g_packed, "golden tiny weights could not be packed (see stderr)");
    ugains_options opt;
    ugains_options_default(&opt);
    opt.threads = 2;
    opt.points = 3;
    opt.threshold = -1e9f;
    ugains_model *m;
    ugains_error err;
    ck_assert_msg(ugains_open(g_rba, g_sam, &opt, &m, &err) == UGAINS_OK, "%s", err.message);
    uint8_t *rgb;
    int h, w;
    ck_assert_int_eq(ugains_image_read(g_img, UGAINS_IMAGE_RGB, &rgb, &h, &w, &err), UGAINS_OK);
    ugains_output *o;
    ck_assert_int_eq(ugains_run(m, rgb, 0, w, NULL, &o, &err), UGAINS_ERR_ARG);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(ugains_run(m, NULL, h, w, NULL, &o, &err), UGAINS_ERR_ARG);
    // Everything ignored: every mask overlaps the ignore mask, no instance; U still there.
    uint8_t *ignore = malloc((size_t)h * w);
    memset(ignore, 1, (size_t)h * w);
    ck_assert_msg(ugains_run(m, rgb, h, w, ignore, &o, &err) == UGAINS_OK, "%s", err.message);
    ck_assert_int_eq(ugains_output_count(o), 0);
    ck_assert_ptr_nonnull(ugains_output_rba_score(o));
    ugains_output_free(o);
    free(ignore);
    ugains_image_free(rgb);
    ugains_close(m);
}
END_TEST

START_TEST(example_help_and_errors) {
    require_install();
    // The in-tree build of the example (make examples) is not needed: the installed one is
    // compiled here once more, shared.
    char *exe = tmp_file("demo_err"), *log = tmp_file("cc_err.log"), cmd[8192];
    char pkg_env[4400];
    snprintf(pkg_env, sizeof pkg_env, "PKG_CONFIG_PATH=%s/lib/pkgconfig", g_prefix);
    const char *env[] = {pkg_env, NULL};
    snprintf(
        cmd, sizeof cmd,
        "%s %s apps/examples/ugains_demo.c $(pkg-config --cflags --libs ugains) -Wl,-rpath,'%s/lib' -o '%s'",
        compiler(), SANITIZED ? SAN_FLAGS : "", g_prefix, exe);
    int rc = run_sh(cmd, log, log, env);
    char *text = slurp(log);
    ck_assert_msg(rc == 0, "%s: exit %d:\n%s", cmd, rc, text);
    free(text);
    char *out = tmp_file("help.txt"), *errf = tmp_file("err.txt");
    const char *help[] = {exe, "--help", NULL};
    ck_assert_int_eq(run_prog(help, out, errf, NULL), 0);
    text = slurp(out);
    ck_assert_msg(strstr(text, "usage: ugains_demo") && strstr(text, UGAINS_VERSION), "help: %s", text);
    free(text);
    const char *const bad[][5] = {
        {exe, NULL},
        {exe, "--points", "0", "a", NULL},
        {exe, "--bogus", NULL},
        {exe, "/nonexistent/rba", "/nonexistent/sam", "/nonexistent.png", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(run_prog(bad[i], out, errf, NULL), 1);
        text = slurp(errf);
        size_t n = strlen(text);
        ck_assert_msg(n > 12 && !strncmp(text, "ugains_demo: ", 13) && strchr(text, '\n') == text + n - 1,
                      "case %zu: not one line: '%s'", i, text);
        free(text);
    }
    free(exe);
    free(log);
    free(out);
    free(errf);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "install", .setup_once = setup, .teardown_once = teardown, .timeout = 240},
        &s);
    test_add(tc, installs_every_file, shared_library_soname_and_exports, api_errors_are_codes_and_one_line,
             log_messages_go_to_the_callback, api_runs_with_an_ignore_mask_and_checks_sizes,
             example_builds_and_runs_against_the_installed_tree, example_help_and_errors);
    return test_run_suite(s);
}
