/*
** physics_io.c: see physics_io.h.
*/
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "physics_io.h"

int cli_grid_read(const char *cmd, const char *path, cli_grid *g)
{
	tg_dtype t;
	void *raw = NULL;
	memset(g, 0, sizeof *g);
	if (tg_npy_read(path, &t, &g->shape, &raw) != TG_OK)
		return cli_fail(cmd, "cannot read '%s'", path);
	tg_shape s = g->shape;
	int64_t n = tg_shape_numel(s);
	size_t raw_bytes = (size_t)n * tg_dtype_size(t);
	if ((t != TG_F64 && t != TG_F32) || s.ndim < 2 || s.ndim > 3 || s.d[s.ndim - 1] < 1 || s.d[s.ndim - 2] < 1) {
		char buf[128];
		fprintf(stderr, "tgraph %s: '%s' is %s %s; expected f64 or f32 [X, Y] or [B, X, Y] with X, Y >= 1\n", cmd, path,
			tg_dtype_name(t), tg_shape_str(s, buf, sizeof buf));
		tg_free(raw, raw_bytes);
		return 1;
	}
	g->nx = s.d[s.ndim - 2];
	g->ny = s.d[s.ndim - 1];
	g->batch = s.ndim == 3 ? s.d[0] : 1;
	if (t == TG_F64) {
		g->data = raw;
		return 0;
	}
	g->data = tg_malloc(sizeof(double) * (size_t)n);
	if (!g->data) {
		tg_free(raw, raw_bytes);
		return cli_fail(cmd, "out of memory reading '%s'", path);
	}
	for (int64_t i = 0; i < n; i++)
		g->data[i] = ((const float *)raw)[i];
	tg_free(raw, raw_bytes);
	return 0;
}

void cli_grid_free(cli_grid *g)
{
	tg_free(g->data, sizeof(double) * (size_t)tg_shape_numel(g->shape));
	g->data = NULL;
}
