/*
** upsample2x.c: bilinear upsampling by 2, align_corners=False (PyTorch's upsample_bilinear2d, as
** nn.Upsample(scale_factor=2, mode='bilinear')): x [N,C,H,W] -> [N,C,2H,2W]. Per axis, output
** index d reads source position s = max((d + 0.5) / 2 - 0.5, 0) between i0 = floor(s) and
** i1 = min(i0 + 1, n - 1) with weights 1 - (s - i0) and s - i0 (0.25 / 0.75: exact in f32).
** Backward: upsample2x_backward (gout) -> dx, the transpose with the same weights, written as a
** gather: input i of an axis receives from at most TAPS_IN outputs (listed once per axis), so every
** dx value is summed in a fixed order without a scatter. Not differentiable itself.
**
** Both are memory-bound. Rows come from the tables; along a row every column but the first and
** last output (forward) or input (backward) has the same taps and constant weights, so those
** loops are branch-free: f32 on AVX-512 CPUs uses intrinsics in blocks of 16 (the backward adds
** a dx row's 2-4 row taps in registers), otherwise (f64, other CPUs, tests) portable loops that
** the compiler vectorises, built for AVX-512, AVX2 and baseline x86-64. Every path evaluates the
** same expressions in the same order, without FMA contraction, so results are bit-identical
** (but for which NaN's payload survives an addition of two NaNs: that is the compiler's operand
** order, and differed between GCC and clang builds before too). A chunk is a fixed group of
** whole planes.
*/
#include "../engine/internal.h"
#include <string.h>

#define TAPS_IN 4 /* outputs reading one input along an axis: 2j-1, 2j, 2j+1, 2j+2 (fewer at edges) */

static tg_status upsample2x_infer(tg_graph *g, tg_node *n)
{
	tg_shape x = n->src[0]->shape;
	if (x.ndim != 4 || x.d[2] < 1 || x.d[3] < 1)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s: expected [N,C,H,W] with H, W >= 1", tg_sstr(x));
	if (x.d[2] > INT64_MAX / 2 || x.d[3] > INT64_MAX / 2)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s is too large to upsample (size overflow)", tg_sstr(x));
	if (n->src[0]->dtype != TG_F32 && n->src[0]->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "input is %s; expected f32 or f64", tg_dtype_name(n->src[0]->dtype));
	n->shape = TG_SHAPE(x.d[0], x.d[1], 2 * x.d[2], 2 * x.d[3]);
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

/* The taps of one axis of n inputs, weights in the kernel's type T:
**   forward: output d = w0[d] in[i0[d]] + w1[d] in[i1[d]], d < 2n;
**   backward: input i = sum_k wt[i][k] out[src[i][k]], k < TAPS_IN (unused entries: weight 0). */
typedef struct axis { int64_t *i0, *i1, *src; void *w0, *w1, *wt; } axis;

static size_t axis_bytes(int64_t n, size_t es) { return (size_t)(4 * n + TAPS_IN * n) * (sizeof(int64_t) + es); }

#define AXIS(T)                                                                                                \
	static axis axis_##T(int64_t n, char *mem)                                                             \
	{                                                                                                      \
		axis a;                                                                                        \
		a.i0 = (int64_t *)mem, a.i1 = a.i0 + 2 * n, a.src = a.i1 + 2 * n;                             \
		T *w0 = (T *)(a.src + TAPS_IN * n), *w1 = w0 + 2 * n, *wt = w1 + 2 * n;                        \
		a.w0 = w0, a.w1 = w1, a.wt = wt;                                                               \
		for (int64_t i = 0; i < TAPS_IN * n; i++)                                                      \
			a.src[i] = 0, wt[i] = 0;                                                               \
		for (int64_t d = 0; d < 2 * n; d++) {                                                          \
			double s = (d + 0.5) * 0.5 - 0.5;                                                      \
			if (s < 0)                                                                             \
				s = 0;                                                                         \
			a.i0[d] = (int64_t)s;                                                                  \
			a.i1[d] = a.i0[d] + 1 < n ? a.i0[d] + 1 : n - 1;                                       \
			w1[d] = (T)(s - (double)a.i0[d]);                                                      \
			w0[d] = (T)(1.0 - (s - (double)a.i0[d]));                                              \
		}                                                                                              \
		/* transposed lists, in increasing output order, i0 before i1 */                              \
		for (int64_t d = 0; d < 2 * n; d++)                                                            \
			for (int e = 0; e < 2; e++) {                                                          \
				int64_t i = e ? a.i1[d] : a.i0[d];                                             \
				T w = e ? w1[d] : w0[d];                                                       \
				for (int k = 0; k < TAPS_IN && w != 0; k++)                                    \
					if (wt[i * TAPS_IN + k] == 0) {                                        \
						a.src[i * TAPS_IN + k] = d, wt[i * TAPS_IN + k] = w;           \
						break;                                                         \
					}                                                                      \
			}                                                                                      \
		/* unused entries (weight 0) read the first output, so a non-finite value elsewhere       \
		** cannot leak in as 0 * inf */                                                            \
		for (int64_t i = 0; i < n; i++)                                                                \
			for (int k = 1; k < TAPS_IN; k++)                                                      \
				if (wt[i * TAPS_IN + k] == 0)                                                  \
					a.src[i * TAPS_IN + k] = a.src[i * TAPS_IN];                           \
		return a;                                                                                      \
	}
AXIS(float)
AXIS(double)

/* No FMA contraction of a*b + c, whatever the compiler's default (clang contracts within
** expressions when the target has FMA, as the AVX-512 clones do); GCC does not contract under
** -std=c11 and does not know the pragma. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX512 1
#define AVX512 __attribute__((target("avx512f")))
#define AVX512_INLINE static inline __attribute__((target("avx512f"), always_inline))
#else
#define HAVE_AVX512 0
#endif

/* Elements of the larger tensor (the output forward, gout backward) per chunk, about 64 KiB of
** f32: 4 planes at [64,64], 256 at [8,8], so small planes do not cost one scheduling step each. */
#define CHUNK_ELEMS 16384

/* planes: N*C; per_chunk: planes per chunk; avx512: f32 on the intrinsics. */
typedef struct up_job { tg_node *n; int64_t H, W, planes, per_chunk; bool avx512; axis h, w; } up_job;

/* Interior taps of an axis (see axis_##T): output 2k-1 = 3/4 in[k-1] + 1/4 in[k], output 2k =
** 1/4 in[k-1] + 3/4 in[k] (0 < k < n); input k = 1/4 out[2k-1] + 3/4 out[2k] + 3/4 out[2k+1] +
** 1/4 out[2k+2] (0 < k < n-1). The first and last entries come from the tables. */
#define Q1 0.25
#define Q3 0.75

/* Same evaluation order as PyTorch's CPU kernel: rows outer, (x00 w0 + x01 w1) h0 + (...) h1.
** up_row: one output row y [2W] from the input rows x0, x1 (weights h0, h1); cw: column taps.
** down_row: dr [W] += hr * (column taps of g [2W]), the taps' sum in list order (an unused
** entry adds 0 * its first source, as the tables say). */
#define UP_ROWS(T)                                                                                                     \
	static inline T up_at_##T(const T *x0, const T *x1, T h0, T h1, const axis *cw, int64_t c)                     \
	{                                                                                                              \
		int64_t a = cw->i0[c], b = cw->i1[c];                                                                  \
		T w0 = ((const T *)cw->w0)[c], w1 = ((const T *)cw->w1)[c];                                            \
		return (x0[a] * w0 + x0[b] * w1) * h0 + (x1[a] * w0 + x1[b] * w1) * h1;                                \
	}                                                                                                              \
	TG_CLONES static void up_row_##T(const T *restrict x0, const T *restrict x1, T h0, T h1, const axis *cw,          \
		T *restrict y, int64_t W)                                                                              \
	{                                                                                                              \
		const T q1 = (T)Q1, q3 = (T)Q3;                                                                        \
		y[0] = up_at_##T(x0, x1, h0, h1, cw, 0);                                                               \
		for (int64_t k = 1; k < W; k++) {                                                                      \
			T a0 = x0[k - 1], b0 = x0[k], a1 = x1[k - 1], b1 = x1[k];                                      \
			y[2 * k - 1] = (a0 * q3 + b0 * q1) * h0 + (a1 * q3 + b1 * q1) * h1;                            \
			y[2 * k] = (a0 * q1 + b0 * q3) * h0 + (a1 * q1 + b1 * q3) * h1;                                \
		}                                                                                                      \
		y[2 * W - 1] = up_at_##T(x0, x1, h0, h1, cw, 2 * W - 1);                                               \
	}                                                                                                              \
	static inline T down_at_##T(const T *g, const axis *cw, int64_t k)                                             \
	{                                                                                                              \
		const T *w = (const T *)cw->wt + k * TAPS_IN;                                                          \
		const int64_t *s = cw->src + k * TAPS_IN;                                                              \
		return ((w[0] * g[s[0]] + w[1] * g[s[1]]) + w[2] * g[s[2]]) + w[3] * g[s[3]];                          \
	}                                                                                                              \
	TG_CLONES static void down_row_##T(const T *restrict g, T hr, const axis *cw, T *restrict dr, int64_t W)          \
	{                                                                                                              \
		const T q1 = (T)Q1, q3 = (T)Q3;                                                                        \
		dr[0] += hr * down_at_##T(g, cw, 0);                                                                   \
		for (int64_t k = 1; k < W - 1; k++)                                                                    \
			dr[k] += hr * (((q1 * g[2 * k - 1] + q3 * g[2 * k]) + q3 * g[2 * k + 1]) + q1 * g[2 * k + 2]); \
		if (W > 1)                                                                                             \
			dr[W - 1] += hr * down_at_##T(g, cw, W - 1);                                                   \
	}                                                                                                              \
	static void up_plane_##T(const up_job *j, const T *x, T *y)                                                    \
	{                                                                                                              \
		const T *hw0 = j->h.w0, *hw1 = j->h.w1;                                                                \
		for (int64_t r = 0; r < 2 * j->H; r++)                                                                 \
			up_row_##T(x + j->h.i0[r] * j->W, x + j->h.i1[r] * j->W, hw0[r], hw1[r], &j->w,                \
				y + r * 2 * j->W, j->W);                                                               \
	}                                                                                                              \
	/* dx[i][k] = sum over the rows r reading row i of wr * (sum over the columns reading k) */                    \
	static void down_plane_##T(const up_job *j, const T *gy, T *dx)                                                \
	{                                                                                                              \
		const T *hwt = j->h.wt;                                                                                \
		for (int64_t i = 0; i < j->H; i++) {                                                                   \
			T *dr = dx + i * j->W;                                                                         \
			memset(dr, 0, sizeof(T) * (size_t)j->W);                                                       \
			for (int k = 0; k < TAPS_IN; k++)                                                              \
				if (hwt[i * TAPS_IN + k] != 0)                                                         \
					down_row_##T(gy + j->h.src[i * TAPS_IN + k] * 2 * j->W,                        \
						hwt[i * TAPS_IN + k], &j->w, dr, j->W);                                \
		}                                                                                                      \
	}
UP_ROWS(float)
UP_ROWS(double)

static bool avx512_on = true; /* tests switch the intrinsics off to run the portable loops */

void upsample2x_set_avx512(bool on); /* no header: tests declare it */
void upsample2x_set_avx512(bool on) { avx512_on = on; }

#if HAVE_AVX512
static bool use_avx512(void)
{
	__builtin_cpu_init();
	return avx512_on && __builtin_cpu_supports("avx512f");
}

/* f32 on AVX-512: the interior of a row in blocks of 16 taps (16 output pairs forward, 16 inputs
** backward). A row with 16 or more interior taps has no partial block: its last block overlaps the
** one before and recomputes the same values (plain loads and stores; masked ones are much slower
** in these memory-bound loops on AMD Zen 4). Shorter rows take one partial block. */

/* The first k (<= 16) floats at p, the other lanes 0. */
static __mmask16 lanes(int64_t k) { return k >= 16 ? 0xFFFF : k <= 0 ? 0 : (__mmask16)((1u << k) - 1); }

AVX512_INLINE __m512 load_k(const float *p, int64_t k)
{
	return k >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(lanes(k), p);
}

/* Stores the first k (<= 16) lanes of v at p. */
AVX512_INLINE void store_k(float *p, int64_t k, __m512 v)
{
	if (k >= 16)
		_mm512_storeu_ps(p, v);
	else
		_mm512_mask_storeu_ps(p, lanes(k), v);
}

/* The 2n floats at p (n <= 16) as their even and odd elements. */
AVX512_INLINE void load_pairs(const float *p, int64_t n, __m512 *even, __m512 *odd)
{
	const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
	__m512 lo = load_k(p, 2 * n), hi = load_k(p + 16, 2 * n - 16);
	*even = _mm512_permutex2var_ps(lo, ie, hi);
	*odd = _mm512_permutex2var_ps(lo, io, hi);
}

/* Stores 2n floats at p (n <= 16): even[0], odd[0], even[1], ... */
AVX512_INLINE void store_pairs(float *p, int64_t n, __m512 even, __m512 odd)
{
	const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
	const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
	store_k(p, 2 * n, _mm512_permutex2var_ps(even, il, odd));
	store_k(p + 16, 2 * n - 16, _mm512_permutex2var_ps(even, ih, odd));
}

/* (a0 wa + b0 wb) h0 + (a1 wa + b1 wb) h1, as up_row_float. */
AVX512_INLINE __m512 bilerp(__m512 a0, __m512 b0, __m512 a1, __m512 b1, __m512 wa, __m512 wb, __m512 h0, __m512 h1)
{
	__m512 top = _mm512_add_ps(_mm512_mul_ps(a0, wa), _mm512_mul_ps(b0, wb));
	__m512 bot = _mm512_add_ps(_mm512_mul_ps(a1, wa), _mm512_mul_ps(b1, wb));
	return _mm512_add_ps(_mm512_mul_ps(top, h0), _mm512_mul_ps(bot, h1));
}

/* Output pairs (2k-1, 2k) for k in [k0, k0 + n), n <= 16. */
AVX512_INLINE void up16(const float *x0, const float *x1, __m512 h0, __m512 h1, float *y, int64_t k0, int64_t n)
{
	__m512 q1 = _mm512_set1_ps((float)Q1), q3 = _mm512_set1_ps((float)Q3);
	__m512 a0 = load_k(x0 + k0 - 1, n), b0 = load_k(x0 + k0, n);
	__m512 a1 = load_k(x1 + k0 - 1, n), b1 = load_k(x1 + k0, n);
	__m512 odd = bilerp(a0, b0, a1, b1, q3, q1, h0, h1), even = bilerp(a0, b0, a1, b1, q1, q3, h0, h1);
	store_pairs(y + 2 * k0 - 1, n, odd, even);
}

AVX512 static void up_row_avx512(const float *x0, const float *x1, float h0, float h1, const axis *cw, float *y,
	int64_t W)
{
	__m512 vh0 = _mm512_set1_ps(h0), vh1 = _mm512_set1_ps(h1);
	y[0] = up_at_float(x0, x1, h0, h1, cw, 0);
	if (W - 1 >= 16) {
		int64_t k = 1;
		for (; k + 16 <= W; k += 16)
			up16(x0, x1, vh0, vh1, y, k, 16);
		if (k < W)
			up16(x0, x1, vh0, vh1, y, W - 16, 16);
	} else if (W > 1) {
		up16(x0, x1, vh0, vh1, y, 1, W - 1);
	}
	y[2 * W - 1] = up_at_float(x0, x1, h0, h1, cw, 2 * W - 1);
}

AVX512 static void up_plane_avx512(const up_job *j, const float *x, float *y)
{
	const float *hw0 = j->h.w0, *hw1 = j->h.w1;
	for (int64_t r = 0; r < 2 * j->H; r++)
		up_row_avx512(x + j->h.i0[r] * j->W, x + j->h.i1[r] * j->W, hw0[r], hw1[r], &j->w, y + r * 2 * j->W,
			j->W);
}

/* The row taps of one dx row: gout rows g[t] with weights hr[t], t < nt (zero weights dropped). */
typedef struct row_taps { const float *g[TAPS_IN]; float hr[TAPS_IN]; int nt; } row_taps;

/* dx inputs [k0, k0 + n), n <= 16: 0 + hr[0] s[0] + hr[1] s[1] + ..., s[t] the column taps of g[t]. */
AVX512_INLINE __m512 down16(const row_taps *rt, int64_t k0, int64_t n)
{
	__m512 q1 = _mm512_set1_ps((float)Q1), q3 = _mm512_set1_ps((float)Q3), acc = _mm512_setzero_ps();
	for (int t = 0; t < rt->nt; t++) {
		__m512 e0, e1, e2, e3;
		load_pairs(rt->g[t] + 2 * k0 - 1, n, &e0, &e1);
		load_pairs(rt->g[t] + 2 * k0 + 1, n, &e2, &e3);
		__m512 sum = _mm512_add_ps(_mm512_mul_ps(q1, e0), _mm512_mul_ps(q3, e1));
		sum = _mm512_add_ps(_mm512_add_ps(sum, _mm512_mul_ps(q3, e2)), _mm512_mul_ps(q1, e3));
		acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(rt->hr[t]), sum));
	}
	return acc;
}

/* Edge column k of a dx row, from the tables, in the same order. */
static float down_edge(const row_taps *rt, const axis *cw, int64_t k)
{
	float acc = 0;
	for (int t = 0; t < rt->nt; t++)
		acc += rt->hr[t] * down_at_float(rt->g[t], cw, k);
	return acc;
}

AVX512 static void down_row_avx512(const row_taps *rt, const axis *cw, float *dr, int64_t W)
{
	dr[0] = down_edge(rt, cw, 0);
	if (W - 2 >= 16) {
		int64_t k = 1;
		for (; k + 16 <= W - 1; k += 16)
			_mm512_storeu_ps(dr + k, down16(rt, k, 16));
		if (k < W - 1)
			_mm512_storeu_ps(dr + W - 17, down16(rt, W - 17, 16));
	} else if (W > 2) {
		store_k(dr + 1, W - 2, down16(rt, 1, W - 2));
	}
	if (W > 1)
		dr[W - 1] = down_edge(rt, cw, W - 1);
}

static void down_plane_avx512(const up_job *j, const float *gy, float *dx)
{
	const float *hwt = j->h.wt;
	for (int64_t i = 0; i < j->H; i++) {
		row_taps rt = {{0}, {0}, 0};
		for (int k = 0; k < TAPS_IN; k++)
			if (hwt[i * TAPS_IN + k] != 0) {
				rt.g[rt.nt] = gy + j->h.src[i * TAPS_IN + k] * 2 * j->W;
				rt.hr[rt.nt++] = hwt[i * TAPS_IN + k];
			}
		down_row_avx512(&rt, &j->w, dx + i * j->W, j->W);
	}
}
#else
static bool use_avx512(void) { return false; }
#define up_plane_avx512 up_plane_float
#define down_plane_avx512 down_plane_float
#endif

/* Builds both axes' taps in the scratch (H: rows, W: columns of the input) and the chunking: fixed
** groups of whole planes, never dependent on the thread count. Only for non-empty tensors. */
static tg_status make_job(tg_exec *ex, tg_node *n, int64_t H, int64_t W, up_job *j)
{
	size_t es = tg_dtype_size(n->dtype), hb = (axis_bytes(H, es) + 63) & ~(size_t)63;
	char *mem = tg_exec_scratch(ex, hb + axis_bytes(W, es));
	if (!mem)
		return tg_graph_fail(tg_exec_graph(ex), TG_ERR_NOMEM, "%s: out of memory", n->op->name);
	int64_t big = 4 * H * W;
	*j = (up_job){n, H, W, n->shape.d[0] * n->shape.d[1], big < CHUNK_ELEMS ? CHUNK_ELEMS / big : 1, use_avx512(),
		{0}, {0}};
	if (n->dtype == TG_F32)
		j->h = axis_float(H, mem), j->w = axis_float(W, mem + hb);
	else
		j->h = axis_double(H, mem), j->w = axis_double(W, mem + hb);
	return TG_OK;
}

static int64_t chunks(const up_job *j) { return (j->planes + j->per_chunk - 1) / j->per_chunk; }

/* Chunk c: planes [p0, p1); x [., H, W] and y [., 2H, 2W]. */
static void up_chunk(void *arg, int64_t c)
{
	const up_job *j = arg;
	int64_t in = j->H * j->W, out = 4 * in, p0 = c * j->per_chunk;
	int64_t p1 = j->planes - p0 < j->per_chunk ? j->planes : p0 + j->per_chunk;
	for (int64_t p = p0; p < p1; p++)
		if (j->n->dtype != TG_F32)
			up_plane_double(j, (const double *)j->n->src[0]->data + p * in, tg_f64(j->n) + p * out);
		else if (j->avx512)
			up_plane_avx512(j, (const float *)j->n->src[0]->data + p * in, tg_f32(j->n) + p * out);
		else
			up_plane_float(j, (const float *)j->n->src[0]->data + p * in, tg_f32(j->n) + p * out);
}

static tg_status upsample2x_forward(tg_exec *ex, tg_node *n)
{
	up_job j;
	if (tg_numel(n) == 0) /* nothing to do; an empty tensor's other dims may be huge */
		return TG_OK;
	tg_status st = make_job(ex, n, n->src[0]->shape.d[2], n->src[0]->shape.d[3], &j);
	if (st == TG_OK)
		tg_parallel_for(ex, chunks(&j), up_chunk, &j);
	return st;
}

/* upsample2x_backward: gout [N,C,2H,2W] -> dx [N,C,H,W]. */
static tg_status upsample2x_backward_infer(tg_graph *g, tg_node *n)
{
	tg_shape go = n->src[0]->shape;
	if (go.ndim != 4 || go.d[2] < 2 || go.d[3] < 2 || go.d[2] % 2 || go.d[3] % 2)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "gradient %s: expected [N,C,2H,2W]", tg_sstr(go));
	if (n->src[0]->dtype != TG_F32 && n->src[0]->dtype != TG_F64)
		return tg_op_fail(g, n, TG_ERR_DTYPE, "gradient is %s; expected f32 or f64", tg_dtype_name(n->src[0]->dtype));
	n->shape = TG_SHAPE(go.d[0], go.d[1], go.d[2] / 2, go.d[3] / 2);
	n->dtype = n->src[0]->dtype;
	return TG_OK;
}

/* Chunk c: planes [p0, p1); gy [., 2H, 2W] and dx [., H, W]. */
static void down_chunk(void *arg, int64_t c)
{
	const up_job *j = arg;
	int64_t in = j->H * j->W, out = 4 * in, p0 = c * j->per_chunk;
	int64_t p1 = j->planes - p0 < j->per_chunk ? j->planes : p0 + j->per_chunk;
	for (int64_t p = p0; p < p1; p++)
		if (j->n->dtype != TG_F32)
			down_plane_double(j, (const double *)j->n->src[0]->data + p * out, tg_f64(j->n) + p * in);
		else if (j->avx512)
			down_plane_avx512(j, (const float *)j->n->src[0]->data + p * out, tg_f32(j->n) + p * in);
		else
			down_plane_float(j, (const float *)j->n->src[0]->data + p * out, tg_f32(j->n) + p * in);
}

static tg_status upsample2x_backward_forward(tg_exec *ex, tg_node *n)
{
	up_job j;
	if (tg_numel(n) == 0)
		return TG_OK;
	tg_status st = make_job(ex, n, n->shape.d[2], n->shape.d[3], &j);
	if (st == TG_OK)
		tg_parallel_for(ex, chunks(&j), down_chunk, &j);
	return st;
}

const tg_op tg_op_upsample2x_backward = {"upsample2x_backward", upsample2x_backward_infer,
	upsample2x_backward_forward, NULL, TG_OP_NONDIFF, NULL};

static tg_status upsample2x_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	(void)n, (void)need;
	gin[0] = tg_node_new(g, &tg_op_upsample2x_backward, 1, &gout, NULL);
	return TG_OK;
}

const tg_op tg_op_upsample2x = {"upsample2x", upsample2x_infer, upsample2x_forward, upsample2x_backward, 0, NULL};

tg_node *tg_upsample2x(tg_graph *g, tg_node *x)
{
	if (!g || !x)
		return NULL;
	return tg_node_new(g, &tg_op_upsample2x, 1, &x, NULL);
}
