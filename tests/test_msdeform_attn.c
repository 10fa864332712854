// tests/test_msdeform_attn.c — multi-scale deformable attention core: fast vs reference
// (1 and 3 levels, odd sizes, points outside the maps), vs grid_sample per level, hand cases.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/grid_sample.h"
#include "ops/msdeform_attn.h"
#include "tests/helpers.h"

typedef struct msda_case {
    ug_tensor value, loc, aw, out; // [B, S, M, D], [B, Nq, M, L*P, 2], [B, Nq, M, L*P], [B, Nq, M*D]
    float *want;
} msda_case;

// Random case: values in [-1, 1], locations in [-0.3, 1.3] (about a third of the points have
// corners outside the map, some lie entirely outside), weights softmax-like positive.
static void make_case(msda_case *c, int64_t B, int64_t Nq, int64_t M, int64_t D, const int64_t (*shapes)[2],
                      int64_t L, int64_t P, uint64_t seed) {
    ug_err err;
    int64_t S = 0;
    for (int64_t l = 0; l < L; l++)
        S += shapes[l][0] * shapes[l][1];
    ck_assert_int_eq(ug_tensor_new(&c->value, UG_F32, UG_DIMS(B, S, M, D), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&c->loc, UG_F32, UG_DIMS(B, Nq, M, L * P, 2), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&c->aw, UG_F32, UG_DIMS(B, Nq, M, L * P), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&c->out, UG_F32, UG_DIMS(B, Nq, M * D), &err), UG_OK);
    test_fill_uniform(c->value.data, (size_t)ug_tensor_numel(&c->value), -1, 1, seed);
    test_fill_uniform(c->loc.data, (size_t)ug_tensor_numel(&c->loc), -0.3f, 1.3f, seed + 1);
    test_fill_uniform(c->aw.data, (size_t)ug_tensor_numel(&c->aw), 0, 1.0f / (float)(L * P), seed + 2);
    c->want = malloc(ug_tensor_nbytes(&c->out));
    msdeform_attn_ref(c->want, c->value.data, shapes, L, P, c->loc.data, c->aw.data, B, Nq, M, D);
}

static void free_case(msda_case *c) {
    ug_tensor_free(&c->value);
    ug_tensor_free(&c->loc);
    ug_tensor_free(&c->aw);
    ug_tensor_free(&c->out);
    free(c->want);
}

// Runs the fast kernel on c and compares it with the reference, then frees c. Tolerance
// 2e-6 abs + 1e-5 rel: the fast kernel forms the corner weights and a chain of at most
// 4 * L * P float FMAs per output (|terms| <= 1/(L*P)), the reference works in double.
static void check_case(msda_case *c, const int64_t (*shapes)[2], int64_t L, const char *what) {
    msdeform_attn_cpu(&test_ctx, &c->out, &c->value, shapes, L, &c->loc, &c->aw);
    test_assert_close(c->out.data, c->want, (size_t)ug_tensor_numel(&c->out), 2e-6, 1e-5, what);
    free_case(c);
}

START_TEST(msdeform_matches_ref_one_level) {
    static const int64_t sizes[] = {1, 3, 17, 33, 127};
    static const int64_t heads[] = {1, 3, 8};
    static const int64_t dims[] = {1, 3, 8, 17, 32};
    for (int a = 0; a < 5; a++)
        for (int k = 0; k < 3; k++) {
            int64_t shapes[1][2] = {{sizes[a], sizes[(a + k + 1) % 5] % 40 + 1}};
            int64_t Nq = sizes[(a + k) % 5], M = heads[k], D = dims[(a + 2 * k) % 5], P = 1 + (a + k) % 4;
            msda_case c;
            make_case(&c, 2, Nq, M, D, shapes, 1, P, (uint64_t)(a * 10 + k));
            check_case(&c, shapes, 1, "msdeform 1 level");
        }
}
END_TEST

// Three levels of odd sizes (the standard Mask2Former res3..res5 encoder shape, shrunk).
START_TEST(msdeform_matches_ref_three_levels) {
    int64_t shapes[3][2] = {{17, 33}, {9, 17}, {5, 9}};
    for (int k = 0; k < 3; k++) {
        int64_t Nq = 17 * 33 + 9 * 17 + 5 * 9, M = k == 0 ? 1 : 4, D = k == 2 ? 32 : 3 + 8 * k;
        msda_case c;
        make_case(&c, 1 + (k == 1), Nq, M, D, shapes, 3, 4, (uint64_t)(100 + k));
        check_case(&c, shapes, 3, "msdeform 3 levels");
    }
}
END_TEST

// The reference against an independent spelling of the definition: per level and head, the
// official ms_deform_attn_core_pytorch loop (grid_sample of the [D, H, W] map at 2 loc - 1,
// times the weight, summed over levels and points), using grid_sample_ref.
START_TEST(msdeform_ref_is_grid_sample_sum) {
    int64_t shapes[2][2] = {{5, 7}, {3, 4}}, L = 2, P = 3, B = 1, Nq = 11, M = 2, D = 5, S = 5 * 7 + 3 * 4;
    msda_case c;
    make_case(&c, B, Nq, M, D, shapes, L, P, 7);
    float *want = calloc((size_t)(Nq * M * D), sizeof(float));
    const float *val = c.value.data, *loc = c.loc.data, *aw = c.aw.data;
    int64_t start = 0;
    for (int64_t l = 0; l < L; l++) {
        int64_t H = shapes[l][0], W = shapes[l][1];
        for (int64_t m = 0; m < M; m++) {
            float *x = malloc((size_t)(D * H * W) * sizeof(float));  // [D, H, W]
            float *g = malloc((size_t)(Nq * P * 2) * sizeof(float)); // [Nq, P, 2]
            float *y = malloc((size_t)(D * Nq * P) * sizeof(float)); // [D, Nq, P]
            for (int64_t t = 0; t < H * W; t++)
                for (int64_t d = 0; d < D; d++)
                    x[d * H * W + t] = val[((start + t) * M + m) * D + d];
            for (int64_t q = 0; q < Nq; q++)
                for (int64_t p = 0; p < P; p++)
                    for (int e = 0; e < 2; e++)
                        g[(q * P + p) * 2 + e] = 2.0f * loc[(((q * M + m) * L + l) * P + p) * 2 + e] - 1.0f;
            grid_sample_ref(y, x, g, 1, D, H, W, Nq, P);
            for (int64_t q = 0; q < Nq; q++)
                for (int64_t p = 0; p < P; p++)
                    for (int64_t d = 0; d < D; d++)
                        want[(q * M + m) * D + d] +=
                            aw[((q * M + m) * L + l) * P + p] * y[(d * Nq + q) * P + p];
            free(x);
            free(g);
            free(y);
        }
        start += H * W;
    }
    ck_assert_int_eq(start, S);
    test_assert_close(c.want, want, (size_t)(Nq * M * D), 1e-6, 1e-5, "msdeform ref vs grid_sample");
    free(want);
    free_case(&c);
}
END_TEST

// A pixel centre returns the pixel; x = 0 (ix = -0.5) is half the first column; a location
// far away, or NaN, gives 0; the second level is addressed from its own start token.
START_TEST(msdeform_hand_cases) {
    int64_t shapes[2][2] = {{2, 3}, {1, 2}};
    float value[8]; // [1, 8, 1, 1]: level 0 tokens 1..6, level 1 tokens 10, 20
    for (int i = 0; i < 6; i++)
        value[i] = (float)(i + 1);
    value[6] = 10;
    value[7] = 20;
    // One query, 1 head, 2 levels x 1 point; each case sets the two locations and weights.
    struct {
        float loc[4], aw[2], want;
    } cases[] = {
        {{(2 + 0.5f) / 3, (1 + 0.5f) / 2, 0.75f, 0.5f}, {1, 0}, 6},         // pixel (x 2, y 1)
        {{0.0f, 0.25f, 0.75f, 0.5f}, {1, 0}, 0.5f},                         // half of pixel (0, 0)
        {{0.5f, 0.5f, 0.75f, 0.5f}, {0, 1}, 20},                            // level 1, token 1
        {{0.5f, 0.5f, 0.5f, 0.5f}, {0, 2}, 30},                             // between 10 and 20
        {{7.0f, 0.5f, NAN, 0.5f}, {1, 1}, 0},                               // far away, NaN
        {{(1 + 0.5f) / 3, 0.25f, 0.25f, 0.5f}, {0.5f, 0.5f}, 0.5f * 2 + 5}, // both levels
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ug_tensor v = ug_tensor_wrap(value, UG_F32, UG_DIMS(1, 8, 1, 1));
        ug_tensor l = ug_tensor_wrap(cases[k].loc, UG_F32, UG_DIMS(1, 1, 1, 2, 2));
        ug_tensor a = ug_tensor_wrap(cases[k].aw, UG_F32, UG_DIMS(1, 1, 1, 2));
        float got = -1, ref = -1;
        ug_tensor o = ug_tensor_wrap(&got, UG_F32, UG_DIMS(1, 1, 1));
        msdeform_attn_cpu(&test_ctx, &o, &v, shapes, 2, &l, &a);
        msdeform_attn_ref(&ref, value, shapes, 2, 1, cases[k].loc, cases[k].aw, 1, 1, 1, 1);
        ck_assert_msg(fabsf(got - cases[k].want) < 1e-5f, "case %zu: fast %g, want %g", k, got,
                      cases[k].want);
        ck_assert_msg(fabsf(ref - cases[k].want) < 1e-5f, "case %zu: ref %g, want %g", k, ref, cases[k].want);
    }
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "msdeform_attn",
                                           .setup = test_ctx_setup_odd,
                                           .teardown = test_ctx_teardown,
                                           .timeout = 60},
                          &s);
    test_add(tc, msdeform_matches_ref_one_level, msdeform_matches_ref_three_levels,
             msdeform_ref_is_grid_sample_sum, msdeform_hand_cases);
    return test_run_suite(s);
}
