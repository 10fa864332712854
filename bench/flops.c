// bench/flops.c — see flops.h.
#include "bench/flops.h"

#include <math.h>

flops_sam_enc flops_sam_encoder(const sam_config *c) {
    double g = c->embed_h, N = g * g, E = c->enc_embed_dim, ws = c->enc_window_size, C = c->prompt_embed_dim;
    double padded = ceil(g / ws) * ceil(g / ws) * ws * ws;
    flops_sam_enc f;
    f.patch = 2.0 * N * c->in_chans * c->patch_size * c->patch_size * E;
    f.window_block = 2.0 * padded * E * 4 * E + 2.0 * N * E * 8 * E + 4.0 * padded * ws * ws * E;
    f.global_block = 2.0 * N * E * 4 * E + 2.0 * N * E * 8 * E + 4.0 * N * N * E;
    f.neck = 2.0 * N * E * C + 2.0 * N * 9 * C * C;
    f.total = f.patch + f.neck + c->n_global * f.global_block + (c->enc_depth - c->n_global) * f.window_block;
    return f;
}

// One attention of the two-way transformer: q from nq rows, k and v from nk rows, all of width
// C projected to `in`, then the output projection back to C.
static double twoway_attention(double nq, double nk, double C, double in) {
    return 2.0 * (nq * C * in + 2.0 * nk * C * in + nq * in * C) + 4.0 * nq * nk * in;
}

double flops_sam_decoder(const sam_config *c, int64_t n, int64_t t) {
    double C = c->prompt_embed_dim, in = C / c->dec_attn_downsample, N = (double)c->embed_h * c->embed_w;
    double T = (double)(c->dec_num_multimask + 2) + (double)t; // iou + mask tokens, then the prompt's
    double layer = twoway_attention(T, T, C, C) + twoway_attention(T, N, C, in) +
                   4.0 * T * C * c->dec_mlp_dim + twoway_attention(N, T, C, in);
    double up = 2.0 * (4.0 * N) * (C / 4) * C + 2.0 * (16.0 * N) * (C / 8) * (C / 4); // two 2x2/2 ConvT
    double masks = 2.0 * (c->dec_num_multimask + 1) * (C / 8) * 16.0 * N;
    return (double)n * (c->dec_depth * layer + twoway_attention(T, N, C, in) + up + masks);
}

double flops_swin_patch(const swin_config *c, int64_t h0, int64_t w0) {
    return 2.0 * (double)(h0 * w0) * c->in_chans * c->patch_size * c->patch_size * c->embed_dim;
}

double flops_swin_stage(const swin_config *c, int s, int64_t h, int64_t w) {
    double ws = c->window, C = (double)((int64_t)c->embed_dim << s), hid = C * c->mlp_ratio;
    double Np = ceil((double)h / ws) * ws * ceil((double)w / ws) * ws, HW = (double)h * (double)w;
    double blk = 2.0 * Np * C * 4 * C + 4.0 * Np * ws * ws * C + 4.0 * HW * C * hid;
    double f = c->depths[s] * blk;
    if (s > 0) f += 2.0 * HW * (2 * C) * C; // reduction 4C' -> 2C' with C' = C / 2
    return f;
}

flops_pd flops_pixel_decoder(const pd_config *c, const int64_t hw[SWIN_STAGES][2]) {
    double C = c->conv_dim, MLP = (double)c->heads * c->n_levels * c->points;
    flops_pd f = {0};
    for (int l = 0; l < c->n_levels; l++) {
        int k = c->level_feature[l];
        f.tokens += hw[k][0] * hw[k][1];
        f.input_proj += 2.0 * (double)(hw[k][0] * hw[k][1]) * c->in_channels[k] * C;
    }
    for (int k = 0; k < c->n_fpn; k++)
        f.fpn += 2.0 * (double)(hw[k][0] * hw[k][1]) * C * (c->in_channels[k] + 9.0 * C);
    f.fpn += 2.0 * (double)(hw[0][0] * hw[0][1]) * C * c->mask_dim;
    f.layer = 2.0 * (double)f.tokens * C * (2.0 * C + 3.0 * MLP + 2.0 * c->ffn);
    f.total = f.input_proj + c->enc_layers * f.layer + f.fpn;
    return f;
}

flops_m2f flops_m2f_decoder(const m2f_config *c, const double *level_tokens, int64_t mh, int64_t mw) {
    double Q = c->queries, C = c->hidden;
    flops_m2f f = {0};
    f.heads = 2.0 * Q * c->mask_dim * (double)(mh * mw) + 2.0 * Q * C * (2.0 * C + c->mask_dim);
    f.total = f.heads * (c->layers + 1);
    for (int i = 0; i < c->layers && i < M2F_MAX_LAYERS; i++) {
        double N = level_tokens[i % c->levels];
        f.layer[i] = 2.0 * (N * 2.0 * C * C + 2.0 * Q * C * C + 2.0 * Q * N * C) + // cross attention
                     2.0 * (4.0 * Q * C * C + 2.0 * Q * Q * C) +                   // self attention
                     4.0 * Q * C * c->ffn;                                         // FFN
        f.total += f.layer[i];
    }
    return f;
}

double flops_rba_score(int64_t Q, int64_t K, int64_t H, int64_t W) {
    return 2.0 * (double)(K * Q) * (double)(H * W);
}

double flops_rba(const rba_config *c, int64_t Ht, int64_t Wt, int64_t H, int64_t W) {
    int64_t hw[SWIN_STAGES][2];
    swin_output_sizes(&c->swin, Ht, Wt, hw);
    double f = flops_swin_patch(&c->swin, hw[0][0], hw[0][1]);
    for (int k = 0; k < SWIN_STAGES; k++)
        f += flops_swin_stage(&c->swin, k, hw[k][0], hw[k][1]);
    const pd_config *pc = &c->pd;
    f += flops_pixel_decoder(pc, hw).total;
    // The decoder reads the multi-scale maps: the encoder's levels, then FPN maps finest last.
    double tokens[M2F_MAX_LEVELS];
    for (int j = 0; j < pc->n_multiscale && j < M2F_MAX_LEVELS; j++) {
        int k = j < pc->n_levels ? pc->level_feature[j] : pc->n_fpn - 1 - (j - pc->n_levels);
        tokens[j] = (double)(hw[k][0] * hw[k][1]);
    }
    f += flops_m2f_decoder(&c->dec, tokens, hw[0][0], hw[0][1]).total;
    return f + flops_rba_score(c->dec.queries, c->dec.classes, H, W);
}
