// tests/test_cuda_conv.c — the CUDA conv2d and conv_transpose2x2 (ops/cuda/conv.cu) against
// conv2d_ref / conv_transpose2x2_ref (double accumulation), under every emulator schedule,
// outputs bit-identical across schedules.
//   conv2d: kernels 1, 2, 3, 4 (Swin's patch embedding, stride 4) and 16 (SAM's, stride 16,
//           scaled down to 48 x 33 pixels), stride 1 / 2, padding 0 / 1 / 2, ragged pixel
//           counts (not multiples of the 64 / 128 tile), Cout and Cin over {1, 3, 17, 33, 127};
//           x NCHW or the channels-last view of an NHWC buffer (nn_nhwc_as_nchw), y NCHW or
//           channels-last, weights F32 / BF16 / F16, bias none / F32 / BF16; B = 2.
//   conv_transpose2x2: x NCHW or channels-last, y NCHW or channels-last, every weight dtype,
//           bias none / F32 / BF16, 1 x 1 pixel up to SAM's upscaling scaled down.
//   errors: an operand on the CPU, a y of the wrong size: recorded as the context's error.
// Inputs uniform(-1, 1) (BF16/F16 weights rounded first, the reference uses the rounded values).
// Tolerance as tests/test_cuda_gemm.c, with K = Cin * kh * kw (convT: K = Cin) the length of
// each f32 dot product: atol 2^-22 * (K + 8), rtol 2^-21 (the bias rounding); the padding taps
// add exact zeros.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv2d.h"
#include "ops/conv_transpose.h"
#include "ops/cuda/cuda_ops.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static double atol_for(int64_t K) {
    return ldexp((double)(K + 8), -22);
}
static const double RTOL = 4.8e-7; // 2^-21

// [B, C, H, W] contiguous -> [B, H, W, C] contiguous (or back with inverse).
static float *nchw_to_nhwc(const float *x, int64_t B, int64_t C, int64_t H, int64_t W, bool inverse) {
    int64_t n = B * C * H * W;
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < H * W; p++) {
                int64_t i = (b * C + c) * H * W + p, j = (b * H * W + p) * C + c;
                if (inverse)
                    y[i] = x[j];
                else
                    y[j] = x[i];
            }
    return y;
}

// A device tensor [B, C, H, W] holding x (host NCHW): NCHW itself, or the channels-last view
// of an NHWC buffer (*buf owns the memory).
static ug_tensor upload_image(const float *x, int64_t B, int64_t C, int64_t H, int64_t W, bool cl,
                              ug_tensor *buf) {
    if (!cl) {
        ug_tensor h = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(B, C, H, W));
        *buf = cut_upload(&h);
        return *buf;
    }
    float *t = nchw_to_nhwc(x, B, C, H, W, false);
    ug_tensor h = ug_tensor_wrap(t, UG_F32, UG_DIMS(B, H, W, C));
    *buf = cut_upload(&h);
    free(t);
    return ug_view_permute(buf, (const int[]){0, 3, 1, 2});
}

// An empty (NaN) device output [B, C, H, W], NCHW or a channels-last view of *buf.
static ug_tensor empty_image(int64_t B, int64_t C, int64_t H, int64_t W, bool cl, ug_tensor *buf) {
    if (!cl) {
        *buf = cut_empty(UG_F32, UG_DIMS(B, C, H, W));
        return *buf;
    }
    *buf = cut_empty(UG_F32, UG_DIMS(B, H, W, C));
    return ug_view_permute(buf, (const int[]){0, 3, 1, 2});
}

typedef struct cv_case {
    int64_t B, Cin, H, W, Cout;
    int k, stride, pad;
    ug_dtype wdt;
    int bias; // 0 none, 1 F32, 2 BF16
    bool xcl, ycl;
} cv_case;

static void run_conv(const cv_case *c, uint64_t seed) {
    int64_t B = c->B, Cin = c->Cin, H = c->H, W = c->W, Cout = c->Cout, k = c->k;
    int64_t Ho = conv2d_out_size(H, k, c->stride, c->pad), Wo = conv2d_out_size(W, k, c->stride, c->pad);
    int64_t K = Cin * k * k, ny = B * Cout * Ho * Wo;
    float *x = malloc((size_t)(B * Cin * H * W) * sizeof(float));
    test_fill_uniform(x, (size_t)(B * Cin * H * W), -1.0f, 1.0f, seed);
    void *wq, *bq = NULL;
    float *w = cut_rand_weights(Cout * K, c->wdt, seed + 1, &wq);
    ug_dtype bdt = c->bias == 2 ? UG_BF16 : UG_F32;
    float *bw = c->bias ? cut_rand_weights(Cout, bdt, seed + 2, &bq) : NULL;
    float *ref = malloc((size_t)(ny ? ny : 1) * sizeof(float));
    conv2d_ref(ref, x, w, bw, B, Cin, H, W, Cout, (int)k, (int)k, c->stride, c->pad, c->pad, Ho, Wo);
    float *want = c->ycl ? nchw_to_nhwc(ref, B, Cout, Ho, Wo, false) : ref;

    ug_tensor xbuf, ybuf;
    ug_tensor dx = upload_image(x, B, Cin, H, W, c->xcl, &xbuf);
    ug_tensor hw = ug_tensor_wrap(wq, c->wdt, UG_DIMS(Cout, Cin, k, k)), dw = cut_upload(&hw);
    ug_tensor hb = c->bias ? ug_tensor_wrap(bq, bdt, UG_DIMS(Cout)) : (ug_tensor){0};
    ug_tensor db = c->bias ? cut_upload(&hb) : (ug_tensor){0};
    char what[160];
    snprintf(what, sizeof what,
             "conv2d B %lld Cin %lld %lldx%lld Cout %lld k %d s %d p %d %s bias %d xcl %d ycl %d",
             (long long)B, (long long)Cin, (long long)H, (long long)W, (long long)Cout, c->k, c->stride,
             c->pad, ug_dtype_name(c->wdt), c->bias, c->xcl, c->ycl);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dy = empty_image(B, Cout, Ho, Wo, c->ycl, &ybuf);
        conv2d_cuda(&cut_ctx, &dy, &dx, &dw, c->bias ? &db : NULL, c->stride, c->pad);
        cut_check(&ybuf, want, atol_for(K), RTOL, &first, what);
        ug_tensor_free(&ybuf);
    }
    ug_tensor_free(&first);
    ug_tensor_free(&xbuf), ug_tensor_free(&dw), ug_tensor_free(&db);
    if (want != ref) free(want);
    free(x), free(wq), free(w), free(bq), free(bw), free(ref);
}

START_TEST(cuda_conv2d_kernels) {
    static const cv_case cases[] = {
        // B  Cin  H   W  Cout k  s  p  wdt      bias xcl    ycl
        {2, 17, 5, 7, 33, 1, 1, 0, UG_F32, 1, false, false},    // 1x1 NCHW
        {2, 33, 3, 17, 17, 1, 1, 0, UG_BF16, 0, true, true},    // 1x1 NHWC -> NHWC (SAM neck)
        {1, 33, 4, 9, 127, 1, 1, 0, UG_F16, 1, true, false},    // 1x1 NHWC -> NCHW
        {2, 3, 17, 13, 17, 3, 1, 1, UG_F32, 1, false, false},   // 3x3 pad 1
        {2, 3, 17, 13, 17, 3, 1, 1, UG_F16, 2, true, false},    // ... channels-last input
        {2, 5, 17, 16, 17, 3, 2, 1, UG_F16, 1, false, false},   // 3x3 stride 2
        {1, 4, 9, 11, 3, 3, 1, 0, UG_BF16, 0, false, true},     // 3x3 no padding, NHWC out
        {1, 4, 10, 11, 5, 3, 2, 0, UG_F32, 1, true, true},      // 3x3 stride 2 no padding
        {1, 2, 6, 5, 3, 3, 1, 2, UG_F32, 1, false, false},      // pad 2: output larger than x
        {2, 1, 16, 15, 4, 2, 2, 0, UG_F32, 1, false, false},    // 2x2 stride 2 (SAM mask input)
        {2, 3, 17, 16, 33, 4, 4, 0, UG_BF16, 1, false, true},   // Swin patch embed, H 17 ragged
        {1, 3, 48, 33, 64, 16, 16, 0, UG_BF16, 1, false, true}, // SAM patch embed, K 768
        {1, 3, 48, 33, 64, 16, 16, 0, UG_F16, 2, false, false},
        {1, 32, 16, 16, 32, 3, 1, 1, UG_BF16, 0, true, false},  // SAM neck 3x3, scaled down
        {2, 3, 17, 13, 127, 3, 1, 1, UG_F32, 1, false, true},   // NHWC out: 2 x 2 tiles of y^T
        {1, 3, 68, 37, 96, 4, 4, 0, UG_BF16, 1, false, true},   // Swin patch embed, 17 x 9 tokens
        {1, 3, 64, 64, 128, 16, 16, 0, UG_BF16, 1, true, true}, // SAM patch embed, 4 x 4 tokens
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_conv(&cases[i], 1000 + 10 * i);
}
END_TEST

START_TEST(cuda_conv2d_odd_channels) {
    static const int64_t odd[] = {1, 3, 17, 33, 127};
    static const ug_dtype dts[] = {UG_F32, UG_BF16, UG_F16};
    for (int o = 0; o < 5; o++)
        for (int i = 0; i < 3; i++) {
            cv_case c = {
                .B = 1, .Cin = odd[i], .H = 7, .W = 5, .Cout = odd[o], .k = 3, .stride = 1 + (o + i) % 2};
            c.pad = 1, c.wdt = dts[(o + i) % 3], c.bias = (o + i) % 3;
            c.xcl = (o + i) % 2, c.ycl = (o + 2 * i) % 3 == 0;
            run_conv(&c, 2000 + 10 * (o * 3 + i));
        }
}
END_TEST

typedef struct ct_case {
    int64_t B, Cin, H, W, Cout;
    ug_dtype wdt;
    int bias;
    bool xcl, ycl;
} ct_case;

static void run_convt(const ct_case *c, uint64_t seed) {
    int64_t B = c->B, Cin = c->Cin, H = c->H, W = c->W, Cout = c->Cout, ny = B * Cout * 4 * H * W;
    float *x = malloc((size_t)(B * Cin * H * W) * sizeof(float));
    test_fill_uniform(x, (size_t)(B * Cin * H * W), -1.0f, 1.0f, seed);
    void *wq, *bq = NULL;
    float *w = cut_rand_weights(Cin * Cout * 4, c->wdt, seed + 1, &wq);
    ug_dtype bdt = c->bias == 2 ? UG_BF16 : UG_F32;
    float *bw = c->bias ? cut_rand_weights(Cout, bdt, seed + 2, &bq) : NULL;
    float *ref = malloc((size_t)ny * sizeof(float));
    conv_transpose2x2_ref(ref, x, w, bw, B, Cin, H, W, Cout);
    float *want = c->ycl ? nchw_to_nhwc(ref, B, Cout, 2 * H, 2 * W, false) : ref;

    ug_tensor xbuf, ybuf;
    ug_tensor dx = upload_image(x, B, Cin, H, W, c->xcl, &xbuf);
    ug_tensor hw = ug_tensor_wrap(wq, c->wdt, UG_DIMS(Cin, Cout, 2, 2)), dw = cut_upload(&hw);
    ug_tensor hb = c->bias ? ug_tensor_wrap(bq, bdt, UG_DIMS(Cout)) : (ug_tensor){0};
    ug_tensor db = c->bias ? cut_upload(&hb) : (ug_tensor){0};
    char what[160];
    snprintf(what, sizeof what,
             "conv_transpose2x2 B %lld Cin %lld %lldx%lld Cout %lld %s bias %d xcl %d ycl %d", (long long)B,
             (long long)Cin, (long long)H, (long long)W, (long long)Cout, ug_dtype_name(c->wdt), c->bias,
             c->xcl, c->ycl);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dy = empty_image(B, Cout, 2 * H, 2 * W, c->ycl, &ybuf);
        conv_transpose2x2_cuda(&cut_ctx, &dy, &dx, &dw, c->bias ? &db : NULL);
        cut_check(&ybuf, want, atol_for(Cin), RTOL, &first, what);
        ug_tensor_free(&ybuf);
    }
    ug_tensor_free(&first);
    ug_tensor_free(&xbuf), ug_tensor_free(&dw), ug_tensor_free(&db);
    if (want != ref) free(want);
    free(x), free(wq), free(w), free(bq), free(bw), free(ref);
}

START_TEST(cuda_conv_transpose2x2) {
    static const ct_case cases[] = {
        // B  Cin H  W  Cout wdt     bias xcl    ycl
        {1, 1, 1, 1, 1, UG_F32, 0, false, false},
        {2, 33, 5, 7, 17, UG_F32, 1, false, false},
        {2, 33, 5, 7, 17, UG_BF16, 2, true, false},
        {1, 17, 3, 9, 33, UG_F16, 1, false, true},
        {1, 3, 17, 1, 3, UG_F32, 1, true, true},
        {1, 64, 8, 8, 32, UG_BF16, 1, true, false}, // SAM's output upscaling, scaled down
        {1, 127, 2, 3, 40, UG_F16, 0, false, false},
        {1, 32, 12, 11, 40, UG_F32, 1, false, true}, // 2 x 3 tiles of T
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_convt(&cases[i], 3000 + 10 * i);
}
END_TEST

// ---- errors: recorded in the context, no crash; the fixture frees it without complaint ----

static void expect_error(const char *needle) {
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, needle), "%s", err.msg);
}

START_TEST(cuda_conv2d_cpu_input) {
    float x[2 * 4 * 4] = {0};
    ug_tensor hx = ug_tensor_wrap(x, UG_F32, UG_DIMS(1, 2, 4, 4)),
              hw = cut_rand(UG_DIMS(3, 2, 3, 3), -1, 1, 1);
    ug_tensor dw = cut_upload(&hw), dy = cut_empty(UG_F32, UG_DIMS(1, 3, 4, 4));
    conv2d_cuda(&cut_ctx, &dy, &hx, &dw, NULL, 1, 1); // x on the host
    expect_error("conv2d");
    ug_tensor_free(&hw), ug_tensor_free(&dw), ug_tensor_free(&dy);
}
END_TEST

START_TEST(cuda_conv2d_bad_output) {
    ug_tensor hx = cut_rand(UG_DIMS(1, 2, 4, 4), -1, 1, 2), hw = cut_rand(UG_DIMS(3, 2, 3, 3), -1, 1, 3);
    ug_tensor dx = cut_upload(&hx), dw = cut_upload(&hw), dy = cut_empty(UG_F32, UG_DIMS(1, 3, 4, 4));
    conv2d_cuda(&cut_ctx, &dy, &dx, &dw, NULL, 1, 0); // no padding: y must be 2 x 2
    expect_error("shapes do not match");
    ug_tensor_free(&hx), ug_tensor_free(&hw), ug_tensor_free(&dx), ug_tensor_free(&dw), ug_tensor_free(&dy);
}
END_TEST

START_TEST(cuda_conv_transpose_cpu_weight) {
    float w[2 * 3 * 4] = {0};
    ug_tensor hx = cut_rand(UG_DIMS(1, 2, 3, 3), -1, 1, 4),
              hw = ug_tensor_wrap(w, UG_F32, UG_DIMS(2, 3, 2, 2));
    ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, UG_DIMS(1, 3, 6, 6));
    conv_transpose2x2_cuda(&cut_ctx, &dy, &dx, &hw, NULL); // w on the host
    expect_error("conv_transpose2x2");
    ug_tensor_free(&hx), ug_tensor_free(&dx), ug_tensor_free(&dy);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cuda_conv", .setup = cut_setup, .teardown = cut_teardown, .timeout = 600},
        &s);
    test_add(tc, cuda_conv2d_kernels, cuda_conv2d_odd_channels, cuda_conv_transpose2x2);
    TCase *te = tcase_create("cuda_conv_errors");
    tcase_add_checked_fixture(te, cut_setup, cut_teardown_keep_error);
    tcase_add_test(te, cuda_conv2d_cpu_input);
    tcase_add_test(te, cuda_conv2d_bad_output);
    tcase_add_test(te, cuda_conv_transpose_cpu_weight);
    suite_add_tcase(s, te);
    return test_run_suite(s);
}
