/*
** relu.c: max(a, 0), and relu_grad, its backward kernel: g * (a > 0).
*/
#include "elementwise.h"

static tg_status relu_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, false, false); }
static tg_status relu_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_RELU); }
static tg_status relu_grad_forward(tg_exec *ex, tg_node *n) { return ew_binary_forward(ex, n, EW_RELU_GRAD); }

const tg_op tg_op_relu_grad = {"relu_grad", ew_infer_binary, relu_grad_forward, NULL, TG_OP_NONDIFF, NULL};

static tg_status relu_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	/* the output is > 0 exactly where the input is, so either can gate the gradient */
	gin[0] = ew_binary(g, &tg_op_relu_grad, n, gout);
	return TG_OK;
}

const tg_op tg_op_relu = {"relu", relu_infer, relu_forward, relu_backward, TG_OP_INPLACE, NULL};

tg_node *tg_relu(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_relu, a, 0); }
