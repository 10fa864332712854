// models/sam_prompt_encoder.c — PromptEncoder and PositionEmbeddingRandom
// (segment_anything/modeling/prompt_encoder.py).
//
//   point (x, y) in the input frame -> ((x, y) + 0.5) / S -> c = 2c - 1 -> f = 2 pi (c @ G)
//   -> [sin f, cos f] (C/2 + C/2) + the label's embedding; box corners likewise with the
//   corner embeddings; dense = no_mask_embed broadcast, or mask_downscaling of a mask prompt.
#include <math.h>
#include <string.h>

#include "models/sam_internal.h"
#include "ops/ops.h"

// _pe_encoding of one normalised coordinate pair (float32 steps as the official code) into
// out[0], out[stride], ... out[(C - 1) * stride]. Private: the op library's positional
// embedding (ug_posembed_sine) is DETR's fixed-frequency grid embedding, while this one
// projects arbitrary points through SAM's random Gaussian matrix. It runs on a handful of
// points per prompt (and once over the h x w grid at load), on the CPU, so it is not a
// backend op.
static void pe_encode(const sam_model *m, float *out, int64_t stride, float x, float y) {
    int64_t half = m->pe_gauss.shape[1];
    const float *g = m->pe_gauss.data; // [2, C/2], row 0 multiplies x
    const float two_pi = (float)(2.0 * M_PI);
    x = 2.0f * x - 1.0f;
    y = 2.0f * y - 1.0f;
    for (int64_t k = 0; k < half; k++) {
        float f = two_pi * (x * g[k] + y * g[half + k]);
        out[k * stride] = sinf(f);
        out[(half + k) * stride] = cosf(f);
    }
}

// y[0:C] += e: one learned embedding onto one token row (a few rows per prompt, CPU side like
// pe_encode; the sparse tokens are handed to the decoder as an ordinary tensor).
static void add_row(float *y, const ug_tensor *e, int64_t C) {
    const float *ed = e->data;
    for (int64_t c = 0; c < C; c++) y[c] += ed[c];
}

void sam_dense_pe_fill(const sam_model *m, float *pe) {
    int64_t h = m->cfg.embed_h, w = m->cfg.embed_w;
    // grid.cumsum - 0.5 is exactly (index + 0.5); divided by the grid size in float32.
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            pe_encode(m, pe + y * w + x, h * w, ((float)x + 0.5f) / (float)w, ((float)y + 0.5f) / (float)h);
}

ug_status sam_dense_pe(const sam_model *m, ug_tensor *pe, ug_err *err) {
    ug_status st = ug_tensor_new(pe, UG_F32, UG_DIMS(1, m->cfg.prompt_embed_dim, m->cfg.embed_h, m->cfg.embed_w), err);
    if (st == UG_OK) memcpy(pe->data, m->dense_pe.data, ug_tensor_nbytes(pe));
    return st;
}

// mask_downscaling: mask [1, 1, 4h, 4w] -> 2x2/2 conv, LN2d, GELU, 2x2/2 conv, LN2d, GELU,
// 1x1 conv -> out [1, C, h, w]. The intermediate maps are channels-last, where LN2d is a row
// LayerNorm; the last conv writes NCHW.
static ug_status downscale_mask(ug_ctx *ctx, const sam_model *m, ug_tensor *out, const ug_tensor *mask, ug_err *err) {
    int64_t h = m->cfg.embed_h, w = m->cfg.embed_w, mic = m->cfg.mask_in_chans;
    ug_tensor a, b; // [2h, 2w, mic/4], [h, w, mic]
    ug_status st;
    if ((st = sam_arena_f32(ctx, &a, UG_DIMS(2 * h, 2 * w, mic / 4), err)) != UG_OK ||
        (st = sam_arena_f32(ctx, &b, UG_DIMS(h, w, mic), err)) != UG_OK)
        return st;
    ug_tensor av = sam_nhwc_as_nchw(a.data, 1, 2 * h, 2 * w, mic / 4), bv = sam_nhwc_as_nchw(b.data, 1, h, w, mic);
    ug_tensor w0 = sam_conv_weight(&m->md0.w, 1, 2, 2), w3 = sam_conv_weight(&m->md3.w, mic / 4, 2, 2);
    ug_tensor w6 = sam_conv_weight(&m->md6.w, mic, 1, 1);
    ug_conv2d(ctx, &av, mask, &w0, sam_bias(&m->md0), 2, 0);
    ug_layernorm(ctx, &a, &a, &m->md1.w, &m->md1.b, 1e-6f);
    ug_gelu(ctx, &a, &a);
    ug_conv2d(ctx, &bv, &av, &w3, sam_bias(&m->md3), 2, 0);
    ug_layernorm(ctx, &b, &b, &m->md4.w, &m->md4.b, 1e-6f);
    ug_gelu(ctx, &b, &b);
    ug_conv2d(ctx, out, &bv, &w6, sam_bias(&m->md6), 1, 0);
    return UG_OK;
}

ug_status sam_encode_prompts(ug_ctx *ctx, const sam_model *m, const sam_prompts *p, ug_tensor *sparse,
                             ug_tensor *dense, ug_err *err) {
    const sam_config *cfg = &m->cfg;
    int64_t C = cfg->prompt_embed_dim, h = cfg->embed_h, w = cfg->embed_w, N = p->n;
    memset(sparse, 0, sizeof *sparse);
    memset(dense, 0, sizeof *dense);
    if (N < 1 || p->n_points < 0 || (p->n_points > 0 && (!p->coords || !p->labels)))
        return ug_errf(err, UG_ERR_ARG, "sam prompts: %d prompts with %d points each (coords %s)", p->n, p->n_points,
                       p->coords ? "given" : "missing");
    if (p->masks) {
        const ug_tensor *mk = p->masks;
        if (mk->dtype != UG_F32 || !ug_tensor_is_contiguous(mk) || mk->ndim != 4 || mk->shape[0] != N ||
            mk->shape[1] != 1 || mk->shape[2] != 4 * h || mk->shape[3] != 4 * w) {
            char buf[96];
            return ug_errf(err, UG_ERR_ARG, "sam prompts: mask input %s %s, expected contiguous F32 [%lld,1,%lld,%lld]",
                           ug_dtype_name(mk->dtype), ug_shape_str(mk, buf, sizeof buf), (long long)N,
                           (long long)(4 * h), (long long)(4 * w));
        }
    }
    // _embed_points pads with a not-a-point token only when no box follows.
    bool pad = p->n_points > 0 && !p->boxes;
    int64_t T = p->n_points + (pad ? 1 : 0) + (p->boxes ? 2 : 0);
    ug_status st = ug_tensor_new(sparse, UG_F32, UG_DIMS(N, T, C), err); // [N, T, C]
    if (st != UG_OK) return st;
    float S = (float)cfg->img_size; // input_image_size: the padded square, x / S[1], y / S[0]
    for (int64_t n = 0; n < N; n++) {
        float *row = (float *)sparse->data + n * T * C;
        for (int i = 0; i < p->n_points; i++, row += C) {
            const float *xy = p->coords + (n * p->n_points + i) * 2;
            int label = p->labels[n * p->n_points + i];
            pe_encode(m, row, 1, (xy[0] + 0.5f) / S, (xy[1] + 0.5f) / S);
            if (label == -1) {
                memset(row, 0, (size_t)C * sizeof(float));
                add_row(row, &m->not_a_point, C);
            } else if (label == 0 || label == 1) {
                add_row(row, &m->point_embed[label], C);
            }
        }
        if (pad) {
            add_row(row, &m->not_a_point, C); // its positional encoding is zeroed
            row += C;
        }
        if (p->boxes) {
            const float *bx = p->boxes + n * 4;
            for (int k = 0; k < 2; k++, row += C) {
                pe_encode(m, row, 1, (bx[2 * k] + 0.5f) / S, (bx[2 * k + 1] + 0.5f) / S);
                add_row(row, &m->point_embed[2 + k], C);
            }
        }
    }

    if (!p->masks) {
        // no_mask_embed broadcast: one map shared by every prompt (the decoder exploits it).
        if ((st = ug_tensor_new(dense, UG_F32, UG_DIMS(1, C, h, w), err)) != UG_OK) goto fail;
        ug_tensor e = ug_view_reshape(&m->no_mask, UG_DIMS(1, C, 1, 1));
        e.stride[2] = e.stride[3] = 0; // [1, C, h, w] broadcast of the [C] embedding
        e.shape[2] = h;
        e.shape[3] = w;
        ug_copy(ctx, dense, &e);
        return UG_OK;
    }
    if ((st = ug_tensor_new(dense, UG_F32, UG_DIMS(N, C, h, w), err)) != UG_OK) goto fail;
    for (int64_t n = 0; n < N; n++) {
        ug_arena_mark mark = ug_arena_get_mark(&ctx->arena);
        ug_tensor out = ug_view_slice(dense, 0, n, 1), mk = ug_view_slice(p->masks, 0, n, 1);
        st = downscale_mask(ctx, m, &out, &mk, err);
        ug_arena_release(&ctx->arena, mark);
        if (st != UG_OK) goto fail;
    }
    return UG_OK;
fail:
    ug_tensor_free(sparse);
    ug_tensor_free(dense);
    return st;
}
