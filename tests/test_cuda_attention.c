// tests/test_cuda_attention.c — the CUDA fused attention (ops/cuda/attention.cu) against
// attention_ref (double) under every emulator schedule, outputs bit-identical across schedules.
//   shapes: Nq, Nk in {1, 3, 17, 33, 127} (ragged query and key tiles), D in {1, 3, 32, 80} with
//   Dv != D, D = Dv = 128 (fewer warps, short key tiles), Dv = 150 (two column slices), D = 200,
//   Nk = 0;
//   views: q / k / v as views of a fused qkv [B, N, 3, H, D] buffer, out a view into
//   [B, Nq, H, Dv] (the permuted layout the models write);
//   terms: each alone and all together: a full bias, a bias [H, 1, Nk] (size-1 dims) and one
//   broadcast through stride-0 dims, a U8 and a BOOL mask with fully masked rows (zeros), SAM's
//   rel_h / rel_w (kh x kw = Nk), -inf biases (a mask, and a row of only -inf: zeros);
//   models, scaled down: SAM global attention on a 16 x 16 grid (256 tokens, D = 80, rel-pos),
//   a SAM 7 x 7 window with rel-pos, Swin windows (49 tokens, D = 32, bias [H, 49, 49], shift mask
//   [nW, 1, 49, 49] as an additive -100/0 bias and as a U8 mask), Mask2Former masked
//   cross-attention (100 queries, D = 32, U8 mask [B, H, 100, Nk]);
//   logits ~1e3 (the running max jumps in a later key tile), NaN in q or k (NaN rows);
//   errors: a CPU operand, a bad shape, D = 400 (tiles over 48 KiB), rel_h without rel_w are
//   recorded, nothing crashes.
// Tolerance atol 2e-5 + rtol 1e-4, as the CPU suite (tests/test_attention.c): logits are f32 dot
// products over D <= 128 of N(0, 1) inputs scaled by D^-1/2 (error ~1e-6), expf is within 2 ulp,
// and out is a convex combination of N(0, 1) v rows accumulated in f32 over Nk <= 256 keys with
// one rescale per key tile (observed ~1e-6; 3e-5 on |out| ~1.6 where logits reach 1e3 and one f32
// ulp of a logit is 6e-5). A wrong key, row, bias or mask element moves outputs by ~1e-1.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/attention.h"
#include "ops/cuda/cuda_ops.h"
#include "tests/cuda_testutil.h"
#include "tests/helpers.h"

static const double ATOL = 2e-5, RTOL = 1e-4;
static const int64_t odd[] = {1, 3, 17, 33, 127};

// ---- operands: a host buffer, its device copy, and the same view of each ----

typedef struct pair {
    ug_tensor hb, db; // owning: host buffer, device copy
    ug_tensor h, d;   // views of them (the whole buffer unless pair_view)
} pair;

static ug_tensor host_normal(int ndim, const int64_t *shape, float std, uint64_t seed) {
    ug_tensor t = cut_host_new(UG_F32, ndim, shape);
    test_fill_normal(t.data, (size_t)ug_tensor_numel(&t), std, seed);
    return t;
}

// Takes hb (owning) and uploads it.
static pair pair_of(ug_tensor hb) {
    pair p = {.hb = hb};
    p.db = cut_upload(&hb);
    p.h = p.hb;
    p.h.alloc = NULL;
    p.d = p.db;
    p.d.alloc = NULL;
    return p;
}

static void pair_view(pair *p, int64_t off, int ndim, const int64_t *shape, const int64_t *stride) {
    p->h = ug_view_strided(&p->hb, off, ndim, shape, stride);
    p->d = ug_view_strided(&p->db, off, ndim, shape, stride);
}

static void pair_free(pair *p) {
    if (!p) return;
    ug_tensor_free(&p->hb);
    ug_tensor_free(&p->db);
}

// The optional terms of a case (NULL: absent).
typedef struct terms {
    pair *bias[2], *mask, *rel_h, *rel_w;
} terms;

// ---- the reference ----

// Element (b, h, i, j) of a term broadcast to 4 dims (numpy rules), through ug_tensor_ptr.
static double term_at(const ug_tensor *t, const int64_t idx4[4]) {
    int64_t idx[4];
    for (int d = 0; d < t->ndim; d++)
        idx[d] = t->shape[d] == 1 ? 0 : idx4[d + 4 - t->ndim];
    const void *p = ug_tensor_ptr(t, idx);
    return t->dtype == UG_F32 ? (double)*(const float *)p : (double)*(const uint8_t *)p;
}

static float at4(const ug_tensor *t, int64_t b, int64_t h, int64_t i, int64_t d) {
    return *(const float *)ug_tensor_ptr(t, (int64_t[]){b, h, i, d});
}

// want [B, H, Nq, Dv] from attention_ref head by head (the terms summed into a dense bias).
static void reference(float *want, const ug_tensor *q, const ug_tensor *k, const ug_tensor *v, const terms *x,
                      float scale) {
    int64_t B = q->shape[0], H = q->shape[1], Nq = q->shape[2], D = q->shape[3];
    int64_t Nk = k->shape[2], Dv = v->shape[3];
    float *qh = malloc((size_t)(Nq * D + 1) * sizeof(float));    // [Nq, D]
    float *kh = malloc((size_t)(Nk * D + 1) * sizeof(float));    // [Nk, D]
    float *vh = malloc((size_t)(Nk * Dv + 1) * sizeof(float));   // [Nk, Dv]
    float *bias = malloc((size_t)(Nq * Nk + 1) * sizeof(float)); // [Nq, Nk]
    uint8_t *mask = malloc((size_t)(Nq * Nk + 1));               // [Nq, Nk]
    bool has_bias = x->bias[0] || x->bias[1] || x->rel_h;
    int64_t kw = x->rel_w ? x->rel_w->h.shape[x->rel_w->h.ndim - 1] : 1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            for (int64_t i = 0; i < Nq; i++)
                for (int64_t d = 0; d < D; d++)
                    qh[i * D + d] = at4(q, b, h, i, d);
            for (int64_t j = 0; j < Nk; j++) {
                for (int64_t d = 0; d < D; d++)
                    kh[j * D + d] = at4(k, b, h, j, d);
                for (int64_t d = 0; d < Dv; d++)
                    vh[j * Dv + d] = at4(v, b, h, j, d);
            }
            for (int64_t i = 0; i < Nq; i++)
                for (int64_t j = 0; j < Nk; j++) {
                    const int64_t idx[4] = {b, h, i, j};
                    double s = 0;
                    for (int t = 0; t < 2; t++)
                        if (x->bias[t]) s += term_at(&x->bias[t]->h, idx);
                    if (x->rel_h) {
                        s += term_at(&x->rel_h->h, (int64_t[]){b, h, i, j / kw});
                        s += term_at(&x->rel_w->h, (int64_t[]){b, h, i, j % kw});
                    }
                    bias[i * Nk + j] = (float)s;
                    mask[i * Nk + j] = x->mask && term_at(&x->mask->h, idx) != 0;
                }
            attention_ref(want + (b * H + h) * Nq * Dv, Dv, qh, D, kh, D, vh, Dv, has_bias ? bias : NULL, Nk,
                          x->mask ? mask : NULL, Nk, Nq, Nk, D, Dv, scale);
        }
    free(qh), free(kh), free(vh), free(bias), free(mask);
}

// ---- one case ----

// The output: a buffer of obuf_n dims and a view of it (off, shape [B, H, Nq, Dv], stride).
typedef struct out_spec {
    int nb;
    int64_t bshape[4];
    int64_t off, stride[4];
} out_spec;

static out_spec out_dense(int64_t B, int64_t H, int64_t Nq, int64_t Dv) {
    return (out_spec){4, {B, H, Nq, Dv}, 0, {H * Nq * Dv, Nq * Dv, Dv, 1}};
}

// out as a view into [B, Nq, H, Dv] (the layout before the output projection).
static out_spec out_permuted(int64_t B, int64_t H, int64_t Nq, int64_t Dv) {
    return (out_spec){4, {B, Nq, H, Dv}, 0, {Nq * H * Dv, Dv, H * Dv, 1}};
}

// Runs attention_cuda under every schedule and compares the whole output buffer with want (the
// reference at the view, NaN (the poison) elsewhere). nan_rows: rows (b, h, i) whose every
// output must be NaN instead (NULL: none), as nan_row(b, h, i).
static void run_case(const pair *q, const pair *k, const pair *v, const terms *x, out_spec os, float scale,
                     bool (*nan_row)(int64_t b, int64_t h, int64_t i), const char *what) {
    int64_t B = q->h.shape[0], H = q->h.shape[1], Nq = q->h.shape[2], Dv = v->h.shape[3];
    int64_t n = B * H * Nq * Dv, nbuf = 1;
    for (int d = 0; d < os.nb; d++)
        nbuf *= os.bshape[d];
    float *want = malloc((size_t)(n + 1) * sizeof(float)), *want_buf = malloc((size_t)nbuf * sizeof(float));
    reference(want, &q->h, &k->h, &v->h, x, scale);
    for (int64_t e = 0; e < nbuf; e++)
        want_buf[e] = NAN;
    ug_tensor hw = ug_tensor_wrap(want_buf, UG_F32, os.nb, os.bshape);
    ug_tensor hv = ug_view_strided(&hw, os.off, UG_DIMS(B, H, Nq, Dv), os.stride);
    int64_t e = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Nq; i++)
                for (int64_t d = 0; d < Dv; d++, e++)
                    *(float *)ug_tensor_ptr(&hv, (int64_t[]){b, h, i, d}) =
                        nan_row && nan_row(b, h, i) ? NAN : want[e];

    const ug_tensor *td[5] = {NULL};
    const pair *tp[5] = {x->bias[0], x->bias[1], x->mask, x->rel_h, x->rel_w};
    for (int t = 0; t < 5; t++)
        td[t] = tp[t] ? &tp[t]->d : NULL;
    const ug_attn_extra xd = {{td[0], td[1]}, td[2], td[3], td[4]};
    bool any = td[0] || td[1] || td[2] || td[3];
    ug_tensor first = {0};
    for (int s = 0; s < cut_schedule_count(); s++) {
        cut_use_schedule(s);
        ug_tensor ob = cut_empty(UG_F32, os.nb, os.bshape);
        ug_tensor ov = ug_view_strided(&ob, os.off, UG_DIMS(B, H, Nq, Dv), os.stride);
        attention_cuda(&cut_ctx, &ov, &q->d, &k->d, &v->d, any ? &xd : NULL, scale);
        cut_check(&ob, want_buf, ATOL, RTOL, &first, what);
        ug_tensor_free(&ob);
    }
    ug_tensor_free(&first);
    free(want), free(want_buf);
}

// q, k, v contiguous N(0, 1): [B, H, Nq, D], [B, H, Nk, D], [B, H, Nk, Dv].
typedef struct qkv {
    pair q, k, v;
} qkv;

static qkv qkv_new(int64_t B, int64_t H, int64_t Nq, int64_t Nk, int64_t D, int64_t Dv, uint64_t seed) {
    qkv t;
    t.q = pair_of(host_normal(UG_DIMS(B, H, Nq, D), 1.0f, seed));
    t.k = pair_of(host_normal(UG_DIMS(B, H, Nk, D), 1.0f, seed + 1));
    t.v = pair_of(host_normal(UG_DIMS(B, H, Nk, Dv), 1.0f, seed + 2));
    return t;
}

static void qkv_free(qkv *t) {
    pair_free(&t->q), pair_free(&t->k), pair_free(&t->v);
}

static const terms none = {{NULL, NULL}, NULL, NULL, NULL};

// ---- plain attention ----

START_TEST(cuda_attention_odd_sizes) {
    static const int64_t Ds[] = {1, 3, 32, 80};
    for (int a = 0; a < 5; a++)
        for (int c = 0; c < 5; c++)
            for (int e = 0; e < 4; e++) {
                int n = (a * 5 + c) * 4 + e;
                int64_t Nq = odd[a], Nk = odd[c], D = Ds[e], Dv = Ds[(e + 1 + a + c) % 4];
                int64_t B = 1 + (a + c) % 2, H = 1 + (a + e) % 2;
                qkv t = qkv_new(B, H, Nq, Nk, D, Dv, (uint64_t)(1000 + 3 * n));
                run_case(&t.q, &t.k, &t.v, &none, out_dense(B, H, Nq, Dv), 1.0f / sqrtf((float)D), NULL,
                         "plain odd sizes");
                qkv_free(&t);
            }
    // Every D with ragged tiles on both sides; D = Dv = 128 (3 warps, 16-key tiles); Dv = 150 (two
    // launches over column slices); D = 200 (one warp).
    static const int64_t shapes[][4] = {{127, 33, 1, 3},  {33, 127, 3, 80},   {127, 127, 80, 32},
                                        {17, 127, 32, 1}, {65, 33, 128, 128}, {19, 21, 24, 150},
                                        {9, 40, 200, 16}};
    for (int s = 0; s < 7; s++) {
        int64_t Nq = shapes[s][0], Nk = shapes[s][1], D = shapes[s][2], Dv = shapes[s][3];
        qkv t = qkv_new(1, 2, Nq, Nk, D, Dv, (uint64_t)(200 + 3 * s));
        run_case(&t.q, &t.k, &t.v, &none, out_dense(1, 2, Nq, Dv), 1.0f / sqrtf((float)D), NULL,
                 "plain shapes");
        qkv_free(&t);
    }
}
END_TEST

START_TEST(cuda_attention_no_keys) {
    // Nk = 0: every row is "fully masked" -> zeros.
    qkv t = qkv_new(1, 2, 5, 0, 8, 8, 300);
    run_case(&t.q, &t.k, &t.v, &none, out_dense(1, 2, 5, 8), 0.3f, NULL, "Nk = 0");
    qkv_free(&t);
}
END_TEST

START_TEST(cuda_attention_fused_qkv_views) {
    // q, k, v views of one qkv projection [B, N, 3, H, D]; out a view into [B, N, H, D].
    const int64_t B = 2, N = 33, H = 3, D = 32;
    pair f = pair_of(host_normal(UG_DIMS(B, N, 3 * H * D), 1.0f, 310));
    pair q = f, k = f, v = f;
    const int64_t st[4] = {N * 3 * H * D, D, 3 * H * D, 1};
    pair_view(&q, 0, UG_DIMS(B, H, N, D), st);
    pair_view(&k, H * D, UG_DIMS(B, H, N, D), st);
    pair_view(&v, 2 * H * D, UG_DIMS(B, H, N, D), st);
    run_case(&q, &k, &v, &none, out_permuted(B, H, N, D), 1.0f / sqrtf((float)D), NULL, "fused qkv views");
    // Cross-attention shape: q from its own projection, k / v from a fused kv [B, Nk, 2, H, D] with
    // Dv != D (k the first 24 of each 40-wide head slot, v all 40), out a view into [B, Nq, H, Dv].
    const int64_t Nq = 17, Nk = 127, Dk = 24, Dv = 40;
    pair q2 = pair_of(host_normal(UG_DIMS(B, Nq, H, Dk), 1.0f, 320));
    pair kv = pair_of(host_normal(UG_DIMS(B, Nk, 2, H, Dv), 1.0f, 321));
    pair k2 = kv, v2 = kv;
    pair_view(&q2, 0, UG_DIMS(B, H, Nq, Dk), (const int64_t[]){Nq * H * Dk, Dk, H * Dk, 1});
    const int64_t skv[4] = {Nk * 2 * H * Dv, Dv, 2 * H * Dv, 1};
    pair_view(&k2, 0, UG_DIMS(B, H, Nk, Dk), skv);
    pair_view(&v2, H * Dv, UG_DIMS(B, H, Nk, Dv), skv);
    run_case(&q2, &k2, &v2, &none, out_permuted(B, H, Nq, Dv), 0.2f, NULL, "fused kv views, Dv != D");
    // out inside a wider buffer: [B, Nq, H, Dv + 3] at column 2 (the poison must survive around it).
    out_spec os = {4, {B, Nq, H, Dv + 3}, 2, {Nq * H * (Dv + 3), Dv + 3, H * (Dv + 3), 1}};
    run_case(&q2, &k2, &v2, &none, os, 0.2f, NULL, "out a view with gaps");
    pair_free(&f), pair_free(&q2), pair_free(&kv);
}
END_TEST

// ---- the optional terms ----

// A U8 (or BOOL) mask of shape ndim/shape, nonzero with probability ~1/3; rows listed in full_rows
// (indices along the second-last dim, all leading indices) fully masked.
static pair mask_new(ug_dtype dt, int ndim, const int64_t *shape, const int64_t *full_rows, int nfull,
                     uint64_t seed) {
    ug_tensor m = cut_host_new(dt, ndim, shape);
    uint8_t *p = m.data;
    int64_t n = ug_tensor_numel(&m), Nk = shape[ndim - 1], Nq = ndim > 1 ? shape[ndim - 2] : 1;
    test_rng rng = test_rng_seed(seed);
    for (int64_t e = 0; e < n; e++)
        p[e] = test_rng_u64(&rng) % 3 == 0;
    for (int64_t e = 0; e < n; e++)
        for (int f = 0; f < nfull; f++)
            if (e / Nk % Nq == full_rows[f]) p[e] = 1;
    return pair_of(m);
}

START_TEST(cuda_attention_terms_alone_and_combined) {
    const int64_t B = 2, H = 3, Nq = 33, kh = 3, kw = 7, Nk = kh * kw, D = 17, Dv = 9;
    qkv t = qkv_new(B, H, Nq, Nk, D, Dv, 400);
    // bias0: full [B, H, Nq, Nk]; bias1: [H, 1, Nk] (size-1 dims, fewer dims than 4).
    pair b0 = pair_of(host_normal(UG_DIMS(B, H, Nq, Nk), 1.0f, 401));
    pair b1 = pair_of(host_normal(UG_DIMS(H, 1, Nk), 1.0f, 402));
    // b2: a [Nq, Nk] buffer broadcast through stride-0 dims to [B, H, Nq, Nk].
    pair b2 = pair_of(host_normal(UG_DIMS(Nq, Nk), 1.0f, 403));
    pair_view(&b2, 0, UG_DIMS(B, H, Nq, Nk), (const int64_t[]){0, 0, Nk, 1});
    // masks: U8 [B, 1, Nq, Nk] with rows 0 and 20 fully masked; BOOL [Nq, Nk] with row 32.
    pair m8 = mask_new(UG_U8, UG_DIMS(B, 1, Nq, Nk), (const int64_t[]){0, 20}, 2, 404);
    pair mb = mask_new(UG_BOOL, UG_DIMS(Nq, Nk), (const int64_t[]){32}, 1, 405);
    // rel_h [B, H, Nq, kh] as a view into [B, Nq, H, kh]; rel_w [H, Nq, kw] (batch broadcast).
    pair rh = pair_of(host_normal(UG_DIMS(B, Nq, H, kh), 1.0f, 406));
    pair_view(&rh, 0, UG_DIMS(B, H, Nq, kh), (const int64_t[]){Nq * H * kh, kh, H * kh, 1});
    pair rw = pair_of(host_normal(UG_DIMS(H, Nq, kw), 1.0f, 407));
    const float sc = 1.0f / sqrtf((float)D);
    const out_spec os = out_dense(B, H, Nq, Dv);
    const terms cases[] = {
        {{&b0, NULL}, NULL, NULL, NULL}, {{NULL, &b1}, NULL, NULL, NULL}, {{&b2, NULL}, NULL, NULL, NULL},
        {{NULL, NULL}, &m8, NULL, NULL}, {{NULL, NULL}, &mb, NULL, NULL}, {{NULL, NULL}, NULL, &rh, &rw},
        {{&b0, &b1}, &m8, &rh, &rw},     {{&b2, &b0}, &mb, &rh, &rw},
    };
    static const char *names[] = {
        "bias full", "bias [H, 1, Nk]", "bias stride 0", "U8 mask",
        "BOOL mask", "rel_h / rel_w",   "all terms",     "all terms, other broadcasts"};
    for (int c = 0; c < 8; c++)
        run_case(&t.q, &t.k, &t.v, &cases[c], os, sc, NULL, names[c]);
    qkv_free(&t);
    pair_free(&b0), pair_free(&b1), pair_free(&b2), pair_free(&m8), pair_free(&mb), pair_free(&rh),
        pair_free(&rw);
}
END_TEST

START_TEST(cuda_attention_inf_bias) {
    // -inf biases act as a mask; a row of only -inf gives zeros; long rows over several key tiles.
    const int64_t B = 1, H = 2, Nq = 17, Nk = 127, D = 32;
    qkv t = qkv_new(B, H, Nq, Nk, D, D, 500);
    ug_tensor hb = host_normal(UG_DIMS(H, Nq, Nk), 1.0f, 501);
    float *p = hb.data;
    test_rng rng = test_rng_seed(502);
    for (int64_t e = 0; e < H * Nq * Nk; e++) {
        int64_t i = e / Nk % Nq;
        if (i == 5 || (i != 6 && test_rng_u64(&rng) % 2 == 0)) p[e] = -INFINITY;
    }
    for (int64_t j = 0; j < Nk - 1; j++) // row 6: one open key, the last one (in the last tile)
        p[6 * Nk + j] = -INFINITY;
    pair b = pair_of(hb);
    const terms x = {{&b, NULL}, NULL, NULL, NULL};
    run_case(&t.q, &t.k, &t.v, &x, out_dense(B, H, Nq, D), 0.2f, NULL, "-inf bias");
    pair_free(&b);
    qkv_free(&t);
}
END_TEST

// ---- model-like cases, scaled down ----

START_TEST(cuda_attention_sam_global_and_window) {
    // Global attention of SAM ViT-H on a 16 x 16 grid (the real one is 64 x 64), D = 80, with the
    // decomposed rel-pos rel_h / rel_w [B, H, N, 16].
    const int64_t B = 1, H = 2, G = 16, N = G * G, D = 80;
    qkv t = qkv_new(B, H, N, N, D, D, 600);
    pair rh = pair_of(host_normal(UG_DIMS(B, H, N, G), 0.5f, 601));
    pair rw = pair_of(host_normal(UG_DIMS(B, H, N, G), 0.5f, 602));
    const terms x = {{NULL, NULL}, NULL, &rh, &rw};
    run_case(&t.q, &t.k, &t.v, &x, out_permuted(B, H, N, D), 1.0f / sqrtf((float)D), NULL,
             "SAM global 16x16");
    pair_free(&rh), pair_free(&rw);
    qkv_free(&t);
    // A window batch (windows as B) of 7 x 7 tokens (14 x 14 in SAM) with rel-pos.
    const int64_t W = 3, S = 7, Nw = S * S;
    qkv w = qkv_new(W, H, Nw, Nw, D, D, 610);
    pair wh = pair_of(host_normal(UG_DIMS(W, H, Nw, S), 0.5f, 611));
    pair ww = pair_of(host_normal(UG_DIMS(W, H, Nw, S), 0.5f, 612));
    const terms xw = {{NULL, NULL}, NULL, &wh, &ww};
    run_case(&w.q, &w.k, &w.v, &xw, out_dense(W, H, Nw, D), 1.0f / sqrtf((float)D), NULL, "SAM window 7x7");
    pair_free(&wh), pair_free(&ww);
    qkv_free(&w);
}
END_TEST

START_TEST(cuda_attention_swin_window) {
    // Swin-B shifted windows: nW = 4 windows as the batch, 49 tokens, D = 32, rel-pos bias
    // [H, 49, 49] and the shift mask [nW, 1, 49, 49], as PyTorch's additive -100 / 0 and as a U8 mask.
    const int64_t nW = 4, H = 3, N = 49, D = 32;
    qkv t = qkv_new(nW, H, N, N, D, D, 700);
    pair rel = pair_of(host_normal(UG_DIMS(H, N, N), 1.0f, 701));
    ug_tensor hs = cut_host_new(UG_F32, UG_DIMS(nW, 1, N, N));
    ug_tensor hm = cut_host_new(UG_U8, UG_DIMS(nW, 1, N, N));
    for (int64_t w = 0; w < nW; w++)
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < N; j++) {
                // window w > 0 mixes regions: tokens of different regions do not attend each other
                int64_t ri = w == 0 ? 0 : (i % 7 >= 4) + 2 * (w > 1 && i / 7 >= 4);
                int64_t rj = w == 0 ? 0 : (j % 7 >= 4) + 2 * (w > 1 && j / 7 >= 4);
                ((float *)hs.data)[(w * N + i) * N + j] = ri == rj ? 0.0f : -100.0f;
                ((uint8_t *)hm.data)[(w * N + i) * N + j] = ri != rj;
            }
    pair shift = pair_of(hs), mask = pair_of(hm);
    const float sc = 1.0f / sqrtf((float)D);
    const terms xa = {{&rel, &shift}, NULL, NULL, NULL}, xm = {{&rel, NULL}, &mask, NULL, NULL};
    run_case(&t.q, &t.k, &t.v, &xa, out_permuted(nW, H, N, D), sc, NULL, "Swin window, additive shift mask");
    run_case(&t.q, &t.k, &t.v, &xm, out_permuted(nW, H, N, D), sc, NULL, "Swin window, U8 shift mask");
    pair_free(&rel), pair_free(&shift), pair_free(&mask);
    qkv_free(&t);
}
END_TEST

START_TEST(cuda_attention_mask2former_cross) {
    // Masked cross-attention of the Mask2Former decoder: 100 queries over an 8 x 12 feature map,
    // D = 32, mask [B, H, 100, Nk] U8 with some fully masked queries (zeros).
    const int64_t B = 1, H = 2, Nq = 100, Nk = 96, D = 32;
    qkv t = qkv_new(B, H, Nq, Nk, D, D, 800);
    pair m = mask_new(UG_U8, UG_DIMS(B, H, Nq, Nk), (const int64_t[]){7, 64, 99}, 3, 801);
    const terms x = {{NULL, NULL}, &m, NULL, NULL};
    run_case(&t.q, &t.k, &t.v, &x, out_permuted(B, H, Nq, D), 1.0f / sqrtf((float)D), NULL,
             "Mask2Former masked cross-attention");
    pair_free(&m);
    qkv_free(&t);
}
END_TEST

// ---- numbers ----

START_TEST(cuda_attention_large_logits) {
    // Logits ~1e3 (nearly one-hot): the running max keeps exp finite, also when the last key
    // tile raises it by a lot.
    const int64_t Nq = 19, Nk = 127, D = 16;
    ug_tensor hk = host_normal(UG_DIMS(1, 1, Nk, D), 1.0f, 901);
    for (int64_t d = 0; d < D; d++)
        ((float *)hk.data)[(Nk - 1) * D + d] *= 50.0f;
    pair q = pair_of(host_normal(UG_DIMS(1, 1, Nq, D), 1.0f, 900)), k = pair_of(hk);
    pair v = pair_of(host_normal(UG_DIMS(1, 1, Nk, D), 1.0f, 902));
    run_case(&q, &k, &v, &none, out_dense(1, 1, Nq, D), 20.0f, NULL, "logits ~1e3");
    pair_free(&q), pair_free(&k), pair_free(&v);
}
END_TEST

static bool nan_q_row(int64_t b, int64_t h, int64_t i) {
    return b == 0 && h == 1 && i == 9;
}
static bool nan_all(int64_t b, int64_t h, int64_t i) {
    (void)i;
    return b == 0 && h == 0;
}

START_TEST(cuda_attention_nan_propagates) {
    // NaN in q row 9 of head 1: that row is NaN, the others are unaffected. NaN in one key of
    // head 0: every row of head 0 is NaN (also with a mask that leaves that key open).
    const int64_t B = 1, H = 2, Nq = 33, Nk = 40, D = 8;
    ug_tensor hq = host_normal(UG_DIMS(B, H, Nq, D), 1.0f, 950);
    ((float *)hq.data)[(1 * Nq + 9) * D + 3] = NAN;
    qkv t = qkv_new(B, H, Nq, Nk, D, D, 951);
    pair q = pair_of(hq);
    run_case(&q, &t.k, &t.v, &none, out_dense(B, H, Nq, D), 0.3f, nan_q_row, "NaN in q");
    ug_tensor hk = host_normal(UG_DIMS(B, H, Nk, D), 1.0f, 952);
    ((float *)hk.data)[35 * D] = NAN; // head 0, key 35 (the second key tile)
    pair k = pair_of(hk);
    run_case(&t.q, &k, &t.v, &none, out_dense(B, H, Nq, D), 0.3f, nan_all, "NaN in k");
    pair_free(&q), pair_free(&k);
    qkv_free(&t);
}
END_TEST

// ---- errors: recorded on the context, no crash ----

START_TEST(cuda_attention_cpu_operand_fails) {
    qkv t = qkv_new(1, 2, 5, 7, 8, 8, 990);
    ug_tensor out = cut_empty(UG_F32, UG_DIMS(1, 2, 5, 8));
    attention_cuda(&cut_ctx, &out, &t.q.h, &t.k.d, &t.v.d, NULL, 0.3f); // q on the host
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "attention") && strstr(err.msg, "not on the CUDA device"), "%s", err.msg);
    ug_tensor_free(&out);
    qkv_free(&t);
}
END_TEST

START_TEST(cuda_attention_bad_shape_fails) {
    qkv t = qkv_new(1, 2, 5, 7, 8, 8, 991);
    ug_tensor out = cut_empty(UG_F32, UG_DIMS(1, 2, 5, 8));
    ug_tensor kbad = ug_view_slice(&t.k.d, 3, 0, 6); // D 6 != 8
    attention_cuda(&cut_ctx, &out, &t.q.d, &kbad, &t.v.d, NULL, 0.3f);
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "cuda: attention: ") && strstr(err.msg, "k: shape"), "%s", err.msg);
    ug_tensor_free(&out);
    qkv_free(&t);
}
END_TEST

START_TEST(cuda_attention_huge_head_dim_fails) {
    qkv t = qkv_new(1, 1, 3, 4, 400, 8, 994); // D = 400: the tiles do not fit 48 KiB
    ug_tensor out = cut_empty(UG_F32, UG_DIMS(1, 1, 3, 8));
    attention_cuda(&cut_ctx, &out, &t.q.d, &t.k.d, &t.v.d, NULL, 0.05f);
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "head dim D too large"), "%s", err.msg);
    ug_tensor_free(&out);
    qkv_free(&t);
}
END_TEST

START_TEST(cuda_attention_rel_h_alone_fails) {
    qkv t = qkv_new(1, 2, 5, 8, 8, 8, 992);
    ug_tensor out = cut_empty(UG_F32, UG_DIMS(1, 2, 5, 8));
    pair rh = pair_of(host_normal(UG_DIMS(5, 2), 1.0f, 993));
    attention_cuda(&cut_ctx, &out, &t.q.d, &t.k.d, &t.v.d, &(ug_attn_extra){.rel_h = &rh.d}, 0.3f);
    ug_err err;
    ck_assert_int_ne(ug_ctx_device_status(&cut_ctx, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, "rel_h and rel_w"), "%s", err.msg);
    ug_tensor_free(&out);
    pair_free(&rh);
    qkv_free(&t);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cuda_attention", .setup = cut_setup, .teardown = cut_teardown, .timeout = 600},
        &s);
    test_add(tc, cuda_attention_odd_sizes, cuda_attention_no_keys, cuda_attention_fused_qkv_views,
             cuda_attention_terms_alone_and_combined, cuda_attention_inf_bias,
             cuda_attention_sam_global_and_window, cuda_attention_swin_window,
             cuda_attention_mask2former_cross, cuda_attention_large_logits, cuda_attention_nan_propagates);
    TCase *tf = tcase_create("cuda_attention_failure");
    tcase_add_checked_fixture(tf, cut_setup, cut_teardown_keep_error);
    test_add(tf, cuda_attention_cpu_operand_fails, cuda_attention_bad_shape_fails,
             cuda_attention_huge_head_dim_fails, cuda_attention_rel_h_alone_fails);
    suite_add_tcase(s, tf);
    return test_run_suite(s);
}
