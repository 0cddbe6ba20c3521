/*
** pow_scalar.c: a ** p for a scalar p (real; the gradient p a^(p-1)).
*/
#include "elementwise.h"

static tg_status pow_scalar_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, false, false); }
static tg_status pow_scalar_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_POW); }

static tg_status pow_scalar_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	double p = n->attr.f[0];
	gin[0] = tg_mul(g, gout, tg_scale(g, tg_pow_scalar(g, a, p - 1.0), p));
	return TG_OK;
}

const tg_op tg_op_pow_scalar = {"pow_scalar", pow_scalar_infer, pow_scalar_forward, pow_scalar_backward, TG_OP_INPLACE, NULL};

tg_node *tg_pow_scalar(tg_graph *g, tg_node *a, double p) { return ew_unary(g, &tg_op_pow_scalar, a, p); }
