// tests/cli.h — running the `ugains` binary from a test as a user would: fork/execv with the
// arguments passed as they are (no shell), stdout and stderr sent to files.
#ifndef UG_TESTS_CLI_H
#define UG_TESTS_CLI_H

#include <sys/types.h>

// $UGAINS_BIN (which `make test` sets), else build/bin/ugains.
const char *test_cli_bin(void);

// Starts `ugains args...` (args NULL-terminated, at most 62); stdout goes to outfile and stderr
// to errfile (NULL: /dev/null). The child's pid, or -1 when fork fails. No Check asserts, so
// unchecked fixtures (which run in the parent) may call it too.
pid_t test_cli_spawn(const char *const *args, const char *outfile, const char *errfile);
// Waits for pid: its exit status, 128 + signal when killed, -1 when it cannot be waited for.
int test_cli_wait(pid_t pid);
// test_cli_spawn then test_cli_wait.
int test_cli_run(const char *const *args, const char *outfile, const char *errfile);
// The same with the arguments given as one line split at spaces (test paths have none):
// test_cli_run_line("pack --in a.pth --out b", NULL, errfile). stdout is discarded.
int test_cli_run_line(const char *line, const char *errfile);

#endif
