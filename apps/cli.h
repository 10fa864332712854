// apps/cli.h — the only layer that prints to the user and picks exit codes.
//   0 success, 1 runtime error (bad file, failed write), 2 usage error (bad option).
#ifndef UG_CLI_H
#define UG_CLI_H

#include "engine/ctx.h"
#include "engine/error.h"
#include "include/ugains.h" // UGAINS_VERSION, the one place the version is written

enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

// Subcommands: argv[0] is the subcommand name; each handles --help itself.
int cmd_bench(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_sam(int argc, char **argv);
int cmd_rba(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);

// One line "ugains: <message>" on stderr (control characters of the text shown as '?').
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Prints err's message as one line and returns CLI_RUNTIME.
int cli_fail(const ug_err *err);
// Parses a positive thread count ("--threads N"); false on junk.
int cli_parse_threads(const char *s, int *out);

// The device a command runs on: `arg` of --device (NULL when not given), else UGAINS_DEVICE,
// else the cpu. Values cpu and cuda; anything else prints "ugains: <cmd>: --device wants cpu
// or cuda, got 'x'" and returns 0 (a usage error).
int cli_device(const char *cmd, const char *arg, ug_device *out);
// Makes ctx run on d. For cuda without CUDA in this build, or without a usable GPU, err says
// so: "--device cuda: this ugains is built without CUDA ...", "--device cuda: no usable CUDA
// device: ...".
ug_status cli_use_device(ug_ctx *ctx, ug_device d, ug_err *err);
// The compute precision of a command: `arg` of --precision (NULL when not given: f32). Values
// f32 and bf16; anything else prints "ugains: <cmd>: --precision wants f32 or bf16, got 'x'"
// and returns 0 (a usage error).
int cli_precision(const char *cmd, const char *arg, ug_precision *out);
// Sets ctx's precision (after cli_use_device). bf16 runs the CPU's GEMM, convolution and
// attention kernels on AVX512-BF16; where it cannot (a CPU without it, or a device other than
// the CPU, whose kernels are f32) the command goes on in f32 and this prints one line saying
// so: "ugains: <cmd>: --precision bf16: <why>: running in f32".
void cli_use_precision(const char *cmd, ug_ctx *ctx, ug_precision p);

// For --version: whether CUDA is built in and what device it finds, one line.
void cli_describe_cuda(char *buf, size_t n);

// ---- checks on the paths a user hands a command, before any work: an input must be a
// regular file (a FIFO would block open() forever, a device never ends), an output file's
// folder must exist ----

// `path` can become a file: not empty, not an existing folder, and its parent folder exists.
// `opt` names the option in the message ("--out").
ug_status cli_check_output_file(const char *path, const char *opt, ug_err *err);

// Replaces control characters (newlines, escapes) in msg with '?', so an error stays one line.
void cli_one_line(char *msg);

// Prints err as the one line "ugains: <prefix><message>".
void cli_print_err(const char *prefix, const ug_err *err);

// What a weights file that failed to open as safetensors looks like, for a hint: "a PyTorch
// zip checkpoint", "a pickle checkpoint" or NULL.
const char *cli_checkpoint_kind(const char *path);

#endif
