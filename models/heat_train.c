/*
** heat_train.c: the seed's heat-inversion training (GD vs SIP) as one graph per method, and a
** trainer that feeds it batches from tg_heat_generate. One graph compute of [losses, x, Adam step]
** gives the losses of the weights before the update, since updates run last (creation order).
*/
#include "internal.h"
#include <math.h>
#include <string.h>
#include <time.h>
#include <zip.h>

/* heat.config: format, method, steps done, seed, batch, nx, ny, amount, lr, run length, run methods
** (f64 [11]). Doubles hold the integers exactly (seed < 2^53). */
enum {
	META_FORMAT, META_METHOD, META_STEPS, META_SEED, META_BATCH, META_NX, META_NY, META_AMOUNT, META_LR, META_RUN_STEPS,
	META_RUN_METHODS, META_N
};
#define META_NAME "heat.config"
#define META_VERSION 1

const char *tg_heat_method_name(tg_heat_method m) { return m == TG_HEAT_SIP ? "sip" : "gd"; }

tg_heat_config tg_heat_default(void)
{
	return (tg_heat_config){.method = TG_HEAT_SIP, .steps = 50, .batch = 128, .nx = 64, .ny = 64, .amount = 8, .lr = 1e-3,
		.seed = 0, .threads = 1};
}

static tg_status check_config(const tg_heat_config *c)
{
	if (!c || (c->method != TG_HEAT_GD && c->method != TG_HEAT_SIP) || c->steps < 0 || c->batch <= 0 || c->nx <= 0 || c->ny <= 0 ||
		c->nx % 8 || c->ny % 8 || !(c->amount >= 0) || !isfinite(c->amount) || !(c->lr > 0) || !isfinite(c->lr) ||
		c->seed >= (UINT64_C(1) << 53) || c->threads <= 0 || c->run_methods > 3)
		return tg_set_error(TG_ERR_ARG, "heat trainer: bad config (method %d, steps %d, batch %d, grid %lldx%lld (multiples of 8), "
			"amount %g (>= 0), lr %g (> 0), seed %llu (< 2^53), threads %d)", c ? (int)c->method : -1, c ? c->steps : 0,
			c ? c->batch : 0,
			c ? (long long)c->nx : 0, c ? (long long)c->ny : 0, c ? c->amount : 0, c ? c->lr : 0,
			c ? (unsigned long long)c->seed : 0, c ? c->threads : 0);
	if (c->nranks > 1 && (c->rank < 0 || c->rank >= c->nranks || !c->allreduce))
		return tg_set_error(TG_ERR_ARG, "heat trainer: rank %d of %d processes%s", c->rank, c->nranks,
			c->allreduce ? "" : " without an allreduce function");
	if (c->nranks > 1 && c->batch % c->nranks)
		return tg_set_error(TG_ERR_ARG, "heat trainer: the batch of %d does not split evenly over %d processes "
			"(use a batch that is a multiple of %d)", c->batch, c->nranks, c->nranks);
	return TG_OK;
}

static bool distributed(const tg_heat_config *c) { return c->nranks > 1; }
/* This process's examples of each batch: [first, first + local_batch). */
static int local_batch(const tg_heat_config *c) { return distributed(c) ? c->batch / c->nranks : c->batch; }
static int64_t first_example(const tg_heat_config *c) { return distributed(c) ? (int64_t)c->rank * local_batch(c) : 0; }

/* Gradients summed over the processes in one fused allreduce; each parameter's ->grad becomes
** the summed one, which is the gradient of the loss summed over the whole batch, for Adam. */
static tg_status allreduce_grads(tg_graph *g, int np, tg_node **params)
{
	tg_node **in = tg_malloc(sizeof(tg_node *) * 2 * (size_t)np);
	if (!in)
		return tg_graph_fail(g, TG_ERR_NOMEM, "tg_heat_build_graph: out of memory");
	for (int i = 0; i < np; i++)
		in[i] = params[i]->grad;
	tg_scope_push(g, "allreduce");
	tg_status st = tg_allreduce(g, np, in, in + np);
	tg_scope_pop(g);
	for (int i = 0; i < np && st == TG_OK; i++)
		params[i]->grad = in[np + i];
	tg_free(in, sizeof(tg_node *) * 2 * (size_t)np);
	return st;
}

static void meta_write(tg_node *meta, const tg_heat_config *c, int steps)
{
	double *m = tg_f64(meta);
	m[META_FORMAT] = META_VERSION;
	m[META_METHOD] = c->method;
	m[META_STEPS] = steps;
	m[META_SEED] = (double)c->seed;
	m[META_BATCH] = c->batch;
	m[META_NX] = (double)c->nx;
	m[META_NY] = (double)c->ny;
	m[META_AMOUNT] = c->amount;
	m[META_LR] = c->lr;
	m[META_RUN_STEPS] = c->steps;
	m[META_RUN_METHODS] = c->run_methods ? c->run_methods : 1u << c->method;
}

tg_status tg_heat_build_graph(tg_graph *g, const tg_heat_config *cfg, const tg_physics *phys, tg_heat_graph *out)
{
	if (!g || !phys || !out)
		return tg_set_error(TG_ERR_ARG, "tg_heat_build_graph: NULL %s", !g ? "graph" : !phys ? "physics" : "output");
	tg_status st = check_config(cfg);
	if (st != TG_OK)
		return st;
	*out = (tg_heat_graph){0};
	/* each process builds the graph of its slice; batch norm and the gradients sum over processes */
	const int64_t B = local_batch(cfg), X = cfg->nx, Y = cfg->ny;
	tg_graph_set_allreduce(g, distributed(cfg) ? cfg->allreduce : NULL, cfg->allreduce_ud);
	const int spatial[2] = {1, 2};
	out->meta = tg_state(g, META_NAME, TG_F64, TG_SHAPE(META_N));
	if (out->meta)
		meta_write(out->meta, cfg, 0);
	out->x_gt = tg_input(g, "x_gt", TG_F64, TG_SHAPE(B, X, Y));
	tg_scope_push(g, "physics");
	out->y_target = tg_set_name(tg_diffuse(g, out->x_gt, cfg->amount), "y_target");
	tg_scope_pop(g);

	/* the network runs in float32 (the seed's math.precision(32)) on [B, 1, X, Y] */
	tg_unet_config ucfg = tg_unet_default();
	ucfg.seed = cfg->seed;
	tg_node *net_in = tg_reshape(g, tg_cast(g, out->y_target, TG_F32), TG_SHAPE(B, 1, X, Y));
	tg_node *raw = tg_reshape(g, tg_unet(g, &ucfg, TG_F32, net_in), TG_SHAPE(B, X, Y));

	/* prediction += mean(x_gt) - mean(prediction), in float32; the gradient flows through
	** mean(prediction) */
	tg_scope_push(g, "loss");
	tg_node *mean_gt = tg_cast(g, tg_mean(g, out->x_gt, 2, spatial, true), TG_F32);
	tg_node *shift = tg_sub(g, mean_gt, tg_mean(g, raw, 2, spatial, true));
	tg_node *prediction = tg_set_name(tg_add(g, raw, shift), "prediction");
	out->x = tg_set_name(tg_stop_gradient(g, prediction), "x");
	out->x_loss = tg_set_flags(tg_set_name(tg_l2_loss(g, tg_sub(g, out->x_gt, out->x)), "x_loss"), TG_FLAG_LOSS);
	if (cfg->method == TG_HEAT_GD) {
		tg_node *y = tg_set_name(tg_diffuse(g, prediction, cfg->amount), "y");
		out->y_loss = tg_set_name(tg_l2_loss(g, tg_sub(g, y, out->y_target)), "y_loss");
	} else {
		/* value l2(diffuse(x) - y_target); backward -dx (f64, cast to f32 for the prediction) */
		out->y_loss = tg_sip_loss(g, phys, prediction, out->y_target);
	}
	out->loss = tg_set_flags(out->y_loss, TG_FLAG_LOSS);
	tg_scope_pop(g);
	if (tg_graph_status(g) != TG_OK)
		return tg_graph_status(g);

	/* update_weights: backward of loss.sum (seed ones), then Adam over every parameter */
	st = tg_backward(g, out->loss, NULL, 0, NULL);
	if (st != TG_OK)
		return st;
	int np = 0;
	tg_node **params = tg_graph_params(g, &np);
	if (!params)
		return tg_graph_fail(g, TG_ERR_NOMEM, "tg_heat_build_graph: out of memory");
	if (distributed(cfg) && (st = allreduce_grads(g, np, params)) != TG_OK) {
		tg_free(params, sizeof(tg_node *) * (size_t)np);
		return st;
	}
	tg_adam_config acfg = tg_adam_default();
	acfg.lr = cfg->lr;
	out->update = tg_adam(g, &acfg, np, params);
	tg_free(params, sizeof(tg_node *) * (size_t)np);
	return tg_graph_status(g);
}

/* ---------------------------------------------------------------- trainer */

struct tg_heat_trainer {
	tg_heat_config cfg;
	tg_physics phys;          /* referenced by the SIP node: lives as long as the graph */
	tg_graph *g;
	tg_heat_graph n;
	int steps_done;
	bool have_sample;         /* x_gt and x hold a computed batch */
};

tg_status tg_heat_trainer_new(const tg_heat_config *cfg, tg_heat_trainer **out)
{
	if (!out)
		return tg_set_error(TG_ERR_ARG, "tg_heat_trainer_new: NULL output");
	*out = NULL;
	tg_status st = check_config(cfg);
	if (st != TG_OK)
		return st;
	tg_heat_trainer *t = tg_calloc(1, sizeof *t);
	if (!t || !(t->g = tg_graph_new())) {
		tg_free(t, sizeof *t);
		return tg_set_error(TG_ERR_NOMEM, "tg_heat_trainer_new: out of memory");
	}
	t->cfg = *cfg;
	t->phys = tg_diffusion_physics(cfg->amount, TG_SEED_REL_UNCERTAINTY);
	tg_graph_set_threads(t->g, cfg->threads);
	st = tg_heat_build_graph(t->g, &t->cfg, &t->phys, &t->n);
	if (st != TG_OK) {
		st = tg_set_error(st, "building the %s training graph: %s", tg_heat_method_name(cfg->method),
			tg_graph_status(t->g) != TG_OK ? tg_graph_error(t->g) : tg_last_error());
		tg_heat_trainer_free(t);
		return st;
	}
	*out = t;
	return TG_OK;
}

void tg_heat_trainer_free(tg_heat_trainer *t)
{
	if (!t)
		return;
	tg_graph_free(t->g);
	tg_free(t, sizeof *t);
}

const tg_heat_config *tg_heat_trainer_config(const tg_heat_trainer *t) { return t ? &t->cfg : NULL; }
tg_graph *tg_heat_trainer_graph(tg_heat_trainer *t) { return t ? t->g : NULL; }
int tg_heat_trainer_steps_done(const tg_heat_trainer *t) { return t ? t->steps_done : 0; }

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Computes the targets on the batch in x_gt and fills the batch-mean losses. */
static tg_status run_batch(tg_heat_trainer *t, bool update, tg_heat_losses *out)
{
	tg_node *targets[4] = {t->n.x_loss, t->n.y_loss, t->n.x, t->n.update};
	tg_status st = tg_graph_compute(t->g, update ? 4 : 3, targets);
	if (st != TG_OK)
		return tg_set_error(st, "heat %s step %d: %s", tg_heat_method_name(t->cfg.method), t->steps_done,
			tg_graph_status(t->g) != TG_OK ? tg_graph_error(t->g) : tg_last_error());
	t->have_sample = true;
	double sum[2] = {0, 0};   /* x, y */
	for (int b = 0; b < local_batch(&t->cfg); b++) {
		sum[0] += tg_f64(t->n.x_loss)[b];
		sum[1] += tg_f64(t->n.y_loss)[b];
	}
	/* every process reports the means over the whole batch */
	if (distributed(&t->cfg) && (st = t->cfg.allreduce(sum, 2, t->cfg.allreduce_ud)) != TG_OK)
		return tg_set_error(st, "heat %s step %d: summing the losses over processes: %s", tg_heat_method_name(t->cfg.method),
			t->steps_done, tg_last_error());
	out->step = t->steps_done;
	out->x_loss = sum[0] / t->cfg.batch;
	out->y_loss = sum[1] / t->cfg.batch;
	return TG_OK;
}

tg_status tg_heat_trainer_step(tg_heat_trainer *t, tg_heat_losses *out)
{
	if (!t || !out)
		return tg_set_error(TG_ERR_ARG, "tg_heat_trainer_step: NULL %s", t ? "output" : "trainer");
	double t0 = now_seconds();
	/* batch number = steps done: the data of a step does not depend on earlier runs, so a
	** resumed trainer sees the same batches */
	tg_status st = tg_heat_generate(t->cfg.seed, (uint64_t)t->steps_done, first_example(&t->cfg), local_batch(&t->cfg),
		t->cfg.nx, t->cfg.ny, tg_f64(t->n.x_gt));
	if (st == TG_OK)
		st = run_batch(t, true, out);
	if (st != TG_OK)
		return st;
	/* the update ran: the step counts even when its losses are not finite, so a checkpoint
	** of a diverged run still pairs its weights with the right batch number */
	t->steps_done++;
	tg_f64(t->n.meta)[META_STEPS] = t->steps_done;
	out->seconds = now_seconds() - t0;
	if (!isfinite(out->x_loss) || !isfinite(out->y_loss))
		return tg_set_error(TG_ERR_NUMERIC, "heat %s step %d: non-finite loss (x %g, y %g)",
			tg_heat_method_name(t->cfg.method), out->step, out->x_loss, out->y_loss);
	return TG_OK;
}

tg_status tg_heat_trainer_run(tg_heat_trainer *t, tg_heat_callback cb, void *ud)
{
	if (!t)
		return tg_set_error(TG_ERR_ARG, "tg_heat_trainer_run: NULL trainer");
	while (t->steps_done < t->cfg.steps) {
		tg_heat_losses l;
		tg_status st = tg_heat_trainer_step(t, &l);
		if (st != TG_OK)
			return st;
		if (cb && !cb(&l, ud))
			break;
	}
	return TG_OK;
}

tg_status tg_heat_trainer_eval(tg_heat_trainer *t, const double *x_gt, tg_heat_losses *out)
{
	if (!t || !x_gt || !out)
		return tg_set_error(TG_ERR_ARG, "tg_heat_trainer_eval: NULL argument");
	double t0 = now_seconds();
	tg_status st = tg_set_data(t->n.x_gt, x_gt + first_example(&t->cfg) * t->cfg.nx * t->cfg.ny, tg_nbytes(t->n.x_gt));
	if (st == TG_OK)
		st = run_batch(t, false, out);
	out->seconds = now_seconds() - t0;
	return st;
}

tg_status tg_heat_trainer_sample(tg_heat_trainer *t, int b, double *x_gt, double *prediction)
{
	if (!t || !t->have_sample || b < 0 || b >= local_batch(&t->cfg))
		return tg_set_error(TG_ERR_ARG, "tg_heat_trainer_sample: %s", !t ? "NULL trainer"
			: !t->have_sample ? "no batch computed yet" : "item out of range");
	int64_t cells = t->cfg.nx * t->cfg.ny;
	const float *x = tg_f32(t->n.x) + b * cells;
	for (int64_t c = 0; c < cells; c++) {
		if (x_gt)
			x_gt[c] = tg_f64(t->n.x_gt)[b * cells + c];
		if (prediction)
			prediction[c] = x[c];
	}
	return TG_OK;
}

/* ---------------------------------------------------------------- checkpoints */

tg_status tg_heat_trainer_save(tg_heat_trainer *t, const char *path)
{
	if (!t)
		return tg_set_error(TG_ERR_ARG, "tg_heat_trainer_save: NULL trainer");
	return tg_checkpoint_save(t->g, path);
}

tg_status tg_heat_trainer_load(tg_heat_trainer *t, const char *path)
{
	if (!t)
		return tg_set_error(TG_ERR_ARG, "tg_heat_trainer_load: NULL trainer");
	tg_status st = tg_checkpoint_load(t->g, path);
	if (st != TG_OK)
		return st;
	double steps = tg_f64(t->n.meta)[META_STEPS];
	if (!(steps >= 0 && steps < 2147483647.0 && steps == floor(steps)))
		return tg_set_error(TG_ERR_FORMAT, "tg_heat_trainer_load '%s': bad step count %g in %s", path, steps, META_NAME);
	t->steps_done = (int)steps;
	t->have_sample = false;
	/* the trainer's own config stays (an evaluation may use another batch size) */
	meta_write(t->n.meta, &t->cfg, t->steps_done);
	return TG_OK;
}

/* Reads the heat.config member of a checkpoint without building a graph. */
static tg_status read_meta(const char *path, double *m)
{
	int zerr = 0;
	zip_t *za = zip_open(path, ZIP_RDONLY, &zerr);
	if (!za)
		return tg_set_error(TG_ERR_IO, "'%s': cannot open as a checkpoint (zip error %d)", path, zerr);
	zip_stat_t zs;
	zip_stat_init(&zs);
	tg_status st = TG_OK;
	void *buf = NULL;
	zip_file_t *zf = NULL;
	if (zip_stat(za, META_NAME ".npy", 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE) || zs.size > 4096)
		st = tg_set_error(TG_ERR_FORMAT, "'%s' has no %s member: not a checkpoint of `tgraph train`", path, META_NAME);
	else if (!(buf = tg_malloc((size_t)zs.size)) || !(zf = zip_fopen(za, META_NAME ".npy", 0)) ||
		zip_fread(zf, buf, zs.size) != (zip_int64_t)zs.size)
		st = tg_set_error(TG_ERR_FORMAT, "'%s': cannot read %s: %s", path, META_NAME, zip_strerror(za));
	if (zf)
		zip_fclose(zf);
	zip_discard(za);
	tg_dtype t;
	tg_shape s;
	void *data = NULL;
	if (st == TG_OK)
		st = tg_npy_read_mem(buf, (size_t)zs.size, &t, &s, &data);
	tg_free(buf, (size_t)zs.size);
	if (st == TG_OK && (t != TG_F64 || !tg_shape_eq(s, TG_SHAPE(META_N))))
		st = tg_set_error(TG_ERR_FORMAT, "'%s': %s is %s %s, expected f64 [%d]", path, META_NAME, tg_dtype_name(t),
			tg_sstr(s), META_N);
	if (st == TG_OK)
		memcpy(m, data, sizeof(double) * META_N);
	if (data)
		tg_free(data, (size_t)tg_shape_numel(s) * tg_dtype_size(t));
	return st;
}

tg_status tg_heat_checkpoint_info(const char *path, tg_heat_config *cfg, int *steps_done)
{
	if (!path || !cfg)
		return tg_set_error(TG_ERR_ARG, "tg_heat_checkpoint_info: NULL argument");
	double m[META_N];
	tg_status st = read_meta(path, m);
	if (st != TG_OK)
		return st;
	if (m[META_FORMAT] != META_VERSION)
		return tg_set_error(TG_ERR_FORMAT, "'%s': %s format %g, this tgraph reads %d", path, META_NAME, m[META_FORMAT],
			META_VERSION);
	tg_heat_config c = tg_heat_default();
	c.method = m[META_METHOD] == 1 ? TG_HEAT_SIP : TG_HEAT_GD;
	c.seed = (uint64_t)m[META_SEED];
	c.batch = (int)m[META_BATCH];
	c.nx = (int64_t)m[META_NX];
	c.ny = (int64_t)m[META_NY];
	c.amount = m[META_AMOUNT];
	c.lr = m[META_LR];
	c.steps = (int)fmin(fmax(m[META_RUN_STEPS], -1), 2147483647.0);
	c.run_methods = m[META_RUN_METHODS] >= 1 && m[META_RUN_METHODS] <= 3 ? (unsigned)m[META_RUN_METHODS] : 0;
	if (c.run_methods == 0 || !(c.run_methods & (1u << c.method)) ||(m[META_METHOD] != 0 && m[META_METHOD] != 1) || check_config(&c) != TG_OK || !(m[META_STEPS] >= 0) ||
		m[META_STEPS] >= 2147483647.0)
		return tg_set_error(TG_ERR_FORMAT, "'%s': %s holds an invalid config", path, META_NAME);
	*cfg = c;
	if (steps_done)
		*steps_done = (int)m[META_STEPS];
	return TG_OK;
}
