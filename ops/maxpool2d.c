/*
** maxpool2d.c: 2x2 max pooling, stride 2, on x [N,C,H,W] -> [N,C,H/2,W/2] (odd sizes drop the last
** row/column, as PyTorch's MaxPool2d(2)). Backward: maxpool2d_backward (x, gout) -> dx sends each
** gradient to its window's argmax, recomputed from x: the first maximum in row-major window order
** on ties, a NaN wins (the last one if several), as PyTorch's kernel. Not differentiable itself.
*/
#include "../engine/internal.h"
#include <math.h>
#include <string.h>

/* Index (0..3, row-major in the window) of the maximum of a 2x2 window (PyTorch's scan). */
#define ARGMAX(T)                                                                                    \
	static inline int argmax_##T(const T *p, int64_t W)                                          \
	{                                                                                            \
		T v[4] = {p[0], p[1], p[W], p[W + 1]};                                               \
		int best = 0;                                                                        \
		for (int k = 1; k < 4; k++)                                                          \
			if (v[k] > v[best] || isnan(v[k]))                      \
				best = k;                                                            \
		return best;                                                                         \
	}
ARGMAX(float)
ARGMAX(double)

static tg_status maxpool2d_infer(tg_graph *g, tg_node *n)
{
	tg_shape x = n->src[0]->shape;
	if (x.ndim != 4 || x.d[2] < 2 || x.d[3] < 2)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s: expected [N,C,H,W] with H, W >= 2", tg_sstr(x));
	if (n->src[0]->dtype != TG_F32 && n->src[0]->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "input is %s; expected f32 or f64", tg_dtype_name(n->src[0]->dtype));
	n->shape = TG_SHAPE(x.d[0], x.d[1], x.d[2] / 2, x.d[3] / 2);
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

/* One [H,W] plane of x (chunk = plane): y = the window maxima; dx = gradients at the argmaxes. */
#define PLANE_LOOPS(T)                                                                                 \
	static void pool_##T(const T *x, T *y, int64_t W, int64_t Ho, int64_t Wo)                      \
	{                                                                                              \
		for (int64_t i = 0; i < Ho; i++)                                                       \
			for (int64_t j = 0; j < Wo; j++) {                                             \
				const T *p = x + 2 * i * W + 2 * j;                                    \
				int k = argmax_##T(p, W);                                              \
				y[i * Wo + j] = p[(k >> 1) * W + (k & 1)];                             \
			}                                                                              \
	}                                                                                              \
	static void unpool_##T(const T *x, const T *gy, T *dx, int64_t H, int64_t W, int64_t Ho, int64_t Wo) \
	{                                                                                              \
		/* every window writes its 4 cells; the rows and column beyond 2 Ho, 2 Wo get 0 */     \
		for (int64_t i = 0; i < Ho; i++) {                                                     \
			for (int64_t j = 0; j < Wo; j++) {                                             \
				int64_t at = 2 * i * W + 2 * j;                                        \
				int k = argmax_##T(x + at, W);                                         \
				dx[at] = dx[at + 1] = dx[at + W] = dx[at + W + 1] = 0;                 \
				dx[at + (k >> 1) * W + (k & 1)] = gy[i * Wo + j];                      \
			}                                                                              \
			if (W & 1)                                                                     \
				dx[2 * i * W + W - 1] = dx[(2 * i + 1) * W + W - 1] = 0;               \
		}                                                                                      \
		if (H & 1)                                                                             \
			memset(dx + (H - 1) * W, 0, sizeof(T) * (size_t)W);                            \
	}
PLANE_LOOPS(float)
PLANE_LOOPS(double)

static void pool_plane(void *arg, int64_t plane)
{
	tg_node *n = arg, *x = n->src[0];
	int64_t H = x->shape.d[2], W = x->shape.d[3], Ho = n->shape.d[2], Wo = n->shape.d[3];
	if (n->dtype == TG_F32)
		pool_float(tg_f32(x) + plane * H * W, tg_f32(n) + plane * Ho * Wo, W, Ho, Wo);
	else
		pool_double(tg_f64(x) + plane * H * W, tg_f64(n) + plane * Ho * Wo, W, Ho, Wo);
}

static tg_status maxpool2d_forward(tg_exec *ex, tg_node *n)
{
	tg_parallel_for(ex, n->shape.d[0] * n->shape.d[1], pool_plane, n);
	return TG_OK;
}

/* maxpool2d_backward: src (x [N,C,H,W], gout [N,C,H/2,W/2]) -> dx [N,C,H,W]. */
static tg_status maxpool2d_backward_infer(tg_graph *g, tg_node *n)
{
	tg_shape x = n->src[0]->shape, go = n->src[1]->shape;
	if (x.ndim != 4 || go.ndim != 4 || go.d[0] != x.d[0] || go.d[1] != x.d[1] || go.d[2] != x.d[2] / 2 ||
		go.d[3] != x.d[3] / 2)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "x %s and gradient %s: expected [N,C,H,W] and [N,C,H/2,W/2]", tg_sstr(x),
			tg_sstr(go));
	if (n->src[0]->dtype != n->src[1]->dtype)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "x is %s, gradient %s", tg_dtype_name(n->src[0]->dtype),
			tg_dtype_name(n->src[1]->dtype));
	n->shape = x;
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static void unpool_plane(void *arg, int64_t plane)
{
	tg_node *n = arg, *x = n->src[0], *go = n->src[1];
	int64_t H = x->shape.d[2], W = x->shape.d[3], Ho = go->shape.d[2], Wo = go->shape.d[3];
	if (n->dtype == TG_F32)
		unpool_float(tg_f32(x) + plane * H * W, tg_f32(go) + plane * Ho * Wo, tg_f32(n) + plane * H * W, H, W, Ho, Wo);
	else
		unpool_double(tg_f64(x) + plane * H * W, tg_f64(go) + plane * Ho * Wo, tg_f64(n) + plane * H * W, H, W, Ho, Wo);
}

static tg_status maxpool2d_backward_forward(tg_exec *ex, tg_node *n)
{
	tg_parallel_for(ex, n->shape.d[0] * n->shape.d[1], unpool_plane, n);
	return TG_OK;
}

const tg_op tg_op_maxpool2d_backward = {"maxpool2d_backward", maxpool2d_backward_infer, maxpool2d_backward_forward,
	NULL, TG_OP_NONDIFF, NULL};

static tg_status maxpool2d_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	gin[0] = tg_node_new(g, &tg_op_maxpool2d_backward, 2, (tg_node *[]){n->src[0], gout}, NULL);
	return TG_OK;
}

const tg_op tg_op_maxpool2d = {"maxpool2d", maxpool2d_infer, maxpool2d_forward, maxpool2d_backward, 0, NULL};

tg_node *tg_maxpool2d(tg_graph *g, tg_node *x)
{
	if (!g || !x)
		return NULL;
	return tg_node_new(g, &tg_op_maxpool2d, 1, &x, NULL);
}
