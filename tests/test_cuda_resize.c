// tests/test_cuda_resize.c — the CUDA resizes, input normalisations and grid_sample
// (ops/cuda/resize.cu, ops/cuda/grid_sample.cu), under every emulator schedule, outputs
// bit-identical across schedules.
//   resize_bilinear:   odd sizes 1..127 up and down, both align_corners, [2, 3, H, W] and 2-D;
//                      a cropped (strided) input written into a slice of a larger output. Exact
//                      against resize_bilinear_cpu on the host (same float expression, no fma),
//                      and 1e-6 abs + 1e-6 rel against the double reference (inputs in [-1, 1]).
//   resize_pillow:     odd sizes up and down (to 127x), C = 1, 3, 4, strided rows: exact against
//                      resize_pillow_ref (integer arithmetic, tables from the same doubles).
//   sam_normalize_pad: image inside a larger padded map, strided image rows: exact against
//                      sam_normalize_pad_cpu (the same f32 division).
//   rba_normalize:     odd sizes: exact against rba_normalize_cpu.
//   grid_sample:       odd sizes, grid over [-1.4, 1.4] (points outside), NaN / far points,
//                      strided x and grid slices: exact against grid_sample_cpu, 1e-6 abs +
//                      1e-6 rel against the double reference.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"
#include "ops/grid_sample.h"
#include "ops/movement.h"
#include "ops/resize.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static const int64_t sizes[] = {1, 3, 17, 33, 127};

static void fill_u8(ug_tensor *t, uint64_t seed) {
    test_rng r = test_rng_seed(seed);
    uint8_t *p = t->data;
    for (size_t i = 0; i < ug_tensor_nbytes(t); i++)
        p[i] = (uint8_t)(test_rng_u64(&r) >> 56);
}

START_TEST(cuda_bilinear_odd_sizes) {
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            for (int ac = 0; ac < 2; ac++) {
                int64_t H = sizes[a], W = sizes[(a + 2) % 5], Ho = sizes[b], Wo = sizes[(b + 3) % 5];
                bool four = (a + b) % 2 == 0;
                int64_t B = four ? 2 : 1, C = four ? 3 : 1;
                int64_t xs[4] = {B, C, H, W}, ys[4] = {B, C, Ho, Wo};
                int nd = four ? 4 : 2;
                ug_tensor hx = cut_host_new(UG_F32, nd, four ? xs : xs + 2),
                          hy = cut_host_new(UG_F32, nd, four ? ys : ys + 2);
                test_fill_uniform(hx.data, (size_t)ug_tensor_numel(&hx), -1, 1, (uint64_t)(a * 5 + b));
                float *want = malloc(ug_tensor_nbytes(&hy));
                resize_bilinear_ref(want, hx.data, B * C, H, W, Ho, Wo, ac);
                resize_bilinear_cpu(&cut_ctx, &hy, &hx, ac);
                test_assert_close(hy.data, want, (size_t)ug_tensor_numel(&hy), 1e-6, 1e-6, "bilinear cpu");
                ug_tensor first = {0};
                for (int s = 0; s < cut_schedule_count(); s++) {
                    cut_use_schedule(s);
                    ug_tensor dx = cut_upload(&hx), dy = cut_empty(UG_F32, hy.ndim, hy.shape);
                    resize_bilinear_cuda(&cut_ctx, &dy, &dx, ac);
                    ug_tensor dummy = {0}; // the bit-identity check is against the cpu result below
                    cut_check(&dy, want, 1e-6, 1e-6, &dummy, "bilinear ref");
                    ug_tensor_free(&dummy);
                    cut_check_exact(&dy, hy.data, &first, "bilinear vs cpu");
                    ug_tensor_free(&dx), ug_tensor_free(&dy);
                }
                ug_tensor_free(&first), ug_tensor_free(&hx), ug_tensor_free(&hy);
                free(want);
            }
}
END_TEST

// A crop [.., 3:36, 5:22] of a [2, 4, 40, 50] map resized into the slice [.., 4:65, 6:51] of a
// [2, 4, 70, 80] output, whose other elements stay 0.
START_TEST(cuda_bilinear_strided) {
    for (int ac = 0; ac < 2; ac++) {
        ug_tensor hbig = cut_host_new(UG_F32, UG_DIMS(2, 4, 40, 50)),
                  hout = cut_host_new(UG_F32, UG_DIMS(2, 4, 70, 80));
        test_fill_uniform(hbig.data, (size_t)ug_tensor_numel(&hbig), -1, 1, 7);
        ug_tensor hx = ug_view_slice(&hbig, 2, 3, 33), hy = ug_view_slice(&hout, 2, 4, 61);
        hx = ug_view_slice(&hx, 3, 5, 17);
        hy = ug_view_slice(&hy, 3, 6, 45);
        ug_tensor hzero = cut_host_new(UG_F32, UG_DIMS(2, 4, 70, 80)), first = {0};
        resize_bilinear_cpu(&cut_ctx, &hy, &hx, ac);
        for (int s = 0; s < cut_schedule_count(); s++) {
            cut_use_schedule(s);
            ug_tensor dbig = cut_upload(&hbig), dout = cut_upload(&hzero);
            ug_tensor dx = cut_dev_view(&dbig, &hbig, &hx), dy = cut_dev_view(&dout, &hout, &hy);
            resize_bilinear_cuda(&cut_ctx, &dy, &dx, ac);
            cut_check_exact(&dout, hout.data, &first, "bilinear strided");
            ug_tensor_free(&dbig), ug_tensor_free(&dout);
        }
        ug_tensor_free(&first), ug_tensor_free(&hbig), ug_tensor_free(&hout), ug_tensor_free(&hzero);
    }
}
END_TEST

START_TEST(cuda_pillow_odd_sizes) {
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            for (int64_t C = 1; C <= 4; C += (C == 1 ? 2 : 1)) {
                int64_t H = sizes[a], W = sizes[(a + 3) % 5], Ho = sizes[b], Wo = sizes[(b + 2) % 5];
                // Rows strided: x is the left W pixels of a [H, W + 2, C] image.
                ug_tensor hbig = cut_host_new(UG_U8, UG_DIMS(H, W + 2, C));
                fill_u8(&hbig, (uint64_t)(100 + a * 7 + b));
                ug_tensor hx = ug_view_slice(&hbig, 1, 0, W), hxc = cut_host_new(UG_U8, UG_DIMS(H, W, C));
                for (int64_t r = 0; r < H; r++)
                    memcpy((uint8_t *)hxc.data + r * W * C, (uint8_t *)hbig.data + r * (W + 2) * C,
                           (size_t)(W * C));
                uint8_t *want = malloc((size_t)(Ho * Wo * C));
                resize_pillow_ref(want, hxc.data, H, W, Ho, Wo, C);
                ug_tensor first = {0};
                for (int s = 0; s < cut_schedule_count(); s++) {
                    cut_use_schedule(s);
                    ug_tensor dbig = cut_upload(&hbig), dy = cut_empty(UG_U8, UG_DIMS(Ho, Wo, C));
                    ug_tensor dx = cut_dev_view(&dbig, &hbig, &hx);
                    resize_pillow_cuda(&cut_ctx, &dy, &dx);
                    cut_check_exact(&dy, want, &first, "pillow");
                    ug_tensor_free(&dbig), ug_tensor_free(&dy);
                }
                ug_tensor_free(&first), ug_tensor_free(&hbig), ug_tensor_free(&hxc);
                free(want);
            }
}
END_TEST

START_TEST(cuda_normalize) {
    static const float mean[3] = {123.675f, 116.28f, 103.53f}, std[3] = {58.395f, 57.12f, 57.375f};
    for (int a = 0; a < 5; a++) {
        int64_t h = sizes[a], w = sizes[(a + 2) % 5], S = 40 + a * 33, Sw = w + a;
        if (h > S) h = S;
        // SAM: image rows strided (the left w pixels of a wider image), padded map [1, 3, S, Sw].
        ug_tensor hbig = cut_host_new(UG_U8, UG_DIMS(h, w + 3, 3));
        fill_u8(&hbig, (uint64_t)(300 + a));
        ug_tensor himg = ug_view_slice(&hbig, 1, 0, w), hy = cut_host_new(UG_F32, UG_DIMS(1, 3, S, Sw));
        sam_normalize_pad_cpu(&cut_ctx, &hy, &himg, mean, std);
        // RbA: [h, w, 3] -> [1, 3, h, w].
        ug_tensor hr = cut_host_new(UG_U8, UG_DIMS(h, w, 3)), hyr = cut_host_new(UG_F32, UG_DIMS(1, 3, h, w));
        fill_u8(&hr, (uint64_t)(400 + a));
        rba_normalize_cpu(&cut_ctx, &hyr, &hr);
        ug_tensor f[2] = {{0}};
        for (int s = 0; s < cut_schedule_count(); s++) {
            cut_use_schedule(s);
            ug_tensor dbig = cut_upload(&hbig), dy = cut_empty(UG_F32, UG_DIMS(1, 3, S, Sw));
            ug_tensor dimg = cut_dev_view(&dbig, &hbig, &himg);
            sam_normalize_pad_cuda(&cut_ctx, &dy, &dimg, mean, std);
            cut_check_exact(&dy, hy.data, &f[0], "sam_normalize_pad");
            ug_tensor dr = cut_upload(&hr), dyr = cut_empty(UG_F32, UG_DIMS(1, 3, h, w));
            rba_normalize_cuda(&cut_ctx, &dyr, &dr);
            cut_check_exact(&dyr, hyr.data, &f[1], "rba_normalize");
            ug_tensor_free(&dbig), ug_tensor_free(&dy), ug_tensor_free(&dr), ug_tensor_free(&dyr);
        }
        ug_tensor_free(&f[0]), ug_tensor_free(&f[1]), ug_tensor_free(&hbig), ug_tensor_free(&hy);
        ug_tensor_free(&hr), ug_tensor_free(&hyr);
    }
}
END_TEST

// x [B, C, H, W] and grid [B, Ho, Wo, 2] given as views (possibly strided) of hxp / hgp.
static void check_grid_sample(const ug_tensor *hxp, const ug_tensor *hx, const ug_tensor *hgp,
                              const ug_tensor *hg, const char *what) {
    int64_t B = hx->shape[0], C = hx->shape[1], H = hx->shape[2], W = hx->shape[3];
    int64_t Ho = hg->shape[1], Wo = hg->shape[2];
    ug_tensor hy = cut_host_new(UG_F32, UG_DIMS(B, C, Ho, Wo)),
              xc = cut_host_new(UG_F32, UG_DIMS(B, C, H, W));
    ug_tensor gc = cut_host_new(UG_F32, UG_DIMS(B, Ho, Wo, 2));
    copy_ref(&xc, hx);
    copy_ref(&gc, hg);
    float *want = malloc(ug_tensor_nbytes(&hy));
    grid_sample_ref(want, xc.data, gc.data, B, C, H, W, Ho, Wo);
    grid_sample_cpu(&cut_ctx, &hy, hx, hg);
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor dxp = cut_upload(hxp), dgp = cut_upload(hgp), dy = cut_empty(UG_F32, UG_DIMS(B, C, Ho, Wo));
        ug_tensor dx = cut_dev_view(&dxp, hxp, hx), dg = cut_dev_view(&dgp, hgp, hg);
        grid_sample_cuda(&cut_ctx, &dy, &dx, &dg);
        ug_tensor dummy = {0};
        cut_check(&dy, want, 1e-6, 1e-6, &dummy, what);
        ug_tensor_free(&dummy);
        cut_check_exact(&dy, hy.data, &first, what);
        ug_tensor_free(&dxp), ug_tensor_free(&dgp), ug_tensor_free(&dy);
    }
    ug_tensor_free(&first), ug_tensor_free(&hy), ug_tensor_free(&xc), ug_tensor_free(&gc);
    free(want);
}

START_TEST(cuda_grid_sample) {
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            int64_t B = 2, C = sizes[(a + b) % 4] % 40 + 1, H = sizes[a], W = sizes[(a + 1) % 5];
            int64_t Ho = sizes[b], Wo = sizes[(b + 3) % 5] % 20 + 1;
            ug_tensor hx = cut_host_new(UG_F32, UG_DIMS(B, C, H, W)),
                      hg = cut_host_new(UG_F32, UG_DIMS(B, Ho, Wo, 2));
            test_fill_uniform(hx.data, (size_t)ug_tensor_numel(&hx), -1, 1, (uint64_t)(a * 5 + b));
            test_fill_uniform(hg.data, (size_t)ug_tensor_numel(&hg), -1.4f, 1.4f, (uint64_t)(99 + a * 5 + b));
            float *g = hg.data;
            g[0] = NAN;
            if (ug_tensor_numel(&hg) > 4) g[3] = 1e30f;
            check_grid_sample(&hx, &hx, &hg, &hg, "grid_sample");
            ug_tensor_free(&hx), ug_tensor_free(&hg);
        }
    // Strided: channels 2..4 of [3, 8, 5, 9] sampled at component slices 1..2 of [3, 17, 4, 3].
    ug_tensor xv = cut_host_new(UG_F32, UG_DIMS(3, 8, 5, 9)), gv = cut_host_new(UG_F32, UG_DIMS(3, 17, 4, 3));
    test_fill_uniform(xv.data, (size_t)ug_tensor_numel(&xv), -1, 1, 1);
    test_fill_uniform(gv.data, (size_t)ug_tensor_numel(&gv), -1.1f, 1.1f, 2);
    ug_tensor x = ug_view_slice(&xv, 1, 2, 3), g = ug_view_slice(&gv, 3, 1, 2);
    check_grid_sample(&xv, &x, &gv, &g, "grid_sample strided");
    ug_tensor_free(&xv), ug_tensor_free(&gv);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "cuda_resize", .setup = cut_setup, .teardown = cut_teardown, .timeout = 600},
        &s);
    test_add(tc, cuda_bilinear_odd_sizes, cuda_bilinear_strided, cuda_pillow_odd_sizes, cuda_normalize,
             cuda_grid_sample);
    return test_run_suite(s);
}
