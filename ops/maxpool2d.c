/*
** maxpool2d.c: 2x2 max pooling, stride 2, on x [N,C,H,W] -> [N,C,H/2,W/2] (odd sizes drop the last
** row/column, as PyTorch's MaxPool2d(2)). Backward: maxpool2d_backward (x, gout) -> dx sends each
** gradient to its window's argmax, recomputed from x: the first maximum in row-major window order
** on ties, a NaN wins (the last one if several), as PyTorch's kernel. Not differentiable itself.
**
** Both are memory-bound: the kernels are branch-free loops over one output row (even and odd
** columns deinterleaved, the window scan as comparisons and selects) that the compiler vectorises,
** built for AVX-512, AVX2 and baseline x86-64 and picked at load time. Comparisons and selects are
** exact, so every build gives the same bits. A chunk is a fixed group of whole planes.
*/
#include "../engine/internal.h"
#include <string.h>

/* Elements of x per chunk (about 64 KiB of f32): a [64,64] plane is 4 planes per chunk, an [8,8]
** plane 256, so small planes do not cost one scheduling step each. Fixed: results never depend
** on the thread count (they would not anyway, every output is computed alone). */
#define CHUNK_ELEMS 16384

/* PyTorch's scan of a window in row-major order: value v replaces the running maximum m if it is
** greater or NaN (so ties keep the first, and the last NaN wins). Non-short-circuit |. */
#define TAKES(v, m) (((v) > (m)) | ((v) != (v)))

/* t ? v : m on the bits, so that the scalar remainders of the loops (and builds without SIMD) have
** no data-dependent branches either: compilers turn a scalar float select into a branch. */
#define PICK(T, U)                                                                                      \
	static inline T pick_##T(int t, T v, T m)                                                       \
	{                                                                                               \
		U a, b, k = (U)0 - (U)t;                                                                \
		memcpy(&a, &v, sizeof a), memcpy(&b, &m, sizeof b);                                     \
		a = (a & k) | (b & ~k);                                                                 \
		memcpy(&v, &a, sizeof v);                                                               \
		return v;                                                                               \
	}
PICK(float, uint32_t)
PICK(double, uint64_t)

/* One output row: x0, x1 the two input rows [W], y [Wo] (Wo = W/2, a last odd column is skipped).
** dx0, dx1 the two gradient rows: each window's 4 cells get gy at the argmax and 0 elsewhere; the
** scan is replayed backwards (a later taker claims the gradient r first), so all 4 are selects. */
#define ROW_KERNELS(T)                                                                                         \
	TG_CLONES static void pool_row_##T(const T *restrict x0, const T *restrict x1, T *restrict y, int64_t Wo) \
	{                                                                                                      \
		for (int64_t j = 0; j < Wo; j++) {                                                             \
			T a = x0[2 * j], b = x0[2 * j + 1], c = x1[2 * j], d = x1[2 * j + 1];                  \
			T m = pick_##T(TAKES(b, a), b, a);                                                     \
			m = pick_##T(TAKES(c, m), c, m);                                                       \
			y[j] = pick_##T(TAKES(d, m), d, m);                                                    \
		}                                                                                              \
	}                                                                                                      \
	TG_CLONES static void unpool_row_##T(const T *restrict x0, const T *restrict x1, const T *restrict gy,    \
		T *restrict dx0, T *restrict dx1, int64_t Wo)                                                  \
	{                                                                                                      \
		for (int64_t j = 0; j < Wo; j++) {                                                             \
			T a = x0[2 * j], b = x0[2 * j + 1], c = x1[2 * j], d = x1[2 * j + 1], r = gy[j];       \
			int t1 = TAKES(b, a);                                                                  \
			T m = pick_##T(t1, b, a);                                                              \
			int t2 = TAKES(c, m);                                                                  \
			int t3 = TAKES(d, pick_##T(t2, c, m));                                                 \
			dx1[2 * j + 1] = pick_##T(t3, r, 0);                                                   \
			r = pick_##T(t3, 0, r);                                                                \
			dx1[2 * j] = pick_##T(t2, r, 0);                                                       \
			r = pick_##T(t2, 0, r);                                                                \
			dx0[2 * j + 1] = pick_##T(t1, r, 0);                                                   \
			dx0[2 * j] = pick_##T(t1, 0, r);                                                       \
		}                                                                                              \
	}
ROW_KERNELS(float)
ROW_KERNELS(double)

/* Planes [p0, p1) of x [., H, W] -> y [., Ho, Wo] (forward), or of x and gy [., Ho, Wo] -> dx [., H, W]. */
typedef struct pool_job {
	const void *x, *gy; /* gy: only for the backward */
	void *out;
	int64_t H, W, Ho, Wo, planes, per_chunk;
	bool backward, f32;
} pool_job;

#define PLANE_LOOPS(T)                                                                                             \
	static void pool_planes_##T(const pool_job *j, int64_t p0, int64_t p1)                                     \
	{                                                                                                          \
		for (int64_t p = p0; p < p1; p++) {                                                                \
			const T *x = (const T *)j->x + p * j->H * j->W;                                            \
			T *y = (T *)j->out + p * j->Ho * j->Wo;                                                    \
			for (int64_t i = 0; i < j->Ho; i++)                                                        \
				pool_row_##T(x + 2 * i * j->W, x + (2 * i + 1) * j->W, y + i * j->Wo, j->Wo);      \
		}                                                                                                  \
	}                                                                                                          \
	/* every window writes its 4 cells; the row and column beyond 2 Ho, 2 Wo get 0 */                          \
	static void unpool_planes_##T(const pool_job *j, int64_t p0, int64_t p1)                                   \
	{                                                                                                          \
		int64_t H = j->H, W = j->W;                                                                        \
		for (int64_t p = p0; p < p1; p++) {                                                                \
			const T *x = (const T *)j->x + p * H * W, *gy = (const T *)j->gy + p * j->Ho * j->Wo;      \
			T *dx = (T *)j->out + p * H * W;                                                           \
			for (int64_t i = 0; i < j->Ho; i++) {                                                      \
				T *d0 = dx + 2 * i * W, *d1 = d0 + W;                                              \
				unpool_row_##T(x + 2 * i * W, x + (2 * i + 1) * W, gy + i * j->Wo, d0, d1, j->Wo); \
				if (W & 1)                                                                         \
					d0[W - 1] = d1[W - 1] = 0;                                                 \
			}                                                                                          \
			if (H & 1)                                                                                 \
				memset(dx + (H - 1) * W, 0, sizeof(T) * (size_t)W);                                \
		}                                                                                                  \
	}
PLANE_LOOPS(float)
PLANE_LOOPS(double)

/* Chunk c: planes [c per_chunk, (c + 1) per_chunk) clipped to N*C. */
static void pool_chunk(void *arg, int64_t c)
{
	const pool_job *j = arg;
	int64_t p0 = c * j->per_chunk, p1 = j->planes - p0 < j->per_chunk ? j->planes : p0 + j->per_chunk;
	if (j->backward && j->f32)
		unpool_planes_float(j, p0, p1);
	else if (j->backward)
		unpool_planes_double(j, p0, p1);
	else if (j->f32)
		pool_planes_float(j, p0, p1);
	else
		pool_planes_double(j, p0, p1);
}

/* x [N,C,H,W], gy [N,C,H/2,W/2] or NULL (forward), out y or dx: runs over fixed chunks of whole
** planes. An empty x returns at once (its H*W may not even be representable). */
static void run(tg_exec *ex, const tg_node *x, const tg_node *gy, tg_node *out)
{
	if (tg_numel(x) == 0)
		return;
	const int64_t *d = x->shape.d;
	int64_t plane = d[2] * d[3], per = plane < CHUNK_ELEMS ? CHUNK_ELEMS / plane : 1;
	pool_job j = {x->data, gy ? gy->data : NULL, out->data, d[2], d[3], d[2] / 2, d[3] / 2, d[0] * d[1], per,
		gy != NULL, x->dtype == TG_F32};
	tg_parallel_for(ex, (j.planes + per - 1) / per, pool_chunk, &j);
}

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

static tg_status maxpool2d_forward(tg_exec *ex, tg_node *n)
{
	run(ex, n->src[0], NULL, n);
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

static tg_status maxpool2d_backward_forward(tg_exec *ex, tg_node *n)
{
	run(ex, n->src[0], n->src[1], n);
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
