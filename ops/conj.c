/*
** conj.c: complex conjugate (identity on real input).
*/
#include "elementwise.h"

static tg_status conj_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, true, false); }
static tg_status conj_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_CONJ); }

static tg_status conj_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	gin[0] = tg_conj(g, gout);
	return TG_OK;
}

const tg_op tg_op_conj = {"conj", conj_infer, conj_forward, conj_backward, TG_OP_INPLACE, NULL};

tg_node *tg_conj(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_conj, a, 0); }
