/*
** fft_plan.c: the FFTW plan cache, the per-shape table cache and the batched c2c kernel shared
** by the FFT ops (see fft_plan.h). FFTW's planner is not thread-safe, so every planner call
** happens under one mutex; execution with the new-array functions is thread-safe.
*/
#include "fft_plan.h"
#include <fftw3.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

struct fft_plan {
	fft_kind kind;
	int64_t nx, ny;
	fftw_plan plan;
};

typedef struct fft_table {
	int tag;
	int64_t nx, ny;
	double param;
	double *data;     /* nx * (ny/2+1) doubles, immutable once published */
} fft_table;

#define FFT_MAX_TABLES 64   /* bounds the cache when a caller sweeps many parameters */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static fft_plan **plans;          /* each entry allocated once: pointers stay valid */
static int nplans, plans_cap;
static fft_table tables[FFT_MAX_TABLES];
static int ntables;
static bool cleanup_registered;

static void cache_cleanup(void)
{
	for (int i = 0; i < nplans; i++) {
		fftw_destroy_plan(plans[i]->plan);
		tg_free(plans[i], sizeof(fft_plan));
	}
	tg_free(plans, sizeof(fft_plan *) * (size_t)plans_cap);
	plans = NULL;
	nplans = plans_cap = 0;
	for (int i = 0; i < ntables; i++)
		tg_free(tables[i].data, sizeof(double) * (size_t)(tables[i].nx * (tables[i].ny / 2 + 1)));
	ntables = 0;
}

static void register_cleanup(void)
{
	if (!cleanup_registered) {
		atexit(cache_cleanup);
		cleanup_registered = true;
	}
}

/* Plans one item on scratch arrays of the plans' alignment; called with cache_lock held. */
static fftw_plan make_plan(fft_kind kind, int nx, int ny)
{
	size_t nc = (size_t)nx * (size_t)ny, nh = (size_t)nx * (size_t)(ny / 2 + 1);
	size_t in_bytes = kind == FFT_R2C ? nc * sizeof(double) : (kind == FFT_C2R ? nh : nc) * sizeof(fftw_complex);
	size_t out_bytes = kind == FFT_C2R ? nc * sizeof(double) : (kind == FFT_R2C ? nh : nc) * sizeof(fftw_complex);
	void *in = tg_malloc_aligned(in_bytes), *out = tg_malloc_aligned(out_bytes);
	fftw_plan p = NULL;
	/* FFTW_ESTIMATE: no timing runs (reproducible), and the arrays are not touched */
	if (in && out) {
		switch (kind) {
		case FFT_C2C_FWD:
		case FFT_C2C_BWD:
			p = fftw_plan_dft_2d(nx, ny, in, out, kind == FFT_C2C_FWD ? FFTW_FORWARD : FFTW_BACKWARD,
				FFTW_ESTIMATE | FFTW_PRESERVE_INPUT);
			break;
		case FFT_R2C:
			p = fftw_plan_dft_r2c_2d(nx, ny, in, out, FFTW_ESTIMATE | FFTW_PRESERVE_INPUT);
			break;
		case FFT_C2R:
			p = fftw_plan_dft_c2r_2d(nx, ny, in, out, FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
			break;
		}
	}
	tg_free_aligned(in);
	tg_free_aligned(out);
	return p;
}

const fft_plan *fft_plan_get(fft_kind kind, int64_t nx, int64_t ny)
{
	if (nx < 1 || ny < 1 || nx > INT_MAX || ny > INT_MAX || nx > INT_MAX / ny) {
		tg_set_error(TG_ERR_ARG, "fft: item size %lldx%lld out of FFTW's range", (long long)nx, (long long)ny);
		return NULL;
	}
	fft_plan *found = NULL;
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < nplans && !found; i++)
		if (plans[i]->kind == kind && plans[i]->nx == nx && plans[i]->ny == ny)
			found = plans[i];
	if (!found) {
		if (nplans == plans_cap) {
			int nc = plans_cap ? 2 * plans_cap : 16;
			fft_plan **np = tg_realloc(plans, sizeof(fft_plan *) * (size_t)plans_cap, sizeof(fft_plan *) * (size_t)nc);
			if (np) {
				plans = np;
				plans_cap = nc;
			}
		}
		fft_plan *e = nplans < plans_cap ? tg_malloc(sizeof *e) : NULL;
		fftw_plan p = e ? make_plan(kind, (int)nx, (int)ny) : NULL;
		if (p) {
			*e = (fft_plan){kind, nx, ny, p};
			plans[nplans++] = e;
			register_cleanup();
			found = e;
		} else {
			tg_free(e, sizeof *e);
		}
	}
	pthread_mutex_unlock(&cache_lock);
	if (!found)
		tg_set_error(TG_ERR_NOMEM, "fft: could not make an FFTW plan for a %lldx%lld item (out of memory)",
			(long long)nx, (long long)ny);
	return found;
}

void fft_plan_run(const fft_plan *p, void *in, void *out)
{
	switch (p->kind) {
	case FFT_C2C_FWD:
	case FFT_C2C_BWD: fftw_execute_dft(p->plan, in, out); break;
	case FFT_R2C: fftw_execute_dft_r2c(p->plan, in, out); break;
	case FFT_C2R: fftw_execute_dft_c2r(p->plan, in, out); break;
	}
}

bool fft_aligned(const void *ptr) { return fftw_alignment_of((double *)(uintptr_t)ptr) == 0; }

/* ---------------------------------------------------------------- tables */

const double *fft_table_get(int tag, int64_t nx, int64_t ny, double param, fft_table_fill fill, double *fallback)
{
	const double *found = NULL;
	size_t n = (size_t)nx * (size_t)(ny / 2 + 1);
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < ntables && !found; i++)
		if (tables[i].tag == tag && tables[i].nx == nx && tables[i].ny == ny && tables[i].param == param)
			found = tables[i].data;
	if (!found && ntables < FFT_MAX_TABLES) {
		double *d = tg_malloc(sizeof(double) * n);
		if (d) {
			fill(d, nx, ny, param);
			tables[ntables++] = (fft_table){tag, nx, ny, param, d};
			register_cleanup();
			found = d;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	if (!found) {
		fill(fallback, nx, ny, param);
		found = fallback;
	}
	return found;
}

/* ---------------------------------------------------------------- shapes and helpers */

tg_status fft_check_shape(tg_graph *g, const tg_node *n, tg_shape s)
{
	if (s.ndim < 2)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s needs at least 2 dims [..., X, Y] (the two trailing axes are transformed)",
			tg_sstr(s));
	int64_t nx = s.d[s.ndim - 2], ny = s.d[s.ndim - 1];
	if (nx < 1 || ny < 1 || nx > INT_MAX || ny > INT_MAX || nx > INT_MAX / ny)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s: spatial axes X=%lld, Y=%lld must be >= 1 with X*Y <= %d", tg_sstr(s),
			(long long)nx, (long long)ny, INT_MAX);
	return TG_OK;
}

void fft_dims(tg_shape s, int64_t *batch, int64_t *nx, int64_t *ny)
{
	*nx = s.d[s.ndim - 2];
	*ny = s.d[s.ndim - 1];
	*batch = 1;
	for (int d = 0; d < s.ndim - 2; d++)
		*batch *= s.d[d];
}

double fft_flops(tg_shape s, bool real_signal)
{
	if (s.ndim < 2)
		return 0;
	int64_t B, nx, ny;
	fft_dims(s, &B, &nx, &ny);
	double N = (double)nx * (double)ny;
	return (double)B * (real_signal ? 2.5 : 5.0) * N * (N > 1 ? log2(N) : 1.0);
}

double fft_freq(int64_t i, int64_t n)
{
	double val = 1.0 / (double)n;    /* numpy: results * (1.0 / (n * d)), d = 1 */
	return (double)(i < (n + 1) / 2 ? i : i - n) * val;
}

void fft_hermitianize(double *h, int64_t nx, int64_t ny)
{
	int64_t nh = ny / 2 + 1, cols[2] = {0, ny / 2};
	for (int c = 0; c < (ny % 2 == 0 ? 2 : 1); c++) {
		int64_t col = cols[c];
		for (int64_t kx = 0; kx <= nx / 2; kx++) {
			int64_t mx = (nx - kx) % nx;
			double *a = h + 2 * (kx * nh + col), *b = h + 2 * (mx * nh + col);
			double re = 0.5 * (a[0] + b[0]), im = 0.5 * (a[1] - b[1]);
			a[0] = re, a[1] = im;
			b[0] = re, b[1] = -im;
		}
	}
}

/* ---------------------------------------------------------------- batched c2c (fft2, ifft2) */

typedef struct c2c_job {
	const fft_plan *p;
	double *in, *out;
	int64_t n;        /* complex elements per item */
	double scale;
} c2c_job;

static void c2c_item(void *arg, int64_t b)
{
	c2c_job *j = arg;
	double *out = j->out + 2 * j->n * b;
	fft_plan_run(j->p, j->in + 2 * j->n * b, out);
	if (j->scale != 1.0)
		for (int64_t i = 0; i < 2 * j->n; i++)
			out[i] *= j->scale;
}

tg_status fft_c2c_forward(tg_exec *ex, tg_node *n, fft_kind kind)
{
	int64_t B, nx, ny;
	fft_dims(n->shape, &B, &nx, &ny);
	if (B == 0)
		return TG_OK;
	tg_graph *g = tg_exec_graph(ex);
	const fft_plan *p = fft_plan_get(kind, nx, ny);
	if (!p)
		return tg_graph_fail(g, TG_ERR_NOMEM, "%s: %s", n->op->name, tg_last_error());
	/* complex items are 16-byte multiples, so item b is aligned when the buffer is */
	if (!fft_aligned(n->src[0]->data) || !fft_aligned(n->data))
		return tg_graph_fail(g, TG_ERR_INTERNAL, "%s: node buffers are not SIMD-aligned", n->op->name);
	c2c_job j = {p, n->src[0]->data, n->data, nx * ny, n->attr.f[0]};
	tg_parallel_for(ex, B, c2c_item, &j);
	return TG_OK;
}
