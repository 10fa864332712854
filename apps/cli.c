// apps/cli.c — see cli.h.
#include "apps/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("ugains: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_fail(const ug_err *err) {
    cli_error("%s", err->msg[0] ? err->msg : ug_status_name(err->code));
    return CLI_RUNTIME;
}

int cli_parse_threads(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 256) return 0;
    *out = (int)v;
    return 1;
}
