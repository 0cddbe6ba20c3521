/*
** compare.c: a <op> b elementwise (broadcasting), 1.0 or 0.0 in the inputs' (real) dtype.
** Not differentiable: a step function has zero gradient almost everywhere.
*/
#include "elementwise.h"

static tg_status compare_infer(tg_graph *g, tg_node *n)
{
	tg_node *a = n->src[0], *b = n->src[1];
	if (tg_dtype_is_complex(a->dtype))   /* the constructor promoted both to one dtype */
		return tg_op_fail(g, n, TG_ERR_DTYPE, "inputs are %s %s and %s %s; expected real inputs (f32 or f64)",
			tg_dtype_name(a->dtype), tg_sstr(a->shape), tg_dtype_name(b->dtype), tg_sstr(b->shape));
	if (n->attr.i[0] < TG_LT || n->attr.i[0] > TG_NE)
		return tg_op_fail(g, n, TG_ERR_ARG, "unknown comparison %lld", (long long)n->attr.i[0]);
	return ew_infer_binary(g, n);
}

static tg_status compare_forward(tg_exec *ex, tg_node *n)
{
	static const ew_kind kinds[] = {EW_LT, EW_LE, EW_GT, EW_GE, EW_EQ, EW_NE};
	return ew_binary_forward(ex, n, kinds[n->attr.i[0]]);
}

const tg_op tg_op_compare = {"compare", compare_infer, compare_forward, NULL, TG_OP_NONDIFF | TG_OP_INPLACE, NULL};

tg_node *tg_compare(tg_graph *g, tg_node *a, tg_node *b, tg_cmp c)
{
	if (!g || !a || !b || !tg_promote(g, &a, &b))
		return NULL;
	tg_node *src[2] = {a, b};
	tg_attrs at = {0};
	at.i[0] = c;
	return tg_node_new(g, &tg_op_compare, 2, src, &at);
}
