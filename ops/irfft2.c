/*
** irfft2.c: the inverse real DFT over the two trailing axes: c128 [..., X, ny/2+1] -> f64
** [..., X, ny] (attr.i[0] = ny, as numpy.fft.irfft2's s), batched over the leading axes.
**
** Defined for any input, also non-Hermitian, as the real-linear map
**   x = s * C(H),  C(H)_n = Re(sum_{k in half} w_k H_k e^{+2 pi i k.n / N}),
** w_k = 1 at the DC and (even ny) Nyquist columns of the last axis, 2 elsewhere (the Hermitian
** mask m), N = X*ny, s = attr.f[0] = 1/N for tg_irfft2. On Hermitian input that is numpy's
** irfft2. FFTW's c2r computes C once the DC and Nyquist columns are made Hermitian along x,
** which the kernel does on its scratch copy (c2r destroys its input anyway). Internally the
** input may first be divided by m (attr.i[1], premask), used by rfft2's backward.
**
** Gradient, complex convention d/dRe + i d/dIm (tgraph.h): <C(H), g> = sum_k Re(H_k conj(w_k
** (R g)_k)) with R the half-spectrum DFT, so gH = s * m * R(g) (premask: s * R(g)); for
** tg_irfft2 that is rfft2(g) * m / N: an rfft2 node with scale s and postmask = !premask.
*/
#include "fft_plan.h"
#include <limits.h>
#include <string.h>

static tg_status irfft2_infer(tg_graph *g, tg_node *n)
{
	tg_node *a = n->src[0];
	int64_t ny = n->attr.i[0];
	if (a->dtype != TG_C128)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "input is %s %s; expected c128", tg_dtype_name(a->dtype), tg_sstr(a->shape));
	tg_status st = fft_check_shape(g, n, a->shape);
	if (st != TG_OK)
		return st;
	int64_t nx = a->shape.d[a->shape.ndim - 2], nh = a->shape.d[a->shape.ndim - 1];
	if (ny < 1 || ny / 2 + 1 != nh || ny > INT_MAX / nx)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s does not fit ny = %lld: the last axis must be ny/2+1 = %lld",
			tg_sstr(a->shape), (long long)ny, (long long)(ny >= 0 ? ny / 2 + 1 : 0));
	n->shape = a->shape;
	n->shape.d[n->shape.ndim - 1] = ny;
	n->dtype = TG_F64;
	return TG_OK;
}

typedef struct irfft2_job {
	const fft_plan *p;
	const double *h;
	double *x;
	int64_t nx, ny;
	double scale;
	bool premask;
	fft_slots slots;   /* per slot: the spectrum copy, then room for a misaligned output item */
	size_t spec_bytes;
} irfft2_job;

static void irfft2_item(void *arg, int64_t b)
{
	irfft2_job *j = arg;
	int64_t nh = j->ny / 2 + 1, nr = j->nx * j->ny;
	const double *h = j->h + 2 * j->nx * nh * b;
	double *x = j->x + nr * b;
	int slot;
	double *spec = (double *)fft_slot_take(&j->slots, &slot);
	for (int64_t kx = 0; kx < j->nx; kx++)
		for (int64_t ky = 0; ky < nh; ky++) {
			double f = j->premask ? j->scale / fft_mask(ky, j->ny) : j->scale;
			spec[2 * (kx * nh + ky)] = f * h[2 * (kx * nh + ky)];
			spec[2 * (kx * nh + ky) + 1] = f * h[2 * (kx * nh + ky) + 1];
		}
	fft_hermitianize(spec, j->nx, j->ny);
	if (fft_aligned(x)) {
		fft_plan_run(j->p, spec, x);
	} else {
		double *out = (double *)((char *)spec + j->spec_bytes);
		fft_plan_run(j->p, spec, out);
		memcpy(x, out, sizeof(double) * (size_t)nr);
	}
	fft_slot_give(&j->slots, slot);
}

static tg_status irfft2_forward(tg_exec *ex, tg_node *n)
{
	int64_t B, nx, ny;
	fft_dims(n->shape, &B, &nx, &ny);
	if (B == 0)
		return TG_OK;
	tg_graph *g = tg_exec_graph(ex);
	const fft_plan *p = fft_plan_get(FFT_C2R, nx, ny);
	if (!p)
		return tg_graph_fail(g, TG_ERR_NOMEM, "irfft2: %s", tg_last_error());
	irfft2_job j = {p, n->src[0]->data, n->data, nx, ny, n->attr.f[0], n->attr.i[1] != 0, {0}, 0};
	/* real items are 8*X*ny bytes: with X*ny odd every other output item is misaligned */
	j.spec_bytes = fft_round(2 * sizeof(double) * (size_t)(nx * (ny / 2 + 1)));
	size_t slot_bytes = j.spec_bytes + fft_round(sizeof(double) * (size_t)(nx * ny));
	int nslots = fft_slot_count(ex, B);
	char *scratch = tg_exec_scratch(ex, fft_slots_bytes(nslots, slot_bytes));
	if (!scratch)
		return tg_graph_fail(g, TG_ERR_NOMEM, "irfft2: out of memory for scratch");
	fft_slots_init(&j.slots, scratch, nslots, slot_bytes);
	tg_parallel_for(ex, B, irfft2_item, &j);
	return TG_OK;
}

static tg_status irfft2_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	gin[0] = tg_rfft2_ex(g, gout, n->attr.f[0], n->attr.i[1] == 0);
	return TG_OK;
}

static double irfft2_flops(const tg_node *n) { return fft_flops(n->shape, true); }

const tg_op tg_op_irfft2 = {"irfft2", irfft2_infer, irfft2_forward, irfft2_backward, 0, irfft2_flops};

tg_node *tg_irfft2_ex(tg_graph *g, tg_node *a, int64_t ny, double scale, bool premask)
{
	if (!g || !a)
		return NULL;
	tg_attrs at = {0};
	at.i[0] = ny;
	at.i[1] = premask;
	at.f[0] = scale;
	return tg_node_new(g, &tg_op_irfft2, 1, &a, &at);
}

tg_node *tg_irfft2(tg_graph *g, tg_node *a, int64_t ny)
{
	if (!g || !a)
		return NULL;
	int nd = a->shape.ndim;
	double N = nd >= 2 ? (double)a->shape.d[nd - 2] * (double)ny : 0.0;
	return tg_irfft2_ex(g, a, ny, N > 0 ? 1.0 / N : 1.0, false);
}
