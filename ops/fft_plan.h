/*
** fft_plan.h: what the FFT ops (fft2, ifft2, rfft2, irfft2, diffuse, inv_diffuse) share: a
** process-wide cache of FFTW plans for one [nx, ny] item, the batched per-item kernels, and a
** cache of per-shape tables (diffusion kernels).
**
** Every transform runs in double precision (fftw_ plans): the golden PhiFlow physics widens even
** float32 input to complex128, so there is no float32 FFT path and the plan key is (kind, nx, ny).
** Plans are made once, under a mutex, with FFTW_ESTIMATE (no timing: reproducible bits), on
** 64-byte aligned arrays, and executed with the new-array functions on SIMD-aligned buffers only
** (fft_aligned); misaligned items are staged through aligned scratch.
**
** Batching: one parallel chunk per batch item, so results do not depend on the thread count.
*/
#ifndef TG_FFT_PLAN_H
#define TG_FFT_PLAN_H

#include "../engine/internal.h"

typedef enum fft_kind {
	FFT_C2C_FWD,  /* complex -> complex, exponent -i, unnormalised */
	FFT_C2C_BWD,  /* complex -> complex, exponent +i, unnormalised */
	FFT_R2C,      /* real [nx,ny] -> complex [nx,ny/2+1] */
	FFT_C2R       /* complex [nx,ny/2+1] -> real [nx,ny]; destroys its input */
} fft_kind;

typedef struct fft_plan fft_plan;

/* The cached out-of-place plan for one item; NULL with tg_set_error on failure. */
const fft_plan *fft_plan_get(fft_kind kind, int64_t nx, int64_t ny);
/* Executes p on one item; in and out must be fft_aligned and distinct. */
void fft_plan_run(const fft_plan *p, void *in, void *out);
/* Whether a buffer has the alignment the cached plans were made for. */
bool fft_aligned(const void *ptr);

/* Batched c2c kernel of fft2/ifft2: n = scale * F(src[0]) per item, scale = n->attr.f[0]. */
tg_status fft_c2c_forward(tg_exec *ex, tg_node *n, fft_kind kind);

/* FLOPs of transforming every [nx, ny] item of a signal of shape s: 5 N log2 N per complex
** item (the usual FFT count), half of that for a real signal. */
double fft_flops(tg_shape s, bool real_signal);

/* Internal constructors with an explicit scale / Hermitian-mask flag, used by the backward
** passes (the gradient of each variant is another variant, see the op files).
** rfft2_ex: y = scale * (postmask ? m : 1) * R(x); irfft2_ex: x = scale * C(premask ? H / m : H),
** with R the unnormalised half-spectrum DFT, C irfft2's real-linear map without its 1/N and m the
** Hermitian mask (fft_mask). */
tg_node *tg_fft2_scaled(tg_graph *g, tg_node *a, double scale);
tg_node *tg_ifft2_scaled(tg_graph *g, tg_node *a, double scale);
tg_node *tg_rfft2_ex(tg_graph *g, tg_node *a, double scale, bool postmask);
tg_node *tg_irfft2_ex(tg_graph *g, tg_node *a, int64_t ny, double scale, bool premask);

/* Checks the two trailing axes of an FFT op's input: at least 2 dims, X, Y >= 1, X*Y <= INT_MAX
** (FFTW takes int sizes). */
tg_status fft_check_shape(tg_graph *g, const tg_node *n, tg_shape s);
/* Items (product of the leading axes) and item sizes of [..., nx, ny]. */
void fft_dims(tg_shape s, int64_t *batch, int64_t *nx, int64_t *ny);

/* numpy.fft.fftfreq(n)[i] (cycles per cell): (i < (n+1)/2 ? i : i - n) * (1.0 / n). */
double fft_freq(int64_t i, int64_t n);

/* Hermitian mask of a half spectrum [nx, ny/2+1] of a real [nx, ny] signal: 1 at the DC column
** and (even ny) the Nyquist column, 2 elsewhere; only the last axis is halved. */
static inline double fft_mask(int64_t ky, int64_t ny) { return ky == 0 || 2 * ky == ny ? 1.0 : 2.0; }
/* Makes the DC and (even ny) Nyquist columns of a half spectrum h [nx, ny/2+1] Hermitian along
** x: h[kx] <- (h[kx] + conj(h[-kx])) / 2. FFTW's c2r then computes the real-linear map
** Re(sum over the half spectrum of w_k h_k e^{+2 pi i k.n/N}) (w = fft_mask) for any input. */
void fft_hermitianize(double *h, int64_t nx, int64_t ny);

/* A per-shape table of nx*(ny/2+1) doubles identified by (tag, nx, ny, param), filled once by
** fill(out, nx, ny, param) and cached for the process (tables are immutable once published).
** Never NULL: when the cache is full or out of memory, the table is filled into `fallback`
** (nx*(ny/2+1) doubles) and that is returned. */
typedef void (*fft_table_fill)(double *out, int64_t nx, int64_t ny, double param);
const double *fft_table_get(int tag, int64_t nx, int64_t ny, double param, fft_table_fill fill, double *fallback);

/* Bytes rounded up to the alignment, for per-item scratch layouts. */
static inline size_t fft_round(size_t bytes) { return (bytes + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN; }

#endif
