/*
** copy.c: identity copy of a (to name a value or to break aliasing).
*/
#include "elementwise.h"

static tg_status copy_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, true, false); }
static tg_status copy_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_COPY); }

static tg_status copy_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	gin[0] = gout;
	return TG_OK;
}

const tg_op tg_op_copy = {"copy", copy_infer, copy_forward, copy_backward, TG_OP_INPLACE, NULL};

tg_node *tg_copy(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_copy, a, 0); }
