/*
** upsample2x.c: bilinear upsampling by 2, align_corners=False (PyTorch's upsample_bilinear2d, as
** nn.Upsample(scale_factor=2, mode='bilinear')): x [N,C,H,W] -> [N,C,2H,2W]. Per axis, output
** index d reads source position s = max((d + 0.5) / 2 - 0.5, 0) between i0 = floor(s) and
** i1 = min(i0 + 1, n - 1) with weights 1 - (s - i0) and s - i0 (0.25 / 0.75: exact in f32).
** Backward: upsample2x_backward (gout) -> dx, the transpose with the same weights, written as a
** gather: input i of an axis receives from at most TAPS_IN outputs (listed once per axis), so every
** dx value is summed in a fixed order without a scatter. Not differentiable itself.
*/
#include "../engine/internal.h"
#include <string.h>

#define TAPS_IN 4 /* outputs reading one input along an axis: 2j-1, 2j, 2j+1, 2j+2 (fewer at edges) */

static tg_status upsample2x_infer(tg_graph *g, tg_node *n)
{
	tg_shape x = n->src[0]->shape;
	if (x.ndim != 4 || x.d[2] < 1 || x.d[3] < 1)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s: expected [N,C,H,W] with H, W >= 1", tg_sstr(x));
	if (x.d[2] > INT64_MAX / 2 || x.d[3] > INT64_MAX / 2)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s is too large to upsample (size overflow)", tg_sstr(x));
	if (n->src[0]->dtype != TG_F32 && n->src[0]->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "input is %s; expected f32 or f64", tg_dtype_name(n->src[0]->dtype));
	n->shape = TG_SHAPE(x.d[0], x.d[1], 2 * x.d[2], 2 * x.d[3]);
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

/* The taps of one axis of n inputs, weights in the kernel's type T:
**   forward: output d = w0[d] in[i0[d]] + w1[d] in[i1[d]], d < 2n;
**   backward: input i = sum_k wt[i][k] out[src[i][k]], k < TAPS_IN (unused entries: weight 0). */
typedef struct axis { int64_t *i0, *i1, *src; void *w0, *w1, *wt; } axis;

static size_t axis_bytes(int64_t n, size_t es) { return (size_t)(4 * n + TAPS_IN * n) * (sizeof(int64_t) + es); }

#define AXIS(T)                                                                                                \
	static axis axis_##T(int64_t n, char *mem)                                                             \
	{                                                                                                      \
		axis a;                                                                                        \
		a.i0 = (int64_t *)mem, a.i1 = a.i0 + 2 * n, a.src = a.i1 + 2 * n;                             \
		T *w0 = (T *)(a.src + TAPS_IN * n), *w1 = w0 + 2 * n, *wt = w1 + 2 * n;                        \
		a.w0 = w0, a.w1 = w1, a.wt = wt;                                                               \
		for (int64_t i = 0; i < TAPS_IN * n; i++)                                                      \
			a.src[i] = 0, wt[i] = 0;                                                               \
		for (int64_t d = 0; d < 2 * n; d++) {                                                          \
			double s = (d + 0.5) * 0.5 - 0.5;                                                      \
			if (s < 0)                                                                             \
				s = 0;                                                                         \
			a.i0[d] = (int64_t)s;                                                                  \
			a.i1[d] = a.i0[d] + 1 < n ? a.i0[d] + 1 : n - 1;                                       \
			w1[d] = (T)(s - (double)a.i0[d]);                                                      \
			w0[d] = (T)(1.0 - (s - (double)a.i0[d]));                                              \
		}                                                                                              \
		/* transposed lists, in increasing output order, i0 before i1 */                              \
		for (int64_t d = 0; d < 2 * n; d++)                                                            \
			for (int e = 0; e < 2; e++) {                                                          \
				int64_t i = e ? a.i1[d] : a.i0[d];                                             \
				T w = e ? w1[d] : w0[d];                                                       \
				for (int k = 0; k < TAPS_IN && w != 0; k++)                                    \
					if (wt[i * TAPS_IN + k] == 0) {                                        \
						a.src[i * TAPS_IN + k] = d, wt[i * TAPS_IN + k] = w;           \
						break;                                                         \
					}                                                                      \
			}                                                                                      \
		/* unused entries (weight 0) read the first output, so a non-finite value elsewhere       \
		** cannot leak in as 0 * inf */                                                            \
		for (int64_t i = 0; i < n; i++)                                                                \
			for (int k = 1; k < TAPS_IN; k++)                                                      \
				if (wt[i * TAPS_IN + k] == 0)                                                  \
					a.src[i * TAPS_IN + k] = a.src[i * TAPS_IN];                           \
		return a;                                                                                      \
	}
AXIS(float)
AXIS(double)

typedef struct up_job { tg_node *n; int64_t H, W; axis h, w; } up_job;

/* Same evaluation order as PyTorch's CPU kernel: rows outer, (x00 w0 + x01 w1) h0 + (...) h1. */
#define UP_PLANE(T)                                                                                            \
	static void up_plane_##T(const up_job *j, const T *x, T *y)                                            \
	{                                                                                                      \
		const T *hw0 = j->h.w0, *hw1 = j->h.w1, *ww0 = j->w.w0, *ww1 = j->w.w1;                        \
		const int64_t *c0 = j->w.i0, *c1 = j->w.i1;                                                    \
		for (int64_t r = 0; r < 2 * j->H; r++) {                                                       \
			const T *x0 = x + j->h.i0[r] * j->W, *x1 = x + j->h.i1[r] * j->W;                      \
			T h0 = hw0[r], h1 = hw1[r], *yr = y + r * 2 * j->W;                                     \
			for (int64_t c = 0; c < 2 * j->W; c++)                                                 \
				yr[c] = (x0[c0[c]] * ww0[c] + x0[c1[c]] * ww1[c]) * h0 +                       \
					(x1[c0[c]] * ww0[c] + x1[c1[c]] * ww1[c]) * h1;                        \
		}                                                                                              \
	}                                                                                                      \
	/* dx[i][k] = sum over the rows r reading row i of wr * (sum over the columns reading k) */          \
	static void down_plane_##T(const up_job *j, const T *gy, T *dx)                                       \
	{                                                                                                      \
		const T *hwt = j->h.wt, *wwt = j->w.wt;                                                        \
		const int64_t *cs = j->w.src;                                                                  \
		for (int64_t i = 0; i < j->H; i++) {                                                           \
			T *dr = dx + i * j->W;                                                                 \
			memset(dr, 0, sizeof(T) * (size_t)j->W);                                               \
			for (int k = 0; k < TAPS_IN; k++) {                                                    \
				T hr = hwt[i * TAPS_IN + k];                                                   \
				if (hr == 0)                                                                   \
					continue;                                                              \
				const T *g = gy + j->h.src[i * TAPS_IN + k] * 2 * j->W;                        \
				for (int64_t c = 0; c < j->W; c++) {                                           \
					const T *wc = wwt + c * TAPS_IN;                                       \
					const int64_t *sc = cs + c * TAPS_IN;                                  \
					dr[c] += hr * (((wc[0] * g[sc[0]] + wc[1] * g[sc[1]]) + wc[2] * g[sc[2]]) + \
							      wc[3] * g[sc[3]]);                               \
				}                                                                              \
			}                                                                                      \
		}                                                                                              \
	}
UP_PLANE(float)
UP_PLANE(double)

/* Builds both axes' taps in the scratch (H: rows, W: columns of the input). */
static tg_status make_job(tg_exec *ex, tg_node *n, int64_t H, int64_t W, up_job *j)
{
	size_t es = tg_dtype_size(n->dtype), hb = (axis_bytes(H, es) + 63) & ~(size_t)63;
	char *mem = tg_exec_scratch(ex, hb + axis_bytes(W, es));
	if (!mem)
		return tg_graph_fail(tg_exec_graph(ex), TG_ERR_NOMEM, "%s: out of memory", n->op->name);
	*j = (up_job){n, H, W, {0}, {0}};
	if (n->dtype == TG_F32)
		j->h = axis_float(H, mem), j->w = axis_float(W, mem + hb);
	else
		j->h = axis_double(H, mem), j->w = axis_double(W, mem + hb);
	return TG_OK;
}

static void up_chunk(void *arg, int64_t p)
{
	up_job *j = arg;
	int64_t in = j->H * j->W, out = 4 * in;
	if (j->n->dtype == TG_F32)
		up_plane_float(j, (const float *)j->n->src[0]->data + p * in, tg_f32(j->n) + p * out);
	else
		up_plane_double(j, (const double *)j->n->src[0]->data + p * in, tg_f64(j->n) + p * out);
}

static tg_status upsample2x_forward(tg_exec *ex, tg_node *n)
{
	up_job j;
	if (tg_numel(n) == 0) /* nothing to do; an empty tensor's other dims may be huge */
		return TG_OK;
	tg_status st = make_job(ex, n, n->src[0]->shape.d[2], n->src[0]->shape.d[3], &j);
	if (st == TG_OK)
		tg_parallel_for(ex, n->shape.d[0] * n->shape.d[1], up_chunk, &j);
	return st;
}

/* upsample2x_backward: gout [N,C,2H,2W] -> dx [N,C,H,W]. */
static tg_status upsample2x_backward_infer(tg_graph *g, tg_node *n)
{
	tg_shape go = n->src[0]->shape;
	if (go.ndim != 4 || go.d[2] < 2 || go.d[3] < 2 || go.d[2] % 2 || go.d[3] % 2)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "gradient %s: expected [N,C,2H,2W]", tg_sstr(go));
	if (n->src[0]->dtype != TG_F32 && n->src[0]->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "gradient is %s; expected f32 or f64", tg_dtype_name(n->src[0]->dtype));
	n->shape = TG_SHAPE(go.d[0], go.d[1], go.d[2] / 2, go.d[3] / 2);
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static void down_chunk(void *arg, int64_t p)
{
	up_job *j = arg;
	int64_t in = j->H * j->W, out = 4 * in;
	if (j->n->dtype == TG_F32)
		down_plane_float(j, (const float *)j->n->src[0]->data + p * out, tg_f32(j->n) + p * in);
	else
		down_plane_double(j, (const double *)j->n->src[0]->data + p * out, tg_f64(j->n) + p * in);
}

static tg_status upsample2x_backward_forward(tg_exec *ex, tg_node *n)
{
	up_job j;
	if (tg_numel(n) == 0)
		return TG_OK;
	tg_status st = make_job(ex, n, n->shape.d[2], n->shape.d[3], &j);
	if (st == TG_OK)
		tg_parallel_for(ex, n->shape.d[0] * n->shape.d[1], down_chunk, &j);
	return st;
}

const tg_op tg_op_upsample2x_backward = {"upsample2x_backward", upsample2x_backward_infer,
	upsample2x_backward_forward, NULL, TG_OP_NONDIFF, NULL};

static tg_status upsample2x_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)n, (void)need;
	gin[0] = tg_node_new(g, &tg_op_upsample2x_backward, 1, &gout, NULL);
	return TG_OK;
}

const tg_op tg_op_upsample2x = {"upsample2x", upsample2x_infer, upsample2x_forward, upsample2x_backward, 0, NULL};

tg_node *tg_upsample2x(tg_graph *g, tg_node *x)
{
	if (!g || !x)
		return NULL;
	return tg_node_new(g, &tg_op_upsample2x, 1, &x, NULL);
}
