/*
** cmd_train.c: `tgraph train`: the seed's experiment. Trains the U-Net with SIP and/or GD (SIP
** first, as the seed) and writes into the run directory: losses.csv, one checkpoint per method,
** the seed's figures and summary.json. SIGINT/SIGTERM finish the current step, save, and exit
** 130/143; --resume continues a run with the same losses as an uninterrupted one.
** Under mpirun, each rank trains on its slice of every batch (tools/mpi.c); rank 0 alone prints
** and writes the run's files, every rank reads a resumed checkpoint.
*/
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "dist.h"
#include "train_report.h"

#define CMD "train"

enum {
	GIVEN_METHOD = 1u << 0, GIVEN_BATCH = 1u << 1, GIVEN_RES = 1u << 2, GIVEN_AMOUNT = 1u << 3, GIVEN_LR = 1u << 4,
	GIVEN_SEED = 1u << 5, GIVEN_STEPS = 1u << 6
};

typedef struct train_opts {
	bool run[2];             /* by tg_heat_method */
	tg_heat_config cfg;      /* method field set per method */
	const char *out, *resume;
	unsigned given;          /* GIVEN_* flags set on the command line (checked against a resumed run) */
} train_opts;

/* ---------------------------------------------------------------- arguments */

static int parse_count(const char *flag, const char *v, long max, long *out)
{
	if (!cli_parse_int(v, out))
		return cli_usage_error(CMD, "%s: '%s' is not a whole number", flag, v);
	if (*out <= 0 || *out > max)
		return cli_usage_error(CMD, "%s must be between 1 and %ld (got %s)", flag, max, v);
	return 0;
}

/* "64" or "64x32": positive multiples of 8 (the U-Net pools three times by 2). */
static int parse_res(const char *v, int64_t *nx, int64_t *ny)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s", v);
	char *x = strchr(buf, 'x');
	if (x)
		*x = 0;
	long a, b;
	if (!cli_parse_int(buf, &a) || (x && !cli_parse_int(x + 1, &b)))
		return cli_usage_error(CMD, "--res: '%s' is not N or XxY (e.g. 64 or 64x32)", v);
	if (!x)
		b = a;
	if (a <= 0 || b <= 0 || a > 4096 || b > 4096 || a % 8 || b % 8)
		return cli_usage_error(CMD, "--res: '%s': each side must be a positive multiple of 8 up to 4096 (the U-Net "
			"halves the grid three times)", v);
	*nx = a;
	*ny = b;
	return 0;
}

static int parse_method(const char *v, bool run[2])
{
	run[TG_HEAT_GD] = !strcmp(v, "gd") || !strcmp(v, "both");
	run[TG_HEAT_SIP] = !strcmp(v, "sip") || !strcmp(v, "both");
	if (!run[TG_HEAT_GD] && !run[TG_HEAT_SIP])
		return cli_usage_error(CMD, "--method: '%s' is not sip, gd or both", v);
	return 0;
}

static int parse_value(train_opts *o, const char *flag, const char *v)
{
	long n;
	double d;
	int rc = 0;
	if (!strcmp(flag, "--method")) {
		rc = parse_method(v, o->run);
		o->given |= GIVEN_METHOD;
	} else if (!strcmp(flag, "--steps")) {
		if (!(rc = parse_count(flag, v, 100000000L, &n)))
			o->cfg.steps = (int)n;
		o->given |= GIVEN_STEPS;
	} else if (!strcmp(flag, "--batch")) {
		if (!(rc = parse_count(flag, v, 65536, &n)))
			o->cfg.batch = (int)n;
		o->given |= GIVEN_BATCH;
	} else if (!strcmp(flag, "--res")) {
		rc = parse_res(v, &o->cfg.nx, &o->cfg.ny);
		o->given |= GIVEN_RES;
	} else if (!strcmp(flag, "--amount")) {
		if (!cli_parse_double(v, &d))
			return cli_usage_error(CMD, "--amount: '%s' is not a number", v);
		if (d < 0)
			return cli_usage_error(CMD, "--amount must be >= 0 (got %s)", v);
		o->cfg.amount = d;
		o->given |= GIVEN_AMOUNT;
	} else if (!strcmp(flag, "--lr")) {
		if (!cli_parse_double(v, &d))
			return cli_usage_error(CMD, "--lr: '%s' is not a number", v);
		if (d <= 0)
			return cli_usage_error(CMD, "--lr must be > 0 (got %s)", v);
		o->cfg.lr = d;
		o->given |= GIVEN_LR;
	} else if (!strcmp(flag, "--seed")) {
		if (!cli_parse_int(v, &n) || n < 0 || n >= (1L << 53))
			return cli_usage_error(CMD, "--seed: '%s' is not a whole number in [0, 2^53)", v);
		o->cfg.seed = (uint64_t)n;
		o->given |= GIVEN_SEED;
	} else if (!strcmp(flag, "--threads")) {
		if (!(rc = parse_count(flag, v, 256, &n)))
			o->cfg.threads = (int)n;
	} else if (!strcmp(flag, "--out")) {
		if (!*v)
			return cli_usage_error(CMD, "--out: empty directory name");
		o->out = v;
	} else if (!strcmp(flag, "--resume")) {
		if (!*v)
			return cli_usage_error(CMD, "--resume: empty path");
		o->resume = v;
	} else {
		return cli_usage_error(CMD, "unknown option '%s'", flag);
	}
	return rc;
}

static int parse_args(int argc, char **argv, train_opts *o)
{
	*o = (train_opts){.run = {true, true}, .cfg = tg_heat_default()};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0)
			return cli_usage_error(CMD, "unexpected argument '%s'", a);
		char flag[32];
		const char *eq = strchr(a, '='), *v;
		if (eq) {
			snprintf(flag, sizeof flag, "%.*s", (int)(eq - a), a);
			v = eq + 1;
		} else {
			snprintf(flag, sizeof flag, "%s", a);
			if (i + 1 >= argc)
				return cli_usage_error(CMD, "%s needs a value", a);
			v = argv[++i];
		}
		int rc = parse_value(o, flag, v);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- resume */

typedef struct resume_plan {
	char dir[PATH_MAX];             /* the resumed run's directory */
	char ckpt[2][PATH_MAX + 16];    /* by method; "" = start fresh */
	int done[2];                    /* steps done by each checkpoint */
} resume_plan;

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Finds the checkpoints to continue and takes the run's config from them; options given on the
** command line must agree with it (a resumed run must see the same data and updates). */
static int plan_resume(train_opts *o, resume_plan *rp)
{
	*rp = (resume_plan){0};
	if (access(o->resume, R_OK) != 0)
		return cli_usage_error(CMD, "--resume: no such checkpoint or run directory: %s", o->resume);
	bool dir = is_dir(o->resume);
	if (dir)
		snprintf(rp->dir, sizeof rp->dir, "%s", o->resume);
	else
		dir_of(o->resume, rp->dir, sizeof rp->dir);
	const char *first = NULL;
	tg_heat_config c;
	int done;
	for (int m = 0; m < 2; m++) {
		snprintf(rp->ckpt[m], sizeof rp->ckpt[m], "%s/%s.npz", rp->dir, tg_heat_method_name((tg_heat_method)m));
		if (dir && !first && access(rp->ckpt[m], R_OK) == 0)
			first = rp->ckpt[m];
	}
	if (!dir)
		first = o->resume;
	if (!first)
		return cli_usage_error(CMD, "--resume: no sip.npz or gd.npz in %s", o->resume);
	if (tg_heat_checkpoint_info(first, &c, &done) != TG_OK)
		return cli_fail(CMD, "--resume: cannot read %s", first);
	/* a directory continues the run's methods (those without a checkpoint yet start fresh); a
	** checkpoint file continues its own method */
	for (int m = 0; m < 2; m++) {
		if (!(o->given & GIVEN_METHOD))
			o->run[m] = dir ? (c.run_methods >> m) & 1 : m == (int)c.method;
		if (!dir || !o->run[m] || access(rp->ckpt[m], R_OK) != 0)
			rp->ckpt[m][0] = 0;
	}
	if (!dir) {
		if (!o->run[c.method])
			return cli_usage_error(CMD, "--resume: %s is a %s checkpoint, but --method does not include %s", first,
				tg_heat_method_name(c.method), tg_heat_method_name(c.method));
		snprintf(rp->ckpt[c.method], sizeof rp->ckpt[c.method], "%s", first);
	}
	const char *bad = (o->given & GIVEN_BATCH) && o->cfg.batch != c.batch ? "--batch"
		: (o->given & GIVEN_RES) && (o->cfg.nx != c.nx || o->cfg.ny != c.ny) ? "--res"
		: (o->given & GIVEN_AMOUNT) && o->cfg.amount != c.amount ? "--amount"
		: (o->given & GIVEN_LR) && o->cfg.lr != c.lr ? "--lr"
		: (o->given & GIVEN_SEED) && o->cfg.seed != c.seed ? "--seed" : NULL;
	if (bad)
		return cli_usage_error(CMD, "--resume: %s differs from the checkpoint's run (batch %d, res %lldx%lld, amount %g, "
			"lr %g, seed %llu); leave it out to continue that run", bad, c.batch, (long long)c.nx, (long long)c.ny,
			c.amount, c.lr, (unsigned long long)c.seed);
	for (int m = 0; m < 2; m++) {
		tg_heat_config cm;
		if (rp->ckpt[m][0] && tg_heat_checkpoint_info(rp->ckpt[m], &cm, &rp->done[m]) != TG_OK)
			return cli_fail(CMD, "--resume: cannot read %s", rp->ckpt[m]);
		if (rp->ckpt[m][0] && (cm.method != (tg_heat_method)m || cm.batch != c.batch || cm.nx != c.nx || cm.ny != c.ny ||
			cm.amount != c.amount || cm.lr != c.lr || cm.seed != c.seed))
			return cli_usage_error(CMD, "--resume: %s and %s come from different runs", first, rp->ckpt[m]);
	}
	/* the run continues to its own length unless --steps says otherwise */
	int threads = o->cfg.threads, steps = o->given & GIVEN_STEPS ? o->cfg.steps : c.steps;
	o->cfg = c;
	o->cfg.threads = threads;
	o->cfg.steps = steps;
	return 0;
}

/* ---------------------------------------------------------------- progress and signals */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	static const char msg[] = "\ntgraph train: stopping after the current step (again to kill)\n";
	stop_signal = sig;
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
		stop_signal = sig;   /* nothing else to do in a handler */
}

typedef struct progress {
	tg_heat_method m;
	int steps;               /* the run's total */
	bool tty;
	loss_log *log;
	method_report *mr;
	bool oom;
	const cli_dist *dist;
} progress;

static void fmt_eta(double s, char *buf, size_t n)
{
	if (s >= 3600)
		snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
	else if (s >= 60)
		snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
	else
		snprintf(buf, n, "%ds", (int)(s + 0.5));
}

static bool on_step(const tg_heat_losses *l, void *ud)
{
	progress *p = ud;
	p->oom |= !loss_log_add(p->log, p->m, l);
	p->mr->step_seconds += l->seconds;
	p->mr->steps_run++;
	int done = l->step + 1;
	double rate = p->mr->steps_run / p->mr->step_seconds;
	if (p->tty) {
		enum { W = 24 };
		char bar[W + 1], eta[32];
		int fill = (int)((double)W * done / p->steps);
		for (int i = 0; i < W; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[W] = 0;
		fmt_eta((p->steps - done) / rate, eta, sizeof eta);
		printf("\r\033[K%-3s [%s] %d/%d  x-loss %.4f  y-loss %.4f  %.2f steps/s  ETA %s", tg_heat_method_name(p->m), bar, done,
			p->steps, l->x_loss, l->y_loss, rate, eta);
		if (done == p->steps)
			printf("\n");
	} else {
		printf("%s step %d/%d x_loss %.6f y_loss %.6f %.3f s\n", tg_heat_method_name(p->m), done, p->steps, l->x_loss,
			l->y_loss, l->seconds);
	}
	fflush(stdout);
	/* every rank stops after the same step (a signal may reach one rank only), or the others
	** would wait in the next step's allreduce, and skips the next method as the signalled one */
	int stop[2] = {stop_signal, p->oom};
	cli_dist_max(p->dist, stop, 2);
	if (stop[0])
		stop_signal = stop[0];
	return !stop[0] && !stop[1];
}

/* ---------------------------------------------------------------- one method */

/* Batch item 0 for the reconstruction figure: from the last step run here, or else (a run resumed
** after its end) the checkpoint's weights evaluated on the last step's batch. */
static int take_sample(tg_heat_trainer *t, const train_opts *o, method_report *mr)
{
	size_t cells = (size_t)(o->cfg.nx * o->cfg.ny);
	int done = tg_heat_trainer_steps_done(t);
	if (done == 0)
		return 0;
	if (mr->steps_run == 0) {
		double *batch = malloc(sizeof(double) * cells * (size_t)o->cfg.batch);
		tg_heat_losses l;
		tg_status st = batch ? tg_heat_generate(o->cfg.seed, (uint64_t)done - 1, 0, o->cfg.batch, o->cfg.nx, o->cfg.ny,
			batch) : TG_ERR_NOMEM;
		if (st == TG_OK)
			st = tg_heat_trainer_eval(t, batch, &l);
		free(batch);
		if (st != TG_OK)
			return cli_fail(CMD, "evaluating the %s checkpoint", tg_heat_method_name(o->cfg.method));
		snprintf(mr->sample_note, sizeof mr->sample_note, "final weights, step %d data", done - 1);
	} else {
		snprintf(mr->sample_note, sizeof mr->sample_note, "last step");
	}
	mr->x_gt = malloc(sizeof(double) * cells);
	mr->prediction = malloc(sizeof(double) * cells);
	if (!mr->x_gt || !mr->prediction || tg_heat_trainer_sample(t, 0, mr->x_gt, mr->prediction) != TG_OK)
		return cli_fail(CMD, "reading the %s prediction", tg_heat_method_name(o->cfg.method));
	return 0;
}

static int train_method(train_opts *o, tg_heat_method m, const resume_plan *rp, const char *dir, loss_log *log,
	run_report *rep, const cli_dist *dist)
{
	const char *name = tg_heat_method_name(m);
	method_report *mr = &rep->m[m];
	mr->present = true;
	o->cfg.method = m;
	tg_heat_trainer *t;
	if (tg_heat_trainer_new(&o->cfg, &t) != TG_OK)
		return cli_fail(CMD, "building the %s trainer", name);
	int rc = 0;
	if (rp && rp->ckpt[m][0]) {
		if (tg_heat_trainer_load(t, rp->ckpt[m]) != TG_OK)
			rc = cli_fail(CMD, "loading %s", rp->ckpt[m]);
		else
			printf("%s: resuming at step %d from %s\n", name, tg_heat_trainer_steps_done(t), rp->ckpt[m]);
	}
	progress p = {m, o->cfg.steps, isatty(STDOUT_FILENO) != 0, log, mr, false, dist};
	if (!rc && tg_heat_trainer_run(t, on_step, &p) != TG_OK)
		rc = cli_fail(CMD, "%s training step %d failed", name, tg_heat_trainer_steps_done(t));
	if (p.tty && stop_signal)
		printf("\n");
	if (p.oom)
		rc = cli_fail(CMD, "out of memory for the loss log");
	mr->steps_done = tg_heat_trainer_steps_done(t);
	if (!rc)
		rc = take_sample(t, o, mr);
	/* the checkpoint is written after a failed step too, to inspect or continue from */
	snprintf(mr->checkpoint, sizeof mr->checkpoint, "%s/%s.npz", dir, name);
	if (dist->rank == 0 && tg_heat_trainer_save(t, mr->checkpoint) != TG_OK) {
		rc = cli_fail(CMD, "saving %s", mr->checkpoint);
		mr->checkpoint[0] = 0;
	}
	tg_heat_trainer_free(t);
	return rc;
}

/* The resumed run's rows, read before anything rewrites its losses.csv: those of resumed methods
** up to their checkpoints, and (when writing into the same directory) all rows of methods this
** run does not train, so they are kept. */
static bool read_resumed_rows(const train_opts *o, const resume_plan *rp, const char *dir, loss_log *log)
{
	if (!o->resume)
		return true;
	char csv[PATH_MAX + 16];
	snprintf(csv, sizeof csv, "%s/losses.csv", rp->dir);
	for (int m = 0; m < 2; m++) {
		int below = o->run[m] ? (rp->ckpt[m][0] ? rp->done[m] : 0) : strcmp(rp->dir, dir) == 0 ? 1 << 30 : 0;
		if (below > 0 && !loss_log_read(log, csv, (tg_heat_method)m, below))
			return false;
	}
	return true;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int train(int argc, char **argv, const cli_dist *dist)
{
	train_opts o;
	resume_plan rp = {0};
	int rc = parse_args(argc, argv, &o);
	if (!rc && o.resume)
		rc = plan_resume(&o, &rp);
	if (!rc && dist->size > 1 && o.cfg.batch % dist->size)
		rc = cli_usage_error(CMD, "--batch %d does not split evenly over %d MPI processes: use a multiple of %d",
			o.cfg.batch, dist->size, dist->size);
	if (rc)
		return rc;
	o.cfg.rank = dist->rank;
	o.cfg.nranks = dist->size;
	o.cfg.allreduce = cli_dist_allreduce(dist);
	/* a resumed run keeps its methods even when this invocation continues only one of them */
	o.cfg.run_methods |= (o.run[TG_HEAT_GD] ? 1u << TG_HEAT_GD : 0) | (o.run[TG_HEAT_SIP] ? 1u << TG_HEAT_SIP : 0);
	char dir[PATH_MAX];
	if (o.out)
		snprintf(dir, sizeof dir, "%s", o.out);
	else if (o.resume)
		snprintf(dir, sizeof dir, "%s", rp.dir);
	else
		default_run_dir(dir, sizeof dir);
	if (dist->rank == 0 && !make_dirs(dir))
		return 1;
	char procs[48] = "";
	if (dist->size > 1)
		snprintf(procs, sizeof procs, " x %d MPI processes", dist->size);
	printf("tgraph train: %s%s%s, %d steps, batch %d, %lldx%lld, amount %g, lr %g, seed %llu, %d thread%s%s -> %s\n",
		o.run[TG_HEAT_SIP] ? "sip" : "", o.run[TG_HEAT_SIP] && o.run[TG_HEAT_GD] ? "+" : "", o.run[TG_HEAT_GD] ? "gd" : "",
		o.cfg.steps, o.cfg.batch, (long long)o.cfg.nx, (long long)o.cfg.ny, o.cfg.amount, o.cfg.lr,
		(unsigned long long)o.cfg.seed, o.cfg.threads, o.cfg.threads == 1 ? "" : "s", procs, dir);
	fflush(stdout);

	struct sigaction sa = {0}, old_int, old_term;
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;   /* a second signal takes the default action */
	sigemptyset(&sa.sa_mask);
	stop_signal = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	loss_log log = {0};
	run_report rep = {.dir = dir, .cfg = o.cfg, .resumed_from = o.resume};
	double t0 = now_seconds();
	char csv[PATH_MAX + 16];
	snprintf(csv, sizeof csv, "%s/losses.csv", dir);
	if (!read_resumed_rows(&o, &rp, dir, &log))
		rc = 1;
	/* the seed's order: SIP, then GD */
	const tg_heat_method order[2] = {TG_HEAT_SIP, TG_HEAT_GD};
	for (int k = 0; k < 2 && !rc && !stop_signal; k++) {
		if (!o.run[order[k]])
			continue;
		rc = train_method(&o, order[k], o.resume ? &rp : NULL, dir, &log, &rep, dist);
		if (dist->rank == 0 && !loss_log_write(&log, csv))
			rc = rc ? rc : 1;
	}
	rep.total_seconds = now_seconds() - t0;
	rep.interrupted = stop_signal == SIGINT ? "SIGINT" : stop_signal == SIGTERM ? "SIGTERM" : NULL;
	if (dist->rank == 0 && !report_figures(&rep, &log) && !rc)
		rc = 1;
	if (dist->rank == 0 && !report_summary(&rep, &log) && !rc)
		rc = 1;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	for (int m = 0; m < 2; m++) {
		free(rep.m[m].x_gt);
		free(rep.m[m].prediction);
	}
	loss_log_free(&log);
	printf("tgraph train: %.1f s, peak RSS %.0f MiB, outputs in %s\n", rep.total_seconds, peak_rss_bytes() / 1048576.0,
		dir);
	if (rc)
		return rc;
	return stop_signal == SIGINT ? 130 : stop_signal == SIGTERM ? 143 : 0;
}

int cmd_train(int argc, char **argv)
{
	cli_dist dist;
	int rc = cli_dist_begin(&dist, CMD);
	return cli_dist_end(&dist, rc ? rc : train(argc, argv, &dist));
}
