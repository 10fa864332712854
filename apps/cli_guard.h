// apps/cli_guard.h — checks the commands make on the paths a user hands them, before any work:
// an input must be a regular file (a FIFO would block open() forever, a device never ends), an
// output file's folder must exist, and messages stay on one line whatever a file name or a
// hostile JSON key holds.
#ifndef UG_CLI_GUARD_H
#define UG_CLI_GUARD_H

#include <stdbool.h>

#include "engine/error.h"

// `path` names an existing regular file; else UG_ERR_IO "<path>: <why>" (missing, a folder,
// a FIFO or device).
ug_status cli_check_input(const char *path, ug_err *err);

// `path` can become a file: not empty, not an existing folder, and its parent folder exists.
// `opt` names the option in the message ("--out").
ug_status cli_check_output_file(const char *path, const char *opt, ug_err *err);

// Replaces control characters (newlines, escapes) in msg with '?', so an error stays one line.
void cli_one_line(char *msg);

// cli_error with control characters of the formatted text replaced (user strings are quoted
// in usage errors: --point $'1\n2' must not break the line).
void cli_error_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Prints err as the one line "ugains: <prefix><message>".
void cli_print_err(const char *prefix, ug_err *err);

// What a weights file that failed to open as safetensors looks like, for a hint: "a PyTorch
// zip checkpoint", "a pickle checkpoint" or NULL.
const char *cli_checkpoint_kind(const char *path);

#endif
