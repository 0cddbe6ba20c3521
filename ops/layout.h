/*
** layout.h: shared kernels of the reduction and data-movement ops (sum, mean, sum_to,
** permute, broadcast_to, slice, pad, l2_loss).
*/
#ifndef TG_LAYOUT_H
#define TG_LAYOUT_H

#include "../engine/internal.h"

/* Sums n->src[0] over the axes whose bit is set in mask into n->data (kept axes in order),
** scaled by `scale`. Accumulates in double, in an order fixed by the shape (blocked partial sums,
** not index order). Element type from the source's dtype (f32/f64/c128). Fails only when the
** scratch for partial sums cannot be allocated (the error is recorded on n). */
tg_status layout_reduce(tg_exec *ex, tg_node *n, uint64_t mask, double scale);

/* dst[i] = src[offset + sum_d idx_d(i) * strides[d]] for i over `shape` (row-major);
** element size es. Used for permute, broadcast_to and slice. */
void layout_gather(tg_exec *ex, void *dst, const void *src, tg_shape shape, const int64_t *strides, int64_t offset,
	size_t es);

/* Mask of axes to reduce so that shape `from` sums to `to` (to broadcasts to from). false if
** it does not. */
bool layout_sum_mask(tg_shape from, tg_shape to, uint64_t *mask);

#endif
