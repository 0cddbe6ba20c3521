/*
** sub.c: a - b with numpy broadcasting.
*/
#include "elementwise.h"

static tg_status sub_forward(tg_exec *ex, tg_node *n) { return ew_binary_forward(ex, n, EW_SUB); }

static tg_status sub_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0], *b = n->src[1];
	(void)g, (void)a, (void)b, (void)need;
	gin[0] = gout;
	if (need[1])
		gin[1] = tg_neg(g, gout);
	return TG_OK;
}

const tg_op tg_op_sub = {"sub", ew_infer_binary, sub_forward, sub_backward, TG_OP_INPLACE, NULL};

tg_node *tg_sub(tg_graph *g, tg_node *a, tg_node *b) { return ew_binary(g, &tg_op_sub, a, b); }
