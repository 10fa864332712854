// apps/cli.c — see cli.h.
#include "apps/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ops/backend.h"
#ifdef UG_HAVE_CUDA
#include "ops/cuda/backend_cuda.h"
#endif

void cli_error(const char *fmt, ...) {
    char buf[UG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cli_one_line(buf); // a file name or a hostile JSON key must not break the line
    fprintf(stderr, "ugains: %s\n", buf);
}

int cli_fail(const ug_err *err) {
    cli_print_err("", err);
    return CLI_RUNTIME;
}

int cli_parse_threads(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 256) return 0;
    *out = (int)v;
    return 1;
}

int cli_device(const char *cmd, const char *arg, ug_device *out) {
    const char *s = arg ? arg : getenv("UGAINS_DEVICE");
    *out = UG_CPU;
    if (!s || (!arg && !*s)) return 1; // an empty UGAINS_DEVICE is unset
    if (!strcmp(s, "cpu")) return 1;
    if (!strcmp(s, "cuda")) {
        *out = UG_CUDA;
        return 1;
    }
    cli_error("%s: %s wants cpu or cuda, got '%s'", cmd, arg ? "--device" : "UGAINS_DEVICE", s);
    return 0;
}

ug_status cli_use_device(ug_ctx *ctx, ug_device d, ug_err *err) {
    if (d == UG_CPU) return UG_OK;
#ifdef UG_HAVE_CUDA
    ug_status st = ug_ctx_use_device(ctx, &ug_backend_cuda, err);
    if (st != UG_OK) ug_err_prefix(err, "--device cuda: ");
    return st;
#else
    (void)ctx;
    return ug_errf(err, UG_ERR_UNSUPPORTED,
                   "--device cuda: this ugains is built without CUDA (build it with make CUDA=1)");
#endif
}

int cli_precision(const char *cmd, const char *arg, ug_precision *out) {
    *out = UG_PRECISION_F32;
    if (!arg || ug_precision_parse(arg, out)) return 1;
    cli_error("%s: --precision wants f32 or bf16, got '%s'", cmd, arg);
    return 0;
}

void cli_use_precision(const char *cmd, ug_ctx *ctx, ug_precision p) {
    if (p == UG_PRECISION_BF16 && ctx->device != UG_CPU) {
        cli_error("%s: --precision bf16: the %s kernels compute in f32: running in f32", cmd,
                  ug_device_name(ctx->device));
        p = UG_PRECISION_F32;
    }
    const char *note = NULL;
    ug_ctx_set_precision(ctx, p, &note);
    if (note) cli_error("%s: --precision bf16: %s", cmd, note);
}

void cli_describe_cuda(char *buf, size_t n) {
#ifdef UG_HAVE_CUDA
    char dev[256];
    ug_cuda_describe(dev, sizeof dev);
#ifdef UG_CUDA_EMU
    snprintf(buf, n, "cuda: built in, on the CPU emulator (make CUDA=emu): %s", dev);
#else
    snprintf(buf, n, "cuda: built in: %s", dev);
#endif
#else
    snprintf(buf, n, "cuda: not built in (make CUDA=1)");
#endif
}

ug_status cli_check_output_file(const char *path, const char *opt, ug_err *err) {
    struct stat sb;
    if (!*path) return ug_errf(err, UG_ERR_ARG, "%s is empty", opt);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ug_errf(err, UG_ERR_IO, "%s: is a directory, %s wants a file name", path, opt);
    size_t n = strlen(path);
    char *dir = malloc(n + 2);
    if (!dir) return ug_errf(err, UG_ERR_NOMEM, "out of memory");
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0'; // "/x": the root
    else
        *slash = '\0';
    ug_status st = UG_OK;
    if (stat(dir, &sb) != 0)
        st = ug_errf(err, UG_ERR_IO, "%s: cannot write there: folder %s: %s", path, dir, strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        st = ug_errf(err, UG_ERR_IO, "%s: cannot write there: %s is not a folder", path, dir);
    free(dir);
    return st;
}

void cli_one_line(char *msg) {
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = '?';
}

void cli_print_err(const char *prefix, const ug_err *err) {
    cli_error("%s%s", prefix, err->msg[0] ? err->msg : ug_status_name(err->code));
}

const char *cli_checkpoint_kind(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char h[4] = {0};
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    if (n >= 4 && h[0] == 'P' && h[1] == 'K' && h[2] == 3 && h[3] == 4) return "a PyTorch zip checkpoint";
    if (n >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5) return "a pickle checkpoint";
    return NULL;
}
