/*
** real.c: real part of a complex tensor (f64); identity on real input.
*/
#include "elementwise.h"

static tg_status real_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, true, true); }
static tg_status real_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_REAL); }

static tg_status real_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	gin[0] = tg_cast(g, gout, TG_C128); /* d/dRe = g, d/dIm = 0 */
	return TG_OK;
}

const tg_op tg_op_real = {"real", real_infer, real_forward, real_backward, 0, NULL};

tg_node *tg_real(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_real, a, 0); }
