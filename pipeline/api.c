// pipeline/api.c — the public API of include/ugains.h over the pipeline (pipeline/ugains.h):
// opaque handles, status codes + one-line messages, log messages dropped unless the caller
// installs a callback. Only the functions marked UGAINS_API are exported from libugains.so.
#include "include/ugains.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/image.h"
#include "engine/log.h"
#include "pipeline/ugains.h"

// The public codes are the engine's, value for value.
_Static_assert(UGAINS_OK == (int)UG_OK && UGAINS_ERR_IO == (int)UG_ERR_IO &&
                   UGAINS_ERR_FORMAT == (int)UG_ERR_FORMAT &&
                   UGAINS_ERR_UNSUPPORTED == (int)UG_ERR_UNSUPPORTED && UGAINS_ERR_ARG == (int)UG_ERR_ARG &&
                   UGAINS_ERR_NOMEM == (int)UG_ERR_NOMEM && UGAINS_ERR_INTERNAL == (int)UG_ERR_INTERNAL,
               "ugains_status and ug_status differ");
_Static_assert((int)UGAINS_ERROR_MAX == (int)UG_ERR_MSG_MAX, "message sizes differ");
_Static_assert(UGAINS_LOG_WARN == (int)UG_LOG_WARN && UGAINS_LOG_INFO == (int)UG_LOG_INFO &&
                   UGAINS_LOG_DEBUG == (int)UG_LOG_DEBUG,
               "log levels differ");

struct ugains_model {
    ug_ctx ctx;
    rba_model *rba;
    sam_model *sam;
    ugains_opts opts;
};

struct ugains_output {
    ugains_result r;
};

const char *ugains_version(void) {
    return UGAINS_VERSION;
}

const char *ugains_status_name(ugains_status status) {
    return ug_status_name((ug_status)status);
}

// ---- errors and log messages ----

// Copies the internal error out (err may be NULL) and returns its code.
static ugains_status report(ugains_error *err, ug_status st, const ug_err *e) {
    if (err) {
        err->code = (ugains_status)st;
        if (st == UG_OK)
            err->message[0] = '\0';
        else
            snprintf(err->message, sizeof err->message, "%s", e->msg[0] ? e->msg : ug_status_name(st));
    }
    return (ugains_status)st;
}

static ugains_status fail(ugains_error *err, ug_status st, const char *fmt, const char *what) {
    ug_err e;
    ug_errf(&e, st, fmt, what);
    return report(err, st, &e);
}

static void log_drop(void *user, ug_log_level level, const char *line) {}

static ugains_log_fn user_log;
static void *user_log_arg;
static atomic_int log_chosen;

static void log_forward(void *user, ug_log_level level, const char *line) {
    if (user_log) user_log(user_log_arg, (ugains_log_level)level, line);
}

void ugains_set_log(ugains_log_fn fn, void *user, ugains_log_level max_level) {
    atomic_store(&log_chosen, 1);
    user_log = fn;
    user_log_arg = user;
    if (max_level < UGAINS_LOG_WARN) max_level = UGAINS_LOG_WARN;
    if (max_level > UGAINS_LOG_DEBUG) max_level = UGAINS_LOG_DEBUG;
    ug_log_set_level((ug_log_level)max_level);
    ug_log_set_sink(fn ? log_forward : log_drop, NULL);
}

// The library prints nothing: messages are dropped until the caller asks for them.
static void quiet_by_default(void) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&log_chosen, &expected, 1)) ug_log_set_sink(log_drop, NULL);
}

// ---- models ----

void ugains_options_default(ugains_options *opt) {
    if (!opt) return;
    ugains_opts o;
    ugains_opts_default(&o);
    memset(opt, 0, sizeof *opt);
    opt->threads = 0;
    opt->points = o.prop.points;
    opt->threshold = o.prop.threshold;
    opt->nms = o.nms;
    opt->ignore_overlap = o.ignore_overlap;
    opt->sampler = UGAINS_SAMPLER_FPS;
    opt->ties = UGAINS_FPS_TIES_OFFICIAL;
    opt->seed = o.prop.seed;
    opt->pad32 = o.pad32;
}

// Public options -> pipeline options, every field checked.
static ug_status convert_options(const ugains_options *p, ugains_opts *o, ug_err *e) {
    ugains_opts_default(o);
    if (p->threads > UG_MAX_THREADS)
        return ug_errf(e, UG_ERR_ARG, "options: threads is %d, at most %d", p->threads, UG_MAX_THREADS);
    if (p->points < 1 || p->points > (1 << 20))
        return ug_errf(e, UG_ERR_ARG, "options: points is %d, wants 1..%d", p->points, 1 << 20);
    if (!isfinite(p->threshold)) return ug_errf(e, UG_ERR_ARG, "options: threshold is not a finite number");
    if (!(p->nms >= 0.0f && p->nms <= 1.0f))
        return ug_errf(e, UG_ERR_ARG, "options: nms wants an IoU in [0, 1]");
    if (p->ignore_overlap < 0) return ug_errf(e, UG_ERR_ARG, "options: ignore_overlap is negative");
    switch (p->sampler) {
    case UGAINS_SAMPLER_FPS: o->prop.sampler = PROPOSALS_FPS; break;
    case UGAINS_SAMPLER_KMEANS: o->prop.sampler = PROPOSALS_KMEANS; break;
    case UGAINS_SAMPLER_RANDOM: o->prop.sampler = PROPOSALS_RANDOM; break;
    case UGAINS_SAMPLER_GRID: o->prop.sampler = PROPOSALS_GRID; break;
    default: return ug_errf(e, UG_ERR_ARG, "options: unknown sampler %d", (int)p->sampler);
    }
    switch (p->ties) {
    case UGAINS_FPS_TIES_OFFICIAL: o->prop.ties = PROPOSALS_TIES_OFFICIAL; break;
    case UGAINS_FPS_TIES_LOWEST: o->prop.ties = PROPOSALS_TIES_LOWEST; break;
    default: return ug_errf(e, UG_ERR_ARG, "options: unknown fps ties rule %d", (int)p->ties);
    }
    o->prop.points = p->points;
    o->prop.threshold = p->threshold;
    o->prop.seed = p->seed;
    o->nms = p->nms;
    o->ignore_overlap = p->ignore_overlap;
    o->pad32 = p->pad32 != 0;
    return UG_OK;
}

// A weights path must name a regular file (a FIFO would block the open forever).
static ug_status check_file(const char *what, const char *path, ug_err *e) {
    if (!path || !*path) return ug_errf(e, UG_ERR_ARG, "%s: no file name given", what);
    return ug_file_check_regular(path, e);
}

ugains_status ugains_open(const char *rba_path, const char *sam_path, const ugains_options *opt,
                          ugains_model **out, ugains_error *err) {
    quiet_by_default();
    if (!out) return fail(err, UG_ERR_ARG, "ugains_open: %s is NULL", "out");
    *out = NULL;
    ugains_options defaults;
    ugains_options_default(&defaults);
    if (!opt) opt = &defaults;
    ug_err e;
    ugains_opts o;
    ug_status st = convert_options(opt, &o, &e);
    if (st == UG_OK) st = check_file("RbA weights", rba_path, &e);
    if (st == UG_OK) st = check_file("SAM weights", sam_path, &e);
    if (st != UG_OK) return report(err, st, &e);
    ugains_model *m = calloc(1, sizeof *m);
    if (!m) return fail(err, UG_ERR_NOMEM, "ugains_open: %s", "out of memory");
    m->opts = o;
    if ((st = ug_ctx_init(&m->ctx, opt->threads, &e)) != UG_OK) {
        free(m);
        return report(err, st, &e);
    }
    if ((st = rba_load(&m->rba, rba_path, &e)) == UG_OK) st = sam_load(&m->sam, sam_path, &e);
    if (st != UG_OK) {
        ugains_close(m);
        return report(err, st, &e);
    }
    *out = m;
    return report(err, UG_OK, &e);
}

void ugains_close(ugains_model *model) {
    if (!model) return;
    rba_free(model->rba);
    sam_free(model->sam);
    ug_ctx_free(&model->ctx);
    free(model);
}

// ---- running ----

ugains_status ugains_run(ugains_model *model, const uint8_t *rgb, int height, int width,
                         const uint8_t *ignore, ugains_output **out, ugains_error *err) {
    quiet_by_default();
    if (!out) return fail(err, UG_ERR_ARG, "ugains_run: %s is NULL", "out");
    *out = NULL;
    if (!model) return fail(err, UG_ERR_ARG, "ugains_run: %s is NULL", "model");
    if (!rgb) return fail(err, UG_ERR_ARG, "ugains_run: %s is NULL", "rgb");
    ug_err e;
    if (height < 1 || width < 1 || (int64_t)height * width > UG_IMAGE_MAX_PIXELS) {
        ug_errf(&e, UG_ERR_ARG, "ugains_run: image size %dx%d (width x height) is out of range", width,
                height);
        return report(err, UG_ERR_ARG, &e);
    }
    ugains_output *o = calloc(1, sizeof *o);
    if (!o) return fail(err, UG_ERR_NOMEM, "ugains_run: %s", "out of memory");
    // The pipeline only reads the image: a view over the caller's bytes.
    ug_tensor img = ug_tensor_wrap((void *)rgb, UG_U8, UG_DIMS(height, width, 3));
    ug_status st =
        ugains_run_image(&model->ctx, model->rba, model->sam, &img, ignore, &model->opts, &o->r, NULL, &e);
    if (st != UG_OK) {
        free(o);
        return report(err, st, &e);
    }
    *out = o;
    return report(err, UG_OK, &e);
}

void ugains_output_free(ugains_output *out) {
    if (!out) return;
    ugains_result_free(&out->r);
    free(out);
}

void ugains_output_size(const ugains_output *out, int *height, int *width) {
    if (height) *height = out ? out->r.H : 0;
    if (width) *width = out ? out->r.W : 0;
}

const float *ugains_output_rba_score(const ugains_output *out) {
    return out ? out->r.score.data : NULL;
}

const float *ugains_output_refined(const ugains_output *out) {
    return out ? out->r.refined.data : NULL;
}

const uint8_t *ugains_output_semantic(const ugains_output *out) {
    return out ? out->r.semantic.data : NULL;
}

int ugains_output_num_points(const ugains_output *out) {
    return out ? out->r.npoints : 0;
}

int ugains_output_count(const ugains_output *out) {
    return out ? out->r.nkeep : 0;
}

// The prompt index of instance i, or -1 (with err filled) when there is none.
static int instance_index(const ugains_output *out, int i, ugains_error *err) {
    if (!out) {
        fail(err, UG_ERR_ARG, "ugains_output: %s is NULL", "out");
        return -1;
    }
    if (i < 0 || i >= out->r.nkeep) {
        if (err) {
            err->code = UGAINS_ERR_ARG;
            snprintf(err->message, sizeof err->message, "ugains_output: instance %d of %d", i, out->r.nkeep);
        }
        return -1;
    }
    return out->r.keep[i];
}

ugains_status ugains_output_instance(const ugains_output *out, int i, ugains_instance *inst) {
    int q = instance_index(out, i, NULL);
    if (q < 0 || !inst) return UGAINS_ERR_ARG;
    const ugains_result *r = &out->r;
    memset(inst, 0, sizeof *inst);
    inst->score = r->scores[q];
    inst->point[0] = r->points[2 * q];
    inst->point[1] = r->points[2 * q + 1];
    inst->predicted_iou = r->chosen_iou[q];
    instances_bbox(&r->masks, q, inst->bbox);
    inst->area = r->masks.area[q];
    return UGAINS_OK;
}

ugains_status ugains_output_mask(const ugains_output *out, int i, uint8_t *mask) {
    int q = instance_index(out, i, NULL);
    if (q < 0 || !mask) return UGAINS_ERR_ARG;
    int64_t HW = (int64_t)out->r.H * out->r.W;
    for (int64_t p = 0; p < HW; p++)
        mask[p] = inst_mask_get(&out->r.masks, q, p);
    return UGAINS_OK;
}

// ---- images ----

ugains_status ugains_image_read(const char *path, ugains_image_mode mode, uint8_t **pixels, int *height,
                                int *width, ugains_error *err) {
    quiet_by_default();
    if (!pixels || !height || !width)
        return fail(err, UG_ERR_ARG, "ugains_image_read: %s is NULL", "an output pointer");
    *pixels = NULL;
    *height = *width = 0;
    if (mode != UGAINS_IMAGE_RGB && mode != UGAINS_IMAGE_GRAY)
        return fail(err, UG_ERR_ARG, "ugains_image_read: %s",
                    "mode wants UGAINS_IMAGE_RGB or UGAINS_IMAGE_GRAY");
    ug_err e;
    ug_status st = check_file("image", path, &e);
    ug_tensor t = {0};
    if (st == UG_OK)
        st = ug_image_read(path, mode == UGAINS_IMAGE_RGB ? UG_IMAGE_RGB : UG_IMAGE_GRAY, &t, &e);
    if (st != UG_OK) return report(err, st, &e);
    // A plain malloc'ed copy, so ugains_image_free is free().
    size_t n = ug_tensor_nbytes(&t);
    uint8_t *p = malloc(n ? n : 1);
    if (!p) {
        ug_tensor_free(&t);
        return fail(err, UG_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(p, t.data, n);
    *height = (int)t.shape[0];
    *width = (int)t.shape[1];
    *pixels = p;
    ug_tensor_free(&t);
    return report(err, UG_OK, &e);
}

void ugains_image_free(uint8_t *pixels) {
    free(pixels);
}
