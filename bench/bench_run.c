// bench/bench_run.c — `ugains bench run`: the whole UGainS pipeline on one synthetic image
// (default 1024x2048) with full-size weights, per stage (RbA, proposals, SAM encoder, SAM
// decoder, masks at full size, instances), plus the post-processing kernels alone at that
// size (FPS over every pixel, mask NMS), and the process's peak RSS.
//
// Without --rba/--sam the weights are synthetic: the official tensor lists (Swin-B RbA with
// 1 decoder layer, SAM ViT-H by default) written as torch checkpoints into a temporary folder
// and packed by the real packer (the same path as real weights), then mapped; the files are
// unlinked once mapped.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/cli.h"
#include "bench/bench.h"
#include "bench/flops.h"
#include "engine/timer.h"
#include "ops/masks.h"
#include "ops/proposals.h"
#include "pipeline/ugains.h"
#include "weights-tools/arch.h"
#include "weights-tools/packer.h"
#include "weights-tools/synthetic.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ugains bench run [--rba FILE] [--sam FILE] [--sam-variant vit_b|vit_l|vit_h]\n"
            "                        [--dtype f32|bf16|f16] [--image HxW] [--points K] [--threshold T]\n"
            "                        [--threads N] [--tmp DIR] [--precision f32|bf16] [--device cpu|cuda]\n"
            "\n"
            "Times `ugains run` per stage on a synthetic image (default 1024x2048) with packed\n"
            "weights, or with synthetic full-size weights (Swin-B RbA, SAM --sam-variant, default\n"
            "vit_h, packed as --dtype, default f32, in --tmp or $TMPDIR); then FPS over every pixel\n"
            "and mask NMS alone at that size. Every pixel is a candidate unless --threshold (random\n"
            "weights score nothing as anomalous). Prints the peak RSS. --precision bf16: GEMMs,\n"
            "convolutions and attention of both models in bf16 on AVX512-BF16 CPUs. --device cuda\n"
            "(or UGAINS_DEVICE): the chain on the CUDA device, each stage timed after the device\n"
            "finished it; the FPS and NMS rows are then left out (they time the CPU kernels).\n");
}

// Synthetic checkpoint -> packed file under dir; returns the packed path (malloc'ed).
static char *make_packed(const char *dir, const char *arch, const char *variant, ug_dtype dt, ug_err *err) {
    ug_arch_plan plan;
    memset(&plan, 0, sizeof plan);
    ug_status st = !strcmp(arch, "rba") ? ug_arch_rba_official(variant, 1, &plan, err)
                                        : ug_arch_sam_official(variant, &plan, err);
    if (st != UG_OK) return NULL;
    char ckpt[4096], out[4096];
    snprintf(ckpt, sizeof ckpt, "%s/%s.pth", dir, arch);
    snprintf(out, sizeof out, "%s/%s.safetensors", dir, arch);
    st = ug_synthetic_write(ckpt, &plan, !strcmp(arch, "rba") ? "model" : NULL, NULL, err);
    ug_arch_plan_free(&plan);
    if (st == UG_OK) {
        ug_pack_opts o = {.arch = arch, .dtype = dt};
        ug_pack_stats stats;
        st = ug_pack(ckpt, out, &o, &stats, err);
    }
    unlink(ckpt);
    return st == UG_OK ? strdup(out) : NULL;
}

typedef struct fps_arg {
    ug_ctx *ctx;
    ug_tensor xy, idx; // I32 [N, 2], I32 [K]
} fps_arg;

static void run_fps(void *p) {
    fps_arg *a = p;
    ug_err err;
    proposals_fps_cpu(a->ctx, &a->idx, NULL, &a->xy, PROPOSALS_TIES_OFFICIAL, &err);
}

typedef struct nms_arg {
    ug_ctx *ctx;
    ug_tensor bits, area, scores, keep, count; // the K masks of the run, their scores; NMS outputs
} nms_arg;

static void run_nms(void *p) {
    nms_arg *a = p;
    masks_nms_cpu(a->ctx, &a->keep, &a->count, &a->bits, &a->area, &a->scores, 0.7f);
}

int bench_run_main(int argc, char **argv) {
    const char *rba_path = NULL, *sam_path = NULL, *variant = "vit_h", *tmp = getenv("TMPDIR");
    int threads = 0, H = 1024, W = 2048, points = 50;
    // Every pixel a candidate: random weights score no anomalies, and FPS at its worst.
    float threshold = -1e30f;
    ug_dtype dt = UG_F32;
    ug_precision precision = UG_PRECISION_F32;
    static const struct option opts[] = {{"rba", required_argument, 0, 'r'},
                                         {"precision", required_argument, 0, 'R'},
                                         {"sam", required_argument, 0, 's'},
                                         {"sam-variant", required_argument, 0, 'v'},
                                         {"dtype", required_argument, 0, 'd'},
                                         {"image", required_argument, 0, 'i'},
                                         {"points", required_argument, 0, 'k'},
                                         {"threshold", required_argument, 0, 'T'},
                                         {"threads", required_argument, 0, 't'},
                                         {"tmp", required_argument, 0, 'm'},
                                         {"device", required_argument, 0, 'D'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *device_arg = NULL;
    ug_device device;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': rba_path = optarg; break;
        case 's': sam_path = optarg; break;
        case 'v': variant = optarg; break;
        case 'd':
            if (!bench_parse_dtype("run", optarg, &dt)) return 2;
            break;
        case 'i':
            if (!bench_parse_image("run", optarg, 0, &H, &W)) return 2;
            break;
        case 'k': points = atoi(optarg); break;
        case 'T': threshold = strtof(optarg, NULL); break;
        case 't': threads = atoi(optarg); break;
        case 'm': tmp = optarg; break;
        case 'D': device_arg = optarg; break;
        case 'R':
            if (!bench_parse_precision("run", optarg, &precision)) return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!cli_device("bench run", device_arg, &device)) return 2;
    if (points < 1) {
        fprintf(stderr, "ugains: bench run: --points must be positive\n");
        return 2;
    }
    ug_err err;
    ug_ctx ctx;
    if (ug_ctx_init(&ctx, threads, &err) != UG_OK) {
        fprintf(stderr, "ugains: %s\n", err.msg);
        return 1;
    }
    bench_use_precision("run", &ctx, precision);
    if (cli_use_device(&ctx, device, &err) != UG_OK) {
        fprintf(stderr, "ugains: bench run: %s\n", err.msg);
        ug_ctx_free(&ctx);
        return 1;
    }
    rba_model *rba = NULL;
    sam_model *sam = NULL;
    ug_tensor img = {0};
    ugains_result r;
    memset(&r, 0, sizeof r);
    char dir[4096] = "", *made_rba = NULL, *made_sam = NULL;
    int32_t *xy = NULL, *idx = NULL;
    int *keep = NULL;
    int64_t nkeep = 0;
    int rc = 1;
    if (!rba_path || !sam_path) {
        snprintf(dir, sizeof dir, "%s/ugains-bench-run-XXXXXX", tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "ugains: bench run: cannot create a folder under %s\n", tmp ? tmp : "/tmp");
            dir[0] = '\0';
            goto done;
        }
        double t0 = ug_now_ms();
        if (!rba_path && !(rba_path = made_rba = make_packed(dir, "rba", "swin_b", dt, &err))) goto fail;
        if (!sam_path && !(sam_path = made_sam = make_packed(dir, "sam", variant, dt, &err))) goto fail;
        printf("synthetic weights (Swin-B RbA, SAM %s, %s) written and packed in %.1f s\n", variant,
               ug_dtype_name(dt), (ug_now_ms() - t0) / 1000.0);
    }
    if (rba_load(&rba, rba_path, &err) != UG_OK || sam_load(&sam, sam_path, &err) != UG_OK) goto fail;
    if (rba_to_device(rba, &ctx, &err) != UG_OK || sam_to_device(sam, &ctx, &err) != UG_OK) goto fail;
    if (made_rba) unlink(made_rba); // mapped: the data stays until the models are freed
    if (made_sam) unlink(made_sam);

    if (ug_tensor_new(&img, UG_U8, UG_DIMS(H, W, 3), &err) != UG_OK) goto fail; // [H, W, 3]
    uint8_t *px = img.data;
    for (int64_t i = 0; i < (int64_t)3 * H * W; i++)
        px[i] = (uint8_t)((i * 2654435761u) >> 24);
    ugains_opts o;
    ugains_opts_default(&o);
    o.prop.points = points;
    o.prop.threshold = threshold;

    ug_bench b = {.ctx = &ctx, .quick = true, .out = stdout};
    b.peak_gflops = bench_measure_peak_gflops(&ctx);
    if (ctx.precision == UG_PRECISION_BF16) b.peak_bf16_gflops = bench_measure_peak_bf16_gflops(&ctx);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d K=%d", H, W, points);
    double t0 = ug_now_ms();
    if (ugains_run_image(&ctx, rba, sam, &img, NULL, &o, &r, NULL, &err) != UG_OK) goto fail;
    double total = ug_now_ms() - t0;
    printf("ugains run, image %dx%d, %d threads, device %s, precision %s, %lld candidates, %d points, %d "
           "instances kept\n",
           H, W, ctx.nthreads, ug_device_name(ctx.device), ug_precision_name(ctx.precision),
           (long long)r.ncandidates, r.npoints, r.nkeep);
    // The workload's matrix work per stage (bench/flops.h): RbA at the image size, the SAM encoder,
    // its decoder for the run's points (one sparse point token and its padding token each).
    double flops[UGAINS_NSTAGES] = {0};
    flops[UGAINS_STAGE_RBA] = flops_rba(&rba->cfg, H, W, H, W);
    flops[UGAINS_STAGE_SAM_ENCODER] = flops_sam_encoder(&sam->cfg).total;
    flops[UGAINS_STAGE_SAM_DECODER] = flops_sam_decoder(&sam->cfg, r.npoints, 2);
    double work = 0, cpu = 0;
    bench_header(&b);
    for (int s = 0; s < UGAINS_NSTAGES; s++) {
        bench_row(&b, ugains_stage_names[s], shape, r.ms[s], flops[s], 0);
        work += flops[s];
        cpu += r.cpu_ms[s];
    }
    bench_row(&b, "total", shape, total, work, 0);
    double peak =
        ctx.precision == UG_PRECISION_BF16 && b.peak_bf16_gflops > 0 ? b.peak_bf16_gflops : b.peak_gflops;
    printf("workload %.1f GFLOP in %.2f s: %.1f GFLOP/s, %.1f %% of the %s peak of %.1f GFLOP/s measured in "
           "this "
           "run%s\n",
           work / 1e9, total / 1e3, work / total / 1e6, 100.0 * work / total / 1e6 / peak,
           peak == b.peak_gflops ? "f32 FMA" : "bf16 dot-product", peak,
           ctx.device == UG_CPU ? "" : " (the CPU's: the stages ran on the device)");
    printf("CPU time per stage (all threads, ms; / wall = cores kept busy):");
    for (int s = 0; s < UGAINS_NSTAGES; s++)
        printf(" %s %.0f (%.2f)", ugains_stage_names[s], r.cpu_ms[s],
               r.ms[s] > 0 ? r.cpu_ms[s] / r.ms[s] : 0.0);
    printf("; total %.0f (%.2f)\n", cpu, total > 0 ? cpu / total : 0.0);

    // The post-processing kernels alone at this size: FPS with every pixel a candidate (the
    // worst case), NMS over the K masks of this run. CPU kernels on host data: host runs only.
    if (ctx.device != UG_CPU) {
        printf("arena peak %.1f MB (device), process peak RSS %.1f MB\n", ug_ctx_arena(&ctx)->peak / 1e6,
               ug_peak_rss_bytes() / 1e6);
        rc = 0;
        goto done;
    }
    int64_t n = (int64_t)H * W;
    xy = malloc((size_t)n * 2 * sizeof *xy);
    idx = malloc((size_t)points * sizeof *idx);
    if (!xy || !idx) goto done;
    for (int64_t p = 0; p < n; p++) {
        xy[2 * p] = (int32_t)(p % W);
        xy[2 * p + 1] = (int32_t)(p / W);
    }
    fps_arg fa = {&ctx, ug_tensor_wrap(xy, UG_I32, UG_DIMS(n, 2)),
                  ug_tensor_wrap(idx, UG_I32, UG_DIMS(points))};
    char fshape[64];
    snprintf(fshape, sizeof fshape, "N=%lld K=%d", (long long)n, points);
    // Bytes per sample: x, y read, dist read + written.
    bench_row(&b, "fps (all pixels)", fshape, bench_time_ms(&b, run_fps, &fa, 200), 0,
              (double)n * 16 * (points - 1));
    if (r.npoints > 0) {
        keep = malloc((size_t)r.npoints * sizeof *keep);
        if (!keep) goto done;
        nms_arg na = {&ctx,
                      ug_tensor_wrap(r.masks.bits, UG_I64, UG_DIMS(r.npoints, r.masks.words)),
                      ug_tensor_wrap(r.masks.area, UG_I64, UG_DIMS(r.npoints)),
                      ug_tensor_wrap(r.scores, UG_F32, UG_DIMS(r.npoints)),
                      ug_tensor_wrap(keep, UG_I32, UG_DIMS(r.npoints)),
                      ug_tensor_wrap(&nkeep, UG_I64, UG_DIMS(1))};
        snprintf(fshape, sizeof fshape, "%d masks %dx%d", r.npoints, H, W);
        bench_row(&b, "mask nms", fshape, bench_time_ms(&b, run_nms, &na, 200), 0, 0);
    }
    printf("arena peak %.1f MB, process peak RSS %.1f MB\n", ctx.arena.peak / 1e6, ug_peak_rss_bytes() / 1e6);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ugains: %s\n", err.msg);
done:
    ugains_result_free(&r);
    ug_tensor_free(&img);
    rba_free(rba);
    sam_free(sam);
    free(keep);
    free(xy);
    free(idx);
    if (made_rba) unlink(made_rba);
    if (made_sam) unlink(made_sam);
    free(made_rba);
    free(made_sam);
    if (dir[0]) rmdir(dir);
    ug_ctx_free(&ctx);
    return rc;
}
