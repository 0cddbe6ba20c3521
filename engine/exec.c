/*
** exec.c: the scheduler. Runs a plan's nodes in order on one arena; kernels split their work
** with tg_parallel_for over a small persistent thread pool. Chunks are defined by the kernels,
** never by the thread count, so results are bit-identical for any number of threads.
*/
#include "internal.h"
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- thread pool */

typedef struct pool {
	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	int nworkers;
	pthread_t *threads;
	uint64_t generation;
	void (*fn)(void *, int64_t);
	void *arg;
	int64_t nchunks;
	atomic_llong next;
	int busy;           /* workers still in the current job */
	bool quit;
} pool;

static pool *the_pool;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static void run_chunks(pool *p)
{
	for (;;) {
		int64_t c = atomic_fetch_add(&p->next, 1);
		if (c >= p->nchunks)
			break;
		p->fn(p->arg, c);
	}
}

static void *worker(void *arg)
{
	pool *p = arg;
	uint64_t seen = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->quit && p->generation == seen)
			pthread_cond_wait(&p->work_cv, &p->mu);
		if (p->quit)
			break;
		seen = p->generation;
		pthread_mutex_unlock(&p->mu);
		run_chunks(p);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done_cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void pool_destroy(pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	tg_free(p->threads, sizeof(pthread_t) * (size_t)p->nworkers);
	tg_free(p, sizeof *p);
}

static void pool_atexit(void) { pool_destroy(the_pool); the_pool = NULL; }

/* Returns a pool with nworkers helper threads, or NULL (then work runs serially). */
static pool *pool_get(int nworkers)
{
	static bool registered;
	if (nworkers <= 0)
		return NULL;
	pthread_mutex_lock(&pool_lock);
	if (the_pool && the_pool->nworkers != nworkers) {
		pool_destroy(the_pool);
		the_pool = NULL;
	}
	if (!the_pool) {
		pool *p = tg_calloc(1, sizeof *p);
		if (p && (p->threads = tg_calloc((size_t)nworkers, sizeof(pthread_t)))) {
			pthread_mutex_init(&p->mu, NULL);
			pthread_cond_init(&p->work_cv, NULL);
			pthread_cond_init(&p->done_cv, NULL);
			for (int i = 0; i < nworkers; i++) {
				if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
					break;
				p->nworkers++;
			}
			the_pool = p;
			if (!registered) {
				atexit(pool_atexit);
				registered = true;
			}
		} else {
			tg_free(p, sizeof *p);
		}
	}
	pthread_mutex_unlock(&pool_lock);
	return the_pool && the_pool->nworkers > 0 ? the_pool : NULL;
}

void tg_parallel_for(tg_exec *ex, int64_t nchunks, void (*fn)(void *arg, int64_t chunk), void *arg)
{
	if (nchunks <= 0)
		return;
	pool *p = (ex && ex->nthreads > 1 && nchunks > 1) ? pool_get(ex->nthreads - 1) : NULL;
	if (!p) {
		for (int64_t c = 0; c < nchunks; c++)
			fn(arg, c);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->nchunks = nchunks;
	atomic_store(&p->next, 0);
	p->busy = p->nworkers;
	p->generation++;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	run_chunks(p);
	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

int tg_exec_threads(const tg_exec *ex) { return ex ? ex->nthreads : 1; }
tg_graph *tg_exec_graph(tg_exec *ex) { return ex ? ex->g : NULL; }

/* The scratch belongs to the graph and is kept between runs: a fresh multi-MiB allocation
** per run would be returned to the kernel and faulted in again every time. */
void *tg_exec_scratch(tg_exec *ex, size_t nbytes)
{
	tg_graph *g = ex->g;
	if (nbytes > g->scratch_cap) {
		tg_free_aligned(g->scratch);
		g->scratch = tg_malloc_aligned(nbytes);
		g->scratch_cap = g->scratch ? nbytes : 0;
		if (g->scratch && nbytes > g->scratch_peak)
			g->scratch_peak = nbytes;
	}
	return g->scratch;
}

/* ---------------------------------------------------------------- running a plan */

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool plan_matches(const tg_plan *p, const tg_graph *g, int ntargets, tg_node *const *targets)
{
	if (!p || p->node_count != g->nnodes || p->ntargets != ntargets)
		return false;
	for (int i = 0; i < ntargets; i++)
		if (p->targets[i] != targets[i]->id)
			return false;
	return true;
}

static int64_t first_nonfinite(const tg_node *n)
{
	int64_t ne = tg_numel(n) * (n->dtype == TG_C128 ? 2 : 1);
	if (n->dtype == TG_F32) {
		const float *x = n->data;
		for (int64_t i = 0; i < ne; i++)
			if (!isfinite(x[i]))
				return i;
	} else {
		const double *x = n->data;
		for (int64_t i = 0; i < ne; i++)
			if (!isfinite(x[i]))
				return i;
	}
	return -1;
}

tg_status tg_graph_compute(tg_graph *g, int ntargets, tg_node *const *targets)
{
	if (!g)
		return tg_set_error(TG_ERR_ARG, "tg_graph_compute: NULL graph");
	if (g->status != TG_OK)
		return tg_set_error(g->status, "tg_graph_compute: the graph has an error: %s", g->msg);
	if (ntargets <= 0 || !targets)
		return tg_graph_fail(g, TG_ERR_ARG, "tg_graph_compute: no targets given");
	for (int i = 0; i < ntargets; i++)
		if (!targets[i] || targets[i]->graph != g)
			return tg_graph_fail(g, TG_ERR_ARG, "tg_graph_compute: target %d is %s", i,
				targets[i] ? "from another graph" : "NULL");
	if (!plan_matches(g->plan, g, ntargets, targets)) {
		tg_plan_free(g->plan);
		g->plan = NULL;
		tg_status st = tg_plan_build(g, ntargets, targets, &g->plan);
		if (st != TG_OK)
			return st;
		if (g->plan->arena_bytes > g->arena_cap) {
			tg_free_aligned(g->arena);
			g->arena_cap = 0;
			g->arena = tg_malloc_aligned(g->plan->arena_bytes);
			if (!g->arena) {
				size_t want = g->plan->arena_bytes;
				tg_plan_free(g->plan);
				g->plan = NULL;
				return tg_graph_fail(g, TG_ERR_NOMEM, "tg_graph_compute: out of memory for a %zu-byte arena", want);
			}
			g->arena_cap = g->plan->arena_bytes;
		}
	}
	if (g->profile_cap < g->nnodes) {
		double *np = tg_realloc(g->profile, sizeof(double) * (size_t)g->profile_cap, sizeof(double) * (size_t)g->nnodes);
		if (!np)
			return tg_graph_fail(g, TG_ERR_NOMEM, "tg_graph_compute: out of memory");
		g->profile = np;
		g->profile_cap = g->nnodes;
	}
	memset(g->profile, 0, sizeof(double) * (size_t)g->nnodes);
	tg_plan *p = g->plan;
	for (int s = 0; s < p->nsteps; s++) {
		tg_node *n = g->nodes[p->steps[s]];
		n->data = (char *)g->arena + n->offset;
	}
	tg_exec ex = {.g = g, .nthreads = g->nthreads};
	tg_blas_set_threads(g->nthreads);
	tg_status st = TG_OK;
	for (int s = 0; s < p->nsteps && st == TG_OK; s++) {
		tg_node *n = g->nodes[p->steps[s]];
		double t0 = now_seconds();
		st = n->op->forward(&ex, n);
		double dt = now_seconds() - t0;
		g->profile[n->id] = dt;
		if (st != TG_OK) {
			if (g->status == TG_OK)
				tg_graph_fail(g, st, "%s: node %d '%s' failed: %s", n->op->name, n->id, n->name, tg_status_str(st));
			break;
		}
		if (g->check_finite && !(n->op->flags & TG_OP_UPDATE)) {
			int64_t bad = first_nonfinite(n);
			if (bad >= 0) {
				/* a value fed in (input, parameter, state, constant) is named, not its first reader */
				const tg_node *at = n;
				for (int k = 0; k < n->nsrc && at == n; k++) {
					int64_t sb = n->src[k]->op->flags & TG_OP_LEAF ? first_nonfinite(n->src[k]) : -1;
					if (sb >= 0)
						at = n->src[k], bad = sb;
				}
				char reader[TG_NAME_LEN + 32] = "";
				if (at != n)
					snprintf(reader, sizeof reader, ", read by node %d '%s'", n->id, n->name);
				st = TG_ERR_NUMERIC;
				/* not sticky: the graph stays usable for the next run */
				tg_set_error(st, "non-finite value at element %lld of node %d '%s' (op %s, %s %s)%s%s",
					(long long)bad, at->id, at->name, at->op->name, tg_dtype_name(at->dtype), tg_sstr(at->shape), reader,
					n->flags & TG_FLAG_BACKWARD ? " in the backward pass" : "");
				break;
			}
		}
		if (g->eval_cb && !g->eval_cb(n, dt, g->eval_ud)) {
			st = tg_set_error(TG_ERR_ABORTED, "tg_graph_compute: aborted by the callback after node %d '%s'", n->id, n->name);
			break;
		}
	}
	return st;
}
