// tests/test_attention.c — attention_cpu (both ISA paths) against attention_ref on random
// data: odd sizes, several key/query tiles, every optional term and its broadcast forms,
// fully masked rows, q/k/v as views into a fused qkv buffer and out as a view.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu.h"
#include "engine/ctx.h"
#include "engine/tensor.h"
#include "ops/attention.h"
#include "tests/helpers.h"

// Tolerance of the kernel vs the double reference. Logits are float dot products over D
// (<= 80) of unit-variance inputs scaled by D^-1/2 (error ~1e-6), the exp is within 1 ulp,
// and the output is a convex combination of v rows accumulated in float over Nk (<= 400)
// terms: observed max errors are ~2e-6 (3e-5 on |out| ~1.6 when logits reach 1e3, where
// one float ulp of a logit is 6e-5). 2e-5 absolute + 1e-4 relative leaves margin while a
// wrong key, row, bias or mask element moves outputs by ~1e-1.
#define ATT_ATOL 2e-5
#define ATT_RTOL 1e-4

// bf16 precision (a third path where the CPU has AVX512-BF16): the kernel rounds q * scale, k
// and v to bf16, multiplies exactly and sums in f32, so the reference runs on those rounded
// operands (scale 1) and the logits' error is the f32 one above. The one rounding it cannot
// replay is P's: out = sum_j bf16(p_j) v_j / l with l the f32 sum of the unrounded p_j, and
// |bf16(p) - p| <= 2^-9 p, so that term is at most 2^-9 sum_j p_j |v_j| / l <= 2^-9 max |v|.
// The bf16 path adds that bound (x 1.5 for the f32 sums over it) to the absolute tolerance.
#define ATT_BF16_P_ERR (1.5 / 512.0)

static int npaths(void) {
    return ug_cpu_has_avx512_bf16() ? 3 : ug_cpu_has_avx512() ? 2 : 1;
}
// Path 0: AVX2 (forced), path 1: AVX-512, path 2: AVX-512 with bf16 precision.
static void use_path(ug_ctx *ctx, int i) {
    setenv("UGAINS_NO_AVX512", i == 0 ? "1" : "0", 1);
    ug_ctx_set_precision(ctx, i == 2 ? UG_PRECISION_BF16 : UG_PRECISION_F32, NULL);
}

static float round_bf16(float x) {
    return ug_bf16_to_f32(ug_f32_to_bf16(x));
}

// A contiguous copy of t [B, H, N, D] with every value x replaced by bf16(x * mul).
static ug_tensor rounded_copy(const ug_tensor *t, float mul) {
    ug_tensor r;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&r, UG_F32, t->ndim, t->shape, &err), UG_OK);
    float *o = r.data;
    for (int64_t a = 0; a < t->shape[0]; a++)
        for (int64_t b = 0; b < t->shape[1]; b++)
            for (int64_t i = 0; i < t->shape[2]; i++)
                for (int64_t d = 0; d < t->shape[3]; d++)
                    *o++ = round_bf16(*(const float *)ug_tensor_ptr(t, (int64_t[]){a, b, i, d}) * mul);
    return r;
}

static void fill_tensor(ug_tensor *t, float std, uint64_t seed) {
    test_fill_normal(t->data, (size_t)ug_tensor_numel(t), std, seed);
}

// Element (b, h, i, j) of a term broadcast to 4 dims (numpy rules, size-1 dims repeat),
// found through ug_tensor_ptr: independent of the kernel's stride arithmetic.
static double term_at(const ug_tensor *t, const int64_t idx4[4]) {
    int64_t idx[4];
    for (int d = 0; d < t->ndim; d++) {
        int64_t i = idx4[d + 4 - t->ndim];
        idx[d] = t->shape[d] == 1 ? 0 : i;
    }
    const void *p = ug_tensor_ptr(t, idx);
    return t->dtype == UG_F32 ? (double)*(const float *)p : (double)*(const uint8_t *)p;
}

// want [B, H, Nq, Dv] contiguous, from attention_ref head by head.
static void reference(float *want, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
                      const ug_attn_extra *x, float scale) {
    int64_t B = q->shape[0], H = q->shape[1], Nq = q->shape[2], D = q->shape[3];
    int64_t Nk = k->shape[2], Dv = v->shape[3];
    float *qh = malloc((size_t)(Nq * D + 1) * sizeof(float));    // [Nq, D]
    float *kh = malloc((size_t)(Nk * D + 1) * sizeof(float));    // [Nk, D]
    float *vh = malloc((size_t)(Nk * Dv + 1) * sizeof(float));   // [Nk, Dv]
    float *bias = malloc((size_t)(Nq * Nk + 1) * sizeof(float)); // [Nq, Nk]
    uint8_t *mask = malloc((size_t)(Nq * Nk + 1));               // [Nq, Nk]
    int has_bias = x && (x->bias[0] || x->bias[1] || x->rel_h);
    int has_mask = x && x->mask;
    int64_t kw = x && x->rel_w ? x->rel_w->shape[x->rel_w->ndim - 1] : 1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            for (int64_t i = 0; i < Nq; i++)
                for (int64_t d = 0; d < D; d++)
                    qh[i * D + d] = *(float *)ug_tensor_ptr(q, (int64_t[]){b, h, i, d});
            for (int64_t j = 0; j < Nk; j++) {
                for (int64_t d = 0; d < D; d++)
                    kh[j * D + d] = *(float *)ug_tensor_ptr(k, (int64_t[]){b, h, j, d});
                for (int64_t d = 0; d < Dv; d++)
                    vh[j * Dv + d] = *(float *)ug_tensor_ptr(v, (int64_t[]){b, h, j, d});
            }
            for (int64_t i = 0; i < Nq; i++)
                for (int64_t j = 0; j < Nk; j++) {
                    const int64_t idx[4] = {b, h, i, j};
                    double s = 0;
                    for (int t = 0; t < 2; t++)
                        if (x && x->bias[t]) s += term_at(x->bias[t], idx);
                    if (x && x->rel_h) {
                        s += term_at(x->rel_h, (int64_t[]){b, h, i, j / kw});
                        s += term_at(x->rel_w, (int64_t[]){b, h, i, j % kw});
                    }
                    bias[i * Nk + j] = (float)s;
                    mask[i * Nk + j] = has_mask && term_at(x->mask, idx) != 0;
                }
            attention_ref(want + (b * H + h) * Nq * Dv, Dv, qh, D, kh, D, vh, Dv, has_bias ? bias : NULL, Nk,
                          has_mask ? mask : NULL, Nk, Nq, Nk, D, Dv, scale);
        }
    free(qh);
    free(kh);
    free(vh);
    free(bias);
    free(mask);
}

// Runs attention_cpu on both paths and compares with the reference.
static void check(ug_ctx *ctx, ug_tensor *out, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v,
                  const ug_attn_extra *x, float scale, const char *what) {
    int64_t B = q->shape[0], H = q->shape[1], Nq = q->shape[2], Dv = v->shape[3];
    size_t n = (size_t)(B * H * Nq * Dv);
    float *want = malloc((n + 1) * sizeof *want), *got = malloc((n + 1) * sizeof *got);
    float *want_bf16 = malloc((n + 1) * sizeof *want_bf16);
    reference(want, q, k, v, x, scale);
    double vmax = 0;
    if (npaths() > 2) { // the bf16 path's reference: rounded operands, q pre-scaled
        ug_tensor qr = rounded_copy(q, scale), kr = rounded_copy(k, 1.0f), vr = rounded_copy(v, 1.0f);
        reference(want_bf16, &qr, &kr, &vr, x, 1.0f);
        for (int64_t i = 0; i < ug_tensor_numel(&vr); i++)
            vmax = fmax(vmax, fabs(((const float *)vr.data)[i]));
        ug_tensor_free(&qr);
        ug_tensor_free(&kr);
        ug_tensor_free(&vr);
    }
    ug_err err;
    ck_assert_msg(attention_check(out, q, k, v, x, &err) == UG_OK, "%s: %s", what, err.msg);
    for (int path = 0; path < npaths(); path++) {
        use_path(ctx, path);
        // Poison the output so rows the kernel forgets are caught.
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t i = 0; i < Nq; i++)
                    for (int64_t d = 0; d < Dv; d++)
                        *(float *)ug_tensor_ptr(out, (int64_t[]){b, h, i, d}) = NAN;
        attention_cpu(ctx, out, q, k, v, x, scale);
        size_t e = 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t i = 0; i < Nq; i++)
                    for (int64_t d = 0; d < Dv; d++)
                        got[e++] = *(float *)ug_tensor_ptr(out, (int64_t[]){b, h, i, d});
        char msg[160];
        snprintf(msg, sizeof msg, "%s [%s]", what, path == 2 ? "avx512 bf16" : path ? "avx512" : "avx2");
        if (path == 2)
            test_assert_close(got, want_bf16, n, ATT_ATOL + ATT_BF16_P_ERR * vmax, ATT_RTOL, msg);
        else
            test_assert_close(got, want, n, ATT_ATOL, ATT_RTOL, msg);
    }
    unsetenv("UGAINS_NO_AVX512");
    ug_ctx_set_precision(ctx, UG_PRECISION_F32, NULL);
    free(want);
    free(want_bf16);
    free(got);
}

typedef struct qkv {
    ug_tensor q, k, v, out; // [B, H, N, D] each, contiguous
} qkv;

static void qkv_new(qkv *t, int64_t B, int64_t H, int64_t Nq, int64_t Nk, int64_t D, int64_t Dv,
                    uint64_t seed) {
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&t->q, UG_F32, UG_DIMS(B, H, Nq, D), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&t->k, UG_F32, UG_DIMS(B, H, Nk, D), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&t->v, UG_F32, UG_DIMS(B, H, Nk, Dv), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&t->out, UG_F32, UG_DIMS(B, H, Nq, Dv), &err), UG_OK);
    fill_tensor(&t->q, 1.0f, seed);
    fill_tensor(&t->k, 1.0f, seed + 1);
    fill_tensor(&t->v, 1.0f, seed + 2);
}

static void qkv_free(qkv *t) {
    ug_tensor_free(&t->q);
    ug_tensor_free(&t->k);
    ug_tensor_free(&t->v);
    ug_tensor_free(&t->out);
}

START_TEST(plain_odd_sizes) {
    // B, H, Nq, Nk, D, Dv: single elements, odd dims, several query and key tiles
    // (Nq > 64, Nk > 128), Dv != D, Dv below and above a vector. A head with one query tile
    // packs each key tile just before use, one with several packs all its keys once: both
    // with several key tiles and a V that must be packed (Dv = 7); over 1024 keys V is packed
    // whatever Dv (1100 keys); a head of over 8 MB packed (4200 keys x D 256) goes tile by tile.
    const int64_t cases[][6] = {
        {1, 1, 1, 1, 1, 1},       {1, 2, 3, 17, 3, 3},        {2, 3, 17, 33, 17, 17}, {1, 2, 33, 127, 33, 33},
        {1, 1, 127, 300, 80, 80}, {1, 1, 70, 5, 16, 7},       {1, 1, 5, 1, 8, 16},    {2, 1, 9, 129, 32, 32},
        {1, 1, 1, 257, 64, 96},   {3, 2, 7, 40, 16, 16},      {2, 1, 3, 300, 16, 7},  {1, 1, 70, 300, 16, 7},
        {1, 1, 40, 1100, 16, 16}, {1, 1, 20, 4200, 256, 256},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t *s = cases[c];
        qkv t;
        qkv_new(&t, s[0], s[1], s[2], s[3], s[4], s[5], 100 + c);
        char what[96];
        snprintf(what, sizeof what, "B%lld H%lld Nq%lld Nk%lld D%lld Dv%lld", (long long)s[0],
                 (long long)s[1], (long long)s[2], (long long)s[3], (long long)s[4], (long long)s[5]);
        check(&test_ctx, &t.out, &t.q, &t.k, &t.v, NULL, 1.0f / sqrtf((float)s[4]), what);
        qkv_free(&t);
    }
}
END_TEST

START_TEST(fused_qkv_views) {
    // qkv projection output [B, N, 3, H, D] (SAM / nn.MultiheadAttention layout); q, k, v are
    // permuted slices of it and out is a view into [B, N, H, D] (ready for the out projection).
    const int64_t B = 2, N = 37, H = 3, D = 17;
    ug_tensor buf, obuf;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&buf, UG_F32, UG_DIMS(B, N, 3, H, D), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&obuf, UG_F32, UG_DIMS(B, N, H, D), &err), UG_OK);
    fill_tensor(&buf, 1.0f, 7);
    ug_tensor t[3];
    for (int w = 0; w < 3; w++) {
        ug_tensor s = ug_view_slice(&buf, 2, w, 1); // [B, N, 1, H, D]; drop the 1 by hand
        ug_tensor s4 = {.data = s.data,
                        .dtype = UG_F32,
                        .ndim = 4,
                        .shape = {B, N, H, D},
                        .stride = {s.stride[0], s.stride[1], s.stride[3], s.stride[4]}};
        t[w] = ug_view_permute(&s4, (int[]){0, 2, 1, 3}); // [B, H, N, D]
    }
    ug_tensor out = ug_view_permute(&obuf, (int[]){0, 2, 1, 3}); // [B, H, N, D] view
    check(&test_ctx, &out, &t[0], &t[1], &t[2], NULL, 1.0f / sqrtf((float)D), "fused qkv views");
    ug_tensor_free(&buf);
    ug_tensor_free(&obuf);
}
END_TEST

START_TEST(bias_broadcasts) {
    // Swin window attention: windows as batch (B = nW = 4), rel-pos bias [H, Nq, Nk] and the
    // shift mask [nW, 1, Nq, Nk] of -100 / 0 (12 x 12 windows of 144 tokens).
    const int64_t B = 4, H = 3, N = 144, D = 32;
    qkv t;
    qkv_new(&t, B, H, N, N, D, D, 11);
    ug_tensor rel, shift;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&rel, UG_F32, UG_DIMS(H, N, N), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&shift, UG_F32, UG_DIMS(B, 1, N, N), &err), UG_OK);
    fill_tensor(&rel, 2.0f, 12);
    test_rng rng = test_rng_seed(13);
    float *sm = shift.data;
    for (int64_t i = 0; i < ug_tensor_numel(&shift); i++)
        sm[i] = test_rng_u64(&rng) % 3 ? 0.0f : -100.0f;
    ug_attn_extra x = {.bias = {&rel, &shift}};
    check(&test_ctx, &t.out, &t.q, &t.k, &t.v, &x, 1.0f / sqrtf((float)D), "swin rel-pos bias + shift mask");

    // One bias per query broadcast over keys ([Nq, 1]: key stride 0), and a transposed bias
    // (key stride != 1).
    ug_tensor perq, tb;
    ck_assert_int_eq(ug_tensor_new(&perq, UG_F32, UG_DIMS(N, 1), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&tb, UG_F32, UG_DIMS(N, N), &err), UG_OK);
    fill_tensor(&perq, 3.0f, 14);
    fill_tensor(&tb, 1.0f, 15);
    ug_tensor tbt = ug_view_transpose(&tb, 0, 1);
    ug_attn_extra y = {.bias = {&perq, &tbt}};
    check(&test_ctx, &t.out, &t.q, &t.k, &t.v, &y, 0.3f, "per-query and transposed biases");
    ug_attn_extra z = {.bias = {NULL, &tbt}};
    check(&test_ctx, &t.out, &t.q, &t.k, &t.v, &z, 0.3f, "bias[1] alone");
    ug_tensor_free(&rel);
    ug_tensor_free(&shift);
    ug_tensor_free(&perq);
    ug_tensor_free(&tb);
    qkv_free(&t);
}
END_TEST

START_TEST(masks_and_fully_masked_rows) {
    // Mask2Former-like masked cross-attention: H = 2, 33 queries over 300 keys (two tiles),
    // a [B, H, Nq, Nk] mask with ~half the keys masked, some rows fully masked (zeros), and
    // one row where only the last key tile is open.
    const int64_t B = 2, H = 2, Nq = 33, Nk = 300, D = 32;
    qkv t;
    qkv_new(&t, B, H, Nq, Nk, D, D, 21);
    ug_tensor m;
    ug_err err;
    ck_assert_int_eq(ug_tensor_new(&m, UG_U8, UG_DIMS(B, H, Nq, Nk), &err), UG_OK);
    uint8_t *mm = m.data;
    test_rng rng = test_rng_seed(22);
    for (int64_t i = 0; i < ug_tensor_numel(&m); i++)
        mm[i] = test_rng_u64(&rng) % 2;
    memset(mm + 5 * Nk, 1, (size_t)Nk);                          // b0 h0 row 5: all masked
    memset(mm + (1 * H * Nq + 1 * Nq + 32) * Nk, 1, (size_t)Nk); // b1 h1 row 32: all masked
    memset(mm + 7 * Nk, 1, (size_t)(Nk - 3));                    // b0 h0 row 7: only the last 3 keys
    ug_attn_extra x = {.mask = &m};
    check(&test_ctx, &t.out, &t.q, &t.k, &t.v, &x, 1.0f / sqrtf((float)D), "u8 mask");
    attention_cpu(&test_ctx, &t.out, &t.q, &t.k, &t.v, &x, 1.0f);
    const float *o = t.out.data;
    for (int64_t d = 0; d < D; d++) {
        ck_assert_msg(o[5 * D + d] == 0.0f, "fully masked row must be zeros");
        ck_assert_msg(o[((1 * H + 1) * Nq + 32) * D + d] == 0.0f, "fully masked row must be zeros");
    }

    // A BOOL mask [Nq, Nk] shared by batch and heads, plus a bias; and a per-query mask
    // [Nq, 1] broadcast over keys (stride 0) that blocks whole rows.
    ug_tensor mb, mq, bias;
    ck_assert_int_eq(ug_tensor_new(&mb, UG_BOOL, UG_DIMS(Nq, Nk), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&mq, UG_U8, UG_DIMS(Nq, 1), &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&bias, UG_F32, UG_DIMS(1, H, 1, Nk), &err), UG_OK);
    uint8_t *mbb = mb.data, *mqq = mq.data;
    for (int64_t i = 0; i < Nq * Nk; i++)
        mbb[i] = test_rng_u64(&rng) % 4 == 0;
    for (int64_t i = 0; i < Nq; i++)
        mqq[i] = i % 5 == 2;
    fill_tensor(&bias, 1.0f, 23);
    ug_attn_extra y = {.bias = {&bias}, .mask = &mb};
    check(&test_ctx, &t.out, &t.q, &t.k, &t.v, &y, 0.2f, "bool mask [Nq, Nk] + bias [1, H, 1, Nk]");
    ug_attn_extra z = {.mask = &mq};
    check(&test_ctx, &t.out, &t.q, &t.k, &t.v, &z, 0.2f, "per-query mask [Nq, 1]");
    ug_tensor_free(&m);
    ug_tensor_free(&mb);
    ug_tensor_free(&mq);
    ug_tensor_free(&bias);
    qkv_free(&t);
}
END_TEST

START_TEST(sam_relative_positions) {
    // SAM decomposed relative positions: keys on a kh x kw grid. A 14 x 14 window, a 17 x 19
    // grid (323 keys: two key tiles of 176 + 147 whose boundary falls inside a grid row), 7 x 9,
    // degenerate 1 x 5 and 5 x 1, and rel terms shared over the batch ([1, H, Nq, k]) together
    // with a bias. The kernel indexes the grid three ways, all covered: kw a multiple of the
    // vector (5 x 64 in two key tiles, 2 x 16; 2 x 8 on AVX2), rel rows permuted in registers
    // (AVX-512, kh and kw <= 32) and a dense fallback (3 x 40 and 40 x 3 on AVX-512, and
    // every grid with kw not a multiple of 8 on AVX2).
    const int64_t grids[][2] = {{14, 14}, {17, 19}, {7, 9}, {1, 5},  {5, 1},
                                {5, 64},  {2, 16},  {2, 8}, {3, 40}, {40, 3}};
    for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++) {
        int64_t kh = grids[g][0], kw = grids[g][1], N = kh * kw, B = 2, H = 2, D = 80;
        qkv t;
        qkv_new(&t, B, H, N, N, D, D, 31 + g);
        ug_tensor rh, rw;
        ug_err err;
        ck_assert_int_eq(ug_tensor_new(&rh, UG_F32, UG_DIMS(B, H, N, kh), &err), UG_OK);
        ck_assert_int_eq(ug_tensor_new(&rw, UG_F32, UG_DIMS(B, H, N, kw), &err), UG_OK);
        fill_tensor(&rh, 2.0f, 41 + g);
        fill_tensor(&rw, 2.0f, 51 + g);
        ug_attn_extra x = {.rel_h = &rh, .rel_w = &rw};
        char what[64];
        snprintf(what, sizeof what, "rel_h/rel_w %lldx%lld", (long long)kh, (long long)kw);
        check(&test_ctx, &t.out, &t.q, &t.k, &t.v, &x, 1.0f / sqrtf((float)D), what);
        ug_tensor rh1 = ug_view_slice(&rh, 0, 1, 1), rw1 = ug_view_slice(&rw, 0, 0, 1); // [1, H, N, k]
        ug_tensor bias;
        ck_assert_int_eq(ug_tensor_new(&bias, UG_F32, UG_DIMS(N, N), &err), UG_OK);
        fill_tensor(&bias, 1.0f, 61 + g);
        ug_attn_extra y = {.bias = {&bias}, .rel_h = &rh1, .rel_w = &rw1};
        check(&test_ctx, &t.out, &t.q, &t.k, &t.v, &y, 0.1f, "shared rel terms + bias");
        ug_tensor_free(&bias);
        ug_tensor_free(&rh);
        ug_tensor_free(&rw);
        qkv_free(&t);
    }
}
END_TEST

START_TEST(large_logits_stay_finite) {
    // Logits in the thousands (nearly one-hot softmax): the running max must keep exp finite,
    // also when a later key tile raises the max by a lot.
    const int64_t Nq = 19, Nk = 400, D = 16;
    qkv t;
    qkv_new(&t, 1, 1, Nq, Nk, D, D, 71);
    float *k = t.k.data;
    for (int64_t d = 0; d < D; d++)
        k[(Nk - 1) * D + d] *= 50.0f; // the last key, in the last tile
    check(&test_ctx, &t.out, &t.q, &t.k, &t.v, NULL, 20.0f, "logits ~1e3");
    qkv_free(&t);
}
END_TEST

START_TEST(single_thread_and_shapes_rejected) {
    ug_ctx one;
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&one, 1, &err), UG_OK);
    qkv t;
    qkv_new(&t, 1, 2, 65, 130, 24, 24, 81);
    check(&one, &t.out, &t.q, &t.k, &t.v, NULL, 0.2f, "one thread");
    ug_ctx_free(&one);

    // No keys at all: every row is "fully masked" -> zeros.
    qkv e;
    qkv_new(&e, 1, 2, 5, 0, 8, 8, 82);
    check(&test_ctx, &e.out, &e.q, &e.k, &e.v, NULL, 0.2f, "Nk = 0");
    qkv_free(&e);

    ug_tensor kbad = ug_view_slice(&t.k, 3, 0, 23); // D mismatch
    ck_assert_int_eq(attention_check(&t.out, &t.q, &kbad, &t.v, NULL, &err), UG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "attention: k") != NULL, "%s", err.msg);
    ug_tensor qt = ug_view_transpose(&t.q, 2, 3); // last stride != 1
    ck_assert_int_eq(attention_check(&t.out, &qt, &t.k, &t.v, NULL, &err), UG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "q") != NULL, "%s", err.msg);
    ug_tensor bias, rh;
    ck_assert_int_eq(ug_tensor_new(&bias, UG_F32, UG_DIMS(3, 65, 130), &err), UG_OK); // H = 3 != 2
    ck_assert_int_eq(attention_check(&t.out, &t.q, &t.k, &t.v, &(ug_attn_extra){.bias = {&bias}}, &err),
                     UG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "bias[0]") != NULL, "%s", err.msg);
    ck_assert_int_eq(attention_check(&t.out, &t.q, &t.k, &t.v, &(ug_attn_extra){.mask = &bias}, &err),
                     UG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "mask") != NULL, "%s", err.msg);
    ck_assert_int_eq(ug_tensor_new(&rh, UG_F32, UG_DIMS(65, 10), &err), UG_OK);
    ck_assert_int_eq(attention_check(&t.out, &t.q, &t.k, &t.v, &(ug_attn_extra){.rel_h = &rh}, &err),
                     UG_ERR_ARG);
    ck_assert_int_eq(
        attention_check(&t.out, &t.q, &t.k, &t.v, &(ug_attn_extra){.rel_h = &rh, .rel_w = &rh}, &err),
        UG_ERR_ARG); // 10 x 10 != 130 keys
    ck_assert_msg(strstr(err.msg, "130 keys") != NULL, "%s", err.msg);
    ug_tensor_free(&bias);
    ug_tensor_free(&rh);
    qkv_free(&t);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "attention", .setup = test_ctx_setup, .teardown = test_ctx_teardown, .timeout = 60},
        &s);
    test_add(tc, plain_odd_sizes, fused_qkv_views, bias_broadcasts, masks_and_fully_masked_rows,
             sam_relative_positions, large_logits_stay_finite, single_thread_and_shapes_rejected);
    return test_run_suite(s);
}
