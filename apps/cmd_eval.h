// apps/cmd_eval.h — `ugains eval` (apps/cmd_eval.c); dispatched from apps/main.c.
#ifndef UG_CMD_EVAL_H
#define UG_CMD_EVAL_H

int cmd_eval(int argc, char **argv);

#endif
