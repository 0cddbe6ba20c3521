/*
** conv2d_direct.c: direct AVX-512 float32 convolution kernels for ops/conv2d.c (see conv2d.h),
** chosen at run time when the CPU has AVX-512F. A chunk (a band of output rows of one image)
** copies its input rows into a zero-padded band [C][rows+KH-1][Wp] (Wp = 32*ceil(Wo/32) + KW - 1,
** so 16-wide loads past the row end stay inside it), then:
**   forward: a tile is 32 output pixels of a row (two vectors) x 8 output channels (16
**     accumulators); per tap k = (c, kh, kw) it loads the two input vectors at offset off[k] and
**     does 16 FMAs with broadcast weights wt[k][o]. A row with an odd number of 16-pixel vectors
**     ends with a 1 vector x 16 channels tile. Lanes past Wo are computed and not stored.
**   weight gradient: a tile is 4 output channels x 6 taps (24 accumulators over 16 pixel lanes):
**     per 16 pixels it loads 4 dy and 6 input vectors (masked past Wo), then 24 FMAs; the lanes
**     are summed at the end of each band and added to the image's partial in band order.
** Every value is computed by one fixed sequence of operations, whatever the thread count.
*/
#include "conv2d.h"

#if CONV_DIRECT
#include <immintrin.h>
#include <string.h>

#define DIRECT __attribute__((target("avx512f,fma")))
#define DW_OB 4 /* weight-gradient tile: output channels x taps */
#define DW_KB 6

static int direct_on = 1; /* tests switch the direct kernels off (conv2d_set_direct) */

void conv2d_set_direct(bool on) { direct_on = on; }

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* Layout of the band and of the pack: offsets int32 [nk6], weights [kkc][Opad], bias [Opad]. */
typedef struct layout { int64_t Wp, plane, nk6, Opad; size_t off_bytes, w_bytes; } layout;

static layout layout_of(const conv_geom *q)
{
	layout l;
	l.Wp = 32 * ((q->Wo + 31) / 32) + q->KW - 1;
	l.plane = (q->rows + q->KH - 1) * l.Wp;
	l.nk6 = round_up(q->kkc, DW_KB);
	l.Opad = round_up(q->O, 16);
	l.off_bytes = conv_align64(sizeof(int32_t) * (size_t)l.nk6);
	l.w_bytes = conv_align64(sizeof(float) * (size_t)(q->kkc * l.Opad));
	return l;
}

bool conv_direct_usable(const conv_geom *q)
{
	__builtin_cpu_init();
	return direct_on && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma") &&
	       q->C * layout_of(q).plane < INT32_MAX; /* tap offsets are int32 */
}

size_t conv_direct_pack_bytes(const conv_geom *q)
{
	layout l = layout_of(q);
	return l.off_bytes + l.w_bytes + sizeof(float) * (size_t)l.Opad;
}

size_t conv_direct_band_bytes(const conv_geom *q) { return sizeof(float) * (size_t)(q->C * layout_of(q).plane); }

void conv_direct_pack(const conv_geom *q, const float *w, bool flip, const float *bias, void *pack)
{
	layout l = layout_of(q);
	int32_t *off = pack;
	float *wt = (float *)((char *)pack + l.off_bytes), *b = (float *)((char *)pack + l.off_bytes + l.w_bytes);
	for (int64_t k = 0; k < l.nk6; k++) { /* taps past kkc (weight-gradient padding) read the band start */
		int64_t c = k / (q->KH * q->KW), kh = k / q->KW % q->KH, kw = k % q->KW;
		off[k] = k < q->kkc ? (int32_t)(c * l.plane + kh * l.Wp + kw) : 0;
	}
	if (!w)
		return;
	/* wt[(c, kh, kw)][o]: forward w[o][c][kh][kw]; flip: w is [C_fwd = q->O][O_fwd = q->C][KH][KW] */
	memset(wt, 0, l.w_bytes);
	for (int64_t o = 0; o < q->O; o++)
		for (int64_t c = 0; c < q->C; c++)
			for (int64_t kh = 0; kh < q->KH; kh++)
				for (int64_t kw = 0; kw < q->KW; kw++) {
					int64_t k = (c * q->KH + kh) * q->KW + kw;
					int64_t from = flip ? ((c * q->O + o) * q->KH + q->KH - 1 - kh) * q->KW + q->KW - 1 - kw
							    : ((o * q->C + c) * q->KH + kh) * q->KW + kw;
					wt[k * l.Opad + o] = w[from];
				}
	for (int64_t o = 0; o < l.Opad; o++)
		b[o] = bias && o < q->O ? bias[o] : 0.0f;
}

/* band[c][rr][jj] = img[c][r0 + rr - ph][jj - pw], 0 outside the image, rr < nr + KH - 1. */
static void band_fill(const conv_geom *q, const layout *l, const float *img, int64_t r0, int64_t nr, float *band)
{
	int64_t j0 = q->pw > 0 ? q->pw : 0, j1 = q->pw + q->W < l->Wp ? q->pw + q->W : l->Wp;
	if (j1 < j0)
		j1 = j0;
	for (int64_t c = 0; c < q->C; c++)
		for (int64_t rr = 0; rr < nr + q->KH - 1; rr++) {
			float *row = band + c * l->plane + rr * l->Wp;
			int64_t ih = r0 + rr - q->ph;
			if (ih < 0 || ih >= q->H) {
				memset(row, 0, sizeof(float) * (size_t)l->Wp);
				continue;
			}
			memset(row, 0, sizeof(float) * (size_t)j0);
			memcpy(row + j0, img + (c * q->H + ih) * q->W + j0 - q->pw, sizeof(float) * (size_t)(j1 - j0));
			memset(row + j1, 0, sizeof(float) * (size_t)(l->Wp - j1));
		}
}

static __mmask16 lanes(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : n > 0 ? (__mmask16)((1u << n) - 1) : 0; }

/* ---------------------------------------------------------------- forward */

/* 32 pixels (x, x+16) x 8 channels; y points at channel 0 of the tile, channel stride HWo. */
DIRECT static void tile_2x8(const float *x, const int32_t *off, int64_t nk, const float *wt, int64_t Opad,
	const float *bias, float *y, int64_t HWo, int64_t no, __mmask16 m0, __mmask16 m1)
{
	__m512 a0[8], a1[8];
	for (int o = 0; o < 8; o++)
		a0[o] = a1[o] = _mm512_set1_ps(bias[o]);
	for (int64_t k = 0; k < nk; k++) {
		__m512 v0 = _mm512_loadu_ps(x + off[k]), v1 = _mm512_loadu_ps(x + off[k] + 16);
		const float *wk = wt + k * Opad;
		for (int o = 0; o < 8; o++) {
			__m512 b = _mm512_set1_ps(wk[o]);
			a0[o] = _mm512_fmadd_ps(b, v0, a0[o]);
			a1[o] = _mm512_fmadd_ps(b, v1, a1[o]);
		}
	}
	for (int64_t o = 0; o < no; o++) {
		_mm512_mask_storeu_ps(y + o * HWo, m0, a0[o]);
		_mm512_mask_storeu_ps(y + o * HWo + 16, m1, a1[o]);
	}
}

/* 16 pixels x 16 channels. */
DIRECT static void tile_1x16(const float *x, const int32_t *off, int64_t nk, const float *wt, int64_t Opad,
	const float *bias, float *y, int64_t HWo, int64_t no, __mmask16 m0)
{
	__m512 a[16];
	for (int o = 0; o < 16; o++)
		a[o] = _mm512_set1_ps(bias[o]);
	for (int64_t k = 0; k < nk; k++) {
		__m512 v = _mm512_loadu_ps(x + off[k]);
		const float *wk = wt + k * Opad;
		for (int o = 0; o < 16; o++)
			a[o] = _mm512_fmadd_ps(_mm512_set1_ps(wk[o]), v, a[o]);
	}
	for (int64_t o = 0; o < no; o++)
		_mm512_mask_storeu_ps(y + o * HWo, m0, a[o]);
}

void conv_direct_rows(const conv_geom *q, const void *pack, const float *img, float *y, int64_t r0, int64_t nr,
	float *band)
{
	layout l = layout_of(q);
	const int32_t *off = pack;
	const float *wt = (const float *)((const char *)pack + l.off_bytes), *bias = wt + l.w_bytes / sizeof(float);
	int64_t HWo = q->Ho * q->Wo, nv = (q->Wo + 15) / 16;
	band_fill(q, &l, img, r0, nr, band);
	for (int64_t r = 0; r < nr; r++) {
		const float *x = band + r * l.Wp;
		float *yr = y + (r0 + r) * q->Wo;
		int64_t v = 0;
		for (; v + 2 <= nv; v += 2)
			for (int64_t og = 0; og < q->O; og += 8)
				tile_2x8(x + 16 * v, off, q->kkc, wt + og, l.Opad, bias + og, yr + og * HWo + 16 * v, HWo,
					q->O - og < 8 ? q->O - og : 8, lanes(q->Wo - 16 * v), lanes(q->Wo - 16 * v - 16));
		if (v < nv)
			for (int64_t og = 0; og < q->O; og += 16)
				tile_1x16(x + 16 * v, off, q->kkc, wt + og, l.Opad, bias + og, yr + og * HWo + 16 * v, HWo,
					q->O - og < 16 ? q->O - og : 16, lanes(q->Wo - 16 * v));
	}
}

/* ---------------------------------------------------------------- weight gradient */

/* out[o][k] = sum over the band's pixels of dy[o] * band[off[k] + pixel]. The accumulators are one
** flat array, fully unrolled, so that GCC keeps them in registers. */
DIRECT static void dw_tile(const float *band, const int32_t *off, const float *const *dy, int64_t nr, int64_t Wo,
	int64_t Wp, float *out)
{
	__m512 acc[DW_OB * DW_KB];
#pragma GCC unroll 24
	for (int i = 0; i < DW_OB * DW_KB; i++)
		acc[i] = _mm512_setzero_ps();
	for (int64_t r = 0; r < nr; r++)
		for (int64_t p = 0; p < Wo; p += 16) {
			__mmask16 m = lanes(Wo - p);
			__m512 d[DW_OB];
#pragma GCC unroll 4
			for (int o = 0; o < DW_OB; o++)
				d[o] = _mm512_maskz_loadu_ps(m, dy[o] + r * Wo + p);
#pragma GCC unroll 6
			for (int k = 0; k < DW_KB; k++) {
				__m512 v = _mm512_maskz_loadu_ps(m, band + off[k] + r * Wp + p);
#pragma GCC unroll 4
				for (int o = 0; o < DW_OB; o++)
					acc[o * DW_KB + k] = _mm512_fmadd_ps(d[o], v, acc[o * DW_KB + k]);
			}
		}
#pragma GCC unroll 24
	for (int i = 0; i < DW_OB * DW_KB; i++)
		out[i] = _mm512_reduce_add_ps(acc[i]);
}

void conv_direct_dw(const conv_geom *q, const void *pack, const float *img, const float *dy, float *partial,
	float *band)
{
	layout l = layout_of(q);
	const int32_t *off = pack;
	int64_t HWo = q->Ho * q->Wo;
	memset(partial, 0, sizeof(float) * (size_t)(q->O * q->kkc));
	for (int64_t b = 0; b < q->bands; b++) {
		int64_t r0 = b * q->rows, nr = q->rows < q->Ho - r0 ? q->rows : q->Ho - r0;
		band_fill(q, &l, img, r0, nr, band);
		for (int64_t og = 0; og < q->O; og += DW_OB) {
			const float *d[DW_OB]; /* channels past O reuse channel og; their sums are dropped */
			for (int o = 0; o < DW_OB; o++)
				d[o] = dy + (og + o < q->O ? og + o : og) * HWo + r0 * q->Wo;
			for (int64_t kg = 0; kg < l.nk6; kg += DW_KB) {
				float out[DW_OB * DW_KB];
				dw_tile(band, off + kg, d, nr, q->Wo, l.Wp, out);
				for (int64_t o = 0; o < DW_OB && og + o < q->O; o++)
					for (int64_t k = 0; k < DW_KB && kg + k < q->kkc; k++)
						partial[(og + o) * q->kkc + kg + k] += out[o * DW_KB + k];
			}
		}
	}
}
#endif
