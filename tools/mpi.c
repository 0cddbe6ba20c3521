/*
** mpi.c: the MPI side of data-parallel training (see dist.h). Only this file includes mpi.h, and
** only the tgraph executable links MPI (TG_HAVE_MPI, Meson option `mpi`); the library stays
** MPI-free. Without TG_HAVE_MPI every process is alone: rank 0 of 1.
*/
#include <stdio.h>
#include <stdlib.h>
#include "dist.h"

#ifdef TG_HAVE_MPI
#include <limits.h>
#include <mpi.h>

static bool joined;

/* Launched by mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE) or a PMI/PMIx launcher such as srun.
** A plain `tgraph train` does not initialise MPI (no singleton start-up). */
static bool under_launcher(void)
{
	return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int cli_dist_begin(cli_dist *d, const char *cmd)
{
	*d = (cli_dist){0, 1};
	if (!under_launcher())
		return 0;
	int provided;
	/* only the main thread calls MPI (the hook runs between kernels, not inside tg_parallel_for) */
	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
		fprintf(stderr, "tgraph %s: MPI_Init_thread failed\n", cmd);
		return 1;
	}
	joined = true;
	MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &d->size);
	if (d->rank != 0 && !freopen("/dev/null", "w", stdout))
		fprintf(stderr, "tgraph %s: rank %d: cannot silence stdout\n", cmd, d->rank);
	return 0;
}

static tg_status mpi_allreduce(double *buf, int64_t n, void *ud)
{
	(void)ud;
	/* MPI counts are ints: a larger buffer goes in pieces */
	for (int64_t off = 0; off < n;) {
		int k = n - off > INT_MAX ? INT_MAX : (int)(n - off);
		int rc = MPI_Allreduce(MPI_IN_PLACE, buf + off, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
		if (rc != MPI_SUCCESS) {
			char msg[MPI_MAX_ERROR_STRING];
			int len = 0;
			MPI_Error_string(rc, msg, &len);
			return tg_set_error(TG_ERR_IO, "MPI_Allreduce of %d doubles: %s", k, msg);
		}
		off += k;
	}
	return TG_OK;
}

tg_allreduce_fn cli_dist_allreduce(const cli_dist *d) { return d->size > 1 ? mpi_allreduce : NULL; }

void cli_dist_max(const cli_dist *d, int *v, int n)
{
	if (d->size > 1)
		MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
}

int cli_dist_end(cli_dist *d, int rc)
{
	if (!joined)
		return rc;
	fflush(stdout);
	fflush(stderr);
	if (rc != 0 && rc != 130 && rc != 143 && d->size > 1)
		MPI_Abort(MPI_COMM_WORLD, rc);
	MPI_Finalize();
	joined = false;
	return rc;
}

#else /* one process */

int cli_dist_begin(cli_dist *d, const char *cmd)
{
	(void)cmd;
	*d = (cli_dist){0, 1};
	return 0;
}

tg_allreduce_fn cli_dist_allreduce(const cli_dist *d) { (void)d; return NULL; }
void cli_dist_max(const cli_dist *d, int *v, int n) { (void)d, (void)v, (void)n; }
int cli_dist_end(cli_dist *d, int rc) { (void)d; return rc; }

#endif
