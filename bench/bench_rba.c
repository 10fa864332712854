// bench/bench_rba.c — `ugains bench rba`: the whole RbA branch (Swin, pixel decoder,
// masked-attention decoder, fused scoring) at a given image size, with random weights made in
// memory at the tiny or the released Swin-B sizes (or a packed file), so no checkpoint is
// needed. One row per stage (best of N runs), the whole forward, the activation arena's peak
// and the process's peak RSS.
//
//   bench_rba_main(argc, argv): [--model tiny|swin_b] [--weights FILE] [--image HxW]
//                               [--dec-layers N] [--pad32] [--threads N] [--runs N]
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "engine/safetensors.h"
#include "engine/timer.h"
#include "models/rba.h"

int bench_rba_main(int argc, char **argv);

typedef struct rba_preset {
    const char *name;
    int embed, depths[4], heads[4];
    int pd_dim, pd_mask, pd_heads, pd_ffn, pd_layers;
    int hidden, queries, dec_heads, dec_ffn, dec_mask;
} rba_preset;

static const rba_preset presets[] = {
    {"tiny", 8, {2, 2, 2, 2}, {1, 2, 4, 8}, 64, 32, 4, 64, 2, 64, 10, 4, 64, 32},
    {"swin_b", 128, {2, 2, 18, 2}, {4, 8, 16, 32}, 256, 256, 8, 1024, 6, 256, 100, 8, 2048, 256},
};

// The packed tensor list (names as `ugains pack` writes them for RbA: backbone.*,
// pixel_decoder.* with res5 as the only encoder level, predictor.*).
typedef struct tlist {
    char (*name)[128];
    int64_t (*shape)[4];
    int *ndim;
    int n, cap;
} tlist;

static void add(tlist *l, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void add(tlist *l, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, const char *fmt, ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 512;
        l->name = realloc(l->name, (size_t)l->cap * sizeof *l->name);
        l->shape = realloc(l->shape, (size_t)l->cap * sizeof *l->shape);
        l->ndim = realloc(l->ndim, (size_t)l->cap * sizeof *l->ndim);
        if (!l->name || !l->shape || !l->ndim) abort();
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->name[l->n], sizeof l->name[0], fmt, ap);
    va_end(ap);
    int64_t s[4] = {a, b, c, d};
    memcpy(l->shape[l->n], s, sizeof s);
    l->ndim[l->n++] = ndim;
}

static void add_norm(tlist *l, int64_t C, const char *base) {
    add(l, 1, C, 0, 0, 0, "%s.weight", base);
    add(l, 1, C, 0, 0, 0, "%s.bias", base);
}

static void add_linear(tlist *l, int64_t out, int64_t in, bool bias, const char *base) {
    add(l, 2, out, in, 0, 0, "%s.weight", base);
    if (bias) add(l, 1, out, 0, 0, 0, "%s.bias", base);
}

static void tensor_list(tlist *l, const rba_preset *p, int dec_layers) {
    char n[128];
    int64_t E = p->embed, T = 23 * 23;
    add(l, 4, E, 3, 4, 4, "backbone.patch_embed.proj.weight");
    add(l, 1, E, 0, 0, 0, "backbone.patch_embed.proj.bias");
    add_norm(l, E, "backbone.patch_embed.norm");
    for (int s = 0; s < 4; s++) {
        int64_t C = E << s;
        for (int b = 0; b < p->depths[s]; b++) {
            snprintf(n, sizeof n, "backbone.layers.%d.blocks.%d", s, b);
            char k[160];
            snprintf(k, sizeof k, "%s.norm1", n), add_norm(l, C, k);
            snprintf(k, sizeof k, "%s.norm2", n), add_norm(l, C, k);
            add(l, 2, T, p->heads[s], 0, 0, "%s.attn.relative_position_bias_table", n);
            snprintf(k, sizeof k, "%s.attn.qkv", n), add_linear(l, 3 * C, C, true, k);
            snprintf(k, sizeof k, "%s.attn.proj", n), add_linear(l, C, C, true, k);
            snprintf(k, sizeof k, "%s.mlp.fc1", n), add_linear(l, 4 * C, C, true, k);
            snprintf(k, sizeof k, "%s.mlp.fc2", n), add_linear(l, C, 4 * C, true, k);
        }
        snprintf(n, sizeof n, "backbone.norm%d", s), add_norm(l, C, n);
        if (s < 3) {
            snprintf(n, sizeof n, "backbone.layers.%d.downsample.norm", s), add_norm(l, 4 * C, n);
            snprintf(n, sizeof n, "backbone.layers.%d.downsample.reduction", s), add_linear(l, 2 * C, 4 * C, false, n);
        }
    }
    int64_t C = p->pd_dim, M = p->pd_heads, P = 4;
    add(l, 4, C, 8 * E, 1, 1, "pixel_decoder.input_proj.0.0.weight");
    add(l, 1, C, 0, 0, 0, "pixel_decoder.input_proj.0.0.bias");
    add_norm(l, C, "pixel_decoder.input_proj.0.1");
    add(l, 2, 1, C, 0, 0, "pixel_decoder.transformer.level_embed");
    for (int i = 0; i < p->pd_layers; i++) {
        char k[160];
        snprintf(n, sizeof n, "pixel_decoder.transformer.encoder.layers.%d", i);
        snprintf(k, sizeof k, "%s.self_attn.sampling_offsets", n), add_linear(l, M * P * 2, C, true, k);
        snprintf(k, sizeof k, "%s.self_attn.attention_weights", n), add_linear(l, M * P, C, true, k);
        snprintf(k, sizeof k, "%s.self_attn.value_proj", n), add_linear(l, C, C, true, k);
        snprintf(k, sizeof k, "%s.self_attn.output_proj", n), add_linear(l, C, C, true, k);
        snprintf(k, sizeof k, "%s.norm1", n), add_norm(l, C, k);
        snprintf(k, sizeof k, "%s.linear1", n), add_linear(l, p->pd_ffn, C, true, k);
        snprintf(k, sizeof k, "%s.linear2", n), add_linear(l, C, p->pd_ffn, true, k);
        snprintf(k, sizeof k, "%s.norm2", n), add_norm(l, C, k);
    }
    add(l, 4, p->pd_mask, C, 1, 1, "pixel_decoder.mask_features.weight");
    add(l, 1, p->pd_mask, 0, 0, 0, "pixel_decoder.mask_features.bias");
    for (int k = 1; k <= 3; k++) { // adapter_k / layer_k on res{k+1}
        add(l, 4, C, E << (k - 1), 1, 1, "pixel_decoder.adapter_%d.weight", k);
        snprintf(n, sizeof n, "pixel_decoder.adapter_%d.norm", k), add_norm(l, C, n);
        add(l, 4, C, C, 3, 3, "pixel_decoder.layer_%d.weight", k);
        snprintf(n, sizeof n, "pixel_decoder.layer_%d.norm", k), add_norm(l, C, n);
    }
    int64_t Hd = p->hidden;
    for (int i = 0; i < dec_layers; i++) {
        static const char *const attn[2][2] = {{"transformer_self_attention_layers", "self_attn"},
                                               {"transformer_cross_attention_layers", "multihead_attn"}};
        for (int a = 0; a < 2; a++) {
            add(l, 2, 3 * Hd, Hd, 0, 0, "predictor.%s.%d.%s.in_proj_weight", attn[a][0], i, attn[a][1]);
            add(l, 1, 3 * Hd, 0, 0, 0, "predictor.%s.%d.%s.in_proj_bias", attn[a][0], i, attn[a][1]);
            snprintf(n, sizeof n, "predictor.%s.%d.%s.out_proj", attn[a][0], i, attn[a][1]);
            add_linear(l, Hd, Hd, true, n);
            snprintf(n, sizeof n, "predictor.%s.%d.norm", attn[a][0], i), add_norm(l, Hd, n);
        }
        snprintf(n, sizeof n, "predictor.transformer_ffn_layers.%d.linear1", i), add_linear(l, p->dec_ffn, Hd, true, n);
        snprintf(n, sizeof n, "predictor.transformer_ffn_layers.%d.linear2", i), add_linear(l, Hd, p->dec_ffn, true, n);
        snprintf(n, sizeof n, "predictor.transformer_ffn_layers.%d.norm", i), add_norm(l, Hd, n);
    }
    add_norm(l, Hd, "predictor.decoder_norm");
    add(l, 2, p->queries, Hd, 0, 0, "predictor.query_feat.weight");
    add(l, 2, p->queries, Hd, 0, 0, "predictor.query_embed.weight");
    add(l, 2, 3, Hd, 0, 0, "predictor.level_embed.weight");
    add_linear(l, 20, Hd, true, "predictor.class_embed");
    add_linear(l, Hd, Hd, true, "predictor.mask_embed.layers.0");
    add_linear(l, Hd, Hd, true, "predictor.mask_embed.layers.1");
    add_linear(l, p->dec_mask, Hd, true, "predictor.mask_embed.layers.2");
}

static void config_json(char *buf, size_t n, const rba_preset *p, int dec_layers) {
    snprintf(buf, n,
             "{\\\"decoder_dec_layers\\\": %d, \\\"decoder_dim_feedforward\\\": %d, \\\"decoder_hidden_dim\\\": %d,"
             " \\\"decoder_mask_dim\\\": %d, \\\"decoder_nheads\\\": %d, \\\"decoder_num_classes\\\": 19,"
             " \\\"decoder_num_feature_levels\\\": 3, \\\"decoder_num_queries\\\": %d,"
             " \\\"pixel_decoder_common_stride\\\": 4, \\\"pixel_decoder_conv_dim\\\": %d,"
             " \\\"pixel_decoder_deform_n_points\\\": 4, \\\"pixel_decoder_mask_dim\\\": %d,"
             " \\\"pixel_decoder_transformer_dim_feedforward\\\": %d, \\\"pixel_decoder_transformer_enc_layers\\\": %d,"
             " \\\"pixel_decoder_transformer_in_features\\\": [\\\"res5\\\"],"
             " \\\"pixel_decoder_transformer_nheads\\\": %d, \\\"swin_depths\\\": [%d, %d, %d, %d],"
             " \\\"swin_embed_dim\\\": %d, \\\"swin_num_heads\\\": [%d, %d, %d, %d], \\\"swin_patch_size\\\": 4,"
             " \\\"swin_window_size\\\": 12}",
             dec_layers, p->dec_ffn, p->hidden, p->dec_mask, p->dec_heads, p->queries, p->pd_dim, p->pd_mask,
             p->pd_ffn, p->pd_layers, p->pd_heads, p->depths[0], p->depths[1], p->depths[2], p->depths[3], p->embed,
             p->heads[0], p->heads[1], p->heads[2], p->heads[3]);
}

// A safetensors image in memory with random F32 data: U(-a, a), a = 1/sqrt(fan_in); norm
// weights near 1, other 1-D tensors small, so activations stay in a realistic range.
static unsigned char *make_file(const tlist *l, const char *config, size_t *size) {
    size_t cap = 4096 + strlen(config) + (size_t)l->n * 200, k = 0;
    char *hdr = malloc(cap);
    if (!hdr) return NULL;
    k += (size_t)snprintf(hdr + k, cap - k, "{\"__metadata__\": {\"arch\": \"rba\", \"config\": \"%s\"}", config);
    size_t off = 0;
    for (int i = 0; i < l->n; i++) {
        int64_t numel = 1;
        k += (size_t)snprintf(hdr + k, cap - k, ", \"%s\": {\"dtype\": \"F32\", \"shape\": [", l->name[i]);
        for (int d = 0; d < l->ndim[i]; d++) {
            k += (size_t)snprintf(hdr + k, cap - k, "%s%lld", d ? ", " : "", (long long)l->shape[i][d]);
            numel *= l->shape[i][d];
        }
        k += (size_t)snprintf(hdr + k, cap - k, "], \"data_offsets\": [%zu, %zu]}", off, off + (size_t)numel * 4);
        off += (size_t)numel * 4;
    }
    k += (size_t)snprintf(hdr + k, cap - k, "}");
    size_t hlen = ((8 + k + 63) & ~(size_t)63) - 8;
    *size = 8 + hlen + off;
    unsigned char *buf = aligned_alloc(64, (*size + 63) & ~(size_t)63);
    if (!buf) {
        free(hdr);
        return NULL;
    }
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
    memcpy(buf + 8, hdr, k);
    memset(buf + 8 + k, ' ', hlen - k);
    free(hdr);
    float *data = (float *)(buf + 8 + hlen);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < l->n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < l->ndim[i]; d++) numel *= l->shape[i][d];
        int64_t fan_in = l->ndim[i] >= 2 ? numel / l->shape[i][0] : 1;
        bool norm_w = l->ndim[i] == 1 && strstr(l->name[i], "norm") && strstr(l->name[i], ".weight");
        bool embed = strstr(l->name[i], "query_") || strstr(l->name[i], "level_embed") || strstr(l->name[i], "bias_table");
        float a = embed ? 1.0f : l->ndim[i] == 1 ? 0.02f : 1.0f / sqrtf((float)fan_in);
        for (int64_t j = 0; j < numel; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float u = (float)((s >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
            data[j] = norm_w ? 1.0f + 0.02f * u : a * u;
        }
        data += numel;
    }
    return buf;
}

static void usage(FILE *f) {
    fprintf(f, "usage: ugains bench rba [--model tiny|swin_b] [--weights FILE] [--image HxW] [--dec-layers N]\n"
               "                        [--pad32] [--threads N] [--runs N]\n"
               "\n"
               "Times the RbA branch per stage (backbone, pixel decoder, decoder, fused scoring; best of\n"
               "N runs) on a synthetic image (default 1024x2048) with random weights at the model's\n"
               "sizes (default swin_b, 1 decoder layer) or the weights of a packed file; prints the\n"
               "arena and process memory peaks.\n");
}

int bench_rba_main(int argc, char **argv) {
    const char *model = "swin_b", *weights = NULL;
    int threads = 0, H = 1024, W = 2048, runs = 1, dec_layers = 1;
    bool pad32 = false;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"weights", required_argument, 0, 'w'},
        {"image", required_argument, 0, 'i'},  {"dec-layers", required_argument, 0, 'l'},
        {"pad32", no_argument, 0, 'p'},        {"threads", required_argument, 0, 't'},
        {"runs", required_argument, 0, 'r'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'w': weights = optarg; break;
        case 'i':
            if (sscanf(optarg, "%dx%d", &H, &W) != 2 || H < 1 || W < 1) {
                fprintf(stderr, "ugains: bench rba: --image wants HxW, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'l': dec_layers = atoi(optarg); break;
        case 'p': pad32 = true; break;
        case 't': threads = atoi(optarg); break;
        case 'r': runs = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    const rba_preset *p = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(presets[i].name, model)) p = &presets[i];
    if (!p || runs < 1 || runs > 100 || dec_layers < 1 || dec_layers > 64) {
        fprintf(stderr, "ugains: bench rba: unknown model '%s', bad run count or bad layer count\n", model);
        return 2;
    }
    ug_err err;
    ug_ctx ctx;
    if (ug_ctx_init(&ctx, threads, &err) != UG_OK) {
        fprintf(stderr, "ugains: %s\n", err.msg);
        return 1;
    }
    tlist l = {0};
    unsigned char *file = NULL;
    size_t size = 0;
    rba_model *m = NULL;
    ug_tensor img = {0};
    rba_output o = {0};
    int rc = 1;
    if (weights) {
        if (rba_load(&m, weights, &err) != UG_OK) goto fail;
    } else {
        char config[2048];
        config_json(config, sizeof config, p, dec_layers);
        tensor_list(&l, p, dec_layers);
        file = make_file(&l, config, &size);
        ug_st_file *st;
        if (!file) {
            fprintf(stderr, "ugains: bench rba: cannot allocate %zu bytes of weights\n", size);
            goto done;
        }
        if (ug_st_open_memory(&st, file, size, model, &err) != UG_OK || rba_load_st(&m, st, true, model, &err) != UG_OK)
            goto fail;
    }
    if (ug_tensor_new(&img, UG_U8, UG_DIMS(H, W, 3), &err) != UG_OK) goto fail;
    uint8_t *px = img.data;
    for (int64_t i = 0; i < (int64_t)3 * H * W; i++) px[i] = (uint8_t)((i * 2654435761u) >> 24);

    ug_bench b = {.ctx = &ctx, .quick = true, .out = stdout};
    b.peak_gflops = bench_measure_peak_gflops(&ctx);
    printf("rba %s, %d decoder layer(s), image %dx%d%s, %d threads, best of %d\n", weights ? weights : model,
           m->cfg.dec.layers, H, W, pad32 ? " (pad32)" : "", ctx.nthreads, runs);
    bench_header(&b);
    double best[4] = {INFINITY, INFINITY, INFINITY, INFINITY}, best_total = INFINITY;
    for (int r = 0; r < runs; r++) {
        double t0 = ug_now_ms();
        if (rba_forward_u8(&ctx, m, &img, pad32, &o, NULL, &err) != UG_OK) goto fail;
        double total = ug_now_ms() - t0;
        for (int s = 0; s < 4; s++) best[s] = o.ms[s] < best[s] ? o.ms[s] : best[s];
        best_total = total < best_total ? total : best_total;
        rba_output_free(&o);
    }
    static const char *const stages[4] = {"rba backbone", "rba pixel decoder", "rba decoder", "rba scoring"};
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d", H, W);
    for (int s = 0; s < 4; s++) bench_row(&b, stages[s], shape, best[s], 0, 0);
    bench_row(&b, "rba total", shape, best_total, 0, 0);
    printf("arena peak %.1f MB, process peak RSS %.1f MB\n", ctx.arena.peak / 1e6, ug_peak_rss_bytes() / 1e6);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ugains: %s\n", err.msg);
done:
    rba_output_free(&o);
    ug_tensor_free(&img);
    rba_free(m);
    free(file);
    free(l.name);
    free(l.shape);
    free(l.ndim);
    ug_ctx_free(&ctx);
    return rc;
}
