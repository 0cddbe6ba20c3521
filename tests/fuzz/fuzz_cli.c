/*
** fuzz_cli.c: libFuzzer harness for the `tgraph` command line. The input is split at NUL bytes
** into argv[1..] and handed to the real dispatcher (tools/tgraph.c compiled with
** -Dmain=tgraph_main), so every command's argument parsing, its error paths and, when the
** arguments are good, its work run as from a shell; ASan/UBSan/LSan check each call.
**
** Bounded and contained: the process works in a fresh temporary directory holding small inputs
** (rewritten before every call, so a call that overwrote one does not change the next); arguments
** containing '/' are refused, so files are only read and written there; commands that run long
** or make directories (train, eval, bench) and flags that run or lay out whole graphs (--profile,
** --svg) are refused. Files a call creates are removed after it. As the harness changes its working
** directory at start, corpus and artifact paths given to it must be absolute.
*/
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tgraph.h"

int tgraph_main(int argc, char **argv);

#define MAX_ARGS 16

/* The inputs the commands may read: names as the seed corpus and the dictionary use them. */
static const char *const fixtures[] = {"g.npy", "f.npy", "e.npy", "c.npy", "v.npy", "t.txt"};
#define NFIX (sizeof fixtures / sizeof fixtures[0])

static void write_fixtures(void)
{
	static const double zero[32];
	static const double ramp[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	if (tg_npy_write("g.npy", TG_F64, TG_SHAPE(4, 4), ramp) != TG_OK ||
		tg_npy_write("f.npy", TG_F32, TG_SHAPE(2, 4, 4), zero) != TG_OK ||
		tg_npy_write("e.npy", TG_F64, TG_SHAPE(0, 4, 4), zero) != TG_OK ||
		tg_npy_write("c.npy", TG_C128, TG_SHAPE(2, 2), zero) != TG_OK ||
		tg_npy_write("v.npy", TG_F64, TG_SHAPE(3), zero) != TG_OK) {
		fprintf(stderr, "fuzz_cli: cannot write the fixtures: %s\n", tg_last_error());
		abort();
	}
	FILE *f = fopen("t.txt", "w");
	if (!f || fputs("not a .npy\n", f) < 0 || fclose(f) != 0)
		abort();
}

static int is_fixture(const char *name)
{
	for (size_t i = 0; i < NFIX; i++)
		if (strcmp(name, fixtures[i]) == 0)
			return 1;
	return 0;
}

/* Removes every file of the working directory that is not a fixture. */
static void clean(void)
{
	DIR *d = opendir(".");
	if (!d)
		abort();
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !is_fixture(e->d_name))
			unlink(e->d_name);
	closedir(d);
}

static char dir[] = "/tmp/tg_fuzz_cli_XXXXXX";

static void remove_dir(void)
{
	clean();
	for (size_t i = 0; i < NFIX; i++)
		unlink(fixtures[i]);
	if (chdir("/") == 0)
		rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (!mkdtemp(dir) || chdir(dir) != 0) {
		perror("fuzz_cli: temporary directory");
		abort();
	}
	atexit(remove_dir);
	return 0;
}

static int refused(int argc, char **argv)
{
	static const char *const commands[] = {"train", "eval", "bench"};
	static const char *const flags[] = {"--profile", "--svg"};
	for (size_t i = 0; argc > 1 && i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i]) == 0)
			return 1;
	for (int k = 1; k < argc; k++) {
		if (strchr(argv[k], '/'))
			return 1;
		for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
			if (strcmp(argv[k], flags[i]) == 0)
				return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* argv strings live in one NUL-terminated copy of the input */
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	char *argv[MAX_ARGS + 2] = {"tgraph"};
	int argc = 1;
	for (size_t at = 0; at < size && argc <= MAX_ARGS; at += strlen(buf + at) + 1)
		argv[argc++] = buf + at;
	argv[argc] = NULL;
	if (argc <= MAX_ARGS && !refused(argc, argv)) {
		write_fixtures();
		int rc = tgraph_main(argc, argv);
		if (rc < 0 || rc > 2) {
			fprintf(stderr, "fuzz_cli: exit status %d outside 0..2\n", rc);
			abort();
		}
		clean();
	}
	free(buf);
	return 0;
}
