// bench/bench_sam.c — `ugains bench sam`: per-stage time of the whole SAM forward pass at the
// official sizes (vit_b / vit_l / vit_h, or sam_tiny) with random weights made in memory, so
// no checkpoint is needed. Prints one row per stage (ms, GFLOP/s, % of peak), the activation
// arena's peak and the process's peak RSS.
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "bench/flops.h"
#include "engine/safetensors.h"
#include "engine/timer.h"
#include "models/sam.h"
#include "ops/ops.h"

typedef struct preset {
    const char *name;
    int img, embed, depth, heads, window, global[4], prompt, mask_in, dec_mlp, dec_heads, iou_hidden;
} preset;

static const preset presets[] = {
    {"tiny", 256, 96, 4, 3, 6, {1, 3, -1, -1}, 64, 16, 128, 4, 64},
    {"vit_b", 1024, 768, 12, 12, 14, {2, 5, 8, 11}, 256, 16, 2048, 8, 256},
    {"vit_l", 1024, 1024, 24, 16, 14, {5, 11, 17, 23}, 256, 16, 2048, 8, 256},
    {"vit_h", 1024, 1280, 32, 16, 14, {7, 15, 23, 31}, 256, 16, 2048, 8, 256},
};

static void config_json(char *buf, size_t n, const preset *p) {
    char glob[64] = "";
    size_t k = 0;
    for (int i = 0; i < 4 && p->global[i] >= 0; i++)
        k += (size_t)snprintf(glob + k, sizeof glob - k, "%s%d", i ? ", " : "", p->global[i]);
    snprintf(buf, n,
             "{\"decoder_attention_downsample_rate\": 2, \"decoder_iou_head_depth\": 3,"
             " \"decoder_iou_head_hidden_dim\": %d, \"decoder_num_multimask_outputs\": 3,"
             " \"decoder_transformer_depth\": 2, \"decoder_transformer_embedding_dim\": %d,"
             " \"decoder_transformer_mlp_dim\": %d, \"decoder_transformer_num_heads\": %d,"
             " \"encoder_depth\": %d, \"encoder_embed_dim\": %d, \"encoder_global_attn_indexes\": [%s],"
             " \"encoder_mlp_ratio\": 4.0, \"encoder_num_heads\": %d, \"encoder_window_size\": %d,"
             " \"image_embedding_size\": [%d, %d], \"img_size\": %d, \"in_chans\": 3,"
             " \"mask_in_chans\": %d, \"patch_size\": 16, \"prompt_embed_dim\": %d}",
             p->iou_hidden, p->prompt, p->dec_mlp, p->dec_heads, p->depth, p->embed, glob, p->heads,
             p->window, p->img / 16, p->img / 16, p->img, p->mask_in, p->prompt);
}

// The parameter list of a SAM (the official names, as models/sam.c loads them).
static void add_lin(bench_params *l, int64_t out, int64_t in, const char *pre) {
    bench_params_add(l, 2, out, in, 0, 0, "%s.weight", pre);
    bench_params_add(l, 1, out, 0, 0, 0, "%s.bias", pre);
}

static void param_list(bench_params *l, const preset *p) {
    int64_t E = p->embed, C = p->prompt, g = p->img / 16, hd = E / p->heads, mic = p->mask_in, in = C / 2;
    char pre[160];
    bench_params_add(l, 4, 1, g, g, E, "image_encoder.pos_embed");
    bench_params_add(l, 4, E, 3, 16, 16, "image_encoder.patch_embed.proj.weight");
    bench_params_add(l, 1, E, 0, 0, 0, "image_encoder.patch_embed.proj.bias");
    for (int i = 0; i < p->depth; i++) {
        bool glob = false;
        for (int k = 0; k < 4; k++)
            glob |= p->global[k] == i;
        int64_t S = glob ? g : p->window;
        bench_params_add(l, 1, E, 0, 0, 0, "image_encoder.blocks.%d.norm1.weight", i);
        bench_params_add(l, 1, E, 0, 0, 0, "image_encoder.blocks.%d.norm1.bias", i);
        bench_params_add(l, 2, 2 * S - 1, hd, 0, 0, "image_encoder.blocks.%d.attn.rel_pos_h", i);
        bench_params_add(l, 2, 2 * S - 1, hd, 0, 0, "image_encoder.blocks.%d.attn.rel_pos_w", i);
        snprintf(pre, sizeof pre, "image_encoder.blocks.%d.attn.qkv", i);
        add_lin(l, 3 * E, E, pre);
        snprintf(pre, sizeof pre, "image_encoder.blocks.%d.attn.proj", i);
        add_lin(l, E, E, pre);
        bench_params_add(l, 1, E, 0, 0, 0, "image_encoder.blocks.%d.norm2.weight", i);
        bench_params_add(l, 1, E, 0, 0, 0, "image_encoder.blocks.%d.norm2.bias", i);
        snprintf(pre, sizeof pre, "image_encoder.blocks.%d.mlp.lin1", i);
        add_lin(l, 4 * E, E, pre);
        snprintf(pre, sizeof pre, "image_encoder.blocks.%d.mlp.lin2", i);
        add_lin(l, E, 4 * E, pre);
    }
    bench_params_add(l, 4, C, E, 1, 1, "image_encoder.neck.0.weight");
    bench_params_add(l, 1, C, 0, 0, 0, "image_encoder.neck.1.weight");
    bench_params_add(l, 1, C, 0, 0, 0, "image_encoder.neck.1.bias");
    bench_params_add(l, 4, C, C, 3, 3, "image_encoder.neck.2.weight");
    bench_params_add(l, 1, C, 0, 0, 0, "image_encoder.neck.3.weight");
    bench_params_add(l, 1, C, 0, 0, 0, "image_encoder.neck.3.bias");
    bench_params_add(l, 2, 2, C / 2, 0, 0, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    for (int i = 0; i < 4; i++)
        bench_params_add(l, 2, 1, C, 0, 0, "prompt_encoder.point_embeddings.%d.weight", i);
    bench_params_add(l, 2, 1, C, 0, 0, "prompt_encoder.not_a_point_embed.weight");
    bench_params_add(l, 4, mic / 4, 1, 2, 2, "prompt_encoder.mask_downscaling.0.weight");
    bench_params_add(l, 1, mic / 4, 0, 0, 0, "prompt_encoder.mask_downscaling.0.bias");
    bench_params_add(l, 1, mic / 4, 0, 0, 0, "prompt_encoder.mask_downscaling.1.weight");
    bench_params_add(l, 1, mic / 4, 0, 0, 0, "prompt_encoder.mask_downscaling.1.bias");
    bench_params_add(l, 4, mic, mic / 4, 2, 2, "prompt_encoder.mask_downscaling.3.weight");
    bench_params_add(l, 1, mic, 0, 0, 0, "prompt_encoder.mask_downscaling.3.bias");
    bench_params_add(l, 1, mic, 0, 0, 0, "prompt_encoder.mask_downscaling.4.weight");
    bench_params_add(l, 1, mic, 0, 0, 0, "prompt_encoder.mask_downscaling.4.bias");
    bench_params_add(l, 4, C, mic, 1, 1, "prompt_encoder.mask_downscaling.6.weight");
    bench_params_add(l, 1, C, 0, 0, 0, "prompt_encoder.mask_downscaling.6.bias");
    bench_params_add(l, 2, 1, C, 0, 0, "prompt_encoder.no_mask_embed.weight");
    static const char *attn[3] = {"self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token"};
    static const char *proj[3] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; i++) { // depth 2 layers + the final attention
        for (int a = 0; a < 3; a++) {
            if (i == 2 && a != 1) continue;
            int64_t inner = a == 0 ? C : in;
            for (int q = 0; q < 3; q++) {
                if (i < 2)
                    snprintf(pre, sizeof pre, "mask_decoder.transformer.layers.%d.%s.%s", i, attn[a],
                             proj[q]);
                else
                    snprintf(pre, sizeof pre, "mask_decoder.transformer.final_attn_token_to_image.%s",
                             proj[q]);
                add_lin(l, inner, C, pre);
            }
            if (i < 2)
                snprintf(pre, sizeof pre, "mask_decoder.transformer.layers.%d.%s.out_proj", i, attn[a]);
            else
                snprintf(pre, sizeof pre, "mask_decoder.transformer.final_attn_token_to_image.out_proj");
            add_lin(l, C, inner, pre);
        }
        if (i == 2) break;
        for (int k = 1; k <= 4; k++) {
            bench_params_add(l, 1, C, 0, 0, 0, "mask_decoder.transformer.layers.%d.norm%d.weight", i, k);
            bench_params_add(l, 1, C, 0, 0, 0, "mask_decoder.transformer.layers.%d.norm%d.bias", i, k);
        }
        snprintf(pre, sizeof pre, "mask_decoder.transformer.layers.%d.mlp.lin1", i);
        add_lin(l, p->dec_mlp, C, pre);
        snprintf(pre, sizeof pre, "mask_decoder.transformer.layers.%d.mlp.lin2", i);
        add_lin(l, C, p->dec_mlp, pre);
    }
    bench_params_add(l, 1, C, 0, 0, 0, "mask_decoder.transformer.norm_final_attn.weight");
    bench_params_add(l, 1, C, 0, 0, 0, "mask_decoder.transformer.norm_final_attn.bias");
    bench_params_add(l, 2, 1, C, 0, 0, "mask_decoder.iou_token.weight");
    bench_params_add(l, 2, 4, C, 0, 0, "mask_decoder.mask_tokens.weight");
    bench_params_add(l, 4, C, C / 4, 2, 2, "mask_decoder.output_upscaling.0.weight");
    bench_params_add(l, 1, C / 4, 0, 0, 0, "mask_decoder.output_upscaling.0.bias");
    bench_params_add(l, 1, C / 4, 0, 0, 0, "mask_decoder.output_upscaling.1.weight");
    bench_params_add(l, 1, C / 4, 0, 0, 0, "mask_decoder.output_upscaling.1.bias");
    bench_params_add(l, 4, C / 4, C / 8, 2, 2, "mask_decoder.output_upscaling.3.weight");
    bench_params_add(l, 1, C / 8, 0, 0, 0, "mask_decoder.output_upscaling.3.bias");
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) {
            snprintf(pre, sizeof pre, "mask_decoder.output_hypernetworks_mlps.%d.layers.%d", i, k);
            add_lin(l, k == 2 ? C / 8 : C, C, pre);
        }
    for (int k = 0; k < 3; k++) {
        snprintf(pre, sizeof pre, "mask_decoder.iou_prediction_head.layers.%d", k);
        add_lin(l, k == 2 ? 4 : p->iou_hidden, k == 0 ? C : p->iou_hidden, pre);
    }
}

static bool block_is_global(const sam_config *c, int i) {
    for (int k = 0; k < c->n_global; k++)
        if (c->enc_global_attn_indexes[k] == i) return true;
    return false;
}

// Stage clock of the image encoder, driven by its trace hook: the hook fires after the patch
// embedding and after every block, so the time between two calls is one stage.
// Process CPU time (ug_cpu_ms, all threads): the pool's idle threads sleep, so on a machine
// shared with other jobs this moves much less than the wall time: printed next to it.

typedef struct stage_clock {
    const sam_config *cfg;
    double last, patch, window, global;     // wall ms
    double clast, cpatch, cwindow, cglobal; // CPU ms
    int nwindow, nglobal;
} stage_clock;

static void stage_tick(void *user, const char *name, const ug_tensor *t) {
    (void)t;
    stage_clock *sc = user;
    double now = ug_now_ms(), dt = now - sc->last, cnow = ug_cpu_ms(), cdt = cnow - sc->clast;
    sc->last = now;
    sc->clast = cnow;
    if (!strcmp(name, "patch_embed_plus_pos")) {
        sc->patch += dt;
        sc->cpatch += cdt;
    } else if (!strncmp(name, "block", 5)) {
        if (block_is_global(sc->cfg, atoi(name + 5))) {
            sc->global += dt;
            sc->cglobal += cdt;
            sc->nglobal++;
        } else {
            sc->window += dt;
            sc->cwindow += cdt;
            sc->nwindow++;
        }
    }
}

static void usage(FILE *f) {
    fprintf(f, "usage: ugains bench sam [--model|--arch tiny|vit_b|vit_l|vit_h] [--prompts N] [--image HxW]\n"
               "                        [--threads N] [--precision f32|bf16]\n"
               "\n"
               "Times preprocessing, the image encoder (patch embed, windowed blocks, global\n"
               "blocks, neck), then the prompt encoder, the mask decoder (single-point prompts in\n"
               "one batch, multimask) and postprocessing for 1 prompt and for N (default 50), with\n"
               "random F32 weights at the given model's sizes; prints the arena and process\n"
               "memory peaks. --precision bf16: GEMMs, convolutions and attention in bf16 on\n"
               "AVX512-BF16 CPUs, %% of the measured vdpbf16ps peak.\n");
}

int bench_sam_main(int argc, char **argv) {
    const char *model = "vit_b";
    int nprompts = 50, threads = 0, H = 1024, W = 2048;
    ug_precision precision = UG_PRECISION_F32;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"precision", required_argument, 0, 'R'},
        {"arch", required_argument, 0, 'm'},  {"prompts", required_argument, 0, 'p'},
        {"image", required_argument, 0, 'i'}, {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': nprompts = atoi(optarg); break;
        case 'i':
            if (sscanf(optarg, "%dx%d", &H, &W) != 2 || H < 1 || W < 1) {
                fprintf(stderr, "ugains: bench sam: --image wants HxW, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 't': threads = atoi(optarg); break;
        case 'R':
            if (!bench_parse_precision("sam", optarg, &precision)) return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    const preset *p = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(presets[i].name, model)) p = &presets[i];
    if (!p || nprompts < 1) {
        fprintf(stderr, "ugains: bench sam: unknown model '%s' or bad prompt count\n", model);
        return 2;
    }
    ug_err err;
    ug_ctx ctx;
    if (ug_ctx_init(&ctx, threads, &err) != UG_OK) {
        fprintf(stderr, "ugains: %s\n", err.msg);
        return 1;
    }
    char config[2048];
    config_json(config, sizeof config, p);
    bench_params l = {0};
    param_list(&l, p);
    size_t size = 0;
    unsigned char *file = bench_random_safetensors(&l, "sam", config, &size);
    ug_st_file *st = NULL;
    sam_model *m = NULL;
    ug_tensor img = {0}, input = {0}, emb = {0}, sparse = {0}, dense = {0}, low = {0}, iou = {0}, masks = {0};
    int rc = 1;
    if (!file) {
        fprintf(stderr, "ugains: bench sam: cannot allocate %zu bytes of weights\n", size);
        goto done;
    }
    if (ug_st_open_memory(&st, file, size, model, &err) != UG_OK) {
        fprintf(stderr, "ugains: %s\n", err.msg);
        goto done;
    }
    ug_st_file *owned = st;
    st = NULL; // the model owns it from here, even when loading fails
    if (sam_load_st(&m, owned, true, model, &err) != UG_OK) goto fail;
    bench_use_precision("sam", &ctx, precision);
    ug_bench b = {.ctx = &ctx, .quick = true, .out = stdout};
    b.peak_gflops = bench_measure_peak_gflops(&ctx);
    if (ctx.precision == UG_PRECISION_BF16) b.peak_bf16_gflops = bench_measure_peak_bf16_gflops(&ctx);
    printf("sam %s, weights %.1f MB, image %dx%d, %d prompts, %d threads, precision %s (peak %.1f GFLOP/s)\n",
           model, size / 1e6, H, W, nprompts, ctx.nthreads, ug_precision_name(ctx.precision),
           b.peak_bf16_gflops > 0 ? b.peak_bf16_gflops : b.peak_gflops);
    bench_header(&b);
    // The image is made on the host and uploaded to the context's device, as an app would.
    ug_tensor host_img;
    if (ug_tensor_new(&host_img, UG_U8, UG_DIMS(H, W, 3), &err) != UG_OK) goto fail;
    uint8_t *px = host_img.data;
    for (int64_t i = 0; i < (int64_t)H * W * 3; i++)
        px[i] = (uint8_t)((i * 2654435761u) >> 24);
    ug_status up = ug_to_device(&ctx, &img, &host_img, &err);
    ug_tensor_free(&host_img);
    if (up != UG_OK) goto fail;
    int input_hw[2], orig_hw[2] = {H, W};
    char shape[64];
    double t0 = ug_now_ms();
    if (sam_preprocess_u8(&ctx, m, &img, &input, input_hw, &err) != UG_OK) goto fail;
    snprintf(shape, sizeof shape, "%dx%d -> %dx%d", H, W, input_hw[0], input_hw[1]);
    bench_row(&b, "sam.preprocess_u8", shape, ug_now_ms() - t0, 0, 0);

    // Encoder, split into stages by its trace hook (no copies: the hook only reads the clock).
    stage_clock sc = {.cfg = &m->cfg};
    nn_trace tr = {stage_tick, &sc};
    double c0 = sc.clast = ug_cpu_ms();
    t0 = sc.last = ug_now_ms();
    if (sam_encode_image(&ctx, m, &input, &emb, &tr, &err) != UG_OK) goto fail;
    double enc_ms = ug_now_ms() - t0, neck_ms = ug_now_ms() - sc.last;
    double cenc = ug_cpu_ms() - c0, cneck = ug_cpu_ms() - sc.clast;
    flops_sam_enc ef = flops_sam_encoder(&m->cfg);
    int64_t g = m->cfg.embed_h, E = m->cfg.enc_embed_dim;
    snprintf(shape, sizeof shape, "[1,3,%d,%d] -> [%lld,%lld,%lld]", p->img, p->img, (long long)g,
             (long long)g, (long long)E);
    bench_row(&b, "sam.enc.patch_embed", shape, sc.patch, ef.patch, 0);
    snprintf(shape, sizeof shape, "%d blocks, window %d", sc.nwindow, m->cfg.enc_window_size);
    bench_row(&b, "sam.enc.window_blocks", shape, sc.window, sc.nwindow * ef.window_block, 0);
    snprintf(shape, sizeof shape, "%d blocks, %lld tokens", sc.nglobal, (long long)(g * g));
    bench_row(&b, "sam.enc.global_blocks", shape, sc.global, sc.nglobal * ef.global_block, 0);
    snprintf(shape, sizeof shape, "-> [1,%d,%lld,%lld]", m->cfg.prompt_embed_dim, (long long)g, (long long)g);
    bench_row(&b, "sam.enc.neck", shape, neck_ms, ef.neck, 0);
    snprintf(shape, sizeof shape, "[1,3,%d,%d]", p->img, p->img);
    bench_row(&b, "sam.image_encoder", shape, enc_ms,
              ef.patch + sc.nwindow * ef.window_block + sc.nglobal * ef.global_block + ef.neck, 0);
    size_t enc_peak = ctx.arena.peak;
    char cpu_line[512];
    int cl =
        snprintf(cpu_line, sizeof cpu_line,
                 "CPU ms (all threads): patch_embed %.0f, window_blocks %.0f, global_blocks %.0f, neck %.0f, "
                 "image_encoder %.0f",
                 sc.cpatch, sc.cwindow, sc.cglobal, cneck, cenc);

    // Prompt encoding, decoding and postprocessing for one prompt, then for the whole batch.
    float *xy = malloc((size_t)nprompts * 2 * sizeof(float));
    int *labels = malloc((size_t)nprompts * sizeof(int));
    if (!xy || !labels) {
        free(xy);
        free(labels);
        goto fail;
    }
    for (int i = 0; i < nprompts; i++) {
        xy[2 * i] = (float)((i * 37) % W);
        xy[2 * i + 1] = (float)((i * 53) % H);
        labels[i] = 1;
    }
    sam_apply_coords(orig_hw, input_hw, xy, nprompts);
    int counts[2] = {1, nprompts};
    for (int k = nprompts > 1 ? 0 : 1; k < 2; k++) {
        int n = counts[k];
        ug_tensor_free(&sparse);
        ug_tensor_free(&dense);
        ug_tensor_free(&low);
        ug_tensor_free(&iou);
        ug_tensor_free(&masks);
        sam_prompts pr = {n, 1, xy, labels, NULL, NULL};
        double cd = ug_cpu_ms();
        t0 = ug_now_ms();
        if (sam_encode_prompts(&ctx, m, &pr, &sparse, &dense, &err) != UG_OK) {
            free(xy);
            free(labels);
            goto fail;
        }
        snprintf(shape, sizeof shape, "%d points", n);
        bench_row(&b, "sam.prompt_encoder", shape, ug_now_ms() - t0, 0, 0);

        t0 = ug_now_ms();
        if (sam_decode_masks(&ctx, m, &emb, &sparse, &dense, true, &low, &iou, NULL, &err) != UG_OK) {
            free(xy);
            free(labels);
            goto fail;
        }
        snprintf(shape, sizeof shape, "%d prompts x 3 masks", n);
        bench_row(&b, "sam.mask_decoder", shape, ug_now_ms() - t0, 0, 0);
        if (cl > 0 && cl < (int)sizeof cpu_line)
            cl += snprintf(cpu_line + cl, sizeof cpu_line - (size_t)cl, ", mask_decoder(%d) %.0f", n,
                           ug_cpu_ms() - cd);
        cd = ug_cpu_ms();

        t0 = ug_now_ms();
        if (sam_postprocess_masks(&ctx, m, &low, input_hw, orig_hw, &masks, &err) != UG_OK) {
            free(xy);
            free(labels);
            goto fail;
        }
        snprintf(shape, sizeof shape, "[%d,3,%d,%d]", n, H, W);
        bench_row(&b, "sam.postprocess", shape, ug_now_ms() - t0, 0, (double)n * 3 * H * W * 4);
        if (cl > 0 && cl < (int)sizeof cpu_line)
            cl += snprintf(cpu_line + cl, sizeof cpu_line - (size_t)cl, ", postprocess(%d) %.0f", n,
                           ug_cpu_ms() - cd);
    }
    printf("%s\n", cpu_line);
    free(xy);
    free(labels);
    // The weights live in this process (a malloc'd F32 safetensors image, every page written),
    // so the RSS above them is what inference itself holds.
    size_t rss = ug_peak_rss_bytes();
    printf("activation arena peak: encoder %.1f MB, overall %.1f MB (chunks held, spares included: %.1f MB); "
           "process peak RSS %.1f MB = weights %.1f MB + %.1f MB\n",
           enc_peak / 1e6, ctx.arena.peak / 1e6, ctx.arena.total / 1e6, rss / 1e6, size / 1e6,
           ((double)rss - (double)size) / 1e6);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ugains: %s\n", err.msg);
done:
    ug_tensor_free(&img);
    ug_tensor_free(&input);
    ug_tensor_free(&emb);
    ug_tensor_free(&sparse);
    ug_tensor_free(&dense);
    ug_tensor_free(&low);
    ug_tensor_free(&iou);
    ug_tensor_free(&masks);
    sam_free(m);
    ug_st_close(st);
    free(file);
    bench_params_free(&l);
    ug_ctx_free(&ctx);
    return rc;
}
