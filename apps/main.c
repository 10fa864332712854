// apps/main.c — `ugains <command> [options]`: dispatch to the subcommands.
#include <stdio.h>
#include <string.h>

#include "apps/cli.h"
#include "apps/outputs.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"pack", cmd_pack, "convert a SAM or RbA checkpoint (.pth/.ckpt/.pkl) to safetensors"},
    {"inspect", cmd_inspect, "show the arch, config and tensors of a weights file"},
    {"sam", cmd_sam, "Segment Anything on one image from point/box prompts"},
    {"rba", cmd_rba, "RbA semantic map and anomaly score (Mask2Former, Swin) of one image"},
    {"run", cmd_run, "the UGainS pipeline: semantic map, anomaly instances and refined scores"},
    {"eval", cmd_eval, "pAP, FPR95, AUROC, iAP, iAP50 of `ugains run` outputs against a data set"},
    {"bench", cmd_bench, "time kernels and models (ops|sam|rba|run)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ugains <command> [options]\n"
               "\n"
               "UGainS (Uncertainty Guided Anomaly Instance Segmentation) inference in C.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "options:\n"
               "  -h, --help     show this help (ugains <command> --help for a command's options)\n"
               "  -V, --version  show the version\n"
               "\n"
               "Threads: --threads N on each command, or UGAINS_THREADS; default all cores.\n"
               "Device: --device cpu|cuda on sam, rba, run and bench, or UGAINS_DEVICE; default cpu\n"
               "(--version says whether CUDA is built in and which GPU it finds).\n"
               "Exit status: 0 success, 1 runtime error, 2 usage error.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        char cuda[512];
        cli_describe_cuda(cuda, sizeof cuda);
        printf("ugains %s\n%s\n", UGAINS_VERSION, cuda);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) {
            // Out of memory in a kernel, or a mapped weights file truncated: one line, exit 1.
            cli_fatal_init(commands[i].name);
            return commands[i].run(argc - 1, argv + 1);
        }
    cli_error("unknown command '%s' (see ugains --help)", cmd);
    return CLI_USAGE;
}
