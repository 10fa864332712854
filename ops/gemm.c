// ops/gemm.c — see gemm.h.
//
// The fast path is a GotoBLAS/BLIS-style packed GEMM:
//   for each NC-wide column panel of B (jc) and KC-deep slab of K (pc):
//     pack B[pc:pc+kc, jc:jc+nc] into NR-wide slivers (kc x NR each, widened to f32)  shared
//     for each MC-tall row block of A (ic):                                         per thread
//       pack A[ic:ic+mc, pc:pc+kc] into MR-tall slivers (kc x MR each)
//       for each B sliver (jr), for each A sliver (ir): micro-kernel on an MR x NR tile of C
// The packed A block sits in L2, each B sliver is fetched from the shared panel (L3) once per
// A block and then reused from L2 by all its A slivers. Packing makes every operand layout
// (transposed views, BF16/F16 weights) one contiguous, aligned format, and zero-pads the
// edges so that the micro-kernel always runs a full tile and only its store is masked.
//
// bf16 precision (ctx->precision, on AVX512-BF16): the same loops with A and B packed as bf16
// pairs along k (ops/gemm_avx512bf16.c), F32 and F16 rounded to bf16 and BF16 weights copied as
// they are; the micro-kernel multiplies pairs with vdpbf16ps and sums in f32. A packing
// callback still writes f32 slivers, into a per-thread sliver that is then packed as pairs.
//
// Threads: with one GEMM, the (row block x column chunk) tasks of a panel are spread over the
// pool; the shared B panel is packed lazily by whichever thread first needs a sliver; row
// blocks are cut so there are enough tasks for every thread even when M is small. Many small
// batched GEMMs run one per thread instead.
#include "ops/gemm.h"
#include "ops/vmath.h"

#include <assert.h>
#include <immintrin.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine/cpu.h"
#include "ops/gemm_internal.h"

void gemm_ref(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa, int64_t csa,
              const float *B, int64_t rsb, int64_t csb, float beta, float *C, int64_t ldc,
              const float *bias) {
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)A[m * rsa + k * csa] * (double)B[k * rsb + n * csb];
            double c = alpha * acc;
            if (beta != 0.0f) c += (double)beta * C[m * ldc + n];
            if (bias) c += bias[n];
            C[m * ldc + n] = (float)c;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA micro-kernel, 6 x 16: 12 ymm accumulators + 2 for the B row + 1 broadcast = 15 of
// the 16 registers; 12 independent FMA chains cover latency x pipes.

enum { AVX2_MR = 6, AVX2_NR = 16, AVX2_NV = AVX2_NR / 8 };

static void gemm_micro_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr, int nr,
                            float alpha, float beta, const float *bias) {
    __m256 acc[AVX2_MR][AVX2_NV];
#pragma GCC unroll 8
    for (int i = 0; i < AVX2_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < AVX2_NV; v++)
            acc[i][v] = _mm256_setzero_ps();

#pragma GCC unroll 8
    for (int i = 0; i < AVX2_MR; i++)
        if (i < mr) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + AVX2_NR - 1), _MM_HINT_T0);
        }

#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        __m256 bv[AVX2_NV];
#pragma GCC unroll 4
        for (int v = 0; v < AVX2_NV; v++)
            bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 8
        for (int i = 0; i < AVX2_MR; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 4
            for (int v = 0; v < AVX2_NV; v++)
                acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
        }
        a += AVX2_MR;
        b += AVX2_NR;
    }

    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i mask[AVX2_NV];
    __m256 vbias[AVX2_NV];
#pragma GCC unroll 4
    for (int v = 0; v < AVX2_NV; v++) {
        mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * v), lane);
        vbias[v] = bias ? _mm256_maskload_ps(bias + 8 * v, mask[v]) : _mm256_setzero_ps();
    }
    const __m256 valpha = _mm256_set1_ps(alpha), vbeta = _mm256_set1_ps(beta);
    bool full = nr == AVX2_NR;
#pragma GCC unroll 8
    for (int i = 0; i < AVX2_MR; i++) {
        if (i >= mr) break;
        float *ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < AVX2_NV; v++) {
            __m256 x = _mm256_fmadd_ps(acc[i][v], valpha, vbias[v]);
            if (full) {
                if (beta != 0.0f) x = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(ci + 8 * v), x);
                _mm256_storeu_ps(ci + 8 * v, x);
            } else {
                if (beta != 0.0f) x = _mm256_fmadd_ps(vbeta, _mm256_maskload_ps(ci + 8 * v, mask[v]), x);
                _mm256_maskstore_ps(ci + 8 * v, mask[v], x);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Packing. Every packed sliver is `w` values wide (MR for A, NR for B) and kc deep:
//   out[k * w + r] = X(r, k) for r < rows, 0 for rows <= r < w.
// Three source layouts: "k-contiguous" (X(r, k) = src[r * ld + k]: row-major A, transposed B
// such as nn.Linear weights), "r-contiguous" (X(r, k) = src[k * ld + r]: transposed A,
// row-major B) and any other strides (scalar). Sources are F32, BF16 or F16.

static inline float load1(const void *p, int64_t i, ug_dtype dt) {
    switch (dt) {
    case UG_BF16: return ug_bf16_to_f32(((const uint16_t *)p)[i]);
    case UG_F16: return ug_f16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

// 8 consecutive elements widened to f32.
static inline __m256 load8(const void *p, int64_t i, ug_dtype dt) {
    switch (dt) {
    case UG_BF16: return vm_load8_bf16((const uint16_t *)p + i);
    case UG_F16: return vm_load8_f16((const uint16_t *)p + i);
    default: return _mm256_loadu_ps((const float *)p + i);
    }
}

static inline __m256i lanes_below(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

enum { PACK_AHEAD = 256 }; // elements prefetched ahead along a source row

// X(r, k) = src[r * ld + k]: 8 rows x 8 k at a time, transposed in registers.
static inline void pack_kcontig(float *out, int w, const void *src, int64_t ld, ug_dtype dt, int rows,
                                int64_t kc) {
    int64_t esz = dt == UG_F32 ? 4 : 2;
    for (int g = 0; g < w; g += 8) {
        int nst = w - g < 8 ? w - g : 8;           // lanes stored
        int nld = rows - g < nst ? rows - g : nst; // lanes holding data
        if (nld < 0) nld = 0;
        __m256i smask = lanes_below(nst);
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8) {
            // The rows come from memory (A is re-read for every B panel): without prefetching
            // ahead along each row, the loads wait on DRAM and packing costs ~7% of the GEMM.
            if (k % 32 == 0)
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    if (j < nld)
                        _mm_prefetch((const char *)src + ((g + j) * ld + k + PACK_AHEAD) * esz, _MM_HINT_T0);
            __m256 r[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                r[j] = j < nld ? load8(src, (g + j) * ld + k, dt) : _mm256_setzero_ps();
            vm_transpose8(r);
            if (nst == 8)
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    _mm256_storeu_ps(out + (k + j) * w + g, r[j]);
            else
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    _mm256_maskstore_ps(out + (k + j) * w + g, smask, r[j]);
        }
        for (; k < kc; k++)
            for (int j = 0; j < nst; j++)
                out[k * w + g + j] = j < nld ? load1(src, (g + j) * ld + k, dt) : 0.0f;
    }
}

// X(r, k) = src[k * ld + r]: rows are contiguous already; copy (and widen) k by k.
static inline void pack_rcontig(float *out, int w, const void *src, int64_t ld, ug_dtype dt, int rows,
                                int64_t kc) {
    for (int64_t k = 0; k < kc; k++) {
        float *o = out + k * w;
        int r = 0;
        for (; r + 8 <= rows; r += 8)
            _mm256_storeu_ps(o + r, load8(src, k * ld + r, dt));
        for (; r < rows; r++)
            o[r] = load1(src, k * ld + r, dt);
        for (; r < w; r++)
            o[r] = 0.0f;
    }
}

static void pack_strided(float *out, int w, const void *src, int64_t rs, int64_t ks, ug_dtype dt, int rows,
                         int64_t kc) {
    for (int64_t k = 0; k < kc; k++)
        for (int r = 0; r < w; r++)
            out[k * w + r] = r < rows ? load1(src, r * rs + k * ks, dt) : 0.0f;
}

// One sliver of X with X(r, k) = src[r * rs + k * ks], rows < w, kc deep.
static void pack_sliver(float *out, int w, const void *src, int64_t rs, int64_t ks, ug_dtype dt, int rows,
                        int64_t kc) {
    if (ks == 1 || kc == 1) {
        switch (dt) { // one instance per dtype so the loads inline without a branch
        case UG_BF16: pack_kcontig(out, w, src, rs, UG_BF16, rows, kc); break;
        case UG_F16: pack_kcontig(out, w, src, rs, UG_F16, rows, kc); break;
        default: pack_kcontig(out, w, src, rs, UG_F32, rows, kc); break;
        }
    } else if (rs == 1 || rows == 1) {
        switch (dt) {
        case UG_BF16: pack_rcontig(out, w, src, ks, UG_BF16, rows, kc); break;
        case UG_F16: pack_rcontig(out, w, src, ks, UG_F16, rows, kc); break;
        default: pack_rcontig(out, w, src, ks, UG_F32, rows, kc); break;
        }
    } else {
        pack_strided(out, w, src, rs, ks, dt, rows, kc);
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking and dispatch.

typedef struct gemm_arch {
    int mr, nr;
    int64_t kc, mc, nc; // cache blocks: K slab, rows of a packed A block, columns of a B panel
    gemm_micro_fn micro;
    int bf16;    // slivers packed as bf16 pairs (gemm_pack_bf16), the micro-kernel's kc in pairs
    int64_t kal; // K slabs are a multiple of this (the packing's step along k)
} gemm_arch;

// Measured on Zen 5 (48 KB L1, 1 MB L2 per core, 2 threads): a K slab of 640 beats both the
// L1-sized 256 of the textbook (C is read and written K/kc times) and a full 1280 (the B
// sliver then streams from L2 too slowly); mc keeps the A block (280 x 640 floats, 700 KB) in
// L2. A is packed again for every B panel, so nc is wide (2048: a 5 MB shared panel, in L3)
// to re-read A from memory fewer times.
static const gemm_arch arch_avx512 = {GEMM_AVX512_MR,      GEMM_AVX512_NR,    640, 20 * GEMM_AVX512_MR,
                                      64 * GEMM_AVX512_NR, gemm_micro_avx512, 0,   8};
static const gemm_arch arch_avx2 = {AVX2_MR,       AVX2_NR,         640, 48 * AVX2_MR,
                                    128 * AVX2_NR, gemm_micro_avx2, 0,   8};
// bf16: the same bytes per block as the f32 kernel's (a pair of k in one 32-bit word), so twice
// the k per slab; the packing converts 16 k of a row at a time.
static const gemm_arch arch_avx512bf16 = {
    GEMM_AVX512_MR,      GEMM_AVX512_NR,        1280, 20 * GEMM_AVX512_MR,
    64 * GEMM_AVX512_NR, gemm_micro_avx512bf16, 1,    16};

bool gemm_uses_bf16(const ug_ctx *ctx) {
    return ctx->precision == UG_PRECISION_BF16 && ug_cpu_use_avx512_bf16();
}

static const gemm_arch *gemm_pick_arch(const ug_ctx *ctx) {
    if (gemm_uses_bf16(ctx)) return &arch_avx512bf16;
    return ug_cpu_use_avx512() ? &arch_avx512 : &arch_avx2;
}

// Floats a packed sliver takes per k of its slab: 1, or a word per pair of k (bf16).
static int64_t sliver_depth(const gemm_arch *ar, int64_t kc) {
    return ar->bf16 ? (kc + 1) / 2 : kc;
}

// A GEMM on raw pointers, the tensor form's common denominator.
typedef struct gemm_problem {
    int64_t M, N, K;
    float alpha, beta;
    const float *A;
    int64_t rsa, csa;
    const void *B;
    ug_dtype bdt;
    int64_t rsb, csb;
    float *C;
    int64_t ldc;
    const float *bias;
    gemm_pack_b_fn packb; // when set, B slivers come from this callback (B, bdt, rsb, csb unused)
    void *packb_arg;
} gemm_problem;

static int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}
static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

// Block sizes of one problem: K and N are cut into equal slabs / panels (no thin leftover),
// kc a multiple of kal (the packing transposes 8 x 8), nc of NR; mc bounds a row block.
typedef struct gemm_blocks {
    int64_t kc, nc, mc;
    int64_t bfloats, afloats; // packed B panel (rounded to 64 bytes) and packed A block, floats
                              // (bf16: + one f32 B sliver, kc x NR, for a packing callback)
} gemm_blocks;

static int64_t round_up(int64_t a, int64_t b) {
    return ceil_div(a, b) * b;
}

static gemm_blocks gemm_blocking(const gemm_arch *ar, int64_t M, int64_t N, int64_t K) {
    gemm_blocks b;
    b.kc = K < 1 ? 1 : min64(K, round_up(ceil_div(K, ceil_div(K, ar->kc)), ar->kal));
    b.nc = N < 1 ? ar->nr : round_up(ceil_div(N, ceil_div(N, ar->nc)), ar->nr);
    b.mc = M < 1 ? ar->mr : min64(round_up(M, ar->mr), ar->mc);
    int64_t kd = sliver_depth(ar, b.kc);
    b.bfloats = round_up(kd * b.nc, 16);
    b.afloats = round_up(kd * b.mc, 16) + (ar->bf16 ? b.kc * ar->nr : 0);
    return b;
}

// Packs B slivers [s0, s1) of the panel (pc, jc) into bp (each kc x NR, or kc / 2 pairs x NR).
// tmp: kc x NR floats of the calling thread, where a packing callback writes a bf16 sliver first.
static void pack_b_slivers(const gemm_arch *ar, const gemm_problem *p, float *bp, float *tmp, int64_t pc,
                           int64_t kc, int64_t jc, int64_t nc, int64_t s0, int64_t s1) {
    size_t esz = ug_dtype_size(p->bdt);
    int64_t kd = sliver_depth(ar, kc);
    for (int64_t s = s0; s < s1; s++) {
        int64_t j = jc + s * ar->nr;
        int rows = (int)min64(ar->nr, jc + nc - j);
        float *out = bp + s * kd * ar->nr;
        if (p->packb && ar->bf16) {
            p->packb(p->packb_arg, tmp, ar->nr, pc, kc, j, rows);
            gemm_pack_bf16((uint32_t *)out, ar->nr, tmp, 1, ar->nr, UG_F32, ar->nr, kc);
        } else if (p->packb) {
            p->packb(p->packb_arg, out, ar->nr, pc, kc, j, rows);
        } else {
            const char *src = (const char *)p->B + (pc * p->rsb + j * p->csb) * (int64_t)esz;
            if (ar->bf16)
                gemm_pack_bf16((uint32_t *)out, ar->nr, src, p->csb, p->rsb, p->bdt, rows, kc);
            else
                pack_sliver(out, ar->nr, src, p->csb, p->rsb, p->bdt, rows, kc);
        }
    }
}

// Packs rows [i0, i0 + mc) of A, columns [pc, pc + kc), into MR slivers.
static void pack_a_block(const gemm_arch *ar, const gemm_problem *p, float *ap, int64_t i0, int64_t mc,
                         int64_t pc, int64_t kc) {
    int64_t kd = sliver_depth(ar, kc);
    for (int64_t i = 0; i < mc; i += ar->mr) {
        int rows = (int)min64(ar->mr, mc - i);
        const float *src = p->A + (i0 + i) * p->rsa + pc * p->csa;
        if (ar->bf16)
            gemm_pack_bf16((uint32_t *)(ap + i * kd), ar->mr, src, p->rsa, p->csa, UG_F32, rows, kc);
        else
            pack_sliver(ap + i * kd, ar->mr, src, p->rsa, p->csa, UG_F32, rows, kc);
    }
}

// The f32 sliver of a bf16 packing callback, after the A block in a thread's packing space.
static float *sliver_tmp(const gemm_arch *ar, const gemm_blocks *bl, float *ap) {
    return ar->bf16 ? ap + round_up(sliver_depth(ar, bl->kc) * bl->mc, 16) : NULL;
}

typedef struct gemm_par gemm_par;
static void ensure_b_sliver(gemm_par *g, int64_t s, int thread);

// C[i0:i0+mc, jc + s0*NR : jc + min(s1*NR, nc)] from packed A block ap and B panel bp. With
// `lazy`, each B sliver is packed on first use by `thread` (threaded path); otherwise bp is
// complete.
static void macro_kernel(const gemm_arch *ar, const gemm_problem *p, const float *ap, const float *bp,
                         int64_t i0, int64_t mc, int64_t jc, int64_t nc, int64_t s0, int64_t s1, int64_t pc,
                         int64_t kc, gemm_par *lazy, int thread) {
    // Only the first K slab applies beta and the bias; later slabs accumulate into C.
    float beta = pc == 0 ? p->beta : 1.0f;
    int64_t kd = sliver_depth(ar, kc);
    for (int64_t s = s0; s < s1; s++) {
        if (lazy) ensure_b_sliver(lazy, s, thread);
        int64_t j = jc + s * ar->nr;
        int nr = (int)min64(ar->nr, jc + nc - j);
        const float *bias = pc == 0 && p->bias ? p->bias + j : NULL;
        const float *bs = bp + s * kd * ar->nr;
        for (int64_t i = 0; i < mc; i += ar->mr) {
            int mr = (int)min64(ar->mr, mc - i);
            ar->micro(kd, ap + i * kd, bs, p->C + (i0 + i) * p->ldc + j, p->ldc, mr, nr, p->alpha, beta,
                      bias);
        }
    }
}

// K == 0: C = beta * C + bias (no products to sum).
static void gemm_k0(const gemm_problem *p) {
    for (int64_t m = 0; m < p->M; m++)
        for (int64_t n = 0; n < p->N; n++) {
            float *c = p->C + m * p->ldc + n;
            *c = (p->beta != 0.0f ? p->beta * *c : 0.0f) + (p->bias ? p->bias[n] : 0.0f);
        }
}

// Whole GEMM on the calling thread with `buf` (bfloats + afloats) as packing space.
static void gemm_serial(const gemm_arch *ar, const gemm_problem *p, const gemm_blocks *bl, float *buf) {
    if (p->M <= 0 || p->N <= 0) return;
    if (p->K <= 0) {
        gemm_k0(p);
        return;
    }
    float *bp = buf, *ap = buf + bl->bfloats, *tmp = sliver_tmp(ar, bl, ap);
    for (int64_t jc = 0; jc < p->N; jc += bl->nc) {
        int64_t nc = min64(bl->nc, p->N - jc), ns = ceil_div(nc, ar->nr);
        for (int64_t pc = 0; pc < p->K; pc += bl->kc) {
            int64_t kc = min64(bl->kc, p->K - pc);
            pack_b_slivers(ar, p, bp, tmp, pc, kc, jc, nc, 0, ns);
            for (int64_t ic = 0; ic < p->M; ic += bl->mc) {
                int64_t mc = min64(bl->mc, p->M - ic);
                pack_a_block(ar, p, ap, ic, mc, pc, kc);
                macro_kernel(ar, p, ap, bp, ic, mc, jc, nc, 0, ns, pc, kc, NULL, 0);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Threaded GEMM: per (jc, pc) panel, one parallel_for over (row block, sliver chunk) tasks.
// Each thread packs the A blocks it needs; the B panel is shared and packed lazily: the first
// thread to need a sliver packs it, so packing overlaps the other threads' compute instead of
// being a separate phase with a barrier after it.

enum { GEMM_MAX_SLIVERS = 128 }; // nc / nr of every arch
enum { SLIVER_EMPTY = 0, SLIVER_PACKING = 1, SLIVER_READY = 2 };

struct gemm_par {
    const gemm_arch *ar;
    const gemm_problem *p;
    float *bp;                  // shared packed B panel
    float *ap[UG_MAX_THREADS];  // per-thread packed A block
    float *tmp[UG_MAX_THREADS]; // per-thread f32 sliver of a bf16 packing callback (sliver_tmp)
    int64_t jc, nc, ns, pc, kc;
    int64_t nib, mslivers;                         // row blocks, and MR slivers of M they split
    int64_t nj;                                    // sliver chunks per row block
    _Atomic unsigned char state[GEMM_MAX_SLIVERS]; // SLIVER_* of each B sliver of the panel
};

static bool try_pack_b_sliver(gemm_par *g, int64_t s, int thread) {
    unsigned char expect = SLIVER_EMPTY;
    if (atomic_load_explicit(&g->state[s], memory_order_relaxed) != SLIVER_EMPTY ||
        !atomic_compare_exchange_strong_explicit(&g->state[s], &expect, SLIVER_PACKING, memory_order_relaxed,
                                                 memory_order_relaxed))
        return false;
    pack_b_slivers(g->ar, g->p, g->bp, g->tmp[thread], g->pc, g->kc, g->jc, g->nc, s, s + 1);
    atomic_store_explicit(&g->state[s], SLIVER_READY, memory_order_release); // publishes the packed floats
    return true;
}

static void ensure_b_sliver(gemm_par *g, int64_t s, int thread) {
    if (atomic_load_explicit(&g->state[s], memory_order_acquire) == SLIVER_READY) return;
    if (try_pack_b_sliver(g, s, thread)) return;
    // Another thread is packing it: pack later slivers meanwhile rather than spin.
    for (int64_t t = s + 1;
         t < g->ns && atomic_load_explicit(&g->state[s], memory_order_acquire) != SLIVER_READY; t++)
        try_pack_b_sliver(g, t, thread);
    while (atomic_load_explicit(&g->state[s], memory_order_acquire) != SLIVER_READY)
        _mm_pause();
}

static void par_compute(void *arg, int64_t begin, int64_t end, int thread) {
    gemm_par *g = arg;
    const gemm_arch *ar = g->ar;
    int64_t packed = -1; // row block whose A is in ap[thread]
    for (int64_t t = begin; t < end; t++) {
        int64_t ib = t / g->nj, jb = t % g->nj;
        // Row blocks get whole MR slivers, as evenly as possible.
        int64_t i0 = ib * g->mslivers / g->nib * ar->mr,
                i1 = min64((ib + 1) * g->mslivers / g->nib * ar->mr, g->p->M);
        if (packed != ib) {
            pack_a_block(ar, g->p, g->ap[thread], i0, i1 - i0, g->pc, g->kc);
            packed = ib;
        }
        int64_t s0 = jb * g->ns / g->nj, s1 = (jb + 1) * g->ns / g->nj;
        macro_kernel(ar, g->p, g->ap[thread], g->bp, i0, i1 - i0, g->jc, g->nc, s0, s1, g->pc, g->kc, g,
                     thread);
    }
}

static void gemm_parallel(ug_ctx *ctx, const gemm_arch *ar, const gemm_problem *p) {
    if (p->M <= 0 || p->N <= 0) return;
    if (p->K <= 0) {
        gemm_k0(p);
        return;
    }
    int nth = ctx->pool ? ctx->nthreads : 1;
    gemm_blocks bl = gemm_blocking(ar, p->M, p->N, p->K);
    // Scratch is taken here, on the calling thread, before any parallel region.
    float *buf0 = ug_ctx_scratch(ctx, 0, (size_t)(bl.bfloats + bl.afloats) * sizeof(float));
    // Below ~0.2 MFLOP waking the pool costs more than it saves.
    if (nth == 1 || 2.0 * (double)p->M * (double)p->N * (double)p->K < 2e5) {
        gemm_serial(ar, p, &bl, buf0);
        return;
    }
    gemm_par g = {.ar = ar, .p = p};
    g.bp = buf0;
    g.ap[0] = buf0 + bl.bfloats;
    for (int t = 1; t < nth; t++)
        g.ap[t] = ug_ctx_scratch(ctx, t, (size_t)bl.afloats * sizeof(float));
    for (int t = 0; t < nth; t++)
        g.tmp[t] = sliver_tmp(ar, &bl, g.ap[t]);

    // Row blocks of at most mc rows, as many as a multiple of the thread count when there are
    // enough MR slivers, so that every thread gets the same number of equal blocks; a few per
    // thread so that a thread slowed down by the OS is made up for by the others.
    g.mslivers = ceil_div(p->M, ar->mr);
    g.nib = ceil_div(p->M, bl.mc);
    int64_t want = min64(4 * nth, ceil_div(g.mslivers, 4)); // a few blocks a thread, >= 4 slivers each
    if (g.nib < want) g.nib = want;
    g.nib = min64(round_up(g.nib, nth), g.mslivers);
    for (int64_t jc = 0; jc < p->N; jc += bl.nc) {
        g.jc = jc;
        g.nc = min64(bl.nc, p->N - jc);
        g.ns = ceil_div(g.nc, ar->nr);
        // Row blocks that do not split evenly over the threads (M of a few slivers): cut the
        // panel's slivers into chunks too, about 4 tasks a thread.
        g.nj = g.nib % nth == 0 ? 1 : min64(g.ns, ceil_div(4 * nth, g.nib));
        for (int64_t pc = 0; pc < p->K; pc += bl.kc) {
            g.pc = pc;
            g.kc = min64(bl.kc, p->K - pc);
            for (int64_t i = 0; i < g.ns; i++)
                atomic_store_explicit(&g.state[i], SLIVER_EMPTY, memory_order_relaxed);
            ug_parallel_for(ctx->pool, g.nib * g.nj, 1, par_compute, &g);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Public entry points.

void gemm_cpu(ug_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
              int64_t csa, const void *B, ug_dtype bdt, int64_t rsb, int64_t csb, float beta, float *C,
              int64_t ldc, const float *bias) {
    gemm_problem p = {M, N, K, alpha, beta, A, rsa, csa, B, bdt, rsb, csb, C, ldc, bias, NULL, NULL};
    gemm_parallel(ctx, gemm_pick_arch(ctx), &p);
}

void gemm_cpu_packb(ug_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
                    int64_t csa, gemm_pack_b_fn pack_b, void *pack_arg, float beta, float *C, int64_t ldc,
                    const float *bias) {
    gemm_problem p = {M, N, K, alpha, beta, A, rsa, csa, NULL, UG_F32, 0, 0, C, ldc, bias, pack_b, pack_arg};
    gemm_parallel(ctx, gemm_pick_arch(ctx), &p);
}

void gemm_cpu_packb_serial(ug_ctx *ctx, int thread, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *A, int64_t rsa, int64_t csa, gemm_pack_b_fn pack_b, void *pack_arg,
                           float beta, float *C, int64_t ldc, const float *bias) {
    const gemm_arch *ar = gemm_pick_arch(ctx);
    gemm_problem p = {M, N, K, alpha, beta, A, rsa, csa, NULL, UG_F32, 0, 0, C, ldc, bias, pack_b, pack_arg};
    gemm_blocks bl = gemm_blocking(ar, M, N, K);
    gemm_serial(ar, &p, &bl, ug_ctx_scratch(ctx, thread, (size_t)(bl.bfloats + bl.afloats) * sizeof(float)));
}

void gemm_cpu_serial(ug_ctx *ctx, int thread, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t rsa, int64_t csa, const void *B, ug_dtype bdt, int64_t rsb, int64_t csb,
                     float beta, float *C, int64_t ldc, const float *bias) {
    const gemm_arch *ar = gemm_pick_arch(ctx);
    gemm_problem p = {M, N, K, alpha, beta, A, rsa, csa, B, bdt, rsb, csb, C, ldc, bias, NULL, NULL};
    gemm_blocks bl = gemm_blocking(ar, M, N, K);
    gemm_serial(ar, &p, &bl, ug_ctx_scratch(ctx, thread, (size_t)(bl.bfloats + bl.afloats) * sizeof(float)));
}

// Batched tensor GEMM where each thread runs whole GEMMs (small matrices, many batches).
typedef struct gemm_batch {
    ug_ctx *ctx;
    const gemm_arch *ar;
    gemm_problem base;  // batch 0
    int64_t sa, sb, sc; // batch strides in elements (sb may be 0: shared B)
    gemm_blocks bl;
} gemm_batch;

static void batch_worker(void *arg, int64_t begin, int64_t end, int thread) {
    gemm_batch *g = arg;
    float *buf = ug_ctx_scratch(g->ctx, thread, (size_t)(g->bl.bfloats + g->bl.afloats) * sizeof(float));
    size_t esz = ug_dtype_size(g->base.bdt);
    for (int64_t b = begin; b < end; b++) {
        gemm_problem p = g->base;
        p.A += b * g->sa;
        p.B = (const char *)p.B + b * g->sb * (int64_t)esz;
        p.C += b * g->sc;
        gemm_serial(g->ar, &p, &g->bl, buf);
    }
}

void matmul_cpu(ug_ctx *ctx, ug_tensor *C, const ug_tensor *A, const ug_tensor *B, const ug_tensor *bias,
                float alpha, float beta) {
    assert(A->dtype == UG_F32 && C->dtype == UG_F32);
    assert(B->dtype == UG_F32 || B->dtype == UG_BF16 || B->dtype == UG_F16);
    assert(!bias || bias->dtype == UG_F32);
    int batched = C->ndim == 3;
    int64_t Bt = batched ? C->shape[0] : 1;
    int64_t M = C->shape[C->ndim - 2], N = C->shape[C->ndim - 1], K = A->shape[A->ndim - 1];
    assert(A->shape[A->ndim - 2] == M && B->shape[B->ndim - 2] == K && B->shape[B->ndim - 1] == N);
    const gemm_arch *ar = gemm_pick_arch(ctx);
    gemm_problem p = {M,
                      N,
                      K,
                      alpha,
                      beta,
                      A->data,
                      A->stride[A->ndim - 2],
                      A->stride[A->ndim - 1],
                      B->data,
                      B->dtype,
                      B->stride[B->ndim - 2],
                      B->stride[B->ndim - 1],
                      C->data,
                      C->stride[C->ndim - 2],
                      bias ? bias->data : NULL,
                      NULL,
                      NULL};
    int64_t sa = A->ndim == 3 ? A->stride[0] : 0, sb = B->ndim == 3 ? B->stride[0] : 0;
    int64_t sc = batched ? C->stride[0] : 0;
    if (Bt == 1) {
        gemm_parallel(ctx, ar, &p);
        return;
    }
    // Shared B with batches of A and C laid out as one taller matrix: one GEMM of Bt * M rows.
    if (sb == 0 && sa == M * p.rsa && sc == M * p.ldc) {
        p.M = Bt * M;
        gemm_parallel(ctx, ar, &p);
        return;
    }
    // Many small GEMMs: one per thread at a time, no synchronisation between them.
    int nth = ctx->pool ? ctx->nthreads : 1;
    double flops = 2.0 * (double)M * (double)N * (double)K;
    if (Bt >= 2 * nth || flops < 4e6) {
        gemm_batch g = {ctx, ar, p, sa, sb, sc, gemm_blocking(ar, M, N, K)};
        ug_parallel_for(ctx->pool, Bt, 1, batch_worker, &g);
        return;
    }
    size_t esz = ug_dtype_size(B->dtype);
    for (int64_t b = 0; b < Bt; b++) {
        gemm_problem pb = p;
        pb.A += b * sa;
        pb.B = (const char *)p.B + b * sb * (int64_t)esz;
        pb.C += b * sc;
        gemm_parallel(ctx, ar, &pb);
    }
}

void linear_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *W, const ug_tensor *b) {
    int64_t in = x->shape[x->ndim - 1], out = y->shape[y->ndim - 1];
    int64_t rows = ug_tensor_numel(x) / (in ? in : 1);
    assert(ug_tensor_is_contiguous(x) && ug_tensor_is_contiguous(y));
    ug_tensor x2 = ug_view_reshape(x, UG_DIMS(rows, in));
    ug_tensor y2 = ug_view_reshape(y, UG_DIMS(rows, out));
    ug_tensor wt = ug_view_transpose(W, 0, 1); // [in, out]
    matmul_cpu(ctx, &y2, &x2, &wt, b, 1.0f, 0.0f);
}
