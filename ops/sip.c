/*
** sip.c: scale-invariant physics (SIP) for the heat equation. tg_diffusion_physics fills the
** tg_physics interface: forward y = diffuse(x, amount); inverse(x, y, y*) = the seed's damped
** inv_diffuse of the residual r = y* - y with uncertainty |r| * rel_uncertainty.
** tg_sip_loss builds the SIP node with tg_custom_gradient: value l2_loss(P(x) - y*) per batch
** item [B] (f64); backward gx = -gout[b] * dx_b, the gradient of the seed's proxy loss
** l2(x - stop_gradient(x + dx)), and nothing for y*. dx is built as graph nodes (diffusion
** inverse of stop-gradient copies) so the backward shows in the DOT graph.
*/
#include "../engine/internal.h"

static tg_node *diffusion_forward(tg_graph *g, const tg_physics *p, tg_node *x) { return tg_diffuse(g, x, p->amount); }

static tg_node *diffusion_inverse(tg_graph *g, const tg_physics *p, tg_node *x, tg_node *y, tg_node *y_target)
{
	(void)x;
	tg_node *r = tg_set_name(tg_sub(g, y_target, y), "sip residual");
	/* the seed: abs(y_target - y) * 1e-6, where PhiFlow makes the 1e-6 a float32 (TG_SEED_REL_UNCERTAINTY) */
	tg_node *u = tg_set_name(tg_scale(g, tg_abs(g, r), p->rel_uncertainty), "sip uncertainty");
	return tg_set_name(tg_inv_diffuse(g, r, u, p->amount), "sip dx");
}

tg_physics tg_diffusion_physics(double amount, double rel_uncertainty)
{
	return (tg_physics){"diffusion", diffusion_forward, diffusion_inverse, amount, rel_uncertainty, NULL};
}

/* value = l2_loss(sub(y, y*)): the sub node's inputs are y and y* as the loss used them (after
** any dtype promotion). inputs = {x, y_target}. */
static tg_status sip_backward(tg_graph *g, tg_node *value, tg_node *gout, int nin, tg_node *const *inputs, const bool *need,
	tg_node **gin, void *ud)
{
	const tg_physics *p = ud;
	tg_node *x = inputs[0], *diff = value->src[0];
	(void)nin;
	gin[1] = NULL; /* y_target is data: no gradient */
	if (!need[0])
		return TG_OK;
	tg_node *xs = tg_stop_gradient(g, x), *ys = tg_stop_gradient(g, diff->src[0]), *ts = tg_stop_gradient(g, diff->src[1]);
	tg_node *dx = p->inverse(g, p, xs, ys, ts);
	tg_shape bs = x->shape;   /* gout [B] -> [B, 1, ..., 1] */
	for (int d = 1; d < bs.ndim; d++)
		bs.d[d] = 1;
	gin[0] = tg_mul(g, tg_reshape(g, tg_neg(g, gout), bs), dx);
	return gin[0] ? TG_OK : tg_graph_status(g);
}

tg_node *tg_sip_loss(tg_graph *g, const tg_physics *p, tg_node *x, tg_node *y_target)
{
	if (!g || !x || !y_target)
		return NULL;
	if (!p || !p->forward || !p->inverse)
		return tg_graph_fail(g, TG_ERR_ARG, "sip_loss: the physics needs forward and inverse functions"), NULL;
	if (x->shape.ndim < 1)
		return tg_graph_fail(g, TG_ERR_SHAPE, "sip_loss: x %s needs a batch axis", tg_sstr(x->shape)), NULL;
	tg_shape bs;
	if (!tg_shape_broadcast(x->shape, y_target->shape, &bs) || !tg_shape_eq(bs, x->shape))
		return tg_graph_fail(g, TG_ERR_SHAPE, "sip_loss: y_target %s does not broadcast to x %s", tg_sstr(y_target->shape),
			tg_sstr(x->shape)), NULL;
	tg_node *y = p->forward(g, p, x);
	tg_node *diff = tg_sub(g, y, y_target);
	if (diff && !tg_shape_eq(diff->shape, x->shape))
		return tg_graph_fail(g, TG_ERR_SHAPE, "sip_loss: P(x) - y_target is %s but x is %s; the SIP update needs them alike",
			tg_sstr(diff->shape), tg_sstr(x->shape)), NULL;
	tg_node *value = tg_l2_loss(g, diff);
	tg_node *inputs[2] = {x, y_target};
	return tg_set_name(tg_custom_gradient(g, value, 2, inputs, sip_backward, (void *)(uintptr_t)p), "sip_loss");
}
