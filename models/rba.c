// models/rba.c — the RbA branch as UGainS runs it (NLSSegmentation.prediction_step): config,
// loading, the forward pass (normalise -> Swin -> pixel decoder -> decoder) and the fused
// scoring at image resolution. Letters as in models/rba.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/json.h"
#include "engine/timer.h"
#include "models/rba.h"
#include "ops/ops.h"

// ---- config ----

static ug_status check_imagenet(const ug_json *root, const char *key, const double want[3], ug_err *err) {
    const ug_json *a = ug_json_get(root, key);
    if (!a) return UG_OK;
    if (a->type != UG_JSON_ARRAY || a->len != 3)
        return ug_errf(err, UG_ERR_FORMAT, "key \"%s\": expected an array of 3 numbers", key);
    for (size_t i = 0; i < 3; i++) {
        double v;
        ug_status st = ug_json_as_number(ug_json_at(a, i), key, &v, err);
        if (st != UG_OK) return st;
        if ((float)v != (float)want[i])
            return ug_errf(err, UG_ERR_UNSUPPORTED, "key \"%s\": only the ImageNet values (%g, %g, %g) are supported",
                           key, want[0], want[1], want[2]);
    }
    return UG_OK;
}

static ug_status config_root(rba_config *c, const ug_json *root, ug_err *err) {
    memset(c, 0, sizeof *c);
    if (root->type != UG_JSON_OBJECT) return ug_errf(err, UG_ERR_FORMAT, "expected a JSON object");
    ug_status st;
    if ((st = swin_config_from_json(&c->swin, root, err)) != UG_OK) return st;
    int in_ch[PD_FEATURES];
    for (int k = 0; k < PD_FEATURES; k++) in_ch[k] = c->swin.embed_dim << k;
    if ((st = pd_config_from_json(&c->pd, root, in_ch, err)) != UG_OK ||
        (st = m2f_config_from_json(&c->dec, root, err)) != UG_OK)
        return st;
    static const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
    if ((st = check_imagenet(root, "imagenet_mean", mean, err)) != UG_OK ||
        (st = check_imagenet(root, "imagenet_std", stdv, err)) != UG_OK)
        return st;
    // The decoder reads the pixel decoder's maps directly (no input projection in the release).
    if (c->pd.conv_dim != c->dec.hidden || c->pd.mask_dim != c->dec.mask_dim || c->pd.n_multiscale != c->dec.levels)
        return ug_errf(err, UG_ERR_UNSUPPORTED,
                       "pixel decoder (conv_dim %d, mask_dim %d, %d levels) does not feed the decoder (hidden %d, "
                       "mask_dim %d, %d levels) without an input projection",
                       c->pd.conv_dim, c->pd.mask_dim, c->pd.n_multiscale, c->dec.hidden, c->dec.mask_dim,
                       c->dec.levels);
    if (c->dec.classes > 256)
        return ug_errf(err, UG_ERR_UNSUPPORTED, "%d classes do not fit an 8-bit semantic map", c->dec.classes);
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

void rba_free(rba_model *m) {
    if (!m) return;
    m2f_free(&m->dec);
    pd_free(&m->pd);
    swin_free(&m->swin);
    ug_weights_release(&m->w);
    if (m->own_st) ug_st_close(m->st);
    free(m);
}

// ---- forward ----

// Forwards a block's trace under "<prefix><name>".
typedef struct trace_fwd {
    const rba_trace *tr;
    const char *prefix;
} trace_fwd;

static void trace_prefixed(void *user, const char *name, const ug_tensor *t) {
    const trace_fwd *f = user;
    char full[128];
    snprintf(full, sizeof full, "%s%s", f->prefix, name);
    f->tr->fn(f->tr->user, full, t);
}

static void emit(const rba_trace *tr, const char *name, const ug_tensor *t) {
    if (tr && tr->fn) tr->fn(tr->user, name, t);
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

void rba_output_free(rba_output *o) {
    if (!o) return;
    ug_tensor_free(&o->pred_logits);
    ug_tensor_free(&o->pred_masks);
    ug_tensor_free(&o->score);
    ug_tensor_free(&o->semantic);
    memset(o, 0, sizeof *o);
}

ug_status rba_forward(ug_ctx *ctx, const rba_model *m, const ug_tensor *input, bool pad32, rba_output *out,
                      const rba_trace *trace, ug_err *err) {
    memset(out, 0, sizeof *out);
    const ug_tensor *in = input;
    if (in->dtype != UG_F32 || in->ndim != 4 || in->shape[0] != 1 || in->shape[1] != 3 || in->shape[2] < 1 ||
        in->shape[3] < 1 || !ug_tensor_is_contiguous(in)) {
        char buf[96];
        return ug_errf(err, UG_ERR_ARG, "rba: input is %s %s, expected contiguous F32 [1,3,H,W]",
                       ug_dtype_name(in->dtype), ug_shape_str(in, buf, sizeof buf));
    }
    int64_t H = in->shape[2], W = in->shape[3];
    int64_t Ht = pad32 ? (H + 31) / 32 * 32 : H, Wt = pad32 ? (W + 31) / 32 * 32 : W;
    ug_tensor padded = {0}, res[SWIN_STAGES] = {{0}};
    pd_output pdo = {0};
    ug_status st = UG_OK;
    // detectron2's ImageList.from_tensors: zeros on the right and bottom (zero = the mean colour).
    if (Ht != H || Wt != W) {
        if ((st = ug_tensor_new(&padded, UG_F32, UG_DIMS(1, 3, Ht, Wt), err)) != UG_OK) goto fail;
        ug_pad(ctx, &padded, in, (const int64_t[]){0, 0, 0, 0}, 0.0f);
        in = &padded;
    }
    emit(trace, "input", in);
    bool tracing = trace && trace->fn;
    trace_fwd tb = {trace, "backbone_"}, tp = {trace, "pd_"}, td = {trace, ""};
    swin_trace swt = {trace_prefixed, &tb};
    pd_trace pdt = {trace_prefixed, &tp};
    m2f_trace dt = {trace_prefixed, &td};

    double t0 = ug_now_ms();
    if ((st = swin_forward(ctx, &m->swin, in, res, tracing ? &swt : NULL, err)) != UG_OK) goto fail;
    ug_tensor_free(&padded);
    for (int k = 0; k < SWIN_STAGES; k++) {
        char name[32];
        snprintf(name, sizeof name, "backbone_res%d", k + 2);
        emit(trace, name, &res[k]);
    }
    double t1 = ug_now_ms();
    if ((st = pd_forward(ctx, &m->pd, res, &pdo, tracing ? &pdt : NULL, err)) != UG_OK) goto fail;
    for (int k = 0; k < SWIN_STAGES; k++) ug_tensor_free(&res[k]);
    double t2 = ug_now_ms();
    if ((st = m2f_forward(ctx, &m->dec, pdo.multi_scale, pdo.n_multiscale, &pdo.mask_features, &out->pred_logits,
                          &out->pred_masks, tracing ? &dt : NULL, err)) != UG_OK)
        goto fail;
    pd_output_free(&pdo);
    emit(trace, "pred_logits", &out->pred_logits);
    emit(trace, "pred_masks", &out->pred_masks);
    double t3 = ug_now_ms();
    if ((st = ug_tensor_new(&out->score, UG_F32, UG_DIMS(H, W), err)) != UG_OK ||
        (st = ug_tensor_new(&out->semantic, UG_U8, UG_DIMS(H, W), err)) != UG_OK ||
        (st = ug_rba_score(ctx, &out->score, &out->semantic, &out->pred_logits, &out->pred_masks, Ht, Wt, err)) !=
            UG_OK)
        goto fail;
    double t4 = ug_now_ms();
    emit(trace, "rba_score", &out->score);
    emit(trace, "semantic_argmax", &out->semantic);
    out->ms[0] = t1 - t0;
    out->ms[1] = t2 - t1;
    out->ms[2] = t3 - t2;
    out->ms[3] = t4 - t3;
    return UG_OK;
fail:
    ug_tensor_free(&padded);
    for (int k = 0; k < SWIN_STAGES; k++) ug_tensor_free(&res[k]);
    pd_output_free(&pdo);
    rba_output_free(out);
    return st;
}

ug_status rba_forward_u8(ug_ctx *ctx, const rba_model *m, const ug_tensor *img, bool pad32, rba_output *out,
                         const rba_trace *trace, ug_err *err) {
    memset(out, 0, sizeof *out);
    if (img->dtype != UG_U8 || img->ndim != 3 || img->shape[2] != 3 || img->shape[0] < 1 || img->shape[1] < 1 ||
        img->stride[1] != 3 || img->stride[2] != 1) {
        char buf[96];
        return ug_errf(err, UG_ERR_ARG, "rba: image is %s %s, expected U8 [H,W,3] RGB", ug_dtype_name(img->dtype),
                       ug_shape_str(img, buf, sizeof buf));
    }
    ug_tensor x; // [1, 3, H, W]
    ug_status st = ug_tensor_new(&x, UG_F32, UG_DIMS(1, 3, img->shape[0], img->shape[1]), err);
    if (st != UG_OK) return st;
    ug_rba_normalize(ctx, &x, img);
    st = rba_forward(ctx, m, &x, pad32, out, trace, err);
    ug_tensor_free(&x);
    return st;
}
