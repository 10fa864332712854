// apps/cmd_bench.c — `ugains bench ops [--filter NAME] [--quick] [--threads N]`.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "apps/cli.h"
#include "bench/bench.h"
#include "engine/cpu.h"
#include "engine/timer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ugains bench ops [--filter NAME] [--quick] [--threads N]\n"
               "       ugains bench sam|rba|run|swin|pack [options]   (--help for each)\n"
               "\n"
               "Times every CPU kernel at the shapes the models use and prints ms, GFLOP/s,\n"
               "%% of this machine's measured FMA peak, and GB/s for memory-bound ops.\n"
               "\n"
               "  --filter NAME  only entries whose family name contains NAME (gemm, conv, norm,\n"
               "                 attention, resample)\n"
               "  --quick        one timed run per row (smoke test)\n"
               "  --threads N    worker threads (default: UGAINS_THREADS or all cores)\n"
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
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *filter = NULL;
    int quick = 0, threads = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': filter = optarg; break;
        case 'q': quick = 1; break;
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
    ug_ctx ctx;
    ug_err err;
    if (ug_ctx_init(&ctx, threads, &err)) return cli_fail(&err);
    ug_bench b = {.ctx = &ctx, .quick = quick, .filter = filter, .out = stdout};
    b.peak_gflops = bench_measure_peak_gflops(&ctx);
    printf("# ugains bench ops: %d threads, kernels %s, FMA peak %.1f GFLOP/s\n", ctx.nthreads, ug_cpu_name(),
           b.peak_gflops);
    bench_ops_run(&b);
    printf("# peak RSS %.1f MiB\n", (double)ug_peak_rss_bytes() / (1024.0 * 1024.0));
    ug_ctx_free(&ctx);
    return CLI_OK;
}
