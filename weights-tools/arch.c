// weights-tools/arch.c — see arch.h. Module layouts follow segment-anything
// (segment_anything/modeling/*.py, build_sam.py) and Mask2Former (modeling/backbone/swin.py,
// pixel_decoder/msdeformattn.py, transformer_decoder/mask2former_transformer_decoder.py).
#include "weights-tools/arch.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "engine/json.h"
#include "models/packed_config.h"
#include "models/sam.h"

// The configs are the models' packed-config structs (sam_config, rba_packed_config), inferred
// here from the shapes, then overridden (--set) and written through the shared tables of
// models/packed_config.h.
enum { NAME_MAX_ = 256 };

// ---- the list of expected tensors ----------------------------------------------------------

typedef struct builder {
    ug_arch_plan *plan;
    ug_status st;
} builder;

static void add(builder *b, bool is_int, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void add(builder *b, bool is_int, int ndim, const int64_t *shape, const char *fmt, ...) {
    if (b->st) return;
    ug_arch_plan *p = b->plan;
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        ug_arch_item *it = realloc(p->items, (size_t)cap * sizeof *it);
        if (!it) {
            b->st = UG_ERR_NOMEM;
            return;
        }
        p->items = it;
        p->cap = cap;
    }
    char name[NAME_MAX_];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    ug_arch_item *it = &p->items[p->n];
    memset(it, 0, sizeof *it);
    if (!(it->name = strdup(name))) {
        b->st = UG_ERR_NOMEM;
        return;
    }
    it->is_int = is_int;
    it->ndim = ndim;
    memcpy(it->shape, shape, (size_t)ndim * sizeof *shape);
    p->n++;
}

// Float tensors of 1, 2 or 4 dims.
static void f1(builder *b, int64_t a, const char *name) {
    add(b, false, UG_DIMS(a), "%s", name);
}
static void f2(builder *b, int64_t a, int64_t c, const char *name) {
    add(b, false, UG_DIMS(a, c), "%s", name);
}
static void f4(builder *b, int64_t a, int64_t c, int64_t d, int64_t e, const char *name) {
    add(b, false, UG_DIMS(a, c, d, e), "%s", name);
}

// prefix + suffix into buf (NAME_MAX_ bytes, truncating; real names are far shorter).
static const char *cat(char *buf, const char *prefix, const char *suffix) {
    size_t na = strnlen(prefix, NAME_MAX_ - 1), nb = strnlen(suffix, NAME_MAX_ - 1 - na);
    memmove(buf, prefix, na);
    memcpy(buf + na, suffix, nb);
    buf[na + nb] = '\0';
    return buf;
}

// weight [out, in] + bias [out]
static void linear(builder *b, const char *p, int64_t out, int64_t in, bool bias) {
    char n[NAME_MAX_];
    f2(b, out, in, cat(n, p, ".weight"));
    if (bias) f1(b, out, cat(n, p, ".bias"));
}

static void norm(builder *b, const char *p, int64_t c) {
    char n[NAME_MAX_];
    f1(b, c, cat(n, p, ".weight"));
    f1(b, c, cat(n, p, ".bias"));
}

static void sam_expected(builder *b, const sam_config *c) {
    char p[NAME_MAX_], n[NAME_MAX_];
    int64_t E = c->enc_embed_dim, G = c->patch_size ? c->img_size / c->patch_size : 0, P = c->patch_size;
    int64_t hd = c->enc_num_heads ? E / c->enc_num_heads : 0, hid = (int64_t)((double)E * c->enc_mlp_ratio);
    int64_t D = c->prompt_embed_dim, mc = c->mask_in_chans, Dd = c->dec_embed_dim, M = c->dec_mlp_dim;
    int64_t Dc = c->dec_attn_downsample ? Dd / c->dec_attn_downsample : 0, H = c->dec_iou_hidden,
            nm = c->dec_num_multimask + 1;
    if (c->enc_use_abs_pos) f4(b, 1, G, G, E, "image_encoder.pos_embed");
    f4(b, E, c->in_chans, P, P, "image_encoder.patch_embed.proj.weight");
    f1(b, E, "image_encoder.patch_embed.proj.bias");
    for (int64_t i = 0; i < c->enc_depth; i++) {
        bool global = false;
        for (int k = 0; k < c->n_global; k++)
            global |= c->enc_global_attn_indexes[k] == i;
        int64_t S = global ? G : c->enc_window_size;
        snprintf(p, sizeof p, "image_encoder.blocks.%lld", (long long)i);
        norm(b, cat(n, p, ".norm1"), E);
        if (c->enc_use_rel_pos) {
            f2(b, 2 * S - 1, hd, cat(n, p, ".attn.rel_pos_h"));
            f2(b, 2 * S - 1, hd, cat(n, p, ".attn.rel_pos_w"));
        }
        linear(b, cat(n, p, ".attn.qkv"), 3 * E, E, c->enc_qkv_bias);
        linear(b, cat(n, p, ".attn.proj"), E, E, true);
        norm(b, cat(n, p, ".norm2"), E);
        linear(b, cat(n, p, ".mlp.lin1"), hid, E, true);
        linear(b, cat(n, p, ".mlp.lin2"), E, hid, true);
    }
    f4(b, D, E, 1, 1, "image_encoder.neck.0.weight");
    norm(b, "image_encoder.neck.1", D);
    f4(b, D, D, 3, 3, "image_encoder.neck.2.weight");
    norm(b, "image_encoder.neck.3", D);

    f2(b, 2, D / 2, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    for (int i = 0; i < 4; i++)
        add(b, false, UG_DIMS(1, D), "prompt_encoder.point_embeddings.%d.weight", i);
    f2(b, 1, D, "prompt_encoder.not_a_point_embed.weight");
    f4(b, mc / 4, 1, 2, 2, "prompt_encoder.mask_downscaling.0.weight");
    f1(b, mc / 4, "prompt_encoder.mask_downscaling.0.bias");
    norm(b, "prompt_encoder.mask_downscaling.1", mc / 4);
    f4(b, mc, mc / 4, 2, 2, "prompt_encoder.mask_downscaling.3.weight");
    f1(b, mc, "prompt_encoder.mask_downscaling.3.bias");
    norm(b, "prompt_encoder.mask_downscaling.4", mc);
    f4(b, D, mc, 1, 1, "prompt_encoder.mask_downscaling.6.weight");
    f1(b, D, "prompt_encoder.mask_downscaling.6.bias");
    f2(b, 1, D, "prompt_encoder.no_mask_embed.weight");

    static const char *const qkvo[] = {".q_proj", ".k_proj", ".v_proj"};
    for (int64_t l = 0; l <= c->dec_depth; l++) {
        // Layers 0..depth-1, then the final token-to-image attention (l == depth).
        bool last = l == c->dec_depth;
        const char *blocks[] = {".self_attn", ".cross_attn_token_to_image", ".cross_attn_image_to_token"};
        if (last)
            snprintf(p, sizeof p, "mask_decoder.transformer");
        else
            snprintf(p, sizeof p, "mask_decoder.transformer.layers.%lld", (long long)l);
        for (int k = 0; k < 3; k++) {
            if (last && k != 1) continue;
            char a[NAME_MAX_];
            cat(a, p, last ? ".final_attn_token_to_image" : blocks[k]);
            int64_t inner = k == 0 ? Dd : Dc;
            for (int q = 0; q < 3; q++)
                linear(b, cat(n, a, qkvo[q]), inner, Dd, true);
            linear(b, cat(n, a, ".out_proj"), Dd, inner, true);
            if (last) {
                norm(b, "mask_decoder.transformer.norm_final_attn", Dd);
            } else if (k == 0) {
                norm(b, cat(n, p, ".norm1"), Dd);
            } else if (k == 1) {
                norm(b, cat(n, p, ".norm2"), Dd);
                linear(b, cat(n, p, ".mlp.lin1"), M, Dd, true);
                linear(b, cat(n, p, ".mlp.lin2"), Dd, M, true);
                norm(b, cat(n, p, ".norm3"), Dd);
                norm(b, cat(n, p, ".norm4"), Dd);
            }
        }
    }
    f2(b, 1, Dd, "mask_decoder.iou_token.weight");
    f2(b, nm, Dd, "mask_decoder.mask_tokens.weight");
    f4(b, Dd, Dd / 4, 2, 2, "mask_decoder.output_upscaling.0.weight");
    f1(b, Dd / 4, "mask_decoder.output_upscaling.0.bias");
    norm(b, "mask_decoder.output_upscaling.1", Dd / 4);
    f4(b, Dd / 4, Dd / 8, 2, 2, "mask_decoder.output_upscaling.3.weight");
    f1(b, Dd / 8, "mask_decoder.output_upscaling.3.bias");
    for (int64_t i = 0; i < nm; i++)
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "mask_decoder.output_hypernetworks_mlps.%lld.layers.%d", (long long)i, k);
            linear(b, p, k == 2 ? Dd / 8 : Dd, Dd, true);
        }
    for (int64_t k = 0; k < c->dec_iou_depth; k++) {
        snprintf(p, sizeof p, "mask_decoder.iou_prediction_head.layers.%lld", (long long)k);
        linear(b, p, k == c->dec_iou_depth - 1 ? nm : H, k == 0 ? Dd : H, true);
    }
}

// Channels of res2..res5 for a Swin with embed dim E: E, 2E, 4E, 8E.
static int64_t res_channels(const rba_packed_config *c, const char *res) {
    int k = res[0] == 'r' && res[1] == 'e' && res[2] == 's' && res[3] >= '2' && res[3] <= '5' && !res[4]
                ? res[3] - '2'
                : -1;
    return k < 0 ? 0 : (int64_t)c->swin.embed_dim << k;
}

static void rba_expected(builder *b, const rba_packed_config *c) {
    char p[NAME_MAX_], n[NAME_MAX_];
    int64_t E = c->swin.embed_dim, w = c->swin.window_size;
    f4(b, E, 3, c->swin.patch_size, c->swin.patch_size, "backbone.patch_embed.proj.weight");
    f1(b, E, "backbone.patch_embed.proj.bias");
    if (c->swin.patch_norm) norm(b, "backbone.patch_embed.norm", E);
    for (int s = 0; s < RBA_CFG_STAGES; s++) {
        int64_t C = E << s, heads = c->swin.num_heads[s], hid = (int64_t)((double)C * c->swin.mlp_ratio);
        for (int64_t j = 0; j < c->swin.depths[s]; j++) {
            snprintf(p, sizeof p, "backbone.layers.%d.blocks.%lld", s, (long long)j);
            norm(b, cat(n, p, ".norm1"), C);
            f2(b, (2 * w - 1) * (2 * w - 1), heads, cat(n, p, ".attn.relative_position_bias_table"));
            linear(b, cat(n, p, ".attn.qkv"), 3 * C, C, c->swin.qkv_bias);
            linear(b, cat(n, p, ".attn.proj"), C, C, true);
            norm(b, cat(n, p, ".norm2"), C);
            linear(b, cat(n, p, ".mlp.fc1"), hid, C, true);
            linear(b, cat(n, p, ".mlp.fc2"), C, hid, true);
        }
        if (s + 1 < RBA_CFG_STAGES) {
            snprintf(p, sizeof p, "backbone.layers.%d.downsample", s);
            linear(b, cat(n, p, ".reduction"), 2 * C, 4 * C, false);
            norm(b, cat(n, p, ".norm"), 4 * C);
        }
    }
    for (int s = 0; s < RBA_CFG_STAGES; s++) {
        snprintf(p, sizeof p, "backbone.norm%d", s);
        norm(b, p, E << s);
    }

    int64_t C = c->pd.conv_dim, L = c->pd.n_in_features, h = c->pd.nheads, pts = c->pd.deform_n_points,
            F = c->pd.dim_feedforward;
    // input_proj runs from the coarsest transformer feature to the finest.
    for (int64_t l = 0; l < L; l++) {
        snprintf(p, sizeof p, "pixel_decoder.input_proj.%lld", (long long)l);
        f4(b, C, res_channels(c, c->pd.in_features[L - 1 - l]), 1, 1, cat(n, p, ".0.weight"));
        f1(b, C, cat(n, p, ".0.bias"));
        norm(b, cat(n, p, ".1"), C);
    }
    f2(b, L, C, "pixel_decoder.transformer.level_embed");
    for (int64_t i = 0; i < c->pd.enc_layers; i++) {
        snprintf(p, sizeof p, "pixel_decoder.transformer.encoder.layers.%lld", (long long)i);
        linear(b, cat(n, p, ".self_attn.sampling_offsets"), h * L * pts * 2, C, true);
        linear(b, cat(n, p, ".self_attn.attention_weights"), h * L * pts, C, true);
        linear(b, cat(n, p, ".self_attn.value_proj"), C, C, true);
        linear(b, cat(n, p, ".self_attn.output_proj"), C, C, true);
        norm(b, cat(n, p, ".norm1"), C);
        linear(b, cat(n, p, ".linear1"), F, C, true);
        linear(b, cat(n, p, ".linear2"), C, F, true);
        norm(b, cat(n, p, ".norm2"), C);
    }
    f4(b, c->pd.mask_dim, C, 1, 1, "pixel_decoder.mask_features.weight");
    f1(b, c->pd.mask_dim, "pixel_decoder.mask_features.bias");
    // FPN levels between the finest transformer feature and the common stride: res2.. upward.
    int64_t min_stride = 4;
    if (L > 0) min_stride = (int64_t)4 << (c->pd.in_features[0][3] - '2');
    int nfpn = 0;
    for (int64_t s = min_stride; s > c->pd.common_stride && c->pd.common_stride > 0; s /= 2)
        nfpn++;
    for (int k = 1; k <= nfpn; k++) {
        char res[16];
        snprintf(res, sizeof res, "res%d", k + 1);
        snprintf(p, sizeof p, "pixel_decoder.adapter_%d", k);
        f4(b, C, res_channels(c, res), 1, 1, cat(n, p, ".weight"));
        norm(b, cat(n, p, ".norm"), C);
        snprintf(p, sizeof p, "pixel_decoder.layer_%d", k);
        f4(b, C, C, 3, 3, cat(n, p, ".weight"));
        norm(b, cat(n, p, ".norm"), C);
    }

    int64_t hd = c->dec.hidden_dim, Fd = c->dec.dim_feedforward;
    static const char *const attn[] = {"transformer_self_attention_layers.%lld.self_attn",
                                       "transformer_cross_attention_layers.%lld.multihead_attn"};
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < c->dec.dec_layers; i++) {
            char a[NAME_MAX_];
            snprintf(a, sizeof a, "predictor.");
            snprintf(a + 10, sizeof a - 10, attn[k], (long long)i);
            f2(b, 3 * hd, hd, cat(n, a, ".in_proj_weight"));
            f1(b, 3 * hd, cat(n, a, ".in_proj_bias"));
            linear(b, cat(n, a, ".out_proj"), hd, hd, true);
            *strrchr(a, '.') = '\0';
            norm(b, cat(n, a, ".norm"), hd);
        }
    for (int64_t i = 0; i < c->dec.dec_layers; i++) {
        snprintf(p, sizeof p, "predictor.transformer_ffn_layers.%lld", (long long)i);
        linear(b, cat(n, p, ".linear1"), Fd, hd, true);
        linear(b, cat(n, p, ".linear2"), hd, Fd, true);
        norm(b, cat(n, p, ".norm"), hd);
    }
    norm(b, "predictor.decoder_norm", hd);
    f2(b, c->dec.num_queries, hd, "predictor.query_feat.weight");
    f2(b, c->dec.num_queries, hd, "predictor.query_embed.weight");
    f2(b, c->dec.num_feature_levels, hd, "predictor.level_embed.weight");
    linear(b, "predictor.class_embed", c->dec.num_classes + 1, hd, true);
    linear(b, "predictor.mask_embed.layers.0", hd, hd, true);
    linear(b, "predictor.mask_embed.layers.1", hd, hd, true);
    linear(b, "predictor.mask_embed.layers.2", c->dec.mask_dim, hd, true);
}

// ---- normalised view of the checkpoint -------------------------------------------------------

typedef struct named {
    char *name; // normalised
    const ug_ckpt_tensor *t;
    bool used;
} named;

typedef struct view {
    named *v;
    int n;
} view;

static int cmp_named(const void *a, const void *b) {
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

static named *vfind(const view *v, const char *name) {
    named key = {.name = (char *)name};
    return bsearch(&key, v->v, (size_t)v->n, sizeof *v->v, cmp_named);
}

// Config values are ints: a size from a hostile shape is capped at 1 << 30 (beyond every
// table's range), so its tensors come out mis-shaped instead of overflowing the config.
enum { SIZE_CAP = 1 << 30 };

static int narrow(int64_t v) {
    return v > SIZE_CAP ? SIZE_CAP : v < -SIZE_CAP ? -SIZE_CAP : (int)v;
}

static int dim_of(const view *v, const char *name, int d) {
    named *x = vfind(v, name);
    if (!x || x->t->problem || d >= x->t->ndim) return 0;
    return narrow(x->t->shape[d]);
}

static int count_of(const view *v, const char *fmt) {
    char name[NAME_MAX_];
    int i = 0;
    for (;; i++) {
        snprintf(name, sizeof name, fmt, i);
        if (!vfind(v, name)) return i;
    }
}

static bool starts(const char *s, const char *prefix) {
    return !strncmp(s, prefix, strlen(prefix));
}

// Appends one line to a list of notes or warnings (dropped when memory runs out).
static void push_line(char ***list, int *n, const char *fmt, va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    char **l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
    if (!l) return;
    *list = l;
    if ((l[*n] = strdup(buf))) (*n)++;
}

static void plan_note(ug_arch_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void plan_note(ug_arch_plan *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    push_line(&p->notes, &p->nnotes, fmt, ap);
    va_end(ap);
}

static void plan_warn(ug_arch_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void plan_warn(ug_arch_plan *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    push_line(&p->warnings, &p->nwarnings, fmt, ap);
    va_end(ap);
}

// Maps checkpoint names to normalised names; unmapped entries get name NULL.
static ug_status make_view(const ug_ckpt *c, bool rba, view *v, ug_err *err) {
    int n = ug_ckpt_count(c);
    v->v = calloc((size_t)(n ? n : 1), sizeof *v->v);
    if (!v->v) return ug_errf(err, UG_ERR_NOMEM, "out of memory");
    bool d2 = false;
    for (int i = 0; i < n; i++)
        d2 |= starts(ug_ckpt_at(c, i)->name, "sem_seg_head.pixel_decoder.");
    v->n = 0;
    for (int i = 0; i < n; i++) {
        const ug_ckpt_tensor *t = ug_ckpt_at(c, i);
        const char *src = t->name, *rest = NULL, *prefix = NULL;
        if (!rba) {
            if (starts(src, "image_encoder.") || starts(src, "prompt_encoder.") ||
                starts(src, "mask_decoder."))
                prefix = "", rest = src;
        } else if (starts(src, "backbone.")) {
            prefix = "", rest = src;
        } else if (d2 && starts(src, "sem_seg_head.pixel_decoder.")) {
            prefix = "pixel_decoder.", rest = src + strlen("sem_seg_head.pixel_decoder.");
        } else if (d2 && starts(src, "sem_seg_head.predictor.")) {
            prefix = "predictor.", rest = src + strlen("sem_seg_head.predictor.");
        } else if (!d2 && starts(src, "pixel_decoder.")) {
            prefix = "", rest = src;
        } else if (!d2 && starts(src, "sem_seg_head.")) {
            prefix = "predictor.", rest = src + strlen("sem_seg_head.");
        }
        if (!rest) continue;
        size_t len = strlen(prefix) + strlen(rest) + 1;
        char *name = malloc(len);
        if (!name) return ug_errf(err, UG_ERR_NOMEM, "out of memory");
        snprintf(name, len, "%s%s", prefix, rest);
        v->v[v->n].name = name;
        v->v[v->n].t = t;
        v->n++;
    }
    qsort(v->v, (size_t)v->n, sizeof *v->v, cmp_named);
    return UG_OK;
}

static void view_free(view *v) {
    for (int i = 0; i < v->n; i++)
        free(v->v[i].name);
    free(v->v);
}

// ---- inference -----------------------------------------------------------------------------

static void sam_infer(const view *v, sam_config *c) {
    ug_cfg_defaults(&sam_config_schema, c); // pixel_mean/std, mask_threshold, encoder_layernorm_eps
    int G = dim_of(v, "image_encoder.pos_embed", 1);
    c->enc_embed_dim = dim_of(v, "image_encoder.pos_embed", 3);
    c->patch_size = dim_of(v, "image_encoder.patch_embed.proj.weight", 2);
    c->in_chans = dim_of(v, "image_encoder.patch_embed.proj.weight", 1);
    c->img_size = narrow((int64_t)G * c->patch_size);
    c->enc_depth = count_of(v, "image_encoder.blocks.%d.norm1.weight");
    int hd = dim_of(v, "image_encoder.blocks.0.attn.rel_pos_h", 1);
    c->enc_num_heads = hd ? c->enc_embed_dim / hd : 0;
    for (int i = 0; i < c->enc_depth && c->n_global < SAM_MAX_DEPTH; i++) {
        char name[NAME_MAX_];
        snprintf(name, sizeof name, "image_encoder.blocks.%d.attn.rel_pos_h", i);
        int S = (dim_of(v, name, 0) + 1) / 2;
        if (S == G)
            c->enc_global_attn_indexes[c->n_global++] = i;
        else if (!c->enc_window_size)
            c->enc_window_size = S;
    }
    c->enc_mlp_ratio = c->enc_embed_dim ? (double)dim_of(v, "image_encoder.blocks.0.mlp.lin1.weight", 0) /
                                              (double)c->enc_embed_dim
                                        : 0;
    c->enc_qkv_bias = vfind(v, "image_encoder.blocks.0.attn.qkv.bias") != NULL;
    c->enc_use_abs_pos = c->enc_use_rel_pos = true;
    c->prompt_embed_dim = dim_of(v, "image_encoder.neck.0.weight", 0);
    c->mask_in_chans = dim_of(v, "prompt_encoder.mask_downscaling.3.weight", 0);
    c->dec_depth = count_of(v, "mask_decoder.transformer.layers.%d.norm1.weight");
    c->dec_embed_dim = dim_of(v, "mask_decoder.transformer.layers.0.self_attn.q_proj.weight", 0);
    c->dec_mlp_dim = dim_of(v, "mask_decoder.transformer.layers.0.mlp.lin1.weight", 0);
    int inner = dim_of(v, "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight", 0);
    c->dec_attn_downsample = inner ? c->dec_embed_dim / inner : 0;
    c->dec_num_heads = 8; // preset: not visible in shapes (every released SAM uses 8)
    c->dec_num_multimask = dim_of(v, "mask_decoder.mask_tokens.weight", 0) - 1;
    c->dec_iou_depth = count_of(v, "mask_decoder.iou_prediction_head.layers.%d.weight");
    c->dec_iou_hidden = dim_of(v, "mask_decoder.iou_prediction_head.layers.0.weight", 0);
}

static void rba_infer(const view *v, rba_packed_config *c) {
    ug_cfg_defaults(&rba_config_schema, c); // ImageNet mean/std, GN with 32 groups, Swin LayerNorm eps
    char name[NAME_MAX_];
    c->swin.embed_dim = dim_of(v, "backbone.patch_embed.proj.weight", 0);
    c->swin.patch_size = dim_of(v, "backbone.patch_embed.proj.weight", 2);
    c->swin.patch_norm = vfind(v, "backbone.patch_embed.norm.weight") != NULL;
    c->swin.ape = vfind(v, "backbone.absolute_pos_embed") != NULL;
    int stages = count_of(v, "backbone.layers.%d.blocks.0.norm1.weight");
    for (int s = 0; s < stages && s < RBA_CFG_STAGES; s++) {
        snprintf(name, sizeof name, "backbone.layers.%d.blocks.%%d.norm1.weight", s);
        c->swin.depths[s] = count_of(v, name);
        snprintf(name, sizeof name, "backbone.layers.%d.blocks.0.attn.relative_position_bias_table", s);
        c->swin.num_heads[s] = dim_of(v, name, 1);
        if (s == 0) {
            int rows = dim_of(v, name, 0), side = (int)llround(sqrt((double)rows));
            c->swin.window_size = side * side == rows ? (side + 1) / 2 : 0;
        }
    }
    c->swin.mlp_ratio =
        c->swin.embed_dim
            ? (double)dim_of(v, "backbone.layers.0.blocks.0.mlp.fc1.weight", 0) / (double)c->swin.embed_dim
            : 0;
    c->swin.qkv_bias = vfind(v, "backbone.layers.0.blocks.0.attn.qkv.bias") != NULL;

    c->pd.conv_dim = dim_of(v, "pixel_decoder.input_proj.0.0.weight", 0);
    int L = count_of(v, "pixel_decoder.input_proj.%d.0.weight");
    if (L > RBA_CFG_FEATURES) L = RBA_CFG_FEATURES;
    c->pd.n_in_features = L;
    for (int l = 0; l < L; l++)
        snprintf(c->pd.in_features[l], UG_CFG_STR_MAX, "res%d", 5 - L + 1 + l);
    c->pd.enc_layers = count_of(v, "pixel_decoder.transformer.encoder.layers.%d.self_attn.value_proj.weight");
    c->pd.dim_feedforward = dim_of(v, "pixel_decoder.transformer.encoder.layers.0.linear1.weight", 0);
    c->pd.mask_dim = dim_of(v, "pixel_decoder.mask_features.weight", 0);
    c->pd.nheads = 8; // preset: heads x points is all the shapes reveal
    c->pd.common_stride = 4;

    c->dec.hidden_dim = dim_of(v, "predictor.query_feat.weight", 1);
    c->dec.num_queries = dim_of(v, "predictor.query_feat.weight", 0);
    c->dec.num_classes = dim_of(v, "predictor.class_embed.weight", 0) - 1;
    c->dec.dim_feedforward = dim_of(v, "predictor.transformer_ffn_layers.0.linear1.weight", 0);
    c->dec.dec_layers =
        count_of(v, "predictor.transformer_self_attention_layers.%d.self_attn.in_proj_weight");
    c->dec.mask_dim = dim_of(v, "predictor.mask_embed.layers.2.weight", 0);
    c->dec.num_feature_levels = dim_of(v, "predictor.level_embed.weight", 0);
    c->dec.nheads = 8; // preset
}

// ---- checks --------------------------------------------------------------------------------

static void shape_str(int ndim, const int64_t *s, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? "," : "", (long long)s[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

typedef struct listbuf {
    char text[700];
    int count;
} listbuf;

static void list_add(listbuf *l, const char *item) {
    l->count++;
    size_t k = strlen(l->text);
    if (k + strlen(item) + 8 >= sizeof l->text) {
        if (!strstr(l->text, ", ...")) snprintf(l->text + k, sizeof l->text - k, ", ...");
        return;
    }
    snprintf(l->text + k, sizeof l->text - k, "%s%s", k ? ", " : "", item);
}

// Matches every expected item to the checkpoint; one error lists all problems.
static ug_status match(ug_arch_plan *p, const view *v, const char *path, ug_err *err) {
    listbuf missing = {{0}, 0}, bad = {{0}, 0}, notensor = {{0}, 0};
    for (int i = 0; i < p->n; i++) {
        ug_arch_item *it = &p->items[i];
        named *x = vfind(v, it->name);
        if (!x) {
            list_add(&missing, it->name);
            continue;
        }
        x->used = true;
        it->src = x->t;
        char a[96], b[96], item[600];
        if (x->t->problem) {
            snprintf(item, sizeof item, "%s is %s", x->t->name, x->t->problem);
            list_add(&notensor, item);
            continue;
        }
        bool is_int =
            x->t->dtype == UG_I64 || x->t->dtype == UG_I32 || x->t->dtype == UG_U8 || x->t->dtype == UG_BOOL;
        bool same =
            x->t->ndim == it->ndim && !memcmp(x->t->shape, it->shape, (size_t)it->ndim * sizeof *it->shape);
        if (!same || is_int != it->is_int) {
            shape_str(x->t->ndim, x->t->shape, a, sizeof a);
            shape_str(it->ndim, it->shape, b, sizeof b);
            snprintf(item, sizeof item, "%s %s %s, expected %s%s", it->name, ug_dtype_name(x->t->dtype), a, b,
                     it->is_int ? " integer" : " float");
            list_add(&bad, item);
        }
    }
    if (!missing.count && !bad.count && !notensor.count) return UG_OK;
    char msg[UG_ERR_MSG_MAX];
    size_t k = (size_t)snprintf(msg, sizeof msg, "%s: not a complete %s checkpoint:", path, p->arch);
    if (notensor.count && k < sizeof msg)
        k += (size_t)snprintf(msg + k, sizeof msg - k, " %d needed entries are not tensors (%s);",
                              notensor.count, notensor.text);
    if (missing.count && k < sizeof msg)
        k += (size_t)snprintf(msg + k, sizeof msg - k, " %d tensors missing (%s);", missing.count,
                              missing.text);
    if (bad.count && k < sizeof msg)
        snprintf(msg + k, sizeof msg - k, " %d mis-shaped (%s)", bad.count, bad.text);
    return ug_errf(err, UG_ERR_FORMAT, "%s", msg);
}

// relative_position_index [w*w, w*w] int64 must equal (dy + w-1) * (2w-1) + (dx + w-1).
static ug_status check_rel_index(ug_ckpt *ck, const named *x, int64_t w, ug_err *err) {
    const ug_ckpt_tensor *t = x->t;
    int64_t n = w * w;
    if (t->problem)
        return ug_errf(err, UG_ERR_FORMAT, "%s: '%s' is %s", ug_ckpt_path(ck), t->name, t->problem);
    if (t->dtype != UG_I64 || t->ndim != 2 || t->shape[0] != n || t->shape[1] != n)
        return ug_errf(err, UG_ERR_FORMAT, "%s: '%s' should be int64 [%lld,%lld] for window %lld",
                       ug_ckpt_path(ck), t->name, (long long)n, (long long)n, (long long)w);
    int64_t *idx = malloc(t->nbytes ? t->nbytes : 1);
    if (!idx) return ug_errf(err, UG_ERR_NOMEM, "out of memory");
    ug_status st = ug_ckpt_read(ck, t, idx, err);
    for (int64_t q = 0; q < n && !st; q++)
        for (int64_t k = 0; k < n; k++) {
            int64_t dy = q / w - k / w, dx = q % w - k % w;
            int64_t want = (dy + w - 1) * (2 * w - 1) + (dx + w - 1);
            if (idx[q * n + k] != want) {
                st = ug_errf(err, UG_ERR_FORMAT,
                             "%s: '%s'[%lld, %lld] = %lld, but the Swin formula gives %lld", ug_ckpt_path(ck),
                             t->name, (long long)q, (long long)k, (long long)idx[q * n + k], (long long)want);
                break;
            }
        }
    free(idx);
    return st;
}

// Layer counts bound the plan's loops: --set encoder_depth=1000000000 must be refused, not
// enumerated (the loaders allow at most 64 blocks per stack and 8 MLP layers anyway).
enum { PLAN_MAX_LAYERS = 64 };

static ug_status check_sam(const sam_config *c, const char *path, ug_err *err) {
    if (c->enc_depth > PLAN_MAX_LAYERS || c->dec_depth > PLAN_MAX_LAYERS ||
        c->dec_iou_depth > PLAN_MAX_LAYERS)
        return ug_errf(err, UG_ERR_ARG,
                       "%s: encoder depth %lld, decoder depth %lld or IoU head depth %lld is over %d", path,
                       (long long)c->enc_depth, (long long)c->dec_depth, (long long)c->dec_iou_depth,
                       PLAN_MAX_LAYERS);
    if (!c->enc_embed_dim || !c->patch_size || !c->enc_num_heads || c->enc_embed_dim % c->enc_num_heads ||
        !c->enc_depth || !c->prompt_embed_dim || !c->dec_embed_dim || !c->dec_num_heads ||
        c->dec_embed_dim % c->dec_num_heads || !c->dec_attn_downsample ||
        c->dec_embed_dim % c->dec_attn_downsample || c->img_size % c->patch_size)
        return ug_errf(err, UG_ERR_FORMAT,
                       "%s: inconsistent SAM sizes (embed %lld, heads %lld, depth %lld, patch %lld, image "
                       "%lld, decoder dim %lld, "
                       "decoder heads %lld)",
                       path, (long long)c->enc_embed_dim, (long long)c->enc_num_heads,
                       (long long)c->enc_depth, (long long)c->patch_size, (long long)c->img_size,
                       (long long)c->dec_embed_dim, (long long)c->dec_num_heads);
    return UG_OK;
}

static ug_status check_rba(rba_packed_config *c, bool points_set, const view *v, const char *path,
                           ug_err *err) {
    bool deep = c->dec.dec_layers > PLAN_MAX_LAYERS || c->pd.enc_layers > PLAN_MAX_LAYERS;
    for (int s = 0; s < RBA_CFG_STAGES; s++)
        deep |= c->swin.depths[s] > PLAN_MAX_LAYERS;
    if (deep)
        return ug_errf(err, UG_ERR_ARG,
                       "%s: a Swin stage, the pixel decoder or the decoder has more than %d layers", path,
                       PLAN_MAX_LAYERS);
    if (c->swin.ape)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "%s: Swin with an absolute position embedding is not supported", path);
    if (vfind(v, "predictor.input_proj.0.weight"))
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "%s: a decoder with input projections (enforce_input_project) is not supported", path);
    int stages = count_of(v, "backbone.layers.%d.blocks.0.norm1.weight");
    if (stages != RBA_CFG_STAGES || !c->swin.embed_dim || !c->swin.window_size)
        return ug_errf(err, UG_ERR_FORMAT,
                       "%s: expected a 4-stage Swin backbone (found %d stages, embed %lld, window %lld)",
                       path, stages, (long long)c->swin.embed_dim, (long long)c->swin.window_size);
    for (int l = 0; l < c->pd.n_in_features; l++)
        if (!res_channels(c, c->pd.in_features[l]))
            return ug_errf(err, UG_ERR_ARG, "%s: pixel decoder input feature '%s' is not one of res2..res5",
                           path, c->pd.in_features[l]);
    if (!c->pd.nheads || !c->pd.conv_dim || c->pd.conv_dim % c->pd.nheads || !c->dec.nheads ||
        !c->dec.hidden_dim || c->dec.hidden_dim % c->dec.nheads)
        return ug_errf(err, UG_ERR_FORMAT,
                       "%s: inconsistent sizes (pixel decoder width %lld with %lld heads, decoder width %lld "
                       "with %lld heads)",
                       path, (long long)c->pd.conv_dim, (long long)c->pd.nheads, (long long)c->dec.hidden_dim,
                       (long long)c->dec.nheads);
    if (!points_set) {
        int64_t rows =
            dim_of(v, "pixel_decoder.transformer.encoder.layers.0.self_attn.attention_weights.weight", 0);
        int64_t per = (int64_t)c->pd.nheads * c->pd.n_in_features;
        if (rows && per && rows % per)
            return ug_errf(err, UG_ERR_FORMAT,
                           "%s: attention_weights has %lld rows, not a multiple of %lld heads x %d levels "
                           "(set the head count with "
                           "--set pixel_decoder_transformer_nheads=N)",
                           path, (long long)rows, (long long)c->pd.nheads, c->pd.n_in_features);
        c->pd.deform_n_points = per ? narrow(rows / per) : 0;
    }
    return UG_OK;
}

// ---- the plan ------------------------------------------------------------------------------

void ug_arch_plan_free(ug_arch_plan *p) {
    for (int i = 0; i < p->n; i++)
        free(p->items[i].name);
    free(p->items);
    for (int i = 0; i < p->nnotes; i++)
        free(p->notes[i]);
    free(p->notes);
    for (int i = 0; i < p->nwarnings; i++)
        free(p->warnings[i]);
    free(p->warnings);
    free(p->config_json);
    memset(p, 0, sizeof *p);
}

static ug_status apply_sets(const ug_cfg_schema *schema, void *cfg, const char *const *set, int nset,
                            ug_arch_plan *p, ug_err *err) {
    for (int i = 0; i < nset; i++) {
        ug_status st = ug_cfg_set(schema, cfg, set[i], NULL, err);
        if (st) return st;
        plan_note(p, "config %s set from the command line", set[i]);
    }
    return UG_OK;
}

// True when one of the --set values names key.
static bool was_set(const char *const *set, int nset, const char *key) {
    size_t n = strlen(key);
    for (int i = 0; i < nset; i++)
        if (!strncmp(set[i], key, n) && set[i][n] == '=') return true;
    return false;
}

// Head counts are not visible in the shapes: one warning line names each preset value that
// no --set replaced, and the --set that does.
static void warn_presets(ug_arch_plan *p, int n, const char *const values[], const char *const keys[]) {
    if (!n) return;
    char got[512] = "", fix[512] = "";
    for (int i = 0; i < n; i++) {
        size_t a = strlen(got), b = strlen(fix);
        snprintf(got + a, sizeof got - a, "%s%s", i ? " and " : "", values[i]);
        snprintf(fix + b, sizeof fix - b, "%s--set %s=N", i ? " and " : "", keys[i]);
    }
    plan_warn(p, "inferred %s from the shapes (ambiguous); %s override%s", got, fix, n == 1 ? "s" : "");
}

static void warn_sam_presets(ug_arch_plan *p, const sam_config *c, const char *const *set, int nset) {
    static const char *const key[] = {"decoder_transformer_num_heads"};
    char value[96];
    snprintf(value, sizeof value, "%s=%d", key[0], c->dec_num_heads);
    warn_presets(p, was_set(set, nset, key[0]) ? 0 : 1, (const char *const[]){value}, key);
}

// Pixel-decoder heads x points is what the shapes give: setting either one fixes both.
static void warn_rba_presets(ug_arch_plan *p, const rba_packed_config *c, const char *const *set, int nset) {
    char values[2][160];
    const char *v[2], *k[2];
    int n = 0;
    if (!was_set(set, nset, "pixel_decoder_transformer_nheads") &&
        !was_set(set, nset, "pixel_decoder_deform_n_points")) {
        snprintf(values[n], sizeof values[n],
                 "pixel_decoder_transformer_nheads=%d (so pixel_decoder_deform_n_points=%d)", c->pd.nheads,
                 c->pd.deform_n_points);
        v[n] = values[n], k[n++] = "pixel_decoder_transformer_nheads";
    }
    if (!was_set(set, nset, "decoder_nheads")) {
        snprintf(values[n], sizeof values[n], "decoder_nheads=%d", c->dec.nheads);
        v[n] = values[n], k[n++] = "decoder_nheads";
    }
    warn_presets(p, n, v, k);
}

ug_status ug_arch_plan_make(ug_ckpt *ck, const char *arch, const char *const *set, int nset, ug_arch_plan *p,
                            ug_err *err) {
    memset(p, 0, sizeof *p);
    const char *path = ug_ckpt_path(ck);
    bool has_sam = false, has_rba = false;
    for (int i = 0; i < ug_ckpt_count(ck); i++) {
        const char *n = ug_ckpt_at(ck, i)->name;
        has_sam |= starts(n, "image_encoder.");
        has_rba |= starts(n, "backbone.layers.");
    }
    bool rba;
    if (!arch || !strcmp(arch, "auto")) {
        if (has_sam == has_rba)
            return ug_errf(err, UG_ERR_FORMAT, "%s: cannot tell the architecture (%s); use --arch sam|rba",
                           path,
                           has_sam ? "both image_encoder.* and backbone.layers.* keys"
                                   : "no image_encoder.* (SAM) or backbone.layers.* (RbA) keys");
        rba = has_rba;
    } else if (!strcmp(arch, "sam") || !strcmp(arch, "rba")) {
        rba = !strcmp(arch, "rba");
    } else {
        return ug_errf(err, UG_ERR_ARG, "unknown architecture '%s' (auto, sam or rba)", arch);
    }
    snprintf(p->arch, sizeof p->arch, "%s", rba ? "rba" : "sam");
    view v = {0};
    ug_status st = make_view(ck, rba, &v, err);
    builder b = {p, UG_OK};
    if (!st && !rba) {
        sam_config c;
        sam_infer(&v, &c);
        if (!(st = apply_sets(&sam_config_schema, &c, set, nset, p, err))) {
            c.embed_h = c.embed_w = c.patch_size ? c.img_size / c.patch_size : 0;
            if (!(st = check_sam(&c, path, err))) {
                sam_expected(&b, &c);
                st = b.st ? ug_errf(err, b.st, "out of memory")
                          : ug_cfg_write(&sam_config_schema, &c, &p->config_json, err);
                if (!st) warn_sam_presets(p, &c, set, nset);
            }
        }
    } else if (!st) {
        rba_packed_config c;
        bool points_set = was_set(set, nset, "pixel_decoder_deform_n_points");
        rba_infer(&v, &c);
        if (!(st = apply_sets(&rba_config_schema, &c, set, nset, p, err)) &&
            !(st = check_rba(&c, points_set, &v, path, err))) {
            rba_expected(&b, &c);
            st = b.st ? ug_errf(err, b.st, "out of memory")
                      : ug_cfg_write(&rba_config_schema, &c, &p->config_json, err);
            if (!st) warn_rba_presets(p, &c, set, nset);
            // Buffers derivable from the config: verified, then dropped.
            int checked = 0;
            for (int i = 0; i < v.n && !st; i++) {
                size_t len = strlen(v.v[i].name), sl = strlen(".attn.relative_position_index");
                if (starts(v.v[i].name, "backbone.layers.") && len > sl &&
                    !strcmp(v.v[i].name + len - sl, ".attn.relative_position_index")) {
                    st = check_rel_index(ck, &v.v[i], c.swin.window_size, err);
                    v.v[i].used = true;
                    checked++;
                }
            }
            if (checked && !st)
                plan_note(p,
                          "dropped %d relative_position_index buffers (checked against the Swin formula; "
                          "recomputed at load)",
                          checked);
        }
    }
    if (st == UG_ERR_FORMAT) {
        // Sizes are read from shapes; an entry that is not a tensor is the likelier cause.
        listbuf nt = {{0}, 0};
        for (int i = 0; i < v.n; i++)
            if (v.v[i].t->problem) {
                char item[600];
                snprintf(item, sizeof item, "%s is %s", v.v[i].t->name, v.v[i].t->problem);
                list_add(&nt, item);
            }
        if (nt.count)
            st = ug_errf(err, UG_ERR_FORMAT, "%s: %d entries are not tensors (%s)", path, nt.count, nt.text);
    }
    if (!st) st = match(p, &v, path, err);
    if (!st) {
        listbuf extra = {{0}, 0};
        for (int i = 0; i < v.n; i++)
            if (!v.v[i].used) list_add(&extra, v.v[i].t->name);
        if (extra.count)
            plan_note(p, "ignored %d tensors the model does not use: %s", extra.count, extra.text);
        listbuf dropped = {{0}, 0};
        for (int i = 0; i < ug_ckpt_count(ck); i++) {
            const char *n = ug_ckpt_at(ck, i)->name;
            bool mapped = false;
            for (int k = 0; k < v.n && !mapped; k++)
                mapped = v.v[k].t == ug_ckpt_at(ck, i);
            if (!mapped) list_add(&dropped, n);
        }
        if (dropped.count)
            plan_note(p, "dropped %d entries outside the model (training-only): %s", dropped.count,
                      dropped.text);
    }
    view_free(&v);
    if (st) ug_arch_plan_free(p);
    return st;
}

ug_status ug_arch_sam_official(const char *variant, ug_arch_plan *p, ug_err *err) {
    memset(p, 0, sizeof *p);
    static const struct {
        const char *name;
        int embed, depth, heads, global[4];
    } presets[] = {
        {"vit_b", 768, 12, 12, {2, 5, 8, 11}},
        {"vit_l", 1024, 24, 16, {5, 11, 17, 23}},
        {"vit_h", 1280, 32, 16, {7, 15, 23, 31}},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, variant)) continue;
        sam_config c = {.img_size = 1024,
                        .patch_size = 16,
                        .in_chans = 3,
                        .enc_embed_dim = presets[i].embed,
                        .enc_depth = presets[i].depth,
                        .enc_num_heads = presets[i].heads,
                        .enc_window_size = 14,
                        .enc_mlp_ratio = 4.0,
                        .enc_qkv_bias = true,
                        .enc_use_abs_pos = true,
                        .enc_use_rel_pos = true,
                        .n_global = 4,
                        .prompt_embed_dim = 256,
                        .mask_in_chans = 16,
                        .dec_depth = 2,
                        .dec_embed_dim = 256,
                        .dec_mlp_dim = 2048,
                        .dec_num_heads = 8,
                        .dec_attn_downsample = 2,
                        .dec_num_multimask = 3,
                        .dec_iou_depth = 3,
                        .dec_iou_hidden = 256};
        memcpy(c.enc_global_attn_indexes, presets[i].global, sizeof presets[i].global);
        snprintf(p->arch, sizeof p->arch, "sam");
        builder b = {p, UG_OK};
        sam_expected(&b, &c);
        if (b.st) {
            ug_arch_plan_free(p);
            return ug_errf(err, b.st, "out of memory");
        }
        return UG_OK;
    }
    return ug_errf(err, UG_ERR_ARG, "unknown SAM variant '%s' (vit_b, vit_l, vit_h)", variant);
}

// Release configs of ug_arch_rba_official. Head counts are not visible in shapes: a packer
// infers 8 for both (the release), so "tiny" needs pixel_decoder_transformer_nheads=4 and
// decoder_nheads=4 as --set values.
typedef struct rba_preset {
    const char *name;
    int embed, depths[RBA_CFG_STAGES], heads[RBA_CFG_STAGES];
    int pd_dim, pd_mask, pd_heads, pd_ffn, pd_layers;
    int hidden, dec_heads, dec_ffn, queries, dec_mask;
} rba_preset;

static const rba_preset rba_presets[] = {
    // golden/rba_tiny/config.json
    {"tiny", 8, {2, 2, 2, 2}, {1, 2, 4, 8}, 64, 32, 4, 64, 2, 64, 4, 64, 10, 32},
    // RbA's Swin-B release (Mask2Former maskformer2_swin_base_IN21k_384_bs16_90k + RbA head)
    {"swin_b", 128, {2, 2, 18, 2}, {4, 8, 16, 32}, 256, 256, 8, 1024, 6, 256, 8, 2048, 100, 256},
};

// ".attn.relative_position_bias_table" -> the matching ".attn.relative_position_index".
static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

ug_status ug_arch_rba_official(const char *variant, int dec_layers, ug_arch_plan *p, ug_err *err) {
    memset(p, 0, sizeof *p);
    const rba_preset *r = NULL;
    for (size_t i = 0; i < sizeof rba_presets / sizeof rba_presets[0]; i++)
        if (!strcmp(rba_presets[i].name, variant)) r = &rba_presets[i];
    if (!r) return ug_errf(err, UG_ERR_ARG, "unknown RbA variant '%s' (tiny, swin_b)", variant);
    if (dec_layers < 1 || dec_layers > 64)
        return ug_errf(err, UG_ERR_ARG, "RbA decoder layers %d: expected 1 to 64", dec_layers);
    // The table's defaults (ImageNet normalisation, GN with 32 groups, Swin flags and eps),
    // then the release's sizes.
    rba_packed_config c;
    ug_cfg_defaults(&rba_config_schema, &c);
    c.dec.dim_feedforward = r->dec_ffn, c.dec.hidden_dim = r->hidden, c.dec.mask_dim = r->dec_mask;
    c.dec.nheads = r->dec_heads, c.dec.num_classes = 19, c.dec.num_feature_levels = 3;
    c.dec.num_queries = r->queries, c.dec.dec_layers = dec_layers;
    c.pd.common_stride = 4, c.pd.conv_dim = r->pd_dim, c.pd.deform_n_points = 4, c.pd.mask_dim = r->pd_mask;
    c.pd.dim_feedforward = r->pd_ffn, c.pd.enc_layers = r->pd_layers, c.pd.nheads = r->pd_heads;
    snprintf(c.pd.in_features[0], UG_CFG_STR_MAX, "res5");
    c.pd.n_in_features = 1;
    c.swin.embed_dim = r->embed, c.swin.patch_size = 4, c.swin.window_size = 12;
    memcpy(c.swin.depths, r->depths, sizeof r->depths);
    memcpy(c.swin.num_heads, r->heads, sizeof r->heads);

    // The normalised list, renamed into the detectron2 layout in the checkpoint's order: each
    // Swin block's relative_position_index buffer follows its bias table, and the training
    // criterion's class weights come last (as torch.save writes the state dict).
    ug_arch_plan norm = {0};
    builder bn = {&norm, UG_OK}, b = {p, UG_OK};
    rba_expected(&bn, &c);
    int64_t w2 = (int64_t)c.swin.window_size * c.swin.window_size;
    for (int i = 0; i < norm.n && !bn.st; i++) {
        const ug_arch_item *it = &norm.items[i];
        const char *prefix =
            starts(it->name, "pixel_decoder.") || starts(it->name, "predictor.") ? "sem_seg_head." : "";
        add(&b, false, it->ndim, it->shape, "%s%s", prefix, it->name);
        if (ends_with(it->name, ".attn.relative_position_bias_table")) {
            size_t stem = strlen(it->name) - strlen("relative_position_bias_table");
            add(&b, true, UG_DIMS(w2, w2), "%.*srelative_position_index", (int)stem, it->name);
        }
    }
    f1(&b, c.dec.num_classes + 1, "criterion.empty_weight");
    snprintf(p->arch, sizeof p->arch, "rba");
    ug_status st = bn.st ? bn.st : b.st;
    if (!st)
        st = ug_cfg_write(&rba_config_schema, &c, &p->config_json, err);
    else
        ug_errf(err, st, "out of memory");
    ug_arch_plan_free(&norm);
    if (st) ug_arch_plan_free(p);
    return st;
}
