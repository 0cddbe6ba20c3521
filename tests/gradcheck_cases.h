/*
** gradcheck_cases.h: the case type of the gradient checks, and the cases of the physics and
** neural-network ops (defined in tests/gradcheck_physics.c and tests/gradcheck_nn.c).
*/
#ifndef TG_GRADCHECK_CASES_H
#define TG_GRADCHECK_CASES_H

#include "gradcheck.h"

typedef struct gc_case {
	const char *op;
	tg_node *(*build)(tg_graph *g, tg_node **xs, int *nx);
	gc_opts opts;   /* zeros: defaults */
} gc_case;

/* NULL-terminated list of {NULL}-terminated case lists (gradcheck_extra.c). */
extern const gc_case *const gc_extra_lists[];

#endif
