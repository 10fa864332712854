// apps/cmd_rba.c — `ugains rba`: the RbA branch on one image (models/rba.h, DESIGN §4-§6).
//
// Writes into --out: semantic.png (8-bit trainIds), semantic_color.png (Cityscapes palette),
// rba_score.npy (F32 [H, W]) and rba_score.png (heat map); with --dump DIR the §6 tensors.
// Outputs appear all together or not at all (apps/outputs.h); docs/CLI.md has the details.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "apps/outputs.h"
#include "engine/ctx.h"
#include "engine/fileio.h"
#include "engine/image.h"
#include "engine/npy.h"
#include "models/rba.h"
#include "ops/ops.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ugains rba --weights RBA --image IMG --out DIR [--dump DIR] [--pad32] [--threads N]\n"
               "                  [--device D] [--precision P]\n"
               "\n"
               "Runs the RbA branch of UGainS (Swin, MSDeformAttn pixel decoder, masked-attention decoder)\n"
               "on one image at its own resolution and writes the per-pixel outputs.\n"
               "\n"
               "  --weights RBA  packed RbA model (ugains pack --arch rba)\n"
               "  --image IMG    PNG or JPEG, RGB (gray is expanded)\n"
               "  --out DIR      output folder (created): semantic.png (trainIds), semantic_color.png\n"
               "                 (Cityscapes palette), rba_score.npy (float32 H x W, the RbA score\n"
               "                 -sum_k S_k, in [-Q, 0]), rba_score.png (heat map, see below)\n"
               "  --dump DIR     also write input, res2..res5, mask_features, multi_scale_0..2,\n"
               "                 pred_logits, pred_masks, rba_score and semantic (int32) as .npy\n"
               "  --pad32        RbA's detectron2 behaviour: zero-pad the image to a multiple of 32,\n"
               "                 upsample the masks to the padded size and crop (default: no padding,\n"
               "                 as UGainS)\n"
               "  --threads N    worker threads (default: UGAINS_THREADS or all cores)\n"
               "  --device D     cpu or cuda (default: UGAINS_DEVICE or cpu)\n"
               "  --precision P  f32 (default) or bf16: GEMMs, convolutions and attention with bf16\n"
               "                 inputs and f32 sums on AVX512-BF16 CPUs (else f32, with one line)\n"
               "  -h, --help     show this help\n"
               "\n"
               "rba_score.png maps the score linearly from -1 (black: confidently in-distribution) to 0\n"
               "(white: no class claims the pixel, i.e. anomalous) through blue, red and yellow; scores\n"
               "below -1 are clamped to black.\n"
               "\n"
               "The files of --out and --dump are written all together, after the model ran, or not at\n"
               "all: a failed run leaves both folders as it found them.\n");
}

// Cityscapes trainId colours (cityscapesScripts labels.py), 0 road .. 18 bicycle; other ids black.
static const uint8_t cityscapes_palette[19][3] = {
    {128, 64, 128},  {244, 35, 232}, {70, 70, 70},  {102, 102, 156}, {190, 153, 153},
    {153, 153, 153}, {250, 170, 30}, {220, 220, 0}, {107, 142, 35},  {152, 251, 152},
    {70, 130, 180},  {220, 20, 60},  {255, 0, 0},   {0, 0, 142},     {0, 0, 70},
    {0, 60, 100},    {0, 80, 100},   {0, 0, 230},   {119, 11, 32},
};

// Heat map stops from -1 to 0 (our choice: a fixed scale, so maps of different images compare).
static const float heat_stops[5][3] = {{0, 0, 0}, {0, 0, 255}, {255, 0, 0}, {255, 255, 0}, {255, 255, 255}};

static void heat_colour(float u, uint8_t rgb[3]) {
    float t = u + 1.0f;  // [-1, 0] -> [0, 1]
    if (!(t > 0)) t = 0; // also NaN
    if (t > 1) t = 1;
    float pos = t * 4.0f;
    int i = (int)pos;
    if (i > 3) i = 3;
    float f = pos - (float)i;
    for (int c = 0; c < 3; c++) {
        float v = heat_stops[i][c] + (heat_stops[i + 1][c] - heat_stops[i][c]) * f;
        rgb[c] = (uint8_t)(v + 0.5f);
    }
}

// One staged output file each.
static ug_status write_png(cli_stage *sg, const char *name, const ug_tensor *t, ug_err *err) {
    char path[4400];
    if (!cli_stage_file(sg, name, path, sizeof path, err)) return err->code;
    return ug_png_write(path, t, err);
}

static ug_status write_npy(cli_stage *sg, const char *name, const ug_tensor *t, ug_err *err) {
    char path[4400];
    if (!cli_stage_file(sg, name, path, sizeof path, err)) return err->code;
    return ug_npy_write(path, t, err);
}

// --dump: the §6 names of the traced tensors; the first write error is kept. Tensors come to
// the host (ug_to_host) before they are written: the model's device may not be the CPU.
typedef struct dumper {
    ug_ctx *ctx;
    cli_stage *stage;
    ug_status st;
    ug_err err;
} dumper;

static void dump_host(dumper *d, const char *name, const ug_tensor *host) {
    char file[64];
    snprintf(file, sizeof file, "%s.npy", name);
    d->st = write_npy(d->stage, file, host, &d->err);
}

static void dump_one(dumper *d, const char *name, const ug_tensor *t) {
    if (d->st != UG_OK) return;
    ug_tensor h;
    if ((d->st = ug_to_host(d->ctx, &h, t, &d->err)) != UG_OK) return;
    dump_host(d, name, &h);
    ug_tensor_free(&h);
}

// The intermediates; the outputs (pred_*, rba_score, semantic) are dumped from rba_output after
// the forward, in the §6 shapes whatever shape the trace reports them in.
static void on_trace(void *user, const char *name, const ug_tensor *t) {
    dumper *d = user;
    const char *dumped = rba_dump_name(name);
    if (dumped) dump_one(d, dumped, t);
}

// §6: semantic as int32 [H, W], from the host copy of the U8 map.
static ug_status semantic_i32(const ug_tensor *sem, ug_tensor *out, ug_err *err) {
    ug_status st = ug_tensor_new(out, UG_I32, sem->ndim, sem->shape, err);
    if (st != UG_OK) return st;
    const uint8_t *src = sem->data;
    int32_t *dst = out->data;
    for (int64_t k = 0; k < ug_tensor_numel(out); k++)
        dst[k] = src[k];
    return UG_OK;
}

// The outputs as host tensors (copies; cheap next to the model).
typedef struct host_outputs {
    ug_tensor score, semantic; // F32 [H, W], U8 [H, W]
} host_outputs;

static ug_status outputs_to_host(ug_ctx *ctx, const rba_output *o, host_outputs *h, ug_err *err) {
    memset(h, 0, sizeof *h);
    ug_status st;
    if ((st = ug_to_host(ctx, &h->score, &o->score, err)) != UG_OK ||
        (st = ug_to_host(ctx, &h->semantic, &o->semantic, err)) != UG_OK)
        ug_tensor_free(&h->score);
    return st;
}

static void host_outputs_free(host_outputs *h) {
    ug_tensor_free(&h->score);
    ug_tensor_free(&h->semantic);
}

static void dump_outputs(dumper *d, const rba_output *o, const host_outputs *h) {
    dump_one(d, "pred_logits", &o->pred_logits); // [Q, K+1]
    dump_one(d, "pred_masks", &o->pred_masks);   // [Q, H/4, W/4]
    if (d->st != UG_OK) return;
    dump_host(d, "rba_score", &h->score); // [H, W]
    ug_tensor s;
    if (d->st == UG_OK && (d->st = semantic_i32(&h->semantic, &s, &d->err)) == UG_OK) {
        dump_host(d, "semantic", &s);
        ug_tensor_free(&s);
    }
}

static ug_status write_outputs(cli_stage *sg, const host_outputs *o, ug_err *err) {
    int64_t H = o->score.shape[0], W = o->score.shape[1];
    ug_tensor color = {0}, heat = {0};
    ug_tensor sem = ug_view_reshape(&o->semantic, UG_DIMS(H, W, 1));
    ug_status st;
    if ((st = write_png(sg, "semantic.png", &sem, err)) != UG_OK) goto done;
    if ((st = ug_tensor_new(&color, UG_U8, UG_DIMS(H, W, 3), err)) != UG_OK ||
        (st = ug_tensor_new(&heat, UG_U8, UG_DIMS(H, W, 3), err)) != UG_OK)
        goto done;
    const uint8_t *s = o->semantic.data;
    const float *u = o->score.data;
    uint8_t *c = color.data, *h = heat.data;
    for (int64_t i = 0; i < H * W; i++) {
        if (s[i] < 19) memcpy(c + 3 * i, cityscapes_palette[s[i]], 3);
        heat_colour(u[i], h + 3 * i);
    }
    if ((st = write_png(sg, "semantic_color.png", &color, err)) != UG_OK) goto done;
    if ((st = write_npy(sg, "rba_score.npy", &o->score, err)) != UG_OK) goto done;
    st = write_png(sg, "rba_score.png", &heat, err);
done:
    ug_tensor_free(&color);
    ug_tensor_free(&heat);
    return st;
}

// Loads, runs, writes and commits; on failure leaves the file system as it found it.
static ug_status rba_main(const char *weights, const char *image, const char *out, const char *dump,
                          bool pad32, int threads, ug_device device, ug_precision precision, ug_err *err) {
    ug_ctx ctx;
    ug_status st = ug_ctx_init(&ctx, threads, err);
    if (st != UG_OK) return st;
    if ((st = cli_use_device(&ctx, device, err)) != UG_OK) {
        ug_ctx_free(&ctx);
        return st;
    }
    cli_use_precision("rba", &ctx, precision);
    rba_model *m = NULL;
    ug_tensor img = {0}, img_dev = {0};
    rba_output o = {0};
    host_outputs ho = {0};
    cli_made_dirs md = {0};
    cli_stage so = {0}, sd = {0};
    dumper d = {&ctx, &sd, UG_OK, {0}};
    nn_trace trace = {on_trace, &d};
    // Inputs first: a bad weights file or image fails before any folder is touched.
    if ((st = ug_file_check_regular(weights, err)) != UG_OK ||
        (st = ug_file_check_regular(image, err)) != UG_OK || (st = rba_load(&m, weights, err)) != UG_OK ||
        (st = ug_image_read(image, UG_IMAGE_RGB, &img, err)) != UG_OK ||
        (st = rba_to_device(m, &ctx, err)) != UG_OK)
        goto done;
    // Folders before the model runs, so an unwritable --out fails in a second, not after a minute.
    if ((st = cli_make_dirs(out, &md, err)) != UG_OK ||
        (dump && (st = cli_make_dirs(dump, &md, err)) != UG_OK))
        goto done;
    if ((st = cli_stage_open(&so, out, "rba", err)) != UG_OK ||
        (dump && (st = cli_stage_open(&sd, dump, "rba", err)) != UG_OK))
        goto done;
    // The image goes to the model's device; the outputs come back in outputs_to_host.
    if ((st = ug_to_device(&ctx, &img_dev, &img, err)) != UG_OK ||
        (st = rba_forward_u8(&ctx, m, &img_dev, pad32, &o, dump ? &trace : NULL, err)) != UG_OK ||
        (st = outputs_to_host(&ctx, &o, &ho, err)) != UG_OK)
        goto done;
    if (dump) dump_outputs(&d, &o, &ho);
    if (d.st != UG_OK) {
        *err = d.err;
        st = d.st;
        goto done;
    }
    if ((st = write_outputs(&so, &ho, err)) != UG_OK || (st = cli_stage_check(&so, err)) != UG_OK ||
        (dump && (st = cli_stage_check(&sd, err)) != UG_OK))
        goto done;
    if ((st = cli_stage_commit(&so, err)) != UG_OK || (dump && (st = cli_stage_commit(&sd, err)) != UG_OK))
        goto done;
done:
    cli_stage_abort(&so);
    cli_stage_abort(&sd);
    cli_made_dirs_undo(&md, st != UG_OK);
    host_outputs_free(&ho);
    rba_output_free(&o);
    ug_tensor_free(&img_dev);
    ug_tensor_free(&img);
    rba_free(m);
    ug_ctx_free(&ctx);
    return st;
}

int cmd_rba(int argc, char **argv) {
    static const struct option opts[] = {
        {"weights", required_argument, 0, 'w'}, {"image", required_argument, 0, 'i'},
        {"out", required_argument, 0, 'o'},     {"dump", required_argument, 0, 'd'},
        {"pad32", no_argument, 0, 'p'},         {"threads", required_argument, 0, 't'},
        {"device", required_argument, 0, 'D'},  {"precision", required_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    const char *weights = NULL, *image = NULL, *out = NULL, *dump = NULL, *device_arg = NULL,
               *precision_arg = NULL;
    ug_device device;
    ug_precision precision;
    bool pad32 = false;
    int threads = 0, c;
    optind = 1;
    opterr = 0; // getopt's own message would not be the one-line "ugains: rba: ..." form
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': weights = optarg; break;
        case 'i': image = optarg; break;
        case 'o': out = optarg; break;
        case 'd': dump = optarg; break;
        case 'p': pad32 = true; break;
        case 'D': device_arg = optarg; break;
        case 'R': precision_arg = optarg; break;
        case 't':
            if (!cli_parse_threads(optarg, &threads)) {
                cli_error("rba: --threads wants a count from 1 to 256, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'h': usage(stdout); return CLI_OK;
        default:
            cli_error("rba: unknown option or missing value: '%s' (see ugains rba --help)", argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (!cli_device("rba", device_arg, &device)) return CLI_USAGE;
    if (!cli_precision("rba", precision_arg, &precision)) return CLI_USAGE;
    if (optind < argc) {
        cli_error("rba: unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if (!weights || !image || !out) {
        cli_error("rba: --weights, --image and --out are required (see ugains rba --help)");
        return CLI_USAGE;
    }

    ug_err err;
    if (rba_main(weights, image, out, dump, pad32, threads, device, precision, &err) != UG_OK) {
        cli_error("rba: %s", err.msg[0] ? err.msg : ug_status_name(err.code));
        return CLI_RUNTIME;
    }
    return CLI_OK;
}
