/*
** cast.c: dtype conversion f32 <-> f64 and real -> complex (imaginary part 0). complex -> real
** is refused: say tg_real or tg_abs. The gradient is the incoming one; the engine casts it back.
*/
#include "elementwise.h"

static tg_status cast_infer(tg_graph *g, tg_node *n)
{
	tg_dtype from = n->src[0]->dtype, to = (tg_dtype)n->attr.i[0];
	if ((int)to < 0 || to >= TG_DTYPE_COUNT)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "unknown target dtype %d", (int)to);
	if (tg_dtype_is_complex(from) && !tg_dtype_is_complex(to))
		return tg_op_fail(g, n, TG_ERR_DTYPE, "%s -> %s of %s would drop the imaginary part; use tg_real or tg_abs",
			tg_dtype_name(from), tg_dtype_name(to), tg_sstr(n->src[0]->shape));
	n->shape = n->src[0]->shape;
	n->dtype = to;
	return TG_OK;
}

typedef struct cast_job { tg_node *n; int64_t ne; } cast_job;

static void cast_chunk(void *arg, int64_t c)
{
	cast_job *j = arg;
	tg_node *n = j->n, *a = n->src[0];
	int64_t lo = c * EW_CHUNK, hi = lo + EW_CHUNK < j->ne ? lo + EW_CHUNK : j->ne;
	for (int64_t i = lo; i < hi; i++) {
		double v = a->dtype == TG_F32 ? ((float *)a->data)[i] : ((double *)a->data)[a->dtype == TG_C128 ? 2 * i : i];
		double im = a->dtype == TG_C128 ? ((double *)a->data)[2 * i + 1] : 0.0;
		switch (n->dtype) {
		case TG_F32: ((float *)n->data)[i] = (float)v; break;
		case TG_F64: ((double *)n->data)[i] = v; break;
		default: ((double *)n->data)[2 * i] = v; ((double *)n->data)[2 * i + 1] = im; break;
		}
	}
}

static tg_status cast_forward(tg_exec *ex, tg_node *n)
{
	cast_job j = {n, tg_numel(n)};
	tg_parallel_for(ex, (j.ne + EW_CHUNK - 1) / EW_CHUNK, cast_chunk, &j);
	return TG_OK;
}

static tg_status cast_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)g, (void)n, (void)need;
	gin[0] = gout;
	return TG_OK;
}

const tg_op tg_op_cast = {"cast", cast_infer, cast_forward, cast_backward, 0, NULL};

tg_node *tg_cast(tg_graph *g, tg_node *a, tg_dtype t)
{
	if (!g || !a)
		return NULL;
	tg_attrs at = {0};
	at.i[0] = t;
	return tg_node_new(g, &tg_op_cast, 1, &a, &at);
}
