// apps/outputs.c — see outputs.h.
#include "apps/outputs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_made_dirs_undo(cli_made_dirs *md, bool remove) {
    while (md->n > 0) {
        char *p = md->path[--md->n];
        if (remove) rmdir(p);
        free(p);
    }
}

ug_status cli_make_dirs(const char *path, cli_made_dirs *md, ug_err *err) {
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
    return UG_OK;
}

void cli_stage_abort(cli_stage *s) {
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
