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
//
// Tokens and keys are rows [B, N, C] (NHWC for the keys); the output upscaling reads the
// keys as a channels-last view and works NCHW from there, so the final masks are one batched
// GEMM hyper_in [M, C/8] @ upscaled [C/8, 16K]. All arithmetic goes through ops/ops.h;
// assembling the token rows and broadcasting shared keys are views and ug_copy / ug_add.
#include <math.h>
#include <string.h>

#include "models/sam_internal.h"
#include "ops/ops.h"

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

// Contiguous rows [r, c] at p: the decoder's activations are row blocks of arena buffers.
static ug_tensor rows_of(const float *p, int64_t r, int64_t c) {
    return ug_tensor_wrap((void *)p, UG_F32, UG_DIMS(r, c));
}

// [B, rc] rows of p holding Bp (1 or B) batch entries: a stride-0 view when Bp == 1 < B.
static ug_tensor batch_of(const float *p, int64_t Bp, int64_t B, int64_t rc) {
    if (Bp == B) return rows_of(p, B, rc);
    ug_tensor one = ug_tensor_wrap((void *)p, UG_F32, UG_DIMS(rc));
    return ug_view_expand_dim(&one, 0, B);
}

// Attention (transformer.py: Attention): q_in [Bq, Nq, C], k_in/v_in [Bk, Nk, C] with Bq and
// Bk either 1 (shared by all B prompts) or B -> out [B, Nq, C].
static ug_status dec_attention(dec_state *s, const sam_attention *a, float *out, const float *q_in, int64_t Bq,
                               int64_t Nq, const float *k_in, const float *v_in, int64_t Bk, int64_t Nk) {
    int64_t B = s->B, C = s->C, inner = a->inner, H = s->m->cfg.dec_num_heads, d = inner / H;
    ug_arena_mark mark = ug_arena_get_mark(&s->ctx->arena);
    ug_tensor q, k, v, o; // [Bq*Nq, inner], [Bk*Nk, inner] x2, [B*Nq, inner]
    ug_status st;
    if ((st = f32(s, &q, Bq * Nq, inner)) != UG_OK || (st = f32(s, &k, Bk * Nk, inner)) != UG_OK ||
        (st = f32(s, &v, Bk * Nk, inner)) != UG_OK || (st = f32(s, &o, B * Nq, inner)) != UG_OK)
        goto done;
    ug_tensor qi = rows_of(q_in, Bq * Nq, C), ki = rows_of(k_in, Bk * Nk, C), vi = rows_of(v_in, Bk * Nk, C);
    ug_linear(s->ctx, &q, &qi, &a->q.w, sam_bias(&a->q));
    ug_linear(s->ctx, &k, &ki, &a->k.w, sam_bias(&a->k));
    ug_linear(s->ctx, &v, &vi, &a->v.w, sam_bias(&a->v));
    // Head split as views [B, H, N, d]: token n, head h at n * inner + h * d.
    ug_tensor qv = ug_tensor_wrap(q.data, UG_F32, UG_DIMS(B, H, Nq, d));
    ug_tensor kv = ug_tensor_wrap(k.data, UG_F32, UG_DIMS(B, H, Nk, d));
    ug_tensor vv = ug_tensor_wrap(v.data, UG_F32, UG_DIMS(B, H, Nk, d));
    ug_tensor ov = ug_tensor_wrap(o.data, UG_F32, UG_DIMS(B, H, Nq, d));
    ug_tensor *views[4] = {&qv, &kv, &vv, &ov};
    int64_t nrows[4] = {Nq, Nk, Nk, Nq}, batches[4] = {Bq, Bk, Bk, B};
    for (int i = 0; i < 4; i++) {
        views[i]->stride[0] = batches[i] == 1 ? 0 : nrows[i] * inner;
        views[i]->stride[1] = d;
        views[i]->stride[2] = inner;
        views[i]->stride[3] = 1;
    }
    ug_attention(s->ctx, &ov, &qv, &kv, &vv, NULL, 1.0f / sqrtf((float)d));
    ug_tensor y = rows_of(out, B * Nq, C);
    ug_linear(s->ctx, &y, &o, &a->out.w, sam_bias(&a->out));
done:
    ug_arena_release(&s->ctx->arena, mark);
    return st;
}

// y = a + b with a or b broadcast over the batch when it has one batch entry: a [Ba, R, C],
// b [Bb, R, C], y [max(Ba, Bb), R, C].
static void add_bcast(dec_state *s, float *y, const float *a, int64_t Ba, const float *b, int64_t Bb, int64_t RC) {
    int64_t B = Ba > Bb ? Ba : Bb;
    ug_tensor yt = rows_of(y, B, RC), at = batch_of(a, Ba, B, RC), bt = batch_of(b, Bb, B, RC);
    ug_add(s->ctx, &yt, &at, &bt);
}

// x [rows, cols] += d [rows, cols] (a residual).
static void add_rows(dec_state *s, float *x, const float *d, int64_t rows, int64_t cols) {
    ug_tensor xt = rows_of(x, rows, cols), dt = rows_of(d, rows, cols);
    ug_add(s->ctx, &xt, &xt, &dt);
}

// x [rows, C] = LayerNorm(x) in place.
static void norm_rows(dec_state *s, float *x, int64_t rows, const sam_norm *n, float eps) {
    ug_tensor xt = rows_of(x, rows, n->w.shape[0]);
    ug_layernorm(s->ctx, &xt, &xt, &n->w, &n->b, eps);
}

// TwoWayAttentionBlock. queries [B, Q, C] in place; *keys [*Bk, K, C] is replaced by the
// per-prompt keys [B, K, C] (keys_out, preallocated) after the image-to-token attention.
static ug_status twoway_layer(dec_state *s, const sam_twoway_layer *l, bool first, float *queries, const float *qpe,
                              float **keys, int64_t *Bk, float *keys_out, const float *kpe) {
    int64_t B = s->B, Q = s->Q, K = s->K, C = s->C, mlp = l->lin1.w.shape[0];
    ug_arena_mark mark = ug_arena_get_mark(&s->ctx->arena);
    ug_tensor qa, ka, t, hid, kt; // [B*Q, C] x2, [B*Q, C], [B*Q, mlp], [B*K, C]
    ug_status st;
    if ((st = f32(s, &qa, B * Q, C)) != UG_OK || (st = f32(s, &t, B * Q, C)) != UG_OK ||
        (st = f32(s, &ka, B * K, C)) != UG_OK || (st = f32(s, &hid, B * Q, mlp)) != UG_OK ||
        (st = f32(s, &kt, B * K, C)) != UG_OK)
        goto done;
    float *q = queries, *qad = qa.data, *td = t.data, *kad = ka.data;

    // Self-attention: the first layer has no PE and no residual (skip_first_layer_pe).
    if (first) {
        if ((st = dec_attention(s, &l->self_attn, td, q, B, Q, q, q, B, Q)) != UG_OK) goto done;
        ug_tensor qt = rows_of(q, B * Q, C), tt = rows_of(td, B * Q, C);
        ug_copy(s->ctx, &qt, &tt);
    } else {
        add_bcast(s, qad, q, B, qpe, B, Q * C);
        if ((st = dec_attention(s, &l->self_attn, td, qad, B, Q, qad, q, B, Q)) != UG_OK) goto done;
        add_rows(s, q, td, B * Q, C);
    }
    norm_rows(s, q, B * Q, &l->norm1, 1e-5f);

    // Token-to-image cross attention.
    add_bcast(s, qad, q, B, qpe, B, Q * C);
    add_bcast(s, kad, *keys, *Bk, kpe, 1, K * C);
    if ((st = dec_attention(s, &l->t2i, td, qad, B, Q, kad, *keys, *Bk, K)) != UG_OK) goto done;
    add_rows(s, q, td, B * Q, C);
    norm_rows(s, q, B * Q, &l->norm2, 1e-5f);

    // MLP (ReLU).
    ug_tensor qt = rows_of(q, B * Q, C), tt = rows_of(td, B * Q, C);
    ug_linear(s->ctx, &hid, &qt, &l->lin1.w, sam_bias(&l->lin1));
    ug_relu(s->ctx, &hid, &hid);
    ug_linear(s->ctx, &tt, &hid, &l->lin2.w, sam_bias(&l->lin2));
    add_rows(s, q, td, B * Q, C);
    norm_rows(s, q, B * Q, &l->norm3, 1e-5f);

    // Image-to-token cross attention: the image tokens query the prompt tokens. ka still
    // holds keys + key_pe for the shared or per-prompt keys.
    add_bcast(s, qad, q, B, qpe, B, Q * C);
    if ((st = dec_attention(s, &l->i2t, kt.data, kad, *Bk, K, qad, q, B, Q)) != UG_OK) goto done;
    add_bcast(s, keys_out, *keys, *Bk, kt.data, B, K * C);
    norm_rows(s, keys_out, B * K, &l->norm4, 1e-5f);
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
    ug_tensor cur = rows_of(x, B, mlp->layer[0].w.shape[1]);
    for (int i = 0; i < mlp->n; i++) {
        const sam_linear *l = &mlp->layer[i];
        ug_tensor dst = rows_of(y, B, l->w.shape[0]);
        if (i < mlp->n - 1 && (st = f32(s, &dst, B, l->w.shape[0])) != UG_OK) break; // [B, hidden]
        ug_linear(s->ctx, &dst, &cur, &l->w, sam_bias(l));
        if (i < mlp->n - 1) ug_relu(s->ctx, &dst, &dst);
        cur = dst;
    }
    ug_arena_release(&s->ctx->arena, mark);
    return st;
}

// One chunk of B prompts: sparse [B, T, C], dense [1 or B, C, h, w] -> low_res [B, M, 4h, 4w],
// iou [B, M] (rows of the caller's outputs).
static ug_status decode_chunk(dec_state *s, const ug_tensor *emb, const float *pe, const float *sparse, int64_t T,
                              const float *dense, int64_t Bd, int first_token, int M, float *low_res, float *iou,
                              const sam_trace *trace) {
    const sam_model *m = s->m;
    const sam_config *c = &m->cfg;
    ug_ctx *ctx = s->ctx;
    int64_t B = s->B, C = s->C, K = s->K, h = c->embed_h, w = c->embed_w, nm = c->dec_num_multimask + 1;
    int64_t Q = 1 + nm + T, C4 = C / 4, C8 = C / 8;
    s->Q = Q;
    ug_status st;
    ug_tensor tok, qpe, keys0, kpe, keysA, keysB; // [B, Q, C] x2, [Bd, K, C], [K, C], [B*K, C] x2
    if ((st = sam_arena_f32(ctx, &tok, UG_DIMS(B, Q, C), s->err)) != UG_OK ||
        (st = sam_arena_f32(ctx, &qpe, UG_DIMS(B, Q, C), s->err)) != UG_OK ||
        (st = sam_arena_f32(ctx, &keys0, UG_DIMS(Bd, K, C), s->err)) != UG_OK || (st = f32(s, &kpe, K, C)) != UG_OK ||
        (st = f32(s, &keysA, B * K, C)) != UG_OK || (st = f32(s, &keysB, B * K, C)) != UG_OK)
        return st;
    // Tokens [iou_token, mask_tokens, sparse] per prompt; the learned ones broadcast over B.
    ug_tensor dst = ug_view_slice(&qpe, 1, 0, 1), src = ug_view_expand_dim(&m->iou_token, 0, B); // [B, 1, C]
    ug_copy(ctx, &dst, &src);
    dst = ug_view_slice(&qpe, 1, 1, nm);
    src = ug_view_expand_dim(&m->mask_tokens, 0, B); // [B, nm, C]
    ug_copy(ctx, &dst, &src);
    if (T > 0) {
        dst = ug_view_slice(&qpe, 1, 1 + nm, T);
        src = ug_tensor_wrap((void *)sparse, UG_F32, UG_DIMS(B, T, C));
        ug_copy(ctx, &dst, &src);
    }
    ug_copy(ctx, &tok, &qpe); // queries start as the tokens, which stay the query PE
    // src = image_embedding + dense, pos = dense_pe, both NCHW maps flattened to rows over
    // (y, x): written through transposed views [., C, K] of the row buffers.
    ug_tensor k0t = ug_view_transpose(&keys0, 1, 2); // [Bd, C, K]
    ug_tensor e2 = ug_tensor_wrap(emb->data, UG_F32, UG_DIMS(C, K));
    ug_tensor eb = ug_view_expand_dim(&e2, 0, Bd);                                     // [Bd, C, K]
    ug_tensor d3 = ug_tensor_wrap((void *)dense, UG_F32, UG_DIMS(Bd, C, K));
    ug_add(ctx, &k0t, &eb, &d3);
    ug_tensor kpt = ug_view_transpose(&kpe, 0, 1), pet = ug_tensor_wrap((void *)pe, UG_F32, UG_DIMS(C, K));
    ug_copy(ctx, &kpt, &pet);

    float *qp = qpe.data, *kp = kpe.data, *keys = keys0.data;
    int64_t Bk = Bd;
    for (int i = 0; i < c->dec_depth; i++) {
        float *kdst = (i % 2 == 0) ? keysA.data : keysB.data;
        if ((st = twoway_layer(s, &m->layers[i], i == 0, tok.data, qp, &keys, &Bk, kdst, kp)) != UG_OK) return st;
    }
    if (Bk != B) { // depth 0: the keys were never made per prompt
        ug_tensor kd = rows_of(keysA.data, B, K * C), ks = batch_of(keys, Bk, B, K * C);
        ug_copy(ctx, &kd, &ks);
        keys = keysA.data;
        Bk = B;
    }
    // Final token-to-image attention.
    {
        ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
        ug_tensor qa, ka, t; // [B*Q, C], [B*K, C], [B*Q, C]
        if ((st = f32(s, &qa, B * Q, C)) != UG_OK || (st = f32(s, &ka, B * K, C)) != UG_OK ||
            (st = f32(s, &t, B * Q, C)) != UG_OK)
            return st;
        add_bcast(s, qa.data, tok.data, B, qp, B, Q * C);
        add_bcast(s, ka.data, keys, B, kp, 1, K * C);
        if ((st = dec_attention(s, &m->final_attn, t.data, qa.data, B, Q, ka.data, keys, B, K)) != UG_OK) return st;
        add_rows(s, tok.data, t.data, B * Q, C);
        norm_rows(s, tok.data, B * Q, &m->norm_final, 1e-5f);
        ug_arena_release(&ctx->arena, mark);
    }
    if (trace && trace->fn) {
        ug_tensor it = ug_tensor_wrap(keys, UG_F32, UG_DIMS(B, K, C));
        sam_trace_emit(trace, "two_way_tokens_out", &tok);
        sam_trace_emit(trace, "two_way_image_out", &it);
    }

    // Output upscaling: ConvT 2x2/2 reading the NHWC keys as a channels-last view, LN2d,
    // GELU, ConvT 2x2/2, GELU, all NCHW.
    ug_tensor u1, u2; // [B, C/4, 2h, 2w], [B, C/8, 4h, 4w]
    if ((st = sam_arena_f32(ctx, &u1, UG_DIMS(B, C4, 2 * h, 2 * w), s->err)) != UG_OK ||
        (st = sam_arena_f32(ctx, &u2, UG_DIMS(B, C8, 4 * h, 4 * w), s->err)) != UG_OK)
        return st;
    ug_tensor kin = sam_nhwc_as_nchw(keys, B, h, w, C);
    ug_tensor w0 = ug_view_reshape(&m->up0.w, UG_DIMS(C, C4, 2, 2)), w3 = ug_view_reshape(&m->up3.w, UG_DIMS(C4, C8, 2, 2));
    ug_conv_transpose2x2(ctx, &u1, &kin, &w0, sam_bias(&m->up0));
    ug_layernorm2d(ctx, &u1, &u1, &m->up1.w, &m->up1.b, 1e-6f);
    ug_gelu(ctx, &u1, &u1);
    ug_conv_transpose2x2(ctx, &u2, &u1, &w3, sam_bias(&m->up3));
    ug_gelu(ctx, &u2, &u2);
    sam_trace_emit(trace, "upscaled_embedding", &u2);

    // Hypernetworks on the selected mask tokens, then masks = hyper_in @ upscaled.
    ug_tensor tk, hk, hyper, iou_all; // [B, C], [B, C/8], [B, M, C/8], [B, nm]
    if ((st = f32(s, &tk, B, C)) != UG_OK || (st = f32(s, &hk, B, C8)) != UG_OK ||
        (st = sam_arena_f32(ctx, &hyper, UG_DIMS(B, M, C8), s->err)) != UG_OK || (st = f32(s, &iou_all, B, nm)) != UG_OK)
        return st;
    ug_tensor tk3 = ug_view_reshape(&tk, UG_DIMS(B, 1, C)), hk3 = ug_view_reshape(&hk, UG_DIMS(B, 1, C8));
    for (int k = 0; k < M; k++) {
        int ti = first_token + k; // mask token index
        ug_tensor sel = ug_view_slice(&tok, 1, 1 + ti, 1);
        ug_copy(ctx, &tk3, &sel);
        if ((st = run_mlp(s, &m->hyper[ti], hk.data, tk.data, B)) != UG_OK) return st;
        ug_tensor hdst = ug_view_slice(&hyper, 1, k, 1);
        ug_copy(ctx, &hdst, &hk3);
    }
    ug_tensor up = ug_view_reshape(&u2, UG_DIMS(B, C8, 16 * K));
    ug_tensor out = ug_tensor_wrap(low_res, UG_F32, UG_DIMS(B, M, 16 * K));
    ug_matmul(ctx, &out, &hyper, &up, NULL, 1.0f, 0.0f);

    ug_tensor sel = ug_view_slice(&tok, 1, 0, 1);
    ug_copy(ctx, &tk3, &sel);
    if ((st = run_mlp(s, &m->iou_head, iou_all.data, tk.data, B)) != UG_OK) return st;
    ug_tensor isel = ug_view_slice(&iou_all, 1, first_token, M), iout = ug_tensor_wrap(iou, UG_F32, UG_DIMS(B, M));
    ug_copy(ctx, &iout, &isel);
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
        st = decode_chunk(&s, image_emb, m->dense_pe.data, (const float *)sparse->data + n0 * T * C, T,
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
        ug_resize_bilinear(ctx, &full, &lo, false);
        ug_tensor crop = ug_view_slice(&full, 2, 0, input_hw[0]);
        crop = ug_view_slice(&crop, 3, 0, input_hw[1]);
        ug_tensor out = ug_view_slice(masks, 0, n, 1);
        ug_resize_bilinear(ctx, &out, &crop, false);
    }
    ug_arena_release(&ctx->arena, mark);
    return UG_OK;
}
