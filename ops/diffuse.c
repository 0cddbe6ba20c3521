/*
** diffuse.c: PhiFlow's diffuse.fourier(x, diffusivity, dt) on a periodic grid of unit cells,
** amount = diffusivity * dt = attr.f[0]:
**   y = Re(ifft2(fft2(x) * K)),  K = exp(-(2 pi)^2 (kx^2 + ky^2) * amount),  k = fftfreq(n),
** over the two trailing axes of x [..., X, Y] (f32 or f64; y f64), any X, Y.
** Fused kernel, one item per parallel chunk: r2c, multiply the half spectrum by K/N (cached per
** shape and amount), c2r. K is real and even (K(-k) = K(k)), so the product stays Hermitian and
** this equals PhiFlow's complex route (which widens x to complex128) up to round-off.
** Gradient: the operator is real, linear and symmetric (D^T = D), so gx = D(gy); the engine
** casts it to f32 for an f32 input.
*/
#include "fft_plan.h"
#include <math.h>
#include <string.h>

#define DIFFUSE_TABLE 1   /* fft_table_get tag */

/* K / N on the half spectrum [nx, ny/2+1], with PhiFlow's order of operations:
** fft_laplace = -(2 pi)^2 * (kx^2 + ky^2), K = exp(fft_laplace * amount). */
static void diffuse_fill(double *out, int64_t nx, int64_t ny, double amount)
{
	const double laplace = -(2.0 * M_PI) * (2.0 * M_PI), inv_n = 1.0 / ((double)nx * (double)ny);
	int64_t nh = ny / 2 + 1;
	for (int64_t kx = 0; kx < nx; kx++) {
		double fx = fft_freq(kx, nx);
		for (int64_t ky = 0; ky < nh; ky++) {
			double fy = fft_freq(ky, ny);
			out[kx * nh + ky] = exp(laplace * (fx * fx + fy * fy) * amount) * inv_n;
		}
	}
}

typedef struct diffuse_job {
	const fft_plan *r2c, *c2r;
	const void *x;
	bool x_f32;
	double *y;
	int64_t nx, ny;
	const double *kern;  /* K / N, [nx, ny/2+1] */
	char *scratch;       /* per item: spectrum, then (if staging) a real item */
	size_t spec_bytes, item_bytes;
	bool stage;
} diffuse_job;

static void diffuse_item(void *arg, int64_t b)
{
	diffuse_job *j = arg;
	int64_t nr = j->nx * j->ny, nh = j->ny / 2 + 1, nc = j->nx * nh;
	double *spec = (double *)(j->scratch + j->item_bytes * (size_t)b);
	double *real = j->stage ? (double *)((char *)spec + j->spec_bytes) : NULL;
	double *y = j->y + nr * b;
	const double *x;
	if (j->x_f32) {
		const float *xf = (const float *)j->x + nr * b;
		for (int64_t i = 0; i < nr; i++)
			real[i] = xf[i];
		x = real;
	} else {
		x = (const double *)j->x + nr * b;
		if (!fft_aligned(x)) {
			memcpy(real, x, sizeof(double) * (size_t)nr);
			x = real;
		}
	}
	fft_plan_run(j->r2c, (double *)(uintptr_t)x, spec);
	for (int64_t i = 0; i < nc; i++) {
		spec[2 * i] *= j->kern[i];
		spec[2 * i + 1] *= j->kern[i];
	}
	if (fft_aligned(y)) {
		fft_plan_run(j->c2r, spec, y);
	} else {
		fft_plan_run(j->c2r, spec, real);
		memcpy(y, real, sizeof(double) * (size_t)nr);
	}
}

/* Scratch layout: [fallback kernel table][B items of (spectrum, optional real item)]. */
static size_t diffuse_scratch_bytes(int64_t B, int64_t nx, int64_t ny, bool stage, size_t *spec_bytes, size_t *item_bytes)
{
	*spec_bytes = fft_round(2 * sizeof(double) * (size_t)(nx * (ny / 2 + 1)));
	*item_bytes = *spec_bytes + (stage ? fft_round(sizeof(double) * (size_t)(nx * ny)) : 0);
	return fft_round(sizeof(double) * (size_t)(nx * (ny / 2 + 1))) + *item_bytes * (size_t)B;
}

/* Runs the diffusion of B items; scratch from diffuse_scratch_bytes. */
static tg_status diffuse_run(tg_exec *ex, const void *x, bool x_f32, double *y, int64_t B, int64_t nx, int64_t ny,
	double amount, char *scratch, bool stage)
{
	const fft_plan *r2c = fft_plan_get(FFT_R2C, nx, ny), *c2r = fft_plan_get(FFT_C2R, nx, ny);
	if (!r2c || !c2r)
		return TG_ERR_NOMEM;
	diffuse_job j = {r2c, c2r, x, x_f32, y, nx, ny, NULL, NULL, 0, 0, stage};
	diffuse_scratch_bytes(B, nx, ny, stage, &j.spec_bytes, &j.item_bytes);
	size_t table_bytes = fft_round(sizeof(double) * (size_t)(nx * (ny / 2 + 1)));
	j.kern = fft_table_get(DIFFUSE_TABLE, nx, ny, amount, diffuse_fill, (double *)scratch);
	j.scratch = scratch + table_bytes;
	tg_parallel_for(ex, B, diffuse_item, &j);
	return TG_OK;
}

/* Items need a staging buffer for f32 input and for real items off SIMD alignment. */
static bool needs_stage(const void *x, bool x_f32, const double *y, int64_t B, int64_t nx, int64_t ny)
{
	return x_f32 || !fft_aligned(x) || !fft_aligned(y) || (B > 1 && (nx * ny) % 2);
}

static tg_status diffuse_infer(tg_graph *g, tg_node *n)
{
	tg_node *a = n->src[0];
	if (a->dtype != TG_F32 && a->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "input is %s %s; expected f32 or f64", tg_dtype_name(a->dtype), tg_sstr(a->shape));
	tg_status st = fft_check_shape(g, n, a->shape);
	if (st != TG_OK)
		return st;
	n->shape = a->shape;
	n->dtype = TG_F64;
	return TG_OK;
}

static tg_status diffuse_forward(tg_exec *ex, tg_node *n)
{
	tg_node *a = n->src[0];
	int64_t B, nx, ny;
	fft_dims(a->shape, &B, &nx, &ny);
	if (B == 0)
		return TG_OK;
	bool f32 = a->dtype == TG_F32, stage = needs_stage(a->data, f32, n->data, B, nx, ny);
	size_t spec_bytes, item_bytes;
	char *scratch = tg_exec_scratch(ex, diffuse_scratch_bytes(B, nx, ny, stage, &spec_bytes, &item_bytes));
	tg_status st = scratch ? diffuse_run(ex, a->data, f32, n->data, B, nx, ny, n->attr.f[0], scratch, stage) : TG_ERR_NOMEM;
	if (st != TG_OK)
		return tg_graph_fail(tg_exec_graph(ex), st, "diffuse: %s", scratch ? tg_last_error() : "out of memory for scratch");
	return TG_OK;
}

static tg_status diffuse_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)need;
	gin[0] = tg_diffuse(g, gout, n->attr.f[0]);
	return TG_OK;
}

/* r2c + c2r, and the kernel product on the half spectrum */
static double diffuse_flops(const tg_node *n) { return 2 * fft_flops(n->shape, true) + (double)tg_numel(n); }

/* INPLACE: each item is read into its spectrum before its output is written */
const tg_op tg_op_diffuse = {"diffuse", diffuse_infer, diffuse_forward, diffuse_backward, TG_OP_INPLACE, diffuse_flops};

tg_node *tg_diffuse(tg_graph *g, tg_node *x, double amount)
{
	if (!g || !x)
		return NULL;
	if (!isfinite(amount) || amount < 0)
		return tg_graph_fail(g, TG_ERR_ARG, "diffuse: amount %g must be finite and >= 0 (for the inverse see tg_inv_diffuse)",
			amount), NULL;
	tg_attrs at = {0};
	at.f[0] = amount;
	return tg_node_new(g, &tg_op_diffuse, 1, &x, &at);
}

tg_status tg_diffuse_compute(const double *x, double *y, int64_t batch, int64_t nx, int64_t ny, double amount)
{
	if (!x || !y || batch < 0 || nx < 1 || ny < 1 || nx > INT32_MAX / ny)
		return tg_set_error(TG_ERR_ARG, "tg_diffuse_compute: bad arguments (x %p, y %p, batch %lld, grid %lldx%lld)",
			(const void *)x, (void *)y, (long long)batch, (long long)nx, (long long)ny);
	if (!isfinite(amount) || amount < 0)
		return tg_set_error(TG_ERR_ARG, "tg_diffuse_compute: amount %g must be finite and >= 0", amount);
	if (batch == 0)
		return TG_OK;
	bool stage = needs_stage(x, false, y, batch, nx, ny);
	size_t spec_bytes, item_bytes, bytes = diffuse_scratch_bytes(batch, nx, ny, stage, &spec_bytes, &item_bytes);
	char *scratch = tg_malloc_aligned(bytes);
	if (!scratch)
		return tg_set_error(TG_ERR_NOMEM, "tg_diffuse_compute: out of memory for %zu bytes of scratch", bytes);
	tg_status st = diffuse_run(NULL, x, false, y, batch, nx, ny, amount, scratch, stage);
	tg_free_aligned(scratch);
	return st;
}
