/*
** autodiff.c: reverse-mode autodiff as a graph transformation. tg_backward walks the nodes on
** the path from the wanted inputs to the loss in reverse creation order, asks each op to build
** the gradient nodes of its inputs, and accumulates fan-out with adds. Broadcast reduction and
** dtype casts of the incoming gradients happen here, in one place, for every op.
** Rematerialisation is a rewrite here too: backward nodes that read a node marked
** TG_FLAG_RECOMPUTE read instead a copy of it (same op, attributes and sources) placed just before
** them in the creation order, so it runs just before that op's backward (each op's backward
** that reads it gets its own copy: none stays alive across the backward).
*/
#include "internal.h"
#include <stdio.h>
#include <string.h>

/* Brings a gradient to the shape and dtype of the value it belongs to. */
static tg_node *fit_grad(tg_graph *g, tg_node *grad, const tg_node *x)
{
	if (!grad)
		return NULL;
	if (!tg_shape_eq(grad->shape, x->shape)) {
		grad = tg_sum_to(g, grad, x->shape);
		if (!grad)
			return NULL;
	}
	if (grad->dtype != x->dtype) {
		if (tg_dtype_is_complex(grad->dtype) && !tg_dtype_is_complex(x->dtype))
			grad = tg_real(g, grad);
		if (grad && grad->dtype != x->dtype)
			grad = tg_cast(g, grad, x->dtype);
	}
	return grad;
}

/* Moves the newest node to position `at`, shifting the later ones (ids follow positions). */
static void move_last_to(tg_graph *g, int at)
{
	tg_node *c = g->nodes[g->nnodes - 1];
	memmove(g->nodes + at + 1, g->nodes + at, sizeof(tg_node *) * (size_t)(g->nnodes - 1 - at));
	g->nodes[at] = c;
	for (int i = at; i < g->nnodes; i++)
		g->nodes[i]->id = i;
}

/* The copy of a node marked for recomputation for the op's backward being built (its nodes start
** at id `first`): created once, after the copies of its marked sources, and inserted at *at, i.e.
** before the backward nodes that read it. clone[] is indexed by forward node id (forward ids never
** move); an entry older than `first` is an earlier op's copy, not reused, so no copy stays alive
** across the backward. */
static tg_node *recomputed(tg_graph *g, tg_node *x, tg_node **clone, int first, int *at)
{
	if (clone[x->id] && clone[x->id]->id >= first)
		return clone[x->id];
	tg_node *stack[8] = {0};
	tg_node **src = x->nsrc <= 8 ? stack : tg_malloc(sizeof(tg_node *) * (size_t)x->nsrc);
	if (!src)
		return tg_graph_fail(g, TG_ERR_NOMEM, "tg_backward: out of memory"), NULL;
	bool ok = true;
	for (int k = 0; k < x->nsrc && ok; k++)
		ok = (src[k] = x->src[k]->flags & TG_FLAG_RECOMPUTE ? recomputed(g, x->src[k], clone, first, at) : x->src[k]) != NULL;
	tg_node *c = ok ? tg_node_new(g, x->op, x->nsrc, src, &x->attr) : NULL;
	if (src != stack)
		tg_free(src, sizeof(tg_node *) * (size_t)x->nsrc);
	if (!c)
		return NULL;
	tg_set_name(c, "%s (recomputed)", x->name[0] ? x->name : x->op->name);
	move_last_to(g, (*at)++);
	return clone[x->id] = c;
}

tg_node *tg_recompute(tg_graph *g, tg_node *n)
{
	if (!g || !n)
		return NULL;
	const char *why = NULL;
	if (n->graph != g)
		why = "it is from another graph";
	else if (n->op->flags & (TG_OP_LEAF | TG_OP_UPDATE) || n->flags & (TG_FLAGS_PERSISTENT | TG_FLAG_OPTIM))
		why = "its value is not computed by a pure op";
	else if (n->flags & TG_FLAG_BACKWARD)
		why = "it is part of a backward";
	for (int k = 0; k < n->nsrc && !why; k++)
		if (n->src[k]->flags & TG_FLAG_STATE)
			why = "it reads state (which its op may update)";
	if (why)
		return tg_graph_fail(g, TG_ERR_ARG, "recompute: node %d '%s' (%s) cannot be recomputed: %s", n->id, n->name,
			n->op->name, why), NULL;
	n->flags |= TG_FLAG_RECOMPUTE;
	return n;
}

/* Builds n's backward, then points the new nodes that read a marked node at its recomputed
** copy, created just before them. Only copies that are read get created. */
static tg_status op_backward(tg_graph *g, tg_node *n, const bool *need, tg_node **gin, tg_node **clone)
{
	int first = g->nnodes, at = first;
	tg_status st = n->op->backward(g, n, n->grad, need, gin);
	for (int i = at; i < g->nnodes && st == TG_OK; i++) {
		tg_node *b = g->nodes[i];
		for (int k = 0; k < b->nsrc && st == TG_OK; k++) {
			if (!(b->src[k]->flags & TG_FLAG_RECOMPUTE))
				continue;
			int before = at;
			tg_node *c = recomputed(g, b->src[k], clone, first, &at);
			i += at - before; /* b moved up past the inserted copies */
			if (c)
				b->src[k] = c;
			else
				st = g->status != TG_OK ? g->status : TG_ERR_INTERNAL;
		}
	}
	return st;
}

tg_status tg_backward(tg_graph *g, tg_node *loss, tg_node *seed, int nwrt, tg_node *const *wrt)
{
	if (!g)
		return tg_set_error(TG_ERR_ARG, "tg_backward: NULL graph");
	if (g->status != TG_OK)
		return tg_set_error(g->status, "tg_backward: the graph has an error: %s", g->msg);
	if (!loss)
		return tg_graph_fail(g, TG_ERR_ARG, "tg_backward: NULL loss");
	if (loss->graph != g || (seed && seed->graph != g))
		return tg_graph_fail(g, TG_ERR_ARG, "tg_backward: the %s is from another graph", loss->graph != g ? "loss" : "seed");
	if (nwrt < 0 || (nwrt > 0 && !wrt))
		return tg_graph_fail(g, TG_ERR_ARG, "tg_backward: bad wrt list (%d nodes, %s array)", nwrt, wrt ? "an" : "a NULL");
	if (seed && (!tg_shape_eq(seed->shape, loss->shape)))
		return tg_graph_fail(g, TG_ERR_SHAPE, "tg_backward: seed %s does not match loss %s", tg_sstr(seed->shape),
			tg_sstr(loss->shape));
	int N = loss->id + 1;
	char *wants = tg_calloc((size_t)N, 1);   /* on a path from a wanted input */
	int maxsrc = 1;
	for (int i = 0; i < N; i++)
		if (g->nodes[i]->nsrc > maxsrc)
			maxsrc = g->nodes[i]->nsrc;
	tg_node **gin = tg_malloc((sizeof(tg_node *) + sizeof(bool)) * (size_t)maxsrc);
	bool *need = gin ? (bool *)(gin + maxsrc) : NULL;
	if (!wants || !gin) {
		tg_free(wants, (size_t)N);
		tg_free(gin, 0);
		return tg_graph_fail(g, TG_ERR_NOMEM, "tg_backward: out of memory");
	}
	int nparams = 0;
	for (int i = 0; i < nwrt; i++) {
		if (!wrt[i] || wrt[i]->graph != g) {
			tg_free(wants, (size_t)N);
			tg_free(gin, 0);
			return tg_graph_fail(g, TG_ERR_ARG, "tg_backward: wrt[%d] is %s", i, wrt[i] ? "from another graph" : "NULL");
		}
		if (wrt[i]->id < N)
			wants[wrt[i]->id] = 1;
	}
	for (int i = 0; i < N; i++) {
		tg_node *n = g->nodes[i];
		if (nwrt == 0 && (n->flags & TG_FLAG_PARAM))
			wants[i] = 1, nparams++;
		for (int k = 0; k < n->nsrc && !wants[i]; k++)
			if (wants[n->src[k]->id])
				wants[i] = 1;
	}
	if (nwrt == 0 && nparams == 0) {
		tg_free(wants, (size_t)N);
		tg_free(gin, 0);
		return tg_graph_fail(g, TG_ERR_ARG, "tg_backward: no wrt nodes given and no parameters in the graph");
	}
	tg_node **clone = tg_calloc((size_t)N, sizeof(tg_node *));
	if (!clone) {
		tg_free(wants, (size_t)N);
		tg_free(gin, 0);
		return tg_graph_fail(g, TG_ERR_NOMEM, "tg_backward: out of memory");
	}
	/* forget gradients of an earlier backward pass */
	for (int i = 0; i < N; i++)
		g->nodes[i]->grad = NULL;

	unsigned saved_flags = g->building_flags;
	g->building_flags |= TG_FLAG_BACKWARD;
	tg_status st = TG_OK;
	loss->grad = seed ? seed : tg_set_name(tg_fill(g, loss->dtype, loss->shape, 1.0), "seed");
	for (int i = N - 1; i >= 0 && st == TG_OK; i--) {
		tg_node *n = g->nodes[i];
		if (!n->grad || !wants[i] || n->nsrc == 0)
			continue;
		if (!n->op->backward) {
			st = tg_graph_fail(g, TG_ERR_UNSUPPORTED, "tg_backward: op %s (node %d '%s') has no gradient, but it lies on the path to the loss",
				n->op->name, n->id, n->name);
			break;
		}
		bool any = false;
		for (int k = 0; k < n->nsrc; k++) {
			gin[k] = NULL;
			any |= need[k] = wants[n->src[k]->id] != 0;
		}
		if (!any)
			continue;
		/* backward nodes live in their forward node's scope, so DOT clusters hold both */
		char saved_scope[sizeof g->scope];
		memcpy(saved_scope, g->scope, sizeof saved_scope);
		snprintf(g->scope, sizeof g->scope, "%s", n->scope ? n->scope : "");
		st = op_backward(g, n, need, gin, clone);
		if (st == TG_OK && g->status != TG_OK)
			st = g->status;
		for (int k = 0; k < n->nsrc && st == TG_OK; k++) {
			if (!need[k] || !gin[k])
				continue;
			tg_node *x = n->src[k];
			tg_node *gk = fit_grad(g, gin[k], x);
			x->grad = x->grad ? tg_add(g, x->grad, gk) : gk;
			if (!x->grad)
				st = g->status != TG_OK ? g->status : TG_ERR_INTERNAL;
		}
		memcpy(g->scope, saved_scope, sizeof saved_scope);
	}
	tg_free(gin, 0);
	tg_free(clone, sizeof(tg_node *) * (size_t)N);
	for (int i = 0; i < N && st == TG_OK; i++) {
		tg_node *n = g->nodes[i];
		if (n->grad && n->grad->name[0] && n->grad != loss->grad && (n->flags & (TG_FLAG_PARAM | TG_FLAG_INPUT)))
			tg_set_name(n->grad, "grad %s", n->name);
	}
	g->building_flags = saved_flags;
	tg_free(wants, (size_t)N);
	if (st != TG_OK && g->status == TG_OK)
		tg_graph_fail(g, st, "tg_backward: %s", tg_status_str(st));
	return st;
}

tg_node *tg_grad_of(const tg_node *n) { return n ? n->grad : NULL; }

/* ---------------------------------------------------------------- custom gradients */

/* The custom-gradient node: src[0] is the value, src[1..] the inputs whose gradients the user's
** function builds. Forward copies the value; backward calls the user's function. */
typedef struct custom_ud {
	tg_custom_backward_fn fn;
	void *ud;
} custom_ud;

static tg_status custom_infer(tg_graph *g, tg_node *n)
{
	(void)g;
	n->shape = n->src[0]->shape;
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

static tg_status custom_forward(tg_exec *ex, tg_node *n)
{
	(void)ex;
	if (n->data != n->src[0]->data)
		memcpy(n->data, n->src[0]->data, n->nbytes);
	return TG_OK;
}

static tg_status custom_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_custom_backward_fn fn = (tg_custom_backward_fn)(uintptr_t)n->attr.i[0];
	gin[0] = NULL; /* never into the value's own subgraph */
	return fn(g, n->src[0], gout, n->nsrc - 1, n->src + 1, need + 1, gin + 1, n->attr.p);
}

static const tg_op op_custom = {"custom_gradient", custom_infer, custom_forward, custom_backward, TG_OP_INPLACE, NULL};

tg_node *tg_custom_gradient(tg_graph *g, tg_node *value, int nin, tg_node *const *inputs, tg_custom_backward_fn fn, void *ud)
{
	if (!g || !value)
		return NULL;
	if (!fn || nin < 0 || (nin > 0 && !inputs))
		return tg_graph_fail(g, TG_ERR_ARG, "custom_gradient: NULL backward function or inputs"), NULL;
	tg_node *stack[16];
	tg_node **src = nin + 1 <= 16 ? stack : tg_malloc(sizeof(tg_node *) * (size_t)(nin + 1));
	if (!src)
		return tg_graph_fail(g, TG_ERR_NOMEM, "custom_gradient: out of memory"), NULL;
	src[0] = value;
	for (int i = 0; i < nin; i++)
		src[i + 1] = inputs[i];
	tg_attrs a = {0};
	a.i[0] = (int64_t)(uintptr_t)fn;
	a.p = ud;
	tg_node *n = tg_node_new(g, &op_custom, nin + 1, src, &a);
	if (src != stack)
		tg_free(src, sizeof(tg_node *) * (size_t)(nin + 1));
	return n;
}
