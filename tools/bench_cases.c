/*
** bench_cases.c: the graphs `tgraph bench` times, at the seed's sizes (batch 128, 64x64 grids,
** 16 channels). "fwd_bwd" cases seed the backward with a random gradient input of the output's
** shape, so they time the op and its backward nodes and nothing else (PyTorch's y.backward(g)).
*/
#include <string.h>
#include "bench.h"

#define B 128
#define C 16
#define H 64
#define W 64

/* Deterministic uniform [lo, hi) data; each node gets its own stream. Filled in slices so the
** f64 staging buffer stays small. */
static tg_status fill(tg_node *n, uint64_t stream, double lo, double hi)
{
	enum { SLICE = 1 << 16 };
	static double buf[SLICE];
	if (!n)
		return TG_ERR_ARG;
	int64_t total = tg_numel(n) * (n->dtype == TG_C128 ? 2 : 1);
	tg_rng r = {.seed = 12345, .stream = stream};
	for (int64_t i0 = 0; i0 < total; i0 += SLICE) {
		int64_t k = total - i0 < SLICE ? total - i0 : SLICE;
		tg_rng_fill_uniform(r, (uint64_t)i0, lo, hi, buf, k);
		if (n->dtype == TG_F32)
			for (int64_t i = 0; i < k; i++)
				tg_f32(n)[i0 + i] = (float)buf[i];
		else
			memcpy(tg_f64(n) + i0, buf, sizeof(double) * (size_t)k);
	}
	return TG_OK;
}

static tg_node *rand_input(tg_graph *g, const char *name, tg_dtype t, tg_shape s, uint64_t stream)
{
	tg_node *n = tg_input(g, name, t, s);
	fill(n, stream, -1.0, 1.0);
	return n;
}

static tg_status begin(bench_case *c, int threads)
{
	memset(c, 0, sizeof *c);
	c->g = tg_graph_new();
	if (!c->g)
		return tg_set_error(TG_ERR_NOMEM, "out of memory for a graph");
	tg_graph_set_threads(c->g, threads);
	return TG_OK;
}

/* Adds targets and reports a construction error (kept on the graph) through tg_last_error(). */
static tg_status finish(bench_case *c, int ntargets, tg_node *const *targets)
{
	tg_status st = tg_graph_status(c->g);
	if (st != TG_OK)
		return tg_set_error(st, "%s", tg_graph_error(c->g));
	for (int i = 0; i < ntargets; i++)
		if (!targets[i])
			return tg_set_error(TG_ERR_INTERNAL, "target %d is NULL", i);
	c->ntargets = ntargets;
	memcpy(c->targets, targets, sizeof(tg_node *) * (size_t)ntargets);
	return TG_OK;
}

/* Backward of y seeded with a random gradient; targets: y (else the planner may skip a forward
** whose value the backward does not read) and the gradients of the given nodes. */
static tg_status finish_bwd(bench_case *c, tg_node *y, int nwrt, tg_node *const *wrt)
{
	if (!y)
		return finish(c, 0, NULL);
	tg_node *seed = rand_input(c->g, "gout", y->dtype, y->shape, 99);
	tg_backward(c->g, y, seed, nwrt, wrt);
	tg_node *t[8] = {y};
	for (int i = 0; i < nwrt; i++)
		t[1 + i] = tg_grad_of(wrt[i]);
	return finish(c, 1 + nwrt, t);
}

/* ---------------------------------------------------------------- engine ops */

static tg_status b_sgemm(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *a = rand_input(c->g, "a", TG_F32, TG_SHAPE(1024, 1024), 1);
	tg_node *b = rand_input(c->g, "b", TG_F32, TG_SHAPE(1024, 1024), 2);
	tg_node *y = tg_matmul(c->g, a, b);
	return finish(c, 1, &y);
}

/* Memory-bound elementwise op at the U-Net's activation size (3 x 33.5 MB traffic). */
static tg_status b_add(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *a = rand_input(c->g, "a", TG_F32, TG_SHAPE(B, C, H, W), 1);
	tg_node *b = rand_input(c->g, "b", TG_F32, TG_SHAPE(B, C, H, W), 2);
	tg_node *y = tg_add(c->g, a, b);
	return finish(c, 1, &y);
}

static tg_status b_relu(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *x = rand_input(c->g, "x", TG_F32, TG_SHAPE(B, C, H, W), 1);
	return finish_bwd(c, tg_relu(c->g, x), 1, &x);
}

/* Per-channel reduction over N, H, W: what batch-norm statistics and bias gradients do. */
static tg_status b_sum_nhw(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *x = rand_input(c->g, "x", TG_F32, TG_SHAPE(B, C, H, W), 1);
	tg_node *y = tg_sum(c->g, x, 3, (int[]){0, 2, 3}, true);
	return finish(c, 1, &y);
}

/* 1000 chained adds of 16 floats: the scheduler's cost per node (time / 1000). */
static tg_status b_overhead(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *x = rand_input(c->g, "x", TG_F32, TG_SHAPE(16), 1);
	tg_node *one = tg_fill(c->g, TG_F32, TG_SHAPE(16), 1.0);
	for (int i = 0; i < 1000; i++)
		x = tg_add(c->g, x, one);
	return finish(c, 1, &x);
}

/* ---------------------------------------------------------------- neural-network ops, f32 */

static tg_node *rand_param(tg_graph *g, const char *name, tg_shape s, double bound, uint64_t stream)
{
	tg_node *n = tg_param(g, name, TG_F32, s);
	fill(n, stream, -bound, bound);
	return n;
}

/* conv3x3 16->16, pad 1, bias, on [128,16,64,64]; bwd as torch_bench.py: d sum(conv(x)) / d x, w, b. */
static tg_status b_conv(bench_case *c, int threads, bool bwd)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_graph *g = c->g;
	tg_node *x = rand_input(g, "x", TG_F32, TG_SHAPE(B, C, H, W), 1);
	tg_node *w = rand_param(g, "w", TG_SHAPE(C, C, 3, 3), 1.0 / 12, 2); /* 1/sqrt(fan_in 144) */
	tg_node *b = rand_param(g, "b", TG_SHAPE(C), 1.0 / 12, 3);
	tg_node *y = tg_conv2d(g, x, w, b, 1);
	if (!bwd)
		return finish(c, 1, &y);
	tg_node *loss = tg_sum_all(g, y), *wrt[3] = {x, w, b};
	if (loss)
		tg_backward(g, loss, NULL, 3, wrt);
	return finish(c, 4, (tg_node *[]){loss, tg_grad_of(x), tg_grad_of(w), tg_grad_of(b)});
}
static tg_status b_conv_fwd(bench_case *c, int threads) { return b_conv(c, threads, false); }
static tg_status b_conv_fwd_bwd(bench_case *c, int threads) { return b_conv(c, threads, true); }

static tg_status b_maxpool(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *x = rand_input(c->g, "x", TG_F32, TG_SHAPE(B, C, H, W), 1);
	return finish_bwd(c, tg_maxpool2d(c->g, x), 1, &x);
}

/* [128,16,32,32] -> [128,16,64,64], as the U-Net's up1 at full resolution. */
static tg_status b_upsample(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *x = rand_input(c->g, "x", TG_F32, TG_SHAPE(B, C, H / 2, W / 2), 1);
	return finish_bwd(c, tg_upsample2x(c->g, x), 1, &x);
}

/* Training mode (batch statistics, running statistics updated), grads of x, gamma, beta. */
static tg_status b_batchnorm(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_graph *g = c->g;
	tg_node *x = rand_input(g, "x", TG_F32, TG_SHAPE(B, C, H, W), 1);
	tg_node *gamma = rand_param(g, "gamma", TG_SHAPE(C), 1.0, 2), *beta = rand_param(g, "beta", TG_SHAPE(C), 1.0, 3);
	tg_node *rm = tg_state(g, "running_mean", TG_F32, TG_SHAPE(C));
	tg_node *rv = tg_state(g, "running_var", TG_F32, TG_SHAPE(C));
	fill(rv, 4, 1.0, 1.0); /* PyTorch's initial running variance */
	tg_node *y = tg_batchnorm2d(g, x, gamma, beta, rm, rv, true, 0.1, 1e-5);
	return finish_bwd(c, y, 3, (tg_node *[]){x, gamma, beta});
}

/* ---------------------------------------------------------------- physics, f64 [128,64,64] */

static tg_status b_rfft_roundtrip(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *x = rand_input(c->g, "x", TG_F64, TG_SHAPE(B, H, W), 1);
	tg_node *y = tg_irfft2(c->g, tg_rfft2(c->g, x), W);
	return finish(c, 1, &y);
}

static tg_status b_diffuse_fwd(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *x = rand_input(c->g, "x", TG_F64, TG_SHAPE(B, H, W), 1);
	tg_node *y = tg_diffuse(c->g, x, 8.0);
	return finish(c, 1, &y);
}

/* As torch_bench.py: loss = 0.5 * sum((diffuse(x) - t)^2), its value and d loss / dx. */
static tg_status b_diffuse_fwd_bwd(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_graph *g = c->g;
	tg_node *x = rand_input(g, "x", TG_F64, TG_SHAPE(B, H, W), 1);
	tg_node *t = rand_input(g, "t", TG_F64, TG_SHAPE(B, H, W), 2);
	tg_node *loss = tg_scale(g, tg_sum_all(g, tg_square(g, tg_sub(g, tg_diffuse(g, x, 8.0), t))), 0.5);
	if (loss)
		tg_backward(g, loss, NULL, 1, &x);
	return finish(c, 2, (tg_node *[]){loss, tg_grad_of(x)});
}

/* The SIP inverse on a residual r with the seed's uncertainty |r| * 1e-6. */
static tg_status b_inv_diffuse(bench_case *c, int threads)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_node *r = rand_input(c->g, "residual", TG_F64, TG_SHAPE(B, H, W), 1);
	tg_node *u = tg_input(c->g, "uncertainty", TG_F64, TG_SHAPE(B, H, W));
	for (int64_t i = 0; r && u && i < tg_numel(u); i++)
		tg_f64(u)[i] = (tg_f64(r)[i] < 0 ? -tg_f64(r)[i] : tg_f64(r)[i]) * TG_SEED_REL_UNCERTAINTY;
	tg_node *dx = tg_inv_diffuse(c->g, r, u, 8.0);
	return finish(c, 1, &dx);
}

/* ---------------------------------------------------------------- U-Net and training steps */

/* u_net(1, 1) on x f32 [128,1,64,64] in training mode; with `step`, as torch_bench.py: loss =
** 0.5 * sum((out - target)^2), backward to every parameter and one Adam step. */
static tg_status b_unet(bench_case *c, int threads, bool step)
{
	tg_status st = begin(c, threads);
	if (st != TG_OK)
		return st;
	tg_graph *g = c->g;
	tg_unet_config cfg = tg_unet_default();
	tg_node *x = rand_input(g, "x", TG_F32, TG_SHAPE(B, 1, H, W), 1);
	tg_node *out = tg_unet(g, &cfg, TG_F32, x);
	if (!step)
		return finish(c, 1, &out);
	tg_node *target = rand_input(g, "target", TG_F32, TG_SHAPE(B, 1, H, W), 2);
	tg_node *loss = tg_scale(g, tg_sum_all(g, tg_square(g, tg_sub(g, out, target))), 0.5);
	if (!loss || tg_backward(g, loss, NULL, 0, NULL) != TG_OK)
		return finish(c, 0, NULL);
	int np = 0;
	tg_node **params = tg_graph_params(g, &np);
	if (!params)
		return tg_set_error(TG_ERR_NOMEM, "out of memory listing parameters");
	tg_adam_config adam = tg_adam_default();
	tg_node *update = tg_adam(g, &adam, np, params);
	tg_free(params, sizeof *params * (size_t)np);
	return finish(c, 2, (tg_node *[]){loss, update});
}
static tg_status b_unet_fwd(bench_case *c, int threads) { return b_unet(c, threads, false); }
static tg_status b_unet_step(bench_case *c, int threads) { return b_unet(c, threads, true); }

static tg_status trainer_step(void *ud)
{
	tg_heat_losses l;
	return tg_heat_trainer_step(ud, &l);
}
static void trainer_free(void *ud) { tg_heat_trainer_free(ud); }

/* One step of the seed's training (data generation, U-Net, physics, backward, Adam) at its defaults. */
static tg_status b_heat_step(bench_case *c, int threads, tg_heat_method m)
{
	memset(c, 0, sizeof *c);
	tg_heat_config cfg = tg_heat_default();
	cfg.method = m;
	cfg.threads = threads;
	tg_heat_trainer *t;
	tg_status st = tg_heat_trainer_new(&cfg, &t);
	if (st != TG_OK)
		return st;
	*c = (bench_case){.g = tg_heat_trainer_graph(t), .run = trainer_step, .free_ud = trainer_free, .ud = t};
	return TG_OK;
}
static tg_status b_gd_step(bench_case *c, int threads) { return b_heat_step(c, threads, TG_HEAT_GD); }
static tg_status b_sip_step(bench_case *c, int threads) { return b_heat_step(c, threads, TG_HEAT_SIP); }

const bench_def bench_defs[] = {
	{BENCH_SGEMM_NAME, "f32 [1024,1024] x [1024,1024] (the reference GEMM rate)", b_sgemm},
	{"add_f32_b128", "a + b, f32 [128,16,64,64]", b_add},
	{"relu_fwd_bwd_b128", "relu and its backward, f32 [128,16,64,64]", b_relu},
	{"sum_nhw_f32_b128", "sum over N,H,W of f32 [128,16,64,64]", b_sum_nhw},
	{"overhead_1000_nodes", "1000 chained adds of 16 floats (ms = us per node)", b_overhead},
	{"conv2d_3x3_16_fwd_b128", "conv2d 3x3 16->16 pad 1 + bias, f32 [128,16,64,64]", b_conv_fwd},
	{"conv2d_3x3_16_fwd_bwd_b128", "the same, sum() and d/dx, dw, db (as torch_bench.py)", b_conv_fwd_bwd},
	{"maxpool2d_fwd_bwd_b128", "maxpool 2x2 and its backward, f32 [128,16,64,64]", b_maxpool},
	{"upsample2x_fwd_bwd_b128", "bilinear x2 and its backward, f32 [128,16,32,32] -> 64x64", b_upsample},
	{"batchnorm2d_fwd_bwd_b128", "batch norm (training) and d/dx, dgamma, dbeta, f32 [128,16,64,64]", b_batchnorm},
	{"rfft2_irfft2_b128_f64", "irfft2(rfft2(x)), f64 [128,64,64]", b_rfft_roundtrip},
	{"diffuse_fwd_b128_f64", "diffuse(x, 8), f64 [128,64,64]", b_diffuse_fwd},
	{"diffuse_fwd_bwd_b128_f64", "0.5*sum((diffuse(x, 8) - t)^2) and d/dx, f64 [128,64,64]", b_diffuse_fwd_bwd},
	{"inv_diffuse_b128_f64", "damped inverse diffusion of a residual, f64 [128,64,64]", b_inv_diffuse},
	{"unet_fwd_b128", "u_net(1, 1) forward (training-mode batch norm), f32 [128,1,64,64]", b_unet_fwd},
	{"unet_train_step_b128", "u_net(1, 1) fwd + bwd of 0.5*sum((out - t)^2) + Adam (as torch_bench.py)", b_unet_step},
	{"gd_step_b128", "one GD training step: data, U-Net, diffusion loss, backward, Adam", b_gd_step},
	{"sip_step_b128", "one SIP training step: data, U-Net, inverse physics, proxy loss, backward, Adam", b_sip_step},
};
const int bench_ndefs = (int)(sizeof bench_defs / sizeof bench_defs[0]);

void bench_case_free(bench_case *c)
{
	if (c->free_ud)
		c->free_ud(c->ud);
	else
		tg_graph_free(c->g);
	memset(c, 0, sizeof *c);
}
