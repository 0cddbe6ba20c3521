/*
** physics_io.h: reading the grids of the physics commands (diffuse, sip-inverse).
*/
#ifndef TG_PHYSICS_IO_H
#define TG_PHYSICS_IO_H

#include "tgraph.h"

/* A grid [X, Y] (batch 1) or [B, X, Y] from an f64 or f32 .npy, as f64. */
typedef struct cli_grid {
	tg_shape shape;     /* as in the file */
	int64_t batch, nx, ny;
	double *data;       /* tg_malloc'ed, batch * nx * ny */
} cli_grid;

/* Reads path into g; on failure prints "tgraph <cmd>: ..." and returns the exit status (1). */
int cli_grid_read(const char *cmd, const char *path, cli_grid *g);
void cli_grid_free(cli_grid *g);

#endif
