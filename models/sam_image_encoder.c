// models/sam_image_encoder.c — ImageEncoderViT (segment_anything/modeling/image_encoder.py).
//
//   input [1, 3, S, S] -> patch embed (p x p conv, stride p) -> NHWC [h, w, E] + pos_embed
//   -> depth x Block: x = x + proj(attn(norm1(x))) (windowed or global), x = x + mlp(norm2(x))
//   -> neck: 1x1 conv, LayerNorm2d, 3x3 conv (pad 1), LayerNorm2d -> [1, C, h, w]
//
// The map stays NHWC as rows [h * w, E] throughout (the official blocks are NHWC too): the
// convolutions read and write it as channels-last views, and LayerNorm2d over the channels of
// an NHWC map is a row LayerNorm. Only the last conv writes NCHW, the layout of the output.
// Every block's activations come from ctx->arena and are released when the block ends, so
// memory is that of one block whatever the depth. All arithmetic goes through ops/ops.h.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/sam_internal.h"
#include "ops/ops.h"

// F.interpolate(mode="linear", align_corners=False) of each column of a [L, D] table to
// [out, D], with the source index rule of golden/README.md (float scale, double source).
// Private: ug_resize_bilinear resizes two axes of a map; this is a 1-D resize of a weight
// table of at most 127 rows, done on the CPU once per block and call.
static void resize_linear_rows(float *dst, int out, const float *src, int L, int D) {
    float scale = (float)L / (float)out;
    for (int i = 0; i < out; i++) {
        double s = (double)scale * (i + 0.5) - 0.5;
        if (s < 0) s = 0;
        int i0 = (int)s, i1 = i0 < L - 1 ? i0 + 1 : i0;
        float l1 = (float)(s - i0), l0 = (float)(1.0 - (s - i0));
        for (int d = 0; d < D; d++) dst[(int64_t)i * D + d] = src[(int64_t)i0 * D + d] * l0 + src[(int64_t)i1 * D + d] * l1;
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

// add_decomposed_rel_pos, the small half: rel_h[b, h, (qy, qx), ky] = q . Rh[qy, ky] and
// rel_w[b, h, (qy, qx), kx] = q . Rw[qx, kx] with the unscaled q. The [Nq, Nk] bias is
// never formed; the attention adds rel_h[ky] + rel_w[kx] to each logit (ug_attn_extra).
// Both are batched GEMMs on views of q: for one (window, head), batch over qy gives
// rel_h[qy] [sw, sh] = q[qy] [sw, hd] @ Rh[qy]^T [hd, sh], batch over qx gives
// rel_w[:, qx] [sh, sw] = q[:, qx] [sh, hd] @ Rw[qx]^T [hd, sw]. The GEMM has one batch dim,
// so (window, head) is a loop: B * heads calls of small batched GEMMs.
static void rel_pos_terms(ug_ctx *ctx, ug_tensor *rel_h, ug_tensor *rel_w, const ug_tensor *q, const float *Rh,
                          const float *Rw, int64_t sh, int64_t sw) {
    int64_t B = q->shape[0], heads = q->shape[1], hd = q->shape[3], n = sh * sw, sq = q->stride[2];
    ug_tensor Rht = ug_tensor_wrap((void *)Rh, UG_F32, UG_DIMS(sh, sh, hd)); // [qy, ky, d]
    ug_tensor Rwt = ug_tensor_wrap((void *)Rw, UG_F32, UG_DIMS(sw, sw, hd)); // [qx, kx, d]
    ug_tensor RhT = ug_view_transpose(&Rht, 1, 2), RwT = ug_view_transpose(&Rwt, 1, 2); // [., d, k]
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < heads; h++) {
            float *qb = (float *)q->data + b * q->stride[0] + h * q->stride[1];
            float *rh = (float *)rel_h->data + (b * heads + h) * n * sh;
            float *rw = (float *)rel_w->data + (b * heads + h) * n * sw;
            ug_tensor A = ug_tensor_wrap(qb, UG_F32, UG_DIMS(sh, sw, hd)); // [qy, qx, d]
            int64_t sa[3] = {sw * sq, sq, 1};
            memcpy(A.stride, sa, sizeof sa);
            ug_tensor Ch = ug_tensor_wrap(rh, UG_F32, UG_DIMS(sh, sw, sh)); // [qy, qx, ky]
            ug_matmul(ctx, &Ch, &A, &RhT, NULL, 1.0f, 0.0f);
            ug_tensor At = ug_view_transpose(&A, 0, 1); // [qx, qy, d]
            ug_tensor Cw = ug_tensor_wrap(rw, UG_F32, UG_DIMS(sh, sw, sw)); // [qy, qx, kx]
            Cw = ug_view_transpose(&Cw, 0, 1);                               // [qx, qy, kx]
            ug_matmul(ctx, &Cw, &At, &RwT, NULL, 1.0f, 0.0f);
        }
}

// Attention (image_encoder.py: Attention) over B windows (or the whole map, B = 1) of
// sh x sw tokens: xw [B, sh * sw, E] -> out [B, sh * sw, E] (before proj). Its scratch (qkv,
// the rel-pos terms) is released on return, so the MLP that follows does not sit on top of it.
static ug_status enc_attention_run(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *out,
                                   const ug_tensor *xw, int64_t B, int64_t sh, int64_t sw, ug_err *err);

static ug_status enc_attention(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *out,
                               const ug_tensor *xw, int64_t B, int64_t sh, int64_t sw, ug_err *err) {
    ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
    ug_status st = enc_attention_run(ctx, m, blk, out, xw, B, sh, sw, err);
    ug_arena_release(&ctx->arena, mark);
    return st;
}

static ug_status enc_attention_run(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *out,
                                   const ug_tensor *xw, int64_t B, int64_t sh, int64_t sw, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t E = c->enc_embed_dim, heads = c->enc_num_heads, hd = E / heads, n = sh * sw;
    ug_tensor qkv; // [B, n, 3E]: per token q | k | v, each heads x hd
    ug_status st = sam_arena_f32(ctx, &qkv, UG_DIMS(B, n, 3 * E), err);
    if (st != UG_OK) return st;
    ug_linear(ctx, &qkv, xw, &blk->qkv.w, sam_bias(&blk->qkv));
    // Head split as views [B, heads, n, hd] into qkv (no reshape copies).
    float *base = qkv.data;
    ug_tensor q = ug_tensor_wrap(base, UG_F32, UG_DIMS(B, heads, n, hd));
    int64_t strides[4] = {n * 3 * E, hd, 3 * E, 1};
    memcpy(q.stride, strides, sizeof strides);
    ug_tensor k = q, v = q;
    k.data = base + E;
    v.data = base + 2 * E;
    ug_tensor o = ug_tensor_wrap(out->data, UG_F32, UG_DIMS(B, heads, n, hd)); // = [B, n, heads * hd]
    int64_t ostrides[4] = {n * E, hd, E, 1};
    memcpy(o.stride, ostrides, sizeof ostrides);

    ug_attn_extra extra = {0};
    ug_tensor th, tw; // [B, heads, n, sh], [B, heads, n, sw]
    if (c->enc_use_rel_pos) {
        int64_t L = blk->rel_pos_h.shape[0], Lw = blk->rel_pos_w.shape[0];
        int64_t tmp_rows = 2 * (sh > sw ? sh : sw) - 1;
        ug_tensor Rh, Rw, tmp;
        if ((st = sam_arena_f32(ctx, &Rh, UG_DIMS(sh, sh, hd), err)) != UG_OK ||
            (st = sam_arena_f32(ctx, &Rw, UG_DIMS(sw, sw, hd), err)) != UG_OK ||
            (st = sam_arena_f32(ctx, &tmp, UG_DIMS(tmp_rows, hd), err)) != UG_OK ||
            (st = sam_arena_f32(ctx, &th, UG_DIMS(B, heads, n, sh), err)) != UG_OK ||
            (st = sam_arena_f32(ctx, &tw, UG_DIMS(B, heads, n, sw), err)) != UG_OK)
            return st;
        sam_get_rel_pos(Rh.data, (int)sh, (int)sh, blk->rel_pos_h.data, (int)L, (int)hd, tmp.data);
        sam_get_rel_pos(Rw.data, (int)sw, (int)sw, blk->rel_pos_w.data, (int)Lw, (int)hd, tmp.data);
        rel_pos_terms(ctx, &th, &tw, &q, Rh.data, Rw.data, sh, sw);
        extra.rel_h = &th;
        extra.rel_w = &tw;
    }
    ug_attention(ctx, &o, &q, &k, &v, c->enc_use_rel_pos ? &extra : NULL, 1.0f / sqrtf((float)hd));
    return UG_OK;
}

// Block (image_encoder.py: Block) on x [gh, gw, E], in place.
static ug_status enc_block(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, ug_tensor *x, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t gh = x->shape[0], gw = x->shape[1], E = c->enc_embed_dim, N = gh * gw, hidden = blk->lin1.w.shape[0];
    float eps = (float)c->enc_ln_eps;
    ug_status st;
    ug_tensor xn; // [gh, gw, E]
    if ((st = sam_arena_f32(ctx, &xn, UG_DIMS(gh, gw, E), err)) != UG_OK) return st;
    ug_layernorm(ctx, &xn, x, &blk->norm1.w, &blk->norm1.b, eps);

    int64_t ws = blk->window, B = 1, sh = gh, sw = gw, nwy = 1, nwx = 1;
    ug_tensor xw = xn; // [B, sh * sw, E] attention input
    ug_tensor padded;  // [nwy * ws, nwx * ws, E] (windowed blocks only)
    if (ws > 0) {
        // window_partition: zero-pad right/bottom to multiples of ws (after norm1, so the
        // padded tokens are exact zeros), then each ws x ws window becomes a batch entry:
        // the padded map seen as [nwy, ws, nwx, ws, E] and copied in (nwy, nwx, ws, ws) order.
        nwy = (gh + ws - 1) / ws;
        nwx = (gw + ws - 1) / ws;
        B = nwy * nwx;
        sh = sw = ws;
        ug_tensor win;
        if ((st = sam_arena_f32(ctx, &padded, UG_DIMS(nwy * ws, nwx * ws, E), err)) != UG_OK ||
            (st = sam_arena_f32(ctx, &win, UG_DIMS(nwy, nwx, ws, ws, E), err)) != UG_OK)
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
    if ((st = sam_arena_f32(ctx, &a, UG_DIMS(B, n, E), err)) != UG_OK ||
        (st = sam_arena_f32(ctx, &y, UG_DIMS(B, n, E), err)) != UG_OK)
        return st;
    if ((st = enc_attention(ctx, m, blk, &a, &xw, B, sh, sw, err)) != UG_OK) return st;
    ug_linear(ctx, &y, &a, &blk->proj.w, sam_bias(&blk->proj));
    // window_unpartition + crop + residual: the windows copied back into the padded map,
    // whose [gh, gw] corner is added to x.
    ug_tensor res = y; // [gh, gw, E] view of the attention branch
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

    // MLP: x = x + lin2(gelu(lin1(norm2(x)))).
    ug_tensor h, mo; // [N, hidden], [N, E]
    if ((st = sam_arena_f32(ctx, &h, UG_DIMS(N, hidden), err)) != UG_OK) return st;
    mo = ug_tensor_wrap(a.data, UG_F32, UG_DIMS(gh, gw, E)); // a is free again and B * n >= N
    ug_layernorm(ctx, &xn, x, &blk->norm2.w, &blk->norm2.b, eps);
    ug_linear(ctx, &h, &xn, &blk->lin1.w, sam_bias(&blk->lin1));
    ug_gelu(ctx, &h, &h);
    ug_linear(ctx, &mo, &h, &blk->lin2.w, sam_bias(&blk->lin2));
    ug_add(ctx, x, x, &mo);
    return UG_OK;
}

// Neck on x [gh, gw, E] (NHWC) -> emb [1, C, gh, gw] (NCHW): 1x1 conv, LN2d, 3x3 conv (pad
// 1), LN2d. The 1x1 conv reads and writes channels-last, where LN2d is a row LayerNorm; the
// 3x3 conv reads channels-last and writes NCHW, where LN2d is ug_layernorm2d.
static ug_status enc_neck(ug_ctx *ctx, const sam_model *m, ug_tensor *emb, ug_tensor *x, ug_err *err) {
    int64_t C = m->cfg.prompt_embed_dim, E = m->cfg.enc_embed_dim, gh = x->shape[0], gw = x->shape[1];
    ug_status st;
    ug_tensor t; // [gh, gw, C]
    if ((st = sam_arena_f32(ctx, &t, UG_DIMS(gh, gw, C), err)) != UG_OK) return st;
    ug_tensor xin = sam_nhwc_as_nchw(x->data, 1, gh, gw, E), tv = sam_nhwc_as_nchw(t.data, 1, gh, gw, C);
    ug_tensor w0 = sam_conv_weight(&m->neck0_w, E, 1, 1), w2 = sam_conv_weight(&m->neck2_w, C, 3, 3);
    ug_conv2d(ctx, &tv, &xin, &w0, NULL, 1, 0);
    ug_layernorm(ctx, &t, &t, &m->neck1.w, &m->neck1.b, 1e-6f);
    ug_conv2d(ctx, emb, &tv, &w2, NULL, 1, 1);
    ug_layernorm2d(ctx, emb, emb, &m->neck3.w, &m->neck3.b, 1e-6f);
    return UG_OK;
}

ug_status sam_encode_image(ug_ctx *ctx, const sam_model *m, const ug_tensor *input, ug_tensor *emb,
                           const sam_trace *trace, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t p = c->patch_size, E = c->enc_embed_dim, C = c->prompt_embed_dim, Cin = c->in_chans;
    memset(emb, 0, sizeof *emb);
    if (input->dtype != UG_F32 || input->ndim != 4 || input->shape[0] != 1 || input->shape[1] != Cin ||
        !ug_tensor_is_contiguous(input)) {
        char buf[96];
        return ug_errf(err, UG_ERR_ARG, "sam image encoder: input %s %s must be contiguous F32 [1,%lld,S,S]",
                       ug_dtype_name(input->dtype), ug_shape_str(input, buf, sizeof buf), (long long)Cin);
    }
    int64_t H = input->shape[2], W = input->shape[3];
    if (H % p || W % p || H < p || W < p)
        return ug_errf(err, UG_ERR_ARG, "sam image encoder: input %lldx%lld is not a multiple of the patch size %lld",
                       (long long)H, (long long)W, (long long)p);
    int64_t gh = H / p, gw = W / p;
    if (c->enc_use_abs_pos && (gh != m->pos_embed.shape[1] || gw != m->pos_embed.shape[2]))
        return ug_errf(err, UG_ERR_ARG,
                       "sam image encoder: input %lldx%lld gives a %lldx%lld grid, pos_embed is %lldx%lld "
                       "(absolute positions are not interpolated, as in the official model)",
                       (long long)H, (long long)W, (long long)gh, (long long)gw,
                       (long long)m->pos_embed.shape[1], (long long)m->pos_embed.shape[2]);

    ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
    ug_status st;
    ug_tensor x; // [gh, gw, E] NHWC
    if ((st = sam_arena_f32(ctx, &x, UG_DIMS(gh, gw, E), err)) != UG_OK) goto done;
    ug_arena_mark after_x = ug_arena_get_mark(&ctx->arena);
    // Patch embedding: a p x p stride-p conv written channels-last, straight into the tokens.
    ug_tensor xv = sam_nhwc_as_nchw(x.data, 1, gh, gw, E), pw = sam_conv_weight(&m->patch_w, Cin, p, p);
    ug_conv2d(ctx, &xv, input, &pw, &m->patch_b, (int)p, 0);
    if (c->enc_use_abs_pos) {
        ug_tensor pos = ug_view_reshape(&m->pos_embed, UG_DIMS(gh, gw, E));
        ug_add(ctx, &x, &x, &pos);
    }
    if (trace && trace->fn) {
        ug_tensor x4 = ug_view_reshape(&x, UG_DIMS(1, gh, gw, E));
        sam_trace_emit(trace, "patch_embed_plus_pos", &x4);
    }

    for (int i = 0; i < c->enc_depth; i++) {
        if ((st = enc_block(ctx, m, &m->blocks[i], &x, err)) != UG_OK) goto done;
        ug_arena_release(&ctx->arena, after_x);
        if (trace && trace->fn) {
            char name[32];
            snprintf(name, sizeof name, "block%d", i);
            ug_tensor x4 = ug_view_reshape(&x, UG_DIMS(1, gh, gw, E));
            sam_trace_emit(trace, name, &x4);
        }
    }

    if ((st = ug_tensor_new(emb, UG_F32, UG_DIMS(1, C, gh, gw), err)) != UG_OK) goto done;
    if ((st = enc_neck(ctx, m, emb, &x, err)) != UG_OK) ug_tensor_free(emb);
done:
    ug_arena_release(&ctx->arena, mark);
    return st;
}
