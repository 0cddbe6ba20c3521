/*
** mean.c: mean over a set of axes: sum's kernel with the scale 1/count (attr.f[0]).
*/
#include "layout.h"

tg_node *sum_make(tg_graph *g, const tg_op *op, tg_node *a, int naxes, const int *axes, bool keepdims, bool mean);
tg_node *sum_backward_common(tg_graph *g, tg_node *n, tg_node *gout);
extern const tg_op tg_op_sum;

static tg_status mean_infer(tg_graph *g, tg_node *n) { return tg_op_sum.infer(g, n); }
static tg_status mean_forward(tg_exec *ex, tg_node *n) { return tg_op_sum.forward(ex, n); }

static tg_status mean_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	gin[0] = sum_backward_common(g, n, gout);
	return TG_OK;
}

const tg_op tg_op_mean = {"mean", mean_infer, mean_forward, mean_backward, 0, NULL};

tg_node *tg_mean(tg_graph *g, tg_node *a, int naxes, const int *axes, bool keepdims)
{
	return sum_make(g, &tg_op_mean, a, naxes, axes, keepdims, true);
}
