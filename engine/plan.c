/*
** plan.c: the memory planner. Given the targets of a run, it selects the nodes needed (the
** targets and their ancestors), keeps creation order (which is topological), and gives every
** non-persistent value an offset in one arena. A value lives from its step to its last
** consumer's step; an op flagged TG_OP_INPLACE takes over its first input's buffer when that
** input dies at this node (one buffer, both lifetimes). Buffers are then placed offline, largest
** first, each at the lowest offset free during its whole lifetime ("greedy by size", as
** TensorFlow Lite's planner): with every lifetime known in advance this packs far tighter than
** allocating in step order, where a freed hole is often too small for what comes next.
** Persistent nodes (inputs, params, state, constants) own their data.
*/
#include "internal.h"
#include <stdlib.h>
#include <string.h>

typedef struct buffer { int64_t size, off; int first, last; } buffer; /* steps [first, last] */

static int64_t round_up(int64_t n) { return (n + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN; }

/* Larger first; equal sizes by first step (a total order: placement is reproducible). */
static int by_size(const void *pa, const void *pb)
{
	const buffer *a = *(buffer *const *)pa, *b = *(buffer *const *)pb;
	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	return (a->first > b->first) - (a->first < b->first);
}

static int by_offset(const void *pa, const void *pb)
{
	const buffer *a = *(buffer *const *)pa, *b = *(buffer *const *)pb;
	return (a->off > b->off) - (a->off < b->off);
}

/* Places the buffers (sorted by size) one by one: among the placed ones whose lifetimes
** overlap, sorted by offset, the smallest gap that fits (else the end). Returns the arena size;
** live is scratch for n pointers. */
static int64_t place(buffer **order, int n, buffer **live)
{
	int64_t top = 0;
	for (int i = 0; i < n; i++) {
		buffer *b = order[i];
		int nl = 0;
		for (int j = 0; j < i; j++)
			if (order[j]->first <= b->last && b->first <= order[j]->last)
				live[nl++] = order[j];
		qsort(live, (size_t)nl, sizeof *live, by_offset);
		int64_t at = 0, best = -1, best_gap = INT64_MAX;
		for (int j = 0; j < nl; j++) {
			int64_t gap = live[j]->off - at;
			if (gap >= b->size && gap < best_gap)
				best = at, best_gap = gap;
			if (live[j]->off + live[j]->size > at)
				at = live[j]->off + live[j]->size;
		}
		b->off = best >= 0 ? best : at;
		if (b->off + b->size > top)
			top = b->off + b->size;
	}
	return top;
}

void tg_plan_free(tg_plan *p)
{
	if (!p)
		return;
	tg_free(p->targets, sizeof(int) * (size_t)p->ntargets);
	tg_free(p->steps, sizeof(int) * (size_t)p->node_count);
	tg_free(p, sizeof *p);
}

static bool persistent(const tg_node *n) { return (n->flags & TG_FLAGS_PERSISTENT) != 0; }

tg_status tg_plan_build(tg_graph *g, int ntargets, tg_node *const *targets, tg_plan **out)
{
	int N = g->nnodes;
	tg_status st = TG_ERR_NOMEM;
	tg_plan *p = tg_calloc(1, sizeof *p);
	char *needed = tg_calloc((size_t)N + 1, 1);
	buffer *bufs = NULL, **order = NULL;
	int *owner = NULL; /* by node id: index of the buffer holding its value, -1 if none */
	if (!p || !needed)
		goto fail;
	p->node_count = N;
	p->ntargets = ntargets;
	p->targets = tg_malloc(sizeof(int) * (size_t)(ntargets ? ntargets : 1));
	p->steps = tg_malloc(sizeof(int) * (size_t)(N ? N : 1));
	if (!p->targets || !p->steps)
		goto fail;
	for (int i = 0; i < ntargets; i++) {
		p->targets[i] = targets[i]->id;
		needed[targets[i]->id] = 1;
	}
	for (int i = N - 1; i >= 0; i--) {
		tg_node *n = g->nodes[i];
		n->last_use = -1;
		if (!needed[i])
			continue;
		for (int k = 0; k < n->nsrc; k++)
			needed[n->src[k]->id] = 1;
	}
	for (int i = 0; i < N; i++)
		if (needed[i] && !(g->nodes[i]->op->flags & TG_OP_LEAF))
			p->steps[p->nsteps++] = i;
	/* last use (as a step index) of every value; kept values never die */
	for (int s = 0; s < p->nsteps; s++) {
		tg_node *n = g->nodes[p->steps[s]];
		for (int k = 0; k < n->nsrc; k++)
			n->src[k]->last_use = s;
	}
	for (int i = 0; i < ntargets; i++)
		targets[i]->last_use = INT32_MAX;
	for (int s = 0; s < p->nsteps; s++) {
		tg_node *n = g->nodes[p->steps[s]];
		if (n->flags & TG_FLAG_OUTPUT)
			n->last_use = INT32_MAX;
	}
	/* one buffer per value, shared by an in-place op with the input it takes over */
	int cap = p->nsteps ? p->nsteps : 1;
	bufs = tg_malloc(sizeof(buffer) * (size_t)cap);
	owner = tg_malloc(sizeof(int) * (size_t)(N ? N : 1));
	order = tg_malloc(2 * sizeof(buffer *) * (size_t)cap);
	if (!bufs || !owner || !order)
		goto fail;
	for (int i = 0; i < N; i++)
		owner[i] = -1;
	int nb = 0;
	for (int s = 0; s < p->nsteps; s++) {
		tg_node *n = g->nodes[p->steps[s]];
		int64_t size = round_up((int64_t)n->nbytes);
		int last = n->last_use == INT32_MAX ? p->nsteps : n->last_use < 0 ? s : n->last_use;
		tg_node *s0 = n->nsrc ? n->src[0] : NULL;
		if (persistent(n))
			continue; /* cannot happen for non-leaf ops */
		if ((n->op->flags & TG_OP_INPLACE) && s0 && owner[s0->id] >= 0 && s0->last_use == s &&
			round_up((int64_t)s0->nbytes) == size) {
			owner[n->id] = owner[s0->id]; /* handed over: s0's buffer lives on as n's */
			bufs[owner[n->id]].last = last;
			continue;
		}
		owner[n->id] = nb;
		bufs[nb++] = (buffer){size, 0, s, last};
	}
	for (int i = 0; i < nb; i++)
		order[i] = &bufs[i];
	qsort(order, (size_t)nb, sizeof *order, by_size);
	p->arena_bytes = (size_t)place(order, nb, order + nb);
	for (int s = 0; s < p->nsteps; s++) {
		tg_node *n = g->nodes[p->steps[s]];
		if (owner[n->id] >= 0)
			n->offset = bufs[owner[n->id]].off;
	}
	st = TG_OK;
fail:
	tg_free(bufs, 0);
	tg_free(order, 0);
	tg_free(owner, 0);
	tg_free(needed, (size_t)N + 1);
	if (st == TG_OK) {
		*out = p;
		return TG_OK;
	}
	tg_plan_free(p);
	*out = NULL;
	return tg_graph_fail(g, st, "planner: out of memory for a graph of %d nodes", N);
}
