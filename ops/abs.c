/*
** abs.c: |a| (complex input gives the modulus, f64), and abs_grad, its backward kernel:
** g * sign(a) for real a, g * a / |a| for complex a (0 where a == 0).
*/
#include "elementwise.h"

static tg_status abs_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, true, true); }
static tg_status abs_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_ABS); }
static tg_status abs_grad_forward(tg_exec *ex, tg_node *n) { return ew_binary_forward(ex, n, EW_ABS_GRAD); }

const tg_op tg_op_abs_grad = {"abs_grad", ew_infer_binary, abs_grad_forward, NULL, TG_OP_NONDIFF, NULL};

static tg_status abs_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	tg_node *a = n->src[0];
	tg_node *go = tg_dtype_is_complex(a->dtype) ? tg_cast(g, gout, TG_C128) : gout;
	gin[0] = ew_binary(g, &tg_op_abs_grad, a, go);
	(void)n;
	return TG_OK;
}

const tg_op tg_op_abs = {"abs", abs_infer, abs_forward, abs_backward, 0, NULL};

tg_node *tg_abs(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_abs, a, 0); }
