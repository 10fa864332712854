// ops/conv2d.c — convolution: reference, im2col tiles + matmul_cpu (see conv2d.h).
#include "ops/conv2d.h"

#include <assert.h>
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "engine/pool.h"
#include "ops/conv_common.h"
#include "ops/gemm.h"

int64_t conv2d_out_size(int64_t in, int64_t k, int stride, int pad) {
    int64_t span = in + 2 * (int64_t)pad - k;
    return span < 0 ? 0 : span / stride + 1;
}

void conv2d_ref(float *y, const float *x, const float *w, const float *b, int64_t B, int64_t Cin, int64_t H,
                int64_t W, int64_t Cout, int kh, int kw, int stride, int pad_top, int pad_left, int64_t Ho,
                int64_t Wo) {
    for (int64_t n = 0; n < B; n++) {
        for (int64_t o = 0; o < Cout; o++) {
            for (int64_t oy = 0; oy < Ho; oy++) {
                for (int64_t ox = 0; ox < Wo; ox++) {
                    double acc = b ? b[o] : 0.0;
                    for (int64_t c = 0; c < Cin; c++) {
                        for (int ky = 0; ky < kh; ky++) {
                            int64_t iy = oy * stride - pad_top + ky;
                            if (iy < 0 || iy >= H) continue;
                            for (int kx = 0; kx < kw; kx++) {
                                int64_t ix = ox * stride - pad_left + kx;
                                if (ix < 0 || ix >= W) continue;
                                acc += (double)x[((n * Cin + c) * H + iy) * W + ix] *
                                       (double)w[((o * Cin + c) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    y[((n * Cout + o) * Ho + oy) * Wo + ox] = (float)acc;
                }
            }
        }
    }
}

// ---- im2col of a tile of output rows [oy0, oy0 + rows): col[k, (oy - oy0) * Wo + ox] with
// k = (c, ky, kx) in the weight's order, so W [Cout, K] @ col [K, rows * Wo] is the tile.

typedef struct {
    float *col;
    const float *x;        // image b
    int64_t sxc, sxh, sxw; // its strides
    int64_t H, W, Ho, Wo, K;
    int kh, kw, stride, pt, pl;
    int64_t oy0, rows;
} im2col_job;

static void im2col_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const im2col_job *j = arg;
    int64_t Wo = j->Wo, s = j->stride, Nt = j->rows * Wo;
    for (int64_t it = begin; it < end; it++) {
        // Consecutive items share an output row and walk kx fastest, so neighbouring items
        // read the same input rows.
        int64_t oyl = it / j->K, k = it % j->K;
        int64_t c = k / (j->kh * j->kw), ky = (k / j->kw) % j->kh, kx = k % j->kw;
        float *dst = j->col + k * Nt + oyl * Wo;
        int64_t iy = (j->oy0 + oyl) * s - j->pt + ky;
        if (iy < 0 || iy >= j->H) {
            memset(dst, 0, (size_t)Wo * sizeof(float));
            continue;
        }
        // Output columns whose tap ix = ox * s - pl + kx lies inside [0, W).
        int64_t lo_num = j->pl - kx, hi_num = j->W - 1 + j->pl - kx;
        int64_t lo = lo_num > 0 ? (lo_num + s - 1) / s : 0;
        int64_t hi = hi_num < 0 ? 0 : hi_num / s + 1;
        if (hi > Wo) hi = Wo;
        if (lo > hi) lo = hi;
        if (lo > 0) memset(dst, 0, (size_t)lo * sizeof(float));
        if (hi < Wo) memset(dst + hi, 0, (size_t)(Wo - hi) * sizeof(float));
        const float *src = j->x + c * j->sxc + iy * j->sxh + (lo * s - j->pl + kx) * j->sxw;
        int64_t step = s * j->sxw;
        if (step == 1) {
            memcpy(dst + lo, src, (size_t)(hi - lo) * sizeof(float));
        } else {
            for (int64_t ox = lo; ox < hi; ox++, src += step)
                dst[ox] = *src;
        }
    }
}

// ---- im2col written straight into the GEMM's packed B slivers (NCHW orientation): B is the
// [K, Ho * Wo] im2col matrix of image b, plus one row of ones at k = K when the bias rides
// along as an extra column of the weights. Each sliver is a few consecutive output pixels;
// for a 3x3 stride-1 conv every k row of a sliver is one contiguous run of an input row,
// read from cache (the 9 taps and neighbouring slivers share rows), so the im2col data is
// written once, into the panel the micro-kernel reads, instead of to a tile and again packed.

typedef struct {
    const float *x;        // image b
    int64_t sxc, sxh, sxw; // its strides
    int64_t H, W, Wo, K;   // K = Cin * kh * kw; rows k >= K are ones (the bias row)
    int64_t p0;            // pixel of column 0 (the GEMM runs on a chunk of pixels)
    int kh, kw, stride, pt, pl;
} colpack;

// dst[0:n] = src[0:n], n <= 64 floats (a sliver is at most the micro-kernel width).
static inline void copy_run(float *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
    for (; i < n; i++)
        dst[i] = src[i];
}

static void colpack_sliver(void *arg, float *out, int w, int64_t k0, int64_t kc, int64_t j0, int cols) {
    const colpack *cp = arg;
    int64_t s = cp->stride, Wo = cp->Wo;
    if (cols < w)
        for (int64_t k = 0; k < kc; k++)
            memset(out + k * w + cols, 0, (size_t)(w - cols) * sizeof(float));
    // One run of pixels per output row the sliver touches.
    for (int off = 0; off < cols;) {
        int64_t j = cp->p0 + j0 + off, oy = j / Wo, ox0 = j % Wo;
        int len = (int)(Wo - ox0 < cols - off ? Wo - ox0 : cols - off);
        int64_t kr = k0 < cp->K ? k0 : cp->K; // first k of the slab (and its tap)
        int64_t c = kr / (cp->kh * cp->kw), ky = (kr / cp->kw) % cp->kh, kx = kr % cp->kw;
        for (int64_t k = k0; k < k0 + kc; k++) {
            float *o = out + (k - k0) * w + off;
            if (k >= cp->K) {
                for (int t = 0; t < len; t++)
                    o[t] = 1.0f;
                continue;
            }
            int64_t iy = oy * s - cp->pt + ky, ix0 = ox0 * s - cp->pl + kx;
            if (iy < 0 || iy >= cp->H) {
                memset(o, 0, (size_t)len * sizeof(float));
            } else {
                const float *row = cp->x + c * cp->sxc + iy * cp->sxh;
                if (s == 1 && cp->sxw == 1) {
                    // The input row is read from memory the first time: fetch the part the
                    // sliver after next reads (2 runs ahead) while this one is copied, once
                    // per (c, ky).
                    if (kx == 0)
                        for (int l = 0; l < 3; l++)
                            _mm_prefetch(
                                (const char *)((uintptr_t)(row + ix0) + (uintptr_t)(8 * len + 64 * l)),
                                _MM_HINT_T0);
                    // Taps inside the row: t in [lo, hi); zero padding outside.
                    int64_t lo = ix0 < 0 ? -ix0 : 0, hi = cp->W - ix0 < len ? cp->W - ix0 : len;
                    if (lo > hi) lo = hi;
                    if (hi < lo) hi = lo;
                    for (int64_t t = 0; t < lo; t++)
                        o[t] = 0.0f;
                    copy_run(o + lo, row + ix0 + lo, hi - lo);
                    for (int64_t t = hi; t < len; t++)
                        o[t] = 0.0f;
                } else {
                    for (int t = 0; t < len; t++) {
                        int64_t ix = ix0 + t * s;
                        o[t] = ix >= 0 && ix < cp->W ? row[ix * cp->sxw] : 0.0f;
                    }
                }
            }
            if (++kx == cp->kw) {
                kx = 0;
                if (++ky == cp->kh) ky = 0, c++;
            }
        }
        off += len;
    }
}

// Output chunks of the NCHW orientation: item = b * nchunks + chunk, each one serial GEMM
// y[b][:, p0:p0+np] = A [Cout, Ke] @ B [Ke, np] with B packed by colpack_sliver.
typedef struct {
    ug_ctx *ctx;
    colpack cp; // x unset
    const float *A;
    const float *bias; // added while copying out (bf16 GEMMs), or NULL (in A's last column)
    int64_t Ke, Cout, HWo, chunk, nchunks, ldt;
    float *tmp; // [nthreads, Cout, ldt]
    const ug_tensor *x, *y;
} conv_chunks;

static void conv_chunk_range(void *arg, int64_t begin, int64_t end, int thread) {
    const conv_chunks *j = arg;
    float *tmp = j->tmp + (int64_t)thread * j->Cout * j->ldt;
    for (int64_t it = begin; it < end; it++) {
        int64_t n = it / j->nchunks, p0 = it % j->nchunks * j->chunk;
        int64_t np = j->HWo - p0 < j->chunk ? j->HWo - p0 : j->chunk;
        colpack cp = j->cp;
        cp.x = (const float *)j->x->data + n * j->x->stride[0];
        cp.p0 = p0;
        gemm_cpu_packb_serial(j->ctx, thread, j->Cout, np, j->Ke, 1.0f, j->A, j->Ke, 1, colpack_sliver, &cp,
                              0.0f, tmp, j->ldt, NULL);
        float *yb = (float *)j->y->data + n * j->y->stride[0] + p0;
        for (int64_t o = 0; o < j->Cout; o++) {
            float *yo = yb + o * j->y->stride[1];
            const float *to = tmp + o * j->ldt;
            if (j->bias) {
                for (int64_t i = 0; i < np; i++)
                    yo[i] = to[i] + j->bias[o];
            } else {
                memcpy(yo, to, (size_t)np * sizeof(float));
            }
        }
    }
}

// ---- bias for the NCHW orientation: one value per row of the [Cout, N] output.

typedef struct {
    float *y;
    int64_t syc, n;
    const float *bias;
} rowbias_job;

static void rowbias_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const rowbias_job *j = arg;
    for (int64_t o = begin; o < end; o++) {
        float *r = j->y + o * j->syc, v = j->bias[o];
        for (int64_t i = 0; i < j->n; i++)
            r[i] += v;
    }
}

static void add_row_bias(ug_ctx *ctx, float *y, int64_t rows, int64_t n, int64_t syc, const float *bias) {
    rowbias_job j = {y, syc, n, bias};
    ug_parallel_for(ctx->pool, rows, 1 + 16384 / (n ? n : 1), rowbias_range, &j);
}

// One GEMM producing output pixels [p0, p0 + n) of image b from the operand X [K, n] (an
// im2col tile or the input itself, given with strides (sxk, sxn)).
typedef struct {
    ug_ctx *ctx;
    bool nchw; // pixel stride of y is 1 (else channel stride is 1)
    int64_t Cout, K;
    const ug_tensor *w; // [Cout, K] in its dtype (channels-last orientation)
    const float *wf;    // [Cout, K] F32 (NCHW orientation)
    const float *bias;  // F32 [Cout] or NULL
    int64_t syc, syp;   // y strides of the channel and flattened pixel dims
} conv_gemm;

static void conv_gemm_run(const conv_gemm *g, float *yb, int64_t p0, int64_t n, const float *X, int64_t sxk,
                          int64_t sxn) {
    if (g->nchw) {
        // y[b][:, p0:p0+n] [Cout, n] = W [Cout, K] @ X [K, n]
        ug_tensor C = conv_view2(yb + p0, UG_F32, g->Cout, n, g->syc, 1);
        ug_tensor A = conv_view2((void *)g->wf, UG_F32, g->Cout, g->K, g->K, 1);
        ug_tensor Bm = conv_view2((void *)X, UG_F32, g->K, n, sxk, sxn);
        matmul_cpu(g->ctx, &C, &A, &Bm, NULL, 1.0f, 0.0f);
        if (g->bias) add_row_bias(g->ctx, yb + p0, g->Cout, n, g->syc, g->bias);
    } else {
        // y[b]^T [n, Cout] = X^T [n, K] @ W^T [K, Cout], the weight in its packed dtype.
        ug_tensor C = conv_view2(yb + p0 * g->syp, UG_F32, n, g->Cout, g->syp, 1);
        ug_tensor A = conv_view2((void *)X, UG_F32, n, g->K, sxn, sxk);
        ug_tensor Bm = conv_view2(g->w->data, g->w->dtype, g->K, g->Cout, 1, g->K);
        ug_tensor bias = conv_view2((void *)g->bias, UG_F32, 1, g->Cout, g->Cout, 1);
        bias.ndim = 1;
        bias.shape[0] = g->Cout, bias.stride[0] = 1;
        matmul_cpu(g->ctx, &C, &A, &Bm, g->bias ? &bias : NULL, 1.0f, 0.0f);
    }
}

enum { CONV_COL_FLOATS = 2 << 20 }; // im2col tile budget: 8 MB
enum { CONV_CHUNK = 2048 };         // output pixels per GEMM (one B panel of the GEMM)

// The sizes of one convolution, shared by the three algorithms below.
typedef struct {
    int64_t B, H, W, Ho, Wo, HWo, K; // K = Cin * kh * kw
    int kh, kw, stride, pt, pl;
} conv_geom;

// 1x1 / stride 1 / no padding: x[b] [K, H * W] itself is the GEMM operand (pixel stride sxp).
static void conv_direct(const conv_gemm *g, const conv_geom *c, ug_tensor *y, const ug_tensor *x,
                        int64_t sxp) {
    for (int64_t n = 0; n < c->B; n++)
        conv_gemm_run(g, (float *)y->data + n * y->stride[0], 0, c->HWo,
                      (const float *)x->data + n * x->stride[0], x->stride[1], sxp);
}

// NCHW output: y[b] [Cout, HWo] = [W | bias] [Cout, K (+1)] @ [im2col; ones] [K (+1), HWo],
// the im2col packed by the GEMM on demand (colpack_sliver): no tile, no bias pass. In bf16 the
// bias stays out of the GEMM (it would be rounded with the weights) and is added in f32 while
// the chunk is copied out.
static void conv_nchw_colpack(ug_ctx *ctx, const conv_gemm *g, const conv_geom *c, ug_tensor *y,
                              const ug_tensor *x) {
    bool bias_col = g->bias && !gemm_uses_bf16(ctx);
    int64_t Cout = g->Cout, K = c->K, HWo = c->HWo, Ke = K + (bias_col ? 1 : 0);
    float *wext = NULL; // [Cout, K + 1]
    if (bias_col) {
        wext = conv_alloc((size_t)(Cout * Ke) * sizeof(float), "conv weights with the bias column");
        for (int64_t o = 0; o < Cout; o++) {
            memcpy(wext + o * Ke, g->wf + o * K, (size_t)K * sizeof(float));
            wext[o * Ke + K] = g->bias[o];
        }
    }
    colpack cp = {.sxc = x->stride[1],
                  .sxh = x->stride[2],
                  .sxw = x->stride[3],
                  .H = c->H,
                  .W = c->W,
                  .Wo = c->Wo,
                  .K = K,
                  .kh = c->kh,
                  .kw = c->kw,
                  .stride = c->stride,
                  .pt = c->pt,
                  .pl = c->pl};
    // Chunks of output pixels, one serial GEMM each, spread over the threads: each thread
    // packs the whole weight block once per K slab of its chunk and runs every MR row
    // sliver against each packed B sliver while it is in L1/L2, with no barrier or shared
    // panel between threads (the threaded GEMM cuts M = Cout = 256 into 6 row blocks,
    // each re-reading the shared B panel). At most CONV_CHUNK pixels (one B panel), and
    // a few chunks per thread when the image is small, so that a preempted thread on a
    // busy machine is made up for by the others.
    int nth = ctx->pool ? ctx->nthreads : 1;
    int64_t chunk = (HWo + 2 * nth - 1) / (2 * nth);
    chunk = (chunk + 63) / 64 * 64;
    if (chunk > CONV_CHUNK) chunk = CONV_CHUNK;
    if (chunk > HWo) chunk = HWo;
    // Each GEMM writes its chunk into a per-thread buffer whose row pitch is not a power
    // of two, copied into y after: y's channel stride (Ho * Wo floats, 256 KB at 256x512)
    // puts the micro-tile's rows of C in one cache set, and C is re-read once per K slab
    // (+20% at 256x512 from this alone).
    int64_t ldt = (chunk + 15) / 16 * 16 + 16;
    conv_chunks cj = {ctx,
                      cp,
                      wext ? wext : g->wf,
                      bias_col ? NULL : g->bias,
                      Ke,
                      Cout,
                      HWo,
                      chunk,
                      (HWo + chunk - 1) / chunk,
                      ldt,
                      NULL,
                      x,
                      y};
    cj.tmp = conv_alloc((size_t)(nth * Cout * ldt) * sizeof(float), "conv output chunks"); // [nth, Cout, ldt]
    ug_parallel_for(ctx->pool, c->B * cj.nchunks, 1, conv_chunk_range, &cj);
    free(cj.tmp);
    free(wext);
}

// Channels-last output: im2col tiles of output rows, one GEMM per tile.
static void conv_im2col_tiles(ug_ctx *ctx, const conv_gemm *g, const conv_geom *c, ug_tensor *y,
                              const ug_tensor *x) {
    int64_t K = c->K, Ho = c->Ho, Wo = c->Wo;
    // Rows per tile: ~8 MB of im2col, but at least ~2048 output pixels when 24 MB allow it,
    // since every GEMM call packs the whole weight again (7% of the time at 1 row of 512
    // pixels for the 256-channel 3x3).
    int64_t rows = CONV_COL_FLOATS / (K * Wo), want = (2048 + Wo - 1) / Wo;
    int64_t most = 3 * CONV_COL_FLOATS / (K * Wo);
    if (rows < want) rows = want < most ? want : most;
    if (rows < 1) rows = 1;
    if (rows > Ho) rows = Ho;
    float *col = conv_alloc((size_t)(K * rows * Wo) * sizeof(float), "the im2col tile"); // [K, rows * Wo]
    im2col_job j = {col, NULL,  x->stride[1], x->stride[2], x->stride[3], c->H,  c->W, Ho, Wo,
                    K,   c->kh, c->kw,        c->stride,    c->pt,        c->pl, 0,    0};
    for (int64_t n = 0; n < c->B; n++) {
        j.x = (const float *)x->data + n * x->stride[0];
        for (int64_t oy0 = 0; oy0 < Ho; oy0 += rows) {
            j.oy0 = oy0;
            j.rows = Ho - oy0 < rows ? Ho - oy0 : rows;
            ug_parallel_for(ctx->pool, j.rows * K, 1 + 2048 / Wo, im2col_range, &j);
            int64_t nt = j.rows * Wo;
            conv_gemm_run(g, (float *)y->data + n * y->stride[0], oy0 * Wo, nt, col, nt, 1);
        }
    }
    free(col);
}

// Picks one of the three algorithms from the layouts and the kernel.
void conv2d_cpu_ex(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                   int stride, int pad_top, int pad_left) {
    assert(x->ndim == 4 && y->ndim == 4 && w->ndim == 4);
    assert(x->dtype == UG_F32 && y->dtype == UG_F32);
    assert(w->dtype == UG_F32 || w->dtype == UG_BF16 || w->dtype == UG_F16);
    assert(ug_tensor_is_contiguous(w) && stride >= 1 && pad_top >= 0 && pad_left >= 0);
    int64_t Cin = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t Cout = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    int64_t Ho = y->shape[2], Wo = y->shape[3];
    conv_geom c = {x->shape[0],   H,       W,       Ho,     Wo,      Ho * Wo,
                   Cin * kh * kw, (int)kh, (int)kw, stride, pad_top, pad_left};
    assert(w->shape[1] == Cin && y->shape[0] == c.B && y->shape[1] == Cout);
    assert(!b || (ug_tensor_numel(b) == Cout && ug_tensor_is_contiguous(b)));
    if (c.B == 0 || Cout == 0 || c.HWo == 0) return;
    // y[b] as [Cout, Ho * Wo]: (Ho, Wo) must flatten into one pixel dim.
    assert(Ho == 1 || y->stride[2] == Wo * y->stride[3]);
    int64_t syp = Wo == 1 ? y->stride[2] : y->stride[3];
    conv_gemm g = {ctx, syp == 1, Cout, c.K, w, NULL, NULL, y->stride[1], syp};
    assert(g.nchw || y->stride[1] == 1);

    float *wtmp = NULL, *btmp = NULL;
    if (g.nchw && w->dtype != UG_F32) {
        wtmp = conv_alloc((size_t)(Cout * c.K) * sizeof(float), "widened conv weights"); // [Cout, K]
        conv_widen(wtmp, w, Cout * c.K);
    }
    g.wf = wtmp ? wtmp : w->data;
    g.bias = conv_bias_f32(b, Cout, &btmp);

    // 1x1 / stride 1 / no padding over the whole image: x[b] itself is the GEMM operand when
    // its pixels flatten and either the pixel or the channel stride is 1.
    int64_t sxp = W == 1 ? x->stride[2] : x->stride[3];
    bool direct = kh == 1 && kw == 1 && stride == 1 && pad_top == 0 && pad_left == 0 && Ho == H && Wo == W &&
                  (H == 1 || x->stride[2] == W * x->stride[3]) && (sxp == 1 || x->stride[1] == 1);
    // With NCHW input and output the chunked path wins for 1x1 too (+17% on SAM's
    // 1280 -> 256 neck conv): its packing is a plain copy, and it avoids y's power-of-two
    // pitch and the threaded GEMM's small row blocks.
    if (direct && g.nchw && sxp == 1) direct = false;
    if (direct)
        conv_direct(&g, &c, y, x, sxp);
    else if (g.nchw)
        conv_nchw_colpack(ctx, &g, &c, y, x);
    else
        conv_im2col_tiles(ctx, &g, &c, y, x);
    free(wtmp);
    free(btmp);
}

void conv2d_cpu(ug_ctx *ctx, ug_tensor *y, const ug_tensor *x, const ug_tensor *w, const ug_tensor *b,
                int stride, int pad) {
    assert(y->shape[2] == conv2d_out_size(x->shape[2], w->shape[2], stride, pad));
    assert(y->shape[3] == conv2d_out_size(x->shape[3], w->shape[3], stride, pad));
    conv2d_cpu_ex(ctx, y, x, w, b, stride, pad, pad);
}
