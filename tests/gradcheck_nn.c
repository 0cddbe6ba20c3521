/*
** gradcheck_nn.c: gradient-check cases of the neural-network ops (conv2d, pooling, upsampling,
** batch norm, batch norm + relu, batch norm + relu + conv). Random inputs make max-pool ties (a kink) practically impossible.
*/
#include "gradcheck_cases.h"

#define F64 TG_F64

static tg_node *nn_in(tg_graph *g, const char *name, tg_shape s, double lo, double hi, uint64_t seed)
{
	return gc_input(g, name, F64, s, lo, hi, 1000 + seed);
}

/* Rectangular kernel, bias, padding 1: [2,3,5,4] * [4,3,3,2] -> [2,4,5,5]. */
static tg_node *case_conv2d(tg_graph *g, tg_node **xs, int *nx)
{
	xs[0] = nn_in(g, "x", TG_SHAPE(2, 3, 5, 4), -1, 1, 1);
	xs[1] = nn_in(g, "w", TG_SHAPE(4, 3, 3, 2), -1, 1, 2);
	xs[2] = nn_in(g, "b", TG_SHAPE(4), -1, 1, 3);
	*nx = 3;
	return tg_conv2d(g, xs[0], xs[1], xs[2], 1);
}

/* Odd sizes: the last row and column are dropped and get no gradient. */
static tg_node *case_maxpool2d(tg_graph *g, tg_node **xs, int *nx)
{
	xs[0] = nn_in(g, "x", TG_SHAPE(2, 3, 5, 6), -1, 1, 4);
	*nx = 1;
	return tg_maxpool2d(g, xs[0]);
}

static tg_node *case_upsample2x(tg_graph *g, tg_node **xs, int *nx)
{
	xs[0] = nn_in(g, "x", TG_SHAPE(2, 2, 3, 4), -1, 1, 5);
	*nx = 1;
	return tg_upsample2x(g, xs[0]);
}

/* Training mode (batch statistics; the running statistics are written, never read) plus eval
** mode on running statistics em, ev away from 0 / 1, sharing gamma and beta; inputs from seeds
** seed..seed+3, beta in [-beta_max, beta_max]. */
static tg_node *bn_case(tg_graph *g, tg_node **xs, int *nx, bool relu, uint64_t seed, double beta_max,
	const double em_ev[4])
{
	xs[0] = nn_in(g, "x", TG_SHAPE(3, 2, 3, 2), -1, 2, seed);
	xs[1] = nn_in(g, "gamma", TG_SHAPE(2), 0.5, 1.5, seed + 1);
	xs[2] = nn_in(g, "beta", TG_SHAPE(2), -beta_max, beta_max, seed + 2);
	xs[3] = nn_in(g, "x_eval", TG_SHAPE(3, 2, 3, 2), -1, 2, seed + 3);
	*nx = 4;
	tg_node *rm = tg_state(g, "rm", F64, TG_SHAPE(2)), *rv = tg_state(g, "rv", F64, TG_SHAPE(2));
	tg_node *em = tg_state(g, "em", F64, TG_SHAPE(2)), *ev = tg_state(g, "ev", F64, TG_SHAPE(2));
	if (!rm || !rv || !em || !ev)
		return NULL;
	tg_f64(rv)[0] = tg_f64(rv)[1] = 1;
	tg_f64(em)[0] = em_ev[0], tg_f64(em)[1] = em_ev[1], tg_f64(ev)[0] = em_ev[2], tg_f64(ev)[1] = em_ev[3];
	tg_node *(*bn)(tg_graph *, tg_node *, tg_node *, tg_node *, tg_node *, tg_node *, bool, double, double) =
		relu ? tg_batchnorm2d_relu : tg_batchnorm2d;
	tg_node *train = bn(g, xs[0], xs[1], xs[2], rm, rv, true, 0.1, 1e-5);
	tg_node *eval = bn(g, xs[3], xs[1], xs[2], em, ev, false, 0.1, 1e-5);
	return tg_add(g, train, eval);
}

static tg_node *case_batchnorm2d(tg_graph *g, tg_node **xs, int *nx)
{
	return bn_case(g, xs, nx, false, 6, 1, (const double[]){0.1, -0.3, 1.5, 0.7});
}

/* The fused relu form; beta spreads the pre-activations over both signs (none within the
** finite-difference step of the kink at 0 for these seeds). */
static tg_node *case_batchnorm2d_relu(tg_graph *g, tg_node **xs, int *nx)
{
	return bn_case(g, xs, nx, true, 10, 0.5, (const double[]){0.4, 0.6, 1.5, 0.7});
}

/* The fused batch norm + relu + conv: training mode (pad 1, bias) plus eval mode on running
** statistics (no bias), sharing gamma, beta and w; x's gradient goes through the statistics. */
static tg_node *case_conv2d_bnrelu(tg_graph *g, tg_node **xs, int *nx)
{
	xs[0] = nn_in(g, "x", TG_SHAPE(2, 2, 4, 3), -1, 2, 20);
	xs[1] = nn_in(g, "gamma", TG_SHAPE(2), 0.5, 1.5, 21);
	xs[2] = nn_in(g, "beta", TG_SHAPE(2), -0.5, 0.5, 22);
	xs[3] = nn_in(g, "w", TG_SHAPE(3, 2, 3, 3), -1, 1, 23);
	xs[4] = nn_in(g, "b", TG_SHAPE(3), -1, 1, 24);
	xs[5] = nn_in(g, "x_eval", TG_SHAPE(2, 2, 4, 3), -1, 2, 25);
	*nx = 6;
	tg_node *rm = tg_state(g, "rm", F64, TG_SHAPE(2)), *rv = tg_state(g, "rv", F64, TG_SHAPE(2));
	tg_node *em = tg_state(g, "em", F64, TG_SHAPE(2)), *ev = tg_state(g, "ev", F64, TG_SHAPE(2));
	if (!rm || !rv || !em || !ev)
		return NULL;
	tg_f64(rv)[0] = tg_f64(rv)[1] = 1;
	tg_f64(em)[0] = 0.4, tg_f64(em)[1] = 0.6, tg_f64(ev)[0] = 1.5, tg_f64(ev)[1] = 0.7;
	tg_node *train = tg_batchnorm2d_relu(g, xs[0], xs[1], xs[2], rm, rv, true, 0.1, 1e-5);
	tg_node *eval = tg_batchnorm2d_relu(g, xs[5], xs[1], xs[2], em, ev, false, 0.1, 1e-5);
	return tg_add(g, tg_conv2d_bnrelu(g, train, xs[3], xs[4], 1), tg_conv2d_bnrelu(g, eval, xs[3], NULL, 1));
}

const gc_case gc_nn_cases[] = {
	{"conv2d", case_conv2d, {0, 0, 0, 0}},
	{"maxpool2d", case_maxpool2d, {0, 0, 0, 0}},
	{"upsample2x", case_upsample2x, {0, 0, 0, 0}},
	{"batchnorm2d", case_batchnorm2d, {0, 0, 0, 0}},
	{"batchnorm2d_relu", case_batchnorm2d_relu, {0, 0, 0, 0}},
	{"conv2d_bnrelu", case_conv2d_bnrelu, {0, 0, 0, 0}},
	{NULL, NULL, {0, 0, 0, 0}},
};
