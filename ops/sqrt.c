/*
** sqrt.c: square root (real).
*/
#include "elementwise.h"

static tg_status sqrt_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, false, false); }
static tg_status sqrt_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_SQRT); }

static tg_status sqrt_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	gin[0] = tg_div(g, gout, tg_scale(g, n, 2.0));
	return TG_OK;
}

const tg_op tg_op_sqrt = {"sqrt", sqrt_infer, sqrt_forward, sqrt_backward, TG_OP_INPLACE, NULL};

tg_node *tg_sqrt(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_sqrt, a, 0); }
