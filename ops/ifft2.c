/*
** ifft2.c: y = s * F^H(x) over the two trailing axes [..., X, Y], batched over the leading
** axes: F^H the unnormalised inverse DFT, y_n = sum_k x_k e^{+2 pi i k.n / N}; s = attr.f[0],
** 1/(X*Y) for tg_ifft2 (numpy's default "backward" normalisation). c128 -> c128, same shape.
**
** Gradient, complex convention d/dRe + i d/dIm (tgraph.h): gx = (s F^H)^H gy = s F gy, an fft2
** node with the same scale s, i.e. fft2(g) / N for tg_ifft2.
*/
#include "fft_plan.h"

static tg_status ifft2_infer(tg_graph *g, tg_node *n)
{
	tg_node *a = n->src[0];
	return fft_infer_same_shape(g, n, a, a->dtype == TG_C128, "c128", TG_C128);
}

static tg_status ifft2_forward(tg_exec *ex, tg_node *n) { return fft_c2c_forward(ex, n, FFT_C2C_BWD); }

static tg_status ifft2_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	gin[0] = tg_fft2_scaled(g, gout, n->attr.f[0]);
	return TG_OK;
}

static double ifft2_flops(const tg_node *n) { return fft_flops(n->shape, false); }

const tg_op tg_op_ifft2 = {"ifft2", ifft2_infer, ifft2_forward, ifft2_backward, 0, ifft2_flops};

tg_node *tg_ifft2_scaled(tg_graph *g, tg_node *a, double scale)
{
	if (!g || !a)
		return NULL;
	if (!tg_dtype_is_complex(a->dtype))
		a = tg_cast(g, a, TG_C128);
	tg_attrs at = {0};
	at.f[0] = scale;
	return a ? tg_node_new(g, &tg_op_ifft2, 1, &a, &at) : NULL;
}

tg_node *tg_ifft2(tg_graph *g, tg_node *a)
{
	if (!g || !a)
		return NULL;
	/* the shape check (and its message) is the op's; a bad shape gets scale 1 and fails there */
	int nd = a->shape.ndim;
	double N = nd >= 2 ? (double)a->shape.d[nd - 2] * (double)a->shape.d[nd - 1] : 1.0;
	return tg_ifft2_scaled(g, a, N > 0 ? 1.0 / N : 1.0);
}
