// tests/test_device_boundary.c — models/ and pipeline/ reach activations only through ops.
//
// The same golden runs (sam_tiny: preprocessing, image encoder, every prompt kind, mask
// decoder, postprocess; rba_tiny: both checkpoints, with and without --pad32; pipeline_tiny:
// the whole UGainS image) go once on the CPU and once with the context on the poison device
// (tests/poison_backend.h), where every activation and weight address is non-canonical (the
// poison run's models are a second load, moved there with ug_weights_place): a host
// dereference anywhere in model code kills the forked test with SIGSEGV. The poison backend
// runs the CPU kernels on untagged views, so both runs must agree to the bit; the CPU run is
// pinned to the golden set by test_sam, test_rba and test_ugains.
//
// planted_dereference_is_caught shows that the trap works: reading one float of a poison
// tensor, as a model loop would, must raise SIGSEGV.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/image.h"
#include "models/nn.h"
#include "ops/ops.h"
#include "pipeline/ugains.h"
#include "tests/helpers.h"
#include "tests/poison_backend.h"
#include "tests/rba_testutil.h"

// Under AddressSanitizer (make sanitize) a SIGSEGV is ASan's to report: it would turn the
// planted fault into exit(1). Leave the signal to Check so the trap test means the same there.
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "handle_segv=0";
}
#endif

// Each model twice: on the host for the CPU run, on the poison device for the other.
static sam_model *g_sam, *g_sam_p;
static rba_model *g_rba[2], *g_rba_p[2]; // 1 and 3 decoder layers
static char *g_tmp;

static void report(ug_status st, const ug_err *err) {
    if (st != UG_OK) fprintf(stderr, "test_device_boundary: %s\n", err->msg);
}

// Weights placed in the parent stay there for every forked test (tests/poison_backend.h).
static void long_lived(const ug_weights *w) {
    for (int i = 0; i < w->nblocks; i++)
        poison_long_lived(w->blocks[i]);
}

static void setup(void) {
    if (!test_golden_available()) return;
    ug_err err;
    ug_status st;
    g_tmp = test_tmpdir();
    char *sp = sam_test_pack(g_tmp, "sam_tiny.safetensors");
    if (sp) {
        report(st = sam_load(&g_sam, sp, &err), &err);
        if (st == UG_OK) report(st = sam_load(&g_sam_p, sp, &err), &err);
        if (st == UG_OK) report(st = ug_weights_place(&g_sam_p->w, ug_backend_poison.mem, &err), &err);
        if (st == UG_OK) long_lived(&g_sam_p->w);
        if (st != UG_OK) sam_free(g_sam), sam_free(g_sam_p), g_sam = g_sam_p = NULL;
    }
    free(sp);
    const char *ckpt[2] = {"rba_tiny_1dl.d2.pth", "rba_tiny_3dl.d2.pkl"};
    for (int i = 0; i < 2; i++) {
        char out[64];
        snprintf(out, sizeof out, "rba%d.safetensors", i);
        char *rp = rba_test_pack(g_tmp, ckpt[i], out);
        if (rp) {
            report(st = rba_load(&g_rba[i], rp, &err), &err);
            if (st == UG_OK) report(st = rba_load(&g_rba_p[i], rp, &err), &err);
            if (st == UG_OK) report(st = ug_weights_place(&g_rba_p[i]->w, ug_backend_poison.mem, &err), &err);
            if (st == UG_OK) long_lived(&g_rba_p[i]->w);
            if (st != UG_OK) rba_free(g_rba[i]), rba_free(g_rba_p[i]), g_rba[i] = g_rba_p[i] = NULL;
        }
        free(rp);
    }
}

static void teardown(void) {
    sam_free(g_sam);
    sam_free(g_sam_p);
    for (int i = 0; i < 2; i++)
        rba_free(g_rba[i]), rba_free(g_rba_p[i]);
    if (g_tmp) test_rmtree(g_tmp);
    free(g_tmp);
    g_tmp = NULL;
}

// Two contexts with the same thread count, so the kernels split work identically.
static ug_ctx g_cpu, g_poison;

static void setup_ctx(void) {
    ug_err err;
    ck_assert_int_eq(ug_ctx_init(&g_cpu, 2, &err), UG_OK);
    ck_assert_int_eq(ug_ctx_init(&g_poison, 2, &err), UG_OK);
    ck_assert_int_eq(ug_ctx_use_device(&g_poison, &ug_backend_poison, NULL), UG_OK);
}

static void teardown_ctx(void) {
    ug_ctx_free(&g_cpu);
    ug_ctx_free(&g_poison);
}

// ---- comparing a CPU run with a poison run ----

// got (any device) must equal want (CPU) to the bit.
static void same(ug_ctx *ctx, const ug_tensor *got, const ug_tensor *want, const char *what) {
    ug_err err;
    ug_tensor h;
    ck_assert_msg(got->device == ctx->device, "%s: on the %s, the model ran on the %s", what,
                  ug_device_name(got->device), ug_device_name(ctx->device));
    ck_assert_int_eq(ug_to_host(ctx, &h, got, &err), UG_OK);
    ug_tensor w;
    ck_assert_int_eq(ug_to_host(&g_cpu, &w, want, &err), UG_OK);
    ck_assert_msg(ug_tensor_same_shape(&h, &w) && h.dtype == w.dtype, "%s: shape or dtype differs", what);
    ck_assert_msg(!memcmp(h.data, w.data, ug_tensor_nbytes(&h)),
                  "%s: the poison run differs from the CPU run", what);
    ug_tensor_free(&h);
    ug_tensor_free(&w);
}

// A host tensor moved onto ctx's device (for the CPU context: a copy).
static ug_tensor on_device(ug_ctx *ctx, const ug_tensor *host_t) {
    ug_err err;
    ug_tensor t;
    ck_assert_int_eq(ug_to_device(ctx, &t, host_t, &err), UG_OK);
    return t;
}

// ---- SAM ----

typedef struct sam_run {
    ug_tensor input, emb, sparse, dense, low, iou, masks;
    int input_hw[2];
} sam_run;

static void sam_run_free(sam_run *r) {
    ug_tensor *all[] = {&r->input, &r->emb, &r->sparse, &r->dense, &r->low, &r->iou, &r->masks};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ug_tensor_free(all[i]);
}

// One prompt of every kind at once: 2 points, a box and a mask input.
static void sam_once(ug_ctx *ctx, const sam_model *m, const ug_tensor *img_u8, const ug_tensor *mask_in,
                     bool u8_path, sam_run *r) {
    ug_err err;
    memset(r, 0, sizeof *r);
    ug_tensor img = on_device(ctx, img_u8);
    if (u8_path) {
        ck_assert_int_eq(sam_preprocess_u8(ctx, m, &img, &r->input, r->input_hw, &err), UG_OK);
    } else {
        ug_tensor x;
        ck_assert_int_eq(
            ug_tensor_new_dev(ctx, &x, UG_F32, UG_DIMS(1, 3, img_u8->shape[0], img_u8->shape[1]), &err),
            UG_OK);
        ug_rba_normalize(ctx, &x, &img);
        ck_assert_int_eq(sam_preprocess_f32(ctx, m, &x, &r->input, r->input_hw, &err), UG_OK);
        ug_tensor_free(&x);
    }
    ug_tensor_free(&img);
    ck_assert_int_eq(sam_encode_image(ctx, m, &r->input, &r->emb, NULL, &err), UG_OK);
    float xy[4] = {37.0f, 41.0f, 110.0f, 60.0f}, box[4] = {30.0f, 20.0f, 120.0f, 80.0f};
    int labels[2] = {1, 0}, orig_hw[2] = {(int)img_u8->shape[0], (int)img_u8->shape[1]};
    sam_apply_coords(orig_hw, r->input_hw, xy, 2);
    sam_apply_coords(orig_hw, r->input_hw, box, 2);
    ug_tensor mask = on_device(ctx, mask_in);
    sam_prompts p = {1, 2, xy, labels, box, &mask};
    ck_assert_int_eq(sam_encode_prompts(ctx, m, &p, &r->sparse, &r->dense, &err), UG_OK);
    ug_tensor_free(&mask);
    ck_assert_int_eq(
        sam_decode_masks(ctx, m, &r->emb, &r->sparse, &r->dense, true, &r->low, &r->iou, NULL, &err), UG_OK);
    ck_assert_int_eq(sam_postprocess_masks(ctx, m, &r->low, r->input_hw, orig_hw, &r->masks, &err), UG_OK);
}

static void sam_both(bool u8_path) {
    ck_assert_msg(g_sam != NULL, "sam_tiny could not be packed and loaded (see stderr)");
    ug_tensor img = test_golden_npy("sam_tiny/input_image_uint8.npy"); // U8 [H, W, 3]
    ug_tensor mask = test_golden_npy("sam_tiny/mask-mask_input.npy");
    sam_run a, b;
    sam_once(&g_cpu, g_sam, &img, &mask, u8_path, &a);
    sam_once(&g_poison, g_sam_p, &img, &mask, u8_path, &b);
    same(&g_poison, &b.input, &a.input, "sam input");
    same(&g_poison, &b.emb, &a.emb, "image_embeddings");
    same(&g_poison, &b.sparse, &a.sparse, "sparse_embeddings");
    same(&g_poison, &b.dense, &a.dense, "dense_embeddings");
    same(&g_poison, &b.low, &a.low, "low_res_masks");
    same(&g_poison, &b.iou, &a.iou, "iou_predictions");
    same(&g_poison, &b.masks, &a.masks, "masks");
    sam_run_free(&a);
    sam_run_free(&b);
    ug_tensor_free(&img);
    ug_tensor_free(&mask);
}

START_TEST(sam_tiny_on_poison) {
    sam_both(true);
}
END_TEST

START_TEST(sam_tiny_float_path_on_poison) {
    sam_both(false);
}
END_TEST

// ---- RbA ----

static void rba_once(ug_ctx *ctx, const rba_model *m, const ug_tensor *img_u8, bool pad32, rba_output *out) {
    ug_err err;
    ug_tensor img = on_device(ctx, img_u8);
    ck_assert_int_eq(rba_forward_u8(ctx, m, &img, pad32, out, NULL, &err), UG_OK);
    ug_tensor_free(&img);
}

START_TEST(rba_tiny_on_poison) {
    int layers = _i / 2;
    bool pad32 = _i % 2;
    ck_assert_msg(g_rba[layers] != NULL, "rba_tiny could not be packed and loaded (see stderr)");
    ug_err err;
    char *p = test_golden_path("rba_tiny/img1.png");
    ug_tensor img;
    ck_assert_int_eq(ug_image_read(p, UG_IMAGE_RGB, &img, &err), UG_OK);
    free(p);
    rba_output a, b;
    rba_once(&g_cpu, g_rba[layers], &img, pad32, &a);
    rba_once(&g_poison, g_rba_p[layers], &img, pad32, &b);
    same(&g_poison, &b.pred_logits, &a.pred_logits, "pred_logits");
    same(&g_poison, &b.pred_masks, &a.pred_masks, "pred_masks");
    same(&g_poison, &b.score, &a.score, "rba_score");
    same(&g_poison, &b.semantic, &a.semantic, "semantic");
    rba_output_free(&a);
    rba_output_free(&b);
    ug_tensor_free(&img);
}
END_TEST

// ---- the whole UGainS image ----

START_TEST(pipeline_tiny_on_poison) {
    ck_assert_msg(g_sam != NULL && g_rba[0] != NULL,
                  "tiny models could not be packed and loaded (see stderr)");
    ug_err err;
    char *p = test_golden_path("rba_tiny/img0.png");
    ug_tensor img;
    ck_assert_int_eq(ug_image_read(p, UG_IMAGE_RGB, &img, &err), UG_OK);
    free(p);
    int64_t H = img.shape[0], W = img.shape[1];
    uint8_t *ignore = calloc((size_t)(H * W), 1); // an ignore band so the filter has work
    for (int64_t i = 0; i < W * 4; i++)
        ignore[i] = 1;
    ugains_opts o;
    ugains_opts_default(&o);
    o.prop.points = 6;
    o.prop.threshold = -1e9f; // random weights score nothing as anomalous
    o.batch = 4;
    ugains_result a, b;
    ck_assert_int_eq(ugains_run_image(&g_cpu, g_rba[0], g_sam, &img, ignore, &o, &a, NULL, &err), UG_OK);
    ck_assert_int_eq(ugains_run_image(&g_poison, g_rba_p[0], g_sam_p, &img, ignore, &o, &b, NULL, &err),
                     UG_OK);
    // The results come back to the host.
    ck_assert_int_eq(b.score.device, UG_CPU);
    ck_assert_int_eq(b.refined.device, UG_CPU);
    same(&g_cpu, &b.score, &a.score, "score");
    same(&g_cpu, &b.semantic, &a.semantic, "semantic");
    same(&g_cpu, &b.refined, &a.refined, "refined");
    ck_assert_int_eq(a.npoints, b.npoints);
    ck_assert_int_eq(a.ncandidates, b.ncandidates);
    ck_assert(!memcmp(a.points, b.points, sizeof(float) * 2 * (size_t)a.npoints));
    ck_assert(!memcmp(a.chosen, b.chosen, sizeof(int) * (size_t)a.npoints));
    ck_assert(!memcmp(a.scores, b.scores, sizeof(float) * (size_t)a.npoints));
    ck_assert_int_eq(a.nkeep, b.nkeep);
    ck_assert(!memcmp(a.keep, b.keep, sizeof(int) * (size_t)a.nkeep));
    for (int i = 0; i < a.npoints; i++)
        for (int64_t q = 0; q < H * W; q++)
            ck_assert(inst_mask_get(&a.masks, i, q) == inst_mask_get(&b.masks, i, q));
    ugains_result_free(&a);
    ugains_result_free(&b);
    free(ignore);
    ug_tensor_free(&img);
}
END_TEST

// ---- moving weights ----

static void *no_memory(size_t bytes) {
    (void)bytes;
    return NULL;
}

// Kept fields: an adopted table, two overlapping views of one buffer (a fused weight's row
// blocks), a transposed view and a field kept twice; all move, keep their values and strides,
// and an upload that fails leaves every field as it was.
START_TEST(weights_place_moves_every_kept_field) {
    ug_err err;
    ug_weights w;
    ug_weights_init(&w, NULL, "synthetic");
    float fused[12];
    for (int i = 0; i < 12; i++)
        fused[i] = (float)i;
    ug_tensor all = ug_tensor_wrap(fused, UG_F32, UG_DIMS(4, 3));
    ug_tensor top = ug_view_slice(&all, 0, 0, 3), bottom = ug_view_slice(&all, 0, 1, 3); // overlap
    ug_tensor tr = ug_view_transpose(&all, 0, 1);
    ug_tensor table;
    ck_assert_int_eq(ug_tensor_new(&table, UG_F32, UG_DIMS(5), &err), UG_OK);
    for (int i = 0; i < 5; i++)
        ((float *)table.data)[i] = 100.0f + (float)i;
    ck_assert_int_eq(ug_weights_keep(&w, &top, &err), UG_OK);
    ck_assert_int_eq(ug_weights_keep(&w, &bottom, &err), UG_OK);
    ck_assert_int_eq(ug_weights_keep(&w, &tr, &err), UG_OK);
    ck_assert_int_eq(ug_weights_keep(&w, &tr, &err), UG_OK);
    ck_assert_int_eq(ug_weights_adopt(&w, &table, &err), UG_OK);
    ck_assert_ptr_null(table.alloc); // w owns it now

    ug_memory broken = *ug_backend_poison.mem;
    broken.alloc = no_memory;
    ug_tensor before = top;
    ck_assert_int_eq(ug_weights_place(&w, &broken, &err), UG_ERR_NOMEM);
    ck_assert_ptr_nonnull(strstr(err.msg, "synthetic: out of poison memory"));
    ck_assert(!memcmp(&before, &top, sizeof top) && w.device == UG_CPU);

    ck_assert_int_eq(ug_weights_place(&w, ug_backend_poison.mem, &err), UG_OK);
    ck_assert_int_eq(ug_weights_place(&w, ug_backend_poison.mem, &err), UG_OK); // there already
    ck_assert_int_eq(ug_weights_place(&w, &ug_host_memory, &err), UG_ERR_UNSUPPORTED);
    ck_assert_int_eq(ug_weights_keep(&w, &top, &err), UG_ERR_INTERNAL);
    const ug_tensor *fields[4] = {&top, &bottom, &tr, &table};
    const float want[4][12] = {{0, 1, 2, 3, 4, 5, 6, 7, 8},
                               {3, 4, 5, 6, 7, 8, 9, 10, 11},
                               {0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11},
                               {100, 101, 102, 103, 104}};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(fields[i]->device, UG_POISON);
        ck_assert_ptr_null(fields[i]->alloc);
        ug_tensor h;
        ck_assert_int_eq(ug_to_host(&g_poison, &h, fields[i], &err), UG_OK);
        ck_assert_msg(!memcmp(h.data, want[i], ug_tensor_nbytes(&h)), "field %d", i);
        ug_tensor_free(&h);
    }
    ck_assert_int_eq(tr.stride[0], 1); // a view still
    ck_assert_int_eq(tr.stride[1], 3);
    ug_weights_release(&w);
}
END_TEST

// A model on one device refuses a context on another, naming both.
START_TEST(model_weights_must_be_on_the_context_device) {
    ck_assert_msg(g_sam_p != NULL && g_rba_p[0] != NULL, "tiny models could not be loaded (see stderr)");
    ug_err err;
    ug_tensor x = {0}, emb;
    ck_assert_int_eq(nn_output(&g_cpu, &x, UG_F32, UG_DIMS(1, 3, 32, 32), &err), UG_OK);
    ck_assert_int_eq(sam_encode_image(&g_cpu, g_sam_p, &x, &emb, NULL, &err), UG_ERR_ARG);
    ck_assert_str_eq(err.msg, "sam image encoder: the weights are on the poison, the context runs on the cpu "
                              "(move them first)");
    rba_output out;
    ck_assert_int_eq(rba_forward(&g_cpu, g_rba_p[0], &x, false, &out, NULL, &err), UG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "rba: the weights are on the poison"));
    ug_tensor_free(&x);
}
END_TEST

// ---- the trap itself ----

START_TEST(planted_dereference_is_caught) {
    ug_err err;
    ug_tensor t;
    ck_assert_int_eq(nn_output(&g_poison, &t, UG_F32, UG_DIMS(4), &err), UG_OK);
    ck_assert_int_eq(t.device, UG_POISON);
    ck_assert_ptr_ne(t.data, poison_untag(t.data)); // the address is not the host's
    volatile float x = ((float *)t.data)[1];        // a model loop reading an activation
    (void)x;
    ug_tensor_free(&t);
}
END_TEST

START_TEST(poison_tensors_round_trip) {
    ug_err err;
    float v[6] = {1, 2, 3, 4, 5, 6};
    ug_tensor h = ug_tensor_wrap(v, UG_F32, UG_DIMS(2, 3)), d, back;
    ck_assert_int_eq(ug_to_device(&g_poison, &d, &h, &err), UG_OK);
    ck_assert_int_eq(d.device, UG_POISON);
    ug_tensor dt = ug_view_transpose(&d, 0, 1); // strided: made contiguous on the device first
    ck_assert_int_eq(ug_to_host(&g_poison, &back, &dt, &err), UG_OK);
    ck_assert_int_eq(back.device, UG_CPU);
    const float want[6] = {1, 4, 2, 5, 3, 6};
    ck_assert(!memcmp(back.data, want, sizeof want));
    ug_tensor_free(&d);
    ug_tensor_free(&back);
}
END_TEST

int main(void) {
    Suite *s = suite_create("device_boundary");
    TCase *tc = tcase_create("device_boundary");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, setup_ctx, teardown_ctx);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, poison_tensors_round_trip);
    tcase_add_test(tc, weights_place_moves_every_kept_field);
    tcase_add_test(tc, model_weights_must_be_on_the_context_device);
    tcase_add_test_raise_signal(tc, planted_dereference_is_caught, SIGSEGV);
    tcase_add_test(tc, sam_tiny_on_poison);
    tcase_add_test(tc, sam_tiny_float_path_on_poison);
    tcase_add_loop_test(tc, rba_tiny_on_poison, 0, 4);
    tcase_add_test(tc, pipeline_tiny_on_poison);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
