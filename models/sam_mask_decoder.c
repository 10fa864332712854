// models/sam_mask_decoder.c — MaskDecoder and TwoWayTransformer
// (segment_anything/modeling/mask_decoder.py, transformer.py) for a batch of N prompts over
// one image embedding, and Sam.postprocess_masks (sam.py).
//
//   tokens [N, Q, C] = [iou_token, mask_tokens (M+1), sparse (T)]      Q = 1 + (M+1) + T
//   keys   [K, C]    = image_embedding + dense (rows over (y, x))       K = h * w
//   TwoWayTransformer(depth) -> queries [N, Q, C], keys [N, K, C]
//   keys -> ConvT 2x2/2, LN2d, GELU, ConvT 2x2/2, GELU -> upscaled [N, 16K, C/8] (NHWC)
//   masks[n, i] = hypernet_i(queries[n, 1 + i]) . upscaled[n];  iou = iou_head(queries[n, 0])
//
// Without a mask prompt the dense embedding is one map for every prompt, so the keys are
// shared until the first image-to-token attention writes per-prompt values: layer 0's key
// projections and its image-side query projection run once instead of N times (batch
// stride 0). Prompts are decoded in chunks so memory stays bounded for large N.
#include <math.h>
#include <string.h>

#include "models/sam_internal.h"
#include "ops/gemm.h"
#include "ops/resize.h"

// Prompts decoded together: the per-prompt keys are [K, C] each (4 MB for vit_h), and a
// chunk needs about eight such buffers.
enum { DEC_CHUNK = 16 };

typedef struct dec_state {
    ug_ctx *ctx;
    const sam_model *m;
    int64_t B, Q, K, C; // prompts in the chunk, tokens, image tokens, width
    ug_err *err;
} dec_state;

static ug_status f32(dec_state *s, ug_tensor *t, int64_t rows, int64_t cols) {
    return sam_arena_f32(s->ctx, t, UG_DIMS(rows, cols), s->err);
}

// Attention (transformer.py: Attention): q_in [Bq, Nq, C], k_in/v_in [Bk, Nk, C] with Bq and
// Bk either 1 (shared by all B prompts) or B -> out [B, Nq, C].
static ug_status dec_attention(dec_state *s, const sam_attention *a, float *out, const float *q_in, int64_t Bq,
                               int64_t Nq, const float *k_in, const float *v_in, int64_t Bk, int64_t Nk) {
    int64_t B = s->B, inner = a->inner, H = s->m->cfg.dec_num_heads, d = inner / H;
    ug_arena_mark mark = ug_arena_get_mark(&s->ctx->arena);
    ug_tensor q, k, v, o; // [Bq*Nq, inner], [Bk*Nk, inner] x2, [B*Nq, inner]
    ug_status st;
    if ((st = f32(s, &q, Bq * Nq, inner)) != UG_OK || (st = f32(s, &k, Bk * Nk, inner)) != UG_OK ||
        (st = f32(s, &v, Bk * Nk, inner)) != UG_OK || (st = f32(s, &o, B * Nq, inner)) != UG_OK)
        goto done;
    sam_linear_fwd(s->ctx, q.data, q_in, Bq * Nq, &a->q);
    sam_linear_fwd(s->ctx, k.data, k_in, Bk * Nk, &a->k);
    sam_linear_fwd(s->ctx, v.data, v_in, Bk * Nk, &a->v);
    // Head split as views [B, H, N, d]: token n, head h at n * inner + h * d.
    ug_tensor qv = ug_tensor_wrap(q.data, UG_F32, UG_DIMS(B, H, Nq, d));
    ug_tensor kv = ug_tensor_wrap(k.data, UG_F32, UG_DIMS(B, H, Nk, d));
    ug_tensor vv = ug_tensor_wrap(v.data, UG_F32, UG_DIMS(B, H, Nk, d));
    ug_tensor ov = ug_tensor_wrap(o.data, UG_F32, UG_DIMS(B, H, Nq, d));
    ug_tensor *views[4] = {&qv, &kv, &vv, &ov};
    int64_t rows[4] = {Nq, Nk, Nk, Nq}, batches[4] = {Bq, Bk, Bk, B};
    for (int i = 0; i < 4; i++) {
        views[i]->stride[0] = batches[i] == 1 ? 0 : rows[i] * inner;
        views[i]->stride[1] = d;
        views[i]->stride[2] = inner;
        views[i]->stride[3] = 1;
    }
    sam_mha(s->ctx, &ov, &qv, &kv, &vv, 1.0f / sqrtf((float)d), NULL, NULL, 0, 0);
    sam_linear_fwd(s->ctx, out, o.data, B * Nq, &a->out);
done:
    ug_arena_release(&s->ctx->arena, mark);
    return st;
}

// y = a + b with b broadcast over the batch when it has one batch entry: a [Ba, R, C],
// b [Bb, R, C], y [max(Ba, Bb), R, C].
static void add_bcast(float *y, const float *a, int64_t Ba, const float *b, int64_t Bb, int64_t RC) {
    int64_t B = Ba > Bb ? Ba : Bb;
    for (int64_t n = 0; n < B; n++) {
        const float *an = a + (Ba == 1 ? 0 : n * RC), *bn = b + (Bb == 1 ? 0 : n * RC);
        float *yn = y + n * RC;
        for (int64_t i = 0; i < RC; i++) yn[i] = an[i] + bn[i];
    }
}

// TwoWayAttentionBlock. queries [B, Q, C] in place; *keys [*Bk, K, C] is replaced by the
// per-prompt keys [B, K, C] (keys_out, preallocated) after the image-to-token attention.
static ug_status twoway_layer(dec_state *s, const sam_twoway_layer *l, bool first, float *queries, const float *qpe,
                              float **keys, int64_t *Bk, float *keys_out, const float *kpe) {
    int64_t B = s->B, Q = s->Q, K = s->K, C = s->C;
    ug_arena_mark mark = ug_arena_get_mark(&s->ctx->arena);
    ug_tensor qa, ka, t, hid, kt; // [B*Q, C] x2, [B*Q, C], [B*Q, mlp], [B*K, C]
    ug_status st;
    if ((st = f32(s, &qa, B * Q, C)) != UG_OK || (st = f32(s, &t, B * Q, C)) != UG_OK ||
        (st = f32(s, &ka, B * K, C)) != UG_OK || (st = f32(s, &hid, B * Q, l->lin1.w.shape[0])) != UG_OK ||
        (st = f32(s, &kt, B * K, C)) != UG_OK)
        goto done;
    float *q = queries, *qad = qa.data, *td = t.data, *kad = ka.data;

    // Self-attention: the first layer has no PE and no residual (skip_first_layer_pe).
    if (first) {
        if ((st = dec_attention(s, &l->self_attn, td, q, B, Q, q, q, B, Q)) != UG_OK) goto done;
        memcpy(q, td, (size_t)(B * Q * C) * sizeof(float));
    } else {
        add_bcast(qad, q, B, qpe, B, Q * C);
        if ((st = dec_attention(s, &l->self_attn, td, qad, B, Q, qad, q, B, Q)) != UG_OK) goto done;
        for (int64_t i = 0; i < B * Q * C; i++) q[i] += td[i];
    }
    sam_layernorm_rows(s->ctx, q, q, B * Q, C, &l->norm1, 1e-5f);

    // Token-to-image cross attention.
    add_bcast(qad, q, B, qpe, B, Q * C);
    add_bcast(kad, *keys, *Bk, kpe, 1, K * C);
    if ((st = dec_attention(s, &l->t2i, td, qad, B, Q, kad, *keys, *Bk, K)) != UG_OK) goto done;
    for (int64_t i = 0; i < B * Q * C; i++) q[i] += td[i];
    sam_layernorm_rows(s->ctx, q, q, B * Q, C, &l->norm2, 1e-5f);

    // MLP (ReLU).
    sam_linear_fwd(s->ctx, hid.data, q, B * Q, &l->lin1);
    sam_relu(s->ctx, hid.data, B * Q * l->lin1.w.shape[0]);
    sam_linear_fwd(s->ctx, td, hid.data, B * Q, &l->lin2);
    for (int64_t i = 0; i < B * Q * C; i++) q[i] += td[i];
    sam_layernorm_rows(s->ctx, q, q, B * Q, C, &l->norm3, 1e-5f);

    // Image-to-token cross attention: the image tokens query the prompt tokens. ka still
    // holds keys + key_pe for the shared or per-prompt keys.
    add_bcast(qad, q, B, qpe, B, Q * C);
    if ((st = dec_attention(s, &l->i2t, kt.data, kad, *Bk, K, qad, q, B, Q)) != UG_OK) goto done;
    add_bcast(keys_out, *keys, *Bk, kt.data, B, K * C);
    sam_layernorm_rows(s->ctx, keys_out, keys_out, B * K, C, &l->norm4, 1e-5f);
    *keys = keys_out;
    *Bk = B;
done:
    ug_arena_release(&s->ctx->arena, mark);
    return st;
}

// MLP of mask_decoder.py: ReLU between layers, none after the last. x [B, in] -> y [B, out].
static ug_status run_mlp(dec_state *s, const sam_mlp *mlp, float *y, const float *x, int64_t B) {
    ug_arena_mark mark = ug_arena_get_mark(&s->ctx->arena);
    ug_status st = UG_OK;
    const float *cur = x;
    for (int i = 0; i < mlp->n; i++) {
        const sam_linear *l = &mlp->layer[i];
        float *dst = y;
        if (i < mlp->n - 1) {
            ug_tensor t; // [B, hidden]
            if ((st = f32(s, &t, B, l->w.shape[0])) != UG_OK) break;
            dst = t.data;
        }
        sam_linear_fwd(s->ctx, dst, cur, B, l);
        if (i < mlp->n - 1) sam_relu(s->ctx, dst, B * l->w.shape[0]);
        cur = dst;
    }
    ug_arena_release(&s->ctx->arena, mark);
    return st;
}

// ConvTranspose2d(k=2, s=2) on an NHWC map x [B, h, w, Ci] -> y [B, 2h, 2w, Co]: one GEMM
// with the weight as [Ci, Co * 4] (columns (o, a, b)), then each row scattered into its 2x2
// output block with the bias.
static ug_status conv_transpose2x2(dec_state *s, float *y, const float *x, int64_t B, int64_t h, int64_t w,
                                   const sam_linear *l) {
    int64_t Ci = l->w.shape[0], Co = l->w.shape[1] / 4, R = B * h * w;
    ug_arena_mark mark = ug_arena_get_mark(&s->ctx->arena);
    ug_tensor t; // [R, Co * 4]
    ug_status st = f32(s, &t, R, Co * 4);
    if (st == UG_OK) {
        ug_tensor xt = ug_tensor_wrap((void *)x, UG_F32, UG_DIMS(R, Ci));
        matmul_cpu(s->ctx, &t, &xt, &l->w, NULL, 1.0f, 0.0f);
        const float *td = t.data, *bias = l->b.data;
        for (int64_t r = 0; r < R; r++) {
            int64_t n = r / (h * w), i = (r / w) % h, j = r % w;
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) {
                    float *dst = y + ((n * 2 * h + 2 * i + a) * 2 * w + 2 * j + b) * Co;
                    for (int64_t o = 0; o < Co; o++) dst[o] = td[r * Co * 4 + o * 4 + a * 2 + b] + bias[o];
                }
        }
    }
    ug_arena_release(&s->ctx->arena, mark);
    return st;
}

static void emit_nchw(dec_state *s, const sam_trace *trace, const char *name, const float *x, int64_t B, int64_t H,
                      int64_t W, int64_t Ch) {
    if (!trace || !trace->fn) return;
    ug_tensor t;
    if (sam_arena_f32(s->ctx, &t, UG_DIMS(B, Ch, H, W), s->err) != UG_OK) return;
    float *td = t.data;
    for (int64_t n = 0; n < B; n++)
        for (int64_t p = 0; p < H * W; p++)
            for (int64_t c = 0; c < Ch; c++) td[(n * Ch + c) * H * W + p] = x[(n * H * W + p) * Ch + c];
    sam_trace_emit(trace, name, &t);
}

// One chunk of B prompts: sparse [B, T, C], dense [1 or B, C, h, w] -> low_res [B, M, 4h, 4w],
// iou [B, M] (rows of the caller's outputs).
static ug_status decode_chunk(dec_state *s, const float *emb, const float *pe, const float *sparse, int64_t T,
                              const float *dense, int64_t Bd, int first_token, int M, float *low_res, float *iou,
                              const sam_trace *trace) {
    const sam_model *m = s->m;
    const sam_config *c = &m->cfg;
    int64_t B = s->B, C = s->C, K = s->K, h = c->embed_h, w = c->embed_w, nm = c->dec_num_multimask + 1;
    int64_t Q = 1 + nm + T, C8 = C / 8;
    s->Q = Q;
    ug_status st;
    ug_tensor tok, qpe, keys0, kpe, keysA, keysB; // [B*Q, C] x2, [Bd*K, C], [K, C], [B*K, C] x2
    if ((st = f32(s, &tok, B * Q, C)) != UG_OK || (st = f32(s, &qpe, B * Q, C)) != UG_OK ||
        (st = f32(s, &keys0, Bd * K, C)) != UG_OK || (st = f32(s, &kpe, K, C)) != UG_OK ||
        (st = f32(s, &keysA, B * K, C)) != UG_OK || (st = f32(s, &keysB, B * K, C)) != UG_OK)
        return st;
    float *qp = qpe.data;
    for (int64_t n = 0; n < B; n++) {
        float *row = qp + n * Q * C;
        memcpy(row, m->iou_token.data, (size_t)C * sizeof(float));
        memcpy(row + C, m->mask_tokens.data, (size_t)(nm * C) * sizeof(float));
        memcpy(row + (1 + nm) * C, sparse + n * T * C, (size_t)(T * C) * sizeof(float));
    }
    memcpy(tok.data, qp, (size_t)(B * Q * C) * sizeof(float)); // queries start as the tokens
    // src = image_embedding + dense, pos = dense_pe, both flattened to rows over (y, x).
    float *k0 = keys0.data, *kp = kpe.data;
    for (int64_t n = 0; n < Bd; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < K; i++) k0[(n * K + i) * C + ch] = emb[ch * K + i] + dense[(n * C + ch) * K + i];
    for (int64_t ch = 0; ch < C; ch++)
        for (int64_t i = 0; i < K; i++) kp[i * C + ch] = pe[ch * K + i];

    float *keys = k0;
    int64_t Bk = Bd;
    for (int i = 0; i < c->dec_depth; i++) {
        float *dst = (i % 2 == 0) ? keysA.data : keysB.data;
        if ((st = twoway_layer(s, &m->layers[i], i == 0, tok.data, qp, &keys, &Bk, dst, kp)) != UG_OK) return st;
    }
    if (Bk != B) { // depth 0: the keys were never made per prompt
        for (int64_t n = 0; n < B; n++) memcpy((float *)keysA.data + n * K * C, keys, (size_t)(K * C) * sizeof(float));
        keys = keysA.data;
        Bk = B;
    }
    // Final token-to-image attention.
    {
        ug_arena_mark mark = ug_arena_get_mark(&s->ctx->arena);
        ug_tensor qa, ka, t; // [B*Q, C], [B*K, C], [B*Q, C]
        if ((st = f32(s, &qa, B * Q, C)) != UG_OK || (st = f32(s, &ka, B * K, C)) != UG_OK ||
            (st = f32(s, &t, B * Q, C)) != UG_OK)
            return st;
        add_bcast(qa.data, tok.data, B, qp, B, Q * C);
        add_bcast(ka.data, keys, B, kp, 1, K * C);
        if ((st = dec_attention(s, &m->final_attn, t.data, qa.data, B, Q, ka.data, keys, B, K)) != UG_OK) return st;
        float *q = tok.data;
        const float *td = t.data;
        for (int64_t i = 0; i < B * Q * C; i++) q[i] += td[i];
        sam_layernorm_rows(s->ctx, q, q, B * Q, C, &m->norm_final, 1e-5f);
        ug_arena_release(&s->ctx->arena, mark);
    }
    if (trace && trace->fn) {
        ug_tensor tt = ug_tensor_wrap(tok.data, UG_F32, UG_DIMS(B, Q, C));
        ug_tensor it = ug_tensor_wrap(keys, UG_F32, UG_DIMS(B, K, C));
        sam_trace_emit(trace, "two_way_tokens_out", &tt);
        sam_trace_emit(trace, "two_way_image_out", &it);
    }

    // Output upscaling on the NHWC keys.
    ug_tensor u1, u2; // [B, 2h, 2w, C/4], [B, 4h, 4w, C/8]
    if ((st = sam_arena_f32(s->ctx, &u1, UG_DIMS(B, 2 * h, 2 * w, C / 4), s->err)) != UG_OK ||
        (st = sam_arena_f32(s->ctx, &u2, UG_DIMS(B, 4 * h, 4 * w, C8), s->err)) != UG_OK)
        return st;
    if ((st = conv_transpose2x2(s, u1.data, keys, B, h, w, &m->up0)) != UG_OK) return st;
    sam_layernorm_rows(s->ctx, u1.data, u1.data, B * 4 * K, C / 4, &m->up1, 1e-6f);
    sam_gelu(s->ctx, u1.data, B * 4 * K * (C / 4));
    if ((st = conv_transpose2x2(s, u2.data, u1.data, B, 2 * h, 2 * w, &m->up3)) != UG_OK) return st;
    sam_gelu(s->ctx, u2.data, B * 16 * K * C8);
    emit_nchw(s, trace, "upscaled_embedding", u2.data, B, 4 * h, 4 * w, C8);

    // Hypernetworks on the selected mask tokens, then masks = hyper_in @ upscaled.
    ug_tensor tk, hyper, iou_all; // [B, C], [B, M, C/8], [B, nm]
    if ((st = f32(s, &tk, B, C)) != UG_OK || (st = sam_arena_f32(s->ctx, &hyper, UG_DIMS(B, M, C8), s->err)) != UG_OK ||
        (st = f32(s, &iou_all, B, nm)) != UG_OK)
        return st;
    const float *q = tok.data;
    float *tkd = tk.data;
    for (int k = 0; k < M; k++) {
        int ti = first_token + k; // mask token index
        for (int64_t n = 0; n < B; n++) memcpy(tkd + n * C, q + (n * Q + 1 + ti) * C, (size_t)C * sizeof(float));
        ug_tensor hk; // [B, C/8]
        if ((st = f32(s, &hk, B, C8)) != UG_OK) return st;
        if ((st = run_mlp(s, &m->hyper[ti], hk.data, tkd, B)) != UG_OK) return st;
        for (int64_t n = 0; n < B; n++)
            memcpy((float *)hyper.data + (n * M + k) * C8, (float *)hk.data + n * C8, (size_t)C8 * sizeof(float));
    }
    ug_tensor ut = ug_tensor_wrap(u2.data, UG_F32, UG_DIMS(B, 16 * K, C8));
    ug_tensor utt = ug_view_transpose(&ut, 1, 2); // [B, C/8, 16K]
    ug_tensor out = ug_tensor_wrap(low_res, UG_F32, UG_DIMS(B, M, 16 * K));
    matmul_cpu(s->ctx, &out, &hyper, &utt, NULL, 1.0f, 0.0f);

    for (int64_t n = 0; n < B; n++) memcpy(tkd + n * C, q + n * Q * C, (size_t)C * sizeof(float));
    if ((st = run_mlp(s, &m->iou_head, iou_all.data, tkd, B)) != UG_OK) return st;
    for (int64_t n = 0; n < B; n++)
        for (int k = 0; k < M; k++) iou[n * M + k] = ((float *)iou_all.data)[n * nm + first_token + k];
    return UG_OK;
}

ug_status sam_decode_masks(ug_ctx *ctx, const sam_model *m, const ug_tensor *image_emb, const ug_tensor *sparse,
                           const ug_tensor *dense, bool multimask, ug_tensor *low_res, ug_tensor *iou,
                           const sam_trace *trace, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t C = c->prompt_embed_dim, h = c->embed_h, w = c->embed_w;
    memset(low_res, 0, sizeof *low_res);
    memset(iou, 0, sizeof *iou);
    ug_status st;
    if ((st = ug_tensor_check_shape(image_emb, UG_DIMS(1, C, h, w), "sam mask decoder: image embedding", err)) != UG_OK)
        return st;
    if (sparse->ndim != 3 || sparse->shape[0] < 1 || sparse->shape[2] != C)
        return ug_errf(err, UG_ERR_ARG, "sam mask decoder: sparse embeddings must be [N, T, %lld]", (long long)C);
    int64_t N = sparse->shape[0], T = sparse->shape[1];
    if (dense->ndim != 4 || (dense->shape[0] != 1 && dense->shape[0] != N) || dense->shape[1] != C ||
        dense->shape[2] != h || dense->shape[3] != w)
        return ug_errf(err, UG_ERR_ARG, "sam mask decoder: dense embeddings must be [1 or %lld, %lld, %lld, %lld]",
                       (long long)N, (long long)C, (long long)h, (long long)w);
    const ug_tensor *ins[3] = {image_emb, sparse, dense};
    for (int i = 0; i < 3; i++)
        if (ins[i]->dtype != UG_F32 || !ug_tensor_is_contiguous(ins[i]))
            return ug_errf(err, UG_ERR_ARG, "sam mask decoder: inputs must be contiguous F32");
    int M = multimask ? c->dec_num_multimask : 1, first = multimask ? 1 : 0;
    int64_t K = h * w;
    if ((st = ug_tensor_new(low_res, UG_F32, UG_DIMS(N, M, 4 * h, 4 * w), err)) != UG_OK) return st;
    if ((st = ug_tensor_new(iou, UG_F32, UG_DIMS(N, M), err)) != UG_OK) goto fail;
    int64_t chunk = (trace && trace->fn) ? N : DEC_CHUNK; // traces show the whole batch at once
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        int64_t B = N - n0 < chunk ? N - n0 : chunk;
        dec_state s = {ctx, m, B, 0, K, C, err};
        ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
        int64_t Bd = dense->shape[0];
        st = decode_chunk(&s, image_emb->data, m->dense_pe.data, (const float *)sparse->data + n0 * T * C, T,
                          (const float *)dense->data + (Bd == 1 ? 0 : n0 * C * K), Bd == 1 ? 1 : B, first, M,
                          (float *)low_res->data + n0 * M * 16 * K, (float *)iou->data + n0 * M, trace);
        ug_arena_release(&ctx->arena, mark);
        if (st != UG_OK) break;
    }
    if (st == UG_OK) return UG_OK;
fail:
    ug_tensor_free(low_res);
    ug_tensor_free(iou);
    return st;
}

ug_status sam_postprocess_masks(ug_ctx *ctx, const sam_model *m, const ug_tensor *low_res, const int input_hw[2],
                                const int orig_hw[2], ug_tensor *masks, ug_err *err) {
    int64_t S = m->cfg.img_size;
    memset(masks, 0, sizeof *masks);
    if (low_res->dtype != UG_F32 || low_res->ndim != 4)
        return ug_errf(err, UG_ERR_ARG, "sam postprocess: low-res masks must be F32 [N, M, h, w]");
    if (input_hw[0] < 1 || input_hw[1] < 1 || input_hw[0] > S || input_hw[1] > S || orig_hw[0] < 1 || orig_hw[1] < 1)
        return ug_errf(err, UG_ERR_ARG, "sam postprocess: input size %dx%d (max %lld) or original size %dx%d is invalid",
                       input_hw[0], input_hw[1], (long long)S, orig_hw[0], orig_hw[1]);
    int64_t N = low_res->shape[0], M = low_res->shape[1];
    ug_status st = ug_tensor_new(masks, UG_F32, UG_DIMS(N, M, orig_hw[0], orig_hw[1]), err);
    if (st != UG_OK) return st;
    ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
    // One prompt at a time: the S x S intermediate is 4 MB per mask for S = 1024.
    ug_tensor full; // [1, M, S, S]
    if ((st = sam_arena_f32(ctx, &full, UG_DIMS(1, M, S, S), err)) != UG_OK) {
        ug_tensor_free(masks);
        return st;
    }
    for (int64_t n = 0; n < N; n++) {
        ug_tensor lo = ug_view_slice(low_res, 0, n, 1);
        resize_bilinear_cpu(ctx, &full, &lo, false);
        ug_tensor crop = ug_view_slice(&full, 2, 0, input_hw[0]);
        crop = ug_view_slice(&crop, 3, 0, input_hw[1]);
        ug_tensor out = ug_view_slice(masks, 0, n, 1);
        resize_bilinear_cpu(ctx, &out, &crop, false);
    }
    ug_arena_release(&ctx->arena, mark);
    return UG_OK;
}
