// tests/helpers.c — see helpers.h.
#include "tests/helpers.h"

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/npy.h"

test_rng test_rng_seed(uint64_t seed) {
    test_rng r = {seed * 0x9E3779B97F4A7C15ull + 1};
    return r;
}

uint64_t test_rng_u64(test_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float test_rng_uniform(test_rng *r, float lo, float hi) {
    double u = (double)(test_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(lo + (hi - lo) * u);
}

float test_rng_normal(test_rng *r) {
    double u1 = ((double)(test_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(test_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed) {
    test_rng r = test_rng_seed(seed);
    for (size_t i = 0; i < n; i++)
        x[i] = test_rng_uniform(&r, lo, hi);
}

void test_fill_normal(float *x, size_t n, float std, uint64_t seed) {
    test_rng r = test_rng_seed(seed);
    for (size_t i = 0; i < n; i++)
        x[i] = std * test_rng_normal(&r);
}

double test_assert_close(const float *got, const float *want, size_t n, double atol, double rtol,
                         const char *what) {
    double max_err = 0.0, worst_excess = 0.0;
    size_t worst = 0;
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double err = fabs(g - w);
        if (isnan(w) && isnan(g)) continue;
        if (isnan(err) || isinf(err)) err = INFINITY;
        if (err > max_err) max_err = err;
        double excess = err - (atol + rtol * fabs(w));
        if (excess > 0 && (!bad || excess > worst_excess)) {
            bad = true;
            worst_excess = excess;
            worst = i;
        }
    }
    ck_assert_msg(!bad,
                  "%s: %zu elements, worst at %zu: got %.9g want %.9g (atol %g rtol %g, max abs err %g)",
                  what, n, worst, (double)got[worst], (double)want[worst], atol, rtol, max_err);
    return max_err;
}

char *test_golden_path(const char *rel) {
    const char *root = getenv("UGAINS_GOLDEN");
    if (!root || !*root) root = "../shared/golden";
    size_t n = strlen(root) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p) abort(); // usable outside a Check test (e.g. from main) too
    snprintf(p, n, "%s/%s", root, rel);
    return p;
}

bool test_golden_available(void) {
    char *p = test_golden_path("README.md");
    bool ok = access(p, R_OK) == 0;
    free(p);
    return ok;
}

ug_tensor test_load_npy(const char *path) {
    ug_tensor t;
    ug_err err;
    ug_status st = ug_npy_read(path, &t, &err);
    ck_assert_msg(st == UG_OK, "%s: %s", path, err.msg);
    return t;
}

ug_tensor test_golden_npy(const char *rel) {
    char *p = test_golden_path(rel);
    ug_tensor t = test_load_npy(p);
    free(p);
    return t;
}

void test_layernorm_f64(double *y, const double *x, int64_t rows, int64_t C, const float *w, const float *b,
                        double eps) {
    for (int64_t r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (int64_t c = 0; c < C; c++)
            m += x[r * C + c];
        m /= (double)C;
        for (int64_t c = 0; c < C; c++)
            v += (x[r * C + c] - m) * (x[r * C + c] - m);
        v /= (double)C;
        for (int64_t c = 0; c < C; c++)
            y[r * C + c] = (x[r * C + c] - m) / sqrt(v + eps) * w[c] + b[c];
    }
}

void test_linear_f64(double *y, const double *x, int64_t rows, int64_t in, int64_t out, const float *W,
                     const float *b) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int64_t i = 0; i < in; i++)
                s += x[r * in + i] * W[o * in + i];
            y[r * out + o] = s;
        }
}

ug_ctx test_ctx;

static void ctx_setup(int threads) {
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&test_ctx, threads, &err), UG_OK);
}

void test_ctx_setup(void) {
    ctx_setup(2);
}
void test_ctx_setup_odd(void) {
    ctx_setup(3);
}
void test_ctx_teardown(void) {
    ug_ctx_free(&test_ctx);
}

void test_require_golden(void) {
    char *p = test_golden_path("README.md");
    bool ok = access(p, R_OK) == 0;
    ck_assert_msg(ok, "golden set missing: cannot read %s (set UGAINS_GOLDEN)", p);
    free(p);
}

char *test_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t n = strlen(base) + 32;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/ugains-test-XXXXXX", base);
    ck_assert_msg(mkdtemp(p) != NULL, "mkdtemp failed under %s", base);
    return p;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_rmtree(const char *path) {
    if (path) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void test_tmpdir_remove(char **dir) {
    test_rmtree(*dir);
    free(*dir);
    *dir = NULL;
}

char *test_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int test_count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

void test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_msg(fwrite(data, 1, n, f) == n, "short write to %s", path);
    fclose(f);
}

void *test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *n = (size_t)size;
    return buf;
}

char *test_read_text(const char *path) {
    size_t n = 0;
    char *t = test_read_file(path, &n);
    ck_assert_msg(t != NULL, "%s missing", path);
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, t, n);
    s[n] = '\0';
    free(t);
    return s;
}

bool test_i32_contains(const int32_t *l, int64_t n, int32_t v) {
    for (int64_t i = 0; i < n; i++)
        if (l[i] == v) return true;
    return false;
}

int test_run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

TCase *test_case(const test_case_def *def, Suite **s) {
    *s = suite_create(def->name);
    TCase *tc = tcase_create(def->name);
    if (def->setup_once || def->teardown_once)
        tcase_add_unchecked_fixture(tc, def->setup_once, def->teardown_once);
    if (def->setup || def->teardown) tcase_add_checked_fixture(tc, def->setup, def->teardown);
    if (def->timeout > 0) tcase_set_timeout(tc, def->timeout);
    suite_add_tcase(*s, tc);
    return tc;
}

void test_add_n(TCase *tc, const TTest *const *tests, size_t n) {
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
}

void test_materialise_f32(float *dst, const ug_tensor *t) {
    int64_t n = ug_tensor_numel(t), idx[UG_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        dst[i] = *(const float *)ug_tensor_ptr(t, idx);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

float *test_normal_f32(int64_t n, uint64_t seed) {
    float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
    test_fill_normal(x, (size_t)n, 1.0f, seed);
    return x;
}
