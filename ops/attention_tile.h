// ops/attention_tile.h — the tiled attention kernel, written once against ops/softmax_simd.h
// and compiled three times: by ops/attention.c (AVX2, defines attention_run_avx2), by
// ops/attention_avx512.c (AVX-512, defines attention_run_avx512) and by
// ops/attention_avx512bf16.c (AVX-512 with bf16 products, UG_ATTENTION_BF16, defines
// attention_run_avx512bf16).
//
// One task = one (batch, head) and one tile of QT query rows; a thread runs a range of
// consecutive tasks and packs K^T (and V when needed) of a head once for all the query tiles
// of that head it runs. Keys stream through in tiles of at most KT_MAX; per key tile:
//   1. S [QT, KT] = Qs K^T with an R x (C * VL) register-blocked micro-kernel, Qs = q * scale;
//      as soon as it has written R rows, while they are in L1, one epilogue pass per row adds
//      the bias terms (and SAM's decomposed rel-pos), sets masked keys and padding columns to
//      -inf and takes the row max (the score tile is not swept once per term),
//   2. online softmax per row: m' = max(m, rowmax S), P = exp(S - m'), l = l e^(m - m') + sum P,
//      O *= e^(m - m'),
//   3. O [QT, Dvp] += P V with a second micro-kernel.
// At the end out = O / l (0 for rows whose keys were all masked, l == 0).
// bf16 (the context's precision, ATTN_PAIRS): both products take bf16 pairs and sum in f32 with
// vdpbf16ps, as the GEMM does (ops/gemm_avx512bf16.c): Qs and K^T are packed as pairs along D,
// P (rounded to bf16 in place after the softmax step) and V as pairs along the keys; the
// logits, their terms, the softmax and O stay f32. The micro-kernels are the same code with
// the operand type, load, broadcast and product of attn_op_*.
// Terms the epilogue cannot read as vectors (a key stride other than 0 or 1, rel-pos grids it
// cannot index) are first summed into a dense [QT, KT] tile by row loops, which the epilogue
// then adds like a bias.
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
void attention_run_avx512bf16(const attn_plan *p);

#endif

#ifdef UG_ATTENTION_TILE_IMPL

#include <math.h>
#include <string.h>

#include "ops/softmax_simd.h"

// Register blocking. S kernel: S_R rows x S_C vectors of keys; PV kernel: PV_R rows x up to
// PV_C vectors of Dv, or PV_R2 rows when Dv is at most 2 vectors. AVX-512 has 32 registers,
// AVX2 16: the accumulators take at most 24 and 12 of them, leaving room for the loaded and
// broadcast operands.
#if defined(__AVX512F__) // the ISA ops/softmax_simd.h picked
#if defined(UG_ATTENTION_BF16)
#define ATTN_RUN   attention_run_avx512bf16
#define ATTN_PAIRS 1
#else
#define ATTN_RUN attention_run_avx512
#endif
enum { S_R = 8, S_C = 3, PV_R = 4, PV_C = 6, PV_R2 = 8 };
#else
#define ATTN_RUN attention_run_avx2
enum { S_R = 6, S_C = 2, PV_R = 3, PV_C = 4, PV_R2 = 3 };
#endif
#ifndef ATTN_PAIRS
#define ATTN_PAIRS 0
#endif

// The operands of both products. f32: vectors of VL floats and an FMA. bf16: vectors of VL
// 32-bit words, each a pair of bf16, and vdpbf16ps (acc += a.lo * b.lo + a.hi * b.hi per lane);
// the packed tiles are float arrays holding such words.
#if ATTN_PAIRS
#include "ops/gemm_internal.h"
typedef __m512bh attn_op;
UG_INLINE attn_op attn_op_load(const float *p) {
    return (__m512bh)_mm512_loadu_si512((const void *)p);
}
UG_INLINE attn_op attn_op_bcast(const float *p) {
    int32_t w;
    memcpy(&w, p, sizeof w);
    return (__m512bh)_mm512_set1_epi32(w);
}
UG_INLINE vf attn_op_dot(attn_op a, attn_op b, vf acc) {
    return _mm512_dpbf16_ps(acc, a, b);
}
#else
typedef vf attn_op;
UG_INLINE attn_op attn_op_load(const float *p) {
    return vf_load(p);
}
UG_INLINE attn_op attn_op_bcast(const float *p) {
    return vf_set1(*p);
}
UG_INLINE vf attn_op_dot(attn_op a, attn_op b, vf acc) {
    return vf_fma(a, b, acc);
}
#endif
// Tile sizes: a tile's Qs, K^T, S and O stay within L2 (~300 KB for D = 80). Measured on
// Zen (AVX-512, one thread): 128 x 256 is within a few % of the best of 32..128 x 128..512
// for every bench shape; a 12 x 12 Swin window's 144 keys fit one key tile.
enum { QT_MAX = 128, KT_MAX = 256, ROWS_MAX = 8 };

static int64_t attn_round_up(int64_t x, int64_t m) {
    return (x + m - 1) / m * m;
}

// What the score rows' epilogue applies in one key tile (see the top of the file). Row
// pointers are those of the tile's row 0; row r is at + r * (its row stride).
typedef struct attn_epi {
    int nb;            // additive rows (biases and the dense fallback tile)
    const float *b[3]; //   at b[t] + r * bs2[t] + key * bs3[t], key offset 0 = tile start
    int64_t bs2[3];
    int bs3[3];           //   1 or 0 (one value per row)
    int rel;              // ATTN_REL_*: how rel_h / rel_w are indexed
    const float *rh, *rw; // rel_h / rel_w rows of row 0
    int64_t rhs2, rws2;   // their row strides
    int64_t kh, kw;
    const int32_t *ih, *iw; // [ncp] grid row / column of every key of the tile
    const uint8_t *m;       // mask row 0 (NULL: none), key stride ms3 (1 or 0)
    int64_t ms2;
    int ms3;
    int64_t nk; // keys of the tile; columns nk .. ncp are padding
} attn_epi;

enum {
    ATTN_REL_NONE = 0,
    ATTN_REL_ALIGNED = 1, // kw a multiple of VL: a vector of keys lies in one grid row
    ATTN_REL_PERMUTE = 2, // AVX-512, kh and kw <= 32: rel rows held in registers, permuted by key
};

// x with lanes n .. VL set to -inf.
UG_INLINE vf attn_tail_inf(vf x, int n) {
#if defined(__AVX512F__)
    return _mm512_mask_blend_ps((__mmask16)((1u << n) - 1), _mm512_set1_ps(-INFINITY), x);
#else
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), x, _mm256_castsi256_ps(vf_tail_mask_(n)));
#endif
}

// vf_mask_u8 reading only the first n bytes of m.
UG_INLINE vf attn_mask_n(vf x, const uint8_t *m, int n) {
    uint8_t tmp[VL] = {0};
    memcpy(tmp, m, (size_t)n);
    return vf_mask_u8(x, tmp);
}

// The epilogue's view of one row: its term rows and, for ATTN_REL_PERMUTE, its rel_h / rel_w
// rows in registers.
typedef struct attn_erow {
    const float *b[3];
    const float *rh, *rw;
    const uint8_t *m;
#if defined(__AVX512F__)
    vf hlo, hhi, wlo, whi;
#endif
} attn_erow;

// The epilogue of one vector of row w: keys col .. col + VL of the tile, of which n valid.
UG_INLINE vf attn_epilogue(const attn_epi *E, const attn_erow *w, int64_t col, int n, vf x) {
    for (int t = 0; t < E->nb; t++) {
        vf bv;
        if (!E->bs3[t])
            bv = vf_set1(*w->b[t]);
        else if (n == VL)
            bv = vf_load(w->b[t] + col);
        else
            bv = vf_load_n(w->b[t] + col, n);
        x = vf_add(x, bv);
    }
    if (E->rel == ATTN_REL_ALIGNED) {
        x = vf_add(x, vf_add(vf_set1(w->rh[E->ih[col]]), vf_load(w->rw + E->iw[col])));
    }
#if defined(__AVX512F__)
    else if (E->rel == ATTN_REL_PERMUTE) {
        __m512i ih = _mm512_loadu_si512(E->ih + col), iw = _mm512_loadu_si512(E->iw + col);
        x = vf_add(x, vf_add(_mm512_permutex2var_ps(w->hlo, ih, w->hhi),
                             _mm512_permutex2var_ps(w->wlo, iw, w->whi)));
    }
#endif
    if (w->m) {
        if (!E->ms3) {
            if (*w->m) x = vf_set1(-INFINITY);
        } else if (n == VL) {
            x = vf_mask_u8(x, w->m + col);
        } else {
            x = attn_mask_n(x, w->m + col, n);
        }
    }
    if (n < VL) x = attn_tail_inf(x, n);
    return x;
}

// The whole vectors of a row for NB unit-stride bias rows, rel-pos indexed as REL and no mask
// (both compile-time constants); returns the first column not done.
UG_INLINE int64_t attn_row_fast(const int NB, const int REL, const attn_epi *E, const attn_erow *w, float *s,
                                vf *mxp) {
    const float *b0 = NB > 0 ? w->b[0] : NULL, *b1 = NB > 1 ? w->b[1] : NULL;
    const int32_t *ih = E->ih, *iw = E->iw;
    const int64_t nk = E->nk;
    vf mx = *mxp;
    int64_t c = 0;
    for (; c + VL <= nk; c += VL) {
        vf x = vf_load(s + c);
        if (NB > 0) x = vf_add(x, vf_load(b0 + c));
        if (NB > 1) x = vf_add(x, vf_load(b1 + c));
        if (REL == ATTN_REL_ALIGNED) x = vf_add(x, vf_add(vf_set1(w->rh[ih[c]]), vf_load(w->rw + iw[c])));
#if defined(__AVX512F__)
        if (REL == ATTN_REL_PERMUTE) {
            __m512i hi = _mm512_loadu_si512(ih + c), wi = _mm512_loadu_si512(iw + c);
            x = vf_add(x, vf_add(_mm512_permutex2var_ps(w->hlo, hi, w->hhi),
                                 _mm512_permutex2var_ps(w->wlo, wi, w->whi)));
        }
#endif
        vf_store(s + c, x);
        mx = vf_max(mx, x); // data second: a NaN logit reaches the max
    }
    *mxp = mx;
    return c;
}

// Row r of the score tile (ncp columns) through the epilogue while it is in L1, right after
// the micro-kernel wrote it; returns the row's max. Not inlined: one copy serves every block
// shape of the micro-kernel, which stays small (applying the terms to its accumulators made
// it ~27 K instructions and slower). The branches on E are the same for every row.
static __attribute__((noinline)) float attn_row_epilogue(const attn_epi *E, int64_t r, float *s,
                                                         int64_t ncp) {
    attn_erow w = {.m = E->m ? E->m + r * E->ms2 : NULL};
    for (int t = 0; t < E->nb; t++)
        w.b[t] = E->b[t] + r * E->bs2[t];
    if (E->rel) {
        w.rh = E->rh + r * E->rhs2;
        w.rw = E->rw + r * E->rws2;
    }
#if defined(__AVX512F__)
    if (E->rel == ATTN_REL_PERMUTE) {
        int h0 = E->kh < 16 ? (int)E->kh : 16, w0 = E->kw < 16 ? (int)E->kw : 16;
        w.hlo = vf_load_n(w.rh, h0);
        w.hhi = vf_load_n(w.rh + 16, (int)E->kh - h0);
        w.wlo = vf_load_n(w.rw, w0);
        w.whi = vf_load_n(w.rw + 16, (int)E->kw - w0);
    }
#endif
    vf mx = vf_set1(-INFINITY);
    int64_t c = 0;
    // The whole vectors: the usual term mixes get a loop of their own (-O2 does not unswitch
    // the generic one), everything else takes the generic one.
    int fast = !E->m;
    for (int t = 0; t < E->nb; t++)
        fast &= E->bs3[t];
    const int rel = E->rel;
    if (fast && E->nb == 0 && rel == ATTN_REL_NONE)
        c = attn_row_fast(0, ATTN_REL_NONE, E, &w, s, &mx);
    else if (fast && E->nb == 1 && rel == ATTN_REL_NONE)
        c = attn_row_fast(1, ATTN_REL_NONE, E, &w, s, &mx);
    else if (fast && E->nb == 2 && rel == ATTN_REL_NONE)
        c = attn_row_fast(2, ATTN_REL_NONE, E, &w, s, &mx);
    else if (fast && E->nb == 0 && rel == ATTN_REL_ALIGNED)
        c = attn_row_fast(0, ATTN_REL_ALIGNED, E, &w, s, &mx);
    else if (fast && E->nb == 1 && rel == ATTN_REL_ALIGNED)
        c = attn_row_fast(1, ATTN_REL_ALIGNED, E, &w, s, &mx);
    else if (fast && E->nb == 0 && rel == ATTN_REL_PERMUTE)
        c = attn_row_fast(0, ATTN_REL_PERMUTE, E, &w, s, &mx);
    else if (fast && E->nb == 1 && rel == ATTN_REL_PERMUTE)
        c = attn_row_fast(1, ATTN_REL_PERMUTE, E, &w, s, &mx);
    for (; c + VL <= E->nk; c += VL) {
        vf x = attn_epilogue(E, &w, c, VL, vf_load(s + c));
        vf_store(s + c, x);
        mx = vf_max(mx, x); // data second: a NaN logit reaches the max
    }
    for (; c < ncp; c += VL) { // the last partial vector, then -inf padding
        int n = E->nk - c > 0 ? (int)(E->nk - c) : 0;
        vf x = n > 0 ? attn_epilogue(E, &w, c, n, vf_load(s + c)) : vf_set1(-INFINITY);
        vf_store(s + c, x);
        mx = vf_max(mx, x);
    }
    return vf_hmax(mx);
}

// S[r, 0 .. C*VL) = sum_d Qs[r, d] Kt[d, 0 .. C*VL) for r < R (bf16: d counts pairs).
UG_INLINE void attn_s_block(int R, int C, const float *Qs, int64_t D, const float *Kt, int64_t ldk, float *S,
                            int64_t lds) {
    vf acc[ROWS_MAX][S_C > 4 ? S_C : 4]; // >= every C of attn_s_rows, also its dead branches
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            acc[r][c] = vf_zero();
    for (int64_t d = 0; d < D; d++) {
        attn_op kv[S_C];
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            kv[c] = attn_op_load(Kt + d * ldk + c * VL);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            attn_op qb = attn_op_bcast(Qs + r * D + d);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++)
                acc[r][c] = attn_op_dot(qb, kv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            vf_store(S + r * lds + c * VL, acc[r][c]);
}

// All ncp columns (a multiple of VL) of R rows (r0 .. r0 + R of the tile), then their epilogue;
// tmax[r] = max of row r.
UG_INLINE void attn_s_rows(int R, const float *Qs, int64_t D, const float *Kt, int64_t ldk, float *S,
                           int64_t lds, int64_t ncp, const attn_epi *E, int64_t r0, float *tmax) {
    int64_t c = 0;
    for (; c + S_C * VL <= ncp; c += S_C * VL)
        attn_s_block(R, S_C, Qs, D, Kt + c, ldk, S + c, lds);
    switch ((ncp - c) / VL) { // the remaining vectors in one block
    case 1: attn_s_block(R, 1, Qs, D, Kt + c, ldk, S + c, lds); break;
    case 2:
        if (S_C > 2) attn_s_block(R, 2, Qs, D, Kt + c, ldk, S + c, lds);
        break;
    case 3:
        if (S_C > 3) attn_s_block(R, 3, Qs, D, Kt + c, ldk, S + c, lds);
        break;
    default: break;
    }
    for (int r = 0; r < R; r++)
        tmax[r0 + r] = attn_row_epilogue(E, r0 + r, S + r * lds, ncp);
}

static void attn_s_tile(int64_t nq, const float *Qs, int64_t D, const float *Kt, int64_t ldk, float *S,
                        int64_t lds, int64_t ncp, const attn_epi *E, float *tmax) {
    int64_t r = 0;
    for (; r + S_R <= nq; r += S_R)
        attn_s_rows(S_R, Qs + r * D, D, Kt, ldk, S + r * lds, lds, ncp, E, r, tmax);
    switch (nq - r) {
#define ATTN_S_CASE(n)                                                                                       \
    case n:                                                                                                  \
        if (n < S_R) attn_s_rows(n, Qs + r * D, D, Kt, ldk, S + r * lds, lds, ncp, E, r, tmax);              \
        break;
        ATTN_S_CASE(1)
        ATTN_S_CASE(2)
        ATTN_S_CASE(3)
        ATTN_S_CASE(4)
        ATTN_S_CASE(5)
        ATTN_S_CASE(6)
        ATTN_S_CASE(7)
#undef ATTN_S_CASE
    default: break;
    }
}

// O[r, 0 .. C*VL) += sum_{j < nk} P[r, j] V[j, 0 .. C*VL) for r < R (bf16: j counts pairs).
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
            attn_op v0[PV_C], v1[PV_C];
#pragma GCC unroll 8
            for (int c = 0; c < C; c++) {
                v0[c] = attn_op_load(V + j * ldv + c * VL);
                v1[c] = attn_op_load(V + (j + 1) * ldv + c * VL);
            }
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                attn_op p0 = attn_op_bcast(P + r * ldp + j), p1 = attn_op_bcast(P + r * ldp + j + 1);
#pragma GCC unroll 8
                for (int c = 0; c < C; c++) {
                    acc[r][c] = attn_op_dot(p0, v0[c], acc[r][c]);
                    acc2[r][c] = attn_op_dot(p1, v1[c], acc2[r][c]);
                }
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int c = 0; c < C; c++)
                acc[r][c] = vf_add(acc[r][c], acc2[r][c]);
    }
    for (; j < nk; j++) {
        attn_op vv[PV_C];
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            vv[c] = attn_op_load(V + j * ldv + c * VL);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            attn_op pb = attn_op_bcast(P + r * ldp + j);
#pragma GCC unroll 8
            for (int c = 0; c < C; c++)
                acc[r][c] = attn_op_dot(pb, vv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            vf_store(O + r * ldo + c * VL, acc[r][c]);
}

// R rows, every vector of Dv in groups of at most PV_C.
UG_INLINE void attn_pv_rows(int R, const float *P, int64_t ldp, const float *V, int64_t ldv, int64_t nk,
                            float *O, int64_t ldo, int64_t nv) {
    for (int64_t c = 0; c < nv;) {
        int64_t g = nv - c < PV_C ? nv - c : PV_C;
        const float *Vc = V + c * VL;
        float *Oc = O + c * VL;
        switch (g) {
#define ATTN_PV_CASE(n)                                                                                      \
    case n:                                                                                                  \
        if (n <= PV_C) attn_pv_block(R, n, P, ldp, Vc, ldv, nk, Oc, ldo);                                    \
        break;
            ATTN_PV_CASE(1)
            ATTN_PV_CASE(2)
            ATTN_PV_CASE(3)
            ATTN_PV_CASE(4)
            ATTN_PV_CASE(5)
            ATTN_PV_CASE(6)
#undef ATTN_PV_CASE
        default: break;
        }
        c += g;
    }
}

static void attn_pv_tile(int64_t nq, const float *P, int64_t ldp, const float *V, int64_t ldv, int64_t nk,
                         float *O, int64_t ldo, int64_t nv) {
    int64_t r = 0;
    // Narrow O (Dv <= 2 VL, Swin's 32): blocks of more rows share each V load (AVX-512).
    if (nv == 1 && PV_R2 > PV_R)
        for (; r + PV_R2 <= nq; r += PV_R2)
            attn_pv_block(PV_R2, 1, P + r * ldp, ldp, V, ldv, nk, O + r * ldo, ldo);
    if (nv == 2 && PV_R2 > PV_R)
        for (; r + PV_R2 <= nq; r += PV_R2)
            attn_pv_block(PV_R2, 2, P + r * ldp, ldp, V, ldv, nk, O + r * ldo, ldo);
    for (; r + PV_R <= nq; r += PV_R)
        attn_pv_rows(PV_R, P + r * ldp, ldp, V, ldv, nk, O + r * ldo, ldo, nv);
    switch (nq - r) {
#define ATTN_PV_R_CASE(n)                                                                                    \
    case n:                                                                                                  \
        if (n < PV_R) attn_pv_rows(n, P + r * ldp, ldp, V, ldv, nk, O + r * ldo, ldo, nv);                   \
        break;
        ATTN_PV_R_CASE(1)
        ATTN_PV_R_CASE(2)
        ATTN_PV_R_CASE(3)
#undef ATTN_PV_R_CASE
    default: break;
    }
}

// dst[i, 0 .. 8) = src[0 .. 8, i] for i < 8: an 8 x 8 transpose in AVX registers (both ISAs).
UG_INLINE void attn_transpose8(const float *src, int64_t lds, float *dst, int64_t ldd) {
    __m256 r[8], t[8], u[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + i * lds);
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
static void attn_pack_kt(float *Kt, int64_t ldkt, const float *k, int64_t ldk, int64_t nk, int64_t ncp,
                         int64_t D) {
    int64_t j = 0;
    for (; j + 8 <= nk; j += 8) {
        int64_t d = 0;
        for (; d + 8 <= D; d += 8)
            attn_transpose8(k + j * ldk + d, ldk, Kt + d * ldkt + j, ldkt);
        for (; d < D; d++)
            for (int64_t jj = j; jj < j + 8; jj++)
                Kt[d * ldkt + jj] = k[jj * ldk + d];
    }
    for (; j < nk; j++)
        for (int64_t d = 0; d < D; d++)
            Kt[d * ldkt + j] = k[j * ldk + d];
    for (int64_t d = 0; d < D; d++)
        for (int64_t jj = nk; jj < ncp; jj++)
            Kt[d * ldkt + jj] = 0;
}

// s[0 .. n) += t[0 .. n) (t with element stride st: 1, 0 = one value, or anything else).
static void attn_add_row(float *s, const float *t, int64_t st, int64_t n) {
    int64_t c = 0;
    if (st == 1) {
        for (; c + VL <= n; c += VL)
            vf_store(s + c, vf_add(vf_load(s + c), vf_load(t + c)));
        if (c < n)
            vf_store_n(s + c, vf_add(vf_load_n(s + c, (int)(n - c)), vf_load_n(t + c, (int)(n - c))),
                       (int)(n - c));
    } else if (st == 0) {
        vf tv = vf_set1(*t);
        for (; c + VL <= n; c += VL)
            vf_store(s + c, vf_add(vf_load(s + c), tv));
        for (; c < n; c++)
            s[c] += *t;
    } else {
        for (; c < n; c++)
            s[c] += t[c * st];
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
        for (; t + VL <= run; t += VL)
            vf_store(sc + t, vf_add(vf_load(sc + t), vf_add(vf_load(w + t), hv)));
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
        for (; c + VL <= n; c += VL)
            vf_store(s + c, vf_mask_u8(vf_load(s + c), m + c));
    else if (sm == 0 && !*m)
        return;
    for (; c < n; c++)
        if (m[c * sm]) s[c] = -INFINITY;
}

// Online softmax step of one row (see the top of the file): s holds the row's logits with
// -inf in the padding columns (ncp is a multiple of VL), tmax their max.
static void attn_softmax_row(float *s, int64_t ncp, float tmax, float *m, float *l, float *o, int64_t nvo) {
    float mnew = fmaxf(*m, tmax);
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
    if (*m == -INFINITY) { // first tile with an open key: O and l are still 0
        *l = vf_hsum(acc);
    } else {
        float corr = expf(*m - mnew);
        *l = *l * corr + vf_hsum(acc);
        if (corr != 1.0f) {
            vf cv = vf_set1(corr);
            for (int64_t c = 0; c < nvo; c += VL)
                vf_store(o + c, vf_mul(vf_load(o + c), cv));
        }
    }
    *m = mnew;
}

#if ATTN_PAIRS
// Row s[0 .. ncp) of P (ncp a multiple of VL) rounded to bf16 in place: afterwards its first
// ncp / 2 words are the pairs (s[2q], s[2q + 1]) the PV product takes. Each step loads before
// it stores, and stores behind what it has read.
UG_INLINE void attn_row_to_pairs(float *s, int64_t ncp) {
    uint16_t *h = (uint16_t *)s;
    int64_t c = 0;
    for (; c + 2 * VL <= ncp; c += 2 * VL)
        _mm512_storeu_si512((void *)(h + c),
                            (__m512i)_mm512_cvtne2ps_pbh(vf_load(s + c + VL), vf_load(s + c)));
    if (c < ncp) _mm256_storeu_si256((__m256i *)(h + c), (__m256i)_mm512_cvtneps_pbh(vf_load(s + c)));
}
#endif

// Per-call sizes and choices shared by every task.
typedef struct attn_tiles {
    const attn_plan *p;
    int64_t qt, nqt;  // query rows per tile, query tiles per head
    int64_t kt, nkt;  // keys per tile (a multiple of VL when nkt > 1), key tiles
    int64_t ldkt;     // K^T row stride = S row stride (multiple of S_C * VL)
    int64_t dvp;      // Dv rounded up to VL
    int pack_v;       // V rows packed (see ATTN_RUN) rather than read in place
    int late;         // each key tile packed just before use (see ATTN_RUN), else whole heads
    int fuse_bias[2]; // bias t read by the epilogue (key stride 0 or 1), else summed into G
    int fuse_mask;
    int rel;        // ATTN_REL_*, or -1: rel-pos summed into G
    int dense;      // some term goes through the dense tile G
    size_t scratch; // bytes per thread
} attn_tiles;

// G [nq, ldkt] (rows i0 .. i0 + nq, keys j0 .. j0 + nk) = the terms the epilogue does not read.
static void attn_dense_terms(const attn_tiles *T, int64_t b, int64_t h, int64_t i0, int64_t nq, int64_t j0,
                             int64_t nk, float *G) {
    const attn_plan *p = T->p;
    for (int64_t r = 0; r < nq; r++) {
        int64_t i = i0 + r;
        float *g = G + r * T->ldkt;
        memset(g, 0, (size_t)nk * sizeof *g);
        for (int t = 0; t < p->nbias; t++) {
            if (T->fuse_bias[t]) continue;
            const attn_term *bt = &p->bias[t];
            const float *br =
                (const float *)bt->p + b * bt->s[0] + h * bt->s[1] + i * bt->s[2] + j0 * bt->s[3];
            attn_add_row(g, br, bt->s[3], nk);
        }
        if (p->rel_h.p && T->rel < 0) {
            const float *rh =
                (const float *)p->rel_h.p + b * p->rel_h.s[0] + h * p->rel_h.s[1] + i * p->rel_h.s[2];
            const float *rw =
                (const float *)p->rel_w.p + b * p->rel_w.s[0] + h * p->rel_w.s[1] + i * p->rel_w.s[2];
            attn_add_rel(g, rh, rw, p->kw, j0, nk);
        }
        if (p->mask.p && !T->fuse_mask) {
            const attn_term *mt = &p->mask;
            const uint8_t *mr =
                (const uint8_t *)mt->p + b * mt->s[0] + h * mt->s[1] + i * mt->s[2] + j0 * mt->s[3];
            attn_mask_row(g, mr, mt->s[3], nk);
        }
    }
}

// Prefetch of the data the next task reads first: its query rows, and K / V when it starts a
// new (batch, head) whose keys are few (a 4096-key head is read tile by tile anyway). They are
// strided rows of a fused projection far larger than the caches, and a miss per row costs as
// much as the arithmetic on it for small heads (Swin: 144 x 32). The rows are requested a few
// at a time while the current task computes, not all at once (that overflows the core's miss
// buffers and most requests are dropped).
typedef struct attn_pf {
    int nparts;
    const char *base[8]; // part t: n[t] rows of len[t] bytes, ld[t] bytes apart
    int64_t n[8], len[8], ld[8];
    int64_t total, done; // rows over all parts, rows requested so far
} attn_pf;

static void attn_pf_add(attn_pf *pf, const void *base, int64_t n, int64_t len, int64_t ld) {
    if (n <= 0 || len <= 0) return;
    int t = pf->nparts++;
    pf->base[t] = base;
    pf->n[t] = n;
    pf->len[t] = len;
    pf->ld[t] = ld;
    pf->total += n;
}

// Adds the rows of task `task`: q, K / V when new and small, its output rows (written at the
// end: a store miss per row otherwise, +4 % on Swin with 2 threads), and the rows of its
// additive terms and mask over all keys when a row is short (<= 1024 keys).
static void attn_pf_init(attn_pf *pf, const attn_tiles *T, int64_t task, int64_t packed) {
    const attn_plan *p = T->p;
    int64_t bh = task / T->nqt, i0 = task % T->nqt * T->qt;
    int64_t b = bh / p->H, h = bh % p->H;
    int64_t nq = p->Nq - i0 < T->qt ? p->Nq - i0 : T->qt;
    const int64_t f = sizeof(float);
    *pf = (attn_pf){0};
    attn_pf_add(pf, p->q + b * p->sq[0] + h * p->sq[1] + i0 * p->sq[2], nq, p->D * f, p->sq[2] * f);
    if (bh != packed && p->Nk * (p->D + p->Dv) <= 64 * 1024) {
        attn_pf_add(pf, p->k + b * p->sk[0] + h * p->sk[1], p->Nk, p->D * f, p->sk[2] * f);
        attn_pf_add(pf, p->v + b * p->sv[0] + h * p->sv[1], p->Nk, p->Dv * f, p->sv[2] * f);
    }
    attn_pf_add(pf, p->out + b * p->so[0] + h * p->so[1] + i0 * p->so[2], nq, p->Dv * f, p->so[2] * f);
    if (p->Nk > 1024) return;
    for (int t = 0; t < p->nbias; t++) {
        const attn_term *bt = &p->bias[t];
        if (bt->s[3] != 1 || bt->s[2] == 0) continue;
        attn_pf_add(pf, (const float *)bt->p + b * bt->s[0] + h * bt->s[1] + i0 * bt->s[2], nq, p->Nk * f,
                    bt->s[2] * f);
    }
    if (p->mask.p && p->mask.s[3] == 1 && p->mask.s[2] != 0) {
        const attn_term *mt = &p->mask;
        attn_pf_add(pf, (const uint8_t *)mt->p + b * mt->s[0] + h * mt->s[1] + i0 * mt->s[2], nq, p->Nk,
                    mt->s[2]);
    }
    if (p->rel_h.p && p->rel_h.s[2] != 0 && p->rel_w.s[2] != 0) {
        const attn_term *rh = &p->rel_h, *rw = &p->rel_w;
        attn_pf_add(pf, (const float *)rh->p + b * rh->s[0] + h * rh->s[1] + i0 * rh->s[2], nq, p->kh * f,
                    rh->s[2] * f);
        attn_pf_add(pf, (const float *)rw->p + b * rw->s[0] + h * rw->s[1] + i0 * rw->s[2], nq, p->kw * f,
                    rw->s[2] * f);
    }
}

// Requests rows until `upto` of them are.
static void attn_pf_step(attn_pf *pf, int64_t upto) {
    for (; pf->done < upto && pf->done < pf->total; pf->done++) {
        int64_t r = pf->done;
        int part = 0;
        while (r >= pf->n[part])
            r -= pf->n[part++];
        const char *x = pf->base[part] + r * pf->ld[part];
        for (int64_t c = 0; c < pf->len[part]; c += 64)
            _mm_prefetch(x + c, _MM_HINT_T0);
        _mm_prefetch(x + pf->len[part] - 1, _MM_HINT_T0); // a row not on a line start
    }
}

// K^T (and V when packed) of key tile t of a head into slot `slot` of Kall / Vall.
static void attn_pack_tile(const attn_tiles *T, const float *k, const float *v, int64_t t, int64_t slot,
                           float *Kall, float *Vall) {
    const attn_plan *p = T->p;
    const int64_t D = p->D, Dv = p->Dv, ldkt = T->ldkt, dvp = T->dvp;
    int64_t j0 = t * T->kt, nk = p->Nk - j0 < T->kt ? p->Nk - j0 : T->kt;
#if ATTN_PAIRS
    // K^T as pairs along D (word (d, j) = K[j, 2d], K[j, 2d + 1]), V as pairs along the keys
    // (word (j, d) = V[2j, d], V[2j + 1, d]); zeros past nk keys, D and Dv.
    gemm_pack_bf16((uint32_t *)(Kall + slot * D * ldkt), (int)ldkt, k + j0 * p->sk[2], p->sk[2], 1, UG_F32,
                   (int)nk, D);
    gemm_pack_bf16((uint32_t *)(Vall + slot * ldkt * dvp), (int)dvp, v + j0 * p->sv[2], 1, p->sv[2], UG_F32,
                   (int)Dv, nk);
    return;
#endif
    attn_pack_kt(Kall + slot * D * ldkt, ldkt, k + j0 * p->sk[2], p->sk[2], nk, attn_round_up(nk, VL), D);
    if (!T->pack_v) return;
    float *Vp = Vall + slot * ldkt * dvp;
    for (int64_t j = 0; j < nk; j++) {
        const float *vr = v + (j0 + j) * p->sv[2];
        for (int64_t d = 0; d < dvp; d += VL) {
            int n = Dv - d < VL ? (int)(Dv - d) : VL;
            vf_store(Vp + j * dvp + d, vf_load_n(vr + d, n));
        }
    }
}

static void attn_task(void *arg, int64_t begin, int64_t end, int thread) {
    const attn_tiles *T = arg;
    const attn_plan *p = T->p;
    const int64_t D = p->D, Dv = p->Dv, ldkt = T->ldkt, dvp = T->dvp, nkt = T->nkt;
    const int64_t Dq = ATTN_PAIRS ? (D + 1) / 2 : D; // the S product's depth: d, or pairs of d
    float *mem = ug_ctx_scratch(p->ctx, thread, T->scratch);
    const int64_t slots = T->late ? 1 : nkt;
    float *Kall = mem;                                                          // [slots][D, ldkt] K^T
    float *Vall = Kall + attn_round_up(slots * D * ldkt, 16);                   // [slots][ldkt, dvp] packed V
    float *Qs = Vall + (T->pack_v ? attn_round_up(slots * ldkt * dvp, 16) : 0); // [QT, D]
    float *S = Qs + attn_round_up(T->qt * D, 16);                               // [QT, ldkt]
    float *G = S + attn_round_up(T->qt * ldkt, 16);                             // [QT, ldkt] when dense
    float *O = G + (T->dense ? attn_round_up(T->qt * ldkt, 16) : 0);            // [QT, dvp]
    float *TM = O + attn_round_up(T->qt * dvp, 16);                             // [QT] max of the tile's row
    float *M = TM + attn_round_up(T->qt, 16);                                   // [QT] running max
    float *L = M + attn_round_up(T->qt, 16);                                    // [QT] running sum
    int32_t *IH = (int32_t *)(L + attn_round_up(T->qt, 16)); // [nkt][ldkt] grid row of a key
    int32_t *IW = IH + attn_round_up(nkt * ldkt, 16);        // [nkt][ldkt] grid column

    if (T->rel > 0)
        for (int64_t t = 0; t < nkt; t++)
            for (int64_t c = 0; c < ldkt; c++) {
                int64_t j = t * T->kt + c;
                int ok = c < T->kt && j < p->Nk; // padding lanes index element 0
                IH[t * ldkt + c] = ok ? (int32_t)(j / p->kw) : 0;
                IW[t * ldkt + c] = ok ? (int32_t)(j % p->kw) : 0;
            }

    int64_t packed = -1; // the (batch, head) whose K^T / V are in Kall / Vall
    for (int64_t task = begin; task < end; task++) {
        int64_t bh = task / T->nqt, i0 = task % T->nqt * T->qt;
        int64_t b = bh / p->H, h = bh % p->H;
        int64_t nq = p->Nq - i0 < T->qt ? p->Nq - i0 : T->qt;
        const float *q = p->q + b * p->sq[0] + h * p->sq[1] + i0 * p->sq[2];
        const float *k = p->k + b * p->sk[0] + h * p->sk[1];
        const float *v = p->v + b * p->sv[0] + h * p->sv[1];

        if (bh != packed && !T->late) {
            for (int64_t t = 0; t < nkt; t++)
                attn_pack_tile(T, k, v, t, t, Kall, Vall);
            packed = bh;
        }
        attn_pf pf = {0};
        if (task + 1 < end && p->Nk <= 1024) attn_pf_init(&pf, T, task + 1, packed);

        vf sc = vf_set1(p->scale);
        for (int64_t r = 0; r < nq; r++) {
            const float *qr = q + r * p->sq[2];
#if ATTN_PAIRS
            // Qs rows of Dq words: q * scale rounded to bf16, an odd D padded with a zero.
            uint16_t *dst = (uint16_t *)(Qs + r * Dq);
            for (int64_t d = 0; d < D; d += VL) {
                int n = D - d < VL ? (int)(D - d) : VL;
                __m256i qh = (__m256i)_mm512_cvtneps_pbh(vf_mul(vf_load_n(qr + d, n), sc));
                _mm256_mask_storeu_epi16(dst + d, (__mmask16)((1u << ((n + 1) & ~1)) - 1), qh);
            }
#else
            float *dst = Qs + r * D;
            int64_t d = 0;
            for (; d + VL <= D; d += VL)
                vf_store(dst + d, vf_mul(vf_load(qr + d), sc));
            if (d < D) vf_store_n(dst + d, vf_mul(vf_load_n(qr + d, (int)(D - d)), sc), (int)(D - d));
#endif
        }
        memset(O, 0, (size_t)(nq * dvp) * sizeof *O);
        for (int64_t r = 0; r < nq; r++) {
            M[r] = -INFINITY;
            L[r] = 0;
        }

        // The epilogue's rows for this (batch, head) and query tile; key offsets added per tile.
        attn_epi E = {.rel = T->rel > 0 ? T->rel : ATTN_REL_NONE, .kh = p->kh, .kw = p->kw};
        const float *bias0[3];
        for (int t = 0; t < p->nbias; t++) {
            if (!T->fuse_bias[t]) continue;
            const attn_term *bt = &p->bias[t];
            bias0[E.nb] = (const float *)bt->p + b * bt->s[0] + h * bt->s[1] + i0 * bt->s[2];
            E.bs2[E.nb] = bt->s[2];
            E.bs3[E.nb] = bt->s[3] != 0;
            E.nb++;
        }
        if (T->dense) {
            bias0[E.nb] = G;
            E.bs2[E.nb] = ldkt;
            E.bs3[E.nb] = 1;
            E.nb++;
        }
        if (E.rel) {
            E.rh = (const float *)p->rel_h.p + b * p->rel_h.s[0] + h * p->rel_h.s[1] + i0 * p->rel_h.s[2];
            E.rw = (const float *)p->rel_w.p + b * p->rel_w.s[0] + h * p->rel_w.s[1] + i0 * p->rel_w.s[2];
            E.rhs2 = p->rel_h.s[2];
            E.rws2 = p->rel_w.s[2];
        }
        const uint8_t *mask0 = NULL;
        if (p->mask.p && T->fuse_mask) {
            const attn_term *mt = &p->mask;
            mask0 = (const uint8_t *)mt->p + b * mt->s[0] + h * mt->s[1] + i0 * mt->s[2];
            E.ms2 = mt->s[2];
            E.ms3 = mt->s[3] != 0;
        }

        for (int64_t t = 0; t < nkt; t++) {
            int64_t j0 = t * T->kt;
            int64_t nk = p->Nk - j0 < T->kt ? p->Nk - j0 : T->kt;
            int64_t ncp = attn_round_up(nk, VL);
            const int64_t slot = T->late ? 0 : t;
            const float *V = T->pack_v ? Vall + slot * ldkt * dvp : v + j0 * p->sv[2];
            int64_t ldv = T->pack_v ? dvp : p->sv[2];

            if (T->late) attn_pack_tile(T, k, v, t, 0, Kall, Vall);
            if (T->dense) attn_dense_terms(T, b, h, i0, nq, j0, nk, G);
            int nb = 0;
            for (int tb = 0; tb < p->nbias; tb++)
                if (T->fuse_bias[tb]) {
                    E.b[nb] = bias0[nb] + (E.bs3[nb] ? j0 * p->bias[tb].s[3] : 0);
                    nb++;
                }
            if (T->dense) E.b[nb] = bias0[nb]; // G starts at the tile's first key
            E.m = mask0 ? mask0 + (E.ms3 ? j0 * p->mask.s[3] : 0) : NULL;
            E.ih = IH + t * ldkt;
            E.iw = IW + t * ldkt;
            E.nk = nk;
            attn_s_tile(nq, Qs, Dq, Kall + slot * D * ldkt, ldkt, S, ldkt, ncp, &E, TM);

            for (int64_t r = 0; r < nq; r++) {
                attn_softmax_row(S + r * ldkt, ncp, TM[r], &M[r], &L[r], O + r * dvp, dvp);
#if ATTN_PAIRS
                attn_row_to_pairs(S + r * ldkt, ncp);
#endif
                if (t == nkt - 1) attn_pf_step(&pf, (r + 1) * pf.total / nq);
            }

            // bf16: P rows are ncp / 2 words of key pairs, V is packed as (nk + 1) / 2 pairs.
            attn_pv_tile(nq, S, ldkt, V, ldv, ATTN_PAIRS ? (nk + 1) / 2 : nk, O, dvp, dvp / VL);
        }

        float *out = p->out + b * p->so[0] + h * p->so[1] + i0 * p->so[2];
        for (int64_t r = 0; r < nq; r++) {
            vf inv = vf_set1(L[r] > 0 ? 1.0f / L[r] : 0.0f); // l == 0: every key masked -> zeros
            const float *o = O + r * dvp;
            float *dst = out + r * p->so[2];
            int64_t d = 0;
            for (; d + VL <= Dv; d += VL)
                vf_store(dst + d, vf_mul(vf_load(o + d), inv));
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
    if (T.nkt > 1) { // tiles start on a vector of keys (ATTN_REL_ALIGNED relies on it)
        T.kt = attn_round_up(T.kt, VL);
        T.nkt = (p->Nk + T.kt - 1) / T.kt;
    }
    T.ldkt = attn_round_up(T.kt > 0 ? T.kt : 1, S_C * VL);
    T.dvp = attn_round_up(p->Dv, VL);
    // V is packed when its rows cannot be read as whole vectors, and for heads of thousands
    // of keys shared by several query tiles: rows of a fused qkv projection lie a page or more
    // apart, so every PV pass over 4096 in-place rows walks 4096 pages (TLB misses); packed
    // once per head they are contiguous (+2 % on SAM's global attention, measured).
    // bf16 always packs V (as pairs of keys).
    T.pack_v = ATTN_PAIRS || p->Dv % VL != 0 || (p->Nk > 1024 && T.nqt > 1);
    for (int t = 0; t < p->nbias; t++) {
        T.fuse_bias[t] = p->bias[t].s[3] == 0 || p->bias[t].s[3] == 1;
        T.dense |= !T.fuse_bias[t];
    }
    T.fuse_mask = p->mask.s[3] == 0 || p->mask.s[3] == 1;
    T.dense |= p->mask.p && !T.fuse_mask;
    if (p->rel_h.p) {
        if (p->kw % VL == 0) T.rel = ATTN_REL_ALIGNED;
#if defined(__AVX512F__)
        else if (p->kh <= 32 && p->kw <= 32)
            T.rel = ATTN_REL_PERMUTE;
#endif
        else
            T.rel = -1;
        T.dense |= T.rel < 0;
    }
    // One query tile per head (the SAM decoder's 7 tokens over 4096 keys): nothing to share,
    // and packing each key tile just before its use keeps it in L1 and overlaps the reads of
    // K with arithmetic. The same when a whole head would take more than 8 MB of scratch.
    // Otherwise a head is packed once for all its query tiles a thread runs.
    T.late =
        T.nqt == 1 || (size_t)T.nkt * (size_t)T.ldkt * (size_t)(p->D + T.dvp) * sizeof(float) > (8u << 20);
    const int64_t slots = T.late ? 1 : T.nkt;
    size_t floats =
        (size_t)(attn_round_up(slots * p->D * T.ldkt, 16) +
                 (T.pack_v ? attn_round_up(slots * T.ldkt * T.dvp, 16) : 0) + attn_round_up(T.qt * p->D, 16) +
                 attn_round_up(T.qt * T.ldkt, 16) + (T.dense ? attn_round_up(T.qt * T.ldkt, 16) : 0) +
                 attn_round_up(T.qt * T.dvp, 16) + 3 * attn_round_up(T.qt, 16) +
                 2 * attn_round_up(T.nkt * T.ldkt, 16));
    T.scratch = floats * sizeof(float);
    ug_parallel_for(p->ctx->pool, p->B * p->H * T.nqt, 1, attn_task, &T);
}

#endif
