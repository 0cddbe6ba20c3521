/*
** plot.c: the run's figures, drawn by gnuplot (Debian gnuplot-nox, pngcairo terminal) through
** popen. Data go to temporary files next to the figure; the PNG is written under a temporary
** name and renamed when gnuplot succeeded. Styled like the seed's matplotlib figures.
*/
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "runfiles.h"

/* matplotlib's viridis at 10 stops (PhiFlow's vis.plot colour map) */
static const char *VIRIDIS = "(0 '#440154', 1 '#482878', 2 '#3e4989', 3 '#31688e', 4 '#26828e', 5 '#1f9e89', "
	"6 '#35b779', 7 '#6ece58', 8 '#b5de2b', 9 '#fde725')";

bool plot_available(void)
{
	const char *path = getenv("PATH");
	if (!path)
		return false;
	char dir[PATH_MAX];
	while (*path) {
		size_t len = strcspn(path, ":");
		if (snprintf(dir, sizeof dir, "%.*s/gnuplot", (int)len, len ? path : ".") < (int)sizeof dir &&
			access(dir, X_OK) == 0)
			return true;
		path += len + (path[len] == ':');
	}
	return false;
}

/* gnuplot single-quoted string: a quote is written twice. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

/* A temporary data file next to `path`; its name in tmp. */
static FILE *data_file(const char *path, char *tmp, size_t n)
{
	if (snprintf(tmp, n, "%s.dat.XXXXXX", path) >= (int)n)
		return NULL;
	int fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "tgraph: cannot create a data file for %s: %s\n", path, strerror(errno));
		return NULL;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
	}
	return f;
}

/* Opens gnuplot with the terminal set up to write into the temporary PNG of `out`. */
static FILE *gnuplot_open(atomic_file *out, const char *path, int width, int height)
{
	if (!atomic_open(out, path))
		return NULL;
	fclose(out->f);   /* gnuplot writes the file itself */
	out->f = NULL;
	FILE *gp = popen("gnuplot", "w");
	if (!gp) {
		fprintf(stderr, "tgraph: cannot start gnuplot: %s\n", strerror(errno));
		unlink(out->tmp);
		return NULL;
	}
	fprintf(gp, "set terminal pngcairo noenhanced size %d,%d font 'sans,10'\nset output ", width, height);
	put_quoted(gp, out->tmp);
	fprintf(gp, "\n");
	return gp;
}

static bool gnuplot_close(FILE *gp, atomic_file *out)
{
	fprintf(gp, "unset output\n");
	int st = pclose(gp);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "tgraph: gnuplot failed on %s (status %d)\n", out->path, st);
		unlink(out->tmp);
		return false;
	}
	if (rename(out->tmp, out->path) != 0) {
		fprintf(stderr, "tgraph: cannot write %s: %s\n", out->path, strerror(errno));
		unlink(out->tmp);
		return false;
	}
	return true;
}

bool plot_lines(const char *path, const char *title, const char *ylabel, int nseries, const plot_series *s)
{
	char dat[PATH_MAX];
	FILE *f = data_file(path, dat, sizeof dat);
	if (!f)
		return false;
	int n = 0;
	for (int k = 0; k < nseries; k++)
		n = s[k].n > n ? s[k].n : n;
	for (int i = 0; i < n; i++) {
		fprintf(f, "%d", i);
		for (int k = 0; k < nseries; k++)
			fprintf(f, " %.17g", i < s[k].n && isfinite(s[k].y[i]) && s[k].y[i] > 0 ? s[k].y[i] : NAN);
		fprintf(f, "\n");
	}
	bool ok = fclose(f) == 0;
	atomic_file out;
	FILE *gp = ok ? gnuplot_open(&out, path, 640, 480) : NULL;
	if (gp) {
		fprintf(gp, "set datafile missing 'nan'\nset logscale y\nset xlabel 'iterations'\nset ylabel ");
		put_quoted(gp, ylabel);
		fprintf(gp, "\nset title ");
		put_quoted(gp, title);
		/* matplotlib's look: 5% margins, ticks outside, legend boxed top right */
		fprintf(gp, "\nset autoscale fix\nset offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n"
			"set mytics 10\nset tics out nomirror\nset border 15\nset key top right box opaque reverse Left\nplot ");
		for (int k = 0; k < nseries; k++) {
			fprintf(gp, "%s", k ? ", " : "");
			put_quoted(gp, dat);
			fprintf(gp, " using 1:%d with lines lw 2 lc rgb '%s' title ", k + 2, s[k].color);
			put_quoted(gp, s[k].title);
		}
		fprintf(gp, "\n");
		ok = gnuplot_close(gp, &out);
	} else {
		ok = false;
	}
	unlink(dat);
	return ok;
}

bool plot_panels(const char *path, int npanels, const plot_panel *p, int64_t nx, int64_t ny)
{
	char dat[PATH_MAX];
	FILE *f = data_file(path, dat, sizeof dat);
	if (!f)
		return false;
	double lo = INFINITY, hi = -INFINITY;
	/* one matrix block per panel (gnuplot `index k`): row = y index, column = x index */
	for (int k = 0; k < npanels; k++) {
		for (int64_t j = 0; j < ny; j++) {
			for (int64_t i = 0; i < nx; i++) {
				double v = p[k].v[i * ny + j];
				lo = fmin(lo, v);
				hi = fmax(hi, v);
				fprintf(f, "%s%.9g", i ? " " : "", v);
			}
			fprintf(f, "\n");
		}
		fprintf(f, "\n\n");
	}
	if (!(hi > lo))
		hi = lo + 1;
	bool ok = fclose(f) == 0;
	atomic_file out;
	FILE *gp = ok ? gnuplot_open(&out, path, 500 * npanels, 440) : NULL;
	if (gp) {
		fprintf(gp, "set multiplot layout 1,%d\nset palette defined %s\nset cbrange [%.9g:%.9g]\n"
			"set xrange [0:%lld]\nset yrange [0:%lld]\nset size ratio -1\nset tics out\n",
			npanels, VIRIDIS, lo, hi, (long long)nx, (long long)ny);
		for (int k = 0; k < npanels; k++) {
			fprintf(gp, "set title ");
			put_quoted(gp, p[k].title);
			fprintf(gp, "\nplot ");
			put_quoted(gp, dat);
			fprintf(gp, " index %d matrix using ($1+0.5):($2+0.5):3 with image notitle\n", k);
		}
		fprintf(gp, "unset multiplot\n");
		ok = gnuplot_close(gp, &out);
	} else {
		ok = false;
	}
	unlink(dat);
	return ok;
}
