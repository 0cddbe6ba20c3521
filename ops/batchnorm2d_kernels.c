/*
** batchnorm2d_kernels.c: the memory passes of batch norm (ops/batchnorm2d.c, whose header comment
** gives the maths): per-run kernels compiled for AVX-512, AVX2 and baseline x86-64 (plus AVX-512
** intrinsics for f32), and the fixed chunking that runs them (see ops/batchnorm2d.h).
*/
#include "batchnorm2d.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <stdatomic.h>
#define BN_X86 1
#endif

/* An empty x is 0 values per channel (its other dims may be huge: no products of them). */
bn_dims bn_dims_of(const tg_node *x)
{
	bn_dims d = {0, x->shape.d[1], 0, 0};
	if (tg_numel(x) > 0) {
		d.N = x->shape.d[0];
		d.HW = x->shape.d[2] * x->shape.d[3];
		d.M = d.N * d.HW;
	}
	return d;
}

/* The loops are compiled for AVX-512 and AVX2 too, picked at load time. Elementwise loops are plain
** C that GCC vectorises (the relu select is a bit mask, which it can if-convert); sums convert a
** block of values to double buffers that way, then add them into 16 partial sums (4 vectors of 4
** doubles) combined in a fixed order. Every clone computes the same operations, so the same bits. */
#define VL 4     /* doubles per vector */
#define UN 4     /* vectors of partial sums per quantity */
#define BLK 256  /* values per block of a sum (2 KiB per buffer) */
typedef double vd __attribute__((vector_size(VL * sizeof(double))));

/* v = c ? v : +0 for v of type T, through an integer of its size: GCC vectorises this select (not
** the ?: form, which stays a branch). */
#define BITS_float int32_t
#define BITS_double int64_t
#define KEEP_IF(T, v, c) do { BITS_##T b_; memcpy(&b_, &(v), sizeof b_); b_ &= -(BITS_##T)(c); memcpy(&(v), &b_, sizeof b_); } while (0)

/* dyM from dy (g) and x (e) as doubles: g where the pre-activation rounded to T is > 0. */
#define MASK_DY(T, g, e, k) do { T r_ = (T)((e) * (k).a + (k).b); KEEP_IF(double, g, r_ > 0); } while (0)

/* s[0] += sum(p), s[1] += sum(p q) over n buffered values (zero-padded to whole vector steps). */
static inline void add_block(vd *s0, vd *s1, double *p, double *q, int n)
{
	for (int j = n; j % (UN * VL); j++)
		p[j] = q[j] = 0;
	for (int j = 0; j < n; j += UN * VL)
		for (int u = 0; u < UN; u++) {
			vd a, b;
			memcpy(&a, p + j + u * VL, sizeof a);
			memcpy(&b, q + j + u * VL, sizeof b);
			s0[u] += a, s1[u] += a * b;
		}
}

/* The sum of 16 partial sums L[l] (l: the value's index mod 16), in a fixed order. */
static double total16(const double *L)
{
	double v[4];
	for (int t = 0; t < 4; t++)
		v[t] = (L[t] + L[4 + t]) + (L[8 + t] + L[12 + t]);
	return (v[0] + v[1]) + (v[2] + v[3]);
}

static double total(const vd *acc)
{
	double L[UN * VL];
	memcpy(L, acc, sizeof L);
	return total16(L);
}

#define BN_KERNELS(T)                                                                                            \
	/* s = {sum(x - K), sum((x - K)^2)} over len values */                                                   \
	TG_CLONES static void stat_run_##T(const T *x, int64_t len, double K, double s[2])                          \
	{                                                                                                        \
		double eb[BLK + UN * VL];                                                                        \
		vd a0[UN] = {{0}}, a1[UN] = {{0}};                                                               \
		for (int64_t i = 0; i < len; i += BLK) {                                                         \
			int m = len - i < BLK ? (int)(len - i) : BLK;                                            \
			const T *p = x + i;                                                                      \
			for (int j = 0; j < m; j++)                                                              \
				eb[j] = (double)p[j] - K;                                                        \
			add_block(a0, a1, eb, eb, m);                                                            \
		}                                                                                                \
		s[0] = total(a0), s[1] = total(a1);                                                              \
	}                                                                                                        \
	/* s = {sum(dyM), sum(dyM (x - mean))} over len values */                                                \
	TG_CLONES static void grad_run_##T(const T *x, const T *dy, int64_t len, bn_coef k, bool relu, double s[2]) \
	{                                                                                                        \
		double gb[BLK + UN * VL], eb[BLK + UN * VL];                                                     \
		vd a0[UN] = {{0}}, a1[UN] = {{0}};                                                               \
		for (int64_t i = 0; i < len; i += BLK) {                                                         \
			int m = len - i < BLK ? (int)(len - i) : BLK;                                            \
			const T *p = x + i, *q = dy + i;                                                         \
			if (relu)                                                                                \
				for (int j = 0; j < m; j++) {                                                    \
					double e = (double)p[j], g = (double)q[j];                               \
					MASK_DY(T, g, e, k);                                                     \
					gb[j] = g, eb[j] = e - k.mean;                                           \
				}                                                                                \
			else                                                                                     \
				for (int j = 0; j < m; j++)                                                      \
					gb[j] = (double)q[j], eb[j] = (double)p[j] - k.mean;                     \
			add_block(a0, a1, gb, eb, m);                                                            \
		}                                                                                                \
		s[0] = total(a0), s[1] = total(a1);                                                              \
	}                                                                                                        \
	/* y = pre rounded to T, or relu of it, over len values */                                               \
	TG_CLONES static void norm_run_##T(const T *x, T *y, int64_t len, bn_coef k, bool relu)                     \
	{                                                                                                        \
		if (relu)                                                                                        \
			for (int64_t i = 0; i < len; i++) {                                                      \
				T r = (T)((double)x[i] * k.a + k.b);                                             \
				KEEP_IF(T, r, r > 0);                                                            \
				y[i] = r;                                                                        \
			}                                                                                        \
		else                                                                                             \
			for (int64_t i = 0; i < len; i++)                                                        \
				y[i] = (T)((double)x[i] * k.a + k.b);                                            \
	}                                                                                                        \
	/* dx = gr ((dyM - k0) - (x - mean) c1) over len values */                                               \
	TG_CLONES static void dx_run_##T(const T *x, const T *dy, T *dx, int64_t len, bn_coef k, bool relu)         \
	{                                                                                                        \
		if (relu)                                                                                        \
			for (int64_t i = 0; i < len; i++) {                                                      \
				double e = (double)x[i], g = (double)dy[i];                                      \
				MASK_DY(T, g, e, k);                                                             \
				dx[i] = (T)(k.gr * ((g - k.k0) - (e - k.mean) * k.c1));                          \
			}                                                                                        \
		else                                                                                             \
			for (int64_t i = 0; i < len; i++)                                                        \
				dx[i] = (T)(k.gr * (((double)dy[i] - k.k0) - ((double)x[i] - k.mean) * k.c1));   \
	}                                                                                                        \
	/* The same four over an item's n = C*H*W values with constants per value (short runs) */               \
	TG_CLONES static void stat_row_##T(const T *x, int64_t n, bn_rows k, double *s0, double *s1)                \
	{                                                                                                        \
		for (int64_t i = 0; i < n; i++) {                                                                \
			double e = (double)x[i] - k.K[i];                                                        \
			s0[i] += e, s1[i] += e * e;                                                              \
		}                                                                                                \
	}                                                                                                        \
	TG_CLONES static void grad_row_##T(const T *x, const T *dy, int64_t n, bn_rows k, bool relu, double *s0,    \
		double *s1)                                                                                      \
	{                                                                                                        \
		for (int64_t i = 0; i < n; i++) {                                                                \
			double e = (double)x[i], g = (double)dy[i];                                              \
			T r = (T)(e * k.a[i] + k.b[i]);                                                          \
			KEEP_IF(double, g, !relu || r > 0);                                                      \
			s0[i] += g, s1[i] += g * (e - k.mean[i]);                                                \
		}                                                                                                \
	}                                                                                                        \
	TG_CLONES static void norm_row_##T(const T *x, T *y, int64_t n, bn_rows k, bool relu)                       \
	{                                                                                                        \
		for (int64_t i = 0; i < n; i++) {                                                                \
			T r = (T)((double)x[i] * k.a[i] + k.b[i]);                                               \
			KEEP_IF(T, r, !relu || r > 0);                                                           \
			y[i] = r;                                                                                \
		}                                                                                                \
	}                                                                                                        \
	TG_CLONES static void dx_row_##T(const T *x, const T *dy, T *dx, int64_t n, bn_rows k, bool relu)           \
	{                                                                                                        \
		for (int64_t i = 0; i < n; i++) {                                                                \
			double e = (double)x[i], g = (double)dy[i];                                              \
			T r = (T)(e * k.a[i] + k.b[i]);                                                          \
			KEEP_IF(double, g, !relu || r > 0);                                                      \
			dx[i] = (T)(k.gr[i] * ((g - k.k0[i]) - (e - k.mean[i]) * k.c1[i]));                      \
		}                                                                                                \
	}
BN_KERNELS(float)
BN_KERNELS(double)

/* The f32 kernels again with AVX-512 intrinsics, where the CPU has them: GCC 12 converts generic
** vectors of floats poorly (the sums above go through buffers for that), and f32 is what training
** runs. The same 16 lanes for sums (value i of a run in lane i mod 16, a partial last step padded
** with zeros), the same operations and order, so the same bits as the code above.
** batchnorm2d_set_avx512(false) (for tests) makes them stand aside. */
#ifdef BN_X86
#define AVX512 __attribute__((target("avx512f")))

static atomic_bool avx512_off;
void batchnorm2d_set_avx512(bool on) { atomic_store(&avx512_off, !on); }
static bool avx512(void) { return !atomic_load(&avx512_off) && __builtin_cpu_supports("avx512f"); }

/* Values i..i+15 of a run as doubles minus sub, in lo (8) and hi (8); the lanes of a partial last
** step (mask m, from len - i < 16) are 0. */
#define LOAD16(lo, hi, p, i, sub, m)                                                                    \
	do {                                                                                            \
		__m512 v_ = _mm512_maskz_loadu_ps((m), (p) + (i));                                      \
		__m256 h_ = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v_), 1));          \
		lo = _mm512_maskz_sub_pd((__mmask8)(m), _mm512_cvtps_pd(_mm512_castps512_ps256(v_)), sub); \
		hi = _mm512_maskz_sub_pd((__mmask8)((m) >> 8), _mm512_cvtps_pd(h_), sub);               \
	} while (0)
#define FULL16(lo, hi, p, i, sub)                                                                       \
	do {                                                                                            \
		__m512 v_ = _mm512_loadu_ps((p) + (i));                                                 \
		__m256 h_ = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v_), 1));          \
		lo = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v_)), sub);                   \
		hi = _mm512_sub_pd(_mm512_cvtps_pd(h_), sub);                                           \
	} while (0)

/* s = the totals of two sums of 16 lanes (lo: lanes 0-7, hi: 8-15), added as total16 does. */
AVX512 static void store_total(__m512d lo0, __m512d hi0, __m512d lo1, __m512d hi1, double s[2])
{
	double L[16];
	_mm512_storeu_pd(L, lo0);
	_mm512_storeu_pd(L + 8, hi0);
	s[0] = total16(L);
	_mm512_storeu_pd(L, lo1);
	_mm512_storeu_pd(L + 8, hi1);
	s[1] = total16(L);
}

/* stat_run_float */
AVX512 static void stat_run_avx512(const float *x, int64_t len, double K, double s[2])
{
	__m512d k = _mm512_set1_pd(K), a0 = _mm512_setzero_pd(), b0 = a0, a1 = a0, b1 = a0, e, f;
	int64_t i = 0;
	for (; i + 16 <= len; i += 16) {
		FULL16(e, f, x, i, k);
		a0 = _mm512_add_pd(a0, e), b0 = _mm512_add_pd(b0, f);
		a1 = _mm512_add_pd(a1, _mm512_mul_pd(e, e)), b1 = _mm512_add_pd(b1, _mm512_mul_pd(f, f));
	}
	if (i < len) {
		LOAD16(e, f, x, i, k, (__mmask16)((1u << (len - i)) - 1));
		a0 = _mm512_add_pd(a0, e), b0 = _mm512_add_pd(b0, f);
		a1 = _mm512_add_pd(a1, _mm512_mul_pd(e, e)), b1 = _mm512_add_pd(b1, _mm512_mul_pd(f, f));
	}
	store_total(a0, b0, a1, b1, s);
}

/* g masked where the pre-activation x a + b rounded to float is not > 0 (as MASK_DY). */
AVX512 static inline __m512d relu_mask(__m512d g, __m512d x, __m512d a, __m512d b)
{
	__m512d r = _mm512_cvtps_pd(_mm512_cvtpd_ps(_mm512_add_pd(_mm512_mul_pd(x, a), b)));
	return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(r, _mm512_setzero_pd(), _CMP_GT_OQ), g);
}

/* One 16-value step of grad_run: x in u, v; dy in g, h. */
#define GRAD_STEP()                                                                                     \
	do {                                                                                            \
		if (relu)                                                                               \
			g = relu_mask(g, u, a, b), h = relu_mask(h, v, a, b);                           \
		a0 = _mm512_add_pd(a0, g), b0 = _mm512_add_pd(b0, h);                                   \
		a1 = _mm512_add_pd(a1, _mm512_mul_pd(g, _mm512_sub_pd(u, mean)));                      \
		b1 = _mm512_add_pd(b1, _mm512_mul_pd(h, _mm512_sub_pd(v, mean)));                       \
	} while (0)

/* grad_run_float (padding lanes: g = 0, so they add 0 like the buffers' zeros) */
AVX512 static void grad_run_avx512(const float *x, const float *dy, int64_t len, bn_coef k, bool relu, double s[2])
{
	__m512d z = _mm512_setzero_pd(), a = _mm512_set1_pd(k.a), b = _mm512_set1_pd(k.b), mean = _mm512_set1_pd(k.mean);
	__m512d a0 = z, b0 = z, a1 = z, b1 = z, u, v, g, h;
	int64_t i = 0;
	for (; i + 16 <= len; i += 16) {
		FULL16(u, v, x, i, z);
		FULL16(g, h, dy, i, z);
		GRAD_STEP();
	}
	if (i < len) {
		__mmask16 m = (__mmask16)((1u << (len - i)) - 1);
		LOAD16(u, v, x, i, z, m);
		LOAD16(g, h, dy, i, z, m);
		GRAD_STEP();
	}
	store_total(a0, b0, a1, b1, s);
}

/* 16 floats to p + i, m of them in a partial last step (masked stores are slow on AMD). */
#define STORE16(p, i, v, m) ((m) == 0xffff ? _mm512_storeu_ps((p) + (i), v) : _mm512_mask_storeu_ps((p) + (i), m, v))

/* 16 floats from the doubles lo (values 0-7) and hi (8-15). */
AVX512 static inline __m512 to_float16(__m512d lo, __m512d hi)
{
	__m512d l = _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)));
	return _mm512_castpd_ps(_mm512_insertf64x4(l, _mm256_castps_pd(_mm512_cvtpd_ps(hi)), 1));
}

/* norm_run_float */
AVX512 static void norm_run_avx512(const float *x, float *y, int64_t len, bn_coef k, bool relu)
{
	__m512d z = _mm512_setzero_pd(), a = _mm512_set1_pd(k.a), b = _mm512_set1_pd(k.b), u, v;
	for (int64_t i = 0; i < len; i += 16) {
		__mmask16 m = len - i >= 16 ? 0xffff : (__mmask16)((1u << (len - i)) - 1);
		if (m == 0xffff)
			FULL16(u, v, x, i, z);
		else
			LOAD16(u, v, x, i, z, m);
		__m512 r = to_float16(_mm512_add_pd(_mm512_mul_pd(u, a), b), _mm512_add_pd(_mm512_mul_pd(v, a), b));
		if (relu)
			r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(r, _mm512_setzero_ps(), _CMP_GT_OQ), r);
		STORE16(y, i, r, m);
	}
}

/* dx_run_float; dx may be dy (each step reads before it writes). */
AVX512 static void dx_run_avx512(const float *x, const float *dy, float *dx, int64_t len, bn_coef k, bool relu)
{
	__m512d z = _mm512_setzero_pd(), a = _mm512_set1_pd(k.a), b = _mm512_set1_pd(k.b), mean = _mm512_set1_pd(k.mean);
	__m512d gr = _mm512_set1_pd(k.gr), k0 = _mm512_set1_pd(k.k0), c1 = _mm512_set1_pd(k.c1), u, v, g, h;
	for (int64_t i = 0; i < len; i += 16) {
		__mmask16 m = len - i >= 16 ? 0xffff : (__mmask16)((1u << (len - i)) - 1);
		if (m == 0xffff) {
			FULL16(u, v, x, i, z);
			FULL16(g, h, dy, i, z);
		} else {
			LOAD16(u, v, x, i, z, m);
			LOAD16(g, h, dy, i, z, m);
		}
		if (relu)
			g = relu_mask(g, u, a, b), h = relu_mask(h, v, a, b);
		g = _mm512_mul_pd(gr, _mm512_sub_pd(_mm512_sub_pd(g, k0), _mm512_mul_pd(_mm512_sub_pd(u, mean), c1)));
		h = _mm512_mul_pd(gr, _mm512_sub_pd(_mm512_sub_pd(h, k0), _mm512_mul_pd(_mm512_sub_pd(v, mean), c1)));
		STORE16(dx, i, to_float16(g, h), m);
	}
}
#else
#define stat_run_avx512 stat_run_float   /* never called: job.avx512 stays false */
#define grad_run_avx512 grad_run_float
#define norm_run_avx512 norm_run_float
#define dx_run_avx512 dx_run_float
#endif

/* ---------------------------------------------------------------- passes */

/* Sets up a pass of node n over x (dy, out as its kernels need; sums: a reduction pass) with its
** scratch: the channel constants, the short runs' rows and the slots, then `extra` doubles at *rest
** (for the caller). False after reporting out of memory. */
bool bn_job_init(bn_job *j, tg_exec *ex, const tg_node *n, const tg_node *x, const tg_node *dy, tg_node *out,
	bool relu, bool sums, int64_t extra, double **rest)
{
	*j = (bn_job){x, dy, out, NULL, {0}, NULL, bn_dims_of(x), 1, 0, relu, false, false};
	bn_dims d = j->d;
	int64_t w = d.C * d.HW, nrow = 0, nsum = 0;
	j->short_runs = d.M > 0 && d.HW < SHORT_RUN;
	if (j->short_runs) {
		j->per = w < CHUNK_VALUES ? CHUNK_VALUES / w : 1;
		j->nchunks = (d.N + j->per - 1) / j->per;
		nrow = 7 * w, nsum = sums ? 2 * j->nchunks * w : 0;
	} else if (d.M > 0) {
		j->per = d.HW < CHUNK_VALUES ? CHUNK_VALUES / d.HW : 1;
		j->nchunks = (d.N * d.C + j->per - 1) / j->per;
		nsum = sums ? 2 * d.N * d.C : 0;
	}
#ifdef BN_X86
	j->avx512 = avx512();
#endif
	size_t kb = (sizeof(bn_coef) * (size_t)d.C + 63) / 64 * 64;
	char *p = tg_exec_scratch(ex, kb + sizeof(double) * (size_t)(nrow + nsum + extra) + 64);
	if (!p)
		return tg_op_fail(ex->g, n, TG_ERR_NOMEM, "out of memory for the constants and sums of %lld channels",
			(long long)d.C), false;
	j->k = (bn_coef *)p;
	double *r = (double *)(p + kb);
	if (j->short_runs)
		j->rows = (bn_rows){r, r + w, r + 2 * w, r + 3 * w, r + 4 * w, r + 5 * w, r + 6 * w};
	j->sums = r + nrow;
	*rest = j->sums + nsum;
	return true;
}

/* Runs fn over the chunks, the channel constants expanded first for short runs. */
void bn_job_run(tg_exec *ex, bn_job *j, void (*fn)(void *, int64_t))
{
	for (int64_t i = 0; j->short_runs && i < j->d.C * j->d.HW; i++) {
		bn_coef k = j->k[i / j->d.HW];
		bn_rows r = j->rows;
		r.a[i] = k.a, r.b[i] = k.b, r.mean[i] = k.mean, r.gr[i] = k.gr, r.k0[i] = k.k0, r.c1[i] = k.c1, r.K[i] = k.K;
	}
	tg_parallel_for(ex, j->nchunks, fn, j);
}

/* Chunk `chunk`'s runs r (items n for short runs) and their offset o in x. */
#define FOR_RUNS(j, chunk, r, o)                                                                        \
	for (int64_t r = (chunk) * (j)->per, e_ = r + (j)->per, o = r * (j)->d.HW;                      \
		r < e_ && r < (j)->d.N * (j)->d.C; r++, o += (j)->d.HW)
#define FOR_ITEMS(j, chunk, n, o)                                                                       \
	for (int64_t n = (chunk) * (j)->per, e_ = n + (j)->per, o = n * (j)->d.C * (j)->d.HW;           \
		n < e_ && n < (j)->d.N; n++, o += (j)->d.C * (j)->d.HW)

/* The typed input and output pointers at offset o. */
#define F32(t, o) ((float *)(t)->data + (o))
#define F64(t, o) ((double *)(t)->data + (o))

void bn_stat_chunk(void *arg, int64_t chunk)
{
	const bn_job *j = arg;
	bool f32 = j->x->dtype == TG_F32;
	if (j->short_runs) {
		int64_t w = j->d.C * j->d.HW;
		double *s0 = j->sums + 2 * chunk * w;
		memset(s0, 0, sizeof(double) * 2 * (size_t)w);
		FOR_ITEMS(j, chunk, n, o)
			f32 ? stat_row_float(F32(j->x, o), w, j->rows, s0, s0 + w) : stat_row_double(F64(j->x, o), w, j->rows, s0, s0 + w);
		return;
	}
	FOR_RUNS(j, chunk, r, o) {
		double K = j->k[r % j->d.C].K, *s = j->sums + 2 * r;
		if (f32 && j->avx512)
			stat_run_avx512(F32(j->x, o), j->d.HW, K, s);
		else
			f32 ? stat_run_float(F32(j->x, o), j->d.HW, K, s) : stat_run_double(F64(j->x, o), j->d.HW, K, s);
	}
}

void bn_grad_chunk(void *arg, int64_t chunk)
{
	const bn_job *j = arg;
	bool f32 = j->x->dtype == TG_F32;
	if (j->short_runs) {
		int64_t w = j->d.C * j->d.HW;
		double *s0 = j->sums + 2 * chunk * w;
		memset(s0, 0, sizeof(double) * 2 * (size_t)w);
		FOR_ITEMS(j, chunk, n, o)
			f32 ? grad_row_float(F32(j->x, o), F32(j->dy, o), w, j->rows, j->relu, s0, s0 + w)
			    : grad_row_double(F64(j->x, o), F64(j->dy, o), w, j->rows, j->relu, s0, s0 + w);
		return;
	}
	FOR_RUNS(j, chunk, r, o) {
		bn_coef k = j->k[r % j->d.C];
		double *s = j->sums + 2 * r;
		if (f32 && j->avx512)
			grad_run_avx512(F32(j->x, o), F32(j->dy, o), j->d.HW, k, j->relu, s);
		else if (f32)
			grad_run_float(F32(j->x, o), F32(j->dy, o), j->d.HW, k, j->relu, s);
		else
			grad_run_double(F64(j->x, o), F64(j->dy, o), j->d.HW, k, j->relu, s);
	}
}

void bn_norm_chunk(void *arg, int64_t chunk)
{
	const bn_job *j = arg;
	bool f32 = j->x->dtype == TG_F32;
	int64_t w = j->d.C * j->d.HW;
	if (j->short_runs) {
		FOR_ITEMS(j, chunk, n, o)
			f32 ? norm_row_float(F32(j->x, o), F32(j->out, o), w, j->rows, j->relu)
			    : norm_row_double(F64(j->x, o), F64(j->out, o), w, j->rows, j->relu);
		return;
	}
	FOR_RUNS(j, chunk, r, o) {
		bn_coef k = j->k[r % j->d.C];
		if (f32 && j->avx512)
			norm_run_avx512(F32(j->x, o), F32(j->out, o), j->d.HW, k, j->relu);
		else if (f32)
			norm_run_float(F32(j->x, o), F32(j->out, o), j->d.HW, k, j->relu);
		else
			norm_run_double(F64(j->x, o), F64(j->out, o), j->d.HW, k, j->relu);
	}
}

void bn_norm_values(const void *x, void *y, int64_t len, bn_coef k, bool relu, bool f32)
{
#ifdef BN_X86
	if (f32 && avx512()) {
		norm_run_avx512(x, y, len, k, relu);
		return;
	}
#endif
	if (f32)
		norm_run_float(x, y, len, k, relu);
	else
		norm_run_double(x, y, len, k, relu);
}

void bn_dx_chunk(void *arg, int64_t chunk)
{
	const bn_job *j = arg;
	bool f32 = j->x->dtype == TG_F32;
	int64_t w = j->d.C * j->d.HW;
	if (j->short_runs) {
		FOR_ITEMS(j, chunk, n, o)
			f32 ? dx_row_float(F32(j->x, o), F32(j->dy, o), F32(j->out, o), w, j->rows, j->relu)
			    : dx_row_double(F64(j->x, o), F64(j->dy, o), F64(j->out, o), w, j->rows, j->relu);
		return;
	}
	FOR_RUNS(j, chunk, r, o) {
		bn_coef k = j->k[r % j->d.C];
		if (f32 && j->avx512)
			dx_run_avx512(F32(j->x, o), F32(j->dy, o), F32(j->out, o), j->d.HW, k, j->relu);
		else if (f32)
			dx_run_float(F32(j->x, o), F32(j->dy, o), F32(j->out, o), j->d.HW, k, j->relu);
		else
			dx_run_double(F64(j->x, o), F64(j->dy, o), F64(j->out, o), j->d.HW, k, j->relu);
	}
}

/* s = channel c's two sums: its runs' sums in run order (short runs: its values' slots, chunk by
** chunk, in value order). */
void bn_channel_sums(const bn_job *j, int64_t c, double s[2])
{
	int64_t C = j->d.C, HW = j->d.HW, w = C * HW;
	s[0] = s[1] = 0;
	for (int64_t n = 0; !j->short_runs && n < j->d.N; n++)
		s[0] += j->sums[2 * (n * C + c)], s[1] += j->sums[2 * (n * C + c) + 1];
	for (int64_t k = 0; j->short_runs && k < j->nchunks; k++)
		for (int64_t p = c * HW; p < (c + 1) * HW; p++)
			s[0] += j->sums[2 * k * w + p], s[1] += j->sums[(2 * k + 1) * w + p];
}

