// pipeline/ugains.c — the UGainS pipeline for one image, in the order of the forward pass
// (see ugains.h). Dimension letters: H/W image, K prompts, M masks per prompt, S SAM input,
// h/w SAM embedding grid (the low-res masks are 4h x 4w).
#include "pipeline/ugains.h"

#include <stdlib.h>
#include <string.h>

#include "engine/timer.h"
#include "ops/ops.h"

const char *const ugains_stage_names[UGAINS_NSTAGES] = {"rba", "proposals", "sam_encoder", "sam_decoder",
                                                         "masks", "instances"};

void ugains_opts_default(ugains_opts *o) {
    memset(o, 0, sizeof *o);
    o->prop.sampler = PROPOSALS_FPS;
    o->prop.points = 50;
    o->prop.threshold = -0.15f;
    o->prop.ties = PROPOSALS_TIES_OFFICIAL;
    o->prop.seed = 0;
    o->nms = 0.7f;
    o->ignore_overlap = 100;
    o->batch = 64;
}

void ugains_result_free(ugains_result *r) {
    ug_tensor_free(&r->score);
    ug_tensor_free(&r->semantic);
    ug_tensor_free(&r->refined);
    free(r->points);
    free(r->chosen);
    free(r->chosen_iou);
    free(r->scores);
    instances_masks_free(&r->masks);
    free(r->nms_keep);
    free(r->keep);
    memset(r, 0, sizeof *r);
}

static void emit(const ugains_trace *t, const char *name, const ug_tensor *x) {
    if (t && t->fn) t->fn(t->user, name, x);
}

// ---- SAM: prompts in batches, best of M kept at low resolution ----

// Runs prompts [b0, b1) through the prompt encoder and the mask decoder and copies the
// chosen low-res mask of each into sel [K, 1, 4h, 4w].
static ug_status decode_batch(ug_ctx *ctx, const sam_model *sam, const ug_tensor *emb, const float *coords,
                              int b0, int b1, ugains_result *r, ug_tensor *sel, const ugains_trace *trace,
                              ug_err *err) {
    int n = b1 - b0;
    int *labels = malloc((size_t)n * sizeof *labels); // [n, 1]: every point is foreground
    if (!labels) return ug_errf(err, UG_ERR_NOMEM, "ugains: %d prompt labels", n);
    for (int i = 0; i < n; i++) labels[i] = 1;
    sam_prompts p = {n, 1, coords + 2 * (int64_t)b0, labels, NULL, NULL};
    ug_tensor sparse = {0}, dense = {0}, low = {0}, iou = {0};
    ug_status st = sam_encode_prompts(ctx, sam, &p, &sparse, &dense, err); // [n, 2, C], [1, C, h, w]
    if (st == UG_OK) st = sam_decode_masks(ctx, sam, emb, &sparse, &dense, true, &low, &iou, NULL, err);
    if (st != UG_OK) goto done;
    emit(trace, "sparse_embeddings", &sparse);
    emit(trace, "dense_embeddings", &dense);
    emit(trace, "low_res_masks", &low); // [n, M, 4h, 4w]
    emit(trace, "iou_predictions", &iou); // [n, M]
    int M = (int)low.shape[1];
    int64_t plane = low.shape[2] * low.shape[3];
    instances_best_of(r->chosen + b0, iou.data, n, M);
    for (int i = 0; i < n; i++) {
        int c = r->chosen[b0 + i];
        r->chosen_iou[b0 + i] = ((float *)iou.data)[(int64_t)i * M + c];
        memcpy((float *)sel->data + (int64_t)(b0 + i) * plane, (float *)low.data + ((int64_t)i * M + c) * plane,
               (size_t)plane * sizeof(float));
    }
done:
    free(labels);
    ug_tensor_free(&sparse);
    ug_tensor_free(&dense);
    ug_tensor_free(&low);
    ug_tensor_free(&iou);
    return st;
}

// With a trace the official [K, M, H, W] logits are dumped: postprocess every mask once more.
static ug_status dump_full_masks(ug_ctx *ctx, const sam_model *sam, const ug_tensor *emb, const float *coords,
                                 int K, const int input_hw[2], const int orig_hw[2], const ugains_trace *trace,
                                 ug_err *err) {
    int *labels = malloc((size_t)K * sizeof *labels);
    if (!labels) return ug_errf(err, UG_ERR_NOMEM, "ugains: %d prompt labels", K);
    for (int i = 0; i < K; i++) labels[i] = 1;
    sam_prompts p = {K, 1, coords, labels, NULL, NULL};
    ug_tensor sparse = {0}, dense = {0}, low = {0}, iou = {0}, full = {0};
    ug_status st = sam_encode_prompts(ctx, sam, &p, &sparse, &dense, err);
    if (st == UG_OK) st = sam_decode_masks(ctx, sam, emb, &sparse, &dense, true, &low, &iou, NULL, err);
    if (st == UG_OK) st = sam_postprocess_masks(ctx, sam, &low, input_hw, orig_hw, &full, err); // [K, M, H, W]
    if (st == UG_OK) emit(trace, "masks", &full);
    free(labels);
    ug_tensor_free(&sparse);
    ug_tensor_free(&dense);
    ug_tensor_free(&low);
    ug_tensor_free(&iou);
    ug_tensor_free(&full);
    return st;
}

// Chosen low-res masks -> S x S -> crop -> H x W logits, a few prompts at a time so that
// only [chunk, 1, H, W] floats exist at once, then binarised into the packed masks.
static ug_status masks_at_full_size(ug_ctx *ctx, const sam_model *sam, const ug_tensor *sel, const int input_hw[2],
                                    const int orig_hw[2], ugains_result *r, ug_err *err) {
    enum { CHUNK = 4 };
    int K = (int)sel->shape[0];
    for (int b = 0; b < K; b += CHUNK) {
        int n = K - b < CHUNK ? K - b : CHUNK;
        ug_tensor part = ug_view_slice(sel, 0, b, n), logits = {0}; // [n, 1, 4h, 4w]
        ug_status st = sam_postprocess_masks(ctx, sam, &part, input_hw, orig_hw, &logits, err); // [n, 1, H, W]
        if (st != UG_OK) return st;
        int64_t HW = (int64_t)orig_hw[0] * orig_hw[1];
        for (int i = 0; i < n; i++)
            instances_binarize_cpu(ctx, &r->masks, b + i, (float *)logits.data + i * HW, sam->cfg.mask_threshold);
        ug_tensor_free(&logits);
    }
    return UG_OK;
}

ug_status ugains_instances(ug_ctx *ctx, const sam_model *sam, const ug_tensor *sam_input, const float *u,
                           const uint8_t *ignore, const ugains_opts *o, ugains_result *r,
                           const ugains_trace *trace, ug_err *err) {
    if (sam_input->dtype != UG_F32 || sam_input->ndim != 4 || sam_input->shape[0] != 1 || sam_input->shape[1] != 3)
        return ug_errf(err, UG_ERR_ARG, "ugains: SAM input must be F32 [1, 3, H, W]");
    int H = (int)sam_input->shape[2], W = (int)sam_input->shape[3], orig_hw[2] = {H, W}, input_hw[2];
    int64_t HW = (int64_t)H * W;
    double ms_rba = r->ms[UGAINS_STAGE_RBA];
    memset(r, 0, sizeof *r);
    r->ms[UGAINS_STAGE_RBA] = ms_rba;
    r->H = H;
    r->W = W;
    ug_tensor sam_in = {0}, emb = {0}, sel = {0};
    float *coords = NULL;
    inst_masks ig = {0};
    ug_status st = UG_OK;
    double t0 = ug_now_ms();

    // Proposals.
    st = proposals_sample(ctx, u, ignore, H, W, &o->prop, &r->points, &r->npoints, &r->ncandidates, err);
    if (st != UG_OK) goto fail;
    int K = r->npoints;
    r->chosen = calloc((size_t)(K > 0 ? K : 1), sizeof *r->chosen);
    r->chosen_iou = calloc((size_t)(K > 0 ? K : 1), sizeof *r->chosen_iou);
    r->scores = calloc((size_t)(K > 0 ? K : 1), sizeof *r->scores);
    r->nms_keep = calloc((size_t)(K > 0 ? K : 1), sizeof *r->nms_keep);
    r->keep = calloc((size_t)(K > 0 ? K : 1), sizeof *r->keep);
    if (!r->chosen || !r->chosen_iou || !r->scores || !r->nms_keep || !r->keep) {
        st = ug_errf(err, UG_ERR_NOMEM, "ugains: %d points", K);
        goto fail;
    }
    if ((st = instances_masks_alloc(&r->masks, K, H, W, err)) != UG_OK) goto fail;
    if ((st = ug_tensor_new(&r->refined, UG_F32, UG_DIMS(H, W), err)) != UG_OK) goto fail; // [H, W]
    ug_tensor pts_t = ug_tensor_wrap(r->points, UG_F32, UG_DIMS(K, 2));
    if (K > 0) emit(trace, "points", &pts_t);
    double t1 = ug_now_ms();
    r->ms[UGAINS_STAGE_PROPOSALS] = t1 - t0;

    if (K > 0) { // no candidate at all: no SAM work, every pixel ends at U - 1
        // SAM image embedding of the float path input.
        if ((st = sam_preprocess_f32(ctx, sam, sam_input, &sam_in, input_hw, err)) != UG_OK) goto fail; // [1,3,S,S]
        if ((st = sam_encode_image(ctx, sam, &sam_in, &emb, NULL, err)) != UG_OK) goto fail;           // [1,C,h,w]
        ug_tensor_free(&sam_in);
        emit(trace, "image_embeddings", &emb);
        double t2 = ug_now_ms();
        r->ms[UGAINS_STAGE_SAM_ENCODER] = t2 - t1;

        // Prompts: every point its own prompt, coordinates into the resized frame.
        coords = malloc((size_t)K * 2 * sizeof *coords); // [K, 1, 2]
        if (!coords) {
            st = ug_errf(err, UG_ERR_NOMEM, "ugains: %d prompts", K);
            goto fail;
        }
        memcpy(coords, r->points, (size_t)K * 2 * sizeof *coords);
        sam_apply_coords(orig_hw, input_hw, coords, K);
        int64_t lh = 4 * (int64_t)sam->cfg.embed_h, lw = 4 * (int64_t)sam->cfg.embed_w;
        if ((st = ug_tensor_new(&sel, UG_F32, UG_DIMS(K, 1, lh, lw), err)) != UG_OK) goto fail; // [K,1,4h,4w]
        int batch = trace && trace->fn ? K : (o->batch > 0 ? o->batch : K);
        for (int b = 0; b < K; b += batch) {
            int e = b + batch < K ? b + batch : K;
            if ((st = decode_batch(ctx, sam, &emb, coords, b, e, r, &sel, trace, err)) != UG_OK) goto fail;
        }
        if (trace && trace->fn &&
            (st = dump_full_masks(ctx, sam, &emb, coords, K, input_hw, orig_hw, trace, err)) != UG_OK)
            goto fail;
        ug_tensor_free(&emb);
        double t3 = ug_now_ms();
        r->ms[UGAINS_STAGE_SAM_DECODER] = t3 - t2;

        if ((st = masks_at_full_size(ctx, sam, &sel, input_hw, orig_hw, r, err)) != UG_OK) goto fail;
        ug_tensor_free(&sel);
        r->ms[UGAINS_STAGE_MASKS] = ug_now_ms() - t3;
    }

    // Instances: scores, NMS, ignore filter, refined map.
    double t4 = ug_now_ms();
    instances_scores_cpu(ctx, r->scores, &r->masks, u);
    r->nnms = instances_nms_cpu(ctx, r->nms_keep, &r->masks, r->scores, o->nms);
    if (ignore) {
        if ((st = instances_masks_alloc(&ig, 1, H, W, err)) != UG_OK) goto fail;
        instances_pack_u8(&ig, 0, ignore);
    }
    r->nkeep = instances_ignore_filter(r->keep, r->nms_keep, r->nnms, &r->masks, ignore ? &ig : NULL,
                                       o->ignore_overlap, NULL);
    instances_refined_cpu(ctx, r->refined.data, &r->masks, r->scores, r->keep, r->nkeep, u);
    if (K == 0)
        for (int64_t p = 0; p < HW; p++) ((float *)r->refined.data)[p] = u[p] - 1.0f;
    r->ms[UGAINS_STAGE_INSTANCES] = ug_now_ms() - t4;
    if (K > 0) {
        ug_tensor sc = ug_tensor_wrap(r->scores, UG_F32, UG_DIMS(K));
        emit(trace, "point_scores", &sc);
    }
    ug_tensor kp = ug_tensor_wrap(r->keep, UG_I32, UG_DIMS(r->nkeep));
    emit(trace, "keep", &kp);
    emit(trace, "anomaly", &r->refined);
    instances_masks_free(&ig);
    free(coords);
    return UG_OK;
fail:
    ug_tensor_free(&sam_in);
    ug_tensor_free(&emb);
    ug_tensor_free(&sel);
    instances_masks_free(&ig);
    free(coords);
    ugains_result_free(r);
    return st;
}

// ---- the whole image ----

// RbA trace names -> the dump names of DESIGN §6 (others are not dumped).
typedef struct rba_dump {
    const ugains_trace *trace;
} rba_dump;

static void on_rba(void *user, const char *name, const ug_tensor *t) {
    const rba_dump *d = user;
    const char *dumped = rba_dump_name(name);
    if (dumped) emit(d->trace, dumped, t);
}

ug_status ugains_run_image(ug_ctx *ctx, const rba_model *rba, const sam_model *sam, const ug_tensor *img,
                           const uint8_t *ignore, const ugains_opts *o, ugains_result *r,
                           const ugains_trace *trace, ug_err *err) {
    memset(r, 0, sizeof *r);
    if (img->dtype != UG_U8 || img->ndim != 3 || img->shape[2] != 3)
        return ug_errf(err, UG_ERR_ARG, "ugains: image must be U8 [H, W, 3]");
    int64_t H = img->shape[0], W = img->shape[1];
    ug_tensor x = {0}, sem = {0};
    rba_output ro = {0};
    double t0 = ug_now_ms();
    ug_status st = ug_tensor_new(&x, UG_F32, UG_DIMS(1, 3, H, W), err); // [1, 3, H, W]
    if (st != UG_OK) return st;
    ug_rba_normalize(ctx, &x, img);
    rba_dump d = {trace};
    rba_trace rt = {on_rba, &d};
    st = rba_forward(ctx, rba, &x, o->pad32, &ro, trace && trace->fn ? &rt : NULL, err);
    if (st != UG_OK) goto done;
    r->ms[UGAINS_STAGE_RBA] = ug_now_ms() - t0;
    if (trace && trace->fn) {
        emit(trace, "pred_logits", &ro.pred_logits);
        emit(trace, "pred_masks", &ro.pred_masks);
        emit(trace, "rba_score", &ro.score);
        if ((st = ug_tensor_new(&sem, UG_I32, UG_DIMS(H, W), err)) != UG_OK) goto done; // [H, W]
        for (int64_t p = 0; p < H * W; p++) ((int32_t *)sem.data)[p] = ((uint8_t *)ro.semantic.data)[p];
        emit(trace, "semantic", &sem);
        ug_tensor_free(&sem);
    }
    st = ugains_instances(ctx, sam, &x, ro.score.data, ignore, o, r, trace, err);
    if (st != UG_OK) goto done;
    r->score = ro.score; // hand the maps over
    r->semantic = ro.semantic;
    memset(&ro.score, 0, sizeof ro.score);
    memset(&ro.semantic, 0, sizeof ro.semantic);
done:
    rba_output_free(&ro);
    ug_tensor_free(&x);
    return st;
}
