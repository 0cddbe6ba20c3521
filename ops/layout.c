/*
** layout.c: reduction and gather loops shared by the layout ops. Chunks are fixed in size,
** and each output element is summed in index order, so results do not depend on threads.
*/
#include "layout.h"
#include <string.h>

#define OUT_CHUNK 256      /* outputs per chunk in a reduction */
#define GATHER_CHUNK 16384 /* elements per chunk in a gather */

typedef struct reduce_job {
	const tg_node *src;
	void *dst;
	double scale;
	int nk, nr;                 /* kept / reduced axes */
	int64_t ks[TG_MAX_DIMS], kn[TG_MAX_DIMS], rs[TG_MAX_DIMS], rn[TG_MAX_DIMS];
	int64_t nout, nred;
} reduce_job;

static void reduce_chunk(void *arg, int64_t c)
{
	reduce_job *j = arg;
	int cx = j->src->dtype == TG_C128;
	int64_t lo = c * OUT_CHUNK, hi = lo + OUT_CHUNK < j->nout ? lo + OUT_CHUNK : j->nout;
	for (int64_t o = lo; o < hi; o++) {
		int64_t base = 0, rem = o;
		for (int d = j->nk - 1; d >= 0; d--) {
			base += (rem % j->kn[d]) * j->ks[d];
			rem /= j->kn[d];
		}
		double acc[2] = {0, 0};
		int64_t idx[TG_MAX_DIMS] = {0}, off = base;
		for (int64_t r = 0; r < j->nred; r++) {
			if (j->src->dtype == TG_F32)
				acc[0] += ((const float *)j->src->data)[off];
			else if (!cx)
				acc[0] += ((const double *)j->src->data)[off];
			else {
				acc[0] += ((const double *)j->src->data)[2 * off];
				acc[1] += ((const double *)j->src->data)[2 * off + 1];
			}
			for (int d = j->nr - 1; d >= 0; d--) {
				off += j->rs[d];
				if (++idx[d] < j->rn[d])
					break;
				off -= j->rs[d] * idx[d];
				idx[d] = 0;
			}
		}
		if (j->src->dtype == TG_F32)
			((float *)j->dst)[o] = (float)(acc[0] * j->scale);
		else if (!cx)
			((double *)j->dst)[o] = acc[0] * j->scale;
		else {
			((double *)j->dst)[2 * o] = acc[0] * j->scale;
			((double *)j->dst)[2 * o + 1] = acc[1] * j->scale;
		}
	}
}

void layout_reduce(tg_exec *ex, const tg_node *src, void *dst, uint64_t mask, double scale)
{
	reduce_job j = {.src = src, .dst = dst, .scale = scale, .nout = 1, .nred = 1};
	int64_t st[TG_MAX_DIMS];
	tg_shape_strides(src->shape, st);
	for (int d = 0; d < src->shape.ndim; d++) {
		if (mask >> d & 1) {
			j.rs[j.nr] = st[d];
			j.rn[j.nr++] = src->shape.d[d];
			j.nred *= src->shape.d[d];
		} else {
			j.ks[j.nk] = st[d];
			j.kn[j.nk++] = src->shape.d[d];
			j.nout *= src->shape.d[d];
		}
	}
	if (j.nred == 0) { /* empty reduction: zeros */
		memset(dst, 0, (size_t)j.nout * tg_dtype_size(src->dtype));
		return;
	}
	tg_parallel_for(ex, (j.nout + OUT_CHUNK - 1) / OUT_CHUNK, reduce_chunk, &j);
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
