// tests/test_cuda_cli.c — the CUDA build's binary ($UGAINS_BIN: build/emu/bin/ugains under make
// test, build/gpu/bin/ugains in tests/gpu_check.sh) as a user runs it: `--version` names the
// backend, and `rba`, `sam` and `run` with `--device cuda` write the files of `--device cpu`,
// with the same values within the golden tolerance (1e-4 absolute on RbA scores, 1e-4 + 1e-4 on
// SAM's IoU predictions and logits; the maps and masks are exact except on pixels whose decision
// margin is below that: at most 10 per image, the golden margin table's bound for rba_tiny).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/image.h"
#include "engine/npy.h"
#include "tests/cli.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

static char *g_dir;
static char g_sam[1200], g_rba[1200], g_errf[1300];

#define RUN(...) test_cli_run((const char *const[]){__VA_ARGS__, NULL}, NULL, g_errf)

static void setup_once(void) {
    if (!test_golden_available()) return;
    g_dir = test_tmpdir();
    snprintf(g_errf, sizeof g_errf, "%s/stderr.txt", g_dir);
    if (!test_pack_tiny_pair(g_dir, g_sam, g_rba, sizeof g_sam)) g_sam[0] = g_rba[0] = '\0';
}

static void teardown_once(void) {
    test_tmpdir_remove(&g_dir);
}

static void require(void) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_sam[0] && g_rba[0], "the tiny models could not be packed (see stderr)");
}

// dir/name as a path (malloc'ed).
static char *in(const char *dir, const char *name) {
    char *d = test_path_join(g_dir, dir), *p = test_path_join(d, name);
    free(d);
    return p;
}

// A .npy written by a run.
static ug_tensor npy(const char *dir, const char *name) {
    char *p = in(dir, name);
    ug_tensor t;
    ug_err err;
    ck_assert_msg(ug_npy_read(p, &t, &err) == UG_OK, "%s", err.msg);
    free(p);
    return t;
}

static void same_npy(const char *a, const char *b, const char *name, double atol, double rtol) {
    ug_tensor x = npy(a, name), y = npy(b, name);
    ck_assert_int_eq(ug_tensor_numel(&x), ug_tensor_numel(&y));
    test_assert_close(y.data, x.data, (size_t)ug_tensor_numel(&x), atol, rtol, name);
    ug_tensor_free(&x);
    ug_tensor_free(&y);
}

// Two PNGs of the same size differing in at most `flips` pixels.
static void same_png(const char *a, const char *b, const char *name, int flips) {
    char *pa = in(a, name), *pb = in(b, name);
    ug_tensor x, y;
    ug_err err;
    ck_assert_msg(ug_image_read(pa, UG_IMAGE_GRAY, &x, &err) == UG_OK, "%s", err.msg);
    ck_assert_msg(ug_image_read(pb, UG_IMAGE_GRAY, &y, &err) == UG_OK, "%s", err.msg);
    ck_assert(ug_tensor_same_shape(&x, &y));
    int differ = 0;
    for (int64_t i = 0; i < ug_tensor_numel(&x); i++)
        differ += ((uint8_t *)x.data)[i] != ((uint8_t *)y.data)[i];
    ck_assert_msg(differ <= flips, "%s: %d pixels differ between the cpu and cuda runs", name, differ);
    ug_tensor_free(&x);
    ug_tensor_free(&y);
    free(pa);
    free(pb);
}

START_TEST(version_names_the_backend) {
    char *out = test_path_join(g_dir, "version.txt");
    ck_assert_int_eq(test_cli_run((const char *const[]){"--version", NULL}, out, NULL), 0);
    char *v = test_read_text(out);
    ck_assert_msg(strstr(v, "\ncuda: built in"), "--version: '%s'", v);
    free(v);
    free(out);
}
END_TEST

START_TEST(rba_on_cuda_matches_cpu) {
    require();
    char *img = test_golden_path("rba_tiny/img0.png"), *oc = in("rba_cpu", ""), *og = in("rba_cuda", ""),
         *dc = in("rba_cpu_dump", ""), *dg = in("rba_cuda_dump", "");
    ck_assert_int_eq(
        RUN("rba", "--weights", g_rba, "--image", img, "--out", oc, "--dump", dc, "--device", "cpu"), 0);
    ck_assert_int_eq(
        RUN("rba", "--weights", g_rba, "--image", img, "--out", og, "--dump", dg, "--device", "cuda"), 0);
    same_npy("rba_cpu", "rba_cuda", "rba_score.npy", 1e-4, 0);
    same_npy("rba_cpu_dump", "rba_cuda_dump", "pred_logits.npy", 1e-4, 1e-4);
    same_npy("rba_cpu_dump", "rba_cuda_dump", "mask_features.npy", 1e-4, 1e-4);
    same_png("rba_cpu", "rba_cuda", "semantic.png", 10);
    free(img), free(oc), free(og), free(dc), free(dg);
}
END_TEST

START_TEST(sam_on_cuda_matches_cpu) {
    require();
    char *img = test_golden_path("sam_tiny/input_image.png"), *oc = in("sam_cpu", ""),
         *og = in("sam_cuda", ""), *dc = in("sam_cpu_dump", ""), *dg = in("sam_cuda_dump", "");
    const char *p[] = {"--point", "37,41", "--box", "30,20,120,80"};
    ck_assert_int_eq(RUN("sam", "--weights", g_sam, "--image", img, p[0], p[1], p[2], p[3], "--out", oc,
                         "--dump", dc, "--device", "cpu"),
                     0);
    ck_assert_int_eq(RUN("sam", "--weights", g_sam, "--image", img, p[0], p[1], p[2], p[3], "--out", og,
                         "--dump", dg, "--device", "cuda"),
                     0);
    same_npy("sam_cpu_dump", "sam_cuda_dump", "image_embeddings.npy", 1e-4, 1e-4);
    same_npy("sam_cpu_dump", "sam_cuda_dump", "iou_predictions.npy", 1e-4, 1e-4);
    same_npy("sam_cpu_dump", "sam_cuda_dump", "low_res_masks.npy", 1e-4, 1e-4);
    same_png("sam_cpu", "sam_cuda", "mask_000.png", 10);
    free(img), free(oc), free(og), free(dc), free(dg);
}
END_TEST

// The whole chain on one image: the per-pixel outputs agree; instances.json is compared
// through the anomaly map it is consistent with (test_cli_run checks that relation).
START_TEST(run_on_cuda_matches_cpu) {
    require();
    char *img = test_golden_path("rba_tiny/img0.png"), *oc = in("run_cpu", ""), *og = in("run_cuda", "");
    const char *opts[] = {"--points", "6", "--threshold", "-1e9", "-q"};
    ck_assert_int_eq(RUN("run", "--rba", g_rba, "--sam", g_sam, "--out", oc, opts[0], opts[1], opts[2],
                         opts[3], opts[4], "--device", "cpu", img),
                     0);
    ck_assert_int_eq(RUN("run", "--rba", g_rba, "--sam", g_sam, "--out", og, opts[0], opts[1], opts[2],
                         opts[3], opts[4], "--device", "cuda", img),
                     0);
    same_npy("run_cpu/img0", "run_cuda/img0", "rba_score.npy", 1e-4, 0);
    same_npy("run_cpu/img0", "run_cuda/img0", "anomaly.npy", 1e-4, 0);
    same_png("run_cpu/img0", "run_cuda/img0", "semantic.png", 10);
    free(img), free(oc), free(og);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(
        &(test_case_def){
            .name = "cuda_cli", .setup_once = setup_once, .teardown_once = teardown_once, .timeout = 300},
        &s);
    test_add(tc, version_names_the_backend, rba_on_cuda_matches_cpu, sam_on_cuda_matches_cpu,
             run_on_cuda_matches_cpu);
    return test_run_suite(s);
}
