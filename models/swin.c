// models/swin.c — Swin Transformer backbone (see swin.h), in the order of the forward pass:
// config, weights, patch embedding, the windowed block, patch merging, the stage loop.
//
// The token map of a stage is kept NHWC as rows x [H * W, C] (an owned tensor per stage).
// A block never materialises the padded, rolled or window-partitioned map: windows are
// gathered straight from x into a chunk buffer (padding = zero rows, roll = index arithmetic),
// normalised there, attended, projected and scatter-added back into x (residual included).
// Windows are processed in chunks of a few thousand tokens, grouped by their shift-mask
// pattern, so the big temporaries (qkv, MLP hidden) are chunk-sized whatever the image size.
#include "models/swin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pool.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/gemm.h"
#include "ops/layernorm.h"
#include "ops/movement.h"
#include "ops/ops.h"

// Chunk sizes: a chunk of windows holds about SWIN_CHUNK_FLOATS floats per C-wide buffer
// (16384 tokens at C = 128, 2048 at C = 1024: GEMMs stay big, qkv stays near 25 MB for
// Swin-B), and the row buffer (MLP hidden rows, im2col, merging, stage norms) holds
// SWIN_ROW_FLOATS (16 MB). With swin_config.chunk_tokens = T both become T tokens per
// chunk and 256 T floats.
enum { SWIN_CHUNK_FLOATS = 1 << 21, SWIN_ROW_FLOATS = 1 << 22, SWIN_ROW_FLOATS_PER_TOKEN = 256 };

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

static ug_status get_int_array4(const ug_json *root, const char *key, int out[SWIN_STAGES], ug_err *err) {
    const ug_json *a;
    ug_status st = ug_json_get_typed(root, key, UG_JSON_ARRAY, &a, err);
    if (st != UG_OK) return st;
    if (a->len != SWIN_STAGES)
        return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": expected %d stages, got %zu", key, SWIN_STAGES,
                       a->len);
    for (int s = 0; s < SWIN_STAGES; s++) {
        int64_t v;
        char what[64];
        snprintf(what, sizeof what, "%s[%d]", key, s);
        if ((st = ug_json_as_int(ug_json_at(a, (size_t)s), what, &v, err)) != UG_OK) return st;
        if (v < 0 || v > (1 << 20))
            return ug_errf(err, UG_ERR_FORMAT, "key \"%s\" = %lld out of range", what, (long long)v);
        out[s] = (int)v;
    }
    return UG_OK;
}

static ug_status get_int(const ug_json *root, const char *key, int *out, ug_err *err) {
    int64_t v;
    ug_status st = ug_json_get_int(root, key, &v, err);
    if (st != UG_OK) return st;
    if (v < 0 || v > (1 << 20))
        return ug_errf(err, UG_ERR_FORMAT, "key \"%s\" = %lld out of range", key, (long long)v);
    *out = (int)v;
    return UG_OK;
}

ug_status swin_config_from_json(swin_config *c, const ug_json *root, ug_err *err) {
    memset(c, 0, sizeof *c);
    c->in_chans = 3;
    c->mlp_ratio = 4.0;
    c->eps = 1e-5f;
    c->patch_norm = true;
    c->qkv_bias = true;
    ug_status st;
    if ((st = get_int(root, "swin_embed_dim", &c->embed_dim, err)) != UG_OK ||
        (st = get_int(root, "swin_window_size", &c->window, err)) != UG_OK ||
        (st = get_int(root, "swin_patch_size", &c->patch_size, err)) != UG_OK ||
        (st = get_int_array4(root, "swin_depths", c->depths, err)) != UG_OK ||
        (st = get_int_array4(root, "swin_num_heads", c->num_heads, err)) != UG_OK)
        return st;
    double eps = c->eps;
    bool ape = false;
    if ((ug_json_get(root, "swin_mlp_ratio") &&
         (st = ug_json_get_number(root, "swin_mlp_ratio", &c->mlp_ratio, err))) ||
        (ug_json_get(root, "swin_layernorm_eps") &&
         (st = ug_json_get_number(root, "swin_layernorm_eps", &eps, err))) ||
        (ug_json_get(root, "swin_patch_norm") &&
         (st = ug_json_get_bool(root, "swin_patch_norm", &c->patch_norm, err))) ||
        (ug_json_get(root, "swin_qkv_bias") &&
         (st = ug_json_get_bool(root, "swin_qkv_bias", &c->qkv_bias, err))) ||
        (ug_json_get(root, "swin_ape") && (st = ug_json_get_bool(root, "swin_ape", &ape, err))))
        return st;
    c->eps = (float)eps;
    if (ape)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "swin config: absolute position embedding (swin_ape) is not supported");
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

// ---- weights ----

typedef struct loader {
    ug_weights *w;
    const char *prefix;
    char key[512];
} loader;

static const char *key_of(loader *l, const char *fmt, int a, int b) {
    char tail[256];
    snprintf(tail, sizeof tail, fmt, a, b);
    snprintf(l->key, sizeof l->key, "%s%s", l->prefix, tail);
    return l->key;
}

static ug_status get_norm(loader *l, swin_norm *n, int64_t C, const char *fmt, int a, int b, ug_err *err) {
    char base[256];
    snprintf(base, sizeof base, fmt, a, b);
    ug_status st;
    snprintf(l->key, sizeof l->key, "%s%s.weight", l->prefix, base);
    if ((st = ug_weights_get_f32(l->w, &n->w, l->key, UG_DIMS(C), err)) != UG_OK) return st;
    snprintf(l->key, sizeof l->key, "%s%s.bias", l->prefix, base);
    return ug_weights_get_f32(l->w, &n->b, l->key, UG_DIMS(C), err);
}

static ug_status get_linear(loader *l, swin_linear *lin, int64_t out, int64_t in, bool bias, const char *fmt,
                            int a, int b, ug_err *err) {
    char base[256];
    snprintf(base, sizeof base, fmt, a, b);
    ug_status st;
    snprintf(l->key, sizeof l->key, "%s%s.weight", l->prefix, base);
    if ((st = ug_weights_get(l->w, &lin->w, l->key, UG_DIMS(out, in), err)) != UG_OK) return st;
    memset(&lin->b, 0, sizeof lin->b);
    if (!bias) return UG_OK;
    snprintf(l->key, sizeof l->key, "%s%s.bias", l->prefix, base);
    return ug_weights_get_f32(l->w, &lin->b, l->key, UG_DIMS(out), err);
}

ug_status swin_load(swin_model *m, const swin_config *cfg, ug_weights *w, const char *prefix, ug_err *err) {
    memset(m, 0, sizeof *m);
    ug_status st = swin_config_check(cfg, err);
    if (st != UG_OK) return st;
    m->cfg = *cfg;
    loader l = {.w = w, .prefix = prefix ? prefix : ""};
    int64_t C0 = cfg->embed_dim, p = cfg->patch_size, ws = cfg->window, T = (2 * ws - 1) * (2 * ws - 1);

    ug_tensor pw; // conv weight [C, in, p, p], used as [C, in * p * p]
    if ((st = ug_weights_get(w, &pw, key_of(&l, "patch_embed.proj.weight", 0, 0),
                             UG_DIMS(C0, cfg->in_chans, p, p), err)) != UG_OK)
        goto fail;
    m->patch_w = ug_view_reshape(&pw, UG_DIMS(C0, cfg->in_chans * p * p));
    if ((st = ug_weights_get_f32(w, &m->patch_b, key_of(&l, "patch_embed.proj.bias", 0, 0), UG_DIMS(C0),
                                 err)) != UG_OK)
        goto fail;
    if (cfg->patch_norm && (st = get_norm(&l, &m->patch_norm, C0, "patch_embed.norm", 0, 0, err)) != UG_OK)
        goto fail;

    for (int s = 0; s < SWIN_STAGES; s++) {
        swin_stage *sg = &m->stages[s];
        int64_t C = C0 << s, hidden = (int64_t)(C * cfg->mlp_ratio);
        sg->dim = (int)C;
        sg->heads = cfg->num_heads[s];
        sg->depth = cfg->depths[s];
        sg->blocks = calloc((size_t)sg->depth, sizeof *sg->blocks);
        if (!sg->blocks) {
            st = ug_errf(err, UG_ERR_NOMEM, "swin: out of memory for %d blocks", sg->depth);
            goto fail;
        }
        for (int b = 0; b < sg->depth; b++) {
            swin_block *blk = &sg->blocks[b];
            if ((st = get_norm(&l, &blk->norm1, C, "layers.%d.blocks.%d.norm1", s, b, err)) != UG_OK ||
                (st = get_norm(&l, &blk->norm2, C, "layers.%d.blocks.%d.norm2", s, b, err)) != UG_OK ||
                (st = get_linear(&l, &blk->qkv, 3 * C, C, cfg->qkv_bias, "layers.%d.blocks.%d.attn.qkv", s, b,
                                 err)) != UG_OK ||
                (st = get_linear(&l, &blk->proj, C, C, true, "layers.%d.blocks.%d.attn.proj", s, b, err)) !=
                    UG_OK ||
                (st = get_linear(&l, &blk->fc1, hidden, C, true, "layers.%d.blocks.%d.mlp.fc1", s, b, err)) !=
                    UG_OK ||
                (st = get_linear(&l, &blk->fc2, C, hidden, true, "layers.%d.blocks.%d.mlp.fc2", s, b, err)) !=
                    UG_OK ||
                (st = ug_weights_get_f32(
                     w, &blk->rpb_table,
                     key_of(&l, "layers.%d.blocks.%d.attn.relative_position_bias_table", s, b),
                     UG_DIMS(T, sg->heads), err)) != UG_OK)
                goto fail;
        }
        if ((st = get_norm(&l, &sg->out_norm, C, "norm%d", s, 0, err)) != UG_OK) goto fail;
        if (s + 1 < SWIN_STAGES) {
            if ((st = get_norm(&l, &sg->merge_norm, 4 * C, "layers.%d.downsample.norm", s, 0, err)) !=
                    UG_OK ||
                (st = ug_weights_get(w, &sg->merge_w,
                                     key_of(&l, "layers.%d.downsample.reduction.weight", s, 0),
                                     UG_DIMS(2 * C, 4 * C), err)) != UG_OK)
                goto fail;
        }
    }
    return UG_OK;
fail:
    swin_free(m);
    return st;
}

void swin_free(swin_model *m) {
    if (!m) return;
    for (int s = 0; s < SWIN_STAGES; s++)
        free(m->stages[s].blocks);
    memset(m, 0, sizeof *m);
}

// ---- small helpers over the ops ----

static void trace_emit(const swin_trace *tr, const char *name, const ug_tensor *t) {
    if (tr && tr->fn) tr->fn(tr->user, name, t);
}

// y [rows, C] = LayerNorm(x [rows, C]); y may be x.
static void norm_rows(ug_ctx *ctx, float *y, const float *x, int64_t rows, int64_t C, const swin_norm *n,
                      float eps) {
    ug_tensor yt = ug_tensor_wrap(y, UG_F32, UG_DIMS(rows, C)),
              xt = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(rows, C));
    ug_layernorm(ctx, &yt, &xt, &n->w, &n->b, eps);
}

// y [rows, out] = x [rows, in] @ W^T + b.
static void linear_rows(ug_ctx *ctx, float *y, const float *x, int64_t rows, const swin_linear *l) {
    int64_t out = l->w.shape[0], in = l->w.shape[1];
    ug_tensor yt = ug_tensor_wrap(y, UG_F32, UG_DIMS(rows, out)),
              xt = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(rows, in));
    ug_linear(ctx, &yt, &xt, &l->w, l->b.data ? &l->b : NULL);
}

// y [rows, out] += x [rows, in] @ W^T + b: the residual add folded into the GEMM (beta = 1).
static void linear_rows_acc(ug_ctx *ctx, float *y, const float *x, int64_t rows, const swin_linear *l) {
    int64_t out = l->w.shape[0], in = l->w.shape[1];
    ug_tensor yt = ug_tensor_wrap(y, UG_F32, UG_DIMS(rows, out)),
              xt = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(rows, in));
    ug_tensor wt = ug_view_transpose(&l->w, 0, 1); // [in, out]
    ug_matmul(ctx, &yt, &xt, &wt, l->b.data ? &l->b : NULL, 1.0f, 1.0f);
}

// ---- work buffers ----

// Every temporary of a forward pass, allocated once from the arena and sized for the largest
// stage, so no block pays for allocating (and zero-filling) its buffers again.
typedef struct swin_work {
    float *rows; // [rows_floats]: MLP hidden / im2col / merge / stage-norm row chunks
    int64_t rows_floats;
    float *xn;              // [mlp rows, C] normed rows of the MLP chunk
    float *buf, *qkv, *att; // [chunk tokens, C], [chunk tokens, 3C], [chunk tokens, C]
    float *rel;             // [heads, N, N] relative position bias of the block
    int64_t *wins;          // [nW] window indices ordered by mask kind
    float *masks;           // [4, N, N] shift masks (build_shift_masks)
} swin_work;

// Windows per attention chunk and rows per MLP chunk of a stage.
static int64_t windows_per_chunk(const swin_config *c, int64_t N, int64_t C, int64_t nW) {
    int64_t tokens = c->chunk_tokens > 0 ? c->chunk_tokens : SWIN_CHUNK_FLOATS / C;
    int64_t chunk = tokens / N > 0 ? tokens / N : 1;
    return chunk < nW ? chunk : nW;
}

static int64_t chunk_rows(const swin_work *w, int64_t width, int64_t total) {
    int64_t r = w->rows_floats / width;
    return r < total ? r : total;
}

static ug_status work_alloc(ug_ctx *ctx, const swin_model *m, int64_t hw[SWIN_STAGES][2], swin_work *w,
                            ug_err *err) {
    const swin_config *c = &m->cfg;
    int64_t ws = c->window, N = ws * ws, K = (int64_t)c->in_chans * c->patch_size * c->patch_size;
    int64_t rows =
                c->chunk_tokens > 0 ? (int64_t)c->chunk_tokens * SWIN_ROW_FLOATS_PER_TOKEN : SWIN_ROW_FLOATS,
            xn = 0, tok = 0, rel = 0, nWmax = 0;
    if (rows < K) rows = K;
    int64_t need = hw[0][0] * hw[0][1] * K; // all rows at once: no point in a bigger buffer
    for (int s = 0; s < SWIN_STAGES; s++) { // one row of the MLP hidden / merge input must fit
        int64_t C = m->stages[s].dim, hidden = m->stages[s].blocks[0].fc1.w.shape[0],
                HW = hw[s][0] * hw[s][1];
        if (rows < hidden) rows = hidden;
        if (rows < 4 * C) rows = 4 * C;
        if (need < HW * hidden) need = HW * hidden;
        if (need < HW * 4 * C) need = HW * 4 * C;
    }
    if (rows > need) rows = need;
    for (int s = 0; s < SWIN_STAGES; s++) {
        int64_t C = m->stages[s].dim, hidden = m->stages[s].blocks[0].fc1.w.shape[0];
        int64_t nW = ((hw[s][0] + ws - 1) / ws) * ((hw[s][1] + ws - 1) / ws);
        int64_t t = windows_per_chunk(c, N, C, nW) * N * C, r = rows / hidden;
        if (t > tok) tok = t;
        if (r * C > xn) xn = r * C;
        if (m->stages[s].heads * N * N > rel) rel = m->stages[s].heads * N * N;
        if (nW > nWmax) nWmax = nW;
    }
    w->rows_floats = rows;
    const int64_t sizes[] = {rows, xn, tok, 3 * tok, tok, rel, 4 * N * N};
    float **ptrs[] = {&w->rows, &w->xn, &w->buf, &w->qkv, &w->att, &w->rel, &w->masks};
    for (int i = 0; i < 7; i++) {
        *ptrs[i] = ug_arena_alloc(&ctx->arena, (size_t)sizes[i] * sizeof(float));
        if (!*ptrs[i])
            return ug_errf(err, UG_ERR_NOMEM, "swin: out of memory for a %lld-float work buffer",
                           (long long)sizes[i]);
    }
    w->wins = ug_arena_alloc(&ctx->arena, (size_t)nWmax * sizeof *w->wins);
    if (!w->wins) return ug_errf(err, UG_ERR_NOMEM, "swin: out of memory for %lld windows", (long long)nWmax);
    return UG_OK;
}

// ---- patch embedding ----

// im2col of the zero-padded image for tokens [t0, t0 + n) of the gh x gw grid:
// col[t - t0, (c, ky, kx)] (the conv weight order).
typedef struct patch_job {
    float *col;
    const float *img;
    int64_t Cin, Hi, Wi, p, gw, t0;
} patch_job;

static void patch_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const patch_job *j = arg;
    int64_t p = j->p, K = j->Cin * p * p;
    for (int64_t i = begin; i < end; i++) {
        int64_t py = (j->t0 + i) / j->gw, px = (j->t0 + i) % j->gw;
        float *row = j->col + i * K;
        for (int64_t c = 0; c < j->Cin; c++)
            for (int64_t ky = 0; ky < p; ky++) {
                float *dst = row + (c * p + ky) * p;
                int64_t y = py * p + ky, x0 = px * p;
                int64_t n = y < j->Hi ? (j->Wi - x0 < p ? j->Wi - x0 : p) : 0; // valid pixels
                if (n > 0) memcpy(dst, j->img + (c * j->Hi + y) * j->Wi + x0, (size_t)n * sizeof(float));
                for (int64_t kx = n > 0 ? n : 0; kx < p; kx++)
                    dst[kx] = 0.0f; // F.pad right/bottom
            }
    }
}

// PatchEmbed: img [1, Cin, Hi, Wi] -> x [gh * gw, C] NHWC rows (after the patch LayerNorm), in
// chunks of tokens through the work buffer.
static void patch_embed(ug_ctx *ctx, const swin_model *m, const ug_tensor *img, float *x, int64_t gh,
                        int64_t gw, const swin_work *w) {
    const swin_config *c = &m->cfg;
    int64_t p = c->patch_size, K = c->in_chans * p * p, C = c->embed_dim, N = gh * gw;
    int64_t rows = chunk_rows(w, K, N);
    swin_linear pe = {m->patch_w, m->patch_b};
    for (int64_t t0 = 0; t0 < N; t0 += rows) {
        int64_t n = N - t0 < rows ? N - t0 : rows;
        patch_job j = {w->rows, img->data, c->in_chans, img->shape[2], img->shape[3], p, gw, t0};
        ug_parallel_for(ctx->pool, n, 256, patch_range, &j);
        linear_rows(ctx, x + t0 * C, w->rows, n, &pe);
    }
    if (c->patch_norm) norm_rows(ctx, x, x, N, C, &m->patch_norm, c->eps);
}

// ---- the windowed attention block ----

// Geometry of one block's windows. A token at (ty, tx) of window (wy, wx) sits at (r, c) =
// (wy * ws + ty, wx * ws + tx) of the padded, rolled map, i.e. at ((r + shift) mod Hp,
// (c + shift) mod Wp) of the padded map (torch.roll by -shift), which is a real token when
// inside H x W and a zero pad otherwise.
typedef struct win_geom {
    int64_t H, W, C, ws, shift, Hp, Wp, nwy, nwx;
} win_geom;

// Source row of x for token t of window `win`, or -1 for a pad.
static inline int64_t win_src(const win_geom *g, int64_t win, int64_t t) {
    int64_t wy = win / g->nwx, wx = win % g->nwx, ty = t / g->ws, tx = t % g->ws;
    int64_t r = (wy * g->ws + ty + g->shift) % g->Hp, c = (wx * g->ws + tx + g->shift) % g->Wp;
    return r < g->H && c < g->W ? r * g->W + c : -1;
}

typedef struct win_job {
    const win_geom *g;
    const int64_t *wins; // window indices of this chunk
    float *x;            // [H * W, C] the stage map
    float *buf;          // [nb, N, C] chunk rows
} win_job;

// buf[i, t] = x[src] (zeros for pads).
static void gather_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const win_job *j = arg;
    int64_t C = j->g->C, N = j->g->ws * j->g->ws;
    for (int64_t i = begin; i < end; i++)
        for (int64_t t = 0; t < N; t++) {
            int64_t src = win_src(j->g, j->wins[i], t);
            float *dst = j->buf + (i * N + t) * C;
            if (src >= 0)
                memcpy(dst, j->x + src * C, (size_t)C * sizeof(float));
            else
                memset(dst, 0, (size_t)C * sizeof(float));
        }
}

// The pads must be zeros AFTER norm1 (F.pad follows the norm): LayerNorm turned them into the
// norm's bias, so zero them again.
static void zero_pads_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const win_job *j = arg;
    int64_t C = j->g->C, N = j->g->ws * j->g->ws;
    for (int64_t i = begin; i < end; i++)
        for (int64_t t = 0; t < N; t++)
            if (win_src(j->g, j->wins[i], t) < 0)
                memset(j->buf + (i * N + t) * C, 0, (size_t)C * sizeof(float));
}

// x[src] += buf[i, t] for real tokens: window_reverse, roll back, crop and the residual at once.
static void scatter_add_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const win_job *j = arg;
    int64_t C = j->g->C, N = j->g->ws * j->g->ws;
    for (int64_t i = begin; i < end; i++)
        for (int64_t t = 0; t < N; t++) {
            int64_t src = win_src(j->g, j->wins[i], t);
            if (src < 0) continue;
            float *dst = j->x + src * C;
            const float *y = j->buf + (i * N + t) * C;
            for (int64_t c = 0; c < C; c++)
                dst[c] += y[c];
        }
}

// relative_position_bias_table[relative_position_index] as [heads, N, N]: query i = (yi, xi),
// key j = (yj, xj) in the window, index (yi - yj + ws - 1) * (2 ws - 1) + (xi - xj + ws - 1).
static void gather_rel_bias(float *bias, const ug_tensor *table, int64_t heads, int64_t ws) {
    int64_t N = ws * ws, side = 2 * ws - 1;
    const float *tb = table->data; // [side * side, heads]
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) {
            int64_t idx = (i / ws - j / ws + ws - 1) * side + (i % ws - j % ws + ws - 1);
            for (int64_t h = 0; h < heads; h++)
                bias[(h * N + i) * N + j] = tb[idx * heads + h];
        }
}

// The shift mask of BasicLayer for the 4 kinds of windows: kind bit 0 = last window row, bit 1
// = last window column. Along an axis, a window in the last row/column holds two regions of the
// padded map ([Hp - ws, Hp - shift) and [Hp - shift, Hp)); every other window lies inside
// [0, Hp - ws). mask[kind, i, j] = -100 when tokens i and j have different region labels, else 0.
static void build_shift_masks(float *mask, int64_t ws, int64_t shift) {
    int64_t N = ws * ws;
    for (int kind = 0; kind < 4; kind++) {
        float *mk = mask + (int64_t)kind * N * N;
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
}

// SwinTransformerBlock on x [H * W, C], in place:
//   x = x + proj(W-MSA(pad(norm1(x)), shifted)); x = x + fc2(gelu(fc1(norm2(x)))).
static void swin_block_fwd(ug_ctx *ctx, const swin_config *cfg, const swin_block *blk, int64_t heads,
                           float *x, int64_t H, int64_t W, int64_t C, bool shifted, const swin_work *wk) {
    int64_t ws = cfg->window, N = ws * ws, hd = C / heads, hidden = blk->fc1.w.shape[0];
    win_geom g = {H, W, C, ws, shifted ? ws / 2 : 0, 0, 0, (H + ws - 1) / ws, (W + ws - 1) / ws};
    g.Hp = g.nwy * ws;
    g.Wp = g.nwx * ws;
    int64_t nW = g.nwy * g.nwx;

    // Windows ordered by mask kind (only the last row / column differ; unshifted: one kind).
    int64_t kind_start[5] = {0}, n = 0;
    for (int kind = 0; kind < 4; kind++) {
        kind_start[kind] = n;
        for (int64_t w = 0; w < nW; w++) {
            int k = g.shift ? (w / g.nwx == g.nwy - 1) | (w % g.nwx == g.nwx - 1) << 1 : 0;
            if (k == kind) wk->wins[n++] = w;
        }
    }
    kind_start[4] = n;

    int64_t chunk = windows_per_chunk(cfg, N, C, nW);
    ug_tensor rel = ug_tensor_wrap(wk->rel, UG_F32, UG_DIMS(heads, N, N));
    gather_rel_bias(wk->rel, &blk->rpb_table, heads, ws);
    float scale = (float)(1.0 / sqrt((double)hd)); // head_dim ** -0.5, applied to q in float32

    // Chunks run over the kind-ordered window list, so the projections see full chunks; only
    // the attention is split where the mask kind changes inside a chunk.
    for (int64_t w0 = 0; w0 < nW; w0 += chunk) {
        int64_t nb = nW - w0 < chunk ? nW - w0 : chunk;
        win_job j = {&g, wk->wins + w0, x, wk->buf};
        ug_parallel_for(ctx->pool, nb, 1, gather_range, &j);
        norm_rows(ctx, wk->buf, wk->buf, nb * N, C, &blk->norm1, cfg->eps);
        ug_parallel_for(ctx->pool, nb, 1, zero_pads_range, &j);
        linear_rows(ctx, wk->qkv, wk->buf, nb * N, &blk->qkv);
        for (int kind = 0; kind < 4; kind++) {
            int64_t a = kind_start[kind] > w0 ? kind_start[kind] : w0;
            int64_t b = kind_start[kind + 1] < w0 + nb ? kind_start[kind + 1] : w0 + nb;
            if (a >= b) continue;
            // q/k/v as [b - a, heads, N, hd] views into qkv [nb, N, 3, heads, hd]; the output
            // [b - a, heads, N, hd] is written into att [nb, N, heads, hd] = [nb * N, C].
            float *qkv = wk->qkv + (a - w0) * N * 3 * C;
            ug_tensor q = ug_tensor_wrap(qkv, UG_F32, UG_DIMS(b - a, heads, N, hd));
            const int64_t qs[4] = {N * 3 * C, hd, 3 * C, 1}, os[4] = {N * C, hd, C, 1};
            memcpy(q.stride, qs, sizeof qs);
            ug_tensor k = q, v = q;
            k.data = qkv + C;
            v.data = qkv + 2 * C;
            ug_tensor o = ug_tensor_wrap(wk->att + (a - w0) * N * C, UG_F32, UG_DIMS(b - a, heads, N, hd));
            memcpy(o.stride, os, sizeof os);
            ug_tensor mask = ug_tensor_wrap(wk->masks + (int64_t)kind * N * N, UG_F32, UG_DIMS(N, N));
            ug_attn_extra ex = {.bias = {&rel, kind ? &mask : NULL}};
            ug_attention(ctx, &o, &q, &k, &v, &ex, scale);
        }
        linear_rows(ctx, wk->buf, wk->att, nb * N, &blk->proj);
        ug_parallel_for(ctx->pool, nb, 1, scatter_add_range, &j);
    }

    // MLP over row chunks, the residual folded into fc2.
    int64_t HW = H * W, rows = chunk_rows(wk, hidden, HW);
    for (int64_t r0 = 0; r0 < HW; r0 += rows) {
        int64_t nr = HW - r0 < rows ? HW - r0 : rows;
        float *xr = x + r0 * C;
        norm_rows(ctx, wk->xn, xr, nr, C, &blk->norm2, cfg->eps);
        linear_rows(ctx, wk->rows, wk->xn, nr, &blk->fc1);
        ug_tensor ht = ug_tensor_wrap(wk->rows, UG_F32, UG_DIMS(nr, hidden));
        ug_gelu(ctx, &ht, &ht);
        linear_rows_acc(ctx, xr, wk->rows, nr, &blk->fc2);
    }
}

// ---- patch merging ----

typedef struct merge_job {
    float *cat;     // [n, 4C] for merged tokens [t0, t0 + n)
    const float *x; // [H * W, C]
    int64_t H, W, C, W2, t0;
} merge_job;

// cat[(i, j)] = [x(2i, 2j), x(2i+1, 2j), x(2i, 2j+1), x(2i+1, 2j+1)] with zeros past the edge
// (PatchMerging's F.pad of an odd size, then x0, x1, x2, x3).
static void merge_range(void *arg, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const merge_job *j = arg;
    int64_t C = j->C;
    static const int dy[4] = {0, 1, 0, 1}, dx[4] = {0, 0, 1, 1};
    for (int64_t t = begin; t < end; t++) {
        int64_t i = (j->t0 + t) / j->W2, jj = (j->t0 + t) % j->W2;
        float *dst = j->cat + t * 4 * C;
        for (int q = 0; q < 4; q++) {
            int64_t r = 2 * i + dy[q], c = 2 * jj + dx[q];
            if (r < j->H && c < j->W)
                memcpy(dst + q * C, j->x + (r * j->W + c) * C, (size_t)C * sizeof(float));
            else
                memset(dst + q * C, 0, (size_t)C * sizeof(float));
        }
    }
}

// PatchMerging: x [H * W, C] -> y [H2 * W2, 2C] = reduction(norm(cat)), H2 = ceil(H / 2), in
// chunks of merged tokens.
static void patch_merge(ug_ctx *ctx, const swin_config *cfg, const swin_stage *sg, float *y, const float *x,
                        int64_t H, int64_t W, const swin_work *wk) {
    int64_t C = sg->dim, H2 = (H + 1) / 2, W2 = (W + 1) / 2, N2 = H2 * W2, rows = chunk_rows(wk, 4 * C, N2);
    swin_linear red = {sg->merge_w, {0}};
    for (int64_t t0 = 0; t0 < N2; t0 += rows) {
        int64_t n = N2 - t0 < rows ? N2 - t0 : rows;
        merge_job j = {wk->rows, x, H, W, C, W2, t0};
        ug_parallel_for(ctx->pool, n, 64, merge_range, &j);
        norm_rows(ctx, wk->rows, wk->rows, n, 4 * C, &sg->merge_norm, cfg->eps);
        linear_rows(ctx, y + t0 * 2 * C, wk->rows, n, &red);
    }
}

// ---- the whole backbone ----

// out [1, C, H, W] (owned, new) = NCHW of norm(x) for the NHWC rows x [H * W, C], in chunks
// of rows normed into the work buffer and copied transposed into their columns of out.
static ug_status norm_to_nchw(ug_ctx *ctx, ug_tensor *out, const float *x, int64_t C, int64_t H, int64_t W,
                              const swin_norm *n, float eps, const swin_work *wk, ug_err *err) {
    ug_status st = ug_tensor_new(out, UG_F32, UG_DIMS(1, C, H, W), err);
    if (st != UG_OK) return st;
    int64_t HW = H * W, rows = chunk_rows(wk, C, HW);
    ug_tensor all = ug_tensor_wrap(out->data, UG_F32, UG_DIMS(C, HW));
    for (int64_t r0 = 0; r0 < HW; r0 += rows) {
        int64_t nr = HW - r0 < rows ? HW - r0 : rows;
        if (n)
            norm_rows(ctx, wk->rows, x + r0 * C, nr, C, n, eps);
        else
            memcpy(wk->rows, x + r0 * C, (size_t)(nr * C) * sizeof(float));
        ug_tensor src = ug_tensor_wrap(wk->rows, UG_F32, UG_DIMS(nr, C));
        ug_tensor srcT = ug_view_transpose(&src, 0, 1); // [C, nr]
        ug_tensor dst = ug_view_slice(&all, 1, r0, nr); // [C, nr] with row stride HW
        ug_copy(ctx, &dst, &srcT);
    }
    return UG_OK;
}

ug_status swin_forward(ug_ctx *ctx, const swin_model *m, const ug_tensor *img, ug_tensor res[SWIN_STAGES],
                       const swin_trace *trace, ug_err *err) {
    const swin_config *c = &m->cfg;
    memset(res, 0, SWIN_STAGES * sizeof *res);
    if (img->dtype != UG_F32 || img->ndim != 4 || img->shape[0] != 1 || img->shape[1] != c->in_chans ||
        img->shape[2] < 1 || img->shape[3] < 1 || !ug_tensor_is_contiguous(img)) {
        char buf[96];
        return ug_errf(err, UG_ERR_ARG, "swin: input %s %s must be a contiguous F32 [1,%d,H,W]",
                       ug_dtype_name(img->dtype), ug_shape_str(img, buf, sizeof buf), c->in_chans);
    }
    int64_t hw[SWIN_STAGES][2];
    swin_output_sizes(c, img->shape[2], img->shape[3], hw);
    ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
    ug_status st;
    char name[64];

    // The stage maps ping-pong between two buffers: stage s lives in xs[s % 2] (NHWC rows).
    // Maps usually shrink stage by stage, but not on tiny grids (1 x 1 stays 1 x 1 while C
    // doubles), so each buffer is sized for the largest map of its parity.
    swin_work wk;
    float *xs[2];
    for (int i = 0; i < 2; i++) {
        size_t bytes = 0;
        for (int s = i; s < SWIN_STAGES; s += 2) {
            size_t b = (size_t)(hw[s][0] * hw[s][1] * m->stages[s].dim) * sizeof(float);
            if (b > bytes) bytes = b;
        }
        if (!(xs[i] = ug_arena_alloc(&ctx->arena, bytes))) {
            st = ug_errf(err, UG_ERR_NOMEM, "swin: out of memory for a %zu-byte stage map", bytes);
            goto done;
        }
    }
    if ((st = work_alloc(ctx, m, hw, &wk, err)) != UG_OK) goto done;
    build_shift_masks(wk.masks, c->window, c->window / 2);

    patch_embed(ctx, m, img, xs[0], hw[0][0], hw[0][1], &wk);
    if (trace && trace->fn) {
        ug_tensor t;
        if ((st = norm_to_nchw(ctx, &t, xs[0], c->embed_dim, hw[0][0], hw[0][1], NULL, 0, &wk, err)) != UG_OK)
            goto done;
        trace_emit(trace, "patch_embed", &t);
        ug_tensor_free(&t);
    }

    for (int s = 0; s < SWIN_STAGES; s++) {
        const swin_stage *sg = &m->stages[s];
        int64_t H = hw[s][0], W = hw[s][1], C = sg->dim;
        float *x = xs[s % 2];
        for (int b = 0; b < sg->depth; b++) {
            swin_block_fwd(ctx, c, &sg->blocks[b], sg->heads, x, H, W, C, b % 2 == 1, &wk);
            if (trace && trace->fn) {
                ug_tensor t = ug_tensor_wrap(x, UG_F32, UG_DIMS(1, H, W, C));
                snprintf(name, sizeof name, "stage%d_block%d", s, b);
                trace_emit(trace, name, &t);
            }
        }
        // res{s+2} = norm{s}(x), NCHW.
        if ((st = norm_to_nchw(ctx, &res[s], x, C, H, W, &sg->out_norm, c->eps, &wk, err)) != UG_OK)
            goto done;
        if (s + 1 < SWIN_STAGES) patch_merge(ctx, c, sg, xs[(s + 1) % 2], x, H, W, &wk);
    }
    st = UG_OK;
done:
    ug_arena_release(&ctx->arena, mark);
    if (st != UG_OK)
        for (int s = 0; s < SWIN_STAGES; s++)
            ug_tensor_free(&res[s]);
    return st;
}
