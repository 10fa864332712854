// engine/fileio.c — see fileio.h.
#include "engine/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ug_status ug_file_check_regular(const char *path, ug_err *err) {
    struct stat sb;
    if (!*path) return ug_errf(err, UG_ERR_IO, "an input file name is empty");
    if (stat(path, &sb) != 0) return ug_errf(err, UG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return ug_errf(err, UG_ERR_IO, "%s: is a directory, expected a file", path);
    if (!S_ISREG(sb.st_mode))
        return ug_errf(err, UG_ERR_IO, "%s: not a regular file (a FIFO, socket or device)", path);
    return UG_OK;
}

ug_status ug_file_read_all(const char *path, size_t max_bytes, void **data, size_t *size, ug_err *err) {
    *data = NULL;
    *size = 0;
    ug_status st = UG_OK;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ug_errf(err, UG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        st = ug_errf(err, UG_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = ug_errf(err, UG_ERR_IO, "%s: is a directory", path);
        goto done;
    }
    // Regular files: the size is known up front. Pipes and devices report 0: grow as we read.
    size_t cap = S_ISREG(sb.st_mode) ? (size_t)sb.st_size : 0;
    if (cap > max_bytes) {
        st = ug_errf(err, UG_ERR_NOMEM, "%s: %lld bytes is over the %zu-byte limit", path,
                     (long long)sb.st_size, max_bytes);
        goto done;
    }
    if (cap == 0) cap = ((size_t)1 << 16) < max_bytes ? ((size_t)1 << 16) : max_bytes;
    buf = malloc(cap ? cap : 1);
    if (!buf) {
        st = ug_errf(err, UG_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, cap);
        goto done;
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            // One probe byte past a full buffer tells "exactly max_bytes" from "more".
            if (cap >= max_bytes) {
                int c = fgetc(f);
                if (c == EOF) break;
                st = ug_errf(err, UG_ERR_NOMEM, "%s: larger than the %zu-byte limit", path, max_bytes);
                goto done;
            }
            size_t ncap = cap > max_bytes / 2 ? max_bytes : 2 * cap;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                st = ug_errf(err, UG_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, ncap);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                st = ug_errf(err, UG_ERR_IO, "%s: read failed: %s", path, strerror(errno));
                goto done;
            }
            break;
        }
    }
    *data = buf;
    *size = n;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return st;
}

// The process umask, read without changing it (umask(2) both reads and sets, which races
// with other threads creating files). Falls back to the common 022.
static mode_t current_umask(void) {
    mode_t mask = 022;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return mask;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Umask:", 6) == 0) {
            mask = (mode_t)strtoul(line + 6, NULL, 8) & 0777;
            break;
        }
    }
    fclose(f);
    return mask;
}

ug_status ug_atomic_open(ug_atomic_file *af, const char *path, ug_err *err) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->path = malloc(n + 1);
    af->tmp = malloc(n + sizeof ".tmp.XXXXXX");
    if (!af->path || !af->tmp) {
        ug_atomic_abort(af);
        return ug_errf(err, UG_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(af->path, path, n + 1);
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        ug_status st = ug_errf(err, UG_ERR_IO, "%s: cannot create %s: %s", path, af->tmp, strerror(errno));
        free(af->tmp);
        af->tmp = NULL;
        ug_atomic_abort(af);
        return st;
    }
    // mkstemp makes the file 0600; outputs should get the permissions fopen would give them.
    if (fchmod(fd, 0666 & ~current_umask()) != 0 || !(af->f = fdopen(fd, "wb"))) {
        ug_status st = ug_errf(err, UG_ERR_IO, "%s: cannot open %s: %s", path, af->tmp, strerror(errno));
        if (!af->f) close(fd);
        ug_atomic_abort(af);
        return st;
    }
    return UG_OK;
}

ug_status ug_atomic_commit(ug_atomic_file *af, ug_err *err) {
    ug_status st = UG_OK;
    // ferror catches earlier short writes the caller did not check; fclose flushes the rest.
    bool write_failed = ferror(af->f) != 0;
    int close_rc = fclose(af->f);
    af->f = NULL;
    if (write_failed || close_rc != 0) {
        st = ug_errf(err, UG_ERR_IO, "%s: write failed: %s", af->path,
                     write_failed ? "stream error" : strerror(errno));
    } else if (rename(af->tmp, af->path) != 0) {
        st = ug_errf(err, UG_ERR_IO, "%s: cannot rename %s into place: %s", af->path, af->tmp,
                     strerror(errno));
    } else {
        free(af->tmp);
        af->tmp = NULL; // renamed: nothing left to remove
    }
    ug_atomic_abort(af);
    return st;
}

void ug_atomic_abort(ug_atomic_file *af) {
    if (!af) return;
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
}
