/*
** train_report.c: the figures (the seed's: x loss and smoothed y loss on a log axis, GD blue,
** SIP red; a GD | SIP | reference reconstruction) and summary.json of a training run.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "train_report.h"

long long peak_rss_bytes(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (long long)ru.ru_maxrss * 1024;   /* Linux reports KiB */
}

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void join(char *buf, size_t n, const char *dir, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

/* The seed's order in its figures: GD first (blue), then SIP (red). */
static const tg_heat_method FIG_ORDER[2] = {TG_HEAT_GD, TG_HEAT_SIP};
static const char *FIG_COLOR[2] = {"blue", "red"};
static const char *FIG_LABEL[2] = {"GD", "SIP"};

static bool loss_figures(const run_report *r, const loss_log *log)
{
	double *xs[2] = {0}, *ys[2] = {0}, *smooth[2] = {0};
	plot_series sx[2], sy[2];
	int ns = 0;
	bool ok = true;
	for (int k = 0; k < 2; k++) {
		tg_heat_method m = FIG_ORDER[k];
		if (!r->m[m].present)
			continue;
		int n = loss_log_series(log, m, &xs[k], &ys[k]);
		if (n <= 0)
			continue;
		smooth[k] = malloc(sizeof(double) * (size_t)n);
		if (!smooth[k]) {
			ok = false;
			break;
		}
		gaussian_smooth(ys[k], n, 2.0, smooth[k]);
		sx[ns] = (plot_series){FIG_LABEL[k], FIG_COLOR[k], xs[k], n};
		sy[ns] = (plot_series){FIG_LABEL[k], FIG_COLOR[k], smooth[k], n};
		ns++;
	}
	char path[PATH_MAX + 16];
	if (ok && ns > 0) {
		join(path, sizeof path, r->dir, "loss_x.png");
		ok = plot_lines(path, "x loss: l2(x_gt - prediction), batch mean", "x loss", ns, sx);
		join(path, sizeof path, r->dir, "loss_y.png");
		ok &= plot_lines(path, "y loss: l2(diffuse(prediction) - y_target), batch mean, gaussian filter sigma=2",
			"y loss (gaussian sigma=2)", ns, sy);
	}
	for (int k = 0; k < 2; k++) {
		free(xs[k]);
		free(ys[k]);
		free(smooth[k]);
	}
	return ok;
}

static bool reconstruction_figure(const run_report *r)
{
	plot_panel p[3];
	char titles[3][160];
	int np = 0;
	const double *ref = NULL;
	for (int k = 0; k < 2; k++) {
		const method_report *mr = &r->m[FIG_ORDER[k]];
		if (!mr->present || !mr->prediction)
			continue;
		snprintf(titles[np], sizeof titles[np], "%s batch[0], %s", k == 0 ? "Adam (GD)" : "SIP", mr->sample_note);
		p[np] = (plot_panel){titles[np], mr->prediction};
		np++;
		ref = mr->x_gt;
	}
	if (!np)
		return true;
	snprintf(titles[np], sizeof titles[np], "Reference batch[0]");
	p[np] = (plot_panel){titles[np], ref};
	np++;
	char path[PATH_MAX + 32];
	join(path, sizeof path, r->dir, "reconstruction.png");
	return plot_panels(path, np, p, r->cfg.nx, r->cfg.ny);
}

bool report_figures(run_report *r, const loss_log *log)
{
	if (!plot_available()) {
		fprintf(stderr, "tgraph train: warning: gnuplot not found on PATH; no figures written (install gnuplot-nox)\n");
		r->plots = "skipped: gnuplot not found on PATH";
		return true;
	}
	bool ok = loss_figures(r, log);
	ok &= reconstruction_figure(r);
	r->plots = ok ? "written" : "failed: gnuplot reported an error";
	return ok;
}

/* Mean of the last (up to) 10 steps of method m, x and y. */
static void last10(const loss_log *log, tg_heat_method m, int steps_done, double *x, double *y)
{
	double sx = 0, sy = 0;
	int n = 0;
	for (int i = 0; i < log->n; i++) {
		const loss_row *row = &log->rows[i];
		if (row->method == m && row->l.step >= steps_done - 10 && row->l.step < steps_done) {
			sx += row->l.x_loss;
			sy += row->l.y_loss;
			n++;
		}
	}
	*x = n ? sx / n : NAN;
	*y = n ? sy / n : NAN;
}

static void json_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.10g", v);
	else
		fprintf(f, "null");
}

static void method_json(FILE *f, const run_report *r, const loss_log *log, tg_heat_method m)
{
	const method_report *mr = &r->m[m];
	const tg_heat_losses *final = NULL;
	for (int i = 0; i < log->n; i++)
		if (log->rows[i].method == m && log->rows[i].l.step == mr->steps_done - 1)
			final = &log->rows[i].l;
	double mx, my;
	last10(log, m, mr->steps_done, &mx, &my);
	fprintf(f, "    \"%s\": {\n      \"steps_done\": %d,\n      \"final_x_loss\": ", tg_heat_method_name(m), mr->steps_done);
	json_number(f, final ? final->x_loss : NAN);
	fprintf(f, ",\n      \"final_y_loss\": ");
	json_number(f, final ? final->y_loss : NAN);
	fprintf(f, ",\n      \"mean_last10_x_loss\": ");
	json_number(f, mx);
	fprintf(f, ",\n      \"mean_last10_y_loss\": ");
	json_number(f, my);
	fprintf(f, ",\n      \"steps_run\": %d,\n      \"mean_step_seconds\": ", mr->steps_run);
	json_number(f, mr->steps_run ? mr->step_seconds / mr->steps_run : NAN);
	fprintf(f, ",\n      \"checkpoint\": ");
	if (mr->checkpoint[0])
		json_string(f, mr->checkpoint);
	else
		fprintf(f, "null");
	fprintf(f, "\n    }");
}

bool report_summary(const run_report *r, const loss_log *log)
{
	char path[PATH_MAX + 16];
	join(path, sizeof path, r->dir, "summary.json");
	atomic_file a;
	if (!atomic_open(&a, path))
		return false;
	FILE *f = a.f;
	tg_adam_config adam = tg_adam_default();
	fprintf(f, "{\n  \"tgraph_version\": \"%s\",\n  \"config\": {\n    \"methods\": [", TG_VERSION);
	/* the seed trains SIP first, then GD */
	int k = 0;
	for (int m = 1; m >= 0; m--)
		if (r->m[m].present)
			fprintf(f, "%s\"%s\"", k++ ? ", " : "", tg_heat_method_name((tg_heat_method)m));
	fprintf(f, "],\n    \"steps\": %d,\n    \"batch\": %d,\n    \"res\": [%lld, %lld],\n    \"amount\": %.17g,\n"
		"    \"lr\": %.10g,\n    \"adam_betas\": [%.10g, %.10g],\n    \"adam_eps\": %.10g,\n    \"seed\": %llu,\n"
		"    \"threads\": %d\n  },\n  \"resumed_from\": ",
		r->cfg.steps, r->cfg.batch, (long long)r->cfg.nx, (long long)r->cfg.ny, r->cfg.amount, r->cfg.lr, adam.beta1,
		adam.beta2, adam.eps, (unsigned long long)r->cfg.seed, r->cfg.threads);
	if (r->resumed_from)
		json_string(f, r->resumed_from);
	else
		fprintf(f, "null");
	fprintf(f, ",\n  \"interrupted\": ");
	if (r->interrupted)
		json_string(f, r->interrupted);
	else
		fprintf(f, "null");
	fprintf(f, ",\n  \"methods\": {\n");
	k = 0;
	for (int m = 1; m >= 0; m--)
		if (r->m[m].present) {
			fprintf(f, "%s", k++ ? ",\n" : "");
			method_json(f, r, log, (tg_heat_method)m);
		}
	fprintf(f, "\n  },\n  \"total_seconds\": %.3f,\n  \"peak_rss_bytes\": %lld,\n  \"plots\": ", r->total_seconds,
		peak_rss_bytes());
	json_string(f, r->plots ? r->plots : "not attempted");
	fprintf(f, "\n}\n");
	return atomic_commit(&a);
}
