// tests/test_backends.c — every entry of every backend's op table (ops/backend.h) against
// the plain-C reference of its op, on one small random case with odd sizes each. The per-op
// suites (tests/test_<op>.c) go deep on one kernel; this one makes sure a backend's table is
// complete and wired to kernels with the right contract.
//
// Tolerance: 1e-4 abs + 1e-4 rel for float results (kernels accumulate in f32, references in
// double; the sizes here keep the gap below 1e-5), exact for data movement and integer outputs.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/backend.h"
#include "ops/ops.h"

#include "ops/activation.h"
#include "ops/argmax.h"
#include "ops/attention.h"
#include "ops/attn_mask.h"
#include "ops/conv2d.h"
#include "ops/conv_transpose.h"
#include "ops/elementwise.h"
#include "ops/gemm.h"
#include "ops/grid_sample.h"
#include "ops/groupnorm.h"
#include "ops/layernorm.h"
#include "ops/movement.h"
#include "ops/msdeform_attn.h"
#include "ops/msdeform_sampling.h"
#include "ops/posembed.h"
#include "ops/rba_score.h"
#include "ops/resize.h"
#include "ops/softmax.h"
#include "ops/window.h"
#include "tests/helpers.h"
#include "tests/poison_backend.h"

#define ATOL 1e-4
#define RTOL 1e-4

// A new F32 tensor filled with uniform(-1, 1) values from `seed`.
static ug_tensor rand_tensor(int ndim, const int64_t *shape, uint64_t seed) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, UG_F32, ndim, shape, &err), UG_OK);
    test_fill_uniform(t.data, (size_t)ug_tensor_numel(&t), -1.0f, 1.0f, seed);
    return t;
}

static ug_tensor zeros(ug_dtype dt, int ndim, const int64_t *shape) {
    ug_tensor t;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t, dt, ndim, shape, &err), UG_OK);
    return t;
}

static void check(const ug_tensor *got, const float *want, const char *what) {
    test_assert_close(got->data, want, (size_t)ug_tensor_numel(got), ATOL, RTOL, what);
}

static void free_all(ug_tensor *ts, int n) {
    for (int i = 0; i < n; i++)
        ug_tensor_free(&ts[i]);
}

static void case_matmul(const ug_backend *be) {
    int64_t M = 17, N = 33, K = 3;
    ug_tensor t[4] = {rand_tensor(UG_DIMS(M, K), 1), rand_tensor(UG_DIMS(K, N), 2),
                      rand_tensor(UG_DIMS(N), 3), zeros(UG_F32, UG_DIMS(M, N))};
    float *want = malloc(sizeof(float) * M * N);
    gemm_ref(M, N, K, 1.0f, t[0].data, K, 1, t[1].data, N, 1, 0.0f, want, N, t[2].data);
    be->matmul(&test_ctx, &t[3], &t[0], &t[1], &t[2], 1.0f, 0.0f);
    check(&t[3], want, "matmul");
    // linear: y = x W^T + b with W [N, K]
    ug_tensor w = rand_tensor(UG_DIMS(N, K), 4);
    gemm_ref(M, N, K, 1.0f, t[0].data, K, 1, w.data, 1, K, 0.0f, want, N, t[2].data);
    be->linear(&test_ctx, &t[3], &t[0], &w, &t[2]);
    check(&t[3], want, "linear");
    ug_tensor_free(&w);
    free(want);
    free_all(t, 4);
}

static void case_conv(const ug_backend *be) {
    int64_t B = 1, Cin = 3, H = 17, W = 13, Cout = 5;
    ug_tensor x = rand_tensor(UG_DIMS(B, Cin, H, W), 5), w = rand_tensor(UG_DIMS(Cout, Cin, 3, 3), 6),
              b = rand_tensor(UG_DIMS(Cout), 7);
    int64_t Ho = (H + 2 - 3) / 2 + 1, Wo = (W + 2 - 3) / 2 + 1;
    ug_tensor y = zeros(UG_F32, UG_DIMS(B, Cout, Ho, Wo));
    float *want = malloc(sizeof(float) * (size_t)ug_tensor_numel(&y));
    conv2d_ref(want, x.data, w.data, b.data, B, Cin, H, W, Cout, 3, 3, 2, 1, 1, Ho, Wo);
    be->conv2d(&test_ctx, &y, &x, &w, &b, 2, 1);
    check(&y, want, "conv2d 3x3/s2/p1");
    free(want);
    ug_tensor_free(&y);
    ug_tensor_free(&w);
    // transposed 2x2 stride 2, weight [Cin, Cout, 2, 2]
    w = rand_tensor(UG_DIMS(Cin, Cout, 2, 2), 8);
    y = zeros(UG_F32, UG_DIMS(B, Cout, 2 * H, 2 * W));
    want = malloc(sizeof(float) * (size_t)ug_tensor_numel(&y));
    conv_transpose2x2_ref(want, x.data, w.data, b.data, B, Cin, H, W, Cout);
    be->conv_transpose2x2(&test_ctx, &y, &x, &w, &b);
    check(&y, want, "conv_transpose2x2");
    free(want);
    ug_tensor ts[] = {x, w, b, y};
    free_all(ts, 4);
}

static void case_norms(const ug_backend *be) {
    int64_t B = 2, C = 6, H = 3, W = 5;
    ug_tensor x = rand_tensor(UG_DIMS(B, C, H, W), 9), wc = rand_tensor(UG_DIMS(C), 10),
              bc = rand_tensor(UG_DIMS(C), 11), ww = rand_tensor(UG_DIMS(W), 12),
              bw = rand_tensor(UG_DIMS(W), 13);
    ug_tensor y = zeros(UG_F32, UG_DIMS(B, C, H, W));
    size_t n = (size_t)ug_tensor_numel(&x);
    float *want = malloc(sizeof(float) * n);
    layernorm_ref(want, x.data, ww.data, bw.data, B * C * H, W, 1e-5f);
    be->layernorm(&test_ctx, &y, &x, &ww, &bw, 1e-5f);
    check(&y, want, "layernorm");
    layernorm2d_ref(want, x.data, wc.data, bc.data, B, C, H * W, 1e-6f);
    be->layernorm2d(&test_ctx, &y, &x, &wc, &bc, 1e-6f);
    check(&y, want, "layernorm2d");
    groupnorm_ref(want, x.data, wc.data, bc.data, B, C, H * W, 3, 1e-5f);
    be->groupnorm(&test_ctx, &y, &x, &wc, &bc, 3, 1e-5f);
    check(&y, want, "groupnorm");
    free(want);
    ug_tensor ts[] = {x, wc, bc, ww, bw, y};
    free_all(ts, 6);
}

static void case_pointwise(const ug_backend *be) {
    int64_t R = 3, C = 127;
    ug_tensor a = rand_tensor(UG_DIMS(R, C), 14), b = rand_tensor(UG_DIMS(R, C), 15);
    ug_tensor y = zeros(UG_F32, UG_DIMS(R, C));
    size_t n = (size_t)(R * C);
    float *want = malloc(sizeof(float) * n);
    gelu_ref(want, a.data, (int64_t)n);
    be->gelu(&test_ctx, &y, &a);
    check(&y, want, "gelu");
    relu_ref(want, a.data, (int64_t)n);
    be->relu(&test_ctx, &y, &a);
    check(&y, want, "relu");
    sigmoid_ref(want, a.data, (int64_t)n);
    be->sigmoid(&test_ctx, &y, &a);
    check(&y, want, "sigmoid");
    softmax_ref(want, a.data, R, C);
    be->softmax(&test_ctx, &y, &a);
    check(&y, want, "softmax");
    add_ref(want, a.data, b.data, (int64_t)n);
    be->add(&test_ctx, &y, &a, &b);
    check(&y, want, "add");
    mul_ref(want, a.data, b.data, (int64_t)n);
    be->mul(&test_ctx, &y, &a, &b);
    check(&y, want, "mul");
    scale_add_ref(want, a.data, 0.5f, -2.0f, (int64_t)n);
    be->scale_add(&test_ctx, &y, &a, 0.5f, -2.0f);
    check(&y, want, "scale_add");
    free(want);
    ug_tensor ts[] = {a, b, y};
    free_all(ts, 3);
}

static void case_attention(const ug_backend *be) {
    int64_t B = 1, H = 2, Nq = 17, Nk = 33, D = 3;
    ug_tensor q = rand_tensor(UG_DIMS(B, H, Nq, D), 16), k = rand_tensor(UG_DIMS(B, H, Nk, D), 17),
              v = rand_tensor(UG_DIMS(B, H, Nk, D), 18), bias = rand_tensor(UG_DIMS(B, H, Nq, Nk), 19);
    ug_tensor out = zeros(UG_F32, UG_DIMS(B, H, Nq, D));
    float *want = malloc(sizeof(float) * (size_t)ug_tensor_numel(&out));
    for (int64_t h = 0; h < H; h++)
        attention_ref(want + h * Nq * D, D, (float *)q.data + h * Nq * D, D, (float *)k.data + h * Nk * D, D,
                      (float *)v.data + h * Nk * D, D, (float *)bias.data + h * Nq * Nk, Nk, NULL, 0, Nq, Nk,
                      D, D, 0.5f);
    ug_attn_extra extra = {.bias = {&bias, NULL}};
    be->attention(&test_ctx, &out, &q, &k, &v, &extra, 0.5f);
    check(&out, want, "attention");
    free(want);
    ug_tensor ts[] = {q, k, v, bias, out};
    free_all(ts, 5);
}

static void case_msdeform(const ug_backend *be) {
    int64_t B = 1, Nq = 5, M = 2, D = 3, L = 2, P = 3;
    const int64_t shapes[2][2] = {{3, 4}, {2, 3}};
    int64_t S = 3 * 4 + 2 * 3;
    ug_tensor value = rand_tensor(UG_DIMS(B, S, M, D), 20),
              loc = rand_tensor(UG_DIMS(B, Nq, M, L * P, 2), 21),
              aw = rand_tensor(UG_DIMS(B, Nq, M, L * P), 22);
    float *l = loc.data; // map (-1, 1) to (-0.25, 1.25): some samples fall off the map
    for (int64_t i = 0; i < ug_tensor_numel(&loc); i++)
        l[i] = 0.5f + 0.75f * l[i];
    ug_tensor out = zeros(UG_F32, UG_DIMS(B, Nq, M * D));
    float *want = malloc(sizeof(float) * (size_t)ug_tensor_numel(&out));
    msdeform_attn_ref(want, value.data, shapes, L, P, loc.data, aw.data, B, Nq, M, D);
    be->msdeform_attn(&test_ctx, &out, &value, shapes, L, &loc, &aw);
    check(&out, want, "msdeform_attn");
    free(want);
    ug_tensor ts[] = {value, loc, aw, out};
    free_all(ts, 4);
}

static void case_resample(const ug_backend *be) {
    ug_tensor x = rand_tensor(UG_DIMS(1, 3, 17, 33), 23);
    ug_tensor y = zeros(UG_F32, UG_DIMS(1, 3, 5, 127));
    float *want = malloc(sizeof(float) * (size_t)ug_tensor_numel(&y));
    resize_bilinear_ref(want, x.data, 3, 17, 33, 5, 127, false);
    be->resize_bilinear(&test_ctx, &y, &x, false);
    check(&y, want, "resize_bilinear");
    ug_tensor grid = rand_tensor(UG_DIMS(1, 5, 127, 2), 24);
    grid_sample_ref(want, x.data, grid.data, 1, 3, 17, 33, 5, 127);
    be->grid_sample(&test_ctx, &y, &x, &grid);
    check(&y, want, "grid_sample");
    free(want);
    // Pillow resize is bit exact.
    ug_tensor img = zeros(UG_U8, UG_DIMS(17, 33, 3)), small = zeros(UG_U8, UG_DIMS(7, 5, 3));
    test_rng r = test_rng_seed(25);
    for (int64_t i = 0; i < ug_tensor_numel(&img); i++)
        ((uint8_t *)img.data)[i] = (uint8_t)test_rng_u64(&r);
    uint8_t want8[7 * 5 * 3];
    resize_pillow_ref(want8, img.data, 17, 33, 7, 5, 3);
    be->resize_pillow(&test_ctx, &small, &img);
    ck_assert_mem_eq(small.data, want8, sizeof want8);
    ug_tensor ts[] = {x, y, grid, img, small};
    free_all(ts, 5);
}

static void case_movement(const ug_backend *be) {
    ug_tensor x = rand_tensor(UG_DIMS(3, 4, 5), 26);
    ug_tensor xt = ug_view_permute(&x, (int[]){2, 0, 1}); // [5, 3, 4]
    ug_tensor y = zeros(UG_F32, UG_DIMS(5, 3, 4)), want = zeros(UG_F32, UG_DIMS(5, 3, 4));
    copy_ref(&want, &xt);
    be->copy(&test_ctx, &y, &xt);
    ck_assert_mem_eq(y.data, want.data, ug_tensor_nbytes(&y));
    be->fill(&test_ctx, &y, 2.5f);
    for (int64_t i = 0; i < ug_tensor_numel(&y); i++)
        ck_assert_float_eq(((float *)y.data)[i], 2.5f);
    const int64_t before[3] = {1, 0, 2};
    ug_tensor padded = zeros(UG_F32, UG_DIMS(5, 4, 7)), pwant = zeros(UG_F32, UG_DIMS(5, 4, 7));
    pad_ref(&pwant, &x, before, -1.0f);
    be->pad(&test_ctx, &padded, &x, before, -1.0f);
    ck_assert_mem_eq(padded.data, pwant.data, ug_tensor_nbytes(&padded));
    const int dims[2] = {0, 2};
    const int64_t shifts[2] = {-1, 3};
    ug_tensor rolled = zeros(UG_F32, UG_DIMS(3, 4, 5)), rwant = zeros(UG_F32, UG_DIMS(3, 4, 5));
    roll_ref(&rwant, &x, 2, dims, shifts);
    be->roll(&test_ctx, &rolled, &x, 2, dims, shifts);
    ck_assert_mem_eq(rolled.data, rwant.data, ug_tensor_nbytes(&rolled));
    // concat along dim 1: [3, 4, 5] ++ [3, 4, 5] -> [3, 8, 5]
    ug_tensor parts[2] = {x, rolled};
    ug_tensor cat = zeros(UG_F32, UG_DIMS(3, 8, 5));
    be->concat(&test_ctx, &cat, parts, 2, 1);
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 8; j++)
            for (int64_t k = 0; k < 5; k++)
                ck_assert_float_eq(*(float *)ug_tensor_ptr(&cat, (int64_t[]){i, j, k}),
                                   *(float *)ug_tensor_ptr(&parts[j / 4], (int64_t[]){i, j % 4, k}));
    ug_tensor ts[] = {x, y, want, padded, pwant, rolled, rwant, cat};
    free_all(ts, 8);
}

static void case_argmax_posembed(const ug_backend *be) {
    ug_tensor x = rand_tensor(UG_DIMS(1, 19, 3, 17), 27);
    ug_tensor y = zeros(UG_I32, UG_DIMS(1, 3, 17));
    int32_t want[3 * 17];
    argmax_ref(want, x.data, 1, 19, 3 * 17);
    be->argmax(&test_ctx, &y, &x);
    ck_assert_mem_eq(y.data, want, sizeof want);
    ug_tensor pe = zeros(UG_F32, UG_DIMS(8, 3, 5));
    float pwant[8 * 3 * 5];
    posembed_sine_ref(pwant, 4, 3, 5);
    be->posembed_sine(&test_ctx, &pe);
    check(&pe, pwant, "posembed_sine");
    ug_tensor ts[] = {x, y, pe};
    free_all(ts, 3);
}

// The input normalisations, against their formulas (golden/README.md) written out here.
static void case_normalize(const ug_backend *be) {
    int64_t H = 3, W = 5, S = 7;
    ug_tensor img = zeros(UG_U8, UG_DIMS(H, W, 3));
    uint8_t *p = img.data;
    for (int64_t i = 0; i < H * W * 3; i++)
        p[i] = (uint8_t)(i * 37 % 256);
    ug_tensor y = zeros(UG_F32, UG_DIMS(1, 3, H, W));
    be->rba_normalize(&test_ctx, &y, &img);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    float want[3 * 3 * 5];
    for (int c = 0; c < 3; c++)
        for (int64_t i = 0; i < H * W; i++)
            want[c * H * W + i] = ((float)p[i * 3 + c] - mean[c] * 255.0f) * (1.0f / (std[c] * 255.0f));
    test_assert_close(y.data, want, (size_t)(3 * H * W), 1e-6, 1e-6, "rba_normalize");
    const float smean[3] = {123.675f, 116.28f, 103.53f}, sstd[3] = {58.395f, 57.12f, 57.375f};
    ug_tensor ys = zeros(UG_F32, UG_DIMS(1, 3, S, S));
    be->sam_normalize_pad(&test_ctx, &ys, &img, smean, sstd);
    for (int c = 0; c < 3; c++)
        for (int64_t r = 0; r < S; r++)
            for (int64_t q = 0; q < S; q++) {
                float w = r < H && q < W ? ((float)p[(r * W + q) * 3 + c] - smean[c]) / sstd[c] : 0.0f;
                ck_assert_float_eq_tol(*(float *)ug_tensor_ptr(&ys, (int64_t[]){0, c, r, q}), w, 1e-6f);
            }
    ug_tensor ts[] = {img, y, ys};
    free_all(ts, 3);
}

static void case_rba_score(const ug_backend *be) {
    int64_t Q = 3, K = 4, h = 5, w = 7, Ht = 17, Wt = 33, H = 15, W = 31; // cropped like --pad32
    ug_tensor logits = rand_tensor(UG_DIMS(Q, K + 1), 29), masks = rand_tensor(UG_DIMS(Q, h, w), 30);
    ug_tensor score = zeros(UG_F32, UG_DIMS(H, W)), sem = zeros(UG_U8, UG_DIMS(H, W));
    float *want = malloc(sizeof(float) * H * W);
    uint8_t *want_sem = malloc((size_t)(H * W));
    rba_score_ref(want, want_sem, logits.data, masks.data, Q, K, h, w, Ht, Wt, H, W);
    ug_err err;
    ck_assert_int_eq(be->rba_score(&test_ctx, &score, &sem, &logits, &masks, Ht, Wt, &err), UG_OK);
    check(&score, want, "rba_score");
    ck_assert_mem_eq(sem.data, want_sem, (size_t)(H * W));
    free(want);
    free(want_sem);
    ug_tensor ts[] = {logits, masks, score, sem};
    free_all(ts, 4);
}

typedef void (*backend_case)(const ug_backend *be);

// ---- ops that were loops in the model files, one block per room ----
// swin
static void case_window(const ug_backend *be) {
    int64_t H = 5, W = 7, C = 3, ws = 3, shift = 1, N = ws * ws, w0 = 1, nb = 4; // 2 x 3 windows
    ug_tensor x = rand_tensor(UG_DIMS(H, W, C), 41), y = zeros(UG_F32, UG_DIMS(nb, N, C));
    size_t yb = ug_tensor_nbytes(&y), xb = ug_tensor_nbytes(&x);
    float *want = malloc(yb > xb ? yb : xb);
    window_gather_ref(want, x.data, H, W, C, ws, shift, w0, nb);
    be->window_gather(&test_ctx, &y, &x, ws, shift, w0);
    ck_assert_mem_eq(y.data, want, yb);
    test_fill_uniform(y.data, (size_t)(nb * N * C), -1.0f, 1.0f, 42);
    memcpy(want, y.data, yb);
    window_zero_pads_ref(want, H, W, C, ws, shift, w0, nb);
    be->window_zero_pads(&test_ctx, &y, H, W, ws, shift, w0);
    ck_assert_mem_eq(y.data, want, yb);
    memcpy(want, x.data, xb);
    window_scatter_add_ref(want, y.data, H, W, C, ws, shift, w0, nb);
    be->window_scatter_add(&test_ctx, &x, &y, ws, shift, w0);
    ck_assert_mem_eq(x.data, want, xb);
    ug_tensor m = zeros(UG_F32, UG_DIMS(9, 4 * C)); // merged tokens [2, 11) of the 3 x 4 grid
    patch_merge_gather_ref(want, x.data, H, W, C, 2, 9);
    be->patch_merge_gather(&test_ctx, &m, &x, 2);
    ck_assert_mem_eq(m.data, want, ug_tensor_nbytes(&m));
    free(want);
    ug_tensor ts[] = {x, y, m};
    free_all(ts, 3);
}
// msdeform pixel decoder / mask2former decoder / rba
static void case_msdeform_sampling(const ug_backend *be) {
    static const int64_t shapes[2][2] = {{3, 5}, {1, 17}};
    int64_t S = 3 * 5 + 17, M = 3, L = 2, P = 3;
    ug_tensor off = rand_tensor(UG_DIMS(1, S, M, L * P, 2), 31),
              loc = zeros(UG_F32, UG_DIMS(1, S, M, L * P, 2));
    float *want = malloc(ug_tensor_nbytes(&loc));
    msdeform_sampling_locations_ref(want, off.data, shapes, L, 1, M, P);
    be->msdeform_sampling_locations(&test_ctx, &loc, &off, shapes, L);
    ck_assert_mem_eq(loc.data, want, ug_tensor_nbytes(&loc));
    free(want);
    ug_tensor ts[] = {off, loc};
    free_all(ts, 2);
}

static void case_attn_mask(const ug_backend *be) {
    int64_t Q = 3, N = 17;
    ug_tensor x = rand_tensor(UG_DIMS(Q, N), 32), mask = zeros(UG_U8, UG_DIMS(Q, N));
    float *xs = x.data;
    for (int64_t n = 0; n < N; n++)
        xs[N + n] = -1.0f - (float)n; // row 1 all blocked: cleared
    xs[2 * N] = -6e-8f;               // attends (float32 sigmoid is 0.5)
    uint8_t want[3 * 17];
    attn_mask_threshold_ref(want, xs, Q, N);
    be->attn_mask_threshold(&test_ctx, &mask, &x);
    ck_assert_mem_eq(mask.data, want, sizeof want);
    ug_tensor ts[] = {x, mask};
    free_all(ts, 2);
}
// sam
#include "ops/prompt_pe.h"

// Five points: every label kind (not a point, background, foreground, a box corner, none).
static void case_prompt_pe(const ug_backend *be) {
    int64_t P = 5, C = 6, E = 4;
    float size = 17.0f;
    ug_tensor xy = rand_tensor(UG_DIMS(P, 2), 31), gauss = rand_tensor(UG_DIMS(2, C / 2), 32);
    ug_tensor embed = rand_tensor(UG_DIMS(E, C), 33), na = rand_tensor(UG_DIMS(1, C), 34);
    ug_tensor labels = zeros(UG_I32, UG_DIMS(P)), y = zeros(UG_F32, UG_DIMS(P, C));
    const int32_t lv[5] = {-1, 0, 1, 3, 7};
    memcpy(labels.data, lv, sizeof lv);
    float *want = malloc(sizeof(float) * P * C);
    prompt_pe_ref(want, xy.data, labels.data, gauss.data, embed.data, E, na.data, P, C, size);
    be->prompt_pe(&test_ctx, &y, &xy, &labels, &gauss, &embed, &na, size);
    check(&y, want, "prompt_pe");
    free(want);
    ug_tensor ts[] = {xy, gauss, embed, na, labels, y};
    free_all(ts, 6);
}
// pipeline
#include "ops/masks.h"
#include "ops/proposals.h"

// Candidates with an ignore mask, then FPS over them (both tie rules agree on the first two).
static void case_proposals(const ug_backend *be) {
    int64_t H = 3, W = 17, n, nref;
    ug_tensor u = rand_tensor(UG_DIMS(H, W), 51), ig = zeros(UG_U8, UG_DIMS(H, W));
    for (int64_t p = 0; p < H * W; p += 5)
        ((uint8_t *)ig.data)[p] = 1;
    ug_tensor xy = zeros(UG_I32, UG_DIMS(H * W, 2)), count = ug_tensor_wrap(&n, UG_I64, UG_DIMS(1));
    int32_t *want = calloc((size_t)(2 * H * W), sizeof *want);
    proposals_candidates_ref(want, &nref, u.data, ig.data, H, W, 0.0f, -15.0f);
    be->proposals_candidates(&test_ctx, &xy, &count, &u, &ig, 0.0f, -15.0f);
    ck_assert_int_eq(n, nref);
    ck_assert_mem_eq(xy.data, want, (size_t)(2 * n) * sizeof *want);
    ug_tensor cand = ug_view_slice(&xy, 0, 0, n), idx = zeros(UG_I32, UG_DIMS(5));
    ug_tensor pts = zeros(UG_F32, UG_DIMS(5, 2));
    int32_t iwant[5];
    proposals_fps_ref(iwant, xy.data, n, 5, PROPOSALS_TIES_OFFICIAL);
    ug_err err;
    ck_assert_int_eq(be->proposals_fps(&test_ctx, &idx, &pts, &cand, PROPOSALS_TIES_OFFICIAL, &err), UG_OK);
    ck_assert_mem_eq(idx.data, iwant, sizeof iwant);
    for (int k = 0; k < 5; k++)
        for (int c = 0; c < 2; c++)
            ck_assert_float_eq(((float *)pts.data)[2 * k + c], (float)((int32_t *)xy.data)[2 * iwant[k] + c]);
    free(want);
    ug_tensor ts[] = {u, ig, xy, idx, pts};
    free_all(ts, 5);
}

// Three 3 x 33 masks from logits: binarise, scores, NMS, overlap with mask 2, refined map.
static void case_masks(const ug_backend *be) {
    int64_t N = 3, H = 3, W = 33, HW = H * W, words = masks_words(HW), nk;
    ug_tensor x = rand_tensor(UG_DIMS(N, H, W), 52), u = rand_tensor(UG_DIMS(H, W), 53);
    float *xs = x.data;
    for (int64_t p = 0; p < HW; p++)
        xs[HW + p] = xs[p] + 0.01f; // mask 1 ~ mask 0: suppressed
    uint8_t *m = malloc((size_t)(N * HW));
    masks_binarize_ref(m, xs, N * HW, 0.0f);
    ug_tensor bits = zeros(UG_I64, UG_DIMS(N, words)), area = zeros(UG_I64, UG_DIMS(N));
    be->masks_binarize(&test_ctx, &bits, &area, &x, 0.0f);
    for (int64_t i = 0; i < N; i++)
        for (int64_t p = 0; p < HW; p++)
            ck_assert_int_eq((((uint64_t *)bits.data)[i * words + p / 64] >> (p % 64)) & 1u, m[i * HW + p]);
    ug_tensor sc = zeros(UG_F32, UG_DIMS(N));
    float swant[3];
    masks_scores_ref(swant, m, (int)N, HW, u.data);
    be->masks_scores(&test_ctx, &sc, &bits, &area, &u);
    ck_assert_mem_eq(sc.data, swant, sizeof swant);
    ug_tensor keep = zeros(UG_I32, UG_DIMS(N)), count = ug_tensor_wrap(&nk, UG_I64, UG_DIMS(1));
    int kwant[3];
    int nkw = masks_nms_ref(kwant, m, (int)N, HW, swant, 0.7f);
    be->masks_nms(&test_ctx, &keep, &count, &bits, &area, &sc, 0.7f);
    ck_assert_int_eq(nk, nkw);
    ck_assert_mem_eq(keep.data, kwant, (size_t)nk * sizeof *kwant);
    ug_tensor kept = ug_view_slice(&keep, 0, 0, nk), other = ug_view_slice(&bits, 0, 2, 1);
    ug_tensor inter = zeros(UG_I64, UG_DIMS(nk));
    int64_t iwant[3];
    masks_overlap_ref(iwant, m, HW, kwant, (int)nk, m + 2 * HW);
    be->masks_overlap(&test_ctx, &inter, &bits, &kept, &other);
    ck_assert_mem_eq(inter.data, iwant, (size_t)nk * sizeof *iwant);
    ug_tensor out = zeros(UG_F32, UG_DIMS(H, W));
    float *rwant = malloc(sizeof(float) * (size_t)HW);
    masks_refined_ref(rwant, m, HW, swant, kwant, (int)nk, u.data);
    be->masks_refined(&test_ctx, &out, &bits, &sc, &kept, &u);
    ck_assert_mem_eq(out.data, rwant, sizeof(float) * (size_t)HW);
    free(m);
    free(rwant);
    ug_tensor ts[] = {x, u, bits, area, sc, keep, inter, out};
    free_all(ts, 8);
}

static const backend_case cases[] = {
    case_matmul,
    case_conv,
    case_norms,
    case_pointwise,
    case_attention,
    case_msdeform,
    case_resample,
    case_movement,
    case_argmax_posembed,
    case_normalize,
    case_rba_score,
    // swin
    case_window,
    // msdeform pixel decoder / mask2former decoder / rba
    case_msdeform_sampling,
    case_attn_mask,
    // sam
    case_prompt_pe,
    // pipeline
    case_proposals,
    case_masks,
};

START_TEST(every_op_of_every_backend) {
    // The poison table takes host tensors too (it untags only poison ones): it must be
    // complete and give the CPU's results like any backend.
    test_ctx.backends[UG_POISON] = &ug_backend_poison;
    for (int i = 0; i < ug_backend_count(&test_ctx); i++) {
        const ug_backend *be = ug_backend_at(&test_ctx, i);
        // A backend must fill every slot of the table.
        const void *const *slot = (const void *const *)&be->matmul;
        const void *const *end = (const void *const *)(be + 1);
        for (; slot < end; slot++)
            ck_assert_msg(*slot != NULL, "backend %s: empty op slot", be->name);
        cases[_i](be);
    }
}
END_TEST

START_TEST(front_ends_dispatch_to_the_cpu_table) {
    ck_assert_ptr_eq(ug_backend_for(&test_ctx, UG_CPU), &ug_backend_cpu);
    ug_tensor x = rand_tensor(UG_DIMS(2, 17), 28), y = zeros(UG_F32, UG_DIMS(2, 17));
    float want[34];
    relu_ref(want, x.data, 34);
    ug_relu(&test_ctx, &y, &x);
    check(&y, want, "ug_relu");
    ug_tensor_free(&x);
    ug_tensor_free(&y);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){.name = "backends", .setup = test_ctx_setup, .teardown = test_ctx_teardown}, &s);
    tcase_add_loop_test(tc, every_op_of_every_backend, 0, (int)(sizeof cases / sizeof cases[0]));
    test_add(tc, front_ends_dispatch_to_the_cpu_table);
    return test_run_suite(s);
}
