/*
** test_bad_input.c: the library's answer to bad input, as tables of one-line rows (one Criterion
** test each):
**   ROW       a constructor given wrong shapes, dtypes or attributes returns NULL, records the given
**             status on the graph and a message naming the op, the shapes and what was expected;
**             the error is sticky (the next constructor fails and the first message stays).
**   STATUS    a status-returning call (compute, backward, DOT, checkpoints, .npy, ...) given bad
**             arguments returns the status, and tg_last_error() says why.
**   NULL1/2   a constructor given a NULL graph, or a NULL input node, returns NULL without crashing
**             and without touching any graph (a NULL input is silent: an earlier error explains it).
**   EMPTY     zero-size tensors ([0,3], K = 0, batch 0) build, run and give empty or zero results.
**   HUGE_DIMS zero-size inputs with huge dims, where either answer (an empty result or an error
**             naming the op) is right: the op's shape arithmetic must not overflow (UBSan checks).
** Huge shapes whose result cannot exist (size overflow at creation and in an op's result) are ROWs.
** Tests at the end: a non-finite value in a checked run names the node that produced it; compute on
** a graph with an error refuses with that error; thread counts are clamped.
*/
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "tgraph.h"

#define IN(t, ...) tg_input(g, "x", t, TG_SHAPE(__VA_ARGS__))
#define F32(...) IN(TG_F32, __VA_ARGS__)
#define F64(...) IN(TG_F64, __VA_ARGS__)
#define C128(...) IN(TG_C128, __VA_ARGS__)
#define F64_0D tg_input(g, "s", TG_F64, TG_SCALAR_SHAPE)
#define AXES(...) (sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__}
#define MSG(...) ((const char *const[]){__VA_ARGS__, NULL})
#define P2(k) (INT64_C(1) << (k))

/* ---------------------------------------------------------------- checkers */

static void check_row(const char *row, tg_node *(*build)(tg_graph *), tg_status want, const char *const *subs)
{
	tg_graph *g = tg_graph_new();
	cr_assert(g);
	tg_node *r = build(g);
	const char *msg = tg_graph_error(g);
	cr_expect_null(r, "%s: the constructor returned a node (%s)", row, r ? r->op->name : "");
	cr_expect_eq(tg_graph_status(g), want, "%s: status '%s', expected '%s' (message \"%s\")", row,
		tg_status_str(tg_graph_status(g)), tg_status_str(want), msg);
	for (; *subs; subs++)
		cr_expect(strstr(msg, *subs), "%s: message \"%s\" lacks \"%s\"", row, msg, *subs);
	cr_expect_str_eq(tg_last_error(), msg, "%s: tg_last_error() differs from the graph's error", row);
	/* sticky: later constructors fail and the first message stays */
	int count = tg_graph_node_count(g);
	cr_expect_null(tg_input(g, "later", TG_F64, TG_SHAPE(2)), "%s: a constructor after the error succeeded", row);
	cr_expect_eq(tg_graph_node_count(g), count);
	cr_expect_str_eq(tg_graph_error(g), msg);
	tg_graph_free(g);
}

#define ROW(name, status, msgs, ...)                                  \
	static tg_node *row_##name(tg_graph *g) { return __VA_ARGS__; }  \
	Test(bad_input, name) { check_row(#name, row_##name, status, msgs); }

static void check_status(const char *row, tg_status (*call)(tg_graph *), tg_status want, const char *const *subs)
{
	tg_graph *g = tg_graph_new();
	cr_assert(g);
	tg_status st = call(g);
	const char *msg = tg_last_error();
	cr_expect_eq(st, want, "%s: status '%s', expected '%s' (message \"%s\")", row, tg_status_str(st),
		tg_status_str(want), msg);
	for (; *subs; subs++)
		cr_expect(strstr(msg, *subs), "%s: message \"%s\" lacks \"%s\"", row, msg, *subs);
	tg_graph_free(g);
}

#define STATUS(name, status, msgs, ...)                                  \
	static tg_status status_##name(tg_graph *g) { (void)g; return __VA_ARGS__; } \
	Test(bad_input, name) { check_status(#name, status_##name, status, msgs); }

/* A constructor on (g, a, b): run with g NULL (a, b in graph h), then with a NULL and, for two-input
** rows, b NULL; every call returns NULL and leaves h as it was (no node, no error). */
static void check_null(const char *row, tg_node *(*build)(tg_graph *, tg_node *, tg_node *), bool two)
{
	tg_graph *h = tg_graph_new();
	cr_assert(h);
	tg_node *a = tg_input(h, "a", TG_F64, TG_SHAPE(2, 4, 4)), *b = tg_input(h, "b", TG_F64, TG_SHAPE(2, 4, 4));
	cr_assert(a && b);
	int count = tg_graph_node_count(h);
	cr_expect_null(build(NULL, a, b), "%s: NULL graph gave a node", row);
	cr_expect_null(build(h, NULL, b), "%s: NULL first input gave a node", row);
	if (two)
		cr_expect_null(build(h, a, NULL), "%s: NULL second input gave a node", row);
	cr_expect_eq(tg_graph_node_count(h), count, "%s: nodes were added", row);
	cr_expect_eq(tg_graph_status(h), TG_OK, "%s: error recorded: %s", row, tg_graph_error(h));
	tg_graph_free(h);
}

#define NULL1(name, ...)                                                                   \
	static tg_node *null_##name(tg_graph *g, tg_node *a, tg_node *b) { (void)b; return __VA_ARGS__; } \
	Test(bad_input, null_##name) { check_null(#name, null_##name, false); }
#define NULL2(name, ...)                                                                   \
	static tg_node *null_##name(tg_graph *g, tg_node *a, tg_node *b) { return __VA_ARGS__; } \
	Test(bad_input, null_##name) { check_null(#name, null_##name, true); }

/* Builds, runs, and checks the result's shape and that every value is 0 (inputs are zeros). */
static void check_empty(const char *row, tg_node *(*build)(tg_graph *), tg_shape want)
{
	tg_graph *g = tg_graph_new();
	cr_assert(g);
	tg_node *r = build(g);
	cr_assert(r, "%s: %s", row, tg_graph_error(g));
	cr_expect(tg_shape_eq(r->shape, want), "%s: shape %d-d, expected %d-d", row, r->shape.ndim, want.ndim);
	for (int d = 0; d < r->shape.ndim && d < want.ndim; d++)
		cr_expect_eq(r->shape.d[d], want.d[d], "%s: dim %d is %lld, expected %lld", row, d,
			(long long)r->shape.d[d], (long long)want.d[d]);
	cr_assert_eq(tg_graph_compute(g, 1, &r), TG_OK, "%s: %s", row, tg_last_error());
	int64_t n = tg_numel(r) * (r->dtype == TG_C128 ? 2 : 1);
	for (int64_t i = 0; i < n; i++) {
		double v = r->dtype == TG_F32 ? tg_f32(r)[i] : tg_f64(r)[i];
		cr_expect_eq(v, 0.0, "%s: element %lld is %g", row, (long long)i, v);
	}
	tg_graph_free(g);
}

#define EMPTY(name, shape, ...)                                         \
	static tg_node *empty_##name(tg_graph *g) { return __VA_ARGS__; } \
	Test(bad_input, empty_##name) { check_empty(#name, empty_##name, shape); }

/* Either a node or an error naming the op; the point is the absence of overflow (UBSan builds). */
static void check_huge(const char *row, tg_node *(*build)(tg_graph *), const char *op)
{
	tg_graph *g = tg_graph_new();
	cr_assert(g);
	tg_node *r = build(g);
	if (!r)
		cr_expect(strstr(tg_graph_error(g), op), "%s: message \"%s\" does not name %s", row, tg_graph_error(g),
			op);
	else
		cr_expect_eq(tg_numel(r), 0, "%s", row);
	tg_graph_free(g);
}

#define HUGE_DIMS(name, op, ...)                                       \
	static tg_node *huge_##name(tg_graph *g) { return __VA_ARGS__; } \
	Test(bad_input, huge_##name) { check_huge(#name, huge_##name, op); }

/* ---------------------------------------------------------------- helpers for rows */

/* A zero-copy view of a scalar at a (possibly huge) shape: no data is allocated before a run. */
static tg_node *big(tg_graph *g, tg_shape s) { return tg_broadcast_to(g, tg_scalar(g, TG_F32, 1.0), s); }

static tg_node *adam_without_grad(tg_graph *g)
{
	tg_node *w = tg_param(g, "w", TG_F32, TG_SHAPE(3));
	tg_adam_config c = tg_adam_default();
	return tg_adam(g, &c, 1, &w);
}

static tg_node *adam_bad_lr(tg_graph *g)
{
	tg_node *w = tg_param(g, "w", TG_F32, TG_SHAPE(3));
	if (tg_backward(g, tg_sum_all(g, w), NULL, 0, NULL) != TG_OK)
		return w;
	tg_adam_config c = tg_adam_default();
	c.lr = -1;
	return tg_adam(g, &c, 1, &w);
}

/* Training-mode batch norm of x with gamma [channels], beta and the running statistics [x.d[1]]
** (states, or inputs when !state). */
static tg_node *batchnorm(tg_graph *g, tg_shape x, int64_t channels, bool state, double momentum)
{
	tg_node *(*stat)(tg_graph *, const char *, tg_dtype, tg_shape) = state ? tg_state : tg_input;
	tg_shape c = TG_SHAPE(x.ndim > 1 ? x.d[1] : 3);
	return tg_batchnorm2d(g, tg_input(g, "x", TG_F32, x), tg_param(g, "gamma", TG_F32, TG_SHAPE(channels)),
		tg_param(g, "beta", TG_F32, c), stat(g, "rm", TG_F32, c), stat(g, "rv", TG_F32, c), true, momentum,
		1e-5);
}

static const tg_physics *diffusion(void)
{
	static tg_physics p;
	p = tg_diffusion_physics(1.0, TG_SEED_REL_UNCERTAINTY);
	return &p;
}

static tg_node *unet_on(tg_graph *g, tg_shape x, int levels)
{
	tg_unet_config c = tg_unet_default();
	c.levels = levels;
	return tg_unet(g, &c, TG_F32, tg_input(g, "x", TG_F32, x));
}

static tg_status no_grad(tg_graph *g, tg_node *value, tg_node *gout, int nin, tg_node *const *inputs, const bool *need,
	tg_node **gin, void *ud)
{
	(void)g, (void)value, (void)gout, (void)nin, (void)inputs, (void)need, (void)gin, (void)ud;
	return TG_OK;
}

static tg_node *scalar_loss(tg_graph *g) { return tg_sum_all(g, tg_param(g, "w", TG_F64, TG_SHAPE(2))); }
static tg_graph *with_param(tg_graph *g) { return tg_param(g, "w", TG_F64, TG_SHAPE(2)) ? g : NULL; }

/* A node of another graph (kept for the test process's life). */
static tg_node *foreign(void)
{
	static tg_graph *h;
	if (!h)
		h = tg_graph_new();
	return tg_input(h, "h", TG_F64, TG_SHAPE(1));
}

/* ================================================================ constructor rows */

/* elementwise binary ops: numpy broadcasting; dtypes are promoted, so only shapes can clash */
ROW(add_shapes, TG_ERR_SHAPE, MSG("add: ", "[2,3]", "[4]", "do not broadcast"), tg_add(g, F32(2, 3), F32(4)))
ROW(sub_shapes_promoted, TG_ERR_SHAPE, MSG("sub: ", "[2,3]", "[3,2]", "do not broadcast"),
	tg_sub(g, F64(2, 3), F32(3, 2)))
ROW(mul_shapes_complex, TG_ERR_SHAPE, MSG("mul: ", "[4]", "[5]"), tg_mul(g, C128(4), F64(5)))
ROW(div_shapes, TG_ERR_SHAPE, MSG("div: ", "[2,1,3]", "[2,4]"), tg_div(g, F32(2, 1, 3), F32(2, 4)))
ROW(compare_shapes, TG_ERR_SHAPE, MSG("compare: ", "[2]", "[3]"), tg_compare(g, F32(2), F32(3), TG_LT))
ROW(compare_complex_order, TG_ERR_DTYPE, MSG("compare: ", "c128", "[2]", "real"),
	tg_compare(g, C128(2), C128(2), TG_LT))
ROW(compare_complex_eq, TG_ERR_DTYPE, MSG("compare: ", "c128", "[2]", "f32 or f64"),
	tg_compare(g, C128(2), F64(2), TG_EQ))
ROW(compare_unknown, TG_ERR_ARG, MSG("compare: ", "unknown comparison 9"), tg_compare(g, F32(2), F32(2), (tg_cmp)9))
ROW(where_shapes, TG_ERR_SHAPE, MSG("where: ", "[2,3]", "[4]", "[3]", "do not broadcast"),
	tg_where(g, F32(2, 3), F32(4), F32(3)))
ROW(where_complex_condition, TG_ERR_DTYPE, MSG("where: ", "condition", "c128", "real"),
	tg_where(g, C128(3), F64(3), F64(3)))
ROW(other_graphs_input, TG_ERR_ARG, MSG("add: ", "input 1 belongs to another graph"), tg_add(g, F32(2), foreign()))

/* elementwise unary ops that need real input */
ROW(exp_complex, TG_ERR_DTYPE, MSG("exp: ", "c128", "[3]", "expected a real dtype"), tg_exp(g, C128(3)))
ROW(log_complex, TG_ERR_DTYPE, MSG("log: ", "c128", "[3]", "expected a real dtype"), tg_log(g, C128(3)))
ROW(sqrt_complex, TG_ERR_DTYPE, MSG("sqrt: ", "c128", "[3]", "expected a real dtype"), tg_sqrt(g, C128(3)))
ROW(pow_scalar_complex, TG_ERR_DTYPE, MSG("pow_scalar: ", "c128", "[3]"), tg_pow_scalar(g, C128(3), 2.0))
ROW(relu_complex, TG_ERR_DTYPE, MSG("relu: ", "c128", "[2,2]"), tg_relu(g, C128(2, 2)))
ROW(l2_loss_complex, TG_ERR_DTYPE, MSG("l2_loss: ", "c128", "f32 or f64"), tg_l2_loss(g, C128(2, 2)))
ROW(l2_loss_0d, TG_ERR_SHAPE, MSG("l2_loss: ", "[]", "batch axis"), tg_l2_loss(g, F64_0D))
ROW(cast_complex_to_real, TG_ERR_DTYPE, MSG("cast: ", "c128 -> f64", "[2]", "tg_real"), tg_cast(g, C128(2), TG_F64))
ROW(cast_unknown_dtype, TG_ERR_DTYPE, MSG("cast: ", "unknown target dtype 7"), tg_cast(g, F32(2), (tg_dtype)7))

/* reductions */
ROW(sum_axis_out_of_range, TG_ERR_ARG, MSG("sum: ", "axis 2", "[2,3]", "out of range"),
	tg_sum(g, F32(2, 3), AXES(2), false))
ROW(sum_negative_axis_out_of_range, TG_ERR_ARG, MSG("sum: ", "axis -3", "[2,3]"), tg_sum(g, F32(2, 3), AXES(-3), false))
ROW(sum_axis_twice, TG_ERR_ARG, MSG("sum: ", "axis -2", "given twice", "[2,3]"),
	tg_sum(g, F32(2, 3), AXES(0, -2), true))
ROW(sum_bad_axis_list, TG_ERR_ARG, MSG("sum: ", "bad axis list", "-1"), tg_sum(g, F32(2, 3), -1, NULL, false))
ROW(sum_axes_of_0d, TG_ERR_ARG, MSG("sum: ", "axis 0", "[]"), tg_sum(g, F64_0D, AXES(0), false))
ROW(mean_axis_out_of_range, TG_ERR_ARG, MSG("mean: ", "axis 5", "[2,3]"), tg_mean(g, F64(2, 3), AXES(5), false))
ROW(sum_to_not_broadcast, TG_ERR_SHAPE, MSG("sum_to: ", "[2,3]", "[4]"), tg_sum_to(g, F32(2, 3), TG_SHAPE(4)))

/* layout */
ROW(reshape_count, TG_ERR_SHAPE, MSG("reshape: ", "[2,3]", "6 elements", "[4]"), tg_reshape(g, F32(2, 3), TG_SHAPE(4)))
ROW(reshape_negative, TG_ERR_SHAPE, MSG("reshape: ", "[2,3]", "[-2,-3]"), tg_reshape(g, F32(2, 3), TG_SHAPE(-2, -3)))
ROW(reshape_too_many_dims, TG_ERR_SHAPE, MSG("reshape: ", "9 dims", "at most 8"),
	tg_reshape(g, F32(6), TG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 6)))
ROW(permute_repeat, TG_ERR_ARG, MSG("permute: ", "[2,3]", "not a permutation"), tg_permute(g, F32(2, 3), (int[]){0, 0}))
ROW(permute_out_of_range, TG_ERR_ARG, MSG("permute: ", "[2,3]", "not a permutation"),
	tg_permute(g, F32(2, 3), (int[]){0, 5}))
ROW(permute_null_order, TG_ERR_ARG, MSG("permute: ", "NULL axis order", "[2,3]"), tg_permute(g, F32(2, 3), NULL))
ROW(transpose_1d, TG_ERR_SHAPE, MSG("transpose: ", "[3]", "at least 2 dims"), tg_transpose(g, F32(3)))
ROW(slice_axis, TG_ERR_ARG, MSG("slice: ", "axis 2", "[2,3]", "out of range"), tg_slice(g, F32(2, 3), 2, 0, 1))
ROW(slice_past_end, TG_ERR_ARG, MSG("slice: ", "[1, 4)", "axis 1", "[2,3]"), tg_slice(g, F32(2, 3), 1, 1, 4))
ROW(slice_reversed, TG_ERR_ARG, MSG("slice: ", "[2, 1)", "[2,3]"), tg_slice(g, F32(2, 3), -1, 2, 1))
ROW(slice_negative_start, TG_ERR_ARG, MSG("slice: ", "[-1, 1)", "[2,3]"), tg_slice(g, F32(2, 3), 0, -1, 1))
ROW(concat_shapes, TG_ERR_SHAPE, MSG("concat: ", "input 1 [2,4]", "input 0 [2,3]", "outside axis 0"),
	tg_concat(g, 2, (tg_node *[]){F32(2, 3), F32(2, 4)}, 0))
ROW(concat_ranks, TG_ERR_SHAPE, MSG("concat: ", "[2,3,1]", "[2,3]"),
	tg_concat(g, 2, (tg_node *[]){F32(2, 3), F32(2, 3, 1)}, 1))
ROW(concat_dtypes, TG_ERR_DTYPE, MSG("concat: ", "input 1 is f64", "input 0 is f32"),
	tg_concat(g, 2, (tg_node *[]){F32(2, 3), F64(2, 3)}, 0))
ROW(concat_axis, TG_ERR_ARG, MSG("concat: ", "axis 2", "[2,3]", "out of range"),
	tg_concat(g, 1, (tg_node *[]){F32(2, 3)}, 2))
ROW(concat_nothing, TG_ERR_ARG, MSG("concat: ", "at least one input", "got 0"), tg_concat(g, 0, NULL, 0))
ROW(broadcast_to_mismatch, TG_ERR_SHAPE, MSG("broadcast_to: ", "[2,3]", "[4,3]"),
	tg_broadcast_to(g, F32(2, 3), TG_SHAPE(4, 3)))
ROW(broadcast_to_fewer_dims, TG_ERR_SHAPE, MSG("broadcast_to: ", "[2,3]", "[3]"),
	tg_broadcast_to(g, F32(2, 3), TG_SHAPE(3)))
ROW(broadcast_to_negative, TG_ERR_SHAPE, MSG("broadcast_to: ", "[-5]", "negative"),
	tg_broadcast_to(g, F32(1), TG_SHAPE(-5)))
ROW(matmul_inner, TG_ERR_SHAPE, MSG("matmul: ", "[2,3]", "[4,5]", "inner dims"), tg_matmul(g, F32(2, 3), F32(4, 5)))
ROW(matmul_rank, TG_ERR_SHAPE, MSG("matmul: ", "[3]", "[3,2]", "at least 2 dims"), tg_matmul(g, F32(3), F32(3, 2)))
ROW(matmul_batch, TG_ERR_SHAPE, MSG("matmul: ", "[2,2,3]", "[3,3,4]", "batch dims"),
	tg_matmul(g, F32(2, 2, 3), F32(3, 3, 4)))
ROW(matmul_complex, TG_ERR_DTYPE, MSG("matmul: ", "c128"), tg_matmul(g, C128(2, 2), F64(2, 2)))

/* leaves, tg_op_apply, custom gradients */
ROW(input_bad_dtype, TG_ERR_DTYPE, MSG("input 'x'", "unknown dtype 7"), IN((tg_dtype)7, 2))
ROW(input_too_many_dims, TG_ERR_SHAPE, MSG("input 'x'", "9 dims", "at most 8"), F32(1, 1, 1, 1, 1, 1, 1, 1, 1))
ROW(input_negative_dim, TG_ERR_SHAPE, MSG("input 'x'", "[-1,3]", "invalid"), F32(-1, 3))
ROW(param_numel_overflow, TG_ERR_SHAPE, MSG("param 'w'", "[1099511627776,1099511627776]", "too large"),
	tg_param(g, "w", TG_F32, TG_SHAPE(P2(40), P2(40))))
ROW(state_bytes_overflow, TG_ERR_SHAPE, MSG("state 's'", "[2305843009213693952]", "too large"),
	tg_state(g, "s", TG_F64, TG_SHAPE(P2(61))))
ROW(const_bytes_overflow, TG_ERR_SHAPE, MSG("const 'c'", "too large"),
	tg_const(g, "c", TG_C128, TG_SHAPE(P2(31), P2(30)), NULL))
ROW(fill_too_large, TG_ERR_SHAPE, MSG("const 'fill'", "too large"), tg_fill(g, TG_F64, TG_SHAPE(P2(62), 4), 1.0))
ROW(op_apply_null_op, TG_ERR_ARG, MSG("tg_op_apply", "NULL op"), tg_op_apply(g, NULL, 0, NULL, NULL))
ROW(op_apply_null_inputs, TG_ERR_ARG, MSG("tg_op_apply", "2 inputs", "NULL input array"),
	tg_op_apply(g, tg_op_find("add"), 2, NULL, NULL))
ROW(custom_gradient_null_fn, TG_ERR_ARG, MSG("custom_gradient: ", "NULL backward function"),
	tg_custom_gradient(g, F64(2), 0, NULL, NULL, NULL))
ROW(custom_gradient_null_inputs, TG_ERR_ARG, MSG("custom_gradient: ", "inputs"),
	tg_custom_gradient(g, F64(2), 2, NULL, no_grad, NULL))

/* huge results: the size check of every node catches what an op's shape arithmetic produces */
ROW(broadcast_to_huge, TG_ERR_SHAPE, MSG("broadcast_to: ", "[4294967296,4294967296]", "too large"),
	tg_broadcast_to(g, F32(1), TG_SHAPE(P2(32), P2(32))))
ROW(add_huge, TG_ERR_SHAPE, MSG("add: ", "[4294967296,4294967296]", "too large"),
	tg_add(g, big(g, TG_SHAPE(P2(32), 1)), big(g, TG_SHAPE(1, P2(32)))))
ROW(matmul_huge, TG_ERR_SHAPE, MSG("matmul: ", "[4294967296,4294967296]", "too large"),
	tg_matmul(g, big(g, TG_SHAPE(P2(32), 1)), big(g, TG_SHAPE(1, P2(32)))))
ROW(concat_huge, TG_ERR_SHAPE, MSG("concat: ", "axis 0", "overflow"),
	tg_concat(g, 2, (tg_node *[]){F32(P2(62), 0), F32(P2(62), 0)}, 0))
ROW(fft2_huge_axes, TG_ERR_SHAPE, MSG("fft2: ", "[0,4294967296,4294967296]", "X*Y <= 2147483647"),
	tg_fft2(g, F64(0, P2(32), P2(32))))

HUGE_DIMS(conv2d_input, "conv2d: ", tg_conv2d(g, F32(0, 1, INT64_MAX, 3), F32(1, 1, 3, 3), NULL, 1))
HUGE_DIMS(conv2d_pad, "conv2d: ", tg_conv2d(g, F32(0, 1, 4, 4), F32(1, 1, 3, 3), NULL, INT32_MAX))
HUGE_DIMS(batchnorm2d_batch, "batchnorm2d: ", batchnorm(g, TG_SHAPE(P2(62), 0, 4, 4), 0, true, 0.1))
HUGE_DIMS(maxpool2d_batch, "maxpool2d: ", tg_maxpool2d(g, F32(P2(62), 0, INT64_MAX, INT64_MAX)))
HUGE_DIMS(upsample2x_batch, "upsample2x: ", tg_upsample2x(g, F32(P2(62), 0, P2(61), 3)))
HUGE_DIMS(sum_axes, "sum: ", tg_sum(g, F32(P2(62), 0, P2(62)), AXES(0, 2), false))
HUGE_DIMS(mean_axes, "mean: ", tg_mean(g, F32(P2(62), 0, P2(62)), AXES(0, 2), false))
HUGE_DIMS(l2_loss_items, "l2_loss: ", tg_l2_loss(g, F32(0, P2(62), P2(62))))
HUGE_DIMS(rfft2_batch, "rfft2: ", tg_rfft2(g, F64(P2(62), 0, 4, 4)))
HUGE_DIMS(diffuse_batch, "diffuse: ", tg_diffuse(g, F64(P2(62), 0, 4, 4), 1.0))

/* FFT ops */
ROW(fft2_1d, TG_ERR_SHAPE, MSG("fft2: ", "[8]", "at least 2 dims"), tg_fft2(g, F64(8)))
ROW(fft2_empty_axis, TG_ERR_SHAPE, MSG("fft2: ", "[4,0]", "Y=0", ">= 1"), tg_fft2(g, C128(4, 0)))
ROW(ifft2_1d, TG_ERR_SHAPE, MSG("ifft2: ", "[8]", "at least 2 dims"), tg_ifft2(g, C128(8)))
ROW(rfft2_complex, TG_ERR_DTYPE, MSG("rfft2: ", "c128", "[4,4]", "expected f64"), tg_rfft2(g, C128(4, 4)))
ROW(rfft2_1d, TG_ERR_SHAPE, MSG("rfft2: ", "[4]", "at least 2 dims"), tg_rfft2(g, F64(4)))
ROW(irfft2_real, TG_ERR_DTYPE, MSG("irfft2: ", "f64", "[4,3]", "expected c128"), tg_irfft2(g, F64(4, 3), 4))
ROW(irfft2_wrong_ny, TG_ERR_SHAPE, MSG("irfft2: ", "[4,3]", "ny = 6", "ny/2+1 = 4"), tg_irfft2(g, C128(4, 3), 6))
ROW(irfft2_negative_ny, TG_ERR_SHAPE, MSG("irfft2: ", "[4,3]", "ny = -4"), tg_irfft2(g, C128(4, 3), -4))
ROW(irfft2_1d, TG_ERR_SHAPE, MSG("irfft2: ", "[3]", "at least 2 dims"), tg_irfft2(g, C128(3), 4))

/* physics ops */
ROW(diffuse_complex, TG_ERR_DTYPE, MSG("diffuse: ", "c128", "[4,4]", "expected f32 or f64"),
	tg_diffuse(g, C128(4, 4), 1.0))
ROW(diffuse_negative_amount, TG_ERR_ARG, MSG("diffuse: ", "amount -1", ">= 0"), tg_diffuse(g, F64(4, 4), -1.0))
ROW(diffuse_nan_amount, TG_ERR_ARG, MSG("diffuse: ", "amount nan", "finite"), tg_diffuse(g, F64(4, 4), NAN))
ROW(diffuse_inf_amount, TG_ERR_ARG, MSG("diffuse: ", "amount inf", "finite"), tg_diffuse(g, F64(4, 4), INFINITY))
ROW(diffuse_1d, TG_ERR_SHAPE, MSG("diffuse: ", "[16]", "at least 2 dims"), tg_diffuse(g, F32(16), 1.0))
ROW(inv_diffuse_shapes, TG_ERR_SHAPE, MSG("inv_diffuse: ", "[2,4,4]", "[4,4]", "same shape"),
	tg_inv_diffuse(g, F64(2, 4, 4), F64(4, 4), 1.0))
ROW(inv_diffuse_negative_amount, TG_ERR_ARG, MSG("inv_diffuse: ", "amount -2"),
	tg_inv_diffuse(g, F64(4, 4), F64(4, 4), -2.0))
ROW(inv_diffuse_complex, TG_ERR_DTYPE, MSG("inv_diffuse: ", "c128", "f64"),
	tg_inv_diffuse(g, C128(4, 4), F64(4, 4), 1.0))
ROW(sip_loss_shapes, TG_ERR_SHAPE, MSG("sip_loss: ", "[3,4,4]", "[2,4,4]"),
	tg_sip_loss(g, diffusion(), F64(2, 4, 4), F64(3, 4, 4)))
ROW(sip_loss_target_wider, TG_ERR_SHAPE, MSG("sip_loss: ", "[2,4,4]", "[1,4,4]"),
	tg_sip_loss(g, diffusion(), F64(1, 4, 4), F64(2, 4, 4)))
ROW(sip_loss_0d, TG_ERR_SHAPE, MSG("sip_loss: ", "[]", "batch axis"), tg_sip_loss(g, diffusion(), F64_0D, F64_0D))
ROW(sip_loss_no_physics, TG_ERR_ARG, MSG("sip_loss: ", "physics"), tg_sip_loss(g, NULL, F64(2, 4, 4), F64(2, 4, 4)))

/* neural-network ops */
ROW(conv2d_channels, TG_ERR_SHAPE, MSG("conv2d: ", "[1,3,8,8]", "3 channels", "[4,2,3,3]", "expects 2"),
	tg_conv2d(g, F32(1, 3, 8, 8), F32(4, 2, 3, 3), NULL, 1))
ROW(conv2d_input_rank, TG_ERR_SHAPE, MSG("conv2d: ", "[3,8,8]", "[N,C,H,W]"),
	tg_conv2d(g, F32(3, 8, 8), F32(4, 3, 3, 3), NULL, 1))
ROW(conv2d_weight_rank, TG_ERR_SHAPE, MSG("conv2d: ", "[4,3,3]", "[O,C,KH,KW]"),
	tg_conv2d(g, F32(1, 3, 8, 8), F32(4, 3, 3), NULL, 1))
ROW(conv2d_kernel_too_big, TG_ERR_SHAPE, MSG("conv2d: ", "[1,1,5,5]", "[1,1,2,2]", "padding 1"),
	tg_conv2d(g, F32(1, 1, 2, 2), F32(1, 1, 5, 5), NULL, 1))
ROW(conv2d_negative_pad, TG_ERR_SHAPE, MSG("conv2d: ", "padding -1"),
	tg_conv2d(g, F32(1, 1, 8, 8), F32(1, 1, 3, 3), NULL, -1))
ROW(conv2d_bias, TG_ERR_SHAPE, MSG("conv2d: ", "bias [3]", "[4,1,3,3]", "expected [4]"),
	tg_conv2d(g, F32(1, 1, 8, 8), F32(4, 1, 3, 3), F32(3), 1))
ROW(conv2d_dtypes, TG_ERR_DTYPE, MSG("conv2d: ", "f64", "f32"), tg_conv2d(g, F32(1, 1, 8, 8), F64(1, 1, 3, 3), NULL, 1))
ROW(maxpool2d_rank, TG_ERR_SHAPE, MSG("maxpool2d: ", "[8,8]", "[N,C,H,W]"), tg_maxpool2d(g, F32(8, 8)))
ROW(maxpool2d_too_small, TG_ERR_SHAPE, MSG("maxpool2d: ", "[1,1,1,4]", "H, W >= 2"), tg_maxpool2d(g, F32(1, 1, 1, 4)))
ROW(maxpool2d_complex, TG_ERR_DTYPE, MSG("maxpool2d: ", "c128"), tg_maxpool2d(g, C128(1, 1, 4, 4)))
ROW(upsample2x_rank, TG_ERR_SHAPE, MSG("upsample2x: ", "[1,8,8]", "[N,C,H,W]"), tg_upsample2x(g, F32(1, 8, 8)))
ROW(upsample2x_huge, TG_ERR_SHAPE, MSG("upsample2x: ", "[0,1,4611686018427387904,2]"),
	tg_upsample2x(g, F32(0, 1, P2(62), 2)))
ROW(batchnorm2d_channels, TG_ERR_SHAPE, MSG("batchnorm2d: ", "[4]", "expected [3]", "[2,3,4,4]"),
	batchnorm(g, TG_SHAPE(2, 3, 4, 4), 4, true, 0.1))
ROW(batchnorm2d_rank, TG_ERR_SHAPE, MSG("batchnorm2d: ", "[2,3,4]", "[N,C,H,W]"),
	batchnorm(g, TG_SHAPE(2, 3, 4), 3, true, 0.1))
ROW(batchnorm2d_momentum, TG_ERR_ARG, MSG("batchnorm2d: ", "momentum 2"),
	batchnorm(g, TG_SHAPE(2, 3, 4, 4), 3, true, 2.0))
ROW(batchnorm2d_stats_not_state, TG_ERR_ARG, MSG("batchnorm2d: ", "'rm'", "'rv'", "state nodes"),
	batchnorm(g, TG_SHAPE(2, 3, 4, 4), 3, false, 0.1))
ROW(batchnorm2d_one_value, TG_ERR_SHAPE, MSG("batchnorm2d: ", "[1,3,1,1]", "more than 1 value"),
	batchnorm(g, TG_SHAPE(1, 3, 1, 1), 3, true, 0.1))
ROW(adam_without_grad, TG_ERR_ARG, MSG("adam: ", "'w'", "no gradient", "tg_backward"), adam_without_grad(g))
ROW(adam_bad_lr, TG_ERR_ARG, MSG("adam: ", "lr -1"), adam_bad_lr(g))
ROW(adam_no_params, TG_ERR_ARG, MSG("adam: ", "no parameters"), tg_adam(g, NULL, 0, NULL))
ROW(unet_levels, TG_ERR_ARG, MSG("unet: ", "levels"), unet_on(g, TG_SHAPE(1, 1, 16, 16), 0))
ROW(unet_not_divisible, TG_ERR_SHAPE, MSG("unet: ", "[1,1,12,12]", "multiples of 8"),
	unet_on(g, TG_SHAPE(1, 1, 12, 12), 4))

/* ================================================================ status rows */

STATUS(compute_null_graph, TG_ERR_ARG, MSG("tg_graph_compute", "NULL graph"),
	tg_graph_compute(NULL, 1, (tg_node *[]){scalar_loss(g)}))
STATUS(compute_no_targets, TG_ERR_ARG, MSG("tg_graph_compute", "no targets"), tg_graph_compute(g, 0, NULL))
STATUS(compute_null_target, TG_ERR_ARG, MSG("tg_graph_compute", "target 1 is NULL"),
	tg_graph_compute(g, 2, (tg_node *[]){scalar_loss(g), NULL}))
STATUS(compute_foreign_target, TG_ERR_ARG, MSG("tg_graph_compute", "target 0 is from another graph"),
	tg_graph_compute(g, 1, (tg_node *[]){foreign()}))
STATUS(backward_null_graph, TG_ERR_ARG, MSG("tg_backward", "NULL graph"),
	tg_backward(NULL, scalar_loss(g), NULL, 0, NULL))
STATUS(backward_null_loss, TG_ERR_ARG, MSG("tg_backward", "NULL loss"), tg_backward(g, NULL, NULL, 0, NULL))
STATUS(backward_foreign_loss, TG_ERR_ARG, MSG("tg_backward", "loss", "another graph"),
	tg_backward(g, foreign(), NULL, 0, NULL))
STATUS(backward_seed_shape, TG_ERR_SHAPE, MSG("tg_backward", "seed [3]", "loss [2]"),
	tg_backward(g, tg_param(g, "w", TG_F64, TG_SHAPE(2)), F64(3), 0, NULL))
STATUS(backward_no_params, TG_ERR_ARG, MSG("tg_backward", "no parameters"),
	tg_backward(g, tg_sum_all(g, F64(2)), NULL, 0, NULL))
STATUS(backward_null_wrt, TG_ERR_ARG, MSG("tg_backward", "wrt[0] is NULL"),
	tg_backward(g, scalar_loss(g), NULL, 1, (tg_node *[]){NULL}))
STATUS(backward_null_wrt_array, TG_ERR_ARG, MSG("tg_backward", "wrt"), tg_backward(g, scalar_loss(g), NULL, 2, NULL))
STATUS(backward_through_nondiff, TG_ERR_UNSUPPORTED, MSG("tg_backward", "op compare", "no gradient"),
	tg_backward(g, tg_sum_all(g, tg_compare(g, tg_param(g, "w", TG_F64, TG_SHAPE(2)), F64(2), TG_LT)), NULL, 0,
		NULL))
STATUS(set_data_null_node, TG_ERR_ARG, MSG("tg_set_data", "NULL node"), tg_set_data(NULL, "", 0))
STATUS(set_data_null_data, TG_ERR_ARG, MSG("tg_set_data", "NULL data"), tg_set_data(F64(2), NULL, 16))
STATUS(set_data_size, TG_ERR_SHAPE, MSG("tg_set_data", "'x'", "f64 [2]", "16 bytes", "got 8"),
	tg_set_data(F64(2), (double[]){1}, 8))
STATUS(set_data_not_persistent, TG_ERR_ARG, MSG("tg_set_data", "'exp'", "not an input"),
	tg_set_data(tg_exp(g, F64(1)), (double[]){1}, 8))
STATUS(dot_null_graph, TG_ERR_ARG, MSG("tg_graph_dump_dot", "NULL graph"), tg_graph_dump_dot(NULL, "-", NULL))
STATUS(dot_null_path, TG_ERR_ARG, MSG("tg_graph_dump_dot", "NULL path"), tg_graph_dump_dot(g, NULL, NULL))
STATUS(dot_unwritable, TG_ERR_IO, MSG("tg_graph_dump_dot", "/nonexistent-dir/g.dot"),
	tg_graph_dump_dot(g, "/nonexistent-dir/g.dot", NULL))
STATUS(render_null_graph, TG_ERR_ARG, MSG("tg_graph_render", "NULL graph"), tg_graph_render(NULL, "g.svg", NULL))
STATUS(render_extension, TG_ERR_ARG, MSG("tg_graph_render", "g.pdf", ".svg or .png"), tg_graph_render(g, "g.pdf", NULL))
STATUS(checkpoint_save_null_graph, TG_ERR_ARG, MSG("tg_checkpoint_save", "NULL graph"),
	tg_checkpoint_save(NULL, "c.npz"))
STATUS(checkpoint_save_null_path, TG_ERR_ARG, MSG("tg_checkpoint_save", "NULL path"), tg_checkpoint_save(g, NULL))
STATUS(checkpoint_save_nothing, TG_ERR_ARG, MSG("tg_checkpoint_save", "no parameter or state"),
	tg_checkpoint_save(g, "/tmp/never.npz"))
STATUS(checkpoint_load_null_graph, TG_ERR_ARG, MSG("tg_checkpoint_load", "NULL graph"),
	tg_checkpoint_load(NULL, "c.npz"))
STATUS(checkpoint_load_missing, TG_ERR_IO, MSG("tg_checkpoint_load", "/nonexistent-dir/c.npz"),
	tg_checkpoint_load(with_param(g), "/nonexistent-dir/c.npz"))
STATUS(npy_read_null, TG_ERR_ARG, MSG("tg_npy_read", "NULL"), tg_npy_read(NULL, NULL, NULL, NULL))
STATUS(npy_write_null_path, TG_ERR_ARG, MSG("tg_npy_write", "NULL path"),
	tg_npy_write(NULL, TG_F64, TG_SHAPE(1), (double[]){0}))
STATUS(diffuse_compute_null, TG_ERR_ARG, MSG("tg_diffuse_compute", "bad arguments"),
	tg_diffuse_compute(NULL, NULL, 1, 4, 4, 1.0))
STATUS(diffuse_compute_nan_amount, TG_ERR_ARG, MSG("tg_diffuse_compute", "amount nan"),
	tg_diffuse_compute((double[16]){0}, (double[16]){0}, 1, 4, 4, NAN))
STATUS(diffuse_compute_overflow, TG_ERR_ARG, MSG("tg_diffuse_compute", "65536x65536"),
	tg_diffuse_compute((double[1]){0}, (double[1]){0}, 1, 65536, 65536, 1.0))
STATUS(inv_diffuse_compute_null, TG_ERR_ARG, MSG("tg_inv_diffuse_compute", "bad arguments"),
	tg_inv_diffuse_compute(NULL, NULL, 1, 4, 4, 1.0, NULL))
STATUS(heat_build_null_graph, TG_ERR_ARG, MSG("tg_heat_build_graph", "NULL graph"),
	tg_heat_build_graph(NULL, &(tg_heat_config){0}, diffusion(), &(tg_heat_graph){0}))
STATUS(heat_build_null_config, TG_ERR_ARG, MSG("config"),
	tg_heat_build_graph(g, NULL, diffusion(), &(tg_heat_graph){0}))
STATUS(heat_trainer_null_config, TG_ERR_ARG, MSG("config"), tg_heat_trainer_new(NULL, &(tg_heat_trainer *){NULL}))
STATUS(heat_trainer_null_out, TG_ERR_ARG, MSG("tg_heat_trainer_new", "NULL"),
	tg_heat_trainer_new(&(tg_heat_config){0}, NULL))

/* ================================================================ NULL graph, NULL inputs */

NULL2(add, tg_add(g, a, b))
NULL2(sub, tg_sub(g, a, b))
NULL2(mul, tg_mul(g, a, b))
NULL2(div, tg_div(g, a, b))
NULL2(compare, tg_compare(g, a, b, TG_GE))
NULL2(where_branch, tg_where(g, b, a, b))
NULL2(where_cond, tg_where(g, a, b, b))
NULL2(matmul, tg_matmul(g, a, b))
NULL2(concat, tg_concat(g, 2, (tg_node *[]){a, b}, 0))
NULL2(inv_diffuse, tg_inv_diffuse(g, a, b, 1.0))
NULL2(sip_loss, tg_sip_loss(g, diffusion(), a, b))
NULL2(conv2d, tg_conv2d(g, a, b, NULL, 1))
NULL2(batchnorm2d, tg_batchnorm2d(g, a, b, b, b, b, true, 0.1, 1e-5))
NULL2(custom_gradient, tg_custom_gradient(g, a, 1, &b, no_grad, NULL))
NULL1(neg, tg_neg(g, a))
NULL1(exp, tg_exp(g, a))
NULL1(log, tg_log(g, a))
NULL1(sqrt, tg_sqrt(g, a))
NULL1(abs, tg_abs(g, a))
NULL1(square, tg_square(g, a))
NULL1(pow_scalar, tg_pow_scalar(g, a, 2))
NULL1(scale, tg_scale(g, a, 2))
NULL1(relu, tg_relu(g, a))
NULL1(sum, tg_sum(g, a, AXES(0), false))
NULL1(mean, tg_mean(g, a, AXES(0), true))
NULL1(sum_all, tg_sum_all(g, a))
NULL1(sum_to, tg_sum_to(g, a, TG_SHAPE(4, 4)))
NULL1(reshape, tg_reshape(g, a, TG_SHAPE(32)))
NULL1(permute, tg_permute(g, a, (int[]){2, 1, 0}))
NULL1(transpose, tg_transpose(g, a))
NULL1(slice, tg_slice(g, a, 0, 0, 1))
NULL1(broadcast_to, tg_broadcast_to(g, a, TG_SHAPE(3, 2, 4, 4)))
NULL1(cast, tg_cast(g, a, TG_F32))
NULL1(stop_gradient, tg_stop_gradient(g, a))
NULL1(l2_loss, tg_l2_loss(g, a))
NULL1(copy, tg_copy(g, a))
NULL1(fft2, tg_fft2(g, a))
NULL1(ifft2, tg_ifft2(g, a))
NULL1(rfft2, tg_rfft2(g, a))
NULL1(irfft2, tg_irfft2(g, a, 6))
NULL1(real, tg_real(g, a))
NULL1(imag, tg_imag(g, a))
NULL1(conj, tg_conj(g, a))
NULL1(diffuse, tg_diffuse(g, a, 1.0))
NULL1(maxpool2d, tg_maxpool2d(g, a))
NULL1(upsample2x, tg_upsample2x(g, a))
NULL1(unet, tg_unet(g, NULL, TG_F32, a))

/* leaves and the small accessors with a NULL graph or node */
Test(bad_input, null_graph_accessors)
{
	tg_graph_free(NULL);
	tg_graph_clear_error(NULL);
	tg_scope_push(NULL, "s");
	tg_scope_pop(NULL);
	tg_graph_set_threads(NULL, 4);
	tg_graph_set_check_finite(NULL, true);
	tg_graph_set_eval_callback(NULL, NULL, NULL);
	cr_expect_null(tg_input(NULL, "x", TG_F64, TG_SHAPE(2)));
	cr_expect_null(tg_param(NULL, "x", TG_F64, TG_SHAPE(2)));
	cr_expect_null(tg_state(NULL, "x", TG_F64, TG_SHAPE(2)));
	cr_expect_null(tg_const(NULL, "x", TG_F64, TG_SHAPE(2), NULL));
	cr_expect_null(tg_scalar(NULL, TG_F64, 1));
	cr_expect_null(tg_fill(NULL, TG_F64, TG_SHAPE(2), 1));
	cr_expect_eq(tg_graph_status(NULL), TG_ERR_ARG);
	cr_expect(strstr(tg_graph_error(NULL), "NULL graph"));
	cr_expect_eq(tg_graph_node_count(NULL), 0);
	cr_expect_null(tg_graph_node(NULL, 0));
	cr_expect_null(tg_graph_find(NULL, "x"));
	cr_expect_eq(tg_graph_threads(NULL), 1);
	cr_expect_eq(tg_graph_peak_bytes(NULL), 0);
	cr_expect_eq(tg_graph_persistent_bytes(NULL), 0);
	cr_expect_null(tg_graph_profile(NULL));
	cr_expect_eq(tg_numel(NULL), 0);
	cr_expect_eq(tg_nbytes(NULL), 0);
	cr_expect_null(tg_grad_of(NULL));
	cr_expect_null(tg_set_name(NULL, "n"));
	cr_expect_null(tg_set_flags(NULL, TG_FLAG_OUTPUT));
	cr_expect_null(tg_op_find(NULL));
	cr_expect_null(tg_op_at(-1));
	cr_expect_null(tg_op_at(tg_op_count()));
	int n = 7;
	cr_expect_null(tg_graph_params(NULL, &n));
	cr_expect_eq(n, 0);
	cr_expect_null(tg_adam(NULL, NULL, 0, NULL));
	cr_expect_null(tg_unet(NULL, NULL, TG_F32, NULL));
	tg_heat_trainer_free(NULL);

	tg_graph *g = tg_graph_new();
	cr_assert(g);
	cr_expect_null(tg_graph_find(g, NULL));
	cr_expect_null(tg_graph_params(g, NULL), "a NULL count must not be written");
	cr_expect_eq(tg_graph_status(g), TG_OK);
	tg_graph_free(g);
}

/* ================================================================ zero-size tensors */

/* The choices: every op accepts zero-size inputs and gives an empty result, or a zero-filled one
** where the result is not empty (sums over empty axes, matmul with K = 0, l2_loss of empty items,
** mean over an empty axis: 0 (numpy gives NaN)). FFT ops need X, Y >= 1 (an FFT of no points is
** not a transform) but accept a zero batch. Training-mode batch norm needs values to normalise. */
static tg_node *grad_of_empty(tg_graph *g)
{
	tg_node *w = tg_param(g, "w", TG_F64, TG_SHAPE(0, 3));
	if (tg_backward(g, tg_sum_all(g, tg_square(g, w)), NULL, 0, NULL) != TG_OK)
		return NULL;
	return w->grad;
}

static tg_node *batchnorm_eval_empty(tg_graph *g)
{
	tg_node *c[4];
	for (int i = 0; i < 4; i++)
		c[i] = tg_state(g, "c", TG_F32, TG_SHAPE(2));
	return tg_batchnorm2d(g, F32(0, 2, 4, 4), c[0], c[1], c[2], c[3], false, 0.1, 1e-5);
}

EMPTY(add, TG_SHAPE(0, 3), tg_add(g, F32(0, 3), F32(3)))
EMPTY(add_broadcast_to_empty, TG_SHAPE(0, 3), tg_add(g, F32(0, 1), F64(1, 3)))
EMPTY(exp, TG_SHAPE(0, 3), tg_exp(g, F32(0, 3)))
EMPTY(where, TG_SHAPE(0, 3), tg_where(g, F32(0, 1), F32(3), F32(0, 3)))
EMPTY(sum_empty_axis, TG_SHAPE(3), tg_sum(g, F32(0, 3), AXES(0), false))
EMPTY(sum_all_empty, TG_SCALAR_SHAPE, tg_sum_all(g, F64(2, 0)))
EMPTY(mean_empty_axis, TG_SHAPE(3), tg_mean(g, F64(0, 3), AXES(0), false))
EMPTY(matmul_empty_rows, TG_SHAPE(0, 4), tg_matmul(g, F32(0, 3), F32(3, 4)))
EMPTY(matmul_k0, TG_SHAPE(2, 3), tg_matmul(g, F64(2, 0), F64(0, 3)))
EMPTY(matmul_empty_batch, TG_SHAPE(0, 2, 2), tg_matmul(g, F32(0, 2, 3), F32(3, 2)))
EMPTY(l2_loss_empty_batch, TG_SHAPE(0), tg_l2_loss(g, F64(0, 3)))
EMPTY(l2_loss_empty_items, TG_SHAPE(2), tg_l2_loss(g, F64(2, 0)))
EMPTY(reshape, TG_SHAPE(3, 0), tg_reshape(g, F32(0, 3), TG_SHAPE(3, 0)))
EMPTY(transpose, TG_SHAPE(3, 0), tg_transpose(g, F32(0, 3)))
EMPTY(slice_empty_range, TG_SHAPE(0, 3), tg_slice(g, F32(4, 3), 0, 2, 2))
EMPTY(concat_with_empty, TG_SHAPE(2, 3), tg_concat(g, 2, (tg_node *[]){F32(0, 3), F32(2, 3)}, 0))
EMPTY(broadcast_to_empty, TG_SHAPE(0, 3), tg_broadcast_to(g, F32(1, 3), TG_SHAPE(0, 3)))
EMPTY(sum_to_from_empty, TG_SHAPE(1, 3), tg_sum_to(g, F32(0, 3), TG_SHAPE(1, 3)))
EMPTY(cast, TG_SHAPE(0, 3), tg_cast(g, F32(0, 3), TG_C128))
EMPTY(fft2_empty_batch, TG_SHAPE(0, 4, 4), tg_fft2(g, F64(0, 4, 4)))
EMPTY(ifft2_empty_batch, TG_SHAPE(0, 4, 4), tg_ifft2(g, C128(0, 4, 4)))
EMPTY(rfft2_empty_batch, TG_SHAPE(0, 4, 3), tg_rfft2(g, F64(0, 4, 4)))
EMPTY(irfft2_empty_batch, TG_SHAPE(0, 4, 4), tg_irfft2(g, C128(0, 4, 3), 4))
EMPTY(diffuse_empty_batch, TG_SHAPE(0, 4, 4), tg_diffuse(g, F32(0, 4, 4), 1.0))
EMPTY(inv_diffuse_empty_batch, TG_SHAPE(0, 4, 4), tg_inv_diffuse(g, F64(0, 4, 4), F64(0, 4, 4), 1.0))
EMPTY(sip_loss_empty_batch, TG_SHAPE(0), tg_sip_loss(g, diffusion(), F64(0, 4, 4), F64(0, 4, 4)))
EMPTY(conv2d_empty_batch, TG_SHAPE(0, 2, 4, 4), tg_conv2d(g, F32(0, 1, 4, 4), F32(2, 1, 3, 3), F32(2), 1))
EMPTY(conv2d_no_output_channels, TG_SHAPE(1, 0, 4, 4), tg_conv2d(g, F32(1, 1, 4, 4), F32(0, 1, 3, 3), NULL, 1))
EMPTY(maxpool2d_empty_batch, TG_SHAPE(0, 1, 2, 2), tg_maxpool2d(g, F32(0, 1, 4, 4)))
EMPTY(upsample2x_empty_batch, TG_SHAPE(0, 1, 4, 4), tg_upsample2x(g, F32(0, 1, 2, 2)))
EMPTY(batchnorm2d_eval_empty_batch, TG_SHAPE(0, 2, 4, 4), batchnorm_eval_empty(g))
EMPTY(gradient_of_empty_param, TG_SHAPE(0, 3), grad_of_empty(g))

/* ================================================================ runs */

/* log(x) at x = -1 gives NaN: the checked run stops at that node, names it, and leaves the graph
** usable (the error is not sticky); unchecked runs just compute the NaN. */
Test(bad_input, nonfinite_value_names_first_node)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_input(g, "x", TG_F64, TG_SHAPE(4));
	tg_node *y = tg_set_name(tg_log(g, x), "logx");
	tg_node *z = tg_set_name(tg_scale(g, y, 2.0), "z");
	cr_assert(z);
	cr_assert_eq(tg_set_data(x, (double[]){1, -1, 2, 3}, 4 * sizeof(double)), TG_OK);
	cr_expect_eq(tg_graph_compute(g, 1, &z), TG_OK);
	cr_expect(isnan(tg_f64(z)[1]));
	tg_graph_set_check_finite(g, true);
	cr_assert_eq(tg_graph_compute(g, 1, &z), TG_ERR_NUMERIC);
	const char *m = tg_last_error();
	cr_expect(strstr(m, "element 1") && strstr(m, "node 1 'logx'") && strstr(m, "op log") && strstr(m, "f64 [4]"),
		"%s", m);
	cr_expect(!strstr(m, "backward"), "%s", m);
	cr_expect_eq(tg_graph_status(g), TG_OK, "a non-finite value must not poison the graph");
	cr_assert_eq(tg_set_data(x, (double[]){1, 1, 2, 3}, 4 * sizeof(double)), TG_OK);
	cr_expect_eq(tg_graph_compute(g, 1, &z), TG_OK, "%s", tg_last_error());
	tg_graph_free(g);
}

/* d sqrt(x)/dx at 0 is Inf: found in the backward pass, named as such. */
Test(bad_input, nonfinite_gradient_is_in_backward_pass)
{
	tg_graph *g = tg_graph_new();
	tg_node *w = tg_param(g, "w", TG_F32, TG_SHAPE(3));
	tg_node *loss = tg_sum_all(g, tg_sqrt(g, w));
	cr_assert_eq(tg_backward(g, loss, NULL, 0, NULL), TG_OK, "%s", tg_graph_error(g));
	tg_graph_set_check_finite(g, true);
	tg_node *t[2] = {loss, w->grad};
	cr_assert_eq(tg_graph_compute(g, 2, t), TG_ERR_NUMERIC);
	const char *m = tg_last_error();
	cr_expect(strstr(m, "element 0") && strstr(m, "in the backward pass") && strstr(m, "f32 [3]"), "%s", m);
	tg_graph_free(g);
}

/* A NaN the user feeds in is reported at the input that holds it, not at the op that reads it. */
Test(bad_input, nonfinite_input_is_named)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_input(g, "data", TG_F32, TG_SHAPE(2, 2));
	tg_node *y = tg_set_name(tg_relu(g, tg_add(g, x, tg_scalar(g, TG_F32, 1))), "y");
	cr_assert(y);
	cr_assert_eq(tg_set_data(x, (float[]){0, 1, INFINITY, 3}, 4 * sizeof(float)), TG_OK);
	tg_graph_set_check_finite(g, true);
	cr_assert_eq(tg_graph_compute(g, 1, &y), TG_ERR_NUMERIC);
	const char *m = tg_last_error();
	cr_expect(strstr(m, "element 2") && strstr(m, "node 0 'data'") && strstr(m, "input"), "%s", m);
	tg_graph_free(g);
}

/* After a failed constructor the graph refuses to run or differentiate, with the first error; once
** cleared, the nodes built before the error are usable. */
Test(bad_input, sticky_error_blocks_compute)
{
	tg_graph *g = tg_graph_new();
	tg_node *w = tg_param(g, "w", TG_F64, TG_SHAPE(2, 3));
	tg_node *ok = tg_sum_all(g, w);
	cr_assert(ok);
	cr_assert_null(tg_matmul(g, w, w));
	cr_assert_eq(tg_graph_status(g), TG_ERR_SHAPE);
	cr_assert_null(tg_add(g, w, w), "constructors after the error must fail");
	cr_expect_eq(tg_graph_compute(g, 1, &ok), TG_ERR_SHAPE);
	const char *m = tg_last_error();
	cr_expect(strstr(m, "tg_graph_compute") && strstr(m, "matmul: ") && strstr(m, "[2,3]"), "%s", m);
	cr_expect_eq(tg_backward(g, ok, NULL, 0, NULL), TG_ERR_SHAPE);
	cr_expect(strstr(tg_graph_error(g), "matmul: "), "the first error must stay: %s", tg_graph_error(g));
	tg_graph_clear_error(g);
	cr_expect_eq(tg_graph_compute(g, 1, &ok), TG_OK, "%s", tg_last_error());
	tg_graph_free(g);
}

/* Meaningless thread counts are clamped (to 1 and to 1024), and a run still works. */
Test(bad_input, thread_count_clamped)
{
	tg_graph *g = tg_graph_new();
	tg_node *a = tg_fill(g, TG_F32, TG_SHAPE(8, 8), 1.0);
	tg_node *m = tg_matmul(g, a, a);
	cr_assert(m);
	tg_graph_set_threads(g, -3);
	cr_expect_eq(tg_graph_threads(g), 1);
	tg_graph_set_threads(g, 1000000);
	cr_expect_eq(tg_graph_threads(g), 1024);
	cr_expect_eq(tg_graph_compute(g, 1, &m), TG_OK, "%s", tg_last_error());
	cr_expect_eq(tg_f32(m)[0], 8.0f);
	tg_graph_free(g);
}

/* The graph's first error wins; a later failed constructor does not replace it. */
Test(bad_input, first_error_wins)
{
	tg_graph *g = tg_graph_new();
	tg_node *a = tg_input(g, "a", TG_F32, TG_SHAPE(2));
	cr_assert_null(tg_transpose(g, a));
	cr_assert_null(tg_diffuse(g, a, -1));
	cr_expect(strstr(tg_graph_error(g), "transpose: "), "%s", tg_graph_error(g));
	cr_expect_eq(tg_graph_status(g), TG_ERR_SHAPE);
	tg_graph_free(g);
}
