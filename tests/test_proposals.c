// tests/test_proposals.c — candidates (threshold, ignore, coordinate-sum fallback), farthest
// point sampling with both tie rules (golden/pipeline_tiny, and the fast kernels of
// ops/proposals.h against the literal references on random maps and tie-heavy integer grids),
// k-means, random and grid samplers, and the whole sampling step.
//
// Everything here is discrete (indices, integer pixels): comparisons are exact.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/proposals.h"
#include "pipeline/proposals.h"
#include "tests/helpers.h"

// The candidates of u [H, W] (ignore or NULL) from the fast kernel, checked against the
// reference: *n and a malloc'ed xy [H * W, 2] (rows [0, n) valid).
static int32_t *candidates(const float *u, const uint8_t *ig, int H, int W, float thr, float fallback,
                           int64_t *n) {
    int64_t HW = (int64_t)H * W, nref = -1;
    int32_t *xy = calloc((size_t)(2 * HW), sizeof *xy), *ref = calloc((size_t)(2 * HW), sizeof *ref);
    ug_tensor xy_t = ug_tensor_wrap(xy, UG_I32, UG_DIMS(HW, 2)),
              count = ug_tensor_wrap(n, UG_I64, UG_DIMS(1));
    ug_tensor u_t = ug_tensor_wrap((void *)u, UG_F32, UG_DIMS(H, W)),
              ig_t = ug_tensor_wrap((void *)ig, UG_U8, UG_DIMS(H, W));
    proposals_candidates_cpu(&test_ctx, &xy_t, &count, &u_t, ig ? &ig_t : NULL, thr, fallback);
    proposals_candidates_ref(ref, &nref, u, ig, H, W, thr, fallback);
    ck_assert_int_eq(*n, nref);
    ck_assert_int_eq(memcmp(xy, ref, (size_t)(2 * *n) * sizeof *xy), 0);
    free(ref);
    return xy;
}

// The fast FPS on host arrays: idx [K] from xy [N, 2].
static ug_status fps(int32_t *idx, const int32_t *xy, int64_t n, int k, proposals_ties ties, ug_err *err) {
    ug_tensor xy_t = ug_tensor_wrap((void *)xy, UG_I32, UG_DIMS(n, 2)),
              idx_t = ug_tensor_wrap(idx, UG_I32, UG_DIMS(k));
    return proposals_fps_cpu(&test_ctx, &idx_t, NULL, &xy_t, ties, err);
}

START_TEST(golden_candidates_and_fps) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ug_err err;
    ug_tensor u = test_golden_npy("pipeline_tiny/rba_score.npy"),
              ig = test_golden_npy("pipeline_tiny/ignore_mask.npy");
    ug_tensor cand = test_golden_npy("pipeline_tiny/candidates_xy1.npy"),
              pts = test_golden_npy("pipeline_tiny/fps_points_xy.npy");
    ug_tensor i8 = test_golden_npy("pipeline_tiny/fps_candidate_index.npy");
    ug_tensor i50c = test_golden_npy("pipeline_tiny/fps50_candidate_index_cuda_rule.npy");
    ug_tensor i50l = test_golden_npy("pipeline_tiny/fps50_candidate_index_lowest_rule.npy");
    int H = (int)u.shape[0], W = (int)u.shape[1];
    int64_t n;
    int32_t *xy = candidates(u.data, ig.data, H, W, -0.15f, -15.0f, &n);
    ck_assert_int_eq(n, cand.shape[0]);
    const int32_t *c = cand.data;
    for (int64_t i = 0; i < n; i++) {
        ck_assert_int_eq(xy[2 * i], c[3 * i]);
        ck_assert_int_eq(xy[2 * i + 1], c[3 * i + 1]);
    }
    int32_t idx[50], ref[50];
    ck_assert_int_eq(fps(idx, xy, n, 8, PROPOSALS_TIES_OFFICIAL, &err), UG_OK);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(idx[i], ((int32_t *)i8.data)[i]);
        ck_assert_int_eq(xy[2 * idx[i]], ((int32_t *)pts.data)[2 * i]);
        ck_assert_int_eq(xy[2 * idx[i] + 1], ((int32_t *)pts.data)[2 * i + 1]);
    }
    const ug_tensor *want[2] = {&i50c, &i50l};
    for (int r = 0; r < 2; r++) {
        proposals_ties t = r ? PROPOSALS_TIES_LOWEST : PROPOSALS_TIES_OFFICIAL;
        ck_assert_int_eq(fps(idx, xy, n, 50, t, &err), UG_OK);
        proposals_fps_ref(ref, xy, n, 50, t);
        for (int i = 0; i < 50; i++) {
            ck_assert_msg(idx[i] == ((int32_t *)want[r]->data)[i], "rule %d sample %d: %d, golden %d", r, i,
                          idx[i], ((int32_t *)want[r]->data)[i]);
            ck_assert_int_eq(ref[i], idx[i]);
        }
    }
    // The two rules do differ on this set (from sample 13 on, golden/README.md).
    ck_assert_int_ne(((int32_t *)i50c.data)[13], ((int32_t *)i50l.data)[13]);

    // The whole sampling step gives the same 8 points as floats.
    proposals_opts o = {PROPOSALS_FPS, 8, -0.15f, PROPOSALS_TIES_OFFICIAL, 0};
    float *p;
    int np;
    int64_t nc;
    ck_assert_int_eq(proposals_sample(&test_ctx, &u, &ig, &o, &p, &np, &nc, &err), UG_OK);
    ck_assert_int_eq(np, 8);
    ck_assert_int_eq(nc, 224);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(p[i], (float)((int32_t *)pts.data)[i]);
    free(p);
    free(xy);
    ug_tensor_free(&u);
    ug_tensor_free(&ig);
    ug_tensor_free(&cand);
    ug_tensor_free(&pts);
    ug_tensor_free(&i8);
    ug_tensor_free(&i50c);
    ug_tensor_free(&i50l);
}
END_TEST

START_TEST(candidates_ignore_and_fallback) {
    enum { H = 5, W = 7 };
    float u[H * W];
    uint8_t ig[H * W];
    int32_t *xy;
    int64_t n;
    for (int i = 0; i < H * W; i++)
        u[i] = -20.0f, ig[i] = 0;
    // Nothing >= -0.15 and nothing >= -15: no candidates.
    xy = candidates(u, ig, H, W, -0.15f, -15.0f, &n);
    ck_assert_int_eq(n, 0);
    free(xy);
    // Only pixel (0, 0) passes: its coordinate sum is 0 < 1, so the fallback threshold is
    // used (the official `sample_idx.sum() < 1` quirk) and picks up the -10 pixels as well.
    u[0] = 0.0f;
    u[2 * W + 3] = -10.0f; // (x 3, y 2)
    u[4 * W + 6] = -10.0f; // inside the ignore mask: -30 even for the fallback
    ig[4 * W + 6] = 1;
    xy = candidates(u, ig, H, W, -0.15f, -15.0f, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(xy[0], 0);
    ck_assert_int_eq(xy[1], 0);
    ck_assert_int_eq(xy[2], 3);
    ck_assert_int_eq(xy[3], 2);
    free(xy);
    // Pixel (1, 0) alone has coordinate sum 1: no fallback.
    u[0] = -20.0f;
    u[1] = 0.0f;
    xy = candidates(u, ig, H, W, -0.15f, -15.0f, &n);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(xy[0], 1);
    free(xy);
    // An ignored pixel never passes a threshold above -30.
    u[1] = -20.0f;
    u[3 * W + 2] = 1.0f;
    ig[3 * W + 2] = 1;
    xy = candidates(u, ig, H, W, -0.15f, -15.0f, &n);
    ck_assert_int_eq(n, 1); // only the fallback's (3, 2)
    free(xy);
}
END_TEST

// Random maps of odd sizes (vector lanes, row tails, several row blocks) with NaNs and an
// ignore mask, at thresholds that take about half of the pixels, none but (0, 0) (the
// fallback), or none at all: the fast kernel agrees with the reference (inside candidates()).
START_TEST(candidates_fast_matches_reference) {
    static const int sizes[][2] = {{1, 1}, {1, 9}, {3, 17}, {17, 33}, {33, 127}, {300, 7}, {513, 40}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int H = sizes[s][0], W = sizes[s][1];
        int64_t HW = (int64_t)H * W, n;
        float *u = malloc((size_t)HW * sizeof *u);
        uint8_t *ig = malloc((size_t)HW);
        test_fill_uniform(u, (size_t)HW, -1.0f, 1.0f, 500 + s);
        test_rng r = test_rng_seed(600 + s);
        for (int64_t p = 0; p < HW; p++)
            ig[p] = test_rng_u64(&r) % 5 == 0 ? (uint8_t)(1 + p % 200) : 0;
        for (int64_t p = 3; p < HW; p += 11)
            u[p] = NAN;
        free(candidates(u, ig, H, W, 0.0f, -15.0f, &n));
        free(candidates(u, NULL, H, W, 0.0f, -15.0f, &n));
        free(candidates(u, ig, H, W, 2.0f, -40.0f, &n));   // fallback: ignored pixels are -30
        free(candidates(u, NULL, H, W, 2.0f, -40.0f, &n)); // fallback: every pixel but the NaNs
        ck_assert_int_eq(n, HW - (HW + 7) / 11);
        u[0] = 5.0f; // (0, 0) alone above 2: still the fallback
        free(candidates(u, ig, H, W, 2.0f, -0.5f, &n));
        free(candidates(u, NULL, H, W, 2.0f, 3.0f, &n)); // (0, 0) also passes the fallback
        ck_assert_int_eq(n, 1);
        free(u);
        free(ig);
    }
}
END_TEST

// Candidates on a small integer grid (many equal distances) plus random pixels, so the tie
// rules decide often; the fast kernel (AVX2 lanes, blocks, tail) must agree with the
// literal simulation of the CUDA kernel, for odd sizes and for K > N.
START_TEST(fps_fast_matches_reference) {
    static const int64_t sizes[] = {1, 3, 17, 33, 127, 513, 1000, 40000};
    test_rng r = test_rng_seed(7);
    ug_err err;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        int32_t *xy = malloc((size_t)n * 2 * sizeof *xy);
        for (int64_t i = 0; i < n; i++) {
            bool grid = i % 3 != 0;
            xy[2 * i] = grid ? (int32_t)(i % 11) * 4 : (int32_t)(test_rng_u64(&r) % 300);
            xy[2 * i + 1] = grid ? (int32_t)(i / 11 % 13) * 4 : (int32_t)(test_rng_u64(&r) % 200);
        }
        int k = n < 50 ? (int)n + 3 : 40; // K > N repeats candidate 0
        int32_t *a = malloc((size_t)k * sizeof *a), *b = malloc((size_t)k * sizeof *b);
        for (int t = 0; t < 2; t++) {
            proposals_ties ties = t ? PROPOSALS_TIES_LOWEST : PROPOSALS_TIES_OFFICIAL;
            ck_assert_int_eq(fps(a, xy, n, k, ties, &err), UG_OK);
            proposals_fps_ref(b, xy, n, k, ties);
            for (int i = 0; i < k; i++)
                ck_assert_msg(a[i] == b[i], "n %lld ties %d sample %d: fast %d, ref %d", (long long)n, t, i,
                              a[i], b[i]);
            ck_assert_int_eq(a[0], 0);
            if (n < 50) ck_assert_int_eq(a[k - 1], 0);
        }
        free(a);
        free(b);
        free(xy);
    }
}
END_TEST

// A case worked by hand for the official rule: 4 collinear points x = 0, 1, 2, 3 (T = 4,
// 2 bits). From x = 0 the farthest is x = 3; then min(d to 0, d to 3) = 0, 1, 1, 0:
// candidates 1 and 2 tie; bitreverse(1) = 2,
// bitreverse(2) = 1, so the kernel takes candidate 2 where "lowest" takes 1.
START_TEST(fps_official_tie_by_hand) {
    int32_t xy[] = {0, 0, 1, 0, 2, 0, 3, 0}, a[3], b[3];
    ug_err err;
    ck_assert_int_eq(fps(a, xy, 4, 3, PROPOSALS_TIES_OFFICIAL, &err), UG_OK);
    ck_assert_int_eq(fps(b, xy, 4, 3, PROPOSALS_TIES_LOWEST, &err), UG_OK);
    ck_assert_int_eq(a[1], 3);
    ck_assert_int_eq(a[2], 2);
    ck_assert_int_eq(b[2], 1);
}
END_TEST

// Four well separated blobs: k-means with K = 4 finds one point in each, on a candidate
// pixel, and the same seed gives the same points.
START_TEST(kmeans_blobs) {
    enum { PER = 30 };
    int32_t xy[4 * PER * 2];
    const int cx[4] = {10, 200, 10, 200}, cy[4] = {10, 10, 150, 150};
    test_rng r = test_rng_seed(3);
    for (int b = 0; b < 4; b++)
        for (int i = 0; i < PER; i++) {
            xy[2 * (b * PER + i)] = cx[b] + (int)(test_rng_u64(&r) % 7);
            xy[2 * (b * PER + i) + 1] = cy[b] + (int)(test_rng_u64(&r) % 7);
        }
    float p[8], q[8];
    ug_err err;
    ck_assert_int_eq(proposals_kmeans(&test_ctx, p, xy, 4 * PER, 4, 42, 50, &err), UG_OK);
    ck_assert_int_eq(proposals_kmeans(&test_ctx, q, xy, 4 * PER, 4, 42, 50, &err), UG_OK);
    ck_assert_int_eq(memcmp(p, q, sizeof p), 0);
    int seen[4] = {0};
    for (int c = 0; c < 4; c++) {
        int b = (p[2 * c] > 100) + 2 * (p[2 * c + 1] > 80);
        seen[b]++;
        ck_assert_float_eq(p[2 * c], floorf(p[2 * c]));
        ck_assert(fabsf(p[2 * c] - (float)(cx[b] + 3)) <= 3.0f &&
                  fabsf(p[2 * c + 1] - (float)(cy[b] + 3)) <= 3.0f);
    }
    for (int b = 0; b < 4; b++)
        ck_assert_int_eq(seen[b], 1);
}
END_TEST

START_TEST(random_distinct_and_seeded) {
    enum { N = 33 };
    int32_t xy[N * 2];
    for (int i = 0; i < N; i++)
        xy[2 * i] = i, xy[2 * i + 1] = 2 * i;
    float p[2 * 40], q[2 * 40];
    int d1, d2;
    ug_err err;
    ck_assert_int_eq(proposals_random(p, xy, N, 17, 5, &d1, &err), UG_OK);
    ck_assert_int_eq(proposals_random(q, xy, N, 17, 5, &d2, &err), UG_OK);
    ck_assert_int_eq(d1, 17);
    ck_assert_int_eq(memcmp(p, q, sizeof(float) * 34), 0);
    ck_assert_int_eq(proposals_random(q, xy, N, 17, 6, &d2, &err), UG_OK);
    ck_assert_int_ne(memcmp(p, q, sizeof(float) * 34), 0); // another seed, another draw
    ck_assert_int_eq(proposals_random(p, xy, N, 40, 5, &d1, &err), UG_OK);
    ck_assert_int_eq(d1, N); // all of them, each once
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        ck_assert_float_eq(p[2 * i + 1], 2 * p[2 * i]);
        seen[(int)p[2 * i]]++;
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(seen[i], 1);
}
END_TEST

START_TEST(grid_like_sam) {
    // build_point_grid(32) * (W, H): first point (W / 64, H / 64), last (W - W/64, H - H/64),
    // row by row.
    float *p = malloc(32 * 32 * 2 * sizeof *p);
    proposals_grid(p, 32, 1024, 2048);
    ck_assert_float_eq_tol(p[0], 32.0f, 1e-3f);
    ck_assert_float_eq_tol(p[1], 16.0f, 1e-3f);
    ck_assert_float_eq_tol(p[2], 32.0f + 64.0f, 1e-3f);
    ck_assert_float_eq(p[1], p[3]);
    ck_assert_float_eq_tol(p[2 * 1023], 2048.0f - 32.0f, 1e-3f);
    ck_assert_float_eq_tol(p[2 * 1023 + 1], 1024.0f - 16.0f, 1e-3f);
    free(p);
    float one[2];
    proposals_grid(one, 1, 10, 20);
    ck_assert_float_eq(one[0], 10.0f);
    ck_assert_float_eq(one[1], 5.0f);
    // The sampling step: --points 1024 -> 32 x 32, 50 -> 7 x 7.
    proposals_opts o = {PROPOSALS_GRID, 50, -0.15f, PROPOSALS_TIES_OFFICIAL, 0};
    float *q;
    int n;
    ug_err err;
    float u[10 * 20] = {0};
    ug_tensor ut = ug_tensor_wrap(u, UG_F32, UG_DIMS(10, 20));
    ck_assert_int_eq(proposals_sample(&test_ctx, &ut, NULL, &o, &q, &n, NULL, &err), UG_OK);
    ck_assert_int_eq(n, 49);
    free(q);
}
END_TEST

START_TEST(sample_errors) {
    proposals_opts o = {PROPOSALS_FPS, 0, -0.15f, PROPOSALS_TIES_OFFICIAL, 0};
    float u[4] = {0, 0, 0, 0}, *p;
    ug_tensor ut = ug_tensor_wrap(u, UG_F32, UG_DIMS(2, 2));
    int n;
    ug_err err;
    ck_assert_int_eq(proposals_sample(&test_ctx, &ut, NULL, &o, &p, &n, NULL, &err), UG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "points"));
    int32_t idx[2];
    ck_assert_int_eq(fps(idx, NULL, 0, 2, PROPOSALS_TIES_OFFICIAL, &err), UG_ERR_ARG);
    // An ignore mask of another size is refused.
    o.points = 5;
    uint8_t ig[6] = {0};
    ug_tensor igt = ug_tensor_wrap(ig, UG_U8, UG_DIMS(2, 3));
    ck_assert_int_eq(proposals_sample(&test_ctx, &ut, &igt, &o, &p, &n, NULL, &err), UG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "ignore"));
    // No candidate at all: zero points, not an error.
    for (int i = 0; i < 4; i++)
        u[i] = -40.0f;
    ck_assert_int_eq(proposals_sample(&test_ctx, &ut, NULL, &o, &p, &n, NULL, &err), UG_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(p);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "proposals", .setup = test_ctx_setup, .teardown = test_ctx_teardown, .timeout = 60},
        &s);
    test_add(tc, golden_candidates_and_fps, candidates_ignore_and_fallback, candidates_fast_matches_reference,
             fps_fast_matches_reference, fps_official_tie_by_hand, kmeans_blobs, random_distinct_and_seeded,
             grid_like_sam, sample_errors);
    return test_run_suite(s);
}
