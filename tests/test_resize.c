// tests/test_resize.c — PyTorch bilinear resize, Pillow resize, ResizeLongestSide shape, the SAM
// and RbA input normalisations: fast kernels vs references, hand cases and golden files.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/image.h"
#include "engine/tensor.h"
#include "ops/movement.h"
#include "ops/resize.h"
#include "tests/helpers.h"

// ------------------------------------------------------------------------------------------
// Bilinear

static const int64_t sizes[] = {1, 3, 17, 33, 127};

// Fast vs reference on every pair of odd sizes (up and down), both align_corners settings.
// Tolerance 1e-6 abs + 1e-6 rel on inputs in [-1, 1]: the fast kernel rounds the horizontal
// blend and the vertical blend to float (a few ulp), the reference accumulates in double.
START_TEST(bilinear_matches_ref_odd_sizes) {
    for (int ac = 0; ac < 2; ac++)
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 5; b++) {
                int64_t H = sizes[a], W = sizes[(a + 2) % 5], Ho = sizes[b], Wo = sizes[(b + 1) % 5];
                int64_t B = 2, C = 3;
                ug_tensor x, y;
                ug_err err;
                ck_assert_int_eq(ug_tensor_new(&x, UG_F32, UG_DIMS(B, C, H, W), &err), UG_OK);
                ck_assert_int_eq(ug_tensor_new(&y, UG_F32, UG_DIMS(B, C, Ho, Wo), &err), UG_OK);
                test_fill_uniform(x.data, (size_t)(B * C * H * W), -1, 1, (uint64_t)(a * 10 + b));
                float *want = malloc((size_t)(B * C * Ho * Wo) * sizeof(float));
                resize_bilinear_ref(want, x.data, B * C, H, W, Ho, Wo, ac);
                resize_bilinear_cpu(&test_ctx, &y, &x, ac);
                char what[96];
                snprintf(what, sizeof what, "bilinear %ldx%ld->%ldx%ld ac=%d", (long)H, (long)W, (long)Ho,
                         (long)Wo, ac);
                test_assert_close(y.data, want, (size_t)(B * C * Ho * Wo), 1e-6, 1e-6, what);
                free(want);
                ug_tensor_free(&x);
                ug_tensor_free(&y);
            }
}
END_TEST

// Known values: [0, 1] -> 4 samples. align_corners=False: src = 0.5 i - 0.25 clamped at 0,
// giving 0, 0.25, 0.75, 1; align_corners=True: 0, 1/3, 2/3, 1. Same size: an exact copy.
START_TEST(bilinear_hand_cases) {
    float x[2] = {0.0f, 1.0f}, y[4];
    resize_bilinear_ref(y, x, 1, 1, 2, 1, 4, false);
    float want_f[4] = {0.0f, 0.25f, 0.75f, 1.0f};
    test_assert_close(y, want_f, 4, 0, 0, "ref ac=False");
    ug_tensor tx = ug_tensor_wrap(x, UG_F32, UG_DIMS(1, 2)), ty = ug_tensor_wrap(y, UG_F32, UG_DIMS(1, 4));
    memset(y, 0, sizeof y);
    resize_bilinear_cpu(&test_ctx, &ty, &tx, false);
    test_assert_close(y, want_f, 4, 0, 0, "fast ac=False");
    resize_bilinear_cpu(&test_ctx, &ty, &tx, true);
    float want_t[4] = {0.0f, 1.0f / 3.0f, 2.0f / 3.0f, 1.0f};
    test_assert_close(y, want_t, 4, 1e-7, 0, "fast ac=True");

    float img[12], out[12];
    test_fill_normal(img, 12, 3.0f, 5);
    ug_tensor ti = ug_tensor_wrap(img, UG_F32, UG_DIMS(3, 4)),
              to = ug_tensor_wrap(out, UG_F32, UG_DIMS(3, 4));
    resize_bilinear_cpu(&test_ctx, &to, &ti, false);
    ck_assert_mem_eq(out, img, sizeof img);
}
END_TEST

// Strided input (a crop of a larger map) and strided output (a window of a larger map).
START_TEST(bilinear_strided_views) {
    ug_tensor big, out, xc, want;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&big, UG_F32, UG_DIMS(2, 4, 40, 50), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&out, UG_F32, UG_DIMS(2, 4, 70, 80), &err), UG_OK);
    test_fill_uniform(big.data, (size_t)ug_tensor_numel(&big), -2, 2, 77);
    ug_tensor crop = ug_view_slice(&big, 2, 3, 33);
    crop = ug_view_slice(&crop, 3, 5, 17);
    ck_assert_int_eq(ug_tensor_new(&xc, UG_F32, UG_DIMS(2, 4, 33, 17), &err), UG_OK);
    copy_ref(&xc, &crop);
    ck_assert_int_eq(ug_tensor_new(&want, UG_F32, UG_DIMS(2, 4, 61, 45), &err), UG_OK);
    resize_bilinear_ref(want.data, xc.data, 8, 33, 17, 61, 45, false);
    ug_tensor win = ug_view_slice(&out, 2, 2, 61);
    win = ug_view_slice(&win, 3, 7, 45);
    resize_bilinear_cpu(&test_ctx, &win, &crop, false);
    ug_tensor got;
    ck_assert_int_eq(ug_tensor_new(&got, UG_F32, UG_DIMS(2, 4, 61, 45), &err), UG_OK);
    copy_ref(&got, &win);
    test_assert_close(got.data, want.data, (size_t)ug_tensor_numel(&got), 2e-6, 1e-6, "strided bilinear");
    // The output window's surroundings are untouched (still zero).
    ck_assert_float_eq(((float *)out.data)[0], 0.0f);
    ug_tensor_free(&big);
    ug_tensor_free(&out);
    ug_tensor_free(&xc);
    ug_tensor_free(&want);
    ug_tensor_free(&got);
}
END_TEST

// UGainS SAM input: F.interpolate of the normalised image 96x160 -> 154x256 (golden, 1e-6 abs:
// the rule reproduces PyTorch to 1 ulp, values are below 3).
START_TEST(bilinear_golden_sam_input) {
    test_require_golden();
    ug_tensor x, want, y;
    ug_err err;
    x = test_golden_npy("pipeline_tiny/sam_input_normalized.npy");
    want = test_golden_npy("pipeline_tiny/sam_input_resized.npy");
    ck_assert_int_eq(ug_tensor_new(&y, UG_F32, UG_DIMS(1, 3, 154, 256), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_check_shape(&want, UG_DIMS(1, 3, 154, 256), "want", &err), UG_OK);
    resize_bilinear_cpu(&test_ctx, &y, &x, false);
    test_assert_close(y.data, want.data, (size_t)ug_tensor_numel(&y), 1e-6, 0, "sam_input_resized");
    float *r = malloc(ug_tensor_nbytes(&y));
    resize_bilinear_ref(r, x.data, 3, 96, 160, 154, 256, false);
    test_assert_close(r, want.data, (size_t)ug_tensor_numel(&y), 1e-6, 0, "sam_input_resized (ref)");
    free(r);
    ug_tensor_free(&x);
    ug_tensor_free(&want);
    ug_tensor_free(&y);
}
END_TEST

// SAM postprocess_masks: 64 -> 256x256 bilinear, crop [:154, :256], bilinear -> 96x160, read
// through a strided crop view. Golden, 2e-6 abs on logits up to ~3.
START_TEST(bilinear_golden_postprocess_masks) {
    test_require_golden();
    ug_tensor low, want, up, y;
    ug_err err;
    low = test_golden_npy("sam_tiny/p0-low_res_masks_multi.npy");
    want = test_golden_npy("sam_tiny/p0-masks_multi.npy");
    ck_assert_int_eq(ug_tensor_new(&up, UG_F32, UG_DIMS(1, 3, 256, 256), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&y, UG_F32, UG_DIMS(1, 3, 96, 160), &err), UG_OK);
    resize_bilinear_cpu(&test_ctx, &up, &low, false);
    ug_tensor crop = ug_view_slice(&up, 2, 0, 154);
    resize_bilinear_cpu(&test_ctx, &y, &crop, false);
    test_assert_close(y.data, want.data, (size_t)ug_tensor_numel(&y), 2e-6, 0, "postprocess_masks");
    ug_tensor_free(&low);
    ug_tensor_free(&want);
    ug_tensor_free(&up);
    ug_tensor_free(&y);
}
END_TEST

// ------------------------------------------------------------------------------------------
// Pillow

// Fast vs reference, bit exact, on odd sizes up and down (factors up to 127x), 1 and 3 channels.
START_TEST(pillow_matches_ref_odd_sizes) {
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            for (int64_t C = 1; C <= 3; C += 2) {
                int64_t H = sizes[a], W = sizes[(a + 3) % 5], Ho = sizes[b], Wo = sizes[(b + 2) % 5];
                ug_tensor x, y;
                ug_err err;
                ck_assert_int_eq(ug_tensor_new(&x, UG_U8, UG_DIMS(H, W, C), &err), UG_OK);
                ck_assert_int_eq(ug_tensor_new(&y, UG_U8, UG_DIMS(Ho, Wo, C), &err), UG_OK);
                test_rng r = test_rng_seed((uint64_t)(100 + a * 7 + b));
                uint8_t *px = x.data;
                for (int64_t i = 0; i < H * W * C; i++)
                    px[i] = (uint8_t)(test_rng_u64(&r) >> 56);
                uint8_t *want = malloc((size_t)(Ho * Wo * C));
                resize_pillow_ref(want, px, H, W, Ho, Wo, C);
                resize_pillow_cpu(&test_ctx, &y, &x);
                ck_assert_msg(memcmp(y.data, want, (size_t)(Ho * Wo * C)) == 0,
                              "pillow %ldx%ld -> %ldx%ld x%ld differs from the reference", (long)H, (long)W,
                              (long)Ho, (long)Wo, (long)C);
                free(want);
                ug_tensor_free(&x);
                ug_tensor_free(&y);
            }
}
END_TEST

// A constant image stays constant (weights sum to 2^22 up to rounding) and an identity resize
// is a copy.
START_TEST(pillow_hand_cases) {
    uint8_t x[5 * 7 * 3], y[3 * 11 * 3];
    memset(x, 200, sizeof x);
    resize_pillow_ref(y, x, 5, 7, 3, 11, 3);
    for (size_t i = 0; i < sizeof y; i++)
        ck_assert_uint_eq(y[i], 200);
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (uint8_t)(i * 37);
    uint8_t z[sizeof x];
    ug_tensor tx = ug_tensor_wrap(x, UG_U8, UG_DIMS(5, 7, 3)),
              tz = ug_tensor_wrap(z, UG_U8, UG_DIMS(5, 7, 3));
    resize_pillow_cpu(&test_ctx, &tz, &tx);
    ck_assert_mem_eq(z, x, sizeof x);
}
END_TEST

// SamPredictor: Pillow 160x96 -> 256x154 of the golden image, bit exact (reference and fast).
START_TEST(pillow_golden_sam) {
    test_require_golden();
    ug_tensor x, want, y;
    ug_err err;
    x = test_golden_npy("sam_tiny/input_image_uint8.npy");
    want = test_golden_npy("sam_tiny/input_resized_uint8.npy");
    int64_t ho, wo;
    resize_longest_side_shape(x.shape[0], x.shape[1], 256, &ho, &wo);
    ck_assert_int_eq(ho, 154);
    ck_assert_int_eq(wo, 256);
    ck_assert_int_eq(ug_tensor_check_shape(&want, UG_DIMS(154, 256, 3), "want", &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&y, UG_U8, UG_DIMS(ho, wo, 3), &err), UG_OK);
    resize_pillow_cpu(&test_ctx, &y, &x);
    ck_assert_mem_eq(y.data, want.data, (size_t)(ho * wo * 3));
    memset(y.data, 0, (size_t)(ho * wo * 3));
    resize_pillow_ref(y.data, x.data, 96, 160, ho, wo, 3);
    ck_assert_mem_eq(y.data, want.data, (size_t)(ho * wo * 3));
    ug_tensor_free(&x);
    ug_tensor_free(&want);
    ug_tensor_free(&y);
}
END_TEST

START_TEST(longest_side_shapes) {
    int64_t h, w;
    resize_longest_side_shape(1024, 2048, 1024, &h, &w);
    ck_assert_int_eq(h, 512);
    ck_assert_int_eq(w, 1024);
    resize_longest_side_shape(720, 1280, 1024, &h, &w); // 720 * 0.8 = 576
    ck_assert_int_eq(h, 576);
    ck_assert_int_eq(w, 1024);
    resize_longest_side_shape(1000, 333, 1024, &h, &w); // 333 * 1.024 = 340.99 -> 341
    ck_assert_int_eq(h, 1024);
    ck_assert_int_eq(w, 341);
    resize_longest_side_shape(3, 2, 5, &h, &w); // 2 * 5/3 = 3.33 -> 3
    ck_assert_int_eq(h, 5);
    ck_assert_int_eq(w, 3);
}
END_TEST

// ------------------------------------------------------------------------------------------
// Normalisations

// Sam.preprocess of the golden resized image: 1e-6 abs (the same float32 division).
START_TEST(sam_normalize_pad_golden) {
    test_require_golden();
    ug_tensor img, want, y;
    ug_err err;
    img = test_golden_npy("sam_tiny/input_resized_uint8.npy");
    want = test_golden_npy("sam_tiny/input_preprocessed.npy");
    ck_assert_int_eq(ug_tensor_new(&y, UG_F32, UG_DIMS(1, 3, 256, 256), &err), UG_OK);
    fill_cpu(&test_ctx, &y, NAN); // every element must be written, padding included
    const float mean[3] = {123.675f, 116.28f, 103.53f}, std[3] = {58.395f, 57.12f, 57.375f};
    sam_normalize_pad_cpu(&test_ctx, &y, &img, mean, std);
    test_assert_close(y.data, want.data, (size_t)ug_tensor_numel(&y), 1e-6, 0, "input_preprocessed");
    ck_assert_float_eq(((float *)y.data)[2 * 256 * 256 + 200 * 256 + 3], 0.0f);
    ug_tensor_free(&img);
    ug_tensor_free(&want);
    ug_tensor_free(&y);
}
END_TEST

// UGainS normalisation of the RbA golden PNGs (albumentations float32 steps), 1e-6 abs.
START_TEST(rba_normalize_golden) {
    test_require_golden();
    const char *names[2][2] = {{"rba_tiny/img0.png", "rba_tiny/img0_input.npy"},
                               {"rba_tiny/img1.png", "rba_tiny/img1_input.npy"}};
    for (int i = 0; i < 2; i++) {
        ug_tensor img, want, y;
        ug_err err;
        char *png = test_golden_path(names[i][0]);
        ug_status st = ug_image_read(png, UG_IMAGE_RGB, &img, &err);
        ck_assert_msg(st == UG_OK, "%s: %s", png, err.msg);
        free(png);
        want = test_golden_npy(names[i][1]);
        int64_t H = img.shape[0], W = img.shape[1];
        ck_assert_int_eq(ug_tensor_check_shape(&want, UG_DIMS(1, 3, H, W), names[i][1], &err), UG_OK);
        ck_assert_int_eq(ug_tensor_new(&y, UG_F32, UG_DIMS(1, 3, H, W), &err), UG_OK);
        rba_normalize_cpu(&test_ctx, &y, &img);
        test_assert_close(y.data, want.data, (size_t)ug_tensor_numel(&y), 1e-6, 0, names[i][1]);
        ug_tensor_free(&img);
        ug_tensor_free(&want);
        ug_tensor_free(&y);
    }
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "resize", .setup = test_ctx_setup_odd, .teardown = test_ctx_teardown, .timeout = 60},
        &s);
    test_add(tc, bilinear_matches_ref_odd_sizes, bilinear_hand_cases, bilinear_strided_views,
             pillow_matches_ref_odd_sizes, pillow_hand_cases, longest_side_shapes);
    TCase *golden = tcase_create("golden");
    tcase_add_checked_fixture(golden, test_ctx_setup_odd, test_ctx_teardown);
    tcase_set_timeout(golden, 60);
    test_add(golden, bilinear_golden_sam_input, bilinear_golden_postprocess_masks, pillow_golden_sam,
             sam_normalize_pad_golden, rba_normalize_golden);
    suite_add_tcase(s, golden);
    return test_run_suite(s);
}
