// tests/test_grid_sample.c — bilinear grid sampling with zero padding (align_corners=False):
// fast vs reference, points outside the map, hand cases.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/grid_sample.h"
#include "ops/movement.h"
#include "tests/helpers.h"

// Grid in [-1.4, 1.4]: about a third of the points have corners outside the map. Tolerance
// 1e-6 abs + 1e-6 rel on |x| <= 1: the fast kernel forms weights and the 4-term sum in float
// (a few ulp), the reference in double.
START_TEST(grid_sample_matches_ref) {
    static const int64_t sizes[] = {1, 3, 17, 33, 127};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            int64_t B = 2, C = sizes[(a + b) % 3], H = sizes[a], W = sizes[(a + 1) % 5];
            int64_t Ho = sizes[b], Wo = sizes[(b + 3) % 5] % 20 + 1;
            ug_tensor x, g, y;
            ug_err err;
            ck_assert_int_eq(ug_tensor_new(&x, UG_F32, UG_DIMS(B, C, H, W), &err), UG_OK);
            ck_assert_int_eq(ug_tensor_new(&g, UG_F32, UG_DIMS(B, Ho, Wo, 2), &err), UG_OK);
            ck_assert_int_eq(ug_tensor_new(&y, UG_F32, UG_DIMS(B, C, Ho, Wo), &err), UG_OK);
            test_fill_uniform(x.data, (size_t)ug_tensor_numel(&x), -1, 1, (uint64_t)(a * 5 + b));
            test_fill_uniform(g.data, (size_t)ug_tensor_numel(&g), -1.4f, 1.4f, (uint64_t)(99 + a * 5 + b));
            float *want = malloc(ug_tensor_nbytes(&y));
            grid_sample_ref(want, x.data, g.data, B, C, H, W, Ho, Wo);
            grid_sample_cpu(&test_ctx, &y, &x, &g);
            test_assert_close(y.data, want, (size_t)ug_tensor_numel(&y), 1e-6, 1e-6, "grid_sample");
            free(want);
            ug_tensor_free(&x);
            ug_tensor_free(&g);
            ug_tensor_free(&y);
        }
}
END_TEST

// Pixel centres return the pixel; the left edge (gx = -1, i.e. ix = -0.5) is half the first
// column (the other half falls outside); far-away and NaN points give 0.
START_TEST(grid_sample_hand_cases) {
    enum { H = 3, W = 4 };
    float x[H * W];
    for (int i = 0; i < H * W; i++)
        x[i] = (float)(i + 1);
    float g[6][2] = {{(2 * 2 + 1) / (float)W - 1, (2 * 1 + 1) / (float)H - 1}, // pixel (x 2, y 1)
                     {-1.0f, (2 * 0 + 1) / (float)H - 1},                      // half of pixel (0, 0)
                     {5.0f, 0.0f},
                     {NAN, 0.0f},
                     {1.0f, 1.0f},    // quarter of the last pixel
                     {-0.0f, -0.0f}}; // centre: mean of 4
    float y[6], r[6];
    ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(1, 1, H, W)),
              tg = ug_tensor_wrap(g, UG_F32, UG_DIMS(1, 1, 6, 2));
    ug_tensor ty = ug_tensor_wrap(y, UG_F32, UG_DIMS(1, 1, 1, 6));
    grid_sample_cpu(&test_ctx, &ty, &tx, &tg);
    grid_sample_ref(r, x, &g[0][0], 1, 1, H, W, 1, 6);
    // The centre (0, 0) is ix = 1.5, iy = 1: the mean of x[1][1..2] = (6 + 7) / 2.
    float want[6] = {7.0f, 0.5f, 0.0f, 0.0f, 0.25f * 12.0f, 6.5f};
    test_assert_close(y, want, 6, 1e-6, 0, "grid_sample hand cases (fast)");
    test_assert_close(r, want, 6, 1e-6, 0, "grid_sample hand cases (ref)");
}
END_TEST

// MSDeformAttn layout: value [B*heads, D, H, W] sampled at [B*heads, Q, P, 2], with strided
// value and grid views (a head slice of a wider tensor).
START_TEST(grid_sample_strided) {
    ug_tensor xv, gv, x, g, y, xc, gc;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&xv, UG_F32, UG_DIMS(3, 8, 5, 9), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&gv, UG_F32, UG_DIMS(3, 17, 4, 3), &err), UG_OK);
    test_fill_uniform(xv.data, (size_t)ug_tensor_numel(&xv), -1, 1, 1);
    test_fill_uniform(gv.data, (size_t)ug_tensor_numel(&gv), -1.1f, 1.1f, 2);
    x = ug_view_slice(&xv, 1, 2, 3);
    g = ug_view_slice(&gv, 3, 1, 2);
    ck_assert_int_eq(ug_tensor_new(&y, UG_F32, UG_DIMS(3, 3, 17, 4), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&xc, UG_F32, UG_DIMS(3, 3, 5, 9), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&gc, UG_F32, UG_DIMS(3, 17, 4, 2), &err), UG_OK);
    copy_ref(&xc, &x);
    copy_ref(&gc, &g);
    float *want = malloc(ug_tensor_nbytes(&y));
    grid_sample_ref(want, xc.data, gc.data, 3, 3, 5, 9, 17, 4);
    grid_sample_cpu(&test_ctx, &y, &x, &g);
    test_assert_close(y.data, want, (size_t)ug_tensor_numel(&y), 1e-6, 1e-6, "grid_sample strided");
    free(want);
    ug_tensor_free(&xv);
    ug_tensor_free(&gv);
    ug_tensor_free(&y);
    ug_tensor_free(&xc);
    ug_tensor_free(&gc);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "grid_sample", .setup = test_ctx_setup_odd, .teardown = test_ctx_teardown},
        &s);
    test_add(tc, grid_sample_matches_ref, grid_sample_hand_cases, grid_sample_strided);
    return test_run_suite(s);
}
