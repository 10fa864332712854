// apps/outputs.h — all-or-nothing output sets for the commands that write several files
// (`ugains sam`, `ugains rba`).
//
// Every file is written into a hidden staging folder made inside its final folder (same file
// system, so the moves are renames) and moved into place only when every file of the set has
// been written. A failure at any step removes the staging folder and the folders the run
// created, so an output folder never holds a half set or a mix of old and new files. Only a
// kill between the renames can leave a partial set; a kill before them leaves a
// .tmp-<tag>-XXXXXX folder behind.
#ifndef UG_APPS_OUTPUTS_H
#define UG_APPS_OUTPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/error.h"

// Folders a run created (mkdir -p), removed again when the run fails.
typedef struct cli_made_dirs {
    char *path[64];
    int n;
} cli_made_dirs;

// mkdir -p; fine when the folder exists. Every folder it creates is recorded in md.
ug_status cli_make_dirs(const char *path, cli_made_dirs *md, ug_err *err);
// Forgets the recorded folders; with `remove`, first removes them (rmdir: only empty ones, so
// nothing the run did not leave there goes).
void cli_made_dirs_undo(cli_made_dirs *md, bool remove);

typedef struct cli_stage {
    char dir[4096]; // final folder
    char tmp[4200]; // staging folder; empty: none
    char **name;    // files staged so far
    int n, cap;
} cli_stage;

// Makes the staging folder DIR/.tmp-<tag>-XXXXXX. s must be zeroed before the first call.
ug_status cli_stage_open(cli_stage *s, const char *dir, const char *tag, ug_err *err);
// Path of `name` in the staging folder (into buf), recorded for the commit; NULL with err set
// when out of memory.
const char *cli_stage_file(cli_stage *s, const char *name, char *buf, size_t n, ug_err *err);
// Before anything moves: a final name held by a folder would make its rename fail half-way.
ug_status cli_stage_check(const cli_stage *s, ug_err *err);
// Moves every staged file into place and removes the staging folder.
ug_status cli_stage_commit(cli_stage *s, ug_err *err);
// Removes whatever is still staged (committed files are gone from it already) and frees s.
void cli_stage_abort(cli_stage *s);

// ---- dying cleanly ----
//
// Two failures cannot come back as a ug_status: a kernel that runs out of memory for its own
// buffers (ug_nomem_fatal, engine/error.h) and a read from a mapped weights file that was
// truncated on disk meanwhile (SIGBUS). cli_fatal_init installs a handler for each that prints
// ONE line, undoes what the command has on disk half-way and exits 1 (_exit: nothing else
// runs). Undone: every open cli_stage (its staged files and the staging folder) and the
// folders recorded by cli_make_dirs that are still empty, as long as the cli_made_dirs has not
// been undone (cli_made_dirs_undo must be called on every path, as cli_stage_abort must).
// Committed outputs stay. `ugains run` stages each image after its models ran, so no staging
// folder of it is open then (and a run removes the stale .tmp-<stem>-* it finds).
//
//   ugains: run: out of memory for 1340928 bytes of kernel scratch
//   ugains: /data/sam_vit_h.safetensors: the weights file changed on disk while in use (truncated?)
//
// The SIGBUS line names the file mapped at the faulting address (read from /proc/self/maps)
// and the handler uses only async-signal-safe calls (open, read, unlink, rmdir, write, _exit).
// A SIGBUS that is not a read past the end of a mapped file keeps its default action.
void cli_fatal_init(const char *command);

#endif
