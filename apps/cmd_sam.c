// apps/cmd_sam.c — `ugains sam`: interactive Segment Anything on one image, run exactly as
// SamPredictor.set_image + predict(..., return_logits=True) run it (DESIGN §2, §4, §6).
//
// Dimension letters: N prompts, T sparse tokens per prompt, M masks per prompt (3 multimask,
// 1 with --single-mask), C prompt_embed_dim, h/w the embedding grid, H/W the original image.
//
// Prompts with different token structures (point count, box or not) cannot share one
// sam_encode_prompts batch, and padding them would change the answer (a padding token takes
// part in attention), so prompts are run in groups of equal structure and the results are
// put back in prompt order. Every output except the sparse embeddings is indexed by prompt;
// those are one [N, T, C] file when all prompts have the same T, else one file per prompt.

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/cli.h"
#include "apps/outputs.h"
#include "engine/ctx.h"
#include "engine/fileio.h"
#include "engine/image.h"
#include "engine/json.h"
#include "engine/npy.h"
#include "models/sam.h"
#include "ops/ops.h"
#include "pipeline/inputs.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: ugains sam --weights SAM --image IMG --out DIR\n"
        "                  (--point X,Y[,L] ... [--box X0,Y0,X1,Y1] | --box X0,Y0,X1,Y1 | --prompts P.json)\n"
        "                  [--single-mask] [--all-masks] [--dump DIR] [--threads N] [--device D]\n"
        "                  [--precision P]\n"
        "\n"
        "Segment Anything on one image, preprocessed as SamPredictor does (Pillow bilinear\n"
        "resize of the 8-bit image, long side = the model's img_size). Coordinates are\n"
        "original image pixels (x = column, y = row).\n"
        "\n"
        "  --weights FILE     packed SAM weights (ugains pack)\n"
        "  --image IMG        PNG or JPEG, read as RGB\n"
        "  --point X,Y[,L]    a point; L = 1 foreground (default) or 0 background. Repeated\n"
        "                     --point options form ONE prompt with several points\n"
        "  --box X0,Y0,X1,Y1  a box, added to the --point prompt (or a prompt on its own)\n"
        "  --prompts P.json   several prompts, one output mask set each:\n"
        "                     [{\"points\": [[x, y], ...], \"labels\": [1, 0, ...],\n"
        "                       \"box\": [x0, y0, x1, y1]}, ...]\n"
        "                     labels default to 1; an entry needs points, a box or both\n"
        "  --out DIR          output folder (created if missing; files in it are replaced)\n"
        "  --single-mask      multimask_output=False: one mask per prompt (mask token 0)\n"
        "  --all-masks        also write every mask of a prompt as mask_NNN_K.png\n"
        "  --dump DIR         write the tensors below as .npy (float32)\n"
        "  --threads N        worker threads (default UGAINS_THREADS or all cores)\n"
        "  --device D         cpu or cuda (default UGAINS_DEVICE or cpu)\n"
        "  --precision P      f32 (default) or bf16: GEMMs, convolutions and attention with bf16\n"
        "                     inputs and f32 sums on AVX512-BF16 CPUs (else f32, with one line)\n"
        "  -h, --help         show this help\n"
        "\n"
        "Outputs in --out, NNN = the prompt's index (000, 001, ...):\n"
        "  mask_NNN.png       8-bit 0/255 at the original size: the mask with the highest\n"
        "                     predicted IoU (first on ties), or the single mask\n"
        "  mask_NNN_K.png     with --all-masks, mask K = 0..M-1\n"
        "  scores.json        {\"prompts\": [{\"index\", \"iou_predictions\": [..M], \"best\"}]}\n"
        "Dump (N prompts, M = 3 or 1 with --single-mask, C/h/w from the model):\n"
        "  image_embeddings [1,C,h,w], dense_embeddings [N,C,h,w], low_res_masks\n"
        "  [N,M,4h,4w], iou_predictions [N,M], masks [N,M,H,W] (logits at the original size),\n"
        "  sparse_embeddings [N,T,C] when every prompt has the same token count T, else\n"
        "  sparse_embeddings_NNN [1,T,C] per prompt. T = points + 1 without a box, + 2 with.\n"
        "\n"
        "Points outside the image are used as given (as SamPredictor does) with a warning.\n"
        "Exit status: 0 success, 1 runtime error (a file), 2 usage error.\n");
}

enum { SAM_CLI_DUMP_GIB = 4 };

// "X,Y[,L]" or "X0,Y0,X1,Y1": n_min to n_max numbers separated by commas; the count or -1.
static int parse_numbers(const char *s, double *v, int n_min, int n_max) {
    int n = 0;
    const char *p = s;
    for (;;) {
        if (n == n_max) return -1;
        char *end;
        errno = 0;
        v[n] = strtod(p, &end);
        if (end == p || errno == ERANGE) return -1;
        n++;
        p = end;
        if (*p == '\0') break;
        if (*p != ',') return -1;
        p++;
    }
    return n >= n_min ? n : -1;
}

// --point X,Y[,L]; usage errors are printed here.
static bool parse_point_opt(sam_prompt *p, const char *s) {
    double v[3];
    int n = parse_numbers(s, v, 2, 3);
    if (n < 0) {
        cli_error("sam: --point wants X,Y or X,Y,L, got '%s'", s);
        return false;
    }
    if (!sam_prompt_coord_ok(v[0]) || !sam_prompt_coord_ok(v[1])) {
        cli_error("sam: --point '%s': coordinates must be finite numbers within +-1e9", s);
        return false;
    }
    int label = 1;
    if (n == 3) {
        if (v[2] != 0.0 && v[2] != 1.0) {
            cli_error("sam: --point '%s': label must be 1 (foreground) or 0 (background)", s);
            return false;
        }
        label = (int)v[2];
    }
    if (p->n_points >= SAM_PROMPT_MAX_POINTS) {
        cli_error("sam: more than %d --point options (one prompt takes at most %d points)",
                  SAM_PROMPT_MAX_POINTS, SAM_PROMPT_MAX_POINTS);
        return false;
    }
    if (!sam_prompt_add_point(p, (float)v[0], (float)v[1], label)) {
        cli_error("sam: out of memory");
        return false;
    }
    return true;
}

static bool parse_box_opt(sam_prompt *p, const char *s) {
    double v[4];
    if (parse_numbers(s, v, 4, 4) < 0) {
        cli_error("sam: --box wants X0,Y0,X1,Y1, got '%s'", s);
        return false;
    }
    for (int k = 0; k < 4; k++)
        if (!sam_prompt_coord_ok(v[k])) {
            cli_error("sam: --box '%s': coordinates must be finite numbers within +-1e9", s);
            return false;
        }
    if (p->has_box) {
        cli_error("sam: --box given twice (one box per prompt; use --prompts for several)");
        return false;
    }
    p->has_box = true;
    for (int k = 0; k < 4; k++)
        p->box[k] = (float)v[k];
    return true;
}

// SamPredictor takes any coordinates; one outside the image is most likely a mistake (x/y
// swapped, wrong image), so it is worth a word. Pixel i covers [i, i + 1); a box corner may
// sit on the far edge.
static void warn_outside(const sam_prompt_list *l, int H, int W) {
    for (int i = 0; i < l->n; i++) {
        const sam_prompt *p = &l->p[i];
        for (int k = 0; k < p->n_points; k++) {
            float x = p->xy[2 * k], y = p->xy[2 * k + 1];
            if (!(x >= 0 && x < W && y >= 0 && y < H))
                fprintf(stderr,
                        "ugains: sam: warning: prompt %d: point (%g, %g) is outside the %dx%d image (used as "
                        "given)\n",
                        i, (double)x, (double)y, W, H);
        }
        if (p->has_box)
            for (int k = 0; k < 2; k++) {
                float x = p->box[2 * k], y = p->box[2 * k + 1];
                if (!(x >= 0 && x <= W && y >= 0 && y <= H))
                    fprintf(stderr,
                            "ugains: sam: warning: prompt %d: box corner (%g, %g) is outside the %dx%d image "
                            "(used as given)\n",
                            i, (double)x, (double)y, W, H);
            }
    }
}

// t on the host (the app's own buffers) or on the model's device (downloaded first).
static ug_status write_npy(ug_ctx *ctx, cli_stage *sg, const char *name, const ug_tensor *t, ug_err *err) {
    char file[128], path[4400];
    snprintf(file, sizeof file, "%s.npy", name);
    if (!cli_stage_file(sg, file, path, sizeof path, err)) return err->code;
    if (t->device == UG_CPU) return ug_npy_write(path, t, err);
    ug_tensor h;
    ug_status st = ug_to_host(ctx, &h, t, err);
    if (st == UG_OK) st = ug_npy_write(path, &h, err);
    ug_tensor_free(&h);
    return st;
}

static int tokens_of(const sam_prompt *p) {
    return p->n_points + (p->has_box ? 2 : 1);
}

// Everything one run holds; released in one place.
typedef struct run {
    ug_ctx ctx;
    bool ctx_ok;
    sam_model *m;
    ug_tensor img;                            // host U8 [H,W,3]
    ug_tensor input, emb;                     // on the model's device
    ug_tensor iou_all;                        // [N,M]
    ug_tensor low_all, masks_all, sparse_all; // --dump only: [N,M,4h,4w], [N,M,H,W], [N,T,C]
    ug_tensor dense;                          // [1,C,h,w] on the device (the same for every prompt)
    ug_tensor png;                            // U8 [H,W]
    int *best;                                // [N] index of the best mask
    bool *done;                               // [N] prompt already run
    cli_stage so, sd;                         // staged --out and --dump files
} run;

static void run_free(run *r) {
    ug_tensor *ts[] = {&r->img,       &r->input,      &r->emb,   &r->iou_all, &r->low_all,
                       &r->masks_all, &r->sparse_all, &r->dense, &r->png};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        ug_tensor_free(ts[i]);
    sam_free(r->m);
    if (r->ctx_ok) ug_ctx_free(&r->ctx);
    free(r->best);
    free(r->done);
    cli_stage_abort(&r->so);
    cli_stage_abort(&r->sd);
}

typedef struct options {
    const char *weights, *image, *out, *dump, *prompts;
    bool single, all_masks;
    int threads;
    ug_device device;
    ug_precision precision;
} options;

// mask = logits > mask_threshold, as Sam.forward thresholds; 0/255 so viewers show it.
static ug_status write_mask_png(run *r, const char *path, const float *logits, float thr, ug_err *err) {
    uint8_t *px = r->png.data;
    int64_t n = ug_tensor_numel(&r->png);
    for (int64_t i = 0; i < n; i++)
        px[i] = logits[i] > thr ? 255 : 0;
    return ug_png_write(path, &r->png, err);
}

// Prompt j's masks: upsample its low-res logits [1,M,4h,4w] to the original size, pick the
// best by predicted IoU (the first on ties, as np.argmax), write the PNGs. One prompt at a
// time keeps the full-size logits at one prompt's worth unless the dump wants them all.
static ug_status finish_prompt(run *r, const options *o, int j, const ug_tensor *lo, const int orig_hw[2],
                               const int input_hw[2], ug_err *err) {
    int64_t M = r->iou_all.shape[1];
    const float *iou = (const float *)r->iou_all.data + j * M;
    for (int k = 1; k < M; k++)
        if (iou[k] > iou[r->best[j]]) r->best[j] = k;
    ug_tensor hi, hi_h; // [1,M,H,W] on the device, on the host
    ug_status st = sam_postprocess_masks(&r->ctx, r->m, lo, input_hw, orig_hw, &hi, err);
    if (st) return st;
    st = ug_to_host(&r->ctx, &hi_h, &hi, err);
    ug_tensor_free(&hi);
    if (st) return st;
    const float *logits = hi_h.data;
    size_t plane = (size_t)orig_hw[0] * (size_t)orig_hw[1];
    float thr = r->m->cfg.mask_threshold;
    char file[64], path[4400];
    snprintf(file, sizeof file, "mask_%03d.png", j);
    st = cli_stage_file(&r->so, file, path, sizeof path, err)
             ? write_mask_png(r, path, logits + (size_t)r->best[j] * plane, thr, err)
             : err->code;
    for (int k = 0; !st && o->all_masks && k < M; k++) {
        snprintf(file, sizeof file, "mask_%03d_%d.png", j, k);
        st = cli_stage_file(&r->so, file, path, sizeof path, err)
                 ? write_mask_png(r, path, logits + (size_t)k * plane, thr, err)
                 : err->code;
    }
    if (!st && r->masks_all.data)
        memcpy((float *)r->masks_all.data + (size_t)j * M * plane, logits, (size_t)M * plane * sizeof(float));
    ug_tensor_free(&hi_h);
    return st;
}

// Prompts per decoder batch: bounds the low-res logits held at once ([64,3,256,256] = 50 MB
// for the released models); rows are independent, so the batch size changes no result.
enum { SAM_CLI_BATCH = 64 };

// Runs up to SAM_CLI_BATCH prompts with the structure of prompt `first` (point count, box or
// not) as one batch and puts the results at their prompt indices.
static ug_status run_group(run *r, const options *o, const sam_prompt_list *l, int first,
                           const int orig_hw[2], const int input_hw[2], bool uniform_t, ug_err *err) {
    const sam_prompt *p0 = &l->p[first];
    int n = 0, P = p0->n_points;
    int *idx = malloc((size_t)l->n * sizeof *idx);
    float *xy = malloc(((size_t)l->n * (size_t)P * 2 + 1) * sizeof *xy);   // [n, P, 2]
    int *labels = malloc(((size_t)l->n * (size_t)P + 1) * sizeof *labels); // [n, P]
    float *boxes = malloc((size_t)l->n * 4 * sizeof *boxes);               // [n, 4]
    ug_tensor sparse = {0}, dense = {0}, low = {0}, iou = {0};             // on the device
    ug_tensor low_h = {0}, iou_h = {0}, sparse_h = {0};                    // their host copies
    ug_status st = UG_OK;
    if (!idx || !xy || !labels || !boxes) {
        st = ug_errf(err, UG_ERR_NOMEM, "sam: out of memory");
        goto done;
    }
    for (int j = first; j < l->n && n < SAM_CLI_BATCH; j++) {
        const sam_prompt *p = &l->p[j];
        if (r->done[j] || p->n_points != P || p->has_box != p0->has_box) continue;
        r->done[j] = true;
        if (P) { // a box-only prompt has no point arrays at all (memcpy from NULL is undefined)
            memcpy(xy + (size_t)n * P * 2, p->xy, (size_t)P * 2 * sizeof *xy);
            memcpy(labels + (size_t)n * P, p->labels, (size_t)P * sizeof *labels);
        }
        memcpy(boxes + (size_t)n * 4, p->box, 4 * sizeof *boxes);
        idx[n++] = j;
    }
    // ResizeLongestSide.apply_coords / apply_boxes: into the model's input frame.
    sam_apply_coords(orig_hw, input_hw, xy, n * P);
    sam_apply_coords(orig_hw, input_hw, boxes, 2 * n);
    sam_prompts sp = {n, P, P ? xy : NULL, P ? labels : NULL, p0->has_box ? boxes : NULL, NULL};
    if ((st = sam_encode_prompts(&r->ctx, r->m, &sp, &sparse, &dense, err)) != UG_OK)
        goto done; // [n,T,C], [1,C,h,w]
    if ((st = sam_decode_masks(&r->ctx, r->m, &r->emb, &sparse, &dense, !o->single, &low, &iou, NULL, err)) !=
        UG_OK)
        goto done; // [n,M,4h,4w], [n,M]
    if ((st = ug_to_host(&r->ctx, &low_h, &low, err)) != UG_OK ||
        (st = ug_to_host(&r->ctx, &iou_h, &iou, err)) != UG_OK ||
        (o->dump && uniform_t && (st = ug_to_host(&r->ctx, &sparse_h, &sparse, err)) != UG_OK))
        goto done;
    int64_t M = iou.shape[1], lo_sz = low.shape[2] * low.shape[3] * M, T = sparse.shape[1],
            C = sparse.shape[2];
    // NaN/inf weights (or a config such as pixel_std 0) poison every output; say so instead of
    // writing empty masks and a scores.json that JSON cannot hold.
    for (int k = 0; k < n; k++) {
        const float *iv = (const float *)iou_h.data + k * M, *lv = (const float *)low_h.data + k * lo_sz;
        bool finite = true;
        for (int64_t q = 0; q < M; q++)
            finite &= isfinite(iv[q]) != 0;
        for (int64_t q = 0; q < lo_sz && finite; q++)
            finite = isfinite(lv[q]) != 0;
        if (!finite) {
            st = ug_errf(err, UG_ERR_FORMAT,
                         "%s: the model gave non-finite (NaN or infinite) masks or IoU predictions for "
                         "prompt %d; the weights hold non-finite values?",
                         o->weights, idx[k]);
            goto done;
        }
    }
    for (int k = 0; k < n; k++) {
        int j = idx[k];
        memcpy((float *)r->iou_all.data + j * M, (const float *)iou_h.data + k * M,
               (size_t)M * sizeof(float));
        ug_tensor lo = ug_view_slice(&low, 0, k, 1); // [1,M,4h,4w]
        if ((st = finish_prompt(r, o, j, &lo, orig_hw, input_hw, err)) != UG_OK) goto done;
        if (!o->dump) continue;
        memcpy((float *)r->low_all.data + j * lo_sz, (const float *)low_h.data + k * lo_sz,
               (size_t)lo_sz * sizeof(float));
        if (uniform_t) {
            memcpy((float *)r->sparse_all.data + j * T * C, (const float *)sparse_h.data + k * T * C,
                   (size_t)(T * C) * sizeof(float));
        } else {
            char name[64];
            snprintf(name, sizeof name, "sparse_embeddings_%03d", j);
            ug_tensor row = ug_view_slice(&sparse, 0, k, 1); // [1,T,C]
            if ((st = write_npy(&r->ctx, &r->sd, name, &row, err)) != UG_OK) goto done;
        }
    }
    // Without mask prompts the dense embedding is no_mask_embed for every prompt: keep one.
    if (!r->dense.data) {
        r->dense = dense;
        dense = (ug_tensor){0};
    }
done:
    ug_tensor_free(&sparse);
    ug_tensor_free(&dense);
    ug_tensor_free(&low);
    ug_tensor_free(&iou);
    ug_tensor_free(&low_h);
    ug_tensor_free(&iou_h);
    ug_tensor_free(&sparse_h);
    free(idx);
    free(xy);
    free(labels);
    free(boxes);
    return st;
}

static ug_status write_scores(cli_stage *sg, const ug_tensor *iou, const int *best, ug_err *err) {
    int64_t N = iou->shape[0], M = iou->shape[1];
    ug_json_writer w;
    ug_jw_init(&w, 2);
    ug_jw_object_begin(&w);
    ug_jw_key(&w, "prompts");
    ug_jw_array_begin(&w);
    for (int64_t i = 0; i < N; i++) {
        ug_jw_object_begin(&w);
        ug_jw_key(&w, "index");
        ug_jw_int(&w, i);
        ug_jw_key(&w, "iou_predictions");
        ug_jw_array_begin(&w);
        for (int64_t k = 0; k < M; k++)
            ug_jw_float(&w, ((const float *)iou->data)[i * M + k]);
        ug_jw_array_end(&w);
        ug_jw_key(&w, "best");
        ug_jw_int(&w, best[i]);
        ug_jw_object_end(&w);
    }
    ug_jw_array_end(&w);
    ug_jw_object_end(&w);
    char *text;
    size_t len;
    char path[4400];
    if (!cli_stage_file(sg, "scores.json", path, sizeof path, err)) {
        ug_jw_free(&w);
        return err->code;
    }
    ug_status st = ug_jw_finish(&w, &text, &len, err);
    if (st) {
        ug_err_prefix(err, "%s: ", path);
        return st;
    }
    ug_atomic_file af;
    if ((st = ug_atomic_open(&af, path, err)) == UG_OK) {
        if (fwrite(text, 1, len, af.f) != len || fputc('\n', af.f) == EOF) {
            ug_atomic_abort(&af);
            st = ug_errf(err, UG_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        } else {
            st = ug_atomic_commit(&af, err);
        }
    }
    free(text);
    return st;
}

static ug_status sam_main(const options *o, const sam_prompt_list *l, ug_err *err) {
    run r = {0};
    ug_status st;
    cli_made_dirs md = {0};
    if ((st = ug_image_read(o->image, UG_IMAGE_RGB, &r.img, err)) != UG_OK) goto out; // U8 [H,W,3]
    int orig_hw[2] = {(int)r.img.shape[0], (int)r.img.shape[1]}, input_hw[2];
    if ((st = ug_ctx_init(&r.ctx, o->threads, err)) != UG_OK) goto out;
    r.ctx_ok = true;
    if ((st = cli_use_device(&r.ctx, o->device, err)) != UG_OK) goto out;
    cli_use_precision("sam", &r.ctx, o->precision);
    if ((st = sam_load(&r.m, o->weights, err)) != UG_OK) {
        // A checkpoint given where the packed file is due: say what to do about it.
        const char *kind = cli_checkpoint_kind(o->weights);
        if (kind)
            st = ug_errf(err, UG_ERR_FORMAT,
                         "%s: not a safetensors file but %s; convert it first: ugains pack --in %s --out "
                         "FILE.safetensors",
                         o->weights, kind, o->weights);
        goto out;
    }
    if ((st = sam_to_device(r.m, &r.ctx, err)) != UG_OK) goto out;
    const sam_config *c = &r.m->cfg;
    // ResizeLongestSide rounds the short side; a 1 x 3000 strip would become 0 pixels tall
    // (SamPredictor fails on it too).
    int rh, rw;
    sam_preprocess_shape(orig_hw[0], orig_hw[1], c->img_size, &rh, &rw);
    if (rh < 1 || rw < 1) {
        st = ug_errf(err, UG_ERR_ARG,
                     "%s: a %dx%d image is too thin: resized to the model's %d-pixel input it would be %dx%d",
                     o->image, orig_hw[1], orig_hw[0], c->img_size, rw, rh);
        goto out;
    }
    int64_t N = l->n, M = o->single ? 1 : c->dec_num_multimask, C = c->prompt_embed_dim;
    int64_t lh = 4 * (int64_t)c->embed_h, lw = 4 * (int64_t)c->embed_w, H = orig_hw[0], W = orig_hw[1];
    bool uniform_t = true;
    for (int i = 1; i < l->n; i++)
        uniform_t = uniform_t && tokens_of(&l->p[i]) == tokens_of(&l->p[0]);
    // --dump keeps every prompt's full-size logits until the end: refuse what cannot fit
    // rather than let the allocation (or the OOM killer) decide.
    if (o->dump) {
        double gib = (double)N * (double)M * ((double)lh * lw + (double)H * W) * 4.0 / (1u << 30);
        if (gib > SAM_CLI_DUMP_GIB) {
            st = ug_errf(err, UG_ERR_ARG,
                         "--dump of %lld prompts on a %lldx%lld image needs %.1f GiB (limit %d GiB); dump "
                         "fewer prompts",
                         (long long)N, (long long)W, (long long)H, gib, SAM_CLI_DUMP_GIB);
            goto out;
        }
    }
    warn_outside(l, orig_hw[0], orig_hw[1]);
    // Folders only now that the inputs are known good; removed again if the run fails.
    if ((st = cli_make_dirs(o->out, &md, err)) != UG_OK ||
        (o->dump && (st = cli_make_dirs(o->dump, &md, err)) != UG_OK))
        goto out;
    if ((st = cli_stage_open(&r.so, o->out, "sam", err)) != UG_OK ||
        (o->dump && (st = cli_stage_open(&r.sd, o->dump, "sam", err)) != UG_OK))
        goto out;

    ug_tensor img_dev; // the image on the model's device, for preprocessing only
    if ((st = ug_to_device(&r.ctx, &img_dev, &r.img, err)) != UG_OK) goto out;
    st = sam_preprocess_u8(&r.ctx, r.m, &img_dev, &r.input, input_hw, err); // [1,3,S,S]
    ug_tensor_free(&img_dev);
    if (st != UG_OK) goto out;
    if ((st = sam_encode_image(&r.ctx, r.m, &r.input, &r.emb, NULL, err)) != UG_OK) goto out; // [1,C,h,w]
    if (o->dump && (st = write_npy(&r.ctx, &r.sd, "image_embeddings", &r.emb, err)) != UG_OK) goto out;
    r.best = calloc((size_t)N, sizeof *r.best);
    r.done = calloc((size_t)N, sizeof *r.done);
    if (!r.best || !r.done) {
        st = ug_errf(err, UG_ERR_NOMEM, "sam: out of memory");
        goto out;
    }
    if ((st = ug_tensor_new(&r.iou_all, UG_F32, UG_DIMS(N, M), err)) != UG_OK ||
        (st = ug_tensor_new(&r.png, UG_U8, UG_DIMS(H, W), err)) != UG_OK)
        goto out;
    if (o->dump && ((st = ug_tensor_new(&r.low_all, UG_F32, UG_DIMS(N, M, lh, lw), err)) != UG_OK ||
                    (st = ug_tensor_new(&r.masks_all, UG_F32, UG_DIMS(N, M, H, W), err)) != UG_OK ||
                    (uniform_t && (st = ug_tensor_new(&r.sparse_all, UG_F32,
                                                      UG_DIMS(N, tokens_of(&l->p[0]), C), err)) != UG_OK)))
        goto out;
    for (int i = 0; i < l->n; i++)
        if (!r.done[i] && (st = run_group(&r, o, l, i, orig_hw, input_hw, uniform_t, err)) != UG_OK) goto out;

    if ((st = write_scores(&r.so, &r.iou_all, r.best, err)) != UG_OK) goto out;
    if (o->dump) {
        // dense_embeddings [N,C,h,w]: the shared map [C,h,w] seen N times (a stride-0 view).
        ug_tensor one = ug_view_strided(&r.dense, 0, 3, r.dense.shape + 1, r.dense.stride + 1);
        ug_tensor dn = ug_view_expand_dim(&one, 0, N);
        if ((uniform_t &&
             (st = write_npy(&r.ctx, &r.sd, "sparse_embeddings", &r.sparse_all, err)) != UG_OK) ||
            (st = write_npy(&r.ctx, &r.sd, "dense_embeddings", &dn, err)) != UG_OK ||
            (st = write_npy(&r.ctx, &r.sd, "low_res_masks", &r.low_all, err)) != UG_OK ||
            (st = write_npy(&r.ctx, &r.sd, "iou_predictions", &r.iou_all, err)) != UG_OK ||
            (st = write_npy(&r.ctx, &r.sd, "masks", &r.masks_all, err)) != UG_OK)
            goto out;
    }
    if ((st = cli_stage_check(&r.so, err)) != UG_OK ||
        (o->dump && (st = cli_stage_check(&r.sd, err)) != UG_OK) ||
        (st = cli_stage_commit(&r.so, err)) != UG_OK ||
        (o->dump && (st = cli_stage_commit(&r.sd, err)) != UG_OK))
        goto out;
out:
    run_free(&r); // removes whatever is still staged
    cli_made_dirs_undo(&md, st != UG_OK);
    return st;
}

int cmd_sam(int argc, char **argv) {
    static const struct option opts[] = {
        {"weights", required_argument, 0, 'w'}, {"image", required_argument, 0, 'i'},
        {"point", required_argument, 0, 'p'},   {"box", required_argument, 0, 'b'},
        {"prompts", required_argument, 0, 'P'}, {"out", required_argument, 0, 'o'},
        {"single-mask", no_argument, 0, 's'},   {"all-masks", no_argument, 0, 'a'},
        {"dump", required_argument, 0, 'd'},    {"threads", required_argument, 0, 't'},
        {"device", required_argument, 0, 'D'},  {"precision", required_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    options o = {0};
    sam_prompt_list cl = {0}, l = {0}; // the command-line prompt, the prompts to run
    sam_prompt *cmdline = NULL;
    const char *device = NULL, *precision = NULL;
    int rc = CLI_OK, c;
    optind = 1;
    opterr = 0; // getopt's own message would not be the one-line "ugains: sam: ..." form
    while (rc == CLI_OK && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': o.weights = optarg; break;
        case 'i': o.image = optarg; break;
        case 'o': o.out = optarg; break;
        case 'd': o.dump = optarg; break;
        case 'P': o.prompts = optarg; break;
        case 'D': device = optarg; break;
        case 'R': precision = optarg; break;
        case 's': o.single = true; break;
        case 'a': o.all_masks = true; break;
        case 'p':
        case 'b':
            if (!cmdline && !(cmdline = sam_prompts_add(&cl))) {
                cli_error("sam: out of memory");
                rc = CLI_RUNTIME;
                break;
            }
            if (!(c == 'p' ? parse_point_opt(cmdline, optarg) : parse_box_opt(cmdline, optarg)))
                rc = CLI_USAGE;
            break;
        case 't':
            if (!cli_parse_threads(optarg, &o.threads)) {
                cli_error("sam: --threads wants a count from 1 to 256, got '%s'", optarg);
                rc = CLI_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            sam_prompts_free(&cl);
            return CLI_OK;
        default:
            cli_error("sam: unknown option or missing value: '%s' (see ugains sam --help)", argv[optind - 1]);
            rc = CLI_USAGE;
            break;
        }
    }
    if (rc == CLI_OK && !cli_device("sam", device, &o.device)) rc = CLI_USAGE;
    if (rc == CLI_OK && !cli_precision("sam", precision, &o.precision)) rc = CLI_USAGE;
    if (rc == CLI_OK && optind < argc) {
        cli_error("sam: unexpected argument '%s'", argv[optind]);
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK && (!o.weights || !o.image || !o.out)) {
        cli_error("sam: --weights, --image and --out are required (see ugains sam --help)");
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK && (!*o.out || (o.dump && !*o.dump))) {
        cli_error("sam: %s is an empty path", !*o.out ? "--out" : "--dump");
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK && !!cmdline == !!o.prompts) {
        cli_error(cmdline ? "sam: give --point/--box or --prompts, not both"
                          : "sam: no prompt: give --point X,Y, --box X0,Y0,X1,Y1 or --prompts P.json");
        rc = CLI_USAGE;
    }
    ug_err err;
    if (rc == CLI_OK) {
        // Regular files only: open() on a FIFO would wait forever.
        ug_status st = ug_file_check_regular(o.weights, &err);
        if (st == UG_OK) st = ug_file_check_regular(o.image, &err);
        if (st == UG_OK && o.prompts) st = ug_file_check_regular(o.prompts, &err);
        if (st == UG_OK && o.prompts) st = sam_prompts_read(o.prompts, &l, &err);
        if (st == UG_OK) st = sam_main(&o, o.prompts ? &l : &cl, &err);
        if (st != UG_OK) {
            cli_print_err("sam: ", &err);
            rc = CLI_RUNTIME;
        }
    }
    sam_prompts_free(&cl);
    sam_prompts_free(&l);
    return rc;
}
