/*
** where.c: cond != 0 ? a : b, broadcasting all three (numpy's where). cond is real; a and b
** share a dtype (promoted). Gradients: where(cond, g, 0) to a, where(cond, 0, g) to b.
*/
#include "elementwise.h"
#include <string.h>

static tg_status where_infer(tg_graph *g, tg_node *n)
{
	tg_node *c = n->src[0], *a = n->src[1], *b = n->src[2];
	tg_shape s;
	if (tg_dtype_is_complex(c->dtype))
		return tg_op_fail(g, n, TG_ERR_DTYPE, "condition must be real, got %s", tg_dtype_name(c->dtype));
	if (a->dtype != b->dtype)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "branches have dtypes %s and %s", tg_dtype_name(a->dtype), tg_dtype_name(b->dtype));
	if (!tg_shape_broadcast(a->shape, b->shape, &s) || !tg_shape_broadcast(s, c->shape, &n->shape))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "condition %s, a %s and b %s do not broadcast", tg_sstr(c->shape),
			tg_sstr(a->shape), tg_sstr(b->shape));
	n->dtype = a->dtype;
	return TG_OK;
}

typedef struct where_job {
	tg_node *n;
	int64_t st[3][TG_MAX_DIMS];
	int64_t ne;
} where_job;

static double cond_at(const tg_node *c, int64_t i)
{
	return c->dtype == TG_F32 ? ((const float *)c->data)[i] : ((const double *)c->data)[i];
}

static void where_chunk(void *arg, int64_t ch)
{
	where_job *j = arg;
	tg_node *n = j->n;
	size_t es = tg_dtype_size(n->dtype);
	int64_t lo = ch * EW_CHUNK, hi = lo + EW_CHUNK < j->ne ? lo + EW_CHUNK : j->ne;
	for (int64_t i = lo; i < hi; i++) {
		int64_t rem = i, off[3] = {0, 0, 0};
		for (int d = n->shape.ndim - 1; d >= 0; d--) {
			int64_t k = rem % n->shape.d[d];
			rem /= n->shape.d[d];
			for (int s = 0; s < 3; s++)
				off[s] += k * j->st[s][d];
		}
		const tg_node *pick = cond_at(n->src[0], off[0]) != 0 ? n->src[1] : n->src[2];
		int64_t po = pick == n->src[1] ? off[1] : off[2];
		memcpy((char *)n->data + (size_t)i * es, (const char *)pick->data + (size_t)po * es, es);
	}
}

static tg_status where_forward(tg_exec *ex, tg_node *n)
{
	where_job j = {.n = n, .ne = tg_numel(n)};
	for (int s = 0; s < 3; s++)
		tg_broadcast_strides(n->src[s]->shape, n->shape, j.st[s]);
	tg_parallel_for(ex, (j.ne + EW_CHUNK - 1) / EW_CHUNK, where_chunk, &j);
	return TG_OK;
}

static tg_status where_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_node *zero = tg_scalar(g, gout->dtype, 0.0);
	if (need[1])
		gin[1] = tg_where(g, n->src[0], gout, zero);
	if (need[2])
		gin[2] = tg_where(g, n->src[0], zero, gout);
	return TG_OK;
}

const tg_op tg_op_where = {"where", where_infer, where_forward, where_backward, 0, NULL};

tg_node *tg_where(tg_graph *g, tg_node *cond, tg_node *a, tg_node *b)
{
	if (!g || !cond || !a || !b || !tg_promote(g, &a, &b))
		return NULL;
	tg_node *src[3] = {cond, a, b};
	return tg_node_new(g, &tg_op_where, 3, src, NULL);
}
