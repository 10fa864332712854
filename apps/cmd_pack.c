// apps/cmd_pack.c — `ugains pack` (weights-tools/, DESIGN §3-4).
#include "apps/cli.h"

int cmd_pack(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("pack: not available yet");
    return CLI_RUNTIME;
}
