/*
** inv_diffuse.c: the seed's damped inverse diffusion inv_diffuse(residual, amount, uncertainty)
** with apply_damping, exactly (heat-sip-seed.md; golden SEMANTICS.md f), per batch item b of
** residual r and uncertainty u, both [B, X, Y], amount >= 0, unit cells:
**   f_b       = sqrt(sum_{x,y} u_b^2)
**   log_k     = (-(2 pi)^2 (kx^2 + ky^2)) * -amount,  k = fftfreq(n)
**   raw_kernel= exp(min(log_k, floor(log(FLT_MAX)) = 88))           (returned only)
**   amp       = fft2(r_b)  (unnormalised)
**   expected  = X * exp(-log_k)               (X: size of the FIRST spatial axis, also non-square)
**   sl        = 0.5 exp(-0.5 (|amp| / expected)^2), 0 where not finite
**   nl        = 0.5 exp(-0.5 (|amp| / f_b)^2)
**   p         = sl / (sl + nl), 0 where sl + nl == 0 (divide_no_nan; NaN stays NaN)
**   action    = 2 (p - 0.5) where p <= 0.5 or p >= 0.68, else 0
**   kernel    = exp(log_k * action)            (unclamped log_k)
**   dx        = Re(ifft2(amp * kernel)),  uncertainty_b = sqrt(sum_{x,y} (f_b kernel)^2) / X
** Implementation: r2c gives amp on the half spectrum; |amp|, log_k and so kernel are even in k,
** so amp * kernel is Hermitian and c2r gives Re(ifft2(...)) (DC/Nyquist columns symmetrised
** first). The full [X, Y] abs_amp, kernel and sig_prob are filled by that symmetry. Where |amp|
** is at FFT round-off p and kernel flip between FFT implementations (golden README); dx does not.
** The graph op returns dx only and is not differentiable (the SIP node uses it in a backward).
*/
#include "fft_plan.h"
#include <math.h>
#include <string.h>

#define INV_TABLE 2   /* fft_table_get tag */
#define LOG_KERNEL_CLAMP 88.0   /* floor(log(float32 max)) */

static double laplace(int64_t kx, int64_t nx, int64_t ky, int64_t ny)
{
	double fx = fft_freq(kx, nx), fy = fft_freq(ky, ny);
	return -(2.0 * M_PI) * (2.0 * M_PI) * (fx * fx + fy * fy);
}

/* log_k on the half spectrum [nx, ny/2+1] */
static void log_kernel_fill(double *out, int64_t nx, int64_t ny, double amount)
{
	int64_t nh = ny / 2 + 1;
	for (int64_t kx = 0; kx < nx; kx++)
		for (int64_t ky = 0; ky < nh; ky++)
			out[kx * nh + ky] = laplace(kx, nx, ky, ny) * -amount;
}

typedef struct inv_job {
	const fft_plan *r2c, *c2r;
	const double *r, *u;
	int64_t nx, ny;
	const double *log_k;    /* [nx, ny/2+1] */
	tg_inv_diffuse_out out;
	char *scratch;          /* per item: spectrum, then (if staging) a real item */
	size_t spec_bytes, item_bytes;
	bool stage;
} inv_job;

/* Writes v at (kx, ky) of a full [nx, ny] array and, for interior columns, at the mirror (-kx, -ky). */
static inline void put_full(double *a, int64_t nx, int64_t ny, int64_t kx, int64_t ky, double v)
{
	a[kx * ny + ky] = v;
	if (ky != 0 && 2 * ky != ny)
		a[((nx - kx) % nx) * ny + (ny - ky)] = v;
}

static void inv_item(void *arg, int64_t b)
{
	inv_job *j = arg;
	const tg_inv_diffuse_out *o = &j->out;
	int64_t nx = j->nx, ny = j->ny, nr = nx * ny, nh = ny / 2 + 1;
	double *spec = (double *)(j->scratch + j->item_bytes * (size_t)b);
	double *real = j->stage ? (double *)((char *)spec + j->spec_bytes) : NULL;
	const double *r = j->r + nr * b, *u = j->u + nr * b;
	if (!fft_aligned(r)) {
		memcpy(real, r, sizeof(double) * (size_t)nr);
		r = real;
	}
	fft_plan_run(j->r2c, (double *)(uintptr_t)r, spec);
	double usq = 0;
	for (int64_t i = 0; i < nr; i++)
		usq += u[i] * u[i];
	const double f = sqrt(usq), inv_n = 1.0 / (double)nr, prior = 0.5;
	double ksq = 0;   /* sum over the full grid of (f kernel)^2 */
	for (int64_t kx = 0; kx < nx; kx++)
		for (int64_t ky = 0; ky < nh; ky++) {
			int64_t i = kx * nh + ky;
			double lk = j->log_k[i], amp = hypot(spec[2 * i], spec[2 * i + 1]);
			double expected = 1.0 * (double)nx * exp(-lk);
			double qs = amp / expected, qn = amp / f;
			double sl = exp(-0.5 * (qs * qs)) * prior;
			if (!isfinite(sl))
				sl = 0;
			double nl = exp(-0.5 * (qn * qn)) * (1 - prior);
			double den = sl + nl, p = den == 0 ? 0 : sl / den;
			double action = (0.5 >= p || p >= 0.68) ? 2 * (p - 0.5) : 0.0;
			double kern = exp(lk * action), fk = f * kern;
			ksq += (ky == 0 || 2 * ky == ny ? 1 : 2) * (fk * fk);
			spec[2 * i] *= kern * inv_n;
			spec[2 * i + 1] *= kern * inv_n;
			if (o->abs_amp)
				put_full(o->abs_amp + nr * b, nx, ny, kx, ky, amp);
			if (o->kernel)
				put_full(o->kernel + nr * b, nx, ny, kx, ky, kern);
			if (o->sig_prob)
				put_full(o->sig_prob + nr * b, nx, ny, kx, ky, p);
		}
	if (o->f_uncertainty)
		o->f_uncertainty[b] = f;
	if (o->uncertainty)
		o->uncertainty[b] = sqrt(ksq) / (double)nx;
	if (!o->dx)
		return;
	double *dx = o->dx + nr * b;
	fft_hermitianize(spec, nx, ny);
	if (fft_aligned(dx)) {
		fft_plan_run(j->c2r, spec, dx);
	} else {
		fft_plan_run(j->c2r, spec, real);
		memcpy(dx, real, sizeof(double) * (size_t)nr);
	}
}

static bool needs_stage(const double *r, const double *dx, int64_t B, int64_t nx, int64_t ny)
{
	return !fft_aligned(r) || (dx && !fft_aligned(dx)) || (B > 1 && (nx * ny) % 2);
}

/* Scratch layout: [fallback log-kernel table][B items of (spectrum, optional real item)]. */
static size_t inv_scratch_bytes(int64_t B, int64_t nx, int64_t ny, bool stage, size_t *spec_bytes, size_t *item_bytes)
{
	size_t table = fft_round(sizeof(double) * (size_t)(nx * (ny / 2 + 1)));
	*spec_bytes = 2 * table;
	*item_bytes = *spec_bytes + (stage ? fft_round(sizeof(double) * (size_t)(nx * ny)) : 0);
	return table + *item_bytes * (size_t)B;
}

static tg_status inv_run(tg_exec *ex, const double *r, const double *u, int64_t B, int64_t nx, int64_t ny, double amount,
	const tg_inv_diffuse_out *out, char *scratch, bool stage)
{
	const fft_plan *r2c = fft_plan_get(FFT_R2C, nx, ny), *c2r = fft_plan_get(FFT_C2R, nx, ny);
	if (!r2c || !c2r)
		return TG_ERR_NOMEM;
	inv_job j = {r2c, c2r, r, u, nx, ny, NULL, *out, NULL, 0, 0, stage};
	size_t table = inv_scratch_bytes(B, nx, ny, stage, &j.spec_bytes, &j.item_bytes) - j.item_bytes * (size_t)B;
	j.log_k = fft_table_get(INV_TABLE, nx, ny, amount, log_kernel_fill, (double *)scratch);
	j.scratch = scratch + table;
	tg_parallel_for(ex, B, inv_item, &j);
	return TG_OK;
}

tg_status tg_inv_diffuse_compute(const double *residual, const double *uncertainty, int64_t batch, int64_t nx, int64_t ny,
	double amount, const tg_inv_diffuse_out *out)
{
	if (!residual || !uncertainty || batch < 0 || nx < 1 || ny < 1 || nx > INT32_MAX / ny)
		return tg_set_error(TG_ERR_ARG, "tg_inv_diffuse_compute: bad arguments (residual %p, uncertainty %p, batch %lld, grid %lldx%lld)",
			(const void *)residual, (const void *)uncertainty, (long long)batch, (long long)nx, (long long)ny);
	if (!isfinite(amount) || amount < 0)
		return tg_set_error(TG_ERR_ARG, "tg_inv_diffuse_compute: amount %g must be finite and >= 0", amount);
	if (!out)
		return TG_OK;
	if (out->raw_kernel)
		for (int64_t kx = 0; kx < nx; kx++)
			for (int64_t ky = 0; ky < ny; ky++)
				out->raw_kernel[kx * ny + ky] = exp(fmin(laplace(kx, nx, ky, ny) * -amount, LOG_KERNEL_CLAMP));
	if (batch == 0)
		return TG_OK;
	bool stage = needs_stage(residual, out->dx, batch, nx, ny);
	size_t spec_bytes, item_bytes, bytes = inv_scratch_bytes(batch, nx, ny, stage, &spec_bytes, &item_bytes);
	char *scratch = tg_malloc_aligned(bytes);
	if (!scratch)
		return tg_set_error(TG_ERR_NOMEM, "tg_inv_diffuse_compute: out of memory for %zu bytes of scratch", bytes);
	tg_status st = inv_run(NULL, residual, uncertainty, batch, nx, ny, amount, out, scratch, stage);
	tg_free_aligned(scratch);
	return st;
}

/* ---------------------------------------------------------------- graph op (dx only) */

static tg_status inv_diffuse_infer(tg_graph *g, tg_node *n)
{
	tg_node *r = n->src[0], *u = n->src[1];
	if (r->dtype != TG_F64 || u->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "residual %s and uncertainty %s must be f64 (the constructor casts f32)",
			tg_dtype_name(r->dtype), tg_dtype_name(u->dtype));
	if (!tg_shape_eq(r->shape, u->shape))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "residual %s and uncertainty %s must have the same shape [..., X, Y]",
			tg_sstr(r->shape), tg_sstr(u->shape));
	tg_status st = fft_check_shape(g, n, r->shape);
	if (st != TG_OK)
		return st;
	n->shape = r->shape;
	n->dtype = TG_F64;
	return TG_OK;
}

static tg_status inv_diffuse_forward(tg_exec *ex, tg_node *n)
{
	int64_t B, nx, ny;
	fft_dims(n->shape, &B, &nx, &ny);
	if (B == 0)
		return TG_OK;
	const double *r = n->src[0]->data, *u = n->src[1]->data;
	tg_inv_diffuse_out out = {.dx = n->data};
	bool stage = needs_stage(r, out.dx, B, nx, ny);
	size_t spec_bytes, item_bytes;
	char *scratch = tg_exec_scratch(ex, inv_scratch_bytes(B, nx, ny, stage, &spec_bytes, &item_bytes));
	tg_status st = scratch ? inv_run(ex, r, u, B, nx, ny, n->attr.f[0], &out, scratch, stage) : TG_ERR_NOMEM;
	if (st != TG_OK)
		return tg_graph_fail(tg_exec_graph(ex), st, "inv_diffuse: %s", scratch ? tg_last_error() : "out of memory for scratch");
	return TG_OK;
}

/* r2c + c2r and about 40 flops (5 exp, hypot, divisions) per half-spectrum bin */
static double inv_diffuse_flops(const tg_node *n) { return 2 * fft_flops(n->shape, true) + 20.0 * (double)tg_numel(n); }

/* INPLACE: each residual item is transformed before its dx is written */
const tg_op tg_op_inv_diffuse = {"inv_diffuse", inv_diffuse_infer, inv_diffuse_forward, NULL, TG_OP_NONDIFF | TG_OP_INPLACE,
	inv_diffuse_flops};

tg_node *tg_inv_diffuse(tg_graph *g, tg_node *residual, tg_node *uncertainty, double amount)
{
	if (!g || !residual || !uncertainty)
		return NULL;
	if (!isfinite(amount) || amount < 0)
		return tg_graph_fail(g, TG_ERR_ARG, "inv_diffuse: amount %g must be finite and >= 0", amount), NULL;
	tg_node *src[2] = {residual, uncertainty};
	for (int i = 0; i < 2 && src[i]; i++)
		if (src[i]->dtype == TG_F32)
			src[i] = tg_cast(g, src[i], TG_F64);
	tg_attrs at = {0};
	at.f[0] = amount;
	return src[0] && src[1] ? tg_node_new(g, &tg_op_inv_diffuse, 2, src, &at) : NULL;
}
