/*
** shape.c: dtypes and shapes: sizes, names, strides and numpy broadcasting.
*/
#include "internal.h"
#include <stdio.h>
#include <string.h>

size_t tg_dtype_size(tg_dtype t)
{
	switch (t) {
	case TG_F32: return 4;
	case TG_F64: return 8;
	case TG_C128: return 16;
	default: return 0;
	}
}

const char *tg_dtype_name(tg_dtype t)
{
	switch (t) {
	case TG_F32: return "f32";
	case TG_F64: return "f64";
	case TG_C128: return "c128";
	default: return "?";
	}
}

tg_shape tg_shape_make(int ndim, const int64_t *d)
{
	tg_shape s = {0};
	if (ndim < 0)
		ndim = 0;
	s.ndim = ndim > TG_MAX_DIMS ? TG_MAX_DIMS + 1 : ndim; /* > max is caught by constructors */
	for (int i = 0; i < ndim && i < TG_MAX_DIMS; i++)
		s.d[i] = d[i];
	return s;
}

int64_t tg_shape_numel(tg_shape s)
{
	if (s.ndim < 0 || s.ndim > TG_MAX_DIMS)
		return -1;
	int64_t n = 1;
	for (int i = 0; i < s.ndim; i++) {
		if (s.d[i] < 0)
			return -1;
		if (s.d[i] && n > INT64_MAX / s.d[i])
			return -1;
		n *= s.d[i];
	}
	return n;
}

bool tg_shape_eq(tg_shape a, tg_shape b)
{
	if (a.ndim != b.ndim)
		return false;
	for (int i = 0; i < a.ndim; i++)
		if (a.d[i] != b.d[i])
			return false;
	return true;
}

char *tg_shape_str(tg_shape s, char *buf, size_t n)
{
	size_t k = 0;
	if (!n)
		return buf;
	k += (size_t)snprintf(buf + k, n - k, "[");
	for (int i = 0; i < s.ndim && i < TG_MAX_DIMS && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)s.d[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
	return buf;
}

const char *tg_sstr(tg_shape s)
{
	static _Thread_local char bufs[4][128];
	static _Thread_local int next;
	char *b = bufs[next++ & 3];
	return tg_shape_str(s, b, 128);
}

bool tg_shape_broadcast(tg_shape a, tg_shape b, tg_shape *out)
{
	tg_shape r = {0};
	r.ndim = a.ndim > b.ndim ? a.ndim : b.ndim;
	if (r.ndim > TG_MAX_DIMS)
		return false;
	for (int i = 0; i < r.ndim; i++) {
		int ia = a.ndim - r.ndim + i, ib = b.ndim - r.ndim + i;
		int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
		if (da != db && da != 1 && db != 1)
			return false;
		r.d[i] = da == 1 ? db : da;
	}
	*out = r;
	return true;
}

void tg_shape_strides(tg_shape s, int64_t *st)
{
	int64_t acc = 1;
	for (int i = s.ndim - 1; i >= 0; i--) {
		st[i] = acc;
		acc *= s.d[i];
	}
}

void tg_broadcast_strides(tg_shape in, tg_shape out, int64_t *st)
{
	int64_t ist[TG_MAX_DIMS];
	tg_shape_strides(in, ist);
	for (int i = 0; i < out.ndim; i++) {
		int j = in.ndim - out.ndim + i;
		st[i] = (j < 0 || in.d[j] == 1) ? 0 : ist[j];
	}
}

bool tg_axis_norm(int ndim, int *axis)
{
	int a = *axis < 0 ? *axis + ndim : *axis;
	if (a < 0 || a >= ndim)
		return false;
	*axis = a;
	return true;
}

void tg_attrs_set_shape(tg_attrs *a, tg_shape s)
{
	a->i[1] = s.ndim;
	for (int d = 0; d < s.ndim && d < TG_MAX_DIMS; d++)
		a->i[2 + d] = s.d[d];
}

tg_shape tg_attrs_shape(const tg_attrs *a)
{
	tg_shape s = {0};
	s.ndim = (int)a->i[1];
	for (int d = 0; d < s.ndim && d < TG_MAX_DIMS; d++)
		s.d[d] = a->i[2 + d];
	return s;
}
