/*
** runfiles.h: files of a training run (tools/runfiles.c): atomic writes, losses.csv, run
** directories, and the gnuplot figures (tools/plot.c).
*/
#ifndef TG_RUNFILES_H
#define TG_RUNFILES_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include "tgraph.h"

/* A file written under a temporary name next to its final path and renamed on commit, so a
** reader never sees a half-written file. */
typedef struct atomic_file {
	FILE *f;
	char tmp[PATH_MAX];
	char path[PATH_MAX];
} atomic_file;
bool atomic_open(atomic_file *a, const char *path);    /* false: message printed */
bool atomic_commit(atomic_file *a);                    /* fclose + rename; false on any error */
void atomic_abort(atomic_file *a);

/* mkdir -p; false (message printed) on failure. */
bool make_dirs(const char *path);
/* "runs/<YYYYmmdd-HHMMSS>" (local time) into buf. */
void default_run_dir(char *buf, size_t n);
/* dirname(path) into buf ("." if none). */
void dir_of(const char *path, char *buf, size_t n);

/* One row of losses.csv: method,step,x_loss,y_loss,seconds. */
typedef struct loss_row {
	tg_heat_method method;
	tg_heat_losses l;
} loss_row;
typedef struct loss_log {
	loss_row *rows;
	int n, cap;
} loss_log;
bool loss_log_add(loss_log *log, tg_heat_method m, const tg_heat_losses *l);
void loss_log_free(loss_log *log);
#define LOSSES_CSV_HEADER "method,step,x_loss,y_loss,seconds"
/* Sorts the rows (SIP then GD, by step) and writes them atomically. */
bool loss_log_write(loss_log *log, const char *path);
/* Reads rows of method m with step < below from a losses.csv (a missing file gives no rows). */
bool loss_log_read(loss_log *log, const char *path, tg_heat_method m, int below);
/* Series of method m: x and y losses by step (NaN where missing), n = max step + 1. */
int loss_log_series(const loss_log *log, tg_heat_method m, double **x, double **y);

/* scipy.ndimage.gaussian_filter1d(v, sigma) (mode 'reflect', truncate 4), as the seed smooths
** its y-loss plot. */
void gaussian_smooth(const double *v, int n, double sigma, double *out);

/* ---- gnuplot figures (tools/plot.c) */

/* Whether a `gnuplot` executable is on PATH. */
bool plot_available(void);
typedef struct plot_series {
	const char *title, *color;
	const double *y;    /* n values by iteration; NaN = missing */
	int n;
} plot_series;
/* Line plot over iterations with a log y axis (the seed's loss figures) into a PNG. */
bool plot_lines(const char *path, const char *title, const char *ylabel, int nseries, const plot_series *s);
typedef struct plot_panel {
	const char *title;
	const double *v;    /* [nx][ny]: x horizontal, y vertical, origin bottom left (as PhiFlow's vis.plot) */
} plot_panel;
/* Image panels side by side with one shared colour scale (viridis). */
bool plot_panels(const char *path, int npanels, const plot_panel *p, int64_t nx, int64_t ny);

#endif
