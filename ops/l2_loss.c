/*
** l2_loss.c: PhiFlow's l2_loss: sum(a^2) / 2 over every axis but the first (the batch) -> [B].
** Accumulates in double. Backward: a * g[b].
*/
#include "elementwise.h"

static tg_status l2_loss_infer(tg_graph *g, tg_node *n)
{
	tg_node *a = n->src[0];
	if (a->shape.ndim < 1)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s needs a batch axis (at least 1 dim)", tg_sstr(a->shape));
	if (tg_dtype_is_complex(a->dtype))
		return tg_op_fail(g, n, TG_ERR_DTYPE, "input is %s; expected f32 or f64", tg_dtype_name(a->dtype));
	n->shape = TG_SHAPE(a->shape.d[0]);
	n->dtype = a->dtype;
	return TG_OK;
}

typedef struct l2_job { tg_node *n; int64_t inner; } l2_job;

static void l2_item(void *arg, int64_t b)
{
	l2_job *j = arg;
	tg_node *a = j->n->src[0];
	double acc = 0;
	if (a->dtype == TG_F32) {
		const float *x = (const float *)a->data + b * j->inner;
		for (int64_t i = 0; i < j->inner; i++)
			acc += (double)x[i] * x[i];
		((float *)j->n->data)[b] = (float)(0.5 * acc);
	} else {
		const double *x = (const double *)a->data + b * j->inner;
		for (int64_t i = 0; i < j->inner; i++)
			acc += x[i] * x[i];
		((double *)j->n->data)[b] = 0.5 * acc;
	}
}

static tg_status l2_loss_forward(tg_exec *ex, tg_node *n)
{
	int64_t B = n->shape.d[0];
	l2_job j = {n, B ? tg_numel(n->src[0]) / B : 0};
	tg_parallel_for(ex, B, l2_item, &j);
	return TG_OK;
}

static tg_status l2_loss_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	tg_node *a = n->src[0];
	tg_shape s = a->shape;
	for (int d = 1; d < s.ndim; d++)
		s.d[d] = 1;
	gin[0] = tg_mul(g, a, tg_reshape(g, gout, s));
	return TG_OK;
}

const tg_op tg_op_l2_loss = {"l2_loss", l2_loss_infer, l2_loss_forward, l2_loss_backward, 0, NULL};

tg_node *tg_l2_loss(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_l2_loss, a, 0); }
