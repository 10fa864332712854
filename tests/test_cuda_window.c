// tests/test_cuda_window.c — the CUDA window gather, pad zeroing, scatter-add and PatchMerging
// gather (ops/cuda/window.cu) against the references of ops/window.h under every emulator
// schedule.
//   sizes [H, W, C, ws]: 1x1x1 ws 1; 3x17 C 3 ws 3; 17x33 C 17 ws 7; 33x3 C 33 ws 5; 12x24 C 8
//   ws 12 (one window); Swin-like ws 7 on 20x15 and 9x23 (not multiples of 7) and 14x14, C 8 / 12
//   (the 16-byte path) and 5; every shift for ws <= 5, else 0, 1 and ws / 2 (3 for ws 7).
//   Chunks of 1, 3 and all windows (w0 moves across the kind boundaries); the chunk is the head
//   of a bigger buffer whose other rows must stay as they were, and one map starts 4 bytes off
//   16-byte alignment (the scalar path with C % 4 == 0).
//   patch_merge_gather: odd and even H, W, C 1..33, chunks of 1, 7 and all merged tokens.
// Plus the errors: an operand on the CPU, a non-contiguous map, shift >= ws, windows past the map.
// The ops move floats and scatter-add does one add per element as the reference: every result
// is compared exactly (cut_check_exact) and bit-identical across schedules.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/window.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static float *normal(int64_t n, uint64_t seed) {
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    test_fill_normal(p, (size_t)n, 1.0f, seed);
    return p;
}

// A device F32 tensor [ndim, shape] holding v, at element `off` of a bigger buffer (*buf owns
// it): off 1 puts a 16-byte aligned buffer 4 bytes off.
static ug_tensor upload_at(const float *v, int ndim, const int64_t *shape, int64_t off, ug_tensor *buf) {
    ug_tensor t = ug_tensor_wrap((void *)v, UG_F32, ndim, shape);
    int64_t n = ug_tensor_numel(&t);
    float *tmp = malloc((size_t)(n + off + 1) * sizeof *tmp);
    memset(tmp, 0, (size_t)(n + off + 1) * sizeof *tmp);
    memcpy(tmp + off, v, (size_t)n * sizeof *tmp);
    ug_tensor flat = ug_tensor_wrap(tmp, UG_F32, UG_DIMS(n + off + 1));
    *buf = cut_upload(&flat);
    free(tmp);
    int64_t stride[5], s = 1;
    for (int d = ndim - 1; d >= 0; d--)
        stride[d] = s, s *= shape[d];
    return ug_view_strided(buf, off, ndim, shape, stride);
}

// The whole buffer *buf (n + off + 1 floats) must hold want at off, zeros around it.
static void check_at(const ug_tensor *buf, const float *want, int64_t n, int64_t off, ug_tensor *first,
                     const char *what) {
    float *all = calloc((size_t)(n + off + 1), sizeof *all);
    memcpy(all + off, want, (size_t)n * sizeof *all);
    cut_check_exact(buf, all, first, what);
    free(all);
}

// Gather, zero pads and scatter-add of windows [w0, w0 + nb) chunk by chunk, as Swin runs
// them, each against its reference; the chunk is the head of a buffer of `chunk` windows whose
// other rows start random and must stay so. The map carries the scatter-adds from chunk to chunk.
static void window_case(int64_t H, int64_t W, int64_t C, int64_t ws, int64_t shift, int64_t chunk,
                        int64_t off, uint64_t seed) {
    int64_t N = ws * ws, nW = ((H + ws - 1) / ws) * ((W + ws - 1) / ws), nx = H * W * C;
    chunk = chunk < nW ? chunk : nW;
    int64_t nbuf = chunk * N * C;
    float *map = normal(nx, seed), *next = malloc((size_t)nx * sizeof *next);
    float *gwant = malloc((size_t)nbuf * sizeof *gwant), *zwant = malloc((size_t)nbuf * sizeof *zwant);
    for (int64_t w0 = 0; w0 < nW; w0 += chunk) {
        int64_t nb = nW - w0 < chunk ? nW - w0 : chunk;
        float *ybefore = normal(nbuf, seed + 7 * (uint64_t)w0 + 1),
              *znew = normal(nbuf, seed + 7 * (uint64_t)w0 + 2);
        memcpy(gwant, ybefore, (size_t)nbuf * sizeof *gwant);
        window_gather_ref(gwant, map, H, W, C, ws, shift, w0, nb);
        memcpy(zwant, znew, (size_t)nbuf * sizeof *zwant);
        window_zero_pads_ref(zwant, H, W, C, ws, shift, w0, nb);
        memcpy(next, map, (size_t)nx * sizeof *next);
        window_scatter_add_ref(next, zwant, H, W, C, ws, shift, w0, nb);
        char what[160], w2[200];
        snprintf(what, sizeof what, "%lldx%lld C %lld ws %lld shift %lld, windows %lld..%lld of %lld%s",
                 (long long)H, (long long)W, (long long)C, (long long)ws, (long long)shift, (long long)w0,
                 (long long)(w0 + nb), (long long)nW, off ? ", unaligned" : "");
        ug_tensor fg = {0}, fz = {0}, fs = {0};
        for (int s = 0; s < cut_schedule_count(); s++) {
            cut_use_schedule(s);
            ug_tensor xb, yb, zb;
            ug_tensor dx = upload_at(map, UG_DIMS(H, W, C), off, &xb);
            ug_tensor dyall = upload_at(ybefore, UG_DIMS(chunk, N, C), 0, &yb),
                      dy = ug_view_slice(&dyall, 0, 0, nb);
            ug_tensor dzall = upload_at(znew, UG_DIMS(chunk, N, C), 0, &zb),
                      dz = ug_view_slice(&dzall, 0, 0, nb);
            window_gather_cuda(&cut_ctx, &dy, &dx, ws, shift, w0);
            snprintf(w2, sizeof w2, "window_gather %s", what);
            check_at(&yb, gwant, nbuf, 0, &fg, w2);
            window_zero_pads_cuda(&cut_ctx, &dz, H, W, ws, shift, w0);
            snprintf(w2, sizeof w2, "window_zero_pads %s", what);
            check_at(&zb, zwant, nbuf, 0, &fz, w2);
            window_scatter_add_cuda(&cut_ctx, &dx, &dz, ws, shift, w0);
            snprintf(w2, sizeof w2, "window_scatter_add %s", what);
            check_at(&xb, next, nx, off, &fs, w2);
            ug_tensor_free(&xb), ug_tensor_free(&yb), ug_tensor_free(&zb);
        }
        ug_tensor_free(&fg), ug_tensor_free(&fz), ug_tensor_free(&fs);
        memcpy(map, next, (size_t)nx * sizeof *map);
        free(ybefore), free(znew);
    }
    free(map), free(next), free(gwant), free(zwant);
}

static void merge_case(int64_t H, int64_t W, int64_t C, int64_t chunk, int64_t off, uint64_t seed);

static const int64_t sizes[][4] = {
    {1, 1, 1, 1},   {3, 17, 3, 3},  {17, 33, 17, 7}, {33, 3, 33, 5}, {12, 24, 8, 12},
    {20, 15, 8, 7}, {9, 23, 12, 7}, {14, 14, 5, 7},  {7, 7, 4, 7},
};

START_TEST(window_ops_vs_reference) {
    static const int64_t chunks[] = {1, 3, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int64_t H = sizes[k][0], W = sizes[k][1], C = sizes[k][2], ws = sizes[k][3];
        for (int64_t shift = 0; shift < ws; shift++) {
            if (ws > 5 && shift != 0 && shift != 1 && shift != ws / 2) continue;
            for (size_t c = 0; c < 3; c++)
                window_case(H, W, C, ws, shift, chunks[c], 0, 100 * k + (uint64_t)(shift * 3 + c));
        }
    }
}
END_TEST

// A map 4 bytes off 16-byte alignment with C % 4 == 0: the scalar path, same results.
START_TEST(window_ops_unaligned_map) {
    window_case(20, 15, 8, 7, 3, 4, 1, 7);
    window_case(9, 23, 12, 7, 0, 1000, 1, 8);
}
END_TEST

// More rows than warps in the grid (4096 blocks x 8): the grid-stride loops.
START_TEST(window_ops_many_rows) {
    window_case(200, 197, 1, 7, 3, 100000, 0, 9); // 841 windows x 49 rows
    merge_case(200, 181, 1, 100000, 0, 61);       // 9100 merged tokens x 4 rows
}
END_TEST

static void merge_case(int64_t H, int64_t W, int64_t C, int64_t chunk, int64_t off, uint64_t seed) {
    int64_t N2 = ((H + 1) / 2) * ((W + 1) / 2), nx = H * W * C;
    chunk = chunk < N2 ? chunk : N2;
    float *x = normal(nx, seed), *before = normal(chunk * 4 * C, seed + 1);
    for (int64_t t0 = 0; t0 < N2; t0 += chunk) {
        int64_t n = N2 - t0 < chunk ? N2 - t0 : chunk;
        float *want = malloc((size_t)(chunk * 4 * C) * sizeof *want);
        memcpy(want, before, (size_t)(chunk * 4 * C) * sizeof *want);
        patch_merge_gather_ref(want, x, H, W, C, t0, n);
        char what[128];
        snprintf(what, sizeof what, "patch_merge_gather %lldx%lld C %lld, tokens %lld..%lld%s", (long long)H,
                 (long long)W, (long long)C, (long long)t0, (long long)(t0 + n), off ? ", unaligned" : "");
        ug_tensor first = {0};
        for (int s = 0; s < cut_schedule_count(); s++) {
            cut_use_schedule(s);
            ug_tensor xb, yb;
            ug_tensor dx = upload_at(x, UG_DIMS(H, W, C), off, &xb);
            ug_tensor dyall = upload_at(before, UG_DIMS(chunk, 4 * C), 0, &yb),
                      dy = ug_view_slice(&dyall, 0, 0, n);
            patch_merge_gather_cuda(&cut_ctx, &dy, &dx, t0);
            check_at(&yb, want, chunk * 4 * C, 0, &first, what);
            ug_tensor_free(&xb), ug_tensor_free(&yb);
        }
        ug_tensor_free(&first);
        free(want);
    }
    free(x), free(before);
}

START_TEST(merge_vs_reference) {
    static const int64_t msizes[][3] = {{1, 1, 1},   {3, 17, 3},  {17, 33, 17},
                                        {33, 2, 33}, {16, 16, 8}, {15, 9, 4}};
    static const int64_t chunks[] = {1, 7, 100000};
    for (size_t k = 0; k < sizeof msizes / sizeof msizes[0]; k++)
        for (size_t c = 0; c < 3; c++)
            merge_case(msizes[k][0], msizes[k][1], msizes[k][2], chunks[c], 0, 40 + k * 3 + c);
    merge_case(15, 9, 4, 100000, 1, 60);
}
END_TEST

// ---- errors ----

static void expect_error(const char *op, const char *needle) {
    ug_err err;
    ck_assert_int_eq(ug_ctx_device_status(&cut_ctx, &err), UG_ERR_INTERNAL);
    ck_assert_msg(strstr(err.msg, op) && strstr(err.msg, needle), "unexpected error: %s", err.msg);
}

START_TEST(gather_rejects_host_map) {
    ug_tensor hx;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&hx, UG_F32, UG_DIMS(7, 7, 4), &err), UG_OK);
    ug_tensor dy = cut_empty(UG_F32, UG_DIMS(1, 49, 4));
    window_gather_cuda(&cut_ctx, &dy, &hx, 7, 3, 0);
    expect_error("cuda: window_gather", "not on the CUDA device");
    ug_tensor_free(&hx), ug_tensor_free(&dy);
}
END_TEST

START_TEST(gather_rejects_strided_map) {
    ug_tensor dx = cut_empty(UG_F32, UG_DIMS(7, 14, 4)), dy = cut_empty(UG_F32, UG_DIMS(1, 49, 4));
    ug_tensor half = ug_view_slice(&dx, 1, 0, 7);
    window_gather_cuda(&cut_ctx, &dy, &half, 7, 3, 0);
    expect_error("cuda: window_gather", "contiguous");
    ug_tensor_free(&dx), ug_tensor_free(&dy);
}
END_TEST

START_TEST(scatter_rejects_bad_shift) {
    ug_tensor dx = cut_empty(UG_F32, UG_DIMS(7, 7, 4)), dy = cut_empty(UG_F32, UG_DIMS(1, 49, 4));
    window_scatter_add_cuda(&cut_ctx, &dx, &dy, 7, 7, 0);
    expect_error("cuda: window_scatter_add", "shift");
    ug_tensor_free(&dx), ug_tensor_free(&dy);
}
END_TEST

START_TEST(zero_pads_rejects_windows_past_the_map) {
    ug_tensor dy = cut_empty(UG_F32, UG_DIMS(3, 49, 4));
    window_zero_pads_cuda(&cut_ctx, &dy, 8, 8, 7, 3, 2); // 4 windows, [2, 5) asked
    expect_error("cuda: window_zero_pads", "windows");
    ug_tensor_free(&dy);
}
END_TEST

START_TEST(merge_rejects_bad_width) {
    ug_tensor dx = cut_empty(UG_F32, UG_DIMS(4, 4, 3)), dy = cut_empty(UG_F32, UG_DIMS(4, 11));
    patch_merge_gather_cuda(&cut_ctx, &dy, &dx, 0);
    expect_error("cuda: patch_merge_gather", "4C");
    ug_tensor_free(&dx), ug_tensor_free(&dy);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cuda_window", .setup = cut_setup, .teardown = cut_teardown, .timeout = 600},
        &s);
    test_add(tc, window_ops_vs_reference, window_ops_unaligned_map, window_ops_many_rows, merge_vs_reference);
    TCase *te = tcase_create("cuda_window_errors");
    tcase_add_checked_fixture(te, cut_setup, cut_teardown_keep_error);
    tcase_add_test(te, gather_rejects_host_map);
    tcase_add_test(te, gather_rejects_strided_map);
    tcase_add_test(te, scatter_rejects_bad_shift);
    tcase_add_test(te, zero_pads_rejects_windows_past_the_map);
    tcase_add_test(te, merge_rejects_bad_width);
    suite_add_tcase(s, te);
    return test_run_suite(s);
}
