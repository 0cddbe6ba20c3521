/*
** test_nn_ops.c: the neural-network ops against naive loops (conv2d and its three backward ops
** over kernel sizes and paddings, including padding > kernel-1), max-pool ties, PyTorch's
** bilinear values, batch-norm running statistics and eval mode, and the shape errors of every
** constructor.
*/
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tgraph.h"
#include "conv_paths.h"

static tg_node *rand_input(tg_graph *g, const char *name, tg_dtype t, tg_shape s, uint64_t seed)
{
	tg_node *n = tg_input(g, name, t, s);
	tg_rng r = {seed, 3};
	for (int64_t i = 0; i < tg_numel(n); i++) {
		double v = 2 * tg_rng_uniform(r, (uint64_t)i) - 1;
		if (t == TG_F32)
			tg_f32(n)[i] = (float)v;
		else
			tg_f64(n)[i] = v;
	}
	return n;
}

static double val(const tg_node *n, int64_t i)
{
	return n->dtype == TG_F32 ? (double)((const float *)n->data)[i] : ((const double *)n->data)[i];
}

/* max |n - ref| / max |ref| */
static double err_vs(const tg_node *n, const double *ref)
{
	double e = 0, m = 0;
	for (int64_t i = 0; i < tg_numel(n); i++) {
		e = fmax(e, fabs(val(n, i) - ref[i]));
		m = fmax(m, fabs(ref[i]));
	}
	return m > 0 ? e / m : e;
}

/* Naive conv and its gradients for loss = sum(gy * y): y, dx, dw, db. */
static void naive_conv(const tg_node *x, const tg_node *w, const tg_node *b, const tg_node *gy, int pad, double *y,
	double *dx, double *dw, double *db)
{
	int64_t N = x->shape.d[0], C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
	int64_t O = w->shape.d[0], KH = w->shape.d[2], KW = w->shape.d[3];
	int64_t Ho = H + 2 * pad - KH + 1, Wo = W + 2 * pad - KW + 1;
	memset(dx, 0, sizeof(double) * (size_t)tg_numel(x));
	memset(dw, 0, sizeof(double) * (size_t)tg_numel(w));
	memset(db, 0, sizeof(double) * (size_t)O);
	for (int64_t n = 0; n < N; n++)
		for (int64_t o = 0; o < O; o++)
			for (int64_t i = 0; i < Ho; i++)
				for (int64_t j = 0; j < Wo; j++) {
					int64_t yi = ((n * O + o) * Ho + i) * Wo + j;
					double acc = val(b, o), g = val(gy, yi);
					db[o] += g;
					for (int64_t c = 0; c < C; c++)
						for (int64_t kh = 0; kh < KH; kh++)
							for (int64_t kw = 0; kw < KW; kw++) {
								int64_t ih = i + kh - pad, iw = j + kw - pad;
								if (ih < 0 || ih >= H || iw < 0 || iw >= W)
									continue;
								int64_t xi = ((n * C + c) * H + ih) * W + iw;
								int64_t wi = ((o * C + c) * KH + kh) * KW + kw;
								acc += val(x, xi) * val(w, wi);
								dx[xi] += g * val(w, wi);
								dw[wi] += g * val(x, xi);
							}
					y[yi] = acc;
				}
}

static void check_conv(tg_dtype t, tg_shape xs, tg_shape ws, int pad, double tol)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = rand_input(g, "x", t, xs, 1), *w = rand_input(g, "w", t, ws, 2);
	tg_node *b = rand_input(g, "b", t, TG_SHAPE(ws.d[0]), 3);
	tg_node *y = tg_conv2d(g, x, w, b, pad);
	cr_assert(y, "%s", tg_graph_error(g));
	tg_node *gy = rand_input(g, "gy", t, y->shape, 4);
	tg_node *wrt[3] = {x, w, b};
	cr_assert_eq(tg_backward(g, y, gy, 3, wrt), TG_OK, "%s", tg_graph_error(g));
	tg_node *targets[4] = {y, x->grad, w->grad, b->grad};
	cr_assert_eq(tg_graph_compute(g, 4, targets), TG_OK, "%s", tg_last_error());
	double *ry = malloc(sizeof(double) * (size_t)tg_numel(y)), *rdx = malloc(sizeof(double) * (size_t)tg_numel(x));
	double *rdw = malloc(sizeof(double) * (size_t)tg_numel(w)), *rdb = malloc(sizeof(double) * (size_t)ws.d[0]);
	naive_conv(x, w, b, gy, pad, ry, rdx, rdw, rdb);
	double e[4] = {err_vs(y, ry), err_vs(x->grad, rdx), err_vs(w->grad, rdw), err_vs(b->grad, rdb)};
	const char *what[4] = {"y", "dx", "dw", "db"};
	char sx[64], sw[64];
	for (int k = 0; k < 4; k++)
		cr_expect(e[k] <= tol, "%s x %s w %s pad %d: %s error %g", tg_dtype_name(t), tg_shape_str(xs, sx, sizeof sx),
			tg_shape_str(ws, sw, sizeof sw), pad, what[k], e[k]);
	free(ry), free(rdx), free(rdw), free(rdb);
	tg_graph_free(g);
}

/* Every path of conv_paths.h. */
Test(nn, conv2d_matches_naive_loops)
{
	for (int path = 0; path < NPATHS; path++) {
		tg_dtype t = path != PATH_F64 ? TG_F32 : TG_F64;
		double tol = path != PATH_F64 ? 2e-6 : 1e-14;
		set_path(path);
		check_conv(t, TG_SHAPE(2, 3, 7, 6), TG_SHAPE(4, 3, 3, 3), 1, tol);
		check_conv(t, TG_SHAPE(2, 3, 7, 6), TG_SHAPE(4, 3, 3, 3), 0, tol);
		check_conv(t, TG_SHAPE(1, 2, 5, 8), TG_SHAPE(3, 2, 2, 3), 2, tol);   /* rectangular kernel */
		check_conv(t, TG_SHAPE(2, 2, 4, 5), TG_SHAPE(2, 2, 3, 3), 3, tol);   /* pad > kernel - 1 */
		check_conv(t, TG_SHAPE(2, 5, 6, 6), TG_SHAPE(3, 5, 1, 1), 0, tol);   /* 1x1 */
		check_conv(t, TG_SHAPE(1, 2, 9, 9), TG_SHAPE(2, 2, 5, 5), 2, tol);
		check_conv(t, TG_SHAPE(3, 4, 40, 37), TG_SHAPE(5, 4, 3, 3), 1, tol); /* several row bands */
		check_conv(t, TG_SHAPE(2, 16, 33, 64), TG_SHAPE(16, 16, 3, 3), 1, tol); /* the U-Net's, odd height */
		check_conv(t, TG_SHAPE(1, 17, 3, 1), TG_SHAPE(18, 17, 3, 3), 1, tol);   /* one column, 2 o-groups */
		check_conv(t, TG_SHAPE(1, 3, 1, 70), TG_SHAPE(2, 3, 3, 3), 2, tol);     /* one row, 3 tile groups */
		check_conv(t, TG_SHAPE(2, 2, 5, 3), TG_SHAPE(1, 2, 3, 3), 0, tol);      /* 3x1 output */
	}
	reset_path();
}

/* Chunks are fixed bands of rows, so any thread count gives the same bits (on an f32 path): y, dx,
** dw, db of x [xs] and w [ws] for 1..3 threads. */
static void check_threads(int path, tg_shape xs, tg_shape ws, int pad)
{
	float *ref[4] = {0};
	set_path(path);
	for (int threads = 1; threads <= 3; threads++) {
		tg_graph *g = tg_graph_new();
		tg_graph_set_threads(g, threads);
		tg_node *x = rand_input(g, "x", TG_F32, xs, 1);
		tg_node *w = rand_input(g, "w", TG_F32, ws, 2);
		tg_node *b = rand_input(g, "b", TG_F32, TG_SHAPE(ws.d[0]), 3);
		tg_node *y = tg_conv2d(g, x, w, b, pad);
		tg_node *gy = rand_input(g, "gy", TG_F32, y->shape, 4);
		cr_assert_eq(tg_backward(g, y, gy, 3, (tg_node *[]){x, w, b}), TG_OK);
		tg_node *t[4] = {y, x->grad, w->grad, b->grad};
		cr_assert_eq(tg_graph_compute(g, 4, t), TG_OK, "%s", tg_last_error());
		for (int k = 0; k < 4; k++) {
			if (threads == 1) {
				ref[k] = malloc(tg_nbytes(t[k]));
				memcpy(ref[k], t[k]->data, tg_nbytes(t[k]));
			} else {
				cr_expect(memcmp(ref[k], t[k]->data, tg_nbytes(t[k])) == 0, "output %d differs with %d threads (%s)", k,
					threads, path_name(path));
			}
		}
		tg_graph_free(g);
	}
	for (int k = 0; k < 4; k++)
		free(ref[k]);
	reset_path();
}

/* The same on every f32 path. */
static void check_threads_every_path(tg_shape xs, tg_shape ws, int pad)
{
	for (int path = PATH_DIRECT; path <= PATH_BLIS; path++)
		check_threads(path, xs, ws, pad);
}

Test(nn, conv2d_bitwise_same_for_any_thread_count)
{
	check_threads_every_path(TG_SHAPE(4, 6, 48, 40), TG_SHAPE(8, 6, 3, 3), 1);
}

/* The same with fewer than 8 output channels: 1x1 without padding (the image read in place, one
** pixel row per chunk, backward-data with 16 channels), and the band's small tiles. */
Test(nn, conv2d_bitwise_same_for_any_thread_count_few_channels)
{
	check_threads(PATH_DIRECT, TG_SHAPE(3, 16, 40, 33), TG_SHAPE(1, 16, 1, 1), 0);
	check_threads(PATH_DIRECT, TG_SHAPE(3, 5, 21, 35), TG_SHAPE(3, 5, 3, 3), 1);
	check_threads(PATH_DIRECT, TG_SHAPE(2, 6, 30, 45), TG_SHAPE(7, 6, 1, 1), 0);
}

/* Ties go to the first maximum in window order (PyTorch); odd sizes drop the last row/column. */
Test(nn, maxpool2d_ties_and_odd_sizes)
{
	tg_graph *g = tg_graph_new();
	double xv[15] = {1, 5, 5, 0, 9,
			 5, 2, 5, 1, 9,
			 7, 7, 3, 3, 9};
	tg_node *x = tg_input(g, "x", TG_F64, TG_SHAPE(1, 1, 3, 5));
	tg_set_data(x, xv, sizeof xv);
	tg_node *y = tg_maxpool2d(g, x);
	cr_assert(tg_shape_eq(y->shape, TG_SHAPE(1, 1, 1, 2)));
	tg_node *gy = tg_const(g, "gy", TG_F64, y->shape, (double[]){10, 20});
	cr_assert_eq(tg_backward(g, y, gy, 1, &x), TG_OK);
	tg_node *t[2] = {y, x->grad};
	cr_assert_eq(tg_graph_compute(g, 2, t), TG_OK, "%s", tg_last_error());
	cr_expect(tg_f64(y)[0] == 5 && tg_f64(y)[1] == 5);
	double want[15] = {0, 10, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	for (int i = 0; i < 15; i++)
		cr_expect_eq(tg_f64(x->grad)[i], want[i], "dx[%d] = %g", i, tg_f64(x->grad)[i]);
	tg_graph_free(g);
}

/* F.interpolate([[1,2],[3,4]], scale_factor=2, mode='bilinear', align_corners=False); the backward
** is the adjoint: <up(x), y> = <x, up^T(y)>. */
Test(nn, upsample2x_values_and_adjoint)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_input(g, "x", TG_F32, TG_SHAPE(1, 1, 2, 2));
	tg_set_data(x, (float[]){1, 2, 3, 4}, 4 * sizeof(float));
	tg_node *y = tg_upsample2x(g, x);
	cr_assert_eq(tg_graph_compute(g, 1, &y), TG_OK);
	float want[16] = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
			  2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};
	for (int i = 0; i < 16; i++)
		cr_expect_eq(tg_f32(y)[i], want[i], "y[%d] = %g", i, tg_f32(y)[i]);
	tg_graph_free(g);

	g = tg_graph_new();
	x = rand_input(g, "x", TG_F64, TG_SHAPE(2, 3, 5, 4), 7);
	y = tg_upsample2x(g, x);
	tg_node *gy = rand_input(g, "gy", TG_F64, y->shape, 8);
	cr_assert_eq(tg_backward(g, y, gy, 1, &x), TG_OK);
	tg_node *t[2] = {y, x->grad};
	cr_assert_eq(tg_graph_compute(g, 2, t), TG_OK);
	double lhs = 0, rhs = 0;
	for (int64_t i = 0; i < tg_numel(y); i++)
		lhs += tg_f64(y)[i] * tg_f64(gy)[i];
	for (int64_t i = 0; i < tg_numel(x); i++)
		rhs += tg_f64(x)[i] * tg_f64(x->grad)[i];
	cr_expect(fabs(lhs - rhs) <= 1e-13 * fabs(lhs), "<up x, y> = %.17g, <x, up^T y> = %.17g", lhs, rhs);
	tg_graph_free(g);
}

/* ---------------------------------------------------------------- pooling and upsampling, bit for bit */

/* ops/upsample2x.c: false runs f32 on the portable loops even where its AVX-512 kernels would. */
void upsample2x_set_avx512(bool on);

/* Element i of n set to the bits of a NaN with sign and payload from `tag`. */
static void set_nan(tg_node *n, int64_t i, uint32_t tag)
{
	if (n->dtype == TG_F32) {
		uint32_t b = (tag & 1u) << 31 | 0x7fc00000u | (tag >> 1 & 0xffffu);
		memcpy(tg_f32(n) + i, &b, 4);
	} else {
		uint64_t b = (uint64_t)(tag & 1u) << 63 | 0x7ff8000000000000ull | (tag >> 1 & 0xffffu);
		memcpy(tg_f64(n) + i, &b, 8);
	}
}

/* Adversarial values: small integers (many ties), +0 and -0, a subnormal; with nan_inf also
** NaNs of distinct signs and payloads and infinities. */
static void fill_special(tg_node *n, uint64_t seed, bool nan_inf)
{
	tg_rng r = {seed, 5};
	double tiny = n->dtype == TG_F32 ? -1e-40 : -1e-310;
	for (int64_t i = 0; i < tg_numel(n); i++) {
		int k = (int)(16 * tg_rng_uniform(r, (uint64_t)i));
		double v = k < 9 ? k / 2 - 2 : k == 9 ? 0.0 : k == 10 ? -0.0 : k == 11 ? tiny : (k - 11) * 0.3;
		if (nan_inf && k >= 14)
			v = k == 14 ? INFINITY : -INFINITY;
		if (n->dtype == TG_F32)
			tg_f32(n)[i] = (float)v;
		else
			tg_f64(n)[i] = v;
		if (nan_inf && k == 13)
			set_nan(n, i, (uint32_t)i);
	}
}

/* The window's argmax by PyTorch's scan: first maximum in row-major order, the last NaN wins. */
static int64_t window_argmax(const tg_node *x, int64_t at, int64_t W)
{
	int64_t cell[4] = {at, at + 1, at + W, at + W + 1}, best = at;
	for (int k = 1; k < 4; k++)
		if (val(x, cell[k]) > val(x, best) || isnan(val(x, cell[k])))
			best = cell[k];
	return best;
}

/* y and dx against the scan, byte for byte (a NaN's payload included): y copies x at the argmax,
** dx copies gy there and is +0 elsewhere (the dropped last row/column included). */
static void check_maxpool(tg_dtype t, tg_shape s, int threads, uint64_t seed)
{
	tg_graph *g = tg_graph_new();
	tg_graph_set_threads(g, threads);
	tg_node *x = tg_input(g, "x", t, s);
	fill_special(x, seed, true);
	tg_node *y = tg_maxpool2d(g, x);
	tg_node *gy = tg_input(g, "gy", t, y->shape);
	fill_special(gy, seed + 1, true);
	cr_assert_eq(tg_backward(g, y, gy, 1, &x), TG_OK);
	tg_node *tt[2] = {y, x->grad};
	cr_assert_eq(tg_graph_compute(g, 2, tt), TG_OK, "%s", tg_last_error());
	size_t es = tg_dtype_size(t);
	char *wy = calloc(1, tg_nbytes(y)), *wdx = calloc(1, tg_nbytes(x));
	int64_t H = s.d[2], W = s.d[3], Ho = H / 2, Wo = W / 2;
	for (int64_t p = 0; p < s.d[0] * s.d[1]; p++)
		for (int64_t i = 0; i < Ho; i++)
			for (int64_t j = 0; j < Wo; j++) {
				int64_t o = (p * Ho + i) * Wo + j, best = window_argmax(x, (p * H + 2 * i) * W + 2 * j, W);
				memcpy(wy + o * es, (char *)x->data + best * es, es);
				memcpy(wdx + best * es, (char *)gy->data + o * es, es);
			}
	char ss[64];
	cr_expect(memcmp(y->data, wy, tg_nbytes(y)) == 0, "maxpool2d %s %s, %d threads: y differs", tg_dtype_name(t),
		tg_shape_str(s, ss, sizeof ss), threads);
	cr_expect(memcmp(x->grad->data, wdx, tg_nbytes(x)) == 0, "maxpool2d %s %s, %d threads: dx differs",
		tg_dtype_name(t), tg_shape_str(s, ss, sizeof ss), threads);
	free(wy), free(wdx);
	tg_graph_free(g);
}

/* Short rows, rows of whole vectors and with tails, odd sizes; several planes per chunk and
** several chunks; 1 to 3 threads. */
Test(nn, maxpool2d_bitwise_scan_with_ties_nans_and_odd_sizes)
{
	int64_t hs[] = {2, 3, 4, 5, 8}, ws[] = {2, 3, 4, 5, 9, 16, 17, 31, 32, 33, 34, 64, 66};
	for (int dt = 0; dt < 2; dt++)
		for (size_t a = 0; a < sizeof hs / sizeof *hs; a++)
			for (size_t b = 0; b < sizeof ws / sizeof *ws; b++)
				check_maxpool(dt ? TG_F64 : TG_F32, TG_SHAPE(2, 3, hs[a], ws[b]), 1 + (int)((a + b) % 3),
					10 * a + b);
	for (int threads = 1; threads <= 3; threads++) {
		check_maxpool(TG_F32, TG_SHAPE(3, 300, 8, 8), threads, 99);
		check_maxpool(TG_F32, TG_SHAPE(2, 5, 64, 64), threads, 98);
	}
}

/* The taps of output d along an axis of n inputs, by the formula in ops/upsample2x.c. */
static void up_taps(int64_t d, int64_t n, int64_t i[2], double w[2])
{
	double s = fmax((d + 0.5) * 0.5 - 0.5, 0);
	i[0] = (int64_t)s;
	i[1] = i[0] + 1 < n ? i[0] + 1 : n - 1;
	w[1] = s - (double)i[0];
	w[0] = 1 - w[1];
}

/* The transposed list of input i: the outputs reading it in increasing order, i0's entry before
** i1's, zero weights left out; pad fills up to 4 entries with (first source, weight 0). */
static int down_taps(int64_t i, int64_t n, bool pad, int64_t src[4], double w[4])
{
	int nt = 0;
	for (int64_t d = 0; d < 2 * n; d++) {
		int64_t id[2];
		double wd[2];
		up_taps(d, n, id, wd);
		for (int e = 0; e < 2; e++)
			if (id[e] == i && wd[e] != 0)
				src[nt] = d, w[nt++] = wd[e];
	}
	int used = nt;
	for (; pad && nt < 4; nt++)
		src[nt] = src[0], w[nt] = 0;
	return pad ? nt : used;
}

/* One plane, in T, every product its own statement (so no compiler fuses a multiply-add): the
** forward (x00 w0 + x01 w1) h0 + (x10 w0 + x11 w1) h1; the backward as a gather, rows outer:
** dx = ((0 + hr0 S0) + hr1 S1) + ..., S = ((w0 g0 + w1 g1) + w2 g2) + w3 g3 over 4 column taps. */
#define REF_UP(T)                                                                                       \
	static void ref_up_##T(const T *x, T *y, int64_t H, int64_t W)                                  \
	{                                                                                               \
		for (int64_t r = 0; r < 2 * H; r++)                                                     \
			for (int64_t c = 0; c < 2 * W; c++) {                                           \
				int64_t ri[2], ci[2];                                                   \
				double rw[2], cw[2];                                                    \
				up_taps(r, H, ri, rw), up_taps(c, W, ci, cw);                           \
				T side[2];                                                              \
				for (int e = 0; e < 2; e++) {                                           \
					const T *xr = x + ri[e] * W;                                    \
					T p = xr[ci[0]] * (T)cw[0], q = xr[ci[1]] * (T)cw[1];           \
					side[e] = p + q;                                                \
				}                                                                       \
				T p = side[0] * (T)rw[0], q = side[1] * (T)rw[1];                       \
				y[r * 2 * W + c] = p + q;                                               \
			}                                                                               \
	}                                                                                               \
	static void ref_down_##T(const T *g, T *dx, int64_t H, int64_t W)                               \
	{                                                                                               \
		for (int64_t i = 0; i < H; i++)                                                         \
			for (int64_t k = 0; k < W; k++) {                                               \
				int64_t rs[4], cs[4];                                                   \
				double rw[4], cw[4];                                                    \
				int nr = down_taps(i, H, false, rs, rw);                                \
				down_taps(k, W, true, cs, cw);                                          \
				T acc = 0;                                                              \
				for (int t = 0; t < nr; t++) {                                          \
					const T *gr = g + rs[t] * 2 * W;                                \
					T sum = (T)cw[0] * gr[cs[0]];                                   \
					for (int u = 1; u < 4; u++) {                                   \
						T term = (T)cw[u] * gr[cs[u]];                          \
						sum = sum + term;                                       \
					}                                                               \
					T term = (T)rw[t] * sum;                                        \
					acc = acc + term;                                               \
				}                                                                       \
				dx[i * W + k] = acc;                                                    \
			}                                                                               \
	}
REF_UP(float)
REF_UP(double)

/* Byte equality, or with nan_inf a NaN wherever the reference has one (which NaN's payload
** survives a sum of two is the compiler's choice). */
static bool same_values(const tg_node *n, const void *want, bool nan_inf)
{
	size_t es = tg_dtype_size(n->dtype);
	for (int64_t i = 0; i < tg_numel(n); i++) {
		const char *a = (const char *)n->data + (size_t)i * es, *b = (const char *)want + (size_t)i * es;
		double wa = n->dtype == TG_F32 ? *(const float *)b : *(const double *)b;
		if (memcmp(a, b, es) != 0 && !(nan_inf && isnan(val(n, i)) && isnan(wa)))
			return false;
	}
	return true;
}

static void check_upsample(tg_dtype t, tg_shape s, int threads, bool nan_inf, uint64_t seed)
{
	tg_graph *g = tg_graph_new();
	tg_graph_set_threads(g, threads);
	tg_node *x = tg_input(g, "x", t, s);
	fill_special(x, seed, nan_inf);
	tg_node *y = tg_upsample2x(g, x);
	tg_node *gy = tg_input(g, "gy", t, y->shape);
	fill_special(gy, seed + 1, nan_inf);
	cr_assert_eq(tg_backward(g, y, gy, 1, &x), TG_OK);
	tg_node *tt[2] = {y, x->grad};
	cr_assert_eq(tg_graph_compute(g, 2, tt), TG_OK, "%s", tg_last_error());
	char *wy = malloc(tg_nbytes(y)), *wdx = malloc(tg_nbytes(x)), ss[64];
	int64_t H = s.d[2], W = s.d[3];
	for (int64_t p = 0; p < s.d[0] * s.d[1]; p++) {
		if (t == TG_F32) {
			ref_up_float(tg_f32(x) + p * H * W, (float *)wy + p * 4 * H * W, H, W);
			ref_down_float(tg_f32(gy) + p * 4 * H * W, (float *)wdx + p * H * W, H, W);
		} else {
			ref_up_double(tg_f64(x) + p * H * W, (double *)wy + p * 4 * H * W, H, W);
			ref_down_double(tg_f64(gy) + p * 4 * H * W, (double *)wdx + p * H * W, H, W);
		}
	}
	cr_expect(same_values(y, wy, nan_inf), "upsample2x %s %s, %d threads%s: y differs", tg_dtype_name(t),
		tg_shape_str(s, ss, sizeof ss), threads, nan_inf ? ", NaN/inf" : "");
	cr_expect(same_values(x->grad, wdx, nan_inf), "upsample2x %s %s, %d threads%s: dx differs", tg_dtype_name(t),
		tg_shape_str(s, ss, sizeof ss), threads, nan_inf ? ", NaN/inf" : "");
	free(wy), free(wdx);
	tg_graph_free(g);
}

/* f32 on the AVX-512 kernels (where the CPU has them) and on the portable loops, f64: rows
** shorter than a vector, of whole vectors, with a partial or overlapping last block. */
Test(nn, upsample2x_bitwise_reference_both_paths)
{
	int64_t hs[] = {1, 2, 3, 5}, ws[] = {1, 2, 3, 4, 7, 8, 16, 17, 18, 19, 31, 32, 33, 40};
	for (int mode = 0; mode < 3; mode++) {
		upsample2x_set_avx512(mode == 0);
		for (size_t a = 0; a < sizeof hs / sizeof *hs; a++)
			for (size_t b = 0; b < sizeof ws / sizeof *ws; b++)
				for (int nan_inf = 0; nan_inf < 2; nan_inf++)
					check_upsample(mode == 2 ? TG_F64 : TG_F32, TG_SHAPE(1, 2, hs[a], ws[b]),
						1 + (int)((a + b) % 3), nan_inf, 10 * a + b);
	}
	upsample2x_set_avx512(true);
	for (int threads = 1; threads <= 3; threads++) {
		check_upsample(TG_F32, TG_SHAPE(3, 300, 4, 4), threads, true, 97);
		check_upsample(TG_F32, TG_SHAPE(2, 5, 32, 32), threads, false, 96);
	}
}

/* Training updates the running statistics (momentum 0.1, unbiased variance); eval normalises with them. */
Test(nn, batchnorm2d_running_stats_and_eval)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = rand_input(g, "x", TG_F64, TG_SHAPE(2, 2, 3, 3), 11);
	tg_node *gamma = tg_const(g, "gamma", TG_F64, TG_SHAPE(2), (double[]){1.5, 0.5});
	tg_node *beta = tg_const(g, "beta", TG_F64, TG_SHAPE(2), (double[]){0.25, -1});
	tg_node *rm = tg_state(g, "rm", TG_F64, TG_SHAPE(2)), *rv = tg_state(g, "rv", TG_F64, TG_SHAPE(2));
	tg_set_data(rv, (double[]){1, 1}, 2 * sizeof(double));
	tg_node *y = tg_batchnorm2d(g, x, gamma, beta, rm, rv, true, 0.1, 1e-5);
	tg_node *ye = tg_batchnorm2d(g, x, gamma, beta, rm, rv, false, 0.1, 1e-5);
	cr_assert_eq(tg_graph_compute(g, 1, &y), TG_OK, "%s", tg_last_error());
	for (int c = 0; c < 2; c++) {
		double s = 0, ss = 0;
		for (int n = 0; n < 2; n++)
			for (int p = 0; p < 9; p++)
				s += tg_f64(x)[(n * 2 + c) * 9 + p];
		double mean = s / 18;
		for (int n = 0; n < 2; n++)
			for (int p = 0; p < 9; p++)
				ss += pow(tg_f64(x)[(n * 2 + c) * 9 + p] - mean, 2);
		cr_expect(fabs(tg_f64(rm)[c] - 0.1 * mean) <= 1e-15, "running_mean[%d]", c);
		cr_expect(fabs(tg_f64(rv)[c] - (0.9 + 0.1 * ss / 17)) <= 1e-15, "running_var[%d]", c);
		double ym = 0;
		for (int n = 0; n < 2; n++)
			for (int p = 0; p < 9; p++)
				ym += tg_f64(y)[(n * 2 + c) * 9 + p] / 18;
		cr_expect(fabs(ym - tg_f64(beta)[c]) <= 1e-14, "mean of y[%d] = %g", c, ym);
	}
	cr_assert_eq(tg_graph_compute(g, 1, &ye), TG_OK, "%s", tg_last_error());
	for (int i = 0; i < 36; i++) {
		int c = i / 9 % 2;
		double want = tg_f64(gamma)[c] * (tg_f64(x)[i] - tg_f64(rm)[c]) / sqrt(tg_f64(rv)[c] + 1e-5) + tg_f64(beta)[c];
		cr_expect(fabs(tg_f64(ye)[i] - want) <= 1e-14, "eval y[%d] = %.17g, want %.17g", i, tg_f64(ye)[i], want);
	}
	tg_graph_free(g);
}

/* ---------------------------------------------------------------- batch norm (+ relu) kernels */

#if defined(__x86_64__)
/* ops/batchnorm2d_kernels.c: false runs f32 batch norm on the portable kernels even where AVX-512 is there. */
void batchnorm2d_set_avx512(bool on);
#define SET_BN_AVX512(on) batchnorm2d_set_avx512(on)
#else
#define SET_BN_AVX512(on) (void)(on)
#endif

/* y = [relu](batchnorm2d(x)) (fused, or relu(batchnorm2d(x)) when !fused), loss <gy, y>, and
** t = {y, dx, dgamma, dbeta, the f64 statistics and gradient sums (internal nodes)}. gamma has a
** negative entry from 3 channels on. */
typedef struct bn_case {
	tg_graph *g;
	tg_node *x, *gamma, *beta, *rm, *rv, *gy, *t[6];
	bool training, relu;
} bn_case;

static tg_node *find_op(tg_graph *g, const char *op)
{
	for (int i = 0; i < tg_graph_node_count(g); i++)
		if (strcmp(tg_graph_node(g, i)->op->name, op) == 0)
			return tg_graph_node(g, i);
	return NULL;
}

static bn_case bn_build(tg_dtype dt, tg_shape s, bool training, bool relu, bool fused, int threads)
{
	bn_case b = {.training = training, .relu = relu};
	tg_graph *g = b.g = tg_graph_new();
	tg_graph_set_threads(g, threads);
	int64_t C = s.d[1];
	b.x = rand_input(g, "x", dt, s, 21);
	b.gamma = tg_param(g, "gamma", dt, TG_SHAPE(C));
	b.beta = tg_param(g, "beta", dt, TG_SHAPE(C));
	b.rm = tg_state(g, "rm", dt, TG_SHAPE(C));
	b.rv = tg_state(g, "rv", dt, TG_SHAPE(C));
	for (int64_t c = 0; c < C; c++) {
		double v[4] = {1.5 - 0.7 * (double)c, 0.2 * (double)(c % 3) - 0.2, 0.05 * (double)c, 0.8 + 0.1 * (double)c};
		tg_node *n[4] = {b.gamma, b.beta, b.rm, b.rv};
		for (int k = 0; k < 4; k++) {
			if (dt == TG_F32)
				tg_f32(n[k])[c] = (float)v[k];
			else
				tg_f64(n[k])[c] = v[k];
		}
	}
	tg_node *y = fused && relu ? tg_batchnorm2d_relu(g, b.x, b.gamma, b.beta, b.rm, b.rv, training, 0.1, 1e-5)
				   : tg_batchnorm2d(g, b.x, b.gamma, b.beta, b.rm, b.rv, training, 0.1, 1e-5);
	if (relu && !fused)
		y = tg_relu(g, y);
	cr_assert(y, "%s", tg_graph_error(g));
	b.gy = rand_input(g, "gy", dt, s, 22);
	cr_assert_eq(tg_backward(g, y, b.gy, 3, (tg_node *[]){b.x, b.gamma, b.beta}), TG_OK, "%s", tg_graph_error(g));
	tg_node *t[6] = {y, b.x->grad, b.gamma->grad, b.beta->grad, find_op(g, "batchnorm2d_stats"),
		find_op(g, "batchnorm2d_grad_stats")};
	cr_assert(t[4] && t[5]);
	memcpy(b.t, t, sizeof t);
	cr_assert_eq(tg_graph_compute(g, 6, b.t), TG_OK, "%s", tg_last_error());
	return b;
}

/* The reference in double, two passes: y, dx, dgamma, dbeta and the running statistics after the
** run (from their initial values in bn_build). The relu mask is the library's own y > 0, so a value
** rounded to the other side of 0 cannot make the comparison flaky; y itself is checked. */
static void bn_reference(const bn_case *b, double *y, double *dx, double *dgamma, double *dbeta, double *rm, double *rv)
{
	const tg_node *x = b->x;
	int64_t N = x->shape.d[0], C = x->shape.d[1], HW = x->shape.d[2] * x->shape.d[3];
	double M = (double)(N * HW);
	for (int64_t c = 0; c < C; c++) {
		double mean = 0, var = 0, sg = 0, sgx = 0, rm0 = 0.05 * (double)c, rv0 = 0.8 + 0.1 * (double)c;
		for (int64_t n = 0; n < N; n++)
			for (int64_t p = 0; p < HW; p++)
				mean += val(x, (n * C + c) * HW + p) / M;
		for (int64_t n = 0; n < N; n++)
			for (int64_t p = 0; p < HW; p++)
				var += pow(val(x, (n * C + c) * HW + p) - mean, 2) / M;
		rm[c] = b->training ? 0.1 * mean + 0.9 * rm0 : rm0;
		rv[c] = b->training ? 0.1 * var * M / (M - 1) + 0.9 * rv0 : rv0;
		if (!b->training)
			mean = rm0, var = rv0;
		double rstd = 1 / sqrt(var + 1e-5), gamma = val(b->gamma, c);
		for (int pass = 0; pass < 2; pass++)
			for (int64_t n = 0; n < N; n++)
				for (int64_t p = 0; p < HW; p++) {
					int64_t i = (n * C + c) * HW + p;
					double xh = (val(x, i) - mean) * rstd, g = val(b->gy, i);
					if (b->relu && !(val(b->t[0], i) > 0))
						g = 0;
					if (pass == 0) {
						double pre = gamma * xh + val(b->beta, c);
						y[i] = b->relu && pre < 0 ? 0 : pre;
						sg += g, sgx += g * xh;
					} else {
						dx[i] = gamma * rstd * (b->training ? g - sg / M - xh * sgx / M : g);
					}
				}
		dgamma[c] = sgx, dbeta[c] = sg;
	}
}

static void bn_check(tg_dtype dt, tg_shape s, bool training, bool relu)
{
	bn_case b = bn_build(dt, s, training, relu, true, 1);
	int64_t n = tg_numel(b.x), C = s.d[1];
	double *ref[6];
	for (int k = 0; k < 6; k++)
		ref[k] = malloc(sizeof(double) * (size_t)(k < 2 ? n : C));
	bn_reference(&b, ref[0], ref[1], ref[2], ref[3], ref[4], ref[5]);
	const tg_node *got[6] = {b.t[0], b.t[1], b.t[2], b.t[3], b.rm, b.rv};
	const char *what[6] = {"y", "dx", "dgamma", "dbeta", "running_mean", "running_var"};
	double tol = dt == TG_F32 ? 2e-6 : 1e-12;
	char sh[64];
	for (int k = 0; k < 6; k++) {
		double e = err_vs(got[k], ref[k]);
		cr_expect(e <= tol, "%s %s %s%s: %s error %g", tg_dtype_name(dt), tg_shape_str(s, sh, sizeof sh),
			training ? "training" : "eval", relu ? " relu" : "", what[k], e);
		free(ref[k]);
	}
	tg_graph_free(b.g);
}

/* Both dtypes and modes, with and without relu, on the AVX-512 and the portable kernels; H*W below
** one vector step (passes item by item, in one chunk and in two), with a partial last step, over
** several blocks of the portable sums. */
Test(nn, batchnorm2d_matches_reference)
{
	tg_shape shapes[5] = {TG_SHAPE(4, 2, 1, 3), TG_SHAPE(3000, 3, 1, 5), TG_SHAPE(3, 4, 5, 7), TG_SHAPE(2, 3, 20, 17),
		TG_SHAPE(2, 5, 8, 8)};
	for (int isa = 0; isa < 2; isa++) {
		SET_BN_AVX512(isa == 0);
		for (int k = 0; k < 5; k++)
			for (int m = 0; m < 8; m++)
				bn_check(m & 4 ? TG_F64 : TG_F32, shapes[k], m & 1, m & 2);
	}
	SET_BN_AVX512(true);
}

/* The fused op is relu(batchnorm2d) to the bit: the same forward values, and a backward masking dy
** where the output is 0, including pre-activations of exactly 0 (x equal to the mean with beta 0:
** PyTorch's relu gradient there is 0). */
Test(nn, batchnorm2d_relu_is_relu_of_batchnorm2d)
{
	for (int m = 0; m < 4; m++) {
		tg_dtype dt = m & 1 ? TG_F64 : TG_F32;
		bool training = m & 2;
		bn_case b[2];
		for (int fused = 0; fused < 2; fused++) {
			tg_graph *g = tg_graph_new();
			/* channel values -2..2 in every item: the mean is exactly 0 and x = 0 is on it */
			tg_node *x = tg_input(g, "x", dt, TG_SHAPE(2, 3, 1, 5));
			for (int64_t i = 0; i < 30; i++) {
				double v = (double)(i % 5) - 2;
				if (dt == TG_F32)
					tg_f32(x)[i] = (float)v;
				else
					tg_f64(x)[i] = v;
			}
			tg_node *gamma = tg_param(g, "gamma", dt, TG_SHAPE(3)), *beta = tg_param(g, "beta", dt, TG_SHAPE(3));
			tg_node *rm = tg_state(g, "rm", dt, TG_SHAPE(3)), *rv = tg_state(g, "rv", dt, TG_SHAPE(3));
			for (int c = 0; c < 3; c++) {
				double gv = c == 1 ? -0.75 : 1.25, one = 1;
				if (dt == TG_F32)
					tg_f32(gamma)[c] = (float)gv, tg_f32(rv)[c] = (float)one;
				else
					tg_f64(gamma)[c] = gv, tg_f64(rv)[c] = one;
			}
			tg_node *y = fused ? tg_batchnorm2d_relu(g, x, gamma, beta, rm, rv, training, 0.1, 1e-5)
					   : tg_relu(g, tg_batchnorm2d(g, x, gamma, beta, rm, rv, training, 0.1, 1e-5));
			tg_node *gy = rand_input(g, "gy", dt, y->shape, 23);
			cr_assert_eq(tg_backward(g, y, gy, 3, (tg_node *[]){x, gamma, beta}), TG_OK, "%s", tg_graph_error(g));
			b[fused] = (bn_case){.g = g, .x = x, .gy = gy, .t = {y, x->grad, gamma->grad, beta->grad}};
			cr_assert_eq(tg_graph_compute(g, 4, b[fused].t), TG_OK, "%s", tg_last_error());
		}
		const char *what[4] = {"y", "dx", "dgamma", "dbeta"};
		for (int k = 0; k < 4; k++)
			cr_expect(memcmp(b[0].t[k]->data, b[1].t[k]->data, tg_nbytes(b[0].t[k])) == 0, "%s %s: fused %s differs",
				tg_dtype_name(dt), training ? "training" : "eval", what[k]);
		/* x = 0 gives y = 0 exactly, and its dy is left out of dbeta */
		double dbeta = 0;
		for (int64_t i = 0; i < 30; i++) {
			if (i % 5 == 2)
				cr_expect(val(b[1].t[0], i) == 0, "y[%lld] = %g at x = 0", (long long)i, val(b[1].t[0], i));
			if (i / 5 % 3 == 0 && val(b[1].t[0], i) > 0)
				dbeta += val(b[1].gy, i);
		}
		cr_expect(fabs(val(b[1].t[3], 0) - dbeta) <= 1e-6 * fabs(dbeta), "dbeta[0] = %g, want %g", val(b[1].t[3], 0), dbeta);
		tg_graph_free(b[0].g);
		tg_graph_free(b[1].g);
	}
}

/* Chunks are fixed pieces of the tensor and sums are combined in a fixed order, and the AVX-512 and
** portable kernels compute the same lanes: the same bits for any thread count and either. */
Test(nn, batchnorm2d_bitwise_same_for_any_thread_count_and_kernels)
{
	/* runs of 340 values (over a kernel block, a partial last step), and of 3 (item by item, 4 chunks) */
	tg_shape shapes[2] = {TG_SHAPE(5, 3, 20, 17), TG_SHAPE(5000, 7, 1, 3)};
	for (int m = 0; m < 4; m++) {
		int dt = m & 1;
		bn_case ref = {0};
		for (int run = 0; run < 6; run++) {
			SET_BN_AVX512(run < 3);
			bn_case b = bn_build(dt ? TG_F64 : TG_F32, shapes[m >> 1], true, true, true, run % 3 + 1);
			if (run == 0) {
				ref = b;
				continue;
			}
			for (int k = 0; k < 6; k++)
				cr_expect(memcmp(ref.t[k]->data, b.t[k]->data, tg_nbytes(b.t[k])) == 0, "%s output %d differs with %d threads%s",
					dt ? "f64" : "f32", k, run % 3 + 1, run < 3 ? "" : " (portable kernels)");
			cr_expect(memcmp(ref.rm->data, b.rm->data, tg_nbytes(b.rm)) == 0 && memcmp(ref.rv->data, b.rv->data,
				tg_nbytes(b.rv)) == 0, "running statistics differ");
			tg_graph_free(b.g);
		}
		tg_graph_free(ref.g);
	}
	SET_BN_AVX512(true);
}

/* The normalisation reads the statistics node, not the running statistics, so its output can be
** rematerialised for the backward (tg_recompute): same gradients, and the running statistics are
** updated once. The statistics node itself updates state and cannot be recomputed. */
Test(nn, batchnorm2d_relu_output_can_be_recomputed)
{
	float got[2][4 * 3 * 5 * 7 + 2 * 3];
	for (int rec = 0; rec < 2; rec++) {
		tg_graph *g = tg_graph_new();
		tg_node *x = rand_input(g, "x", TG_F32, TG_SHAPE(4, 3, 5, 7), 31);
		tg_node *gamma = rand_input(g, "gamma", TG_F32, TG_SHAPE(3), 32), *beta = rand_input(g, "beta", TG_F32, TG_SHAPE(3), 33);
		tg_node *rm = tg_state(g, "rm", TG_F32, TG_SHAPE(3)), *rv = tg_state(g, "rv", TG_F32, TG_SHAPE(3));
		tg_node *y = tg_batchnorm2d_relu(g, x, gamma, beta, rm, rv, true, 0.1, 1e-5);
		if (rec) {
			cr_assert_eq(tg_recompute(g, y), y, "%s", tg_graph_error(g));
			cr_expect_null(tg_recompute(g, y->src[3]), "the statistics node updates state");
			cr_expect(strstr(tg_graph_error(g), "batchnorm2d_stats"), "%s", tg_graph_error(g));
			tg_graph_clear_error(g);
		}
		tg_node *loss = tg_sum_all(g, tg_mul(g, y, y));   /* mul's backward reads y */
		cr_assert_eq(tg_backward(g, loss, NULL, 1, &x), TG_OK, "%s", tg_graph_error(g));
		cr_expect_eq(tg_graph_find(g, "batchnorm2d_relu (recomputed)") != NULL, rec);
		cr_assert_eq(tg_graph_compute(g, 1, &x->grad), TG_OK, "%s", tg_last_error());
		memcpy(got[rec], x->grad->data, tg_nbytes(x->grad));
		memcpy(got[rec] + tg_numel(x), rm->data, tg_nbytes(rm));
		memcpy(got[rec] + tg_numel(x) + 3, rv->data, tg_nbytes(rv));
		tg_graph_free(g);
	}
	cr_expect(memcmp(got[0], got[1], sizeof got[0]) == 0, "recomputing y changed dx or the running statistics");
}

static tg_status count_allreduce(double *buf, int64_t n, void *ud)
{
	(void)buf, (void)n;
	++*(int *)ud;
	return TG_OK;
}

/* A hook of one process takes the data-parallel path (sums about 0, one allreduce per statistics
** node): the same results as without one, up to rounding. */
Test(nn, batchnorm2d_relu_with_allreduce_hook_of_one_process)
{
	tg_shape shapes[2] = {TG_SHAPE(3, 4, 5, 7), TG_SHAPE(30, 4, 1, 3)};   /* by runs, and item by item */
	for (int k = 0; k < 2; k++) {
		/* two identical graphs after one hookless run each; the second runs again with the hook */
		bn_case a = bn_build(TG_F64, shapes[k], true, true, true, 1);
		bn_case b = bn_build(TG_F64, shapes[k], true, true, true, 1);
		int calls = 0;
		tg_graph_set_allreduce(b.g, count_allreduce, &calls);
		cr_assert_eq(tg_graph_compute(a.g, 6, a.t), TG_OK, "%s", tg_last_error());
		cr_assert_eq(tg_graph_compute(b.g, 6, b.t), TG_OK, "%s", tg_last_error());
		cr_expect_eq(calls, 2, "%d allreduce calls; expected 1 for the statistics, 1 for the gradient sums", calls);
		for (int t = 0; t < 4; t++)
			for (int64_t i = 0; i < tg_numel(a.t[t]); i++)
				cr_expect(fabs(val(b.t[t], i) - val(a.t[t], i)) <= 1e-12 * fmax(1, fabs(val(a.t[t], i))),
					"shape %d output %d [%lld]: %.17g vs %.17g", k, t, (long long)i, val(b.t[t], i), val(a.t[t], i));
		for (int c = 0; c < 4; c++)
			cr_expect(fabs(val(b.rm, c) - val(a.rm, c)) <= 1e-12 && fabs(val(b.rv, c) - val(a.rv, c)) <= 1e-12,
				"shape %d: running statistics of channel %d", k, c);
		tg_graph_free(a.g);
		tg_graph_free(b.g);
	}
}

/* ---------------------------------------------------------------- errors */

static void expect_error(tg_graph *g, tg_node *n, tg_status st, const char *a, const char *b, const char *c)
{
	const char *msg = tg_graph_error(g);
	cr_expect_null(n);
	cr_expect_eq(tg_graph_status(g), st, "status %s: %s", tg_status_str(tg_graph_status(g)), msg);
	cr_expect(strstr(msg, a) && strstr(msg, b) && (!c || strstr(msg, c)), "message: %s", msg);
}

Test(nn, constructor_errors_name_op_and_shapes)
{
	tg_graph *g;
#define FRESH() (g ? tg_graph_free(g) : (void)0, g = tg_graph_new())
	g = NULL;
	FRESH();
	tg_node *x = tg_input(g, "x", TG_F32, TG_SHAPE(2, 3, 8, 8));
	expect_error(g, tg_conv2d(g, x, tg_param(g, "w", TG_F32, TG_SHAPE(4, 2, 3, 3)), NULL, 1), TG_ERR_SHAPE, "conv2d",
		"[2,3,8,8]", "[4,2,3,3]");
	FRESH();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(3, 8, 8));
	expect_error(g, tg_conv2d(g, x, tg_param(g, "w", TG_F32, TG_SHAPE(4, 3, 3, 3)), NULL, 1), TG_ERR_SHAPE, "conv2d",
		"[3,8,8]", "[N,C,H,W]");
	FRESH();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(1, 3, 2, 2));
	expect_error(g, tg_conv2d(g, x, tg_param(g, "w", TG_F32, TG_SHAPE(4, 3, 5, 5)), NULL, 0), TG_ERR_SHAPE, "conv2d",
		"[1,3,2,2]", "[4,3,5,5]");
	FRESH();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(1, 3, 8, 8));
	expect_error(g, tg_conv2d(g, x, tg_param(g, "w", TG_F32, TG_SHAPE(4, 3, 3, 3)), tg_param(g, "b", TG_F32, TG_SHAPE(3)), 1),
		TG_ERR_SHAPE, "conv2d", "bias [3]", "[4,3,3,3]");
	FRESH();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(1, 3, 8, 8));
	expect_error(g, tg_conv2d(g, x, tg_param(g, "w", TG_F64, TG_SHAPE(4, 3, 3, 3)), NULL, 1), TG_ERR_DTYPE, "conv2d", "f64",
		"f32");
	FRESH();
	expect_error(g, tg_maxpool2d(g, tg_input(g, "x", TG_F32, TG_SHAPE(2, 3, 1, 8))), TG_ERR_SHAPE, "maxpool2d", "[2,3,1,8]",
		NULL);
	FRESH();
	expect_error(g, tg_upsample2x(g, tg_input(g, "x", TG_F32, TG_SHAPE(8, 8))), TG_ERR_SHAPE, "upsample2x", "[8,8]", NULL);
	FRESH();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(2, 3, 4, 4));
	tg_node *c3 = tg_param(g, "c3", TG_F32, TG_SHAPE(3)), *c4 = tg_param(g, "c4", TG_F32, TG_SHAPE(4));
	tg_node *s3 = tg_state(g, "s3", TG_F32, TG_SHAPE(3)), *s3b = tg_state(g, "s3b", TG_F32, TG_SHAPE(3));
	expect_error(g, tg_batchnorm2d(g, x, c4, c3, s3, s3b, true, 0.1, 1e-5), TG_ERR_SHAPE, "batchnorm2d", "[4]", "[2,3,4,4]");
	FRESH();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(2, 3, 4, 4));
	c3 = tg_param(g, "c3", TG_F32, TG_SHAPE(3));
	tg_node *p3 = tg_param(g, "p3", TG_F32, TG_SHAPE(3));
	expect_error(g, tg_batchnorm2d(g, x, c3, c3, p3, p3, true, 0.1, 1e-5), TG_ERR_ARG, "batchnorm2d", "state", NULL);
	FRESH();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(1, 3, 1, 1));
	c3 = tg_param(g, "c3", TG_F32, TG_SHAPE(3));
	s3 = tg_state(g, "s3", TG_F32, TG_SHAPE(3));
	expect_error(g, tg_batchnorm2d(g, x, c3, c3, s3, s3, true, 0.1, 1e-5), TG_ERR_SHAPE, "batchnorm2d", "[1,3,1,1]",
		"more than 1 value");
	FRESH();
	x = tg_input(g, "x", TG_F32, TG_SHAPE(2, 3, 4, 4));
	c4 = tg_param(g, "c4", TG_F32, TG_SHAPE(4));
	s3 = tg_state(g, "s3", TG_F32, TG_SHAPE(3));
	expect_error(g, tg_batchnorm2d_relu(g, x, c4, c4, s3, s3, true, 0.1, 1e-5), TG_ERR_SHAPE, "batchnorm2d_relu: ",
		"'c4' is [4]", "[2,3,4,4]");
	FRESH();
	x = tg_input(g, "x", TG_F64, TG_SHAPE(2, 3, 4, 4));
	c3 = tg_param(g, "c3", TG_F32, TG_SHAPE(3));
	s3 = tg_state(g, "s3", TG_F64, TG_SHAPE(3));
	expect_error(g, tg_batchnorm2d_relu(g, x, c3, c3, s3, s3, false, 0.1, 1e-5), TG_ERR_DTYPE, "batchnorm2d_relu: ",
		"gamma 'c3' is f32", "input is f64");
	FRESH();
	tg_unet_config cfg = tg_unet_default();
	expect_error(g, tg_unet(g, &cfg, TG_F32, tg_input(g, "x", TG_F32, TG_SHAPE(2, 1, 60, 64))), TG_ERR_SHAPE, "unet",
		"[2,1,60,64]", "multiples of 8");
	tg_graph_free(g);
#undef FRESH
}

/* The helper ops, applied directly with bad inputs: errors name the op, the shapes and what was
** expected (the constructors never build these). */
Test(nn, batchnorm2d_helper_op_errors)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_input(g, "x", TG_F32, TG_SHAPE(2, 3, 4, 4)), *dy = tg_input(g, "dy", TG_F32, TG_SHAPE(2, 3, 4, 5));
	tg_node *c3 = tg_param(g, "c3", TG_F32, TG_SHAPE(3)), *s3 = tg_state(g, "s3", TG_F32, TG_SHAPE(3));
	tg_node *st = tg_input(g, "st", TG_F64, TG_SHAPE(3, 3)), *bad = tg_input(g, "bad", TG_F64, TG_SHAPE(2, 3));
	tg_attrs at = {0};
	at.i[0] = 1, at.f[0] = 0.1, at.f[1] = 1e-5;
	struct { const char *op; int n; tg_node *src[6]; tg_status st; const char *a, *b; } rows[] = {
		{"batchnorm2d_stats", 2, {x, s3}, TG_ERR_ARG, "2 inputs", "expected 3 (x, running_mean, running_var)"},
		{"batchnorm2d_stats", 3, {x, c3, s3}, TG_ERR_ARG, "'c3'", "must be state nodes"},
		{"batchnorm2d", 4, {x, c3, c3, bad}, TG_ERR_SHAPE, "stats [2,3] f64", "expected f64 [3,3] for input [2,3,4,4]"},
		{"batchnorm2d_relu", 5, {x, c3, c3, st, st}, TG_ERR_ARG, "5 inputs", "expected 4"},
		{"batchnorm2d_grad_stats", 5, {x, dy, c3, c3, st}, TG_ERR_SHAPE, "gradient [2,3,4,5] f32", "input [2,3,4,4] f32"},
		{"batchnorm2d_grad_stats", 5, {x, x, c3, c3, bad}, TG_ERR_SHAPE, "stats [2,3]", "expected f64 [3,3]"},
		{"batchnorm2d_backward_data", 6, {x, x, c3, c3, st, st}, TG_ERR_SHAPE, "grad_stats [3,3] f64",
			"expected f64 [4,3]"},
		{"batchnorm2d_backward_data", 5, {x, x, c3, c3, st}, TG_ERR_ARG, "5 inputs", "expected 6"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		tg_graph_clear_error(g);
		const tg_op *op = tg_op_find(rows[i].op);
		cr_assert(op, "no op %s", rows[i].op);
		cr_expect_null(tg_op_apply(g, op, rows[i].n, rows[i].src, &at), "row %zu", i);
		const char *m = tg_graph_error(g);
		cr_expect_eq(tg_graph_status(g), rows[i].st, "row %zu: %s", i, m);
		cr_expect(strncmp(m, rows[i].op, strlen(rows[i].op)) == 0 && m[strlen(rows[i].op)] == ':' && strstr(m, rows[i].a) &&
				  strstr(m, rows[i].b),
			"row %zu: %s", i, m);
	}
	tg_graph_free(g);
}

/* ---------------------------------------------------------------- conv2d: the direct kernels' corners */

/* The direct f32 kernels (ops/conv2d_direct.c) read the image in place (masked loads at the
** borders, a zero row outside) and, for 3-wide kernels, compute the weight gradient with the
** output channels in the lanes (blocks of output rows, passes of up to 8 kernel rows and one or
** two 16-channel vectors, a slow path for the border columns). These shapes reach their corners,
** and Winograd's (ops/conv2d_winograd.c: one pixel, one row, one column, partial tile groups and
** weight-gradient blocks, channels not a multiple of 4 or 16, a 1030-wide row); f64, f32 direct,
** f32 Winograd (3x3, forced for every size) and f32 BLIS, each against the naive loops. */
Test(nn, conv2d_odd_shapes_on_every_path)
{
	static const struct { int64_t x[4], w[4]; int pad; } cases[] = {
		{{1, 1, 1, 1}, {1, 1, 3, 3}, 1},      /* one pixel: every column is a border column */
		{{2, 3, 2, 9}, {5, 3, 3, 3}, 1},      /* 9 kernel rows: passes of 5 and 4 */
		{{1, 2, 5, 3}, {33, 2, 3, 3}, 2},     /* 33 channels: passes of two vectors and of one */
		{{1, 1, 3, 70}, {17, 1, 3, 3}, 0},    /* no padding, no border; 68 wide: 2x8 tiles and a 1x16 */
		{{2, 4, 6, 5}, {3, 4, 3, 3}, 3},      /* pad 3: rows and columns without a tap inside */
		{{1, 3, 4, 1030}, {2, 3, 3, 3}, 1},   /* a row longer than a weight-gradient block */
		{{3, 5, 37, 29}, {7, 5, 3, 3}, 1},    /* several blocks, the last one partial */
		{{2, 3, 9, 16}, {9, 3, 1, 3}, 0},     /* 1x3 */
		{{2, 6, 7, 17}, {3, 6, 3, 1}, 1},     /* 3x1: other widths take the pixel-lane weight gradient */
		{{1, 2, 11, 33}, {4, 2, 5, 5}, 2},    /* 5x5 */
		{{2, 16, 8, 8}, {16, 16, 3, 3}, 1},   /* the U-Net's deepest level */
		{{1, 32, 16, 16}, {16, 32, 3, 3}, 1}, /* its concat inputs; backward-data has 32 channels */
		/* fewer than 8 output channels: small forward tiles (pixel vectors from several rows), and
		** weight-gradient tiles of 1-3 channels x 16-8 taps */
		{{2, 16, 64, 64}, {1, 16, 1, 1}, 0},  /* the U-Net's last layer: 1x1, read in place */
		{{2, 5, 37, 29}, {1, 5, 1, 1}, 0},    /* in place, chunks of 1015 pixels: a partial vector */
		{{1, 7, 33, 33}, {5, 7, 1, 1}, 0},    /* in place, 5 channels */
		{{1, 3, 7, 20}, {2, 3, 1, 1}, 1},     /* 1x1 with padding: the band */
		{{2, 4, 9, 40}, {3, 4, 3, 3}, 1},     /* 3x3, 3 channels */
		{{2, 3, 12, 50}, {7, 3, 3, 3}, 0},    /* 3x3, 7 channels */
		{{1, 2, 10, 19}, {2, 2, 5, 5}, 2},    /* 5x5, 2 channels: other widths' weight gradient */
		{{1, 3, 6, 18}, {5, 3, 3, 1}, 1},     /* 3x1, 5 channels: weight-gradient tiles of 4 and 1 */
		{{1, 6, 5, 21}, {12, 6, 1, 1}, 0},    /* 12 channels: 2x8 tiles, then a small one of 4 */
	};
	for (int path = 0; path < NPATHS; path++) {
		set_path(path);
		bool f32 = path != PATH_F64;
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
			check_conv(f32 ? TG_F32 : TG_F64, TG_SHAPE(cases[i].x[0], cases[i].x[1], cases[i].x[2], cases[i].x[3]),
				TG_SHAPE(cases[i].w[0], cases[i].w[1], cases[i].w[2], cases[i].w[3]), cases[i].pad, f32 ? 2e-6 : 1e-14);
	}
	reset_path();
}

/* Bits of y, dx, dw, db for 1..3 threads, with 33 output channels (two weight-gradient passes of
** different widths) and 17 input channels, on every f32 path. */
Test(nn, conv2d_bitwise_same_for_any_thread_count_33_channels)
{
	check_threads_every_path(TG_SHAPE(3, 17, 21, 35), TG_SHAPE(33, 17, 3, 3), 1);
}
