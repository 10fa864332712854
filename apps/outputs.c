// apps/outputs.c — see outputs.h.
#include "apps/outputs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// What the fatal handlers undo (see outputs.h): the open stages and the recorded folders.
enum { LIVE_MAX = 16 };
static void *volatile live_stage[LIVE_MAX]; // cli_stage *
static void *volatile live_dirs[LIVE_MAX];  // cli_made_dirs *

static void live_add(void *volatile *v, void *p) {
    for (int i = 0; i < LIVE_MAX; i++)
        if (v[i] == p) return;
    for (int i = 0; i < LIVE_MAX; i++)
        if (!v[i]) {
            v[i] = p;
            return;
        }
}

static void live_remove(void *volatile *v, void *p) {
    for (int i = 0; i < LIVE_MAX; i++)
        if (v[i] == p) v[i] = NULL;
}

void cli_made_dirs_undo(cli_made_dirs *md, bool remove) {
    live_remove(live_dirs, md);
    while (md->n > 0) {
        char *p = md->path[--md->n];
        if (remove) rmdir(p);
        free(p);
    }
}

ug_status cli_make_dirs(const char *path, cli_made_dirs *md, ug_err *err) {
    live_add(live_dirs, md);
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return ug_errf(err, UG_ERR_ARG, "%s: path too long", path);
    for (char *q = buf + 1;; q++) {
        char ch = *q;
        if (ch == '/' || ch == '\0') {
            *q = '\0';
            if (mkdir(buf, 0777) == 0) {
                if (md->n < (int)(sizeof md->path / sizeof md->path[0]) && (md->path[md->n] = strdup(buf)))
                    md->n++;
            } else if (errno != EEXIST) {
                return ug_errf(err, UG_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            }
            *q = ch;
            if (ch == '\0') break;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ug_errf(err, UG_ERR_IO, "%s: not a directory", path);
    return UG_OK;
}

ug_status cli_stage_open(cli_stage *s, const char *dir, const char *tag, ug_err *err) {
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->tmp, sizeof s->tmp, "%s/.tmp-%s-XXXXXX", dir, tag);
    if (!mkdtemp(s->tmp)) {
        s->tmp[0] = '\0';
        return ug_errf(err, UG_ERR_IO, "%s: cannot create a staging folder: %s", dir, strerror(errno));
    }
    live_add(live_stage, s);
    return UG_OK;
}

const char *cli_stage_file(cli_stage *s, const char *name, char *buf, size_t n, ug_err *err) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        char **v = realloc(s->name, (size_t)cap * sizeof *v);
        if (!v) {
            ug_errf(err, UG_ERR_NOMEM, "out of memory");
            return NULL;
        }
        s->name = v;
        s->cap = cap;
    }
    if (!(s->name[s->n] = strdup(name))) {
        ug_errf(err, UG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->n++;
    snprintf(buf, n, "%s/%s", s->tmp, name);
    return buf;
}

ug_status cli_stage_check(const cli_stage *s, ug_err *err) {
    char p[4400];
    struct stat sb;
    for (int i = 0; i < s->n; i++) {
        snprintf(p, sizeof p, "%s/%s", s->dir, s->name[i]);
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            return ug_errf(err, UG_ERR_IO, "%s: is a directory, cannot write the output there", p);
    }
    return UG_OK;
}

ug_status cli_stage_commit(cli_stage *s, ug_err *err) {
    char from[4400], to[4400];
    for (int i = 0; i < s->n; i++) {
        snprintf(from, sizeof from, "%s/%s", s->tmp, s->name[i]);
        snprintf(to, sizeof to, "%s/%s", s->dir, s->name[i]);
        if (rename(from, to) != 0)
            return ug_errf(err, UG_ERR_IO, "%s: rename failed: %s", to, strerror(errno));
    }
    rmdir(s->tmp);
    s->tmp[0] = '\0';
    live_remove(live_stage, s);
    return UG_OK;
}

void cli_stage_abort(cli_stage *s) {
    live_remove(live_stage, s);
    if (s->tmp[0]) {
        char p[4400];
        for (int i = 0; i < s->n; i++) {
            snprintf(p, sizeof p, "%s/%s", s->tmp, s->name[i]);
            unlink(p);
        }
        rmdir(s->tmp);
        s->tmp[0] = '\0';
    }
    for (int i = 0; i < s->n; i++)
        free(s->name[i]);
    free(s->name);
    s->name = NULL;
    s->n = s->cap = 0;
}

// ---- dying cleanly (async-signal-safe from here on: no stdio, no malloc) ----

static const char *fatal_command = "";
static atomic_flag dying = ATOMIC_FLAG_INIT;

static size_t slen(const char *s) {
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

// Appends src to dst (capacity cap, NUL-terminated), truncating; control characters as '?'.
static void append(char *dst, size_t cap, const char *src) {
    size_t n = slen(dst);
    for (; *src && n + 1 < cap; src++)
        dst[n++] = (unsigned char)*src < 0x20 || *src == 0x7f ? '?' : *src;
    dst[n] = '\0';
}

static void put_stderr(const char *s) {
    size_t n = slen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

// Only one thread dies: another one that fails meanwhile waits for the _exit.
static void claim_death(void) {
    if (atomic_flag_test_and_set(&dying))
        for (;;)
            pause();
}

static void undo_live(void) {
    char p[4400];
    for (int i = 0; i < LIVE_MAX; i++) {
        cli_stage *s = live_stage[i];
        if (!s || !s->tmp[0]) continue;
        for (int k = 0; k < s->n; k++) {
            p[0] = '\0';
            append(p, sizeof p, s->tmp);
            append(p, sizeof p, "/");
            append(p, sizeof p, s->name[k]);
            unlink(p);
        }
        rmdir(s->tmp);
    }
    for (int i = 0; i < LIVE_MAX; i++) {
        cli_made_dirs *md = live_dirs[i];
        if (!md) continue;
        for (int k = md->n - 1; k >= 0; k--)
            rmdir(md->path[k]); // only empty ones go
    }
}

static void on_nomem(const char *msg) {
    claim_death();
    char line[UG_ERR_MSG_MAX + 128] = "ugains: ";
    if (*fatal_command) {
        append(line, sizeof line, fatal_command);
        append(line, sizeof line, ": ");
    }
    append(line, sizeof line, msg);
    undo_live();
    put_stderr(line);
    put_stderr("\n");
    _exit(1);
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// The file mapped at addr, from /proc/self/maps (lines "lo-hi perms offset dev inode   path"),
// into path; false when there is none.
static bool mapped_file_at(uintptr_t addr, char *path, size_t cap) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    static char buf[8192];
    char line[4608];
    size_t len = 0;
    bool found = false, overlong = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n && !found; i++) {
            if (buf[i] != '\n') {
                if (len + 1 < sizeof line)
                    line[len++] = buf[i];
                else
                    overlong = true;
                continue;
            }
            line[len] = '\0';
            const char *q = line;
            uintptr_t lo = 0, hi = 0;
            for (int d; (d = hexval(*q)) >= 0; q++)
                lo = lo * 16 + (uintptr_t)d;
            if (*q == '-') q++;
            for (int d; (d = hexval(*q)) >= 0; q++)
                hi = hi * 16 + (uintptr_t)d;
            if (!overlong && addr >= lo && addr < hi) {
                for (int field = 0; field < 4 && *q; field++) { // perms, offset, dev, inode
                    while (*q == ' ')
                        q++;
                    while (*q && *q != ' ')
                        q++;
                }
                while (*q == ' ')
                    q++;
                if (*q == '/') {
                    path[0] = '\0';
                    append(path, cap, q);
                    static const char del[] = " (deleted)"; // an unlinked file
                    size_t m = slen(path), k = sizeof del - 1, j = 0;
                    while (m > k && j < k && path[m - k + j] == del[j])
                        j++;
                    if (m > k && j == k) path[m - k] = '\0';
                    found = true;
                }
            }
            len = 0;
            overlong = false;
        }
        if (found) break;
    }
    close(fd);
    return found;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx) {
    (void)uctx;
    if (si->si_code != BUS_ADRERR) { // not a read past the end of a file: the default action
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    claim_death();
    static char line[4800], path[4400];
    line[0] = '\0';
    append(line, sizeof line, "ugains: ");
    if (mapped_file_at((uintptr_t)si->si_addr, path, sizeof path)) {
        append(line, sizeof line, path);
        append(line, sizeof line, ": the weights file changed on disk while in use (truncated?)");
    } else {
        append(line, sizeof line, "a mapped file changed on disk while in use (truncated?)");
    }
    undo_live();
    put_stderr(line);
    put_stderr("\n");
    _exit(1);
}

void cli_fatal_init(const char *command) {
    fatal_command = command ? command : "";
    ug_set_nomem_handler(on_nomem);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}
