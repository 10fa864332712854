// ops/cuda/gemm_tile.cuh — the tiled SGEMM main loop that ops/cuda/gemm.cu (matmul, linear) and
// ops/cuda/conv.cu (conv2d as implicit GEMM, conv_transpose2x2) instantiate with their own
// operand readers and output writers.
//
//   C(b, m, n) = out(sum_k A(b, m, k) B(b, k, n))      A [M, K], B [K, N] of batch b
//
// An operand is any struct with
//     bool kf;                                             // the K index is the unit-stride one
//     __device__ float at(int64_t b, int64_t r, int64_t k) const;   // X(b, r, k), widened to f32
// where r is A's row m or B's column n (gt_mat: a strided matrix in F32/BF16/F16; conv.cu adds an
// im2col reader); the output is a struct with __device__ void put(int64_t b, int64_t m, int64_t n,
// float acc) const (gt_out: alpha, beta, bias, any strides; conv.cu adds a 2x2 scatter).
//
// v1 gt_gemm_v1: one 256-thread block per 128 x 64 tile of C (grid.x: tiles, n fastest;
//     grid.z: batches); each thread keeps an 8 x 4 micro-tile in registers (rows ty*8.., columns
//     tx*4.., so a half-warp writes 64 consecutive columns of a row) and accumulates in f32, k in
//     order 0..K-1 (deterministic; no split-K). K goes in slabs of 8: a slab of A (128 x 8) and
//     B (8 x 64) is read from global memory into registers (4 + 2 values a thread, widened
//     there, zero past M, N, K so ragged edges need no other case) while the previous slab is
//     multiplied out of shared memory, then stored to the other of two shared buffers: one
//     barrier per slab. Each reader walks its unit-stride index fastest (kf), so the global
//     reads coalesce for row-major and transposed operands alike; shared memory is k-major
//     ([k][m], [k][n], rows padded by 4 floats) so the multiply reads its 8 + 4 values a step
//     in three 128-bit loads. Why these sizes: 8 x 4 gives 32 FMAs per 3 shared loads; 128 x
//     64 with K slabs of 8 fits 128 registers (__launch_bounds__(256, 2): 2 blocks per SM, no
//     spills) and 12.5 KiB of static shared memory (slabs of 16 took 160+ registers for the
//     extra staged values); the model GEMMs (M = tokens or pixels in the thousands, N =
//     96..1280) fill the grid. No tensor cores in this version.
#ifndef UG_CUDA_GEMM_TILE_CUH
#define UG_CUDA_GEMM_TILE_CUH

#include "ops/cuda/cuda_common.cuh"

enum {
    GT_BM = 128, // rows of C per block
    GT_BN = 64,  // columns of C per block
    GT_BK = 8,   // K slab
    GT_TM = 8,   // rows per thread
    GT_TN = 4,   // columns per thread
    GT_THREADS = (GT_BM / GT_TM) * (GT_BN / GT_TN),
    GT_PAD = 4, // floats after each shared row (keeps 16-byte alignment, spreads banks)
    GT_MAX_Z = 65535,
};
// The slab split of gt_part_of and the 4-float shared loads rely on these.
static_assert(GT_THREADS % GT_BM == 0 && GT_THREADS % GT_BN == 0 && GT_THREADS % GT_BK == 0, "slab split");
static_assert(GT_BN * GT_BK % GT_THREADS == 0 && GT_TM % 4 == 0 && GT_TN % 4 == 0, "slab split");

// Loops of a constant trip count, unrolled (the host compiler's spelling in the emulator).
#ifdef UG_CUDA_EMU
#define GT_UNROLL _Pragma("GCC unroll 8")
#else
#define GT_UNROLL _Pragma("unroll")
#endif

// Static shared arrays read 4 floats at a time are 16-byte aligned on the device.
#ifdef UG_CUDA_EMU
#define GT_ALIGN16
#else
#define GT_ALIGN16 __align__(16)
#endif

// d[0..3] = p[0..3] for a 16-byte aligned p in shared memory: one 128-bit load on the device.
static __device__ __forceinline__ void gt_ld4(float *d, const float *p) {
#ifdef UG_CUDA_EMU
    memcpy(d, p, 4 * sizeof(float));
#else
    float4 v = *reinterpret_cast<const float4 *>(p);
    d[0] = v.x, d[1] = v.y, d[2] = v.z, d[3] = v.w;
#endif
}

// Element i of a tensor of dtype DT (UG_F32, UG_BF16, UG_F16) widened to f32.
template <int DT> static __device__ __forceinline__ float gt_ld(const void *p, int64_t i) {
    if constexpr (DT == UG_BF16)
        return cu_bf16_to_f32(((const uint16_t *)p)[i]);
    else if constexpr (DT == UG_F16)
        return cu_f16_to_f32(((const uint16_t *)p)[i]);
    else
        return ((const float *)p)[i];
}

// A strided matrix operand: X(b, r, k) = p[b * sb + r * sr + k * sk] of dtype DT.
template <int DT> struct gt_mat {
    const void *p;
    int64_t sb, sr, sk;
    bool kf;
    __device__ __forceinline__ float at(int64_t b, int64_t r, int64_t k) const {
        return gt_ld<DT>(p, b * sb + r * sr + k * sk);
    }
};

template <int DT> static inline gt_mat<DT> gt_mat_of(const void *p, int64_t sb, int64_t sr, int64_t sk) {
    gt_mat<DT> m;
    m.p = p, m.sb = sb, m.sr = sr, m.sk = sk;
    m.kf = sk == 1 && sr != 1; // otherwise r is unit-stride (or neither is: then either order)
    return m;
}

// The plain output: C(b, m, n) = alpha * acc + beta * C(b, m, n) + bias(m, n) at
// c[b * sb + m * sm + n * sn]; beta == 0 does not read C; bias(m, n) = bias[m * bm + n * bn]
// (F32/BF16/F16, bdt; one of bm, bn is 0) or none.
struct gt_out {
    float *c;
    int64_t sb, sm, sn;
    float alpha, beta;
    const void *bias;
    int bdt;
    int64_t bm, bn;
    __device__ __forceinline__ void put(int64_t b, int64_t m, int64_t n, float acc) const {
        float *p = c + b * sb + m * sm + n * sn;
        float v = alpha * acc;
        if (beta != 0.0f) v += beta * *p;
        if (bias) v += cu_load_weight(bias, bdt, m * bm + n * bn);
        *p = v;
    }
};

// The thread's share of a ROWS x GT_BK slab: element i sits at (r, k) = (r1 + i * dr, k1 + i * dk),
// the unit-stride index fastest across the threads (GT_THREADS is a multiple of ROWS and GT_BK,
// so one of dr, dk is 0).
struct gt_part {
    int r1, k1, dr, dk;
};

template <int ROWS> static __device__ __forceinline__ gt_part gt_part_of(bool kf, int tid) {
    gt_part p;
    if (kf)
        p.r1 = tid / GT_BK, p.k1 = tid % GT_BK, p.dr = GT_THREADS / GT_BK, p.dk = 0;
    else
        p.r1 = tid % ROWS, p.k1 = tid / ROWS, p.dr = 0, p.dk = GT_THREADS / ROWS;
    return p;
}

// Reads the thread's ROWS * GT_BK / GT_THREADS values of the slab of X at (r0, k0) into v, 0
// outside [0, R) x [0, K).
template <int ROWS, class S>
static __device__ __forceinline__ void gt_fetch(const S &s, const gt_part &p, int64_t b, int64_t r0,
                                                int64_t k0, int64_t R, int64_t K, float *v) {
    GT_UNROLL
    for (int i = 0; i < ROWS * GT_BK / GT_THREADS; i++) {
        int64_t gr = r0 + p.r1 + i * p.dr, gk = k0 + p.k1 + i * p.dk;
        v[i] = gr < R && gk < K ? s.at(b, gr, gk) : 0.0f;
    }
}

// Stores what gt_fetch read into the k-major shared slab sm[k][r].
template <int ROWS>
static __device__ __forceinline__ void gt_stash(const gt_part &p, float (*sm)[ROWS + GT_PAD],
                                                const float *v) {
    GT_UNROLL
    for (int i = 0; i < ROWS * GT_BK / GT_THREADS; i++)
        sm[p.k1 + i * p.dk][p.r1 + i * p.dr] = v[i];
}

template <class SA, class SB, class OUT>
static __global__ void __launch_bounds__(GT_THREADS, 2)
    gt_gemm_v1(SA a, SB bsrc, OUT out, int64_t M, int64_t N, int64_t K, unsigned ntn, int64_t b0) {
    __shared__ GT_ALIGN16 float As[2][GT_BK][GT_BM + GT_PAD];
    __shared__ GT_ALIGN16 float Bs[2][GT_BK][GT_BN + GT_PAD];
    const int tid = (int)threadIdx.x, tx = tid % (GT_BN / GT_TN), ty = tid / (GT_BN / GT_TN);
    const int64_t b = b0 + blockIdx.z;
    const int64_t m0 = (int64_t)(blockIdx.x / ntn) * GT_BM, n0 = (int64_t)(blockIdx.x % ntn) * GT_BN;
    const int64_t nslabs = (K + GT_BK - 1) / GT_BK;

    const gt_part pa = gt_part_of<GT_BM>(a.kf, tid), pb = gt_part_of<GT_BN>(bsrc.kf, tid);
    float ra[GT_BM * GT_BK / GT_THREADS], rb[GT_BN * GT_BK / GT_THREADS];
    float acc[GT_TM][GT_TN];
    GT_UNROLL
    for (int i = 0; i < GT_TM; i++) {
        GT_UNROLL
        for (int j = 0; j < GT_TN; j++)
            acc[i][j] = 0.0f;
    }

    if (nslabs > 0) {
        gt_fetch<GT_BM>(a, pa, b, m0, 0, M, K, ra);
        gt_fetch<GT_BN>(bsrc, pb, b, n0, 0, N, K, rb);
        gt_stash<GT_BM>(pa, As[0], ra);
        gt_stash<GT_BN>(pb, Bs[0], rb);
    }
    __syncthreads();
    for (int64_t t = 0; t < nslabs; t++) {
        const int cur = (int)(t & 1);
        const bool more = t + 1 < nslabs; // the same in every thread: the barrier below is uniform
        if (more) {
            gt_fetch<GT_BM>(a, pa, b, m0, (t + 1) * GT_BK, M, K, ra);
            gt_fetch<GT_BN>(bsrc, pb, b, n0, (t + 1) * GT_BK, N, K, rb);
        }
        GT_UNROLL
        for (int kk = 0; kk < GT_BK; kk++) {
            float av[GT_TM], bv[GT_TN];
            GT_UNROLL
            for (int i = 0; i < GT_TM; i += 4)
                gt_ld4(av + i, &As[cur][kk][ty * GT_TM + i]);
            GT_UNROLL
            for (int j = 0; j < GT_TN; j += 4)
                gt_ld4(bv + j, &Bs[cur][kk][tx * GT_TN + j]);
            GT_UNROLL
            for (int i = 0; i < GT_TM; i++) {
                GT_UNROLL
                for (int j = 0; j < GT_TN; j++)
                    acc[i][j] += av[i] * bv[j];
            }
        }
        // The other buffer was last read in slab t - 1, before the barrier that ended it.
        if (more) {
            gt_stash<GT_BM>(pa, As[cur ^ 1], ra);
            gt_stash<GT_BN>(pb, Bs[cur ^ 1], rb);
        }
        __syncthreads();
    }

    GT_UNROLL
    for (int i = 0; i < GT_TM; i++) {
        int64_t m = m0 + ty * GT_TM + i;
        GT_UNROLL
        for (int j = 0; j < GT_TN; j++) {
            int64_t n = n0 + tx * GT_TN + j;
            if (m < M && n < N) out.put(b, m, n, acc[i][j]);
        }
    }
}

// Runs the GEMM over batches [0, Bt) (grid.z chunks of at most 65535). False, with the error
// recorded, when the launch failed or the tile count does not fit a grid.
template <class SA, class SB, class OUT>
static bool gt_run(ug_ctx *ctx, const char *op, const SA &a, const SB &bsrc, const OUT &out, int64_t Bt,
                   int64_t M, int64_t N, int64_t K) {
    if (Bt <= 0 || M <= 0 || N <= 0) return true;
    int64_t ntm = (M + GT_BM - 1) / GT_BM, ntn = (N + GT_BN - 1) / GT_BN;
    if (ntn > 0x7fffffff / ntm) return cu_fail(ctx, op, "too many output tiles for one grid");
    for (int64_t b0 = 0; b0 < Bt; b0 += GT_MAX_Z) {
        unsigned nz = (unsigned)cu_min<int64_t>(GT_MAX_Z, Bt - b0);
        UG_LAUNCH((gt_gemm_v1<SA, SB, OUT>), dim3((unsigned)(ntm * ntn), 1, nz), dim3(GT_THREADS), 0,
                  cu_stream(ctx), a, bsrc, out, M, N, K, (unsigned)ntn, b0);
        if (!cu_check(ctx, cudaGetLastError(), op)) return false;
    }
    return true;
}

#endif
