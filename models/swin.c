// models/swin.c — Swin Transformer backbone (see swin.h), in the order of the forward pass:
// patch embedding, the windowed block, patch merging, the stage loop; then loading (with the
// load-time tables) and the config.
//
// The token map of a stage is kept NHWC as [H, W, C] (an arena tensor per stage parity).
// A block never materialises the padded, rolled or window-partitioned map: windows are
// gathered straight from x into a chunk buffer (ops/window.h: padding = zero rows, roll =
// index arithmetic), normalised there, attended, projected and scatter-added back into x
// (residual included). Windows are processed in chunks of a few thousand tokens, in mask-kind
// order, so the big temporaries (qkv, MLP hidden) are chunk-sized whatever the image size.
#include "models/swin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/packed_config.h"
#include "ops/ops.h"
#include "ops/window.h"

// Chunk sizes: a chunk of windows holds about SWIN_CHUNK_FLOATS floats per C-wide buffer
// (16384 tokens at C = 128, 2048 at C = 1024: GEMMs stay big, qkv stays near 25 MB for
// Swin-B), and the row buffer (MLP hidden rows, merging, stage norms) holds SWIN_ROW_FLOATS
// (16 MB). With swin_config.chunk_tokens = T both become T tokens per chunk and 256 T floats.
enum { SWIN_CHUNK_FLOATS = 1 << 21, SWIN_ROW_FLOATS = 1 << 22, SWIN_ROW_FLOATS_PER_TOKEN = 256 };

// ---- work buffers ----

// Every temporary of a forward pass, allocated once from the arena of ctx->device and sized
// for the largest stage, so no block pays for allocating (and zero-filling) its buffers
// again. Flat F32 tensors, seen through work_view in the shape of the moment.
typedef struct swin_work {
    ug_tensor rows;          // [rows floats]: MLP hidden / merge / stage-norm row chunks
    ug_tensor xn;            // [mlp rows * C] normed rows of the MLP chunk
    ug_tensor buf, qkv, att; // [chunk tokens * C], [chunk tokens * 3C], [chunk tokens * C]
} swin_work;

// The first numel(shape) floats of the flat tensor buf, contiguous, as `shape`.
static ug_tensor work_view(const ug_tensor *buf, int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    ug_tensor flat = ug_view_slice(buf, 0, 0, n);
    return ug_view_reshape(&flat, ndim, shape);
}

// Windows per attention chunk and rows per MLP chunk of a stage.
static int64_t windows_per_chunk(const swin_config *c, int64_t N, int64_t C, int64_t nW) {
    int64_t tokens = c->chunk_tokens > 0 ? c->chunk_tokens : SWIN_CHUNK_FLOATS / C;
    int64_t chunk = tokens / N > 0 ? tokens / N : 1;
    return chunk < nW ? chunk : nW;
}

static int64_t chunk_rows(const swin_work *w, int64_t width, int64_t total) {
    int64_t r = w->rows.shape[0] / width;
    return r < total ? r : total;
}

static ug_status work_alloc(ug_ctx *ctx, const swin_model *m, int64_t hw[SWIN_STAGES][2], swin_work *w,
                            ug_err *err) {
    const swin_config *c = &m->cfg;
    int64_t ws = c->window, N = ws * ws;
    int64_t rows =
                c->chunk_tokens > 0 ? (int64_t)c->chunk_tokens * SWIN_ROW_FLOATS_PER_TOKEN : SWIN_ROW_FLOATS,
            need = 0, xn = 0, tok = 0;
    for (int s = 0; s < SWIN_STAGES; s++) { // one row of the MLP hidden / merge input must fit
        int64_t C = m->stages[s].dim, hidden = m->stages[s].blocks[0].fc1.w.shape[0],
                HW = hw[s][0] * hw[s][1];
        if (rows < hidden) rows = hidden;
        if (rows < 4 * C) rows = 4 * C;
        if (need < HW * hidden) need = HW * hidden; // all rows at once: no point in a bigger buffer
        if (need < HW * 4 * C) need = HW * 4 * C;
    }
    if (rows > need) rows = need;
    for (int s = 0; s < SWIN_STAGES; s++) {
        int64_t C = m->stages[s].dim, hidden = m->stages[s].blocks[0].fc1.w.shape[0];
        int64_t nW = ((hw[s][0] + ws - 1) / ws) * ((hw[s][1] + ws - 1) / ws);
        int64_t t = windows_per_chunk(c, N, C, nW) * N * C, r = rows / hidden;
        if (t > tok) tok = t;
        if (r * C > xn) xn = r * C;
    }
    ug_status st;
    if ((st = nn_f32(ctx, &w->rows, UG_DIMS(rows), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->xn, UG_DIMS(xn), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->buf, UG_DIMS(tok), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->qkv, UG_DIMS(3 * tok), err)) != UG_OK ||
        (st = nn_f32(ctx, &w->att, UG_DIMS(tok), err)) != UG_OK)
        return st;
    return UG_OK;
}

// ---- patch embedding ----

// PatchEmbed: img [1, Cin, Hi, Wi] -> x [gh, gw, C] (after the patch LayerNorm). The p x p
// stride-p conv writes x channels-last; F.pad to multiples of p (right / bottom) first when
// the image needs it.
static ug_status patch_embed(ug_ctx *ctx, const swin_model *m, const ug_tensor *img, ug_tensor *x,
                             ug_err *err) {
    const swin_config *c = &m->cfg;
    int64_t p = c->patch_size, gh = x->shape[0], gw = x->shape[1], C = x->shape[2];
    nn_mark mark = nn_get_mark(ctx);
    ug_tensor padded;
    const ug_tensor *in = img;
    if (gh * p != img->shape[2] || gw * p != img->shape[3]) {
        ug_status st = nn_f32(ctx, &padded, UG_DIMS(1, c->in_chans, gh * p, gw * p), err); // [1, Cin, Hp, Wp]
        if (st != UG_OK) return st;
        ug_pad(ctx, &padded, img, (const int64_t[]){0, 0, 0, 0}, 0.0f);
        in = &padded;
    }
    ug_tensor x4 = ug_view_reshape(x, UG_DIMS(1, gh, gw, C)), y = nn_nhwc_as_nchw(&x4);
    ug_conv2d(ctx, &y, in, &m->patch.w, nn_bias(&m->patch.b), (int)p, 0);
    nn_release(ctx, mark);
    if (c->patch_norm) {
        ug_tensor rows = ug_view_reshape(x, UG_DIMS(gh * gw, C));
        ug_layernorm(ctx, &rows, &rows, &m->patch_norm.w, &m->patch_norm.b, c->eps);
    }
    return UG_OK;
}

// ---- the windowed attention block ----

// SwinTransformerBlock on x [H, W, C], in place:
//   x = x + proj(W-MSA(pad(norm1(x)), shifted)); x = x + fc2(gelu(fc1(norm2(x)))).
static void swin_block_fwd(ug_ctx *ctx, const swin_model *m, const swin_block *blk, int64_t heads,
                           ug_tensor *x, bool shifted, const swin_work *wk) {
    const swin_config *cfg = &m->cfg;
    int64_t H = x->shape[0], W = x->shape[1], C = x->shape[2], hidden = blk->fc1.w.shape[0];
    int64_t ws = cfg->window, N = ws * ws, shift = shifted ? ws / 2 : 0;
    int64_t nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws, nW = nwy * nwx, kind_start[5];
    window_kind_starts(nwy, nwx, shift, kind_start); // unshifted: every window has kind 0
    int64_t chunk = windows_per_chunk(cfg, N, C, nW);
    float scale = (float)(1.0 / sqrt((double)(C / heads))); // head_dim ** -0.5, applied to q in float32

    // Chunks run over the kind-ordered windows, so the projections see full chunks; only the
    // attention is split where the mask kind changes inside a chunk.
    for (int64_t w0 = 0; w0 < nW; w0 += chunk) {
        int64_t nb = nW - w0 < chunk ? nW - w0 : chunk;
        ug_tensor win = work_view(&wk->buf, UG_DIMS(nb, N, C)),
                  rows = work_view(&wk->buf, UG_DIMS(nb * N, C));
        ug_tensor qkv = work_view(&wk->qkv, UG_DIMS(nb, N, 3 * C)); // per token q | k | v, heads x hd each
        ug_tensor qkv_rows = work_view(&wk->qkv, UG_DIMS(nb * N, 3 * C));
        ug_tensor att = work_view(&wk->att, UG_DIMS(nb, N, C)),
                  att_rows = work_view(&wk->att, UG_DIMS(nb * N, C));
        ug_window_gather(ctx, &win, x, ws, shift, w0);
        ug_layernorm(ctx, &rows, &rows, &blk->norm1.w, &blk->norm1.b, cfg->eps);
        ug_window_zero_pads(ctx, &win, H, W, ws, shift, w0); // F.pad follows norm1
        ug_linear(ctx, &qkv_rows, &rows, &blk->qkv.w, nn_bias(&blk->qkv.b));
        for (int kind = 0; kind < 4; kind++) {
            int64_t a = kind_start[kind] > w0 ? kind_start[kind] : w0;
            int64_t b = kind_start[kind + 1] < w0 + nb ? kind_start[kind + 1] : w0 + nb;
            if (a >= b) continue;
            // q / k / v [b - a, heads, N, hd] views into qkv; the output [b - a, heads, N, hd]
            // is written into att [nb, N, heads * hd].
            ug_tensor qkv_k = ug_view_slice(&qkv, 0, a - w0, b - a),
                      att_k = ug_view_slice(&att, 0, a - w0, b - a);
            ug_tensor q, k, v, o = nn_split_heads(&att_k, heads);
            nn_split_qkv(&qkv_k, heads, &q, &k, &v);
            ug_tensor mask = ug_view_slice(&m->shift_masks, 0, kind, 1); // [1, N, N]
            mask = ug_view_reshape(&mask, UG_DIMS(N, N));
            ug_attn_extra ex = {.bias = {&blk->rel_bias, kind ? &mask : NULL}};
            ug_attention(ctx, &o, &q, &k, &v, &ex, scale);
        }
        ug_linear(ctx, &rows, &att_rows, &blk->proj.w, nn_bias(&blk->proj.b));
        ug_window_scatter_add(ctx, x, &win, ws, shift, w0);
    }

    // MLP over row chunks, the residual folded into fc2 (beta = 1).
    int64_t HW = H * W, nrows = chunk_rows(wk, hidden, HW);
    ug_tensor xrows = ug_view_reshape(x, UG_DIMS(HW, C)),
              w2t = ug_view_transpose(&blk->fc2.w, 0, 1); // [hidden, C]
    for (int64_t r0 = 0; r0 < HW; r0 += nrows) {
        int64_t nr = HW - r0 < nrows ? HW - r0 : nrows;
        ug_tensor xr = ug_view_slice(&xrows, 0, r0, nr), xn = work_view(&wk->xn, UG_DIMS(nr, C)),
                  h = work_view(&wk->rows, UG_DIMS(nr, hidden));
        ug_layernorm(ctx, &xn, &xr, &blk->norm2.w, &blk->norm2.b, cfg->eps);
        ug_linear(ctx, &h, &xn, &blk->fc1.w, nn_bias(&blk->fc1.b));
        ug_gelu(ctx, &h, &h);
        ug_matmul(ctx, &xr, &h, &w2t, nn_bias(&blk->fc2.b), 1.0f, 1.0f);
    }
}

// ---- patch merging ----

// PatchMerging: x [H, W, C] -> y [H2 * W2, 2C] = reduction(norm(cat)), H2 = ceil(H / 2), in
// chunks of merged tokens gathered into the row buffer.
static void patch_merge(ug_ctx *ctx, const swin_config *cfg, const swin_stage *sg, ug_tensor *y,
                        const ug_tensor *x, const swin_work *wk) {
    int64_t C = sg->dim, N2 = ((x->shape[0] + 1) / 2) * ((x->shape[1] + 1) / 2),
            rows = chunk_rows(wk, 4 * C, N2);
    for (int64_t t0 = 0; t0 < N2; t0 += rows) {
        int64_t n = N2 - t0 < rows ? N2 - t0 : rows;
        ug_tensor cat = work_view(&wk->rows, UG_DIMS(n, 4 * C)), yr = ug_view_slice(y, 0, t0, n);
        ug_patch_merge_gather(ctx, &cat, x, t0);
        ug_layernorm(ctx, &cat, &cat, &sg->merge_norm.w, &sg->merge_norm.b, cfg->eps);
        ug_linear(ctx, &yr, &cat, &sg->merge.w, NULL);
    }
}

// ---- the whole backbone ----

// out [1, C, H, W] (owned, new, on ctx->device) = NCHW of norm(x) for the map x [H, W, C], in
// chunks of rows normed into the work buffer and copied transposed into their columns of out.
static ug_status norm_to_nchw(ug_ctx *ctx, ug_tensor *out, const ug_tensor *x, const nn_norm *n, float eps,
                              const swin_work *wk, ug_err *err) {
    int64_t H = x->shape[0], W = x->shape[1], C = x->shape[2], HW = H * W, rows = chunk_rows(wk, C, HW);
    ug_status st = nn_output(ctx, out, UG_F32, UG_DIMS(1, C, H, W), err);
    if (st != UG_OK) return st;
    ug_tensor all = ug_view_reshape(out, UG_DIMS(C, HW)), xrows = ug_view_reshape(x, UG_DIMS(HW, C));
    for (int64_t r0 = 0; r0 < HW; r0 += rows) {
        int64_t nr = HW - r0 < rows ? HW - r0 : rows;
        ug_tensor xr = ug_view_slice(&xrows, 0, r0, nr), normed = work_view(&wk->rows, UG_DIMS(nr, C));
        ug_layernorm(ctx, &normed, &xr, &n->w, &n->b, eps);
        ug_tensor src = ug_view_transpose(&normed, 0, 1); // [C, nr]
        ug_tensor dst = ug_view_slice(&all, 1, r0, nr);   // [C, nr] with row stride HW
        ug_copy(ctx, &dst, &src);
    }
    return UG_OK;
}

// The "patch_embed" trace: an NCHW copy [1, C, H, W] of the map x [H, W, C].
static ug_status emit_nchw(ug_ctx *ctx, const nn_trace *trace, const char *name, const ug_tensor *x,
                           ug_err *err) {
    int64_t H = x->shape[0], W = x->shape[1], C = x->shape[2];
    ug_tensor t, x4 = ug_view_reshape(x, UG_DIMS(1, H, W, C)), src = nn_nhwc_as_nchw(&x4);
    ug_status st = nn_output(ctx, &t, UG_F32, UG_DIMS(1, C, H, W), err);
    if (st != UG_OK) return st;
    ug_copy(ctx, &t, &src);
    nn_emit(trace, name, &t);
    ug_tensor_free(&t);
    return UG_OK;
}

// The two stage maps: stage s lives in maps[s % 2] (flat). Maps usually shrink stage by stage,
// but not on tiny grids (1 x 1 stays 1 x 1 while C doubles), so each is sized for the largest
// map of its parity.
static ug_status alloc_stage_maps(ug_ctx *ctx, const swin_model *m, int64_t hw[SWIN_STAGES][2],
                                  ug_tensor maps[2], ug_err *err) {
    for (int i = 0; i < 2; i++) {
        int64_t n = 0;
        for (int s = i; s < SWIN_STAGES; s += 2)
            if (hw[s][0] * hw[s][1] * m->stages[s].dim > n) n = hw[s][0] * hw[s][1] * m->stages[s].dim;
        ug_status st = nn_f32(ctx, &maps[i], UG_DIMS(n), err);
        if (st != UG_OK) return st;
    }
    return UG_OK;
}

ug_status swin_forward(ug_ctx *ctx, const swin_model *m, const ug_tensor *img, ug_tensor res[SWIN_STAGES],
                       const nn_trace *trace, ug_err *err) {
    const swin_config *c = &m->cfg;
    memset(res, 0, SWIN_STAGES * sizeof *res);
    char dims[32];
    snprintf(dims, sizeof dims, "[1,%d,H,W]", c->in_chans);
    ug_status st;
    if ((st = nn_check_input(img, UG_F32, 4, (const int64_t[]){1, c->in_chans, -1, -1}, true, "swin", dims,
                             err)) != UG_OK ||
        (st = nn_check_device(ctx, img, "swin", err)) != UG_OK)
        return st;
    int64_t hw[SWIN_STAGES][2];
    swin_output_sizes(c, img->shape[2], img->shape[3], hw);
    nn_mark mark = nn_get_mark(ctx);
    char name[64];
    ug_tensor maps[2];
    swin_work wk;
    if ((st = alloc_stage_maps(ctx, m, hw, maps, err)) != UG_OK ||
        (st = work_alloc(ctx, m, hw, &wk, err)) != UG_OK)
        goto done;

    ug_tensor x = work_view(&maps[0], UG_DIMS(hw[0][0], hw[0][1], c->embed_dim)); // [H, W, C]
    if ((st = patch_embed(ctx, m, img, &x, err)) != UG_OK) goto done;
    if (nn_tracing(trace) && (st = emit_nchw(ctx, trace, "patch_embed", &x, err)) != UG_OK) goto done;

    for (int s = 0; s < SWIN_STAGES; s++) {
        const swin_stage *sg = &m->stages[s];
        int64_t H = hw[s][0], W = hw[s][1], C = sg->dim;
        x = work_view(&maps[s % 2], UG_DIMS(H, W, C));
        for (int b = 0; b < sg->depth; b++) {
            swin_block_fwd(ctx, m, &sg->blocks[b], sg->heads, &x, b % 2 == 1, &wk);
            if (nn_tracing(trace)) {
                ug_tensor t = ug_view_reshape(&x, UG_DIMS(1, H, W, C));
                snprintf(name, sizeof name, "stage%d_block%d", s, b);
                nn_emit(trace, name, &t);
            }
        }
        // res{s+2} = norm{s}(x), NCHW.
        if ((st = norm_to_nchw(ctx, &res[s], &x, &sg->out_norm, c->eps, &wk, err)) != UG_OK) goto done;
        if (s + 1 < SWIN_STAGES) {
            ug_tensor next = work_view(&maps[(s + 1) % 2], UG_DIMS(hw[s + 1][0] * hw[s + 1][1], 2 * C));
            patch_merge(ctx, c, sg, &next, &x, &wk);
        }
    }
    st = UG_OK;
done:
    nn_release(ctx, mark);
    if (st != UG_OK)
        for (int s = 0; s < SWIN_STAGES; s++)
            ug_tensor_free(&res[s]);
    return st;
}

// ---- loading ----

// relative_position_bias_table[relative_position_index] as bias [heads, N, N] (new, host):
// query i = (yi, xi), key j = (yj, xj) in the window, index (yi - yj + ws - 1) * (2 ws - 1) +
// (xi - xj + ws - 1) into the table [(2 ws - 1)^2, heads]. Weights only: done once at load.
static ug_status gather_rel_bias(ug_tensor *bias, const ug_tensor *table, int64_t heads, int64_t ws,
                                 ug_err *err) {
    int64_t N = ws * ws, side = 2 * ws - 1;
    ug_status st = ug_tensor_new(bias, UG_F32, UG_DIMS(heads, N, N), err);
    if (st != UG_OK) return st;
    float *out = bias->data;
    const float *tb = table->data;
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) {
            int64_t idx = (i / ws - j / ws + ws - 1) * side + (i % ws - j % ws + ws - 1);
            for (int64_t h = 0; h < heads; h++)
                out[(h * N + i) * N + j] = tb[idx * heads + h];
        }
    return UG_OK;
}

// The shift mask of BasicLayer for the 4 kinds of windows (ops/window.h: bit 0 = last window
// row, bit 1 = last window column) as mask [4, N, N] (new, host). Along an axis, a window in
// the last row / column holds two regions of the padded map ([Hp - ws, Hp - shift) and
// [Hp - shift, Hp)); every other window lies inside [0, Hp - ws). mask[kind, i, j] = -100
// when tokens i and j have different region labels, else 0. Config only: done once at load.
static ug_status build_shift_masks(ug_tensor *mask, int64_t ws, int64_t shift, ug_err *err) {
    int64_t N = ws * ws;
    ug_status st = ug_tensor_new(mask, UG_F32, UG_DIMS(4, N, N), err);
    if (st != UG_OK) return st;
    for (int kind = 0; kind < 4; kind++) {
        float *mk = (float *)mask->data + (int64_t)kind * N * N;
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < N; j++) {
                int64_t li = 0, lj = 0;
                if (kind & 1) {
                    li += 3 * (i / ws < ws - shift ? 1 : 2);
                    lj += 3 * (j / ws < ws - shift ? 1 : 2);
                }
                if (kind & 2) {
                    li += i % ws < ws - shift ? 1 : 2;
                    lj += j % ws < ws - shift ? 1 : 2;
                }
                mk[i * N + j] = li != lj ? -100.0f : 0.0f;
            }
    }
    return UG_OK;
}

// Block b of stage s: its parameters, and its relative position bias gathered from the table.
static void load_block(nn_loader *l, swin_block *blk, const swin_config *cfg, int s, int b, int64_t C,
                       int64_t heads) {
    int64_t hidden = (int64_t)(C * cfg->mlp_ratio), ws = cfg->window, T = (2 * ws - 1) * (2 * ws - 1);
    ug_tensor table; // F32 [(2 ws - 1)^2, heads]
    nn_get_norm(l, &blk->norm1, C, "layers.%d.blocks.%d.norm1", s, b);
    nn_get_norm(l, &blk->norm2, C, "layers.%d.blocks.%d.norm2", s, b);
    nn_get_linear(l, &blk->qkv, 3 * C, C, cfg->qkv_bias, "layers.%d.blocks.%d.attn.qkv", s, b);
    nn_get_linear(l, &blk->proj, C, C, true, "layers.%d.blocks.%d.attn.proj", s, b);
    nn_get_linear(l, &blk->fc1, hidden, C, true, "layers.%d.blocks.%d.mlp.fc1", s, b);
    nn_get_linear(l, &blk->fc2, C, hidden, true, "layers.%d.blocks.%d.mlp.fc2", s, b);
    nn_read_f32(l, &table, UG_DIMS(T, heads), "layers.%d.blocks.%d.attn.relative_position_bias_table", s, b);
    if (l->st == UG_OK) l->st = gather_rel_bias(&blk->rel_bias, &table, heads, ws, l->err);
    nn_adopt(l, &blk->rel_bias);
}

ug_status swin_load(swin_model *m, const swin_config *cfg, ug_weights *w, const char *prefix, ug_err *err) {
    memset(m, 0, sizeof *m);
    ug_status st = swin_config_check(cfg, err);
    if (st != UG_OK) return st;
    m->cfg = *cfg;
    nn_loader l;
    nn_loader_init(&l, w, prefix, err);
    int64_t C0 = cfg->embed_dim;
    nn_get_conv(&l, &m->patch, C0, cfg->in_chans, cfg->patch_size, true, "patch_embed.proj");
    if (cfg->patch_norm) nn_get_norm(&l, &m->patch_norm, C0, "patch_embed.norm");
    for (int s = 0; s < SWIN_STAGES && l.st == UG_OK; s++) {
        swin_stage *sg = &m->stages[s];
        int64_t C = C0 << s;
        sg->dim = (int)C;
        sg->heads = cfg->num_heads[s];
        sg->depth = cfg->depths[s];
        if (!(sg->blocks = calloc((size_t)sg->depth, sizeof *sg->blocks))) {
            l.st = ug_errf(err, UG_ERR_NOMEM, "swin: out of memory for %d blocks", sg->depth);
            break;
        }
        for (int b = 0; b < sg->depth && l.st == UG_OK; b++)
            load_block(&l, &sg->blocks[b], cfg, s, b, C, sg->heads);
        nn_get_norm(&l, &sg->out_norm, C, "norm%d", s);
        if (s + 1 < SWIN_STAGES) {
            nn_get_norm(&l, &sg->merge_norm, 4 * C, "layers.%d.downsample.norm", s);
            nn_get_linear(&l, &sg->merge, 2 * C, 4 * C, false, "layers.%d.downsample.reduction", s);
        }
    }
    if (l.st == UG_OK) l.st = build_shift_masks(&m->shift_masks, cfg->window, cfg->window / 2, err);
    nn_adopt(&l, &m->shift_masks);
    if (l.st != UG_OK) swin_free(m);
    return l.st;
}

void swin_free(swin_model *m) {
    if (!m) return;
    for (int s = 0; s < SWIN_STAGES; s++) {
        for (int b = 0; m->stages[s].blocks && b < m->stages[s].depth; b++)
            ug_tensor_free(&m->stages[s].blocks[b].rel_bias);
        free(m->stages[s].blocks);
    }
    ug_tensor_free(&m->shift_masks);
    memset(m, 0, sizeof *m);
}
// ---- config ----

ug_status swin_config_check(const swin_config *c, ug_err *err) {
    if (c->in_chans < 1 || c->patch_size < 1 || c->embed_dim < 1 || c->window < 1 || c->patch_size > 64 ||
        c->window > 64 || c->in_chans > 64 || c->embed_dim > (1 << 16))
        return ug_errf(err, UG_ERR_ARG,
                       "swin config: in_chans %d, patch_size %d, embed_dim %d, window %d out of range",
                       c->in_chans, c->patch_size, c->embed_dim, c->window);
    if (c->chunk_tokens < 0)
        return ug_errf(err, UG_ERR_ARG, "swin config: chunk_tokens %d < 0", c->chunk_tokens);
    if (!(c->mlp_ratio > 0 && c->mlp_ratio <= 64) || !(c->eps > 0 && c->eps < 1))
        return ug_errf(err, UG_ERR_ARG, "swin config: mlp_ratio %g or eps %g out of range", c->mlp_ratio,
                       (double)c->eps);
    for (int s = 0; s < SWIN_STAGES; s++) {
        int64_t dim = (int64_t)c->embed_dim << s;
        if (c->depths[s] < 1 || c->depths[s] > SWIN_MAX_DEPTH || c->num_heads[s] < 1 || dim % c->num_heads[s])
            return ug_errf(err, UG_ERR_ARG, "swin config: stage %d has depth %d and %d heads for width %lld",
                           s, c->depths[s], c->num_heads[s], (long long)dim);
        if ((int64_t)(dim * c->mlp_ratio) < 1)
            return ug_errf(err, UG_ERR_ARG, "swin config: stage %d MLP hidden size is 0", s);
    }
    return UG_OK;
}

// The swin_* keys through the shared RbA table (models/packed_config.c: defaults, ranges).
ug_status swin_config_from_json(swin_config *c, const ug_json *root, ug_err *err) {
    _Static_assert((int)RBA_CFG_STAGES == (int)SWIN_STAGES,
                   "one swin_depths / swin_num_heads entry per stage");
    rba_packed_config p;
    ug_status st = ug_cfg_read(&rba_config_schema, &p, root, "swin_", err);
    if (st != UG_OK) return st;
    if (p.swin.ape)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "swin config: absolute position embedding (swin_ape) is not supported");
    memset(c, 0, sizeof *c);
    c->in_chans = 3;
    c->embed_dim = p.swin.embed_dim;
    c->window = p.swin.window_size;
    c->patch_size = p.swin.patch_size;
    memcpy(c->depths, p.swin.depths, sizeof c->depths);
    memcpy(c->num_heads, p.swin.num_heads, sizeof c->num_heads);
    c->mlp_ratio = p.swin.mlp_ratio;
    c->eps = (float)p.swin.layernorm_eps;
    c->patch_norm = p.swin.patch_norm;
    c->qkv_bias = p.swin.qkv_bias;
    return swin_config_check(c, err);
}

void swin_output_sizes(const swin_config *cfg, int64_t hi, int64_t wi, int64_t hw[SWIN_STAGES][2]) {
    int64_t h = (hi + cfg->patch_size - 1) / cfg->patch_size,
            w = (wi + cfg->patch_size - 1) / cfg->patch_size;
    for (int s = 0; s < SWIN_STAGES; s++) {
        hw[s][0] = h;
        hw[s][1] = w;
        h = (h + 1) / 2; // PatchMerging pads an odd size by one
        w = (w + 1) / 2;
    }
}
