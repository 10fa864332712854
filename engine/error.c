// engine/error.c — see error.h.
#include "engine/error.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ug_status ug_errf(ug_err *err, ug_status code, const char *fmt, ...) {
    if (!err) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void ug_err_prefix(ug_err *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[UG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t np = strlen(prefix), nm = strlen(err->msg);
    if (np >= sizeof err->msg) np = sizeof err->msg - 1;
    if (np + nm >= sizeof err->msg) nm = sizeof err->msg - 1 - np;
    memmove(err->msg + np, err->msg, nm);
    memcpy(err->msg, prefix, np);
    err->msg[np + nm] = '\0';
}

void ug_err_clear(ug_err *err) {
    if (!err) return;
    err->code = UG_OK;
    err->msg[0] = '\0';
}

const char *ug_status_name(ug_status s) {
    switch (s) {
    case UG_OK: return "ok";
    case UG_ERR_IO: return "i/o error";
    case UG_ERR_FORMAT: return "format error";
    case UG_ERR_UNSUPPORTED: return "unsupported";
    case UG_ERR_ARG: return "invalid argument";
    case UG_ERR_NOMEM: return "out of memory";
    case UG_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

static _Atomic(ug_nomem_handler) nomem_handler;

void ug_set_nomem_handler(ug_nomem_handler h) {
    atomic_store(&nomem_handler, h);
}

_Noreturn void ug_nomem_fatal(const char *fmt, ...) {
    char msg[UG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ug_nomem_handler h = atomic_load(&nomem_handler);
    if (h) h(msg);
    fprintf(stderr, "ugains: %s\n", msg);
    abort();
}
