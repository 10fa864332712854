// apps/examples/ugains_demo.c — the public API of libugains (ugains.h) end to end: load the
// two models, run one image, print its anomaly instances, free everything. Nothing else of
// the tree is used; build it against an installed library:
//
//   cc ugains_demo.c $(pkg-config --cflags --libs ugains) -o ugains_demo
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ugains.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ugains_demo [--threads N] [--points K] [--threshold T] RBA SAM IMAGE\n"
            "\n"
            "Runs UGainS (libugains %s) on one PNG/JPEG image with packed RbA and SAM weights\n"
            "(`ugains pack` output) and prints the number of anomaly instances, then one line\n"
            "per instance, highest score first: index, score, prompt point, bbox, area.\n"
            "\n"
            "options:\n"
            "  --threads N   worker threads (default: UGAINS_THREADS or all cores)\n"
            "  --points K    point prompts (50)\n"
            "  --threshold T candidate pixels have RbA score >= T (-0.15)\n"
            "  -h, --help    show this help\n"
            "\n"
            "Exit status: 0 success, 1 error (one line on stderr).\n",
            ugains_version());
}

static int die(const char *what, const ugains_error *err) {
    fprintf(stderr, "ugains_demo: %s%s\n", what, err ? err->message : "");
    return 1;
}

// A positive integer up to max, or -1.
static long parse_count(const char *s, long max) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < 1 || v > max) return -1;
    return v;
}

int main(int argc, char **argv) {
    ugains_options opt;
    ugains_options_default(&opt);
    const char *paths[3];
    int npaths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "--points")) {
            long v = i + 1 < argc ? parse_count(argv[i + 1], a[2] == 't' ? 256 : 1 << 20) : -1;
            if (v < 0) {
                fprintf(stderr, "ugains_demo: %s wants a positive integer (see --help)\n", a);
                return 1;
            }
            if (a[2] == 't')
                opt.threads = (int)v;
            else
                opt.points = (int)v;
            i++;
        } else if (!strcmp(a, "--threshold")) {
            char *end = NULL;
            errno = 0;
            double v = i + 1 < argc ? strtod(argv[i + 1], &end) : NAN;
            if (!end || end == argv[i + 1] || *end != '\0' || errno || !isfinite(v)) {
                fprintf(stderr, "ugains_demo: --threshold wants a number (see --help)\n");
                return 1;
            }
            opt.threshold = (float)v;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ugains_demo: unknown option '%s' (see --help)\n", a);
            return 1;
        } else if (npaths < 3) {
            paths[npaths++] = a;
        } else {
            fprintf(stderr, "ugains_demo: too many arguments (see --help)\n");
            return 1;
        }
    }
    if (npaths != 3) {
        fprintf(stderr, "ugains_demo: wants RBA SAM IMAGE (see --help)\n");
        return 1;
    }

    ugains_error err;
    ugains_model *model = NULL;
    ugains_output *out = NULL;
    uint8_t *rgb = NULL;
    int h, w, rc = 0;
    if (ugains_open(paths[0], paths[1], &opt, &model, &err) != UGAINS_OK) return die("", &err);
    if (ugains_image_read(paths[2], UGAINS_IMAGE_RGB, &rgb, &h, &w, &err) != UGAINS_OK) {
        rc = die("", &err);
        goto done;
    }
    if (ugains_run(model, rgb, h, w, NULL, &out, &err) != UGAINS_OK) {
        rc = die("", &err);
        goto done;
    }
    int n = ugains_output_count(out);
    printf("image %s: %dx%d, %d points, %d instances\n", paths[2], w, h, ugains_output_num_points(out), n);
    for (int i = 0; i < n; i++) {
        ugains_instance in;
        if (ugains_output_instance(out, i, &in) != UGAINS_OK) {
            rc = die("cannot read an instance", NULL);
            goto done;
        }
        printf("instance %d: score %.9g point %.1f,%.1f bbox %d,%d,%d,%d area %lld\n", i, in.score,
               in.point[0], in.point[1], in.bbox[0], in.bbox[1], in.bbox[2], in.bbox[3], (long long)in.area);
    }
done:
    ugains_output_free(out);
    ugains_image_free(rgb);
    ugains_close(model);
    return rc;
}
