/*
** permute.c: axes reordered: out.shape[d] = a.shape[perm[d]] (attr.i[0..ndim-1] = perm).
** Backward: the inverse permutation.
*/
#include "layout.h"

static tg_status permute_infer(tg_graph *g, tg_node *n)
{
	tg_shape in = n->src[0]->shape;
	unsigned seen = 0;
	for (int d = 0; d < in.ndim; d++) {
		int64_t p = n->attr.i[d];
		if (p < 0 || p >= in.ndim || (seen >> p & 1))
			return tg_op_fail(g, n, TG_ERR_ARG, "axis order is not a permutation of the %d axes of %s", in.ndim, tg_sstr(in));
		seen |= 1u << p;
		n->shape.d[d] = in.d[p];
	}
	n->shape.ndim = in.ndim;
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static tg_status permute_forward(tg_exec *ex, tg_node *n)
{
	int64_t ist[TG_MAX_DIMS], st[TG_MAX_DIMS];
	tg_shape_strides(n->src[0]->shape, ist);
	for (int d = 0; d < n->shape.ndim; d++)
		st[d] = ist[n->attr.i[d]];
	layout_gather(ex, n->data, n->src[0]->data, n->shape, st, 0, tg_dtype_size(n->dtype));
	return TG_OK;
}

static tg_status permute_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	int inv[TG_MAX_DIMS];
	for (int d = 0; d < n->shape.ndim; d++)
		inv[n->attr.i[d]] = d;
	gin[0] = tg_permute(g, gout, inv);
	return TG_OK;
}

const tg_op tg_op_permute = {"permute", permute_infer, permute_forward, permute_backward, 0, NULL};

tg_node *tg_permute(tg_graph *g, tg_node *a, const int *perm)
{
	if (!g || !a)
		return NULL;
	if (!perm)
		return tg_graph_fail(g, TG_ERR_ARG, "permute: NULL axis order for input %s", tg_sstr(a->shape)), NULL;
	tg_attrs at = {0};
	for (int d = 0; d < a->shape.ndim; d++)
		at.i[d] = perm[d];
	return tg_node_new(g, &tg_op_permute, 1, &a, &at);
}

tg_node *tg_transpose(tg_graph *g, tg_node *a)
{
	if (!g || !a)
		return NULL;
	if (a->shape.ndim < 2)
		return tg_graph_fail(g, TG_ERR_SHAPE, "transpose: input %s needs at least 2 dims", tg_sstr(a->shape)), NULL;
	int perm[TG_MAX_DIMS];
	for (int d = 0; d < a->shape.ndim; d++)
		perm[d] = d;
	perm[a->shape.ndim - 1] = a->shape.ndim - 2;
	perm[a->shape.ndim - 2] = a->shape.ndim - 1;
	return tg_permute(g, a, perm);
}
