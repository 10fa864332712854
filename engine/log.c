// engine/log.c — see log.h.
#include "engine/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static atomic_int log_level = UG_LOG_WARN;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static ug_log_sink sink_fn;
static void *sink_user;

void ug_log_set_sink(ug_log_sink fn, void *user) {
    pthread_mutex_lock(&sink_lock);
    sink_fn = fn;
    sink_user = user;
    pthread_mutex_unlock(&sink_lock);
}

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
    pthread_mutex_lock(&sink_lock);
    ug_log_sink fn = sink_fn;
    void *user = sink_user;
    pthread_mutex_unlock(&sink_lock);
    if (fn) {
        fn(user, level, line);
        return;
    }
    fprintf(stderr, "ugains: %s: %s\n", tag[level], line);
}
