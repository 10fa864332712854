// bench/bench_rba.c — `ugains bench rba`: the whole RbA branch at full size with a synthetic
// checkpoint, stage by stage, with the memory it takes.
//
// Builds the release checkpoint's key list (weights-tools/arch.h ug_arch_rba_official: Swin-B,
// res5-only deformable encoder, 1 decoder layer, detectron2 names) with made-up values of a
// sensible scale (weights-tools/synthetic.h), writes it as a torch zip, packs it with ug_pack,
// loads it with rba_load, then runs one untraced warm-up forward and N traced runs through
// rba's own stages (rba_stage_input .. rba_stage_score, models/rba.h: the calls rba_forward
// makes), timing each block and its parts from trace stamps: Swin patch embed and each stage,
// pixel decoder input projection, each encoder layer and the FPN, decoder heads and layers,
// the fused upsample + scoring. It
// prints a table (stage, ms, % of total, GFLOP/s), the arena peak and the peak RSS of each
// block (the scoring must not hold the Q x H x W upsampled masks), an untraced warm forward
// for comparison, and the checkpoint size with the write / pack / load seconds.
//
//   bench_rba_main(argc, argv): [--model tiny|swin_b] [--image HxW] [--layers N] [--threads N]
//                               [--dtype f32|bf16] [--keep-dir DIR] [--weights FILE] [--pad32]
//                               [--runs N]
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/flops.h"
#include "engine/timer.h"
#include "models/rba.h"
#include "weights-tools/arch.h"
#include "weights-tools/packer.h"
#include "weights-tools/synthetic.h"

// ---- trace stamps: the wall time at which each named intermediate was emitted ----

enum { MAX_STAMPS = 512, STAMP_NAME = 64 };

typedef struct stamps {
    int n;
    char name[MAX_STAMPS][STAMP_NAME];
    double t[MAX_STAMPS];
} stamps;

static void on_stamp(void *user, const char *name, const ug_tensor *t) {
    (void)t;
    stamps *s = user;
    if (s->n == MAX_STAMPS) return;
    s->t[s->n] = ug_now_ms();
    snprintf(s->name[s->n++], STAMP_NAME, "%s", name);
}

// Time of the first stamp called `name` (printf-style), NAN when there is none.
static double stamp_at(const stamps *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static double stamp_at(const stamps *s, const char *fmt, ...) {
    char name[STAMP_NAME];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name)) return s->t[i];
    return NAN;
}

// ---- memory ----

// Resident set size now (Linux /proc/self/statm), 0 when unknown.
static size_t rss_now_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long pages_total = 0, pages_res = 0;
    int ok = fscanf(f, "%llu %llu", &pages_total, &pages_res) == 2;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? (size_t)pages_res * (size_t)page : 0;
}

static double mib(size_t b) {
    return (double)b / (1024.0 * 1024.0);
}

// Peak RSS since the last reset: Linux keeps it as VmHWM and resets it when "5" is written to
// /proc/self/clear_refs. Without that (another OS, no permission) the process-wide peak from
// getrusage is reported instead and *resettable is false.
static bool rss_peak_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static size_t rss_peak_bytes(bool resettable) {
    if (!resettable) return ug_peak_rss_bytes();
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return ug_peak_rss_bytes();
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    fclose(f);
    return kb ? (size_t)kb * 1024 : ug_peak_rss_bytes();
}

// ---- one staged run ----

enum { MAX_ROWS = 128, BLOCKS = 4 };

typedef struct row {
    char stage[48], detail[64];
    double ms, flops;
    int indent; // 0 = block total, 1 = a part of it
} row;

typedef struct run {
    row rows[MAX_ROWS];
    int nrows;
    double total;                  // sum of the block totals
    double block_ms[BLOCKS];       // normalise, backbone, pixel decoder, decoder + scoring split below
    size_t arena_peak[BLOCKS + 1]; // per block: input, backbone, pixel decoder, decoder, scoring
    size_t rss_peak[BLOCKS + 1], rss_now[BLOCKS + 1];
    bool rss_resettable; // rss_peak is per block (else the process peak so far)
} run;

static row *add_row(run *r, int indent, const char *stage, const char *detail, double ms, double flops) {
    if (r->nrows == MAX_ROWS) return NULL;
    row *w = &r->rows[r->nrows++];
    snprintf(w->stage, sizeof w->stage, "%s", stage);
    snprintf(w->detail, sizeof w->detail, "%s", detail);
    w->ms = ms;
    w->flops = flops;
    w->indent = indent;
    return w;
}

// Marks the start of a block: the arena's and the process's high-water marks restart at what
// is held now, so the block's own peaks can be read afterwards.
static void block_begin(ug_ctx *ctx, run *r) {
    ctx->arena.peak = ctx->arena.used;
    r->rss_resettable = rss_peak_reset();
}

static void block_end(ug_ctx *ctx, run *r, int b) {
    r->arena_peak[b] = ctx->arena.peak;
    r->rss_peak[b] = rss_peak_bytes(r->rss_resettable);
    r->rss_now[b] = rss_now_bytes();
}

// One forward through rba's own stages (models/rba.h), timed and measured block by block; the
// parts of a block come from the stamps of its trace (names as rba traces them: "backbone_*",
// "pd_*", the decoder's own).
static ug_status staged_run(ug_ctx *ctx, const rba_model *m, const ug_tensor *img, bool pad32, run *r,
                            stamps *sw, stamps *sp, stamps *sd, ug_err *err) {
    memset(r, 0, sizeof *r);
    const rba_config *cfg = &m->cfg;
    int64_t H = img->shape[0], W = img->shape[1];
    ug_tensor x = {0};
    rba_state s = {0};
    rba_output out = {0};
    ug_status st;
    char detail[64];
    sw->n = sp->n = sd->n = 0;

    // Input: normalise (and with pad32 zero-pad to multiples of 32), as rba_forward_u8 does.
    block_begin(ctx, r);
    double t0 = ug_now_ms();
    if ((st = rba_normalize_image(ctx, img, &x, err)) != UG_OK ||
        (st = rba_stage_input(ctx, m, &x, pad32, &s, NULL, err)) != UG_OK)
        goto done;
    double t1 = ug_now_ms();
    block_end(ctx, r, 0);
    int64_t Ht = s.Ht, Wt = s.Wt;
    snprintf(detail, sizeof detail, "U8 %lldx%lld -> [1,3,%lld,%lld]", (long long)H, (long long)W,
             (long long)Ht, (long long)Wt);
    add_row(r, 0, "normalise", detail, t1 - t0, 0);

    // Backbone.
    const swin_config *sc = &cfg->swin;
    int64_t hw[SWIN_STAGES][2];
    swin_output_sizes(sc, Ht, Wt, hw);
    nn_trace swt = {on_stamp, sw};
    block_begin(ctx, r);
    double b0 = ug_now_ms();
    if ((st = rba_stage_backbone(ctx, m, &s, &swt, err)) != UG_OK) goto done;
    double b1 = ug_now_ms();
    block_end(ctx, r, 1);
    ug_tensor_free(&x);
    snprintf(detail, sizeof detail, "embed %d, depths %d,%d,%d,%d", sc->embed_dim, sc->depths[0],
             sc->depths[1], sc->depths[2], sc->depths[3]);
    double swin_total_flops = flops_swin_patch(sc, hw[0][0], hw[0][1]);
    for (int k = 0; k < SWIN_STAGES; k++)
        swin_total_flops += flops_swin_stage(sc, k, hw[k][0], hw[k][1]);
    add_row(r, 0, "backbone (Swin)", detail, b1 - b0, swin_total_flops);
    {
        double tp = stamp_at(sw, "backbone_patch_embed");
        snprintf(detail, sizeof detail, "-> %lldx%lldx%d (+ NCHW trace copy)", (long long)hw[0][0],
                 (long long)hw[0][1], sc->embed_dim);
        add_row(r, 1, "patch embed", detail, tp - b0, flops_swin_patch(sc, hw[0][0], hw[0][1]));
        double prev = tp;
        for (int k = 0; k < SWIN_STAGES; k++) {
            double end =
                k + 1 < SWIN_STAGES ? stamp_at(sw, "backbone_stage%d_block%d", k, sc->depths[k] - 1) : b1;
            char name[48];
            snprintf(name, sizeof name, "stage %d", k);
            snprintf(detail, sizeof detail, "%d blocks, %lldx%lldx%d%s", sc->depths[k], (long long)hw[k][0],
                     (long long)hw[k][1], sc->embed_dim << k, k ? " (+ merge in)" : "");
            add_row(r, 1, name, detail, end - prev, flops_swin_stage(sc, k, hw[k][0], hw[k][1]));
            prev = end;
        }
    }

    // Pixel decoder.
    const pd_config *pc = &cfg->pd;
    nn_trace pdt = {on_stamp, sp};
    block_begin(ctx, r);
    double p0 = ug_now_ms();
    if ((st = rba_stage_pixel_decoder(ctx, m, &s, &pdt, err)) != UG_OK) goto done;
    double p1 = ug_now_ms();
    block_end(ctx, r, 2);
    {
        flops_pd pf = flops_pixel_decoder(pc, hw);
        int64_t C = pc->conv_dim, S = pf.tokens;
        double in_flops = pf.input_proj, fpn_flops = pf.fpn, layer_flops = pf.layer;
        double enc0 = stamp_at(sp, "pd_input_proj_res%d", pc->level_feature[pc->n_levels - 1] + 2);
        double enc_end = stamp_at(sp, "pd_encoder_layer%d", pc->enc_layers - 1);
        double fpn_end = stamp_at(sp, "pd_mask_features");
        snprintf(detail, sizeof detail, "C %lld, %d encoder layers on %lld tokens", (long long)C,
                 pc->enc_layers, (long long)S);
        add_row(r, 0, "pixel decoder", detail, p1 - p0, in_flops + pc->enc_layers * layer_flops + fpn_flops);
        add_row(r, 1, "input proj (1x1 + GN)", "", enc0 - p0, in_flops);
        snprintf(detail, sizeof detail, "%d x (MSDeformAttn %dh %dp, FFN %d)", pc->enc_layers, pc->heads,
                 pc->points, pc->ffn);
        add_row(r, 1, "encoder layers", detail, enc_end - enc0, pc->enc_layers * layer_flops);
        double prev = enc0;
        for (int i = 0; i < pc->enc_layers; i++) {
            double t = stamp_at(sp, "pd_encoder_layer%d", i);
            char name[48];
            snprintf(name, sizeof name, "  encoder layer %d", i);
            add_row(r, 1, name, "", t - prev, layer_flops);
            prev = t;
        }
        snprintf(detail, sizeof detail, "%d levels to stride %d, mask_features", pc->n_fpn,
                 pc->common_stride);
        add_row(r, 1, "FPN + mask features", detail, fpn_end - enc_end, fpn_flops);
    }

    // Decoder. The tokens of each level it reads, before the stage hands the maps back.
    const m2f_config *dc = &cfg->dec;
    double level_tokens[M2F_MAX_LEVELS];
    for (int l = 0; l < s.pd.n_multiscale; l++)
        level_tokens[l] = (double)(s.pd.multi_scale[l].shape[2] * s.pd.multi_scale[l].shape[3]);
    nn_trace dtr = {on_stamp, sd};
    block_begin(ctx, r);
    double d0 = ug_now_ms();
    if ((st = rba_stage_decoder(ctx, m, &s, &out, &dtr, err)) != UG_OK) goto done;
    double d1 = ug_now_ms();
    block_end(ctx, r, 3);
    {
        int64_t Q = dc->queries, h = out.pred_masks.shape[1], w = out.pred_masks.shape[2];
        flops_m2f mf = flops_m2f_decoder(dc, level_tokens, h, w);
        double heads_flops = mf.heads, total_flops = mf.total;
        const double *layer_flops = mf.layer;
        snprintf(detail, sizeof detail, "%d layer(s), %lld queries, masks %lldx%lld", dc->layers,
                 (long long)Q, (long long)h, (long long)w);
        add_row(r, 0, "transformer decoder", detail, d1 - d0, total_flops);
        double prev = d0;
        for (int i = 0; i <= dc->layers; i++) {
            double t = i < dc->layers ? stamp_at(sd, "aux%d_pred_masks", i) : d1;
            char name[48];
            snprintf(name, sizeof name, "heads %d", i);
            add_row(r, 1, name, "class + mask embed . mask features", t - prev, heads_flops);
            if (i == dc->layers) break;
            double tl = stamp_at(sd, "decoder_queries_layer%d", i);
            snprintf(name, sizeof name, "layer %d", i);
            snprintf(detail, sizeof detail, "masked cross-attn on level %d, self-attn, FFN", i % dc->levels);
            add_row(r, 1, name, detail, tl - t, layer_flops[i]);
            prev = tl;
        }
    }

    // Scoring: upsample fused with softmax . sigmoid sum and argmax.
    block_begin(ctx, r);
    double s0 = ug_now_ms();
    if ((st = rba_stage_score(ctx, m, &s, &out, NULL, err)) != UG_OK) goto done;
    double s1 = ug_now_ms();
    block_end(ctx, r, 4);
    {
        int64_t Q = out.pred_masks.shape[0], K = out.pred_logits.shape[1] - 1;
        snprintf(detail, sizeof detail, "%lld masks %lldx%lld -> %lldx%lld, %lld classes", (long long)Q,
                 (long long)out.pred_masks.shape[1], (long long)out.pred_masks.shape[2], (long long)H,
                 (long long)W, (long long)K);
        add_row(r, 0, "upsample + scoring", detail, s1 - s0, flops_rba_score(Q, K, H, W));
    }
    for (int i = 0; i < r->nrows; i++)
        if (!r->rows[i].indent) r->total += r->rows[i].ms;
    st = UG_OK;
done:
    ug_tensor_free(&x);
    rba_state_free(&s);
    rba_output_free(&out);
    return st;
}

static void print_run(const run *r) {
    printf("%-28s %-44s %10s %8s %9s\n", "stage", "detail", "ms", "% total", "GFLOP/s");
    for (int i = 0; i < r->nrows; i++) {
        const row *w = &r->rows[i];
        char name[64];
        snprintf(name, sizeof name, "%s%s", w->indent ? "  " : "", w->stage);
        char gf[32] = "";
        if (w->flops > 0 && w->ms > 0) snprintf(gf, sizeof gf, "%.1f", w->flops / w->ms / 1e6);
        printf("%-28s %-44s %10.1f %7.1f%% %9s\n", name, w->detail, w->ms, 100.0 * w->ms / r->total, gf);
    }
    printf("%-28s %-44s %10.1f %7.1f%%\n", "total", "sum of the blocks", r->total, 100.0);
}

// ---- the program ----

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: ugains bench rba [--model tiny|swin_b] [--image HxW] [--layers N] [--threads N]\n"
        "                        [--dtype f32|bf16] [--keep-dir DIR] [--weights FILE] [--pad32] [--runs N]\n"
        "                        [--precision f32|bf16]\n"
        "\n"
        "Writes a synthetic RbA checkpoint with the release key names and shapes (default swin_b:\n"
        "Swin-B, res5-only deformable encoder, 1 decoder layer, detectron2 layout) into a temporary\n"
        "directory (or DIR, kept), packs it, loads it and times the forward pass stage by stage on a\n"
        "synthetic image (default 1024x2048) after one warm-up run: Swin patch embed and stages,\n"
        "pixel decoder input projection, encoder layers and FPN, decoder heads and layers, the fused\n"
        "upsample + scoring. Prints ms and %% of the total per stage, the activation arena peak and\n"
        "the peak RSS of each block, and the checkpoint size with write/pack/load time.\n"
        "\n"
        "  --layers N     decoder layers (default 1, the release)\n"
        "  --dtype        weights packed as f32 (default) or bf16\n"
        "  --weights FILE time a packed RbA file instead of a synthetic one\n"
        "  --pad32        detectron2's padding to multiples of 32 (default: UGainS', none)\n"
        "  --runs N       timed runs after the warm-up; the fastest is shown (default 1)\n"
        "  --precision P  f32 (default) or bf16: GEMMs, convolutions and attention in bf16\n"
        "                 (AVX512-BF16 CPUs; else f32, with one line)\n");
}

int bench_rba_main(int argc, char **argv) {
    const char *model = "swin_b", *keep_dir = NULL, *weights = NULL;
    int threads = 0, H = 1024, W = 2048, layers = 1, runs = 1;
    bool pad32 = false;
    ug_dtype dtype = UG_F32;
    ug_precision precision = UG_PRECISION_F32;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},    {"precision", required_argument, 0, 'R'},
        {"image", required_argument, 0, 'i'},    {"layers", required_argument, 0, 'l'},
        {"threads", required_argument, 0, 't'},  {"dtype", required_argument, 0, 'd'},
        {"keep-dir", required_argument, 0, 'k'}, {"weights", required_argument, 0, 'w'},
        {"pad32", no_argument, 0, 'p'},          {"runs", required_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'i':
            if (!bench_parse_image("rba", optarg, 16384, &H, &W)) return 2;
            break;
        case 'l': layers = atoi(optarg); break;
        case 't':
            threads = atoi(optarg);
            if (threads < 1 || threads > 256) {
                fprintf(stderr, "ugains: bench rba: --threads wants 1 to 256, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'd':
            if (!strcmp(optarg, "f32"))
                dtype = UG_F32;
            else if (!strcmp(optarg, "bf16"))
                dtype = UG_BF16;
            else {
                fprintf(stderr, "ugains: bench rba: --dtype wants f32 or bf16, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'k': keep_dir = optarg; break;
        case 'w': weights = optarg; break;
        case 'p': pad32 = true; break;
        case 'r': runs = atoi(optarg); break;
        case 'R':
            if (!bench_parse_precision("rba", optarg, &precision)) return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ugains: bench rba: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (runs < 1 || runs > 100 || layers < 1 || layers > 64) {
        fprintf(stderr, "ugains: bench rba: --runs wants 1 to 100 and --layers 1 to 64\n");
        return 2;
    }
    ug_err err;
    ug_arch_plan list = {0};
    if (!weights && ug_arch_rba_official(model, layers, &list, &err) != UG_OK) {
        fprintf(stderr, "ugains: bench rba: %s\n", err.msg);
        return 2;
    }

    int rc = 1;
    ug_ctx ctx;
    bool ctx_ok = false, made_dir = false;
    char dir[4096] = "", ckpt[4096] = "", packed[4096] = "";
    rba_model *m = NULL;
    ug_tensor img = {0};
    rba_output warm = {0};
    run *best = calloc(1, sizeof *best), *cur = calloc(1, sizeof *cur);
    stamps *sw = calloc(3, sizeof *sw);
    if (!best || !cur || !sw) {
        fprintf(stderr, "ugains: bench rba: out of memory\n");
        goto done;
    }
    if (ug_ctx_init(&ctx, threads, &err) != UG_OK) goto fail;
    ctx_ok = true;
    bench_use_precision("rba", &ctx, precision);

    double t_write = 0, t_pack = 0, t_load;
    uint64_t ckpt_bytes = 0;
    struct stat sb;
    ug_pack_stats stats = {0};
    if (!weights) {
        if (keep_dir) {
            snprintf(dir, sizeof dir, "%s", keep_dir);
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                fprintf(stderr, "ugains: bench rba: cannot create %s: %s\n", dir, strerror(errno));
                goto done;
            }
        } else {
            const char *tmp = getenv("TMPDIR");
            snprintf(dir, sizeof dir, "%s/ugains-bench-rba-XXXXXX", tmp && *tmp ? tmp : "/tmp");
            if (!mkdtemp(dir)) {
                fprintf(stderr, "ugains: bench rba: cannot create a temporary directory %s: %s\n", dir,
                        strerror(errno));
                goto done;
            }
            made_dir = true;
        }
        snprintf(ckpt, sizeof ckpt, "%s/rba_%s_%ddl_synthetic.d2.pth", dir, model, layers);
        snprintf(packed, sizeof packed, "%s/rba_%s_%ddl_synthetic_%s.safetensors", dir, model, layers,
                 dtype == UG_F32 ? "f32" : "bf16");
        double t0 = ug_now_ms();
        if (ug_synthetic_write(ckpt, &list, "model", &ckpt_bytes, &err) != UG_OK) goto fail;
        double t1 = ug_now_ms();
        // Head counts are not visible in shapes; the packer presets the release's 8.
        static const char *const tiny_sets[] = {"pixel_decoder_transformer_nheads=4", "decoder_nheads=4"};
        bool tiny = !strcmp(model, "tiny");
        ug_pack_opts o = {
            .arch = "rba", .dtype = dtype, .set = tiny ? tiny_sets : NULL, .nset = tiny ? 2 : 0};
        if (ug_pack(ckpt, packed, &o, &stats, &err) != UG_OK) goto fail;
        double t2 = ug_now_ms();
        t_write = t1 - t0;
        t_pack = t2 - t1;
        weights = packed;
    }
    size_t rss_before_load = ug_peak_rss_bytes();
    double l0 = ug_now_ms();
    if (rba_load(&m, weights, &err) != UG_OK) goto fail;
    t_load = ug_now_ms() - l0;

    // A deterministic RGB image (a multiplicative hash of the byte index).
    if (ug_tensor_new(&img, UG_U8, UG_DIMS(H, W, 3), &err) != UG_OK) goto fail;
    uint8_t *px = img.data;
    for (int64_t i = 0; i < (int64_t)3 * H * W; i++)
        px[i] = (uint8_t)((uint64_t)i * 2654435761u >> 24);

    printf(
        "# ugains bench rba: %s, %d decoder layer(s), image %dx%d%s, %d threads, %s weights, precision %s\n",
        list.n ? model : weights, m->cfg.dec.layers, H, W, pad32 ? " (pad32)" : "", ctx.nthreads,
        ug_dtype_name(m->swin.stages[0].blocks[0].qkv.w.dtype), ug_precision_name(ctx.precision));
    if (list.n) {
        printf("# synthetic checkpoint: %d tensors, %.1f MB of tensor data, file %.1f MB (%s)\n", list.n,
               (double)ckpt_bytes / 1e6, stat(ckpt, &sb) ? 0.0 : (double)sb.st_size / 1e6, ckpt);
        printf("# write %.2f s, pack %.2f s (%d tensors, %.1f MB %s, buffer %.1f MiB), load %.3f s\n",
               t_write / 1e3, t_pack / 1e3, stats.ntensors, (double)stats.bytes / 1e6, ug_dtype_name(dtype),
               mib(stats.buffer_bytes), t_load / 1e3);
    } else {
        printf("# load %.3f s\n", t_load / 1e3);
    }
    printf("# peak RSS before loading %.1f MiB; RSS after loading %.1f MiB (weights mapped, pages not yet "
           "touched)\n",
           mib(rss_before_load), mib(rss_now_bytes()));

    // Warm-up: the whole forward untraced. The first run faults the weight pages in and grows
    // the arena; its per-block times and the peak RSS after it are those of a plain forward.
    double w0 = ug_now_ms();
    if (rba_forward_u8(&ctx, m, &img, pad32, &warm, NULL, &err) != UG_OK) goto fail;
    double w1 = ug_now_ms();
    size_t rss_warm = ug_peak_rss_bytes(), arena_warm = ctx.arena.peak;
    printf("# warm-up rba_forward_u8 (untraced, cold): %.1f ms = backbone %.1f + pixel decoder %.1f + "
           "decoder %.1f + "
           "scoring %.1f (+ normalise); peak RSS %.1f MiB, arena peak %.1f MiB\n",
           w1 - w0, warm.ms[0], warm.ms[1], warm.ms[2], warm.ms[3], mib(rss_warm), mib(arena_warm));
    rba_output_free(&warm);

    for (int i = 0; i < runs; i++) {
        if (staged_run(&ctx, m, &img, pad32, cur, &sw[0], &sw[1], &sw[2], &err) != UG_OK) goto fail;
        if (i == 0 || cur->total < best->total) {
            run *t = best;
            best = cur;
            cur = t;
        }
    }
    // The same forward untraced and warm: the trace hooks' cost (Swin's NCHW copy of the patch
    // embedding) is the difference to the staged total.
    double u0 = ug_now_ms();
    if (rba_forward_u8(&ctx, m, &img, pad32, &warm, NULL, &err) != UG_OK) goto fail;
    double u1 = ug_now_ms();
    printf("# warm rba_forward_u8 (untraced): %.1f ms = backbone %.1f + pixel decoder %.1f + decoder %.1f + "
           "scoring "
           "%.1f (+ normalise)\n",
           u1 - u0, warm.ms[0], warm.ms[1], warm.ms[2], warm.ms[3]);
    rba_output_free(&warm);
    printf("\n## stages (traced run%s)\n", runs > 1 ? ", fastest of the runs by total" : "");
    print_run(best);

    static const char *const blocks[BLOCKS + 1] = {"normalise", "backbone", "pixel decoder", "decoder",
                                                   "scoring"};
    printf("\n## memory per block (arena peak and %s while the block ran; RSS after it)\n",
           best->rss_resettable ? "peak RSS" : "process peak RSS so far");
    printf("%-16s %16s %16s %16s\n", "block", "arena peak MiB", "peak RSS MiB", "RSS after MiB");
    for (int b = 0; b <= BLOCKS; b++)
        printf("%-16s %16.1f %16.1f %16.1f\n", blocks[b], mib(best->arena_peak[b]), mib(best->rss_peak[b]),
               mib(best->rss_now[b]));
    int64_t Q = m->cfg.dec.queries;
    printf(
        "# arena peak %.1f MiB over the process; scoring used %.2f MiB of arena where the unfused upsample\n"
        "# would hold Q x H x W = %lld x %d x %d floats = %.1f MiB\n",
        mib(ctx.arena.peak > arena_warm ? ctx.arena.peak : arena_warm), mib(best->arena_peak[4]),
        (long long)Q, H, W, mib((size_t)Q * (size_t)H * (size_t)W * sizeof(float)));
    // Measured before any per-block reset of the high-water mark: the peak of a plain forward
    // (plus loading and packing before it).
    size_t peak = rss_warm;
    for (int b = 0; b <= BLOCKS; b++)
        peak = best->rss_peak[b] > peak ? best->rss_peak[b] : peak;
    printf("# process peak RSS %.1f MiB (reached in the untraced warm-up: %.1f MiB)\n", mib(peak),
           mib(rss_warm));
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ugains: bench rba: %s\n", err.msg);
done:
    rba_output_free(&warm);
    ug_tensor_free(&img);
    rba_free(m);
    if (ckpt[0] && !keep_dir) remove(ckpt);
    if (packed[0] && !keep_dir) remove(packed);
    if (made_dir) rmdir(dir);
    if (ctx_ok) ug_ctx_free(&ctx);
    ug_arch_plan_free(&list);
    free(best);
    free(cur);
    free(sw);
    return rc;
}
