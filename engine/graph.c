/*
** graph.c: graphs, nodes, leaves (inputs, parameters, state, constants), names and scopes.
*/
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tg_status leaf_infer(tg_graph *g, tg_node *n) { (void)g; (void)n; return TG_OK; }
static tg_status leaf_forward(tg_exec *ex, tg_node *n) { (void)ex; (void)n; return TG_OK; }

/* Leaves are ops too, so the scheduler and DOT treat every node alike. */
static const tg_op op_input = {"input", leaf_infer, leaf_forward, NULL, TG_OP_NONDIFF | TG_OP_LEAF, NULL};
static const tg_op op_param = {"param", leaf_infer, leaf_forward, NULL, TG_OP_NONDIFF | TG_OP_LEAF, NULL};
static const tg_op op_state = {"state", leaf_infer, leaf_forward, NULL, TG_OP_NONDIFF | TG_OP_LEAF, NULL};
static const tg_op op_const = {"const", leaf_infer, leaf_forward, NULL, TG_OP_NONDIFF | TG_OP_LEAF, NULL};

tg_graph *tg_graph_new(void)
{
	tg_graph *g = tg_calloc(1, sizeof *g);
	if (!g) {
		tg_set_error(TG_ERR_NOMEM, "tg_graph_new: out of memory");
		return NULL;
	}
	g->nthreads = 1;
	return g;
}

void tg_graph_free(tg_graph *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->nnodes; i++) {
		tg_node *n = g->nodes[i];
		if (n->flags & TG_FLAGS_PERSISTENT)
			tg_free_aligned(n->data);
		tg_free(n->src, sizeof(tg_node *) * (size_t)n->nsrc);
		tg_free(n, sizeof *n);
	}
	for (int i = 0; i < g->nscopes; i++)
		tg_free(g->scopes[i], strlen(g->scopes[i]) + 1);
	tg_free(g->scopes, sizeof(char *) * (size_t)g->scopes_cap);
	tg_free(g->nodes, sizeof(tg_node *) * (size_t)g->cap);
	tg_plan_free(g->plan);
	tg_free_aligned(g->arena);
	tg_free_aligned(g->scratch);
	tg_free(g->profile, sizeof(double) * (size_t)g->profile_cap);
	tg_free(g, sizeof *g);
}

int tg_graph_node_count(const tg_graph *g) { return g ? g->nnodes : 0; }
tg_node *tg_graph_node(const tg_graph *g, int id) { return g && id >= 0 && id < g->nnodes ? g->nodes[id] : NULL; }

tg_node *tg_graph_find(const tg_graph *g, const char *name)
{
	if (!g || !name)
		return NULL;
	for (int i = 0; i < g->nnodes; i++)
		if (strcmp(g->nodes[i]->name, name) == 0)
			return g->nodes[i];
	return NULL;
}

static const char *intern_scope(tg_graph *g)
{
	if (!g->scope[0])
		return NULL;
	for (int i = g->nscopes - 1; i >= 0; i--)
		if (strcmp(g->scopes[i], g->scope) == 0)
			return g->scopes[i];
	if (g->nscopes == g->scopes_cap) {
		int nc = g->scopes_cap ? 2 * g->scopes_cap : 16;
		char **ns = tg_realloc(g->scopes, sizeof(char *) * (size_t)g->scopes_cap, sizeof(char *) * (size_t)nc);
		if (!ns)
			return NULL;
		g->scopes = ns;
		g->scopes_cap = nc;
	}
	size_t len = strlen(g->scope) + 1;
	char *s = tg_malloc(len);
	if (!s)
		return NULL;
	memcpy(s, g->scope, len);
	g->scopes[g->nscopes++] = s;
	return s;
}

void tg_scope_push(tg_graph *g, const char *name)
{
	if (!g || !name)
		return;
	size_t len = strlen(g->scope);
	snprintf(g->scope + len, sizeof g->scope - len, "%s%s", len ? "/" : "", name);
}

void tg_scope_pop(tg_graph *g)
{
	if (!g)
		return;
	char *slash = strrchr(g->scope, '/');
	if (slash)
		*slash = 0;
	else
		g->scope[0] = 0;
}

tg_node *tg_node_new(tg_graph *g, const tg_op *op, int nsrc, tg_node *const *src, const tg_attrs *attrs)
{
	if (!g)
		return NULL;
	if (g->status != TG_OK)
		return NULL;
	if (!op) {
		tg_graph_fail(g, TG_ERR_ARG, "tg_op_apply: NULL op");
		return NULL;
	}
	for (int i = 0; i < nsrc; i++) {
		if (!src[i])
			return NULL; /* an earlier constructor failed; its error is recorded */
		if (src[i]->graph != g) {
			tg_graph_fail(g, TG_ERR_ARG, "%s: input %d belongs to another graph", op->name, i);
			return NULL;
		}
	}
	if (g->nnodes == g->cap) {
		int nc = g->cap ? 2 * g->cap : 64;
		tg_node **nn = tg_realloc(g->nodes, sizeof(tg_node *) * (size_t)g->cap, sizeof(tg_node *) * (size_t)nc);
		if (!nn) {
			tg_graph_fail(g, TG_ERR_NOMEM, "%s: out of memory", op->name);
			return NULL;
		}
		g->nodes = nn;
		g->cap = nc;
	}
	tg_node *n = tg_calloc(1, sizeof *n);
	if (!n || (nsrc && !(n->src = tg_malloc(sizeof(tg_node *) * (size_t)nsrc)))) {
		tg_free(n, sizeof *n);
		tg_graph_fail(g, TG_ERR_NOMEM, "%s: out of memory", op->name);
		return NULL;
	}
	n->op = op;
	n->graph = g;
	n->nsrc = nsrc;
	for (int i = 0; i < nsrc; i++)
		n->src[i] = src[i];
	if (attrs)
		n->attr = *attrs;
	n->flags = g->building_flags;
	n->scope = intern_scope(g);
	if (g->scope[0] && !n->scope) {
		tg_free(n->src, sizeof(tg_node *) * (size_t)nsrc);
		tg_free(n, sizeof *n);
		tg_graph_fail(g, TG_ERR_NOMEM, "%s: out of memory", op->name);
		return NULL;
	}
	n->id = -1;
	snprintf(n->name, sizeof n->name, "%s", op->name);
	tg_status st = op->infer ? op->infer(g, n) : TG_OK;
	if (st == TG_OK && (n->shape.ndim < 0 || n->shape.ndim > TG_MAX_DIMS))
		st = tg_op_fail(g, n, TG_ERR_SHAPE, "result has %d dims, at most %d supported", n->shape.ndim, TG_MAX_DIMS);
	if (st == TG_OK && (int)n->dtype >= TG_DTYPE_COUNT)
		st = tg_op_fail(g, n, TG_ERR_DTYPE, "bad result dtype %d", (int)n->dtype);
	if (st == TG_OK) {
		int64_t ne = tg_shape_numel(n->shape);
		bool negative = false;
		for (int d = 0; d < n->shape.ndim; d++)
			negative |= n->shape.d[d] < 0;
		if (negative)
			st = tg_op_fail(g, n, TG_ERR_SHAPE, "result shape %s has a negative dim", tg_sstr(n->shape));
		else if (ne < 0 || (uint64_t)ne > (uint64_t)(SIZE_MAX / 2) / tg_dtype_size(n->dtype))
			st = tg_op_fail(g, n, TG_ERR_SHAPE, "result shape %s is too large (size overflow)", tg_sstr(n->shape));
		else
			n->nbytes = (size_t)ne * tg_dtype_size(n->dtype);
	}
	if (st != TG_OK) {
		if (g->status == TG_OK) /* infer returned an error without a message */
			tg_op_fail(g, n, st, "%s", tg_status_str(st));
		tg_free(n->src, sizeof(tg_node *) * (size_t)nsrc);
		tg_free(n, sizeof *n);
		return NULL;
	}
	n->id = g->nnodes;
	g->nodes[g->nnodes++] = n;
	return n;
}

tg_node *tg_op_apply(tg_graph *g, const tg_op *op, int nsrc, tg_node *const *src, const tg_attrs *attrs)
{
	if (g && nsrc > 0 && !src) {
		tg_graph_fail(g, TG_ERR_ARG, "tg_op_apply: %d inputs but a NULL input array", nsrc);
		return NULL;
	}
	return tg_node_new(g, op, nsrc < 0 ? 0 : nsrc, src, attrs);
}

static tg_node *leaf(tg_graph *g, const tg_op *op, unsigned flag, const char *name, tg_dtype t, tg_shape s)
{
	if (!g || g->status != TG_OK)
		return NULL;
	if ((int)t < 0 || t >= TG_DTYPE_COUNT) {
		tg_graph_fail(g, TG_ERR_DTYPE, "%s '%s': unknown dtype %d", op->name, name ? name : "", (int)t);
		return NULL;
	}
	if (s.ndim < 0 || s.ndim > TG_MAX_DIMS) {
		tg_graph_fail(g, TG_ERR_SHAPE, "%s '%s': %d dims, at most %d supported", op->name, name ? name : "", s.ndim, TG_MAX_DIMS);
		return NULL;
	}
	int64_t ne = tg_shape_numel(s);
	if (ne < 0 || (uint64_t)ne > (uint64_t)(SIZE_MAX / 4) / tg_dtype_size(t)) {
		tg_graph_fail(g, TG_ERR_SHAPE, "%s '%s': shape %s is invalid or too large (size overflow)", op->name,
			name ? name : "", tg_sstr(s));
		return NULL;
	}
	tg_attrs a = {0};
	tg_node *n = tg_node_new(g, op, 0, NULL, &a);
	if (!n)
		return NULL;
	n->shape = s;
	n->dtype = t;
	n->nbytes = (size_t)ne * tg_dtype_size(t);
	n->flags |= flag;
	n->data = tg_malloc_aligned(n->nbytes);
	if (!n->data) {
		/* drop the node again: it is the last one */
		g->nnodes--;
		tg_free(n, sizeof *n);
		tg_graph_fail(g, TG_ERR_NOMEM, "%s '%s': out of memory for %s %s", op->name, name ? name : "",
			tg_dtype_name(t), tg_sstr(s));
		return NULL;
	}
	g->persistent_bytes += n->nbytes;
	if (name)
		snprintf(n->name, sizeof n->name, "%s", name);
	return n;
}

tg_node *tg_input(tg_graph *g, const char *name, tg_dtype t, tg_shape s) { return leaf(g, &op_input, TG_FLAG_INPUT, name, t, s); }
tg_node *tg_param(tg_graph *g, const char *name, tg_dtype t, tg_shape s) { return leaf(g, &op_param, TG_FLAG_PARAM, name, t, s); }
tg_node *tg_state(tg_graph *g, const char *name, tg_dtype t, tg_shape s) { return leaf(g, &op_state, TG_FLAG_STATE, name, t, s); }

tg_node *tg_const(tg_graph *g, const char *name, tg_dtype t, tg_shape s, const void *data)
{
	tg_node *n = leaf(g, &op_const, TG_FLAG_CONST, name, t, s);
	if (n && data)
		memcpy(n->data, data, n->nbytes);
	return n;
}

tg_node *tg_fill(tg_graph *g, tg_dtype t, tg_shape s, double v)
{
	tg_node *n = leaf(g, &op_const, TG_FLAG_CONST, "fill", t, s);
	if (!n)
		return NULL;
	int64_t ne = tg_numel(n);
	for (int64_t i = 0; i < ne; i++) {
		if (t == TG_F32)
			((float *)n->data)[i] = (float)v;
		else if (t == TG_F64)
			((double *)n->data)[i] = v;
		else
			((double *)n->data)[2 * i] = v;
	}
	return n;
}

tg_node *tg_scalar(tg_graph *g, tg_dtype t, double v)
{
	tg_node *n = tg_fill(g, t, TG_SCALAR_SHAPE, v);
	if (n)
		snprintf(n->name, sizeof n->name, "%g", v);
	return n;
}

tg_node *tg_set_name(tg_node *n, const char *fmt, ...)
{
	if (!n)
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(n->name, sizeof n->name, fmt, ap);
	va_end(ap);
	return n;
}

tg_node *tg_set_flags(tg_node *n, unsigned flags)
{
	if (n)
		n->flags |= flags;
	return n;
}

int64_t tg_numel(const tg_node *n) { return n ? tg_shape_numel(n->shape) : 0; }
size_t tg_nbytes(const tg_node *n) { return n ? n->nbytes : 0; }

tg_status tg_set_data(tg_node *n, const void *data, size_t nbytes)
{
	if (!n || !data)
		return tg_set_error(TG_ERR_ARG, "tg_set_data: NULL %s", n ? "data" : "node");
	if (!(n->flags & TG_FLAGS_PERSISTENT))
		return tg_graph_fail(n->graph, TG_ERR_ARG, "tg_set_data: node %d '%s' (%s) is not an input, parameter, state or constant",
			n->id, n->name, n->op->name);
	if (nbytes != n->nbytes)
		return tg_graph_fail(n->graph, TG_ERR_SHAPE, "tg_set_data: '%s' %s %s holds %zu bytes, got %zu", n->name,
			tg_dtype_name(n->dtype), tg_sstr(n->shape), n->nbytes, nbytes);
	memcpy(n->data, data, nbytes);
	return TG_OK;
}

tg_node **tg_graph_params(tg_graph *g, int *count)
{
	if (!count) {
		tg_set_error(TG_ERR_ARG, "tg_graph_params: NULL count");
		return NULL;
	}
	*count = 0;
	if (!g)
		return NULL;
	int n = 0;
	for (int i = 0; i < g->nnodes; i++)
		n += (g->nodes[i]->flags & TG_FLAG_PARAM) != 0;
	tg_node **ps = tg_malloc(sizeof(tg_node *) * (size_t)(n ? n : 1));
	if (!ps) {
		tg_graph_fail(g, TG_ERR_NOMEM, "tg_graph_params: out of memory");
		return NULL;
	}
	n = 0;
	for (int i = 0; i < g->nnodes; i++)
		if (g->nodes[i]->flags & TG_FLAG_PARAM)
			ps[n++] = g->nodes[i];
	*count = n;
	return ps;
}

void tg_graph_set_threads(tg_graph *g, int nthreads)
{
	if (g)
		g->nthreads = nthreads < 1 ? 1 : nthreads > TG_MAX_THREADS ? TG_MAX_THREADS : nthreads;
}
int tg_graph_threads(const tg_graph *g) { return g ? g->nthreads : 1; }
void tg_graph_set_eval_callback(tg_graph *g, tg_eval_callback cb, void *ud)
{
	if (g) {
		g->eval_cb = cb;
		g->eval_ud = ud;
	}
}
void tg_graph_set_check_finite(tg_graph *g, bool on)
{
	if (g)
		g->check_finite = on;
}
size_t tg_graph_peak_bytes(const tg_graph *g) { return g && g->plan ? g->plan->arena_bytes + g->scratch_peak : 0; }
size_t tg_graph_persistent_bytes(const tg_graph *g) { return g ? g->persistent_bytes : 0; }
const double *tg_graph_profile(const tg_graph *g) { return g ? g->profile : NULL; }
