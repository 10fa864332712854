// ops/conv_transpose.c — 2x2 stride-2 transposed convolution: reference, GEMM + scatter
// (see conv_transpose.h).
#include "ops/conv_transpose.h"

#include <assert.h>

#include "engine/pool.h"
#include "ops/conv_common.h"
#include "ops/gemm.h"

void conv_transpose2x2_ref(float *y, const float *x, const float *w, const float *b, int64_t B, int64_t Cin,
                           int64_t H, int64_t W, int64_t Cout) {
    int64_t Ho = 2 * H, Wo = 2 * W;
    for (int64_t n = 0; n < B; n++) {
        for (int64_t o = 0; o < Cout; o++) {
            for (int64_t oy = 0; oy < Ho; oy++) {
                for (int64_t ox = 0; ox < Wo; ox++) {
                    int64_t i = oy / 2, a = oy % 2, j = ox / 2, c = ox % 2;
                    double acc = b ? b[o] : 0.0;
                    for (int64_t k = 0; k < Cin; k++)
                        acc += (double)x[((n * Cin + k) * H + i) * W + j] *
                               (double)w[((k * Cout + o) * 2 + a) * 2 + c];
                    y[((n * Cout + o) * Ho + oy) * Wo + ox] = (float)acc;
                }
            }
        }
    }
}

// Scatter of a tile T [(o, a, c), rows * W] (input rows [i0, i0 + rows)) into y: output row
// (o, 2i + a) interleaves T rows (o, a, 0) and (o, a, 1).
typedef struct {
    const float *T;
    float *y;                // image b
    int64_t syc, syh, syw;   // its strides
    const float *bias;       // F32 [Cout] or NULL
    int64_t W, i0, rows, nt; // nt = rows * W
} scatter_job;

static void scatter_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const scatter_job *j = arg;
    for (int64_t it = begin; it < end; it++) { // it = (o, local input row, a)
        int64_t a = it % 2, il = (it / 2) % j->rows, o = it / (2 * j->rows);
        const float *t0 = j->T + (o * 4 + a * 2) * j->nt + il * j->W, *t1 = t0 + j->nt;
        float *dst = j->y + o * j->syc + (2 * (j->i0 + il) + a) * j->syh;
        float bv = j->bias ? j->bias[o] : 0.0f;
        if (j->syw == 1) {
            for (int64_t x = 0; x < j->W; x++) {
                dst[2 * x] = t0[x] + bv;
                dst[2 * x + 1] = t1[x] + bv;
            }
        } else {
            for (int64_t x = 0; x < j->W; x++) {
                dst[2 * x * j->syw] = t0[x] + bv;
                dst[(2 * x + 1) * j->syw] = t1[x] + bv;
            }
        }
    }
}

enum { CT_TILE_FLOATS = 2 << 20 }; // T tile budget: 8 MB

void conv_transpose2x2_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w,
                           const ug_tensor *b) {
    assert(x->ndim == 4 && y->ndim == 4 && w->ndim == 4);
    assert(x->dtype == UG_F32 && y->dtype == UG_F32);
    assert(w->dtype == UG_F32 || w->dtype == UG_BF16 || w->dtype == UG_F16);
    assert(ug_tensor_is_contiguous(w) && w->shape[2] == 2 && w->shape[3] == 2);
    int64_t B = x->shape[0], Cin = x->shape[1], H = x->shape[2], W = x->shape[3], Cout = w->shape[1];
    assert(w->shape[0] == Cin && y->shape[0] == B && y->shape[1] == Cout);
    assert(y->shape[2] == 2 * H && y->shape[3] == 2 * W);
    assert(!b || (ug_tensor_numel(b) == Cout && ug_tensor_is_contiguous(b)));
    if (B == 0 || Cout == 0 || H == 0 || W == 0) return;
    // x[b] as [Cin, HW].
    assert(H == 1 || x->stride[2] == W * x->stride[3]);
    int64_t sxp = W == 1 ? x->stride[2] : x->stride[3];
    assert(sxp == 1 || x->stride[1] == 1);

    // A = W^T [Cout*4, Cin]: the weight [Cin, Cout*4] transposed (a view when F32).
    float *wtmp = NULL, *btmp = NULL;
    if (w->dtype != UG_F32) {
        wtmp = conv_alloc((size_t)(Cin * Cout * 4) * sizeof(float),
                          "widened conv-transpose weights"); // [Cin, Cout*4]
        conv_widen(wtmp, w, Cin * Cout * 4);
    }
    ug_tensor A = conv_view2(wtmp ? wtmp : w->data, UG_F32, Cout * 4, Cin, 1, Cout * 4);
    const float *bias = conv_bias_f32(b, Cout, &btmp);

    int64_t rows = CT_TILE_FLOATS / (Cout * 4 * W);
    if (rows < 1) rows = 1;
    if (rows > H) rows = H;
    float *T = conv_alloc((size_t)(Cout * 4 * rows * W) * sizeof(float),
                          "the conv-transpose tile"); // [Cout*4, rows*W]
    scatter_job j = {T, NULL, y->stride[1], y->stride[2], y->stride[3], bias, W, 0, 0, 0};
    for (int64_t n = 0; n < B; n++) {
        const float *xb = (const float *)x->data + n * x->stride[0];
        j.y = (float *)y->data + n * y->stride[0];
        for (int64_t i0 = 0; i0 < H; i0 += rows) {
            j.i0 = i0;
            j.rows = H - i0 < rows ? H - i0 : rows;
            j.nt = j.rows * W;
            ug_tensor C = conv_view2(T, UG_F32, Cout * 4, j.nt, j.nt, 1);
            ug_tensor X = conv_view2((void *)(xb + i0 * W * sxp), UG_F32, Cin, j.nt, x->stride[1], sxp);
            matmul_cpu(ctx, &C, &A, &X, NULL, 1.0f, 0.0f);
            ug_parallel_for(ctx->pool, Cout * j.rows * 2, 1 + 2048 / W, scatter_range, &j);
        }
    }
    free(T);
    free(wtmp);
    free(btmp);
}
