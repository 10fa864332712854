// tests/test_cuda_softmax.c — the CUDA softmax (ops/cuda/softmax.cu) against softmax_ref (double)
// under every emulator schedule, outputs bit-identical across schedules.
//   rows 1, 3, 17 x C 1, 3, 17, 33, 127, 1001 (one warp a row) and 2049, 3001 (one block a row),
//   logits N(0, 1) and N(0, 1e4) (the max subtraction), random -inf entries and a row of only -inf
//   (NaN, as PyTorch), a NaN or +inf entry (its row NaN), in place, a permuted and column-sliced
//   input view, an output view with a row stride, 5 dims.
// Tolerance atol 1e-7 + rtol 1e-5, as the CPU suite (tests/test_softmax.c): expf is within 2 ulp,
// the f32 row sum of up to 3001 positive terms is within ~1e-6 relative in practice (lane
// partials of <= 94 terms, then a 5-level tree), 1 / sum is one more rounding; a wrong max, a lost
// element or a row read at the wrong stride is off by far more.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/softmax.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static const double ATOL = 1e-7, RTOL = 1e-5;

// x [R, C] of N(0, std) values; every 7th row gets -inf entries when with_inf (and row 1, if any,
// only -inf).
static float *make_rows(int64_t R, int64_t C, float std, bool with_inf, uint64_t seed) {
    float *x = malloc((size_t)(R * C) * sizeof(float));
    test_fill_normal(x, (size_t)(R * C), std, seed);
    if (with_inf) {
        test_rng rng = test_rng_seed(seed + 1);
        for (int64_t r = 0; r < R; r += 7)
            for (int64_t c = 0; c < C; c++)
                if (test_rng_u64(&rng) % 3 == 0 && c != r % C) x[r * C + c] = -INFINITY;
        if (R > 1)
            for (int64_t c = 0; c < C; c++)
                x[C + c] = -INFINITY;
    }
    return x;
}

// x [R, C] through softmax_cuda out of place and in place, every schedule, against softmax_ref.
static void check_rows(const float *x, int64_t R, int64_t C, const char *what) {
    float *want = malloc((size_t)(R * C) * sizeof(float));
    softmax_ref(want, x, R, C);
    ug_tensor hx = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(R, C));
    ug_tensor first = {0}, first_ip = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, UG_DIMS(R, C));
        softmax_cuda(&cut_ctx, &dy, &dx);
        cut_check(&dy, want, ATOL, RTOL, &first, what);
        softmax_cuda(&cut_ctx, &dx, &dx);
        cut_check(&dx, want, ATOL, RTOL, &first_ip, what);
        ug_tensor_free(&dx), ug_tensor_free(&dy);
    }
    ug_tensor_free(&first), ug_tensor_free(&first_ip);
    free(want);
}

START_TEST(cuda_softmax_rows) {
    static const int64_t Rs[] = {1, 3, 17}, Cs[] = {1, 3, 17, 33, 127, 1001, 2049, 3001};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 8; c++)
            for (int kind = 0; kind < 3; kind++) {
                int64_t R = Rs[r], C = Cs[c];
                if (R == 17 && C > 1001 && kind > 0) continue; // the block path: one big case is enough
                float *x =
                    make_rows(R, C, kind == 1 ? 1e4f : 1.0f, kind == 2, (uint64_t)(r * 40 + c * 3 + kind));
                check_rows(x, R, C,
                           kind == 0   ? "softmax N(0,1)"
                           : kind == 1 ? "softmax N(0,1e4)"
                                       : "softmax -inf");
                free(x);
            }
}
END_TEST

START_TEST(cuda_softmax_special_rows) {
    // NaN and +inf make their row NaN; rows of one entry are 1; a row of only -inf is NaN.
    for (int w = 0; w < 2; w++) {
        int64_t R = 4, C = w ? 1500 : 40;
        float *x = make_rows(R, C, 1.0f, false, 90 + w);
        x[0 * C + 5] = NAN;
        x[2 * C + C - 1] = INFINITY;
        for (int64_t c = 0; c < C; c++)
            x[3 * C + c] = -INFINITY;
        float *want = malloc((size_t)(R * C) * sizeof(float));
        softmax_ref(want, x, R, C);
        for (int64_t c = 0; c < C; c++)
            want[c] = want[2 * C + c] = NAN; // the reference's NaN rows follow from the same rule
        ug_tensor hx = ug_tensor_wrap(x, UG_F32, UG_DIMS(R, C));
        ug_tensor first = {0};
        for (int s = 0; s < cut_schedule_count(); s++) {
            cut_use_schedule(s);
            ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, UG_DIMS(R, C));
            softmax_cuda(&cut_ctx, &dy, &dx);
            cut_check(&dy, want, ATOL, RTOL, &first, "softmax NaN / +inf / -inf rows");
            ug_tensor h = cut_download(&dy);
            const float *y = h.data;
            for (int64_t c = 0; c < C; c++)
                ck_assert(isnan(y[c]) && isnan(y[2 * C + c]) && isnan(y[3 * C + c]));
            ug_tensor_free(&h), ug_tensor_free(&dx), ug_tensor_free(&dy);
        }
        ug_tensor_free(&first);
        free(x), free(want);
    }
}
END_TEST

// Element i (row-major) of view v of a host buffer, through ug_tensor_ptr.
static float view_at(const ug_tensor *v, int64_t i) {
    int64_t idx[UG_MAX_DIMS];
    for (int d = v->ndim - 1; d >= 0; d--) {
        idx[d] = i % v->shape[d];
        i /= v->shape[d];
    }
    return *(const float *)ug_tensor_ptr(v, idx);
}

START_TEST(cuda_softmax_strided_views) {
    // x: a [2, 5, 3, 37] buffer seen as the permuted, column-sliced view [3, 2, 5, 30] (row stride
    // 37, leading strides out of order); y: a [30, 41] buffer seen as [3, 2, 5, 30] at column 6.
    const int64_t n = 2 * 5 * 3 * 37, ny = 30 * 41, rows = 30, C = 30;
    ug_tensor hb = cut_rand(UG_DIMS(2, 5, 3, 37), -4.0f, 4.0f, 17);
    ug_tensor hp = ug_view_permute(&hb, (int[]){2, 0, 1, 3});
    ug_tensor hv = ug_view_slice(&hp, 3, 4, 30);
    float xin[30 * 30], want[30 * 30];
    for (int64_t i = 0; i < rows * C; i++)
        xin[i] = view_at(&hv, i);
    softmax_ref(want, xin, rows, C);
    // want of the whole y buffer: NaN (the poison) outside the view.
    float *want_y = malloc((size_t)ny * sizeof(float));
    for (int64_t i = 0; i < ny; i++)
        want_y[i] = NAN;
    for (int64_t r = 0; r < rows; r++)
        memcpy(want_y + r * 41 + 6, want + r * C, (size_t)C * sizeof(float));
    // want of the x buffer after softmax in place on the view: the other columns unchanged.
    float *want_x = malloc((size_t)n * sizeof(float));
    memcpy(want_x, hb.data, (size_t)n * sizeof(float));
    ug_tensor hw = ug_tensor_wrap(want_x, UG_F32, UG_DIMS(2, 5, 3, 37));
    ug_tensor hwp = ug_view_permute(&hw, (int[]){2, 0, 1, 3});
    ug_tensor hwv = ug_view_slice(&hwp, 3, 4, 30);
    for (int64_t i = 0; i < rows * C; i++) {
        int64_t idx[4] = {i / 300, i / 150 % 2, i / 30 % 5, i % 30};
        *(float *)ug_tensor_ptr(&hwv, idx) = want[i];
    }
    ug_tensor first = {0}, first_ip = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor db = cut_upload(&hb), dyb = cut_empty(UG_F32, UG_DIMS(30, 41));
        ug_tensor dp = ug_view_permute(&db, (int[]){2, 0, 1, 3});
        ug_tensor dv = ug_view_slice(&dp, 3, 4, 30);
        ug_tensor dy = ug_view_strided(&dyb, 6, UG_DIMS(3, 2, 5, 30), (const int64_t[]){410, 205, 41, 1});
        softmax_cuda(&cut_ctx, &dy, &dv);
        cut_check(&dyb, want_y, ATOL, RTOL, &first, "softmax of a strided view into a strided view");
        softmax_cuda(&cut_ctx, &dv, &dv);
        cut_check(&db, want_x, ATOL, RTOL, &first_ip, "softmax in place on a strided view");
        ug_tensor_free(&db), ug_tensor_free(&dyb);
    }
    ug_tensor_free(&first), ug_tensor_free(&first_ip), ug_tensor_free(&hb);
    free(want_y), free(want_x);
}
END_TEST

START_TEST(cuda_softmax_five_dims) {
    const int64_t shape[5] = {2, 1, 3, 5, 7};
    ug_tensor hx = cut_rand(5, shape, -3.0f, 3.0f, 23);
    float want[2 * 3 * 5 * 7];
    softmax_ref(want, hx.data, 30, 7);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, 5, shape);
        softmax_cuda(&cut_ctx, &dy, &dx);
        cut_check(&dy, want, ATOL, RTOL, &first, "softmax of 5 dims");
        ug_tensor_free(&dx), ug_tensor_free(&dy);
    }
    ug_tensor_free(&first), ug_tensor_free(&hx);
}
END_TEST

// ---- errors: recorded on the context, no crash ----

START_TEST(cuda_softmax_cpu_operand_fails) {
    ug_tensor hx = cut_rand(UG_DIMS(3, 5), -1.0f, 1.0f, 3), dy = cut_empty(UG_F32, UG_DIMS(3, 5));
    softmax_cuda(&cut_ctx, &dy, &hx);
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "softmax") && strstr(err.msg, "not on the CUDA device"), "%s", err.msg);
    ug_tensor_free(&hx), ug_tensor_free(&dy);
}
END_TEST

START_TEST(cuda_softmax_bad_shape_fails) {
    ug_tensor dx = cut_empty(UG_F32, UG_DIMS(3, 5)), dy = cut_empty(UG_F32, UG_DIMS(3, 6));
    softmax_cuda(&cut_ctx, &dy, &dx);
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "softmax") && strstr(err.msg, "same shape"), "%s", err.msg);
    ug_tensor_free(&dx), ug_tensor_free(&dy);
}
END_TEST

START_TEST(cuda_softmax_column_stride_fails) {
    ug_tensor db = cut_empty(UG_F32, UG_DIMS(4, 6)), dy = cut_empty(UG_F32, UG_DIMS(6, 4));
    ug_tensor dt = ug_view_transpose(&db, 0, 1); // [6, 4], last stride 6
    softmax_cuda(&cut_ctx, &dy, &dt);
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "unit stride"), "%s", err.msg);
    ug_tensor_free(&db), ug_tensor_free(&dy);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cuda_softmax", .setup = cut_setup, .teardown = cut_teardown, .timeout = 600},
        &s);
    test_add(tc, cuda_softmax_rows, cuda_softmax_special_rows, cuda_softmax_strided_views,
             cuda_softmax_five_dims);
    TCase *tf = tcase_create("cuda_softmax_failure");
    tcase_add_checked_fixture(tf, cut_setup, cut_teardown_keep_error);
    test_add(tf, cuda_softmax_cpu_operand_fails, cuda_softmax_bad_shape_fails,
             cuda_softmax_column_stride_fails);
    suite_add_tcase(s, tf);
    return test_run_suite(s);
}
