/*
** cmd_diffuse.c: `tgraph diffuse --amount A IN.npy OUT.npy`: PhiFlow's diffuse.fourier with
** amount = diffusivity * dt on a periodic grid of unit cells. IN: f64 or f32 [X, Y] or
** [B, X, Y]; OUT: f64, same shape (written atomically).
*/
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "physics_io.h"

int cmd_diffuse(int argc, char **argv)
{
	const char *files[2] = {NULL, NULL}, *amount_s = NULL;
	int nfiles = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--amount") == 0) {
			if (++i >= argc)
				return cli_usage_error("diffuse", "--amount needs a value");
			amount_s = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return cli_usage_error("diffuse", "unknown argument '%s'", argv[i]);
		} else if (nfiles < 2) {
			files[nfiles++] = argv[i];
		} else {
			return cli_usage_error("diffuse", "unexpected argument '%s' (expected IN.npy OUT.npy)", argv[i]);
		}
	}
	double amount;
	if (!amount_s)
		return cli_usage_error("diffuse", "--amount A is required");
	if (!cli_parse_double(amount_s, &amount) || amount < 0)
		return cli_usage_error("diffuse", "--amount '%s' must be a finite number >= 0", amount_s);
	if (nfiles != 2)
		return cli_usage_error("diffuse", "expected IN.npy OUT.npy");

	cli_grid x;
	int rc = cli_grid_read("diffuse", files[0], &x);
	if (rc)
		return rc;
	double *y = tg_malloc(sizeof(double) * (size_t)tg_shape_numel(x.shape));
	if (!y)
		rc = cli_fail("diffuse", "out of memory");
	else if (tg_diffuse_compute(x.data, y, x.batch, x.nx, x.ny, amount) != TG_OK)
		rc = cli_fail("diffuse", "diffusion failed");
	else if (tg_npy_write(files[1], TG_F64, x.shape, y) != TG_OK)
		rc = cli_fail("diffuse", "cannot write '%s'", files[1]);
	tg_free(y, sizeof(double) * (size_t)tg_shape_numel(x.shape));
	cli_grid_free(&x);
	return rc;
}
