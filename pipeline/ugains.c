// pipeline/ugains.c — the UGainS pipeline for one image, in the order of the forward pass
// (see ugains.h). Dimension letters: H/W image, K prompts, M masks per prompt, S SAM input,
// h/w SAM embedding grid (the low-res masks are 4h x 4w).
//
// Activations live on ctx->device and are touched only by ops; what crosses to the host goes
// through ug_to_device / ug_to_host: the image and ignore mask in, the candidate and NMS
// counts, the K points, the [K, M] IoU predictions, the keep lists and the results out.
#include "pipeline/ugains.h"

#include <stdlib.h>
#include <string.h>

#include "engine/timer.h"
#include "ops/masks.h"
#include "ops/ops.h"
#include "pipeline/refined.h"

const char *const ugains_stage_names[UGAINS_NSTAGES] = {"rba",         "proposals", "sam_encoder",
                                                        "sam_decoder", "masks",     "instances"};

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

// ---- crossing to the host ----

// *out = the owned tensor x as a host tensor; x is consumed. On the CPU context x already is
// host memory and moves (image-sized results are not copied on the host path).

// Stage clocks: wall and CPU time at a stage's start; stage_end books the stage into r. The
// device's queued work is waited for at both ends, so that on a device each stage's time is its
// own and not the next one's.
typedef struct stage_clock {
    double wall, cpu;
} stage_clock;

static stage_clock stage_start(ug_ctx *ctx) {
    ug_ctx_device_status(ctx, NULL);
    return (stage_clock){ug_now_ms(), ug_cpu_ms()};
}

static stage_clock stage_end(ug_ctx *ctx, ugains_result *r, int stage, stage_clock start) {
    stage_clock now = stage_start(ctx);
    r->ms[stage] = now.wall - start.wall;
    r->cpu_ms[stage] = now.cpu - start.cpu;
    return now;
}

static ug_status result_to_host(ug_ctx *ctx, ug_tensor *out, ug_tensor *x, ug_err *err) {
    if (x->device == UG_CPU && x->alloc) {
        *out = *x;
        memset(x, 0, sizeof *x);
        return UG_OK;
    }
    ug_status st = ug_to_host(ctx, out, x, err);
    ug_tensor_free(x);
    return st;
}

// A small result (counts, lists) downloaded into the host array dst of x's numel elements.
static ug_status download_into(ug_ctx *ctx, void *dst, const ug_tensor *x, ug_err *err) {
    ug_tensor h;
    ug_status st = ug_to_host(ctx, &h, x, err);
    if (st != UG_OK) return st;
    memcpy(dst, h.data, ug_tensor_nbytes(&h));
    ug_tensor_free(&h);
    return UG_OK;
}

// ---- SAM: prompts in batches, best of M kept at low resolution ----

// sel[k] = low[i, c] ([1, 4h, 4w] planes): a device copy of the chosen mask.
static void keep_chosen_mask(ug_ctx *ctx, ug_tensor *sel, int64_t k, const ug_tensor *low, int64_t i,
                             int64_t c) {
    ug_tensor src = ug_view_slice(low, 0, i, 1); // [1, M, 4h, 4w]
    src = ug_view_slice(&src, 1, c, 1);          // [1, 1, 4h, 4w]
    ug_tensor dst = ug_view_slice(sel, 0, k, 1);
    ug_copy(ctx, &dst, &src);
}

// Runs prompts [b0, b1) through the prompt encoder and the mask decoder and copies the
// chosen low-res mask of each into sel [K, 1, 4h, 4w]; the choice is made on the host from
// the downloaded IoU predictions [n, M].
static ug_status decode_batch(ug_ctx *ctx, const sam_model *sam, const ug_tensor *emb, const float *coords,
                              int b0, int b1, ugains_result *r, ug_tensor *sel, const nn_trace *trace,
                              ug_err *err) {
    int n = b1 - b0;
    int *labels = malloc((size_t)n * sizeof *labels); // [n, 1]: every point is foreground
    if (!labels) return ug_errf(err, UG_ERR_NOMEM, "ugains: %d prompt labels", n);
    for (int i = 0; i < n; i++)
        labels[i] = 1;
    sam_prompts p = {n, 1, coords + 2 * (int64_t)b0, labels, NULL, NULL};
    ug_tensor sparse = {0}, dense = {0}, low = {0}, iou = {0}, iou_h = {0};
    ug_status st = sam_encode_prompts(ctx, sam, &p, &sparse, &dense, err); // [n, 2, C], [1, C, h, w]
    if (st == UG_OK) st = sam_decode_masks(ctx, sam, emb, &sparse, &dense, true, &low, &iou, NULL, err);
    if (st != UG_OK) goto done;
    nn_emit(trace, "sparse_embeddings", &sparse);
    nn_emit(trace, "dense_embeddings", &dense);
    nn_emit(trace, "low_res_masks", &low);   // [n, M, 4h, 4w]
    nn_emit(trace, "iou_predictions", &iou); // [n, M]
    if ((st = ug_to_host(ctx, &iou_h, &iou, err)) != UG_OK) goto done;
    int M = (int)low.shape[1];
    const float *pred = iou_h.data;
    instances_best_of(r->chosen + b0, pred, n, M);
    for (int i = 0; i < n; i++) {
        int c = r->chosen[b0 + i];
        r->chosen_iou[b0 + i] = pred[(int64_t)i * M + c];
        keep_chosen_mask(ctx, sel, b0 + i, &low, i, c);
    }
done:
    free(labels);
    ug_tensor_free(&sparse);
    ug_tensor_free(&dense);
    ug_tensor_free(&low);
    ug_tensor_free(&iou);
    ug_tensor_free(&iou_h);
    return st;
}

// With a trace the official [K, M, H, W] logits are dumped: postprocess every mask once more.
static ug_status dump_full_masks(ug_ctx *ctx, const sam_model *sam, const ug_tensor *emb, const float *coords,
                                 int K, const int input_hw[2], const int orig_hw[2], const nn_trace *trace,
                                 ug_err *err) {
    int *labels = malloc((size_t)K * sizeof *labels);
    if (!labels) return ug_errf(err, UG_ERR_NOMEM, "ugains: %d prompt labels", K);
    for (int i = 0; i < K; i++)
        labels[i] = 1;
    sam_prompts p = {K, 1, coords, labels, NULL, NULL};
    ug_tensor sparse = {0}, dense = {0}, low = {0}, iou = {0}, full = {0};
    ug_status st = sam_encode_prompts(ctx, sam, &p, &sparse, &dense, err);
    if (st == UG_OK) st = sam_decode_masks(ctx, sam, emb, &sparse, &dense, true, &low, &iou, NULL, err);
    if (st == UG_OK)
        st = sam_postprocess_masks(ctx, sam, &low, input_hw, orig_hw, &full, err); // [K, M, H, W]
    if (st == UG_OK) nn_emit(trace, "masks", &full);
    free(labels);
    ug_tensor_free(&sparse);
    ug_tensor_free(&dense);
    ug_tensor_free(&low);
    ug_tensor_free(&iou);
    ug_tensor_free(&full);
    return st;
}

// K packed masks of HW pixels on ctx->device: bits I64 [K, words], area I64 [K].
static ug_status new_masks(ug_ctx *ctx, ug_tensor *bits, ug_tensor *area, int K, int64_t HW, ug_err *err) {
    ug_status st = ug_tensor_new_dev(ctx, bits, UG_I64, UG_DIMS(K, masks_words(HW)), err);
    return st == UG_OK ? ug_tensor_new_dev(ctx, area, UG_I64, UG_DIMS(K), err) : st;
}

// Chosen low-res masks -> S x S -> crop -> H x W logits, a few prompts at a time so that
// only [chunk, 1, H, W] floats exist at once, then binarised into the packed masks
// bits [K, words] and their areas [K]. The chunk buffer comes from the activation arena, which
// keeps its memory from image to image: 32 MB a chunk at 1024 x 2048 would otherwise be fresh
// pages (page faults) for every chunk of every image.
static ug_status masks_at_full_size(ug_ctx *ctx, const sam_model *sam, const ug_tensor *sel,
                                    const int input_hw[2], const int orig_hw[2], ug_tensor *bits,
                                    ug_tensor *area, ug_err *err) {
    enum { CHUNK = 4 };
    int K = (int)sel->shape[0];
    nn_mark mark = nn_get_mark(ctx);
    ug_tensor buf; // [CHUNK, 1, H, W]
    ug_status st = nn_f32(ctx, &buf, UG_DIMS(K < CHUNK ? K : CHUNK, 1, orig_hw[0], orig_hw[1]), err);
    for (int b = 0; b < K && st == UG_OK; b += CHUNK) {
        int n = K - b < CHUNK ? K - b : CHUNK;
        // [n, 1, 4h, 4w] -> logits [n, 1, H, W]
        ug_tensor part = ug_view_slice(sel, 0, b, n), logits = ug_view_slice(&buf, 0, 0, n);
        if ((st = sam_postprocess_masks_into(ctx, sam, &part, input_hw, orig_hw, &logits, err)) != UG_OK)
            break;
        ug_tensor bv = ug_view_slice(bits, 0, b, n), av = ug_view_slice(area, 0, b, n);
        ug_masks_binarize(ctx, &bv, &av, &logits, sam->cfg.mask_threshold);
    }
    nn_release(ctx, mark);
    return st;
}

// The SAM part for K > 0 points: image embedding, prompts in batches, chosen masks at full
// size into bits / area.
static ug_status sam_masks(ug_ctx *ctx, const sam_model *sam, const ug_tensor *sam_input,
                           const ugains_opts *o, ugains_result *r, ug_tensor *bits, ug_tensor *area,
                           const nn_trace *trace, ug_err *err) {
    int K = r->npoints, orig_hw[2] = {r->H, r->W}, input_hw[2];
    ug_tensor sam_in = {0}, emb = {0}, sel = {0};
    float *coords = NULL;
    stage_clock t1 = stage_start(ctx);
    ug_status st = sam_preprocess_f32(ctx, sam, sam_input, &sam_in, input_hw, err); // [1, 3, S, S]
    if (st == UG_OK) st = sam_encode_image(ctx, sam, &sam_in, &emb, NULL, err);     // [1, C, h, w]
    ug_tensor_free(&sam_in);
    if (st != UG_OK) goto done;
    nn_emit(trace, "image_embeddings", &emb);
    stage_clock t2 = stage_end(ctx, r, UGAINS_STAGE_SAM_ENCODER, t1);

    // Prompts: every point its own prompt, coordinates into the resized frame.
    coords = malloc((size_t)K * 2 * sizeof *coords); // [K, 1, 2]
    if (!coords) {
        st = ug_errf(err, UG_ERR_NOMEM, "ugains: %d prompts", K);
        goto done;
    }
    memcpy(coords, r->points, (size_t)K * 2 * sizeof *coords);
    sam_apply_coords(orig_hw, input_hw, coords, K);
    int64_t lh = 4 * (int64_t)sam->cfg.embed_h, lw = 4 * (int64_t)sam->cfg.embed_w;
    if ((st = ug_tensor_new_dev(ctx, &sel, UG_F32, UG_DIMS(K, 1, lh, lw), err)) != UG_OK)
        goto done; // [K,1,4h,4w]
    int batch = nn_tracing(trace) ? K : (o->batch > 0 ? o->batch : K);
    for (int b = 0; b < K && st == UG_OK; b += batch)
        st = decode_batch(ctx, sam, &emb, coords, b, b + batch < K ? b + batch : K, r, &sel, trace, err);
    if (st == UG_OK && nn_tracing(trace))
        st = dump_full_masks(ctx, sam, &emb, coords, K, input_hw, orig_hw, trace, err);
    ug_tensor_free(&emb);
    if (st != UG_OK) goto done;
    stage_clock t3 = stage_end(ctx, r, UGAINS_STAGE_SAM_DECODER, t2);

    if ((st = new_masks(ctx, bits, area, K, (int64_t)r->H * r->W, err)) == UG_OK)
        st = masks_at_full_size(ctx, sam, &sel, input_hw, orig_hw, bits, area, err);
    stage_end(ctx, r, UGAINS_STAGE_MASKS, t3);
done:
    ug_tensor_free(&sam_in);
    ug_tensor_free(&emb);
    ug_tensor_free(&sel);
    free(coords);
    return st;
}

// ---- instances: scores, NMS, ignore filter, refined map ----

// The device tensors of the instance stage.
typedef struct inst_state {
    ug_tensor bits, area;  // I64 [K, words], I64 [K]: the packed masks
    ug_tensor scores;      // F32 [K]
    ug_tensor keep, count; // I32 [K], I64 [1]: NMS
    ug_tensor ig_bits;     // I64 [1, words]: the packed ignore mask
    ug_tensor inter;       // I64 [nnms]
    ug_tensor refined;     // F32 [H, W]
} inst_state;

static void inst_state_free(inst_state *s) {
    ug_tensor *all[] = {&s->bits,  &s->area,    &s->scores, &s->keep,
                        &s->count, &s->ig_bits, &s->inter,  &s->refined};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ug_tensor_free(all[i]);
}

// Intersections of the NMS survivors with the ignore mask: *inter [nnms] on the host.
static ug_status ignore_overlaps(ug_ctx *ctx, inst_state *s, const ug_tensor *ignore, int nnms,
                                 int64_t *inter, ug_err *err) {
    int64_t H = ignore->shape[0], W = ignore->shape[1];
    ug_tensor ig = ug_view_reshape(ignore, UG_DIMS(1, H, W));
    // [1, words], [nnms]
    ug_status st = ug_tensor_new_dev(ctx, &s->ig_bits, UG_I64, UG_DIMS(1, masks_words(H * W)), err);
    if (st == UG_OK) st = ug_tensor_new_dev(ctx, &s->inter, UG_I64, UG_DIMS(nnms), err);
    if (st != UG_OK) return st;
    ug_masks_binarize(ctx, &s->ig_bits, NULL, &ig, 0.0f);
    ug_tensor kept = ug_view_slice(&s->keep, 0, 0, nnms);
    ug_masks_overlap(ctx, &s->inter, &s->bits, &kept, &s->ig_bits);
    return download_into(ctx, inter, &s->inter, err);
}

static ug_status instances_stage(ug_ctx *ctx, inst_state *s, const ug_tensor *u, const ug_tensor *ignore,
                                 const ugains_opts *o, ugains_result *r, ug_err *err) {
    int K = r->npoints;
    int64_t nnms = 0, *inter = NULL;
    ug_status st = ug_tensor_new_dev(ctx, &s->scores, UG_F32, UG_DIMS(K), err);      // [K]
    if (st == UG_OK) st = ug_tensor_new_dev(ctx, &s->keep, UG_I32, UG_DIMS(K), err); // [K]
    if (st == UG_OK) st = ug_tensor_new_dev(ctx, &s->count, UG_I64, UG_DIMS(1), err);
    if (st != UG_OK) return st;
    ug_masks_scores(ctx, &s->scores, &s->bits, &s->area, u);
    ug_masks_nms(ctx, &s->keep, &s->count, &s->bits, &s->area, &s->scores, o->nms);
    if ((st = download_into(ctx, &nnms, &s->count, err)) != UG_OK) return st;
    r->nnms = (int)nnms;
    ug_tensor kept = ug_view_slice(&s->keep, 0, 0, nnms);
    if ((st = download_into(ctx, r->nms_keep, &kept, err)) != UG_OK) return st;
    if (ignore) {
        if (!(inter = malloc((size_t)(nnms > 0 ? nnms : 1) * sizeof *inter)))
            return ug_errf(err, UG_ERR_NOMEM, "ugains: %d masks", K);
        st = ignore_overlaps(ctx, s, ignore, r->nnms, inter, err);
    }
    if (st == UG_OK) {
        r->nkeep = instances_ignore_filter(r->keep, r->nms_keep, r->nnms, inter, o->ignore_overlap);
        st = refined_score(ctx, &s->refined, &s->bits, &s->scores, r->keep, r->nkeep, u, err);
    }
    if (st == UG_OK) st = download_into(ctx, r->scores, &s->scores, err);
    free(inter);
    return st;
}

// ---- everything after RbA ----

static ug_status check_instance_inputs(const ug_ctx *ctx, const ug_tensor *sam_input, const ug_tensor *u,
                                       ug_err *err) {
    if (sam_input->dtype != UG_F32 || sam_input->ndim != 4 || sam_input->shape[0] != 1 ||
        sam_input->shape[1] != 3)
        return ug_errf(err, UG_ERR_ARG, "ugains: SAM input must be F32 [1, 3, H, W]");
    ug_status st = nn_check_device(ctx, sam_input, "ugains: SAM input", err);
    if (st == UG_OK)
        st = nn_check_input(u, UG_F32, 2, sam_input->shape + 2, true, "ugains: RbA score",
                            "[H, W] (the image)", err);
    return st;
}

// Host arrays of the K prompts.
static ug_status alloc_prompt_results(ugains_result *r, ug_err *err) {
    size_t K = (size_t)(r->npoints > 0 ? r->npoints : 1);
    r->chosen = calloc(K, sizeof *r->chosen);
    r->chosen_iou = calloc(K, sizeof *r->chosen_iou);
    r->scores = calloc(K, sizeof *r->scores);
    r->nms_keep = calloc(K, sizeof *r->nms_keep);
    r->keep = calloc(K, sizeof *r->keep);
    if (!r->chosen || !r->chosen_iou || !r->scores || !r->nms_keep || !r->keep)
        return ug_errf(err, UG_ERR_NOMEM, "ugains: %d points", r->npoints);
    return UG_OK;
}

ug_status ugains_instances(ug_ctx *ctx, const sam_model *sam, const ug_tensor *sam_input, const ug_tensor *u,
                           const ug_tensor *ignore, const ugains_opts *o, ugains_result *r,
                           const nn_trace *trace, ug_err *err) {
    double ms_rba = r->ms[UGAINS_STAGE_RBA], cpu_rba = r->cpu_ms[UGAINS_STAGE_RBA];
    memset(r, 0, sizeof *r);
    r->ms[UGAINS_STAGE_RBA] = ms_rba;
    r->cpu_ms[UGAINS_STAGE_RBA] = cpu_rba;
    ug_status st = check_instance_inputs(ctx, sam_input, u, err);
    if (st != UG_OK) return st;
    int H = (int)sam_input->shape[2], W = (int)sam_input->shape[3];
    int64_t HW = (int64_t)H * W;
    r->H = H;
    r->W = W;
    inst_state s = {0};
    ug_tensor bits_h = {0}, area_h = {0};
    stage_clock t0 = stage_start(ctx);

    // Proposals.
    st = proposals_sample(ctx, u, ignore, &o->prop, &r->points, &r->npoints, &r->ncandidates, err);
    if (st != UG_OK) goto fail;
    int K = r->npoints;
    if ((st = alloc_prompt_results(r, err)) != UG_OK) goto fail;
    if ((st = ug_tensor_new_dev(ctx, &s.refined, UG_F32, UG_DIMS(H, W), err)) != UG_OK) goto fail; // [H, W]
    ug_tensor pts_t = ug_tensor_wrap(r->points, UG_F32, UG_DIMS(K, 2));
    if (K > 0) nn_emit(trace, "points", &pts_t);
    stage_end(ctx, r, UGAINS_STAGE_PROPOSALS, t0);

    // No candidate at all: no SAM work (the masks stay empty), every pixel ends at U - 1.
    if (K > 0 && (st = sam_masks(ctx, sam, sam_input, o, r, &s.bits, &s.area, trace, err)) != UG_OK)
        goto fail;
    if (K == 0 && (st = new_masks(ctx, &s.bits, &s.area, 0, HW, err)) != UG_OK) goto fail;

    stage_clock t4 = stage_start(ctx);
    if ((st = instances_stage(ctx, &s, u, ignore, o, r, err)) != UG_OK) goto fail;
    if ((st = result_to_host(ctx, &r->refined, &s.refined, err)) != UG_OK) goto fail;
    if ((st = result_to_host(ctx, &bits_h, &s.bits, err)) != UG_OK) goto fail;
    if ((st = result_to_host(ctx, &area_h, &s.area, err)) != UG_OK) goto fail;
    if ((st = instances_masks_adopt(&r->masks, H, W, &bits_h, &area_h, err)) != UG_OK) goto fail;
    stage_end(ctx, r, UGAINS_STAGE_INSTANCES, t4);
    if (K > 0) {
        ug_tensor sc = ug_tensor_wrap(r->scores, UG_F32, UG_DIMS(K));
        nn_emit(trace, "point_scores", &sc);
    }
    ug_tensor kp = ug_tensor_wrap(r->keep, UG_I32, UG_DIMS(r->nkeep));
    nn_emit(trace, "keep", &kp);
    nn_emit(trace, "anomaly", &r->refined);
    inst_state_free(&s);
    return UG_OK;
fail:
    inst_state_free(&s);
    ug_tensor_free(&bits_h);
    ug_tensor_free(&area_h);
    ugains_result_free(r);
    return st;
}

// ---- the whole image ----

// RbA trace names -> the dump names of DESIGN §6 (others are not dumped).
static void on_rba(void *user, const char *name, const ug_tensor *t) {
    const char *dumped = rba_dump_name(name);
    if (dumped) nn_emit(user, dumped, t);
}

// The RbA outputs of DESIGN §6; "semantic" is dumped as I32 (widened on the device).
static ug_status dump_rba_outputs(ug_ctx *ctx, const rba_output *ro, const nn_trace *trace, ug_err *err) {
    nn_emit(trace, "pred_logits", &ro->pred_logits);
    nn_emit(trace, "pred_masks", &ro->pred_masks);
    nn_emit(trace, "rba_score", &ro->score);
    ug_tensor sem;
    ug_status st = ug_tensor_new_dev(ctx, &sem, UG_I32, ro->semantic.ndim, ro->semantic.shape, err); // [H, W]
    if (st != UG_OK) return st;
    ug_copy(ctx, &sem, &ro->semantic);
    nn_emit(trace, "semantic", &sem);
    ug_tensor_free(&sem);
    return UG_OK;
}

// The image and the ignore mask on ctx->device: x F32 [1, 3, H, W] normalised (from the
// activation arena, whose pages stay between images: 24 MB at 1024 x 2048), *ig U8 [H, W]
// (left zeroed without an ignore mask).
static ug_status upload_inputs(ug_ctx *ctx, const ug_tensor *img, const uint8_t *ignore, ug_tensor *x,
                               ug_tensor *ig, ug_err *err) {
    int64_t H = img->shape[0], W = img->shape[1];
    ug_tensor img_d = {0};
    ug_status st = ug_to_device(ctx, &img_d, img, err);
    if (st == UG_OK) st = nn_f32(ctx, x, UG_DIMS(1, 3, H, W), err); // [1, 3, H, W]
    if (st == UG_OK) ug_rba_normalize(ctx, x, &img_d);
    ug_tensor_free(&img_d);
    if (st == UG_OK && ignore) {
        ug_tensor ig_h = ug_tensor_wrap((void *)ignore, UG_U8, UG_DIMS(H, W));
        st = ug_to_device(ctx, ig, &ig_h, err);
    }
    return st;
}

ug_status ugains_run_image(ug_ctx *ctx, const rba_model *rba, const sam_model *sam, const ug_tensor *img,
                           const uint8_t *ignore, const ugains_opts *o, ugains_result *r,
                           const nn_trace *trace, ug_err *err) {
    memset(r, 0, sizeof *r);
    if (img->dtype != UG_U8 || img->ndim != 3 || img->shape[2] != 3)
        return ug_errf(err, UG_ERR_ARG, "ugains: image must be U8 [H, W, 3]");
    ug_tensor x = {0}, ig = {0};
    rba_output ro = {0};
    stage_clock t0 = stage_start(ctx);
    nn_mark mark = nn_get_mark(ctx); // x
    ug_status st = upload_inputs(ctx, img, ignore, &x, &ig, err);
    if (st != UG_OK) goto done;
    nn_trace rt = {on_rba, (void *)trace};
    st = rba_forward(ctx, rba, &x, o->pad32, &ro, nn_tracing(trace) ? &rt : NULL, err);
    if (st != UG_OK) goto done;
    stage_end(ctx, r, UGAINS_STAGE_RBA, t0);
    if (nn_tracing(trace) && (st = dump_rba_outputs(ctx, &ro, trace, err)) != UG_OK) goto done;
    st = ugains_instances(ctx, sam, &x, &ro.score, ignore ? &ig : NULL, o, r, trace, err);
    if (st != UG_OK) goto done;
    if ((st = result_to_host(ctx, &r->score, &ro.score, err)) == UG_OK)
        st = result_to_host(ctx, &r->semantic, &ro.semantic, err);
    if (st != UG_OK) ugains_result_free(r);
done:
    rba_output_free(&ro);
    nn_release(ctx, mark);
    ug_tensor_free(&ig);
    return st;
}
