// apps/cmd_inspect.c — `ugains inspect`: a packed safetensors file or a raw checkpoint.
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "weights-tools/arch.h"
#include "weights-tools/torch_ckpt.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ugains inspect [--set KEY=VALUE ...] FILE.safetensors|CKPT\n"
               "\n"
               "Prints the architecture, its config, the tensor count, the total bytes and a table\n"
               "of tensors (name, dtype, shape). A raw checkpoint (.pth/.ckpt/.pkl) is read the way\n"
               "`ugains pack` reads it: its layout, notes, every state-dict entry (or what an entry\n"
               "is when it is not a tensor) and the arch/config pack would write.\n"
               "\n"
               "  --set KEY=VALUE  config override, as for pack (checkpoints only)\n"
               "  -h, --help       show this help\n");
}

static void shape_str(int ndim, const int64_t *s, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)s[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static int is_safetensors(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char h[9];
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    return n == 9 && h[8] == '{';
}

static int inspect_st(const char *path) {
    ug_st_file *f;
    ug_err err;
    if (ug_st_open(&f, path, &err)) {
        cli_print_err("", &err);
        return CLI_RUNTIME;
    }
    const char *arch = ug_st_meta(f, "arch"), *config = ug_st_meta(f, "config");
    uint64_t total = 0;
    for (int i = 0; i < ug_st_count(f); i++)
        total += ug_st_at(f, i)->nbytes;
    printf("file:    %s\narch:    %s\nconfig:  %s\n", path, arch ? arch : "(none)",
           config ? config : "(none)");
    for (int i = 0; i < ug_st_meta_count(f); i++) {
        const char *k = ug_st_meta_key(f, i);
        if (strcmp(k, "arch") && strcmp(k, "config")) printf("meta:    %s = %s\n", k, ug_st_meta(f, k));
    }
    printf("tensors: %d\nbytes:   %llu (%.1f MiB)\n\n", ug_st_count(f), (unsigned long long)total,
           (double)total / (1024.0 * 1024.0));
    printf("%-72s %-5s %s\n", "name", "dtype", "shape");
    for (int i = 0; i < ug_st_count(f); i++) {
        const ug_st_entry *e = ug_st_at(f, i);
        char s[128];
        shape_str(e->ndim, e->shape, s, sizeof s);
        printf("%-72s %-5s %s\n", e->name, ug_dtype_name(e->dtype), s);
    }
    ug_st_close(f);
    return CLI_OK;
}

static int inspect_ckpt(const char *path, const char *const *set, int nset) {
    ug_ckpt *c;
    ug_err err;
    if (ug_ckpt_open(&c, path, &err)) {
        cli_print_err("", &err);
        return CLI_RUNTIME;
    }
    ug_arch_plan plan;
    ug_err perr;
    ug_status pst = ug_arch_plan_make(c, "auto", set, nset, &plan, &perr);
    uint64_t total = 0;
    for (int i = 0; i < ug_ckpt_count(c); i++)
        total += ug_ckpt_at(c, i)->nbytes;
    printf("file:    %s\nlayout:  %s\n", path, ug_ckpt_layout(c));
    if (pst == UG_OK)
        printf("arch:    %s\nconfig:  %s\n", plan.arch, plan.config_json);
    else
        printf("arch:    not packable as is: %s\n", perr.msg);
    for (int i = 0; i < ug_ckpt_note_count(c); i++)
        printf("note:    %s\n", ug_ckpt_note(c, i));
    if (pst == UG_OK) {
        for (int i = 0; i < plan.nnotes; i++)
            printf("note:    %s\n", plan.notes[i]);
        for (int i = 0; i < plan.nwarnings; i++)
            printf("warning: %s\n", plan.warnings[i]);
    }
    printf("tensors: %d state-dict entries\nbytes:   %llu (%.1f MiB)\n\n", ug_ckpt_count(c),
           (unsigned long long)total, (double)total / (1024.0 * 1024.0));
    printf("%-72s %-5s %s\n", "name", "dtype", "shape");
    for (int i = 0; i < ug_ckpt_count(c); i++) {
        const ug_ckpt_tensor *t = ug_ckpt_at(c, i);
        char s[128];
        if (t->problem) {
            printf("%-72s %-5s (not a tensor: %s)\n", t->name, "-", t->problem);
            continue;
        }
        shape_str(t->ndim, t->shape, s, sizeof s);
        printf("%-72s %-5s %s\n", t->name, ug_dtype_name(t->dtype), s);
    }
    if (pst == UG_OK) ug_arch_plan_free(&plan);
    ug_ckpt_close(c);
    return CLI_OK;
}

int cmd_inspect(int argc, char **argv) {
    static const struct option opts[] = {
        {"set", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char **set = calloc((size_t)argc + 1, sizeof *set);
    if (!set) {
        cli_error("inspect: out of memory");
        return CLI_RUNTIME;
    }
    int nset = 0, c, rc = CLI_OK;
    optind = 1;
    opterr = 0; // getopt's own message would not be the one-line "ugains: inspect: ..." form
    while (rc == CLI_OK && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': set[nset++] = optarg; break;
        case 'h':
            usage(stdout);
            free(set);
            return CLI_OK;
        default:
            cli_error("inspect: unknown option or missing value: '%s' (see ugains inspect --help)",
                      argv[optind - 1]);
            rc = CLI_USAGE;
            break;
        }
    }
    if (rc == CLI_OK && optind != argc - 1) {
        cli_error("inspect: expected one file (see ugains inspect --help)");
        rc = CLI_USAGE;
    }
    ug_err err;
    if (rc == CLI_OK && ug_file_check_regular(argv[optind], &err)) { // a FIFO would block open() forever
        cli_print_err("", &err);
        rc = CLI_RUNTIME;
    }
    if (rc == CLI_OK)
        rc = is_safetensors(argv[optind]) ? inspect_st(argv[optind]) : inspect_ckpt(argv[optind], set, nset);
    free(set);
    return rc;
}
