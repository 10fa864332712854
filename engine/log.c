// engine/log.c — see log.h.
#include "engine/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static atomic_int log_level = UG_LOG_WARN;

void ug_log_set_level(ug_log_level level) {
    atomic_store(&log_level, (int)level);
}
ug_log_level ug_log_get_level(void) {
    return (ug_log_level)atomic_load(&log_level);
}

void ug_log(ug_log_level level, const char *fmt, ...) {
    if ((int)level > atomic_load(&log_level)) return;
    static const char *const tag[] = {"error", "warning", "note", "debug"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ugains: %s: %s\n", tag[level], line);
}
