/*
** exp.c: exp(a) (real).
*/
#include "elementwise.h"

static tg_status exp_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, false, false); }
static tg_status exp_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_EXP); }

static tg_status exp_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	gin[0] = tg_mul(g, gout, n);
	return TG_OK;
}

const tg_op tg_op_exp = {"exp", exp_infer, exp_forward, exp_backward, TG_OP_INPLACE, NULL};

tg_node *tg_exp(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_exp, a, 0); }
