// apps/cmd_rba.c — `ugains rba`: the RbA branch on one image (models/rba.h, DESIGN §4-§6).
//
// Writes into --out: semantic.png (8-bit trainIds), semantic_color.png (Cityscapes palette),
// rba_score.npy (F32 [H, W]) and rba_score.png (heat map); with --dump DIR the §6 tensors.
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps/cli.h"
#include "engine/ctx.h"
#include "engine/image.h"
#include "engine/npy.h"
#include "models/rba.h"

int cmd_rba(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f,
            "usage: ugains rba --weights RBA --image IMG --out DIR [--dump DIR] [--pad32] [--threads N]\n"
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
            "  -h, --help     show this help\n"
            "\n"
            "rba_score.png maps the score linearly from -1 (black: confidently in-distribution) to 0\n"
            "(white: no class claims the pixel, i.e. anomalous) through blue, red and yellow; scores\n"
            "below -1 are clamped to black.\n");
}

// Cityscapes trainId colours (cityscapesScripts labels.py), 0 road .. 18 bicycle; other ids black.
static const uint8_t cityscapes_palette[19][3] = {
    {128, 64, 128}, {244, 35, 232}, {70, 70, 70},   {102, 102, 156}, {190, 153, 153}, {153, 153, 153}, {250, 170, 30},
    {220, 220, 0},  {107, 142, 35}, {152, 251, 152}, {70, 130, 180}, {220, 20, 60},   {255, 0, 0},     {0, 0, 142},
    {0, 0, 70},     {0, 60, 100},   {0, 80, 100},   {0, 0, 230},     {119, 11, 32},
};

// Heat map stops from -1 to 0 (our choice: a fixed scale, so maps of different images compare).
static const float heat_stops[5][3] = {{0, 0, 0}, {0, 0, 255}, {255, 0, 0}, {255, 255, 0}, {255, 255, 255}};

static void heat_colour(float u, uint8_t rgb[3]) {
    float t = u + 1.0f; // [-1, 0] -> [0, 1]
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

// mkdir -p; fine when the directory exists.
static int make_dirs(const char *path, ug_err *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        ug_errf(err, UG_ERR_ARG, "%s: path too long", path);
        return 0;
    }
    for (char *p = buf + 1;; p++) {
        char ch = *p;
        if (ch == '/' || ch == '\0') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                ug_errf(err, UG_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
                return 0;
            }
            *p = ch;
            if (ch == '\0') break;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        ug_errf(err, UG_ERR_IO, "%s: not a directory", path);
        return 0;
    }
    return 1;
}

// --dump: the §6 names of the traced tensors; the first write error is kept.
typedef struct dumper {
    const char *dir;
    ug_status st;
    ug_err err;
} dumper;

static void dump_one(dumper *d, const char *name, const ug_tensor *t) {
    if (d->st != UG_OK) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", d->dir, name);
    d->st = ug_npy_write(path, t, &d->err);
}

static void on_trace(void *user, const char *name, const ug_tensor *t) {
    dumper *d = user;
    static const struct {
        const char *traced, *dumped;
    } names[] = {
        {"input", "input"},
        {"backbone_res2", "res2"},
        {"backbone_res3", "res3"},
        {"backbone_res4", "res4"},
        {"backbone_res5", "res5"},
        {"pd_mask_features", "mask_features"},
        {"pd_multi_scale_features0", "multi_scale_0"},
        {"pd_multi_scale_features1", "multi_scale_1"},
        {"pd_multi_scale_features2", "multi_scale_2"},
        {"pred_logits", "pred_logits"},
        {"pred_masks", "pred_masks"},
        {"rba_score", "rba_score"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].traced)) {
            dump_one(d, names[i].dumped, t);
            return;
        }
    if (!strcmp(name, "semantic_argmax")) { // §6: int32
        ug_tensor s;
        if (d->st == UG_OK && (d->st = ug_tensor_new(&s, UG_I32, t->ndim, t->shape, &d->err)) == UG_OK) {
            const uint8_t *src = t->data;
            int32_t *dst = s.data;
            for (int64_t k = 0; k < ug_tensor_numel(t); k++) dst[k] = src[k];
            dump_one(d, "semantic", &s);
            ug_tensor_free(&s);
        }
    }
}

static ug_status write_outputs(const char *dir, const rba_output *o, ug_err *err) {
    int64_t H = o->score.shape[0], W = o->score.shape[1];
    char path[4096];
    ug_tensor color = {0}, heat = {0};
    ug_tensor sem = ug_tensor_wrap(o->semantic.data, UG_U8, UG_DIMS(H, W, 1));
    ug_status st;
    snprintf(path, sizeof path, "%s/semantic.png", dir);
    if ((st = ug_png_write(path, &sem, err)) != UG_OK) goto done;
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
    snprintf(path, sizeof path, "%s/semantic_color.png", dir);
    if ((st = ug_png_write(path, &color, err)) != UG_OK) goto done;
    snprintf(path, sizeof path, "%s/rba_score.npy", dir);
    if ((st = ug_npy_write(path, &o->score, err)) != UG_OK) goto done;
    snprintf(path, sizeof path, "%s/rba_score.png", dir);
    st = ug_png_write(path, &heat, err);
done:
    ug_tensor_free(&color);
    ug_tensor_free(&heat);
    return st;
}

int cmd_rba(int argc, char **argv) {
    static const struct option opts[] = {
        {"weights", required_argument, 0, 'w'}, {"image", required_argument, 0, 'i'},
        {"out", required_argument, 0, 'o'},     {"dump", required_argument, 0, 'd'},
        {"pad32", no_argument, 0, 'p'},         {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    const char *weights = NULL, *image = NULL, *out = NULL, *dump = NULL;
    bool pad32 = false;
    int threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': weights = optarg; break;
        case 'i': image = optarg; break;
        case 'o': out = optarg; break;
        case 'd': dump = optarg; break;
        case 'p': pad32 = true; break;
        case 't':
            if (!cli_parse_threads(optarg, &threads)) {
                cli_error("rba: --threads wants a count from 1 to 256, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'h': usage(stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("rba: unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if (!weights || !image || !out) {
        cli_error("rba: --weights, --image and --out are required (see ugains rba --help)");
        return CLI_USAGE;
    }

    ug_err err;
    ug_ctx ctx;
    if (ug_ctx_init(&ctx, threads, &err) != UG_OK) return cli_fail(&err);
    rba_model *m = NULL;
    ug_tensor img = {0};
    rba_output o = {0};
    int rc = CLI_RUNTIME;
    if (rba_load(&m, weights, &err) != UG_OK || ug_image_read(image, UG_IMAGE_RGB, &img, &err) != UG_OK ||
        !make_dirs(out, &err) || (dump && !make_dirs(dump, &err))) {
        rc = cli_fail(&err);
        goto done;
    }
    dumper d = {dump, UG_OK, {0}};
    rba_trace trace = {on_trace, &d};
    if (rba_forward_u8(&ctx, m, &img, pad32, &o, dump ? &trace : NULL, &err) != UG_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    if (d.st != UG_OK) {
        rc = cli_fail(&d.err);
        goto done;
    }
    if (write_outputs(out, &o, &err) != UG_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    rc = CLI_OK;
done:
    rba_output_free(&o);
    ug_tensor_free(&img);
    rba_free(m);
    ug_ctx_free(&ctx);
    return rc;
}
