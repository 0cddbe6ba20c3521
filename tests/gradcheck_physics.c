/*
** gradcheck_physics.c: gradient-check cases of the physics ops (FFTs, diffusion). Each case mixes
** an odd and an even, non-square grid; complex inputs are perturbed in Re and Im separately (the
** d/dRe + i d/dIm convention). irfft2 gets non-Hermitian input on purpose: it is defined as a
** real-linear map there (ops/irfft2.c) and its gradient must match that map.
*/
#include "gradcheck_cases.h"

#define F64 TG_F64
#define C128 TG_C128

/* [numel] view, to concatenate outputs of different shapes into one checked output */
static tg_node *flat(tg_graph *g, tg_node *a) { return a ? tg_reshape(g, a, TG_SHAPE(tg_numel(a))) : NULL; }
static tg_node *cat2(tg_graph *g, tg_node *a, tg_node *b) { return tg_concat(g, 2, (tg_node *[]){flat(g, a), flat(g, b)}, 0); }

static tg_node *case_fft2(tg_graph *g, tg_node **xs, int *nx)
{
	xs[0] = gc_input(g, "z", C128, TG_SHAPE(2, 3, 4), -1, 1, 101);
	xs[1] = gc_input(g, "x", F64, TG_SHAPE(5, 2), -1, 1, 102);   /* real input: cast, Re of the gradient */
	*nx = 2;
	return cat2(g, tg_fft2(g, xs[0]), tg_fft2(g, xs[1]));
}

static tg_node *case_ifft2(tg_graph *g, tg_node **xs, int *nx)
{
	xs[0] = gc_input(g, "z", C128, TG_SHAPE(3, 5), -1, 1, 103);
	xs[1] = gc_input(g, "w", C128, TG_SHAPE(2, 4, 3), -1, 1, 104);
	*nx = 2;
	return cat2(g, tg_ifft2(g, xs[0]), tg_ifft2(g, xs[1]));
}

static tg_node *case_rfft2(tg_graph *g, tg_node **xs, int *nx)
{
	xs[0] = gc_input(g, "x", F64, TG_SHAPE(2, 3, 4), -1, 1, 105);   /* even Y: a Nyquist column */
	xs[1] = gc_input(g, "y", F64, TG_SHAPE(4, 5), -1, 1, 106);      /* odd Y */
	*nx = 2;
	return cat2(g, tg_rfft2(g, xs[0]), tg_rfft2(g, xs[1]));
}

static tg_node *case_irfft2(tg_graph *g, tg_node **xs, int *nx)
{
	xs[0] = gc_input(g, "h", C128, TG_SHAPE(2, 3, 3), -1, 1, 107);  /* ny = 4 */
	xs[1] = gc_input(g, "k", C128, TG_SHAPE(4, 3), -1, 1, 108);     /* ny = 5 */
	*nx = 2;
	return cat2(g, tg_irfft2(g, xs[0], 4), tg_irfft2(g, xs[1], 5));
}

static tg_node *case_diffuse(tg_graph *g, tg_node **xs, int *nx)
{
	xs[0] = gc_input(g, "x", F64, TG_SHAPE(2, 5, 6), -1, 1, 109);
	xs[1] = gc_input(g, "y", F64, TG_SHAPE(3, 4), -1, 1, 110);
	*nx = 2;
	return cat2(g, tg_diffuse(g, xs[0], 0.3), tg_diffuse(g, xs[1], 0.05));
}

const gc_case gc_physics_cases[] = {
	{"fft2", case_fft2, {0, 0, 0, 0}},
	{"ifft2", case_ifft2, {0, 0, 0, 0}},
	{"rfft2", case_rfft2, {0, 0, 0, 0}},
	{"irfft2", case_irfft2, {0, 0, 0, 0}},
	{"diffuse", case_diffuse, {0, 0, 0, 0}},
	{NULL, NULL, {0, 0, 0, 0}},
};
