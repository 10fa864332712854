// models/sam_image_encoder.c — ImageEncoderViT (segment_anything/modeling/image_encoder.py).
//
//   input [1, 3, S, S] -> patch embed (p x p conv, stride p) -> NHWC [h, w, E] + pos_embed
//   -> depth x Block: x = x + proj(attn(norm1(x))) (windowed or global), x = x + mlp(norm2(x))
//   -> neck: 1x1 conv, LayerNorm2d, 3x3 conv (pad 1), LayerNorm2d -> [1, C, h, w]
//
// The map stays NHWC as rows [h * w, E] throughout (the official blocks are NHWC too): the
// convolutions read and write it as channels-last views, and LayerNorm2d over the channels of
// an NHWC map is a row LayerNorm. Only the last conv writes NCHW, the layout of the output.
// Every block's activations come from the arena of ctx->device and are released when the
// block ends, so memory is that of one block whatever the depth. All arithmetic goes through
// ops/ops.h; the rel-pos tables (get_rel_pos) depend on the weights alone and are made at load
// (models/sam.c).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/sam_internal.h"
#include "ops/ops.h"

static ug_status check_input(ug_ctx *ctx, const sam_model *m, const ug_tensor *input, ug_err *err);
static ug_status enc_block(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *x,
                           ug_err *err);
static ug_status enc_neck(ug_ctx *ctx, const sam_model *m, ug_tensor *emb, const ug_tensor *x, ug_err *err);

static void trace_map(const nn_trace *trace, const char *name, const ug_tensor *x) {
    if (!nn_tracing(trace)) return;
    ug_tensor x4 = ug_view_reshape(x, UG_DIMS(1, x->shape[0], x->shape[1], x->shape[2])); // [1, h, w, E]
    nn_emit(trace, name, &x4);
}

ug_status sam_encode_image(ug_ctx *ctx, const sam_model *m, const ug_tensor *input, ug_tensor *emb,
                           const nn_trace *trace, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t p = c->patch_size, E = c->enc_embed_dim, C = c->prompt_embed_dim, g = c->img_size / p;
    memset(emb, 0, sizeof *emb);
    ug_status st = check_input(ctx, m, input, err);
    if (st != UG_OK) return st;

    nn_mark mark = nn_get_mark(ctx);
    ug_tensor x; // [g, g, E] NHWC
    if ((st = nn_f32(ctx, &x, UG_DIMS(g, g, E), err)) != UG_OK) goto done;
    nn_mark after_x = nn_get_mark(ctx);
    // Patch embedding: a p x p stride-p conv written channels-last, straight into the tokens.
    ug_tensor x4 = ug_view_reshape(&x, UG_DIMS(1, g, g, E)), xv = nn_nhwc_as_nchw(&x4);
    ug_conv2d(ctx, &xv, input, &m->patch.w, nn_bias(&m->patch.b), (int)p, 0);
    if (c->enc_use_abs_pos) {
        ug_tensor pos = ug_view_reshape(&m->pos_embed, UG_DIMS(g, g, E));
        ug_add(ctx, &x, &x, &pos);
    }
    trace_map(trace, "patch_embed_plus_pos", &x);

    for (int i = 0; i < c->enc_depth; i++) {
        if ((st = enc_block(ctx, m, &m->blocks[i], &x, err)) != UG_OK) goto done;
        nn_release(ctx, after_x);
        char name[32];
        snprintf(name, sizeof name, "block%d", i);
        trace_map(trace, name, &x);
    }

    if ((st = nn_output(ctx, emb, UG_F32, UG_DIMS(1, C, g, g), err)) != UG_OK) goto done;
    if ((st = enc_neck(ctx, m, emb, &x, err)) != UG_OK) ug_tensor_free(emb);
done:
    nn_release(ctx, mark);
    return st;
}

// A contiguous F32 [1, in_chans, S, S] on ctx->device: the grid must be the model's, since
// absolute positions are not interpolated and the rel-pos tables are made for it.
static ug_status check_input(ug_ctx *ctx, const sam_model *m, const ug_tensor *input, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t p = c->patch_size, g = c->img_size / p;
    char dims[48];
    snprintf(dims, sizeof dims, "[1,%d,S,S]", c->in_chans);
    ug_status st = nn_check_device(ctx, input, "sam image encoder", err);
    if (st == UG_OK) st = nn_check_weights(ctx, &m->w, "sam image encoder", err);
    if (st == UG_OK)
        st = nn_check_input(input, UG_F32, UG_DIMS(1, c->in_chans, -1, -1), true, "sam image encoder", dims,
                            err);
    if (st != UG_OK) return st;
    int64_t H = input->shape[2], W = input->shape[3];
    if (H % p || W % p || H < p || W < p)
        return ug_errf(err, UG_ERR_ARG,
                       "sam image encoder: input %lldx%lld is not a multiple of the patch size %lld",
                       (long long)H, (long long)W, (long long)p);
    if (H / p != g || W / p != g)
        return ug_errf(err, UG_ERR_ARG,
                       "sam image encoder: input %lldx%lld gives a %lldx%lld grid, the model's is %lldx%lld "
                       "(positions are not interpolated, as in the official model)",
                       (long long)H, (long long)W, (long long)(H / p), (long long)(W / p), (long long)g,
                       (long long)g);
    return UG_OK;
}

static ug_status enc_attention(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *out,
                               const ug_tensor *xw, int64_t sh, int64_t sw, ug_err *err);

// Block (image_encoder.py: Block) on x [gh, gw, E], in place.
static ug_status enc_block(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *x,
                           ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t gh = x->shape[0], gw = x->shape[1], E = c->enc_embed_dim, N = gh * gw,
            hidden = blk->lin1.w.shape[0];
    float eps = (float)c->enc_ln_eps;
    ug_status st;
    ug_tensor xn; // [gh, gw, E]
    if ((st = nn_f32(ctx, &xn, UG_DIMS(gh, gw, E), err)) != UG_OK) return st;
    ug_layernorm(ctx, &xn, x, &blk->norm1.w, &blk->norm1.b, eps);

    int64_t ws = blk->window, B = 1, sh = gh, sw = gw, nwy = 1, nwx = 1;
    ug_tensor xw;     // [B, sh * sw, E] attention input
    ug_tensor padded; // [nwy * ws, nwx * ws, E] (windowed blocks only)
    if (ws > 0) {
        // window_partition: zero-pad right/bottom to multiples of ws (after norm1, so the
        // padded tokens are exact zeros), then each ws x ws window becomes a batch entry:
        // the padded map seen as [nwy, ws, nwx, ws, E] and copied in (nwy, nwx, ws, ws) order.
        nwy = (gh + ws - 1) / ws;
        nwx = (gw + ws - 1) / ws;
        B = nwy * nwx;
        sh = sw = ws;
        ug_tensor win; // [nwy, nwx, ws, ws, E]
        if ((st = nn_f32(ctx, &padded, UG_DIMS(nwy * ws, nwx * ws, E), err)) != UG_OK ||
            (st = nn_f32(ctx, &win, UG_DIMS(nwy, nwx, ws, ws, E), err)) != UG_OK)
            return st;
        ug_pad(ctx, &padded, &xn, (const int64_t[]){0, 0, 0}, 0.0f);
        ug_tensor grid = ug_view_reshape(&padded, UG_DIMS(nwy, ws, nwx, ws, E));
        ug_tensor wins = ug_view_permute(&grid, (const int[]){0, 2, 1, 3, 4});
        ug_copy(ctx, &win, &wins);
        xw = ug_view_reshape(&win, UG_DIMS(B, ws * ws, E));
    } else {
        xw = ug_view_reshape(&xn, UG_DIMS(1, N, E));
    }
    int64_t n = sh * sw;
    ug_tensor a, y; // [B, n, E] attention output, [B, n, E] after proj
    if ((st = nn_f32(ctx, &a, UG_DIMS(B, n, E), err)) != UG_OK ||
        (st = nn_f32(ctx, &y, UG_DIMS(B, n, E), err)) != UG_OK)
        return st;
    if ((st = enc_attention(ctx, m, blk, &a, &xw, sh, sw, err)) != UG_OK) return st;
    ug_linear(ctx, &y, &a, &blk->proj.w, nn_bias(&blk->proj.b));
    // window_unpartition + crop + residual: the windows copied back into the padded map,
    // whose [gh, gw] corner is added to x.
    ug_tensor res; // [gh, gw, E] view of the attention branch
    if (ws > 0) {
        ug_tensor wins = ug_view_reshape(&y, UG_DIMS(nwy, nwx, ws, ws, E));
        ug_tensor grid = ug_view_reshape(&padded, UG_DIMS(nwy, ws, nwx, ws, E));
        ug_tensor back = ug_view_permute(&wins, (const int[]){0, 2, 1, 3, 4});
        ug_copy(ctx, &grid, &back);
        res = ug_view_slice(&padded, 0, 0, gh);
        res = ug_view_slice(&res, 1, 0, gw);
    } else {
        res = ug_view_reshape(&y, UG_DIMS(gh, gw, E));
    }
    ug_add(ctx, x, x, &res);

    // MLP: x = x + lin2(gelu(lin1(norm2(x)))). Its output reuses a, free again (B * n >= N).
    ug_tensor h; // [N, hidden]
    if ((st = nn_f32(ctx, &h, UG_DIMS(N, hidden), err)) != UG_OK) return st;
    ug_tensor a_rows = ug_view_reshape(&a, UG_DIMS(B * n, E)), mo_rows = ug_view_slice(&a_rows, 0, 0, N);
    ug_tensor mo = ug_view_reshape(&mo_rows, UG_DIMS(gh, gw, E)); // [gh, gw, E]
    ug_layernorm(ctx, &xn, x, &blk->norm2.w, &blk->norm2.b, eps);
    ug_linear(ctx, &h, &xn, &blk->lin1.w, nn_bias(&blk->lin1.b));
    ug_gelu(ctx, &h, &h);
    ug_linear(ctx, &mo, &h, &blk->lin2.w, nn_bias(&blk->lin2.b));
    ug_add(ctx, x, x, &mo);
    return UG_OK;
}

static ug_status enc_attention_run(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *out,
                                   const ug_tensor *xw, int64_t sh, int64_t sw, ug_err *err);

// Attention (image_encoder.py: Attention) over B windows (or the whole map, B = 1) of
// sh x sw tokens: xw [B, sh * sw, E] -> out [B, sh * sw, E] (before proj). Its scratch (qkv,
// the rel-pos terms) is released on return, so the MLP that follows does not sit on top of it.
static ug_status enc_attention(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *out,
                               const ug_tensor *xw, int64_t sh, int64_t sw, ug_err *err) {
    nn_mark mark = nn_get_mark(ctx);
    ug_status st = enc_attention_run(ctx, m, blk, out, xw, sh, sw, err);
    nn_release(ctx, mark);
    return st;
}

static void rel_pos_terms(ug_ctx *ctx, ug_tensor *rel_h, ug_tensor *rel_w, const ug_tensor *q,
                          const ug_tensor *Rh, const ug_tensor *Rw, int64_t sh, int64_t sw);

static ug_status enc_attention_run(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *out,
                                   const ug_tensor *xw, int64_t sh, int64_t sw, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t B = xw->shape[0], E = c->enc_embed_dim, heads = c->enc_num_heads, hd = E / heads, n = sh * sw;
    ug_tensor qkv; // [B, n, 3E]: per token q | k | v, each heads x hd
    ug_status st = nn_f32(ctx, &qkv, UG_DIMS(B, n, 3 * E), err);
    if (st != UG_OK) return st;
    ug_linear(ctx, &qkv, xw, &blk->qkv.w, nn_bias(&blk->qkv.b));
    ug_tensor q, k, v; // [B, heads, n, hd] views into qkv (no reshape copies)
    nn_split_qkv(&qkv, heads, &q, &k, &v);
    ug_tensor o = nn_split_heads(out, heads); // [B, heads, n, hd] = out [B, n, heads * hd]

    ug_attn_extra extra = {0};
    if (c->enc_use_rel_pos) {
        ug_tensor th, tw; // [B, heads, n, sh], [B, heads, n, sw]
        if ((st = nn_f32(ctx, &th, UG_DIMS(B, heads, n, sh), err)) != UG_OK ||
            (st = nn_f32(ctx, &tw, UG_DIMS(B, heads, n, sw), err)) != UG_OK)
            return st;
        rel_pos_terms(ctx, &th, &tw, &q, &blk->rel_h, &blk->rel_w, sh, sw);
        extra.rel_h = &th;
        extra.rel_w = &tw;
        ug_attention(ctx, &o, &q, &k, &v, &extra, 1.0f / sqrtf((float)hd));
    } else {
        ug_attention(ctx, &o, &q, &k, &v, NULL, 1.0f / sqrtf((float)hd));
    }
    return UG_OK;
}

// t [B, heads, n, D] at window b, head h as the token grid [sh, sw, D] (n = sh * sw in row
// order), any token stride.
static ug_tensor head_grid(const ug_tensor *t, int64_t b, int64_t h, int64_t sh, int64_t sw) {
    int64_t st = t->stride[2];
    return ug_view_strided(t, b * t->stride[0] + h * t->stride[1], UG_DIMS(sh, sw, t->shape[3]),
                           (const int64_t[]){sw * st, st, t->stride[3]});
}

// add_decomposed_rel_pos, the small half: rel_h[b, h, (qy, qx), ky] = q . Rh[qy, ky] and
// rel_w[b, h, (qy, qx), kx] = q . Rw[qx, kx] with the unscaled q. The [Nq, Nk] bias is
// never formed; the attention adds rel_h[ky] + rel_w[kx] to each logit (ug_attn_extra).
// Both are batched GEMMs on views of q: for one (window, head), batch over qy gives
// rel_h[qy] [sw, sh] = q[qy] [sw, hd] @ Rh[qy]^T [hd, sh], batch over qx gives
// rel_w[:, qx] [sh, sw] = q[:, qx] [sh, hd] @ Rw[qx]^T [hd, sw]. The GEMM has one batch dim,
// so (window, head) is a loop: B * heads calls of small batched GEMMs. Rh [sh, sh, hd] and
// Rw [sw, sw, hd] are the block's load-time tables.
static void rel_pos_terms(ug_ctx *ctx, ug_tensor *rel_h, ug_tensor *rel_w, const ug_tensor *q,
                          const ug_tensor *Rh, const ug_tensor *Rw, int64_t sh, int64_t sw) {
    int64_t B = q->shape[0], heads = q->shape[1];
    ug_tensor RhT = ug_view_transpose(Rh, 1, 2),
              RwT = ug_view_transpose(Rw, 1, 2); // [qy, d, ky], [qx, d, kx]
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < heads; h++) {
            ug_tensor A = head_grid(q, b, h, sh, sw);      // [qy, qx, d]
            ug_tensor Ch = head_grid(rel_h, b, h, sh, sw); // [qy, qx, ky]
            ug_matmul(ctx, &Ch, &A, &RhT, NULL, 1.0f, 0.0f);
            ug_tensor At = ug_view_transpose(&A, 0, 1); // [qx, qy, d]
            ug_tensor Cw = head_grid(rel_w, b, h, sh, sw);
            Cw = ug_view_transpose(&Cw, 0, 1); // [qx, qy, kx]
            ug_matmul(ctx, &Cw, &At, &RwT, NULL, 1.0f, 0.0f);
        }
}

// Neck on x [gh, gw, E] (NHWC) -> emb [1, C, gh, gw] (NCHW): 1x1 conv, LN2d, 3x3 conv (pad
// 1), LN2d. The 1x1 conv reads and writes channels-last, where LN2d is a row LayerNorm; the
// 3x3 conv reads channels-last and writes NCHW, where LN2d is ug_layernorm2d.
static ug_status enc_neck(ug_ctx *ctx, const sam_model *m, ug_tensor *emb, const ug_tensor *x, ug_err *err) {
    int64_t C = m->cfg.prompt_embed_dim, E = m->cfg.enc_embed_dim, gh = x->shape[0], gw = x->shape[1];
    ug_status st;
    ug_tensor t; // [1, gh, gw, C]
    if ((st = nn_f32(ctx, &t, UG_DIMS(1, gh, gw, C), err)) != UG_OK) return st;
    ug_tensor x4 = ug_view_reshape(x, UG_DIMS(1, gh, gw, E));
    ug_tensor xin = nn_nhwc_as_nchw(&x4), tv = nn_nhwc_as_nchw(&t);
    ug_conv2d(ctx, &tv, &xin, &m->neck0.w, NULL, 1, 0);
    ug_layernorm(ctx, &t, &t, &m->neck1.w, &m->neck1.b, 1e-6f);
    ug_conv2d(ctx, emb, &tv, &m->neck2.w, NULL, 1, 1);
    ug_layernorm2d(ctx, emb, emb, &m->neck3.w, &m->neck3.b, 1e-6f);
    return UG_OK;
}

// ---- load-time preparation: get_rel_pos (host, on weights) ----

// F.interpolate(mode="linear", align_corners=False) of each column of a [L, D] table to
// [out, D], with the source index rule of golden/README.md (float scale, double source).
// Private: ug_resize_bilinear resizes two axes of a map; this is a 1-D resize of a weight
// table of at most 127 rows, done on the host.
static void resize_linear_rows(float *dst, int out, const float *src, int L, int D) {
    float scale = (float)L / (float)out;
    for (int i = 0; i < out; i++) {
        double s = (double)scale * (i + 0.5) - 0.5;
        if (s < 0) s = 0;
        int i0 = (int)s, i1 = i0 < L - 1 ? i0 + 1 : i0;
        float l1 = (float)(s - i0), l0 = (float)(1.0 - (s - i0));
        for (int d = 0; d < D; d++)
            dst[(int64_t)i * D + d] = src[(int64_t)i0 * D + d] * l0 + src[(int64_t)i1 * D + d] * l1;
    }
}

void sam_get_rel_pos(float *R, int q_size, int k_size, const float *rel_pos, int L, int D, float *tmp) {
    int max_dist = 2 * (q_size > k_size ? q_size : k_size) - 1;
    const float *table = rel_pos;
    if (L != max_dist) {
        resize_linear_rows(tmp, max_dist, rel_pos, L, D);
        table = tmp;
    }
    // Official: q_coords = arange(q) * max(k/q, 1), k_coords = arange(k) * max(q/k, 1),
    // index = long((q_coords - k_coords) + (k - 1) * max(q/k, 1)), in float32.
    float qr = (float)fmax((double)k_size / q_size, 1.0), kr = (float)fmax((double)q_size / k_size, 1.0);
    for (int i = 0; i < q_size; i++)
        for (int j = 0; j < k_size; j++) {
            int idx = (int)(((float)i * qr - (float)j * kr) + (float)(k_size - 1) * kr);
            memcpy(R + ((int64_t)i * k_size + j) * D, table + (int64_t)idx * D, (size_t)D * sizeof(float));
        }
}
