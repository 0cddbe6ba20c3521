/*
** plan.c: the memory planner. Given the targets of a run, it selects the nodes needed (the
** targets and their ancestors), keeps creation order (which is topological), and gives every
** non-persistent value an offset in one arena: a buffer is freed after its last consumer and
** reused best-fit; an op flagged TG_OP_INPLACE takes over its first input's buffer when that
** input dies at this node. Persistent nodes (inputs, params, state, constants) own their data.
*/
#include "internal.h"
#include <string.h>

typedef struct block { int64_t off, size; } block;

typedef struct arena {
	block *free;
	int nfree, cap;
	int64_t top;      /* high-water mark = peak bytes */
} arena;

static int64_t round_up(int64_t n) { return (n + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN; }

static bool arena_push_free(arena *a, int64_t off, int64_t size)
{
	/* keep free blocks sorted by offset and merged with neighbours */
	int i = 0;
	while (i < a->nfree && a->free[i].off < off)
		i++;
	if (i > 0 && a->free[i - 1].off + a->free[i - 1].size == off) {
		a->free[i - 1].size += size;
		if (i < a->nfree && a->free[i - 1].off + a->free[i - 1].size == a->free[i].off) {
			a->free[i - 1].size += a->free[i].size;
			memmove(a->free + i, a->free + i + 1, sizeof(block) * (size_t)(a->nfree - i - 1));
			a->nfree--;
		}
		goto trim;
	}
	if (i < a->nfree && off + size == a->free[i].off) {
		a->free[i].off = off;
		a->free[i].size += size;
		goto trim;
	}
	if (a->nfree == a->cap) {
		int nc = a->cap ? 2 * a->cap : 32;
		block *nb = tg_realloc(a->free, sizeof(block) * (size_t)a->cap, sizeof(block) * (size_t)nc);
		if (!nb)
			return false;
		a->free = nb;
		a->cap = nc;
	}
	memmove(a->free + i + 1, a->free + i, sizeof(block) * (size_t)(a->nfree - i));
	a->free[i] = (block){off, size};
	a->nfree++;
trim:
	return true;
}

static int64_t arena_alloc(arena *a, int64_t size)
{
	int best = -1;
	for (int i = 0; i < a->nfree; i++)
		if (a->free[i].size >= size && (best < 0 || a->free[i].size < a->free[best].size))
			best = i;
	if (best >= 0) {
		int64_t off = a->free[best].off;
		a->free[best].off += size;
		a->free[best].size -= size;
		if (a->free[best].size == 0) {
			memmove(a->free + best, a->free + best + 1, sizeof(block) * (size_t)(a->nfree - best - 1));
			a->nfree--;
		}
		return off;
	}
	/* grow at the top, absorbing a free block that ends there */
	if (a->nfree && a->free[a->nfree - 1].off + a->free[a->nfree - 1].size == a->top) {
		int64_t off = a->free[a->nfree - 1].off;
		a->nfree--;
		a->top = off + size;
		return off;
	}
	int64_t off = a->top;
	a->top += size;
	return off;
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
	arena a = {0};
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
	for (int s = 0; s < p->nsteps; s++) {
		tg_node *n = g->nodes[p->steps[s]];
		int64_t size = round_up((int64_t)n->nbytes);
		tg_node *s0 = n->nsrc ? n->src[0] : NULL;
		if (persistent(n)) {
			/* cannot happen for non-leaf ops */
		} else if ((n->op->flags & TG_OP_INPLACE) && s0 && !persistent(s0) && s0->last_use == s &&
			round_up((int64_t)s0->nbytes) == size) {
			n->offset = s0->offset;
			s0->last_use = -2; /* handed over: do not free below */
		} else {
			n->offset = arena_alloc(&a, size);
		}
		if (n->last_use == -1 && !persistent(n)) /* computed but unused (e.g. an update's dummy result) */
			if (!arena_push_free(&a, n->offset, size))
				goto fail;
		for (int k = 0; k < n->nsrc; k++) {
			tg_node *src = n->src[k];
			bool dup = false;
			for (int j = 0; j < k; j++)
				dup |= n->src[j] == src;
			if (!dup && src->last_use == s && !persistent(src))
				if (!arena_push_free(&a, src->offset, round_up((int64_t)src->nbytes)))
					goto fail;
		}
	}
	p->arena_bytes = (size_t)a.top;
	tg_free(a.free, sizeof(block) * (size_t)a.cap);
	tg_free(needed, (size_t)N + 1);
	*out = p;
	return TG_OK;
fail:
	tg_free(a.free, sizeof(block) * (size_t)a.cap);
	tg_free(needed, (size_t)N + 1);
	tg_plan_free(p);
	*out = NULL;
	return tg_graph_fail(g, st, "planner: out of memory for a graph of %d nodes", N);
}
