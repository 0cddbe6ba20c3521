/*
** diffuse.c: PhiFlow's diffuse.fourier(x, diffusivity, dt) on a periodic grid of unit cells,
** amount = diffusivity * dt = attr.f[0]:
**   y = Re(ifft2(fft2(x) * K)),  K = exp(-(2 pi)^2 (kx^2 + ky^2) * amount),  k = fftfreq(n),
** over the two trailing axes of x [..., X, Y] (f32 or f64; y f64), any X, Y.
** Fused kernel, one item per parallel chunk. K is real and even (K(-k) = K(k)), so the product
** stays Hermitian and this equals PhiFlow's complex route (which widens x to complex128) up to
** round-off. Even Y (the seed's 64 x 64): the packed transform of fft_plan.h, a c2c forward of
** the item read as complex [X, Y/2], the two-coefficient filter (cached per shape and amount),
** a c2c backward straight into y. Odd Y: r2c, multiply the half spectrum by K/N (cached), c2r.
** Gradient: the operator is real, linear and symmetric (D^T = D), so gx = D(gy); the engine
** casts it to f32 for an f32 input.
*/
#include "fft_plan.h"
#include <math.h>
#include <string.h>

/* K at (kx, ky) of [nx, ny] with PhiFlow's order of operations: fft_laplace = -(2 pi)^2 *
** (kx^2 + ky^2), K = exp(fft_laplace * amount). Even in k bit for bit (fft_freq(-i) = -fft_freq(i)). */
static double diffuse_k(int64_t kx, int64_t nx, int64_t ky, int64_t ny, double amount)
{
	const double laplace = -(2.0 * M_PI) * (2.0 * M_PI);
	double fx = fft_freq(kx, nx), fy = fft_freq(ky, ny);
	return exp(laplace * (fx * fx + fy * fy) * amount);
}

/* Odd ny: K / N on the half spectrum [nx, ny/2+1]. */
static void half_fill(double *out, int64_t nx, int64_t ny, double amount)
{
	const double inv_n = 1.0 / ((double)nx * (double)ny);
	int64_t nh = ny / 2 + 1;
	for (int64_t kx = 0; kx < nx; kx++)
		for (int64_t ky = 0; ky < nh; ky++)
			out[kx * nh + ky] = diffuse_k(kx, nx, ky, ny, amount) * inv_n;
}

/* Even ny = 2m: the packed filter's a [nx, 2m] then b [nx, 2m], each bin's value twice
** (fft_packed_filter); Ka = K[kx][ky], Kb = K[kx][ky + m]. */
static void packed_fill(double *out, int64_t nx, int64_t ny, double amount)
{
	const double inv_n = 1.0 / ((double)nx * (double)ny);
	int64_t m = ny / 2, nr = nx * ny;
	for (int64_t ky = 0; ky < m; ky++) {
		double c, s;
		fft_packed_twiddle(ky, ny, &c, &s);
		for (int64_t kx = 0; kx < nx; kx++) {
			double a, b, ka = diffuse_k(kx, nx, ky, ny, amount), kb = diffuse_k(kx, nx, ky + m, ny, amount);
			fft_packed_coef(ka, kb, c, s, inv_n, &a, &b);
			int64_t d = kx * ny + 2 * ky;
			out[d] = out[d + 1] = a;
			out[nr + d] = out[nr + d + 1] = b;
		}
	}
}

static bool packed(int64_t ny) { return ny % 2 == 0; }

/* Doubles of the cached table of [nx, ny]. */
static size_t table_len(int64_t nx, int64_t ny)
{
	return packed(ny) ? 2 * (size_t)(nx * ny) : (size_t)(nx * (ny / 2 + 1));
}

typedef struct diffuse_job {
	const fft_plan *fwd, *bwd;  /* even ny: c2c [nx, ny/2] both ways; odd: r2c, c2r [nx, ny] */
	const void *x;
	bool x_f32;
	double *y;
	int64_t nx, ny;
	const double *tab;          /* table_len doubles: packed a, b or the half-spectrum K / N */
	fft_slots slots;            /* per slot: spectrum (twice if packed), then a staging item */
	size_t spec_bytes;
} diffuse_job;

/* Item b of x as aligned f64: x itself when it is, else converted / copied into stage. */
static const double *load_item(const diffuse_job *j, int64_t b, double *stage)
{
	int64_t nr = j->nx * j->ny;
	if (j->x_f32) {
		const float *xf = (const float *)j->x + nr * b;
		for (int64_t i = 0; i < nr; i++)
			stage[i] = xf[i];
		return stage;
	}
	const double *x = (const double *)j->x + nr * b;
	if (fft_aligned(x))
		return x;
	memcpy(stage, x, sizeof(double) * (size_t)nr);
	return stage;
}

/* Transforms item x into spec and back into out (aligned; may be x's staging copy, read first). */
static void diffuse_transform(const diffuse_job *j, const double *x, double *spec, double *out)
{
	int64_t nr = j->nx * j->ny;
	fft_plan_run(j->fwd, (double *)(uintptr_t)x, spec);
	if (packed(j->ny)) {
		double *zy = spec + nr;   /* complex [nx, ny/2] = nr doubles */
		fft_packed_filter(spec, zy, j->tab, j->tab + nr, j->nx, j->ny / 2);
		fft_plan_run(j->bwd, zy, out);
		return;
	}
	int64_t nc = j->nx * (j->ny / 2 + 1);
	for (int64_t i = 0; i < nc; i++) {
		spec[2 * i] *= j->tab[i];
		spec[2 * i + 1] *= j->tab[i];
	}
	fft_plan_run(j->bwd, spec, out);
}

static void diffuse_item(void *arg, int64_t b)
{
	diffuse_job *j = arg;
	int64_t nr = j->nx * j->ny;
	int slot;
	double *spec = (double *)fft_slot_take(&j->slots, &slot);
	double *stage = (double *)((char *)spec + j->spec_bytes);
	const double *x = load_item(j, b, stage);
	double *y = j->y + nr * b, *out = fft_aligned(y) ? y : stage;
	diffuse_transform(j, x, spec, out);
	if (out != y)
		memcpy(y, out, sizeof(double) * (size_t)nr);
	fft_slot_give(&j->slots, slot);
}

/* Bytes of one slot: the spectrum (packed: Z and Zy, nx*ny doubles each), then a staging item. */
static size_t slot_bytes(int64_t nx, int64_t ny, size_t *spec_bytes)
{
	size_t nr = (size_t)(nx * ny), nc = (size_t)(nx * (ny / 2 + 1));
	*spec_bytes = fft_round(sizeof(double) * (packed(ny) ? 2 * nr : 2 * nc));
	return *spec_bytes + fft_round(sizeof(double) * nr);
}

/* Scratch layout: [fallback table][nslots slots]. */
static size_t diffuse_scratch_bytes(int nslots, int64_t nx, int64_t ny)
{
	size_t spec_bytes;
	return fft_round(sizeof(double) * table_len(nx, ny)) + fft_slots_bytes(nslots, slot_bytes(nx, ny, &spec_bytes));
}

/* Runs the diffusion of B items; scratch of diffuse_scratch_bytes(nslots, nx, ny). */
static tg_status diffuse_run(tg_exec *ex, const void *x, bool x_f32, double *y, int64_t B, int64_t nx, int64_t ny,
	double amount, char *scratch, int nslots)
{
	fft_kind fk = packed(ny) ? FFT_C2C_FWD : FFT_R2C, bk = packed(ny) ? FFT_C2C_BWD : FFT_C2R;
	int64_t ty = packed(ny) ? ny / 2 : ny;
	const fft_plan *fwd = fft_plan_get(fk, nx, ty), *bwd = fft_plan_get(bk, nx, ty);
	if (!fwd || !bwd)
		return TG_ERR_NOMEM;
	diffuse_job j = {fwd, bwd, x, x_f32, y, nx, ny, NULL, {0}, 0};
	size_t len = table_len(nx, ny), table_bytes = fft_round(sizeof(double) * len);
	j.tab = fft_table_get(packed(ny) ? FFT_TABLE_DIFFUSE_PACKED : FFT_TABLE_DIFFUSE_HALF, nx, ny, amount, len,
		packed(ny) ? packed_fill : half_fill, (double *)scratch);
	fft_slots_init(&j.slots, scratch + table_bytes, nslots, slot_bytes(nx, ny, &j.spec_bytes));
	tg_parallel_for(ex, B, diffuse_item, &j);
	return TG_OK;
}

static tg_status diffuse_infer(tg_graph *g, tg_node *n)
{
	tg_node *a = n->src[0];
	return fft_infer_same_shape(g, n, a, a->dtype == TG_F32 || a->dtype == TG_F64, "f32 or f64", TG_F64);
}

static tg_status diffuse_forward(tg_exec *ex, tg_node *n)
{
	tg_node *a = n->src[0];
	int64_t B, nx, ny;
	fft_dims(a->shape, &B, &nx, &ny);
	if (B == 0)
		return TG_OK;
	int nslots = fft_slot_count(ex, B);
	char *scratch = tg_exec_scratch(ex, diffuse_scratch_bytes(nslots, nx, ny));
	tg_status st = scratch ? diffuse_run(ex, a->data, a->dtype == TG_F32, n->data, B, nx, ny, n->attr.f[0], scratch, nslots)
		: TG_ERR_NOMEM;
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

/* a forward and a backward real transform, and the kernel product on the spectrum */
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
	size_t bytes = diffuse_scratch_bytes(1, nx, ny);
	char *scratch = tg_malloc_aligned(bytes);
	if (!scratch)
		return tg_set_error(TG_ERR_NOMEM, "tg_diffuse_compute: out of memory for %zu bytes of scratch", bytes);
	tg_status st = diffuse_run(NULL, x, false, y, batch, nx, ny, amount, scratch, 1);
	tg_free_aligned(scratch);
	return st;
}
