// tests/test_sam.c — SAM against golden/sam_tiny (every tensor the official SamPredictor
// produced) and golden/pipeline_tiny (the UGainS float input path and a batch of 8 prompts),
// plus get_rel_pos, the config parser and the weight checks.
//
// Tolerance for every float tensor: 1e-4 absolute + 1e-4 relative (golden/README.md: ten
// times the largest float32-vs-float64 gap of the official model). Preprocessing outputs are
// exact operations on the same floats and are held to 1e-6.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu.h"
#include "engine/npy.h"
#include "engine/safetensors.h"
#include "models/sam.h"
#include "ops/ops.h"
#include "tests/golden_models.h"
#include "tests/helpers.h"
#include "tests/rba_testutil.h"

#define ATOL 1e-4
#define RTOL 1e-4

static sam_model *g_model;
static char *g_tmp;

// The golden checkpoint packed by the real packer, as `ugains pack` would, in F32
// (tests/rba_testutil.h: sam_tiny's decoder head count, 4, is set). Packing and loading happen
// once in the parent (unchecked fixture); the thread pool is made per test in the forked child
// (checked fixture: test_ctx, 2 workers), since threads do not survive fork().
static void setup(void) {
    if (!test_golden_available()) return;
    g_tmp = test_tmpdir();
    g_model = sam_test_load(g_tmp, "sam_tiny.safetensors", "test_sam");
}

static void teardown(void) {
    sam_free(g_model);
    g_model = NULL;
    test_tmpdir_remove(&g_tmp);
}

// A golden tensor (aborts the test when missing).
static ug_tensor golden(const char *rel) {
    char *p = test_golden_path(rel);
    ug_tensor t;
    ug_err err;
    ug_status st = ug_npy_read(p, &t, &err);
    ck_assert_msg(st == UG_OK, "%s: %s", rel, err.msg);
    free(p);
    return t;
}

// got may be on any device and strided (trace tensors, views of outputs): compared through a
// contiguous host copy.
static void check_golden(const ug_tensor *got, const char *rel, double atol, double rtol) {
    ug_tensor want = golden(rel), host;
    ug_err err;
    ck_assert_msg(ug_tensor_numel(got) == ug_tensor_numel(&want), "%s: %lld elements, golden has %lld", rel,
                  (long long)ug_tensor_numel(got), (long long)ug_tensor_numel(&want));
    ck_assert_int_eq(ug_to_host(&test_ctx, &host, got, &err), UG_OK);
    test_assert_close(host.data, want.data, (size_t)ug_tensor_numel(&want), atol, rtol, rel);
    ug_tensor_free(&host);
    ug_tensor_free(&want);
}

#define REQUIRE_MODEL()                                                                                      \
    do {                                                                                                     \
        ck_assert_msg(test_golden_available(), "golden set missing");                                        \
        ck_assert_msg(g_model != NULL, "sam_tiny could not be packed and loaded (see stderr)");              \
    } while (0)

// ---- pieces without the golden set ----

START_TEST(rel_pos_identity_and_interpolation) {
    // L == 2 * max - 1: R[i][j] = table[i - j + k - 1].
    float table[5 * 2], R[3 * 3 * 2], tmp[5 * 2];
    for (int i = 0; i < 10; i++)
        table[i] = (float)i;
    sam_get_rel_pos(R, 3, 3, table, 5, 2, tmp);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int d = 0; d < 2; d++)
                ck_assert_float_eq(R[(i * 3 + j) * 2 + d], table[(i - j + 2) * 2 + d]);

    // A 3-row table stretched to 5 rows (F.interpolate linear, align_corners=False):
    // source positions 0 (clamped), 0.4, 1.0, 1.6, 2.2 (i1 clamped) -> t0, 0.6 t0 + 0.4 t1, t1,
    // 0.4 t1 + 0.6 t2, t2.
    float t3[3] = {1.0f, 2.0f, 4.0f}, R5[3 * 3], tmp5[5];
    sam_get_rel_pos(R5, 3, 3, t3, 3, 1, tmp5);
    const float want[5] = {1.0f, 1.4f, 2.0f, 3.2f, 4.0f};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_float_eq_tol(R5[i * 3 + j], want[i - j + 2], 1e-6f);

    // q_size != k_size: q 2, k 4 -> index 2i - j + 3 into 7 rows.
    float t7[7], R24[2 * 4];
    for (int i = 0; i < 7; i++)
        t7[i] = (float)(10 * i);
    sam_get_rel_pos(R24, 2, 4, t7, 7, 1, NULL);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_float_eq(R24[i * 4 + j], t7[2 * i - j + 3]);
}
END_TEST

static const char *tiny_config =
    "{\"decoder_attention_downsample_rate\": 2, \"decoder_iou_head_depth\": 3, "
    "\"decoder_iou_head_hidden_dim\": 64,"
    " \"decoder_num_multimask_outputs\": 3, \"decoder_transformer_depth\": 2, "
    "\"decoder_transformer_embedding_dim\": 64,"
    " \"decoder_transformer_mlp_dim\": 128, \"decoder_transformer_num_heads\": 4, \"encoder_depth\": 4,"
    " \"encoder_embed_dim\": 96, \"encoder_global_attn_indexes\": [1, 3], \"encoder_mlp_ratio\": 4.0,"
    " \"encoder_num_heads\": 3, \"encoder_window_size\": 6, \"image_embedding_size\": [16, 16], "
    "\"img_size\": 256,"
    " \"in_chans\": 3, \"mask_in_chans\": 16, \"patch_size\": 16, \"prompt_embed_dim\": 64}";

// The tiny config with one substring replaced; parsing must fail with a message holding `why`.
static void config_fails(const char *from, const char *to, const char *why) {
    char buf[2048];
    const char *p = strstr(tiny_config, from);
    ck_assert_ptr_nonnull(p);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - tiny_config), tiny_config, to, p + strlen(from));
    sam_config c;
    ug_err err;
    ck_assert_int_ne(sam_config_parse(&c, buf, &err), UG_OK);
    ck_assert_msg(strstr(err.msg, why) != NULL, "%s", err.msg);
}

START_TEST(config_parse) {
    sam_config c;
    ug_err err;
    ck_assert_int_eq(sam_config_parse(&c, tiny_config, &err), UG_OK);
    ck_assert_int_eq(c.enc_depth, 4);
    ck_assert_int_eq(c.n_global, 2);
    ck_assert_int_eq(c.enc_global_attn_indexes[1], 3);
    ck_assert_int_eq(c.embed_h, 16);
    ck_assert(c.enc_use_rel_pos && c.enc_use_abs_pos && c.enc_qkv_bias); // official defaults
    ck_assert_float_eq(c.pixel_std[2], 57.375f);
    ck_assert(fabs(c.enc_ln_eps - 1e-6) < 1e-12);

    config_fails("[1, 3]", "[1, 9]", "block 9 does not exist");
    config_fails("\"encoder_num_heads\": 3", "\"encoder_num_heads\": 5",
                 "not divisible by encoder_num_heads 5");
    config_fails("\"patch_size\": 16, ", "", "patch_size");
    config_fails("\"img_size\": 256", "\"img_size\": 250", "does not give image_embedding_size");
    config_fails("\"encoder_depth\": 4", "\"encoder_depth\": -4", "encoder_depth");
    config_fails("\"in_chans\": 3", "\"in_chans\": \"3\"", "in_chans");
}
END_TEST

// A one-tensor safetensors image in memory: F16 [2, 3] holding 0.5 * i, the header padded
// with spaces so the data is 8-byte aligned.
START_TEST(weights_shape_check_and_widening) {
    char hdr[64] = "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]}}";
    size_t hlen = strlen(hdr);
    while (hlen % 8)
        hdr[hlen++] = ' ';
    _Alignas(64) unsigned char buf[128] = {0};
    for (int b = 0; b < 8; b++)
        buf[b] = (unsigned char)(hlen >> (8 * b));
    memcpy(buf + 8, hdr, hlen);
    for (int i = 0; i < 6; i++) {
        uint16_t h = ug_f32_to_f16(0.5f * (float)i);
        memcpy(buf + 8 + hlen + 2 * i, &h, 2);
    }
    ug_st_file *st;
    ug_err err;
    ck_assert_int_eq(ug_st_open_memory(&st, buf, 8 + hlen + 12, "mem.safetensors", &err), UG_OK);
    ug_weights w;
    ug_weights_init(&w, st, "mem.safetensors");
    ug_tensor t;
    ck_assert_int_eq(ug_weights_get(&w, &t, "w", UG_DIMS(3, 2), &err), UG_ERR_FORMAT);
    ck_assert_str_eq(err.msg, "mem.safetensors: tensor w has shape [2,3], expected [3,2]");
    ck_assert_int_eq(ug_weights_get(&w, &t, "nope", UG_DIMS(2, 3), &err), UG_ERR_FORMAT);
    ck_assert_str_eq(err.msg, "mem.safetensors: tensor nope is missing");
    ck_assert_int_eq(ug_weights_get(&w, &t, "w", UG_DIMS(2, 3), &err), UG_OK);
    ck_assert_int_eq(t.dtype, UG_F16);
    ck_assert_int_eq(ug_weights_get_f32(&w, &t, "w", UG_DIMS(2, 3), &err), UG_OK);
    ck_assert_int_eq(t.dtype, UG_F32);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(((float *)t.data)[i], 0.5f * (float)i);
    ug_weights_release(&w);
    ug_st_close(st);
}
END_TEST

// ---- sam_tiny golden (tests/golden_models.c, shared with the CUDA suite) ----

START_TEST(preprocess_predictor) {
    REQUIRE_MODEL();
    golden_sam_preprocess(&test_ctx, g_model);
}
END_TEST

START_TEST(image_encoder_golden) {
    REQUIRE_MODEL();
    golden_sam_encoder(&test_ctx, g_model);
    // An input the encoder cannot take is an error naming it.
    ug_err err;
    ug_tensor bad, emb;
    ck_assert_int_eq(ug_tensor_new(&bad, UG_F32, UG_DIMS(1, 3, 250, 256), &err), UG_OK);
    ck_assert_int_eq(sam_encode_image(&test_ctx, g_model, &bad, &emb, NULL, &err), UG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "patch size") != NULL, "%s", err.msg);
    ug_tensor_free(&bad);
}
END_TEST

START_TEST(prompt_cases_golden) {
    REQUIRE_MODEL();
    golden_sam_prompt_case(&test_ctx, g_model, _i);
}
END_TEST

START_TEST(dense_pe_golden) {
    REQUIRE_MODEL();
    golden_sam_dense_pe(&test_ctx, g_model);
}
END_TEST

// The six single-point cases as ONE batch of prompts; a dense batch that fits neither 1 nor N
// prompts is refused.
START_TEST(batch_of_prompts_golden) {
    REQUIRE_MODEL();
    golden_sam_prompt_batch(&test_ctx, g_model);
    ug_err err;
    float xy[2] = {10, 20};
    int label = 1;
    sam_prompts p = {1, 1, xy, &label, NULL, NULL};
    ug_tensor sparse, dense, low, iou, dense3, emb = golden("sam_tiny/image_embeddings.npy");
    ck_assert_int_eq(sam_encode_prompts(&test_ctx, g_model, &p, &sparse, &dense, &err), UG_OK);
    ck_assert_int_eq(ug_tensor_new(&dense3, UG_F32, UG_DIMS(3, 64, 16, 16), &err), UG_OK);
    ck_assert_int_eq(
        sam_decode_masks(&test_ctx, g_model, &emb, &sparse, &dense3, true, &low, &iou, NULL, &err),
        UG_ERR_ARG);
    ug_tensor_free(&dense3);
    ug_tensor_free(&sparse);
    ug_tensor_free(&dense);
    ug_tensor_free(&emb);
}
END_TEST

// UGainS path (pipeline_tiny): normalised float image -> bilinear resize + pad -> encoder ->
// 8 single-point prompts, repeated to 20 so the decoder runs more than one chunk.
START_TEST(ugains_float_path_golden) {
    REQUIRE_MODEL();
    golden_sam_float_path(&test_ctx, g_model);
}
END_TEST

// Weights packed as F16 / BF16 run the same code (GEMM widens the matrices, norms and
// embeddings are widened at load). Rounding the weights moves the embedding (values up to
// 4) by 3.4e-3 (F16, 11-bit mantissa) and 3.5e-2 (BF16, 8-bit) on this model; the bounds
// leave 3x headroom, while reading the halves with the wrong format gives errors of order 1.
START_TEST(half_precision_weights) {
    ck_assert_msg(test_golden_available(), "golden set missing");
    const ug_dtype dts[2] = {UG_F16, UG_BF16};
    const double atol[2] = {1e-2, 1e-1};
    char *dir = test_tmpdir(), out[64];
    ug_tensor input = golden("sam_tiny/input_preprocessed.npy");
    for (int k = 0; k < 2; k++) {
        ug_err err;
        snprintf(out, sizeof out, "sam_tiny_%s.safetensors", ug_dtype_name(dts[k]));
        char *path = sam_test_pack_as(dir, out, dts[k]);
        ck_assert_msg(path != NULL, "packing sam_tiny as %s failed (see stderr)", ug_dtype_name(dts[k]));
        sam_model *m;
        ck_assert_msg(sam_load(&m, path, &err) == UG_OK, "%s", err.msg);
        ck_assert_int_eq(m->blocks[0].qkv.w.dtype, dts[k]); // matrices stay packed
        ug_tensor emb;
        ck_assert_int_eq(sam_encode_image(&test_ctx, m, &input, &emb, NULL, &err), UG_OK);
        check_golden(&emb, "sam_tiny/image_embeddings.npy", atol[k], 0);
        ug_tensor_free(&emb);
        sam_free(m);
        free(path);
    }
    ug_tensor_free(&input);
    test_rmtree(dir);
    free(dir);
}
END_TEST

// max |got - want| over n values, and max |want|.
static void max_errors(const float *got, const float *want, int64_t n, double *err, double *ref) {
    *err = 0, *ref = 0;
    for (int64_t i = 0; i < n; i++) {
        *err = fmax(*err, fabs((double)got[i] - want[i]));
        *ref = fmax(*ref, fabs((double)want[i]));
    }
}

// bf16 precision (issue 12): every GEMM, convolution and attention of the encoder and the
// decoder rounds its operands to bf16 and sums in f32, with the F32 weights. An 8-bit
// significand is a relative error of 2^-9 per operand, which the encoder's 4 blocks and neck
// carry to 7.4e-3 of max |embedding| on this model (measured: 2.9e-2 with max |ref| 3.98, about
// what rounding the weights alone to BF16 does, half_precision_weights); the bound the issue
// sets for bf16 is 3e-2 of max |ref|. The masks SAM returns are the logits > 0 (SamPredictor's
// threshold): of the golden upscaled masks (p0, box, mask; 3 masks each at 96 x 160), at least
// 99 % of the pixels must be on the same side of 0 as the golden logits (measured 99.6 to
// 99.7 %); mask logits within bf16 noise of 0 may flip. On a CPU without AVX512-BF16 the precision falls back
// to f32 and the f32 golden tests above already hold to 1e-4.
START_TEST(bf16_precision_golden) {
    REQUIRE_MODEL();
    ug_err err;
    const char *note;
    ug_precision got_p = ug_ctx_set_precision(&test_ctx, UG_PRECISION_BF16, &note);
    ck_assert_int_eq(got_p, ug_cpu_use_avx512_bf16() ? UG_PRECISION_BF16 : UG_PRECISION_F32);
    ug_tensor input = golden("sam_tiny/input_preprocessed.npy"), emb,
              want = golden("sam_tiny/image_embeddings.npy");
    ck_assert_int_eq(sam_encode_image(&test_ctx, g_model, &input, &emb, NULL, &err), UG_OK);
    double e, r;
    max_errors(emb.data, want.data, ug_tensor_numel(&want), &e, &r);
    printf("sam_tiny bf16: image embeddings max |err| %.3g = %.3g of max |ref| %.3g\n", e, e / r, r);
    ck_assert_msg(e <= 3e-2 * r, "bf16 image embeddings off by %g, bound 3e-2 x %g", e, r);

    static const struct {
        const char *name;
        float xy[2];
        bool box, mask;
        float bx[4];
    } pcs[] = {{"p0", {37.0f, 41.0f}, false, false, {0}},
               {"box", {0}, true, false, {30.0f, 20.0f, 120.0f, 80.0f}},
               {"mask", {37.0f, 41.0f}, false, true, {0}}};
    const int orig_hw[2] = {96, 160}, input_hw[2] = {154, 256};
    for (size_t c = 0; c < sizeof pcs / sizeof pcs[0]; c++) {
        float xy[2] = {pcs[c].xy[0], pcs[c].xy[1]}, bx[4];
        memcpy(bx, pcs[c].bx, sizeof bx);
        int label = 1;
        sam_apply_coords(orig_hw, input_hw, xy, 1);
        sam_apply_coords(orig_hw, input_hw, bx, 2);
        ug_tensor mask_in = {0};
        if (pcs[c].mask) mask_in = golden("sam_tiny/mask-mask_input.npy");
        sam_prompts p = {1,      pcs[c].box ? 0 : 1,     xy,
                         &label, pcs[c].box ? bx : NULL, pcs[c].mask ? &mask_in : NULL};
        ug_tensor sparse, dense, low, iou, masks;
        ck_assert_int_eq(sam_encode_prompts(&test_ctx, g_model, &p, &sparse, &dense, &err), UG_OK);
        ck_assert_int_eq(
            sam_decode_masks(&test_ctx, g_model, &emb, &sparse, &dense, true, &low, &iou, NULL, &err), UG_OK);
        ck_assert_int_eq(sam_postprocess_masks(&test_ctx, g_model, &low, input_hw, orig_hw, &masks, &err),
                         UG_OK);
        char rel[64];
        snprintf(rel, sizeof rel, "sam_tiny/%s-masks_multi.npy", pcs[c].name);
        ug_tensor gm = golden(rel);
        int64_t n = ug_tensor_numel(&gm), same = 0;
        ck_assert_int_eq(ug_tensor_numel(&masks), n);
        const float *a = masks.data, *b = gm.data;
        for (int64_t i = 0; i < n; i++)
            same += (a[i] > 0) == (b[i] > 0);
        printf("sam_tiny bf16: %s masks > 0 agree on %.4f %% of %lld pixels\n", pcs[c].name, 100.0 * same / n,
               (long long)n);
        ck_assert_msg(same >= 0.99 * n, "%s: bf16 masks agree on %lld of %lld pixels", rel, (long long)same,
                      (long long)n);
        ug_tensor *all[] = {&sparse, &dense, &low, &iou, &masks, &gm, &mask_in};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            ug_tensor_free(all[i]);
    }
    ug_tensor_free(&emb);
    ug_tensor_free(&want);
    ug_tensor_free(&input);
}
END_TEST

START_TEST(prompt_errors) {
    REQUIRE_MODEL();
    ug_err err;
    ug_tensor sparse, dense, bad;
    float xy[2] = {1, 2};
    int label = 1;
    ck_assert_int_eq(ug_tensor_new(&bad, UG_F32, UG_DIMS(1, 1, 32, 32), &err), UG_OK);
    sam_prompts p = {1, 1, xy, &label, NULL, &bad};
    ck_assert_int_eq(sam_encode_prompts(&test_ctx, g_model, &p, &sparse, &dense, &err), UG_ERR_ARG);
    ck_assert_msg(strstr(err.msg, "mask input") && strstr(err.msg, "[1,1,64,64]"), "%s", err.msg);
    sam_prompts none = {0, 0, NULL, NULL, NULL, NULL};
    ck_assert_int_eq(sam_encode_prompts(&test_ctx, g_model, &none, &sparse, &dense, &err), UG_ERR_ARG);
    ug_tensor_free(&bad);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *unit = test_case(&(test_case_def){.name = "sam"}, &s);
    test_add(unit, rel_pos_identity_and_interpolation, config_parse, weights_shape_check_and_widening);
    TCase *g = tcase_create("golden");
    tcase_add_unchecked_fixture(g, setup, teardown);
    tcase_add_checked_fixture(g, test_ctx_setup, test_ctx_teardown);
    tcase_set_timeout(g, 60);
    test_add(g, preprocess_predictor, image_encoder_golden, dense_pe_golden);
    tcase_add_loop_test(g, prompt_cases_golden, 0, golden_sam_case_count());
    test_add(g, batch_of_prompts_golden, ugains_float_path_golden, half_precision_weights,
             bf16_precision_golden, prompt_errors);
    suite_add_tcase(s, g);
    return test_run_suite(s);
}
