/*
** test_core.c: engine basics: shapes and errors, planner reuse, determinism across threads,
** custom gradients, DOT export read back with libcgraph.
*/
#include <criterion/criterion.h>
#include <cgraph.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "tgraph.h"

Test(core, add_broadcast_forward)
{
	tg_graph *g = tg_graph_new();
	tg_node *a = tg_input(g, "a", TG_F64, TG_SHAPE(2, 3));
	tg_node *b = tg_input(g, "b", TG_F32, TG_SHAPE(3));
	for (int i = 0; i < 6; i++)
		tg_f64(a)[i] = i;
	for (int i = 0; i < 3; i++)
		tg_f32(b)[i] = 10.0f * (float)i;
	tg_node *c = tg_add(g, a, b);
	cr_assert(c, "%s", tg_graph_error(g));
	cr_expect_eq(c->dtype, TG_F64);
	cr_assert_eq(tg_graph_compute(g, 1, &c), TG_OK, "%s", tg_last_error());
	for (int i = 0; i < 6; i++)
		cr_expect_eq(tg_f64(c)[i], i + 10.0 * (i % 3));
	tg_graph_free(g);
}

Test(core, bad_shape_is_reported_and_sticky)
{
	tg_graph *g = tg_graph_new();
	tg_node *a = tg_input(g, "a", TG_F64, TG_SHAPE(2, 3));
	tg_node *b = tg_input(g, "b", TG_F64, TG_SHAPE(4));
	tg_node *c = tg_add(g, a, b);
	cr_expect_null(c);
	cr_expect_eq(tg_graph_status(g), TG_ERR_SHAPE);
	cr_expect(strstr(tg_graph_error(g), "add") && strstr(tg_graph_error(g), "[2,3]") && strstr(tg_graph_error(g), "[4]"),
		"message: %s", tg_graph_error(g));
	/* chained expressions stay safe and the first error wins */
	cr_expect_null(tg_mul(g, tg_matmul(g, a, b), a));
	cr_expect(strstr(tg_graph_error(g), "add"), "first error must win: %s", tg_graph_error(g));
	cr_expect_neq(tg_graph_compute(g, 1, &a), TG_OK);
	tg_graph_free(g);
}

Test(core, null_inputs_return_null)
{
	tg_graph *g = tg_graph_new();
	cr_expect_null(tg_add(g, NULL, NULL));
	cr_expect_null(tg_exp(g, NULL));
	cr_expect_null(tg_add(NULL, NULL, NULL));
	cr_expect_eq(tg_graph_status(g), TG_OK);
	tg_graph_free(g);
}

Test(core, huge_shape_overflow)
{
	tg_graph *g = tg_graph_new();
	tg_node *a = tg_input(g, "a", TG_F64, TG_SHAPE(INT64_C(1) << 40, INT64_C(1) << 40));
	cr_expect_null(a);
	cr_expect_eq(tg_graph_status(g), TG_ERR_SHAPE);
	cr_expect(strstr(tg_graph_error(g), "overflow"), "%s", tg_graph_error(g));
	tg_graph_free(g);
}

Test(core, matmul_and_grad)
{
	tg_graph *g = tg_graph_new();
	tg_node *a = tg_param(g, "a", TG_F64, TG_SHAPE(2, 2));
	tg_node *b = tg_input(g, "b", TG_F64, TG_SHAPE(2, 2));
	double av[] = {1, 2, 3, 4}, bv[] = {5, 6, 7, 8};
	tg_set_data(a, av, sizeof av);
	tg_set_data(b, bv, sizeof bv);
	tg_node *c = tg_sum_all(g, tg_matmul(g, a, b));
	cr_assert_eq(tg_backward(g, c, NULL, 0, NULL), TG_OK, "%s", tg_graph_error(g));
	tg_node *t[2] = {c, a->grad};
	cr_assert_eq(tg_graph_compute(g, 2, t), TG_OK, "%s", tg_last_error());
	cr_expect_eq(tg_f64(c)[0], 19 + 22 + 43 + 50);
	/* d sum(AB) / dA = 1 B^T: rows are row sums of B */
	cr_expect_eq(tg_f64(a->grad)[0], 11);
	cr_expect_eq(tg_f64(a->grad)[1], 15);
	cr_expect(a->grad->flags & TG_FLAG_BACKWARD);
	tg_graph_free(g);
}

static tg_graph *chain(tg_node **out, int nthreads)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_input(g, "x", TG_F32, TG_SHAPE(64, 1000));
	for (int i = 0; i < 64000; i++)
		tg_f32(x)[i] = sinf((float)i * 0.37f);
	tg_node *w = tg_const(g, "w", TG_F32, TG_SHAPE(1000, 50), NULL);
	for (int i = 0; i < 50000; i++)
		tg_f32(w)[i] = cosf((float)i * 0.11f);
	tg_node *y = tg_exp(g, tg_scale(g, tg_matmul(g, x, w), 0.01));
	*out = tg_mean(g, tg_mul(g, y, y), 1, (int[]){0}, false);
	tg_graph_set_threads(g, nthreads);
	return g;
}

Test(core, bit_identical_across_threads_and_runs)
{
	tg_node *o1, *o2;
	tg_graph *g1 = chain(&o1, 1), *g2 = chain(&o2, 2);
	cr_assert_eq(tg_graph_compute(g1, 1, &o1), TG_OK);
	float first[50];
	memcpy(first, o1->data, sizeof first);
	cr_assert_eq(tg_graph_compute(g1, 1, &o1), TG_OK);
	cr_expect_eq(memcmp(first, o1->data, sizeof first), 0, "two runs differ");
	cr_assert_eq(tg_graph_compute(g2, 1, &o2), TG_OK);
	cr_expect_eq(memcmp(first, o2->data, sizeof first), 0, "1 and 2 threads differ");
	tg_graph_free(g1);
	tg_graph_free(g2);
}

Test(core, planner_reuses_buffers)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_input(g, "x", TG_F64, TG_SHAPE(1000));
	tg_node *y = x;
	for (int i = 0; i < 20; i++)
		y = tg_exp(g, tg_scale(g, y, 0.5));
	cr_assert_eq(tg_graph_compute(g, 1, &y), TG_OK);
	/* 40 intermediate values of 8000 bytes: the planner needs far fewer */
	cr_expect_leq(tg_graph_peak_bytes(g), 3 * 8064, "peak %zu", tg_graph_peak_bytes(g));
	tg_graph_free(g);
}

/* A user-defined custom gradient: forward is x^2, backward claims 10 * g. */
static tg_status ten_times(tg_graph *g, tg_node *value, tg_node *gout, int nin, tg_node *const *inputs, const bool *need,
	tg_node **gin, void *ud)
{
	(void)value, (void)nin, (void)inputs, (void)ud;
	if (need[0])
		gin[0] = tg_scale(g, gout, 10.0);
	return TG_OK;
}

Test(core, custom_gradient_replaces_backward)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_param(g, "x", TG_F64, TG_SHAPE(3));
	double xv[] = {1, 2, 3};
	tg_set_data(x, xv, sizeof xv);
	tg_node *y = tg_custom_gradient(g, tg_square(g, x), 1, &x, ten_times, NULL);
	tg_node *l = tg_sum_all(g, y);
	cr_assert_eq(tg_backward(g, l, NULL, 1, &x), TG_OK, "%s", tg_graph_error(g));
	tg_node *t[2] = {l, x->grad};
	cr_assert_eq(tg_graph_compute(g, 2, t), TG_OK);
	cr_expect_eq(tg_f64(l)[0], 14);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(tg_f64(x->grad)[i], 10);
	tg_graph_free(g);
}

/* loss = sum(exp(relu(x) * w)^2) with relu(x) and exp(.) kept or recomputed. The backward reads
** exp(.) in its own gradient and square's, relu(x) in its own and mul's. */
static tg_graph *remat_graph(bool recompute, tg_node **x, tg_node **loss)
{
	tg_graph *g = tg_graph_new();
	*x = tg_param(g, "x", TG_F64, TG_SHAPE(64, 1024));
	tg_node *w = tg_param(g, "w", TG_F64, TG_SHAPE(1024));
	for (int i = 0; i < 64 * 1024; i++)
		tg_f64(*x)[i] = sin(0.37 * i);
	for (int i = 0; i < 1024; i++)
		tg_f64(w)[i] = cos(0.11 * i);
	tg_node *r = tg_relu(g, *x), *e = tg_exp(g, tg_mul(g, r, w));
	if (recompute) {
		cr_assert(tg_recompute(g, r) && tg_recompute(g, e), "%s", tg_graph_error(g));
	}
	/* more work after e, so that keeping it costs memory */
	*loss = tg_sum_all(g, tg_scale(g, tg_square(g, tg_scale(g, tg_square(g, e), 0.5)), 0.25));
	cr_assert_eq(tg_backward(g, *loss, NULL, 0, NULL), TG_OK, "%s", tg_graph_error(g));
	return g;
}

Test(core, recompute_gives_the_same_gradients_with_less_memory)
{
	tg_node *x[2], *l[2];
	tg_graph *g[2];
	size_t peak[2];
	for (int k = 0; k < 2; k++) {
		g[k] = remat_graph(k == 1, &x[k], &l[k]);
		tg_node *t[2] = {l[k], x[k]->grad};
		cr_assert_eq(tg_graph_compute(g[k], 2, t), TG_OK, "%s", tg_graph_error(g[k]));
		peak[k] = tg_graph_peak_bytes(g[k]);
	}
	cr_expect_eq(tg_f64(l[0])[0], tg_f64(l[1])[0]);
	cr_expect_eq(memcmp(x[0]->grad->data, x[1]->grad->data, x[0]->grad->nbytes), 0, "gradients differ");
	cr_expect_lt(peak[1], peak[0], "recomputing did not lower the peak (%zu vs %zu bytes)", peak[1], peak[0]);
	int copies = 0;
	for (int i = 0; i < tg_graph_node_count(g[1]); i++)
		copies += strstr(tg_graph_node(g[1], i)->name, "(recomputed)") != NULL;
	/* one copy per reading op's backward: relu(x) for relu's and mul's, exp(.) for exp's and square's */
	cr_expect_eq(copies, 4, "expected 4 recomputed copies, got %d", copies);
	tg_graph_free(g[0]);
	tg_graph_free(g[1]);
}

Test(core, recompute_refuses_impure_nodes)
{
	tg_graph *g = tg_graph_new();
	tg_node *p = tg_param(g, "p", TG_F32, TG_SHAPE(4));
	cr_expect_null(tg_recompute(g, p));
	cr_expect(strstr(tg_graph_error(g), "recompute") && strstr(tg_graph_error(g), "'p'"), "message: %s", tg_graph_error(g));
	tg_graph_free(g);
	g = tg_graph_new();
	tg_node *s = tg_state(g, "s", TG_F32, TG_SHAPE(4));
	cr_expect_null(tg_recompute(g, tg_exp(g, s)));
	cr_expect(strstr(tg_graph_error(g), "reads state"), "message: %s", tg_graph_error(g));
	cr_expect_null(tg_recompute(g, NULL));
	tg_graph_free(g);
}

Test(core, nondiff_op_on_path_is_an_error)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_param(g, "x", TG_F64, TG_SHAPE(3));
	tg_node *l = tg_sum_all(g, tg_compare(g, x, tg_scalar(g, TG_F64, 0), TG_GT));
	cr_expect_eq(tg_backward(g, l, NULL, 0, NULL), TG_ERR_UNSUPPORTED);
	cr_expect(strstr(tg_graph_error(g), "compare"), "%s", tg_graph_error(g));
	tg_graph_free(g);
}

Test(core, check_finite_names_node)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_input(g, "x", TG_F64, TG_SHAPE(3));
	tg_node *y = tg_set_name(tg_log(g, x), "the_log");
	tg_graph_set_check_finite(g, true);
	cr_expect_eq(tg_graph_compute(g, 1, &y), TG_ERR_NUMERIC);
	cr_expect(strstr(tg_last_error(), "the_log"), "%s", tg_last_error());
	tg_graph_free(g);
}

Test(core, dot_export_reads_back)
{
	tg_graph *g = tg_graph_new();
	tg_node *w = tg_param(g, "w", TG_F64, TG_SHAPE(3, 3));
	tg_node *x = tg_input(g, "x", TG_F64, TG_SHAPE(3, 2));
	tg_node *l = tg_sum_all(g, tg_square(g, tg_matmul(g, w, x)));
	cr_assert_eq(tg_backward(g, l, NULL, 0, NULL), TG_OK);
	char path[] = "/tmp/tg_dot_XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(tg_graph_dump_dot(g, path, NULL), TG_OK, "%s", tg_last_error());
	FILE *f = fopen(path, "r");
	Agraph_t *G = agread(f, NULL);
	fclose(f);
	cr_assert(G);
	int edges = 0;
	for (int i = 0; i < tg_graph_node_count(g); i++)
		edges += tg_graph_node(g, i)->nsrc;
	cr_expect_eq(agnnodes(G), tg_graph_node_count(g));
	cr_expect_eq(agnedges(G), edges);
	agclose(G);
	tg_dot_options fwd = {.parts = TG_DOT_FORWARD};
	cr_assert_eq(tg_graph_dump_dot(g, path, &fwd), TG_OK);
	f = fopen(path, "r");
	G = agread(f, NULL);
	fclose(f);
	int nfwd = 0;
	for (int i = 0; i < tg_graph_node_count(g); i++)
		nfwd += !(tg_graph_node(g, i)->flags & TG_FLAG_BACKWARD);
	cr_expect_eq(agnnodes(G), nfwd);
	agclose(G);
	remove(path);
	tg_graph_free(g);
}

/* Sums over every axis subset of shapes with sizes 0, 1 and odd lengths, in f32, f64 and c128,
** against a naive index-order sum in long double: the blocked partial sums (ops/layout.c) must
** agree to round-off, and give the same bits with 1 and 2 threads. */
static void naive_sum(const double *x, tg_shape s, uint64_t mask, int comps, long double *out)
{
	int64_t n = tg_shape_numel(s), st[TG_MAX_DIMS] = {0}, ost = 1, ostr[TG_MAX_DIMS] = {0};
	for (int d = s.ndim - 1; d >= 0; d--)
		if (!(mask >> d & 1))
			ostr[d] = ost, ost *= s.d[d];
	for (int64_t i = 0; i < n; i++) {
		int64_t rem = i, o = 0;
		for (int d = s.ndim - 1; d >= 0; d--) {
			st[d] = rem % s.d[d];
			rem /= s.d[d];
			o += st[d] * ostr[d];
		}
		for (int c = 0; c < comps; c++)
			out[o * comps + c] += x[i * comps + c];
	}
}

Test(core, sum_matches_naive_over_axis_subsets)
{
	static const tg_shape shapes[] = {{3, {5, 1, 37}}, {4, {3, 17, 2, 300}}, {2, {70000, 3}}, {1, {100003}},
		{3, {2, 0, 5}}, {0, {0}}, {4, {1, 2, 1, 3}}};
	const tg_dtype types[] = {TG_F32, TG_F64, TG_C128};
	uint64_t seed = 1;
	for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
		for (int ti = 0; ti < 3; ti++)
			for (uint64_t mask = 0; mask < (1ull << shapes[si].ndim); mask++) {
				tg_shape s = shapes[si];
				int comps = types[ti] == TG_C128 ? 2 : 1, axes[TG_MAX_DIMS], na = 0;
				for (int d = 0; d < s.ndim; d++)
					if (mask >> d & 1)
						axes[na++] = d;
				int64_t n = tg_shape_numel(s);
				double *x = malloc(sizeof(double) * (size_t)(n * comps + 1));
				for (int64_t i = 0; i < n * comps; i++) {
					seed = seed * 6364136223846793005ull + 1442695040888963407ull;
					x[i] = (double)(seed >> 40) / (double)(1 << 24) - 0.5;
					if (types[ti] == TG_F32)
						x[i] = (float)x[i];
				}
				float *r[2] = {NULL, NULL};
				tg_node *y = NULL;
				int64_t no = 0;
				for (int th = 1; th <= 2; th++) {
					tg_graph *g = tg_graph_new();
					tg_graph_set_threads(g, th);
					tg_node *a = tg_input(g, "a", types[ti], s);
					for (int64_t i = 0; i < n * comps; i++) {
						if (types[ti] == TG_F32)
							tg_f32(a)[i] = (float)x[i];
						else
							tg_f64(a)[i] = x[i];
					}
					y = tg_sum(g, a, na, axes, false);
					cr_assert(y, "%s", tg_graph_error(g));
					cr_assert_eq(tg_graph_compute(g, 1, &y), TG_OK, "%s", tg_graph_error(g));
					no = tg_numel(y);
					size_t bytes = (size_t)no * tg_dtype_size(y->dtype);
					r[th - 1] = malloc(bytes + 1);
					if (bytes > 0) /* an empty output has no buffer */
						memcpy(r[th - 1], y->data, bytes);
					if (th == 1) {
						long double *ref = calloc((size_t)(no * comps + 1), sizeof *ref);
						naive_sum(x, s, mask, comps, ref);
						for (int64_t o = 0; o < no * comps; o++) {
							double got = types[ti] == TG_F32 ? tg_f32(y)[o] : tg_f64(y)[o];
							double tol = types[ti] == TG_F32 ? 1e-6 * (1 + fabsl(ref[o])) : 1e-12;
							cr_assert(fabs(got - (double)ref[o]) <= tol, "shape %d mask %llu dtype %d out %lld: %.17g vs %.17Lg",
								(int)si, (unsigned long long)mask, ti, (long long)o, got, ref[o]);
						}
						free(ref);
					}
					tg_graph_free(g);
				}
				cr_expect(memcmp(r[0], r[1], (size_t)no * tg_dtype_size(types[ti])) == 0, "threads differ: shape %d mask %llu",
					(int)si, (unsigned long long)mask);
				free(r[0]), free(r[1]), free(x);
			}
}
