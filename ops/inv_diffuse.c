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
** Implementation: the formulas run on the half spectrum [X, Y/2+1]; |amp|, log_k and so kernel
** are even in k, so amp * kernel is Hermitian and its inverse real. Even Y: the packed transform
** of fft_plan.h (c2c of the item read as complex [X, Y/2], the half spectrum unpacked bin by bin,
** exactly Hermitian on the DC and Nyquist columns; back through the two-coefficient filter). Odd
** Y: r2c, and c2r after symmetrising the DC/Nyquist columns. The full [X, Y] abs_amp, kernel and
** sig_prob are filled by the symmetry. Where |amp| is at FFT round-off p and kernel flip between
** FFT implementations (golden README); dx does not.
** Cost: everything that does not depend on the item (log_k, expected, exp(-log_k), exp(log_k)) is
** a cached table. A SIMD pass over |amp|^2 (no sqrt, division or exp) finds the bins whose
** likelihoods are exactly 0 or 1/2 and whose p is then 0, 1/2 or 1 (the bulk of a diffused
** residual's spectrum); only the others run the formulas, and there exps whose value is exact
** anyway are skipped. Every result is the formulas' bit for bit (test inv_diffuse_kernel_bits).
** The graph op returns dx only and is not differentiable (the SIP node uses it in a backward).
*/
#include "fft_plan.h"
#include <math.h>
#include <string.h>

#define LOG_KERNEL_CLAMP 88.0   /* floor(log(float32 max)) */
#define PRIOR 0.5               /* the seed's prior signal probability */

/* planes of the cached table, each [nx, ny/2+1] */
enum { T_LOG_K, T_EXPECTED, T_EXP_NEG, T_EXP_POS, T_INV_E2, T_PLANES };

static double laplace(int64_t kx, int64_t nx, int64_t ky, int64_t ny)
{
	double fx = fft_freq(kx, nx), fy = fft_freq(ky, ny);
	return -(2.0 * M_PI) * (2.0 * M_PI) * (fx * fx + fy * fy);
}

/* The item-independent values per half-spectrum bin, as the seed computes them: log_k,
** expected = X * exp(-log_k), exp(log_k * action) for action -1 and 1; and 1 / expected^2 for
** the fast pass (inf where expected^2 underflows: see fast_pass). */
static void inv_fill(double *out, int64_t nx, int64_t ny, double amount)
{
	int64_t nh = ny / 2 + 1, nc = nx * nh;
	for (int64_t kx = 0; kx < nx; kx++)
		for (int64_t ky = 0; ky < nh; ky++) {
			int64_t i = kx * nh + ky;
			double lk = laplace(kx, nx, ky, ny) * -amount;
			out[T_LOG_K * nc + i] = lk;
			out[T_EXPECTED * nc + i] = 1.0 * (double)nx * exp(-lk);
			out[T_EXP_NEG * nc + i] = exp(lk * -1.0);
			out[T_EXP_POS * nc + i] = exp(lk * 1.0);
			out[T_INV_E2 * nc + i] = 1.0 / (out[T_EXPECTED * nc + i] * out[T_EXPECTED * nc + i]);
		}
}

/* Per-slot scratch, offsets in doubles from the slot start: the spectrum (packed: Z, complex
** [nx, ny/2]; else the half spectrum), for the packed route Zy, the filter coefficients a, b and
** the unpacked half spectrum; then |v|^2, the kernel and the probability per half-spectrum bin,
** and a staging item. */
typedef struct inv_layout { size_t zy, coef, half, sq, kern, prob, stage, doubles; } inv_layout;

/* The offset of the next n doubles, kept aligned. */
static size_t take(size_t *at, size_t n)
{
	size_t off = *at, al = TG_ALIGN / sizeof(double);
	*at += (n + al - 1) / al * al;
	return off;
}

static inv_layout inv_slot_layout(int64_t nx, int64_t ny)
{
	size_t nr = (size_t)(nx * ny), nc = (size_t)(nx * (ny / 2 + 1)), at = 0;
	inv_layout l = {0};
	if (ny % 2 == 0) {
		take(&at, nr);    /* Z */
		l.zy = take(&at, nr);
		l.coef = take(&at, 2 * nr);
		l.half = take(&at, 2 * nc);
	} else {
		take(&at, 2 * nc);   /* the half spectrum, in place */
	}
	l.sq = take(&at, nc);
	l.kern = take(&at, nc);
	l.prob = take(&at, nc);
	l.stage = take(&at, nr);
	l.doubles = at;
	return l;
}

typedef struct inv_job {
	const fft_plan *fwd, *bwd;   /* even ny: c2c [nx, ny/2] both ways; odd: r2c, c2r [nx, ny] */
	const double *r, *u;
	int64_t nx, ny;
	const double *tab;           /* T_PLANES x [nx, ny/2+1] */
	const double *tw;            /* packed twiddles [ny/2][2] (fft_packed_twiddles) */
	double exp_zero_below, exp_one_above;
	double fast_zero, fast_one;  /* fast_pass's bounds on q^2 (see there) */
	tg_inv_diffuse_out out;
	fft_slots slots;
	inv_layout lay;
} inv_job;

/* exp(t) of a likelihood, t = -q^2/2 <= 0 (or NaN): the true value rounds to exactly 0 below -746
** and to exactly 1 above -2^-54, so a monotone exp returns those there and the call is skipped.
** Both ends are checked once per run on the library's exp (volatile: no compile-time folding);
** if either fails, every value goes through exp. fast_pass decides those cases from an estimate of
** q^2 within 1e-14 relative, so its bounds keep a 2^-20 relative margin. */
static void exp_cuts(inv_job *j)
{
	volatile double lo = -746.0, hi = -0x1p-54;
	bool zero_ok = exp(lo) == 0.0, one_ok = exp(hi) == 1.0;
	j->exp_zero_below = zero_ok ? lo : -INFINITY;
	j->exp_one_above = one_ok ? hi : INFINITY;
	j->fast_zero = zero_ok ? -2.0 * lo * (1 + 0x1p-20) : NAN;   /* NaN: no comparison holds */
	j->fast_one = one_ok ? -2.0 * hi * (1 - 0x1p-20) : NAN;
}

static inline double exp_neg(const inv_job *j, double t)
{
	return t < j->exp_zero_below ? 0.0 : t > j->exp_one_above ? 1.0 : exp(t);
}

/* The seed's kernel at half-spectrum bin i of amplitude amp, f = f_b; *p gets sig_prob. The table
** lookups equal exp(log_k * action) exactly for action -1 and 1 (and 1 = exp(0) for action 0). */
static inline double bin_kernel(const inv_job *j, int64_t nc, int64_t i, double amp, double f, double *p)
{
	double lk = j->tab[T_LOG_K * nc + i];
	double qs = amp / j->tab[T_EXPECTED * nc + i], qn = amp / f;
	double sl = exp_neg(j, -0.5 * (qs * qs)) * PRIOR;
	if (!isfinite(sl))
		sl = 0;
	double nl = exp_neg(j, -0.5 * (qn * qn)) * (1 - PRIOR);
	double den = sl + nl;
	*p = den == 0 ? 0 : sl / den;
	double action = (0.5 >= *p || *p >= 0.68) ? 2 * (*p - 0.5) : 0.0;
	if (action == -1.0)
		return j->tab[T_EXP_NEG * nc + i];
	if (action == 1.0)
		return j->tab[T_EXP_POS * nc + i];
	if (action == 0.0 && isfinite(lk))
		return 1.0;
	return exp(lk * action);
}

/* |re + i im|, as hypot: for operands whose squares neither overflow nor underflow (and whose
** ratio is within 2^54), Borges' corrected sqrt(x^2 + y^2) (C. F. Borges, "An Improved Algorithm
** for hypot(a, b)", 2019), which is correctly rounded in practice; glibc's hypot (2.35+) uses the
** same correction and matched it bit for bit on 2e8 random pairs. Inline it costs a sqrt and a
** division instead of a libm call (half the time of the whole op); the rest goes to hypot. */
static inline double amp_of(double re, double im)
{
	double x = fabs(re), y = fabs(im), ax = x < y ? y : x, ay = x < y ? x : y;
	if (!(ax <= 0x1p500 && ay >= 0x1p-500 && ay > ax * 0x1p-54))
		return hypot(re, im);
	double h = sqrt(ax * ax + ay * ay), t1, t2;
	if (h <= 2.0 * ay) {
		double d = h - ay;
		t1 = ax * (2.0 * d - ax);
		t2 = (d - 2.0 * (ax - ay)) * d;
	} else {
		double d = h - ax;
		t1 = 2.0 * d * (ax - 2.0 * ay);
		t2 = (4.0 * d - ay) * ay + d * d;
	}
	return h - (t1 + t2) / (2.0 * h);
}

/* Vectors of 4 doubles and their comparison masks (GCC and clang vector extensions); bit selects,
** so that no compiler turns them into branches. Macros, not functions: a 32-byte vector passed by
** value has another ABI without AVX (clang's -Wpsabi). */
typedef double v4d __attribute__((vector_size(4 * sizeof(double))));
typedef long long v4l __attribute__((vector_size(4 * sizeof(long long))));
#define SELECT4(m, a, b) ((v4d)(((v4l)(a) & (m)) | ((v4l)(b) & ~(m))))
#define LOAD4(v, p) memcpy(&(v), (p), sizeof(v4d))

/* The fast pass over n half-spectrum bins with sq = |v|^2 estimated as re^2 + im^2 (within 1e-15
** relative while it is a normal number, checked): qs^2 = sq / expected^2 and qn^2 = sq / f^2 are
** then known within 1e-14, enough to tell where the likelihoods are exactly 0 or 1/2 (exp_cuts)
** and p does not depend on their exact values:
**   sl = 0 (nl finite):                 p = 0 / nl or 0 (den = 0) = 0,  action -1, exp(-log_k)
**   nl = 0, sl > 0 (qs^2 <= 1400):      p = sl / sl = 1,                action 1,  exp(log_k)
**   sl = nl = 1/2:                      p = 1/2,                        action 0,  1 (finite log_k)
** k[i] gets the kernel and p[i] the probability; every other bin (and the last n % 4) gets
** k[i] = NaN for the exact path (bin_kernel). No sqrt, division, exp or branch.
** inv_f2 = 1/f^2 is NaN (all bins to the exact path) unless f is within [2^-500, 2^500]; an
** infinite 1/expected^2 (expected < 2^-511) decides sl = 0, right as qs > 2^31 for sq >= 2^-960. */
TG_CLONES static void fast_pass(const double *restrict sq, const double *restrict tab, int64_t n, double inv_f2, double zero,
	double one, double *restrict k, double *restrict p)
{
	const double *lk = tab + T_LOG_K * n, *em = tab + T_EXP_NEG * n, *ep = tab + T_EXP_POS * n, *ie2 = tab + T_INV_E2 * n;
	const v4d nan = {NAN, NAN, NAN, NAN}, ones = {1, 1, 1, 1}, zeros = {0, 0, 0, 0}, halves = {0.5, 0.5, 0.5, 0.5};
	int64_t i = 0;
	for (; i + 4 <= n; i += 4) {
		v4d s, l, e2, e_m, e_p;
		LOAD4(s, sq + i), LOAD4(l, lk + i), LOAD4(e2, ie2 + i), LOAD4(e_m, em + i), LOAD4(e_p, ep + i);
		v4d qs2 = s * e2, qn2 = s * inv_f2;
		v4l s0 = qs2 >= zero, n0 = (qn2 >= zero) & (qs2 <= 1400.0), half = (qs2 <= one) & (qn2 <= one) & (l - l == 0);
		v4l ok = (s >= 0x1p-960) & (s <= 0x1p1000) & (qn2 == qn2) & (s0 | n0 | half);
		v4d kv = SELECT4(ok, SELECT4(s0, e_m, SELECT4(n0, e_p, ones)), nan);
		v4d pv = SELECT4(s0, zeros, SELECT4(n0, ones, halves));
		memcpy(k + i, &kv, sizeof kv);
		memcpy(p + i, &pv, sizeof pv);
	}
	for (; i < n; i++)
		k[i] = NAN;
}

/* |v|^2 estimates re^2 + im^2 of n interleaved bins (fast_pass) */
TG_CLONES static void squares(const double *restrict v, double *restrict sq, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		sq[i] = v[2 * i] * v[2 * i] + v[2 * i + 1] * v[2 * i + 1];
}

/* Writes v at (kx, ky) of a full [nx, ny] array and, for interior columns, at the mirror (-kx, -ky). */
static inline void put_full(double *a, int64_t nx, int64_t ny, int64_t kx, int64_t ky, double v)
{
	a[kx * ny + ky] = v;
	if (ky != 0 && 2 * ky != ny)
		a[((nx - kx) % nx) * ny + (ny - ky)] = v;
}

/* sum u^2 over one item, in 8 lanes (a fixed order: the same bits for any thread count) */
TG_CLONES static double sum_squares(const double *u, int64_t n)
{
	v4d a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		v4d x0, x1;
		memcpy(&x0, u + i, sizeof x0);
		memcpy(&x1, u + i + 4, sizeof x1);
		a0 += x0 * x0;
		a1 += x1 * x1;
	}
	v4d a = a0 + a1;
	double s = (a[0] + a[1]) + (a[2] + a[3]);
	for (; i < n; i++)
		s += u[i] * u[i];
	return s;
}

/* The outputs other than dx of item b from the half spectrum v, its kernel and probabilities. */
static void inv_outputs(const inv_job *j, int64_t b, const double *v, const double *kern, const double *prob, double f)
{
	const tg_inv_diffuse_out *o = &j->out;
	int64_t nx = j->nx, ny = j->ny, nr = nx * ny, nh = ny / 2 + 1;
	double ksq = 0;   /* sum over the full grid of (f kernel)^2 */
	for (int64_t kx = 0; kx < nx; kx++)
		for (int64_t ky = 0; ky < nh; ky++) {
			int64_t i = kx * nh + ky;
			double fk = f * kern[i];
			ksq += (ky == 0 || 2 * ky == ny ? 1 : 2) * (fk * fk);
			if (o->abs_amp)
				put_full(o->abs_amp + nr * b, nx, ny, kx, ky, amp_of(v[2 * i], v[2 * i + 1]));
			if (o->kernel)
				put_full(o->kernel + nr * b, nx, ny, kx, ky, kern[i]);
			if (o->sig_prob)
				put_full(o->sig_prob + nr * b, nx, ny, kx, ky, prob[i]);
		}
	if (o->f_uncertainty)
		o->f_uncertainty[b] = f;
	if (o->uncertainty)
		o->uncertainty[b] = sqrt(ksq) / (double)nx;
}

/* The half-spectrum pass of item b: kernel and p per bin (fast_pass, then the exact path where it
** did not decide) into the slot's arrays, the outputs other than dx, and for odd ny the kernel
** applied to the half spectrum in place (the packed route applies it in its filter). */
static void inv_spectrum(const inv_job *j, int64_t b, double *slot)
{
	const tg_inv_diffuse_out *o = &j->out;
	int64_t nx = j->nx, ny = j->ny, nr = nx * ny, nh = ny / 2 + 1, nc = nx * nh;
	bool packed = ny % 2 == 0;
	const double f = sqrt(sum_squares(j->u + nr * b, nr)), inv_n = 1.0 / (double)nr;
	const double inv_f2 = f >= 0x1p-500 && f <= 0x1p500 ? 1.0 / (f * f) : NAN;
	double *v = packed ? slot + j->lay.half : slot, *kern = slot + j->lay.kern, *prob = slot + j->lay.prob;
	for (int64_t kx = 0; packed && kx < nx; kx++)
		fft_packed_unpack_row(slot, nx, ny / 2, kx, j->tw, v + 2 * kx * nh);
	squares(v, slot + j->lay.sq, nc);
	fast_pass(slot + j->lay.sq, j->tab, nc, inv_f2, j->fast_zero, j->fast_one, kern, prob);
	for (int64_t i = 0; i < nc; i++)
		if (isnan(kern[i]))
			kern[i] = bin_kernel(j, nc, i, amp_of(v[2 * i], v[2 * i + 1]), f, &prob[i]);
	if (o->abs_amp || o->kernel || o->sig_prob || o->uncertainty || o->f_uncertainty)
		inv_outputs(j, b, v, kern, prob, f);
	for (int64_t i = 0; !packed && i < nc; i++) {
		v[2 * i] *= kern[i] * inv_n;
		v[2 * i + 1] *= kern[i] * inv_n;
	}
}

/* One row of the filter coefficients (fft_packed_coef, each twice) from the kernel row K[kx] and
** the mirror row K[-kx] of the half spectrum: for ky >= 1 Kb = K[kx][ky + m] is the mirror of the
** half-spectrum bin (-kx, m - ky); for ky = 0 it is the Nyquist bin (kx, m). */
TG_CLONES static void coef_row(const double *restrict row, const double *restrict mirror, const double *restrict tw,
	double inv_n, double *restrict a, double *restrict b, int64_t m)
{
	double ca, cb;
	fft_packed_coef(row[0], row[m], tw[0], tw[1], inv_n, &ca, &cb);
	a[0] = a[1] = ca;
	b[0] = b[1] = cb;
	for (int64_t ky = 1; ky < m; ky++) {
		fft_packed_coef(row[ky], mirror[m - ky], tw[2 * ky], tw[2 * ky + 1], inv_n, &ca, &cb);
		a[2 * ky] = a[2 * ky + 1] = ca;
		b[2 * ky] = b[2 * ky + 1] = cb;
	}
}

/* Packed route back: the coefficients a, b [nx, ny] of the filter for the half-spectrum kernel. */
static void inv_packed_coefs(const inv_job *j, const double *kern, double *a, double *b)
{
	int64_t nx = j->nx, ny = j->ny, m = ny / 2, nh = m + 1;
	const double inv_n = 1.0 / ((double)nx * (double)ny);
	for (int64_t kx = 0; kx < nx; kx++)
		coef_row(kern + kx * nh, kern + ((nx - kx) % nx) * nh, j->tw, inv_n, a + kx * ny, b + kx * ny, m);
}

static void inv_item(void *arg, int64_t b)
{
	inv_job *j = arg;
	int64_t nx = j->nx, ny = j->ny, nr = nx * ny;
	int slot;
	double *spec = (double *)fft_slot_take(&j->slots, &slot), *stage = spec + j->lay.stage;
	const double *r = j->r + nr * b;
	if (!fft_aligned(r)) {
		memcpy(stage, r, sizeof(double) * (size_t)nr);
		r = stage;
	}
	fft_plan_run(j->fwd, (double *)(uintptr_t)r, spec);
	inv_spectrum(j, b, spec);
	double *dx = j->out.dx ? j->out.dx + nr * b : NULL, *out = dx && fft_aligned(dx) ? dx : stage;
	if (dx && ny % 2 == 0) {
		double *zy = spec + j->lay.zy, *a = spec + j->lay.coef;
		inv_packed_coefs(j, spec + j->lay.kern, a, a + nr);
		fft_packed_filter(spec, zy, a, a + nr, nx, ny / 2);
		fft_plan_run(j->bwd, zy, out);
	} else if (dx) {
		fft_hermitianize(spec, nx, ny);
		fft_plan_run(j->bwd, spec, out);
	}
	if (dx && out != dx)
		memcpy(dx, out, sizeof(double) * (size_t)nr);
	fft_slot_give(&j->slots, slot);
}

/* Scratch layout: [fallback table][twiddles][nslots slots]. */
static size_t inv_table_len(int64_t nx, int64_t ny) { return T_PLANES * (size_t)(nx * (ny / 2 + 1)); }
static size_t inv_tw_bytes(int64_t ny) { return fft_round(sizeof(double) * 2 * (size_t)(ny / 2)); }

static size_t inv_scratch_bytes(int nslots, int64_t nx, int64_t ny)
{
	return fft_round(sizeof(double) * inv_table_len(nx, ny)) + inv_tw_bytes(ny) +
		fft_slots_bytes(nslots, sizeof(double) * inv_slot_layout(nx, ny).doubles);
}

static tg_status inv_run(tg_exec *ex, const double *r, const double *u, int64_t B, int64_t nx, int64_t ny, double amount,
	const tg_inv_diffuse_out *out, char *scratch, int nslots)
{
	bool packed = ny % 2 == 0;
	int64_t ty = packed ? ny / 2 : ny;
	const fft_plan *fwd = fft_plan_get(packed ? FFT_C2C_FWD : FFT_R2C, nx, ty);
	const fft_plan *bwd = fft_plan_get(packed ? FFT_C2C_BWD : FFT_C2R, nx, ty);
	if (!fwd || !bwd)
		return TG_ERR_NOMEM;
	inv_job j = {.fwd = fwd, .bwd = bwd, .r = r, .u = u, .nx = nx, .ny = ny, .out = *out, .lay = inv_slot_layout(nx, ny)};
	size_t len = inv_table_len(nx, ny), table_bytes = fft_round(sizeof(double) * len);
	j.tab = fft_table_get(FFT_TABLE_INV, nx, ny, amount, len, inv_fill, (double *)scratch);
	double *tw = (double *)(scratch + table_bytes);
	fft_packed_twiddles(tw, ny);
	j.tw = tw;
	exp_cuts(&j);
	fft_slots_init(&j.slots, scratch + table_bytes + inv_tw_bytes(ny), nslots, sizeof(double) * j.lay.doubles);
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
	size_t bytes = inv_scratch_bytes(1, nx, ny);
	char *scratch = tg_malloc_aligned(bytes);
	if (!scratch)
		return tg_set_error(TG_ERR_NOMEM, "tg_inv_diffuse_compute: out of memory for %zu bytes of scratch", bytes);
	tg_status st = inv_run(NULL, residual, uncertainty, batch, nx, ny, amount, out, scratch, 1);
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
	return fft_infer_same_shape(g, n, r, true, "f64", TG_F64);
}

static tg_status inv_diffuse_forward(tg_exec *ex, tg_node *n)
{
	int64_t B, nx, ny;
	fft_dims(n->shape, &B, &nx, &ny);
	if (B == 0)
		return TG_OK;
	const double *r = n->src[0]->data, *u = n->src[1]->data;
	tg_inv_diffuse_out out = {.dx = n->data};
	int nslots = fft_slot_count(ex, B);
	char *scratch = tg_exec_scratch(ex, inv_scratch_bytes(nslots, nx, ny));
	tg_status st = scratch ? inv_run(ex, r, u, B, nx, ny, n->attr.f[0], &out, scratch, nslots) : TG_ERR_NOMEM;
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
