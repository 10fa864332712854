// tests/cli.c — see cli.h.
#include "tests/cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *test_cli_bin(void) {
    const char *b = getenv("UGAINS_BIN");
    return b && *b ? b : "build/bin/ugains";
}

bool test_cli_as_limit_works(void) {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return false;
#else
    return true;
#endif
#else
    return true;
#endif
}

pid_t test_cli_spawn_limited(const char *const *args, const char *outfile, const char *errfile,
                             size_t as_limit) {
    pid_t pid = fork();
    if (pid != 0) return pid < 0 ? -1 : pid;
    // Child: 127 tells the parent that redirecting or exec'ing failed.
    if (!freopen(outfile ? outfile : "/dev/null", "w", stdout)) _exit(127);
    if (!freopen(errfile ? errfile : "/dev/null", "w", stderr)) _exit(127);
    if (as_limit) {
        struct rlimit rl = {(rlim_t)as_limit, (rlim_t)as_limit};
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(127);
    }
    enum { MAX_ARGS = 64 };
    const char *argv[MAX_ARGS];
    int n = 0;
    argv[n++] = test_cli_bin();
    while (n < MAX_ARGS - 1 && args[n - 1]) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    execv(test_cli_bin(), (char *const *)argv);
    _exit(127);
}

pid_t test_cli_spawn(const char *const *args, const char *outfile, const char *errfile) {
    return test_cli_spawn_limited(args, outfile, errfile, 0);
}

int test_cli_wait(pid_t pid) {
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int test_cli_wait_deadline(pid_t pid, int limit_s) {
    if (pid < 0) return -1;
    struct timespec t0, now, nap = {0, 2 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r != 0) return -1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= limit_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -2;
        }
        nanosleep(&nap, NULL);
    }
}

int test_cli_run(const char *const *args, const char *outfile, const char *errfile) {
    return test_cli_wait(test_cli_spawn(args, outfile, errfile));
}

int test_cli_run_line(const char *line, const char *errfile) {
    char buf[8192];
    const char *args[63];
    int n = 0;
    if (snprintf(buf, sizeof buf, "%s", line) >= (int)sizeof buf) return -1;
    for (char *tok = strtok(buf, " "); tok && n < 62; tok = strtok(NULL, " "))
        args[n++] = tok;
    args[n] = NULL;
    return test_cli_run(args, NULL, errfile);
}
