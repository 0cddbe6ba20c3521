/*
** neg.c: -a.
*/
#include "elementwise.h"

static tg_status neg_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, true, false); }
static tg_status neg_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_NEG); }

static tg_status neg_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	gin[0] = tg_neg(g, gout);
	return TG_OK;
}

const tg_op tg_op_neg = {"neg", neg_infer, neg_forward, neg_backward, TG_OP_INPLACE, NULL};

tg_node *tg_neg(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_neg, a, 0); }
