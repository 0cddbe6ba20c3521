/*
** conv2d_winograd.c: Winograd F(2x2, 3x3) float32 kernels for the forward and backward-data
** convolutions of ops/conv2d.c (3x3 kernels, stride 1; see conv2d.h), chosen at run time when the
** CPU has AVX-512F. Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016):
** a 2x2 output tile of one channel pair is A^T [(G g G^T) .* (B^T d B)] A for its 4x4 input patch d
** and 3x3 kernel g, 16 multiplications instead of 36. Per channel pair the 4x4 transformed kernel
** U = G g G^T is packed once; per tile the transformed input V = B^T d B is shared by all output
** channels, so the work is 16 independent [O x C] x [C x tiles] products plus the transforms:
** about 2.25x fewer multiplications than the direct kernels (ops/conv2d_direct.c).
**
** A chunk is a band of output rows (an even number, but the image's last) of one image. It copies
** its input rows into a zero-padded band [C][rows+2][Wp] as the direct kernels do. Then, per tile
** row (2 output rows) and per group of 16 tiles (32 output columns, the tiles in the lanes):
**   1. V[xi][c] = B^T d B for every input channel c (xi = 4*i + j: 16 vectors of 16 tiles);
**   2. M[xi][o] = sum_c U[xi][c][o] V[xi][c] (16 accumulators of 16 output channels per xi);
**   3. y = A^T M A + bias, the tile's two columns interleaved into the output rows (streamed:
**      non-temporal stores where the vectors are whole and aligned).
** V and M live in the chunk's workspace, in L1/L2. Lanes past Wo and a row past Ho are computed
** and not stored. Every value is computed by one fixed sequence of operations, whatever the thread
** count. Rounding differs from the direct kernels by the transforms (coefficients 1/2 and +-1; a
** few ulps of the sum of |terms|: see the tests).
*/
#include "conv2d.h"

#if CONV_DIRECT
#include <immintrin.h>
#include <string.h>
#include <stdint.h>

#define WINO __attribute__((target("avx512f,fma")))
#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 32")
#endif

static int wino_mode = 1; /* 0 off, 1 where it pays (conv_wino_usable), 2 wherever it applies (tests) */

void conv2d_set_winograd(int mode) { wino_mode = mode; }

/* Layout of the band: width Wp (the last group's loads reach 32*ng + 17), plane [rows+2][Wp]. */
typedef struct wlayout { int64_t ng, Wp, plane, Opad; } wlayout;

static wlayout wlayout_of(const conv_geom *q)
{
	wlayout l;
	l.ng = (q->Wo + 31) / 32;
	l.Wp = 32 * l.ng + 32;
	l.plane = (q->rows + (q->rows & 1) + 2) * l.Wp;
	l.Opad = (q->O + 15) / 16 * 16;
	return l;
}

bool conv_wino_usable(const conv_geom *q, bool weight_grad)
{
	if (q->es != sizeof(float) || q->KH != 3 || q->KW != 3 || !wino_mode || !conv_direct_usable(q) ||
		q->C * wlayout_of(q).plane >= INT32_MAX)
		return false;
	if (wino_mode == 2)
		return true;
	/* Tiles past Wo waste lanes: below 9/10 of them used, or for small images, the direct kernels
	** win (measured at 16 channels, batch 128: forward and backward-data 12% faster at widths 32, 64
	** and 128, no faster at 48; the weight gradient 3% faster from 64 on, slower at 32 and 48). */
	int64_t ng = wlayout_of(q).ng;
	return q->Ho >= 8 && 10 * q->Wo >= 9 * 32 * ng && (!weight_grad || ng >= 2);
}

size_t conv_wino_pack_bytes(const conv_geom *q)
{
	return sizeof(float) * (size_t)(16 * q->C + 1) * (size_t)wlayout_of(q).Opad;
}

/* Workspace of a chunk: the band, V [16][C][2][16] and M [16][Opad][2][16]. */
size_t conv_wino_slot_bytes(const conv_geom *q)
{
	wlayout l = wlayout_of(q);
	return sizeof(float) * (size_t)(q->C * l.plane + 32 * 16 * (q->C + l.Opad));
}

/* U[xi][c][o] = (G g G^T)[i][j] (xi = 4*i + j) for the 3x3 kernel g of output o, input c, computed
** in double and rounded once; then bias [Opad]. flip: w is [C_fwd = q->O][O_fwd = q->C][3][3] of the
** forward convolution and g is its flipped transpose (backward-data). */
void conv_wino_pack(const conv_geom *q, const float *w, bool flip, const float *bias, void *pack)
{
	static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
	wlayout l = wlayout_of(q);
	float *U = pack, *b = U + 16 * q->C * l.Opad;
	memset(U, 0, sizeof(float) * (size_t)(16 * q->C * l.Opad));
	for (int64_t o = 0; o < q->O; o++)
		for (int64_t c = 0; c < q->C; c++) {
			double g[3][3], gg[4][3];
			for (int kh = 0; kh < 3; kh++)
				for (int kw = 0; kw < 3; kw++)
					g[kh][kw] = flip ? w[((c * q->O + o) * 3 + 2 - kh) * 3 + 2 - kw] : w[((o * q->C + c) * 3 + kh) * 3 + kw];
			for (int i = 0; i < 4; i++)
				for (int kw = 0; kw < 3; kw++)
					gg[i][kw] = G[i][0] * g[0][kw] + G[i][1] * g[1][kw] + G[i][2] * g[2][kw];
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++)
					U[((4 * i + j) * q->C + c) * l.Opad + o] =
						(float)(gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2]);
		}
	for (int64_t o = 0; o < l.Opad; o++)
		b[o] = bias && o < q->O ? bias[o] : 0.0f;
}

static void band_fill(const conv_geom *q, const wlayout *l, const float *img, int64_t r0, int64_t nrows, float *band,
	const conv_prologue *pro)
{
	conv_band_fill(q, img, r0, nrows, l->Wp, l->plane, band, pro);
}

WINO static inline __m512 alignr1(__m512 hi, __m512 lo)
{
	return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(hi), _mm512_castps_si512(lo), 1));
}

/* V[xi][c] (at V + xi*sxi + c*sc) for the 16 tiles whose 4x4 patches start at p (band row, column
** 32g) of each channel. */
WINO static void input_transform(const float *p, int64_t C, int64_t plane, int64_t Wp, float *V, int64_t sxi,
	int64_t sc)
{
	const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
	for (int64_t c = 0; c < C; c++, p += plane) {
		__m512 t[4][4];
		UNROLL
		for (int i = 0; i < 4; i++) { /* d_j = x[2t + j]; t = d B */
			const float *r = p + i * Wp;
			__m512 a = _mm512_loadu_ps(r), b = _mm512_loadu_ps(r + 16);
			__m512 d0 = _mm512_permutex2var_ps(a, even, b), d1 = _mm512_permutex2var_ps(a, odd, b);
			__m512 d2 = alignr1(_mm512_loadu_ps(r + 32), d0), d3 = alignr1(_mm512_loadu_ps(r + 33), d1);
			t[i][0] = _mm512_sub_ps(d0, d2);
			t[i][1] = _mm512_add_ps(d1, d2);
			t[i][2] = _mm512_sub_ps(d2, d1);
			t[i][3] = _mm512_sub_ps(d1, d3);
		}
		UNROLL
		for (int j = 0; j < 4; j++) { /* V = B^T t */
			_mm512_store_ps(V + (0 + j) * sxi + c * sc, _mm512_sub_ps(t[0][j], t[2][j]));
			_mm512_store_ps(V + (4 + j) * sxi + c * sc, _mm512_add_ps(t[1][j], t[2][j]));
			_mm512_store_ps(V + (8 + j) * sxi + c * sc, _mm512_sub_ps(t[2][j], t[1][j]));
			_mm512_store_ps(V + (12 + j) * sxi + c * sc, _mm512_sub_ps(t[1][j], t[3][j]));
		}
	}
}

/* M[xi][o][k] = sum_c U[xi][c][o] V[xi][c][k] for output channels [og, og+8) and both slots k:
** per c, 2 loads and 8 broadcasts for 16 FMAs. */
WINO static void multiply2(const float *U, const float *V, int64_t C, int64_t Opad, int64_t og, float *M)
{
	for (int xi = 0; xi < 16; xi++) {
		const float *u = U + xi * C * Opad + og, *v = V + xi * C * 32;
		__m512 a0[8], a1[8];
		UNROLL
		for (int o = 0; o < 8; o++)
			a0[o] = a1[o] = _mm512_setzero_ps();
		for (int64_t c = 0; c < C; c++) {
			__m512 x0 = _mm512_load_ps(v + c * 32), x1 = _mm512_load_ps(v + c * 32 + 16);
			const float *uc = u + c * Opad;
			UNROLL
			for (int o = 0; o < 8; o++) {
				__m512 b = _mm512_set1_ps(uc[o]);
				a0[o] = _mm512_fmadd_ps(b, x0, a0[o]);
				a1[o] = _mm512_fmadd_ps(b, x1, a1[o]);
			}
		}
		float *m = M + (xi * Opad + og) * 32;
		UNROLL
		for (int o = 0; o < 8; o++) {
			_mm512_store_ps(m + o * 32, a0[o]);
			_mm512_store_ps(m + o * 32 + 16, a1[o]);
		}
	}
}

/* The same for slot 0 alone, output channels [og, og+16). */
WINO static void multiply1(const float *U, const float *V, int64_t C, int64_t Opad, int64_t og, float *M)
{
	for (int xi = 0; xi < 16; xi++) {
		const float *u = U + xi * C * Opad + og, *v = V + xi * C * 32;
		__m512 acc[16];
		UNROLL
		for (int o = 0; o < 16; o++)
			acc[o] = _mm512_setzero_ps();
		for (int64_t c = 0; c < C; c++) {
			__m512 x = _mm512_load_ps(v + c * 32);
			const float *uc = u + c * Opad;
			UNROLL
			for (int o = 0; o < 16; o++)
				acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(uc[o]), x, acc[o]);
		}
		UNROLL
		for (int o = 0; o < 16; o++)
			_mm512_store_ps(M + (xi * Opad + og + o) * 32, acc[o]);
	}
}

/* y = A^T M A + bias for output channels [0, O) of slot k (M points at it); y at the tile row's first
** output pixel of the group (channel stride HWo, row stride Wo); nrow: 1 or 2 rows to store, ncol:
** columns. */
WINO static void output_transform(const float *M, const float *bias, int64_t O, int64_t Opad, float *y, int64_t HWo,
	int64_t Wo, int nrow, int64_t ncol)
{
	const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
	const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
	__mmask16 m0 = conv_lanes(ncol), m1 = conv_lanes(ncol - 16);
	/* Full aligned vectors are streamed past the caches: no read for ownership of lines the output
	** overwrites whole, no eviction of the image being read (-9% time at one thread, -7% at two;
	** 16 channels, 64x64, batch 128). */
	bool stream = ((uintptr_t)y & 63) == 0 && (Wo & 15) == 0 && (HWo & 15) == 0;
	for (int64_t o = 0; o < O; o++) {
		__m512 s[4][2];
		UNROLL
		for (int i = 0; i < 4; i++) { /* s = M A */
			const float *m = M + (4 * i * Opad + o) * 32;
			__m512 a = _mm512_load_ps(m), b = _mm512_load_ps(m + Opad * 32), c = _mm512_load_ps(m + 2 * Opad * 32),
			       d = _mm512_load_ps(m + 3 * Opad * 32);
			s[i][0] = _mm512_add_ps(_mm512_add_ps(a, b), c);
			s[i][1] = _mm512_sub_ps(_mm512_sub_ps(b, c), d);
		}
		__m512 bo = _mm512_set1_ps(bias[o]);
		float *yo = y + o * HWo;
		UNROLL
		for (int r = 0; r < 2; r++) { /* row r of A^T s */
			if (r >= nrow)
				break;
			__m512 e = r ? _mm512_sub_ps(_mm512_sub_ps(s[1][0], s[2][0]), s[3][0])
				     : _mm512_add_ps(_mm512_add_ps(s[0][0], s[1][0]), s[2][0]);
			__m512 f = r ? _mm512_sub_ps(_mm512_sub_ps(s[1][1], s[2][1]), s[3][1])
				     : _mm512_add_ps(_mm512_add_ps(s[0][1], s[1][1]), s[2][1]);
			e = _mm512_add_ps(e, bo);
			f = _mm512_add_ps(f, bo);
			float *p = yo + r * Wo;
			if (stream && m1 == 0xFFFF) {
				_mm512_stream_ps(p, _mm512_permutex2var_ps(e, lo, f));
				_mm512_stream_ps(p + 16, _mm512_permutex2var_ps(e, hi, f));
			} else {
				_mm512_mask_storeu_ps(p, m0, _mm512_permutex2var_ps(e, lo, f));
				_mm512_mask_storeu_ps(p + 16, m1, _mm512_permutex2var_ps(e, hi, f));
			}
		}
	}
}

void conv_wino_rows(const conv_geom *q, const void *pack, const float *img, float *y, int64_t r0, int64_t nr,
	float *slot, const conv_next *next, const conv_prologue *pro)
{
	wlayout l = wlayout_of(q);
	const float *U = pack, *bias = U + 16 * q->C * l.Opad;
	int64_t HWo = q->Ho * q->Wo, ntr = (nr + 1) / 2, units = ntr * l.ng;
	float *band = slot, *V = band + q->C * l.plane, *M = V + 32 * 16 * q->C;
	band_fill(q, &l, img, r0, 2 * ntr + 2, band, pro);
	/* a unit is (tile row, group); units go two by two through the multiplication */
	int64_t nnext = next->img ? (q->rows < q->Ho - next->r0 ? q->rows : q->Ho - next->r0) + 2 : 0;
	for (int64_t u = 0; u < units; u += 2) {
		int nu = units - u >= 2 ? 2 : 1;
		conv_prefetch_rows(q, next->img, next->r0 - q->ph, nnext, u / 2, (units + 1) / 2);
		for (int k = 0; k < nu; k++)
			input_transform(band + 2 * ((u + k) / l.ng) * l.Wp + 32 * ((u + k) % l.ng), q->C, l.plane, l.Wp,
				V + 16 * k, 32 * q->C, 32);
		for (int64_t og = 0; og < l.Opad; og += nu == 2 ? 8 : 16)
			(nu == 2 ? multiply2 : multiply1)(U, V, q->C, l.Opad, og, M);
		for (int k = 0; k < nu; k++) {
			int64_t tr = (u + k) / l.ng, g = (u + k) % l.ng;
			output_transform(M + 16 * k, bias, q->O, l.Opad, y + (r0 + 2 * tr) * q->Wo + 32 * g, HWo, q->Wo,
				nr - 2 * tr >= 2 ? 2 : 1, q->Wo - 32 * g);
		}
	}
	_mm_sfence(); /* the streamed stores are weakly ordered: done before the chunk is */
}

/* ---------------------------------------------------------------- weight gradient */

/* By the transposition principle the weight gradient of F(2x2, 3x3) is
**   dW = Gs^T [ sum over tiles (A' dY A'^T) .* (B^T d B) ] Gs,
** A' = [[1,0],[1,1],[1,-1],[0,1]] (A with its last row's sign moved into Gs = G with row 3
** negated), d the tile's 4x4 input patch (V, as in the forward), dY its 2x2 output gradient. The
** sum over tiles is 16 products [O x tiles] x [tiles x C], done block by block (up to 256 tiles,
** a band of tile rows; tiles in the lanes, 4 output x 4 input channels of accumulators, summed
** across lanes at the end of the block into S[xi][o][c]). Then one inverse transform per image. */

typedef struct wdw { wlayout l; int64_t trb, T, Op, Cp; } wdw;

static wdw wdw_of(const conv_geom *q)
{
	wdw d;
	d.l = wlayout_of(q);
	d.trb = 16 / d.l.ng > 0 ? 16 / d.l.ng : 1; /* tile rows per block */
	if (d.trb > (q->Ho + 1) / 2)
		d.trb = (q->Ho + 1) / 2;
	d.T = d.trb * d.l.ng * 16 + 16; /* a row of V or Y: the block's tiles, padded against cache-set conflicts */
	d.l.plane = (2 * d.trb + 2) * d.l.Wp;
	d.Op = (q->O + 3) / 4 * 4;
	d.Cp = (q->C + 3) / 4 * 4;
	return d;
}

/* Band, V [16][Cp][T], Y [16][Op][T], S [16][Op/4][Cp/4][16]. */
size_t conv_wino_dw_slot_bytes(const conv_geom *q)
{
	wdw d = wdw_of(q);
	return sizeof(float) * (size_t)(q->C * d.l.plane + 16 * d.T * (d.Cp + d.Op) + 16 * d.Op * d.Cp);
}

size_t conv_wino_dw_partial_floats(const conv_geom *q) { return (size_t)(q->O * q->kkc + 15) / 16 * 16; }

/* Y[xi][o] (at Y + xi*sxi + o*sc) = A' dY A'^T for the 16 tiles of output rows r, r+1 (r+1 < Ho
** unless two) from column 32g; dy [O][Ho][Wo]. */
WINO static void grad_transform(const float *dy, int64_t O, int64_t Wo, int64_t HWo, bool two, int64_t ncol,
	float *Y, int64_t sxi, int64_t sc)
{
	const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
	__mmask16 m0 = conv_lanes(ncol), m1 = conv_lanes(ncol - 16);
	for (int64_t o = 0; o < O; o++, dy += HWo) {
		_mm_prefetch((const char *)(dy + 2 * Wo), _MM_HINT_T0); /* the next tile row's (may be past the end: */
		_mm_prefetch((const char *)(dy + 2 * Wo + 16), _MM_HINT_T0); /* prefetches do not fault) */
		_mm_prefetch((const char *)(dy + 3 * Wo), _MM_HINT_T0);
		_mm_prefetch((const char *)(dy + 3 * Wo + 16), _MM_HINT_T0);
		__m512 a0 = _mm512_maskz_loadu_ps(m0, dy), a1 = _mm512_maskz_loadu_ps(m1, dy + 16);
		__m512 b0 = two ? _mm512_maskz_loadu_ps(m0, dy + Wo) : _mm512_setzero_ps();
		__m512 b1 = two ? _mm512_maskz_loadu_ps(m1, dy + Wo + 16) : _mm512_setzero_ps();
		__m512 r[4][2]; /* A' dY: rows (a, a+b, a-b, b) of the columns (even, odd) */
		r[0][0] = _mm512_permutex2var_ps(a0, even, a1);
		r[0][1] = _mm512_permutex2var_ps(a0, odd, a1);
		r[3][0] = _mm512_permutex2var_ps(b0, even, b1);
		r[3][1] = _mm512_permutex2var_ps(b0, odd, b1);
		UNROLL
		for (int j = 0; j < 2; j++) {
			r[1][j] = _mm512_add_ps(r[0][j], r[3][j]);
			r[2][j] = _mm512_sub_ps(r[0][j], r[3][j]);
		}
		UNROLL
		for (int i = 0; i < 4; i++) { /* (A' dY) A'^T: columns (x, x+y, x-y, y) */
			float *y = Y + 4 * i * sxi + o * sc;
			_mm512_store_ps(y, r[i][0]);
			_mm512_store_ps(y + sxi, _mm512_add_ps(r[i][0], r[i][1]));
			_mm512_store_ps(y + 2 * sxi, _mm512_sub_ps(r[i][0], r[i][1]));
			_mm512_store_ps(y + 3 * sxi, r[i][1]);
		}
	}
}

/* The lane sums of a[0..15] as one vector (lane i: the sum of a[i]). */
WINO static inline __m512 lane_sums16(const __m512 *a)
{
	__m512 t[8], u[4], x[2];
	UNROLL
	for (int k = 0; k < 8; k++)
		t[k] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]), _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]));
	UNROLL
	for (int k = 0; k < 4; k++)
		u[k] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * k], t[2 * k + 1], 0x44), _mm512_shuffle_ps(t[2 * k], t[2 * k + 1], 0xEE));
	UNROLL
	for (int k = 0; k < 2; k++)
		x[k] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], 0x44),
			_mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], 0xEE));
	return _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], 0x88), _mm512_shuffle_f32x4(x[0], x[1], 0xDD));
}

/* S[xi][ob][cb][4*i + j] += sum over the block's nv tile vectors of Y[xi][4ob+i] V[xi][4cb+j]. */
WINO static void dw_multiply(const float *Y, const float *V, int64_t Op, int64_t Cp, int64_t T, int64_t nv, float *S)
{
	for (int xi = 0; xi < 16; xi++)
		for (int64_t ob = 0; ob < Op / 4; ob++)
			for (int64_t cb = 0; cb < Cp / 4; cb++) {
				const float *y = Y + (xi * Op + 4 * ob) * T, *v = V + (xi * Cp + 4 * cb) * T;
				__m512 acc[16];
				UNROLL
				for (int i = 0; i < 16; i++)
					acc[i] = _mm512_setzero_ps();
				for (int64_t t = 0; t < nv * 16; t += 16) {
					__m512 yv[4], vv[4];
					UNROLL
					for (int i = 0; i < 4; i++) {
						yv[i] = _mm512_load_ps(y + i * T + t);
						vv[i] = _mm512_load_ps(v + i * T + t);
					}
					UNROLL
					for (int i = 0; i < 4; i++)
						UNROLL
						for (int j = 0; j < 4; j++)
							acc[4 * i + j] = _mm512_fmadd_ps(yv[i], vv[j], acc[4 * i + j]);
				}
				float *s = S + ((xi * (Op / 4) + ob) * (Cp / 4) + cb) * 16;
				_mm512_store_ps(s, _mm512_add_ps(_mm512_load_ps(s), lane_sums16(acc)));
			}
}

void conv_wino_dw(const conv_geom *q, const float *img, const float *dy, float *partial, float *slot,
	const conv_prologue *pro)
{
	/* Gs = G with row 3 negated: the sign A' took out of A */
	static const double Gs[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, -1}};
	wdw d = wdw_of(q);
	int64_t HWo = q->Ho * q->Wo, ntr = (q->Ho + 1) / 2;
	float *band = slot, *V = band + q->C * d.l.plane, *Y = V + 16 * d.Cp * d.T, *S = Y + 16 * d.Op * d.T;
	/* channels past C and O stay zero (a block's tiles past its last group are not read) */
	for (int xi = 0; xi < 16; xi++) {
		memset(V + (xi * d.Cp + q->C) * d.T, 0, sizeof(float) * (size_t)((d.Cp - q->C) * d.T));
		memset(Y + (xi * d.Op + q->O) * d.T, 0, sizeof(float) * (size_t)((d.Op - q->O) * d.T));
	}
	memset(S, 0, sizeof(float) * (size_t)(16 * d.Op * d.Cp));
	for (int64_t tr0 = 0; tr0 < ntr; tr0 += d.trb) {
		int64_t nt = ntr - tr0 < d.trb ? ntr - tr0 : d.trb;
		band_fill(q, &d.l, img, 2 * tr0, 2 * nt + 2, band, pro);
		for (int64_t tr = 0; tr < nt; tr++)
			for (int64_t g = 0; g < d.l.ng; g++) {
				conv_prefetch_rows(q, tr0 + d.trb < ntr ? img : NULL, 2 * (tr0 + d.trb) - q->ph, 2 * d.trb + 2,
					tr * d.l.ng + g, nt * d.l.ng);
				int64_t at = (tr * d.l.ng + g) * 16, r = 2 * (tr0 + tr);
				input_transform(band + 2 * tr * d.l.Wp + 32 * g, q->C, d.l.plane, d.l.Wp, V + at, d.Cp * d.T, d.T);
				grad_transform(dy + r * q->Wo + 32 * g, q->O, q->Wo, HWo, r + 1 < q->Ho, q->Wo - 32 * g, Y + at,
					d.Op * d.T, d.T);
			}
		dw_multiply(Y, V, d.Op, d.Cp, d.T, nt * d.l.ng, S);
	}
	for (int64_t o = 0; o < q->O; o++)
		for (int64_t c = 0; c < q->C; c++) {
			double x[4][4], gx[3][4];
			for (int xi = 0; xi < 16; xi++)
				x[xi / 4][xi % 4] = S[((xi * (d.Op / 4) + o / 4) * (d.Cp / 4) + c / 4) * 16 + o % 4 * 4 + c % 4];
			for (int kh = 0; kh < 3; kh++)
				for (int j = 0; j < 4; j++)
					gx[kh][j] = Gs[0][kh] * x[0][j] + Gs[1][kh] * x[1][j] + Gs[2][kh] * x[2][j] + Gs[3][kh] * x[3][j];
			for (int kh = 0; kh < 3; kh++)
				for (int kw = 0; kw < 3; kw++)
					partial[(o * q->C + c) * 9 + kh * 3 + kw] =
						(float)(gx[kh][0] * Gs[0][kw] + gx[kh][1] * Gs[1][kw] + gx[kh][2] * Gs[2][kw] + gx[kh][3] * Gs[3][kw]);
		}
}
#endif
