/*
** stop_gradient.c: identity whose gradient is zero (PhiFlow's field.stop_gradient, torch's detach).
*/
#include "elementwise.h"

static tg_status stop_gradient_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, true, false); }
static tg_status stop_gradient_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_COPY); }

static tg_status stop_gradient_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)g, (void)n, (void)gout, (void)need;
	gin[0] = NULL;
	return TG_OK;
}

const tg_op tg_op_stop_gradient = {"stop_gradient", stop_gradient_infer, stop_gradient_forward, stop_gradient_backward,
	TG_OP_INPLACE | TG_OP_NONDIFF, NULL}; /* NONDIFF: its zero gradient is by design, not checked by finite differences */

tg_node *tg_stop_gradient(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_stop_gradient, a, 0); }
