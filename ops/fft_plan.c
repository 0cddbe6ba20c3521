/*
** fft_plan.c: the FFTW plan cache, the per-shape table cache, scratch slots, the packed-spectrum
** filter and the batched c2c kernel shared by the FFT ops (see fft_plan.h). FFTW's planner is not
** thread-safe, so every planner call happens under one mutex; execution with the new-array
** functions is thread-safe.
*/
#include "fft_plan.h"
#include <fftw3.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fft_plan {
	fft_kind kind;
	int64_t nx, ny;
	fftw_plan plan;
};

typedef struct fft_table {
	int tag;
	int64_t nx, ny;
	double param;
	size_t len;
	double *data;     /* len doubles, immutable once published */
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
		tg_free(tables[i].data, sizeof(double) * tables[i].len);
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

const double *fft_table_get(int tag, int64_t nx, int64_t ny, double param, size_t len, fft_table_fill fill,
	double *fallback)
{
	const double *found = NULL;
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < ntables && !found; i++)
		if (tables[i].tag == tag && tables[i].nx == nx && tables[i].ny == ny && tables[i].param == param &&
			tables[i].len == len)
			found = tables[i].data;
	if (!found && ntables < FFT_MAX_TABLES) {
		double *d = tg_malloc(sizeof(double) * len);
		if (d) {
			fill(d, nx, ny, param);
			tables[ntables++] = (fft_table){tag, nx, ny, param, len, d};
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

/* ---------------------------------------------------------------- scratch slots */

int fft_slot_count(tg_exec *ex, int64_t chunks)
{
	int t = tg_exec_threads(ex);
	return chunks < t ? (int)(chunks > 0 ? chunks : 1) : (t > 0 ? t : 1);
}

size_t fft_slots_bytes(int n, size_t slot_bytes)
{
	return fft_round(sizeof(atomic_int) * (size_t)n) + fft_round(slot_bytes) * (size_t)n;
}

void fft_slots_init(fft_slots *s, void *mem, int n, size_t slot_bytes)
{
	s->busy = mem;
	s->base = (char *)mem + fft_round(sizeof(atomic_int) * (size_t)n);
	s->bytes = fft_round(slot_bytes);
	s->n = n;
	for (int i = 0; i < n; i++)
		atomic_init(&s->busy[i], 0);
}

/* At most n chunks run at once, so one of the n flags is always free when a chunk starts; the
** outer loop only matters if a caller ran more chunks at once than it said. */
char *fft_slot_take(fft_slots *s, int *id)
{
	for (;;)
		for (int i = 0; i < s->n; i++)
			if (atomic_load_explicit(&s->busy[i], memory_order_relaxed) == 0 && atomic_exchange(&s->busy[i], 1) == 0) {
				*id = i;
				return s->base + s->bytes * (size_t)i;
			}
}

void fft_slot_give(fft_slots *s, int id) { atomic_store(&s->busy[id], 0); }

/* ---------------------------------------------------------------- packed real transforms */

void fft_packed_twiddles(double *tw, int64_t ny)
{
	for (int64_t ky = 0; ky < ny / 2; ky++)
		fft_packed_twiddle(ky, ny, &tw[2 * ky], &tw[2 * ky + 1]);
}

/* E and O of bin k from Z[k] = (zr, zi) and Z[-k] = (mr, mi): E = (Z + conj Z[-k]) / 2,
** O = (Z - conj Z[-k]) / 2i. Swapping k and -k conjugates both exactly. */
static inline void even_odd(const double *zk, const double *zm, double e[2], double o[2])
{
	e[0] = 0.5 * (zk[0] + zm[0]);
	e[1] = 0.5 * (zk[1] - zm[1]);
	o[0] = 0.5 * (zk[1] + zm[1]);
	o[1] = -0.5 * (zk[0] - zm[0]);
}

/* Interior bins ky in [1, m) of a row: the mirror row read backwards (mirror[2 (m - ky)]), with
** E, O as in even_odd and V = E + w^ky O, w^ky O = (c - i s)(o0 + i o1). The real and imaginary
** parts are two loops: in one, GCC 12's vectoriser fuses the alternating c o0 + s o1 / c o1 - s o0
** into vfmsubadd (an FMA, despite -ffp-contract=off), which changes the rounding. */
TG_CLONES static void unpack_interior(const double *restrict row, const double *restrict mirror, const double *restrict tw,
	double *restrict v, int64_t m)
{
	for (int64_t ky = 1; ky < m; ky++) {
		double zr = row[2 * ky], zi = row[2 * ky + 1], mr = mirror[2 * (m - ky)], mi = mirror[2 * (m - ky) + 1];
		double e0 = 0.5 * (zr + mr), o0 = 0.5 * (zi + mi), o1 = -0.5 * (zr - mr);
		v[2 * ky] = e0 + (tw[2 * ky] * o0 + tw[2 * ky + 1] * o1);
	}
	for (int64_t ky = 1; ky < m; ky++) {
		double zr = row[2 * ky], zi = row[2 * ky + 1], mr = mirror[2 * (m - ky)], mi = mirror[2 * (m - ky) + 1];
		double e1 = 0.5 * (zi - mi), o0 = 0.5 * (zi + mi), o1 = -0.5 * (zr - mr);
		v[2 * ky + 1] = e1 + (tw[2 * ky] * o1 - tw[2 * ky + 1] * o0);
	}
}

void fft_packed_unpack_row(const double *z, int64_t nx, int64_t m, int64_t kx, const double *tw, double *v)
{
	const double *row = z + 2 * m * kx, *mirror = z + 2 * m * ((nx - kx) % nx);
	double e[2], o[2];
	even_odd(row, mirror, e, o);   /* ky = 0 pairs with itself: w^0 = 1, V[0] = E + O, V[m] = E - O */
	v[0] = e[0] + o[0];
	v[1] = e[1] + o[1];
	v[2 * m] = e[0] - o[0];
	v[2 * m + 1] = e[1] - o[1];
	unpack_interior(row, mirror, tw, v, m);
}

/* One row of the filter over interleaved doubles d = 2 ky + c (c: 0 real, 1 imaginary part):
** zy[d] = a[d] z[d] + b[d] * (i conj zp)[d], with zp the mirror row (-kx) read at the mirror bin
** (-ky mod m). i conj(p) = (p.im, p.re), so for ky >= 1 that double is zp[2 (m - ky) + 1 - c] =
** zp[2m + 1 - d]: the mirror row read backwards, a plain SIMD loop; ky = 0 pairs with itself. */
TG_CLONES static void filter_row(const double *restrict z, const double *restrict zp, const double *restrict a,
	const double *restrict b, double *restrict zy, int64_t m)
{
	zy[0] = a[0] * z[0] + b[0] * zp[1];
	zy[1] = a[1] * z[1] + b[1] * zp[0];
	for (int64_t d = 2; d < 2 * m; d++)
		zy[d] = a[d] * z[d] + b[d] * zp[2 * m + 1 - d];
}

void fft_packed_filter(const double *z, double *zy, const double *a, const double *b, int64_t nx, int64_t m)
{
	for (int64_t kx = 0; kx < nx; kx++) {
		int64_t row = 2 * m * kx, mirror = 2 * m * ((nx - kx) % nx);
		filter_row(z + row, z + mirror, a + row, b + row, zy + row, m);
	}
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

tg_status fft_infer_same_shape(tg_graph *g, tg_node *n, const tg_node *a, bool dtype_ok, const char *expected,
	tg_dtype out)
{
	if (!dtype_ok)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "input is %s %s; expected %s", tg_dtype_name(a->dtype), tg_sstr(a->shape),
			expected);
	tg_status st = fft_check_shape(g, n, a->shape);
	if (st != TG_OK)
		return st;
	n->shape = a->shape;
	n->dtype = out;
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
