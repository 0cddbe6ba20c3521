/*
** heat_data.c: the seed's generate_heat_example() with PhiFlow 2.1.1 semantics (SEMANTICS.md e):
** 4..10 soft-edged "hot" boxes per example, summed, on an X x Y periodic grid of unit cells.
**
** Random numbers come from the counter-based tg_rng: every scalar of example k of batch `step`
** has a fixed counter, so an example is the same whether it is generated alone, in a batch, or
** split over threads. (PhiFlow draws from torch's global generator: only the distribution can
** match, not the stream.)
*/
#include "internal.h"
#include <math.h>

#define HEAT_BOXES 10
/* Draw indices inside one example's block of counters: count, positions (box, axis),
** half sizes (box, axis), strengths (box). 51 draws, rounded up to a block of 64. */
#define DRAW_COUNT 0
#define DRAW_POS(i, a) (1 + 2 * (i) + (a))
#define DRAW_HALF(i, a) (21 + 2 * (i) + (a))
#define DRAW_STRENGTH(i) (41 + (i))
#define DRAWS_PER_EXAMPLE 64
/* "heat" in the high word keeps data streams apart from other users of tg_rng with the same seed. */
#define HEAT_STREAM_TAG ((uint64_t)0x68656174u << 32)

/* PhiFlow's GridCell.bounding_radius for unit cells: max(cell size) * 1.414214 (not sqrt(2)). */
#define CELL_RADIUS 1.414214

/* The mask value clip(0.5 - d / CELL_RADIUS, 0, 1) of the signed distance d along one axis at
** cell c: d = |c + 0.5 - m| - e/2 (m the box middle, e its extent; PhiFlow's operations in order). */
static double axis_value(int64_t c, double m, double e)
{
	double d = fabs(((double)c + 0.5) - m) - e * 0.5;
	double v = 0.5 - d / CELL_RADIUS;
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* Every cell, as PhiFlow: clip(0.5 - max(dx, dy) / R) (for non-finite arguments). */
static void full_mask(int64_t nx, int64_t ny, const double m[2], const double e[2], double strength, double *out)
{
	for (int64_t i = 0; i < nx; i++) {
		double dx = fabs(((double)i + 0.5) - m[0]) - e[0] * 0.5;
		for (int64_t j = 0; j < ny; j++) {
			double dy = fabs(((double)j + 0.5) - m[1]) - e[1] * 0.5;
			double d = dx > dy ? dx : dy;
			double v = 0.5 - d / CELL_RADIUS;
			v = v < 0 ? 0 : v > 1 ? 1 : v;
			out[i * ny + j] += v * strength;
		}
	}
}

/* PhiFlow's value at (i, j) is clip(0.5 - max(dx, dy) / R). The clip of 0.5 - d / R does not
** increase with d (every rounding step is monotone), so for finite arguments it equals
** min(vx_i, vy_j) of the per-axis values bit for bit, and where either is 0 the cell gets
** v * strength = +-0 added: nothing (but that a -0 in out would have become +0). So only the rows
** and columns with a positive axis value are visited (the box plus its ~1.4-cell soft edge
** instead of the whole grid), with the column values computed once per box in blocks. */
#define MASK_BLOCK 64

void tg_heat_box_mask(int64_t nx, int64_t ny, const double center[2], const double half[2], double strength,
	double *out)
{
	/* BaseBox.approximate_signed_distance with the operations in PhiFlow's order, so results
	** match bit for bit: m = 0.5 (lower + upper), e = upper - lower, d = max_v(|c - m| - e/2). */
	double m[2], e[2];
	for (int a = 0; a < 2; a++) {
		double lower = center[a] - half[a], upper = center[a] + half[a];
		m[a] = 0.5 * (lower + upper);
		e[a] = upper - lower;
	}
	if (!isfinite(m[0]) || !isfinite(m[1]) || !isfinite(e[0]) || !isfinite(e[1]) || !isfinite(strength)) {
		full_mask(nx, ny, m, e, strength, out);
		return;
	}
	int64_t j0 = ny, j1 = 0;   /* columns [j0, j1) hold every positive column value */
	for (int64_t j = 0; j < ny; j++)
		if (axis_value(j, m[1], e[1]) > 0) {
			j0 = j < j0 ? j : j0;
			j1 = j + 1;
		}
	for (int64_t jb = j0; jb < j1; jb += MASK_BLOCK) {
		int64_t nb = j1 - jb < MASK_BLOCK ? j1 - jb : MASK_BLOCK;
		double vy[MASK_BLOCK];
		for (int64_t j = 0; j < nb; j++)
			vy[j] = axis_value(jb + j, m[1], e[1]);
		for (int64_t i = 0; i < nx; i++) {
			double vx = axis_value(i, m[0], e[0]);
			if (!(vx > 0))
				continue;
			double *row = out + i * ny + jb;
			for (int64_t j = 0; j < nb; j++)
				row[j] += (vx < vy[j] ? vx : vy[j]) * strength;
		}
	}
}

/* One example: out [nx, ny] is overwritten. */
static void heat_example(tg_rng r, uint64_t k, int64_t nx, int64_t ny, double *out)
{
	uint64_t base = k * DRAWS_PER_EXAMPLE;
	const double size[2] = {(double)nx, (double)ny};
	int count = (int)(4 + 7 * tg_rng_uniform(r, base + DRAW_COUNT));
	for (int64_t c = 0; c < nx * ny; c++)
		out[c] = 0;
	for (int i = 0; i < HEAT_BOXES; i++) {
		double pos[2], half[2];
		for (int a = 0; a < 2; a++) {
			pos[a] = (tg_rng_uniform(r, base + DRAW_POS(i, a)) - 0.5) * size[a] * 0.8 + size[a] * 0.5;
			half[a] = tg_rng_uniform(r, base + DRAW_HALF(i, a)) * 10;
		}
		double strength = tg_rng_uniform(r, base + DRAW_STRENGTH(i)) * (i < count ? 1.0 : 0.0);
		for (int a = 0; a < 2; a++) {
			/* math.clip(p, lower + h, upper - h) = maximum(lower + h, minimum(p, upper - h)) */
			double hi = size[a] - half[a], lo = 0 + half[a];
			double p = pos[a] < hi ? pos[a] : hi;
			pos[a] = p > lo ? p : lo;
		}
		if (strength != 0)   /* a box past `count` (strength 0) would add +0 everywhere */
			tg_heat_box_mask(nx, ny, pos, half, strength, out);
	}
}

tg_status tg_heat_generate(uint64_t seed, uint64_t step, int64_t first, int64_t count, int64_t nx, int64_t ny,
	double *out)
{
	if (!out || first < 0 || count < 0 || nx <= 0 || ny <= 0)
		return tg_set_error(TG_ERR_ARG, "tg_heat_generate: bad arguments (first %lld, count %lld, grid %lldx%lld, out %p)",
			(long long)first, (long long)count, (long long)nx, (long long)ny, (void *)out);
	tg_rng r = {seed, HEAT_STREAM_TAG | step};
	for (int64_t b = 0; b < count; b++)
		heat_example(r, (uint64_t)(first + b), nx, ny, out + b * nx * ny);
	return TG_OK;
}
