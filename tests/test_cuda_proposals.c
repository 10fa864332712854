// tests/test_cuda_proposals.c — proposals_candidates_cuda and proposals_fps_cuda
// (ops/cuda/proposals.cu) against their _ref under every emulator schedule (built only with
// make CUDA=emu / CUDA=1).
//   proposals_candidates: odd sizes (1, 3 x 17, 33 x 127, 127 x 33, a row of 4099: not a multiple
//                         of the 2048-pixel block) and one of 274 blocks (two scan rounds), with
//                         and without the ignore map, NaN scores, both fallback triggers (no
//                         candidate; only pixel (0, 0)), a strided u view; rows past n stay
//                         untouched.
//   proposals_fps:        N = 1, 3, 17, 33, 127, 1000, 2500 (several candidates per thread) on
//                         small grids full of equal distances, both tie rules, K > N, pts.
// Tolerance: none, everything is an integer or an integer-valued float: exact, and bit-identical
// across schedules.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/proposals.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

// ---- candidates ----

// u [H, W] uniform in [-1, 1], NaN at every 37th pixel when nans; ignore [H, W] with every 5th
// pixel set when with_ignore. mode 0: as is; 1: nothing reaches thr (fallback); 2: only pixel
// (0, 0) reaches thr (the coordinate-sum quirk: fallback too). strided: u passes as the left
// half of a [H, 2W] tensor.
static void cand_case(int64_t H, int64_t W, uint64_t seed, bool with_ignore, bool nans, int mode,
                      bool strided) {
    int64_t HW = H * W, W2 = strided ? 2 * W : W;
    float *u = malloc((size_t)(H * W2) * sizeof *u), *uc = malloc((size_t)HW * sizeof *uc);
    uint8_t *ig = malloc((size_t)HW);
    test_fill_uniform(u, (size_t)(H * W2), -1.0f, 1.0f, seed);
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            int64_t p = y * W + x;
            float v = u[y * W2 + x];
            if (nans && p % 37 == 5) v = NAN;
            if (mode >= 1) v = v * 0.5f - 0.6f; // below thr = 0 everywhere
            if (mode == 2 && p == 0) v = 0.5f;
            u[y * W2 + x] = uc[p] = v;
            ig[p] = with_ignore && p % 5 == 3;
        }
    float thr = 0.0f, fallback = -0.7f;
    int32_t *want = malloc((size_t)(2 * HW) * sizeof *want);
    memset(want, 0xff, (size_t)(2 * HW) * sizeof *want); // rows past n: the poison of cut_empty
    int64_t want_n = -1;
    proposals_candidates_ref(want, &want_n, uc, with_ignore ? ig : NULL, H, W, thr, fallback);
    char what[128];
    snprintf(what, sizeof what, "candidates %lldx%lld%s%s mode %d%s", (long long)H, (long long)W,
             with_ignore ? " ignore" : "", nans ? " nan" : "", mode, strided ? " strided" : "");
    if (mode >= 1) ck_assert_msg(want_n >= 1, "%s: the fallback should have been taken", what);
    ug_tensor hu = ug_tensor_wrap(u, UG_F32, UG_DIMS(H, W2)), hi = ug_tensor_wrap(ig, UG_U8, UG_DIMS(H, W));
    ug_tensor first = {0}, first_n = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor du = cut_upload(&hu), di = cut_upload(&hi);
        ug_tensor duv = strided ? ug_view_slice(&du, 1, 0, W) : du;
        ug_tensor xy = cut_empty(UG_I32, UG_DIMS(HW, 2)), cnt = cut_empty(UG_I64, UG_DIMS(1));
        proposals_candidates_cuda(&cut_ctx, &xy, &cnt, &duv, with_ignore ? &di : NULL, thr, fallback);
        cut_check_exact(&cnt, &want_n, &first_n, w2);
        cut_check_exact(&xy, want, &first, w2);
        ug_tensor_free(&du), ug_tensor_free(&di), ug_tensor_free(&xy), ug_tensor_free(&cnt);
    }
    ck_assert_uint_eq(cut_ctx.dev_arena.used, 0);
    ug_tensor_free(&first), ug_tensor_free(&first_n);
    free(u), free(uc), free(ig), free(want);
}

START_TEST(candidates_vs_reference) {
    cand_case(1, 1, 1, false, false, 0, false);
    cand_case(3, 17, 2, true, false, 0, false);
    cand_case(33, 127, 3, false, true, 0, false);
    cand_case(127, 33, 4, true, true, 0, false);
    cand_case(1, 4099, 5, true, false, 0, false);
}
END_TEST

START_TEST(candidates_fallbacks) {
    cand_case(17, 33, 6, false, false, 1, false);
    cand_case(17, 33, 7, true, false, 2, false);
    cand_case(1, 1, 8, false, false, 2, false); // only pixel (0, 0): the fallback list is it again
}
END_TEST

START_TEST(candidates_many_blocks) {
    cand_case(700, 800, 9, true, false, 0, false);
}
END_TEST

START_TEST(candidates_strided_u) {
    cand_case(9, 31, 10, true, false, 0, true);
}
END_TEST

// ---- farthest point sampling ----

// xy [n, 2] on a grid of side g (g small: many equal distances, so the tie rules decide).
static void fps_case(int64_t n, int k, int g, uint64_t seed, proposals_ties ties) {
    int32_t *xy = malloc((size_t)(2 * n) * sizeof *xy), *want = malloc((size_t)k * sizeof *want);
    test_rng r = test_rng_seed(seed);
    for (int64_t i = 0; i < 2 * n; i++)
        xy[i] = (int32_t)(test_rng_u64(&r) % (uint64_t)g);
    proposals_fps_ref(want, xy, n, k, ties);
    float *want_pts = malloc((size_t)(2 * k) * sizeof *want_pts);
    for (int j = 0; j < k; j++) {
        want_pts[2 * j] = (float)xy[2 * want[j]];
        want_pts[2 * j + 1] = (float)xy[2 * want[j] + 1];
    }
    char what[128];
    snprintf(what, sizeof what, "fps n %lld k %d grid %d ties %d", (long long)n, k, g, (int)ties);
    ug_tensor hxy = ug_tensor_wrap(xy, UG_I32, UG_DIMS(n, 2));
    ug_tensor first = {0}, first_pts = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s [%s]", what, cut_use_schedule(s));
        ug_tensor dxy = cut_upload(&hxy), idx = cut_empty(UG_I32, UG_DIMS(k)),
                  pts = cut_empty(UG_F32, UG_DIMS(k, 2));
        ug_err err;
        ug_status st = proposals_fps_cuda(&cut_ctx, &idx, s % 2 ? NULL : &pts, &dxy, (int)ties, &err);
        ck_assert_msg(st == UG_OK, "%s: %s", w2, err.msg);
        cut_check_exact(&idx, want, &first, w2);
        if (s % 2 == 0) cut_check(&pts, want_pts, 0, 0, &first_pts, w2);
        ug_tensor_free(&dxy), ug_tensor_free(&idx), ug_tensor_free(&pts);
    }
    ck_assert_uint_eq(cut_ctx.dev_arena.used, 0);
    ug_tensor_free(&first), ug_tensor_free(&first_pts);
    free(xy), free(want), free(want_pts);
}

START_TEST(fps_vs_reference) {
    for (int t = 0; t < 2; t++) {
        proposals_ties ties = t ? PROPOSALS_TIES_LOWEST : PROPOSALS_TIES_OFFICIAL;
        fps_case(1, 1, 3, 1, ties);
        fps_case(1, 4, 3, 2, ties); // K > N: candidate 0 again
        fps_case(3, 3, 2, 3, ties);
        fps_case(17, 9, 4, 4, ties);
        fps_case(33, 40, 5, 5, ties); // K > N
        fps_case(127, 20, 6, 6, ties);
        fps_case(1000, 25, 9, 7, ties);
        fps_case(2500, 30, 40, 8, ties);
        fps_case(2500, 12, 2048, 9, ties); // image-sized coordinates
    }
}
END_TEST

START_TEST(fps_rejects_no_candidates) {
    ug_tensor xy = cut_empty(UG_I32, UG_DIMS(0, 2)), idx = cut_empty(UG_I32, UG_DIMS(3));
    ug_err err;
    ck_assert_int_eq(proposals_fps_cuda(&cut_ctx, &idx, NULL, &xy, 0, &err), UG_ERR_ARG);
    cut_assert_ok();
    ug_tensor_free(&xy), ug_tensor_free(&idx);
}
END_TEST

START_TEST(fps_device_failure_is_returned) {
#ifdef UG_CUDA_EMU
    int32_t xy[6] = {0, 0, 3, 4, 1, 1};
    ug_tensor hxy = ug_tensor_wrap(xy, UG_I32, UG_DIMS(3, 2));
    ug_tensor dxy = cut_upload(&hxy), idx = cut_empty(UG_I32, UG_DIMS(2));
    ug_err err;
    emu_fail_malloc_after(1); // the min-distance array cannot be had
    ug_status st = proposals_fps_cuda(&cut_ctx, &idx, NULL, &dxy, 0, &err);
    emu_fail_malloc_after(0);
    ck_assert_int_eq(st, UG_ERR_NOMEM);
    ck_assert_msg(strstr(err.msg, "cuda: proposals_fps"), "%s", err.msg);
    ug_tensor_free(&dxy), ug_tensor_free(&idx);
#endif
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cuda_proposals", .setup = cut_setup, .teardown = cut_teardown, .timeout = 300},
        &s);
    test_add(tc, candidates_vs_reference, candidates_fallbacks, candidates_many_blocks, candidates_strided_u,
             fps_vs_reference, fps_rejects_no_candidates);
    TCase *tf = tcase_create("cuda_proposals_failure");
    tcase_add_checked_fixture(tf, cut_setup, cut_teardown_keep_error);
    tcase_add_test(tf, fps_device_failure_is_returned);
    suite_add_tcase(s, tf);
    return test_run_suite(s);
}
