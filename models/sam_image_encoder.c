// models/sam_image_encoder.c — ImageEncoderViT (segment_anything/modeling/image_encoder.py).
//
//   input [1, 3, S, S] -> patch embed (p x p conv, stride p) -> NHWC [h, w, E] + pos_embed
//   -> depth x Block: x = x + proj(attn(norm1(x))) (windowed or global), x = x + mlp(norm2(x))
//   -> neck: 1x1 conv, LayerNorm2d, 3x3 conv (pad 1), LayerNorm2d -> [1, C, h, w]
//
// The map stays NHWC as rows [h * w, E] throughout: LayerNorm2d over channels and the 1x1
// conv are then plain row operations. Every block's activations come from ctx->arena and are
// released when the block ends, so memory is that of one block whatever the depth.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/pool.h"
#include "models/sam_internal.h"
#include "ops/gemm.h"

// F.interpolate(mode="linear", align_corners=False) of each column of a [L, D] table to
// [out, D], with the source index rule of golden/README.md (float scale, double source).
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
// never formed; the attention adds rel_h[ky] + rel_w[kx] to each logit.
typedef struct relpos_job {
    const ug_tensor *q; // [B, heads, n, hd]
    const float *Rh, *Rw; // [sh, sh, hd], [sw, sw, hd]
    float *rel_h, *rel_w; // [B, heads, n, sh], [B, heads, n, sw]
    int64_t heads, n, sh, sw, hd;
} relpos_job;

static void relpos_range(void *arg, int64_t begin, int64_t end, int thread) {
    const relpos_job *j = arg;
    for (int64_t bh = begin; bh < end; bh++) {
        int64_t b = bh / j->heads, h = bh % j->heads;
        const float *qb = (const float *)j->q->data + b * j->q->stride[0] + h * j->q->stride[1];
        for (int64_t i = 0; i < j->n; i++) {
            const float *qi = qb + i * j->q->stride[2];
            int64_t qy = i / j->sw, qx = i % j->sw;
            float *rh = j->rel_h + (bh * j->n + i) * j->sh, *rw = j->rel_w + (bh * j->n + i) * j->sw;
            for (int64_t ky = 0; ky < j->sh; ky++) {
                const float *r = j->Rh + (qy * j->sh + ky) * j->hd;
                float s = 0.0f;
                for (int64_t d = 0; d < j->hd; d++) s += qi[d] * r[d];
                rh[ky] = s;
            }
            for (int64_t kx = 0; kx < j->sw; kx++) {
                const float *r = j->Rw + (qx * j->sw + kx) * j->hd;
                float s = 0.0f;
                for (int64_t d = 0; d < j->hd; d++) s += qi[d] * r[d];
                rw[kx] = s;
            }
        }
    }
}

// Attention (image_encoder.py: Attention) over B windows (or the whole map, B = 1) of
// sh x sw tokens: xw [B, sh * sw, E] -> out [B, sh * sw, E] (before proj).
static ug_status enc_attention(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, float *out,
                               const float *xw, int64_t B, int64_t sh, int64_t sw, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t E = c->enc_embed_dim, heads = c->enc_num_heads, hd = E / heads, n = sh * sw;
    ug_tensor qkv; // [B, n, 3E]: per token q | k | v, each heads x hd
    ug_status st = sam_arena_f32(ctx, &qkv, UG_DIMS(B, n, 3 * E), err);
    if (st != UG_OK) return st;
    sam_linear_fwd(ctx, qkv.data, xw, B * n, &blk->qkv);
    float *base = qkv.data;
    ug_tensor q = ug_tensor_wrap(base, UG_F32, UG_DIMS(B, heads, n, hd));
    int64_t strides[4] = {n * 3 * E, hd, 3 * E, 1};
    memcpy(q.stride, strides, sizeof strides);
    ug_tensor k = q, v = q;
    k.data = base + E;
    v.data = base + 2 * E;
    ug_tensor o = ug_tensor_wrap(out, UG_F32, UG_DIMS(B, heads, n, hd)); // = [B, n, heads * hd]
    int64_t ostrides[4] = {n * E, hd, E, 1};
    memcpy(o.stride, ostrides, sizeof ostrides);

    float *rel_h = NULL, *rel_w = NULL;
    if (c->enc_use_rel_pos) {
        int64_t L = blk->rel_pos_h.shape[0], Lw = blk->rel_pos_w.shape[0];
        int64_t tmp_rows = 2 * (sh > sw ? sh : sw) - 1;
        ug_tensor Rh, Rw, tmp, th, tw;
        if ((st = sam_arena_f32(ctx, &Rh, UG_DIMS(sh, sh, hd), err)) != UG_OK ||
            (st = sam_arena_f32(ctx, &Rw, UG_DIMS(sw, sw, hd), err)) != UG_OK ||
            (st = sam_arena_f32(ctx, &tmp, UG_DIMS(tmp_rows, hd), err)) != UG_OK ||
            (st = sam_arena_f32(ctx, &th, UG_DIMS(B, heads, n, sh), err)) != UG_OK ||
            (st = sam_arena_f32(ctx, &tw, UG_DIMS(B, heads, n, sw), err)) != UG_OK)
            return st;
        sam_get_rel_pos(Rh.data, (int)sh, (int)sh, blk->rel_pos_h.data, (int)L, (int)hd, tmp.data);
        sam_get_rel_pos(Rw.data, (int)sw, (int)sw, blk->rel_pos_w.data, (int)Lw, (int)hd, tmp.data);
        relpos_job rj = {&q, Rh.data, Rw.data, th.data, tw.data, heads, n, sh, sw, hd};
        ug_parallel_for(ctx->pool, B * heads, 1, relpos_range, &rj);
        rel_h = th.data;
        rel_w = tw.data;
    }
    sam_mha(ctx, &o, &q, &k, &v, 1.0f / sqrtf((float)hd), rel_h, rel_w, (int)sh, (int)sw);
    return UG_OK;
}

// Block (image_encoder.py: Block) on x [gh * gw, E], in place.
static ug_status enc_block(ug_ctx *ctx, const sam_model *m, const sam_enc_block *blk, float *x,
                           int64_t gh, int64_t gw, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t E = c->enc_embed_dim, N = gh * gw, hidden = blk->lin1.w.shape[0];
    float eps = (float)c->enc_ln_eps;
    ug_status st;
    ug_tensor xn; // [N, E]
    if ((st = sam_arena_f32(ctx, &xn, UG_DIMS(N, E), err)) != UG_OK) return st;
    sam_layernorm_rows(ctx, xn.data, x, N, E, &blk->norm1, eps);

    int64_t ws = blk->window, B = 1, sh = gh, sw = gw, nwx = 1;
    const float *xw = xn.data;
    if (ws > 0) {
        // window_partition: zero-pad right/bottom to multiples of ws (after norm1, so the
        // padded tokens are exact zeros) and make each ws x ws window a batch entry.
        int64_t nwy = (gh + ws - 1) / ws;
        nwx = (gw + ws - 1) / ws;
        B = nwy * nwx;
        sh = sw = ws;
        ug_tensor win; // [B, ws * ws, E]
        if ((st = sam_arena_f32(ctx, &win, UG_DIMS(B, ws * ws, E), err)) != UG_OK) return st;
        for (int64_t r = 0; r < gh; r++)
            for (int64_t col = 0; col < gw; col++) {
                int64_t b = (r / ws) * nwx + col / ws, t = (r % ws) * ws + col % ws;
                memcpy((float *)win.data + (b * ws * ws + t) * E, (const float *)xn.data + (r * gw + col) * E,
                       (size_t)E * sizeof(float));
            }
        xw = win.data;
    }
    int64_t n = sh * sw;
    ug_tensor a, y; // [B, n, E] attention output, [B, n, E] after proj
    if ((st = sam_arena_f32(ctx, &a, UG_DIMS(B, n, E), err)) != UG_OK ||
        (st = sam_arena_f32(ctx, &y, UG_DIMS(B, n, E), err)) != UG_OK)
        return st;
    if ((st = enc_attention(ctx, m, blk, a.data, xw, B, sh, sw, err)) != UG_OK) return st;
    sam_linear_fwd(ctx, y.data, a.data, B * n, &blk->proj);
    // window_unpartition + crop + residual.
    const float *yd = y.data;
    for (int64_t r = 0; r < gh; r++)
        for (int64_t col = 0; col < gw; col++) {
            const float *src = ws > 0 ? yd + (((r / ws) * nwx + col / ws) * n + (r % ws) * ws + col % ws) * E
                                      : yd + (r * gw + col) * E;
            float *dst = x + (r * gw + col) * E;
            for (int64_t e = 0; e < E; e++) dst[e] += src[e];
        }

    // MLP: x = x + lin2(gelu(lin1(norm2(x)))).
    ug_tensor h; // [N, hidden]
    if ((st = sam_arena_f32(ctx, &h, UG_DIMS(N, hidden), err)) != UG_OK) return st;
    sam_layernorm_rows(ctx, xn.data, x, N, E, &blk->norm2, eps);
    sam_linear_fwd(ctx, h.data, xn.data, N, &blk->lin1);
    sam_gelu(ctx, h.data, N * hidden);
    sam_linear_fwd(ctx, y.data, h.data, N, &blk->lin2); // y reused as [N, E] (B * n >= N)
    float *xd = x;
    const float *md = y.data;
    for (int64_t i = 0; i < N * E; i++) xd[i] += md[i];
    return UG_OK;
}

// Neck: [N, E] rows -> 1x1 conv -> LN2d -> 3x3 conv (pad 1) -> LN2d -> out [N, C] rows.
static ug_status enc_neck(ug_ctx *ctx, const sam_model *m, float *out, const float *x, int64_t gh,
                          int64_t gw, ug_err *err) {
    int64_t C = m->cfg.prompt_embed_dim, N = gh * gw;
    ug_status st;
    ug_tensor t, col; // [N, C], [N, C * 9] (im2col, column order (ci, ky, kx) as the weight)
    if ((st = sam_arena_f32(ctx, &t, UG_DIMS(N, C), err)) != UG_OK ||
        (st = sam_arena_f32(ctx, &col, UG_DIMS(N, C * 9), err)) != UG_OK)
        return st;
    sam_linear l0 = {m->neck0_w, {0}};
    sam_linear_fwd(ctx, t.data, x, N, &l0);
    sam_layernorm_rows(ctx, t.data, t.data, N, C, &m->neck1, 1e-6f);
    const float *td = t.data;
    float *cd = col.data;
    for (int64_t y = 0; y < gh; y++)
        for (int64_t xx = 0; xx < gw; xx++) {
            float *row = cd + (y * gw + xx) * C * 9;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    int64_t sy = y + ky - 1, sx = xx + kx - 1;
                    if (sy < 0 || sy >= gh || sx < 0 || sx >= gw) continue; // zero padding
                    const float *src = td + (sy * gw + sx) * C;
                    for (int64_t ci = 0; ci < C; ci++) row[ci * 9 + ky * 3 + kx] = src[ci];
                }
        }
    sam_linear l2 = {m->neck2_w, {0}};
    sam_linear_fwd(ctx, out, col.data, N, &l2);
    sam_layernorm_rows(ctx, out, out, N, C, &m->neck3, 1e-6f);
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
    int64_t gh = H / p, gw = W / p, N = gh * gw;
    if (c->enc_use_abs_pos && (gh != m->pos_embed.shape[1] || gw != m->pos_embed.shape[2]))
        return ug_errf(err, UG_ERR_ARG,
                       "sam image encoder: input %lldx%lld gives a %lldx%lld grid, pos_embed is %lldx%lld "
                       "(absolute positions are not interpolated, as in the official model)",
                       (long long)H, (long long)W, (long long)gh, (long long)gw,
                       (long long)m->pos_embed.shape[1], (long long)m->pos_embed.shape[2]);

    ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
    ug_status st;
    ug_tensor x, col; // [gh, gw, E] NHWC; [N, Cin * p * p] patches in (c, ky, kx) order
    if ((st = sam_arena_f32(ctx, &x, UG_DIMS(1, gh, gw, E), err)) != UG_OK) goto done;
    ug_arena_mark after_x = ug_arena_get_mark(&ctx->arena);
    if ((st = sam_arena_f32(ctx, &col, UG_DIMS(N, Cin * p * p), err)) != UG_OK) goto done;
    const float *in = input->data;
    float *cd = col.data;
    for (int64_t py = 0; py < gh; py++)
        for (int64_t px = 0; px < gw; px++)
            for (int64_t ci = 0; ci < Cin; ci++)
                for (int64_t ky = 0; ky < p; ky++)
                    memcpy(cd + ((py * gw + px) * Cin + ci) * p * p + ky * p,
                           in + (ci * H + py * p + ky) * W + px * p, (size_t)p * sizeof(float));
    sam_linear pe = {m->patch_w, m->patch_b};
    sam_linear_fwd(ctx, x.data, col.data, N, &pe);
    ug_arena_release(&ctx->arena, after_x);
    if (c->enc_use_abs_pos) {
        float *xd = x.data;
        const float *pd = m->pos_embed.data;
        for (int64_t i = 0; i < N * E; i++) xd[i] += pd[i];
    }
    sam_trace_emit(trace, "patch_embed_plus_pos", &x);

    for (int i = 0; i < c->enc_depth; i++) {
        if ((st = enc_block(ctx, m, &m->blocks[i], x.data, gh, gw, err)) != UG_OK) goto done;
        ug_arena_release(&ctx->arena, after_x);
        char name[32];
        snprintf(name, sizeof name, "block%d", i);
        sam_trace_emit(trace, name, &x);
    }

    ug_tensor rows; // [N, C] neck output, NHWC
    if ((st = sam_arena_f32(ctx, &rows, UG_DIMS(N, C), err)) != UG_OK) goto done;
    if ((st = enc_neck(ctx, m, rows.data, x.data, gh, gw, err)) != UG_OK) goto done;
    if ((st = ug_tensor_new(emb, UG_F32, UG_DIMS(1, C, gh, gw), err)) != UG_OK) goto done;
    const float *rd = rows.data;
    float *ed = emb->data;
    for (int64_t i = 0; i < N; i++)
        for (int64_t ch = 0; ch < C; ch++) ed[ch * N + i] = rd[i * C + ch];
done:
    ug_arena_release(&ctx->arena, mark);
    return st;
}
