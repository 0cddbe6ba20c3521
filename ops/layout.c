/*
** layout.c: reduction and gather loops shared by the layout ops. Chunks are fixed in size and
** every sum runs in an order fixed by the shape alone, so results do not depend on threads.
*/
#include "layout.h"
#include <string.h>

#define TASK_ELEMS 32768   /* source values per reduction task */
#define KEPT_BLOCK 256     /* inner kept outputs per unit (they share each row's load) */
#define COMBINE_CHUNK 4096 /* outputs per chunk when partial sums are combined */
#define GATHER_CHUNK 16384 /* elements per chunk in a gather */

/*
** A reduction runs on the source's axes with size-1 axes dropped and neighbours of the same kind
** (kept or reduced) merged, so kinds alternate; c128 values are pairs of doubles with a kept
** inner axis of 2. Two cases by the innermost axis:
**   A, inner axis reduced (e.g. sum over H*W): each output sums R runs of L contiguous values,
**     value i of a run into lane i % 16, the lanes combined at the end in a fixed tree;
**   B, inner axis kept, K long (e.g. sum over N of [N,C]): a unit is KB consecutive outputs that
**     add R rows of KB contiguous values, row by row (vectorised across outputs).
** Rows are split into groups of G so that a task (units x group) holds ~TASK_ELEMS values; with
** more than one group, tasks write partial sums [group][output] that a second pass adds in
** group order. Accumulation is in double.
*/
typedef struct axes { int n; int64_t size[TG_MAX_DIMS + 1], stride[TG_MAX_DIMS + 1]; } axes;

typedef struct reduce_job {
	const void *src;
	bool f32;
	void *dst;
	tg_dtype dt;
	double scale, *partial;
	axes outer, rows;          /* kept axes but the inner one (B) / all kept (A); reduced rows */
	bool inner_reduced;
	int64_t L;                 /* A: run length; B: K, the inner kept length */
	int64_t KB, nkb;           /* B: outputs per unit, units per outer index */
	int64_t nout, units, R, G, ngroups, UB, nub;
} reduce_job;

/* Offset of linear index i in an axes list (row-major), and the per-axis index in idx. */
static int64_t axes_offset(const axes *a, int64_t i, int64_t *idx)
{
	int64_t off = 0;
	for (int d = a->n - 1; d >= 0; d--) {
		idx[d] = i % a->size[d];
		i /= a->size[d];
		off += idx[d] * a->stride[d];
	}
	return off;
}

/* Advances idx by one (odometer), returning the new offset from the old one. */
static int64_t axes_next(const axes *a, int64_t off, int64_t *idx)
{
	for (int d = a->n - 1; d >= 0; d--) {
		off += a->stride[d];
		if (++idx[d] < a->size[d])
			return off;
		off -= a->stride[d] * idx[d];
		idx[d] = 0;
	}
	return off;
}

typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

/* Case A: adds a run of L values into 16 lanes (lane = index % 16). */
TG_CLONES static void run_f32(const float *x, int64_t L, v8d acc[2])
{
	int64_t i = 0;
	for (; i + 16 <= L; i += 16) {
		v8f a, b;
		memcpy(&a, x + i, sizeof a);
		memcpy(&b, x + i + 8, sizeof b);
		acc[0] += __builtin_convertvector(a, v8d);
		acc[1] += __builtin_convertvector(b, v8d);
	}
	for (; i < L; i++)
		acc[(i & 15) >> 3][i & 7] += x[i];
}

TG_CLONES static void run_f64(const double *x, int64_t L, v8d acc[2])
{
	int64_t i = 0;
	for (; i + 16 <= L; i += 16) {
		v8d a, b;
		memcpy(&a, x + i, sizeof a);
		memcpy(&b, x + i + 8, sizeof b);
		acc[0] += a;
		acc[1] += b;
	}
	for (; i < L; i++)
		acc[(i & 15) >> 3][i & 7] += x[i];
}

/* Case B: acc[k] += x[k] for one row of a unit. */
TG_CLONES static void row_f32(const float *x, int64_t n, double *acc)
{
	for (int64_t k = 0; k < n; k++)
		acc[k] += x[k];
}

TG_CLONES static void row_f64(const double *x, int64_t n, double *acc)
{
	for (int64_t k = 0; k < n; k++)
		acc[k] += x[k];
}

/* Output o = scale * its sum v. */
static void store(const reduce_job *j, int64_t o, double v)
{
	if (j->dt == TG_F32)
		((float *)j->dst)[o] = (float)(v * j->scale);
	else
		((double *)j->dst)[o] = v * j->scale;
}

/* Group g's sum v of output o: the output itself when there is one group, else a partial. */
static void put(const reduce_job *j, int64_t g, int64_t o, double v)
{
	if (j->ngroups > 1)
		j->partial[g * j->nout + o] = v;
	else
		store(j, o, v);
}

static void reduce_task(void *arg, int64_t t)
{
	const reduce_job *j = arg;
	int64_t g = t % j->ngroups, u0 = t / j->ngroups * j->UB;
	int64_t u1 = u0 + j->UB < j->units ? u0 + j->UB : j->units;
	int64_t r0 = g * j->G, r1 = r0 + j->G < j->R ? r0 + j->G : j->R;
	int64_t oidx[TG_MAX_DIMS + 1], ridx[TG_MAX_DIMS + 1];
	for (int64_t u = u0; u < u1; u++) {
		int64_t outer = j->inner_reduced ? u : u / j->nkb, k0 = j->inner_reduced ? 0 : u % j->nkb * j->KB;
		int64_t base = axes_offset(&j->outer, outer, oidx) + k0, roff = axes_offset(&j->rows, r0, ridx);
		const char *src = j->src;
		if (j->inner_reduced) {
			v8d acc[2] = {{0}, {0}};
			for (int64_t r = r0; r < r1; r++, roff = axes_next(&j->rows, roff, ridx)) {
				if (j->f32)
					run_f32((const float *)src + base + roff, j->L, acc);
				else
					run_f64((const double *)src + base + roff, j->L, acc);
			}
			v8d s = acc[0] + acc[1];
			put(j, g, u, ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
		} else {
			int64_t nk = k0 + j->KB < j->L ? j->KB : j->L - k0;
			double acc[KEPT_BLOCK] = {0};
			for (int64_t r = r0; r < r1; r++, roff = axes_next(&j->rows, roff, ridx)) {
				if (j->f32)
					row_f32((const float *)src + base + roff, nk, acc);
				else
					row_f64((const double *)src + base + roff, nk, acc);
			}
			for (int64_t k = 0; k < nk; k++)
				put(j, g, outer * j->L + k0 + k, acc[k]);
		}
	}
}

/* Second pass: output o = scale * (sum of its partials in group order). */
static void combine_chunk(void *arg, int64_t c)
{
	const reduce_job *j = arg;
	int64_t lo = c * COMBINE_CHUNK, hi = lo + COMBINE_CHUNK < j->nout ? lo + COMBINE_CHUNK : j->nout;
	for (int64_t o = lo; o < hi; o++) {
		double s = 0;
		for (int64_t g = 0; g < j->ngroups; g++)
			s += j->partial[g * j->nout + o];
		store(j, o, s);
	}
}

/* Drops size-1 axes, merges neighbours of one kind; c128 becomes doubles with an inner kept 2. */
static int merge_axes(const tg_node *src, uint64_t mask, int64_t *size, int64_t *stride, bool *red)
{
	int64_t st[TG_MAX_DIMS];
	tg_shape_strides(src->shape, st);
	int cx = src->dtype == TG_C128, n = 0;
	for (int d = 0; d <= src->shape.ndim; d++) {
		bool last = d == src->shape.ndim;
		if (last && !cx)
			break;
		int64_t sz = last ? 2 : src->shape.d[d], s = last ? 1 : st[d] * (cx ? 2 : 1);
		bool r = !last && (mask >> d & 1);
		if (sz == 1)
			continue;
		if (n > 0 && red[n - 1] == r) {
			size[n - 1] *= sz; /* contiguous: the merged axis keeps the inner stride */
			stride[n - 1] = s;
			continue;
		}
		size[n] = sz, stride[n] = s, red[n++] = r;
	}
	if (n == 0) /* a single value */
		size[0] = 1, stride[0] = 1, red[n++] = true;
	return n;
}

tg_status layout_reduce(tg_exec *ex, tg_node *n, uint64_t mask, double scale)
{
	const tg_node *src = n->src[0];
	reduce_job j = {.src = src->data, .f32 = src->dtype == TG_F32, .dst = n->data, .dt = src->dtype, .scale = scale};
	if (tg_numel(src) == 0) { /* no outputs, or empty sums: zeros */
		if (tg_numel(n) > 0)
			memset(n->data, 0, (size_t)tg_numel(n) * tg_dtype_size(n->dtype));
		return TG_OK;
	}
	int64_t size[TG_MAX_DIMS + 1], stride[TG_MAX_DIMS + 1];
	bool red[TG_MAX_DIMS + 1];
	int na = merge_axes(src, mask, size, stride, red);
	j.inner_reduced = red[na - 1];
	j.L = size[na - 1];
	for (int d = 0; d < na - 1; d++) {
		axes *a = red[d] ? &j.rows : &j.outer;
		a->size[a->n] = size[d], a->stride[a->n++] = stride[d];
	}
	int64_t nouter = 1, e;
	j.R = 1;
	for (int d = 0; d < j.outer.n; d++)
		nouter *= j.outer.size[d];
	for (int d = 0; d < j.rows.n; d++)
		j.R *= j.rows.size[d];
	if (j.inner_reduced) {
		j.units = j.nout = nouter;
		e = j.L;
	} else {
		j.KB = j.L < KEPT_BLOCK ? j.L : KEPT_BLOCK;
		j.nkb = (j.L + j.KB - 1) / j.KB;
		j.units = nouter * j.nkb;
		j.nout = nouter * j.L;
		e = j.KB;
	}
	j.G = TASK_ELEMS / e > 1 ? TASK_ELEMS / e : 1;
	if (j.G > j.R)
		j.G = j.R;
	j.ngroups = (j.R + j.G - 1) / j.G;
	j.UB = j.ngroups == 1 && TASK_ELEMS / (j.R * e) > 1 ? TASK_ELEMS / (j.R * e) : 1;
	j.nub = (j.units + j.UB - 1) / j.UB;
	if (j.ngroups > 1) {
		size_t bytes = sizeof(double) * (size_t)j.ngroups * (size_t)j.nout;
		if (!(j.partial = tg_exec_scratch(ex, bytes)))
			return tg_op_fail(ex->g, n, TG_ERR_NOMEM, "out of memory for %zu bytes of partial sums of %s", bytes,
				tg_sstr(src->shape));
	}
	tg_parallel_for(ex, j.nub * j.ngroups, reduce_task, &j);
	if (j.ngroups > 1)
		tg_parallel_for(ex, (j.nout + COMBINE_CHUNK - 1) / COMBINE_CHUNK, combine_chunk, &j);
	return TG_OK;
}

typedef struct gather_job {
	void *dst;
	const void *src;
	tg_shape shape;
	const int64_t *st;
	int64_t offset, ne;
	size_t es;
} gather_job;

/* Copies n elements of size es from src with element stride s (0: broadcast, 1: contiguous). */
static void gather_run(char *dst, const char *src, int64_t n, int64_t s, size_t es)
{
	if (s == 1) {
		memcpy(dst, src, (size_t)n * es);
	} else if (s == 0 && es == sizeof(float)) {
		float v;
		memcpy(&v, src, es);
		for (int64_t k = 0; k < n; k++)
			memcpy(dst + (size_t)k * es, &v, sizeof v);
	} else if (s == 0 && es == sizeof(double)) {
		double v;
		memcpy(&v, src, es);
		for (int64_t k = 0; k < n; k++)
			memcpy(dst + (size_t)k * es, &v, sizeof v);
	} else {
		for (int64_t k = 0; k < n; k++)
			memcpy(dst + (size_t)k * es, src + (size_t)(k * s) * es, es);
	}
}

/* Runs along the innermost axis at a time (memcpy or fill when contiguous or broadcast: a
** per-element index update made broadcast_to of a scalar ~1 GB/s). */
static void gather_chunk(void *arg, int64_t c)
{
	gather_job *j = arg;
	int nd = j->shape.ndim;
	int64_t lo = c * GATHER_CHUNK, hi = lo + GATHER_CHUNK < j->ne ? lo + GATHER_CHUNK : j->ne;
	int64_t idx[TG_MAX_DIMS] = {0}, rem = lo, off = j->offset;
	for (int d = nd - 1; d >= 0; d--) {
		idx[d] = rem % j->shape.d[d];
		rem /= j->shape.d[d];
		off += idx[d] * j->st[d];
	}
	char *dst = j->dst;
	const char *src = j->src;
	if (nd == 0) {
		memcpy(dst, src + (size_t)off * j->es, j->es);
		return;
	}
	int in = nd - 1;
	for (int64_t i = lo; i < hi;) {
		int64_t run = j->shape.d[in] - idx[in] < hi - i ? j->shape.d[in] - idx[in] : hi - i;
		gather_run(dst + (size_t)i * j->es, src + (size_t)off * j->es, run, j->st[in], j->es);
		i += run;
		off += run * j->st[in];
		idx[in] += run;
		if (idx[in] < j->shape.d[in])
			continue;
		off -= j->st[in] * idx[in];
		idx[in] = 0;
		for (int d = in - 1; d >= 0; d--) {
			off += j->st[d];
			if (++idx[d] < j->shape.d[d])
				break;
			off -= j->st[d] * idx[d];
			idx[d] = 0;
		}
	}
}

void layout_gather(tg_exec *ex, void *dst, const void *src, tg_shape shape, const int64_t *strides, int64_t offset,
	size_t es)
{
	gather_job j = {dst, src, shape, strides, offset, tg_shape_numel(shape), es};
	tg_parallel_for(ex, (j.ne + GATHER_CHUNK - 1) / GATHER_CHUNK, gather_chunk, &j);
}

bool layout_sum_mask(tg_shape from, tg_shape to, uint64_t *mask)
{
	if (to.ndim > from.ndim)
		return false;
	uint64_t m = 0;
	for (int d = 0; d < from.ndim; d++) {
		int k = d - (from.ndim - to.ndim);
		int64_t t = k >= 0 ? to.d[k] : 1;
		if (t == from.d[d])
			continue;
		if (t != 1)
			return false;
		m |= 1ull << d;
	}
	*mask = m;
	return true;
}
