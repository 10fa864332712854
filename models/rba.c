// models/rba.c — the RbA branch as UGainS runs it (NLSSegmentation.prediction_step): the
// forward pass in its stages (input -> Swin -> pixel decoder -> decoder -> the fused scoring at
// image resolution), then the config and the loading. Letters as in models/rba.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/json.h"
#include "engine/timer.h"
#include "models/packed_config.h"
#include "models/rba.h"
#include "ops/backend.h"
#include "ops/ops.h"

// ---- trace ----

// Forwards a block's trace under "<prefix><name>".
typedef struct trace_fwd {
    const nn_trace *tr;
    const char *prefix;
} trace_fwd;

static void trace_prefixed(void *user, const char *name, const ug_tensor *t) {
    const trace_fwd *f = user;
    char full[128];
    snprintf(full, sizeof full, "%s%s", f->prefix, name);
    nn_emit(f->tr, full, t);
}

const char *rba_dump_name(const char *traced) {
    static const char *const map[][2] = {
        {"input", "input"},
        {"backbone_res2", "res2"},
        {"backbone_res3", "res3"},
        {"backbone_res4", "res4"},
        {"backbone_res5", "res5"},
        {"pd_mask_features", "mask_features"},
        {"pd_multi_scale_features0", "multi_scale_0"},
        {"pd_multi_scale_features1", "multi_scale_1"},
        {"pd_multi_scale_features2", "multi_scale_2"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(traced, map[i][0])) return map[i][1];
    return NULL;
}

// ---- the stages ----

ug_status rba_stage_input(ug_ctx *ctx, const rba_model *m, const ug_tensor *input, bool pad32, rba_state *s,
                          const nn_trace *trace, ug_err *err) {
    memset(s, 0, sizeof *s);
    ug_status st;
    if ((st = nn_check_input(input, UG_F32, 4, (const int64_t[]){1, 3, -1, -1}, true, "rba", "[1,3,H,W]",
                             err)) != UG_OK ||
        (st = nn_check_device(ctx, input, "rba", err)) != UG_OK ||
        (st = nn_check_weights(ctx, &m->w, "rba", err)) != UG_OK)
        return st;
    s->H = input->shape[2];
    s->W = input->shape[3];
    s->Ht = pad32 ? (s->H + 31) / 32 * 32 : s->H;
    s->Wt = pad32 ? (s->W + 31) / 32 * 32 : s->W;
    s->input = ug_view_reshape(input, UG_DIMS(1, 3, s->H, s->W));
    // detectron2's ImageList.from_tensors: zeros on the right and bottom (zero = the mean colour).
    if (s->Ht != s->H || s->Wt != s->W) {
        if ((st = nn_output(ctx, &s->padded, UG_F32, UG_DIMS(1, 3, s->Ht, s->Wt), err)) != UG_OK) return st;
        ug_pad(ctx, &s->padded, input, (const int64_t[]){0, 0, 0, 0}, 0.0f);
        s->input = ug_view_reshape(&s->padded, UG_DIMS(1, 3, s->Ht, s->Wt));
    }
    nn_emit(trace, "input", &s->input);
    return UG_OK;
}

ug_status rba_stage_backbone(ug_ctx *ctx, const rba_model *m, rba_state *s, const nn_trace *trace,
                             ug_err *err) {
    trace_fwd tf = {trace, "backbone_"};
    nn_trace prefixed = {trace_prefixed, &tf};
    ug_status st = swin_forward(ctx, &m->swin, &s->input, s->res, nn_tracing(trace) ? &prefixed : NULL, err);
    if (st != UG_OK) return st;
    ug_tensor_free(&s->padded);
    memset(&s->input, 0, sizeof s->input);
    for (int k = 0; k < SWIN_STAGES; k++) {
        char name[32];
        snprintf(name, sizeof name, "backbone_res%d", k + 2);
        nn_emit(trace, name, &s->res[k]);
    }
    return UG_OK;
}

ug_status rba_stage_pixel_decoder(ug_ctx *ctx, const rba_model *m, rba_state *s, const nn_trace *trace,
                                  ug_err *err) {
    trace_fwd tf = {trace, "pd_"};
    nn_trace prefixed = {trace_prefixed, &tf};
    ug_status st = pd_forward(ctx, &m->pd, s->res, &s->pd, nn_tracing(trace) ? &prefixed : NULL, err);
    if (st != UG_OK) return st;
    for (int k = 0; k < SWIN_STAGES; k++)
        ug_tensor_free(&s->res[k]);
    return UG_OK;
}

ug_status rba_stage_decoder(ug_ctx *ctx, const rba_model *m, rba_state *s, rba_output *out,
                            const nn_trace *trace, ug_err *err) {
    ug_status st = m2f_forward(ctx, &m->dec, s->pd.multi_scale, s->pd.n_multiscale, &s->pd.mask_features,
                               &out->pred_logits, &out->pred_masks, trace, err);
    if (st != UG_OK) return st;
    pd_output_free(&s->pd);
    nn_emit(trace, "pred_logits", &out->pred_logits);
    nn_emit(trace, "pred_masks", &out->pred_masks);
    return UG_OK;
}

ug_status rba_stage_score(ug_ctx *ctx, const rba_model *m, rba_state *s, rba_output *out,
                          const nn_trace *trace, ug_err *err) {
    ug_status st;
    if ((st = nn_output(ctx, &out->score, UG_F32, UG_DIMS(s->H, s->W), err)) != UG_OK ||   // [H, W]
        (st = nn_output(ctx, &out->semantic, UG_U8, UG_DIMS(s->H, s->W), err)) != UG_OK || // [H, W]
        (st = ug_rba_score(ctx, &out->score, &out->semantic, &out->pred_logits, &out->pred_masks, s->Ht,
                           s->Wt, err)) != UG_OK)
        return st;
    nn_emit(trace, "rba_score", &out->score);
    nn_emit(trace, "semantic_argmax", &out->semantic);
    return UG_OK;
}

void rba_state_free(rba_state *s) {
    if (!s) return;
    ug_tensor_free(&s->padded);
    for (int k = 0; k < SWIN_STAGES; k++)
        ug_tensor_free(&s->res[k]);
    pd_output_free(&s->pd);
    memset(s, 0, sizeof *s);
}

// ---- forward ----

ug_status rba_forward(ug_ctx *ctx, const rba_model *m, const ug_tensor *input, bool pad32, rba_output *out,
                      const nn_trace *trace, ug_err *err) {
    memset(out, 0, sizeof *out);
    rba_state s;
    double t[5];
    ug_status st;
    if ((st = rba_stage_input(ctx, m, input, pad32, &s, trace, err)) != UG_OK) goto done;
    t[0] = ug_now_ms();
    if ((st = rba_stage_backbone(ctx, m, &s, trace, err)) != UG_OK) goto done;
    t[1] = ug_now_ms();
    if ((st = rba_stage_pixel_decoder(ctx, m, &s, trace, err)) != UG_OK) goto done;
    t[2] = ug_now_ms();
    if ((st = rba_stage_decoder(ctx, m, &s, out, trace, err)) != UG_OK) goto done;
    t[3] = ug_now_ms();
    if ((st = rba_stage_score(ctx, m, &s, out, trace, err)) != UG_OK) goto done;
    t[4] = ug_now_ms();
    for (int i = 0; i < 4; i++)
        out->ms[i] = t[i + 1] - t[i];
done:
    rba_state_free(&s);
    if (st != UG_OK) rba_output_free(out);
    return st;
}

ug_status rba_normalize_image(ug_ctx *ctx, const ug_tensor *img, ug_tensor *x, ug_err *err) {
    memset(x, 0, sizeof *x);
    ug_status st;
    if ((st = nn_check_input(img, UG_U8, 3, (const int64_t[]){-1, -1, 3}, false, "rba: image", "[H,W,3] RGB",
                             err)) != UG_OK)
        return st;
    if (img->stride[1] != 3 || img->stride[2] != 1)
        return ug_errf(err, UG_ERR_ARG, "rba: image: pixels must be 3 contiguous bytes (RGB)");
    if ((st = nn_check_device(ctx, img, "rba: image", err)) != UG_OK ||
        (st = nn_output(ctx, x, UG_F32, UG_DIMS(1, 3, img->shape[0], img->shape[1]), err)) !=
            UG_OK) // [1, 3, H, W]
        return st;
    ug_rba_normalize(ctx, x, img);
    return UG_OK;
}

ug_status rba_forward_u8(ug_ctx *ctx, const rba_model *m, const ug_tensor *img, bool pad32, rba_output *out,
                         const nn_trace *trace, ug_err *err) {
    memset(out, 0, sizeof *out);
    ug_tensor x; // [1, 3, H, W]
    ug_status st = rba_normalize_image(ctx, img, &x, err);
    if (st != UG_OK) return st;
    st = rba_forward(ctx, m, &x, pad32, out, trace, err);
    ug_tensor_free(&x);
    return st;
}

void rba_output_free(rba_output *o) {
    if (!o) return;
    ug_tensor_free(&o->pred_logits);
    ug_tensor_free(&o->pred_masks);
    ug_tensor_free(&o->score);
    ug_tensor_free(&o->semantic);
    memset(o, 0, sizeof *o);
}

// ---- config ----

static ug_status check_imagenet(const char *key, const double got[3], const double want[3], ug_err *err) {
    for (int i = 0; i < 3; i++)
        if ((float)got[i] != (float)want[i])
            return ug_errf(err, UG_ERR_UNSUPPORTED,
                           "key \"%s\": only the ImageNet values (%g, %g, %g) are supported", key, want[0],
                           want[1], want[2]);
    return UG_OK;
}

static ug_status config_root(rba_config *c, const ug_json *root, ug_err *err) {
    memset(c, 0, sizeof *c);
    if (root->type != UG_JSON_OBJECT) return ug_errf(err, UG_ERR_FORMAT, "expected a JSON object");
    ug_status st;
    if ((st = swin_config_from_json(&c->swin, root, err)) != UG_OK) return st;
    int in_ch[PD_FEATURES];
    for (int k = 0; k < PD_FEATURES; k++)
        in_ch[k] = c->swin.embed_dim << k;
    if ((st = pd_config_from_json(&c->pd, root, in_ch, err)) != UG_OK ||
        (st = m2f_config_from_json(&c->dec, root, err)) != UG_OK)
        return st;
    rba_packed_config p; // imagenet_* through the shared table (models/packed_config.c)
    if ((st = ug_cfg_read(&rba_config_schema, &p, root, "imagenet_", err)) != UG_OK ||
        (st = check_imagenet("imagenet_mean", p.imagenet_mean, rba_imagenet_mean, err)) != UG_OK ||
        (st = check_imagenet("imagenet_std", p.imagenet_std, rba_imagenet_std, err)) != UG_OK)
        return st;
    // The decoder reads the pixel decoder's maps directly (no input projection in the release).
    if (c->pd.conv_dim != c->dec.hidden || c->pd.mask_dim != c->dec.mask_dim ||
        c->pd.n_multiscale != c->dec.levels)
        return ug_errf(
            err, UG_ERR_UNSUPPORTED,
            "pixel decoder (conv_dim %d, mask_dim %d, %d levels) does not feed the decoder (hidden %d, "
            "mask_dim %d, %d levels) without an input projection",
            c->pd.conv_dim, c->pd.mask_dim, c->pd.n_multiscale, c->dec.hidden, c->dec.mask_dim,
            c->dec.levels);
    if (c->dec.classes > 256)
        return ug_errf(err, UG_ERR_UNSUPPORTED, "%d classes do not fit an 8-bit semantic map",
                       c->dec.classes);
    return UG_OK;
}

ug_status rba_config_parse(rba_config *cfg, const char *json, ug_err *err) {
    ug_json_doc *doc = NULL;
    ug_status st = ug_json_parse(&doc, json, strlen(json), "rba config", err);
    if (st != UG_OK) return st;
    st = config_root(cfg, ug_json_root(doc), err);
    if (st != UG_OK) ug_err_prefix(err, "rba config: ");
    ug_json_free(doc);
    return st;
}

// ---- loading ----

ug_status rba_load_st(rba_model **out, ug_st_file *st, bool take_ownership, const char *name, ug_err *err) {
    *out = NULL;
    rba_model *m = calloc(1, sizeof *m);
    if (!m) {
        if (take_ownership) ug_st_close(st);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", name);
    }
    m->st = st;
    m->own_st = take_ownership;
    snprintf(m->name, sizeof m->name, "%s", name);
    ug_weights_init(&m->w, st, m->name);
    ug_status s;
    const char *json;
    if ((s = ug_weights_config(&m->w, "rba", "an RbA model", &json, err)) != UG_OK) goto fail;
    if ((s = rba_config_parse(&m->cfg, json, err)) != UG_OK) {
        ug_err_prefix(err, "%s: ", name);
        goto fail;
    }
    if ((s = swin_load(&m->swin, &m->cfg.swin, &m->w, "backbone.", err)) != UG_OK ||
        (s = pd_load(&m->pd, &m->cfg.pd, &m->w, "pixel_decoder.", err)) != UG_OK ||
        (s = m2f_load(&m->dec, &m->cfg.dec, &m->w, "predictor.", err)) != UG_OK)
        goto fail;
    *out = m;
    return UG_OK;
fail:
    rba_free(m);
    return s;
}

ug_status rba_load(rba_model **m, const char *path, ug_err *err) {
    *m = NULL;
    ug_st_file *st;
    ug_status s = ug_st_open(&st, path, err);
    if (s != UG_OK) return s;
    const char *base = strrchr(path, '/');
    return rba_load_st(m, st, true, base ? base + 1 : path, err);
}

ug_status rba_to_device(rba_model *m, ug_ctx *ctx, ug_err *err) {
    return ug_weights_place(&m->w, ug_backend_for(ctx, ctx->device)->mem, err);
}

void rba_free(rba_model *m) {
    if (!m) return;
    m2f_free(&m->dec);
    pd_free(&m->pd);
    swin_free(&m->swin);
    ug_weights_release(&m->w);
    if (m->own_st) ug_st_close(m->st);
    free(m);
}
