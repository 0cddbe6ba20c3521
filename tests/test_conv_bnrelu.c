/*
** test_conv_bnrelu.c: tg_conv2d_bnrelu (ops/conv2d_bnrelu.c) gives the bits of the nodes it
** replaces, tg_conv2d of a stored tg_batchnorm2d_relu output: output, gradients of x, gamma, beta,
** w and b, and the running statistics, on every convolution path (f64 on BLIS; f32 on the direct,
** Winograd and BLIS kernels), for several shapes and thread counts; conv2d's own backward on a
** batch norm + relu input (which also computes it from x) likewise; and the argument errors.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "tgraph.h"
#include "conv_paths.h"


static tg_node *rand_input(tg_graph *g, const char *name, tg_dtype t, tg_shape s, uint64_t seed, double lo, double hi)
{
	tg_node *n = tg_input(g, name, t, s);
	tg_rng r = {seed, 11};
	for (int64_t i = 0; i < tg_numel(n); i++) {
		double v = lo + (hi - lo) * tg_rng_uniform(r, (uint64_t)i);
		if (t == TG_F32)
			tg_f32(n)[i] = (float)v;
		else
			tg_f64(n)[i] = v;
	}
	return n;
}

enum { OUT, DX, DGAMMA, DBETA, DW, DB, RMEAN, RVAR, NRESULTS };

/* Runs batch norm + relu then conv (fused or not) on inputs from fixed seeds; copies the results. */
enum { REF, FUSED, CONV_ON_BN }; /* conv2d of a stored copy of a; conv2d_bnrelu; conv2d on a itself */

static void run(int how, tg_dtype t, tg_shape xs, tg_shape ws, int pad, bool bias, int threads, void *out[NRESULTS],
	size_t bytes[NRESULTS])
{
	int64_t C = xs.d[1];
	tg_graph *g = tg_graph_new();
	tg_graph_set_threads(g, threads);
	tg_node *x = rand_input(g, "x", t, xs, 1, -1, 2);
	tg_node *gamma = rand_input(g, "gamma", t, TG_SHAPE(C), 2, 0.5, 1.5);
	tg_node *beta = rand_input(g, "beta", t, TG_SHAPE(C), 3, -0.5, 0.5);
	tg_node *w = rand_input(g, "w", t, ws, 4, -1, 1);
	tg_node *b = bias ? rand_input(g, "b", t, TG_SHAPE(ws.d[0]), 5, -1, 1) : NULL;
	tg_node *rm = tg_state(g, "rm", t, TG_SHAPE(C)), *rv = tg_state(g, "rv", t, TG_SHAPE(C));
	for (int64_t c = 0; c < C; c++)
		t == TG_F32 ? (tg_f32(rv)[c] = 1.0f) : (tg_f64(rv)[c] = 1.0);
	tg_node *a = tg_batchnorm2d_relu(g, x, gamma, beta, rm, rv, true, 0.1, 1e-5);
	/* the reference reads a stored copy of a (conv2d's backward would otherwise recompute a from x too) */
	tg_node *y = how == FUSED ? tg_conv2d_bnrelu(g, a, w, b, pad) : tg_conv2d(g, how == REF ? tg_copy(g, a) : a, w, b, pad);
	cr_assert(y, "%s", tg_graph_error(g));
	tg_node *gy = rand_input(g, "gy", t, y->shape, 6, -1, 1);
	tg_node *wrt[5] = {x, gamma, beta, w, b};
	cr_assert_eq(tg_backward(g, y, gy, bias ? 5 : 4, wrt), TG_OK, "%s", tg_graph_error(g));
	tg_node *r[NRESULTS] = {y, x->grad, gamma->grad, beta->grad, w->grad, bias ? b->grad : NULL, rm, rv};
	tg_node *targets[NRESULTS];
	int nt = 0;
	for (int k = 0; k < RMEAN; k++)
		if (r[k])
			targets[nt++] = r[k];
	cr_assert_eq(tg_graph_compute(g, nt, targets), TG_OK, "%s", tg_last_error());
	for (int k = 0; k < NRESULTS; k++) {
		bytes[k] = r[k] ? tg_nbytes(r[k]) : 0;
		out[k] = bytes[k] ? malloc(bytes[k]) : NULL;
		if (bytes[k])
			memcpy(out[k], r[k]->data, bytes[k]);
	}
	tg_graph_free(g);
}

static void check_same(tg_dtype t, tg_shape xs, tg_shape ws, int pad, bool bias, int threads, const char *path)
{
	static const char *what[NRESULTS] = {"y", "dx", "dgamma", "dbeta", "dw", "db", "running mean", "running var"};
	void *ref[NRESULTS], *got[NRESULTS];
	size_t nref[NRESULTS], ngot[NRESULTS];
	char sx[64], sw[64];
	run(REF, t, xs, ws, pad, bias, threads, ref, nref);
	for (int how = FUSED; how <= CONV_ON_BN; how++) {
		run(how, t, xs, ws, pad, bias, threads, got, ngot);
		for (int k = 0; k < NRESULTS; k++) {
			cr_expect(nref[k] == ngot[k] && (!nref[k] || memcmp(ref[k], got[k], nref[k]) == 0),
				"%s %s: x %s w %s pad %d, %d thread(s): %s of %s differs from conv2d of a stored activation",
				tg_dtype_name(t), path, tg_shape_str(xs, sx, sizeof sx), tg_shape_str(ws, sw, sizeof sw), pad, threads,
				what[k], how == FUSED ? "conv2d_bnrelu" : "conv2d on batchnorm2d_relu");
			free(got[k]);
		}
	}
	for (int k = 0; k < NRESULTS; k++)
		free(ref[k]);
}

Test(conv_bnrelu, same_bits_as_batchnorm_relu_then_conv)
{
	static const struct { int64_t x[4], w[4]; int pad; bool bias; } cases[] = {
		{{3, 5, 34, 32}, {6, 5, 3, 3}, 1, true},    /* Winograd-sized (f32), several row bands */
		{{2, 16, 16, 16}, {16, 16, 3, 3}, 1, true}, /* the U-Net's 16x16 level */
		{{2, 4, 9, 7}, {1, 4, 1, 1}, 0, true},      /* outc: 1x1, one output channel */
		{{2, 3, 5, 70}, {2, 3, 3, 3}, 2, false},    /* no bias, pad 2, one wide row band */
		{{1, 2, 3, 1}, {3, 2, 3, 3}, 1, true},      /* one column */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tg_shape xs = TG_SHAPE(cases[i].x[0], cases[i].x[1], cases[i].x[2], cases[i].x[3]);
		tg_shape ws = TG_SHAPE(cases[i].w[0], cases[i].w[1], cases[i].w[2], cases[i].w[3]);
		check_same(TG_F64, xs, ws, cases[i].pad, cases[i].bias, 1, "BLIS");
		for (int path = PATH_DIRECT; path <= PATH_BLIS; path++) {
			set_path(path);
			for (int threads = 1; threads <= 2; threads++)
				check_same(TG_F32, xs, ws, cases[i].pad, cases[i].bias, threads, path_name(path));
		}
		reset_path();
	}
}

Test(conv_bnrelu, argument_errors)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_input(g, "x", TG_F32, TG_SHAPE(1, 2, 4, 4));
	tg_node *w = tg_param(g, "w", TG_F32, TG_SHAPE(3, 2, 3, 3));
	tg_node *y = tg_conv2d_bnrelu(g, tg_relu(g, x), w, NULL, 1);
	cr_expect_null(y);
	cr_expect(strstr(tg_graph_error(g), "conv2d_bnrelu") && strstr(tg_graph_error(g), "relu node") &&
			  strstr(tg_graph_error(g), "expected a batchnorm2d_relu node"),
		"message: %s", tg_graph_error(g));
	tg_graph_free(g);

	/* a weight of the wrong channel count: conv2d's shape message, naming the fused op */
	g = tg_graph_new();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(1, 2, 4, 4));
	tg_node *gamma = tg_param(g, "gamma", TG_F32, TG_SHAPE(2)), *beta = tg_param(g, "beta", TG_F32, TG_SHAPE(2));
	tg_node *rm = tg_state(g, "rm", TG_F32, TG_SHAPE(2)), *rv = tg_state(g, "rv", TG_F32, TG_SHAPE(2));
	tg_node *a = tg_batchnorm2d_relu(g, x, gamma, beta, rm, rv, true, 0.1, 1e-5);
	cr_assert(a);
	w = tg_param(g, "w", TG_F32, TG_SHAPE(3, 5, 3, 3));
	cr_expect_null(tg_conv2d_bnrelu(g, a, w, NULL, 1));
	cr_expect(strstr(tg_graph_error(g), "conv2d_bnrelu") && strstr(tg_graph_error(g), "has 2 channels, weight"),
		"message: %s", tg_graph_error(g));
	tg_graph_free(g);

	/* f64 weight on an f32 activation */
	g = tg_graph_new();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(1, 2, 4, 4));
	gamma = tg_param(g, "gamma", TG_F32, TG_SHAPE(2)), beta = tg_param(g, "beta", TG_F32, TG_SHAPE(2));
	rm = tg_state(g, "rm", TG_F32, TG_SHAPE(2)), rv = tg_state(g, "rv", TG_F32, TG_SHAPE(2));
	a = tg_batchnorm2d_relu(g, x, gamma, beta, rm, rv, true, 0.1, 1e-5);
	w = tg_param(g, "w", TG_F64, TG_SHAPE(3, 2, 3, 3));
	cr_expect_null(tg_conv2d_bnrelu(g, a, w, NULL, 1));
	cr_expect(strstr(tg_graph_error(g), "conv2d_bnrelu") && strstr(tg_graph_error(g), "f32 or all f64"), "message: %s",
		tg_graph_error(g));
	tg_graph_free(g);
}
