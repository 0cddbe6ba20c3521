/*
** log.c: natural logarithm (real).
*/
#include "elementwise.h"

static tg_status log_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, false, false); }
static tg_status log_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_LOG); }

static tg_status log_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	gin[0] = tg_div(g, gout, a);
	return TG_OK;
}

const tg_op tg_op_log = {"log", log_infer, log_forward, log_backward, TG_OP_INPLACE, NULL};

tg_node *tg_log(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_log, a, 0); }
