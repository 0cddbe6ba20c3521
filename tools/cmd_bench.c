/*
** cmd_bench.c: `tgraph bench`: times the cases of tools/bench_cases.c (median, min and max of
** --reps runs after --warmup untimed runs, wall clock), with GFLOP/s from the ops' flops() of the
** nodes actually run, the share of the measured square-sgemm rate, and the planner's peak bytes.
** --json prints one JSON array on stdout and everything else on stderr; --profile adds the time
** per op kind and the slowest nodes (summed by the eval callback over the timed runs).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#include "cli.h"

typedef struct opts {
	int threads, reps, warmup;
	const char *filter;
	bool json, profile, list;
} opts;

/* What the eval callback gathers: FLOPs of the first run, seconds per node over the timed runs. */
typedef struct acc {
	bool count_flops, timing;
	double flops;
	int nnodes;
	double *node_s;
	const tg_node **nodes;
} acc;

typedef struct result {
	const char *name;
	double median_ms, min_ms, max_ms, flops;
	size_t peak_bytes;
} result;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static bool on_node(const tg_node *n, double seconds, void *ud)
{
	acc *a = ud;
	if (a->count_flops && n->op->flops)
		a->flops += n->op->flops(n);
	if (a->timing && n->id < a->nnodes) {
		a->node_s[n->id] += seconds;
		a->nodes[n->id] = n;
	}
	return true;
}

static tg_status run_once(bench_case *c)
{
	if (c->run)
		return c->run(c->ud);
	return tg_graph_compute(c->g, c->ntargets, c->targets);
}

static const char *part_of(const tg_node *n)
{
	return n->flags & TG_FLAG_OPTIM ? "optim" : n->flags & TG_FLAG_BACKWARD ? "bwd" : "fwd";
}

/* Seconds of one node or of one (op, part) group, summed over the timed runs. */
typedef struct entry {
	const char *op, *part;
	double s;
	int count, id;
} entry;

static int cmp_entry_desc(const void *a, const void *b)
{
	double x = ((const entry *)a)->s, y = ((const entry *)b)->s;
	return x > y ? -1 : x < y;
}

/* Time per (op, part) and the slowest nodes, per timed run. */
static void print_profile(FILE *f, const char *name, const acc *a, int reps, double median_ms)
{
	entry *groups = calloc((size_t)a->nnodes + 1, sizeof *groups), *nodes = calloc((size_t)a->nnodes + 1, sizeof *nodes);
	int ng = 0, nn = 0;
	double total = 0, per = 1e3 / reps;
	for (int i = 0; groups && nodes && i < a->nnodes; i++) {
		const tg_node *n = a->nodes[i];
		if (!n)
			continue;
		total += a->node_s[i];
		nodes[nn++] = (entry){n->op->name, part_of(n), a->node_s[i], 1, i};
		int j = 0;
		while (j < ng && !(strcmp(groups[j].op, n->op->name) == 0 && strcmp(groups[j].part, part_of(n)) == 0))
			j++;
		if (j == ng)
			groups[ng++] = (entry){n->op->name, part_of(n), 0, 0, i};
		groups[j].s += a->node_s[i];
		groups[j].count++;
	}
	qsort(groups, (size_t)ng, sizeof *groups, cmp_entry_desc);
	qsort(nodes, (size_t)nn, sizeof *nodes, cmp_entry_desc);
	fprintf(f, "\nprofile of %s: %.2f ms per run in nodes (mean of %d runs; wall median %.2f ms)\n", name, total * per,
		reps, median_ms);
	fprintf(f, "  %-22s %-5s %6s %10s %6s\n", "op", "part", "nodes", "ms/run", "share");
	for (int j = 0; j < ng && j < 16; j++)
		fprintf(f, "  %-22s %-5s %6d %10.2f %5.1f%%\n", groups[j].op, groups[j].part, groups[j].count, groups[j].s * per,
			total > 0 ? 100 * groups[j].s / total : 0.0);
	fprintf(f, "  slowest nodes:\n");
	for (int j = 0; j < nn && j < 10; j++) {
		const tg_node *n = a->nodes[nodes[j].id];
		char shp[96];
		fprintf(f, "  %10.2f ms  #%d %s %s '%s' %s %s\n", nodes[j].s * per, n->id, n->op->name, nodes[j].part, n->name,
			tg_shape_str(n->shape, shp, sizeof shp), tg_dtype_name(n->dtype));
	}
	free(groups);
	free(nodes);
}

/* Builds, warms up and times one case; false (message on stderr) on failure. */
static bool bench_one(const bench_def *d, const opts *o, bool profile, result *r)
{
	bench_case c;
	if (d->build(&c, o->threads) != TG_OK) {
		fprintf(stderr, "tgraph bench: %s: building failed: %s\n", d->name, tg_last_error());
		bench_case_free(&c);
		return false;
	}
	acc a = {.count_flops = true, .nnodes = tg_graph_node_count(c.g)};
	a.node_s = calloc((size_t)a.nnodes + 1, sizeof *a.node_s);
	a.nodes = calloc((size_t)a.nnodes + 1, sizeof *a.nodes);
	double *ms = calloc((size_t)o->reps, sizeof *ms);
	bool ok = a.node_s && a.nodes && ms;
	if (!ok)
		fprintf(stderr, "tgraph bench: %s: out of memory\n", d->name);
	tg_graph_set_eval_callback(c.g, on_node, &a);
	for (int i = 0; ok && i < o->warmup + o->reps; i++) {
		a.timing = i >= o->warmup;
		double t0 = now_ms();
		tg_status st = run_once(&c);
		double dt = now_ms() - t0;
		if (st != TG_OK) {
			fprintf(stderr, "tgraph bench: %s: run failed: %s\n", d->name,
				*tg_graph_error(c.g) ? tg_graph_error(c.g) : tg_last_error());
			ok = false;
		}
		a.count_flops = false;
		if (i >= o->warmup)
			ms[i - o->warmup] = dt;
	}
	if (ok) {
		qsort(ms, (size_t)o->reps, sizeof *ms, cmp_double);
		*r = (result){d->name, o->reps % 2 ? ms[o->reps / 2] : 0.5 * (ms[o->reps / 2 - 1] + ms[o->reps / 2]), ms[0],
			ms[o->reps - 1], c.flops > 0 ? c.flops : a.flops, tg_graph_peak_bytes(c.g)};
		if (profile)
			print_profile(o->json ? stderr : stdout, d->name, &a, o->reps, r->median_ms);
	}
	tg_graph_set_eval_callback(c.g, NULL, NULL);
	free(ms);
	free(a.node_s);
	free(a.nodes);
	bench_case_free(&c);
	return ok;
}

static bool selected(const char *name, const char *filter)
{
	return !filter || strstr(name, filter) != NULL;
}

static double gflops(const result *r) { return r->flops > 0 ? r->flops / (r->median_ms * 1e6) : 0; }

static void print_json(const result *rs, int n)
{
	printf("[");
	for (int i = 0; i < n; i++) {
		const result *r = &rs[i];
		printf("%s\n {\"name\": \"%s\", \"median_ms\": %.6g, \"min_ms\": %.6g, \"max_ms\": %.6g, \"gflops\": ", i ? "," : "",
			r->name, r->median_ms, r->min_ms, r->max_ms);
		if (r->flops > 0)
			printf("%.6g", gflops(r));
		else
			printf("null");
		printf(", \"peak_bytes\": ");
		if (r->peak_bytes)
			printf("%zu}", r->peak_bytes);
		else
			printf("null}");
	}
	printf("\n]\n");
}

static void print_row(const result *r, double sgemm_gflops)
{
	printf("%-30s %10.2f %10.2f %10.2f", r->name, r->median_ms, r->min_ms, r->max_ms);
	if (r->flops > 0) {
		printf(" %8.3f %8.2f", r->flops * 1e-9, gflops(r));
		if (sgemm_gflops > 0)
			printf(" %6.1f%% %10.2f", 100 * gflops(r) / sgemm_gflops, r->flops / (sgemm_gflops * 1e6));
		else
			printf(" %7s %10s", "-", "-");
	} else {
		printf(" %8s %8s %7s %10s", "-", "-", "-", "-");
	}
	printf(" %10.1f\n", (double)r->peak_bytes / (1 << 20));
}

static int parse(int argc, char **argv, opts *o)
{
	*o = (opts){.threads = 1, .reps = 10, .warmup = 3};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		long v;
		bool valued = !strcmp(a, "--threads") || !strcmp(a, "--reps") || !strcmp(a, "--warmup") || !strcmp(a, "--filter");
		if (valued && i + 1 >= argc)
			return cli_usage_error("bench", "%s needs a value", a);
		if (!strcmp(a, "--filter")) {
			o->filter = argv[++i];
		} else if (valued) {
			const char *s = argv[++i];
			int lo = strcmp(a, "--warmup") ? 1 : 0;
			if (!cli_parse_int(s, &v) || v < lo || v > 1000)
				return cli_usage_error("bench", "%s expects an integer in [%d, 1000], got '%s'", a, lo, s);
			*(!strcmp(a, "--threads") ? &o->threads : !strcmp(a, "--reps") ? &o->reps : &o->warmup) = (int)v;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "--profile")) {
			o->profile = true;
		} else if (!strcmp(a, "--list")) {
			o->list = true;
		} else {
			return cli_usage_error("bench", "unknown argument '%s'", a);
		}
	}
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	opts o;
	int rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	int nsel = 0;
	for (int i = 0; i < bench_ndefs; i++)
		nsel += selected(bench_defs[i].name, o.filter);
	if (o.list || !nsel) {
		for (int i = 0; i < bench_ndefs; i++)
			if (o.list)
				printf("%-30s %s\n", bench_defs[i].name, bench_defs[i].what);
		return o.list ? 0 : cli_usage_error("bench", "no benchmark matches '%s' (see --list)", o.filter);
	}
	FILE *info = o.json ? stderr : stdout;
	double load[3] = {0};
	FILE *la = fopen("/proc/loadavg", "r");
	if (la) {
		if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = -1;
		fclose(la);
	}
	fprintf(info, "tgraph bench: threads %d (tgraph pool and BLIS, set by tg_graph_set_threads), reps %d, warmup %d, "
		"load average %.2f\n", o.threads, o.reps, o.warmup, load[0]);
	result *rs = calloc((size_t)bench_ndefs, sizeof *rs);
	if (!rs)
		return cli_fail("bench", "out of memory");
	/* the square-sgemm rate is the yardstick of the table; the JSON consumer computes its own */
	double sgemm = 0;
	int nres = 0, failed = 0;
	if (!o.json) {
		printf("%-30s %10s %10s %10s %8s %8s %7s %10s %10s\n", "benchmark", "median ms", "min ms", "max ms", "GFLOP",
			"GFLOP/s", "%sgemm", "at-sgemm", "peak MiB");
		fflush(stdout);
	}
	for (int i = 0; i < bench_ndefs; i++) {
		const bench_def *d = &bench_defs[i];
		bool is_ref = i == 0 && !o.json;
		if (!selected(d->name, o.filter) && !is_ref)
			continue;
		result r;
		if (!bench_one(d, &o, o.profile && selected(d->name, o.filter), &r)) {
			failed++;
			continue;
		}
		if (i == 0)
			sgemm = gflops(&r);
		if (!selected(d->name, o.filter))
			continue;
		rs[nres++] = r;
		if (!o.json) {
			print_row(&r, sgemm);
			fflush(stdout);
		}
	}
	if (o.json)
		print_json(rs, nres);
	else
		for (int i = 0; i < nres; i++)
			if (!strcmp(rs[i].name, "unet_train_step_b128") && sgemm > 0 && rs[i].flops > 0)
				printf("\nphysical limit: the U-Net step's %.2f GFLOP at the square-sgemm rate %.1f GFLOP/s = %.0f ms "
					"(measured median %.0f ms, %.1fx the limit)\n", rs[i].flops * 1e-9, sgemm,
					rs[i].flops / (sgemm * 1e6), rs[i].median_ms, rs[i].median_ms * sgemm * 1e6 / rs[i].flops);
	free(rs);
	return failed ? 1 : 0;
}
