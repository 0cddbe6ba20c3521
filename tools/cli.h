/*
** cli.h: the tgraph command-line tool: one file per command (cmd_<name>.c), registered in
** tgraph.c's table. Commands print errors to stderr and return an exit status.
*/
#ifndef TG_CLI_H
#define TG_CLI_H

#include <stdbool.h>
#include "tgraph.h"

typedef struct cli_command {
	const char *name;
	const char *usage;   /* one line: arguments */
	const char *help;    /* one line: what it does */
	int (*run)(int argc, char **argv);   /* argv[0] is the command name */
} cli_command;

/* Prints "tgraph <cmd>: message" to stderr; returns 2 (usage errors) for convenience. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "tgraph <cmd>: message" plus tg_last_error() or a graph's error; returns 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number (finite for doubles). */
bool cli_parse_double(const char *s, double *out);
bool cli_parse_int(const char *s, long *out);

/* Built-in example graphs shared by `dot` and `info` (tools/graphs.c). Returns NULL and sets an
** error for an unknown name. names: a comma-separated list for messages. */
tg_graph *cli_build_graph(const char *name, const char **names);

#endif
