// tests/helpers.h — shared test utilities: seeded random data, tolerance checks that say
// where they failed, golden-file paths, temporary directories, running a Check suite.
#ifndef UG_TEST_HELPERS_H
#define UG_TEST_HELPERS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/ctx.h"
#include "engine/tensor.h"

// Deterministic PRNG (splitmix64) so every failure reproduces.
typedef struct test_rng {
    uint64_t s;
} test_rng;
test_rng test_rng_seed(uint64_t seed);
uint64_t test_rng_u64(test_rng *r);
float test_rng_uniform(test_rng *r, float lo, float hi);
float test_rng_normal(test_rng *r); // mean 0, std 1
void test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);
void test_fill_normal(float *x, size_t n, float std, uint64_t seed);

// Max |got - want| > atol + rtol * |want| anywhere -> Check failure naming `what`, the worst
// index and both values. NaN in got where want is finite fails too. Returns max abs error.
// Copies any strided host F32 view t into dst[numel] in row-major order (a broadcast view
// materialised, for references that take dense arrays).
void test_materialise_f32(float *dst, const ug_tensor *t);
// n N(0, 1) floats from seed (malloc'ed, at least one element; the caller frees).
float *test_normal_f32(int64_t n, uint64_t seed);
double test_assert_close(const float *got, const float *want, size_t n, double atol, double rtol,
                         const char *what);

// Double references on rows of C (or in) values. test_layernorm_f64: y[r, :] = layer norm of
// x[r, :] (mean and biased variance in double, eps) * w + b; y may be x. test_linear_f64:
// y[r, o] = b[o] (0 when b is NULL) + sum_i W[o, i] x[r, i], summed in order of i.
void test_layernorm_f64(double *y, const double *x, int64_t rows, int64_t C, const float *w, const float *b,
                        double eps);
void test_linear_f64(double *y, const double *x, int64_t rows, int64_t in, int64_t out, const float *W,
                     const float *b);

// Absolute path (malloc'ed) of a file under the golden set: $UGAINS_GOLDEN or ../shared/golden.
char *test_golden_path(const char *rel);
bool test_golden_available(void);
// Fails the running test when the golden set is missing: a golden test that cannot find its
// files must not pass.
void test_require_golden(void);

// Reads a .npy file; aborts the test naming the file and the problem when it cannot.
ug_tensor test_load_npy(const char *path);
// test_load_npy of golden/<rel>.
ug_tensor test_golden_npy(const char *rel);

// A context made before each test and freed after it: register with
// tcase_add_checked_fixture(tc, test_ctx_setup, test_ctx_teardown). test_ctx_setup gives it
// 2 workers; test_ctx_setup_odd gives it 3, so work splits unevenly across threads.
extern ug_ctx test_ctx;
void test_ctx_setup(void);
void test_ctx_setup_odd(void);
void test_ctx_teardown(void);

// mkdtemp under $TMPDIR or /tmp; remove recursively afterwards.
char *test_tmpdir(void);
void test_rmtree(const char *path);
// test_rmtree(*dir) when *dir is set, then free(*dir) and *dir = NULL (a fixture's teardown).
void test_tmpdir_remove(char **dir);
// dir + "/" + name (malloc'ed).
char *test_path_join(const char *dir, const char *name);
// Entries of a folder other than . and .. (dot files included); -1 when it cannot be opened.
int test_count_entries(const char *dir);
// Writes bytes to path (aborts the test on failure).
void test_write_file(const char *path, const void *data, size_t n);
// Reads a whole file (malloc'ed); *n gets the size. NULL if it cannot be read.
void *test_read_file(const char *path, size_t *n);

// Reads a whole text file as a NUL-terminated string (malloc'ed); fails the test when the
// file cannot be read.
char *test_read_text(const char *path);

// true when v is one of l[0..n).
bool test_i32_contains(const int32_t *l, int64_t n, int32_t v);

// Runs a suite with CK_NORMAL output; returns the process exit status.
int test_run_suite(Suite *s);

// The usual suite: one test case, its fixtures and timeout. A main then reads
//   TCase *tc = test_case(&(test_case_def){.name = "gemm", .setup = test_ctx_setup, .teardown =
//   test_ctx_teardown}, &s); test_add(tc, a, b, c); return test_run_suite(s);
typedef struct test_case_def {
    const char *name;            // the suite's and the case's name
    void (*setup)(void);         // checked fixture: around each test, in its fork (or NULL)
    void (*teardown)(void);      //
    void (*setup_once)(void);    // unchecked fixture: once, in the parent (or NULL)
    void (*teardown_once)(void); //
    int timeout;                 // seconds; 0 keeps Check's default
} test_case_def;

// A new suite *s holding one new case made as def says; returns the case.
TCase *test_case(const test_case_def *def, Suite **s);
// Adds the tests (START_TEST names) to tc in order.
void test_add_n(TCase *tc, const TTest *const *tests, size_t n);
#define test_add(tc, ...)                                                                                    \
    test_add_n(tc, (const TTest *const[]){__VA_ARGS__},                                                      \
               sizeof((const TTest *const[]){__VA_ARGS__}) / sizeof(const TTest *))

#endif
