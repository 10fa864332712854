// apps/cmd_inspect.c — `ugains inspect` (weights-tools/, DESIGN §3-4).
#include "apps/cli.h"

int cmd_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("inspect: not available yet");
    return CLI_RUNTIME;
}
