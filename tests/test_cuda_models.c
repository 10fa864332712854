// tests/test_cuda_models.c — the golden model runs on the CUDA device: sam_tiny (preprocessing,
// encoder with its trace, every prompt case, dense PE, a batch of prompts, the UGainS float
// path), rba_tiny (both images, both decoder depths, the detectron2 --pad32 path, the UGainS
// checkpoint layout) and pipeline_tiny (instances and the whole image), through the same
// functions and tolerances as the CPU suites (tests/golden_models.h), with every weight placed
// on the device (sam_to_device, rba_to_device) and every op a CUDA kernel. Under make CUDA=emu
// the kernels run on the emulator (schedule fwd unless UGAINS_EMU_SCHEDULE says otherwise);
// on a GPU (tests/gpu_check.sh) on the device itself.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/image.h"
#include "pipeline/ugains.h"

#include "tests/cuda_testutil.h"
#include "tests/golden_models.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

// Loaded once in the parent; each test (a fork) moves them to its own CUDA context.
static sam_model *g_sam;
static rba_model *g_rba[3]; // 1 decoder layer (detectron2 .pth), 3 (.pkl), 1 (UGainS .ckpt)
static char *g_tmp;

static void setup_once(void) {
    if (!test_golden_available()) return;
    g_tmp = test_tmpdir();
    g_sam = sam_test_load(g_tmp, "sam_tiny.safetensors", "test_cuda_models");
    const char *ckpt[3] = {"rba_tiny_1dl.d2.pth", "rba_tiny_3dl.d2.pkl", "rba_tiny_1dl.ugains.ckpt"};
    for (int i = 0; i < 3; i++) {
        char out[64];
        snprintf(out, sizeof out, "rba%d.safetensors", i);
        g_rba[i] = rba_test_load(g_tmp, ckpt[i], out, "test_cuda_models");
    }
}

static void teardown_once(void) {
    sam_free(g_sam);
    for (int i = 0; i < 3; i++)
        rba_free(g_rba[i]);
    test_tmpdir_remove(&g_tmp);
}

static const sam_model *sam_on_device(void) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_sam != NULL, "sam_tiny could not be packed and loaded (see stderr)");
    ug_err err;
    ck_assert_msg(sam_to_device(g_sam, &cut_ctx, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(g_sam->blocks[0].qkv.w.device, UG_CUDA);
    return g_sam;
}

static const rba_model *rba_on_device(int which) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_rba[which] != NULL, "rba_tiny could not be packed and loaded (see stderr)");
    ug_err err;
    ck_assert_msg(rba_to_device(g_rba[which], &cut_ctx, &err) == UG_OK, "%s", err.msg);
    return g_rba[which];
}

// ---- SAM ----

START_TEST(sam_preprocess) {
    golden_sam_preprocess(&cut_ctx, sam_on_device());
}
END_TEST

START_TEST(sam_encoder) {
    golden_sam_encoder(&cut_ctx, sam_on_device());
}
END_TEST

START_TEST(sam_prompt_cases) {
    golden_sam_prompt_case(&cut_ctx, sam_on_device(), _i);
}
END_TEST

START_TEST(sam_dense_pe_golden) {
    golden_sam_dense_pe(&cut_ctx, sam_on_device());
}
END_TEST

START_TEST(sam_prompt_batch) {
    golden_sam_prompt_batch(&cut_ctx, sam_on_device());
}
END_TEST

START_TEST(sam_float_path) {
    golden_sam_float_path(&cut_ctx, sam_on_device());
}
END_TEST

// ---- RbA: the counts of compared tensors are test_rba's ----

START_TEST(rba_models) {
    static const struct {
        int which, img;
        bool d2pad;
        int checked;
    } runs[] = {{0, 0, false, 23 + 3 + 2 + 2},
                {0, 1, false, 23 + 3 + 2 + 2},
                {1, 0, false, 23 + 6 + 2 + 2},
                {1, 1, false, 23 + 6 + 2 + 2},
                {0, 1, true, 3},
                {2, 1, false, 23 + 3 + 2 + 2}};
    golden_rba_model(&cut_ctx, rba_on_device(runs[_i].which), runs[_i].img, runs[_i].which == 1 ? 3 : 1,
                     runs[_i].d2pad, runs[_i].checked);
}
END_TEST

// ---- the pipeline ----

START_TEST(pipeline_instances) {
    golden_pipeline_instances(&cut_ctx, sam_on_device(), _i == 1);
}
END_TEST

START_TEST(pipeline_whole_image) {
    const sam_model *sam = sam_on_device();
    golden_pipeline_whole_image(&cut_ctx, rba_on_device(0), sam);
}
END_TEST

// A model left on the host refuses the CUDA context with one message, and nothing runs.
START_TEST(host_weights_are_refused) {
    ck_assert_msg(g_sam != NULL, "sam_tiny could not be packed and loaded (see stderr)");
    ug_err err;
    ug_tensor x = cut_empty(UG_F32, UG_DIMS(1, 3, 256, 256)), emb;
    ck_assert_int_eq(sam_encode_image(&cut_ctx, g_sam, &x, &emb, NULL, &err), UG_ERR_ARG);
    ck_assert_str_eq(err.msg, "sam image encoder: the weights are on the cpu, the context runs on the cuda "
                              "(move them first)");
    ug_tensor_free(&x);
}
END_TEST

#ifdef UG_CUDA_EMU
static int placed_blocks(void) {
    return (g_rba[0]->w.device == UG_CUDA ? g_rba[0]->w.nblocks : 0) +
           (g_sam->w.device == UG_CUDA ? g_sam->w.nblocks : 0);
}

// Device memory running out anywhere (placing the weights, any activation, scratch or output of
// the whole UGainS image) is one UG_ERR_NOMEM naming the memory, never a crash, and leaves no
// device allocation behind but the weights placed so far. Allocation n fails for n = 1, 2, ...
// until a run gets through.
START_TEST(out_of_device_memory_anywhere_is_an_error) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    ck_assert_msg(g_sam != NULL && g_rba[0] != NULL,
                  "tiny models could not be packed and loaded (see stderr)");
    ug_err err;
    char *p = test_golden_path("rba_tiny/img1.png");
    ug_tensor img;
    ck_assert_int_eq(ug_image_read(p, UG_IMAGE_RGB, &img, &err), UG_OK);
    free(p);
    ugains_opts o;
    ugains_opts_default(&o);
    o.prop.points = 3;
    o.prop.threshold = -1e9f;
    long base = emu_live_allocations();
    int failed = 0;
    for (long n = 1;; n++) {
        ck_assert_msg(n < 5000, "no run got through");
        ug_ctx ctx;
        ck_assert_int_eq(ug_ctx_init(&ctx, 2, &err), UG_OK);
        ck_assert_int_eq(ug_ctx_use_device(&ctx, &ug_backend_cuda, &err), UG_OK);
        ugains_result r;
        memset(&r, 0, sizeof r);
        emu_fail_malloc_after(n);
        ug_status st = rba_to_device(g_rba[0], &ctx, &err);
        if (st == UG_OK) st = sam_to_device(g_sam, &ctx, &err);
        if (st == UG_OK) st = ugains_run_image(&ctx, g_rba[0], g_sam, &img, NULL, &o, &r, NULL, &err);
        emu_fail_malloc_after(0);
        ugains_result_free(&r);
        ug_ctx_free(&ctx);
        ck_assert_msg(emu_live_allocations() == base + placed_blocks(),
                      "allocation %ld failed: %ld left over", n,
                      emu_live_allocations() - base - placed_blocks());
        if (st == UG_OK) break;
        ck_assert_msg(st == UG_ERR_NOMEM && strstr(err.msg, "memory"), "allocation %ld failed: %s (%s)", n,
                      err.msg, ug_status_name(st));
        failed++;
    }
    ck_assert_int_gt(failed, 2); // weights, then allocations inside the run
    ug_tensor_free(&img);
}
END_TEST
#endif

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "cuda_models",
                                           .setup = cut_setup,
                                           .teardown = cut_teardown,
                                           .setup_once = setup_once,
                                           .teardown_once = teardown_once,
                                           .timeout = 600},
                          &s);
    test_add(tc, host_weights_are_refused, sam_preprocess, sam_encoder, sam_dense_pe_golden, sam_prompt_batch,
             sam_float_path);
    tcase_add_loop_test(tc, sam_prompt_cases, 0, golden_sam_case_count());
    tcase_add_loop_test(tc, rba_models, 0, 6);
    tcase_add_loop_test(tc, pipeline_instances, 0, 2);
    test_add(tc, pipeline_whole_image);
#ifdef UG_CUDA_EMU
    test_add(tc, out_of_device_memory_anywhere_is_an_error);
#endif
    return test_run_suite(s);
}
