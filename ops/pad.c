/*
** pad.c: zero padding along one axis (attr.i[0] axis, i[1] before, i[2] after): slice's adjoint.
** Backward: the slice of the gradient.
*/
#include "layout.h"
#include <string.h>

static tg_status pad_infer(tg_graph *g, tg_node *n)
{
	tg_shape in = n->src[0]->shape;
	int ax = (int)n->attr.i[0];
	if (!tg_axis_norm(in.ndim, &ax))
		return tg_op_fail(g, n, TG_ERR_ARG, "axis %lld out of range for %s", (long long)n->attr.i[0], tg_sstr(in));
	if (n->attr.i[1] < 0 || n->attr.i[2] < 0)
		return tg_op_fail(g, n, TG_ERR_ARG, "negative padding (%lld, %lld)", (long long)n->attr.i[1], (long long)n->attr.i[2]);
	n->attr.i[0] = ax;
	n->shape = in;
	n->shape.d[ax] += n->attr.i[1] + n->attr.i[2];
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static tg_status pad_forward(tg_exec *ex, tg_node *n)
{
	(void)ex;
	int ax = (int)n->attr.i[0];
	size_t es = tg_dtype_size(n->dtype);
	int64_t outer = 1, inner = 1;
	for (int d = 0; d < ax; d++)
		outer *= n->shape.d[d];
	for (int d = ax + 1; d < n->shape.ndim; d++)
		inner *= n->shape.d[d];
	int64_t nin = n->src[0]->shape.d[ax], nout = n->shape.d[ax];
	memset(n->data, 0, n->nbytes);
	for (int64_t o = 0; o < outer; o++)
		memcpy((char *)n->data + (size_t)((o * nout + n->attr.i[1]) * inner) * es,
			(const char *)n->src[0]->data + (size_t)(o * nin * inner) * es, (size_t)(nin * inner) * es);
	return TG_OK;
}

static tg_status pad_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	int ax = (int)n->attr.i[0];
	gin[0] = tg_slice(g, gout, ax, n->attr.i[1], n->attr.i[1] + n->src[0]->shape.d[ax]);
	return TG_OK;
}

const tg_op tg_op_pad = {"pad", pad_infer, pad_forward, pad_backward, 0, NULL};

tg_node *tg_pad_axis(tg_graph *g, tg_node *a, int axis, int64_t before, int64_t after)
{
	if (!g || !a)
		return NULL;
	tg_attrs at = {0};
	at.i[0] = axis;
	at.i[1] = before;
	at.i[2] = after;
	return tg_node_new(g, &tg_op_pad, 1, &a, &at);
}
