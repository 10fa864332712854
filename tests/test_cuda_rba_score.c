// tests/test_cuda_rba_score.c — rba_score_cuda (ops/cuda/rba_score.cu) against rba_score_ref
// under every emulator schedule (built only with make CUDA=emu / CUDA=1).
//   rba_score: odd sizes (1, 3, 17, 33 and 127-pixel rows), Q across the 32-query tile, K across
//              the 32-class tile (K = 40), up- and downsampling, crops, exact class ties, a
//              strided logits view, semantic NULL, the size check and a device failure reaching
//              the returned status.
// Tolerance: score 1e-5 absolute + 1e-5 relative against the double reference, as for the CPU
// kernel (tests/test_rba.c): float sums over Q <= 40 products and K <= 40 classes, expf within
// 2 ulp; the score is at most Q in magnitude. Semantic maps: exact (random data has no
// near-ties at these seeds; exact ties are built in on purpose). Every output bit-identical
// across schedules.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/rba_score.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

// One case: logits [Q, K+1] (normal, std 2; when tie, column 1 copies column 0, so classes
// 0 and 1 tie exactly everywhere and class 0 must win), masks [Q, h, w] (std 3) upsampled to
// [Ht, Wt], cropped to [H, W]. strided: logits pass as every other row of a [2Q, K+1] tensor.
static void score_case(int64_t Q, int64_t K, int64_t h, int64_t w, int64_t Ht, int64_t Wt, int64_t H,
                       int64_t W, uint64_t seed, bool tie, bool strided, bool with_sem) {
    float *lg = malloc((size_t)(2 * Q * (K + 1)) * sizeof *lg),
          *mk = malloc((size_t)(Q * h * w) * sizeof *mk);
    test_fill_normal(lg, (size_t)(2 * Q * (K + 1)), 2.0f, seed);
    test_fill_normal(mk, (size_t)(Q * h * w), 3.0f, seed + 1);
    if (tie)
        for (int64_t r = 0; r < 2 * Q; r++)
            lg[r * (K + 1) + 1] = lg[r * (K + 1)];
    float *lq = malloc((size_t)(Q * (K + 1)) * sizeof *lq); // the logits the op sees, contiguous
    for (int64_t q = 0; q < Q; q++)
        memcpy(lq + q * (K + 1), lg + (strided ? 2 * q : q) * (K + 1), (size_t)(K + 1) * sizeof *lq);
    float *want = malloc((size_t)(H * W) * sizeof *want);
    uint8_t *want_sem = malloc((size_t)(H * W));
    rba_score_ref(want, want_sem, lq, mk, Q, K, h, w, Ht, Wt, H, W);
    if (tie)
        for (int64_t i = 0; i < H * W; i++)
            ck_assert_msg(want_sem[i] != 1, "tie case: the reference picked the second of two equal classes");
    char what[160];
    snprintf(what, sizeof what, "score Q%lld K%lld %lldx%lld->%lldx%lld crop %lldx%lld%s%s", (long long)Q,
             (long long)K, (long long)h, (long long)w, (long long)Ht, (long long)Wt, (long long)H,
             (long long)W, tie ? " tie" : "", strided ? " strided" : "");
    ug_tensor hl = ug_tensor_wrap(strided ? lg : lq, UG_F32, UG_DIMS(strided ? 2 * Q : Q, K + 1));
    ug_tensor hm = ug_tensor_wrap(mk, UG_F32, UG_DIMS(Q, h, w));
    ug_tensor first = {0}, first_sem = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        const char *sched = cut_use_schedule(s);
        ug_tensor dl = cut_upload(&hl), dm = cut_upload(&hm);
        // strided: rows 0, 2, 4, ... of the uploaded [2Q, K+1], a view with row stride 2 (K+1)
        ug_tensor dlv = strided ? ug_view_strided(&dl, 0, 2, (const int64_t[]){Q, K + 1},
                                                  (const int64_t[]){2 * (K + 1), 1})
                                : dl;
        ug_tensor sc = cut_empty(UG_F32, UG_DIMS(H, W)), sem = cut_empty(UG_U8, UG_DIMS(H, W));
        ug_err err;
        ug_status st = rba_score_cuda(&cut_ctx, &sc, with_sem ? &sem : NULL, &dlv, &dm, Ht, Wt, &err);
        ck_assert_msg(st == UG_OK, "%s: %s", what, err.msg);
        char w2[200];
        snprintf(w2, sizeof w2, "%s [%s]", what, sched);
        cut_check(&sc, want, 1e-5, 1e-5, &first, w2);
        if (with_sem) cut_check_exact(&sem, want_sem, &first_sem, w2);
        ug_tensor_free(&dl);
        ug_tensor_free(&dm);
        ug_tensor_free(&sc);
        ug_tensor_free(&sem);
    }
    ck_assert_uint_eq(cut_ctx.dev_arena.used, 0);
    ug_tensor_free(&first);
    ug_tensor_free(&first_sem);
    free(lg), free(mk), free(lq), free(want), free(want_sem);
}

START_TEST(score_vs_reference) {
    score_case(1, 1, 1, 1, 1, 1, 1, 1, 1, false, false, true);
    score_case(3, 3, 1, 3, 5, 7, 5, 7, 2, false, false, true);        // upsampling from a single row
    score_case(17, 19, 7, 13, 27, 51, 27, 51, 3, false, false, true); // non-integer scales
    score_case(10, 19, 8, 14, 32, 56, 30, 50, 4, false, false, true); // upsample, crop
    score_case(33, 5, 18, 16, 70, 61, 70, 61, 5, false, false, true); // Q across the query tile
    score_case(5, 2, 9, 9, 4, 3, 3, 2, 6, false, false, true);        // downsampling
    score_case(4, 40, 5, 7, 9, 127, 3, 127, 7, false, false, true);   // K across the class tile, 127 wide
    score_case(2, 7, 3, 33, 1, 33, 1, 33, 8, false, false, false);    // one row, semantic NULL
}
END_TEST

START_TEST(score_exact_ties) {
    score_case(6, 4, 5, 6, 17, 19, 17, 19, 11, true, false, true);
    score_case(33, 35, 4, 4, 9, 9, 9, 9, 12, true, false, true); // two tiles of queries and classes
}
END_TEST

START_TEST(score_strided_logits) {
    score_case(7, 19, 6, 5, 13, 11, 12, 10, 13, false, true, true);
}
END_TEST

START_TEST(score_rejects_bad_sizes) {
    int64_t Q = 2, K = 3;
    ug_tensor hl = cut_rand(UG_DIMS(Q, K + 1), -1, 1, 1), hm = cut_rand(UG_DIMS(Q, 4, 4), -1, 1, 2);
    ug_tensor dl = cut_upload(&hl), dm = cut_upload(&hm);
    ug_tensor sc = cut_empty(UG_F32, UG_DIMS(9, 8));
    ug_err err;
    ck_assert_int_eq(rba_score_cuda(&cut_ctx, &sc, NULL, &dl, &dm, 8, 8, &err), UG_ERR_ARG); // H > Ht
    ck_assert_msg(strstr(err.msg, "inconsistent sizes"), "%s", err.msg);
    cut_assert_ok(); // an argument error is returned, not kept as the device error
    ug_tensor_free(&hl), ug_tensor_free(&hm), ug_tensor_free(&dl), ug_tensor_free(&dm), ug_tensor_free(&sc);
}
END_TEST

START_TEST(score_device_failure_is_returned) {
#ifdef UG_CUDA_EMU
    int64_t Q = 2, K = 3;
    ug_tensor hl = cut_rand(UG_DIMS(Q, K + 1), -1, 1, 1), hm = cut_rand(UG_DIMS(Q, 4, 4), -1, 1, 2);
    ug_tensor dl = cut_upload(&hl), dm = cut_upload(&hm);
    ug_tensor sc = cut_empty(UG_F32, UG_DIMS(8, 8));
    ug_err err;
    emu_fail_malloc_after(1); // the working memory of the op cannot be had
    ug_status st = rba_score_cuda(&cut_ctx, &sc, NULL, &dl, &dm, 8, 8, &err);
    emu_fail_malloc_after(0);
    ck_assert_int_eq(st, UG_ERR_NOMEM);
    ck_assert_msg(strstr(err.msg, "cuda: rba_score"), "%s", err.msg);
    ug_tensor_free(&hl), ug_tensor_free(&hm), ug_tensor_free(&dl), ug_tensor_free(&dm), ug_tensor_free(&sc);
#endif
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cuda_rba_score", .setup = cut_setup, .teardown = cut_teardown, .timeout = 120},
        &s);
    test_add(tc, score_vs_reference, score_exact_ties, score_strided_logits, score_rejects_bad_sizes);
    TCase *tf = tcase_create("cuda_rba_score_failure");
    tcase_add_checked_fixture(tf, cut_setup, cut_teardown_keep_error);
    tcase_add_test(tf, score_device_failure_is_returned);
    suite_add_tcase(s, tf);
    return test_run_suite(s);
}
