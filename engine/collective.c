/*
** collective.c: the allreduce hook of data-parallel runs. The engine never talks to another
** process itself: the application installs a function that sums a double buffer over the
** processes (tools/mpi.c wraps MPI_Allreduce), and kernels that reduce over the batch call it
** through tg_exec_allreduce.
*/
#include "internal.h"

void tg_graph_set_allreduce(tg_graph *g, tg_allreduce_fn fn, void *ud)
{
	if (!g)
		return;
	g->allreduce = fn;
	g->allreduce_ud = fn ? ud : NULL;
}

bool tg_exec_distributed(const tg_exec *ex) { return ex && ex->g && ex->g->allreduce; }

tg_status tg_exec_allreduce(tg_exec *ex, double *buf, int64_t n)
{
	if (!tg_exec_distributed(ex) || n == 0)
		return TG_OK;
	if (!buf || n < 0)
		return tg_graph_fail(ex->g, TG_ERR_ARG, "allreduce: bad buffer (%p, %lld values)", (void *)buf, (long long)n);
	tg_status st = ex->g->allreduce(buf, n, ex->g->allreduce_ud);
	if (st != TG_OK)
		return tg_graph_fail(ex->g, st, "allreduce of %lld values failed: %s", (long long)n, tg_last_error());
	return TG_OK;
}
