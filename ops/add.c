/*
** add.c: a + b with numpy broadcasting (the engine sums gradients back to each input's shape).
*/
#include "elementwise.h"

static tg_status add_forward(tg_exec *ex, tg_node *n) { return ew_binary_forward(ex, n, EW_ADD); }

static tg_status add_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0], *b = n->src[1];
	(void)g, (void)a, (void)b, (void)need;
	gin[0] = gout;
	gin[1] = gout;
	return TG_OK;
}

const tg_op tg_op_add = {"add", ew_infer_binary, add_forward, add_backward, TG_OP_INPLACE, NULL};

tg_node *tg_add(tg_graph *g, tg_node *a, tg_node *b) { return ew_binary(g, &tg_op_add, a, b); }
