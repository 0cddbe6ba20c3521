/*
** conv2d_bnrelu.c: conv2d(batchnorm2d_relu(z, gamma, beta, s), w, b) as one node, so that the
** activation [N,C,H,W] between them is never stored: the convolution computes it a band of input
** rows at a time (the weight gradient: an image) into its chunk's workspace, with batch norm's own
** kernel, so every value is bit for bit that of the two separate nodes. Per use it saves a write
** and a read of the activation in the forward, and in the backward its recomputed copy (a read
** and a write) or, without recompute, the memory that keeps it.
**   y = conv2d_bnrelu(z, gamma, beta, s, w [, b]); attr.i[0] padding, i[1] batch norm's training
**     flag; s is the statistics node of the batch norm (ops/batchnorm2d.c).
** Backward, from dy:
**   dw and db = conv2d_bnrelu_backward_weight(z, gamma, beta, s, dy): conv2d_backward_weight of the
**     activation (with the bias gradient, as conv2d's: see conv2d_weight_bias_grads), computed
**     from z the same way;
**   da = conv2d_backward_data(dy, w), then batch norm + ReLU's backward of da (grad_stats,
**     backward_data) gives dz, dgamma, dbeta. As in batchnorm2d, the stats input gets no gradient:
**     z's includes the path through the statistics.
*/
#include "batchnorm2d.h"
#include "conv2d.h"

extern const tg_op tg_op_batchnorm2d_relu, tg_op_conv2d_backward_data;
extern const tg_op tg_op_conv2d_bnrelu_backward_weight;

enum { Z, GAMMA, BETA, STATS, W, B }; /* sources; the backward-weight op has dy at W */

typedef struct bnrelu { bn_coef *k; int64_t C; bool f32; } bnrelu;

static void bnrelu_apply(const void *ctx, int64_t c, const void *x, void *y, int64_t len)
{
	const bnrelu *b = ctx;
	bn_norm_values(x, y, len, b->k[c], true, b->f32);
}

static size_t coef_bytes(const bnrelu *b) { return sizeof(bn_coef) * (size_t)(b->C > 0 ? b->C : 1); }

/* The prologue of node n (sources z, gamma, beta, s first): channel constants in *b (freed by
** prologue_free), or false after reporting out of memory. */
static bool prologue_init(tg_exec *ex, const tg_node *n, bnrelu *b, conv_prologue *pro)
{
	int64_t C = n->src[Z]->shape.d[1];
	b->C = C;
	b->f32 = n->src[Z]->dtype == TG_F32;
	b->k = tg_malloc(coef_bytes(b));
	if (!b->k)
		return tg_graph_fail(tg_exec_graph(ex), TG_ERR_NOMEM, "%s: out of memory for %lld channel constants",
			       n->op->name, (long long)C),
		       false;
	for (int64_t c = 0; c < C; c++)
		b->k[c] = bn_affine_coef(n->src[GAMMA], n->src[BETA], n->src[STATS], c);
	*pro = (conv_prologue){bnrelu_apply, b};
	return true;
}

static void prologue_free(bnrelu *b) { tg_free(b->k, coef_bytes(b)); }

/* ---------------------------------------------------------------- conv2d_bnrelu */

static tg_status conv2d_bnrelu_infer(tg_graph *g, tg_node *n)
{
	if (n->nsrc != 5 && n->nsrc != 6)
		return tg_op_fail(g, n, TG_ERR_ARG, "%d inputs; expected z, gamma, beta, stats, w [, b]", n->nsrc);
	tg_status st = bn_check_affine(g, n, n->src[Z], n->src[GAMMA], n->src[BETA], n->src[STATS]);
	return st != TG_OK ? st
			   : conv2d_infer_shape(g, n, n->src[Z], n->src[W], n->nsrc > B ? n->src[B] : NULL, n->attr.i[0]);
}

static tg_status conv2d_bnrelu_forward(tg_exec *ex, tg_node *n)
{
	bnrelu b;
	conv_prologue pro;
	if (!prologue_init(ex, n, &b, &pro))
		return TG_ERR_NOMEM;
	tg_status st = conv2d_run_forward(ex, n->src[Z], n->src[W], n->nsrc > B ? n->src[B] : NULL, n->attr.i[0], n, &pro);
	prologue_free(&b);
	return st;
}

static tg_status conv2d_bnrelu_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_attrs at = {0};
	at.i[0] = n->attr.i[0];
	/* weight and bias gradients first, as conv2d's */
	tg_status st = conv2d_weight_bias_grads(g, &tg_op_conv2d_bnrelu_backward_weight, 5,
		(tg_node *[]){n->src[Z], n->src[GAMMA], n->src[BETA], n->src[STATS], gout}, n->src[W], n->attr.i[0], need[W],
		n->nsrc > B && need[B], &gin[W], &gin[B]);
	if (st != TG_OK || (!need[Z] && !need[GAMMA] && !need[BETA]))
		return st;
	tg_node *da = tg_node_new(g, &tg_op_conv2d_backward_data, 2, (tg_node *[]){gout, n->src[W]}, &at);
	if (!da)
		return tg_graph_status(g);
	return bn_backward_nodes(g, n->src[Z], da, n->src[GAMMA], n->src[BETA], n->src[STATS], n->attr.i[1] != 0, true,
		need, gin);
}

static double conv2d_bnrelu_flops(const tg_node *n) { return conv2d_output_flops(n, n->src[W]); }

const tg_op tg_op_conv2d_bnrelu = {"conv2d_bnrelu", conv2d_bnrelu_infer, conv2d_bnrelu_forward,
	conv2d_bnrelu_backward, 0, conv2d_bnrelu_flops};

/* ---------------------------------------------------------------- its weight gradient */

static tg_status backward_weight_infer(tg_graph *g, tg_node *n)
{
	if (n->nsrc != 5)
		return tg_op_fail(g, n, TG_ERR_ARG, "%d inputs; expected z, gamma, beta, stats, dy", n->nsrc);
	tg_status st = bn_check_affine(g, n, n->src[Z], n->src[GAMMA], n->src[BETA], n->src[STATS]);
	return st != TG_OK ? st
			   : conv2d_weight_grad_infer_shape(g, n, n->src[Z], n->src[W], n->attr.i[0], n->attr.i[1] != 0);
}

static tg_status backward_weight_forward(tg_exec *ex, tg_node *n)
{
	bnrelu b;
	conv_prologue pro;
	if (!prologue_init(ex, n, &b, &pro))
		return TG_ERR_NOMEM;
	tg_status st = conv2d_run_weight_grad(ex, n->src[Z], n->src[W], n->attr.i[0], n->attr.i[1] != 0, n, &pro);
	prologue_free(&b);
	return st;
}

static double backward_weight_flops(const tg_node *n) { return conv2d_weight_grad_flops(n, n->src[W]); }

const tg_op tg_op_conv2d_bnrelu_backward_weight = {"conv2d_bnrelu_backward_weight", backward_weight_infer,
	backward_weight_forward, NULL, TG_OP_NONDIFF, backward_weight_flops};

tg_node *tg_conv2d_bnrelu(tg_graph *g, tg_node *a, tg_node *w, tg_node *b, int pad)
{
	if (!g || !a || !w || tg_graph_status(g) != TG_OK)
		return NULL;
	if (a->op != &tg_op_batchnorm2d_relu)
		return tg_graph_fail(g, TG_ERR_ARG, "conv2d_bnrelu: input '%s' is a %s node; expected a batchnorm2d_relu node",
			       a->name, a->op->name),
		       NULL;
	tg_attrs at = {0};
	at.i[0] = pad;
	at.i[1] = a->attr.i[0];
	tg_node *src[6] = {a->src[0], a->src[1], a->src[2], a->src[3], w, b};
	return tg_node_new(g, &tg_op_conv2d_bnrelu, b ? 6 : 5, src, &at);
}
