/*
** unet.c: PhiFlow 2.1.1's u_net (phi/torch/nets.py: UNet, DoubleConv, Down, Up) built from tgraph
** ops; the structure and naming are documented at tg_unet in tgraph.h. The parameters are all
** created first, in PyTorch's registration order (inc, down1, up1, down2, up2, ..., outc), then
** the forward runs in execution order (inc, downs, ups from the deepest level, outc).
*/
#include "../engine/internal.h"
#include <math.h>
#include <stdio.h>

#define BN_EPS 1e-5     /* nn.BatchNorm2d defaults */
#define BN_MOMENTUM 0.1
/* "unet" in the high word keeps the initialisation streams apart from other users of tg_rng with
** the same seed (the heat data uses its own tag). */
#define UNET_STREAM_TAG (UINT64_C(0x756e6574) << 32)

tg_unet_config tg_unet_default(void)
{
	return (tg_unet_config){1, 1, 4, {16, 16, 16, 16}, true, true, TG_ACT_RELU, 0, true, true};
}

typedef struct conv_p { tg_node *w, *b; } conv_p;
typedef struct bn_p { tg_node *gamma, *beta, *mean, *var; } bn_p;
/* DoubleConv: Sequential(conv .0, bn .1, act .2, conv .3, bn .4, relu .5) */
typedef struct dconv_p { conv_p c0, c3; bn_p b1, b4; } dconv_p;

typedef struct builder {
	tg_graph *g;
	const tg_unet_config *cfg;
	tg_dtype t;
	uint64_t stream;   /* next tg_rng stream (after the tag): one per tensor, in creation order */
} builder;

/* A parameter of shape s with values U(-bound, bound) from its own stream (bound 0: all `fill`). */
static tg_node *param(builder *b, const char *prefix, const char *suffix, tg_shape s, double bound, double fill,
	bool state)
{
	char name[TG_NAME_LEN];
	snprintf(name, sizeof name, "%s.%s", prefix, suffix);
	tg_node *n = state ? tg_state(b->g, name, b->t, s) : tg_param(b->g, name, b->t, s);
	if (!n)
		return NULL;
	tg_rng r = {b->cfg->seed, UNET_STREAM_TAG | b->stream++};
	for (int64_t i = 0; i < tg_numel(n); i++) {
		double v = bound > 0 ? -bound + 2 * bound * tg_rng_uniform(r, (uint64_t)i) : fill;
		if (b->t == TG_F32)
			tg_f32(n)[i] = (float)v;
		else
			tg_f64(n)[i] = v;
	}
	return n;
}

/* Conv2d(cin -> cout, k x k) as PyTorch initialises it: weight and bias U(+-1/sqrt(cin k k)). */
static conv_p conv_params(builder *b, const char *prefix, int cin, int cout, int k)
{
	double bound = 1.0 / sqrt((double)cin * k * k);
	conv_p c;
	c.w = param(b, prefix, "weight", TG_SHAPE(cout, cin, k, k), bound, 0, false);
	c.b = param(b, prefix, "bias", TG_SHAPE(cout), bound, 0, false);
	return c;
}

static bn_p bn_params(builder *b, const char *prefix, int ch)
{
	bn_p p;
	p.gamma = param(b, prefix, "weight", TG_SHAPE(ch), 0, 1, false);
	p.beta = param(b, prefix, "bias", TG_SHAPE(ch), 0, 0, false);
	p.mean = param(b, prefix, "running_mean", TG_SHAPE(ch), 0, 0, true);
	p.var = param(b, prefix, "running_var", TG_SHAPE(ch), 0, 1, true);
	return p;
}

/* DoubleConv(cin, cout, cmid) under `module` ("inc.double_conv", "down1.conv.double_conv", ...). */
static dconv_p dconv_params(builder *b, const char *module, int cin, int cout, int cmid)
{
	char prefix[TG_NAME_LEN];
	dconv_p p = {0};
	snprintf(prefix, sizeof prefix, "%s.0", module);
	p.c0 = conv_params(b, prefix, cin, cmid, 3);
	if (b->cfg->batch_norm) {
		snprintf(prefix, sizeof prefix, "%s.1", module);
		p.b1 = bn_params(b, prefix, cmid);
	}
	snprintf(prefix, sizeof prefix, "%s.3", module);
	p.c3 = conv_params(b, prefix, cmid, cout, 3);
	if (b->cfg->batch_norm) {
		snprintf(prefix, sizeof prefix, "%s.4", module);
		p.b4 = bn_params(b, prefix, cout);
	}
	return p;
}

static tg_node *activate(tg_graph *g, tg_node *x, tg_activation act)
{
	switch (act) {
	case TG_ACT_RELU:
	default: return tg_relu(g, x);
	}
}

/* [batch norm ->] act. Batch norm then ReLU is one node (tg_batchnorm2d_relu): its forward writes
** the activation and its backward masks dy itself, so no relu / relu_grad pass over memory is left. */
static tg_node *bn_act(builder *b, tg_node *x, const bn_p *p, tg_activation act)
{
	if (!b->cfg->batch_norm)
		return activate(b->g, x, act);
	if (act == TG_ACT_RELU)
		return tg_batchnorm2d_relu(b->g, x, p->gamma, p->beta, p->mean, p->var, b->cfg->training, BN_MOMENTUM, BN_EPS);
	tg_node *y = tg_batchnorm2d(b->g, x, p->gamma, p->beta, p->mean, p->var, b->cfg->training, BN_MOMENTUM, BN_EPS);
	return activate(b->g, y, act);
}

/* With cfg->recompute, the cheap values between convolutions (batch norm + activation outputs,
** upsampled inputs) are recomputed for the backward instead of kept: the backward keeps only
** the conv outputs (batch norm's inputs) and the max-pool outputs. */
static tg_node *remat(builder *b, tg_node *n)
{
	if (!b->cfg->recompute || !n)
		return n;
	for (int k = 0; k < n->nsrc; k++)
		if (n->src[k]->flags & TG_FLAG_STATE)
			return n; /* not a pure value (tg_recompute would refuse it) */
	return tg_recompute(b->g, n);
}

/* conv(concat(xs, channels), w) + bias as a sum of convolutions of each part with its slice of
** w: the concatenated input is never built, nor kept or recomputed for the backward. */
static tg_node *conv_parts(builder *b, int n, tg_node *const *xs, const conv_p *p)
{
	tg_node *sum = NULL;
	int64_t c0 = 0;
	for (int i = 0; i < n; i++) {
		if (!xs[i])
			return NULL;
		int64_t c = xs[i]->shape.d[1];
		tg_node *w = n == 1 ? p->w : tg_slice(b->g, p->w, 1, c0, c0 + c);
		tg_node *y = tg_conv2d(b->g, xs[i], w, i == n - 1 ? p->b : NULL, 1);
		sum = sum ? tg_add(b->g, sum, y) : y;
		c0 += c;
	}
	return sum;
}

/* Whether a batch norm + relu output is a tg_batchnorm2d_relu node to fuse into the conv reading it. */
static bool fused(const builder *b)
{
	return b->cfg->fuse && b->cfg->batch_norm && b->cfg->activation == TG_ACT_RELU;
}

/* conv(h, p) where h is a bn_act output read by this conv only. */
static tg_node *conv_after_bn(builder *b, tg_node *h, const conv_p *p, int pad)
{
	if (fused(b))
		return tg_conv2d_bnrelu(b->g, h, p->w, p->b, pad);
	return tg_conv2d(b->g, b->cfg->batch_norm ? remat(b, h) : h, p->w, p->b, pad);
}

/* DoubleConv on the channel concatenation of xs[0..n) (n = 2 in the Up modules: skip, upsampled). */
static tg_node *dconv(builder *b, int n, tg_node *const *xs, const dconv_p *p)
{
	/* without batch norm, an in-place activation holds the conv output itself: nothing to save */
	tg_node *h = bn_act(b, conv_parts(b, n, xs, &p->c0), &p->b1, b->cfg->activation);
	tg_node *y = bn_act(b, conv_after_bn(b, h, &p->c3, 1), &p->b4, TG_ACT_RELU);
	return b->cfg->batch_norm ? remat(b, y) : y;
}

static bool config_ok(tg_graph *g, const tg_unet_config *c, tg_node *x)
{
	if (c->levels < 1 || c->levels > TG_UNET_MAX_LEVELS || c->in_channels < 1 || c->out_channels < 1 ||
		c->activation != TG_ACT_RELU)
		return tg_graph_fail(g, TG_ERR_ARG, "unet: bad config (levels %d, channels %d -> %d, activation %d)", c->levels,
			       c->in_channels, c->out_channels, (int)c->activation),
		       false;
	for (int i = 0; i < c->levels; i++)
		if (c->filters[i] < 1)
			return tg_graph_fail(g, TG_ERR_ARG, "unet: level %d has %d filters", i, c->filters[i]), false;
	int64_t div = (int64_t)1 << (c->levels - 1);
	tg_shape s = x->shape;
	if (s.ndim != 4 || s.d[1] != c->in_channels || s.d[2] % div || s.d[3] % div || s.d[2] < div || s.d[3] < div)
		return tg_graph_fail(g, TG_ERR_SHAPE, "unet: input %s; expected [N,%d,H,W] with H and W multiples of %lld (%d levels)",
			       tg_sstr(s), c->in_channels, (long long)div, c->levels),
		       false;
	return true;
}

tg_node *tg_unet(tg_graph *g, const tg_unet_config *cfg, tg_dtype t, tg_node *x)
{
	if (!g || !x || tg_graph_status(g) != TG_OK)
		return NULL;
	tg_unet_config c = cfg ? *cfg : tg_unet_default();
	if (!config_ok(g, &c, x))
		return NULL;
	if (t != TG_F32 && t != TG_F64)
		return tg_graph_fail(g, TG_ERR_DTYPE, "unet: dtype %s; expected f32 or f64", tg_dtype_name(t)), NULL;
	builder b = {g, &c, t, 0};
	int L = c.levels;
	const int *f = c.filters;
	dconv_p down[TG_UNET_MAX_LEVELS], up[TG_UNET_MAX_LEVELS]; /* down[0] is inc; up[0] unused */
	char mod[32], path[TG_NAME_LEN];
	tg_scope_push(g, "unet");

	/* parameters, in registration order */
	tg_scope_push(g, "inc");
	down[0] = dconv_params(&b, "inc.double_conv", c.in_channels, f[0], f[0]);
	tg_scope_pop(g);
	for (int i = 1; i < L; i++) {
		snprintf(mod, sizeof mod, "down%d", i);
		snprintf(path, sizeof path, "%s.conv.double_conv", mod);
		tg_scope_push(g, mod);
		down[i] = dconv_params(&b, path, f[i - 1], f[i], f[i]);
		tg_scope_pop(g);
		snprintf(mod, sizeof mod, "up%d", i);
		snprintf(path, sizeof path, "%s.conv.double_conv", mod);
		tg_scope_push(g, mod);
		up[i] = dconv_params(&b, path, f[i] + f[i - 1], f[i - 1], (f[i] + f[i - 1]) / 2);
		tg_scope_pop(g);
	}
	tg_scope_push(g, "outc");
	conv_p outc = conv_params(&b, "outc", f[0], c.out_channels, 1);
	tg_scope_pop(g);

	/* forward: xs[i] is the output of level i */
	tg_node *xs[TG_UNET_MAX_LEVELS];
	if (x->dtype != t)
		x = tg_cast(g, x, t);
	tg_scope_push(g, "inc");
	xs[0] = tg_set_name(dconv(&b, 1, &x, &down[0]), "inc");
	tg_scope_pop(g);
	for (int i = 1; i < L; i++) {
		snprintf(mod, sizeof mod, "down%d", i);
		tg_scope_push(g, mod);
		tg_node *pooled = tg_maxpool2d(g, xs[i - 1]);
		xs[i] = tg_set_name(dconv(&b, 1, &pooled, &down[i]), "%s", mod);
		tg_scope_pop(g);
	}
	tg_node *u = xs[L - 1];
	for (int i = 1; i < L; i++) {   /* up_i takes the level L-1-i skip (up1 at the deepest level) */
		snprintf(mod, sizeof mod, "up%d", i);
		tg_scope_push(g, mod);
		tg_node *cat[2] = {xs[L - 1 - i], remat(&b, tg_upsample2x(g, u))};
		u = tg_set_name(dconv(&b, 2, cat, &up[i]), "%s", mod);
		tg_scope_pop(g);
	}
	tg_scope_push(g, "outc");
	tg_node *out = tg_set_name(conv_after_bn(&b, u, &outc, 0), "unet_out");
	tg_scope_pop(g);
	tg_scope_pop(g);
	return out;
}
