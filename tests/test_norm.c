// tests/test_norm.c — LayerNorm (last dim), LayerNorm2d (NCHW channels), GroupNorm: fast
// kernels against the double references at odd sizes, in place, without affine, with
// offsets and tiny variances (where eps and cancellation matter).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "ops/groupnorm.h"
#include "ops/layernorm.h"
#include "tests/helpers.h"

// Normalised outputs are O(1) (times w ~ 1.5, plus b ~ 1); the kernels land within a few ulp
// of the double reference (max seen 6e-7, and still < 2e-6 on the low-variance inputs thanks
// to the shifted sums). Tolerance atol 5e-6 + rtol 5e-6, far below what a wrong eps does on
// the low-variance inputs (var ~ 1e-6 is the size of eps) or a float mean of 0.3 would
// cost there (~1e-4).
static const double ATOL = 5e-6, RTOL = 5e-6;

// kind 0: N(0, 1); 1: offset 5 + N(0, 0.5) (cancellation); 2: 0.3 + N(0, 1e-3) (var ~ eps).
static float *make_input(int64_t n, int kind, uint64_t seed) {
    float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
    test_fill_normal(x, (size_t)n, kind == 0 ? 1.0f : kind == 1 ? 0.5f : 1e-3f, seed);
    float off = kind == 0 ? 0.0f : kind == 1 ? 5.0f : 0.3f;
    for (int64_t i = 0; i < n; i++)
        x[i] += off;
    return x;
}

static float *make_affine(int64_t C, float lo, float hi, uint64_t seed) {
    float *v = malloc((size_t)C * sizeof(float));
    test_fill_uniform(v, (size_t)C, lo, hi, seed);
    return v;
}

static const int64_t odd[] = {1, 3, 17, 33, 127};

START_TEST(layernorm_rows_match_ref) {
    const int64_t Cs[] = {1, 3, 17, 33, 127, 1280};
    uint64_t seed = 1;
    for (size_t ci = 0; ci < 6; ci++) {
        for (size_t ri = 0; ri < 5; ri++) {
            for (int kind = 0; kind < 3; kind++, seed++) {
                int64_t C = Cs[ci], rows = odd[ri], n = rows * C;
                float *x = make_input(n, kind, seed), *w = make_affine(C, 0.5f, 1.5f, seed + 1000),
                      *b = make_affine(C, -1.0f, 1.0f, seed + 2000);
                float *want = malloc((size_t)n * sizeof(float)), *got = malloc((size_t)n * sizeof(float));
                float eps = kind == 2 ? 1e-6f : 1e-5f;
                int affine = (int)(seed % 4) != 0; // every 4th case without w and b
                layernorm_ref(want, x, affine ? w : NULL, affine ? b : NULL, rows, C, eps);
                ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(rows, C));
                ug_tensor ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(rows, C));
                ug_tensor tw = ug_tensor_wrap(w, UG_F32, UG_DIMS(C)),
                          tb = ug_tensor_wrap(b, UG_F32, UG_DIMS(C));
                layernorm_cpu(&test_ctx, &ty, &tx, affine ? &tw : NULL, affine ? &tb : NULL, eps);
                test_assert_close(got, want, (size_t)n, ATOL, RTOL, "layernorm");
                layernorm_cpu(&test_ctx, &tx, &tx, affine ? &tw : NULL, affine ? &tb : NULL, eps); // in place
                test_assert_close(x, want, (size_t)n, ATOL, RTOL, "layernorm in place");
                free(x), free(w), free(b), free(want), free(got);
            }
        }
    }
}
END_TEST

// 3-D input [2, 5, C]: leading dims are flattened into rows.
START_TEST(layernorm_flattens_leading_dims) {
    int64_t C = 96, n = 2 * 5 * C;
    float *x = make_input(n, 0, 77), *w = make_affine(C, 0.5f, 1.5f, 78), *b = make_affine(C, -1, 1, 79);
    float *want = malloc((size_t)n * sizeof(float)), *got = malloc((size_t)n * sizeof(float));
    layernorm_ref(want, x, w, b, 10, C, 1e-6f);
    ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(2, 5, C)),
              ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(2, 5, C));
    ug_tensor tw = ug_tensor_wrap(w, UG_F32, UG_DIMS(C)), tb = ug_tensor_wrap(b, UG_F32, UG_DIMS(C));
    layernorm_cpu(&test_ctx, &ty, &tx, &tw, &tb, 1e-6f);
    test_assert_close(got, want, (size_t)n, ATOL, RTOL, "layernorm 3-D");
    free(x), free(w), free(b), free(want), free(got);
}
END_TEST

// A hand-checked row: x = [1, 2, 3, 4], mean 2.5, biased var 1.25.
START_TEST(layernorm_known_values) {
    float x[4] = {1, 2, 3, 4}, y[4];
    ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(1, 4)), ty = ug_tensor_wrap(y, UG_F32, UG_DIMS(1, 4));
    layernorm_cpu(&test_ctx, &ty, &tx, NULL, NULL, 0.0f);
    double s = 1.0 / sqrt(1.25);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(y[i], (float)((i + 1 - 2.5) * s), 1e-6f);
}
END_TEST

START_TEST(layernorm2d_matches_ref) {
    const int64_t HWs[][2] = {{1, 1}, {3, 5}, {17, 3}, {9, 13}, {33, 33}, {8, 8}, {1, 127}};
    uint64_t seed = 500;
    for (size_t ci = 0; ci < 5; ci++) {
        for (size_t hi = 0; hi < 7; hi++) {
            for (int kind = 0; kind < 3; kind++, seed++) {
                int64_t B = 1 + (int64_t)(seed % 2), C = odd[ci], H = HWs[hi][0], W = HWs[hi][1];
                int64_t n = B * C * H * W;
                float *x = make_input(n, kind, seed), *w = make_affine(C, 0.5f, 1.5f, seed + 1000),
                      *b = make_affine(C, -1.0f, 1.0f, seed + 2000);
                float *want = malloc((size_t)n * sizeof(float)), *got = malloc((size_t)n * sizeof(float));
                int affine = (int)(seed % 4) != 0;
                layernorm2d_ref(want, x, affine ? w : NULL, affine ? b : NULL, B, C, H * W, 1e-6f);
                ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(B, C, H, W));
                ug_tensor ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(B, C, H, W));
                ug_tensor tw = ug_tensor_wrap(w, UG_F32, UG_DIMS(C)),
                          tb = ug_tensor_wrap(b, UG_F32, UG_DIMS(C));
                layernorm2d_cpu(&test_ctx, &ty, &tx, affine ? &tw : NULL, affine ? &tb : NULL, 1e-6f);
                test_assert_close(got, want, (size_t)n, ATOL, RTOL, "layernorm2d");
                layernorm2d_cpu(&test_ctx, &tx, &tx, affine ? &tw : NULL, affine ? &tb : NULL, 1e-6f);
                test_assert_close(x, want, (size_t)n, ATOL, RTOL, "layernorm2d in place");
                free(x), free(w), free(b), free(want), free(got);
            }
        }
    }
}
END_TEST

// LayerNorm2d of NCHW equals LayerNorm of the NHWC transpose (cross-check of the two refs
// and of the channel stride).
START_TEST(layernorm2d_is_layernorm_over_channels) {
    int64_t C = 17, H = 5, W = 7, HW = H * W, n = C * HW;
    float *x = make_input(n, 0, 901), *w = make_affine(C, 0.5f, 1.5f, 902), *b = make_affine(C, -1, 1, 903);
    float *xt = malloc((size_t)n * sizeof(float)), *yt = malloc((size_t)n * sizeof(float)),
          *y = malloc((size_t)n * sizeof(float)), *back = malloc((size_t)n * sizeof(float));
    for (int64_t c = 0; c < C; c++)
        for (int64_t p = 0; p < HW; p++)
            xt[p * C + c] = x[c * HW + p];
    layernorm_ref(yt, xt, w, b, HW, C, 1e-6f);
    for (int64_t c = 0; c < C; c++)
        for (int64_t p = 0; p < HW; p++)
            back[c * HW + p] = yt[p * C + c];
    ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(1, C, H, W)),
              ty = ug_tensor_wrap(y, UG_F32, UG_DIMS(1, C, H, W));
    ug_tensor tw = ug_tensor_wrap(w, UG_F32, UG_DIMS(C)), tb = ug_tensor_wrap(b, UG_F32, UG_DIMS(C));
    layernorm2d_cpu(&test_ctx, &ty, &tx, &tw, &tb, 1e-6f);
    test_assert_close(y, back, (size_t)n, ATOL, RTOL, "layernorm2d vs transposed layernorm");
    free(x), free(w), free(b), free(xt), free(yt), free(y), free(back);
}
END_TEST

START_TEST(groupnorm_matches_ref) {
    // (C, groups): C/G = 2 as in the tiny pixel decoder, 1 channel per group, one group,
    // and the release's 256 / 32 = 8.
    const int64_t CG[][2] = {{64, 32}, {6, 3}, {17, 1}, {127, 127}, {33, 11}, {256, 32}};
    const int64_t HWs[][2] = {{1, 1}, {3, 5}, {17, 3}, {9, 13}, {33, 33}};
    uint64_t seed = 3000;
    for (size_t gi = 0; gi < 6; gi++) {
        for (size_t hi = 0; hi < 5; hi++) {
            for (int kind = 0; kind < 3; kind++, seed++) {
                int64_t B = 1 + (int64_t)(seed % 2), C = CG[gi][0], H = HWs[hi][0], W = HWs[hi][1];
                int G = (int)CG[gi][1];
                int64_t n = B * C * H * W;
                float *x = make_input(n, kind, seed), *w = make_affine(C, 0.5f, 1.5f, seed + 1000),
                      *b = make_affine(C, -1.0f, 1.0f, seed + 2000);
                // Give each channel its own offset so that channel means differ inside a group
                // (the merge of per-channel statistics must account for it).
                for (int64_t i = 0; i < B * C; i++)
                    for (int64_t p = 0; p < H * W; p++)
                        x[i * H * W + p] += 0.1f * (float)(i % 7);
                float *want = malloc((size_t)n * sizeof(float)), *got = malloc((size_t)n * sizeof(float));
                int affine = (int)(seed % 4) != 0;
                groupnorm_ref(want, x, affine ? w : NULL, affine ? b : NULL, B, C, H * W, G, 1e-5f);
                ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(B, C, H, W));
                ug_tensor ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(B, C, H, W));
                ug_tensor tw = ug_tensor_wrap(w, UG_F32, UG_DIMS(C)),
                          tb = ug_tensor_wrap(b, UG_F32, UG_DIMS(C));
                groupnorm_cpu(&test_ctx, &ty, &tx, affine ? &tw : NULL, affine ? &tb : NULL, G, 1e-5f);
                test_assert_close(got, want, (size_t)n, ATOL, RTOL, "groupnorm");
                groupnorm_cpu(&test_ctx, &tx, &tx, affine ? &tw : NULL, affine ? &tb : NULL, G, 1e-5f);
                test_assert_close(x, want, (size_t)n, ATOL, RTOL, "groupnorm in place");
                free(x), free(w), free(b), free(want), free(got);
            }
        }
    }
}
END_TEST

// Two channels in one group with different means: a kernel that normalised per channel
// (InstanceNorm) or mapped channels to the wrong group would fail this.
START_TEST(groupnorm_pools_channels_of_a_group) {
    float x[2 * 2 * 2] = {0, 2, 0, 2, 10, 12, 10, 12}; // [1, 2 ch, 2, 2]: ch0 {0,2,0,2}, ch1 {10,12,..}
    float y[8];
    ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(1, 2, 2, 2)),
              ty = ug_tensor_wrap(y, UG_F32, UG_DIMS(1, 2, 2, 2));
    groupnorm_cpu(&test_ctx, &ty, &tx, NULL, NULL, 1, 0.0f);
    // mean 6, var = mean of {36, 16, 16, 36} = 26.
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq_tol(y[i], (float)((x[i] - 6.0) / sqrt(26.0)), 1e-6f);
    groupnorm_cpu(&test_ctx, &ty, &tx, NULL, NULL, 2, 0.0f);
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq_tol(y[i], (i % 2) ? 1.0f : -1.0f, 1e-6f);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "norm", .setup = test_ctx_setup, .teardown = test_ctx_teardown, .timeout = 60},
        &s);
    test_add(tc, layernorm_rows_match_ref, layernorm_flattens_leading_dims, layernorm_known_values,
             layernorm2d_matches_ref, layernorm2d_is_layernorm_over_channels, groupnorm_matches_ref,
             groupnorm_pools_channels_of_a_group);
    return test_run_suite(s);
}
