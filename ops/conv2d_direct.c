/*
** conv2d_direct.c: direct AVX-512 float32 convolution kernels for ops/conv2d.c (see conv2d.h),
** chosen at run time when the CPU has AVX-512F.
**   forward (a chunk is a band of output rows of one image): the chunk copies its input rows
**     into a zero-padded band [C][rows+KH-1][Wp] (Wp = 32*ceil(Wo/32) + KW - 1, so 16-wide loads
**     past the row end stay inside it; a layout without the 4 KB aliasing of the image's
**     planes). A tile is 32 output pixels of a row (two vectors) x 8 output channels (16
**     accumulators); per tap k = (c, kh, kw) it loads the two input vectors at offset off[k] and
**     does 16 FMAs with broadcast weights wt[k][o]. A row with an odd number of 16-pixel vectors
**     ends with a 1 vector x 16 channels tile. Lanes past Wo are computed and not stored. While
**     computing, the chunk prefetches the input of the chunk its thread likely runs next.
**     The channels past the last multiple of 8 (all of them when O < 8) take small tiles, 3 to 8
**     pixel vectors (from any rows of the chunk) x 1 to 7 channels. A 1x1 kernel without padding
**     and O < 8 reads the image in place (the chunk's pixels are contiguous in each plane), with
**     no band and no prefetching: memory-bound, it would spend as long copying as computing.
**   weight gradient (a chunk is an image), 3-wide kernels: 16 output channels in the lanes,
**     reading the image in place (a zero row above and below it). A block of output rows has its
**     dy transposed to dyT [pixels][Opad]; a pass takes up to 8 kernel rows (24 taps) and one
**     o-vector (or 4 rows and two), and per two pixels loads their dyT vectors and does 48 FMAs
**     with input values broadcast from memory: no horizontal sums, no masks, no loads across
**     cache lines. Border columns (a tap outside the row) take a slow path. Partial [kkc][Opad]
**     += the pass's sums, block after block.
**   weight gradient, other widths: pixel lanes on the band above (in place as for the forward),
**     a tile of 4 output channels x 6 taps (the last O % 4 channels: 1-3 x 16-8 taps), its lanes
**     summed at the end of each band into the partial [O][kkc].
** Every value is computed by one fixed sequence of operations, whatever the thread count.
*/
#include "conv2d.h"

#if CONV_DIRECT
#include <immintrin.h>
#include <string.h>

#define DIRECT __attribute__((target("avx512f,fma")))
#define ALWAYS_INLINE inline __attribute__((always_inline))
/* Full unrolling of the loops over tiles, so that the accumulator arrays live in registers (their
** trip counts are constants once inlined). Clang takes "GCC unroll N" as an exact count. */
#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 32")
#endif
#define DW_KPAD 48 /* taps padded to a multiple of every weight-gradient tile's (16, 12, 8, 6) */

static int direct_on = 1; /* tests switch the direct kernels off (conv2d_set_direct) */

void conv2d_set_direct(bool on) { direct_on = on; }

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* Layout of the band and of the pack: offsets int32 [nkp], weights [kkc][Opad], bias [Opad].
** inplace: a 1x1 kernel without padding and O < 8 reads the image in place (offsets c*H*W, a
** chunk's pixels contiguous in each plane): the band's copy costs as much as the convolution. */
typedef struct layout { int64_t Wp, plane, nkp, Opad; size_t off_bytes, w_bytes; bool inplace; } layout;

static layout layout_of(const conv_geom *q)
{
	layout l;
	l.Wp = 32 * ((q->Wo + 31) / 32) + q->KW - 1;
	l.plane = (q->rows + q->KH - 1) * l.Wp;
	l.nkp = round_up(q->kkc, DW_KPAD);
	l.Opad = round_up(q->O, 16);
	l.inplace = q->KH == 1 && q->KW == 1 && q->ph == 0 && q->pw == 0 && q->O < 8 && q->C * q->H * q->W < INT32_MAX;
	l.off_bytes = conv_align64(sizeof(int32_t) * (size_t)l.nkp);
	l.w_bytes = conv_align64(sizeof(float) * (size_t)(q->kkc * l.Opad));
	return l;
}

bool conv_direct_usable(const conv_geom *q)
{
	__builtin_cpu_init();
	layout l = layout_of(q);
	return direct_on && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma") &&
	       (l.inplace || q->C * l.plane < INT32_MAX); /* tap offsets are int32 */
}

size_t conv_direct_pack_bytes(const conv_geom *q)
{
	layout l = layout_of(q);
	return l.off_bytes + l.w_bytes + sizeof(float) * (size_t)l.Opad;
}

size_t conv_direct_band_bytes(const conv_geom *q)
{
	layout l = layout_of(q);
	return l.inplace ? 64 : sizeof(float) * (size_t)(q->C * l.plane);
}

void conv_direct_pack(const conv_geom *q, const float *w, bool flip, const float *bias, void *pack)
{
	layout l = layout_of(q);
	int32_t *off = pack;
	float *wt = (float *)((char *)pack + l.off_bytes), *b = (float *)((char *)pack + l.off_bytes + l.w_bytes);
	for (int64_t k = 0; k < l.nkp; k++) { /* taps past kkc (weight-gradient padding) read the band start */
		int64_t c = k / (q->KH * q->KW), kh = k / q->KW % q->KH, kw = k % q->KW;
		off[k] = k >= q->kkc ? 0 : l.inplace ? (int32_t)(c * q->H * q->W) : (int32_t)(c * l.plane + kh * l.Wp + kw);
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

void conv_band_fill(const conv_geom *q, const float *img, int64_t r0, int64_t nrows, int64_t Wp, int64_t plane,
	float *band, const conv_prologue *pro)
{
	int64_t j0 = q->pw > 0 ? q->pw : 0, j1 = q->pw + q->W < Wp ? q->pw + q->W : Wp;
	if (j1 < j0)
		j1 = j0;
	for (int64_t c = 0; c < q->C; c++)
		for (int64_t rr = 0; rr < nrows; rr++) {
			float *row = band + c * plane + rr * Wp;
			int64_t ih = r0 + rr - q->ph;
			if (ih < 0 || ih >= q->H) {
				memset(row, 0, sizeof(float) * (size_t)Wp);
				continue;
			}
			memset(row, 0, sizeof(float) * (size_t)j0);
			const float *from = img + (c * q->H + ih) * q->W + j0 - q->pw;
			if (pro)
				pro->apply(pro->ctx, c, from, row + j0, j1 - j0);
			else
				memcpy(row + j0, from, sizeof(float) * (size_t)(j1 - j0));
			memset(row + j1, 0, sizeof(float) * (size_t)(Wp - j1));
		}
}

/* The input band of rows [r0, r0 + nr) of output (nr + KH - 1 input rows). */
static void band_fill(const conv_geom *q, const layout *l, const float *img, int64_t r0, int64_t nr, float *band)
{
	conv_band_fill(q, img, r0, nr + q->KH - 1, l->Wp, l->plane, band, NULL);
}


/* ---------------------------------------------------------------- forward */

/* Masked stores only where needed: on full vectors they take 1.2x the time of plain ones (Zen 5,
** the output in DRAM). */
DIRECT static ALWAYS_INLINE void store16(float *p, __mmask16 m, __m512 v)
{
	if (m == 0xFFFF)
		_mm512_storeu_ps(p, v);
	else
		_mm512_mask_storeu_ps(p, m, v);
}

/* 32 pixels (x, x+16) x 8 channels; y points at channel 0 of the tile, channel stride HWo. */
DIRECT static void tile_2x8(const float *x, const int32_t *off, int64_t nk, const float *wt, int64_t Opad,
	const float *bias, float *y, int64_t HWo, __mmask16 m0, __mmask16 m1)
{
	__m512 a0[8], a1[8];
	UNROLL
	for (int o = 0; o < 8; o++)
		a0[o] = a1[o] = _mm512_set1_ps(bias[o]);
	for (int64_t k = 0; k < nk; k++) {
		__m512 v0 = _mm512_loadu_ps(x + off[k]), v1 = _mm512_loadu_ps(x + off[k] + 16);
		const float *wk = wt + k * Opad;
		UNROLL
		for (int o = 0; o < 8; o++) {
			__m512 b = _mm512_set1_ps(wk[o]);
			a0[o] = _mm512_fmadd_ps(b, v0, a0[o]);
			a1[o] = _mm512_fmadd_ps(b, v1, a1[o]);
		}
	}
	UNROLL
	for (int o = 0; o < 8; o++) { /* constant indices: the accumulators stay in registers */
		store16(y + o * HWo, m0, a0[o]);
		store16(y + o * HWo + 16, m1, a1[o]);
	}
}

/* 16 pixels x 16 channels. */
DIRECT static void tile_1x16(const float *x, const int32_t *off, int64_t nk, const float *wt, int64_t Opad,
	const float *bias, float *y, int64_t HWo, int64_t no, __mmask16 m0)
{
	__m512 a[16];
	UNROLL
	for (int o = 0; o < 16; o++)
		a[o] = _mm512_set1_ps(bias[o]);
	for (int64_t k = 0; k < nk; k++) {
		__m512 v = _mm512_loadu_ps(x + off[k]);
		const float *wk = wt + k * Opad;
		UNROLL
		for (int o = 0; o < 16; o++)
			a[o] = _mm512_fmadd_ps(_mm512_set1_ps(wk[o]), v, a[o]);
	}
	UNROLL
	for (int o = 0; o < 16; o++)
		if (o < no)
			store16(y + o * HWo, m0, a[o]);
}

/* Channels past the last multiple of 8 (all of them when O < 8), where 2x8 tiles would leave most
** FMAs unused: a tile is PV pixel vectors (anywhere in the chunk: input offsets xo, output offsets
** yo, masks m of the lanes stored, and loaded if LM) x NO channels, the pixels in the lanes. NO,
** PV, LM constants. Masked loads only where needed: from DRAM they take 1.3x the time. */
DIRECT static ALWAYS_INLINE void tile_small(const float *x, const int64_t *xo, const int32_t *off, int64_t nk,
	const float *wt, int64_t Opad, const float *bias, float *y, const int64_t *yo, const __mmask16 *m, int64_t HWo,
	const int NO, const int PV, const bool LM)
{
	__m512 a[7][8];
	UNROLL
	for (int o = 0; o < 7; o++)
		UNROLL
		for (int v = 0; v < 8; v++)
			if (o < NO && v < PV)
				a[o][v] = _mm512_set1_ps(bias[o]);
	for (int64_t k = 0; k < nk; k++) {
		const float *xk = x + off[k], *wk = wt + k * Opad;
		UNROLL
		for (int v = 0; v < 8; v++)
			if (v < PV) {
				__m512 t = LM ? _mm512_maskz_loadu_ps(m[v], xk + xo[v]) : _mm512_loadu_ps(xk + xo[v]);
				UNROLL
				for (int o = 0; o < 7; o++)
					if (o < NO)
						a[o][v] = _mm512_fmadd_ps(_mm512_set1_ps(wk[o]), t, a[o][v]);
			}
	}
	UNROLL
	for (int o = 0; o < 7; o++)
		UNROLL
		for (int v = 0; v < 8; v++)
			if (o < NO && v < PV)
				store16(y + o * HWo + yo[v], m[v], a[o][v]);
}

/* Pixel vectors per small tile for NO channels: up to 24 accumulators, and at least 8 of them
** (the FMA latency) when NO is 1. */
static const int small_pv[8] = {0, 8, 8, 8, 6, 4, 4, 3};

#define SMALL_FN(no, lm) \
	DIRECT __attribute__((noinline)) static void tile_small_##no##_##lm(const float *x, const int64_t *xo, \
		const int32_t *off, int64_t nk, const float *wt, int64_t Opad, const float *bias, float *y, \
		const int64_t *yo, const __mmask16 *m, int64_t HWo) \
	{ tile_small(x, xo, off, nk, wt, Opad, bias, y, yo, m, HWo, no, small_pv[no], lm); }
SMALL_FN(1, 0) SMALL_FN(2, 0) SMALL_FN(3, 0) SMALL_FN(4, 0) SMALL_FN(5, 0) SMALL_FN(6, 0) SMALL_FN(7, 0)
SMALL_FN(1, 1) SMALL_FN(2, 1) SMALL_FN(3, 1) SMALL_FN(4, 1) SMALL_FN(5, 1) SMALL_FN(6, 1) SMALL_FN(7, 1)
#undef SMALL_FN

/* Prefetching the next chunk's band (conv2d.h) while a chunk computes: -7% time at one thread, -10%
** at two (16 channels, 64x64). */
static ALWAYS_INLINE void prefetch_band(const conv_geom *q, const conv_next *next, int64_t i, int64_t n)
{
	if (next->img)
		conv_prefetch_rows(q, next->img, next->r0 - q->ph,
			(q->rows < q->Ho - next->r0 ? q->rows : q->Ho - next->r0) + q->KH - 1, i, n);
}

void conv_direct_rows(const conv_geom *q, const void *pack, const float *img, float *y, int64_t r0, int64_t nr,
	float *band, const conv_next *next)
{
	layout l = layout_of(q);
	const int32_t *off = pack;
	const float *wt = (const float *)((const char *)pack + l.off_bytes), *bias = wt + l.w_bytes / sizeof(float);
	int64_t HWo = q->Ho * q->Wo, nv = (q->Wo + 15) / 16, O8 = q->O / 8 * 8, no = q->O - O8;
	if (l.inplace) { /* the chunk's pixels, contiguous: one row of nr*Wo */
		band = (float *)img + r0 * q->W;
		nv = (nr * q->Wo + 15) / 16;
	} else
		band_fill(q, &l, img, r0, nr, band);
	for (int64_t r = 0; r < nr && O8; r++) {
		const float *x = band + r * l.Wp;
		float *yr = y + (r0 + r) * q->Wo;
		int64_t v = 0;
		prefetch_band(q, next, r, nr);
		for (; v + 2 <= nv; v += 2)
			for (int64_t og = 0; og < O8; og += 8)
				tile_2x8(x + 16 * v, off, q->kkc, wt + og, l.Opad, bias + og, yr + og * HWo + 16 * v, HWo,
					conv_lanes(q->Wo - 16 * v), conv_lanes(q->Wo - 16 * v - 16));
		if (v < nv)
			for (int64_t og = 0; og < O8; og += 16)
				tile_1x16(x + 16 * v, off, q->kkc, wt + og, l.Opad, bias + og, yr + og * HWo + 16 * v, HWo,
					O8 - og < 16 ? O8 - og : 16, conv_lanes(q->Wo - 16 * v));
	}
	if (!no)
		return;
	static void (*const fn[2][8])(const float *, const int64_t *, const int32_t *, int64_t, const float *, int64_t,
		const float *, float *, const int64_t *, const __mmask16 *, int64_t) = {
		{NULL, tile_small_1_0, tile_small_2_0, tile_small_3_0, tile_small_4_0, tile_small_5_0, tile_small_6_0,
			tile_small_7_0},
		{NULL, tile_small_1_1, tile_small_2_1, tile_small_3_1, tile_small_4_1, tile_small_5_1, tile_small_6_1,
			tile_small_7_1}};
	int64_t rows = l.inplace ? 1 : nr, wo = l.inplace ? nr * q->Wo : q->Wo, pv = small_pv[no];
	int64_t nt = (rows * nv + pv - 1) / pv;
	for (int64_t t = 0; t < nt; t++) {
		int64_t xo[8], yo[8];
		__mmask16 m[8];
		bool lm = false; /* in place, a vector past the chunk's pixels: its loads too are masked */
		for (int64_t i = 0; i < pv; i++) { /* vectors past the chunk's redo its first one, unstored */
			int64_t u = t * pv + i < rows * nv ? t * pv + i : 0, r = u / nv, v = u % nv;
			xo[i] = r * l.Wp + 16 * v;
			yo[i] = (r0 + r) * q->Wo + 16 * v;
			m[i] = t * pv + i < rows * nv ? conv_lanes(wo - 16 * v) : 0;
			lm |= l.inplace && m[i] != 0xFFFF && m[i];
		}
		if (!O8 && !l.inplace) /* in place, the hardware prefetchers do better alone (-10%) */
			prefetch_band(q, next, t, nt);
		fn[lm][no](band, xo, off, q->kkc, wt + O8, l.Opad, bias + O8, y + O8 * HWo, yo, m, HWo);
	}
}

/* ---------------------------------------------------------------- weight gradient, any width */

/* acc[o][k] += dy[o][at..] * x[off[k]..], one pixel vector; masked loads if M. */
DIRECT static ALWAYS_INLINE void dw_step(const float *x, const int32_t *off, const float *const *dy, int64_t at,
	__mmask16 m, __m512 *acc, const int OB, const int KB, const bool M)
{
	__m512 d[4];
UNROLL
	for (int o = 0; o < 4; o++)
		if (o < OB)
			d[o] = M ? _mm512_maskz_loadu_ps(m, dy[o] + at) : _mm512_loadu_ps(dy[o] + at);
UNROLL
	for (int k = 0; k < 24; k++)
		if (k < KB) {
			__m512 v = M ? _mm512_maskz_loadu_ps(m, x + off[k]) : _mm512_loadu_ps(x + off[k]);
UNROLL
			for (int o = 0; o < 4; o++)
				if (o < OB)
					acc[o * KB + k] = _mm512_fmadd_ps(d[o], v, acc[o * KB + k]);
		}
}

/* out[o][k] = sum over the band's nr rows of Wo pixels (row stride Wp; dy's Wo) of dy[o] *
** band[off[k] + pixel], o < OB, k < KB (constants). The accumulators are one flat array, fully
** unrolled, so that GCC keeps them in registers. */
DIRECT static ALWAYS_INLINE void dw_tile(const float *band, const int32_t *off, const float *const *dy, int64_t nr,
	int64_t Wo, int64_t Wp, float *out, const int OB, const int KB)
{
	__m512 acc[24];
UNROLL
	for (int i = 0; i < 24; i++)
		if (i < OB * KB)
			acc[i] = _mm512_setzero_ps();
	for (int64_t r = 0; r < nr; r++)
		for (int64_t p = 0; p < Wo; p += 16) {
			__mmask16 m = conv_lanes(Wo - p);
			if (m == 0xFFFF) /* masked loads (1.3x the time from DRAM) only at the row's end */
				dw_step(band + r * Wp + p, off, dy, r * Wo + p, m, acc, OB, KB, false);
			else
				dw_step(band + r * Wp + p, off, dy, r * Wo + p, m, acc, OB, KB, true);
		}
UNROLL
	for (int i = 0; i < 24; i++)
		if (i < OB * KB)
			out[i] = _mm512_reduce_add_ps(acc[i]);
}

/* Tiles of OB output channels x dw_kb[OB] taps: 4 x 6, and for the last O % 4 channels (all of
** them when O < 4) as many taps as keep 16-24 accumulators, with no channel computed for nothing. */
static const int dw_kb[5] = {0, 16, 12, 8, 6};

#define DW_FN(ob) \
	DIRECT __attribute__((noinline)) static void dw_tile_##ob(const float *band, const int32_t *off, \
		const float *const *dy, int64_t nr, int64_t Wo, int64_t Wp, float *out) \
	{ dw_tile(band, off, dy, nr, Wo, Wp, out, ob, dw_kb[ob]); }
DW_FN(1) DW_FN(2) DW_FN(3) DW_FN(4)
#undef DW_FN

/* partial [O][kkc] += the band's sums (pixel lanes: kernels other than 3 wide); the band: nr rows
** of Wo pixels, row stride Wp, at dy's pixel 0. */
static void dw_band(const conv_geom *q, const int32_t *off, const float *band, const float *dy,
	int64_t nr, int64_t Wo, int64_t Wp, float *partial)
{
	static void (*const fn[5])(const float *, const int32_t *, const float *const *, int64_t, int64_t, int64_t,
		float *) = {NULL, dw_tile_1, dw_tile_2, dw_tile_3, dw_tile_4};
	int64_t HWo = q->Ho * q->Wo;
	for (int64_t og = 0; og < q->O; og += 4) {
		int ob = q->O - og < 4 ? (int)(q->O - og) : 4, kb = dw_kb[ob];
		const float *d[4];
		for (int o = 0; o < ob; o++)
			d[o] = dy + (og + o) * HWo;
		for (int64_t kg = 0; kg < q->kkc; kg += kb) { /* off is padded to nkp, a multiple of kb */
			float out[24];
			fn[ob](band, off + kg, d, nr, Wo, Wp, out);
			for (int64_t o = 0; o < ob; o++)
				for (int64_t k = 0; k < kb && kg + k < q->kkc; k++)
					partial[(og + o) * q->kkc + kg + k] += out[o * kb + k];
		}
	}
}

/* ---------------------------------------------------------------- weight gradient, 3 wide */

#define DWO_ROWS 8      /* kernel rows (c, kh) per pass with one o-vector: 24 accumulators (4 with two) */
#define DWO_PIXELS 1024 /* output pixels per block: its dyT (64 KB for 16 channels) stays in L2 */

/* KW = 3 has its own kernel, with 16 output channels in the lanes: no horizontal sums, no masks,
** no loads across cache lines. */
static bool dwo(const conv_geom *q) { return q->KW == 3; }

static int64_t dwo_block_rows(const conv_geom *q)
{
	int64_t b = DWO_PIXELS / q->Wo;
	return b < 1 ? 1 : b > q->Ho ? q->Ho : b;
}

size_t conv_direct_dw_partial_floats(const conv_geom *q)
{
	return (size_t)round_up(dwo(q) ? q->kkc * layout_of(q).Opad : q->O * q->kkc, 16); /* 64-byte multiples */
}

int64_t conv_direct_dw_index(const conv_geom *q, int64_t o, int64_t k)
{
	return dwo(q) ? k * layout_of(q).Opad + o : o * q->kkc + k;
}

size_t conv_direct_dw_slot_bytes(const conv_geom *q)
{
	if (!dwo(q))
		return conv_direct_band_bytes(q);
	return conv_align64(sizeof(float) * (size_t)(dwo_block_rows(q) * q->Wo * layout_of(q).Opad)) +
	       sizeof(float) * (size_t)q->W;
}

/* The 16x16 block r[i][j] becomes r[j][i]. */
DIRECT static ALWAYS_INLINE void transpose16(__m512 r[16])
{
	__m512 t[16];
UNROLL
	for (int i = 0; i < 8; i++) {
		t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
	}
UNROLL
	for (int i = 0; i < 4; i++) {
		__m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
		__m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
		r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
		r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
		r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
		r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
	}
UNROLL
	for (int i = 0; i < 8; i++) { /* 128-bit lanes: 0x88 takes lanes 0, 2 of each input, 0xdd lanes 1, 3 */
		int a = i / 4 * 8 + i % 4;
		t[a] = _mm512_shuffle_f32x4(r[a], r[a + 4], 0x88);
		t[a + 4] = _mm512_shuffle_f32x4(r[a], r[a + 4], 0xdd);
	}
UNROLL
	for (int j = 0; j < 8; j++) {
		r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
		r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
	}
}

/* dyT [P][Opad] = dy [O][P] (channel stride HWo), zero past O. */
DIRECT static void dyT_fill(const float *dy, int64_t O, int64_t Opad, int64_t HWo, int64_t P, float *dyT)
{
	for (int64_t p0 = 0; p0 < P; p0 += 16) {
		__mmask16 m = conv_lanes(P - p0);
		for (int64_t o0 = 0; o0 < Opad; o0 += 16) {
			__m512 r[16];
UNROLL
			for (int t = 0; t < 16; t++)
				r[t] = o0 + t < O ? _mm512_maskz_loadu_ps(m, dy + (o0 + t) * HWo + p0) : _mm512_setzero_ps();
			transpose16(r);
UNROLL
			for (int s = 0; s < 16; s++)
				if (p0 + s < P)
					_mm512_store_ps(dyT + (p0 + s) * Opad + o0, r[s]);
		}
	}
}

/* One pass: R kernel rows (c, kh; 3 taps each) x OV o-vectors over the block's pixels, reading
** the image directly: rows outside it read `zero`, and the columns whose taps are not all inside
** (j < jA, j >= jB) take the slow path dwo_edge. */
typedef struct dwo_pass {
	const float *plane[DWO_ROWS]; /* img + c*H*W of kernel row i (rows past nreal repeat row 0) */
	int64_t ih0[DWO_ROWS];        /* the input row of kernel row i at the block's first output row */
	const float *zero;            /* W zeros */
	const float *dyT;             /* [nr*Wo][Opad], at the pass's first o-vector */
	float *part;                  /* partial [kkc][Opad] at the pass's first tap and o-vector */
	int64_t Opad, nr, Wo, H, W, pw, jA, jB, nreal;
} dwo_pass;

/* The loops below run to the bounds 2 (o-vectors), DWO_ROWS and 3*DWO_ROWS with the body under
** v < OV, i < R: constant trip counts, fully unrolled even before OV, R are known (Clang
** optimizes an inline function before inlining it, and its run-time unrolling of `v < OV`
** loops would leave the accumulators in memory). */

/* acc[v][3i + kw] += dv[v] * input(row i, column j + kw - pw), for the taps j + kw inside the row. */
DIRECT static ALWAYS_INLINE void dwo_edge(const dwo_pass *a, const float *const *rs, const __m512 *dv, int64_t j,
	__m512 (*acc)[3 * DWO_ROWS], const int OV, const int R)
{
	UNROLL
	for (int kw = 0; kw < 3; kw++) {
		int64_t col = j + kw - a->pw;
		UNROLL
		for (int i = 0; i < DWO_ROWS; i++)
			if (i < R && col >= 0 && col < a->W) {
				__m512 b = _mm512_set1_ps(rs[i][col]);
				UNROLL
				for (int v = 0; v < 2; v++)
					if (v < OV)
						acc[v][3 * i + kw] = _mm512_fmadd_ps(dv[v], b, acc[v][3 * i + kw]);
			}
	}
}

/* Interior pixel j (all taps inside): acc[v][3i + kw] += dv[v] * p[i][j + kw]. */
DIRECT static ALWAYS_INLINE void dwo_pixel(const float *const *p, const __m512 *dv, int64_t j,
	__m512 (*acc)[3 * DWO_ROWS], const int OV, const int R)
{
	UNROLL
	for (int i = 0; i < DWO_ROWS; i++)
		UNROLL
		for (int kw = 0; kw < 3; kw++)
			if (i < R) {
				__m512 b = _mm512_set1_ps(p[i][j + kw]);
				UNROLL
				for (int v = 0; v < 2; v++)
					if (v < OV)
						acc[v][3 * i + kw] = _mm512_fmadd_ps(dv[v], b, acc[v][3 * i + kw]);
			}
}

/* Interior pixels j, j+1: the input at column j+u is tap u of pixel j and tap u-1 of pixel j+1,
** one broadcast for two FMAs (+8%); each accumulator still adds pixel j, then j+1. */
DIRECT static ALWAYS_INLINE void dwo_pixels2(const float *const *p, const __m512 *dv, const __m512 *dw, int64_t j,
	__m512 (*acc)[3 * DWO_ROWS], const int OV, const int R)
{
	UNROLL
	for (int i = 0; i < DWO_ROWS; i++)
		UNROLL
		for (int u = 0; u < 4; u++)
			if (i < R) {
				__m512 b = _mm512_set1_ps(p[i][j + u]);
				UNROLL
				for (int v = 0; v < 2; v++)
					if (v < OV) {
						if (u < 3)
							acc[v][3 * i + u] = _mm512_fmadd_ps(dv[v], b, acc[v][3 * i + u]);
						if (u > 0)
							acc[v][3 * i + u - 1] = _mm512_fmadd_ps(dw[v], b, acc[v][3 * i + u - 1]);
					}
			}
}

/* dv[v] = the dyT vectors of pixel j. */
DIRECT static ALWAYS_INLINE void dwo_load(const float *d, int64_t Opad, int64_t j, __m512 *dv, const int OV)
{
	UNROLL
	for (int v = 0; v < 2; v++)
		dv[v] = v < OV ? _mm512_load_ps(d + j * Opad + 16 * v) : _mm512_setzero_ps();
}

/* part[3i + kw][v] += sum over the block's pixels of dyT[pixel][v] * input(row i, pixel + kw);
** OV, R constants. */
DIRECT static ALWAYS_INLINE void dwo_body(const dwo_pass *a, const int OV, const int R)
{
	__m512 acc[2][3 * DWO_ROWS], dv[2], dw[2];
	UNROLL
	for (int v = 0; v < 2; v++)
		UNROLL
		for (int t = 0; t < 3 * DWO_ROWS; t++)
			acc[v][t] = _mm512_setzero_ps();
	for (int64_t r = 0; r < a->nr; r++) {
		const float *rs[DWO_ROWS], *d = a->dyT + r * a->Wo * a->Opad;
		UNROLL
		for (int i = 0; i < DWO_ROWS; i++) {
			int64_t ih = a->ih0[i] + r;
			rs[i] = ih >= 0 && ih < a->H ? a->plane[i] + ih * a->W : a->zero;
		}
		for (int64_t j = 0; j < a->jA; j++) {
			dwo_load(d, a->Opad, j, dv, OV);
			dwo_edge(a, rs, dv, j, acc, OV, R);
		}
		/* interior pixels jA + j (jA = pw when there are any) read input columns j + kw */
		const float *di = d + a->jA * a->Opad;
		int64_t j = 0, n = a->jB - a->jA;
		for (; j + 2 <= n; j += 2) {
			dwo_load(di, a->Opad, j, dv, OV);
			dwo_load(di, a->Opad, j + 1, dw, OV);
			dwo_pixels2(rs, dv, dw, j, acc, OV, R);
			/* Hides j's step: else GCC's predictive commoning keeps p[i][j+2], p[i][j+3] in
			** registers for the next pixels, spilling accumulators (-15%). */
			__asm__("" : "+r"(j));
		}
		if (j < n) {
			dwo_load(di, a->Opad, j, dv, OV);
			dwo_pixel(rs, dv, j, acc, OV, R);
		}
		for (int64_t j = a->jB; j < a->Wo; j++) {
			dwo_load(d, a->Opad, j, dv, OV);
			dwo_edge(a, rs, dv, j, acc, OV, R);
		}
	}
	UNROLL
	for (int v = 0; v < 2; v++)
		UNROLL
		for (int t = 0; t < 3 * DWO_ROWS; t++)
			if (v < OV && t < 3 * R && t / 3 < a->nreal) {
				float *o = a->part + t * a->Opad + 16 * v;
				_mm512_store_ps(o, _mm512_add_ps(_mm512_load_ps(o), acc[v][t]));
			}
}

/* One function per (OV, R), not inlined into a common one: Clang keeps the accumulators of
** several inlined instances in memory. */
#define DWO_FN(ov, r) \
	DIRECT __attribute__((noinline)) static void dwo_##ov##_##r(const dwo_pass *a) { dwo_body(a, ov, r); }
DWO_FN(1, 1) DWO_FN(1, 2) DWO_FN(1, 3) DWO_FN(1, 4) DWO_FN(1, 5) DWO_FN(1, 6) DWO_FN(1, 7) DWO_FN(1, 8)
DWO_FN(2, 1) DWO_FN(2, 2) DWO_FN(2, 3) DWO_FN(2, 4)
#undef DWO_FN

static void dwo_run(const dwo_pass *a, int OV, int R)
{
	static void (*const fn[2][DWO_ROWS])(const dwo_pass *) = {
		{dwo_1_1, dwo_1_2, dwo_1_3, dwo_1_4, dwo_1_5, dwo_1_6, dwo_1_7, dwo_1_8},
		{dwo_2_1, dwo_2_2, dwo_2_3, dwo_2_4, NULL, NULL, NULL, NULL},
	};
	fn[OV - 1][R - 1](a);
}

/* partial [kkc][Opad] += the sums of output rows [r0, r0+nr) of img, dyT [nr*Wo][Opad]. The C*KH
** kernel rows are split evenly into passes of at most DWO_ROWS (two o-vectors: half as many). */
static void dwo_block(const conv_geom *q, const layout *l, const float *img, const float *zero, const float *dyT,
	int64_t r0, int64_t nr, float *partial)
{
	int64_t KR = q->C * q->KH, nov = l->Opad / 16;
	int64_t jA = q->pw < q->Wo ? q->pw : q->Wo, jB = q->W - 2 + q->pw < q->Wo ? q->W - 2 + q->pw : q->Wo;
	if (jB < jA)
		jB = jA;
	for (int64_t v0 = 0; v0 < nov;) {
		int OV = nov - v0 >= 2 ? 2 : 1;
		int64_t rmax = DWO_ROWS / OV, G = (KR + rmax - 1) / rmax, R = (KR + G - 1) / G;
		for (int64_t kr0 = 0; kr0 < KR; kr0 += R) {
			dwo_pass a = {.zero = zero, .dyT = dyT + 16 * v0, .part = partial + 3 * kr0 * l->Opad + 16 * v0,
				.Opad = l->Opad, .nr = nr, .Wo = q->Wo, .H = q->H, .W = q->W, .pw = q->pw, .jA = jA,
				.jB = jB, .nreal = KR - kr0 < R ? KR - kr0 : R};
			for (int64_t i = 0; i < DWO_ROWS; i++) { /* all DWO_ROWS: dwo_body computes their pointers */
				int64_t kr = kr0 + (i < a.nreal ? i : 0);
				a.plane[i] = img + kr / q->KH * q->H * q->W;
				a.ih0[i] = r0 + kr % q->KH - q->ph;
			}
			dwo_run(&a, OV, (int)R);
		}
		v0 += OV;
	}
}

void conv_direct_dw(const conv_geom *q, const void *pack, const float *img, const float *dy, float *partial,
	float *slot)
{
	layout l = layout_of(q);
	int64_t HWo = q->Ho * q->Wo;
	memset(partial, 0, sizeof(float) * conv_direct_dw_partial_floats(q));
	if (!dwo(q)) {
		for (int64_t b = 0; b < q->bands; b++) {
			int64_t r0 = b * q->rows, nr = q->rows < q->Ho - r0 ? q->rows : q->Ho - r0;
			if (l.inplace) /* the band's pixels, contiguous: one row of nr*Wo */
				dw_band(q, pack, img + r0 * q->W, dy + r0 * q->Wo, 1, nr * q->Wo, 0, partial);
			else {
				band_fill(q, &l, img, r0, nr, slot);
				dw_band(q, pack, slot, dy + r0 * q->Wo, nr, q->Wo, l.Wp, partial);
			}
		}
		return;
	}
	/* slot: dyT of a block, then W zeros */
	int64_t nb = dwo_block_rows(q);
	float *dyT = slot, *zero = (float *)((char *)slot + conv_align64(sizeof(float) * (size_t)(nb * q->Wo * l.Opad)));
	memset(zero, 0, sizeof(float) * (size_t)q->W);
	for (int64_t r0 = 0; r0 < q->Ho; r0 += nb) {
		int64_t n = nb < q->Ho - r0 ? nb : q->Ho - r0;
		dyT_fill(dy + r0 * q->Wo, q->O, l.Opad, HWo, n * q->Wo, dyT);
		dwo_block(q, &l, img, zero, dyT, r0, n, partial);
	}
}
#endif
