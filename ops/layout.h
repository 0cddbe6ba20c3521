/*
** layout.h: shared kernels of the reduction and data-movement ops (sum, mean, sum_to,
** permute, broadcast_to, slice, pad, l2_loss).
*/
#ifndef TG_LAYOUT_H
#define TG_LAYOUT_H

#include "../engine/internal.h"

/* Sums src over the axes whose bit is set in mask into dst (kept axes in order), scaled by
** `scale`. Accumulates in double. Element type from src->dtype (f32/f64/c128). */
void layout_reduce(tg_exec *ex, const tg_node *src, void *dst, uint64_t mask, double scale);

/* dst[i] = src[offset + sum_d idx_d(i) * strides[d]] for i over `shape` (row-major);
** element size es. Used for permute, broadcast_to and slice. */
void layout_gather(tg_exec *ex, void *dst, const void *src, tg_shape shape, const int64_t *strides, int64_t offset,
	size_t es);

/* Mask of axes to reduce so that shape `from` sums to `to` (to broadcasts to from). false if
** it does not. */
bool layout_sum_mask(tg_shape from, tg_shape to, uint64_t *mask);

#endif
