/*
** fuzz_checkpoint.c: libFuzzer harness for tg_checkpoint_load. Each input is written to a
** temporary file and loaded into a small fixed graph (the seeds in corpus_checkpoint/ are valid
** checkpoints of it). The load must not crash, leak or read out of bounds, and a failed load
** must leave the graph's data unchanged. Built and run by tests/fuzz/run.sh.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tgraph.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

static tg_graph *g;
static char path[64];
static unsigned char before[512];

static void remove_file(void) { unlink(path); }

/* The graph of the seeds: w f32 [2,3], net/b.bias f64 [3], z c128 [2], state adam.step f64 []. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	g = tg_graph_new();
	tg_param(g, "w", TG_F32, TG_SHAPE(2, 3));
	tg_param(g, "net/b.bias", TG_F64, TG_SHAPE(3));
	tg_param(g, "z", TG_C128, TG_SHAPE(2));
	tg_state(g, "adam.step", TG_F64, TG_SCALAR_SHAPE);
	snprintf(path, sizeof path, "%s/tg_fuzz_ck_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	int fd = mkstemp(path);
	if (!g || tg_graph_status(g) != TG_OK || fd < 0)
		abort();
	close(fd);
	atexit(remove_file);
	return 0;
}

/* All persistent bytes of g into out (the graph is 24 + 24 + 32 + 8 bytes). */
static size_t snapshot(unsigned char *out)
{
	size_t k = 0;
	for (int i = 0; i < tg_graph_node_count(g); i++) {
		tg_node *n = tg_graph_node(g, i);
		memcpy(out + k, n->data, n->nbytes);
		k += n->nbytes;
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		abort();
	size_t n = snapshot(before);
	if (tg_checkpoint_load(g, path) != TG_OK) {
		unsigned char after[sizeof before];
		if (snapshot(after) != n || memcmp(before, after, n) != 0)
			__builtin_trap();
	}
	return 0;
}
