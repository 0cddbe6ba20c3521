/*
** reshape.c: same data, another shape of the same element count (row-major order kept).
** Target in attr.i[1] (ndim), attr.i[2..9] (tg_attrs_shape). Runs in place when its input dies here.
*/
#include "elementwise.h"

static tg_status reshape_infer(tg_graph *g, tg_node *n)
{
	tg_shape to = tg_attrs_shape(&n->attr);
	int64_t ne = tg_shape_numel(to);
	if (ne < 0 || ne != tg_numel(n->src[0]))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "cannot reshape %s (%lld elements) to %s", tg_sstr(n->src[0]->shape),
			(long long)tg_numel(n->src[0]), tg_sstr(to));
	n->shape = to;
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static tg_status reshape_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_COPY); }

static tg_status reshape_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	gin[0] = tg_reshape(g, gout, n->src[0]->shape);
	return TG_OK;
}

const tg_op tg_op_reshape = {"reshape", reshape_infer, reshape_forward, reshape_backward, TG_OP_INPLACE, NULL};

tg_node *tg_reshape(tg_graph *g, tg_node *a, tg_shape s)
{
	if (!g || !a)
		return NULL;
	if (s.ndim < 0 || s.ndim > TG_MAX_DIMS)
		return tg_graph_fail(g, TG_ERR_SHAPE, "reshape: target has %d dims, at most %d supported (input %s)", s.ndim,
			TG_MAX_DIMS, tg_sstr(a->shape)), NULL;
	if (tg_shape_eq(a->shape, s))
		return a;
	tg_attrs at = {0};
	tg_attrs_set_shape(&at, s);
	return tg_node_new(g, &tg_op_reshape, 1, &a, &at);
}
