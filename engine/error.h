// engine/error.h — status codes and error messages with context.
//
// Functions that can fail return a ug_status and fill a ug_err with one line that names
// the thing (a file, a tensor) and the problem. Nothing below apps/ prints or exits.
#ifndef UG_ERROR_H
#define UG_ERROR_H

typedef enum ug_status {
    UG_OK = 0,
    UG_ERR_IO,          // open/read/write/rename failed
    UG_ERR_FORMAT,      // a file's content is malformed or truncated
    UG_ERR_UNSUPPORTED, // well-formed but outside what we handle (a dtype, a layout)
    UG_ERR_ARG,         // a caller's argument is invalid (bad size, NaN, wrong arch)
    UG_ERR_NOMEM,       // allocation failed or a size is absurd
    UG_ERR_INTERNAL,
} ug_status;

enum { UG_ERR_MSG_MAX = 1024 };

typedef struct ug_err {
    ug_status code;
    char msg[UG_ERR_MSG_MAX];
} ug_err;

// Sets err (if non-NULL) to code + printf-style message; returns code so callers can write
//   return ug_errf(err, UG_ERR_FORMAT, "%s: truncated header", path);
ug_status ug_errf(ug_err *err, ug_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Prepends context to an existing message: "sam.safetensors: " + old message.
void ug_err_prefix(ug_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Clears err to UG_OK with an empty message.
void ug_err_clear(ug_err *err);

const char *ug_status_name(ug_status s);

// Out of memory where no status can be returned: kernels on validated inputs return void, so
// the few buffers they allocate themselves (per-thread scratch, im2col tiles, a few bytes of
// statistics) have no failure path. ug_nomem_fatal formats "out of memory for ..." and hands it
// to the handler set with ug_set_nomem_handler, which must not return (apps/ installs one that
// prints one line, removes staged outputs and exits 1). Without a handler, or if it returns,
// the message goes to stderr and the process aborts. Safe to call from several threads at once.
typedef void (*ug_nomem_handler)(const char *msg);
void ug_set_nomem_handler(ug_nomem_handler h);
__attribute__((noreturn)) void ug_nomem_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
