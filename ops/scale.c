/*
** scale.c: a * s for a scalar s.
*/
#include "elementwise.h"

static tg_status scale_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, true, false); }
static tg_status scale_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_SCALE); }

static tg_status scale_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	gin[0] = tg_scale(g, gout, n->attr.f[0]);
	return TG_OK;
}

const tg_op tg_op_scale = {"scale", scale_infer, scale_forward, scale_backward, TG_OP_INPLACE, NULL};

tg_node *tg_scale(tg_graph *g, tg_node *a, double s) { return ew_unary(g, &tg_op_scale, a, s); }
