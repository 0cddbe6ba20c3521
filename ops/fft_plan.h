/*
** fft_plan.h: what the FFT ops (fft2, ifft2, rfft2, irfft2, diffuse, inv_diffuse) share: a
** process-wide cache of FFTW plans for one [nx, ny] item, the batched per-item kernels, a cache
** of per-shape tables (diffusion kernels), per-thread scratch slots and the packed real transform.
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
#include <math.h>
#include <stdatomic.h>

/* No FMA contraction of a*b + c in the FFT ops, including this header's inline functions and the
** SIMD clones (clang contracts within expressions when the target has FMA; GCC does not under
** -std=c11): the same bits on every machine and clone. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

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
/* The end of the inference of the ops whose output has their input's shape (fft2, ifft2, diffuse,
** inv_diffuse): unless dtype_ok fails with "<op>: input is <dtype> <shape>; expected <expected>",
** then checks the shape (fft_check_shape) and gives n a's shape and dtype out. */
tg_status fft_infer_same_shape(tg_graph *g, tg_node *n, const tg_node *a, bool dtype_ok, const char *expected,
	tg_dtype out);
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

/* A per-shape table of len doubles identified by (tag, nx, ny, param), filled once by
** fill(out, nx, ny, param) and cached for the process (tables are immutable once published); the
** tag fixes the layout, so len is a function of (tag, nx, ny). Never NULL: when the cache is full
** or out of memory, the table is filled into `fallback` (len doubles) and that is returned. */
typedef void (*fft_table_fill)(double *out, int64_t nx, int64_t ny, double param);
enum { FFT_TABLE_DIFFUSE_HALF = 1, FFT_TABLE_DIFFUSE_PACKED, FFT_TABLE_INV };   /* tags */
const double *fft_table_get(int tag, int64_t nx, int64_t ny, double param, size_t len, fft_table_fill fill,
	double *fallback);

/* Scratch slots: tg_parallel_for runs at most tg_exec_threads(ex) chunks at once, so a batched
** kernel needs scratch for that many chunks, not for every item; a running chunk takes a free
** slot and gives it back. The slots hold temporaries only, so results do not depend on which
** slot a chunk gets, and the few slots stay in cache across items. */
typedef struct fft_slots {
	atomic_int *busy;   /* n flags */
	char *base;         /* n slots of `bytes` (a multiple of the alignment) */
	size_t bytes;
	int n;
} fft_slots;
/* Slots for a batch of `chunks` chunks run by ex (n = min(threads, chunks)). */
int fft_slot_count(tg_exec *ex, int64_t chunks);
/* Bytes of n slots of slot_bytes each, with their flags; fft_slots_init lays them out in mem
** (aligned, that many bytes). */
size_t fft_slots_bytes(int n, size_t slot_bytes);
void fft_slots_init(fft_slots *s, void *mem, int n, size_t slot_bytes);
char *fft_slot_take(fft_slots *s, int *id);
void fft_slot_give(fft_slots *s, int id);

/* ---------------------------------------------------------------- packed real transforms
** For even ny = 2m, a real item v [nx, ny] is, in memory, the complex item z [nx, m] with
** z[x][j] = v[x][2j] + i v[x][2j+1]. One c2c transform Z = F(z) of that half-size item (FFTW's
** SIMD codelets on both axes; its r2c of the full item runs scalar codelets on the rows, about
** twice as slow) holds the whole spectrum V of v: for k = (kx, ky), ky < m, and its mirror
** -k = (-kx mod nx, -ky mod m),
**   E = (Z[k] + conj Z[-k]) / 2,  O = (Z[k] - conj Z[-k]) / 2i    (spectra of even, odd columns)
**   V[kx][ky] = E + w^ky O,  V[kx][ky + m] = E - w^ky O,            w = e^{-2 pi i / ny}.
** Going back, y = F^-1(K V) / N (N = nx ny) with a real even filter K (K(-k) = K(k), so K V is
** Hermitian and y real) is the complex item zy = F^H(Zy) [nx, m] (unnormalised c2c backward)
** with, per bin, only two real coefficients (Ka = K[kx][ky], Kb = K[kx][ky+m], theta = 2 pi ky/ny):
**   Zy[k] = a Z[k] + i b conj Z[-k],  a = (Ka + Kb - (Ka - Kb) sin theta) / N,
**                                     b = (Ka - Kb) cos theta / N.
** This is exact algebra (E, O, the pairing of V[ky] with V[ky + m] and 1/N folded into a, b), so
** it agrees with the r2c / c2r route up to round-off. */

/* The coefficients of one bin (see above); inv_n = 1/N. */
static inline void fft_packed_coef(double ka, double kb, double cos_t, double sin_t, double inv_n, double *a, double *b)
{
	double sum = ka + kb, diff = ka - kb;
	*a = (sum - diff * sin_t) * inv_n;
	*b = diff * cos_t * inv_n;
}
/* cos and sin of theta = 2 pi ky / ny. */
static inline void fft_packed_twiddle(int64_t ky, int64_t ny, double *cos_t, double *sin_t)
{
	double t = 2.0 * M_PI * (double)ky / (double)ny;
	*cos_t = cos(t);
	*sin_t = sin(t);
}
/* The twiddles of every column: tw[2 ky], tw[2 ky + 1] = cos, sin theta, ky in [0, ny/2). */
void fft_packed_twiddles(double *tw, int64_t ny);
/* The half-spectrum row V[kx][0..m] (m + 1 bins, interleaved doubles; ky = m is the Nyquist
** column V[kx][m] = E - O at ky = 0) of the packed spectrum z [nx, m], tw from
** fft_packed_twiddles. Exactly Hermitian where the half spectrum holds a bin and its mirror (the
** DC and Nyquist columns): V(-kx, ky) = conj V(kx, ky) bit for bit. */
void fft_packed_unpack_row(const double *z, int64_t nx, int64_t m, int64_t kx, const double *tw, double *v);
/* Zy = a Z + i b conj Z[-k] over the packed spectrum z [nx, m] -> zy (distinct buffers). a and b
** are [nx, 2m]: each bin's coefficient twice (for its real and imaginary double), so the rows run
** as straight SIMD loops over doubles. */
void fft_packed_filter(const double *z, double *zy, const double *a, const double *b, int64_t nx, int64_t m);

/* Bytes rounded up to the alignment, for per-item scratch layouts. */
static inline size_t fft_round(size_t bytes) { return (bytes + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN; }

#endif
