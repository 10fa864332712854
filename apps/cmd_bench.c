// apps/cmd_bench.c — `ugains bench ops [--filter NAME] [--quick] [--threads N] [--device D]
// [--precision P]`.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "apps/cli.h"
#include "bench/bench.h"
#include "bench/bench_cuda.h"
#include "engine/cpu.h"
#include "engine/timer.h"
#ifdef UG_HAVE_CUDA
#include "ops/cuda/backend_cuda.h"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "usage: ugains bench ops [--filter NAME] [--quick] [--threads N] [--device D] [--precision P]\n"
            "       ugains bench sam|rba|run|swin|pack [options]   (--help for each)\n"
            "\n"
            "Times every kernel at the shapes the models use and prints ms, GFLOP/s, %% of the\n"
            "measured FMA peak (this machine's, or the GPU's with --device cuda), and GB/s for\n"
            "memory-bound ops.\n"
            "\n"
            "  --filter NAME  only entries whose family name contains NAME (gemm, conv, norm,\n"
            "                 attention, resample)\n"
            "  --quick        one timed run per row (smoke test)\n"
            "  --threads N    worker threads (default: UGAINS_THREADS or all cores)\n"
            "  --device D     cpu or cuda: the CPU kernels or the CUDA ones (default: UGAINS_DEVICE\n"
            "                 or cpu; under make CUDA=emu the sizes shrink and times mean nothing)\n"
            "  --precision P  f32 (default) or bf16: the GEMM, convolution and attention rows in\n"
            "                 bf16 (AVX512-BF16), %% of the measured vdpbf16ps peak. In f32 the\n"
            "                 GEMM shapes are also timed in bf16 (gemm_bf16 rows) on such CPUs\n"
            "  -h, --help     show this help\n");
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *what = argv[1];
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } programs[] = {{"sam", bench_sam_main},
                    {"swin", bench_swin_main},
                    {"pack", bench_pack_main},
                    {"rba", bench_rba_main},
                    {"run", bench_run_main}};
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++)
        if (!strcmp(what, programs[i].name)) return programs[i].run(argc - 1, argv + 1);
    if (strcmp(what, "ops") != 0) {
        cli_error("bench: unknown target '%s' (ops, sam, rba, run, swin, pack)", what);
        return CLI_USAGE;
    }
    static const struct option opts[] = {
        {"filter", required_argument, 0, 'f'},
        {"quick", no_argument, 0, 'q'},
        {"threads", required_argument, 0, 't'},
        {"device", required_argument, 0, 'D'},
        {"precision", required_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *filter = NULL, *device_arg = NULL, *precision_arg = NULL;
    ug_device device;
    ug_precision precision;
    int quick = 0, threads = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': filter = optarg; break;
        case 'q': quick = 1; break;
        case 'D': device_arg = optarg; break;
        case 'R': precision_arg = optarg; break;
        case 't':
            if (!cli_parse_threads(optarg, &threads)) {
                cli_error("bench: --threads wants a number from 1 to 256, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'h': usage(stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc - 1) {
        cli_error("bench: unexpected argument '%s'", argv[optind + 1]);
        return CLI_USAGE;
    }
    if (!cli_device("bench", device_arg, &device)) return CLI_USAGE;
    if (!cli_precision("bench", precision_arg, &precision)) return CLI_USAGE;
    ug_ctx ctx;
    ug_err err;
    if (ug_ctx_init(&ctx, threads, &err)) return cli_fail(&err);
    ug_bench b = {.ctx = &ctx, .quick = quick, .filter = filter, .out = stdout};
    if (device != UG_CPU) {
        int rc = CLI_OK;
        if (cli_use_device(&ctx, device, &err) != UG_OK) {
            rc = cli_fail(&err);
        } else {
#ifdef UG_HAVE_CUDA
            char name[256];
            ug_cuda_describe(name, sizeof name);
            b.peak_gflops = bench_cuda_peak_gflops(&ctx, quick);
            printf("# ugains bench ops --device cuda: %s, FMA peak %.1f GFLOP/s\n", name, b.peak_gflops);
            if (!bench_cuda_ops(&b, &err)) rc = cli_fail(&err);
#endif
        }
        ug_ctx_free(&ctx);
        return rc;
    }
    cli_use_precision("bench", &ctx, precision);
    b.peak_gflops = bench_measure_peak_gflops(&ctx);
    b.peak_bf16_gflops = bench_measure_peak_bf16_gflops(&ctx);
    printf("# ugains bench ops: %d threads, kernels %s, precision %s, FMA peak %.1f GFLOP/s", ctx.nthreads,
           ug_cpu_name(), ug_precision_name(ctx.precision), b.peak_gflops);
    if (b.peak_bf16_gflops > 0) printf(", vdpbf16ps peak %.1f GFLOP/s", b.peak_bf16_gflops);
    printf("\n");
    bench_ops_run(&b);
    printf("# peak RSS %.1f MiB\n", (double)ug_peak_rss_bytes() / (1024.0 * 1024.0));
    ug_ctx_free(&ctx);
    return CLI_OK;
}
