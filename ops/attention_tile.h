// ops/attention_tile.h — the tiled attention kernel, written once against ops/softmax_simd.h
// and compiled twice: by ops/attention.c (AVX2, defines attention_run_avx2) and by
// ops/attention_avx512.c (AVX-512, defines attention_run_avx512).
//
// One task = one (batch, head) and one tile of QT query rows. Keys stream through in tiles
// of at most KT_MAX; per key tile:
//   1. pack K^T [D, KT] (and V [KT, Dvp] unless its rows can be read in place),
//   2. S [QT, KT] = Qs K^T with an R x (C * VL) register-blocked micro-kernel, Qs = q * scale,
//   3. S += bias terms, masked keys -> -inf,
//   4. online softmax per row: m' = max(m, rowmax S), P = exp(S - m'), l = l e^(m - m') + sum P,
//      O *= e^(m - m'),
//   5. O [QT, Dvp] += P V with a second micro-kernel.
// At the end out = O / l (0 for rows whose keys were all masked, l == 0).
#ifndef UG_OPS_ATTENTION_PLAN_H
#define UG_OPS_ATTENTION_PLAN_H

#include <stdint.h>

#include "engine/ctx.h"

// An optional term broadcast to [B, H, Nq, Nk] (or [B, H, Nq, kh|kw] for rel_h / rel_w):
// element (b, h, i, j) is at p + b s[0] + h s[1] + i s[2] + j s[3]; broadcast dims have s = 0.
typedef struct attn_term {
    const void *p; // NULL when absent
    int64_t s[4];
} attn_term;

typedef struct attn_plan {
    ug_ctx *ctx;
    int64_t B, H, Nq, Nk, D, Dv;
    float scale;
    const float *q, *k, *v;
    float *out;
    int64_t sq[3], sk[3], sv[3], so[3]; // strides of (b, h, row); the last dim has stride 1
    int nbias;
    attn_term bias[2];
    attn_term mask;         // U8/BOOL, nonzero = excluded
    attn_term rel_h, rel_w; // s[3] == 1
    int64_t kh, kw;
} attn_plan;

void attention_run_avx2(const attn_plan *p);
void attention_run_avx512(const attn_plan *p);

#endif

#ifdef UG_ATTENTION_TILE_IMPL

#include <math.h>
#include <string.h>

#include "ops/softmax_simd.h"

// Register blocking. S kernel: S_R rows x S_C vectors of keys; PV kernel: PV_R rows x up to
// PV_C vectors of Dv. AVX-512 has 32 registers, AVX2 16: the accumulators take at most 24
// and 12 of them, leaving room for the loaded and broadcast operands.
#if defined(__AVX512F__) // the ISA ops/softmax_simd.h picked
#define ATTN_RUN attention_run_avx512
enum { S_R = 8, S_C = 2, PV_R = 4, PV_C = 6 };
#else
#define ATTN_RUN attention_run_avx2
enum { S_R = 6, S_C = 2, PV_R = 3, PV_C = 4 };
#endif
// Tile sizes: a tile's Qs, K^T, S and O stay within L2 (~300 KB for D = 80). Measured on
// Zen (AVX-512, one thread): 128 x 256 is within a few % of the best of 32..128 x 128..512
// for every bench shape; a 12 x 12 Swin window's 144 keys fit one key tile.
enum { QT_MAX = 128, KT_MAX = 256, ROWS_MAX = 8 };

static int64_t attn_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// S[r, 0 .. C*VL) = sum_d Qs[r, d] Kt[d, 0 .. C*VL) for r < R.
UG_INLINE void attn_s_block(int R, int C, const float *Qs, int64_t D, const float *Kt, int64_t ldk,
                            float *S, int64_t lds) {
    vf acc[ROWS_MAX][S_C];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) acc[r][c] = vf_zero();
    for (int64_t d = 0; d < D; d++) {
        vf kv[S_C];
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) kv[c] = vf_load(Kt + d * ldk + c * VL);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            vf qb = vf_set1(Qs[r * D + d]);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) acc[r][c] = vf_fma(qb, kv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) vf_store(S + r * lds + c * VL, acc[r][c]);
}

// All ncp columns (a multiple of VL) of R rows.
UG_INLINE void attn_s_rows(int R, const float *Qs, int64_t D, const float *Kt, int64_t ldk, float *S,
                           int64_t lds, int64_t ncp) {
    int64_t c = 0;
    for (; c + S_C * VL <= ncp; c += S_C * VL) attn_s_block(R, S_C, Qs, D, Kt + c, ldk, S + c, lds);
    for (; c < ncp; c += VL) attn_s_block(R, 1, Qs, D, Kt + c, ldk, S + c, lds);
}

static void attn_s_tile(int64_t nq, const float *Qs, int64_t D, const float *Kt, int64_t ldk, float *S,
                        int64_t lds, int64_t ncp) {
    int64_t r = 0;
    for (; r + S_R <= nq; r += S_R) attn_s_rows(S_R, Qs + r * D, D, Kt, ldk, S + r * lds, lds, ncp);
    switch (nq - r) {
#define ATTN_S_CASE(n)                                                                                    \
    case n:                                                                                               \
        if (n < S_R) attn_s_rows(n, Qs + r * D, D, Kt, ldk, S + r * lds, lds, ncp);                       \
        break;
        ATTN_S_CASE(1)
        ATTN_S_CASE(2)
        ATTN_S_CASE(3)
        ATTN_S_CASE(4)
        ATTN_S_CASE(5)
        ATTN_S_CASE(6)
        ATTN_S_CASE(7)
#undef ATTN_S_CASE
    default:
        break;
    }
}

// O[r, 0 .. C*VL) += sum_{j < nk} P[r, j] V[j, 0 .. C*VL) for r < R.
UG_INLINE void attn_pv_block(int R, int C, const float *P, int64_t ldp, const float *V, int64_t ldv,
                             int64_t nk, float *O, int64_t ldo) {
    // Few accumulators (small Dv and few rows) cannot hide the FMA latency: then even and odd
    // keys go to two sets, summed at the end.
    const int dual = R * C <= 8;
    vf acc[ROWS_MAX][PV_C], acc2[ROWS_MAX][PV_C];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            acc[r][c] = vf_load(O + r * ldo + c * VL);
            acc2[r][c] = vf_zero();
        }
    int64_t j = 0;
    if (dual) {
        for (; j + 2 <= nk; j += 2) {
            vf v0[PV_C], v1[PV_C];
#pragma GCC unroll 8
            for (int c = 0; c < C; c++) {
                v0[c] = vf_load(V + j * ldv + c * VL);
                v1[c] = vf_load(V + (j + 1) * ldv + c * VL);
            }
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                vf p0 = vf_set1(P[r * ldp + j]), p1 = vf_set1(P[r * ldp + j + 1]);
#pragma GCC unroll 8
                for (int c = 0; c < C; c++) {
                    acc[r][c] = vf_fma(p0, v0[c], acc[r][c]);
                    acc2[r][c] = vf_fma(p1, v1[c], acc2[r][c]);
                }
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int c = 0; c < C; c++) acc[r][c] = vf_add(acc[r][c], acc2[r][c]);
    }
    for (; j < nk; j++) {
        vf vv[PV_C];
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) vv[c] = vf_load(V + j * ldv + c * VL);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            vf pb = vf_set1(P[r * ldp + j]);
#pragma GCC unroll 8
            for (int c = 0; c < C; c++) acc[r][c] = vf_fma(pb, vv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) vf_store(O + r * ldo + c * VL, acc[r][c]);
}

// R rows, every vector of Dv in groups of at most PV_C.
UG_INLINE void attn_pv_rows(int R, const float *P, int64_t ldp, const float *V, int64_t ldv, int64_t nk,
                            float *O, int64_t ldo, int64_t nv) {
    for (int64_t c = 0; c < nv;) {
        int64_t g = nv - c < PV_C ? nv - c : PV_C;
        const float *Vc = V + c * VL;
        float *Oc = O + c * VL;
        switch (g) {
#define ATTN_PV_CASE(n)                                                                                   \
    case n:                                                                                               \
        if (n <= PV_C) attn_pv_block(R, n, P, ldp, Vc, ldv, nk, Oc, ldo);                                 \
        break;
            ATTN_PV_CASE(1)
            ATTN_PV_CASE(2)
            ATTN_PV_CASE(3)
            ATTN_PV_CASE(4)
            ATTN_PV_CASE(5)
            ATTN_PV_CASE(6)
#undef ATTN_PV_CASE
        default:
            break;
        }
        c += g;
    }
}

static void attn_pv_tile(int64_t nq, const float *P, int64_t ldp, const float *V, int64_t ldv, int64_t nk,
                         float *O, int64_t ldo, int64_t nv) {
    int64_t r = 0;
    for (; r + PV_R <= nq; r += PV_R) attn_pv_rows(PV_R, P + r * ldp, ldp, V, ldv, nk, O + r * ldo, ldo, nv);
    switch (nq - r) {
#define ATTN_PV_R_CASE(n)                                                                                 \
    case n:                                                                                               \
        if (n < PV_R) attn_pv_rows(n, P + r * ldp, ldp, V, ldv, nk, O + r * ldo, ldo, nv);                \
        break;
        ATTN_PV_R_CASE(1)
        ATTN_PV_R_CASE(2)
        ATTN_PV_R_CASE(3)
#undef ATTN_PV_R_CASE
    default:
        break;
    }
}

// dst[i, 0 .. 8) = src[0 .. 8, i] for i < 8: an 8 x 8 transpose in AVX registers (both ISAs).
UG_INLINE void attn_transpose8(const float *src, int64_t lds, float *dst, int64_t ldd) {
    __m256 r[8], t[8], u[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     // a(i,0) a(i+1,0) a(i,1) a(i+1,1) | cols 4, 5
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); // cols 2, 3 | 6, 7
    }
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);     // col 0 of rows i..i+3 | col 4
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee); // col 1 | col 5
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

// Kt [D, ldkt] = K^T of nk key rows (row stride ldk); keys nk .. ncp read 0.
static void attn_pack_kt(float *Kt, int64_t ldkt, const float *k, int64_t ldk, int64_t nk, int64_t ncp, int64_t D) {
    int64_t j = 0;
    for (; j + 8 <= nk; j += 8) {
        int64_t d = 0;
        for (; d + 8 <= D; d += 8) attn_transpose8(k + j * ldk + d, ldk, Kt + d * ldkt + j, ldkt);
        for (; d < D; d++)
            for (int64_t jj = j; jj < j + 8; jj++) Kt[d * ldkt + jj] = k[jj * ldk + d];
    }
    for (; j < nk; j++)
        for (int64_t d = 0; d < D; d++) Kt[d * ldkt + j] = k[j * ldk + d];
    for (int64_t d = 0; d < D; d++)
        for (int64_t jj = nk; jj < ncp; jj++) Kt[d * ldkt + jj] = 0;
}

// s[0 .. n) += t[0 .. n) (t with element stride st: 1, 0 = one value, or anything else).
static void attn_add_row(float *s, const float *t, int64_t st, int64_t n) {
    int64_t c = 0;
    if (st == 1) {
        for (; c + VL <= n; c += VL) vf_store(s + c, vf_add(vf_load(s + c), vf_load(t + c)));
        if (c < n) vf_store_n(s + c, vf_add(vf_load_n(s + c, (int)(n - c)), vf_load_n(t + c, (int)(n - c))), (int)(n - c));
    } else if (st == 0) {
        vf tv = vf_set1(*t);
        for (; c + VL <= n; c += VL) vf_store(s + c, vf_add(vf_load(s + c), tv));
        for (; c < n; c++) s[c] += *t;
    } else {
        for (; c < n; c++) s[c] += t[c * st];
    }
}

// Decomposed relative positions over keys j0 .. j0 + n of a kh x kw grid:
// s[c] += rh[(j0 + c) / kw] + rw[(j0 + c) % kw], one run of constant key row at a time.
static void attn_add_rel(float *s, const float *rh, const float *rw, int64_t kw, int64_t j0, int64_t n) {
    for (int64_t c = 0; c < n;) {
        int64_t j = j0 + c, jw = j % kw;
        int64_t run = kw - jw < n - c ? kw - jw : n - c;
        vf hv = vf_set1(rh[j / kw]);
        const float *w = rw + jw;
        float *sc = s + c;
        int64_t t = 0;
        for (; t + VL <= run; t += VL) vf_store(sc + t, vf_add(vf_load(sc + t), vf_add(vf_load(w + t), hv)));
        if (t < run) {
            int left = (int)(run - t);
            vf_store_n(sc + t, vf_add(vf_load_n(sc + t, left), vf_add(vf_load_n(w + t, left), hv)), left);
        }
        c += run;
    }
}

// s[c] = -inf where m[c * sm] != 0.
static void attn_mask_row(float *s, const uint8_t *m, int64_t sm, int64_t n) {
    int64_t c = 0;
    if (sm == 1)
        for (; c + VL <= n; c += VL) vf_store(s + c, vf_mask_u8(vf_load(s + c), m + c));
    else if (sm == 0 && !*m)
        return;
    for (; c < n; c++)
        if (m[c * sm]) s[c] = -INFINITY;
}

// Online softmax step of one row (see the top of the file). ncp is a multiple of VL and the
// columns past the tile's keys hold -inf.
static void attn_softmax_row(float *s, int64_t ncp, float *m, float *l, float *o, int64_t nvo) {
    vf vm = vf_set1(-INFINITY);
    for (int64_t c = 0; c < ncp; c += VL) vm = vf_max(vm, vf_load(s + c));
    float mnew = fmaxf(*m, vf_hmax(vm));
    if (mnew == -INFINITY) { // every key so far masked: this tile adds nothing
        memset(s, 0, (size_t)ncp * sizeof *s);
        return;
    }
    vf mv = vf_set1(mnew), acc = vf_zero();
    for (int64_t c = 0; c < ncp; c += VL) {
        vf e = vf_exp(vf_sub(vf_load(s + c), mv));
        vf_store(s + c, e);
        acc = vf_add(acc, e);
    }
    float corr = expf(*m - mnew); // 0 on the first unmasked tile (m = -inf)
    *l = *l * corr + vf_hsum(acc);
    *m = mnew;
    if (corr != 1.0f) {
        vf cv = vf_set1(corr);
        for (int64_t c = 0; c < nvo; c += VL) vf_store(o + c, vf_mul(vf_load(o + c), cv));
    }
}

// Per-tile sizes shared by every task of one call.
typedef struct attn_tiles {
    const attn_plan *p;
    int64_t qt, nqt;  // query rows per tile, query tiles per head
    int64_t kt, nkt;  // keys per tile, key tiles
    int64_t ldkt;     // K^T row stride = S row stride (multiple of S_C * VL)
    int64_t dvp;      // Dv rounded up to VL
    int pack_v;       // V rows cannot be read in place (Dv not a multiple of VL)
    size_t scratch;   // bytes per thread
} attn_tiles;

static void attn_task(void *arg, int64_t begin, int64_t end, int thread) {
    const attn_tiles *T = arg;
    const attn_plan *p = T->p;
    const int64_t D = p->D, Dv = p->Dv, ldkt = T->ldkt, dvp = T->dvp;
    float *mem = ug_ctx_scratch(p->ctx, thread, T->scratch);
    float *Qs = mem;                                           // [QT, D]
    float *Kt = Qs + attn_round_up(T->qt * D, 16);             // [D, ldkt]
    float *Vp = Kt + attn_round_up(D * ldkt, 16);              // [ldkt, dvp] when packing V
    float *S = Vp + (T->pack_v ? attn_round_up(ldkt * dvp, 16) : 0); // [QT, ldkt]
    float *O = S + attn_round_up(T->qt * ldkt, 16);            // [QT, dvp]
    float *M = O + attn_round_up(T->qt * dvp, 16);             // [QT] running max
    float *L = M + attn_round_up(T->qt, 16);                   // [QT] running sum

    for (int64_t task = begin; task < end; task++) {
        int64_t bh = task / T->nqt, i0 = task % T->nqt * T->qt;
        int64_t b = bh / p->H, h = bh % p->H;
        int64_t nq = p->Nq - i0 < T->qt ? p->Nq - i0 : T->qt;
        const float *q = p->q + b * p->sq[0] + h * p->sq[1] + i0 * p->sq[2];
        const float *k = p->k + b * p->sk[0] + h * p->sk[1];
        const float *v = p->v + b * p->sv[0] + h * p->sv[1];

        vf sc = vf_set1(p->scale);
        for (int64_t r = 0; r < nq; r++) {
            const float *qr = q + r * p->sq[2];
            float *dst = Qs + r * D;
            int64_t d = 0;
            for (; d + VL <= D; d += VL) vf_store(dst + d, vf_mul(vf_load(qr + d), sc));
            if (d < D) vf_store_n(dst + d, vf_mul(vf_load_n(qr + d, (int)(D - d)), sc), (int)(D - d));
        }
        memset(O, 0, (size_t)(nq * dvp) * sizeof *O);
        for (int64_t r = 0; r < nq; r++) {
            M[r] = -INFINITY;
            L[r] = 0;
        }

        for (int64_t j0 = 0; j0 < p->Nk; j0 += T->kt) {
            int64_t nk = p->Nk - j0 < T->kt ? p->Nk - j0 : T->kt;
            int64_t ncp = attn_round_up(nk, VL);
            attn_pack_kt(Kt, ldkt, k + j0 * p->sk[2], p->sk[2], nk, ncp, D);
            const float *V = v + j0 * p->sv[2];
            int64_t ldv = p->sv[2];
            if (T->pack_v) {
                for (int64_t j = 0; j < nk; j++) {
                    const float *vr = V + j * ldv;
                    float *dst = Vp + j * dvp;
                    for (int64_t d = 0; d < dvp; d += VL) {
                        int n = Dv - d < VL ? (int)(Dv - d) : VL;
                        vf_store(dst + d, vf_load_n(vr + d, n));
                    }
                }
                V = Vp;
                ldv = dvp;
            }

            attn_s_tile(nq, Qs, D, Kt, ldkt, S, ldkt, ncp);

            for (int64_t r = 0; r < nq; r++) {
                int64_t i = i0 + r;
                float *s = S + r * ldkt;
                for (int t = 0; t < p->nbias; t++) {
                    const attn_term *bt = &p->bias[t];
                    const float *br = (const float *)bt->p + b * bt->s[0] + h * bt->s[1] + i * bt->s[2] + j0 * bt->s[3];
                    attn_add_row(s, br, bt->s[3], nk);
                }
                if (p->rel_h.p) {
                    const float *rh = (const float *)p->rel_h.p + b * p->rel_h.s[0] + h * p->rel_h.s[1] + i * p->rel_h.s[2];
                    const float *rw = (const float *)p->rel_w.p + b * p->rel_w.s[0] + h * p->rel_w.s[1] + i * p->rel_w.s[2];
                    attn_add_rel(s, rh, rw, p->kw, j0, nk);
                }
                if (p->mask.p) {
                    const attn_term *mt = &p->mask;
                    const uint8_t *mr = (const uint8_t *)mt->p + b * mt->s[0] + h * mt->s[1] + i * mt->s[2] + j0 * mt->s[3];
                    attn_mask_row(s, mr, mt->s[3], nk);
                }
                for (int64_t c = nk; c < ncp; c++) s[c] = -INFINITY;
                attn_softmax_row(s, ncp, &M[r], &L[r], O + r * dvp, dvp);
            }

            attn_pv_tile(nq, S, ldkt, V, ldv, nk, O, dvp, dvp / VL);
        }

        float *out = p->out + b * p->so[0] + h * p->so[1] + i0 * p->so[2];
        for (int64_t r = 0; r < nq; r++) {
            vf inv = vf_set1(L[r] > 0 ? 1.0f / L[r] : 0.0f); // l == 0: every key masked -> zeros
            const float *o = O + r * dvp;
            float *dst = out + r * p->so[2];
            int64_t d = 0;
            for (; d + VL <= Dv; d += VL) vf_store(dst + d, vf_mul(vf_load(o + d), inv));
            if (d < Dv) vf_store_n(dst + d, vf_mul(vf_load(o + d), inv), (int)(Dv - d));
        }
    }
}

void ATTN_RUN(const attn_plan *p) {
    attn_tiles T = {.p = p};
    // As few tiles as the maxima allow, of equal size: a 196-token window is 2 x 98 query
    // rows and one tile of 196 keys rather than 128 + 68 of each.
    T.nqt = (p->Nq + QT_MAX - 1) / QT_MAX;
    T.qt = (p->Nq + T.nqt - 1) / T.nqt;
    // Few heads and queries (Mask2Former: 8 heads x 100 queries): smaller query tiles, so
    // every thread gets a few tasks.
    while (p->B * p->H * T.nqt < 4 * (int64_t)p->ctx->nthreads && T.qt > 16) {
        T.qt = (p->Nq + 2 * T.nqt - 1) / (2 * T.nqt);
        T.nqt = (p->Nq + T.qt - 1) / T.qt; // no empty tile at the end
    }
    T.nkt = p->Nk > 0 ? (p->Nk + KT_MAX - 1) / KT_MAX : 1; // no keys: l = 0, zeros out
    T.kt = (p->Nk + T.nkt - 1) / T.nkt;
    T.ldkt = attn_round_up(T.kt, S_C * VL);
    T.dvp = attn_round_up(p->Dv, VL);
    T.pack_v = p->Dv % VL != 0;
    size_t floats = (size_t)(attn_round_up(T.qt * p->D, 16) + attn_round_up(p->D * T.ldkt, 16) +
                             (T.pack_v ? attn_round_up(T.ldkt * T.dvp, 16) : 0) +
                             attn_round_up(T.qt * T.ldkt, 16) + attn_round_up(T.qt * T.dvp, 16) +
                             2 * attn_round_up(T.qt, 16));
    T.scratch = floats * sizeof(float);
    ug_parallel_for(p->ctx->pool, p->B * p->H * T.nqt, 1, attn_task, &T);
}

#endif
