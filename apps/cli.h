// apps/cli.h — the only layer that prints to the user and picks exit codes.
//   0 success, 1 runtime error (bad file, failed write), 2 usage error (bad option).
#ifndef UG_CLI_H
#define UG_CLI_H

#include "engine/error.h"

enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

#define UGAINS_VERSION "0.1.0"

// Subcommands: argv[0] is the subcommand name; each handles --help itself.
int cmd_bench(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_sam(int argc, char **argv);
int cmd_rba(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);

// One line "ugains: <message>" on stderr.
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Prints err's message as one line and returns CLI_RUNTIME (or CLI_USAGE for UG_ERR_ARG when
// `arg_is_usage`).
int cli_fail(const ug_err *err);
// Parses a positive thread count ("--threads N"); false on junk.
int cli_parse_threads(const char *s, int *out);

#endif
