/*
** test_dist.c: data parallelism without MPI. P threads play P processes, each with its own graph,
** joined by an in-process allreduce hook (barrier, sum in rank order, barrier: the same result on
** every "rank", as MPI_Allreduce gives). Checked: the fused allreduce op, synchronised batch norm
** (forward, running statistics, backward) against one graph on the whole batch, and the heat
** trainer on 2 ranks against 1. tests/test_mpi.c runs the real thing under mpirun.
*/
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "tgraph.h"

#define MAXP 4

typedef struct comm {
	int size;
	pthread_barrier_t bar;
	double *slot[MAXP];
	int64_t n[MAXP];
} comm;

typedef struct rank_ctx {
	comm *c;
	int rank;
	void *arg;              /* the test's per-rank data */
	tg_status st;
} rank_ctx;

static tg_status fake_allreduce(double *buf, int64_t n, void *ud)
{
	rank_ctx *r = ud;
	comm *c = r->c;
	c->slot[r->rank] = buf;
	c->n[r->rank] = n;
	pthread_barrier_wait(&c->bar);   /* every rank's buffer is published */
	double *sum = calloc((size_t)n, sizeof(double));
	tg_status st = TG_OK;
	for (int k = 0; k < c->size; k++)
		if (c->n[k] != n)
			st = tg_set_error(TG_ERR_ARG, "rank %d reduces %lld values, rank %d %lld", r->rank, (long long)n, k,
				(long long)c->n[k]);
	for (int k = 0; k < c->size && st == TG_OK; k++)
		for (int64_t i = 0; i < n; i++)
			sum[i] += c->slot[k][i];
	pthread_barrier_wait(&c->bar);   /* every rank has read every buffer */
	if (st == TG_OK)
		memcpy(buf, sum, sizeof(double) * (size_t)n);
	free(sum);
	return st;
}

/* Runs fn(ctx) on P threads, ctx[r].arg = args[r]. */
static void run_ranks(int P, void *(*fn)(void *), void **args, rank_ctx *ctx)
{
	comm c = {.size = P};
	pthread_barrier_init(&c.bar, NULL, (unsigned)P);
	pthread_t th[MAXP];
	for (int r = 0; r < P; r++) {
		ctx[r] = (rank_ctx){&c, r, args[r], TG_OK};
		cr_assert_eq(pthread_create(&th[r], NULL, fn, &ctx[r]), 0);
	}
	for (int r = 0; r < P; r++)
		pthread_join(th[r], NULL);
	pthread_barrier_destroy(&c.bar);
}

static double lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*s >> 11) / 9007199254740992.0;
}

/* ---------------------------------------------------------------- the fused allreduce op */

typedef struct ar_rank { tg_graph *g; tg_node *out[2]; } ar_rank;

static void *compute_allreduce(void *arg)
{
	rank_ctx *r = arg;
	ar_rank *a = r->arg;
	tg_graph_set_allreduce(a->g, fake_allreduce, r);
	r->st = tg_graph_compute(a->g, 2, a->out);
	return NULL;
}

Test(dist, allreduce_op_sums_tensors)
{
	enum { P = 3 };
	ar_rank a[P];
	void *args[P];
	for (int r = 0; r < P; r++) {
		a[r].g = tg_graph_new();
		tg_node *in[2] = {tg_input(a[r].g, "a", TG_F32, TG_SHAPE(2, 3)), tg_input(a[r].g, "b", TG_F32, TG_SHAPE(4))};
		for (int i = 0; i < 6; i++)
			tg_f32(in[0])[i] = (float)(10 * r + i);
		for (int i = 0; i < 4; i++)
			tg_f32(in[1])[i] = (float)(r - i) * 0.5f;
		cr_assert_eq(tg_allreduce(a[r].g, 2, in, a[r].out), TG_OK, "%s", tg_graph_error(a[r].g));
		cr_assert(tg_shape_eq(a[r].out[0]->shape, TG_SHAPE(2, 3)) && tg_shape_eq(a[r].out[1]->shape, TG_SHAPE(4)));
		args[r] = &a[r];
	}
	rank_ctx ctx[P];
	run_ranks(P, compute_allreduce, args, ctx);
	for (int r = 0; r < P; r++) {
		cr_assert_eq(ctx[r].st, TG_OK, "rank %d: %s", r, tg_graph_error(a[r].g));
		for (int i = 0; i < 6; i++)
			cr_expect_eq(tg_f32(a[r].out[0])[i], (float)(30 + 3 * i), "rank %d a[%d]", r, i);
		for (int i = 0; i < 4; i++)
			cr_expect_eq(tg_f32(a[r].out[1])[i], (float)(3 - 3 * i) * 0.5f, "rank %d b[%d]", r, i);
	}
	/* without a hook: one process, the values themselves */
	tg_graph_set_allreduce(a[0].g, NULL, NULL);
	cr_assert_eq(tg_graph_compute(a[0].g, 2, a[0].out), TG_OK);
	for (int i = 0; i < 6; i++)
		cr_expect_eq(tg_f32(a[0].out[0])[i], (float)i);
	for (int r = 0; r < P; r++)
		tg_graph_free(a[r].g);

	/* mixed dtypes are refused, naming the input */
	tg_graph *g = tg_graph_new();
	tg_node *in[2] = {tg_input(g, "p", TG_F32, TG_SHAPE(2)), tg_input(g, "q", TG_F64, TG_SHAPE(2))}, *out[2];
	cr_expect_neq(tg_allreduce(g, 2, in, out), TG_OK);
	cr_expect(strstr(tg_graph_error(g), "allreduce") && strstr(tg_graph_error(g), "'q'"), "%s", tg_graph_error(g));
	tg_graph_free(g);
}

/* ---------------------------------------------------------------- synchronised batch norm */

enum { BN_N = 4, BN_C = 3, BN_H = 5, BN_W = 6, BN_HW = BN_H * BN_W };

typedef struct bn_graph {
	tg_graph *g;
	tg_node *x, *gamma, *beta, *rm, *rv, *y, *targets[4];
} bn_graph;

/* Batch norm (training) on items [first, first + n) of fixed data, loss <u, y> (a random
** projection: the sum of a normalised output has a zero gradient). */
static void bn_build(bn_graph *b, int first, int n)
{
	uint64_t s = 42;
	double x[BN_N * BN_C * BN_HW], u[BN_N * BN_C * BN_HW];
	for (int i = 0; i < BN_N * BN_C * BN_HW; i++) {
		x[i] = 3 + 2 * lcg(&s) + (i / BN_HW % BN_C);   /* a mean far from 0 exercises the shifted sums */
		u[i] = lcg(&s) - 0.5;
	}
	tg_graph *g = b->g = tg_graph_new();
	size_t item = sizeof(double) * BN_C * BN_HW;
	b->x = tg_input(g, "x", TG_F64, TG_SHAPE(n, BN_C, BN_H, BN_W));
	tg_set_data(b->x, x + first * BN_C * BN_HW, item * (size_t)n);
	tg_node *un = tg_const(g, "u", TG_F64, b->x->shape, u + first * BN_C * BN_HW);
	b->gamma = tg_param(g, "gamma", TG_F64, TG_SHAPE(BN_C));
	b->beta = tg_param(g, "beta", TG_F64, TG_SHAPE(BN_C));
	tg_set_data(b->gamma, (double[]){1.5, 0.5, -1}, sizeof(double) * BN_C);
	tg_set_data(b->beta, (double[]){0.25, -1, 2}, sizeof(double) * BN_C);
	b->rm = tg_state(g, "rm", TG_F64, TG_SHAPE(BN_C));
	b->rv = tg_state(g, "rv", TG_F64, TG_SHAPE(BN_C));
	tg_set_data(b->rv, (double[]){1, 1, 1}, sizeof(double) * BN_C);
	b->y = tg_batchnorm2d(g, b->x, b->gamma, b->beta, b->rm, b->rv, true, 0.1, 1e-5);
	tg_node *loss = tg_sum_all(g, tg_mul(g, un, b->y));
	tg_node *wrt[3] = {b->x, b->gamma, b->beta};
	cr_assert_eq(tg_backward(g, loss, NULL, 3, wrt), TG_OK, "%s", tg_graph_error(g));
	b->targets[0] = b->y;
	b->targets[1] = b->x->grad;
	b->targets[2] = b->gamma->grad;
	b->targets[3] = b->beta->grad;
}

static void *compute_bn(void *arg)
{
	rank_ctx *r = arg;
	bn_graph *b = r->arg;
	tg_graph_set_allreduce(b->g, fake_allreduce, r);
	r->st = tg_graph_compute(b->g, 4, b->targets);
	return NULL;
}

static void expect_close(double got, double want, double tol, const char *what, int i)
{
	cr_expect(fabs(got - want) <= tol * fmax(1, fabs(want)), "%s[%d] = %.17g, whole batch %.17g", what, i, got, want);
}

Test(dist, batchnorm_matches_whole_batch)
{
	enum { P = 2, NL = BN_N / P };
	bn_graph whole, part[P];
	bn_build(&whole, 0, BN_N);
	cr_assert_eq(tg_graph_compute(whole.g, 4, whole.targets), TG_OK, "%s", tg_graph_error(whole.g));
	void *args[P];
	for (int r = 0; r < P; r++) {
		bn_build(&part[r], r * NL, NL);
		args[r] = &part[r];
	}
	rank_ctx ctx[P];
	run_ranks(P, compute_bn, args, ctx);
	/* f64 throughout: only the order of the sums differs */
	const double tol = 1e-12;
	int64_t items = NL * BN_C * BN_HW;
	for (int r = 0; r < P; r++) {
		cr_assert_eq(ctx[r].st, TG_OK, "rank %d: %s", r, tg_graph_error(part[r].g));
		for (int64_t i = 0; i < items; i++) {
			expect_close(tg_f64(part[r].y)[i], tg_f64(whole.y)[r * items + i], tol, "y", (int)(r * items + i));
			expect_close(tg_f64(part[r].x->grad)[i], tg_f64(whole.x->grad)[r * items + i], tol, "dx", (int)(r * items + i));
		}
		/* running statistics: the whole batch's mean and unbiased variance, on every rank */
		for (int c = 0; c < BN_C; c++) {
			expect_close(tg_f64(part[r].rm)[c], tg_f64(whole.rm)[c], tol, "running_mean", c);
			expect_close(tg_f64(part[r].rv)[c], tg_f64(whole.rv)[c], tol, "running_var", c);
		}
	}
	/* dgamma, dbeta are each rank's share: the gradient allreduce adds them */
	for (int c = 0; c < BN_C; c++) {
		expect_close(tg_f64(part[0].gamma->grad)[c] + tg_f64(part[1].gamma->grad)[c], tg_f64(whole.gamma->grad)[c], tol,
			"dgamma", c);
		expect_close(tg_f64(part[0].beta->grad)[c] + tg_f64(part[1].beta->grad)[c], tg_f64(whole.beta->grad)[c], tol,
			"dbeta", c);
	}
	tg_graph_free(whole.g);
	for (int r = 0; r < P; r++)
		tg_graph_free(part[r].g);
}

/* ---------------------------------------------------------------- the heat trainer */

enum { TR_STEPS = 3 };

typedef struct trainer_rank {
	tg_heat_config cfg;
	tg_heat_losses l[TR_STEPS];
	float *params;       /* every parameter after the run, concatenated */
	bool *no_effect;     /* per value: a bias the output does not depend on (see below) */
	int64_t nparams;
} trainer_rank;

static tg_status train_and_keep(rank_ctx *r, trainer_rank *t)
{
	if (r) {
		t->cfg.allreduce = fake_allreduce;
		t->cfg.allreduce_ud = r;
	}
	tg_heat_trainer *tr;
	tg_status st = tg_heat_trainer_new(&t->cfg, &tr);
	for (int s = 0; s < TR_STEPS && st == TG_OK; s++)
		st = tg_heat_trainer_step(tr, &t->l[s]);
	if (st != TG_OK)
		return st;
	int np;
	tg_node **p = tg_graph_params(tg_heat_trainer_graph(tr), &np);
	t->nparams = 0;
	for (int i = 0; i < np; i++)
		t->nparams += tg_numel(p[i]);
	t->params = malloc(sizeof(float) * (size_t)t->nparams);
	t->no_effect = malloc(sizeof(bool) * (size_t)t->nparams);
	for (int i = 0, off = 0; i < np; off += (int)tg_numel(p[i]), i++) {
		memcpy(t->params + off, p[i]->data, tg_nbytes(p[i]));
		/* DoubleConv = conv (0), bn, relu, conv (3), bn, relu; outc is the last conv */
		bool b = strstr(p[i]->name, "double_conv.0.bias") || strstr(p[i]->name, "double_conv.3.bias") ||
			!strcmp(p[i]->name, "outc.bias");
		for (int64_t k = 0; k < tg_numel(p[i]); k++)
			t->no_effect[off + k] = b;
	}
	tg_free(p, sizeof(tg_node *) * (size_t)np);
	tg_heat_trainer_free(tr);
	return TG_OK;
}

static void *train_rank(void *arg)
{
	rank_ctx *r = arg;
	r->st = train_and_keep(r, r->arg);
	return NULL;
}

/* Runs TR_STEPS steps on one process and on two; compares the losses of the first `compared`
** steps and, if asked, the weights after the run. */
static void trainer_two_ranks(tg_heat_method m, int compared, bool weights)
{
	enum { P = 2 };
	trainer_rank one = {.cfg = tg_heat_default()}, part[P];
	one.cfg.method = m;
	one.cfg.batch = 8;
	one.cfg.nx = one.cfg.ny = 16;
	cr_assert_eq(train_and_keep(NULL, &one), TG_OK, "%s", tg_last_error());
	void *args[P];
	for (int r = 0; r < P; r++) {
		part[r] = (trainer_rank){.cfg = one.cfg};
		part[r].cfg.rank = r;
		part[r].cfg.nranks = P;
		args[r] = &part[r];
	}
	rank_ctx ctx[P];
	run_ranks(P, train_rank, args, ctx);
	for (int r = 0; r < P; r++)
		cr_assert_eq(ctx[r].st, TG_OK, "rank %d failed", r);
	/* The ranks hold the same weights bit for bit (they apply the same summed gradients) and
	** report the same losses. Against one process, float32 rounding differs: conv weight
	** gradients are float32 sums over the batch, here two half-batch sums added once, ~1e-7
	** relative. Measured: losses agree to < 1e-7 relative (GD, 5 steps); per-rank batch-norm
	** statistics would give ~2e-2 and an unsummed gradient another update: 1e-5 separates them. */
	cr_assert_eq(part[0].nparams, one.nparams);
	cr_expect_eq(memcmp(part[0].params, part[1].params, sizeof(float) * (size_t)one.nparams), 0,
		"the ranks' weights diverged");
	for (int s = 0; s < TR_STEPS; s++) {
		cr_expect_eq(part[0].l[s].x_loss, part[1].l[s].x_loss);
		cr_expect_eq(part[0].l[s].y_loss, part[1].l[s].y_loss);
		if (s < compared) {
			expect_close(part[0].l[s].x_loss, one.l[s].x_loss, 1e-5, "x_loss", s);
			expect_close(part[0].l[s].y_loss, one.l[s].y_loss, 1e-5, "y_loss", s);
		}
	}
	/* Weights: a conv bias followed by batch norm, and outc's bias (the mean shift of the
	** prediction removes a constant), have gradients that are 0 up to rounding, and Adam scales
	** that noise up to steps of up to lr whatever its size: those biases differ by O(lr)
	** between any two summation orders, without effect on the output. The others move by
	** ~lr * 1e-6 per step. */
	double worst = 0;
	for (int64_t i = 0; i < one.nparams && weights; i++)
		if (!one.no_effect[i])
			worst = fmax(worst, fabs((double)part[0].params[i] - one.params[i]));
	cr_expect(worst < 1e-5, "weights differ by up to %g from one process's", worst);
	free(one.params);
	free(one.no_effect);
	for (int r = 0; r < P; r++) {
		free(part[r].params);
		free(part[r].no_effect);
	}
}

Test(dist, gd_trainer_two_ranks_match_one) { trainer_two_ranks(TG_HEAT_GD, TR_STEPS, true); }

/* SIP's update is not continuous in the prediction: inv_diffuse's damping switches a frequency's
** kernel from 1 to exp(0.36 log_k) (log_k up to 88) where the significance p crosses 0.68, so
** rounding-level differences in the prediction can change an update at O(1). The losses of steps
** 0 and 1 (before any update, and after the first) are compared; later ones may part (measured
** at 16x16, batch 16: 6e-9 at step 1, 2e-4 at step 2), as they would between any two summation
** orders. The ranks still agree with each other bit for bit. */
Test(dist, sip_trainer_two_ranks_match_one) { trainer_two_ranks(TG_HEAT_SIP, 2, false); }

Test(dist, trainer_rejects_uneven_split)
{
	tg_heat_config c = tg_heat_default();
	c.batch = 5;
	c.nx = c.ny = 16;
	c.rank = 1;
	c.nranks = 2;
	c.allreduce = fake_allreduce;
	tg_heat_trainer *t = NULL;
	cr_expect_eq(tg_heat_trainer_new(&c, &t), TG_ERR_ARG);
	cr_expect(strstr(tg_last_error(), "batch of 5 does not split evenly over 2 processes"), "%s", tg_last_error());
	c.batch = 4;
	c.allreduce = NULL;
	cr_expect_eq(tg_heat_trainer_new(&c, &t), TG_ERR_ARG);
	cr_expect(strstr(tg_last_error(), "without an allreduce"), "%s", tg_last_error());
	cr_expect_null(t);
}
