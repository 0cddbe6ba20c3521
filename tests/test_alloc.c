/*
** test_alloc.c: allocation-failure injection. For every n, the n-th allocation fails during a
** graph build + backward + plan + run; every step must report TG_ERR_NOMEM (or succeed) and
** free everything (ASan/LSan in CI checks the "no leak" part).
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "tgraph.h"

static long alloc_count, fail_at;

static void *failing_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud, (void)osize;
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	if (++alloc_count == fail_at)
		return NULL;
	return realloc(ptr, nsize);
}

/* Returns the status of the whole sequence; *ok says whether it ran to the end. */
static tg_status build_and_run(void)
{
	tg_graph *g = tg_graph_new();
	if (!g)
		return TG_ERR_NOMEM;
	tg_node *x = tg_input(g, "x", TG_F64, TG_SHAPE(8, 4));
	tg_node *w = tg_param(g, "w", TG_F64, TG_SHAPE(4, 3));
	tg_node *b = tg_param(g, "b", TG_F64, TG_SHAPE(3));
	tg_scope_push(g, "layer");
	tg_node *h = tg_relu(g, tg_add(g, tg_matmul(g, x, w), b));
	tg_scope_pop(g);
	tg_node *loss = tg_sum_all(g, tg_l2_loss(g, tg_exp(g, tg_scale(g, h, 0.1))));
	tg_status st = tg_graph_status(g);
	if (st == TG_OK)
		st = tg_backward(g, loss, NULL, 0, NULL);
	if (st == TG_OK) {
		tg_node *t[3] = {loss, w->grad, b->grad};
		st = tg_graph_compute(g, 3, t);
	}
	if (st != TG_OK && st != TG_ERR_NOMEM)
		cr_log_error("n=%ld: status %s: %s / %s", fail_at, tg_status_str(st), tg_graph_error(g), tg_last_error());
	tg_graph_free(g);
	return st;
}

Test(alloc, every_allocation_failure_is_clean)
{
	tg_set_allocator(failing_alloc, NULL);
	fail_at = -1;
	alloc_count = 0;
	cr_assert_eq(build_and_run(), TG_OK);
	long total = alloc_count;
	cr_assert_gt(total, 20);
	for (fail_at = 1; fail_at <= total; fail_at++) {
		alloc_count = 0;
		tg_status st = build_and_run();
		cr_expect(st == TG_ERR_NOMEM, "failing allocation %ld of %ld gave %s, expected out of memory", fail_at, total,
			tg_status_str(st));
	}
	tg_set_allocator(NULL, NULL);
}
