/*
** batchnorm2d.c: batch norm over N, H, W per channel (PyTorch's BatchNorm2d, affine), alone or
** fused with the ReLU that follows it: y = gamma (x - mean) / sqrt(var + eps) + beta, or max(y, 0),
** for x [N,C,H,W] (f32 or f64), gamma, beta [C]. A node has one output, so the statistics are a
** node of their own, which the normalisation and the backward both read:
**   s = batchnorm2d_stats(x, running_mean, running_var) -> f64 [3, C], rows mean, rstd =
**     1/sqrt(var + eps) and count (values per channel behind them); attr.i[0] training, f[0]
**     momentum, f[1] eps.
**     training: mean and biased variance of the batch (one shifted pass in double), and the running
**       statistics (state nodes [C]) are updated in place: r = (1 - momentum) r + momentum stat,
**       with the unbiased variance (PyTorch's rule). They are written, never read, in this mode, so
**       repeated forwards (finite differences) see the same function.
**     eval: the running statistics; nothing is written.
**   y = batchnorm2d(x, gamma, beta, s) or batchnorm2d_relu(x, gamma, beta, s): as PyTorch's CPU
**     kernel, pre = x a + b with a = gamma rstd, b = beta - mean a (double), rounded to x's dtype;
**     the relu form writes pre > 0 ? pre : 0.
** Backward, with M values per channel, xhat = (x - mean) rstd and dyM = dy, or for the relu form dy
** where pre > 0 (0 where pre <= 0: PyTorch's relu gradient at 0). The mask is recomputed from x, s,
** gamma and beta by the same operations as the forward (so it is exactly y > 0) instead of reading y:
**   g = batchnorm2d_grad_stats(x, dy, gamma, beta, s) -> f64 [4, C], rows sum(dyM) (= dbeta),
**     sum(dyM xhat) (= dgamma), mean(dyM), mean(dyM xhat) (the last two 0 in eval);
**   dx = batchnorm2d_backward_data(dy, x, gamma, beta, s, g)
**      = gamma rstd (dyM - mean(dyM) - xhat mean(dyM xhat)) (llm.c's compact form; eval: gamma rstd dyM).
** Memory passes over [N,C,H,W]: forward 2 reads + 1 write, backward 4 reads + 1 write, dx taking
** over dy's buffer when dy dies there (a separate relu and relu_grad would add 3 reads + 2 writes).
** Every pass splits the tensor into fixed chunks and sums in a fixed order: the same bits for any
** thread count, and for the AVX-512 and portable kernels.
** The memory passes are in ops/batchnorm2d_kernels.c (shared declarations: ops/batchnorm2d.h).
** Data parallelism (a graph with an allreduce hook, training mode): the stats node sums count,
** sum(x), sum(x^2) over the processes and grad_stats sum(dyM), sum(dyM (x - mean)) (one
** tg_exec_allreduce per node), so the statistics, mean(dyM) and mean(dyM xhat) are those of the whole
** batch, as one process would compute them; the dbeta/dgamma rows stay this process's sums, which
** the gradient allreduce adds.
*/
#include "batchnorm2d.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

enum { ST_MEAN, ST_RSTD, ST_COUNT, ST_ROWS };        /* rows of the stats node */
enum { GS_DBETA, GS_DGAMMA, GS_K0, GS_K1, GS_ROWS }; /* rows of grad_stats */

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

/* Row r of an f64 [rows, C] node. */
static inline const double *row(const tg_node *s, int r) { return (const double *)s->data + r * s->shape.d[1]; }

extern const tg_op tg_op_batchnorm2d_relu;
static bool fused_relu(const tg_node *n) { return n->op == &tg_op_batchnorm2d_relu; }

/* a and b of channel c, the same for the forward and for the backward's relu mask. */
bn_coef bn_affine_coef(const tg_node *gamma, const tg_node *beta, const tg_node *s, int64_t c)
{
	bn_coef k = {0};
	k.mean = row(s, ST_MEAN)[c];
	k.a = at(gamma, c) * row(s, ST_RSTD)[c];
	k.b = at(beta, c) - k.mean * k.a;
	return k;
}

/* ---------------------------------------------------------------- checks */

static tg_status bn_fail(tg_graph *g, const char *op, tg_status s, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static tg_status bn_fail(tg_graph *g, const char *op, tg_status s, const char *fmt, ...)
{
	char buf[TG_MSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return tg_graph_fail(g, s, "%s: %s", op, buf);
}

static tg_status check_nsrc(tg_graph *g, const tg_node *n, int want, const char *names)
{
	if (n->nsrc != want)
		return tg_op_fail(g, n, TG_ERR_ARG, "%d inputs; expected %d (%s)", n->nsrc, want, names);
	return TG_OK;
}

/* x [N,C,H,W] f32/f64; training needs N*H*W >= 2 (tested without overflow for empty tensors' huge dims). */
static tg_status check_x(tg_graph *g, const char *op, const tg_node *x, bool training)
{
	if (x->shape.ndim != 4)
		return bn_fail(g, op, TG_ERR_SHAPE, "input %s: expected [N,C,H,W]", tg_sstr(x->shape));
	if (x->dtype != TG_F32 && x->dtype != TG_F64)
		return bn_fail(g, op, TG_ERR_DTYPE, "input is %s; expected f32 or f64", tg_dtype_name(x->dtype));
	const int64_t *d = x->shape.d;
	if (training && (d[0] == 0 || d[2] == 0 || d[3] == 0 || (d[0] == 1 && d[2] == 1 && d[3] == 1)))
		return bn_fail(g, op, TG_ERR_SHAPE, "input %s: training needs more than 1 value per channel", tg_sstr(x->shape));
	return TG_OK;
}

/* v: one value per channel of x, in x's dtype. */
static tg_status check_vec(tg_graph *g, const char *op, const tg_node *x, const tg_node *v, const char *what)
{
	if (v->shape.ndim != 1 || v->shape.d[0] != x->shape.d[1])
		return bn_fail(g, op, TG_ERR_SHAPE, "%s '%s' is %s; expected [%lld], one per channel of input %s", what, v->name,
			tg_sstr(v->shape), (long long)x->shape.d[1], tg_sstr(x->shape));
	if (v->dtype != x->dtype)
		return bn_fail(g, op, TG_ERR_DTYPE, "%s '%s' is %s, input is %s", what, v->name, tg_dtype_name(v->dtype),
			tg_dtype_name(x->dtype));
	return TG_OK;
}

/* v: the same shape and dtype as x (a gradient). */
static tg_status check_like_x(tg_graph *g, const char *op, const tg_node *x, const tg_node *v)
{
	if (!tg_shape_eq(v->shape, x->shape) || v->dtype != x->dtype)
		return bn_fail(g, op, TG_ERR_SHAPE, "gradient %s %s does not match input %s %s", tg_sstr(v->shape),
			tg_dtype_name(v->dtype), tg_sstr(x->shape), tg_dtype_name(x->dtype));
	return TG_OK;
}

/* s: f64 [rows, C], a statistics node. */
static tg_status check_rows(tg_graph *g, const char *op, const tg_node *x, const tg_node *s, int rows, const char *what)
{
	if (s->dtype != TG_F64 || s->shape.ndim != 2 || s->shape.d[0] != rows || s->shape.d[1] != x->shape.d[1])
		return bn_fail(g, op, TG_ERR_SHAPE, "%s %s %s; expected f64 [%d,%lld] for input %s", what, tg_sstr(s->shape),
			tg_dtype_name(s->dtype), rows, (long long)x->shape.d[1], tg_sstr(x->shape));
	return TG_OK;
}

/* The statistics' inputs and attributes: x, running_mean, running_var, momentum, eps, training. */
static tg_status check_stats_args(tg_graph *g, const char *op, const tg_node *x, const tg_node *rm, const tg_node *rv,
	const tg_attrs *at)
{
	bool training = at->i[0] != 0;
	tg_status st = check_x(g, op, x, training);
	if (st == TG_OK)
		st = check_vec(g, op, x, rm, "running_mean");
	if (st == TG_OK)
		st = check_vec(g, op, x, rv, "running_var");
	if (st == TG_OK && !(at->f[0] >= 0 && at->f[0] <= 1 && at->f[1] > 0))
		return bn_fail(g, op, TG_ERR_ARG, "momentum %g must be in [0, 1] and eps %g > 0", at->f[0], at->f[1]);
	if (st == TG_OK && training && (!(rm->flags & TG_FLAG_STATE) || !(rv->flags & TG_FLAG_STATE)))
		return bn_fail(g, op, TG_ERR_ARG, "running statistics '%s' and '%s' must be state nodes (tg_state): training updates them",
			rm->name, rv->name);
	return st;
}

/* ---------------------------------------------------------------- statistics */

static tg_status stats_infer(tg_graph *g, tg_node *n)
{
	tg_status st = check_nsrc(g, n, 3, "x, running_mean, running_var");
	if (st == TG_OK)
		st = check_stats_args(g, n->op->name, n->src[0], n->src[1], n->src[2], &n->attr);
	if (st == TG_OK) {
		n->shape = TG_SHAPE(ST_ROWS, n->src[0]->shape.d[1]);
		n->dtype = TG_F64;
	}
	return st;
}

/* Training: running statistics of channel c from the batch's mean and biased variance over M values. */
static void update_running(tg_node *n, int64_t c, double mean, double var, double M)
{
	tg_node *rm = n->src[1], *rv = n->src[2];
	double mom = n->attr.f[0];
	put(rm, c, mom * mean + (1 - mom) * at(rm, c));
	put(rv, c, mom * var * M / (M - 1) + (1 - mom) * at(rv, c));
}

static void put_stats(tg_node *n, int64_t c, double mean, double var, double M)
{
	double *s = tg_f64(n);
	int64_t C = n->shape.d[1];
	s[ST_MEAN * C + c] = mean;
	s[ST_RSTD * C + c] = 1.0 / sqrt(var + n->attr.f[1]);
	s[ST_COUNT * C + c] = M;
}

/* Batch mean and biased variance of channel c from its sums about K over M values. */
static void shifted_stats(const double s[2], double K, double M, double *mean, double *var)
{
	*mean = K + s[0] / M;
	*var = fmax(0.0, (s[1] - s[0] * (s[0] / M)) / M);
}

/* Data parallelism: every process's sums as rows count, sum(x), sum(x^2) of g [3, C] (about 0, so
** that processes with different shifts can add them; accumulated about K locally, in double), summed
** over the processes. The unshifted form loses about eps_double * mean^2 / var relative in the
** variance: negligible next to the float32 data. */
static tg_status sync_stats(tg_exec *ex, tg_node *n, const bn_job *j, double *g)
{
	int64_t C = j->d.C;
	double M = (double)j->d.M;
	for (int64_t c = 0; c < C; c++) {
		double l[2], K = j->k[c].K;
		bn_channel_sums(j, c, l);
		g[c] = M;
		g[C + c] = l[0] + M * K;
		g[2 * C + c] = l[1] + K * (2 * l[0] + M * K);
	}
	tg_status st = tg_exec_allreduce(ex, g, 3 * C);
	for (int64_t c = 0; c < C && st == TG_OK; c++) {
		double Mg = g[c], s1 = g[C + c], s2 = g[2 * C + c];
		double mean = s1 / Mg, var = fmax(0.0, (s2 - s1 * mean) / Mg);
		update_running(n, c, mean, var, Mg);
		put_stats(n, c, mean, var, Mg);
	}
	return st;
}

/* Training: one pass of shifted sums (K: the channel's first value; training has M >= 2). */
static tg_status stats_forward(tg_exec *ex, tg_node *n)
{
	const tg_node *x = n->src[0];
	bn_dims d = bn_dims_of(x);
	if (!n->attr.i[0]) {
		for (int64_t c = 0; c < d.C; c++)
			put_stats(n, c, at(n->src[1], c), at(n->src[2], c), (double)d.M);
		return TG_OK;
	}
	bn_job j;
	double *g;
	if (!bn_job_init(&j, ex, n, x, NULL, NULL, false, true, 3 * d.C, &g))
		return TG_ERR_NOMEM;
	for (int64_t c = 0; c < d.C; c++)
		j.k[c] = (bn_coef){.K = at(x, c * d.HW)};
	bn_job_run(ex, &j, bn_stat_chunk);
	if (tg_exec_distributed(ex))
		return sync_stats(ex, n, &j, g);
	for (int64_t c = 0; c < d.C; c++) {
		double s[2], mean, var;
		bn_channel_sums(&j, c, s);
		shifted_stats(s, j.k[c].K, (double)d.M, &mean, &var);
		update_running(n, c, mean, var, (double)d.M);
		put_stats(n, c, mean, var, (double)d.M);
	}
	return TG_OK;
}

const tg_op tg_op_batchnorm2d_stats = {"batchnorm2d_stats", stats_infer, stats_forward, NULL, TG_OP_NONDIFF, NULL};

/* ---------------------------------------------------------------- normalisation */

tg_status bn_check_affine(tg_graph *g, const tg_node *n, const tg_node *x, const tg_node *gamma, const tg_node *beta,
	const tg_node *s)
{
	const char *op = n->op->name;
	tg_status st = check_x(g, op, x, false);
	if (st == TG_OK)
		st = check_vec(g, op, x, gamma, "gamma");
	if (st == TG_OK)
		st = check_vec(g, op, x, beta, "beta");
	if (st == TG_OK)
		st = check_rows(g, op, x, s, ST_ROWS, "stats");
	return st;
}

/* batchnorm2d and batchnorm2d_relu: src x, gamma, beta, stats [3, C]. */
static tg_status bn_infer(tg_graph *g, tg_node *n)
{
	tg_status st = check_nsrc(g, n, 4, "x, gamma, beta, stats");
	if (st == TG_OK)
		st = bn_check_affine(g, n, n->src[0], n->src[1], n->src[2], n->src[3]);
	if (st == TG_OK) {
		n->shape = n->src[0]->shape;
		n->dtype = n->src[0]->dtype;
	}
	return st;
}

/* A pass with the channel constants a, b and mean of every channel. */
static bool affine_job(bn_job *j, tg_exec *ex, const tg_node *n, const tg_node *x, const tg_node *dy, tg_node *out,
	bool relu, bool sums, const tg_node *gamma, const tg_node *beta, const tg_node *s)
{
	double *unused;
	if (!bn_job_init(j, ex, n, x, dy, out, relu, sums, 0, &unused))
		return false;
	for (int64_t c = 0; c < j->d.C; c++)
		j->k[c] = bn_affine_coef(gamma, beta, s, c);
	return true;
}

static tg_status bn_forward(tg_exec *ex, tg_node *n)
{
	bn_job j;
	if (!affine_job(&j, ex, n, n->src[0], NULL, n, fused_relu(n), false, n->src[1], n->src[2], n->src[3]))
		return TG_ERR_NOMEM;
	bn_job_run(ex, &j, bn_norm_chunk);
	return TG_OK;
}

/* ---------------------------------------------------------------- backward */

/* The inputs grad_stats and backward_data share: x and dy (src[ix], src[1 - ix]), gamma, beta, stats. */
static tg_status check_grad_inputs(tg_graph *g, const tg_node *n, int ix)
{
	const char *op = n->op->name;
	const tg_node *x = n->src[ix];
	tg_status st = check_x(g, op, x, false);
	if (st == TG_OK)
		st = check_like_x(g, op, x, n->src[1 - ix]);
	if (st == TG_OK)
		st = check_vec(g, op, x, n->src[2], "gamma");
	if (st == TG_OK)
		st = check_vec(g, op, x, n->src[3], "beta");
	if (st == TG_OK)
		st = check_rows(g, op, x, n->src[4], ST_ROWS, "stats");
	return st;
}

/* grad_stats: src x, dy, gamma, beta, stats; attr.i[0] training, i[1] relu. */
static tg_status grad_stats_infer(tg_graph *g, tg_node *n)
{
	tg_status st = check_nsrc(g, n, 5, "x, dy, gamma, beta, stats");
	if (st == TG_OK)
		st = check_grad_inputs(g, n, 0);
	if (st == TG_OK) {
		n->shape = TG_SHAPE(GS_ROWS, n->src[0]->shape.d[1]);
		n->dtype = TG_F64;
	}
	return st;
}

/* Rows dbeta = sum(dyM), dgamma = rstd sum(dyM (x - mean)); training: k0, k1 from the sums over
** every process (through the allreduce hook when there is one) and the count of the stats. */
static tg_status grad_stats_forward(tg_exec *ex, tg_node *n)
{
	const tg_node *x = n->src[0], *s = n->src[4];
	bn_dims d = bn_dims_of(x);
	double *out = tg_f64(n);
	bn_job j;
	if (!affine_job(&j, ex, n, x, n->src[1], NULL, n->attr.i[1] != 0, true, n->src[2], n->src[3], s))
		return TG_ERR_NOMEM;
	bn_job_run(ex, &j, bn_grad_chunk);
	double *g = out + GS_K0 * d.C;   /* rows k0, k1 hold the sums to reduce first */
	for (int64_t c = 0; c < d.C; c++) {
		double l[2];
		bn_channel_sums(&j, c, l);
		out[GS_DBETA * d.C + c] = g[c] = l[0];
		out[GS_DGAMMA * d.C + c] = l[1] * row(s, ST_RSTD)[c];
		g[d.C + c] = l[1];
	}
	bool training = n->attr.i[0] != 0;
	tg_status st = training && tg_exec_distributed(ex) ? tg_exec_allreduce(ex, g, 2 * d.C) : TG_OK;
	for (int64_t c = 0; c < d.C && st == TG_OK; c++) {
		double M = row(s, ST_COUNT)[c];
		g[c] = training ? g[c] / M : 0;
		g[d.C + c] = training ? g[d.C + c] * row(s, ST_RSTD)[c] / M : 0;
	}
	return st;
}

const tg_op tg_op_batchnorm2d_grad_stats = {"batchnorm2d_grad_stats", grad_stats_infer, grad_stats_forward, NULL,
	TG_OP_NONDIFF, NULL};

/* backward_data: src dy, x, gamma, beta, stats, grad_stats; attr.i[1] relu. dy first: dx takes over
** its buffer where dy dies here (TG_OP_INPLACE), so the stores hit lines just read. */
static tg_status backward_data_infer(tg_graph *g, tg_node *n)
{
	tg_status st = check_nsrc(g, n, 6, "dy, x, gamma, beta, stats, grad_stats");
	if (st == TG_OK)
		st = check_grad_inputs(g, n, 1);
	if (st == TG_OK)
		st = check_rows(g, n->op->name, n->src[1], n->src[5], GS_ROWS, "grad_stats");
	if (st == TG_OK) {
		n->shape = n->src[1]->shape;
		n->dtype = n->src[1]->dtype;
	}
	return st;
}

static tg_status backward_data_forward(tg_exec *ex, tg_node *n)
{
	const tg_node *gamma = n->src[2], *s = n->src[4], *gs = n->src[5];
	bn_job j;
	if (!affine_job(&j, ex, n, n->src[1], n->src[0], n, n->attr.i[1] != 0, false, gamma, n->src[3], s))
		return TG_ERR_NOMEM;
	for (int64_t c = 0; c < j.d.C; c++) {
		double rstd = row(s, ST_RSTD)[c];
		j.k[c].gr = at(gamma, c) * rstd;
		j.k[c].k0 = row(gs, GS_K0)[c];
		j.k[c].c1 = rstd * row(gs, GS_K1)[c];
	}
	bn_job_run(ex, &j, bn_dx_chunk);
	return TG_OK;
}

const tg_op tg_op_batchnorm2d_backward_data = {"batchnorm2d_backward_data", backward_data_infer,
	backward_data_forward, NULL, TG_OP_NONDIFF | TG_OP_INPLACE, NULL};

/* Row r of an f64 [rows, C] node as a [C] vector. */
static tg_node *row_node(tg_graph *g, tg_node *s, int r)
{
	return tg_reshape(g, tg_slice(g, s, 0, r, r + 1), TG_SHAPE(s->shape.d[1]));
}

tg_status bn_backward_nodes(tg_graph *g, tg_node *x, tg_node *dy, tg_node *gamma, tg_node *beta, tg_node *s,
	bool training, bool relu, const bool *need, tg_node **gin)
{
	tg_attrs at = {0};
	at.i[0] = training;
	at.i[1] = relu;
	tg_node *src[6] = {x, dy, gamma, beta, s, NULL};
	tg_node *gs = src[5] = tg_node_new(g, &tg_op_batchnorm2d_grad_stats, 5, src, &at);
	if (!gs)
		return tg_graph_status(g);
	src[0] = dy, src[1] = x;
	if (need[0])
		gin[0] = tg_node_new(g, &tg_op_batchnorm2d_backward_data, 6, src, &at);
	if (need[1])
		gin[1] = row_node(g, gs, GS_DGAMMA);
	if (need[2])
		gin[2] = row_node(g, gs, GS_DBETA);
	return TG_OK;
}

/* The gradient of x includes the path through the statistics, so the stats input gets none. */
static tg_status bn_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	return bn_backward_nodes(g, n->src[0], gout, n->src[1], n->src[2], n->src[3], n->attr.i[0] != 0, fused_relu(n),
		need, gin);
}

const tg_op tg_op_batchnorm2d = {"batchnorm2d", bn_infer, bn_forward, bn_backward, 0, NULL};
const tg_op tg_op_batchnorm2d_relu = {"batchnorm2d_relu", bn_infer, bn_forward, bn_backward, 0, NULL};

/* The statistics node, then the normalisation. The inputs are checked first, so that errors name
** the public op rather than batchnorm2d_stats. */
static tg_node *build(tg_graph *g, const tg_op *op, tg_node *x, tg_node *gamma, tg_node *beta, tg_node *running_mean,
	tg_node *running_var, bool training, double momentum, double eps)
{
	if (!g || !x || !gamma || !beta || !running_mean || !running_var || tg_graph_status(g) != TG_OK)
		return NULL;
	tg_attrs at = {0};
	at.i[0] = training;
	at.f[0] = momentum;
	at.f[1] = eps;
	tg_node *in[5] = {x, gamma, beta, running_mean, running_var};
	for (int i = 0; i < 5; i++)
		if (in[i]->graph != g)
			return bn_fail(g, op->name, TG_ERR_ARG, "input %d belongs to another graph", i), NULL;
	tg_status st = check_stats_args(g, op->name, x, running_mean, running_var, &at);
	if (st == TG_OK)
		st = check_vec(g, op->name, x, gamma, "gamma");
	if (st == TG_OK)
		st = check_vec(g, op->name, x, beta, "beta");
	if (st != TG_OK)
		return NULL;
	tg_node *s = tg_node_new(g, &tg_op_batchnorm2d_stats, 3, (tg_node *[]){x, running_mean, running_var}, &at);
	return s ? tg_node_new(g, op, 4, (tg_node *[]){x, gamma, beta, s}, &at) : NULL;
}

tg_node *tg_batchnorm2d(tg_graph *g, tg_node *x, tg_node *gamma, tg_node *beta, tg_node *running_mean,
	tg_node *running_var, bool training, double momentum, double eps)
{
	return build(g, &tg_op_batchnorm2d, x, gamma, beta, running_mean, running_var, training, momentum, eps);
}

tg_node *tg_batchnorm2d_relu(tg_graph *g, tg_node *x, tg_node *gamma, tg_node *beta, tg_node *running_mean,
	tg_node *running_var, bool training, double momentum, double eps)
{
	return build(g, &tg_op_batchnorm2d_relu, x, gamma, beta, running_mean, running_var, training, momentum, eps);
}
