/*
** sum_to.c: sums a into a shape it broadcasts from (the reverse of broadcast_to); the engine
** uses it to reduce gradients of broadcast inputs. attr.i[0]: mask of summed axes.
*/
#include "layout.h"

static tg_status sum_to_infer(tg_graph *g, tg_node *n)
{
	tg_shape to = tg_attrs_shape(&n->attr);
	uint64_t mask;
	if (to.ndim > TG_MAX_DIMS || !layout_sum_mask(n->src[0]->shape, to, &mask))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "cannot sum %s to %s (the target must broadcast to the input)",
			tg_sstr(n->src[0]->shape), tg_sstr(to));
	n->attr.i[0] = (int64_t)mask;
	n->shape = to;
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static tg_status sum_to_forward(tg_exec *ex, tg_node *n)
{
	return layout_reduce(ex, n, (uint64_t)n->attr.i[0], 1.0);
}

static tg_status sum_to_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	gin[0] = tg_broadcast_to(g, gout, n->src[0]->shape);
	return TG_OK;
}

const tg_op tg_op_sum_to = {"sum_to", sum_to_infer, sum_to_forward, sum_to_backward, 0, NULL};

tg_node *tg_sum_to(tg_graph *g, tg_node *a, tg_shape s)
{
	if (!g || !a)
		return NULL;
	if (s.ndim < 0 || s.ndim > TG_MAX_DIMS)
		return tg_graph_fail(g, TG_ERR_SHAPE, "sum_to: target has %d dims, at most %d supported (input %s)", s.ndim,
			TG_MAX_DIMS, tg_sstr(a->shape)), NULL;
	tg_attrs at = {0};
	tg_attrs_set_shape(&at, s);
	return tg_node_new(g, &tg_op_sum_to, 1, &a, &at);
}
