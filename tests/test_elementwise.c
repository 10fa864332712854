// tests/test_elementwise.c — add / mul / scale_add over contiguous, strided and broadcast
// views against the references on materialised arrays.
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "ops/elementwise.h"
#include "tests/helpers.h"

static const int64_t odd[] = {1, 3, 17, 33, 127};

// add and mul: the kernel rounds each element exactly like the reference, so the tolerance
// is 0.
START_TEST(add_mul_contiguous_and_in_place) {
    for (int s = 0; s < 5; s++) {
        for (int s2 = 0; s2 < 5; s2++) {
            int64_t R = odd[s], C = odd[s2] * 129, n = R * C; // up to 127 x 16383: several blocks
            float *a = test_normal_f32(n, 10 + s), *b = test_normal_f32(n, 20 + s2),
                  *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
            ug_tensor ta = ug_tensor_wrap(a, UG_F32, UG_DIMS(R, C)),
                      tb = ug_tensor_wrap(b, UG_F32, UG_DIMS(R, C));
            ug_tensor ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(R, C));
            add_ref(want, a, b, n);
            add_cpu(&test_ctx, &ty, &ta, &tb);
            test_assert_close(got, want, (size_t)n, 0, 0, "add");
            mul_ref(want, a, b, n);
            mul_cpu(&test_ctx, &ty, &ta, &tb);
            test_assert_close(got, want, (size_t)n, 0, 0, "mul");
            add_ref(want, a, b, n);
            add_cpu(&test_ctx, &ta, &ta, &tb); // y = a, in place
            test_assert_close(a, want, (size_t)n, 0, 0, "add in place");
            free(a), free(b), free(want), free(got);
        }
    }
}
END_TEST

// b broadcast through stride-0 views: per-channel [C] over [B, C, H, W], a row [W] over
// every (b, c, h), a scalar over everything; and a per-pixel map [H, W] over channels.
START_TEST(add_broadcast_views) {
    for (int s = 0; s < 5; s++) {
        int64_t B = 2, C = odd[s], H = odd[(s + 2) % 5], W = odd[(s + 3) % 5], n = B * C * H * W;
        float *a = test_normal_f32(n, 100 + s), *full = malloc((size_t)n * 4), *want = malloc((size_t)n * 4),
              *got = malloc((size_t)n * 4);
        float *bc = test_normal_f32(C, 200 + s), *bw = test_normal_f32(W, 300 + s),
              *bs = test_normal_f32(1, 400 + s), *bhw = test_normal_f32(H * W, 500 + s);
        ug_tensor ta = ug_tensor_wrap(a, UG_F32, UG_DIMS(B, C, H, W));
        ug_tensor ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(B, C, H, W));

        ug_tensor t = ug_tensor_wrap(bc, UG_F32, UG_DIMS(C)); // [C] -> [B, C, H, W]
        t = ug_view_expand_dim(&t, 0, B);
        t = ug_view_expand_dim(&t, 2, H);
        t = ug_view_expand_dim(&t, 3, W);
        ug_tensor views[4];
        views[0] = t;
        t = ug_tensor_wrap(bw, UG_F32, UG_DIMS(W)); // [W] -> [B, C, H, W]
        t = ug_view_expand_dim(&t, 0, B);
        t = ug_view_expand_dim(&t, 1, C);
        views[1] = ug_view_expand_dim(&t, 2, H);
        t = ug_tensor_wrap(bs, UG_F32, UG_DIMS(1, 1, 1, 1)); // scalar: size-1 dims with stride 0
        for (int d = 0; d < 4; d++)
            t.stride[d] = 0;
        t.shape[0] = B, t.shape[1] = C, t.shape[2] = H, t.shape[3] = W;
        views[2] = t;
        t = ug_tensor_wrap(bhw, UG_F32, UG_DIMS(H, W)); // [H, W] -> [B, C, H, W]
        t = ug_view_expand_dim(&t, 0, B);
        views[3] = ug_view_expand_dim(&t, 1, C);
        for (int v = 0; v < 4; v++) {
            test_materialise_f32(full, &views[v]);
            add_ref(want, a, full, n);
            add_cpu(&test_ctx, &ty, &ta, &views[v]);
            test_assert_close(got, want, (size_t)n, 0, 0, "add broadcast");
            mul_ref(want, a, full, n);
            mul_cpu(&test_ctx, &ty, &ta, &views[v]);
            test_assert_close(got, want, (size_t)n, 0, 0, "mul broadcast");
        }
        free(a), free(full), free(want), free(got), free(bc), free(bw), free(bs), free(bhw);
    }
}
END_TEST

// Non-contiguous a and y: a transposed (permuted) view, y written through a slice.
START_TEST(add_strided_views) {
    int64_t H = 17, W = 33, n = H * W;
    float *a = test_normal_f32(n, 600), *b = test_normal_f32(n, 601), *y = calloc((size_t)(2 * n), 4);
    float *at = malloc((size_t)n * 4), *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
    ug_tensor ta = ug_tensor_wrap(a, UG_F32, UG_DIMS(H, W));
    ug_tensor tat = ug_view_transpose(&ta, 0, 1); // [W, H]
    ug_tensor tb = ug_tensor_wrap(b, UG_F32, UG_DIMS(W, H));
    ug_tensor tyy = ug_tensor_wrap(y, UG_F32, UG_DIMS(W, 2 * H));
    ug_tensor ty = ug_view_slice(&tyy, 1, H, H); // right half of each row
    test_materialise_f32(at, &tat);
    add_ref(want, at, b, n);
    add_cpu(&test_ctx, &ty, &tat, &tb);
    test_materialise_f32(got, &ty);
    test_assert_close(got, want, (size_t)n, 0, 0, "add strided");
    for (int64_t r = 0; r < W; r++)
        for (int64_t c = 0; c < H; c++)
            ck_assert_float_eq(y[r * 2 * H + c], 0.0f); // left half untouched
    free(a), free(b), free(y), free(at), free(want), free(got);
}
END_TEST

// scale_add: one fma against the double reference: at most 1 ulp apart (rtol 1.2e-7);
// atol 1e-7 covers results near 0 where alpha x and beta cancel.
START_TEST(scale_add_matches_ref) {
    for (int s = 0; s < 5; s++) {
        int64_t n = odd[s] * 1001;
        float *x = test_normal_f32(n, 700 + s), *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
        ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(n)), ty = ug_tensor_wrap(got, UG_F32, UG_DIMS(n));
        scale_add_ref(want, x, 0.125f * (float)(s + 1), -0.3f, n);
        scale_add_cpu(&test_ctx, &ty, &tx, 0.125f * (float)(s + 1), -0.3f);
        test_assert_close(got, want, (size_t)n, 1e-7, 1.2e-7, "scale_add");
        scale_add_cpu(&test_ctx, &tx, &tx, 0.125f * (float)(s + 1), -0.3f);
        test_assert_close(x, want, (size_t)n, 1e-7, 1.2e-7, "scale_add in place");
        free(x), free(want), free(got);
    }
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "elementwise", .setup = test_ctx_setup, .teardown = test_ctx_teardown}, &s);
    test_add(tc, add_mul_contiguous_and_in_place, add_broadcast_views, add_strided_views,
             scale_add_matches_ref);
    return test_run_suite(s);
}
