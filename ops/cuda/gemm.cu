// ops/cuda/gemm.cu — matrix multiply and nn.Linear; contract: ops/gemm.h.
//
//   C[b] = alpha * A[b] @ B[b] + beta * C[b] + bias      A [M, K], B [K, N], C [M, N]
//   linear: y [rows, out] = x [rows, in] @ W^T + b       W [out, in], leading dims flattened
//
// Both run the tiled kernel of ops/cuda/gemm_tile.cuh (v1: 128 x 64 block tiles, 8 x 4 register
// micro-tiles, K slabs of 16 double-buffered in shared memory, f32 FMA accumulation in a fixed
// k order). The operands are read in place through their strides: a transposed view (unit
// stride in either of the last two dims), a batch stride of 0 (shared B) or a 2-D operand in a
// batched product need no copy; B (the weights) stays F32, BF16 or F16 and is widened as it is
// read into the tile. beta == 0 never reads C (it may hold NaN). Accepted beyond the CPU
// contract: any strides (also for C), and a BF16/F16 bias.
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/gemm_tile.cuh"

static bool gm_weight_dtype(ug_dtype dt) {
    return dt == UG_F32 || dt == UG_BF16 || dt == UG_F16;
}

// bias: NULL or a contiguous [n] of F32/BF16/F16.
static bool gm_bias_ok(const ug_tensor *bias, int64_t n) {
    return !bias ||
           (gm_weight_dtype(bias->dtype) && ug_tensor_numel(bias) == n && ug_tensor_is_contiguous(bias));
}

template <int DT>
static void gm_run(ug_ctx *ctx, const char *op, int64_t Bt, int64_t M, int64_t N, int64_t K,
                   const gt_mat<UG_F32> &a, const void *B, int64_t sbb, int64_t rsb, int64_t csb,
                   const gt_out &out) {
    // B(b, k, n) = B[b * sbb + k * rsb + n * csb]: the reader's r is n.
    gt_run(ctx, op, a, gt_mat_of<DT>(B, sbb, csb, rsb), out, Bt, M, N, K);
}

// The common tail of both entries: C(b, m, n) = c[b * sbc + m * rsc + n * csc].
static void gm_dispatch(ug_ctx *ctx, const char *op, int64_t Bt, int64_t M, int64_t N, int64_t K,
                        const float *A, int64_t sba, int64_t rsa, int64_t csa, const ug_tensor *B,
                        int64_t sbb, int64_t rsb, int64_t csb, float *C, int64_t sbc, int64_t rsc,
                        int64_t csc, const ug_tensor *bias, float alpha, float beta) {
    gt_mat<UG_F32> a = gt_mat_of<UG_F32>(A, sba, rsa, csa);
    gt_out out;
    out.c = C, out.sb = sbc, out.sm = rsc, out.sn = csc;
    out.alpha = alpha, out.beta = beta;
    out.bias = bias ? bias->data : NULL;
    out.bdt = bias ? (int)bias->dtype : (int)UG_F32;
    out.bm = 0, out.bn = 1;
    switch (B->dtype) {
    case UG_BF16: gm_run<UG_BF16>(ctx, op, Bt, M, N, K, a, B->data, sbb, rsb, csb, out); break;
    case UG_F16: gm_run<UG_F16>(ctx, op, Bt, M, N, K, a, B->data, sbb, rsb, csb, out); break;
    default: gm_run<UG_F32>(ctx, op, Bt, M, N, K, a, B->data, sbb, rsb, csb, out); break;
    }
}

extern "C" void matmul_cuda(ug_ctx *ctx, ug_tensor *C, const ug_tensor *A, const ug_tensor *B,
                            const ug_tensor *bias, float alpha, float beta) {
    const ug_tensor *ts[] = {C, A, B, bias};
    if (cu_failed(ctx) || !cu_on_device(ctx, "matmul", 4, ts)) return;
    if (A->dtype != UG_F32 || C->dtype != UG_F32 || !gm_weight_dtype(B->dtype)) {
        cu_fail(ctx, "matmul", "A and C must be F32, B F32, BF16 or F16");
        return;
    }
    if (C->ndim < 2 || C->ndim > 3 || A->ndim < 2 || A->ndim > 3 || B->ndim < 2 || B->ndim > 3) {
        cu_fail(ctx, "matmul", "operands must be [M, K] / [K, N] / [M, N] or batched [Bt, ...]");
        return;
    }
    int64_t Bt = C->ndim == 3 ? C->shape[0] : 1;
    int64_t M = C->shape[C->ndim - 2], N = C->shape[C->ndim - 1], K = A->shape[A->ndim - 1];
    bool batch_ok = (A->ndim == 2 || A->shape[0] == Bt) && (B->ndim == 2 || B->shape[0] == Bt);
    if (!batch_ok || A->shape[A->ndim - 2] != M || B->shape[B->ndim - 2] != K || B->shape[B->ndim - 1] != N) {
        cu_fail(ctx, "matmul", "shapes do not match: A [Bt, M, K], B [Bt, K, N], C [Bt, M, N]");
        return;
    }
    if (!gm_bias_ok(bias, N)) {
        cu_fail(ctx, "matmul", "bias must be NULL or a contiguous [N] of F32, BF16 or F16");
        return;
    }
    if (Bt == 0 || M == 0 || N == 0) return;
    if (beta == 0.0f) cu_poison_output(ctx, C); // not read: every element is written
    int64_t sba = A->ndim == 3 ? A->stride[0] : 0, sbb = B->ndim == 3 ? B->stride[0] : 0;
    int64_t sbc = C->ndim == 3 ? C->stride[0] : 0;
    gm_dispatch(ctx, "matmul", Bt, M, N, K, (const float *)A->data, sba, A->stride[A->ndim - 2],
                A->stride[A->ndim - 1], B, sbb, B->stride[B->ndim - 2], B->stride[B->ndim - 1],
                (float *)C->data, sbc, C->stride[C->ndim - 2], C->stride[C->ndim - 1], bias, alpha, beta);
}

// The dims before the last of t as one row index: *rows of them, row stride *rs. False when
// they do not flatten into one stride.
static bool gm_flat_rows(const ug_tensor *t, int64_t *rows, int64_t *rs) {
    int64_t n = 1, s = 0;
    bool have = false;
    for (int d = t->ndim - 2; d >= 0; d--) {
        if (t->shape[d] == 1) continue;
        if (!have)
            s = t->stride[d], have = true;
        else if (t->stride[d] != s * n)
            return false;
        n *= t->shape[d];
    }
    for (int d = 0; d < t->ndim - 1; d++)
        if (t->shape[d] == 0) n = 0;
    *rows = n;
    *rs = s;
    return true;
}

extern "C" void linear_cuda(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *W,
                            const ug_tensor *b) {
    const ug_tensor *ts[] = {y, x, W, b};
    if (cu_failed(ctx) || !cu_on_device(ctx, "linear", 4, ts)) return;
    if (x->dtype != UG_F32 || y->dtype != UG_F32 || !gm_weight_dtype(W->dtype)) {
        cu_fail(ctx, "linear", "x and y must be F32, W F32, BF16 or F16");
        return;
    }
    if (x->ndim < 1 || y->ndim < 1 || W->ndim != 2) {
        cu_fail(ctx, "linear", "W must be [out, in], x [..., in], y [..., out]");
        return;
    }
    int64_t in = x->shape[x->ndim - 1], outf = y->shape[y->ndim - 1];
    int64_t rows, rsx, rows_y, rsy;
    if (!gm_flat_rows(x, &rows, &rsx) || !gm_flat_rows(y, &rows_y, &rsy)) {
        cu_fail(ctx, "linear", "the leading dims of x and y must flatten into one");
        return;
    }
    if (W->shape[0] != outf || W->shape[1] != in || rows != rows_y) {
        cu_fail(ctx, "linear", "shapes do not match: x [..., in], W [out, in], y [..., out]");
        return;
    }
    if (!gm_bias_ok(b, outf)) {
        cu_fail(ctx, "linear", "bias must be NULL or a contiguous [out] of F32, BF16 or F16");
        return;
    }
    if (rows == 0 || outf == 0) return;
    cu_poison_output(ctx, y);
    // y [rows, out] = x [rows, in] @ W^T: B(k, n) = W[n, k].
    gm_dispatch(ctx, "linear", 1, rows, outf, in, (const float *)x->data, 0, rsx, x->stride[x->ndim - 1], W,
                0, W->stride[1], W->stride[0], (float *)y->data, 0, rsy, y->stride[y->ndim - 1], b, 1.0f,
                0.0f);
}
