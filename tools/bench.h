/*
** bench.h: the benchmark cases of `tgraph bench` (tools/bench_cases.c) and what the runner
** (tools/cmd_bench.c) needs to time them. Sizes are the seed's: batch 128, 64x64, 16 channels.
*/
#ifndef TG_BENCH_H
#define TG_BENCH_H

#include "tgraph.h"

/* One prepared benchmark. One repetition is tg_graph_compute(g, ntargets, targets), or run(ud)
** when run is set (a trainer step: then g is the graph run uses, and free_ud frees ud and g). */
typedef struct bench_case {
	tg_graph *g;
	int ntargets;
	tg_node *targets[8];
	tg_status (*run)(void *ud);
	void (*free_ud)(void *ud);
	void *ud;
	/* FLOPs of one repetition when the ops' flops() do not cover it; 0: sum flops() of the nodes run */
	double flops;
} bench_case;

typedef struct bench_def {
	const char *name;
	const char *what;   /* one line for the table and --list */
	/* Builds the case with inputs filled (deterministic pseudo-random data) and the given threads.
	** On error returns non-OK with the message in tg_last_error() or the graph's error. */
	tg_status (*build)(bench_case *c, int threads);
} bench_def;

/* The cases in run order; the first one is the square-sgemm reference. */
extern const bench_def bench_defs[];
extern const int bench_ndefs;
#define BENCH_SGEMM_NAME "matmul_sgemm_1024"

void bench_case_free(bench_case *c);

#endif
