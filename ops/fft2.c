/*
** fft2.c: y = s * F(x) over the two trailing axes [..., X, Y], batched over the leading axes.
** F is the unnormalised 2-D DFT, y_k = sum_n x_n e^{-2 pi i k.n / N}; s = attr.f[0] (1 for
** tg_fft2). Input c128 (tg_fft2 casts real input), output c128 of the same shape.
**
** Gradient, complex convention d/dRe + i d/dIm (tgraph.h): for a complex-linear y = A x the
** gradient of the input is A^H gy. F^H is the unnormalised inverse DFT (= N * ifft2), so
** gx = s * F^H gy: an ifft2 node with the same scale s, i.e. N * ifft2(g) for tg_fft2 (ifft2
** carries 1/N). For a real input the engine keeps Re(gx).
*/
#include "fft_plan.h"

static tg_status fft2_infer(tg_graph *g, tg_node *n)
{
	tg_node *a = n->src[0];
	return fft_infer_same_shape(g, n, a, a->dtype == TG_C128, "c128 (tg_fft2 casts real input)", TG_C128);
}

static tg_status fft2_forward(tg_exec *ex, tg_node *n) { return fft_c2c_forward(ex, n, FFT_C2C_FWD); }

static tg_status fft2_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	/* (s F)^H = s F^H, F^H = the unnormalised inverse = ifft2 with scale s instead of 1/N */
	gin[0] = tg_ifft2_scaled(g, gout, n->attr.f[0]);
	return TG_OK;
}

static double fft2_flops(const tg_node *n) { return fft_flops(n->shape, false); }

const tg_op tg_op_fft2 = {"fft2", fft2_infer, fft2_forward, fft2_backward, 0, fft2_flops};

tg_node *tg_fft2_scaled(tg_graph *g, tg_node *a, double scale)
{
	if (!g || !a)
		return NULL;
	if (!tg_dtype_is_complex(a->dtype))
		a = tg_cast(g, a, TG_C128);
	tg_attrs at = {0};
	at.f[0] = scale;
	return a ? tg_node_new(g, &tg_op_fft2, 1, &a, &at) : NULL;
}

tg_node *tg_fft2(tg_graph *g, tg_node *a) { return tg_fft2_scaled(g, a, 1.0); }
