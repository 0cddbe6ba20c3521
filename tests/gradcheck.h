/*
** gradcheck.h: the reusable gradient checker. It compares tg_backward's gradients against
** central finite differences in float64, with a random projection <u, out> as the loss (never
** sum(out), which is constant for normalisations and hides errors).
*/
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include "tgraph.h"

typedef struct gc_opts {
	double h;          /* step (relative to max(1, |x|)); default 1e-6 */
	double atol, rtol; /* |analytic - numeric| <= atol + rtol * |numeric|; defaults 1e-7, 1e-5 */
	int max_elems;     /* elements checked per input (sampled evenly); default 64 */
} gc_opts;

/* A float64 (or c128) input with uniform random values in [lo, hi), reproducible per seed. */
tg_node *gc_input(tg_graph *g, const char *name, tg_dtype t, tg_shape s, double lo, double hi, uint64_t seed);

/* Checks d<u,out>/d inputs[i] for every input. Returns true if all agree; otherwise writes the
** first disagreement into msg. */
bool gc_check(tg_graph *g, tg_node *out, int nin, tg_node **inputs, const gc_opts *opt, char *msg, size_t msglen);

#endif
