/*
** cmd_sip_inverse.c: `tgraph sip-inverse --amount A [--rel-uncertainty R] RESIDUAL.npy DX.npy
** [--kernel K.npy] [--prob P.npy] [--uncertainty U.npy]`: the seed's damped inverse diffusion
** inv_diffuse(residual, A, |residual| * R) (tg_inv_diffuse_compute); R defaults to float32(1e-6)
** as PhiFlow 2.1.1 uses it. RESIDUAL: f64 or f32 [X, Y] (batch 1) or [B, X, Y]. DX, K (damped
** kernel), P (signal probability): f64 with RESIDUAL's shape; U: the uncertainty per item, [B],
** or [] for a 2-D residual. Outputs are written atomically.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "physics_io.h"

/* Output files: the optional ones by flag. */
enum { OUT_KERNEL, OUT_PROB, OUT_UNC, NOUT };
static const char *const out_flags[NOUT] = {"--kernel", "--prob", "--uncertainty"};

int cmd_sip_inverse(int argc, char **argv)
{
	const char *cmd = "sip-inverse", *files[2] = {NULL, NULL}, *outs[NOUT] = {NULL, NULL, NULL};
	const char *amount_s = NULL, *rel_s = NULL;
	int nfiles = 0;
	for (int i = 1; i < argc; i++) {
		const char **slot = NULL;
		if (strcmp(argv[i], "--amount") == 0)
			slot = &amount_s;
		else if (strcmp(argv[i], "--rel-uncertainty") == 0)
			slot = &rel_s;
		for (int k = 0; k < NOUT && !slot; k++)
			if (strcmp(argv[i], out_flags[k]) == 0)
				slot = &outs[k];
		if (slot) {
			if (i + 1 >= argc)
				return cli_usage_error(cmd, "%s needs a value", argv[i]);
			*slot = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return cli_usage_error(cmd, "unknown argument '%s'", argv[i]);
		} else if (nfiles < 2) {
			files[nfiles++] = argv[i];
		} else {
			return cli_usage_error(cmd, "unexpected argument '%s' (expected RESIDUAL.npy DX.npy)", argv[i]);
		}
	}
	double amount, rel = TG_SEED_REL_UNCERTAINTY;
	if (!amount_s)
		return cli_usage_error(cmd, "--amount A is required");
	if (!cli_parse_double(amount_s, &amount) || amount < 0)
		return cli_usage_error(cmd, "--amount '%s' must be a finite number >= 0", amount_s);
	if (rel_s && (!cli_parse_double(rel_s, &rel) || rel < 0))
		return cli_usage_error(cmd, "--rel-uncertainty '%s' must be a finite number >= 0", rel_s);
	if (nfiles != 2)
		return cli_usage_error(cmd, "expected RESIDUAL.npy DX.npy");

	cli_grid r;
	int rc = cli_grid_read(cmd, files[0], &r);
	if (rc)
		return rc;
	size_t n = (size_t)tg_shape_numel(r.shape), bytes = sizeof(double) * (4 * n + (size_t)r.batch);
	double *buf = tg_malloc(bytes);
	if (!buf) {
		cli_grid_free(&r);
		return cli_fail(cmd, "out of memory");
	}
	double *u = buf, *dx = buf + n, *kern = buf + 2 * n, *prob = buf + 3 * n, *unc = buf + 4 * n;
	for (size_t i = 0; i < n; i++)
		u[i] = fabs(r.data[i]) * rel;
	tg_inv_diffuse_out out = {.dx = dx, .kernel = outs[OUT_KERNEL] ? kern : NULL, .sig_prob = outs[OUT_PROB] ? prob : NULL,
		.uncertainty = unc};
	tg_shape unc_shape = r.shape.ndim == 3 ? TG_SHAPE(r.batch) : TG_SCALAR_SHAPE;
	if (tg_inv_diffuse_compute(r.data, u, r.batch, r.nx, r.ny, amount, &out) != TG_OK)
		rc = cli_fail(cmd, "inverse diffusion failed");
	else if (tg_npy_write(files[1], TG_F64, r.shape, dx) != TG_OK)
		rc = cli_fail(cmd, "cannot write '%s'", files[1]);
	else if (outs[OUT_KERNEL] && tg_npy_write(outs[OUT_KERNEL], TG_F64, r.shape, kern) != TG_OK)
		rc = cli_fail(cmd, "cannot write '%s'", outs[OUT_KERNEL]);
	else if (outs[OUT_PROB] && tg_npy_write(outs[OUT_PROB], TG_F64, r.shape, prob) != TG_OK)
		rc = cli_fail(cmd, "cannot write '%s'", outs[OUT_PROB]);
	else if (outs[OUT_UNC] && tg_npy_write(outs[OUT_UNC], TG_F64, unc_shape, unc) != TG_OK)
		rc = cli_fail(cmd, "cannot write '%s'", outs[OUT_UNC]);
	tg_free(buf, bytes);
	cli_grid_free(&r);
	return rc;
}
