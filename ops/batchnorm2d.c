/*
** batchnorm2d.c: batch norm over N, H, W per channel (PyTorch's BatchNorm2d, affine):
** y = gamma (x - mean) / sqrt(var + eps) + beta for x [N,C,H,W], gamma, beta [C].
** Sources: x, gamma, beta, running_mean, running_var (state nodes [C]); attr.i[0] training,
** f[0] momentum, f[1] eps.
**   training: mean and biased variance of the batch (one shifted pass in double), and the
**     forward updates the running statistics in place: r = (1 - momentum) r + momentum stat, with
**     the unbiased variance (PyTorch's rule). They are written, never read, in this mode, so
**     repeated forwards (finite differences) see the same function.
**   eval: the running statistics instead; nothing is written.
** Evaluated as PyTorch's CPU kernel: y = x a + b with a = gamma rstd, b = beta - mean a (double).
** Backward (llm.c's compact form, dxhat = gamma dy, M = N*H*W values per channel):
**   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) in training, gamma rstd dy in eval;
**   dgamma = sum(dy xhat), dbeta = sum(dy).
** Two helper ops (not differentiable): batchnorm2d_grad_stats (x, dy [, running_mean,
** running_var in eval]) -> f64 [6, C] rows mean, rstd, sum(dy) (= dbeta), sum(dy xhat) (= dgamma),
** mean(dy), mean(dy xhat) (the last two 0 in eval), recomputing the statistics from x as the
** forward did; batchnorm2d_backward_data (x, gamma, dy, stats) -> dx.
** Data parallelism (a graph with an allreduce hook, training mode): the per-channel sums of the
** forward and of grad_stats are summed over the processes (one tg_exec_allreduce per node), so
** mean, variance, mean(dy) and mean(dy xhat) are those of the whole batch, as one process would
** compute them; the dbeta/dgamma rows stay this process's sums, which the gradient allreduce adds.
*/
#include "../engine/internal.h"
#include <math.h>

typedef struct bn_dims { int64_t N, C, HW, M; } bn_dims;

/* An empty x is 0 values per channel (its other dims may be huge: no products of them). */
static bn_dims dims_of(const tg_node *x)
{
	bn_dims d = {0, x->shape.d[1], 0, 0};
	if (tg_numel(x) > 0) {
		d.N = x->shape.d[0];
		d.HW = x->shape.d[2] * x->shape.d[3];
		d.M = d.N * d.HW;
	}
	return d;
}

static inline double at(const tg_node *v, int64_t i)
{
	return v->dtype == TG_F32 ? (double)((const float *)v->data)[i] : ((const double *)v->data)[i];
}

static inline void put(tg_node *v, int64_t i, double x)
{
	if (v->dtype == TG_F32)
		((float *)v->data)[i] = (float)x;
	else
		((double *)v->data)[i] = x;
}

/* Channel c of x [N,C,H,W] is N runs of HW values at (n*C + c)*HW. The statistics take one pass:
** with K the channel's first value, sums of (x - K) and (x - K)^2 (and of dy, dy (x - K)) in
** double; the shift keeps the one-pass variance accurate. Each sum uses LANES partial sums
** combined in a fixed order: vectorisable and the same for any thread count. */
#define LANES 4
static double lanes_total(const double *a) { return (a[0] + a[1]) + (a[2] + a[3]); }

/* The loops are compiled for AVX-512 and AVX2 too, picked at load time (they convert to double,
** which baseline x86-64 SSE2 does two values at a time). No FMA contraction under -std=c11, so
** each clone computes the same operations. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

#define BN_KERNELS(T)                                                                                            \
	/* s = {sum(x-K), sum((x-K)^2), sum(dy), sum(dy (x-K))}; the last two only with dy */                   \
	CLONES static void sums_##T(const T *x, const T *dy, bn_dims d, int64_t c, double K, double s[4])        \
	{                                                                                                        \
		double a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};                       \
		for (int64_t n = 0; n < d.N; n++) {                                                              \
			const T *xp = x + (n * d.C + c) * d.HW;                                                  \
			int64_t p = 0;                                                                           \
			if (dy) {                                                                                \
				const T *gp = dy + (n * d.C + c) * d.HW;                                         \
				for (; p + LANES <= d.HW; p += LANES)                                            \
					for (int k = 0; k < LANES; k++) {                                        \
						double e = (double)xp[p + k] - K, g = (double)gp[p + k];         \
						a0[k] += e, a1[k] += e * e, a2[k] += g, a3[k] += g * e;          \
					}                                                                        \
				for (; p < d.HW; p++) {                                                          \
					double e = (double)xp[p] - K, g = (double)gp[p];                         \
					a0[0] += e, a1[0] += e * e, a2[0] += g, a3[0] += g * e;                  \
				}                                                                                \
			} else {                                                                                 \
				for (; p + LANES <= d.HW; p += LANES)                                            \
					for (int k = 0; k < LANES; k++) {                                        \
						double e = (double)xp[p + k] - K;                                \
						a0[k] += e, a1[k] += e * e;                                      \
					}                                                                        \
				for (; p < d.HW; p++) {                                                          \
					double e = (double)xp[p] - K;                                            \
					a0[0] += e, a1[0] += e * e;                                              \
				}                                                                                \
			}                                                                                        \
		}                                                                                                \
		s[0] = lanes_total(a0), s[1] = lanes_total(a1), s[2] = lanes_total(a2), s[3] = lanes_total(a3);  \
	}                                                                                                        \
	/* y = x a + b over channel c */                                                                         \
	CLONES static void affine_##T(const T *x, T *y, bn_dims d, int64_t c, double a, double b)               \
	{                                                                                                        \
		for (int64_t n = 0; n < d.N; n++) {                                                              \
			int64_t base = (n * d.C + c) * d.HW;                                                     \
			for (int64_t p = 0; p < d.HW; p++)                                                       \
				y[base + p] = (T)((double)x[base + p] * a + b);                                  \
		}                                                                                                \
	}                                                                                                        \
	/* dx = gr (dy - k0 - (x - mean) rstd k1) over channel c */                                              \
	CLONES static void dx_##T(const T *x, const T *dy, T *dx, bn_dims d, int64_t c, double mean, double rstd, \
		double gr, double k0, double k1)                                                                 \
	{                                                                                                        \
		for (int64_t n = 0; n < d.N; n++) {                                                              \
			int64_t base = (n * d.C + c) * d.HW;                                                     \
			for (int64_t p = 0; p < d.HW; p++)                                                       \
				dx[base + p] = (T)(gr * ((double)dy[base + p] - k0 -                             \
							 ((double)x[base + p] - mean) * rstd * k1));             \
		}                                                                                                \
	}
BN_KERNELS(float)
BN_KERNELS(double)

/* Batch mean and biased variance of channel c; with dy also sum(dy) and sum(dy (x - mean)).
** An empty batch (possible in eval mode) gives zeros. */
static void channel_sums(const tg_node *x, const tg_node *dy, bn_dims d, int64_t c, double *mean, double *var,
	double *sdy, double *sdyx)
{
	if (d.M == 0) {
		*mean = *var = *sdy = *sdyx = 0;
		return;
	}
	double K = at(x, c * d.HW), s[4], M = (double)d.M;
	if (x->dtype == TG_F32)
		sums_float(x->data, dy ? dy->data : NULL, d, c, K, s);
	else
		sums_double(x->data, dy ? dy->data : NULL, d, c, K, s);
	*mean = K + s[0] / M;
	*var = fmax(0.0, (s[1] - s[0] * (s[0] / M)) / M);
	*sdy = s[2];
	*sdyx = s[3] - (s[0] / M) * s[2];
}

/* ---------------------------------------------------------------- forward */

static tg_status check_channels(tg_graph *g, tg_node *n, int first, int count, const char *what)
{
	tg_node *x = n->src[0];
	for (int i = first; i < first + count; i++) {
		tg_node *s = n->src[i];
		if (s->shape.ndim != 1 || s->shape.d[0] != x->shape.d[1])
			return tg_op_fail(g, n, TG_ERR_SHAPE, "%s %d is %s; expected [%lld] for input %s", what, i, tg_sstr(s->shape),
				(long long)x->shape.d[1], tg_sstr(x->shape));
		if (s->dtype != x->dtype)
			return tg_op_fail(g, n, TG_ERR_DTYPE, "%s %d is %s, input is %s", what, i, tg_dtype_name(s->dtype),
				tg_dtype_name(x->dtype));
	}
	return TG_OK;
}

static tg_status check_input(tg_graph *g, tg_node *n, bool training)
{
	tg_node *x = n->src[0];
	if (x->shape.ndim != 4)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s: expected [N,C,H,W]", tg_sstr(x->shape));
	if (x->dtype != TG_F32 && x->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "input is %s; expected f32 or f64", tg_dtype_name(x->dtype));
	const int64_t *d = x->shape.d; /* N*H*W < 2, without overflow for empty tensors' huge dims */
	if (training && (d[0] == 0 || d[2] == 0 || d[3] == 0 || (d[0] == 1 && d[2] == 1 && d[3] == 1)))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s: training needs more than 1 value per channel", tg_sstr(x->shape));
	return TG_OK;
}

static tg_status batchnorm2d_infer(tg_graph *g, tg_node *n)
{
	tg_status st = check_input(g, n, n->attr.i[0] != 0);
	if (st == TG_OK)
		st = check_channels(g, n, 1, 4, "gamma/beta/running stat input");
	if (st == TG_OK && !(n->attr.f[0] >= 0 && n->attr.f[0] <= 1 && n->attr.f[1] > 0))
		return tg_op_fail(g, n, TG_ERR_ARG, "momentum %g must be in [0, 1] and eps %g > 0", n->attr.f[0], n->attr.f[1]);
	if (st == TG_OK && n->attr.i[0] && (!(n->src[3]->flags & TG_FLAG_STATE) || !(n->src[4]->flags & TG_FLAG_STATE)))
		return tg_op_fail(g, n, TG_ERR_ARG, "running statistics '%s' and '%s' must be state nodes (tg_state): training updates them",
			n->src[3]->name, n->src[4]->name);
	n->shape = n->src[0]->shape;
	n->dtype = n->src[0]->dtype;
	return st;
}

/* Training: running statistics of channel c from the batch's mean and biased variance over M values. */
static void update_running(tg_node *n, int64_t c, double mean, double var, double M)
{
	tg_node *rm = n->src[3], *rv = n->src[4];
	double mom = n->attr.f[0];
	put(rm, c, mom * mean + (1 - mom) * at(rm, c));
	put(rv, c, mom * var * M / (M - 1) + (1 - mom) * at(rv, c));
}

static void normalize(tg_node *n, int64_t c, double mean, double var)
{
	tg_node *x = n->src[0];
	bn_dims d = dims_of(x);
	double a = at(n->src[1], c) / sqrt(var + n->attr.f[1]), b = at(n->src[2], c) - mean * a;
	if (x->dtype == TG_F32)
		affine_float(x->data, n->data, d, c, a, b);
	else
		affine_double(x->data, n->data, d, c, a, b);
}

static void bn_channel(void *arg, int64_t c)
{
	tg_node *n = arg;
	bn_dims d = dims_of(n->src[0]);
	double mean, var, unused[2];
	if (n->attr.i[0]) {
		channel_sums(n->src[0], NULL, d, c, &mean, &var, unused, unused + 1);
		update_running(n, c, mean, var, (double)d.M);
	} else {
		mean = at(n->src[3], c);
		var = at(n->src[4], c);
	}
	normalize(n, c, mean, var);
}

/* ---------------------------------------------------------------- statistics over processes */

/* local [C, SYNC_N]: this process's shifted sums (as sums_T) and the shift K, per channel.
** global [SYNC_N, C]: rows count, sum(x), sum(x^2), sum(dy), sum(dy x), i.e. about 0 so that
** processes with different shifts can add them (accumulated about K locally, in double), then
** summed over the processes: the forward sends the first 3 rows, grad_stats all 5. The unshifted
** form loses about eps_double * mean^2 / var relative in the variance: negligible next to the
** float32 data. */
enum { SYNC_N = 5, SYNC_FORWARD = 3 };

typedef struct sync_job {
	tg_node *n;               /* the batch-norm or grad_stats node */
	const tg_node *x, *dy;    /* dy NULL in the forward */
	int64_t C;
	double *local, *global;
} sync_job;

/* Row k of channel c of the global sums. */
static inline double gsum(const sync_job *j, int k, int64_t c) { return j->global[k * j->C + c]; }

static void sync_local(void *arg, int64_t c)
{
	sync_job *j = arg;
	bn_dims d = dims_of(j->x);
	double *l = j->local + SYNC_N * c, *s = j->global + c, M = (double)d.M;
	double K = at(j->x, c * d.HW);   /* training has d.M >= 2 */
	if (j->x->dtype == TG_F32)
		sums_float(j->x->data, j->dy ? j->dy->data : NULL, d, c, K, l);
	else
		sums_double(j->x->data, j->dy ? j->dy->data : NULL, d, c, K, l);
	l[4] = K;
	s[0] = M;
	s[d.C] = l[0] + M * K;
	s[2 * d.C] = l[1] + K * (2 * l[0] + M * K);
	if (j->dy) {
		s[3 * d.C] = l[2];
		s[4 * d.C] = l[3] + K * l[2];
	}
}

/* Fills j with every channel's sums, the global ones summed over the processes. */
static tg_status sync_sums(tg_exec *ex, tg_node *n, const tg_node *x, const tg_node *dy, sync_job *j)
{
	int64_t C = x->shape.d[1];
	double *buf = tg_exec_scratch(ex, sizeof(double) * 2 * SYNC_N * (size_t)C);
	if (!buf)
		return tg_op_fail(ex->g, n, TG_ERR_NOMEM, "out of memory for %lld channel sums", (long long)C);
	*j = (sync_job){n, x, dy, C, buf, buf + SYNC_N * C};
	tg_parallel_for(ex, C, sync_local, j);
	return tg_exec_allreduce(ex, j->global, (dy ? SYNC_N : SYNC_FORWARD) * C);
}

/* Mean and biased variance of the whole batch from a channel's global sums. */
static void sync_stats(const sync_job *j, int64_t c, double *mean, double *var)
{
	double M = gsum(j, 0, c), s1 = gsum(j, 1, c), s2 = gsum(j, 2, c);
	*mean = s1 / M;
	*var = fmax(0.0, (s2 - s1 * *mean) / M);
}

static void bn_channel_sync(void *arg, int64_t c)
{
	sync_job *j = arg;
	double mean, var;
	sync_stats(j, c, &mean, &var);
	update_running(j->n, c, mean, var, gsum(j, 0, c));
	normalize(j->n, c, mean, var);
}

static tg_status batchnorm2d_forward(tg_exec *ex, tg_node *n)
{
	if (n->attr.i[0] && tg_exec_distributed(ex)) {
		sync_job j;
		tg_status st = sync_sums(ex, n, n->src[0], NULL, &j);
		if (st == TG_OK)
			tg_parallel_for(ex, n->shape.d[1], bn_channel_sync, &j);
		return st;
	}
	tg_parallel_for(ex, n->shape.d[1], bn_channel, n);
	return TG_OK;
}

/* ---------------------------------------------------------------- backward helpers */

/* grad_stats: src x, dy [, running_mean, running_var]; attr.i[0] training, f[1] eps. */
static tg_status grad_stats_infer(tg_graph *g, tg_node *n)
{
	bool training = n->attr.i[0] != 0;
	tg_status st = check_input(g, n, training);
	if (st == TG_OK && (n->nsrc != (training ? 2 : 4)))
		return tg_op_fail(g, n, TG_ERR_ARG, "%d inputs; expected %d in %s mode", n->nsrc, training ? 2 : 4,
			training ? "training" : "eval");
	if (st == TG_OK && (!tg_shape_eq(n->src[1]->shape, n->src[0]->shape) || n->src[1]->dtype != n->src[0]->dtype))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "gradient %s %s does not match input %s %s", tg_sstr(n->src[1]->shape),
			tg_dtype_name(n->src[1]->dtype), tg_sstr(n->src[0]->shape), tg_dtype_name(n->src[0]->dtype));
	if (st == TG_OK && !training)
		st = check_channels(g, n, 2, 2, "running stat input");
	n->shape = TG_SHAPE(6, n->src[0]->shape.d[1]);
	n->dtype = TG_F64;
	return st;
}

static void grad_stats_channel(void *arg, int64_t c)
{
	tg_node *n = arg, *x = n->src[0], *dy = n->src[1];
	bn_dims d = dims_of(x);
	double mean, var, sdy, sdyx;
	channel_sums(x, dy, d, c, &mean, &var, &sdy, &sdyx);
	if (!n->attr.i[0]) { /* eval: the running statistics; sum(dy (x - m)) = sum(dy (x - mb)) + (mb - m) sum(dy) */
		double mb = mean;
		mean = at(n->src[2], c), var = at(n->src[3], c);
		sdyx += (mb - mean) * sdy;
	}
	double rstd = 1.0 / sqrt(var + n->attr.f[1]), *s = tg_f64(n);
	s[c] = mean;
	s[d.C + c] = rstd;
	s[2 * d.C + c] = sdy;
	s[3 * d.C + c] = sdyx * rstd;
	s[4 * d.C + c] = n->attr.i[0] ? s[2 * d.C + c] / (double)d.M : 0;
	s[5 * d.C + c] = n->attr.i[0] ? s[3 * d.C + c] / (double)d.M : 0;
}

/* Training over processes: statistics and means over the whole batch, dbeta/dgamma of this slice. */
static void grad_stats_channel_sync(void *arg, int64_t c)
{
	sync_job *j = arg;
	int64_t C = j->x->shape.d[1];
	const double *l = j->local + SYNC_N * c;
	double M = gsum(j, 0, c), sdy = gsum(j, 3, c), mean, var;
	sync_stats(j, c, &mean, &var);
	double rstd = 1.0 / sqrt(var + j->n->attr.f[1]), *s = tg_f64(j->n);
	s[c] = mean;
	s[C + c] = rstd;
	s[2 * C + c] = l[2];
	s[3 * C + c] = (l[3] + (l[4] - mean) * l[2]) * rstd;   /* sum(dy (x - K)) + (K - mean) sum(dy) */
	s[4 * C + c] = sdy / M;
	s[5 * C + c] = (gsum(j, 4, c) - mean * sdy) * rstd / M;
}

static tg_status grad_stats_forward(tg_exec *ex, tg_node *n)
{
	if (n->attr.i[0] && tg_exec_distributed(ex)) {
		sync_job j;
		tg_status st = sync_sums(ex, n, n->src[0], n->src[1], &j);
		if (st == TG_OK)
			tg_parallel_for(ex, n->shape.d[1], grad_stats_channel_sync, &j);
		return st;
	}
	tg_parallel_for(ex, n->shape.d[1], grad_stats_channel, n);
	return TG_OK;
}

const tg_op tg_op_batchnorm2d_grad_stats = {"batchnorm2d_grad_stats", grad_stats_infer, grad_stats_forward, NULL,
	TG_OP_NONDIFF, NULL};

/* backward_data: src x, gamma, dy, stats [6, C] (f64); attr.i[0] training. */
static tg_status backward_data_infer(tg_graph *g, tg_node *n)
{
	tg_node *x = n->src[0], *s = n->src[3];
	tg_status st = check_input(g, n, false);
	if (st == TG_OK)
		st = check_channels(g, n, 1, 1, "gamma input");
	if (st == TG_OK && (!tg_shape_eq(n->src[2]->shape, x->shape) || n->src[2]->dtype != x->dtype))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "gradient %s %s does not match input %s %s", tg_sstr(n->src[2]->shape),
			tg_dtype_name(n->src[2]->dtype), tg_sstr(x->shape), tg_dtype_name(x->dtype));
	if (st == TG_OK && (s->dtype != TG_F64 || s->shape.ndim != 2 || s->shape.d[0] != 6 || s->shape.d[1] != x->shape.d[1]))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "stats %s %s; expected f64 [6,%lld]", tg_sstr(s->shape),
			tg_dtype_name(s->dtype), (long long)x->shape.d[1]);
	n->shape = x->shape;
	n->dtype = x->dtype;
	return st;
}

static void backward_data_channel(void *arg, int64_t c)
{
	tg_node *n = arg, *x = n->src[0], *dy = n->src[2];
	bn_dims d = dims_of(x);
	const double *s = tg_f64(n->src[3]);
	double mean = s[c], rstd = s[d.C + c], gr = at(n->src[1], c) * rstd;
	/* dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)); eval: gamma rstd dy (the means are 0) */
	double k0 = s[4 * d.C + c], k1 = s[5 * d.C + c];
	if (x->dtype == TG_F32)
		dx_float(x->data, dy->data, n->data, d, c, mean, rstd, gr, k0, k1);
	else
		dx_double(x->data, dy->data, n->data, d, c, mean, rstd, gr, k0, k1);
}

static tg_status backward_data_forward(tg_exec *ex, tg_node *n)
{
	tg_parallel_for(ex, n->shape.d[1], backward_data_channel, n);
	return TG_OK;
}

const tg_op tg_op_batchnorm2d_backward_data = {"batchnorm2d_backward_data", backward_data_infer,
	backward_data_forward, NULL, TG_OP_NONDIFF, NULL};

/* Row r of the stats [4, C] as a [C] vector. */
static tg_node *stats_row(tg_graph *g, tg_node *s, int r)
{
	return tg_reshape(g, tg_slice(g, s, 0, r, r + 1), TG_SHAPE(s->shape.d[1]));
}

static tg_status batchnorm2d_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_attrs at = n->attr;
	bool training = n->attr.i[0] != 0;
	tg_node *src[4] = {n->src[0], gout, n->src[3], n->src[4]};
	tg_node *s = tg_node_new(g, &tg_op_batchnorm2d_grad_stats, training ? 2 : 4, src, &at);
	if (!s)
		return tg_graph_status(g);
	if (need[0])
		gin[0] = tg_node_new(g, &tg_op_batchnorm2d_backward_data, 4, (tg_node *[]){n->src[0], n->src[1], gout, s}, &at);
	if (need[1])
		gin[1] = stats_row(g, s, 3);
	if (need[2])
		gin[2] = stats_row(g, s, 2);
	return TG_OK;
}

const tg_op tg_op_batchnorm2d = {"batchnorm2d", batchnorm2d_infer, batchnorm2d_forward, batchnorm2d_backward, 0, NULL};

tg_node *tg_batchnorm2d(tg_graph *g, tg_node *x, tg_node *gamma, tg_node *beta, tg_node *running_mean,
	tg_node *running_var, bool training, double momentum, double eps)
{
	if (!g || !x || !gamma || !beta || !running_mean || !running_var)
		return NULL;
	tg_attrs at = {0};
	at.i[0] = training;
	at.f[0] = momentum;
	at.f[1] = eps;
	return tg_node_new(g, &tg_op_batchnorm2d, 5, (tg_node *[]){x, gamma, beta, running_mean, running_var}, &at);
}
