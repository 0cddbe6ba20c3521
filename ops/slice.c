/*
** slice.c: a[..., start:stop, ...] along one axis (attr.i[0] axis, i[1] start, i[2] stop).
** Backward: zero padding back to the input's extent (pad).
*/
#include "layout.h"

tg_node *tg_pad_axis(tg_graph *g, tg_node *a, int axis, int64_t before, int64_t after);

static tg_status slice_infer(tg_graph *g, tg_node *n)
{
	tg_shape in = n->src[0]->shape;
	int ax = (int)n->attr.i[0];
	int64_t lo = n->attr.i[1], hi = n->attr.i[2];
	if (!tg_axis_norm(in.ndim, &ax))
		return tg_op_fail(g, n, TG_ERR_ARG, "axis %lld out of range for %s", (long long)n->attr.i[0], tg_sstr(in));
	if (lo < 0 || hi < lo || hi > in.d[ax])
		return tg_op_fail(g, n, TG_ERR_ARG, "range [%lld, %lld) outside axis %d of %s", (long long)lo, (long long)hi, ax,
			tg_sstr(in));
	n->attr.i[0] = ax;
	n->shape = in;
	n->shape.d[ax] = hi - lo;
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static tg_status slice_forward(tg_exec *ex, tg_node *n)
{
	int64_t st[TG_MAX_DIMS];
	tg_shape_strides(n->src[0]->shape, st);
	int ax = (int)n->attr.i[0];
	layout_gather(ex, n->data, n->src[0]->data, n->shape, st, n->attr.i[1] * st[ax], tg_dtype_size(n->dtype));
	return TG_OK;
}

static tg_status slice_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	int ax = (int)n->attr.i[0];
	gin[0] = tg_pad_axis(g, gout, ax, n->attr.i[1], n->src[0]->shape.d[ax] - n->attr.i[2]);
	return TG_OK;
}

const tg_op tg_op_slice = {"slice", slice_infer, slice_forward, slice_backward, 0, NULL};

tg_node *tg_slice(tg_graph *g, tg_node *a, int axis, int64_t start, int64_t stop)
{
	if (!g || !a)
		return NULL;
	tg_attrs at = {0};
	at.i[0] = axis;
	at.i[1] = start;
	at.i[2] = stop;
	return tg_node_new(g, &tg_op_slice, 1, &a, &at);
}
