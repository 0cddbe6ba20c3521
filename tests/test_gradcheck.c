/*
** test_gradcheck.c: a float64 finite-difference gradient check for every differentiable op of
** the op table. The table of cases below is walked by `gradcheck/coverage`: an op with a
** backward and no case fails the suite. Inputs avoid kinks (|x| at 0, relu at 0, ties).
*/
#include <criterion/criterion.h>
#include <string.h>
#include "gradcheck.h"
#include "gradcheck_cases.h"

#define F64 TG_F64
#define C128 TG_C128

static tg_node *in(tg_graph *g, const char *name, tg_shape s, double lo, double hi)
{
	static uint64_t seed = 1;
	return gc_input(g, name, F64, s, lo, hi, seed++);
}

/* Each case builds inputs (returned in xs) and the op's output. */
#define CASE(name) static tg_node *case_##name(tg_graph *g, tg_node **xs, int *nx)
#define ENTRY(name) {#name, case_##name, {0, 0, 0, 0}},

CASE(add) { xs[0] = in(g, "a", TG_SHAPE(3, 4), -1, 1); xs[1] = in(g, "b", TG_SHAPE(4), -1, 1); *nx = 2; return tg_add(g, xs[0], xs[1]); }
CASE(sub) { xs[0] = in(g, "a", TG_SHAPE(3, 1), -1, 1); xs[1] = in(g, "b", TG_SHAPE(2, 3, 4), -1, 1); *nx = 2; return tg_sub(g, xs[0], xs[1]); }
CASE(mul) { xs[0] = in(g, "a", TG_SHAPE(3, 4), -1, 1); xs[1] = in(g, "b", TG_SHAPE(3, 1), -1, 1); *nx = 2; return tg_mul(g, xs[0], xs[1]); }
CASE(div) { xs[0] = in(g, "a", TG_SHAPE(3, 4), -1, 1); xs[1] = in(g, "b", TG_SHAPE(4), 0.5, 2); *nx = 2; return tg_div(g, xs[0], xs[1]); }
CASE(neg) { xs[0] = in(g, "a", TG_SHAPE(5), -1, 1); *nx = 1; return tg_neg(g, xs[0]); }
CASE(exp) { xs[0] = in(g, "a", TG_SHAPE(5), -1, 1); *nx = 1; return tg_exp(g, xs[0]); }
CASE(log) { xs[0] = in(g, "a", TG_SHAPE(5), 0.5, 2); *nx = 1; return tg_log(g, xs[0]); }
CASE(sqrt) { xs[0] = in(g, "a", TG_SHAPE(5), 0.5, 2); *nx = 1; return tg_sqrt(g, xs[0]); }
CASE(abs) { xs[0] = in(g, "a", TG_SHAPE(6), 0.1, 1); tg_node *s = tg_mul(g, xs[0], tg_const(g, "signs", F64, TG_SHAPE(6), (double[]){1, -1, 1, -1, -1, 1})); *nx = 1; return tg_abs(g, s); }
CASE(square) { xs[0] = in(g, "a", TG_SHAPE(5), -1, 1); *nx = 1; return tg_square(g, xs[0]); }
CASE(pow_scalar) { xs[0] = in(g, "a", TG_SHAPE(5), 0.5, 2); *nx = 1; return tg_pow_scalar(g, xs[0], 2.5); }
CASE(scale) { xs[0] = in(g, "a", TG_SHAPE(5), -1, 1); *nx = 1; return tg_scale(g, xs[0], -3.0); }
CASE(relu) { xs[0] = in(g, "a", TG_SHAPE(6), 0.1, 1); tg_node *s = tg_mul(g, xs[0], tg_const(g, "signs", F64, TG_SHAPE(6), (double[]){1, -1, 1, -1, -1, 1})); *nx = 1; return tg_relu(g, s); }
CASE(where) {
	xs[0] = in(g, "a", TG_SHAPE(2, 3), -1, 1); xs[1] = in(g, "b", TG_SHAPE(3), -1, 1); *nx = 2;
	tg_node *c = tg_const(g, "cond", F64, TG_SHAPE(2, 3), (double[]){1, 0, 1, 0, 0, 1});
	return tg_where(g, c, xs[0], xs[1]);
}
CASE(conj) { xs[0] = gc_input(g, "z", C128, TG_SHAPE(4), -1, 1, 3); *nx = 1; return tg_conj(g, xs[0]); }
CASE(copy) { xs[0] = in(g, "a", TG_SHAPE(5), -1, 1); *nx = 1; return tg_copy(g, xs[0]); }
CASE(real) { xs[0] = gc_input(g, "z", C128, TG_SHAPE(4), -1, 1, 4); *nx = 1; return tg_real(g, tg_square(g, xs[0])); }
CASE(imag) { xs[0] = gc_input(g, "z", C128, TG_SHAPE(4), -1, 1, 5); *nx = 1; return tg_imag(g, tg_square(g, xs[0])); }
CASE(sum) { xs[0] = in(g, "a", TG_SHAPE(2, 3, 4), -1, 1); *nx = 1; return tg_sum(g, xs[0], 2, (int[]){0, 2}, false); }
CASE(mean) { xs[0] = in(g, "a", TG_SHAPE(2, 3, 4), -1, 1); *nx = 1; return tg_mean(g, xs[0], 1, (int[]){-1}, true); }
CASE(sum_to) { xs[0] = in(g, "a", TG_SHAPE(2, 3, 4), -1, 1); *nx = 1; return tg_sum_to(g, xs[0], TG_SHAPE(3, 1)); }
CASE(broadcast_to) { xs[0] = in(g, "a", TG_SHAPE(3, 1), -1, 1); *nx = 1; return tg_broadcast_to(g, xs[0], TG_SHAPE(2, 3, 4)); }
CASE(reshape) { xs[0] = in(g, "a", TG_SHAPE(2, 6), -1, 1); *nx = 1; return tg_reshape(g, xs[0], TG_SHAPE(3, 4)); }
CASE(permute) { xs[0] = in(g, "a", TG_SHAPE(2, 3, 4), -1, 1); *nx = 1; return tg_permute(g, xs[0], (int[]){2, 0, 1}); }
CASE(slice) { xs[0] = in(g, "a", TG_SHAPE(3, 5), -1, 1); *nx = 1; return tg_slice(g, xs[0], 1, 1, 4); }
CASE(pad) { extern tg_node *tg_pad_axis(tg_graph *, tg_node *, int, int64_t, int64_t); xs[0] = in(g, "a", TG_SHAPE(3, 2), -1, 1); *nx = 1; return tg_pad_axis(g, xs[0], 0, 1, 2); }
CASE(concat) { xs[0] = in(g, "a", TG_SHAPE(2, 3), -1, 1); xs[1] = in(g, "b", TG_SHAPE(2, 2), -1, 1); *nx = 2; return tg_concat(g, 2, xs, 1); }
CASE(cast) { xs[0] = in(g, "a", TG_SHAPE(4), -1, 1); *nx = 1; return tg_real(g, tg_square(g, tg_cast(g, xs[0], C128))); }
CASE(matmul) { xs[0] = in(g, "a", TG_SHAPE(2, 3, 4), -1, 1); xs[1] = in(g, "b", TG_SHAPE(4, 5), -1, 1); *nx = 2; return tg_matmul(g, xs[0], xs[1]); }
CASE(l2_loss) { xs[0] = in(g, "a", TG_SHAPE(3, 2, 2), -1, 1); *nx = 1; return tg_l2_loss(g, xs[0]); }

static const gc_case core_cases[] = {

	ENTRY(add) ENTRY(sub) ENTRY(mul) ENTRY(div) ENTRY(neg) ENTRY(exp) ENTRY(log) ENTRY(sqrt) ENTRY(abs)
	ENTRY(square) ENTRY(pow_scalar) ENTRY(scale) ENTRY(relu) ENTRY(where) ENTRY(conj) ENTRY(copy) ENTRY(real)
	ENTRY(imag) ENTRY(sum) ENTRY(mean) ENTRY(sum_to) ENTRY(broadcast_to) ENTRY(reshape) ENTRY(permute)
	ENTRY(slice) ENTRY(pad) ENTRY(concat) ENTRY(cast) ENTRY(matmul) ENTRY(l2_loss)
};

static const gc_case *find_case(const char *op)
{
	for (size_t i = 0; i < sizeof core_cases / sizeof core_cases[0]; i++)
		if (strcmp(core_cases[i].op, op) == 0)
			return &core_cases[i];
	for (int l = 0; gc_extra_lists[l]; l++)
		for (int i = 0; gc_extra_lists[l][i].op; i++)
			if (strcmp(gc_extra_lists[l][i].op, op) == 0)
				return &gc_extra_lists[l][i];
	return NULL;
}

static void run_case(const gc_case *c)
{
	tg_graph *g = tg_graph_new();
	tg_node *xs[8] = {0};
	int nx = 0;
	tg_node *out = c->build(g, xs, &nx);
	cr_assert(out, "%s: building the case failed: %s", c->op, tg_graph_error(g));
	char msg[512];
	bool ok = gc_check(g, out, nx, xs, &c->opts, msg, sizeof msg);
	cr_expect(ok, "gradient check of %s failed: %s", c->op, msg);
	tg_graph_free(g);
}

Test(gradcheck, coverage)
{
	for (int i = 0; i < tg_op_count(); i++) {
		const tg_op *op = tg_op_at(i);
		bool diff = op->backward && !(op->flags & TG_OP_NONDIFF);
		cr_expect(!(op->flags & TG_OP_NONDIFF) || !op->backward || strcmp(op->name, "stop_gradient") == 0,
			"op %s is flagged NONDIFF but has a backward", op->name);
		cr_expect(diff || (op->flags & TG_OP_NONDIFF), "op %s has no backward and is not flagged TG_OP_NONDIFF", op->name);
		if (diff)
			cr_expect(find_case(op->name) != NULL, "differentiable op %s has no gradient check case", op->name);
	}
}

Test(gradcheck, all_ops)
{
	int checked = 0;
	for (int i = 0; i < tg_op_count(); i++) {
		const tg_op *op = tg_op_at(i);
		const gc_case *c = find_case(op->name);
		if (c && op->backward && !(op->flags & TG_OP_NONDIFF)) {
			run_case(c);
			checked++;
		}
	}
	cr_expect(checked >= 30, "only %d ops checked", checked);
}
