// bench/bench_swin.c — the Swin backbone alone at a given image size with random weights
// made in memory (tiny, Swin-B or Swin-L sizes), so no checkpoint is needed. One row per
// stage (its blocks plus the previous stage's norm and merging), then the whole forward, the
// activation arena's peak and the process's peak RSS.
//
//   bench_swin_main(argc, argv): [--model tiny|swin_b|swin_l] [--image HxW] [--threads N] [--runs N]
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "engine/safetensors.h"
#include "engine/timer.h"
#include "models/swin.h"

typedef struct swin_preset {
    const char *name;
    int embed, depths[4], heads[4];
} swin_preset;

static const swin_preset presets[] = {
    {"tiny", 8, {2, 2, 2, 2}, {1, 2, 4, 8}},
    {"swin_b", 128, {2, 2, 18, 2}, {4, 8, 16, 32}},
    {"swin_l", 192, {2, 2, 18, 2}, {6, 12, 24, 48}},
};

// The backbone's tensor list, as swin_load fetches it.
static void tensor_list(bench_params *l, const swin_config *c) {
    int64_t C0 = c->embed_dim, p = c->patch_size, T = (2 * c->window - 1) * (2 * c->window - 1);
    char n[128];
    bench_params_add(l, 4, C0, c->in_chans, p, p, "backbone.patch_embed.proj.weight");
    bench_params_add(l, 1, C0, 0, 0, 0, "backbone.patch_embed.proj.bias");
    bench_params_add(l, 1, C0, 0, 0, 0, "backbone.patch_embed.norm.weight");
    bench_params_add(l, 1, C0, 0, 0, 0, "backbone.patch_embed.norm.bias");
    for (int s = 0; s < SWIN_STAGES; s++) {
        int64_t C = C0 << s, hid = (int64_t)(C * c->mlp_ratio);
        for (int b = 0; b < c->depths[s]; b++) {
            static const char *norms[] = {"norm1", "norm2"};
            for (int k = 0; k < 2; k++) {
                snprintf(n, sizeof n, "backbone.layers.%d.blocks.%d.%s.weight", s, b, norms[k]);
                bench_params_add(l, 1, C, 0, 0, 0, "%s", n);
                snprintf(n, sizeof n, "backbone.layers.%d.blocks.%d.%s.bias", s, b, norms[k]);
                bench_params_add(l, 1, C, 0, 0, 0, "%s", n);
            }
            snprintf(n, sizeof n, "backbone.layers.%d.blocks.%d.attn.relative_position_bias_table", s, b);
            bench_params_add(l, 2, T, c->num_heads[s], 0, 0, "%s", n);
            static const char *lin[] = {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"};
            const int64_t out[] = {3 * C, C, hid, C}, in[] = {C, C, C, hid};
            for (int k = 0; k < 4; k++) {
                snprintf(n, sizeof n, "backbone.layers.%d.blocks.%d.%s.weight", s, b, lin[k]);
                bench_params_add(l, 2, out[k], in[k], 0, 0, "%s", n);
                snprintf(n, sizeof n, "backbone.layers.%d.blocks.%d.%s.bias", s, b, lin[k]);
                bench_params_add(l, 1, out[k], 0, 0, 0, "%s", n);
            }
        }
        snprintf(n, sizeof n, "backbone.norm%d.weight", s);
        bench_params_add(l, 1, C, 0, 0, 0, "%s", n);
        snprintf(n, sizeof n, "backbone.norm%d.bias", s);
        bench_params_add(l, 1, C, 0, 0, 0, "%s", n);
        if (s + 1 < SWIN_STAGES) {
            snprintf(n, sizeof n, "backbone.layers.%d.downsample.norm.weight", s);
            bench_params_add(l, 1, 4 * C, 0, 0, 0, "%s", n);
            snprintf(n, sizeof n, "backbone.layers.%d.downsample.norm.bias", s);
            bench_params_add(l, 1, 4 * C, 0, 0, 0, "%s", n);
            snprintf(n, sizeof n, "backbone.layers.%d.downsample.reduction.weight", s);
            bench_params_add(l, 2, 2 * C, 4 * C, 0, 0, "%s", n);
        }
    }
}

// FLOPs of stage s (blocks on padded windows; merging into this stage counted here).
static double stage_flops(const swin_config *c, int s, int64_t H, int64_t W) {
    double ws = c->window, C = (double)((int64_t)c->embed_dim << s), hid = C * c->mlp_ratio;
    double Np = ceil((double)H / ws) * ws * ceil((double)W / ws) * ws, HW = (double)H * W;
    double blk = 2.0 * Np * C * 4 * C + 4.0 * Np * ws * ws * C + 4.0 * HW * C * hid;
    double f = c->depths[s] * blk;
    if (s > 0) f += 2.0 * HW * (2 * C) * C; // reduction 4C' -> 2C' with C' = C / 2
    return f;
}

typedef struct stamp {
    double t[SWIN_STAGES];
    double t0, tpatch;
    const swin_config *cfg;
} stamp;

// Trace hook: the time after the last block of each stage.
static void on_event(void *user, const char *name, const ug_tensor *t) {
    (void)t;
    stamp *st = user;
    int s, b;
    if (!strcmp(name, "patch_embed")) {
        st->tpatch = ug_now_ms();
        return;
    }
    if (sscanf(name, "stage%d_block%d", &s, &b) == 2 && s >= 0 && s < SWIN_STAGES &&
        b == st->cfg->depths[s] - 1)
        st->t[s] = ug_now_ms();
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ugains bench swin [--model tiny|swin_b|swin_l] [--image HxW] [--threads N] [--runs N]\n"
            "\n"
            "Times the Swin backbone (per stage and in total, best of N runs) with random\n"
            "weights at the given model's sizes; prints the arena and process memory peaks.\n");
}

int bench_swin_main(int argc, char **argv) {
    const char *model = "swin_b";
    int threads = 0, H = 1024, W = 2048, runs = 1;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"image", required_argument, 0, 'i'},
        {"threads", required_argument, 0, 't'}, {"runs", required_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'i':
            if (!bench_parse_image("swin", optarg, 0, &H, &W)) return 2;
            break;
        case 't': threads = atoi(optarg); break;
        case 'r': runs = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    const swin_preset *p = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(presets[i].name, model)) p = &presets[i];
    if (!p || runs < 1 || runs > 100) {
        fprintf(stderr, "ugains: bench swin: unknown model '%s' or bad run count\n", model);
        return 2;
    }
    swin_config cfg = {.in_chans = 3,
                       .patch_size = 4,
                       .embed_dim = p->embed,
                       .window = 12,
                       .mlp_ratio = 4.0,
                       .eps = 1e-5f,
                       .patch_norm = true,
                       .qkv_bias = true};
    memcpy(cfg.depths, p->depths, sizeof cfg.depths);
    memcpy(cfg.num_heads, p->heads, sizeof cfg.num_heads);

    ug_err err;
    ug_ctx ctx;
    if (ug_ctx_init(&ctx, threads, &err) != UG_OK) {
        fprintf(stderr, "ugains: %s\n", err.msg);
        return 1;
    }
    bench_params l = {0};
    tensor_list(&l, &cfg);
    size_t size = 0;
    unsigned char *file = bench_random_safetensors(&l, "rba", NULL, &size);
    ug_st_file *st = NULL;
    ug_weights w = {0};
    swin_model m = {0};
    ug_tensor img = {0}, res[SWIN_STAGES] = {{0}};
    int rc = 1;
    if (!file) {
        fprintf(stderr, "ugains: bench swin: cannot allocate %zu bytes of weights\n", size);
        goto done;
    }
    if (ug_st_open_memory(&st, file, size, model, &err) != UG_OK) goto fail;
    ug_weights_init(&w, st, model);
    if (swin_load(&m, &cfg, &w, "backbone.", &err) != UG_OK) goto fail;
    if (ug_tensor_new(&img, UG_F32, UG_DIMS(1, 3, H, W), &err) != UG_OK) goto fail;
    float *px = img.data;
    for (int64_t i = 0; i < (int64_t)3 * H * W; i++)
        px[i] = (float)((i * 2654435761u) >> 24) / 64.0f - 2.0f;

    ug_bench b = {.ctx = &ctx, .quick = true, .out = stdout};
    b.peak_gflops = bench_measure_peak_gflops(&ctx);
    printf("swin %s, weights %.1f MB, image %dx%d, %d threads, best of %d\n", model, size / 1e6, H, W,
           ctx.nthreads, runs);
    bench_header(&b);
    int64_t hw[SWIN_STAGES][2];
    swin_output_sizes(&cfg, H, W, hw);
    // Stage times come from trace stamps (the patch_embed event also makes an NCHW copy for
    // the hook, counted in that row); the total is timed separately without a trace.
    stamp best = {0};
    double best_total = INFINITY, best_traced = INFINITY;
    for (int r = 0; r < runs; r++) {
        stamp sp = {.cfg = &cfg};
        nn_trace tr = {on_event, &sp};
        sp.t0 = ug_now_ms();
        if (swin_forward(&ctx, &m, &img, res, &tr, &err) != UG_OK) goto fail;
        double traced = ug_now_ms() - sp.t0;
        for (int s = 0; s < SWIN_STAGES; s++)
            ug_tensor_free(&res[s]);
        if (traced < best_traced) {
            best_traced = traced;
            best = sp;
        }
        double t0 = ug_now_ms();
        if (swin_forward(&ctx, &m, &img, res, NULL, &err) != UG_OK) goto fail;
        double total = ug_now_ms() - t0;
        for (int s = 0; s < SWIN_STAGES; s++)
            ug_tensor_free(&res[s]);
        if (total < best_total) best_total = total;
    }
    char shape[96], op[64];
    double total_flops = 2.0 * hw[0][0] * hw[0][1] * 48 * cfg.embed_dim;
    snprintf(shape, sizeof shape, "[1,3,%d,%d] -> %lldx%lld", H, W, (long long)hw[0][0], (long long)hw[0][1]);
    bench_row(&b, "swin.patch_embed+trace", shape, best.tpatch - best.t0, total_flops, 0);
    double prev = best.tpatch;
    for (int s = 0; s < SWIN_STAGES; s++) {
        double f = stage_flops(&cfg, s, hw[s][0], hw[s][1]);
        total_flops += f;
        snprintf(op, sizeof op, "swin.stage%d", s);
        snprintf(shape, sizeof shape, "%d blocks, %lldx%lldx%d", cfg.depths[s], (long long)hw[s][0],
                 (long long)hw[s][1], cfg.embed_dim << s);
        bench_row(&b, op, shape, best.t[s] - prev, f, 0);
        prev = best.t[s];
    }
    bench_row(&b, "swin.total", "patch embed .. res5", best_total, total_flops, 0);
    printf("activation arena peak %.1f MB; process peak RSS %.1f MB\n", ctx.arena.peak / 1e6,
           ug_peak_rss_bytes() / 1e6);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ugains: %s\n", err.msg);
done:
    for (int s = 0; s < SWIN_STAGES; s++)
        ug_tensor_free(&res[s]);
    ug_tensor_free(&img);
    swin_free(&m);
    ug_weights_release(&w);
    ug_st_close(st);
    free(file);
    bench_params_free(&l);
    ug_ctx_free(&ctx);
    return rc;
}
