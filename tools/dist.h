/*
** dist.h: data-parallel `tgraph train` under mpirun (tools/mpi.c). Each process (rank) trains on
** its slice of every batch; the library sums batch-norm statistics, gradients and losses through
** the allreduce hook given here. Built without MPI, or started without mpirun, the process is
** rank 0 of 1 and nothing is communicated.
*/
#ifndef TG_CLI_DIST_H
#define TG_CLI_DIST_H

#include <stdbool.h>
#include "tgraph.h"

typedef struct cli_dist { int rank, size; } cli_dist;

/* Joins the MPI job when launched by mpirun (or another PMI/PMIx launcher); ranks other than 0
** send their stdout to /dev/null (rank 0 alone reports; stderr stays, so errors show on every
** rank). Returns 0, or an exit status after printing why. */
int cli_dist_begin(cli_dist *d, const char *cmd);
/* The hook for tg_heat_config.allreduce: MPI_Allreduce (MPI_SUM) over every rank; NULL when alone. */
tg_allreduce_fn cli_dist_allreduce(const cli_dist *d);
/* A collective: v[0..n) becomes the maximum over the ranks, on every rank (e.g. a signal number
** that reached one of them). */
void cli_dist_max(const cli_dist *d, int *v, int n);
/* Leaves the job and returns rc. rc 0, or 130/143 (every rank stopped at the same step after a
** signal): MPI_Finalize. Any other rc may be this rank's alone (bad input, an I/O error), while the
** others wait in a collective: MPI_Abort(rc) ends every rank, after the message was printed. */
int cli_dist_end(cli_dist *d, int rc);

#endif
