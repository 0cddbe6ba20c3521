/*
** sum.c: sum over a set of axes (attr.i[0]: bit mask of reduced axes, attr.i[1]: keepdims).
** Backward: the gradient broadcast back over the reduced axes.
*/
#include "layout.h"

static tg_status sum_infer(tg_graph *g, tg_node *n)
{
	tg_shape in = n->src[0]->shape, out = {0};
	uint64_t mask = (uint64_t)n->attr.i[0];
	if (in.ndim < 64 && (mask >> in.ndim) != 0)
		return tg_op_fail(g, n, TG_ERR_ARG, "axis mask 0x%llx out of range for input %s", (unsigned long long)mask, tg_sstr(in));
	for (int d = 0; d < in.ndim; d++) {
		if (!(mask >> d & 1))
			out.d[out.ndim++] = in.d[d];
		else if (n->attr.i[1])
			out.d[out.ndim++] = 1;
	}
	n->shape = out;
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static tg_status sum_forward(tg_exec *ex, tg_node *n)
{
	return layout_reduce(ex, n, (uint64_t)n->attr.i[0], n->attr.f[0] != 0 ? n->attr.f[0] : 1.0);
}

/* Shared with mean: reshape the gradient to keepdims form, broadcast to the input, scale. */
tg_node *sum_backward_common(tg_graph *g, tg_node *n, tg_node *gout)
{
	tg_shape in = n->src[0]->shape, kd = in;
	for (int d = 0; d < in.ndim; d++)
		if ((uint64_t)n->attr.i[0] >> d & 1)
			kd.d[d] = 1;
	tg_node *x = tg_broadcast_to(g, tg_reshape(g, gout, kd), in);
	return n->attr.f[0] != 0 && n->attr.f[0] != 1.0 ? tg_scale(g, x, n->attr.f[0]) : x;
}

static tg_status sum_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	gin[0] = sum_backward_common(g, n, gout);
	return TG_OK;
}

const tg_op tg_op_sum = {"sum", sum_infer, sum_forward, sum_backward, 0, NULL};

/* Builds the reduction node; scale 0 means 1 (used by mean for 1/count). */
tg_node *sum_make(tg_graph *g, const tg_op *op, tg_node *a, int naxes, const int *axes, bool keepdims, bool mean)
{
	if (!g || !a)
		return NULL;
	tg_attrs at = {0};
	uint64_t mask = 0;
	double count = 1;
	if (naxes < 0 || (naxes > 0 && !axes))
		return tg_graph_fail(g, TG_ERR_ARG, "%s: bad axis list (%d axes)", op->name, naxes), NULL;
	for (int k = 0; k < naxes; k++) {
		int ax = axes[k];
		if (!tg_axis_norm(a->shape.ndim, &ax))
			return tg_graph_fail(g, TG_ERR_ARG, "%s: axis %d out of range for input %s", op->name, axes[k], tg_sstr(a->shape)), NULL;
		if (mask >> ax & 1)
			return tg_graph_fail(g, TG_ERR_ARG, "%s: axis %d given twice for input %s", op->name, axes[k], tg_sstr(a->shape)), NULL;
		mask |= 1ull << ax;
		count *= (double)a->shape.d[ax];
	}
	at.i[0] = (int64_t)mask;
	at.i[1] = keepdims;
	at.f[0] = mean ? (count > 0 ? 1.0 / count : 0.0) : 0.0;
	return tg_node_new(g, op, 1, &a, &at);
}

tg_node *tg_sum(tg_graph *g, tg_node *a, int naxes, const int *axes, bool keepdims)
{
	return sum_make(g, &tg_op_sum, a, naxes, axes, keepdims, false);
}

tg_node *tg_sum_all(tg_graph *g, tg_node *a)
{
	if (!a)
		return NULL;
	int axes[TG_MAX_DIMS];
	for (int d = 0; d < a->shape.ndim; d++)
		axes[d] = d;
	return tg_sum(g, a, a->shape.ndim, axes, false);
}
