// tests/test_cli_eval.c — `ugains eval` end to end: the golden eval_tiny folder (Fishyscapes
// Lost & Found layout), a synthetic RoadAnomaly folder with hand-derived metrics, the
// multi-pass path (a tiny --mem-mb must give the same numbers), exit codes and messages.
// Runs the binary named by UGAINS_BIN (set by `make test`).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "engine/image.h"
#include "engine/json.h"
#include "engine/npy.h"
#include "tests/cli.h"
#include "tests/helpers.h"

static const char *bin(void) {
    const char *b = test_cli_bin();
    struct stat st;
    ck_assert_msg(stat(b, &st) == 0, "%s does not exist (build it, or set UGAINS_BIN)", b);
    return b;
}

// Runs `ugains eval ARGS`; stderr goes to errfile. Returns the exit status.
static int run(const char *args, const char *errfile) {
    char line[8192];
    int n = snprintf(line, sizeof line, "eval %s", args);
    ck_assert_msg(n > 0 && (size_t)n < sizeof line, "command line too long");
    return test_cli_run_line(line, errfile);
}

static char *slurp(const char *path) {
    size_t n;
    char *s = test_read_file(path, &n);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    s = realloc(s, n + 1);
    s[n] = '\0';
    return s;
}

// Fails with what the binary printed when it did not succeed (e.g. main.c without `eval`).
static void run_ok(const char *args, const char *errfile) {
    int rc = run(args, errfile);
    if (rc != 0) {
        char *msg = slurp(errfile);
        ck_abort_msg("ugains eval %s: exit %d: %s", args, rc, msg);
    }
}

static ug_json_doc *read_json(const char *path) {
    ug_json_doc *doc;
    ug_err err;
    ck_assert_msg(ug_json_parse_file(&doc, path, &err) == UG_OK, "%s", err.msg);
    return doc;
}

static double num(const ug_json *o, const char *key) {
    const ug_json *v = ug_json_get(o, key);
    ck_assert_msg(v && v->type == UG_JSON_NUMBER, "metrics.json: %s is not a number", key);
    return v->number;
}

START_TEST(golden_eval_tiny) {
    test_require_golden();
    (void)bin(); // fails the test when the binary is missing
    char *dir = test_tmpdir(), *errf = test_path_join(dir, "stderr.txt"),
         *out = test_path_join(dir, "metrics.json");
    char *pred = test_golden_path("eval_tiny/pred"), *gt = test_golden_path("eval_tiny/gt");
    char *expf = test_golden_path("eval_tiny/expected.json"), args[8192];
    snprintf(args, sizeof args, "--pred %s --gt %s --dataset fs_lost_found --out %s", pred, gt, out);
    run_ok(args, errf);
    ug_json_doc *got = read_json(out), *exp = read_json(expf);
    const ug_json *g = ug_json_root(got), *e = ug_json_root(exp);
    // The golden set's tolerance: 1e-4 percentage points, counts exact.
    static const char *keys[] = {"pAP", "FPR95", "AUROC", "iAP", "iAP50"};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(fabs(num(g, keys[i]) - num(e, keys[i])) <= 1e-4, "%s: got %.10f, expected %.10f",
                      keys[i], num(g, keys[i]), num(e, keys[i]));
    static const char *counts[] = {"num_images", "num_pixels", "num_instances"};
    for (int i = 0; i < 3; i++) {
        const ug_json *v = ug_json_get(g, counts[i]);
        ck_assert_msg(v && v->is_int && v->integer == (int64_t)num(e, counts[i]), "%s", counts[i]);
    }
    const ug_json *per = ug_json_get(ug_json_get(g, "details"), "ap_per_overlap");
    const ug_json *eper = ug_json_get(ug_json_get(e, "details"), "ap_per_overlap");
    ck_assert_int_eq(per->len, 10);
    for (size_t i = 0; i < 10; i++)
        ck_assert(fabs(ug_json_at(per, i)->number - ug_json_at(eper, i)->number) <= 1e-4);
    ug_json_free(got);
    // --pixel-only: the instance keys are null.
    snprintf(args, sizeof args, "-q --pixel-only --pred %s --gt %s --out %s", pred, gt, out);
    run_ok(args, errf);
    got = read_json(out);
    ck_assert_int_eq(ug_json_get(ug_json_root(got), "iAP")->type, UG_JSON_NULL);
    ck_assert_int_eq(ug_json_get(ug_json_root(got), "num_instances")->type, UG_JSON_NULL);
    ck_assert(fabs(num(ug_json_root(got), "pAP") - num(e, "pAP")) <= 1e-4);
    ug_json_free(got);
    ug_json_free(exp);
    free(pred);
    free(gt);
    free(expf);
    free(errf);
    free(out);
    test_rmtree(dir);
    free(dir);
}
END_TEST

static void mkdir_p(const char *path) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}

// One RoadAnomaly frame: frames/<stem>.jpg (never read by eval), its labels and the prediction.
static void ra_frame(const char *root, const char *pred, const char *stem, int H, int W,
                     const uint8_t *labels, const float *scores) {
    char p[4096];
    ug_err err;
    snprintf(p, sizeof p, "%s/frames/%s.labels", root, stem);
    mkdir_p(p);
    snprintf(p, sizeof p, "%s/frames/%s.jpg", root, stem);
    test_write_file(p, "not read", 8);
    snprintf(p, sizeof p, "%s/frames/%s.labels/labels_semantic.png", root, stem);
    ug_tensor l = ug_tensor_wrap((void *)labels, UG_U8, UG_DIMS(H, W));
    ck_assert_msg(ug_png_write(p, &l, &err) == UG_OK, "%s", err.msg);
    snprintf(p, sizeof p, "%s/%s", pred, stem);
    mkdir_p(p);
    snprintf(p, sizeof p, "%s/%s/anomaly.npy", pred, stem);
    ug_tensor s = ug_tensor_wrap((void *)scores, UG_F32, UG_DIMS(H, W));
    ck_assert_msg(ug_npy_write(p, &s, &err) == UG_OK, "%s", err.msg);
}

START_TEST(road_anomaly_layout) {
    (void)bin(); // fails the test when the binary is missing
    char *dir = test_tmpdir(), *errf = test_path_join(dir, "stderr.txt"),
         *out = test_path_join(dir, "m.json");
    char *root = test_path_join(dir, "RoadAnomaly"), *pred = test_path_join(dir, "pred"), args[8192];
    // 0 background and 1 road are inliers, 2 the anomaly, 255 ignored. Anomalies 0.9, 0.7,
    // 0.3; inliers 0.8, 0.2, 0.1 (the ignored pixels score 5 and 0.1). Distinct scores
    // descending give (tp, fp): 0.9 (1,0), 0.8 (1,1), 0.7 (2,1), 0.3 (3,1), 0.2 (3,2), 0.1 (3,3).
    // AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/4 = 29/36. ROC: (2,1) and (3,2) are collinear with
    // their neighbours and dropped: (0,0) (0,1/3) (1/3,1/3) (1/3,1) (1,1) in (FPR, TPR), so
    // AUROC = 1/3 * 1/3 + 2/3 * 1 = 7/9 and FPR95 = 1/3 (at 0.3).
    const uint8_t lab[8] = {0, 1, 2, 2, 255, 0, 2, 255};
    const float sc[8] = {0.8f, 0.2f, 0.9f, 0.7f, 5.0f, 0.1f, 0.3f, 0.1f};
    ra_frame(root, pred, "animals01_x", 2, 4, lab, sc);
    snprintf(args, sizeof args, "--dataset road_anomaly --pred %s --gt %s --out %s", pred, root, out);
    run_ok(args, errf);
    ug_json_doc *doc = read_json(out);
    const ug_json *g = ug_json_root(doc);
    ck_assert_msg(fabs(num(g, "pAP") - 100.0 * 29 / 36) < 1e-9, "pAP %.12f", num(g, "pAP"));
    ck_assert_msg(fabs(num(g, "AUROC") - 100.0 * 7 / 9) < 1e-9, "AUROC %.12f", num(g, "AUROC"));
    ck_assert_msg(fabs(num(g, "FPR95") - 100.0 / 3) < 1e-9, "FPR95 %.12f", num(g, "FPR95"));
    ck_assert_int_eq(ug_json_get(g, "num_pixels")->integer, 6);
    ck_assert_int_eq(ug_json_get(g, "num_images")->integer, 1);
    ck_assert_int_eq(ug_json_get(g, "iAP")->type, UG_JSON_NULL);
    ug_json_free(doc);
    // --gt may also name the frames/ folder itself.
    snprintf(args, sizeof args, "-q --dataset road_anomaly --pred %s --gt %s/frames --out %s", pred, root,
             out);
    run_ok(args, errf);
    doc = read_json(out);
    ck_assert(fabs(num(ug_json_root(doc), "pAP") - 100.0 * 29 / 36) < 1e-9);
    ug_json_free(doc);
    // A label value outside 0/1/2/255 is a runtime error naming the file.
    const uint8_t bad[8] = {0, 1, 2, 7, 255, 0, 2, 255};
    ra_frame(root, pred, "animals02_y", 2, 4, bad, sc);
    snprintf(args, sizeof args, "-q --dataset road_anomaly --pred %s --gt %s --out %s", pred, root, out);
    ck_assert_int_eq(run(args, errf), 1);
    char *msg = slurp(errf);
    ck_assert_msg(strstr(msg, "labels_semantic.png: label 7") != NULL, "stderr: %s", msg);
    free(msg);
    free(root);
    free(pred);
    free(errf);
    free(out);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(multi_pass_same_numbers) {
    (void)bin(); // fails the test when the binary is missing
    // 2 frames of 300 x 400 = 240000 pixels: more than the 131072 keys of --mem-mb 1, so the
    // scores are read again per band; half of them in one 16-bit bucket (a dense band).
    char *dir = test_tmpdir(), *errf = test_path_join(dir, "stderr.txt"), *o1 = test_path_join(dir, "a.json"),
         *o2 = test_path_join(dir, "b.json");
    char *root = test_path_join(dir, "ra"), *pred = test_path_join(dir, "pred"), args[8192];
    enum { H = 300, W = 400 };
    uint8_t *lab = malloc(H * W);
    float *sc = malloc(H * W * sizeof *sc);
    test_rng r = test_rng_seed(3);
    for (int f = 0; f < 2; f++) {
        for (int i = 0; i < H * W; i++) {
            float v = test_rng_uniform(&r, 0, 1);
            uint64_t u = test_rng_u64(&r) % 100;
            sc[i] = (u & 1) ? 0.5f + v * 0.003f : floorf(v * 1000) / 1000 - 0.4f;
            lab[i] = u < 3 ? 255 : (u < (uint64_t)(20 + (int)(50 * v)) ? 2 : (u & 2) ? 1 : 0);
        }
        ra_frame(root, pred, f ? "b" : "a", H, W, lab, sc);
    }
    snprintf(args, sizeof args, "-q --dataset road_anomaly --pred %s --gt %s --out %s", pred, root, o1);
    run_ok(args, errf);
    snprintf(args, sizeof args, "-q --dataset road_anomaly --mem-mb 1 --pred %s --gt %s --out %s", pred, root,
             o2);
    run_ok(args, errf);
    ug_json_doc *a = read_json(o1), *b = read_json(o2);
    const ug_json *ja = ug_json_root(a), *jb = ug_json_root(b);
    ck_assert_int_eq(ug_json_get(ug_json_get(ja, "details"), "pixel_passes")->integer, 1);
    ck_assert_msg(ug_json_get(ug_json_get(jb, "details"), "pixel_passes")->integer >= 3,
                  "no band pass with --mem-mb 1");
    static const char *keys[] = {"pAP", "FPR95", "AUROC", "num_pixels"};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(num(ja, keys[i]) == num(jb, keys[i]), "%s: %.17g with one pass, %.17g with bands",
                      keys[i], num(ja, keys[i]), num(jb, keys[i]));
    ug_json_free(a);
    ug_json_free(b);
    free(lab);
    free(sc);
    free(root);
    free(pred);
    free(errf);
    free(o1);
    free(o2);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(exit_codes) {
    (void)bin(); // fails the test when the binary is missing
    char *dir = test_tmpdir(), *errf = test_path_join(dir, "stderr.txt"), args[8192];
    ck_assert_int_eq(run("--help", errf), 0);
    ck_assert_int_eq(run("", errf), 2);
    ck_assert_int_eq(run("--pred a --gt b --dataset cityscapes", errf), 2);
    ck_assert_int_eq(run("--pred a --gt b --mem-mb 0", errf), 2);
    ck_assert_int_eq(run("--pred a --gt b extra", errf), 2);
    // A folder without gtCoarse/: exit 1, one line "ugains: <path>: <problem>".
    snprintf(args, sizeof args, "--pred %s --gt %s", dir, dir);
    ck_assert_int_eq(run(args, errf), 1);
    size_t n;
    char *msg = test_read_file(errf, &n);
    ck_assert_msg(n > 8 && !strncmp(msg, "ugains: ", 8) && strchr(msg, '\n') == msg + n - 1, "stderr: %s",
                  msg);
    ck_assert_msg(strstr(msg, "gtCoarse") != NULL, "stderr: %s", msg);
    free(msg);
    // Golden labels with a missing prediction folder: the error names the missing file.
    if (test_golden_available()) {
        char *gt = test_golden_path("eval_tiny/gt");
        snprintf(args, sizeof args, "--pred %s --gt %s --out %s/m.json", dir, gt, dir);
        ck_assert_int_eq(run(args, errf), 1);
        char *m2 = slurp(errf);
        ck_assert_msg(strstr(m2, "_leftImg8bit/anomaly.npy") != NULL, "stderr: %s", m2);
        free(m2);
        free(gt);
    }
    free(errf);
    test_rmtree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "cli_eval", .timeout = 60}, &s);
    test_add(tc, golden_eval_tiny, road_anomaly_layout, multi_pass_same_numbers, exit_codes);
    return test_run_suite(s);
}
