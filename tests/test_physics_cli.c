/*
** test_physics_cli.c: `tgraph diffuse` and `tgraph sip-inverse` round trips through .npy files:
** the built binary's outputs must equal the library's array API bit for bit, keep the input's
** rank, and bad arguments must exit 2, failures 1.
*/
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tgraph.h"

#define TGRAPH TG_BUILD_DIR "/tools/tgraph"

static char dir[64];

static void make_dir(void)
{
	strcpy(dir, "/tmp/tg_phys_cli_XXXXXX");
	cr_assert(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

static const char *path(const char *name)
{
	static char buf[8][256];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

/* Runs `tgraph ARGS` (stderr discarded) and returns the exit status. */
static int run(const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", TGRAPH, args);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static double *read_f64(const char *file, tg_shape *s)
{
	tg_dtype t;
	void *d = NULL;
	cr_assert_eq(tg_npy_read(file, &t, s, &d), TG_OK, "%s", tg_last_error());
	cr_assert_eq(t, TG_F64, "%s: dtype %s", file, tg_dtype_name(t));
	return d;
}

static void free_f64(double *d, tg_shape s) { tg_free(d, sizeof(double) * (size_t)tg_shape_numel(s)); }

Test(physics_cli, diffuse_round_trip, .init = make_dir, .fini = remove_dir)
{
	enum { BB = 2, X = 7, Y = 5, NE = BB * X * Y };
	double x[NE], ref[NE];
	float xf[NE];
	/* dyadic values, exact in f32, so both inputs give the same result. (Not a round trip through
	** float: GCC 12.2 at -O3 drops the last two stores of a float -> double loop over 70 elements.) */
	for (int i = 0; i < NE; i++) {
		x[i] = (double)((i * 37) % 29 - 14) / 16.0;
		xf[i] = (float)x[i];
	}
	cr_assert_eq(tg_diffuse_compute(x, ref, BB, X, Y, 1.25), TG_OK);
	cr_assert_eq(tg_npy_write(path("x.npy"), TG_F64, TG_SHAPE(BB, X, Y), x), TG_OK);
	cr_assert_eq(tg_npy_write(path("xf.npy"), TG_F32, TG_SHAPE(BB, X, Y), xf), TG_OK);
	cr_assert_eq(tg_npy_write(path("x2.npy"), TG_F64, TG_SHAPE(X, Y), x), TG_OK);
	static const char *const ins[] = {"x.npy", "xf.npy", "x2.npy"};
	for (int k = 0; k < 3; k++) {
		char args[1024];
		snprintf(args, sizeof args, "diffuse --amount 1.25 %s %s", path(ins[k]), path("y.npy"));
		cr_assert_eq(run(args), 0, "%s", args);
		tg_shape s;
		double *y = read_f64(path("y.npy"), &s);
		cr_expect(tg_shape_eq(s, k == 2 ? TG_SHAPE(X, Y) : TG_SHAPE(BB, X, Y)), "%s: shape", ins[k]);
		cr_expect_eq(memcmp(y, ref, sizeof(double) * (size_t)tg_shape_numel(s)), 0, "%s: values differ", ins[k]);
		free_f64(y, s);
	}
}

Test(physics_cli, sip_inverse_round_trip, .init = make_dir, .fini = remove_dir)
{
	enum { BB = 2, X = 9, Y = 6, NE = BB * X * Y };
	double r[NE], u[NE], dx[NE], k[NE], p[NE], unc[BB];
	tg_rng_fill_uniform((tg_rng){5, 6}, 0, -1, 1, r, NE);
	const double rel = 0.01;
	for (int i = 0; i < NE; i++)
		u[i] = fabs(r[i]) * rel;
	tg_inv_diffuse_out out = {.dx = dx, .kernel = k, .sig_prob = p, .uncertainty = unc};
	cr_assert_eq(tg_inv_diffuse_compute(r, u, BB, X, Y, 0.5, &out), TG_OK);
	cr_assert_eq(tg_npy_write(path("r.npy"), TG_F64, TG_SHAPE(BB, X, Y), r), TG_OK);
	char args[1024];
	snprintf(args, sizeof args, "sip-inverse --amount 0.5 --rel-uncertainty 0.01 %s %s --kernel %s --prob %s --uncertainty %s",
		path("r.npy"), path("dx.npy"), path("k.npy"), path("p.npy"), path("u.npy"));
	cr_assert_eq(run(args), 0, "%s", args);
	const char *files[] = {"dx.npy", "k.npy", "p.npy"};
	const double *refs[] = {dx, k, p};
	for (int f = 0; f < 3; f++) {
		tg_shape s;
		double *d = read_f64(path(files[f]), &s);
		cr_expect(tg_shape_eq(s, TG_SHAPE(BB, X, Y)), "%s: shape", files[f]);
		cr_expect_eq(memcmp(d, refs[f], sizeof(double) * NE), 0, "%s: values differ", files[f]);
		free_f64(d, s);
	}
	tg_shape s;
	double *d = read_f64(path("u.npy"), &s);
	cr_expect(tg_shape_eq(s, TG_SHAPE(BB)));
	cr_expect_eq(memcmp(d, unc, sizeof unc), 0);
	free_f64(d, s);

	/* a 2-D residual is batch 1: outputs keep the rank, the uncertainty is 0-d; R defaults to float32(1e-6) */
	for (int i = 0; i < X * Y; i++)
		u[i] = fabs(r[i]) * TG_SEED_REL_UNCERTAINTY;
	cr_assert_eq(tg_inv_diffuse_compute(r, u, 1, X, Y, 0.5, &out), TG_OK);
	cr_assert_eq(tg_npy_write(path("r2.npy"), TG_F64, TG_SHAPE(X, Y), r), TG_OK);
	snprintf(args, sizeof args, "sip-inverse %s %s --uncertainty %s --amount 0.5", path("r2.npy"), path("dx2.npy"), path("u2.npy"));
	cr_assert_eq(run(args), 0, "%s", args);
	d = read_f64(path("dx2.npy"), &s);
	cr_expect(tg_shape_eq(s, TG_SHAPE(X, Y)));
	cr_expect_eq(memcmp(d, dx, sizeof(double) * X * Y), 0);
	free_f64(d, s);
	d = read_f64(path("u2.npy"), &s);
	cr_expect_eq(s.ndim, 0);
	cr_expect_eq(d[0], unc[0]);
	free_f64(d, s);
}

Test(physics_cli, bad_arguments_and_failures, .init = make_dir, .fini = remove_dir)
{
	double v[12] = {0};
	cr_assert_eq(tg_npy_write(path("g.npy"), TG_F64, TG_SHAPE(3, 4), v), TG_OK);
	cr_assert_eq(tg_npy_write(path("v.npy"), TG_F64, TG_SHAPE(12), v), TG_OK);
	cr_assert_eq(tg_npy_write(path("c.npy"), TG_C128, TG_SHAPE(3, 2), v), TG_OK);
	char a[1024];
	const char *g = path("g.npy"), *o = path("o.npy");
	struct { const char *fmt; int rc; } cases[] = {
		{"diffuse %s %s", 2},                        /* no --amount */
		{"diffuse --amount -1 %s %s", 2},
		{"diffuse --amount nan %s %s", 2},
		{"diffuse --amount 1x %s %s", 2},
		{"diffuse --amount 1 --bogus %s %s", 2},
		{"diffuse --amount 1 %s", 2},                 /* one file */
		{"diffuse --amount 1 %s %s extra", 2},
		{"sip-inverse %s %s", 2},
		{"sip-inverse --amount 1 --rel-uncertainty -2 %s %s", 2},
		{"sip-inverse --amount 1 %s %s --kernel", 2},
		{"diffuse --amount 1 %s /nonexistent-dir/o.npy", 1},
		{"diffuse --amount 1 %s/nonexistent.npy %s", 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(a, sizeof a, cases[i].fmt, i == 11 ? dir : g, o);
		cr_expect_eq(run(a), cases[i].rc, "`tgraph %s` should exit %d", a, cases[i].rc);
	}
	snprintf(a, sizeof a, "diffuse --amount 1 %s %s", path("v.npy"), o);   /* 1-D */
	cr_expect_eq(run(a), 1, "%s", a);
	snprintf(a, sizeof a, "sip-inverse --amount 1 %s %s", path("c.npy"), o);   /* complex */
	cr_expect_eq(run(a), 1, "%s", a);
	cr_expect_eq(access(o, F_OK), -1, "a failed run left %s behind", o);
}
