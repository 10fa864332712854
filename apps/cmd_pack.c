// apps/cmd_pack.c — `ugains pack` (weights-tools/packer.h, DESIGN §3-4).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "engine/fileio.h"
#include "weights-tools/packer.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: ugains pack --in CKPT --out FILE.safetensors [--arch auto|sam|rba] [--dtype f32|bf16|f16]\n"
        "                   [--set KEY=VALUE ...]\n"
        "\n"
        "Converts a SAM or RbA checkpoint to safetensors without Python: torch.save zip files\n"
        "(sam_vit_*.pth, RbA model_final.pth, UGainS .ckpt) and detectron2 .pkl pickles. The\n"
        "pickle is interpreted by a whitelisting machine that never runs code. Tensors get\n"
        "normalised names; __metadata__ holds arch and config (sizes read from the shapes).\n"
        "\n"
        "  --in CKPT        checkpoint to read\n"
        "  --out FILE       safetensors file to write (replaced only on success)\n"
        "  --arch A         auto (default), sam or rba\n"
        "  --dtype D        f32 (default), bf16 or f16 for float tensors (round to nearest even)\n"
        "  --set KEY=VALUE  override a config value (repeatable), e.g. decoder_nheads=8;\n"
        "                   head counts that shapes cannot reveal come from presets\n"
        "  -q, --quiet      no notes or warnings, only errors\n"
        "  -h, --help       show this help\n"
        "\n"
        "See docs/WEIGHTS.md for the official checkpoints and how to pack them.\n");
}

static void print_note(void *user, const char *msg) {
    if (!*(int *)user) fprintf(stderr, "ugains: note: %s\n", msg);
}

static void print_warning(void *user, const char *msg) {
    if (!*(int *)user) fprintf(stderr, "ugains: pack: warning: %s\n", msg);
}

int cmd_pack(int argc, char **argv) {
    static const struct option opts[] = {
        {"in", required_argument, 0, 'i'},   {"out", required_argument, 0, 'o'},
        {"arch", required_argument, 0, 'a'}, {"dtype", required_argument, 0, 'd'},
        {"set", required_argument, 0, 's'},  {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0},
    };
    const char *in = NULL, *out = NULL, *arch = "auto";
    ug_dtype dtype = UG_F32;
    int quiet = 0, nset = 0;
    const char **set = calloc((size_t)argc + 1, sizeof *set);
    if (!set) {
        cli_error("pack: out of memory");
        return CLI_RUNTIME;
    }
    int rc = CLI_OK, c;
    optind = 1;
    opterr = 0; // getopt's own message would not be the one-line "ugains: pack: ..." form
    while (rc == CLI_OK && (c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'a':
            if (strcmp(optarg, "auto") && strcmp(optarg, "sam") && strcmp(optarg, "rba")) {
                cli_error("pack: --arch wants auto, sam or rba, got '%s'", optarg);
                rc = CLI_USAGE;
            }
            arch = optarg;
            break;
        case 'd':
            if (!strcmp(optarg, "f32"))
                dtype = UG_F32;
            else if (!strcmp(optarg, "bf16"))
                dtype = UG_BF16;
            else if (!strcmp(optarg, "f16"))
                dtype = UG_F16;
            else {
                cli_error("pack: --dtype wants f32, bf16 or f16, got '%s'", optarg);
                rc = CLI_USAGE;
            }
            break;
        case 's':
            if (!strchr(optarg, '=')) {
                cli_error("pack: --set wants KEY=VALUE, got '%s'", optarg);
                rc = CLI_USAGE;
            }
            set[nset++] = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'h':
            usage(stdout);
            free(set);
            return CLI_OK;
        default:
            cli_error("pack: unknown option or missing value: '%s' (see ugains pack --help)",
                      argv[optind - 1]);
            rc = CLI_USAGE;
            break;
        }
    }
    if (rc == CLI_OK && optind < argc) {
        cli_error("pack: unexpected argument '%s'", argv[optind]);
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK && (!in || !out)) {
        cli_error("pack: --in and --out are required (see ugains pack --help)");
        rc = CLI_USAGE;
    }
    if (rc != CLI_OK) {
        free(set);
        return rc;
    }
    ug_err err;
    // A FIFO as --in would block open() forever; a folder as --out would fail only at the end.
    ug_status st = ug_file_check_regular(in, &err);
    if (!st) st = cli_check_output_file(out, "--out", &err);
    if (st) {
        free(set);
        cli_print_err("", &err);
        return st == UG_ERR_ARG ? CLI_USAGE : CLI_RUNTIME;
    }
    ug_pack_opts o = {.arch = arch,
                      .dtype = dtype,
                      .set = set,
                      .nset = nset,
                      .note = print_note,
                      .warn = print_warning,
                      .user = &quiet};
    ug_pack_stats stats;
    st = ug_pack(in, out, &o, &stats, &err);
    free(set);
    if (st) {
        cli_print_err("", &err);
        return st == UG_ERR_ARG ? CLI_USAGE : CLI_RUNTIME;
    }
    if (!quiet)
        printf("%s: %s, %d tensors, %.1f MiB (%s) -> %s\n", in, stats.arch, stats.ntensors,
               (double)stats.bytes / (1024.0 * 1024.0), ug_dtype_name(dtype), out);
    return CLI_OK;
}
