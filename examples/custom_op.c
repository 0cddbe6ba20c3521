/*
** custom_op.c: extending tgraph from user code, two ways.
**  1. A new op (softplus) with its own forward kernel and its own backward, registered by
**     filling a tg_op and applying it with tg_op_apply: nothing in the library changes.
**  2. A custom gradient around an existing subgraph (tg_custom_gradient): the value is
**     clip(x, -1, 1), the gradient is passed straight through (a "straight-through estimator"),
**     the same mechanism the SIP node uses to replace the physics' Jacobian.
*/
#include <math.h>
#include <stdio.h>
#include "tgraph.h"

/* ---- 1. softplus(x) = log(1 + exp(x)); d/dx = sigmoid(x) */

static tg_status softplus_infer(tg_graph *g, tg_node *n)
{
	if (n->src[0]->dtype != TG_F64)
		return tg_graph_fail(g, TG_ERR_DTYPE, "softplus: input is %s, expected f64", tg_dtype_name(n->src[0]->dtype));
	n->shape = n->src[0]->shape;
	n->dtype = TG_F64;
	return TG_OK;
}

static tg_status softplus_forward(tg_exec *ex, tg_node *n)
{
	(void)ex;
	const double *x = n->src[0]->data;
	double *y = n->data;
	for (int64_t i = 0; i < tg_numel(n); i++)
		y[i] = log1p(exp(x[i]));
	return TG_OK;
}

/* sigmoid(x) = 1 - exp(-softplus(x)), built from library ops */
static tg_status softplus_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	if (need[0]) {
		tg_node *sig = tg_sub(g, tg_scalar(g, TG_F64, 1.0), tg_exp(g, tg_neg(g, n)));
		gin[0] = tg_mul(g, gout, sig);
	}
	return TG_OK;
}

static const tg_op softplus_op = {"softplus", softplus_infer, softplus_forward, softplus_backward, 0, NULL};

/* ---- 2. straight-through clip */

static tg_status straight_through(tg_graph *g, tg_node *value, tg_node *gout, int nin, tg_node *const *inputs,
	const bool *need, tg_node **gin, void *ud)
{
	(void)g, (void)value, (void)nin, (void)inputs, (void)ud;
	if (need[0])
		gin[0] = gout;
	return TG_OK;
}

int main(void)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_param(g, "x", TG_F64, TG_SHAPE(4));
	double xv[] = {-2, -0.5, 0.5, 2};
	tg_set_data(x, xv, sizeof xv);

	tg_node *sp = tg_op_apply(g, &softplus_op, 1, &x, NULL);
	tg_node *one = tg_scalar(g, TG_F64, 1.0), *mone = tg_scalar(g, TG_F64, -1.0);
	tg_node *clipped = tg_where(g, tg_compare(g, x, one, TG_GT), one, tg_where(g, tg_compare(g, x, mone, TG_LT), mone, x));
	tg_node *ste = tg_custom_gradient(g, clipped, 1, &x, straight_through, NULL);
	tg_node *loss = tg_sum_all(g, tg_add(g, sp, ste));
	if (tg_backward(g, loss, NULL, 1, &x) != TG_OK || tg_graph_compute(g, 2, (tg_node *[]){loss, x->grad}) != TG_OK) {
		fprintf(stderr, "custom_op: %s\n", tg_graph_status(g) ? tg_graph_error(g) : tg_last_error());
		return 1;
	}
	int bad = 0;
	printf("   x    d loss/dx   expected sigmoid(x) + 1\n");
	for (int i = 0; i < 4; i++) {
		double want = 1 / (1 + exp(-xv[i])) + 1;
		double got = tg_f64(x->grad)[i];
		printf("%5.1f  %9.6f   %9.6f\n", xv[i], got, want);
		bad += fabs(got - want) > 1e-12;
	}
	tg_graph_free(g);
	return bad ? 1 : 0;
}
