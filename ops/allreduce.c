/*
** allreduce.c: one fused allreduce of many tensors (data-parallel gradients). Sources t_0..t_{k-1}
** (all f32 or all f64, any shapes) -> [sum of their sizes] in that dtype: their flattened
** concatenation summed over the processes through the graph's hook, in a double buffer (f32
** sums are rounded once, on the way back). One call per run, so a step pays one latency, not
** one per tensor. tg_allreduce splits the result back into the tensors' shapes. Without a hook
** the result is the concatenation itself. Not differentiable.
*/
#include "../engine/internal.h"

static tg_status allreduce_infer(tg_graph *g, tg_node *n)
{
	tg_dtype t = n->src[0]->dtype;
	int64_t total = 0;
	for (int i = 0; i < n->nsrc; i++) {
		tg_node *s = n->src[i];
		if (s->dtype != t || (t != TG_F32 && t != TG_F64))
			return tg_op_fail(g, n, TG_ERR_DTYPE, "input %d '%s' is %s, input 0 is %s; expected all f32 or all f64", i,
				s->name, tg_dtype_name(s->dtype), tg_dtype_name(t));
		total += tg_numel(s);
	}
	n->shape = TG_SHAPE(total);
	n->dtype = t;
	return TG_OK;
}

static tg_status allreduce_forward(tg_exec *ex, tg_node *n)
{
	int64_t total = n->shape.d[0];
	double *buf = tg_exec_scratch(ex, sizeof(double) * (size_t)(total > 0 ? total : 1));
	if (!buf)
		return tg_op_fail(ex->g, n, TG_ERR_NOMEM, "out of memory for a %lld-value buffer", (long long)total);
	/* copies of O(parameters) values: negligible next to the network, so not split over threads */
	int64_t off = 0;
	for (int i = 0; i < n->nsrc; i++) {
		int64_t k = tg_numel(n->src[i]);
		for (int64_t j = 0; j < k; j++)
			buf[off + j] = n->dtype == TG_F32 ? (double)tg_f32(n->src[i])[j] : tg_f64(n->src[i])[j];
		off += k;
	}
	tg_status st = tg_exec_allreduce(ex, buf, total);
	for (int64_t j = 0; j < total && st == TG_OK; j++) {
		if (n->dtype == TG_F32)
			tg_f32(n)[j] = (float)buf[j];
		else
			tg_f64(n)[j] = buf[j];
	}
	return st;
}

const tg_op tg_op_allreduce = {"allreduce", allreduce_infer, allreduce_forward, NULL, TG_OP_NONDIFF, NULL};

tg_status tg_allreduce(tg_graph *g, int n, tg_node *const *in, tg_node **out)
{
	if (!g || tg_graph_status(g) != TG_OK)
		return g ? tg_graph_status(g) : tg_set_error(TG_ERR_ARG, "tg_allreduce: NULL graph");
	if (n < 1 || !in || !out)
		return tg_graph_fail(g, TG_ERR_ARG, "tg_allreduce: nothing to reduce (%d tensors, in %p, out %p)", n,
			(const void *)in, (void *)out);
	for (int i = 0; i < n; i++)
		if (!in[i])
			return tg_graph_fail(g, TG_ERR_ARG, "tg_allreduce: tensor %d is NULL", i);
	tg_node *sum = tg_set_name(tg_node_new(g, &tg_op_allreduce, n, in, NULL), "allreduce");
	int64_t off = 0;
	for (int i = 0; i < n && sum; i++) {
		int64_t k = tg_numel(in[i]);
		out[i] = tg_reshape(g, tg_slice(g, sum, 0, off, off + k), in[i]->shape);
		off += k;
	}
	return tg_graph_status(g);
}
