// models/sam_prompt_encoder.c — PromptEncoder and PositionEmbeddingRandom
// (segment_anything/modeling/prompt_encoder.py).
//
//   point (x, y) in the input frame -> ((x, y) + 0.5) / S -> c = 2c - 1 -> f = 2 pi (c @ G)
//   -> [sin f, cos f] (C/2 + C/2) + the label's embedding; box corners likewise with the
//   corner embeddings; dense = no_mask_embed broadcast, or mask_downscaling of a mask prompt.
//
// The prompts arrive as host arrays; they are laid out as one list of points per prompt
// (its points, the padding point, the box corners, each with the label that picks its
// embedding), uploaded, and turned into tokens by one op (ug_prompt_pe, ops/prompt_pe.h).
#include <stdio.h>
#include <string.h>

#include "models/sam_internal.h"
#include "ops/ops.h"
#include "ops/prompt_pe.h" // prompt_pe_point: get_dense_pe at load

// Labels of the token list (ops/prompt_pe.h): -1 the not-a-point embedding alone, 0 / 1 a
// background / foreground point, 2 / 3 the box corners (rows of m->point_embed).
enum { LABEL_NOT_A_POINT = -1, LABEL_CORNER0 = 2, LABEL_NO_EMBED = 4 };

static ug_status check_prompts(ug_ctx *ctx, const sam_model *m, const sam_prompts *p, ug_err *err);
static ug_status sparse_tokens(ug_ctx *ctx, const sam_model *m, const sam_prompts *p, int64_t T,
                               ug_tensor *sparse, ug_err *err);
static ug_status dense_embedding(ug_ctx *ctx, const sam_model *m, const sam_prompts *p, ug_tensor *dense,
                                 ug_err *err);

ug_status sam_encode_prompts(ug_ctx *ctx, const sam_model *m, const sam_prompts *p, ug_tensor *sparse,
                             ug_tensor *dense, ug_err *err) {
    memset(sparse, 0, sizeof *sparse);
    memset(dense, 0, sizeof *dense);
    ug_status st = check_prompts(ctx, m, p, err);
    if (st != UG_OK) return st;
    // _embed_points pads with a not-a-point token only when no box follows.
    bool pad = p->n_points > 0 && !p->boxes;
    int64_t T = p->n_points + (pad ? 1 : 0) + (p->boxes ? 2 : 0);
    if ((st = sparse_tokens(ctx, m, p, T, sparse, err)) != UG_OK) return st;
    if ((st = dense_embedding(ctx, m, p, dense, err)) != UG_OK) ug_tensor_free(sparse);
    return st;
}

static ug_status check_prompts(ug_ctx *ctx, const sam_model *m, const sam_prompts *p, ug_err *err) {
    int64_t h = m->cfg.embed_h, w = m->cfg.embed_w;
    ug_status st = nn_check_weights(ctx, &m->w, "sam prompts", err);
    if (st != UG_OK) return st;
    if (p->n < 1 || p->n_points < 0 || (p->n_points > 0 && (!p->coords || !p->labels)))
        return ug_errf(err, UG_ERR_ARG, "sam prompts: %d prompts with %d points each (coords %s)", p->n,
                       p->n_points, p->coords ? "given" : "missing");
    if (!p->masks) return UG_OK;
    char dims[64];
    snprintf(dims, sizeof dims, "[%d,1,%lld,%lld]", p->n, (long long)(4 * h), (long long)(4 * w));
    st = nn_check_device(ctx, p->masks, "sam prompts: mask input", err);
    if (st == UG_OK)
        st = nn_check_input(p->masks, UG_F32, UG_DIMS(p->n, 1, 4 * h, 4 * w), true, "sam prompts: mask input",
                            dims, err);
    return st;
}

// The token list of every prompt on the host: xy [N, T, 2] and labels [N, T]. A user label
// other than -1, 0, 1 gets no embedding (the official point_embedding[labels == k] only adds
// for those three).
static void layout_tokens(const sam_prompts *p, int64_t T, float *xy, int32_t *labels) {
    for (int64_t n = 0; n < p->n; n++) {
        float *x = xy + n * T * 2;
        int32_t *l = labels + n * T;
        for (int i = 0; i < p->n_points; i++) {
            int lb = p->labels[n * p->n_points + i];
            x[2 * i] = p->coords[(n * p->n_points + i) * 2];
            x[2 * i + 1] = p->coords[(n * p->n_points + i) * 2 + 1];
            l[i] = lb >= -1 && lb <= 1 ? lb : LABEL_NO_EMBED;
        }
        int64_t t = p->n_points;
        if (!p->boxes && p->n_points > 0) l[t++] = LABEL_NOT_A_POINT; // the padding point (0, 0)
        for (int k = 0; p->boxes && k < 2; k++, t++) {
            x[2 * t] = p->boxes[n * 4 + 2 * k];
            x[2 * t + 1] = p->boxes[n * 4 + 2 * k + 1];
            l[t] = LABEL_CORNER0 + k;
        }
    }
}

// sparse [N, T, C] on ctx->device: the token list uploaded, then ug_prompt_pe.
static ug_status sparse_tokens(ug_ctx *ctx, const sam_model *m, const sam_prompts *p, int64_t T,
                               ug_tensor *sparse, ug_err *err) {
    int64_t N = p->n, C = m->cfg.prompt_embed_dim;
    ug_status st = nn_output(ctx, sparse, UG_F32, UG_DIMS(N, T, C), err); // [N, T, C]
    if (st != UG_OK || T == 0) return st;
    ug_tensor xy_h, lb_h, xy = {0}, lb = {0}; // host, then device: [N * T, 2] F32, [N * T] I32
    if ((st = ug_tensor_new(&xy_h, UG_F32, UG_DIMS(N * T, 2), err)) != UG_OK) goto fail;
    if ((st = ug_tensor_new(&lb_h, UG_I32, UG_DIMS(N * T), err)) != UG_OK) {
        ug_tensor_free(&xy_h);
        goto fail;
    }
    layout_tokens(p, T, xy_h.data, lb_h.data);
    if ((st = ug_to_device(ctx, &xy, &xy_h, err)) == UG_OK &&
        (st = ug_to_device(ctx, &lb, &lb_h, err)) == UG_OK) {
        ug_tensor rows = ug_view_reshape(sparse, UG_DIMS(N * T, C));
        // input_image_size is the padded square: x / S[1], y / S[0].
        ug_prompt_pe(ctx, &rows, &xy, &lb, &m->pe_gauss, &m->point_embed, &m->not_a_point,
                     (float)m->cfg.img_size);
    }
    ug_tensor_free(&xy_h);
    ug_tensor_free(&lb_h);
    ug_tensor_free(&xy);
    ug_tensor_free(&lb);
    if (st == UG_OK) return UG_OK;
fail:
    ug_tensor_free(sparse);
    return st;
}

static ug_status downscale_mask(ug_ctx *ctx, const sam_model *m, ug_tensor *out, const ug_tensor *mask,
                                ug_err *err);

// dense on ctx->device: no_mask_embed broadcast to [1, C, h, w] (one map shared by every
// prompt, which the decoder exploits), or mask_downscaling of each mask prompt [N, C, h, w].
static ug_status dense_embedding(ug_ctx *ctx, const sam_model *m, const sam_prompts *p, ug_tensor *dense,
                                 ug_err *err) {
    int64_t C = m->cfg.prompt_embed_dim, h = m->cfg.embed_h, w = m->cfg.embed_w, N = p->n;
    ug_status st;
    if (!p->masks) {
        if ((st = nn_output(ctx, dense, UG_F32, UG_DIMS(1, C, h, w), err)) != UG_OK) return st;
        ug_tensor e = ug_view_expand_dim(&m->no_mask, 2, h); // [1, C, h] of the [1, C] embedding
        e = ug_view_expand_dim(&e, 3, w);                    // [1, C, h, w]
        ug_copy(ctx, dense, &e);
        return UG_OK;
    }
    if ((st = nn_output(ctx, dense, UG_F32, UG_DIMS(N, C, h, w), err)) != UG_OK) return st;
    for (int64_t n = 0; n < N && st == UG_OK; n++) {
        nn_mark mark = nn_get_mark(ctx);
        ug_tensor out = ug_view_slice(dense, 0, n, 1), mk = ug_view_slice(p->masks, 0, n, 1);
        st = downscale_mask(ctx, m, &out, &mk, err);
        nn_release(ctx, mark);
    }
    if (st != UG_OK) ug_tensor_free(dense);
    return st;
}

// mask_downscaling: mask [1, 1, 4h, 4w] -> 2x2/2 conv, LN2d, GELU, 2x2/2 conv, LN2d, GELU,
// 1x1 conv -> out [1, C, h, w]. The intermediate maps are channels-last, where LN2d is a row
// LayerNorm; the last conv writes NCHW.
static ug_status downscale_mask(ug_ctx *ctx, const sam_model *m, ug_tensor *out, const ug_tensor *mask,
                                ug_err *err) {
    int64_t h = m->cfg.embed_h, w = m->cfg.embed_w, mic = m->cfg.mask_in_chans;
    ug_tensor a, b; // [1, 2h, 2w, mic/4], [1, h, w, mic]
    ug_status st;
    if ((st = nn_f32(ctx, &a, UG_DIMS(1, 2 * h, 2 * w, mic / 4), err)) != UG_OK ||
        (st = nn_f32(ctx, &b, UG_DIMS(1, h, w, mic), err)) != UG_OK)
        return st;
    ug_tensor av = nn_nhwc_as_nchw(&a), bv = nn_nhwc_as_nchw(&b);
    ug_conv2d(ctx, &av, mask, &m->md0.w, nn_bias(&m->md0.b), 2, 0);
    ug_layernorm(ctx, &a, &a, &m->md1.w, &m->md1.b, 1e-6f);
    ug_gelu(ctx, &a, &a);
    ug_conv2d(ctx, &bv, &av, &m->md3.w, nn_bias(&m->md3.b), 2, 0);
    ug_layernorm(ctx, &b, &b, &m->md4.w, &m->md4.b, 1e-6f);
    ug_gelu(ctx, &b, &b);
    ug_conv2d(ctx, out, &bv, &m->md6.w, nn_bias(&m->md6.b), 1, 0);
    return UG_OK;
}

// ---- get_dense_pe ----

ug_status sam_dense_pe(ug_ctx *ctx, const sam_model *m, ug_tensor *pe, ug_err *err) {
    return ug_to_device(ctx, pe, &m->dense_pe, err);
}

void sam_dense_pe_fill(const sam_model *m, float *pe) {
    int64_t h = m->cfg.embed_h, w = m->cfg.embed_w;
    // grid.cumsum - 0.5 is exactly (index + 0.5); divided by the grid size in float32.
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            prompt_pe_point(pe + y * w + x, h * w, (float)x, (float)y, (float)w, (float)h, m->pe_gauss.data,
                            m->pe_gauss.shape[1]);
}
