// apps/cmd_eval.c — `ugains eval`: pAP, FPR95, AUROC over every non-ignored pixel of a data
// set, iAP / iAP50 with the Cityscapes instance protocol (DESIGN §7, eval/metrics.h); prints a
// table and writes metrics.json.
//
// Layouts (--gt):
//   fs_lost_found  gtCoarse/<split>/<city>/<name>_gtCoarse_labelTrainIds.png (8-bit: 0 inlier,
//                  1 anomaly, 255 ignore; 2 also reads as ignore, as the release's
//                  id2trainid = [0, 1, 255] maps it) and <name>_gtCoarse_instanceIds.png (16-bit
//                  Cityscapes ids) for every split; predictions in <pred>/<name>_leftImg8bit/.
//   road_anomaly   frames/<stem>.jpg with frames/<stem>.labels/labels_semantic.png, the layout
//                  of the RoadAnomaly release (LabelGrab output: 0 background, 1 road, 2 anomaly;
//                  255 is read as ignore), as the road-anomaly-benchmark and the mmseg loader
//                  read it: 2 is the anomaly, 0 and 1 are inliers, every pixel is evaluated. --gt may
//                  name the data set root or its frames/ folder. Predictions in <pred>/<stem>/.
//                  Pixel level only: the release has no Cityscapes-style instance ids.
// --pred may be given several times (the --out folders of `ugains run --shard` jobs): an image's
// prediction folder is looked up in every one of them; one in two folders is a usage error.
// Every prediction folder holds anomaly.npy (float32 [H, W]) and, for the instance level,
// instances.json with {"instances": [{"score", "mask_png", ...}]}.
//
// The pixel metrics read the label and score files once per pass of eval/metrics.c (one pass
// unless the data set exceeds the memory budget); the instance level runs in the first pass.
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps/cli.h"
#include "engine/fileio.h"
#include "engine/image.h"
#include "engine/json.h"
#include "engine/npy.h"
#include "engine/tensor.h"
#include "eval/metrics.h"

typedef enum dataset { DS_FS_LAF, DS_ROAD_ANOMALY } dataset;

typedef struct eval_image {
    char *name;   // what errors and the table call it
    char *split;  // fs_lost_found only
    char *labels; // label file
    char *inst;   // instanceIds file (fs_lost_found) or NULL
    char *pred;   // prediction folder
} eval_image;

typedef struct image_list {
    eval_image *v;
    int n, cap;
} image_list;

static void usage(FILE *f) {
    fprintf(f, "usage: ugains eval --pred DIR --gt DIR [--dataset fs_lost_found|road_anomaly] [options]\n"
               "\n"
               "Pixel level: pAP, FPR95, AUROC over every non-ignored pixel of the data set (exact:\n"
               "sklearn's average_precision_score, roc_curve, auc). Instance level: iAP and iAP50 with\n"
               "the Cityscapes instance protocol for one anomaly class (minimum region 10 px).\n"
               "Values are percentages. Prints a table and writes metrics.json.\n"
               "\n"
               "  --pred DIR       the output folder of `ugains run` (one folder per image); repeat\n"
               "                   it for the union of several (ugains run --shard into separate\n"
               "                   folders): an image predicted in two of them is an error\n"
               "  --gt DIR         the data set root (fs_lost_found: with gtCoarse/; road_anomaly: with\n"
               "                   frames/)\n"
               "  --dataset NAME   fs_lost_found (default) or road_anomaly (pixel level only)\n"
               "  --out FILE       where metrics.json goes (default: the first --pred DIR/metrics.json)\n"
               "  --pixel-only     skip the instance level\n"
               "  --mem-mb N       memory for the pixel scores (default 1024); more pixels than\n"
               "                   N MiB / 8 take extra passes over the files\n"
               "  -q, --quiet      no table\n"
               "  -h, --help       show this help\n");
}

static char *path_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 2);
    if (!p) return NULL;
    memcpy(p, a, na);
    size_t k = na;
    if (na && a[na - 1] != '/') p[k++] = '/';
    memcpy(p + k, b, nb + 1);
    return p;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Sorted names in dir (no dot entries) that are directories (want_dir) or end in suffix.
static ug_status list_dir(const char *dir, bool want_dir, const char *suffix, char ***out, int *n,
                          ug_err *err) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return ug_errf(err, UG_ERR_IO, "%s: cannot open the folder", dir);
    char **v = NULL;
    int cnt = 0, cap = 0;
    ug_status st = UG_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *full = path_join(dir, e->d_name);
        if (!full) {
            st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        bool ok = want_dir ? is_dir(full) : (ends_with(e->d_name, suffix) && is_file(full));
        free(full);
        if (!ok) continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            v = nv;
        }
        if (!(v[cnt] = strdup(e->d_name))) {
            st = ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        cnt++;
    }
    closedir(d);
    if (st) {
        for (int i = 0; i < cnt; i++)
            free(v[i]);
        free(v);
        return st;
    }
    if (cnt) qsort(v, (size_t)cnt, sizeof *v, cmp_str); // v is NULL for an empty folder
    *out = v;
    *n = cnt;
    return UG_OK;
}

static void free_names(char **v, int n) {
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_images(image_list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].split);
        free(l->v[i].labels);
        free(l->v[i].inst);
        free(l->v[i].pred);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

// Takes ownership of the strings (frees them when it fails).
static ug_status push_image(image_list *l, eval_image im, ug_err *err) {
    if (!im.name || !im.labels || !im.pred || (im.split == NULL) != (im.inst == NULL)) goto oom;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        eval_image *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) goto oom;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = im;
    return UG_OK;
oom:
    free(im.name);
    free(im.split);
    free(im.labels);
    free(im.inst);
    free(im.pred);
    return ug_errf(err, UG_ERR_NOMEM, "eval: out of memory listing the images");
}

static char *strdup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

// gtCoarse/<split>/<city>/<name>_gtCoarse_labelTrainIds.png, every split (fishy_mode "*").
static ug_status list_fs_laf(const char *gt, const char *pred, image_list *out, ug_err *err) {
    static const char suffix[] = "_gtCoarse_labelTrainIds.png";
    char *root = path_join(gt, "gtCoarse");
    if (!root) return ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
    char **splits = NULL;
    int nsplits = 0;
    ug_status st = list_dir(root, true, NULL, &splits, &nsplits, err);
    for (int s = 0; !st && s < nsplits; s++) {
        char *sdir = path_join(root, splits[s]), **cities = NULL;
        int ncities = 0;
        st = sdir ? list_dir(sdir, true, NULL, &cities, &ncities, err)
                  : ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
        for (int c = 0; !st && c < ncities; c++) {
            char *cdir = path_join(sdir, cities[c]), **files = NULL;
            int nfiles = 0;
            st = cdir ? list_dir(cdir, false, suffix, &files, &nfiles, err)
                      : ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
            for (int f = 0; !st && f < nfiles; f++) {
                size_t stem = strlen(files[f]) - (sizeof suffix - 1);
                char *name = strdup_n(files[f], stem);
                char *inst_file = name ? malloc(stem + 64) : NULL,
                     *pred_dir = name ? malloc(stem + 32) : NULL;
                if (inst_file) sprintf(inst_file, "%s_gtCoarse_instanceIds.png", name);
                if (pred_dir) sprintf(pred_dir, "%s_leftImg8bit", name);
                eval_image im = {
                    .name = name,
                    .split = strdup(splits[s]),
                    .labels = path_join(cdir, files[f]),
                    .inst = inst_file ? path_join(cdir, inst_file) : NULL,
                    .pred = pred_dir ? path_join(pred, pred_dir) : NULL,
                };
                free(inst_file);
                free(pred_dir);
                st = push_image(out, im, err);
            }
            free_names(files, nfiles);
            free(cdir);
        }
        free_names(cities, ncities);
        free(sdir);
    }
    free_names(splits, nsplits);
    if (!st && out->n == 0)
        st = ug_errf(err, UG_ERR_FORMAT, "%s: no */*/*%s files (is --gt a Fishyscapes Lost & Found root?)",
                     root, suffix);
    free(root);
    return st;
}

// frames/<stem>.jpg with frames/<stem>.labels/labels_semantic.png.
static ug_status list_road_anomaly(const char *gt, const char *pred, image_list *out, ug_err *err) {
    char *frames = path_join(gt, "frames");
    if (!frames) return ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
    if (!is_dir(frames)) {
        free(frames);
        frames = strdup(gt);
        if (!frames) return ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
    }
    char **files = NULL;
    int nfiles = 0;
    ug_status st = list_dir(frames, false, ".jpg", &files, &nfiles, err);
    for (int f = 0; !st && f < nfiles; f++) {
        char *stem = strdup_n(files[f], strlen(files[f]) - 4);
        char *rel = stem ? malloc(strlen(stem) + 40) : NULL;
        if (rel) sprintf(rel, "%s.labels/labels_semantic.png", stem);
        eval_image im = {
            .name = stem,
            .labels = rel ? path_join(frames, rel) : NULL,
            .pred = stem ? path_join(pred, stem) : NULL,
        };
        free(rel);
        st = push_image(out, im, err);
    }
    free_names(files, nfiles);
    if (!st && out->n == 0)
        st = ug_errf(err, UG_ERR_FORMAT, "%s: no *.jpg frames (is --gt a RoadAnomaly root?)", frames);
    free(frames);
    return st;
}

// Reads the label file as 0 inlier / 1 anomaly / 255 ignore: *out [H, W, 1] (owning U8).
static ug_status read_labels(const eval_image *im, dataset ds, ug_tensor *out, ug_err *err) {
    ug_tensor t = {0};
    ug_status st = ug_file_check_regular(im->labels, err);
    if (!st) st = ug_image_read(im->labels, UG_IMAGE_GRAY, &t, err);
    if (st) return st;
    uint8_t *v = t.data;
    int64_t n = t.shape[0] * t.shape[1];
    for (int64_t i = 0; i < n; i++) {
        uint8_t x = v[i], y;
        if (ds == DS_FS_LAF)
            y = x == 0 ? 0 : x == 1 ? 1 : (x == 2 || x == 255) ? 255 : 254;
        else
            y = (x == 0 || x == 1) ? 0 : x == 2 ? 1 : x == 255 ? 255 : 254;
        if (y == 254) {
            st = ug_errf(err, UG_ERR_FORMAT, "%s: label %u at (%lld, %lld); expected %s", im->labels, x,
                         (long long)(i % t.shape[1]), (long long)(i / t.shape[1]),
                         ds == DS_FS_LAF ? "0 inlier, 1 anomaly, 255 ignore"
                                         : "0 background, 1 road, 2 anomaly, 255 ignore");
            ug_tensor_free(&t);
            return st;
        }
        v[i] = y;
    }
    *out = t; // [H, W, 1]
    return UG_OK;
}

static ug_status read_scores(const eval_image *im, const ug_tensor *labels, ug_tensor *out, ug_err *err) {
    char *path = path_join(im->pred, "anomaly.npy");
    if (!path) return ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
    ug_status st = ug_file_check_regular(path, err);
    if (!st) st = ug_npy_read(path, out, err);
    if (!st && (out->dtype != UG_F32 || out->ndim != 2 || out->shape[0] != labels->shape[0] ||
                out->shape[1] != labels->shape[1])) {
        char a[64];
        st = ug_errf(err, UG_ERR_FORMAT, "%s: %s %s, expected F32 [%lld,%lld] like %s", path,
                     ug_dtype_name(out->dtype), ug_shape_str(out, a, sizeof a), (long long)labels->shape[0],
                     (long long)labels->shape[1], im->labels);
        ug_tensor_free(out);
    }
    // sklearn refuses NaN and infinite scores; an ignored pixel's score is never looked at.
    if (!st) {
        const float *v = out->data;
        const uint8_t *lb = labels->data;
        int64_t W = labels->shape[1], n = labels->shape[0] * W;
        for (int64_t i = 0; i < n; i++)
            if (lb[i] != 255 && !isfinite(v[i])) {
                st = ug_errf(
                    err, UG_ERR_FORMAT,
                    "%s: score %g at (x %lld, y %lld), a pixel that is evaluated; scores must be finite",
                    path, (double)v[i], (long long)(i % W), (long long)(i / W));
                ug_tensor_free(out);
                break;
            }
    }
    free(path);
    return st;
}

// mask_png must name a file inside the prediction folder.
static bool safe_rel(const char *s) {
    if (!*s || s[0] == '/') return false;
    for (const char *p = s; *p;) {
        const char *q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        p += n + (q != NULL);
    }
    return true;
}

// instanceIds + instances.json + masks of one image into the instance evaluator.
static ug_status add_instances(ug_inst_eval *ev, const eval_image *im, int64_t H, int64_t W, ug_err *err) {
    ug_tensor ids = {0}, mask = {0};
    ug_json_doc *doc = NULL;
    char *jpath = NULL, *mpath = NULL;
    ug_status st = ug_file_check_regular(im->inst, err);
    if (!st) st = ug_png_read_u16(im->inst, &ids, err);
    if (st) goto done;
    if (ids.shape[0] != H || ids.shape[1] != W) {
        st = ug_errf(err, UG_ERR_FORMAT, "%s: %lldx%lld pixels, the labels have %lldx%lld", im->inst,
                     (long long)ids.shape[1], (long long)ids.shape[0], (long long)W, (long long)H);
        goto done;
    }
    if ((st = ug_inst_eval_image(ev, ids.data, H * W, im->inst, err))) goto done;
    if (!(jpath = path_join(im->pred, "instances.json"))) {
        st = ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
        goto done;
    }
    if ((st = ug_file_check_regular(jpath, err)) || (st = ug_json_parse_file(&doc, jpath, err))) goto done;
    const ug_json *arr;
    if ((st = ug_json_get_typed(ug_json_root(doc), "instances", UG_JSON_ARRAY, &arr, err))) {
        ug_err_prefix(err, "%s: ", jpath);
        goto done;
    }
    for (size_t i = 0; i < arr->len; i++) {
        const ug_json *e = ug_json_at(arr, i);
        double score;
        const char *rel;
        if ((st = ug_json_get_number(e, "score", &score, err)) ||
            (st = ug_json_get_string(e, "mask_png", &rel, err))) {
            ug_err_prefix(err, "%s: instances[%zu]: ", jpath, i);
            goto done;
        }
        if (!safe_rel(rel)) {
            st =
                ug_errf(err, UG_ERR_FORMAT,
                        "%s: instances[%zu]: mask_png \"%s\" is not a path inside the folder", jpath, i, rel);
            goto done;
        }
        free(mpath);
        if (!(mpath = path_join(im->pred, rel))) {
            st = ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
            goto done;
        }
        if ((st = ug_file_check_regular(mpath, err)) ||
            (st = ug_image_read(mpath, UG_IMAGE_GRAY, &mask, err)))
            goto done;
        if (mask.shape[0] != H || mask.shape[1] != W) {
            st = ug_errf(err, UG_ERR_FORMAT, "%s: %lldx%lld pixels, the labels have %lldx%lld", mpath,
                         (long long)mask.shape[1], (long long)mask.shape[0], (long long)W, (long long)H);
            goto done;
        }
        if ((st = ug_inst_eval_pred(ev, mask.data, score, err))) goto done;
        ug_tensor_free(&mask);
    }
done:
    ug_tensor_free(&ids);
    ug_tensor_free(&mask);
    ug_json_free(doc);
    free(jpath);
    free(mpath);
    return st;
}

// Percent, or null when undefined.
static void jw_pct(ug_json_writer *w, const char *key, double v) {
    ug_jw_key(w, key);
    if (isnan(v))
        ug_jw_null(w);
    else
        ug_jw_number(w, 100.0 * v);
}

static ug_status write_metrics(const char *path, const char *dsname, const ug_pixel_metrics *pm,
                               const ug_inst_metrics *im, bool inst, int64_t nimages, int passes,
                               ug_err *err) {
    ug_json_writer w;
    ug_jw_init(&w, 1);
    ug_jw_object_begin(&w);
    jw_pct(&w, "pAP", pm->ap);
    jw_pct(&w, "FPR95", pm->fpr95);
    jw_pct(&w, "AUROC", pm->auroc);
    jw_pct(&w, "iAP", inst ? im->iap : NAN);
    jw_pct(&w, "iAP50", inst ? im->iap50 : NAN);
    ug_jw_key(&w, "num_images");
    ug_jw_int(&w, nimages);
    ug_jw_key(&w, "num_pixels");
    ug_jw_int(&w, pm->num_pixels);
    ug_jw_key(&w, "num_instances");
    if (inst)
        ug_jw_int(&w, im->num_instances);
    else
        ug_jw_null(&w);
    ug_jw_key(&w, "details");
    ug_jw_object_begin(&w);
    ug_jw_key(&w, "dataset");
    ug_jw_string(&w, dsname);
    ug_jw_key(&w, "positive_pixels");
    ug_jw_int(&w, pm->positives);
    ug_jw_key(&w, "negative_pixels");
    ug_jw_int(&w, pm->negatives);
    ug_jw_key(&w, "distinct_scores");
    ug_jw_int(&w, pm->distinct_scores);
    ug_jw_key(&w, "roc_points");
    ug_jw_int(&w, pm->roc_points);
    ug_jw_key(&w, "fpr95_score_threshold");
    if (!isfinite(pm->fpr95_threshold))
        ug_jw_null(&w);
    else
        ug_jw_float(&w, (float)pm->fpr95_threshold);
    ug_jw_key(&w, "pixel_passes");
    ug_jw_int(&w, passes);
    if (inst) {
        ug_jw_key(&w, "ap_per_overlap");
        ug_jw_object_begin(&w);
        for (int t = 0; t < UG_IAP_THRESHOLDS; t++) {
            char k[16];
            snprintf(k, sizeof k, "%.2f", 0.5 + 0.05 * t);
            jw_pct(&w, k, im->ap[t]);
        }
        ug_jw_object_end(&w);
        ug_jw_key(&w, "num_gt_instances_any_size");
        ug_jw_int(&w, im->num_gt_any_size);
        ug_jw_key(&w, "num_pred_instances");
        ug_jw_int(&w, im->num_pred);
        ug_jw_key(&w, "num_pred_instances_nonempty");
        ug_jw_int(&w, im->num_pred_nonempty);
    }
    ug_jw_object_end(&w);
    ug_jw_object_end(&w);
    char *text;
    size_t len;
    ug_status st = ug_jw_finish(&w, &text, &len, err);
    if (st) return st;
    ug_atomic_file af;
    st = ug_atomic_open(&af, path, err);
    if (!st) {
        if (fwrite(text, 1, len, af.f) != len || fputc('\n', af.f) == EOF) {
            ug_atomic_abort(&af);
            st = ug_errf(err, UG_ERR_IO, "%s: write failed", path);
        } else {
            st = ug_atomic_commit(&af, err);
        }
    }
    free(text);
    return st;
}

static void print_row(const char *what, double v) {
    if (isnan(v))
        printf("%-8s %10s\n", what, "n/a");
    else
        printf("%-8s %10.4f\n", what, 100.0 * v);
}

enum { EVAL_MAX_PRED = 256 };

// The prediction folders as one: each image's folder (named as under preds[0]) is taken from
// the --pred folder that holds it. *usage when one is in two folders or a folder is given twice.
static ug_status union_preds(image_list *imgs, const char *const *preds, int npred, bool *usage,
                             ug_err *err) {
    for (int a = 0; a < npred; a++)
        for (int b = a + 1; b < npred; b++) {
            struct stat sa, sb;
            if (stat(preds[a], &sa) == 0 && stat(preds[b], &sb) == 0 && sa.st_dev == sb.st_dev &&
                sa.st_ino == sb.st_ino) {
                *usage = true;
                return ug_errf(err, UG_ERR_ARG, "eval: --pred %s and --pred %s are the same folder", preds[a],
                               preds[b]);
            }
        }
    if (npred < 2) return UG_OK;
    for (int i = 0; i < imgs->n; i++) {
        eval_image *im = &imgs->v[i];
        const char *slash = strrchr(im->pred, '/');
        const char *name = slash ? slash + 1 : im->pred;
        char *found = NULL;
        int where = -1;
        for (int k = 0; k < npred; k++) {
            char *p = path_join(preds[k], name);
            if (!p) {
                free(found);
                return ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
            }
            if (!is_dir(p)) {
                free(p);
                continue;
            }
            if (found) {
                ug_errf(err, UG_ERR_ARG, "eval: %s is predicted in two --pred folders: %s and %s", name,
                        preds[where], preds[k]);
                free(p);
                free(found);
                *usage = true;
                return UG_ERR_ARG;
            }
            found = p;
            where = k;
        }
        if (!found)
            return ug_errf(err, UG_ERR_IO, "%s: no prediction folder %s in any of the %d --pred folders",
                           im->name, name, npred);
        free(im->pred);
        im->pred = found;
    }
    return UG_OK;
}

static ug_status run_eval(const char *const *preds, int npred, const char *gt, dataset ds, const char *out,
                          bool pixel_only, size_t budget, bool quiet, bool *usage, ug_err *err) {
    const char *pred = preds[0];
    image_list imgs = {0};
    ug_pixel_eval *pe = NULL;
    ug_inst_eval *ev = NULL;
    ug_tensor labels = {0}, scores = {0};
    const char *dsname = ds == DS_FS_LAF ? "fs_lost_found" : "road_anomaly";
    bool inst = ds == DS_FS_LAF && !pixel_only;
    char *def = NULL; // the default --out
    ug_status st;
    for (int k = 0; k < npred; k++)
        if (!is_dir(preds[k])) {
            st = ug_errf(err, UG_ERR_IO, "%s: not a folder (--pred)", preds[k]);
            goto done;
        }
    if (!is_dir(gt)) {
        st = ug_errf(err, UG_ERR_IO, "%s: not a folder (--gt)", gt);
        goto done;
    }
    // Where metrics.json goes is checked before the data set is read, not after the last pass.
    if (!out && !(out = def = path_join(pred, "metrics.json"))) {
        st = ug_errf(err, UG_ERR_NOMEM, "eval: out of memory");
        goto done;
    }
    if ((st = cli_check_output_file(out, "--out", err))) goto done;
    st = ds == DS_FS_LAF ? list_fs_laf(gt, pred, &imgs, err) : list_road_anomaly(gt, pred, &imgs, err);
    if (st || (st = union_preds(&imgs, preds, npred, usage, err))) goto done;
    if ((st = ug_pixel_eval_new(&pe, budget, err))) goto done;
    if (inst && (st = ug_inst_eval_new(&ev, err))) goto done;
    int passes = 0;
    for (;;) {
        bool more;
        if ((st = ug_pixel_eval_begin_pass(pe, &more, err))) goto done;
        if (!more) break;
        passes++;
        for (int i = 0; i < imgs.n; i++) {
            const eval_image *im = &imgs.v[i];
            if ((st = read_labels(im, ds, &labels, err))) goto done;
            if ((st = read_scores(im, &labels, &scores, err))) goto done;
            if ((st = ug_pixel_eval_add(pe, scores.data, labels.data, labels.shape[0] * labels.shape[1],
                                        im->name, err)))
                goto done;
            if (inst && ug_pixel_eval_pass(pe) == 0 &&
                (st = add_instances(ev, im, labels.shape[0], labels.shape[1], err)))
                goto done;
            ug_tensor_free(&labels);
            ug_tensor_free(&scores);
        }
    }
    ug_pixel_metrics pm;
    ug_inst_metrics imet = {0};
    ug_pixel_eval_result(pe, &pm);
    if (inst) ug_inst_eval_result(ev, &imet);
    st = write_metrics(out, dsname, &pm, &imet, inst, imgs.n, passes, err);
    if (!st && !quiet) {
        printf("%s: %d images, %lld pixels (%lld anomaly, %lld inlier)", dsname, imgs.n,
               (long long)pm.num_pixels, (long long)pm.positives, (long long)pm.negatives);
        if (inst) printf(", %lld GT instances of >= %d px", (long long)imet.num_instances, UG_IAP_MIN_REGION);
        printf("\n\n%-8s %10s\n", "metric", "%");
        print_row("pAP", pm.ap);
        print_row("FPR95", pm.fpr95);
        print_row("AUROC", pm.auroc);
        if (inst) {
            print_row("iAP", imet.iap);
            print_row("iAP50", imet.iap50);
        }
        printf("\nwrote %s\n", out);
    }
done:
    free(def);
    ug_tensor_free(&labels);
    ug_tensor_free(&scores);
    ug_pixel_eval_free(pe);
    ug_inst_eval_free(ev);
    free_images(&imgs);
    return st;
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"pred", required_argument, 0, 'p'},
        {"gt", required_argument, 0, 'g'},
        {"dataset", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'},
        {"pixel-only", no_argument, 0, 'P'},
        {"mem-mb", required_argument, 0, 'm'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *preds[EVAL_MAX_PRED], *gt = NULL, *out = NULL;
    int npred = 0;
    dataset ds = DS_FS_LAF;
    bool pixel_only = false, quiet = false;
    size_t budget = UG_PIXEL_EVAL_DEFAULT_BUDGET;
    int c;
    optind = 1;
    opterr = 0; // getopt's own message would not be the one-line "ugains: eval: ..." form
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (npred == EVAL_MAX_PRED) {
                cli_error("eval: more than %d --pred folders", EVAL_MAX_PRED);
                return CLI_USAGE;
            }
            preds[npred++] = optarg;
            break;
        case 'g': gt = optarg; break;
        case 'o': out = optarg; break;
        case 'P': pixel_only = true; break;
        case 'q': quiet = true; break;
        case 'd':
            if (!strcmp(optarg, "fs_lost_found"))
                ds = DS_FS_LAF;
            else if (!strcmp(optarg, "road_anomaly"))
                ds = DS_ROAD_ANOMALY;
            else {
                cli_error("eval: unknown --dataset '%s' (fs_lost_found or road_anomaly)", optarg);
                return CLI_USAGE;
            }
            break;
        case 'm': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > (1L << 20)) {
                cli_error("eval: --mem-mb expects a number of MiB (1..1048576), got '%s'", optarg);
                return CLI_USAGE;
            }
            budget = (size_t)v << 20;
            break;
        }
        case 'h': usage(stdout); return CLI_OK;
        default:
            cli_error("eval: unknown option or missing value: '%s' (see ugains eval --help)",
                      argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("eval: unexpected argument '%s' (see ugains eval --help)", argv[optind]);
        return CLI_USAGE;
    }
    if (!npred || !gt) {
        cli_error("eval: --pred and --gt are required (see ugains eval --help)");
        return CLI_USAGE;
    }
    ug_err err;
    if (out && !*out) {
        cli_error("eval: --out is an empty path");
        return CLI_USAGE;
    }
    bool usage = false;
    if (run_eval(preds, npred, gt, ds, out, pixel_only, budget, quiet, &usage, &err)) {
        cli_print_err("", &err);
        return usage ? CLI_USAGE : CLI_RUNTIME;
    }
    return CLI_OK;
}
