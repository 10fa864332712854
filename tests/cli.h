// tests/cli.h — running the `ugains` binary from a test as a user would: fork/execv with the
// arguments passed as they are (no shell), stdout and stderr sent to files.
#ifndef UG_TESTS_CLI_H
#define UG_TESTS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

// $UGAINS_BIN (which `make test` sets), else build/bin/ugains.
const char *test_cli_bin(void);

// Starts `ugains args...` (args NULL-terminated, at most 62); stdout goes to outfile and stderr
// to errfile (NULL: /dev/null). The child's pid, or -1 when fork fails. No Check asserts, so
// unchecked fixtures (which run in the parent) may call it too.
pid_t test_cli_spawn(const char *const *args, const char *outfile, const char *errfile);
// The same with the child's address space limited to as_limit bytes (setrlimit(RLIMIT_AS) in
// the child before exec, as `ulimit -v`; 0: no limit), so that its allocations fail.
pid_t test_cli_spawn_limited(const char *const *args, const char *outfile, const char *errfile,
                             size_t as_limit);
// false when an address-space limit cannot work: built with AddressSanitizer, which reserves
// terabytes of shadow memory at start (make sanitize builds the binary and the tests alike).
// A test that needs the limit then passes with a note "skipped under ASan" on stderr.
bool test_cli_as_limit_works(void);
// Waits for pid: its exit status, 128 + signal when killed, -1 when it cannot be waited for.
int test_cli_wait(pid_t pid);
// test_cli_wait with a deadline: pid is killed after limit_s seconds (a hang must fail the
// test, not stall the suite). Its exit status, 128 + signal, or -2 when it had to be killed.
int test_cli_wait_deadline(pid_t pid, int limit_s);
// test_cli_spawn then test_cli_wait.
int test_cli_run(const char *const *args, const char *outfile, const char *errfile);
// The same with the arguments given as one line split at spaces (test paths have none):
// test_cli_run_line("pack --in a.pth --out b", NULL, errfile). stdout is discarded.
int test_cli_run_line(const char *line, const char *errfile);

#endif
