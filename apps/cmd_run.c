// apps/cmd_run.c — `ugains run`: the UGainS pipeline over images and directories
// (DESIGN §4, outputs §5, dumps §6).
//
// Each model is loaded once per run. Every image's outputs are written into a hidden
// temporary folder next to the final one (`OUT/.tmp-<stem>-XXXXXX`) and renamed into place
// when complete, so an interrupted run never leaves a half-written `OUT/<stem>`; a later run
// removes the stale temporary folders of the images it processes. An existing `OUT/<stem>`
// means the image is done and is skipped unless --overwrite.
//
// --shard I/N keeps every N-th image of the expanded list, starting at the I-th (round robin),
// so N processes or cluster jobs split one data set with no coordination.
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/cli.h"
#include "apps/outputs.h"
#include "engine/fileio.h"
#include "engine/image.h"
#include "engine/json.h"
#include "engine/npy.h"
#include "engine/timer.h"
#include "ops/ops.h"
#include "pipeline/inputs.h"
#include "pipeline/ugains.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ugains run --rba RBA --sam SAM --out DIR [options] IMG|DIR...\n"
               "\n"
               "Runs UGainS (RbA scores, point proposals, SAM masks, NMS, refined score) on every\n"
               "image given and every PNG/JPEG directly inside each directory given. Each image's\n"
               "outputs go to DIR/<image stem>/: semantic.png, semantic_color.png, rba_score.npy,\n"
               "anomaly.npy, anomaly.png, instances.json, instance_NNN.png, overlay.png.\n"
               "\n"
               "options:\n"
               "  --rba FILE            packed RbA weights (ugains pack)\n"
               "  --sam FILE            packed SAM weights\n"
               "  --out DIR             output folder (created if missing)\n"
               "  --ignore-mask PNG     pixels to ignore (non-zero), the size of every image\n"
               "  --ignore-overlap N    drop masks with >= N pixels in the ignore mask (100)\n"
               "  --points K            number of point prompts (50; grid: round(sqrt(K))^2,\n"
               "                        1024 = SAM's 32x32 grid)\n"
               "  --threshold T         candidate pixels have RbA score >= T (-0.15)\n"
               "  --sampler S           fps, kmeans, random or grid (fps)\n"
               "  --fps-ties R          official (the pointnet2 CUDA kernel's rule) or lowest\n"
               "  --nms IOU             mask NMS threshold (0.7)\n"
               "  --seed N              seed of the kmeans and random samplers (0)\n"
               "  --pad32               RbA with detectron2's padding to a multiple of 32\n"
               "  --overwrite           redo images whose output folder exists\n"
               "  --shard I/N           only the images at positions I, I+N, I+2N, ... (0-based) of\n"
               "                        the list (directories expanded and sorted by name): N runs\n"
               "                        with I = 0..N-1 split the images into disjoint slices.\n"
               "                        Round robin, so every slice gets images from the whole\n"
               "                        list (sequences, cities) and sizes differ by at most one.\n"
               "                        Slurm: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\n"
               "  --dump DIR            write the intermediate tensors as .npy to DIR/<stem>/\n"
               "  --threads N           worker threads (default: UGAINS_THREADS or all cores)\n"
               "  --device D            cpu or cuda (default: UGAINS_DEVICE or cpu)\n"
               "  --precision P         f32 (default) or bf16: GEMMs, convolutions and attention of\n"
               "                        both models with bf16 inputs and f32 sums on AVX512-BF16\n"
               "                        CPUs (else f32, with one line)\n"
               "  -q, --quiet           no progress output\n"
               "  -h, --help            show this help\n");
}

// ---- file system helpers ----

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

static void rmtree(const char *path) {
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

typedef struct strlist {
    char **v;
    int n, cap;
} strlist;

static bool strlist_add(strlist *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return false;
    l->n++;
    return true;
}

static void strlist_free(strlist *l) {
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Images of a directory (not recursive, sorted by name).
static ug_status list_dir(const char *dir, strlist *out, ug_err *err) {
    DIR *d = opendir(dir);
    if (!d) return ug_errf(err, UG_ERR_IO, "%s: %s", dir, strerror(errno));
    strlist names = {0};
    struct dirent *e;
    ug_status st = UG_OK;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && has_image_ext(e->d_name) && !strlist_add(&names, e->d_name)) {
            st = ug_errf(err, UG_ERR_NOMEM, "%s: listing", dir);
            break;
        }
    closedir(d);
    if (names.n) qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);
    for (int i = 0; st == UG_OK && i < names.n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names.v[i]);
        if (!strlist_add(out, path)) st = ug_errf(err, UG_ERR_NOMEM, "%s: listing", dir);
    }
    strlist_free(&names);
    return st;
}

// File name without directory and last extension.
static void stem_of(const char *path, char *stem, size_t n) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(stem, n, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
}

// Removes OUT/.tmp-<stem>-* left by an interrupted run.
static void remove_stale(const char *out, const char *stem) {
    char prefix[1100];
    snprintf(prefix, sizeof prefix, ".tmp-%s-", stem);
    size_t plen = strlen(prefix);
    DIR *d = opendir(out);
    if (!d) return;
    strlist stale = {0};
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, plen) && strlen(e->d_name) == plen + 6)
            strlist_add(&stale, e->d_name);
    closedir(d);
    for (int i = 0; i < stale.n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", out, stale.v[i]);
        rmtree(p);
    }
    strlist_free(&stale);
}

static ug_status mkdir_p(const char *path, ug_err *err) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST)
                return ug_errf(err, UG_ERR_IO, "%s: %s", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) && errno != EEXIST) return ug_errf(err, UG_ERR_IO, "%s: %s", buf, strerror(errno));
    return UG_OK;
}

// ---- pictures ----

// Cityscapes trainId colours (cityscapesScripts labels.py); other ids are black.
static const uint8_t city_palette[19][3] = {
    {128, 64, 128},  {244, 35, 232}, {70, 70, 70},  {102, 102, 156}, {190, 153, 153},
    {153, 153, 153}, {250, 170, 30}, {220, 220, 0}, {107, 142, 35},  {152, 251, 152},
    {70, 130, 180},  {220, 20, 60},  {255, 0, 0},   {0, 0, 142},     {0, 0, 70},
    {0, 60, 100},    {0, 80, 100},   {0, 0, 230},   {119, 11, 32},
};

// Heat map colours from low to high (dark purple -> red -> yellow), linear in between.
static void heat_colour(float t, uint8_t rgb[3]) {
    static const float stops[5][3] = {
        {0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    float x = t * 4;
    int i = (int)x;
    if (i > 3) i = 3;
    float f = x - (float)i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (uint8_t)lrintf(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * f);
}

// Distinct outline colours per instance id.
static void id_colour(int id, uint8_t rgb[3]) {
    static const uint8_t pal[8][3] = {{255, 64, 64}, {64, 255, 64}, {64, 160, 255}, {255, 255, 0},
                                      {255, 0, 255}, {0, 255, 255}, {255, 160, 0},  {255, 255, 255}};
    memcpy(rgb, pal[id % 8], 3);
}

// 3x5 digits, one row per 3 bits.
static const uint8_t digits[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
};

static void put_px(uint8_t *img, int H, int W, int x, int y, const uint8_t rgb[3]) {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    memcpy(img + ((int64_t)y * W + x) * 3, rgb, 3);
}

// The number at (x, y), 2x scaled, on a black box.
static void draw_number(uint8_t *img, int H, int W, int x, int y, int v, const uint8_t rgb[3]) {
    char s[16];
    int n = snprintf(s, sizeof s, "%d", v);
    static const uint8_t black[3] = {0, 0, 0};
    for (int yy = -1; yy < 11; yy++)
        for (int xx = -1; xx < n * 8; xx++)
            put_px(img, H, W, x + xx, y + yy, black);
    for (int k = 0; k < n; k++)
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++)
                if (digits[s[k] - '0'][r] >> (2 - c) & 1)
                    for (int d = 0; d < 4; d++)
                        put_px(img, H, W, x + k * 8 + 2 * c + d % 2, y + 2 * r + d / 2, rgb);
}

// ---- writing one image's outputs ----

static ug_status write_png(const char *dir, const char *name, const ug_tensor *t, ug_err *err) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return ug_png_write(p, t, err);
}

static ug_status write_npy(const char *dir, const char *name, const ug_tensor *t, ug_err *err) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p)
        return ug_errf(err, UG_ERR_ARG, "%s/%s: path too long", dir, name);
    return ug_npy_write(p, t, err);
}

static ug_status write_instances_json(const char *dir, const char *image_name, const ugains_result *r,
                                      ug_err *err) {
    ug_json_writer w;
    ug_jw_init(&w, 2);
    ug_jw_object_begin(&w);
    ug_jw_key(&w, "image");
    ug_jw_string(&w, image_name);
    ug_jw_key(&w, "height");
    ug_jw_int(&w, r->H);
    ug_jw_key(&w, "width");
    ug_jw_int(&w, r->W);
    ug_jw_key(&w, "num_candidates");
    ug_jw_int(&w, r->ncandidates);
    ug_jw_key(&w, "num_points");
    ug_jw_int(&w, r->npoints);
    ug_jw_key(&w, "instances");
    ug_jw_array_begin(&w);
    ug_status st = UG_OK;
    for (int a = 0; a < r->nkeep && st == UG_OK; a++) {
        int q = r->keep[a], bb[4];
        char png[32], *counts = NULL;
        snprintf(png, sizeof png, "instance_%03d.png", a);
        instances_bbox(&r->masks, q, bb);
        if ((st = instances_rle(&r->masks, q, &counts, err)) != UG_OK) break;
        ug_jw_object_begin(&w);
        ug_jw_key(&w, "id");
        ug_jw_int(&w, a);
        ug_jw_key(&w, "score");
        ug_jw_float(&w, r->scores[q]);
        ug_jw_key(&w, "point_index");
        ug_jw_int(&w, q);
        ug_jw_key(&w, "point");
        ug_jw_array_begin(&w);
        ug_jw_float(&w, r->points[2 * q]);
        ug_jw_float(&w, r->points[2 * q + 1]);
        ug_jw_array_end(&w);
        ug_jw_key(&w, "predicted_iou");
        ug_jw_float(&w, r->chosen_iou[q]);
        ug_jw_key(&w, "bbox");
        ug_jw_array_begin(&w);
        for (int k = 0; k < 4; k++)
            ug_jw_int(&w, bb[k]);
        ug_jw_array_end(&w);
        ug_jw_key(&w, "area");
        ug_jw_int(&w, r->masks.area[q]);
        ug_jw_key(&w, "segmentation");
        ug_jw_object_begin(&w);
        ug_jw_key(&w, "size");
        ug_jw_array_begin(&w);
        ug_jw_int(&w, r->H);
        ug_jw_int(&w, r->W);
        ug_jw_array_end(&w);
        ug_jw_key(&w, "counts");
        ug_jw_string(&w, counts);
        ug_jw_object_end(&w);
        ug_jw_key(&w, "mask_png");
        ug_jw_string(&w, png);
        ug_jw_object_end(&w);
        free(counts);
    }
    ug_jw_array_end(&w);
    ug_jw_object_end(&w);
    char *text = NULL;
    size_t len = 0;
    if (st != UG_OK) {
        ug_jw_free(&w);
        return st;
    }
    if ((st = ug_jw_finish(&w, &text, &len, err)) != UG_OK) return st;
    char p[4200];
    snprintf(p, sizeof p, "%s/instances.json", dir);
    ug_atomic_file af;
    st = ug_atomic_open(&af, p, err);
    if (st == UG_OK) {
        if (fwrite(text, 1, len, af.f) != len || fputc('\n', af.f) == EOF) {
            ug_atomic_abort(&af);
            st = ug_errf(err, UG_ERR_IO, "%s: write failed", p);
        } else {
            st = ug_atomic_commit(&af, err);
        }
    }
    free(text);
    return st;
}

static ug_status write_outputs(const char *dir, const char *image_name, const ug_tensor *img,
                               const ugains_result *r, ug_err *err) {
    int H = r->H, W = r->W;
    int64_t HW = (int64_t)H * W;
    ug_tensor rgb = {0}, gray = {0};
    ug_status st;
    if ((st = write_png(dir, "semantic.png", &r->semantic, err)) != UG_OK) return st;
    if ((st = ug_tensor_new(&rgb, UG_U8, UG_DIMS(H, W, 3), err)) != UG_OK) return st; // [H, W, 3]
    if ((st = ug_tensor_new(&gray, UG_U8, UG_DIMS(H, W), err)) != UG_OK) goto done;   // [H, W]
    uint8_t *c = rgb.data, *g = gray.data;
    const uint8_t *sem = r->semantic.data;
    for (int64_t p = 0; p < HW; p++) {
        static const uint8_t black[3] = {0, 0, 0};
        memcpy(c + 3 * p, sem[p] < 19 ? city_palette[sem[p]] : black, 3);
    }
    if ((st = write_png(dir, "semantic_color.png", &rgb, err)) != UG_OK) goto done;
    if ((st = write_npy(dir, "rba_score.npy", &r->score, err)) != UG_OK) goto done;
    if ((st = write_npy(dir, "anomaly.npy", &r->refined, err)) != UG_OK) goto done;
    // Heat map of the refined score over its own range.
    const float *a = r->refined.data;
    float lo = a[0], hi = a[0];
    for (int64_t p = 1; p < HW; p++) {
        if (a[p] < lo) lo = a[p];
        if (a[p] > hi) hi = a[p];
    }
    for (int64_t p = 0; p < HW; p++)
        heat_colour(hi > lo ? (a[p] - lo) / (hi - lo) : 0.0f, c + 3 * p);
    if ((st = write_png(dir, "anomaly.png", &rgb, err)) != UG_OK) goto done;
    if ((st = write_instances_json(dir, image_name, r, err)) != UG_OK) goto done;
    for (int k = 0; k < r->nkeep; k++) {
        char name[32];
        snprintf(name, sizeof name, "instance_%03d.png", k);
        for (int64_t p = 0; p < HW; p++)
            g[p] = inst_mask_get(&r->masks, r->keep[k], p) ? 255 : 0;
        if ((st = write_png(dir, name, &gray, err)) != UG_OK) goto done;
    }
    // Overlay: the image, each instance's outline in its colour, its id at its point.
    memcpy(c, img->data, (size_t)HW * 3);
    for (int k = 0; k < r->nkeep; k++) {
        int q = r->keep[k];
        uint8_t col[3];
        id_colour(k, col);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int64_t p = (int64_t)y * W + x;
                if (!inst_mask_get(&r->masks, q, p)) continue;
                bool edge = x == 0 || y == 0 || x == W - 1 || y == H - 1 ||
                            !inst_mask_get(&r->masks, q, p - 1) || !inst_mask_get(&r->masks, q, p + 1) ||
                            !inst_mask_get(&r->masks, q, p - W) || !inst_mask_get(&r->masks, q, p + W);
                if (edge) memcpy(c + 3 * p, col, 3);
            }
    }
    for (int k = 0; k < r->nkeep; k++) {
        uint8_t col[3];
        id_colour(k, col);
        int q = r->keep[k];
        draw_number(c, H, W, (int)r->points[2 * q] + 2, (int)r->points[2 * q + 1] + 2, k, col);
    }
    st = write_png(dir, "overlay.png", &rgb, err);
done:
    ug_tensor_free(&rgb);
    ug_tensor_free(&gray);
    return st;
}

// ---- dumps ----

typedef struct dumper {
    ug_ctx *ctx;
    char dir[4096];
    ug_status st;
    ug_err err;
} dumper;

// Traced tensors may be on ctx->device: written from a host copy.
static void on_dump(void *user, const char *name, const ug_tensor *t) {
    dumper *d = user;
    if (d->st != UG_OK) return;
    ug_tensor h;
    if ((d->st = ug_to_host(d->ctx, &h, t, &d->err)) != UG_OK) return;
    char file[300];
    snprintf(file, sizeof file, "%s.npy", name);
    d->st = write_npy(d->dir, file, &h, &d->err);
    ug_tensor_free(&h);
}

// ---- the command ----

typedef struct run_args {
    const char *rba, *sam, *out, *ignore, *dump;
    ugains_opts o;
    bool overwrite, quiet;
    int threads;
    ug_device device;
    ug_precision precision;
    long shard_i, shard_n; // --shard I/N (0/1: every image)
} run_args;

// "I/N": decimal integers without sign or spaces, N >= 1, 0 <= I < N.
static bool parse_shard(const char *s, long *i, long *n) {
    long v[2];
    const char *p = s;
    for (int k = 0; k < 2; k++) {
        if (*p < '0' || *p > '9') return false;
        char *end;
        errno = 0;
        v[k] = strtol(p, &end, 10);
        if (errno || *end != (k == 0 ? '/' : '\0')) return false;
        p = end + 1;
    }
    if (v[1] < 1 || v[0] >= v[1]) return false;
    *i = v[0];
    *n = v[1];
    return true;
}

static bool parse_num(const char *s, double lo, double hi, double *v) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno || !(x >= lo && x <= hi)) return false;
    *v = x;
    return true;
}

static int parse_args(int argc, char **argv, run_args *a) {
    static const struct option opts[] = {
        {"rba", required_argument, 0, 'r'},
        {"sam", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},
        {"ignore-mask", required_argument, 0, 'i'},
        {"ignore-overlap", required_argument, 0, 'I'},
        {"points", required_argument, 0, 'k'},
        {"threshold", required_argument, 0, 't'},
        {"sampler", required_argument, 0, 'S'},
        {"fps-ties", required_argument, 0, 'T'},
        {"nms", required_argument, 0, 'n'},
        {"seed", required_argument, 0, 'e'},
        {"pad32", no_argument, 0, 'p'},
        {"overwrite", no_argument, 0, 'w'},
        {"shard", required_argument, 0, 'x'},
        {"dump", required_argument, 0, 'd'},
        {"threads", required_argument, 0, 'j'},
        {"device", required_argument, 0, 'D'},
        {"precision", required_argument, 0, 'R'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    a->shard_n = 1;
    ugains_opts_default(&a->o);
    bool points_given = false;
    const char *device = NULL, *precision = NULL;
    int c;
    double v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': a->rba = optarg; break;
        case 'D': device = optarg; break;
        case 'R': precision = optarg; break;
        case 's': a->sam = optarg; break;
        case 'o': a->out = optarg; break;
        case 'i': a->ignore = optarg; break;
        case 'd': a->dump = optarg; break;
        case 'p': a->o.pad32 = true; break;
        case 'w': a->overwrite = true; break;
        case 'x':
            if (!parse_shard(optarg, &a->shard_i, &a->shard_n)) {
                cli_error("run: --shard wants I/N with integers 0 <= I < N (e.g. 0/4), got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'q': a->quiet = true; break;
        case 'I':
            if (!parse_num(optarg, 0, 1e15, &v) || v != floor(v)) {
                cli_error("run: --ignore-overlap wants a pixel count, got '%s'", optarg);
                return CLI_USAGE;
            }
            a->o.ignore_overlap = (int64_t)v;
            break;
        case 'k':
            if (!parse_num(optarg, 1, 1 << 20, &v) || v != floor(v)) {
                cli_error("run: --points wants a positive integer, got '%s'", optarg);
                return CLI_USAGE;
            }
            a->o.prop.points = (int)v;
            points_given = true;
            break;
        case 't':
            if (!parse_num(optarg, -1e30, 1e30, &v)) {
                cli_error("run: --threshold wants a number, got '%s'", optarg);
                return CLI_USAGE;
            }
            a->o.prop.threshold = (float)v;
            break;
        case 'n':
            if (!parse_num(optarg, 0, 1, &v)) {
                cli_error("run: --nms wants an IoU in [0, 1], got '%s'", optarg);
                return CLI_USAGE;
            }
            a->o.nms = (float)v;
            break;
        case 'e': {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *optarg == '-' || *end || errno) {
                cli_error("run: --seed wants a non-negative integer, got '%s'", optarg);
                return CLI_USAGE;
            }
            a->o.prop.seed = s;
            break;
        }
        case 'S':
            if (!strcmp(optarg, "fps"))
                a->o.prop.sampler = PROPOSALS_FPS;
            else if (!strcmp(optarg, "kmeans"))
                a->o.prop.sampler = PROPOSALS_KMEANS;
            else if (!strcmp(optarg, "random"))
                a->o.prop.sampler = PROPOSALS_RANDOM;
            else if (!strcmp(optarg, "grid"))
                a->o.prop.sampler = PROPOSALS_GRID;
            else {
                cli_error("run: --sampler wants fps, kmeans, random or grid, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'T':
            if (!strcmp(optarg, "official"))
                a->o.prop.ties = PROPOSALS_TIES_OFFICIAL;
            else if (!strcmp(optarg, "lowest"))
                a->o.prop.ties = PROPOSALS_TIES_LOWEST;
            else {
                cli_error("run: --fps-ties wants official or lowest, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'j':
            if (!cli_parse_threads(optarg, &a->threads)) {
                cli_error("run: --threads wants 1..256, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'h': usage(stdout); return -1;
        default: return CLI_USAGE;
        }
    }
    if (!cli_device("run", device, &a->device)) return CLI_USAGE;
    if (!cli_precision("run", precision, &a->precision)) return CLI_USAGE;
    // SAM's automatic grid is 32 x 32 unless --points says otherwise.
    if (a->o.prop.sampler == PROPOSALS_GRID && !points_given) a->o.prop.points = 1024;
    if (!a->rba || !a->sam || !a->out) {
        cli_error("run: --rba, --sam and --out are required (see ugains run --help)");
        return CLI_USAGE;
    }
    if (optind >= argc) {
        cli_error("run: no image or directory given (see ugains run --help)");
        return CLI_USAGE;
    }
    return CLI_OK;
}

static void fmt_secs(char *buf, size_t n, double s) {
    long t = lround(s);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

// One image: pipeline, outputs into a temporary folder, rename into place.
static ug_status run_one(ug_ctx *ctx, const run_args *a, const rba_model *rba, const sam_model *sam,
                         const ug_tensor *ignore, const char *path, const char *stem, int *ninst,
                         ug_err *err) {
    ug_tensor img = {0};
    ugains_result r;
    memset(&r, 0, sizeof r);
    char tmp[4096] = "", final[4096], old[4096] = "";
    snprintf(final, sizeof final, "%s/%s", a->out, stem);
    ug_status st = ug_file_check_regular(path, err);
    if (st == UG_OK) st = ug_image_read(path, UG_IMAGE_RGB, &img, err);
    if (st != UG_OK) return st;
    if (ignore && (st = ugains_ignore_mask_check(ignore, a->ignore, &img, path, err)) != UG_OK) goto done;
    dumper d = {.ctx = ctx, .st = UG_OK};
    nn_trace tr = {on_dump, &d};
    if (a->dump) {
        snprintf(d.dir, sizeof d.dir, "%s/%s", a->dump, stem);
        if ((st = mkdir_p(d.dir, err)) != UG_OK) goto done;
    }
    st = ugains_run_image(ctx, rba, sam, &img, ignore ? ignore->data : NULL, &a->o, &r, a->dump ? &tr : NULL,
                          err);
    if (st != UG_OK) {
        ug_err_prefix(err, "%s: ", path);
        goto done;
    }
    if (d.st != UG_OK) {
        *err = d.err;
        st = d.st;
        goto done;
    }
    remove_stale(a->out, stem);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s-XXXXXX", a->out, stem);
    if (!mkdtemp(tmp)) {
        st = ug_errf(err, UG_ERR_IO, "%s: cannot create a temporary folder: %s", a->out, strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    const char *base = strrchr(path, '/');
    if ((st = write_outputs(tmp, base ? base + 1 : path, &img, &r, err)) != UG_OK) goto done;
    if (is_dir(final)) { // --overwrite: move the old folder aside, then swap
        snprintf(old, sizeof old, "%s/.tmp-%s-XXXXXX", a->out, stem);
        if (!mkdtemp(old) || rename(final, old)) {
            st = ug_errf(err, UG_ERR_IO, "%s: cannot move the old outputs aside: %s", final, strerror(errno));
            goto done;
        }
    }
    if (rename(tmp, final)) {
        st = ug_errf(err, UG_ERR_IO, "%s: rename failed: %s", final, strerror(errno));
        goto done;
    }
    tmp[0] = '\0';
    *ninst = r.nkeep;
done:
    if (tmp[0]) rmtree(tmp);
    if (old[0]) rmtree(old);
    ugains_result_free(&r);
    ug_tensor_free(&img);
    return st;
}

int cmd_run(int argc, char **argv) {
    run_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc < 0) return CLI_OK;
    if (rc != CLI_OK) return rc;
    ug_err err;
    strlist images = {0};
    for (int i = optind; i < argc; i++) {
        if (is_dir(argv[i])) {
            if (list_dir(argv[i], &images, &err) != UG_OK) {
                strlist_free(&images);
                return cli_fail(&err);
            }
        } else if (access(argv[i], R_OK) == 0) {
            if (!strlist_add(&images, argv[i])) {
                cli_error("run: out of memory listing the images");
                strlist_free(&images);
                return CLI_RUNTIME;
            }
        } else {
            cli_error("%s: %s", argv[i], strerror(errno));
            strlist_free(&images);
            return CLI_RUNTIME;
        }
    }
    // --shard I/N: the images at positions I, I + N, ... of the whole list.
    if (a.shard_n > 1) {
        int kept = 0;
        for (int i = 0; i < images.n; i++) {
            if (i % a.shard_n == a.shard_i)
                images.v[kept++] = images.v[i];
            else
                free(images.v[i]);
        }
        images.n = kept;
    }
    ug_ctx ctx;
    rba_model *rba = NULL;
    sam_model *sam = NULL;
    ug_tensor ignore = {0};
    bool have_ctx = false;
    cli_made_dirs md = {0}; // --out and its parents, removed again (when empty) by a failed run
    rc = CLI_OK;
    if (ug_ctx_init(&ctx, a.threads, &err) != UG_OK) goto fail;
    have_ctx = true;
    if (cli_use_device(&ctx, a.device, &err) != UG_OK) goto fail;
    cli_use_precision("run", &ctx, a.precision);
    if (cli_make_dirs(a.out, &md, &err) != UG_OK) goto fail;
    if (a.ignore) {
        if (ug_file_check_regular(a.ignore, &err) != UG_OK ||
            ug_image_read(a.ignore, UG_IMAGE_GRAY, &ignore, &err) != UG_OK)
            goto fail;
    }
    // Models are loaded once, and only when some image still needs them.
    int todo = 0;
    for (int i = 0; i < images.n; i++) {
        char stem[1024], final[4096];
        stem_of(images.v[i], stem, sizeof stem);
        snprintf(final, sizeof final, "%s/%s", a.out, stem);
        todo += a.overwrite || !is_dir(final);
    }
    if (todo > 0) {
        if (ug_file_check_regular(a.rba, &err) != UG_OK || rba_load(&rba, a.rba, &err) != UG_OK) goto fail;
        if (ug_file_check_regular(a.sam, &err) != UG_OK || sam_load(&sam, a.sam, &err) != UG_OK) goto fail;
        if (rba_to_device(rba, &ctx, &err) != UG_OK || sam_to_device(sam, &ctx, &err) != UG_OK) goto fail;
    }
    bool tty = isatty(STDERR_FILENO);
    int done = 0, failed = 0, skipped = 0;
    bool stopped = false;
    double spent = 0;
    for (int i = 0; i < images.n; i++) {
        char stem[1024], final[4096];
        stem_of(images.v[i], stem, sizeof stem);
        snprintf(final, sizeof final, "%s/%s", a.out, stem);
        if (!a.overwrite && is_dir(final)) {
            skipped++;
            if (!a.quiet && !tty)
                fprintf(stderr, "[%d/%d] %s: done already, skipped\n", i + 1, images.n, stem);
            continue;
        }
        if (!a.quiet && tty) {
            char eta[32] = "?";
            if (done > 0) fmt_secs(eta, sizeof eta, spent / 1000.0 / done * (todo - done));
            fprintf(stderr, "\r\033[K[%d/%d] %s  %.2f s/image  ETA %s", i + 1, images.n, stem,
                    done ? spent / done / 1000.0 : 0.0, eta);
            fflush(stderr);
        }
        double t0 = ug_now_ms();
        int ninst = 0;
        ug_status st =
            run_one(&ctx, &a, rba, sam, a.ignore ? &ignore : NULL, images.v[i], stem, &ninst, &err);
        double ms = ug_now_ms() - t0;
        if (st != UG_OK) {
            if (tty && !a.quiet) fputc('\n', stderr);
            if (err.code == UG_ERR_NOMEM) { // the next images would fail the same way
                cli_error("%s (out of memory: run stopped, %d of %d images done)", err.msg, done + skipped,
                          images.n);
                stopped = true;
                break;
            }
            cli_error("%s", err.msg);
            failed++;
            todo--;
            continue;
        }
        done++;
        spent += ms;
        if (!a.quiet && !tty) {
            char eta[32];
            fmt_secs(eta, sizeof eta, spent / 1000.0 / done * (todo - done));
            fprintf(stderr, "[%d/%d] %s: %d instances, %.2f s (%.2f s/image, ETA %s)\n", i + 1, images.n,
                    stem, ninst, ms / 1000.0, spent / done / 1000.0, eta);
        }
    }
    if (!a.quiet && !stopped) {
        if (tty) fputs("\r\033[K", stderr);
        fprintf(stderr, "ugains run: %d done, %d skipped, %d failed -> %s\n", done, skipped, failed, a.out);
    }
    rc = failed || stopped ? CLI_RUNTIME : CLI_OK;
    goto out;
fail:
    rc = cli_fail(&err);
out:
    cli_made_dirs_undo(&md, rc != CLI_OK);
    rba_free(rba);
    sam_free(sam);
    ug_tensor_free(&ignore);
    if (have_ctx) ug_ctx_free(&ctx);
    strlist_free(&images);
    return rc;
}
