// tests/test_arch_rba.c — ug_arch_rba_official (the release RbA key list in the detectron2
// layout) and ug_synthetic_write: the tiny list is exactly golden/rba_tiny's key list, the
// Swin-B list has the release shapes, and a synthetic tiny checkpoint writes, packs, loads and
// runs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/rba.h"
#include "tests/helpers.h"
#include "weights-tools/arch.h"
#include "weights-tools/packer.h"
#include "weights-tools/synthetic.h"

static const ug_arch_item *find(const ug_arch_plan *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->items[i].name, name)) return &p->items[i];
    return NULL;
}

static void expect_shape(const ug_arch_plan *p, const char *name, int ndim, const int64_t *shape) {
    const ug_arch_item *it = find(p, name);
    ck_assert_msg(it != NULL, "%s missing", name);
    ck_assert_msg(it->ndim == ndim && !memcmp(it->shape, shape, (size_t)ndim * sizeof *shape),
                  "%s has the wrong shape", name);
}

// golden/rba_tiny/checkpoint_keys_<n>dl.txt: "d2 key \t ugains key \t [shape] \t dtype" per
// line, in the order torch.save wrote the detectron2 checkpoint.
static void check_against_golden(int layers) {
    char rel[64];
    snprintf(rel, sizeof rel, "rba_tiny/checkpoint_keys_%ddl.txt", layers);
    char *path = test_golden_path(rel);
    size_t len;
    char *text = test_read_file(path, &len);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    ug_arch_plan p;
    ug_err err;
    ck_assert_int_eq(ug_arch_rba_official("tiny", layers, &p, &err), UG_OK);
    int i = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *f[4] = {line, NULL, NULL, NULL};
        for (int k = 1; k < 4; k++) {
            char *tab = strchr(f[k - 1], '\t');
            ck_assert_msg(tab != NULL, "%s: malformed line", rel);
            *tab = '\0';
            f[k] = tab + 1;
        }
        ck_assert_msg(i < p.n, "%s: %s is not in the official list (it has %d items)", rel, f[0], p.n);
        const ug_arch_item *it = &p.items[i++];
        ck_assert_msg(!strcmp(it->name, f[0]), "%s: item %d is %s, golden has %s", rel, i - 1, it->name,
                      f[0]);
        int64_t shape[UG_MAX_DIMS];
        int nd = 0;
        for (char *s = f[2] + 1; *s && *s != ']' && nd < UG_MAX_DIMS;) {
            shape[nd++] = strtoll(s, &s, 10);
            while (*s == ',' || *s == ' ')
                s++;
        }
        ck_assert_msg(it->ndim == nd && !memcmp(it->shape, shape, (size_t)nd * sizeof *shape),
                      "%s: %s shape differs (%s)", rel, f[0], f[2]);
        ck_assert_msg(it->is_int == !strcmp(f[3], "int64"), "%s: %s dtype differs (%s)", rel, f[0], f[3]);
    }
    ck_assert_msg(i == p.n, "%s has %d keys, the official list %d", rel, i, p.n);
    ug_arch_plan_free(&p);
    free(text);
    free(path);
}

START_TEST(tiny_list_is_the_golden_key_list) {
    check_against_golden(1);
    check_against_golden(3);
}
END_TEST

START_TEST(swin_b_list_has_the_release_shapes) {
    ug_arch_plan p;
    ug_err err;
    ck_assert_int_eq(ug_arch_rba_official("swin_b", 1, &p, &err), UG_OK);
    expect_shape(&p, "backbone.patch_embed.proj.weight", UG_DIMS(128, 3, 4, 4));
    expect_shape(&p, "backbone.layers.2.blocks.17.attn.qkv.weight", UG_DIMS(1536, 512));
    expect_shape(&p, "backbone.layers.2.blocks.17.attn.relative_position_bias_table", UG_DIMS(529, 16));
    expect_shape(&p, "backbone.layers.3.blocks.1.mlp.fc1.weight", UG_DIMS(4096, 1024));
    expect_shape(&p, "backbone.layers.2.downsample.reduction.weight", UG_DIMS(1024, 2048));
    expect_shape(&p, "backbone.norm3.weight", UG_DIMS(1024));
    expect_shape(&p, "sem_seg_head.pixel_decoder.input_proj.0.0.weight", UG_DIMS(256, 1024, 1, 1));
    expect_shape(&p,
                 "sem_seg_head.pixel_decoder.transformer.encoder.layers.5.self_attn.sampling_offsets.weight",
                 UG_DIMS(64, 256)); // 8 heads x 1 level x 4 points x (x, y)
    expect_shape(&p,
                 "sem_seg_head.pixel_decoder.transformer.encoder.layers.5.self_attn.attention_weights.weight",
                 UG_DIMS(32, 256));
    expect_shape(&p, "sem_seg_head.pixel_decoder.transformer.encoder.layers.5.linear1.weight",
                 UG_DIMS(1024, 256));
    expect_shape(&p, "sem_seg_head.pixel_decoder.adapter_1.weight", UG_DIMS(256, 128, 1, 1));
    expect_shape(&p, "sem_seg_head.pixel_decoder.adapter_3.weight", UG_DIMS(256, 512, 1, 1));
    expect_shape(&p, "sem_seg_head.pixel_decoder.layer_3.weight", UG_DIMS(256, 256, 3, 3));
    expect_shape(&p, "sem_seg_head.pixel_decoder.mask_features.weight", UG_DIMS(256, 256, 1, 1));
    expect_shape(&p,
                 "sem_seg_head.predictor.transformer_cross_attention_layers.0.multihead_attn.in_proj_weight",
                 UG_DIMS(768, 256));
    expect_shape(&p, "sem_seg_head.predictor.transformer_ffn_layers.0.linear1.weight", UG_DIMS(2048, 256));
    expect_shape(&p, "sem_seg_head.predictor.query_feat.weight", UG_DIMS(100, 256));
    expect_shape(&p, "sem_seg_head.predictor.class_embed.weight", UG_DIMS(20, 256));
    expect_shape(&p, "sem_seg_head.predictor.mask_embed.layers.2.weight", UG_DIMS(256, 256));
    expect_shape(&p, "criterion.empty_weight", UG_DIMS(20));
    ck_assert_ptr_null(find(&p, "sem_seg_head.pixel_decoder.transformer.encoder.layers.6.linear1.weight"));
    ck_assert_ptr_null(find(&p, "sem_seg_head.predictor.transformer_ffn_layers.1.linear1.weight"));
    ck_assert_ptr_null(find(&p, "sem_seg_head.pixel_decoder.input_proj.1.0.weight"));
    int index = 0;
    for (int i = 0; i < p.n; i++)
        if (p.items[i].is_int) {
            ck_assert(strstr(p.items[i].name, ".attn.relative_position_index") != NULL);
            ck_assert(p.items[i].ndim == 2 && p.items[i].shape[0] == 144 && p.items[i].shape[1] == 144);
            index++;
        }
    ck_assert_int_eq(index, 2 + 2 + 18 + 2);
    // The config a packer infers from these shapes is one the model accepts.
    rba_config cfg;
    ck_assert_msg(rba_config_parse(&cfg, p.config_json, &err) == UG_OK, "%s", err.msg);
    ck_assert_int_eq(cfg.swin.depths[2], 18);
    ck_assert_int_eq(cfg.swin.num_heads[3], 32);
    ck_assert_int_eq(cfg.pd.enc_layers, 6);
    ck_assert_int_eq(cfg.pd.n_levels, 1);
    ck_assert_int_eq(cfg.pd.n_fpn, 3);
    ck_assert_int_eq(cfg.dec.queries, 100);
    ck_assert_int_eq(cfg.dec.layers, 1);
    ug_arch_plan_free(&p);
    ck_assert_int_eq(ug_arch_rba_official("swin_b", 9, &p, &err), UG_OK);
    ck_assert_ptr_nonnull(find(&p, "sem_seg_head.predictor.transformer_ffn_layers.8.linear1.weight"));
    ug_arch_plan_free(&p);
}
END_TEST

START_TEST(rejects_unknown_variants_and_layer_counts) {
    ug_arch_plan p;
    ug_err err;
    ck_assert_int_eq(ug_arch_rba_official("swin_x", 1, &p, &err), UG_ERR_ARG);
    ck_assert(strstr(err.msg, "swin_x") != NULL);
    ck_assert_int_eq(p.n, 0);
    ck_assert_int_eq(ug_arch_rba_official("tiny", 0, &p, &err), UG_ERR_ARG);
    ck_assert_int_eq(ug_arch_rba_official("tiny", 65, &p, &err), UG_ERR_ARG);
}
END_TEST

// tiny: write (detectron2 {'model': ...}) -> pack (auto-detected, head counts set) -> load ->
// forward on a small odd-sized image.
static void write_pack_load(const char *dir, int layers, ug_dtype dtype) {
    ug_arch_plan p;
    ug_err err;
    ck_assert_int_eq(ug_arch_rba_official("tiny", layers, &p, &err), UG_OK);
    char ckpt[4096], out[4096];
    snprintf(ckpt, sizeof ckpt, "%s/rba_tiny_%ddl.pth", dir, layers);
    snprintf(out, sizeof out, "%s/rba_tiny_%ddl_%s.safetensors", dir, layers, ug_dtype_name(dtype));
    uint64_t bytes = 0;
    ck_assert_msg(ug_synthetic_write(ckpt, &p, "model", &bytes, &err) == UG_OK, "%s", err.msg);
    ck_assert_uint_gt(bytes, 0);
    static const char *const sets[] = {"pixel_decoder_transformer_nheads=4", "decoder_nheads=4"};
    ug_pack_opts o = {.arch = "auto", .dtype = dtype, .set = sets, .nset = 2};
    ug_pack_stats stats;
    ck_assert_msg(ug_pack(ckpt, out, &o, &stats, &err) == UG_OK, "%s", err.msg);
    ck_assert_str_eq(stats.arch, "rba");
    // Everything but the relative_position_index buffers and criterion.empty_weight is packed.
    int dropped = 0;
    for (int i = 0; i < p.n; i++)
        dropped += p.items[i].is_int || !strcmp(p.items[i].name, "criterion.empty_weight");
    ck_assert_int_eq(stats.ntensors, p.n - dropped);

    rba_model *m;
    ck_assert_msg(rba_load(&m, out, &err) == UG_OK, "%s", err.msg);
    // The packer inferred exactly the config the list was made from.
    ck_assert_str_eq(ug_st_meta(m->st, "config"), p.config_json);
    ck_assert_int_eq(m->cfg.swin.embed_dim, 8);
    ck_assert_int_eq(m->cfg.swin.window, 12);
    ck_assert_int_eq(m->cfg.pd.heads, 4);
    ck_assert_int_eq(m->cfg.pd.points, 4);
    ck_assert_int_eq(m->cfg.pd.enc_layers, 2);
    ck_assert_int_eq(m->cfg.dec.layers, layers);
    ck_assert_int_eq(m->cfg.dec.classes, 19);

    ug_ctx ctx;
    ck_assert_int_eq(ug_ctx_init(&ctx, 2, &err), UG_OK);
    ug_tensor img;
    ck_assert_int_eq(ug_tensor_new(&img, UG_U8, UG_DIMS(33, 127, 3), &err), UG_OK);
    uint8_t *px = img.data;
    for (int64_t i = 0; i < 33 * 127 * 3; i++)
        px[i] = (uint8_t)((i * 2654435761u) >> 24);
    rba_output r;
    ck_assert_msg(rba_forward_u8(&ctx, m, &img, false, &r, NULL, &err) == UG_OK, "%s", err.msg);
    // score = -sum over classes and queries of softmax x sigmoid: within [-Q, 0] and finite.
    const float *sc = r.score.data;
    for (int64_t i = 0; i < 33 * 127; i++)
        ck_assert_msg(isfinite(sc[i]) && sc[i] <= 0 && sc[i] >= -10, "score[%lld] = %g", (long long)i, sc[i]);
    const uint8_t *sem = r.semantic.data;
    for (int64_t i = 0; i < 33 * 127; i++)
        ck_assert_int_lt(sem[i], 19);
    rba_output_free(&r);
    ug_tensor_free(&img);
    ug_ctx_free(&ctx);
    rba_free(m);
    ug_arch_plan_free(&p);
}

START_TEST(tiny_writes_packs_and_loads) {
    char *dir = test_tmpdir();
    write_pack_load(dir, 1, UG_F32);
    write_pack_load(dir, 3, UG_BF16);
    test_rmtree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s;
    TCase *tc = test_case(&(test_case_def){.name = "arch_rba", .timeout = 60}, &s);
    test_add(tc, tiny_list_is_the_golden_key_list, swin_b_list_has_the_release_shapes,
             rejects_unknown_variants_and_layer_counts, tiny_writes_packs_and_loads);
    return test_run_suite(s);
}
