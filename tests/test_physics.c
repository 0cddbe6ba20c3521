/*
** test_physics.c: the physics layer against the golden PhiFlow 2.1.1 data (tests/data, copied
** from the golden set; shapes in its manifest.csv), against naive O(N^2) DFTs on odd and
** non-square grids, adjointness of the FFT ops, the SIP node, thread-count independence.
** Errors are "max abs error / max abs reference" unless said otherwise.
*/
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tgraph.h"

/* Internal variants of the FFT ops (ops/fft_plan.h), which the backward passes use. */
tg_node *tg_fft2_scaled(tg_graph *g, tg_node *a, double scale);
tg_node *tg_ifft2_scaled(tg_graph *g, tg_node *a, double scale);
tg_node *tg_rfft2_ex(tg_graph *g, tg_node *a, double scale, bool postmask);
tg_node *tg_irfft2_ex(tg_graph *g, tg_node *a, int64_t ny, double scale, bool premask);
/* The packed real transform's SIMD kernels (ops/fft_plan.h). */
void fft_packed_twiddles(double *tw, int64_t ny);
void fft_packed_unpack_row(const double *z, int64_t nx, int64_t m, int64_t kx, const double *tw, double *v);
void fft_packed_filter(const double *z, double *zy, const double *a, const double *b, int64_t nx, int64_t m);

#define B 2
#define N 64
#define NG (B * N * N)
#define AMOUNT 8.0

/* scalars.json of the golden set (/work/shared/golden/scalars.json), per batch item */
static const double golden_y_l2[B] = {101.91643842882922, 28.457314314374422};
static const double golden_proxy_loss[B] = {106.57844715631319, 30.285367208630834};
static const double golden_inv_uncertainty[B] = {0.05614758819191995, 0.1290773007290462};
static const double golden_inv_f_uncertainty[B] = {1.4277005142129822e-05, 7.544178440450464e-06};

static double *load(const char *name, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", TG_TEST_DATA, name);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	double *d = malloc(sizeof(double) * n);
	size_t got = fread(d, sizeof(double), n, f);
	int extra = fgetc(f);
	fclose(f);
	cr_assert(got == n && extra == EOF, "%s: expected exactly %zu doubles", path, n);
	return d;
}

static double max_abs(const double *a, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs(a[i]));
	return m;
}

/* max |a - ref| / max |ref| */
static double rel_err(const double *a, const double *ref, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e = fmax(e, fabs(a[i] - ref[i]));
	return e / max_abs(ref, n);
}

static tg_node *input_with(tg_graph *g, const char *name, tg_dtype t, tg_shape s, const void *data)
{
	tg_node *n = tg_input(g, name, t, s);
	cr_assert(n, "%s", tg_graph_error(g));
	cr_assert_eq(tg_set_data(n, data, tg_nbytes(n)), TG_OK);
	return n;
}

static void compute(tg_graph *g, tg_node *n)
{
	cr_assert(n, "building failed: %s", tg_graph_error(g));
	cr_assert_eq(tg_graph_compute(g, 1, &n), TG_OK, "%s", tg_last_error());
}

static void fill_random(double *a, size_t n, uint64_t seed)
{
	tg_rng_fill_uniform((tg_rng){seed, 1}, 0, -1, 1, a, (int64_t)n);
}

/* ---------------------------------------------------------------- golden: diffusion */

Test(physics, diffuse_golden)
{
	double *x = load("x.f64", NG), *xp = load("x_pred.f64", NG), *yt = load("y_target.f64", NG);
	double *dx_ref = load("diffuse_x.f64", NG), *yp_ref = load("y_pred.f64", NG), *res_ref = load("residual.f64", NG);
	tg_graph *g = tg_graph_new();
	tg_node *xn = input_with(g, "x", TG_F64, TG_SHAPE(B, N, N), x);
	tg_node *xpn = input_with(g, "x_pred", TG_F64, TG_SHAPE(B, N, N), xp);
	tg_node *ytn = input_with(g, "y_target", TG_F64, TG_SHAPE(B, N, N), yt);
	tg_node *y = tg_set_flags(tg_diffuse(g, xn, AMOUNT), TG_FLAG_OUTPUT);
	tg_node *yp = tg_set_flags(tg_diffuse(g, xpn, AMOUNT), TG_FLAG_OUTPUT);
	tg_node *res = tg_set_flags(tg_sub(g, ytn, yp), TG_FLAG_OUTPUT);
	tg_node *l2 = tg_l2_loss(g, tg_sub(g, yp, ytn));
	tg_node *targets[] = {y, yp, res, l2};
	cr_assert(l2, "%s", tg_graph_error(g));
	cr_assert_eq(tg_graph_compute(g, 4, targets), TG_OK, "%s", tg_last_error());
	double e_x = rel_err(tg_f64(y), dx_ref, NG), e_yp = rel_err(tg_f64(yp), yp_ref, NG), e_r = rel_err(tg_f64(res), res_ref, NG);
	cr_log_info("diffuse_x %.3g, y_pred %.3g, residual %.3g", e_x, e_yp, e_r);
	cr_expect(e_x <= 1e-14, "diffuse_x: %g", e_x);
	cr_expect(e_yp <= 1e-14, "y_pred: %g", e_yp);
	cr_expect(e_r <= 1e-14, "residual: %g", e_r);
	for (int b = 0; b < B; b++)
		cr_expect(fabs(tg_f64(l2)[b] - golden_y_l2[b]) <= 1e-13 * golden_y_l2[b], "y_l2[%d] %.17g vs %.17g", b, tg_f64(l2)[b],
			golden_y_l2[b]);

	/* the array API, and the f32 input path (the golden x is exact in float32) */
	double *y2 = malloc(sizeof(double) * NG);
	cr_assert_eq(tg_diffuse_compute(x, y2, B, N, N, AMOUNT), TG_OK, "%s", tg_last_error());
	cr_expect(rel_err(y2, dx_ref, NG) <= 1e-14);
	cr_expect_eq(memcmp(y2, tg_f64(y), sizeof(double) * NG), 0, "array API and graph op differ");
	float *xf = malloc(sizeof(float) * NG);
	for (int i = 0; i < NG; i++)
		xf[i] = (float)x[i];
	tg_node *xfn = input_with(g, "x32", TG_F32, TG_SHAPE(B, N, N), xf);
	tg_node *yf = tg_diffuse(g, xfn, AMOUNT);
	compute(g, yf);
	cr_expect_eq(yf->dtype, TG_F64);
	cr_expect_eq(memcmp(tg_f64(yf), y2, sizeof(double) * NG), 0, "f32 input path differs");
	tg_graph_free(g);
	free(x), free(xp), free(yt), free(dx_ref), free(yp_ref), free(res_ref), free(y2), free(xf);
}

/* The kernel itself: fft2 of the diffused unit impulse is K (diffuse_kernel.f64, numpy). */
Test(physics, diffuse_kernel_golden)
{
	double *k_ref = load("diffuse_kernel.f64", N * N);
	tg_graph *g = tg_graph_new();
	tg_node *d = tg_input(g, "delta", TG_F64, TG_SHAPE(N, N));
	tg_f64(d)[0] = 1.0;
	tg_node *k = tg_fft2(g, tg_diffuse(g, d, AMOUNT));
	compute(g, k);
	double re[N * N], im[N * N];
	for (int i = 0; i < N * N; i++)
		re[i] = tg_f64(k)[2 * i], im[i] = tg_f64(k)[2 * i + 1];
	double e = rel_err(re, k_ref, N * N), ei = max_abs(im, N * N);
	cr_log_info("diffuse_kernel: re %.3g, |im| %.3g", e, ei);
	cr_expect(e <= 1e-14, "kernel: %g", e);
	cr_expect(ei <= 1e-14, "imaginary part: %g", ei);
	tg_graph_free(g);
	free(k_ref);
}

/* GD path: d/dx_pred sum_b l2_loss(D(x_pred) - y_target) = D(D(x_pred) - y_target). */
Test(physics, gd_grad_golden)
{
	double *xp = load("x_pred.f64", NG), *yt = load("y_target.f64", NG), *ref = load("gd_grad.f64", NG);
	tg_graph *g = tg_graph_new();
	tg_node *xpn = input_with(g, "x_pred", TG_F64, TG_SHAPE(B, N, N), xp);
	tg_node *ytn = tg_const(g, "y_target", TG_F64, TG_SHAPE(B, N, N), yt);
	tg_node *loss = tg_l2_loss(g, tg_sub(g, tg_diffuse(g, xpn, AMOUNT), ytn));
	cr_assert(loss, "%s", tg_graph_error(g));
	cr_assert_eq(tg_backward(g, loss, NULL, 1, &xpn), TG_OK, "%s", tg_graph_error(g));
	compute(g, xpn->grad);
	double e = rel_err(tg_f64(xpn->grad), ref, NG);
	cr_log_info("gd_grad %.3g", e);
	cr_expect(e <= 1e-14, "gd_grad: %g", e);
	tg_graph_free(g);
	free(xp), free(yt), free(ref);
}

/* ---------------------------------------------------------------- golden: inverse diffusion */

Test(physics, inv_diffuse_golden)
{
	double *r = load("residual.f64", NG), *dx_ref = load("inv_dx.f64", NG), *amp_ref = load("inv_abs_amp.f64", NG);
	double *raw_ref = load("inv_raw_kernel.f64", N * N), *k_ref = load("inv_kernel.f64", NG), *p_ref = load("inv_sig_prob.f64", NG);
	double *unc_ref = load("inv_uncertainty.f64", B), *f_ref = load("inv_f_uncertainty.f64", B);
	double *u = malloc(sizeof(double) * NG);
	for (int i = 0; i < NG; i++)
		u[i] = fabs(r[i]) * TG_SEED_REL_UNCERTAINTY;
	double *dx = malloc(sizeof(double) * NG), *amp = malloc(sizeof(double) * NG), *raw = malloc(sizeof(double) * N * N);
	double *k = malloc(sizeof(double) * NG), *p = malloc(sizeof(double) * NG), unc[B], f[B];
	tg_inv_diffuse_out out = {dx, amp, raw, k, p, unc, f};
	cr_assert_eq(tg_inv_diffuse_compute(r, u, B, N, N, AMOUNT, &out), TG_OK, "%s", tg_last_error());

	double e_dx = rel_err(dx, dx_ref, NG), e_amp = rel_err(amp, amp_ref, NG), e_raw = 0;
	for (int i = 0; i < N * N; i++)
		e_raw = fmax(e_raw, fabs(raw[i] - raw_ref[i]) / raw_ref[i]);
	cr_expect(e_dx <= 1e-11, "inv_dx: %g", e_dx);
	cr_expect(e_amp <= 1e-14, "inv_abs_amp: %g", e_amp);
	cr_expect(e_raw <= 1e-13, "inv_raw_kernel (elementwise relative): %g", e_raw);

	/* kernel and sig_prob hinge on FFT round-off where |amp| is tiny (an exactly-zero amp gives
	** p = 0.5, kernel 1; a 3e-15 one p = 0, kernel exp(-log_k); numpy and torch already disagree
	** there): compare them only where |amp| > 1e-10 max|amp|, and amp * kernel everywhere. */
	double amax = max_abs(amp_ref, NG), e_k = 0, e_p = 0;
	int masked = 0;
	double *ak = malloc(sizeof(double) * NG), *ak_ref = malloc(sizeof(double) * NG);
	for (int i = 0; i < NG; i++) {
		ak[i] = amp[i] * k[i];
		ak_ref[i] = amp_ref[i] * k_ref[i];
		if (amp_ref[i] > 1e-10 * amax) {
			e_k = fmax(e_k, fabs(k[i] - k_ref[i]) / k_ref[i]);
			e_p = fmax(e_p, fabs(p[i] - p_ref[i]));
		} else {
			masked++;
		}
	}
	double e_ak = rel_err(ak, ak_ref, NG);
	cr_expect(e_k <= 1e-8, "inv_kernel (relative, unmasked cells): %g", e_k);
	cr_expect(e_p <= 1e-8, "inv_sig_prob (absolute, unmasked cells): %g", e_p);
	cr_expect(e_ak <= 1e-10, "abs_amp * kernel: %g", e_ak);

	double e_f = 0, e_u = 0, e_uk = 0, e_proxy = 0;
	for (int b = 0; b < B; b++) {
		e_f = fmax(e_f, fmax(fabs(f[b] - f_ref[b]), fabs(f[b] - golden_inv_f_uncertainty[b])) / f_ref[b]);
		e_u = fmax(e_u, fmax(fabs(unc[b] - unc_ref[b]), fabs(unc[b] - golden_inv_uncertainty[b])) / unc_ref[b]);
		double s = 0, pl = 0;
		for (int i = 0; i < N * N; i++) {
			double fk = f[b] * k[b * N * N + i];
			s += fk * fk;
			pl += 0.5 * dx[b * N * N + i] * dx[b * N * N + i];
		}
		e_uk = fmax(e_uk, fabs(sqrt(s) / N - unc[b]) / unc[b]);
		e_proxy = fmax(e_proxy, fabs(pl - golden_proxy_loss[b]) / golden_proxy_loss[b]);
	}
	cr_expect(e_f <= 1e-14, "inv_f_uncertainty: %g", e_f);
	cr_expect(e_uk <= 1e-14, "uncertainty vs its formula on our kernel: %g", e_uk);
	cr_expect(e_u <= 1e-9, "inv_uncertainty: %g", e_u);
	cr_expect(e_proxy <= 1e-11, "proxy_loss: %g", e_proxy);
	cr_log_info("inv: dx %.3g abs_amp %.3g raw %.3g kernel %.3g sig_prob %.3g (%d of %d cells masked) amp*kernel %.3g "
		"f_unc %.3g unc %.3g unc-formula %.3g proxy %.3g", e_dx, e_amp, e_raw, e_k, e_p, masked, NG, e_ak, e_f, e_u, e_uk, e_proxy);

	/* the graph op gives the same dx */
	tg_graph *g = tg_graph_new();
	tg_node *rn = input_with(g, "r", TG_F64, TG_SHAPE(B, N, N), r), *un = input_with(g, "u", TG_F64, TG_SHAPE(B, N, N), u);
	tg_node *dxn = tg_inv_diffuse(g, rn, un, AMOUNT);
	compute(g, dxn);
	cr_expect_eq(memcmp(tg_f64(dxn), dx, sizeof(double) * NG), 0, "graph op and array API differ");
	/* every output is optional */
	cr_expect_eq(tg_inv_diffuse_compute(r, u, B, N, N, AMOUNT, &(tg_inv_diffuse_out){.uncertainty = unc}), TG_OK);
	cr_expect_eq(tg_inv_diffuse_compute(r, u, B, N, N, AMOUNT, NULL), TG_OK);
	tg_graph_free(g);
	free(r), free(dx_ref), free(amp_ref), free(raw_ref), free(k_ref), free(p_ref), free(unc_ref), free(f_ref);
	free(u), free(dx), free(amp), free(raw), free(k), free(p), free(ak), free(ak_ref);
}

/* A zero residual (perfect prediction): f = 0, so the noise likelihood is 0/0 = NaN and so is
** p (divide_no_nan keeps NaN), action 0, kernel 1, dx 0 -- as the seed computes it. */
Test(physics, inv_diffuse_zero_residual)
{
	double r[2 * 3 * 4] = {0}, u[2 * 3 * 4] = {0}, dx[24], k[24], p[24], unc[2];
	tg_inv_diffuse_out out = {.dx = dx, .kernel = k, .sig_prob = p, .uncertainty = unc};
	cr_assert_eq(tg_inv_diffuse_compute(r, u, 2, 3, 4, AMOUNT, &out), TG_OK);
	for (int i = 0; i < 24; i++) {
		cr_expect_eq(dx[i], 0.0);
		cr_expect_eq(k[i], 1.0);
		cr_expect(isnan(p[i]));
	}
	cr_expect_eq(unc[0], 0.0);
}

/* ---------------------------------------------------------------- SIP node */

static tg_graph *sip_graph(const double *x, const double *yt, tg_dtype xt, tg_shape s, tg_physics *phys, tg_node **xn,
	tg_node **loss)
{
	tg_graph *g = tg_graph_new();
	int64_t n = tg_shape_numel(s);
	if (xt == TG_F32) {
		float *xf = malloc(sizeof(float) * (size_t)n);
		for (int64_t i = 0; i < n; i++)
			xf[i] = (float)x[i];
		*xn = input_with(g, "x", TG_F32, s, xf);
		free(xf);
	} else {
		*xn = input_with(g, "x", TG_F64, s, x);
	}
	tg_node *ytn = tg_const(g, "y_target", TG_F64, s, yt);
	*loss = tg_sip_loss(g, phys, *xn, ytn);
	cr_assert(*loss, "%s", tg_graph_error(g));
	return g;
}

Test(physics, sip_golden)
{
	double *xp = load("x_pred.f64", NG), *yt = load("y_target.f64", NG), *dx_ref = load("inv_dx.f64", NG);
	tg_physics phys = tg_diffusion_physics(AMOUNT, TG_SEED_REL_UNCERTAINTY);
	tg_node *x, *loss;
	tg_graph *g = sip_graph(xp, yt, TG_F64, TG_SHAPE(B, N, N), &phys, &x, &loss);
	cr_expect_eq(loss->dtype, TG_F64);
	cr_expect(tg_shape_eq(loss->shape, TG_SHAPE(B)));
	tg_set_flags(loss, TG_FLAG_LOSS | TG_FLAG_OUTPUT);
	cr_assert_eq(tg_backward(g, loss, NULL, 1, &x), TG_OK, "%s", tg_graph_error(g));
	tg_node *targets[] = {loss, x->grad};
	cr_assert_eq(tg_graph_compute(g, 2, targets), TG_OK, "%s", tg_last_error());
	for (int b = 0; b < B; b++)
		cr_expect(fabs(tg_f64(loss)[b] - golden_y_l2[b]) <= 1e-13 * golden_y_l2[b], "value[%d] %.17g", b, tg_f64(loss)[b]);
	/* The gradient is exactly -dx of inv_diffuse on the residual this forward produced. */
	double *yp = malloc(sizeof(double) * NG), *r = malloc(sizeof(double) * NG), *u = malloc(sizeof(double) * NG);
	double *dx = malloc(sizeof(double) * NG), *neg = malloc(sizeof(double) * NG);
	cr_assert_eq(tg_diffuse_compute(xp, yp, B, N, N, AMOUNT), TG_OK);
	for (int i = 0; i < NG; i++)
		r[i] = yt[i] - yp[i], u[i] = fabs(r[i]) * TG_SEED_REL_UNCERTAINTY;
	cr_assert_eq(tg_inv_diffuse_compute(r, u, B, N, N, AMOUNT, &(tg_inv_diffuse_out){.dx = dx}), TG_OK);
	for (int i = 0; i < NG; i++)
		neg[i] = -dx[i];
	cr_expect_eq(memcmp(tg_f64(x->grad), neg, sizeof(double) * NG), 0, "SIP gradient is not -inv_diffuse(residual)");
	/* Against the golden -inv_dx: that residual came from torch's FFT, ours from FFTW; they
	** differ by 1.8e-15 (diffuse_golden), and the damped inverse amplifies such differences
	** about 1e4-fold (1-ulp relative noise on the residual moves dx by 1.7e-12). From the
	** golden residual dx is within 4.1e-12 (inv_diffuse_golden); through our forward 3.2e-11
	** (2.1e-11 with the r2c route before the packed transform: another FFT's round-off). */
	for (int i = 0; i < NG; i++)
		neg[i] = -dx_ref[i];
	double e = rel_err(tg_f64(x->grad), neg, NG);
	cr_log_info("sip gradient vs -inv_dx %.3g", e);
	cr_expect(e <= 5e-11, "SIP gradient vs -inv_dx: %g", e);
	free(yp), free(r), free(u), free(dx);
	/* the inverse is part of the backward graph (visible in DOT), not hidden in a callback */
	bool found = false;
	for (int i = 0; i < tg_graph_node_count(g); i++) {
		tg_node *n = tg_graph_node(g, i);
		found |= strcmp(n->op->name, "inv_diffuse") == 0 && (n->flags & TG_FLAG_BACKWARD);
	}
	cr_expect(found, "no inv_diffuse node in the backward graph");
	tg_graph_free(g);
	free(xp), free(yt), free(dx_ref), free(neg);
}

/* The SIP node's gradient is the gradient of the seed's proxy loss l2(x - stop_gradient(x + dx)),
** built here from ordinary ops, also with a non-uniform gradient per batch item. */
Test(physics, sip_equals_proxy_loss)
{
	enum { BB = 3, X = 12, Y = 9, NE = BB * X * Y };
	double x[NE], yt[NE], w[BB] = {1.0, -0.5, 2.0};
	fill_random(x, NE, 31);
	double xt_src[NE];
	fill_random(xt_src, NE, 32);
	tg_diffuse_compute(xt_src, yt, BB, X, Y, 0.7);   /* a reachable target */
	tg_physics phys = tg_diffusion_physics(0.7, TG_SEED_REL_UNCERTAINTY);
	tg_node *xn, *loss;
	tg_graph *g = sip_graph(x, yt, TG_F64, TG_SHAPE(BB, X, Y), &phys, &xn, &loss);
	tg_node *ytn = loss->src[2];
	tg_node *seed = tg_const(g, "w", TG_F64, TG_SHAPE(BB), w);
	tg_node *wrt[] = {xn, ytn};
	cr_assert_eq(tg_backward(g, loss, seed, 2, wrt), TG_OK, "%s", tg_graph_error(g));
	cr_expect_null(ytn->grad, "y_target must get no gradient");
	tg_node *gs = xn->grad;
	compute(g, gs);
	double sip[NE];
	memcpy(sip, tg_f64(gs), sizeof sip);

	/* the proxy loss from ordinary ops */
	tg_graph *h = tg_graph_new();
	tg_node *x2 = input_with(h, "x", TG_F64, TG_SHAPE(BB, X, Y), x);
	tg_node *yt2 = tg_const(h, "y_target", TG_F64, TG_SHAPE(BB, X, Y), yt);
	tg_node *r = tg_sub(h, yt2, tg_diffuse(h, x2, 0.7));
	tg_node *dx = tg_inv_diffuse(h, r, tg_scale(h, tg_abs(h, r), TG_SEED_REL_UNCERTAINTY), 0.7);
	tg_node *proxy = tg_l2_loss(h, tg_sub(h, x2, tg_stop_gradient(h, tg_add(h, x2, dx))));
	cr_assert(proxy, "%s", tg_graph_error(h));
	cr_assert_eq(tg_backward(h, proxy, tg_const(h, "w", TG_F64, TG_SHAPE(BB), w), 1, &x2), TG_OK, "%s", tg_graph_error(h));
	compute(h, x2->grad);
	double e = rel_err(sip, tg_f64(x2->grad), NE);
	cr_expect(e <= 1e-13, "SIP vs proxy gradient: %g", e);

	/* f32 network output: the gradient comes back as f32 */
	tg_node *xf, *lossf;
	tg_graph *gf = sip_graph(x, yt, TG_F32, TG_SHAPE(BB, X, Y), &phys, &xf, &lossf);
	cr_assert_eq(tg_backward(gf, lossf, NULL, 1, &xf), TG_OK, "%s", tg_graph_error(gf));
	compute(gf, xf->grad);
	cr_expect_eq(xf->grad->dtype, TG_F32);
	tg_graph_free(g), tg_graph_free(h), tg_graph_free(gf);
}

/* ---------------------------------------------------------------- naive DFT references */

/* Full 2-D DFT of one [nx, ny] complex item, exponent sign s (-1 forward). */
static void naive_dft(const double complex *in, double complex *out, int nx, int ny, int s)
{
	for (int kx = 0; kx < nx; kx++)
		for (int ky = 0; ky < ny; ky++) {
			double complex acc = 0;
			for (int i = 0; i < nx; i++)
				for (int j = 0; j < ny; j++)
					acc += in[i * ny + j] * cexp(s * 2 * M_PI * I * ((double)kx * i / nx + (double)ky * j / ny));
			out[kx * ny + ky] = acc;
		}
}

static double cmax_err(const double *a, const double complex *ref, int n)
{
	double e = 0, m = 0;
	for (int i = 0; i < n; i++) {
		e = fmax(e, cabs(a[2 * i] + I * a[2 * i + 1] - ref[i]));
		m = fmax(m, cabs(ref[i]));
	}
	return e / m;
}

Test(physics, fft_ops_vs_naive_dft)
{
	static const int sizes[][2] = {{5, 6}, {7, 3}, {4, 9}, {1, 5}, {6, 1}};
	for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
		int nx = sizes[t][0], ny = sizes[t][1], nh = ny / 2 + 1, nc = nx * ny;
		double re[2 * 5 * 9 * 2];
		fill_random(re, (size_t)(2 * nc), 40 + t);
		double complex z[45], zr[45], f[45], fi[45], fr[45];
		for (int i = 0; i < nc; i++)
			z[i] = re[2 * i] + I * re[2 * i + 1], zr[i] = re[i];
		naive_dft(z, f, nx, ny, -1);
		naive_dft(z, fi, nx, ny, +1);
		naive_dft(zr, fr, nx, ny, -1);
		for (int i = 0; i < nc; i++)
			fi[i] /= nc;
		tg_graph *g = tg_graph_new();
		tg_node *zn = input_with(g, "z", TG_C128, TG_SHAPE(nx, ny), re);
		tg_node *xn = input_with(g, "x", TG_F64, TG_SHAPE(nx, ny), re);
		tg_node *a = tg_fft2(g, zn), *b = tg_ifft2(g, zn), *c = tg_rfft2(g, xn), *d = tg_fft2(g, xn);
		tg_node *all[] = {a, b, c, d};
		for (int i = 0; i < 4; i++)
			tg_set_flags(all[i], TG_FLAG_OUTPUT);
		cr_assert_eq(tg_graph_compute(g, 4, all), TG_OK, "%s", tg_last_error());
		cr_expect(cmax_err(tg_f64(a), f, nc) <= 1e-14, "fft2 %dx%d: %g", nx, ny, cmax_err(tg_f64(a), f, nc));
		cr_expect(cmax_err(tg_f64(b), fi, nc) <= 1e-14, "ifft2 %dx%d: %g", nx, ny, cmax_err(tg_f64(b), fi, nc));
		cr_expect(cmax_err(tg_f64(d), fr, nc) <= 1e-14, "fft2 of real %dx%d: %g", nx, ny, cmax_err(tg_f64(d), fr, nc));
		double complex half[45];
		for (int kx = 0; kx < nx; kx++)
			for (int ky = 0; ky < nh; ky++)
				half[kx * nh + ky] = fr[kx * ny + ky];
		cr_expect(cmax_err(tg_f64(c), half, nx * nh) <= 1e-14, "rfft2 %dx%d: %g", nx, ny, cmax_err(tg_f64(c), half, nx * nh));

		/* irfft2 of a non-Hermitian half spectrum H: (1/N) Re(sum_half w_k H_k e^{+2 pi i k.n/N}) */
		tg_node *hn = input_with(g, "h", TG_C128, TG_SHAPE(nx, nh), re);
		tg_node *e = tg_irfft2(g, hn, ny);
		compute(g, e);
		double ref[45], got[45];
		for (int i = 0; i < nx; i++)
			for (int j = 0; j < ny; j++) {
				double complex acc = 0;
				for (int kx = 0; kx < nx; kx++)
					for (int ky = 0; ky < nh; ky++) {
						double w = ky == 0 || 2 * ky == ny ? 1 : 2;
						acc += w * (re[2 * (kx * nh + ky)] + I * re[2 * (kx * nh + ky) + 1]) *
							cexp(2 * M_PI * I * ((double)kx * i / nx + (double)ky * j / ny));
					}
				ref[i * ny + j] = creal(acc) / nc;
				got[i * ny + j] = tg_f64(e)[i * ny + j];
			}
		cr_expect(rel_err(got, ref, (size_t)nc) <= 1e-14, "irfft2 %dx%d: %g", nx, ny, rel_err(got, ref, (size_t)nc));
		tg_graph_free(g);
	}
}

/* diffuse on odd and non-square grids against Re(IDFT(DFT(x) K)) with K from numpy's fftfreq. */
Test(physics, diffuse_vs_naive_dft)
{
	/* odd Y: the r2c route; even Y (also Y = 2 and X = 1): the packed route */
	static const int sizes[][3] = {{2, 7, 5}, {1, 9, 12}, {3, 1, 4}, {2, 5, 1}, {1, 8, 8}, {3, 4, 2}, {2, 6, 10}, {1, 1, 6}};
	for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
		int bs = sizes[t][0], nx = sizes[t][1], ny = sizes[t][2], nc = nx * ny;
		double amount = 0.4, x[3 * 108], y[3 * 108], ref[3 * 108];
		fill_random(x, (size_t)(bs * nc), 60 + t);
		for (int b = 0; b < bs; b++) {
			double complex xi[108], f[108], out[108];
			for (int i = 0; i < nc; i++)
				xi[i] = x[b * nc + i];
			naive_dft(xi, f, nx, ny, -1);
			for (int kx = 0; kx < nx; kx++)
				for (int ky = 0; ky < ny; ky++) {
					double fx = (kx < (nx + 1) / 2 ? kx : kx - nx) / (double)nx, fy = (ky < (ny + 1) / 2 ? ky : ky - ny) / (double)ny;
					f[kx * ny + ky] *= exp(-4 * M_PI * M_PI * (fx * fx + fy * fy) * amount);
				}
			naive_dft(f, out, nx, ny, +1);
			for (int i = 0; i < nc; i++)
				ref[b * nc + i] = creal(out[i]) / nc;
		}
		tg_graph *g = tg_graph_new();
		tg_node *xn = input_with(g, "x", TG_F64, TG_SHAPE(bs, nx, ny), x);
		tg_node *yn = tg_diffuse(g, xn, amount);
		compute(g, yn);
		double e = rel_err(tg_f64(yn), ref, (size_t)(bs * nc));
		cr_expect(e <= 1e-14, "diffuse %dx%dx%d: %g", bs, nx, ny, e);
		cr_assert_eq(tg_diffuse_compute(x, y, bs, nx, ny, amount), TG_OK);
		cr_expect_eq(memcmp(y, tg_f64(yn), sizeof(double) * (size_t)(bs * nc)), 0);
		tg_graph_free(g);
	}
}

/* inv_diffuse on odd and non-square grids against the seed's formulas on a naive full DFT: the
** expected amplitude uses X (the first spatial axis). The residual is a diffused random field, so
** its spectrum spans many magnitudes and the signal probability takes values across (0, 1). */
Test(physics, inv_diffuse_vs_naive_dft)
{
	static const int sizes[][3] = {{2, 9, 7}, {1, 6, 10}, {1, 5, 5}, {2, 8, 6}, {1, 4, 2}, {2, 1, 8}};
	const double amount = 1.0, rel = 0.05;
	for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
		int bs = sizes[t][0], nx = sizes[t][1], ny = sizes[t][2], nc = nx * ny;
		double z[2 * 63], r[2 * 63], u[2 * 63], dx[2 * 63], k[2 * 63], p[2 * 63], unc[2], f[2];
		double ref_dx[2 * 63], ref_k[2 * 63], ref_p[2 * 63], ref_amp[2 * 63];
		fill_random(z, (size_t)(bs * nc), 80 + t);
		cr_assert_eq(tg_diffuse_compute(z, r, bs, nx, ny, 0.1), TG_OK);
		for (int i = 0; i < bs * nc; i++)
			u[i] = fabs(r[i]) * rel;
		tg_inv_diffuse_out out = {.dx = dx, .kernel = k, .sig_prob = p, .uncertainty = unc, .f_uncertainty = f};
		cr_assert_eq(tg_inv_diffuse_compute(r, u, bs, nx, ny, amount, &out), TG_OK);
		double e_unc = 0;
		for (int b = 0; b < bs; b++) {
			double complex ri[63], amp[63], prod[63], back[63];
			double fu = 0, ksq = 0;
			for (int i = 0; i < nc; i++)
				ri[i] = r[b * nc + i], fu += u[b * nc + i] * u[b * nc + i];
			fu = sqrt(fu);
			naive_dft(ri, amp, nx, ny, -1);
			for (int kx = 0; kx < nx; kx++)
				for (int ky = 0; ky < ny; ky++) {
					int i = kx * ny + ky;
					double fx = (kx < (nx + 1) / 2 ? kx : kx - nx) / (double)nx, fy = (ky < (ny + 1) / 2 ? ky : ky - ny) / (double)ny;
					double lk = 4 * M_PI * M_PI * (fx * fx + fy * fy) * amount, a = cabs(amp[i]);
					double sl = 0.5 * exp(-0.5 * pow(a / (nx * exp(-lk)), 2)), nl = 0.5 * exp(-0.5 * pow(a / fu, 2));
					double pr = sl + nl == 0 ? 0 : sl / (sl + nl), act = (pr <= 0.5 || pr >= 0.68) ? 2 * (pr - 0.5) : 0;
					ref_k[b * nc + i] = exp(lk * act);
					ref_p[b * nc + i] = pr;
					ref_amp[b * nc + i] = a;
					prod[i] = amp[i] * ref_k[b * nc + i];
					ksq += pow(fu * ref_k[b * nc + i], 2);
				}
			naive_dft(prod, back, nx, ny, +1);
			for (int i = 0; i < nc; i++)
				ref_dx[b * nc + i] = creal(back[i]) / nc;
			e_unc = fmax(e_unc, fabs(unc[b] - sqrt(ksq) / nx) / unc[b] + fabs(f[b] - fu) / fu);
		}
		double amax = max_abs(ref_amp, (size_t)(bs * nc)), e_k = 0, e_p = 0, pmin = 1, pmax = 0;
		for (int i = 0; i < bs * nc; i++)
			if (ref_amp[i] > 1e-10 * amax) {
				e_k = fmax(e_k, fabs(k[i] - ref_k[i]) / ref_k[i]);
				e_p = fmax(e_p, fabs(p[i] - ref_p[i]));
				pmin = fmin(pmin, p[i]), pmax = fmax(pmax, p[i]);
			}
		double e_dx = rel_err(dx, ref_dx, (size_t)(bs * nc));
		cr_log_info("inv_diffuse %dx%dx%d: dx %.3g kernel %.3g p %.3g (p in [%.3g, %.3g]) unc %.3g", bs, nx, ny, e_dx, e_k, e_p,
			pmin, pmax, e_unc);
		cr_expect(e_dx <= 1e-12, "dx %dx%dx%d: %g", bs, nx, ny, e_dx);
		cr_expect(e_k <= 1e-10 && e_p <= 1e-10, "kernel %g / sig_prob %g (%dx%dx%d)", e_k, e_p, bs, nx, ny);
		cr_expect(e_unc <= 1e-13, "uncertainty %dx%dx%d: %g", bs, nx, ny, e_unc);
	}
}

/* The seed's formulas, evaluated as written, at one bin of amplitude amp (f = f_b): the kernel
** and *p. inv_diffuse skips exps whose value is exact anyway; this checks it stays bit-exact. */
static double seed_kernel(int kx, int nx, int ky, int ny, double amount, double amp, double f, double *p)
{
	double fx = (kx < (nx + 1) / 2 ? kx : kx - nx) * (1.0 / nx), fy = (ky < (ny + 1) / 2 ? ky : ky - ny) * (1.0 / ny);
	double lk = -(2.0 * M_PI) * (2.0 * M_PI) * (fx * fx + fy * fy) * -amount;
	double expected = 1.0 * (double)nx * exp(-lk), qs = amp / expected, qn = amp / f;
	double sl = exp(-0.5 * (qs * qs)) * 0.5;
	if (!isfinite(sl))
		sl = 0;
	double nl = exp(-0.5 * (qn * qn)) * (1 - 0.5), den = sl + nl;
	*p = den == 0 ? 0 : sl / den;
	double action = (0.5 >= *p || *p >= 0.68) ? 2 * (*p - 0.5) : 0.0;
	return exp(lk * action);
}

static bool same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* kernel and sig_prob equal the formulas bit for bit on every bin, from the returned |amp| and f,
** over residuals whose spectra span many magnitudes (diffused noise, the golden residual) and
** uncertainties that put the likelihoods at 0, 1/2 and in between; even and odd Y. */
Test(physics, inv_diffuse_kernel_bits)
{
	static const int shapes[][3] = {{2, 64, 64}, {3, 6, 10}, {2, 9, 7}, {1, 16, 2}};
	static const double amounts[] = {0.0, 0.3, 8.0, 1e3}, rels[] = {1e-6, 0.05, 3.0};
	double *golden = load("residual.f64", NG);
	for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
		int bs = shapes[t][0], nx = shapes[t][1], ny = shapes[t][2], nc = nx * ny, n = bs * nc;
		double *z = malloc(sizeof(double) * (size_t)n * 7), *r = z + n, *u = r + n, *amp = u + n, *k = amp + n, *p = k + n;
		double *dx = p + n, f[3];
		fill_random(z, (size_t)n, 300 + t);
		cr_assert_eq(tg_diffuse_compute(z, r, bs, nx, ny, 0.05), TG_OK);
		if (nx == N && ny == N)
			memcpy(r, golden, sizeof(double) * NG);
		for (size_t a = 0; a < sizeof amounts / sizeof amounts[0]; a++)
			for (size_t q = 0; q < sizeof rels / sizeof rels[0]; q++) {
				for (int i = 0; i < n; i++)
					u[i] = fabs(r[i]) * rels[q];
				tg_inv_diffuse_out out = {.dx = dx, .abs_amp = amp, .kernel = k, .sig_prob = p, .f_uncertainty = f};
				cr_assert_eq(tg_inv_diffuse_compute(r, u, bs, nx, ny, amounts[a], &out), TG_OK, "%s", tg_last_error());
				int bad = 0;
				for (int i = 0; i < n; i++) {
					int b = i / nc, kx = i % nc / ny, ky = i % ny;
					double pr, kr = seed_kernel(kx, nx, ky, ny, amounts[a], amp[i], f[b], &pr);
					if ((!same_bits(k[i], kr) || !same_bits(p[i], pr)) && bad++ < 3)
						cr_log_error("%dx%dx%d amount %g rel %g bin %d: kernel %.17g p %.17g, formula %.17g p %.17g", bs, nx,
							ny, amounts[a], rels[q], i, k[i], p[i], kr, pr);
				}
				cr_expect_eq(bad, 0, "%dx%dx%d amount %g rel %g: %d bins differ from the formulas", bs, nx, ny, amounts[a],
					rels[q], bad);
			}
		free(z);
	}
	free(golden);
}

/* The packed kernels round exactly as their formulas are written, in whichever SIMD clone runs:
** no FMA contraction (GCC 12 fused one of them into vfmsubadd once), same bits as plain scalar
** code. z: a packed spectrum [nx, m]; V[kx][ky] = E + w^ky O; Zy = a Z + i b conj Z[-k]. */
Test(physics, packed_kernels_round_as_written)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
	enum { NX = 6, M = 9 };
	double z[2 * NX * M], a[2 * NX * M], b[2 * NX * M], tw[2 * M], v[2 * (M + 1)], zy[2 * NX * M];
	fill_random(z, 2 * NX * M, 11);
	fill_random(a, 2 * NX * M, 12);
	fill_random(b, 2 * NX * M, 13);
	fft_packed_twiddles(tw, 2 * M);
	fft_packed_filter(z, zy, a, b, NX, M);
	int bad = 0;
	for (int kx = 0; kx < NX; kx++) {
		fft_packed_unpack_row(z, NX, M, kx, tw, v);
		const double *row = z + 2 * M * kx, *mir = z + 2 * M * ((NX - kx) % NX);
		for (int ky = 0; ky <= M; ky++) {
			int j = ky % M, mj = (M - j) % M;
			double zr = row[2 * j], zi = row[2 * j + 1], mr = mir[2 * mj], mi = mir[2 * mj + 1];
			double e0 = 0.5 * (zr + mr), e1 = 0.5 * (zi - mi), o0 = 0.5 * (zi + mi), o1 = -0.5 * (zr - mr);
			double re = e0 + (tw[2 * j] * o0 + tw[2 * j + 1] * o1), im = e1 + (tw[2 * j] * o1 - tw[2 * j + 1] * o0);
			if (ky == 0 || ky == M)   /* w^0 = 1: V[kx][0] = E + O, the Nyquist V[kx][m] = E - O */
				re = ky ? e0 - o0 : e0 + o0, im = ky ? e1 - o1 : e1 + o1;
			bad += !same_bits(v[2 * ky], re) + !same_bits(v[2 * ky + 1], im);
			if (ky == M)
				continue;
			int d = 2 * (kx * M + ky);   /* i conj(Z[-k]) = (mi, mr) */
			bad += !same_bits(zy[d], a[d] * zr + b[d] * mi) + !same_bits(zy[d + 1], a[d + 1] * zi + b[d + 1] * mr);
		}
	}
	cr_expect_eq(bad, 0, "%d values differ from the formulas", bad);
}

/* tg_heat_box_mask visits only the box's rows and columns (min of per-axis values): the same bits
** as PhiFlow's formula on every cell, for boxes inside, across the border and outside the grid,
** zero and huge sizes, any strength sign, added onto arbitrary values. */
Test(physics, heat_box_mask_matches_every_cell)
{
	enum { NX = 23, NY = 70 };
	double base[NX * NY], got[NX * NY], want[NX * NY], r[6];
	fill_random(base, NX * NY, 21);
	for (int t = 0; t < 400; t++) {
		fill_random(r, 6, 1000 + (uint64_t)t);
		double c[2] = {r[0] * 40, r[1] * 90}, h[2] = {fabs(r[2]) * (t % 7 == 0 ? 200 : 12), t % 5 == 0 ? 0 : fabs(r[3]) * 12};
		double strength = t % 11 == 0 ? -r[4] : r[4];
		memcpy(got, base, sizeof got);
		memcpy(want, base, sizeof want);
		tg_heat_box_mask(NX, NY, c, h, strength, got);
		for (int i = 0; i < NX; i++)
			for (int j = 0; j < NY; j++) {
				double m0 = 0.5 * ((c[0] - h[0]) + (c[0] + h[0])), e0 = (c[0] + h[0]) - (c[0] - h[0]);
				double m1 = 0.5 * ((c[1] - h[1]) + (c[1] + h[1])), e1 = (c[1] + h[1]) - (c[1] - h[1]);
				double dx = fabs((i + 0.5) - m0) - e0 * 0.5, dy = fabs((j + 0.5) - m1) - e1 * 0.5;
				double v = 0.5 - (dx > dy ? dx : dy) / 1.414214;
				want[i * NY + j] += (v < 0 ? 0 : v > 1 ? 1 : v) * strength;
			}
		cr_assert_eq(memcmp(got, want, sizeof got), 0, "box %d: center (%g, %g) half (%g, %g)", t, c[0], c[1], h[0], h[1]);
	}
}

/* ---------------------------------------------------------------- adjointness */

typedef tg_node *(*op_fn)(tg_graph *g, tg_node *a, int variant);

static tg_node *op_fft2(tg_graph *g, tg_node *a, int v) { return v ? tg_fft2_scaled(g, a, 0.3) : tg_fft2(g, a); }
static tg_node *op_ifft2(tg_graph *g, tg_node *a, int v) { return v ? tg_ifft2_scaled(g, a, 1.7) : tg_ifft2(g, a); }
static tg_node *op_rfft2(tg_graph *g, tg_node *a, int v) { return tg_rfft2_ex(g, a, v ? 0.5 : 1.0, v == 2); }
static tg_node *op_diffuse(tg_graph *g, tg_node *a, int v) { return tg_diffuse(g, a, v ? 0.1 : 1.3); }
static int64_t irfft_ny;
static tg_node *op_irfft2(tg_graph *g, tg_node *a, int v)
{
	return v ? tg_irfft2_ex(g, a, irfft_ny, 0.25, v == 2) : tg_irfft2(g, a, irfft_ny);
}

/* <F x, y> = <x, F^T y> with F^T from tg_backward (real inner products over Re and Im). */
static void check_adjoint(const char *name, op_fn f, int variant, tg_dtype in_t, tg_shape s)
{
	tg_graph *g = tg_graph_new();
	tg_node *x = tg_input(g, "x", in_t, s);
	int64_t nin = tg_numel(x) * (in_t == TG_C128 ? 2 : 1);
	fill_random(tg_f64(x), (size_t)nin, 77);
	tg_node *fx = f(g, x, variant);
	cr_assert(fx, "%s: %s", name, tg_graph_error(g));
	int64_t nout = tg_numel(fx) * (fx->dtype == TG_C128 ? 2 : 1);
	tg_node *y = tg_const(g, "y", fx->dtype, fx->shape, NULL);
	fill_random(tg_f64(y), (size_t)nout, 78);
	cr_assert_eq(tg_backward(g, fx, y, 1, &x), TG_OK, "%s", tg_graph_error(g));
	tg_node *targets[] = {fx, x->grad};
	tg_set_flags(fx, TG_FLAG_OUTPUT);
	cr_assert_eq(tg_graph_compute(g, 2, targets), TG_OK, "%s", tg_last_error());
	double lhs = 0, rhs = 0, nfx = 0, ny = 0, nx = 0, ng = 0;
	for (int64_t i = 0; i < nout; i++)
		lhs += tg_f64(fx)[i] * tg_f64(y)[i], nfx += tg_f64(fx)[i] * tg_f64(fx)[i], ny += tg_f64(y)[i] * tg_f64(y)[i];
	for (int64_t i = 0; i < nin; i++)
		rhs += tg_f64(x)[i] * tg_f64(x->grad)[i], nx += tg_f64(x)[i] * tg_f64(x)[i], ng += tg_f64(x->grad)[i] * tg_f64(x->grad)[i];
	double scale = fmax(sqrt(nfx * ny), sqrt(nx * ng));
	cr_expect(fabs(lhs - rhs) <= 1e-12 * scale, "%s (variant %d) %s: <Fx,y> %.17g vs <x,F^T y> %.17g", name, variant,
		tg_shape_str(s, (char[64]){0}, 64), lhs, rhs);
	tg_graph_free(g);
}

Test(physics, adjoint)
{
	static const int64_t shapes[][3] = {{2, 5, 4}, {3, 6, 7}, {1, 8, 8}, {2, 1, 3}};
	for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
		tg_shape s = TG_SHAPE(shapes[t][0], shapes[t][1], shapes[t][2]);
		tg_shape h = TG_SHAPE(shapes[t][0], shapes[t][1], shapes[t][2] / 2 + 1);
		irfft_ny = shapes[t][2];
		for (int v = 0; v < 3; v++) {
			check_adjoint("fft2", op_fft2, v, TG_C128, s);
			check_adjoint("ifft2", op_ifft2, v, TG_C128, s);
			check_adjoint("rfft2", op_rfft2, v, TG_F64, s);
			check_adjoint("irfft2", op_irfft2, v, TG_C128, h);
			check_adjoint("diffuse", op_diffuse, v, TG_F64, s);
		}
	}
}

/* ---------------------------------------------------------------- determinism, staging, errors */

/* A graph of every FFT op on [5, 11, Y] (5 items: more than one per thread), dx and d/dx out. */
static void run_physics_graph(int nthreads, int64_t Y, double *out, size_t n)
{
	enum { BB = 5, X = 11 };
	double x[BB * X * 8];
	fill_random(x, (size_t)(BB * X * Y), 90);
	tg_graph *g = tg_graph_new();
	tg_graph_set_threads(g, nthreads);
	tg_node *xn = input_with(g, "x", TG_F64, TG_SHAPE(BB, X, Y), x);
	tg_node *y = tg_diffuse(g, xn, 0.9);
	tg_node *c = tg_irfft2(g, tg_mul(g, tg_rfft2(g, y), tg_fft2(g, tg_slice(g, xn, 2, 0, Y / 2 + 1))), Y);
	tg_node *dx = tg_inv_diffuse(g, c, tg_abs(g, c), 0.9);
	tg_node *loss = tg_sum_all(g, tg_mul(g, tg_add(g, c, tg_stop_gradient(g, dx)), tg_real(g, tg_ifft2(g, tg_cast(g, y, TG_C128)))));
	cr_assert_eq(tg_backward(g, loss, NULL, 1, &xn), TG_OK, "%s", tg_graph_error(g));
	tg_node *targets[] = {dx, xn->grad};
	tg_set_flags(dx, TG_FLAG_OUTPUT);
	cr_assert_eq(tg_graph_compute(g, 2, targets), TG_OK, "%s", tg_last_error());
	cr_assert_eq(n, (size_t)(2 * BB * X * Y));
	memcpy(out, tg_f64(dx), sizeof(double) * n / 2);
	memcpy(out + n / 2, tg_f64(xn->grad), sizeof(double) * n / 2);
	tg_graph_free(g);
}

Test(physics, bit_identical_across_threads)
{
	static double a[2 * 5 * 11 * 8], b[2 * 5 * 11 * 8];
	for (int64_t Y = 7; Y <= 8; Y++) {   /* the r2c and the packed route */
		size_t n = (size_t)(2 * 5 * 11 * Y);
		run_physics_graph(1, Y, a, n);
		for (int t = 2; t <= 3; t++) {
			run_physics_graph(t, Y, b, n);
			cr_expect_eq(memcmp(a, b, sizeof(double) * n), 0, "Y = %lld: 1 and %d threads differ", (long long)Y, t);
		}
	}
}

/* Misaligned user buffers and odd-sized items go through aligned staging: same bits, on the r2c
** (odd Y) and the packed route (even Y); also misaligned residuals, and in place. */
static void check_misaligned(int Y)
{
	enum { BB = 3, X = 5, NMAX = BB * X * 8 };
	int ne = BB * X * Y;
	double *buf = malloc(sizeof(double) * (2 * NMAX + 2)), ref[NMAX], r[NMAX], u[NMAX], dx[NMAX];
	double *x = buf + 1, *y = buf + NMAX + 2;   /* 8-byte offsets: not 16-byte aligned */
	size_t bytes = sizeof(double) * (size_t)ne;
	fill_random(x, (size_t)ne, 5);
	memcpy(r, x, bytes);
	cr_assert_eq(tg_diffuse_compute(r, ref, BB, X, Y, 0.6), TG_OK);
	cr_assert_eq(tg_diffuse_compute(x, y, BB, X, Y, 0.6), TG_OK);
	cr_expect_eq(memcmp(y, ref, bytes), 0, "Y = %d", Y);
	cr_assert_eq(tg_diffuse_compute(x, x, BB, X, Y, 0.6), TG_OK);   /* in place */
	cr_expect_eq(memcmp(x, ref, bytes), 0, "Y = %d", Y);
	for (int i = 0; i < ne; i++)
		u[i] = 1e-3 * fabs(r[i]);
	cr_assert_eq(tg_inv_diffuse_compute(r, u, BB, X, Y, 0.6, &(tg_inv_diffuse_out){.dx = dx}), TG_OK);
	cr_assert_eq(tg_inv_diffuse_compute(r, u, BB, X, Y, 0.6, &(tg_inv_diffuse_out){.dx = y}), TG_OK);
	cr_expect_eq(memcmp(y, dx, bytes), 0, "Y = %d", Y);
	memcpy(x, r, bytes);   /* misaligned residual, dx in place over it */
	cr_assert_eq(tg_inv_diffuse_compute(x, u, BB, X, Y, 0.6, &(tg_inv_diffuse_out){.dx = x}), TG_OK);
	cr_expect_eq(memcmp(x, dx, bytes), 0, "Y = %d", Y);
	free(buf);
}

Test(physics, misaligned_buffers)
{
	check_misaligned(7);
	check_misaligned(8);
}

Test(physics, errors_are_reported)
{
	tg_graph *g = tg_graph_new();
	tg_node *v = tg_input(g, "v", TG_C128, TG_SHAPE(5));
	cr_expect_null(tg_fft2(g, v));
	cr_expect(strstr(tg_graph_error(g), "fft2") && strstr(tg_graph_error(g), "[5]"), "%s", tg_graph_error(g));
	tg_graph_free(g);

	g = tg_graph_new();
	tg_node *h = tg_input(g, "h", TG_C128, TG_SHAPE(4, 3));
	cr_expect_null(tg_irfft2(g, h, 6));
	cr_expect(strstr(tg_graph_error(g), "irfft2") && strstr(tg_graph_error(g), "ny = 6"), "%s", tg_graph_error(g));
	tg_graph_free(g);

	g = tg_graph_new();
	tg_node *x = tg_input(g, "x", TG_F64, TG_SHAPE(4, 4));
	cr_expect_null(tg_diffuse(g, x, -1.0));
	cr_expect_eq(tg_graph_status(g), TG_ERR_ARG);
	tg_graph_free(g);

	g = tg_graph_new();
	tg_node *r = tg_input(g, "r", TG_F64, TG_SHAPE(2, 4, 4)), *u = tg_input(g, "u", TG_F64, TG_SHAPE(4, 4));
	cr_expect_null(tg_inv_diffuse(g, r, u, 1.0));
	cr_expect(strstr(tg_graph_error(g), "inv_diffuse") && strstr(tg_graph_error(g), "[2,4,4]"), "%s", tg_graph_error(g));
	tg_graph_free(g);

	double a[4] = {0};
	cr_expect_eq(tg_diffuse_compute(a, a, 1, 2, 2, NAN), TG_ERR_ARG);
	cr_expect_eq(tg_diffuse_compute(NULL, a, 1, 2, 2, 1.0), TG_ERR_ARG);
	cr_expect_eq(tg_inv_diffuse_compute(a, a, 1, 0, 2, 1.0, NULL), TG_ERR_ARG);
}
