/*
** imag.c: imaginary part of a complex tensor (f64); zeros for real input.
*/
#include "elementwise.h"
#include <string.h>

static tg_status imag_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, true, true); }

static tg_status imag_forward(tg_exec *ex, tg_node *n)
{
	if (!tg_dtype_is_complex(n->src[0]->dtype)) {
		memset(n->data, 0, n->nbytes);
		return TG_OK;
	}
	return ew_unary_forward(ex, n, EW_IMAG);
}

static tg_status imag_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	if (!tg_dtype_is_complex(n->src[0]->dtype))
		return TG_OK; /* constant zero */
	static const double i_unit[2] = {0.0, 1.0};
	tg_node *i = tg_const(g, "i", TG_C128, TG_SCALAR_SHAPE, i_unit);
	gin[0] = tg_mul(g, tg_cast(g, gout, TG_C128), i); /* d/dIm = g */
	return TG_OK;
}

const tg_op tg_op_imag = {"imag", imag_infer, imag_forward, imag_backward, 0, NULL};

tg_node *tg_imag(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_imag, a, 0); }
