/*
** cmd_eval.c: `tgraph eval`: x and y losses of a trained U-Net (a `tgraph train` checkpoint) on a
** fresh batch (batch number TG_HEAT_EVAL_STEP, which training never reaches), with a
** prediction | reference figure. Batch norm uses batch statistics, as in the seed's training.
*/
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "train_report.h"

#define CMD "eval"

typedef struct eval_opts {
	const char *ckpt, *out;
	long batch, threads, seed;   /* batch/seed -1: from the checkpoint */
} eval_opts;

static int parse_args(int argc, char **argv, eval_opts *o)
{
	*o = (eval_opts){.batch = -1, .threads = 1, .seed = -1};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0)
			return cli_usage_error(CMD, "unexpected argument '%s'", a);
		if (i + 1 >= argc)
			return cli_usage_error(CMD, "%s needs a value", a);
		const char *v = argv[++i];
		long n;
		if (!strcmp(a, "--checkpoint")) {
			o->ckpt = v;
		} else if (!strcmp(a, "--out")) {
			o->out = v;
		} else if (!strcmp(a, "--batch") || !strcmp(a, "--threads")) {
			long max = a[2] == 'b' ? 65536 : 256;
			if (!cli_parse_int(v, &n) || n <= 0 || n > max)
				return cli_usage_error(CMD, "%s: '%s' is not a whole number between 1 and %ld", a, v, max);
			*(a[2] == 'b' ? &o->batch : &o->threads) = n;
		} else if (!strcmp(a, "--seed")) {
			if (!cli_parse_int(v, &n) || n < 0 || n >= (1L << 53))
				return cli_usage_error(CMD, "--seed: '%s' is not a whole number in [0, 2^53)", v);
			o->seed = n;
		} else {
			return cli_usage_error(CMD, "unknown option '%s'", a);
		}
	}
	if (!o->ckpt)
		return cli_usage_error(CMD, "--checkpoint CKPT is required");
	return 0;
}

static bool write_json(const char *path, const char *ckpt, const tg_heat_config *c, int steps, uint64_t seed,
	const tg_heat_losses *l)
{
	atomic_file a;
	if (!atomic_open(&a, path))
		return false;
	fprintf(a.f, "{\n  \"checkpoint\": ");
	json_string(a.f, ckpt);
	fprintf(a.f, ",\n  \"method\": \"%s\",\n  \"trained_steps\": %d,\n  \"batch\": %d,\n  \"res\": [%lld, %lld],\n"
		"  \"data_seed\": %llu,\n  \"data_batch_index\": %llu,\n  \"x_loss\": %.10g,\n  \"y_loss\": %.10g,\n"
		"  \"seconds\": %.3f\n}\n", tg_heat_method_name(c->method), steps, c->batch, (long long)c->nx, (long long)c->ny,
		(unsigned long long)seed, (unsigned long long)TG_HEAT_EVAL_STEP, l->x_loss, l->y_loss, l->seconds);
	return atomic_commit(&a);
}

/* prediction | reference of item 0 */
static bool write_figure(const char *path, tg_heat_trainer *t, const tg_heat_config *c)
{
	if (!plot_available()) {
		fprintf(stderr, "tgraph eval: warning: gnuplot not found on PATH; no figure written (install gnuplot-nox)\n");
		return true;
	}
	size_t cells = (size_t)(c->nx * c->ny);
	double *ref = malloc(sizeof(double) * cells), *pred = malloc(sizeof(double) * cells);
	bool ok = ref && pred && tg_heat_trainer_sample(t, 0, ref, pred) == TG_OK;
	char title[64];
	snprintf(title, sizeof title, "%s prediction batch[0]", c->method == TG_HEAT_SIP ? "SIP" : "Adam (GD)");
	plot_panel p[2] = {{title, pred}, {"Reference batch[0]", ref}};
	ok = ok && plot_panels(path, 2, p, c->nx, c->ny);
	free(ref);
	free(pred);
	return ok;
}

int cmd_eval(int argc, char **argv)
{
	eval_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	tg_heat_config c;
	int steps;
	if (tg_heat_checkpoint_info(o.ckpt, &c, &steps) != TG_OK)
		return cli_fail(CMD, "cannot read %s", o.ckpt);
	if (o.batch > 0)
		c.batch = (int)o.batch;
	c.threads = (int)o.threads;
	uint64_t seed = o.seed >= 0 ? (uint64_t)o.seed : c.seed;
	char dir[PATH_MAX];
	if (o.out)
		snprintf(dir, sizeof dir, "%s", o.out);
	else
		dir_of(o.ckpt, dir, sizeof dir);
	if (!make_dirs(dir))
		return 1;
	tg_heat_trainer *t;
	if (tg_heat_trainer_new(&c, &t) != TG_OK)
		return cli_fail(CMD, "building the network");
	double *batch = malloc(sizeof(double) * (size_t)c.batch * (size_t)(c.nx * c.ny));
	tg_heat_losses l;
	if (tg_heat_trainer_load(t, o.ckpt) != TG_OK)
		rc = cli_fail(CMD, "loading %s", o.ckpt);
	else if (!batch || tg_heat_generate(seed, TG_HEAT_EVAL_STEP, 0, c.batch, c.nx, c.ny, batch) != TG_OK ||
		tg_heat_trainer_eval(t, batch, &l) != TG_OK)
		rc = cli_fail(CMD, "evaluating");
	free(batch);
	if (!rc) {
		printf("%s after %d steps, %d fresh samples (data seed %llu): x_loss %.6f y_loss %.6f (%.2f s)\n",
			tg_heat_method_name(c.method), steps, c.batch, (unsigned long long)seed, l.x_loss, l.y_loss, l.seconds);
		char path[PATH_MAX + 32];
		snprintf(path, sizeof path, "%s/eval_%s.json", dir, tg_heat_method_name(c.method));
		rc = write_json(path, o.ckpt, &c, steps, seed, &l) ? 0 : 1;
		snprintf(path, sizeof path, "%s/eval_%s.png", dir, tg_heat_method_name(c.method));
		if (!rc && !write_figure(path, t, &c))
			rc = 1;
	}
	tg_heat_trainer_free(t);
	return rc;
}
