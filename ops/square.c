/*
** square.c: a * a (complex: z * z).
*/
#include "elementwise.h"

static tg_status square_infer(tg_graph *g, tg_node *n) { return ew_infer_unary(g, n, true, false); }
static tg_status square_forward(tg_exec *ex, tg_node *n) { return ew_unary_forward(ex, n, EW_SQUARE); }

static tg_status square_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *a = n->src[0];
	(void)g, (void)a, (void)need;
	bool cx = tg_dtype_is_complex(n->dtype);
	gin[0] = tg_mul(g, gout, tg_scale(g, cx ? tg_conj(g, a) : a, 2.0));
	return TG_OK;
}

const tg_op tg_op_square = {"square", square_infer, square_forward, square_backward, TG_OP_INPLACE, NULL};

tg_node *tg_square(tg_graph *g, tg_node *a) { return ew_unary(g, &tg_op_square, a, 0); }
