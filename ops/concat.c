/*
** concat.c: inputs joined along one axis (attr.i[0]); all other dims and the dtype must agree.
** Backward: each input gets its slice of the gradient.
*/
#include "layout.h"
#include <string.h>

static tg_status concat_infer(tg_graph *g, tg_node *n)
{
	tg_shape s0 = n->src[0]->shape;
	int ax = (int)n->attr.i[0];
	if (!tg_axis_norm(s0.ndim, &ax))
		return tg_op_fail(g, n, TG_ERR_ARG, "axis %lld out of range for %s", (long long)n->attr.i[0], tg_sstr(s0));
	n->attr.i[0] = ax;
	n->shape = s0;
	n->dtype = n->src[0]->dtype;
	for (int k = 1; k < n->nsrc; k++) {
		tg_shape sk = n->src[k]->shape;
		if (n->src[k]->dtype != n->dtype)
			return tg_op_fail(g, n, TG_ERR_DTYPE, "input %d is %s, input 0 is %s", k, tg_dtype_name(n->src[k]->dtype),
				tg_dtype_name(n->dtype));
		bool ok = sk.ndim == s0.ndim;
		for (int d = 0; ok && d < s0.ndim; d++)
			ok = d == ax || sk.d[d] == s0.d[d];
		if (!ok)
			return tg_op_fail(g, n, TG_ERR_SHAPE, "input %d %s does not match input 0 %s outside axis %d", k, tg_sstr(sk),
				tg_sstr(s0), ax);
		if (sk.d[ax] > INT64_MAX - n->shape.d[ax])
			return tg_op_fail(g, n, TG_ERR_SHAPE, "axis %d of the result overflows at input %d %s", ax, k, tg_sstr(sk));
		n->shape.d[ax] += sk.d[ax];
	}
	return TG_OK;
}

static tg_status concat_forward(tg_exec *ex, tg_node *n)
{
	(void)ex;
	int ax = (int)n->attr.i[0];
	size_t es = tg_dtype_size(n->dtype);
	int64_t outer = 1, inner = 1, at = 0;
	for (int d = 0; d < ax; d++)
		outer *= n->shape.d[d];
	for (int d = ax + 1; d < n->shape.ndim; d++)
		inner *= n->shape.d[d];
	for (int k = 0; k < n->nsrc; k++) {
		int64_t len = n->src[k]->shape.d[ax];
		for (int64_t o = 0; o < outer; o++)
			memcpy((char *)n->data + (size_t)((o * n->shape.d[ax] + at) * inner) * es,
				(const char *)n->src[k]->data + (size_t)(o * len * inner) * es, (size_t)(len * inner) * es);
		at += len;
	}
	return TG_OK;
}

static tg_status concat_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	int ax = (int)n->attr.i[0];
	int64_t at = 0;
	for (int k = 0; k < n->nsrc; k++) {
		int64_t len = n->src[k]->shape.d[ax];
		if (need[k])
			gin[k] = tg_slice(g, gout, ax, at, at + len);
		at += len;
	}
	return TG_OK;
}

const tg_op tg_op_concat = {"concat", concat_infer, concat_forward, concat_backward, 0, NULL};

tg_node *tg_concat(tg_graph *g, int n, tg_node *const *xs, int axis)
{
	if (!g)
		return NULL;
	if (n < 1 || !xs)
		return tg_graph_fail(g, TG_ERR_ARG, "concat: needs at least one input, got %d", n), NULL;
	tg_attrs at = {0};
	at.i[0] = axis;
	return tg_node_new(g, &tg_op_concat, n, xs, &at);
}
