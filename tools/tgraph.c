/*
** tgraph.c: the `tgraph` command: dispatches to the commands of the table below.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include "cli.h"

int cmd_dot(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_diffuse(int argc, char **argv);
int cmd_sip_inverse(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
#define EXTRA_COMMANDS

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const cli_command commands[] = {
	{"help", "[COMMAND]", "show the commands, or one command's usage", cmd_help},
	{"version", "", "print the version", cmd_version},
	{"dot", "[--graph NAME] [--out FILE.dot] [--svg FILE.svg] [--forward|--backward] [--profile]",
		"dump a built-in graph with its backward part as DOT (stdout by default)", cmd_dot},
	{"info", "NAME", "print a built-in graph's node and parameter counts (e.g. `tgraph info unet`)", cmd_info},
	{"bench", "[--threads N] [--filter NAME] [--reps N] [--warmup N] [--json] [--profile] [--list]",
		"time ops and training steps at the seed's sizes (median/min/max ms, GFLOP/s, peak bytes)", cmd_bench},
	{"diffuse", "--amount A IN.npy OUT.npy", "diffuse [B,]X,Y grids (PhiFlow's diffuse.fourier, amount = diffusivity*dt)",
		cmd_diffuse},
	{"sip-inverse", "--amount A [--rel-uncertainty R] RESIDUAL.npy DX.npy [--kernel K.npy] [--prob P.npy] [--uncertainty U.npy]",
		"the seed's damped inverse diffusion of a residual (R default float32(1e-6))", cmd_sip_inverse},
	{"train", "[--method sip|gd|both] [--steps 50] [--batch 128] [--res 64|XxY] [--amount 8] [--lr 1e-3] [--seed 0] "
		"[--threads 1] [--out DIR] [--resume CKPT|DIR]",
		"the seed's heat inversion: train the U-Net with SIP and/or GD; losses.csv, figures, checkpoints", cmd_train},
	{"eval", "--checkpoint CKPT [--batch N] [--seed S] [--threads N] [--out DIR]",
		"x/y losses of a trained U-Net on fresh samples, with a reconstruction figure", cmd_eval},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tgraph %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(see `tgraph help %s`)\n", cmd);
	va_end(ap);
	return 2;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tgraph %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	const char *e = tg_last_error();
	if (e && *e)
		fprintf(stderr, ": %s", e);
	fprintf(stderr, "\n");
	va_end(ap);
	return 1;
}

bool cli_parse_double(const char *s, double *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno || !isfinite(v))
		return false;
	*out = v;
	return true;
}

bool cli_parse_int(const char *s, long *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end || errno)
		return false;
	*out = v;
	return true;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc, (void)argv;
	printf("tgraph %s\n", TG_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 0; i < NCOMMANDS; i++)
			if (strcmp(commands[i].name, argv[1]) == 0) {
				printf("usage: tgraph %s %s\n  %s\n", commands[i].name, commands[i].usage, commands[i].help);
				return 0;
			}
		fprintf(stderr, "tgraph help: unknown command '%s'\n", argv[1]);
		return 2;
	}
	printf("tgraph %s: tensor dataflow graphs with autodiff, FFT physics and SIP training\n\nusage: tgraph COMMAND [ARGS]\n\n",
		TG_VERSION);
	for (int i = 0; i < NCOMMANDS; i++)
		printf("  %-12s %s\n", commands[i].name, commands[i].help);
	printf("\n`tgraph help COMMAND` shows a command's arguments.\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return 2;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		return cmd_help(0, NULL);
	if (strcmp(name, "--version") == 0)
		return cmd_version(0, NULL);
	for (int i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "tgraph: unknown command '%s' (see `tgraph help`)\n", name);
	return 2;
}
