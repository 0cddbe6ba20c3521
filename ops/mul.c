/*
** mul.c: a * b with numpy broadcasting (complex: complex product).
*/
#include "elementwise.h"

static tg_status mul_forward(tg_exec *ex, tg_node *n) { return ew_binary_forward(ex, n, EW_MUL); }

static tg_status mul_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0], *b = n->src[1];
	(void)g, (void)a, (void)b, (void)need;
	/* complex: d/dRe + i d/dIm convention, so the gradient of a*b w.r.t. a is g * conj(b) */
	bool cx = tg_dtype_is_complex(n->dtype);
	if (need[0])
		gin[0] = tg_mul(g, gout, cx ? tg_conj(g, b) : b);
	if (need[1])
		gin[1] = tg_mul(g, gout, cx ? tg_conj(g, a) : a);
	return TG_OK;
}

const tg_op tg_op_mul = {"mul", ew_infer_binary, mul_forward, mul_backward, TG_OP_INPLACE, NULL};

tg_node *tg_mul(tg_graph *g, tg_node *a, tg_node *b) { return ew_binary(g, &tg_op_mul, a, b); }
