// models/sam_mask_decoder.c — MaskDecoder and TwoWayTransformer
// (segment_anything/modeling/mask_decoder.py, transformer.py) for a batch of N prompts over
// one image embedding, and Sam.postprocess_masks (sam.py).
//
//   tokens [N, Q, C] = [iou_token, mask_tokens (M+1), sparse (T)]      Q = 1 + (M+1) + T
//   keys   [K, C]    = image_embedding + dense (rows over (y, x))       K = h * w
//   TwoWayTransformer(depth) -> queries [N, Q, C], keys [N, K, C]
//   keys -> ConvT 2x2/2, LN2d, GELU, ConvT 2x2/2, GELU -> upscaled [N, C/8, 4h, 4w]
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
// assembling the token rows, selecting tokens and broadcasting shared keys are views and
// ug_concat / ug_copy / ug_add.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/sam_internal.h"
#include "ops/ops.h"

// Prompts decoded together: the per-prompt keys are [K, C] each (4 MB for vit_h), and a
// chunk needs about eight such buffers.
enum { DEC_CHUNK = 16 };

// What the stages of one chunk share: B prompts, Q tokens, K image tokens of width C.
typedef struct dec_state {
    ug_ctx *ctx;
    const sam_model *m;
    int64_t B, Q, K, C;
    ug_err *err;
} dec_state;

static ug_status check_inputs(ug_ctx *ctx, const sam_model *m, const ug_tensor *emb, const ug_tensor *sparse,
                              const ug_tensor *dense, ug_err *err);
static ug_status decode_chunk(dec_state *s, const ug_tensor *emb, const ug_tensor *sparse,
                              const ug_tensor *dense, int first_token, ug_tensor *low_res, ug_tensor *iou,
                              const nn_trace *trace);

ug_status sam_decode_masks(ug_ctx *ctx, const sam_model *m, const ug_tensor *image_emb,
                           const ug_tensor *sparse, const ug_tensor *dense, bool multimask,
                           ug_tensor *low_res, ug_tensor *iou, const nn_trace *trace, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t C = c->prompt_embed_dim, h = c->embed_h, w = c->embed_w;
    memset(low_res, 0, sizeof *low_res);
    memset(iou, 0, sizeof *iou);
    ug_status st = check_inputs(ctx, m, image_emb, sparse, dense, err);
    if (st != UG_OK) return st;
    int64_t N = sparse->shape[0];
    int M = multimask ? c->dec_num_multimask : 1, first = multimask ? 1 : 0;
    if ((st = nn_output(ctx, low_res, UG_F32, UG_DIMS(N, M, 4 * h, 4 * w), err)) != UG_OK) return st;
    if ((st = nn_output(ctx, iou, UG_F32, UG_DIMS(N, M), err)) != UG_OK) goto fail;
    int64_t chunk = nn_tracing(trace) ? N : DEC_CHUNK; // traces show the whole batch at once
    for (int64_t n0 = 0; n0 < N && st == UG_OK; n0 += chunk) {
        int64_t B = N - n0 < chunk ? N - n0 : chunk;
        dec_state s = {ctx, m, B, 0, h * w, C, err};
        ug_tensor sp = ug_view_slice(sparse, 0, n0, B), lo = ug_view_slice(low_res, 0, n0, B);
        ug_tensor dn = dense->shape[0] == 1 ? ug_view_slice(dense, 0, 0, 1) : ug_view_slice(dense, 0, n0, B);
        ug_tensor io = ug_view_slice(iou, 0, n0, B);
        nn_mark mark = nn_get_mark(ctx);
        st = decode_chunk(&s, image_emb, &sp, &dn, first, &lo, &io, trace);
        nn_release(ctx, mark);
    }
    if (st == UG_OK) return UG_OK;
fail:
    ug_tensor_free(low_res);
    ug_tensor_free(iou);
    return st;
}

// image embedding [1, C, h, w], sparse [N, T, C] (T may be 0), dense [1 or N, C, h, w]:
// contiguous F32 on ctx->device.
static ug_status check_inputs(ug_ctx *ctx, const sam_model *m, const ug_tensor *emb, const ug_tensor *sparse,
                              const ug_tensor *dense, ug_err *err) {
    const sam_config *c = &m->cfg;
    int64_t C = c->prompt_embed_dim, h = c->embed_h, w = c->embed_w;
    const ug_tensor *ins[3] = {emb, sparse, dense};
    const char *what[3] = {"sam mask decoder: image embedding", "sam mask decoder: sparse embeddings",
                           "sam mask decoder: dense embeddings"};
    ug_status st = nn_check_weights(ctx, &m->w, "sam mask decoder", err);
    for (int i = 0; i < 3 && st == UG_OK; i++)
        st = nn_check_device(ctx, ins[i], what[i], err);
    if (st != UG_OK) return st;
    char dims[64];
    snprintf(dims, sizeof dims, "[1,%lld,%lld,%lld]", (long long)C, (long long)h, (long long)w);
    if ((st = nn_check_input(emb, UG_F32, UG_DIMS(1, C, h, w), true, what[0], dims, err)) != UG_OK) return st;
    snprintf(dims, sizeof dims, "[N,T,%lld]", (long long)C);
    if ((st = nn_check_input(sparse, UG_F32, UG_DIMS(-1, sparse->shape[1], C), true, what[1], dims, err)) !=
        UG_OK)
        return st;
    int64_t N = sparse->shape[0], Bd = dense->shape[0] == 1 ? 1 : N;
    snprintf(dims, sizeof dims, "[1 or %lld,%lld,%lld,%lld]", (long long)N, (long long)C, (long long)h,
             (long long)w);
    return nn_check_input(dense, UG_F32, UG_DIMS(Bd, C, h, w), true, what[2], dims, err);
}

// ---- one chunk of B prompts ----

// An arena tensor [B, rows, cols].
static ug_status dec_f32(dec_state *s, ug_tensor *t, int64_t B, int64_t rows, int64_t cols) {
    return nn_f32(s->ctx, t, UG_DIMS(B, rows, cols), s->err);
}

// t [1 or B, ...] seen as [B, ...]: a stride-0 view of its one batch entry when it has one.
static ug_tensor over_batch(const ug_tensor *t, int64_t B) {
    if (t->shape[0] == B) return ug_view_slice(t, 0, 0, B);
    ug_tensor one = ug_view_strided(t, 0, t->ndim - 1, t->shape + 1, t->stride + 1); // without the batch dim
    return ug_view_expand_dim(&one, 0, B);
}

static void prompt_tokens(dec_state *s, ug_tensor *tokens, const ug_tensor *sparse);
static void image_keys(dec_state *s, ug_tensor *keys, ug_tensor *kpe, const ug_tensor *emb,
                       const ug_tensor *dense);
static ug_status two_way_transformer(dec_state *s, ug_tensor *tok, const ug_tensor *qpe, ug_tensor *keys,
                                     const ug_tensor *kpe, ug_tensor *keys_a, ug_tensor *keys_b);
static ug_status final_attention(dec_state *s, ug_tensor *tok, const ug_tensor *qpe, const ug_tensor *keys,
                                 const ug_tensor *kpe);
static ug_status upscale(dec_state *s, ug_tensor *up, const ug_tensor *keys);
static ug_status predict_masks(dec_state *s, ug_tensor *low_res, const ug_tensor *tok, const ug_tensor *up,
                               int first_token);
static ug_status predict_iou(dec_state *s, ug_tensor *iou, const ug_tensor *tok, int first_token);

// sparse [B, T, C], dense [1 or B, C, h, w] -> low_res [B, M, 4h, 4w], iou [B, M] (rows of the
// caller's outputs). Everything it allocates is released by the caller.
static ug_status decode_chunk(dec_state *s, const ug_tensor *emb, const ug_tensor *sparse,
                              const ug_tensor *dense, int first_token, ug_tensor *low_res, ug_tensor *iou,
                              const nn_trace *trace) {
    int64_t B = s->B, C = s->C, K = s->K, h = s->m->cfg.embed_h, w = s->m->cfg.embed_w;
    s->Q = 1 + (s->m->cfg.dec_num_multimask + 1) + sparse->shape[1];
    ug_status st;
    ug_tensor tok, qpe, keys0, kpe, keys_a, keys_b; // [B, Q, C] x2, [Bd, K, C], [1, K, C], [B, K, C] x2
    ug_tensor up;                                   // [B, C/8, 4h, 4w]
    if ((st = dec_f32(s, &tok, B, s->Q, C)) != UG_OK || (st = dec_f32(s, &qpe, B, s->Q, C)) != UG_OK ||
        (st = dec_f32(s, &keys0, dense->shape[0], K, C)) != UG_OK ||
        (st = dec_f32(s, &kpe, 1, K, C)) != UG_OK || (st = dec_f32(s, &keys_a, B, K, C)) != UG_OK ||
        (st = dec_f32(s, &keys_b, B, K, C)) != UG_OK)
        return st;
    prompt_tokens(s, &qpe, sparse);
    ug_copy(s->ctx, &tok, &qpe); // queries start as the tokens, which stay the query PE
    image_keys(s, &keys0, &kpe, emb, dense);
    ug_tensor keys = keys0;
    if ((st = two_way_transformer(s, &tok, &qpe, &keys, &kpe, &keys_a, &keys_b)) != UG_OK ||
        (st = final_attention(s, &tok, &qpe, &keys, &kpe)) != UG_OK)
        return st;
    nn_emit(trace, "two_way_tokens_out", &tok);
    nn_emit(trace, "two_way_image_out", &keys);
    if ((st = nn_f32(s->ctx, &up, UG_DIMS(B, C / 8, 4 * h, 4 * w), s->err)) != UG_OK ||
        (st = upscale(s, &up, &keys)) != UG_OK)
        return st;
    nn_emit(trace, "upscaled_embedding", &up);
    if ((st = predict_masks(s, low_res, &tok, &up, first_token)) != UG_OK) return st;
    return predict_iou(s, iou, &tok, first_token);
}

// Tokens [iou_token, mask_tokens, sparse] per prompt: tokens [B, Q, C], the learned ones
// broadcast over the batch.
static void prompt_tokens(dec_state *s, ug_tensor *tokens, const ug_tensor *sparse) {
    const sam_model *m = s->m;
    ug_tensor parts[3] = {ug_view_expand_dim(&m->iou_token, 0, s->B),
                          ug_view_expand_dim(&m->mask_tokens, 0, s->B),
                          ug_view_slice(sparse, 0, 0, s->B)}; // [B, 1, C], [B, M+1, C], [B, T, C]
    ug_concat(s->ctx, tokens, parts, sparse->shape[1] > 0 ? 3 : 2, 1);
}

// keys = image_embedding + dense, kpe = dense_pe: NCHW maps [., C, h, w] flattened to rows
// [., K, C] over (y, x), written through transposed views [., C, K] of the row tensors.
static void image_keys(dec_state *s, ug_tensor *keys, ug_tensor *kpe, const ug_tensor *emb,
                       const ug_tensor *dense) {
    int64_t C = s->C, K = s->K, Bd = keys->shape[0];
    ug_tensor kt = ug_view_transpose(keys, 1, 2); // [Bd, C, K]
    ug_tensor e = ug_view_reshape(emb, UG_DIMS(1, C, K)), d = ug_view_reshape(dense, UG_DIMS(Bd, C, K));
    e = over_batch(&e, Bd);
    ug_add(s->ctx, &kt, &e, &d);
    ug_tensor pt = ug_view_transpose(kpe, 1, 2),
              pe = ug_view_reshape(&s->m->dense_pe, UG_DIMS(1, C, K)); // [1, C, K]
    ug_copy(s->ctx, &pt, &pe);
}

static ug_status twoway_layer(dec_state *s, const sam_twoway_layer *l, bool first, ug_tensor *q,
                              const ug_tensor *qpe, const ug_tensor *keys, ug_tensor *keys_out,
                              const ug_tensor *kpe);

// TwoWayTransformer's layers: tok [B, Q, C] in place; *keys starts as the chunk's keys
// [1 or B, K, C] and ends as the per-prompt keys [B, K, C], in keys_a or keys_b (the layers
// alternate, so none writes the keys it reads).
static ug_status two_way_transformer(dec_state *s, ug_tensor *tok, const ug_tensor *qpe, ug_tensor *keys,
                                     const ug_tensor *kpe, ug_tensor *keys_a, ug_tensor *keys_b) {
    ug_status st;
    for (int i = 0; i < s->m->cfg.dec_depth; i++) {
        ug_tensor *dst = i % 2 == 0 ? keys_a : keys_b;
        if ((st = twoway_layer(s, &s->m->layers[i], i == 0, tok, qpe, keys, dst, kpe)) != UG_OK) return st;
        *keys = *dst;
    }
    if (keys->shape[0] != s->B) { // depth 0: the keys were never made per prompt
        ug_tensor shared = over_batch(keys, s->B);
        ug_copy(s->ctx, keys_a, &shared);
        *keys = *keys_a;
    }
    return UG_OK;
}

static ug_status dec_attention(dec_state *s, const sam_attention *a, ug_tensor *out, const ug_tensor *q_in,
                               const ug_tensor *k_in, const ug_tensor *v_in);

// y [By, R, C] = a + b, either broadcast over the batch when it has one entry.
static void add_over_batch(dec_state *s, ug_tensor *y, const ug_tensor *a, const ug_tensor *b) {
    ug_tensor at = over_batch(a, y->shape[0]), bt = over_batch(b, y->shape[0]);
    ug_add(s->ctx, y, &at, &bt);
}

// The final token-to-image attention and its norm, tok [B, Q, C] in place.
static ug_status final_attention(dec_state *s, ug_tensor *tok, const ug_tensor *qpe, const ug_tensor *keys,
                                 const ug_tensor *kpe) {
    const sam_model *m = s->m;
    nn_mark mark = nn_get_mark(s->ctx);
    ug_tensor qa, ka, t; // [B, Q, C], [B, K, C], [B, Q, C]
    ug_status st;
    if ((st = dec_f32(s, &qa, s->B, s->Q, s->C)) != UG_OK ||
        (st = dec_f32(s, &ka, s->B, s->K, s->C)) != UG_OK || (st = dec_f32(s, &t, s->B, s->Q, s->C)) != UG_OK)
        goto done;
    add_over_batch(s, &qa, tok, qpe);
    add_over_batch(s, &ka, keys, kpe);
    if ((st = dec_attention(s, &m->final_attn, &t, &qa, &ka, keys)) != UG_OK) goto done;
    ug_add(s->ctx, tok, tok, &t);
    ug_layernorm(s->ctx, tok, tok, &m->norm_final.w, &m->norm_final.b, 1e-5f);
done:
    nn_release(s->ctx, mark);
    return st;
}

// Output upscaling: keys [B, K, C] read as the channels-last map [B, C, h, w] -> ConvT 2x2/2,
// LN2d, GELU, ConvT 2x2/2, GELU -> up [B, C/8, 4h, 4w], all NCHW.
static ug_status upscale(dec_state *s, ug_tensor *up, const ug_tensor *keys) {
    const sam_model *m = s->m;
    int64_t B = s->B, C = s->C, h = m->cfg.embed_h, w = m->cfg.embed_w;
    ug_tensor u1; // [B, C/4, 2h, 2w]
    ug_status st = nn_f32(s->ctx, &u1, UG_DIMS(B, C / 4, 2 * h, 2 * w), s->err);
    if (st != UG_OK) return st;
    ug_tensor k4 = ug_view_reshape(keys, UG_DIMS(B, h, w, C)), kin = nn_nhwc_as_nchw(&k4);
    ug_conv_transpose2x2(s->ctx, &u1, &kin, &m->up0.w, nn_bias(&m->up0.b));
    ug_layernorm2d(s->ctx, &u1, &u1, &m->up1.w, &m->up1.b, 1e-6f);
    ug_gelu(s->ctx, &u1, &u1);
    ug_conv_transpose2x2(s->ctx, up, &u1, &m->up3.w, nn_bias(&m->up3.b));
    ug_gelu(s->ctx, up, up);
    return UG_OK;
}

static ug_status run_mlp(dec_state *s, const sam_mlp *mlp, ug_tensor *y, const ug_tensor *x);

// Token `index` of every prompt, tok [B, Q, C] -> dst [B, C] (contiguous, as the MLPs read it).
static void select_token(dec_state *s, ug_tensor *dst, const ug_tensor *tok, int64_t index) {
    ug_tensor d3 = ug_view_reshape(dst, UG_DIMS(s->B, 1, s->C)), sel = ug_view_slice(tok, 1, index, 1);
    ug_copy(s->ctx, &d3, &sel);
}

// Hypernetworks on the selected mask tokens 1 + first_token ... -> hyper_in [B, M, C/8], then
// masks low_res [B, M, 4h, 4w] = hyper_in @ up [B, C/8, 16K].
static ug_status predict_masks(dec_state *s, ug_tensor *low_res, const ug_tensor *tok, const ug_tensor *up,
                               int first_token) {
    int64_t B = s->B, C = s->C, C8 = C / 8, M = low_res->shape[1], K = s->K;
    ug_tensor tk, hk, hyper; // [B, C], [B, C/8], [B, M, C/8]
    ug_status st;
    if ((st = nn_f32(s->ctx, &tk, UG_DIMS(B, C), s->err)) != UG_OK ||
        (st = nn_f32(s->ctx, &hk, UG_DIMS(B, C8), s->err)) != UG_OK ||
        (st = dec_f32(s, &hyper, B, M, C8)) != UG_OK)
        return st;
    ug_tensor hk3 = ug_view_reshape(&hk, UG_DIMS(B, 1, C8));
    for (int64_t k = 0; k < M; k++) {
        int64_t ti = first_token + k; // mask token index
        select_token(s, &tk, tok, 1 + ti);
        if ((st = run_mlp(s, &s->m->hyper[ti], &hk, &tk)) != UG_OK) return st;
        ug_tensor hdst = ug_view_slice(&hyper, 1, k, 1);
        ug_copy(s->ctx, &hdst, &hk3);
    }
    ug_tensor upr = ug_view_reshape(up, UG_DIMS(B, C8, 16 * K)),
              out = ug_view_reshape(low_res, UG_DIMS(B, M, 16 * K));
    ug_matmul(s->ctx, &out, &hyper, &upr, NULL, 1.0f, 0.0f);
    return UG_OK;
}

// iou_head on the IoU token -> all M+1 predictions, of which M from first_token go to iou [B, M].
static ug_status predict_iou(dec_state *s, ug_tensor *iou, const ug_tensor *tok, int first_token) {
    int64_t B = s->B, nm = s->m->cfg.dec_num_multimask + 1, M = iou->shape[1];
    ug_tensor tk, all; // [B, C], [B, M+1]
    ug_status st;
    if ((st = nn_f32(s->ctx, &tk, UG_DIMS(B, s->C), s->err)) != UG_OK ||
        (st = nn_f32(s->ctx, &all, UG_DIMS(B, nm), s->err)) != UG_OK)
        return st;
    select_token(s, &tk, tok, 0);
    if ((st = run_mlp(s, &s->m->iou_head, &all, &tk)) != UG_OK) return st;
    ug_tensor sel = ug_view_slice(&all, 1, first_token, M);
    ug_copy(s->ctx, iou, &sel);
    return UG_OK;
}

// ---- the blocks ----

// TwoWayAttentionBlock. q [B, Q, C] in place; keys [1 or B, K, C] -> keys_out [B, K, C],
// the per-prompt keys after the image-to-token attention.
static ug_status twoway_layer(dec_state *s, const sam_twoway_layer *l, bool first, ug_tensor *q,
                              const ug_tensor *qpe, const ug_tensor *keys, ug_tensor *keys_out,
                              const ug_tensor *kpe) {
    int64_t B = s->B, Q = s->Q, K = s->K, C = s->C, Bk = keys->shape[0], mlp = l->lin1.w.shape[0];
    nn_mark mark = nn_get_mark(s->ctx);
    ug_tensor qa, t, ka, hid, kt; // [B, Q, C] x2, [Bk, K, C], [B, Q, mlp], [B, K, C]
    ug_status st;
    if ((st = dec_f32(s, &qa, B, Q, C)) != UG_OK || (st = dec_f32(s, &t, B, Q, C)) != UG_OK ||
        (st = dec_f32(s, &ka, Bk, K, C)) != UG_OK || (st = dec_f32(s, &hid, B, Q, mlp)) != UG_OK ||
        (st = dec_f32(s, &kt, B, K, C)) != UG_OK)
        goto done;

    // Self-attention: the first layer has no PE and no residual (skip_first_layer_pe).
    if (first) {
        if ((st = dec_attention(s, &l->self_attn, &t, q, q, q)) != UG_OK) goto done;
        ug_copy(s->ctx, q, &t);
    } else {
        add_over_batch(s, &qa, q, qpe);
        if ((st = dec_attention(s, &l->self_attn, &t, &qa, &qa, q)) != UG_OK) goto done;
        ug_add(s->ctx, q, q, &t);
    }
    ug_layernorm(s->ctx, q, q, &l->norm1.w, &l->norm1.b, 1e-5f);

    // Token-to-image cross attention.
    add_over_batch(s, &qa, q, qpe);
    add_over_batch(s, &ka, keys, kpe);
    if ((st = dec_attention(s, &l->t2i, &t, &qa, &ka, keys)) != UG_OK) goto done;
    ug_add(s->ctx, q, q, &t);
    ug_layernorm(s->ctx, q, q, &l->norm2.w, &l->norm2.b, 1e-5f);

    // MLP (ReLU).
    ug_linear(s->ctx, &hid, q, &l->lin1.w, nn_bias(&l->lin1.b));
    ug_relu(s->ctx, &hid, &hid);
    ug_linear(s->ctx, &t, &hid, &l->lin2.w, nn_bias(&l->lin2.b));
    ug_add(s->ctx, q, q, &t);
    ug_layernorm(s->ctx, q, q, &l->norm3.w, &l->norm3.b, 1e-5f);

    // Image-to-token cross attention: the image tokens query the prompt tokens. ka still
    // holds keys + key_pe for the shared or per-prompt keys.
    add_over_batch(s, &qa, q, qpe);
    if ((st = dec_attention(s, &l->i2t, &kt, &ka, &qa, q)) != UG_OK) goto done;
    add_over_batch(s, keys_out, keys, &kt);
    ug_layernorm(s->ctx, keys_out, keys_out, &l->norm4.w, &l->norm4.b, 1e-5f);
done:
    nn_release(s->ctx, mark);
    return st;
}

// Attention (transformer.py: Attention): q_in [Bq, Nq, C], k_in / v_in [Bk, Nk, C] with Bq
// and Bk either 1 (shared by all B prompts) or B -> out [B, Nq, C].
static ug_status dec_attention(dec_state *s, const sam_attention *a, ug_tensor *out, const ug_tensor *q_in,
                               const ug_tensor *k_in, const ug_tensor *v_in) {
    int64_t B = out->shape[0], Bq = q_in->shape[0], Nq = q_in->shape[1], Bk = k_in->shape[0],
            Nk = k_in->shape[1];
    int64_t inner = a->inner, H = s->m->cfg.dec_num_heads, d = inner / H;
    nn_mark mark = nn_get_mark(s->ctx);
    ug_tensor q, k, v, o; // [Bq, Nq, inner], [Bk, Nk, inner] x2, [B, Nq, inner]
    ug_status st;
    if ((st = dec_f32(s, &q, Bq, Nq, inner)) != UG_OK || (st = dec_f32(s, &k, Bk, Nk, inner)) != UG_OK ||
        (st = dec_f32(s, &v, Bk, Nk, inner)) != UG_OK || (st = dec_f32(s, &o, B, Nq, inner)) != UG_OK)
        goto done;
    ug_linear(s->ctx, &q, q_in, &a->q.w, nn_bias(&a->q.b));
    ug_linear(s->ctx, &k, k_in, &a->k.w, nn_bias(&a->k.b));
    ug_linear(s->ctx, &v, v_in, &a->v.w, nn_bias(&a->v.b));
    // Head split as views [B, H, N, d], shared inputs with batch stride 0.
    ug_tensor qh = nn_split_heads(&q, H), kh = nn_split_heads(&k, H), vh = nn_split_heads(&v, H);
    ug_tensor oh = nn_split_heads(&o, H);
    qh = over_batch(&qh, B);
    kh = over_batch(&kh, B);
    vh = over_batch(&vh, B);
    ug_attention(s->ctx, &oh, &qh, &kh, &vh, NULL, 1.0f / sqrtf((float)d));
    ug_linear(s->ctx, out, &o, &a->out.w, nn_bias(&a->out.b));
done:
    nn_release(s->ctx, mark);
    return st;
}

// MLP of mask_decoder.py: ReLU between layers, none after the last. x [B, in] -> y [B, out].
static ug_status run_mlp(dec_state *s, const sam_mlp *mlp, ug_tensor *y, const ug_tensor *x) {
    int64_t B = x->shape[0];
    nn_mark mark = nn_get_mark(s->ctx);
    ug_status st = UG_OK;
    ug_tensor cur = *x;
    for (int i = 0; i < mlp->n; i++) {
        const nn_linear *l = &mlp->layer[i];
        bool last = i == mlp->n - 1;
        ug_tensor dst = *y; // [B, out]; the hidden layers [B, hidden] come from the arena
        if (!last && (st = nn_f32(s->ctx, &dst, UG_DIMS(B, l->w.shape[0]), s->err)) != UG_OK) break;
        ug_linear(s->ctx, &dst, &cur, &l->w, nn_bias(&l->b));
        if (!last) ug_relu(s->ctx, &dst, &dst);
        cur = dst;
    }
    nn_release(s->ctx, mark);
    return st;
}

// ---- Sam.postprocess_masks ----

ug_status sam_postprocess_masks(ug_ctx *ctx, const sam_model *m, const ug_tensor *low_res,
                                const int input_hw[2], const int orig_hw[2], ug_tensor *masks, ug_err *err) {
    memset(masks, 0, sizeof *masks);
    ug_status st = nn_check_device(ctx, low_res, "sam postprocess", err);
    if (st != UG_OK) return st;
    if (low_res->ndim != 4)
        return ug_errf(err, UG_ERR_ARG, "sam postprocess: low-res masks must be F32 [N, M, h, w]");
    if (orig_hw[0] < 1 || orig_hw[1] < 1)
        return ug_errf(err, UG_ERR_ARG, "sam postprocess: original size %dx%d is invalid", orig_hw[0],
                       orig_hw[1]);
    if ((st = nn_output(ctx, masks, UG_F32,
                        UG_DIMS(low_res->shape[0], low_res->shape[1], orig_hw[0], orig_hw[1]), err)) != UG_OK)
        return st;
    if ((st = sam_postprocess_masks_into(ctx, m, low_res, input_hw, orig_hw, masks, err)) != UG_OK)
        ug_tensor_free(masks);
    return st;
}

ug_status sam_postprocess_masks_into(ug_ctx *ctx, const sam_model *m, const ug_tensor *low_res,
                                     const int input_hw[2], const int orig_hw[2], ug_tensor *masks,
                                     ug_err *err) {
    int64_t S = m->cfg.img_size;
    ug_status st = nn_check_device(ctx, low_res, "sam postprocess", err);
    if (st != UG_OK) return st;
    if (low_res->dtype != UG_F32 || low_res->ndim != 4)
        return ug_errf(err, UG_ERR_ARG, "sam postprocess: low-res masks must be F32 [N, M, h, w]");
    if (input_hw[0] < 1 || input_hw[1] < 1 || input_hw[0] > S || input_hw[1] > S || orig_hw[0] < 1 ||
        orig_hw[1] < 1)
        return ug_errf(err, UG_ERR_ARG,
                       "sam postprocess: input size %dx%d (max %lld) or original size %dx%d is invalid",
                       input_hw[0], input_hw[1], (long long)S, orig_hw[0], orig_hw[1]);
    int64_t N = low_res->shape[0], M = low_res->shape[1];
    if ((st = nn_check_device(ctx, masks, "sam postprocess: output", err)) != UG_OK ||
        (st = nn_check_input(masks, UG_F32, UG_DIMS(N, M, orig_hw[0], orig_hw[1]), false,
                             "sam postprocess: output", "[N,M,H,W]", err)) != UG_OK)
        return st;
    nn_mark mark = nn_get_mark(ctx);
    // One prompt at a time: the S x S intermediate is 4 MB per mask for S = 1024.
    ug_tensor full; // [1, M, S, S]
    if ((st = nn_f32(ctx, &full, UG_DIMS(1, M, S, S), err)) != UG_OK) return st;
    for (int64_t n = 0; n < N; n++) {
        ug_tensor lo = ug_view_slice(low_res, 0, n, 1);
        ug_resize_bilinear(ctx, &full, &lo, false);
        ug_tensor crop = ug_view_slice(&full, 2, 0, input_hw[0]);
        crop = ug_view_slice(&crop, 3, 0, input_hw[1]);
        ug_tensor out = ug_view_slice(masks, 0, n, 1);
        ug_resize_bilinear(ctx, &out, &crop, false);
    }
    nn_release(ctx, mark);
    return UG_OK;
}
