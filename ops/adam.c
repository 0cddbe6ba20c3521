/*
** adam.c: the Adam optimizer as graph nodes: torch 1.13's single-tensor Adam (no weight decay, no
** amsgrad), as PhiFlow's adam() uses it, step count t from 1:
**   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
**   p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
** evaluated in the parameter's dtype in torch's operation order (f32 parameters: f32 arithmetic,
** bias corrections in double as Python computes them). Three ops, all TG_OP_UPDATE (they write
** persistent nodes in place) and not differentiable:
**   adam_tick (step): adds 1 to the f64 state "adam.step"; its value is the new t;
**   adam_update (p, grad, m, v, tick): one parameter; attr.f[0..3] = lr, beta1, beta2, eps;
**   adam_step (updates...): depends on every update; computing it takes one step.
** The updates are created after every reader of the parameters, and the scheduler runs nodes in
** creation order, so the forward and backward of a run see the weights before the step.
*/
#include "../engine/internal.h"
#include <math.h>

#define ADAM_CHUNK 16384 /* elements per parallel chunk: fixed, so results do not depend on threads */

tg_adam_config tg_adam_default(void) { return (tg_adam_config){1e-3, 0.9, 0.999, 1e-7}; }

static tg_status scalar_infer(tg_graph *g, tg_node *n)
{
	(void)g;
	n->shape = TG_SCALAR_SHAPE;
	n->dtype = TG_F64;
	return TG_OK;
}

/* ---------------------------------------------------------------- tick */

static tg_status tick_infer(tg_graph *g, tg_node *n)
{
	tg_node *s = n->src[0];
	if (s->dtype != TG_F64 || s->shape.ndim != 0 || !(s->flags & TG_FLAG_STATE))
		return tg_op_fail(g, n, TG_ERR_ARG, "step '%s' is %s %s; expected an f64 scalar state node", s->name,
			tg_dtype_name(s->dtype), tg_sstr(s->shape));
	return scalar_infer(g, n);
}

static tg_status tick_forward(tg_exec *ex, tg_node *n)
{
	(void)ex;
	tg_f64(n)[0] = tg_f64(n->src[0])[0] += 1.0;
	return TG_OK;
}

const tg_op tg_op_adam_tick = {"adam_tick", tick_infer, tick_forward, NULL, TG_OP_NONDIFF | TG_OP_UPDATE, NULL};

/* ---------------------------------------------------------------- update */

static tg_status update_infer(tg_graph *g, tg_node *n)
{
	tg_node *p = n->src[0];
	if (p->dtype != TG_F32 && p->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "parameter '%s' is %s; expected f32 or f64", p->name, tg_dtype_name(p->dtype));
	for (int i = 1; i < 4; i++)
		if (!tg_shape_eq(n->src[i]->shape, p->shape) || n->src[i]->dtype != p->dtype)
			return tg_op_fail(g, n, TG_ERR_SHAPE, "input %d '%s' is %s %s; parameter '%s' is %s %s", i, n->src[i]->name,
				tg_dtype_name(n->src[i]->dtype), tg_sstr(n->src[i]->shape), p->name, tg_dtype_name(p->dtype),
				tg_sstr(p->shape));
	if (!(p->flags & TG_FLAGS_PERSISTENT) || !(n->src[2]->flags & TG_FLAG_STATE) || !(n->src[3]->flags & TG_FLAG_STATE))
		return tg_op_fail(g, n, TG_ERR_ARG, "parameter '%s' must be persistent and its moments state nodes", p->name);
	return scalar_infer(g, n);
}

typedef struct update_job {
	tg_node *n;
	int64_t ne;
	double step_size, bc2_sqrt; /* lr / (1 - b1^t), sqrt(1 - b2^t) */
} update_job;

#define UPDATE_LOOP(T, SQRT)                                                                               \
	static void update_##T(const update_job *j, int64_t lo, int64_t hi)                             \
	{                                                                                               \
		tg_node *n = j->n;                                                                      \
		T *p = n->src[0]->data, *m = n->src[2]->data, *v = n->src[3]->data;                     \
		const T *g = n->src[1]->data;                                                           \
		T b1 = (T)n->attr.f[1], b2 = (T)n->attr.f[2], a1 = (T)(1 - n->attr.f[1]);               \
		T a2 = (T)(1 - n->attr.f[2]), eps = (T)n->attr.f[3], bc2 = (T)j->bc2_sqrt;              \
		T step = (T)-j->step_size;                                                              \
		for (int64_t i = lo; i < hi; i++) {                                                     \
			m[i] = m[i] * b1 + a1 * g[i];                                                   \
			v[i] = v[i] * b2 + a2 * g[i] * g[i];                                            \
			p[i] = p[i] + step * m[i] / (SQRT(v[i]) / bc2 + eps);                           \
		}                                                                                       \
	}
UPDATE_LOOP(float, sqrtf)
UPDATE_LOOP(double, sqrt)

static void update_chunk(void *arg, int64_t c)
{
	update_job *j = arg;
	int64_t lo = c * ADAM_CHUNK, hi = lo + ADAM_CHUNK < j->ne ? lo + ADAM_CHUNK : j->ne;
	if (j->n->src[0]->dtype == TG_F32)
		update_float(j, lo, hi);
	else
		update_double(j, lo, hi);
}

static tg_status update_forward(tg_exec *ex, tg_node *n)
{
	double t = tg_f64(n->src[4])[0];
	update_job j = {n, tg_numel(n->src[0]), n->attr.f[0] / (1 - pow(n->attr.f[1], t)), sqrt(1 - pow(n->attr.f[2], t))};
	tg_parallel_for(ex, (j.ne + ADAM_CHUNK - 1) / ADAM_CHUNK, update_chunk, &j);
	tg_f64(n)[0] = 0;
	return TG_OK;
}

const tg_op tg_op_adam_update = {"adam_update", update_infer, update_forward, NULL, TG_OP_NONDIFF | TG_OP_UPDATE, NULL};

/* ---------------------------------------------------------------- step (group) */

static tg_status step_forward(tg_exec *ex, tg_node *n)
{
	(void)ex;
	tg_f64(n)[0] = 0;
	return TG_OK;
}

const tg_op tg_op_adam_step = {"adam_step", scalar_infer, step_forward, NULL, TG_OP_NONDIFF | TG_OP_UPDATE, NULL};

/* ---------------------------------------------------------------- builder */

tg_node *tg_adam(tg_graph *g, const tg_adam_config *cfg, int nparams, tg_node *const *params)
{
	if (!g || tg_graph_status(g) != TG_OK)
		return NULL;
	tg_adam_config c = cfg ? *cfg : tg_adam_default();
	if (nparams < 1 || !params)
		return tg_graph_fail(g, TG_ERR_ARG, "adam: no parameters given (%d)", nparams), NULL;
	if (!(c.lr > 0 && c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1 && c.eps > 0))
		return tg_graph_fail(g, TG_ERR_ARG, "adam: bad config lr %g, betas (%g, %g), eps %g", c.lr, c.beta1, c.beta2, c.eps),
		       NULL;
	for (int i = 0; i < nparams; i++)
		if (!params[i] || !params[i]->grad)
			return tg_graph_fail(g, TG_ERR_ARG, "adam: parameter %d '%s' has no gradient (call tg_backward first)", i,
				       params[i] ? params[i]->name : "(NULL)"),
			       NULL;
	tg_node **ups = tg_malloc(sizeof(tg_node *) * (size_t)nparams);
	if (!ups)
		return tg_graph_fail(g, TG_ERR_NOMEM, "adam: out of memory"), NULL;
	tg_scope_push(g, "adam");
	tg_node *step = tg_set_flags(tg_state(g, "adam.step", TG_F64, TG_SCALAR_SHAPE), TG_FLAG_OPTIM);
	tg_node *tick = step ? tg_set_flags(tg_node_new(g, &tg_op_adam_tick, 1, &step, NULL), TG_FLAG_OPTIM) : NULL;
	tg_attrs at = {0};
	at.f[0] = c.lr, at.f[1] = c.beta1, at.f[2] = c.beta2, at.f[3] = c.eps;
	for (int i = 0; i < nparams && tick; i++) {
		tg_node *p = params[i];
		char name[TG_NAME_LEN + 8];
		snprintf(name, sizeof name, "%s.adam_m", p->name);
		tg_node *m = tg_set_flags(tg_state(g, name, p->dtype, p->shape), TG_FLAG_OPTIM);
		snprintf(name, sizeof name, "%s.adam_v", p->name);
		tg_node *v = tg_set_flags(tg_state(g, name, p->dtype, p->shape), TG_FLAG_OPTIM);
		ups[i] = m && v ? tg_node_new(g, &tg_op_adam_update, 5, (tg_node *[]){p, p->grad, m, v, tick}, &at) : NULL;
		if (!tg_set_name(tg_set_flags(ups[i], TG_FLAG_OPTIM), "adam %s", p->name))
			tick = NULL;
	}
	tg_node *out = tick ? tg_set_flags(tg_node_new(g, &tg_op_adam_step, nparams, ups, NULL), TG_FLAG_OPTIM) : NULL;
	tg_set_name(out, "adam");
	tg_scope_pop(g);
	tg_free(ups, sizeof(tg_node *) * (size_t)nparams);
	return out;
}
