// ops/cuda/attention.cu — fused multi-head scaled dot-product attention; contract: ops/attention.h
// (the arguments are validated by attention_check of ops/attention.c).
//
//   s[i, j] = (q[i] * scale) . k[j] + bias0[i, j] + bias1[i, j] + rel_h[i, j / kw] + rel_w[i, j % kw]
//             (-inf where mask[i, j] != 0),
//   out[i]  = sum_j exp(s[i, j] - m_i) v[j] / sum_j exp(s[i, j] - m_i),  m_i = max_j s[i, j];
//   a row with every key masked (sum 0) gives zeros; NaN anywhere in a row's logits gives NaN.
// Letters as in ops/attention.h: B, H, Nq, Nk, D (q/k head dim), Dv (v head dim).
//
// v1 attn_flash_v1<DV8, KPL>: flash attention with an online softmax; [Nq, Nk] is never formed.
//     A block is W = 1..4 warps and owns one (batch, head) and a tile of BQ = 16 W query rows;
//     keys and values stream through shared memory in tiles of BK = 8 KPL keys. Per key tile:
//       0. the block loads K (transposed, [D][BK + 4]) and V ([BK][Dv]) a warp per key row
//          (coalesced), and gathers the tile's additive terms into P [BQ][BK]: consecutive
//          threads read consecutive keys of a bias / mask / rel-pos row through the broadcast
//          strides, and sum them (masked keys and keys past Nk: -inf; padding rows: 0);
//       1. S = Qs K^T: lane (rq = lane / 8, kq = lane % 8) of a warp holds a 4 x KPL register
//          tile (rows warp*16 + rq*4 .. +4, keys kq*KPL .. +KPL); Qs = q * scale is stored
//          transposed [D][BQ + 4] once per block, so each d costs one 4-wide and one KPL-wide
//          shared load (rows broadcast within the 8 lanes of a row group, keys contiguous across
//          them) for 4 KPL FMAs;
//       2. s += the lane's entries of P; a -inf term excludes the key whatever q . k is (a mask);
//       3. online softmax per row: m' = max(m, tile max) (an xor butterfly over the 8 lanes of
//          the row group, NaN-propagating), p = exp(s - m'), l = l e^(m - m') + sum p (per-lane
//          partial), O *= e^(m - m'); each lane overwrites its own P entries with p (__syncwarp);
//       4. O [4 rows, Dv] += P V: the lane owns columns kq + 8 c (c < DV8) of its 4 rows, V is
//          read row by row from shared memory (8 consecutive words, conflict-free).
//     At the end l is summed over the row group (butterfly) and out = O / l (0 where l == 0).
//     Every sum has a fixed order (no atomics): bit-identical whatever the schedule.
//     Why this shape: fp32 FMAs without tensor cores (no inline PTX here); a 4 x KPL tile and
//     4 x DV8 accumulators keep the shared-memory traffic near one load per 4 FMAs while O stays
//     in registers (<= 64 floats for Dv = 128). The tile sizes are chosen per call so the dynamic
//     shared memory stays within the 48 KiB a launch gets without cudaFuncSetAttribute: the
//     largest W <= ceil(Nq / 16) (small Nq, e.g. SAM's decoder tokens, get small blocks), then
//     BK = 32 before 16. SAM ViT-H (D = 80): W = 4, BK = 16; Swin / Mask2Former (D = 32): W = 4,
//     BK = 32; D = 128: W = 3, BK = 16. D up to 249 fits (W = 1, BK = 16, Dv >= 128); Dv above
//     128 runs as several launches over 128-column slices of v and out. Products and sums are
//     plain f32 (nvcc contracts them into FMAs): the contract is the tolerance, not CPU bits.
#include <string.h>

#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"

enum {
    AT_WARP_ROWS = 16,  // query rows of a warp
    AT_LANE_ROWS = 4,   // of a lane
    AT_MAX_WARPS = 4,   // a block is 1..4 warps
    AT_PAD = 4,         // extra floats per row of the transposed Q and K tiles
    AT_DV_SLICE = 128,  // v columns of one launch
    AT_SMEM = 48 * 1024 // dynamic shared memory a launch may take without opting in
};

// An optional term broadcast to [B, H, Nq, Nk] (rel_h / rel_w: [B, H, Nq, kh | kw]): element
// (b, h, i, j) at p + b s[0] + h s[1] + i s[2] + j s[3]; broadcast dims have s = 0; p NULL: absent.
typedef struct at_term {
    const void *p;
    int64_t s[4];
} at_term;

typedef struct at_args {
    const float *q, *k, *v;
    float *out;
    int64_t sq[3], sk[3], sv[3], so[3]; // (b, h, row) strides; the last dim has stride 1
    int64_t H, Nq, Nk, D, Dv, kw, qtiles;
    float scale;
    at_term bias[2], mask, rel_h, rel_w;
} at_args;

// N consecutive floats loaded or stored as one shared-memory access (16 or 8 bytes).
template <int N> struct alignas(4 * N) at_vec { float v[N]; };

// max that keeps a NaN of either side (fmaxf drops it).
static __device__ __forceinline__ float at_max(float a, float b) {
    return (a != a || b != b) ? a + b : fmaxf(a, b);
}

template <class T> static __device__ __forceinline__ const T *at_row(const at_term &t, int64_t b, int64_t h) {
    return (const T *)t.p + b * t.s[0] + h * t.s[1];
}

template <int DV8, int KPL> static __global__ void attn_flash_v1(at_args a) {
    enum { BK = 8 * KPL };
    const int nthr = (int)blockDim.x, tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int nwarps = nthr >> 5, BQ = AT_WARP_ROWS * nwarps, ldq = BQ + AT_PAD, ldk = BK + AT_PAD;
    const int D = (int)a.D, Dv = (int)a.Dv;
    const int rq = lane >> 3, kq = lane & 7;
    const int wr = warp * AT_WARP_ROWS + rq * AT_LANE_ROWS; // the lane's first row in the tile
    const int64_t bh = blockIdx.x / a.qtiles, q0 = (int64_t)(blockIdx.x % a.qtiles) * BQ;
    const int64_t b = bh / a.H, h = bh % a.H, Nq = a.Nq, Nk = a.Nk;

    UG_DYNAMIC_SHARED(float, sm);
    float *Qt = sm;           // [D][ldq]  q * scale, transposed
    float *Kt = Qt + D * ldq; // [D][ldk]  the key tile, transposed
    float *Vs = Kt + D * ldk; // [BK][Dv]  the value tile
    float *P = Vs + BK * Dv;  // [BQ][BK]  the terms, then the probabilities; a warp its own 16 rows

    const float *q = a.q + b * a.sq[0] + h * a.sq[1];
    const float *k = a.k + b * a.sk[0] + h * a.sk[1];
    const float *v = a.v + b * a.sv[0] + h * a.sv[1];
    for (int r = warp; r < BQ; r += nwarps) // a warp per row: coalesced reads
        for (int d = lane; d < D; d += 32)
            Qt[d * ldq + r] = q0 + r < Nq ? q[(q0 + r) * a.sq[2] + d] * a.scale : 0.0f;

    const float *b0 = a.bias[0].p ? at_row<float>(a.bias[0], b, h) : NULL;
    const float *b1 = a.bias[1].p ? at_row<float>(a.bias[1], b, h) : NULL;
    const uint8_t *mk = a.mask.p ? at_row<uint8_t>(a.mask, b, h) : NULL;
    const float *rh = a.rel_h.p ? at_row<float>(a.rel_h, b, h) : NULL;
    const float *rw = a.rel_h.p ? at_row<float>(a.rel_w, b, h) : NULL;
    const bool terms = b0 || b1 || mk || rh;

    float acc[AT_LANE_ROWS][DV8], m[AT_LANE_ROWS], l[AT_LANE_ROWS];
    for (int i = 0; i < AT_LANE_ROWS; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        for (int c = 0; c < DV8; c++)
            acc[i][c] = 0.0f;
    }

    for (int64_t j0 = 0; j0 < Nk; j0 += BK) {
        __syncthreads(); // every read of the previous tile is done (and the Q tile is written)
        for (int c = warp; c < BK; c += nwarps) {
            bool in = j0 + c < Nk;
            for (int d = lane; d < D; d += 32)
                Kt[d * ldk + c] = in ? k[(j0 + c) * a.sk[2] + d] : 0.0f;
            for (int d = lane; d < Dv; d += 32)
                Vs[c * Dv + d] = in ? v[(j0 + c) * a.sv[2] + d] : 0.0f; // 0: p * v stays finite
        }
        // The tile's additive terms go to P (each lane later overwrites its own entries with p):
        // -inf for masked keys and keys past Nk, 0 for padding rows. Consecutive threads read
        // consecutive keys of a term row.
        for (int e = tid; e < BQ * BK; e += nthr) {
            int64_t r = q0 + e / BK, j = j0 + e % BK;
            float t = 0.0f;
            if (j >= Nk)
                t = -INFINITY;
            else if (terms && r < Nq) {
                if (b0) t += b0[r * a.bias[0].s[2] + j * a.bias[0].s[3]];
                if (b1) t += b1[r * a.bias[1].s[2] + j * a.bias[1].s[3]];
                if (rh) {
                    int64_t jh = j / a.kw, jw = j - jh * a.kw;
                    t += rh[r * a.rel_h.s[2] + jh * a.rel_h.s[3]] + rw[r * a.rel_w.s[2] + jw * a.rel_w.s[3]];
                }
                if (mk && mk[r * a.mask.s[2] + j * a.mask.s[3]]) t = -INFINITY;
            }
            P[e] = t;
        }
        __syncthreads();

        // 1. logits of the lane's 4 x KPL tile
        float s[AT_LANE_ROWS][KPL];
        for (int i = 0; i < AT_LANE_ROWS; i++)
            for (int c = 0; c < KPL; c++)
                s[i][c] = 0.0f;
        for (int d = 0; d < D; d++) {
            at_vec<4> qv = *(const at_vec<4> *)(Qt + d * ldq + wr);
            at_vec<KPL> kv = *(const at_vec<KPL> *)(Kt + d * ldk + kq * KPL);
            for (int i = 0; i < AT_LANE_ROWS; i++)
                for (int c = 0; c < KPL; c++)
                    s[i][c] += qv.v[i] * kv.v[c];
        }

        // 2. plus the terms; a -inf term excludes the key whatever q . k is (a mask)
        for (int i = 0; i < AT_LANE_ROWS; i++) {
            at_vec<KPL> tv = *(const at_vec<KPL> *)(P + (wr + i) * BK + kq * KPL);
            for (int c = 0; c < KPL; c++)
                s[i][c] = tv.v[c] == -INFINITY ? -INFINITY : s[i][c] + tv.v[c];
        }

        // 3. online softmax: the running max of each row over the 8 lanes of its group
        for (int i = 0; i < AT_LANE_ROWS; i++) {
            float mt = s[i][0];
            for (int c = 1; c < KPL; c++)
                mt = at_max(mt, s[i][c]);
            for (int o = 1; o < 8; o <<= 1)
                mt = at_max(mt, __shfl_xor_sync(UG_FULL_MASK, mt, o));
            float mn = at_max(m[i], mt);
            // m == -inf: O and l are still 0; mn == -inf: every key so far is masked, p = 0.
            float alpha = m[i] == -INFINITY ? 0.0f : expf(m[i] - mn);
            at_vec<KPL> pv;
            float ps = 0.0f;
            for (int c = 0; c < KPL; c++) {
                pv.v[c] = mn == -INFINITY ? 0.0f : expf(s[i][c] - mn);
                ps += pv.v[c];
            }
            l[i] = l[i] * alpha + ps;
            for (int c = 0; c < DV8; c++)
                acc[i][c] *= alpha;
            m[i] = mn;
            *(at_vec<KPL> *)(P + (wr + i) * BK + kq * KPL) = pv;
        }
        __syncwarp(UG_FULL_MASK); // the warp's P rows are written

        // 4. O += P V
        for (int j = 0; j < BK; j += 4) {
            at_vec<4> p4[AT_LANE_ROWS];
            for (int i = 0; i < AT_LANE_ROWS; i++)
                p4[i] = *(const at_vec<4> *)(P + (wr + i) * BK + j);
            for (int jj = 0; jj < 4; jj++) {
                const float *vr = Vs + (j + jj) * Dv + kq;
                for (int c = 0; c < DV8; c++)
                    if (kq + 8 * c < Dv) {
                        float x = vr[8 * c];
                        for (int i = 0; i < AT_LANE_ROWS; i++)
                            acc[i][c] += p4[i].v[jj] * x;
                    }
            }
        }
    }

    float *out = a.out + b * a.so[0] + h * a.so[1];
    for (int i = 0; i < AT_LANE_ROWS; i++) {
        float lt = l[i];
        for (int o = 1; o < 8; o <<= 1)
            lt += __shfl_xor_sync(UG_FULL_MASK, lt, o);
        int64_t r = q0 + wr + i;
        if (r >= Nq) continue;
        float inv = 1.0f / lt;
        for (int c = 0; c < DV8; c++)
            if (kq + 8 * c < Dv) out[r * a.so[2] + kq + 8 * c] = lt == 0.0f ? 0.0f : acc[i][c] * inv;
    }
}

// The term t (NULL: absent) broadcast to `full` (numpy rules, as attention_check validated).
static at_term at_term_of(const ug_tensor *t, const int64_t full[4]) {
    at_term r = {NULL, {0, 0, 0, 0}};
    if (!t) return r;
    r.p = t->data;
    for (int d = 0; d < 4; d++) {
        int td = d - (4 - t->ndim);
        if (td >= 0 && t->shape[td] == full[d] && full[d] != 1) r.s[d] = t->stride[td];
    }
    return r;
}

static size_t at_smem_bytes(int64_t D, int64_t Dv, int warps, int kpl) {
    int64_t bq = AT_WARP_ROWS * warps, bk = 8 * kpl;
    return (size_t)(D * (bq + AT_PAD) + D * (bk + AT_PAD) + bk * Dv + bq * bk) * sizeof(float);
}

template <int DV8>
static void at_launch(ug_ctx *ctx, int kpl, unsigned blocks, int warps, size_t smem, const at_args &a) {
    if (kpl == 4)
        UG_LAUNCH((attn_flash_v1<DV8, 4>), dim3(blocks), dim3(32 * warps), smem, cu_stream(ctx), a);
    else
        UG_LAUNCH((attn_flash_v1<DV8, 2>), dim3(blocks), dim3(32 * warps), smem, cu_stream(ctx), a);
}

// One launch over the Dv columns of a (<= AT_DV_SLICE). False (and the error recorded) on failure.
static bool at_run(ug_ctx *ctx, at_args a, int64_t BH) {
    int warps = (int)cu_min<int64_t>(AT_MAX_WARPS, (a.Nq + AT_WARP_ROWS - 1) / AT_WARP_ROWS), kpl = 4;
    while (at_smem_bytes(a.D, a.Dv, warps, kpl) > AT_SMEM) {
        if (kpl == 4)
            kpl = 2;
        else if (warps > 1)
            warps--, kpl = 4;
        else
            return cu_fail(ctx, "attention",
                           "head dim D too large for the shared-memory tiles (D <= 249 when Dv >= 128)");
    }
    a.qtiles = (a.Nq + AT_WARP_ROWS * warps - 1) / (AT_WARP_ROWS * warps);
    if (BH * a.qtiles > 0x7fffffff)
        return cu_fail(ctx, "attention", "too many heads x query tiles for a grid");
    unsigned blocks = (unsigned)(BH * a.qtiles);
    size_t smem = at_smem_bytes(a.D, a.Dv, warps, kpl);
    int dv8 = (int)((a.Dv + 7) / 8);
    if (dv8 <= 1)
        at_launch<1>(ctx, kpl, blocks, warps, smem, a);
    else if (dv8 <= 2)
        at_launch<2>(ctx, kpl, blocks, warps, smem, a);
    else if (dv8 <= 4)
        at_launch<4>(ctx, kpl, blocks, warps, smem, a);
    else if (dv8 <= 8)
        at_launch<8>(ctx, kpl, blocks, warps, smem, a);
    else if (dv8 <= 10)
        at_launch<10>(ctx, kpl, blocks, warps, smem, a);
    else if (dv8 <= 12)
        at_launch<12>(ctx, kpl, blocks, warps, smem, a);
    else
        at_launch<16>(ctx, kpl, blocks, warps, smem, a);
    return cu_check(ctx, cudaGetLastError(), "attention");
}

extern "C" void attention_cuda(ug_ctx *ctx, ug_tensor *out, const ug_tensor *q, const ug_tensor *k,
                               const ug_tensor *v, const ug_attn_extra *extra, float scale) {
    const ug_attn_extra none = {{NULL, NULL}, NULL, NULL, NULL};
    const ug_attn_extra *x = extra ? extra : &none;
    const ug_tensor *ts[] = {out, q, k, v, x->bias[0], x->bias[1], x->mask, x->rel_h, x->rel_w};
    enum { NT = sizeof ts / sizeof ts[0] };
    if (cu_failed(ctx) || !cu_on_device(ctx, "attention", NT, ts)) return;
    if (q->dtype != UG_F32 || k->dtype != UG_F32 || v->dtype != UG_F32 || out->dtype != UG_F32) {
        cu_fail(ctx, "attention", "q, k, v and out must be F32");
        return;
    }
    // attention_check of the CPU kernel validates shapes, strides and broadcasts; it only reads
    // the descriptors, so it gets copies labelled as host tensors.
    ug_tensor host[NT];
    const ug_tensor *hp[NT];
    for (int i = 0; i < NT; i++) {
        hp[i] = NULL;
        if (!ts[i]) continue;
        host[i] = *ts[i];
        host[i].device = UG_CPU;
        hp[i] = &host[i];
    }
    const ug_attn_extra hx = {{hp[4], hp[5]}, hp[6], hp[7], hp[8]};
    ug_err err;
    if (attention_check(hp[0], hp[1], hp[2], hp[3], &hx, &err) != UG_OK) {
        // Its message names the op once more ("attention: "): drop that, cu_fail adds the op.
        char msg[sizeof err.msg];
        const char *dup = strstr(err.msg, "attention: ");
        size_t pre = dup ? (size_t)(dup - err.msg) : strlen(err.msg);
        memcpy(msg, err.msg, pre);
        strcpy(msg + pre, dup ? dup + 11 : "");
        cu_fail(ctx, "attention", msg);
        return;
    }

    int64_t B = q->shape[0], H = q->shape[1], Nq = q->shape[2], Nk = k->shape[2];
    int64_t D = q->shape[3], Dv = v->shape[3];
    if (B * H * Nq == 0 || Dv == 0) return;
    at_args a;
    memset(&a, 0, sizeof a);
    a.q = (const float *)q->data;
    a.k = (const float *)k->data;
    a.v = (const float *)v->data;
    a.out = (float *)out->data;
    for (int d = 0; d < 3; d++) {
        a.sq[d] = q->stride[d];
        a.sk[d] = k->stride[d];
        a.sv[d] = v->stride[d];
        a.so[d] = out->stride[d];
    }
    a.H = H, a.Nq = Nq, a.Nk = Nk, a.D = D, a.scale = scale, a.kw = 1;
    const int64_t full[4] = {B, H, Nq, Nk};
    a.bias[0] = at_term_of(x->bias[0], full);
    a.bias[1] = at_term_of(x->bias[1], full);
    a.mask = at_term_of(x->mask, full);
    if (x->rel_h) {
        int64_t kh = x->rel_h->shape[x->rel_h->ndim - 1], kw = x->rel_w->shape[x->rel_w->ndim - 1];
        const int64_t fh[4] = {B, H, Nq, kh}, fw[4] = {B, H, Nq, kw};
        a.rel_h = at_term_of(x->rel_h, fh);
        a.rel_w = at_term_of(x->rel_w, fw);
        a.kw = kw;
    }
    cu_poison_output(ctx, out);
    for (int64_t c0 = 0; c0 < Dv; c0 += AT_DV_SLICE) {
        at_args s = a;
        s.v = a.v + c0;
        s.out = a.out + c0;
        s.Dv = cu_min<int64_t>(AT_DV_SLICE, Dv - c0);
        if (!at_run(ctx, s, B * H)) return;
    }
}
