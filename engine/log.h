// engine/log.h — leveled logging to stderr (or a sink). The level lives in the process (set
// once by apps/ from --verbose/--quiet); library code logs notes and warnings, never errors
// (those are returned).
#ifndef UG_LOG_H
#define UG_LOG_H

typedef enum ug_log_level { UG_LOG_ERROR = 0, UG_LOG_WARN, UG_LOG_INFO, UG_LOG_DEBUG } ug_log_level;

void ug_log_set_level(ug_log_level level);
ug_log_level ug_log_get_level(void);
void ug_log(ug_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Where messages go: fn gets each formatted line (without the "ugains: <level>: " prefix).
// fn NULL: stderr, the default. Process-wide (the public API drops messages unless its
// caller installs a callback: include/ugains.h, ugains_set_log).
typedef void (*ug_log_sink)(void *user, ug_log_level level, const char *line);
void ug_log_set_sink(ug_log_sink fn, void *user);

#define ug_warn(...)  ug_log(UG_LOG_WARN, __VA_ARGS__)
#define ug_info(...)  ug_log(UG_LOG_INFO, __VA_ARGS__)
#define ug_debug(...) ug_log(UG_LOG_DEBUG, __VA_ARGS__)

#endif
