/*
** matmul.c: batched matrix product over the two last axes, [..., M, K] x [..., K, N] -> [..., M, N],
** leading axes broadcast (numpy's matmul). Each batch item is one BLIS GEMM; f32 or f64.
** Backward: ga = g b^T, gb = a^T g (the engine sums over broadcast batch axes).
*/
#include "elementwise.h"

static tg_status matmul_infer(tg_graph *g, tg_node *n)
{
	tg_shape a = n->src[0]->shape, b = n->src[1]->shape, ba = a, bb = b, batch;
	if (n->src[0]->dtype != n->src[1]->dtype || tg_dtype_is_complex(n->src[0]->dtype))
		return tg_op_fail(g, n, TG_ERR_DTYPE, "needs two f32 or two f64 inputs, got %s and %s",
			tg_dtype_name(n->src[0]->dtype), tg_dtype_name(n->src[1]->dtype));
	if (a.ndim < 2 || b.ndim < 2)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "inputs need at least 2 dims, got %s and %s", tg_sstr(a), tg_sstr(b));
	if (a.d[a.ndim - 1] != b.d[b.ndim - 2])
		return tg_op_fail(g, n, TG_ERR_SHAPE, "inner dims differ: %s x %s (expected [...,M,K] x [...,K,N])", tg_sstr(a),
			tg_sstr(b));
	ba.ndim -= 2;
	bb.ndim -= 2;
	if (!tg_shape_broadcast(ba, bb, &batch))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "batch dims of %s and %s do not broadcast", tg_sstr(a), tg_sstr(b));
	n->shape = batch;
	n->shape.d[n->shape.ndim++] = a.d[a.ndim - 2];
	n->shape.d[n->shape.ndim++] = b.d[b.ndim - 1];
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static tg_status matmul_forward(tg_exec *ex, tg_node *n)
{
	(void)ex;
	tg_node *A = n->src[0], *B = n->src[1];
	int nd = n->shape.ndim;
	int64_t M = n->shape.d[nd - 2], N = n->shape.d[nd - 1], K = A->shape.d[A->shape.ndim - 1];
	tg_shape batch = n->shape, ba = A->shape, bb = B->shape;
	batch.ndim -= 2;
	ba.ndim -= 2;
	bb.ndim -= 2;
	int64_t sa[TG_MAX_DIMS], sb[TG_MAX_DIMS], nb = tg_shape_numel(batch);
	tg_broadcast_strides(ba, batch, sa);
	tg_broadcast_strides(bb, batch, sb);
	size_t es = tg_dtype_size(n->dtype);
	for (int64_t i = 0; i < nb; i++) {
		int64_t rem = i, ia = 0, ib = 0;
		for (int d = batch.ndim - 1; d >= 0; d--) {
			int64_t k = rem % batch.d[d];
			rem /= batch.d[d];
			ia += k * sa[d];
			ib += k * sb[d];
		}
		const char *pa = (const char *)A->data + (size_t)(ia * M * K) * es;
		const char *pb = (const char *)B->data + (size_t)(ib * K * N) * es;
		char *pc = (char *)n->data + (size_t)(i * M * N) * es;
		if (n->dtype == TG_F32)
			tg_sgemm(false, false, M, N, K, 1.0f, (const float *)pa, K, (const float *)pb, N, 0.0f, (float *)pc, N);
		else
			tg_dgemm(false, false, M, N, K, 1.0, (const double *)pa, K, (const double *)pb, N, 0.0, (double *)pc, N);
	}
	return TG_OK;
}

static tg_status matmul_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	if (need[0])
		gin[0] = tg_matmul(g, gout, tg_transpose(g, n->src[1]));
	if (need[1])
		gin[1] = tg_matmul(g, tg_transpose(g, n->src[0]), gout);
	return TG_OK;
}

static double matmul_flops(const tg_node *n)
{
	return 2.0 * (double)tg_numel(n) * (double)n->src[0]->shape.d[n->src[0]->shape.ndim - 1];
}

const tg_op tg_op_matmul = {"matmul", matmul_infer, matmul_forward, matmul_backward, 0, matmul_flops};

tg_node *tg_matmul(tg_graph *g, tg_node *a, tg_node *b)
{
	if (!g || !a || !b || !tg_promote(g, &a, &b))
		return NULL;
	tg_node *src[2] = {a, b};
	return tg_node_new(g, &tg_op_matmul, 2, src, NULL);
}
