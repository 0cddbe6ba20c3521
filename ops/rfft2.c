/*
** rfft2.c: the real-input DFT over the two trailing axes: f64 [..., X, Y] -> c128
** [..., X, Y/2+1] (numpy.fft.rfft2: only the last axis is halved), unnormalised, batched over
** the leading axes. Internally y = s * (postmask ? m : 1) * R(x) with R the half-spectrum DFT,
** s = attr.f[0], postmask = attr.i[0]; tg_rfft2 is s = 1 without mask.
**
** Gradient, complex convention d/dRe + i d/dIm (tgraph.h), treating Re and Im of every output
** bin as independent outputs: <R x, g> = sum_n x_n Re(sum_{k in half} g_k e^{+2 pi i k.n/N}),
** so gx = C(g / m), where C(H) = Re(sum_{k in half} m_k H_k e^{+2 pi i k.n/N}) is irfft2's map
** without its 1/N and m the Hermitian mask (1 at the DC and Nyquist columns of the last axis, 2
** elsewhere). Hence gx = N * irfft2(g / m) for tg_rfft2; in general an irfft2 node with scale s
** and premask = !postmask.
*/
#include "fft_plan.h"
#include <string.h>

static tg_status rfft2_infer(tg_graph *g, tg_node *n)
{
	tg_node *a = n->src[0];
	if (a->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "input is %s %s; expected f64 (tg_rfft2 casts f32 input)",
			tg_dtype_name(a->dtype), tg_sstr(a->shape));
	tg_status st = fft_check_shape(g, n, a->shape);
	if (st != TG_OK)
		return st;
	n->shape = a->shape;
	n->shape.d[n->shape.ndim - 1] = a->shape.d[a->shape.ndim - 1] / 2 + 1;
	n->dtype = TG_C128;
	return TG_OK;
}

typedef struct rfft2_job {
	const fft_plan *p;
	const double *x;
	double *y;
	int64_t nx, ny;
	double scale;
	bool postmask;
	fft_slots slots;   /* room for an aligned copy of a misaligned input item */
} rfft2_job;

static void rfft2_item(void *arg, int64_t b)
{
	rfft2_job *j = arg;
	int64_t nh = j->ny / 2 + 1, nr = j->nx * j->ny;
	const double *x = j->x + nr * b;
	double *y = j->y + 2 * j->nx * nh * b;
	int slot = -1;
	if (!fft_aligned(x)) {
		double *s = (double *)fft_slot_take(&j->slots, &slot);
		memcpy(s, x, sizeof(double) * (size_t)nr);
		x = s;
	}
	fft_plan_run(j->p, (double *)(uintptr_t)x, y);
	if (slot >= 0)
		fft_slot_give(&j->slots, slot);
	if (j->scale == 1.0 && !j->postmask)
		return;
	for (int64_t kx = 0; kx < j->nx; kx++)
		for (int64_t ky = 0; ky < nh; ky++) {
			double f = j->postmask ? j->scale * fft_mask(ky, j->ny) : j->scale;
			y[2 * (kx * nh + ky)] *= f;
			y[2 * (kx * nh + ky) + 1] *= f;
		}
}

static tg_status rfft2_forward(tg_exec *ex, tg_node *n)
{
	tg_node *a = n->src[0];
	int64_t B, nx, ny;
	fft_dims(a->shape, &B, &nx, &ny);
	if (B == 0)
		return TG_OK;
	tg_graph *g = tg_exec_graph(ex);
	const fft_plan *p = fft_plan_get(FFT_R2C, nx, ny);
	if (!p)
		return tg_graph_fail(g, TG_ERR_NOMEM, "rfft2: %s", tg_last_error());
	rfft2_job j = {p, a->data, n->data, nx, ny, n->attr.f[0], n->attr.i[0] != 0, {0}};
	if (!fft_aligned(n->data))
		return tg_graph_fail(g, TG_ERR_INTERNAL, "rfft2: node buffer is not SIMD-aligned");
	/* real items are 8*X*Y bytes: with X*Y odd every other item is misaligned */
	if (!fft_aligned(a->data) || (B > 1 && (nx * ny) % 2)) {
		size_t slot_bytes = fft_round(sizeof(double) * (size_t)(nx * ny));
		int nslots = fft_slot_count(ex, B);
		char *scratch = tg_exec_scratch(ex, fft_slots_bytes(nslots, slot_bytes));
		if (!scratch)
			return tg_graph_fail(g, TG_ERR_NOMEM, "rfft2: out of memory for scratch");
		fft_slots_init(&j.slots, scratch, nslots, slot_bytes);
	}
	tg_parallel_for(ex, B, rfft2_item, &j);
	return TG_OK;
}

static tg_status rfft2_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	tg_shape s = n->src[0]->shape;
	gin[0] = tg_irfft2_ex(g, gout, s.d[s.ndim - 1], n->attr.f[0], n->attr.i[0] == 0);
	return TG_OK;
}

static double rfft2_flops(const tg_node *n) { return fft_flops(n->src[0]->shape, true); }

const tg_op tg_op_rfft2 = {"rfft2", rfft2_infer, rfft2_forward, rfft2_backward, 0, rfft2_flops};

tg_node *tg_rfft2_ex(tg_graph *g, tg_node *a, double scale, bool postmask)
{
	if (!g || !a)
		return NULL;
	if (a->dtype == TG_F32)
		a = tg_cast(g, a, TG_F64);
	tg_attrs at = {0};
	at.f[0] = scale;
	at.i[0] = postmask;
	return a ? tg_node_new(g, &tg_op_rfft2, 1, &a, &at) : NULL;
}

tg_node *tg_rfft2(tg_graph *g, tg_node *a) { return tg_rfft2_ex(g, a, 1.0, false); }
