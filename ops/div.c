/*
** div.c: a / b with numpy broadcasting.
*/
#include "elementwise.h"

static tg_status div_forward(tg_exec *ex, tg_node *n) { return ew_binary_forward(ex, n, EW_DIV); }

static tg_status div_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0], *b = n->src[1];
	(void)g, (void)a, (void)b, (void)need;
	/* ga = g / conj(b); gb = -ga * conj(a / b) = -ga * conj(out) */
	bool cx = tg_dtype_is_complex(n->dtype);
	tg_node *ga = tg_div(g, gout, cx ? tg_conj(g, b) : b);
	gin[0] = need[0] ? ga : NULL;
	if (need[1])
		gin[1] = tg_neg(g, tg_mul(g, ga, cx ? tg_conj(g, n) : n));
	return TG_OK;
}

const tg_op tg_op_div = {"div", ew_infer_binary, div_forward, div_backward, TG_OP_INPLACE, NULL};

tg_node *tg_div(tg_graph *g, tg_node *a, tg_node *b) { return ew_binary(g, &tg_op_div, a, b); }
