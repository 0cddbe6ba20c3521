/*
** train_report.h: what `tgraph train` leaves in its run directory besides checkpoints and
** losses.csv: the seed's figures and summary.json (tools/train_report.c).
*/
#ifndef TG_TRAIN_REPORT_H
#define TG_TRAIN_REPORT_H

#include "runfiles.h"

/* One method's part of a run. */
typedef struct method_report {
	bool present;
	int steps_done;
	double step_seconds;         /* sum of the step times run by this process */
	int steps_run;               /* steps run by this process */
	char checkpoint[PATH_MAX + 16];   /* "" if none written */
	double *x_gt, *prediction;   /* [nx, ny] sample for the reconstruction figure, or NULL */
	char sample_note[96];        /* how the sample was obtained, for the figure title */
} method_report;

typedef struct run_report {
	const char *dir;
	tg_heat_config cfg;          /* method field unused */
	const char *resumed_from;    /* NULL if fresh */
	const char *interrupted;     /* NULL, "SIGINT" or "SIGTERM" */
	method_report m[2];          /* by tg_heat_method */
	double total_seconds;
	const char *plots;           /* set by report_figures: "written", or why not */
} run_report;

/* loss_x.png, loss_y.png (smoothed like the seed's), reconstruction.png; sets r->plots.
** Returns false only when gnuplot ran and failed (a missing gnuplot is a warning). */
bool report_figures(run_report *r, const loss_log *log);
bool report_summary(const run_report *r, const loss_log *log);
/* Peak resident set size of this process (getrusage), bytes. */
long long peak_rss_bytes(void);
/* Writes s as a JSON string literal. */
void json_string(FILE *f, const char *s);

#endif
