// tests/test_msdeform_sampling.c — the deformable encoder's sampling locations: fast vs
// reference on odd sizes (1 to 3 levels, batches, in place), and the formula on hand values.
//
// Tolerance: none. Both compute the same float32 operations (one division, one addition per
// coordinate), so the results must agree to the bit.
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/msdeform_sampling.h"
#include "tests/helpers.h"

static int64_t tokens(const int64_t (*shapes)[2], int64_t L) {
    int64_t S = 0;
    for (int64_t l = 0; l < L; l++)
        S += shapes[l][0] * shapes[l][1];
    return S;
}

static void check_case(const int64_t (*shapes)[2], int64_t L, int64_t B, int64_t M, int64_t P, bool in_place,
                       uint64_t seed) {
    int64_t S = tokens(shapes, L);
    ug_err err;
    ug_tensor off, loc;
    ck_assert_int_eq(ug_tensor_new(&off, UG_F32, UG_DIMS(B, S, M, L * P, 2), &err), UG_OK);
    test_fill_uniform(off.data, (size_t)ug_tensor_numel(&off), -8.0f, 8.0f, seed);
    float *want = malloc(ug_tensor_nbytes(&off));
    msdeform_sampling_locations_ref(want, off.data, shapes, L, B, M, P);
    if (in_place) {
        loc = off;
        msdeform_sampling_locations_cpu(&test_ctx, &loc, &off, shapes, L);
    } else {
        ck_assert_int_eq(ug_tensor_new(&loc, UG_F32, UG_DIMS(B, S, M, L * P, 2), &err), UG_OK);
        msdeform_sampling_locations_cpu(&test_ctx, &loc, &off, shapes, L);
    }
    ck_assert_msg(!memcmp(loc.data, want, ug_tensor_nbytes(&loc)), "L %lld B %lld M %lld P %lld: differs",
                  (long long)L, (long long)B, (long long)M, (long long)P);
    if (!in_place) ug_tensor_free(&loc);
    ug_tensor_free(&off);
    free(want);
}

START_TEST(sampling_matches_ref) {
    static const int64_t one[1][2] = {{17, 33}};
    static const int64_t three[3][2] = {{1, 3}, {3, 17}, {33, 1}};
    static const int64_t tiny[2][2] = {{1, 1}, {3, 5}};
    check_case(one, 1, 1, 1, 1, false, 1);
    check_case(one, 1, 2, 3, 4, false, 2);
    check_case(three, 3, 1, 8, 4, false, 3);
    check_case(three, 3, 3, 1, 3, true, 4);
    check_case(tiny, 2, 1, 17, 1, false, 5);
    check_case(tiny, 2, 2, 3, 17, true, 6);
}
END_TEST

// Level 0 is 2 x 4, level 1 is 1 x 2: token 5 is (y 1, x 1) of level 0, token 9 is (0, 1) of
// level 1. One head, one point per level.
START_TEST(sampling_formula) {
    static const int64_t shapes[2][2] = {{2, 4}, {1, 2}};
    ug_err err;
    ug_tensor off, loc;
    ck_assert_int_eq(ug_tensor_new(&off, UG_F32, UG_DIMS(1, 10, 1, 2, 2), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&loc, UG_F32, UG_DIMS(1, 10, 1, 2, 2), &err), UG_OK);
    float *o = off.data;
    for (int i = 0; i < 40; i++)
        o[i] = (float)(i % 7) - 3.0f;
    msdeform_sampling_locations_cpu(&test_ctx, &loc, &off, shapes, 2);
    const float *y = loc.data;
    // token 5: ref (1.5 / 4, 1.5 / 2); level 0 normaliser (4, 2), level 1 (2, 1).
    ck_assert_float_eq(y[20], 1.5f / 4.0f + o[20] / 4.0f);
    ck_assert_float_eq(y[21], 1.5f / 2.0f + o[21] / 2.0f);
    ck_assert_float_eq(y[22], 1.5f / 4.0f + o[22] / 2.0f);
    ck_assert_float_eq(y[23], 1.5f / 2.0f + o[23] / 1.0f);
    // token 9: ref (1.5 / 2, 0.5 / 1).
    ck_assert_float_eq(y[36], 1.5f / 2.0f + o[36] / 4.0f);
    ck_assert_float_eq(y[39], 0.5f / 1.0f + o[39] / 1.0f);
    ug_tensor_free(&off);
    ug_tensor_free(&loc);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "msdeform_sampling",
                                           .setup = test_ctx_setup_odd,
                                           .teardown = test_ctx_teardown},
                          &s);
    test_add(tc, sampling_matches_ref, sampling_formula);
    return test_run_suite(s);
}
