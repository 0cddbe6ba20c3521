/*
** broadcast_to.c: a broadcast (numpy rules) to shape s. Backward: the engine's sum_to.
** Target shape in attr.i[1] (ndim) and attr.i[2..9] (tg_attrs_shape).
*/
#include "layout.h"

static tg_status broadcast_to_infer(tg_graph *g, tg_node *n)
{
	tg_shape to = tg_attrs_shape(&n->attr), chk;
	if (!tg_shape_broadcast(n->src[0]->shape, to, &chk) || !tg_shape_eq(chk, to))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "cannot broadcast %s to %s", tg_sstr(n->src[0]->shape), tg_sstr(to));
	n->shape = to;
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static tg_status broadcast_to_forward(tg_exec *ex, tg_node *n)
{
	int64_t st[TG_MAX_DIMS];
	tg_broadcast_strides(n->src[0]->shape, n->shape, st);
	layout_gather(ex, n->data, n->src[0]->data, n->shape, st, 0, tg_dtype_size(n->dtype));
	return TG_OK;
}

static tg_status broadcast_to_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)g, (void)n, (void)need;
	gin[0] = gout; /* reduced to the input's shape by the engine */
	return TG_OK;
}

const tg_op tg_op_broadcast_to = {"broadcast_to", broadcast_to_infer, broadcast_to_forward, broadcast_to_backward, 0, NULL};

tg_node *tg_broadcast_to(tg_graph *g, tg_node *a, tg_shape s)
{
	if (!g || !a)
		return NULL;
	if (s.ndim < 0 || s.ndim > TG_MAX_DIMS)
		return tg_graph_fail(g, TG_ERR_SHAPE, "broadcast_to: target has %d dims, at most %d supported (input %s)", s.ndim,
			TG_MAX_DIMS, tg_sstr(a->shape)), NULL;
	if (tg_shape_eq(a->shape, s))
		return a;
	tg_attrs at = {0};
	tg_attrs_set_shape(&at, s);
	return tg_node_new(g, &tg_op_broadcast_to, 1, &a, &at);
}
