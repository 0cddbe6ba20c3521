/*
** runfiles.c: the files of a training run: atomic writes (temporary file + rename), run
** directories, losses.csv, and the smoothing the seed applies to its y-loss figure.
*/
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "runfiles.h"

bool atomic_open(atomic_file *a, const char *path)
{
	a->f = NULL;
	if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path ||
		snprintf(a->tmp, sizeof a->tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof a->tmp) {
		fprintf(stderr, "tgraph: path too long: %s\n", path);
		return false;
	}
	int fd = mkstemp(a->tmp);
	if (fd < 0) {
		fprintf(stderr, "tgraph: cannot create a temporary file for %s: %s\n", path, strerror(errno));
		return false;
	}
	/* mkstemp makes 0600 files; results are ordinary user files */
	fchmod(fd, 0644);
	a->f = fdopen(fd, "w");
	if (!a->f) {
		close(fd);
		unlink(a->tmp);
		fprintf(stderr, "tgraph: cannot open %s: %s\n", a->tmp, strerror(errno));
		return false;
	}
	return true;
}

bool atomic_commit(atomic_file *a)
{
	bool ok = !ferror(a->f);
	ok &= fclose(a->f) == 0;
	a->f = NULL;
	if (ok && rename(a->tmp, a->path) == 0)
		return true;
	fprintf(stderr, "tgraph: writing %s failed: %s\n", a->path, strerror(errno));
	unlink(a->tmp);
	return false;
}

void atomic_abort(atomic_file *a)
{
	if (a->f)
		fclose(a->f);
	a->f = NULL;
	unlink(a->tmp);
}

bool make_dirs(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return false;
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;
			*p = 0;
			if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
				fprintf(stderr, "tgraph: cannot create directory %s: %s\n", buf, strerror(errno));
				return false;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "tgraph: %s is not a directory\n", path);
		return false;
	}
	return true;
}

void default_run_dir(char *buf, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	char stamp[32];
	strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
	snprintf(buf, n, "runs/%s", stamp);
}

void dir_of(const char *path, char *buf, size_t n)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(buf, n, ".");
	else if (slash == path)
		snprintf(buf, n, "/");
	else
		snprintf(buf, n, "%.*s", (int)(slash - path), path);
}

/* ---------------------------------------------------------------- losses.csv */

bool loss_log_add(loss_log *log, tg_heat_method m, const tg_heat_losses *l)
{
	if (log->n == log->cap) {
		int nc = log->cap ? 2 * log->cap : 128;
		loss_row *r = realloc(log->rows, sizeof *r * (size_t)nc);
		if (!r)
			return false;
		log->rows = r;
		log->cap = nc;
	}
	log->rows[log->n++] = (loss_row){m, *l};
	return true;
}

void loss_log_free(loss_log *log)
{
	free(log->rows);
	*log = (loss_log){0};
}

/* Rows in the seed's order: SIP, then GD, each by step (a resumed log is assembled out of order). */
static int row_cmp(const void *pa, const void *pb)
{
	const loss_row *a = pa, *b = pb;
	if (a->method != b->method)
		return a->method == TG_HEAT_SIP ? -1 : 1;
	return (a->l.step > b->l.step) - (a->l.step < b->l.step);
}

bool loss_log_write(loss_log *log, const char *path)
{
	qsort(log->rows, (size_t)log->n, sizeof *log->rows, row_cmp);
	atomic_file a;
	if (!atomic_open(&a, path))
		return false;
	fprintf(a.f, "%s\n", LOSSES_CSV_HEADER);
	/* %.17g: the values read back are the values computed (resume compares them exactly) */
	for (int i = 0; i < log->n; i++) {
		const loss_row *r = &log->rows[i];
		fprintf(a.f, "%s,%d,%.17g,%.17g,%.6f\n", tg_heat_method_name(r->method), r->l.step, r->l.x_loss, r->l.y_loss,
			r->l.seconds);
	}
	return atomic_commit(&a);
}

bool loss_log_read(loss_log *log, const char *path, tg_heat_method m, int below)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT;
	char line[512];
	bool ok = fgets(line, sizeof line, f) && strncmp(line, LOSSES_CSV_HEADER, strlen(LOSSES_CSV_HEADER)) == 0;
	while (ok && fgets(line, sizeof line, f)) {
		char name[16];
		tg_heat_losses l;
		if (sscanf(line, "%15[^,],%d,%lf,%lf,%lf", name, &l.step, &l.x_loss, &l.y_loss, &l.seconds) != 5) {
			ok = false;
			break;
		}
		if (strcmp(name, tg_heat_method_name(m)) == 0 && l.step < below)
			ok = loss_log_add(log, m, &l);
	}
	fclose(f);
	if (!ok)
		fprintf(stderr, "tgraph: %s is not a losses.csv written by tgraph train\n", path);
	return ok;
}

int loss_log_series(const loss_log *log, tg_heat_method m, double **x, double **y)
{
	int n = 0;
	for (int i = 0; i < log->n; i++)
		if (log->rows[i].method == m && log->rows[i].l.step + 1 > n)
			n = log->rows[i].l.step + 1;
	*x = malloc(sizeof(double) * (size_t)(n ? n : 1));
	*y = malloc(sizeof(double) * (size_t)(n ? n : 1));
	if (!*x || !*y) {
		free(*x);
		free(*y);
		*x = *y = NULL;
		return -1;
	}
	for (int s = 0; s < n; s++)
		(*x)[s] = (*y)[s] = NAN;
	for (int i = 0; i < log->n; i++)
		if (log->rows[i].method == m) {
			(*x)[log->rows[i].l.step] = log->rows[i].l.x_loss;
			(*y)[log->rows[i].l.step] = log->rows[i].l.y_loss;
		}
	return n;
}

/* ---------------------------------------------------------------- smoothing */

/* scipy's 'reflect' extension: (d c b a | a b c d | d c b a), repeated for short inputs. */
static int reflect_index(int k, int n)
{
	int p = 2 * n;
	k %= p;
	if (k < 0)
		k += p;
	return k < n ? k : p - 1 - k;
}

void gaussian_smooth(const double *v, int n, double sigma, double *out)
{
	int radius = (int)(4.0 * sigma + 0.5);
	double w[2 * 64 + 1], sum = 0;
	if (radius > 64)
		radius = 64;
	for (int j = -radius; j <= radius; j++)
		sum += w[j + radius] = exp(-0.5 / (sigma * sigma) * (double)j * j);
	for (int i = 0; i < n; i++) {
		double acc = 0;
		for (int j = -radius; j <= radius; j++)
			acc += w[j + radius] / sum * v[reflect_index(i + j, n)];
		out[i] = acc;
	}
}
