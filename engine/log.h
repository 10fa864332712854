// engine/log.h — leveled logging to stderr. The level lives in the process (set once by
// apps/ from --verbose/--quiet); library code logs notes and warnings, never errors (those
// are returned).
#ifndef UG_LOG_H
#define UG_LOG_H

typedef enum ug_log_level { UG_LOG_ERROR = 0, UG_LOG_WARN, UG_LOG_INFO, UG_LOG_DEBUG } ug_log_level;

void ug_log_set_level(ug_log_level level);
ug_log_level ug_log_get_level(void);
void ug_log(ug_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ug_warn(...)  ug_log(UG_LOG_WARN, __VA_ARGS__)
#define ug_info(...)  ug_log(UG_LOG_INFO, __VA_ARGS__)
#define ug_debug(...) ug_log(UG_LOG_DEBUG, __VA_ARGS__)

#endif
