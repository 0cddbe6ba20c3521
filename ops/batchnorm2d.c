/*
** batchnorm2d.c: batch norm over N, H, W per channel (PyTorch's BatchNorm2d, affine), alone or
** fused with the ReLU that follows it: y = gamma (x - mean) / sqrt(var + eps) + beta, or max(y, 0),
** for x [N,C,H,W] (f32 or f64), gamma, beta [C]. A node has one output, so the statistics are a
** node of their own, which the normalisation and the backward both read:
**   s = batchnorm2d_stats(x, running_mean, running_var) -> f64 [3, C], rows mean, rstd =
**     1/sqrt(var + eps) and count (values per channel behind them); attr.i[0] training, f[0]
**     momentum, f[1] eps.
**     training: mean and biased variance of the batch (one shifted pass in double), and the running
**       statistics (state nodes [C]) are updated in place: r = (1 - momentum) r + momentum stat,
**       with the unbiased variance (PyTorch's rule). They are written, never read, in this mode, so
**       repeated forwards (finite differences) see the same function.
**     eval: the running statistics; nothing is written.
**   y = batchnorm2d(x, gamma, beta, s) or batchnorm2d_relu(x, gamma, beta, s): as PyTorch's CPU
**     kernel, pre = x a + b with a = gamma rstd, b = beta - mean a (double), rounded to x's dtype;
**     the relu form writes pre > 0 ? pre : 0.
** Backward, with M values per channel, xhat = (x - mean) rstd and dyM = dy, or for the relu form dy
** where pre > 0 (0 where pre <= 0: PyTorch's relu gradient at 0). The mask is recomputed from x, s,
** gamma and beta by the same operations as the forward (so it is exactly y > 0) instead of reading y:
**   g = batchnorm2d_grad_stats(x, dy, gamma, beta, s) -> f64 [4, C], rows sum(dyM) (= dbeta),
**     sum(dyM xhat) (= dgamma), mean(dyM), mean(dyM xhat) (the last two 0 in eval);
**   dx = batchnorm2d_backward_data(dy, x, gamma, beta, s, g)
**      = gamma rstd (dyM - mean(dyM) - xhat mean(dyM xhat)) (llm.c's compact form; eval: gamma rstd dyM).
** Memory passes over [N,C,H,W]: forward 2 reads + 1 write, backward 4 reads + 1 write, dx taking
** over dy's buffer when dy dies there (a separate relu and relu_grad would add 3 reads + 2 writes).
** Every pass splits the tensor into fixed chunks and sums in a fixed order: the same bits for any
** thread count, and for the AVX-512 and portable kernels.
** Data parallelism (a graph with an allreduce hook, training mode): the stats node sums count,
** sum(x), sum(x^2) over the processes and grad_stats sum(dyM), sum(dyM (x - mean)) (one
** tg_exec_allreduce per node), so the statistics, mean(dyM) and mean(dyM xhat) are those of the whole
** batch, as one process would compute them; the dbeta/dgamma rows stay this process's sums, which
** the gradient allreduce adds.
*/
#include "../engine/internal.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <stdatomic.h>
#define BN_X86 1
#endif

/* GCC does not contract a * b + c into an FMA under -std=c11; clang would, in some clones only.
** Without contraction every clone and the scalar tails compute the same roundings, which the relu
** mask of the backward relies on (it must see the forward's pre exactly). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

enum { ST_MEAN, ST_RSTD, ST_COUNT, ST_ROWS };        /* rows of the stats node */
enum { GS_DBETA, GS_DGAMMA, GS_K0, GS_K1, GS_ROWS }; /* rows of grad_stats */

typedef struct bn_dims { int64_t N, C, HW, M; } bn_dims;

/* An empty x is 0 values per channel (its other dims may be huge: no products of them). */
static bn_dims dims_of(const tg_node *x)
{
	bn_dims d = {0, x->shape.d[1], 0, 0};
	if (tg_numel(x) > 0) {
		d.N = x->shape.d[0];
		d.HW = x->shape.d[2] * x->shape.d[3];
		d.M = d.N * d.HW;
	}
	return d;
}

static inline double at(const tg_node *v, int64_t i)
{
	return v->dtype == TG_F32 ? (double)((const float *)v->data)[i] : ((const double *)v->data)[i];
}

static inline void put(tg_node *v, int64_t i, double x)
{
	if (v->dtype == TG_F32)
		((float *)v->data)[i] = (float)x;
	else
		((double *)v->data)[i] = x;
}

/* Row r of an f64 [rows, C] node. */
static inline const double *row(const tg_node *s, int r) { return (const double *)s->data + r * s->shape.d[1]; }

extern const tg_op tg_op_batchnorm2d_relu;
static bool fused_relu(const tg_node *n) { return n->op == &tg_op_batchnorm2d_relu; }

/* ---------------------------------------------------------------- kernels */

/* Per-channel constants. pre = x a + b is the forward's value before rounding; dx = gr ((dyM - k0) -
** (x - mean) c1) with gr = gamma rstd, k0 = mean(dyM), c1 = rstd mean(dyM xhat); K shifts the
** statistics' sums (a value of the channel: it keeps the one-pass variance accurate). */
typedef struct bn_coef { double a, b, mean, gr, k0, c1, K; } bn_coef;
/* The same expanded to one per value of an item [C*H*W] (for short runs, see the passes). */
typedef struct bn_rows { double *a, *b, *mean, *gr, *k0, *c1, *K; } bn_rows;

/* a and b of channel c, the same for the forward and for the backward's relu mask. */
static bn_coef affine_coef(const tg_node *gamma, const tg_node *beta, const tg_node *s, int64_t c)
{
	bn_coef k = {0};
	k.mean = row(s, ST_MEAN)[c];
	k.a = at(gamma, c) * row(s, ST_RSTD)[c];
	k.b = at(beta, c) - k.mean * k.a;
	return k;
}

/* The loops are compiled for AVX-512 and AVX2 too, picked at load time. Elementwise loops are plain
** C that GCC vectorises (the relu select is a bit mask, which it can if-convert); sums convert a
** block of values to double buffers that way, then add them into 16 partial sums (4 vectors of 4
** doubles) combined in a fixed order. Every clone computes the same operations, so the same bits. */
#ifdef BN_X86
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

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
	CLONES static void stat_run_##T(const T *x, int64_t len, double K, double s[2])                          \
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
	CLONES static void grad_run_##T(const T *x, const T *dy, int64_t len, bn_coef k, bool relu, double s[2]) \
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
	CLONES static void norm_run_##T(const T *x, T *y, int64_t len, bn_coef k, bool relu)                     \
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
	CLONES static void dx_run_##T(const T *x, const T *dy, T *dx, int64_t len, bn_coef k, bool relu)         \
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
	CLONES static void stat_row_##T(const T *x, int64_t n, bn_rows k, double *s0, double *s1)                \
	{                                                                                                        \
		for (int64_t i = 0; i < n; i++) {                                                                \
			double e = (double)x[i] - k.K[i];                                                        \
			s0[i] += e, s1[i] += e * e;                                                              \
		}                                                                                                \
	}                                                                                                        \
	CLONES static void grad_row_##T(const T *x, const T *dy, int64_t n, bn_rows k, bool relu, double *s0,    \
		double *s1)                                                                                      \
	{                                                                                                        \
		for (int64_t i = 0; i < n; i++) {                                                                \
			double e = (double)x[i], g = (double)dy[i];                                              \
			T r = (T)(e * k.a[i] + k.b[i]);                                                          \
			KEEP_IF(double, g, !relu || r > 0);                                                      \
			s0[i] += g, s1[i] += g * (e - k.mean[i]);                                                \
		}                                                                                                \
	}                                                                                                        \
	CLONES static void norm_row_##T(const T *x, T *y, int64_t n, bn_rows k, bool relu)                       \
	{                                                                                                        \
		for (int64_t i = 0; i < n; i++) {                                                                \
			T r = (T)((double)x[i] * k.a[i] + k.b[i]);                                               \
			KEEP_IF(T, r, !relu || r > 0);                                                           \
			y[i] = r;                                                                                \
		}                                                                                                \
	}                                                                                                        \
	CLONES static void dx_row_##T(const T *x, const T *dy, T *dx, int64_t n, bn_rows k, bool relu)           \
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
void batchnorm2d_set_avx512(bool on);
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

/* Every pass walks x [N,C,H,W] in memory order, as its N*C runs of H*W values (run r is channel
** r % C), in chunks of whole runs of about CHUNK_VALUES values: a fixed split at any thread count,
** enough chunks to balance threads at any C. Sums are kept per run, then added per channel in run
** order, so they do not depend on the thread count either. Runs shorter than SHORT_RUN would be all
** per-run overhead: those passes go item by item instead (C*H*W values, constants expanded to one per
** value, whole items per chunk), their sums kept per value of an item and chunk. */
#define CHUNK_VALUES 32768
#define SHORT_RUN 16

typedef struct bn_job {
	const tg_node *x, *dy;
	tg_node *out;       /* the elementwise passes' result */
	bn_coef *k;         /* [C], filled by the caller before job_run */
	bn_rows rows;       /* short runs: k expanded by job_run */
	double *sums;       /* the sums' slots: [N*C][2], or [nchunks][2][C*H*W] for short runs */
	bn_dims d;
	int64_t per, nchunks;   /* runs (or items, short runs) per chunk */
	bool relu, short_runs;
	bool avx512;        /* f32 with the AVX-512 kernels */
} bn_job;

/* Sets up a pass of node n over x (dy, out as its kernels need; sums: a reduction pass) with its
** scratch: the channel constants, the short runs' rows and the slots, then `extra` doubles at *rest
** (for the caller). False after reporting out of memory. */
static bool job_init(bn_job *j, tg_exec *ex, const tg_node *n, const tg_node *x, const tg_node *dy, tg_node *out,
	bool relu, bool sums, int64_t extra, double **rest)
{
	*j = (bn_job){x, dy, out, NULL, {0}, NULL, dims_of(x), 1, 0, relu, false, false};
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
static void job_run(tg_exec *ex, bn_job *j, void (*fn)(void *, int64_t))
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

static void stat_chunk(void *arg, int64_t chunk)
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

static void grad_chunk(void *arg, int64_t chunk)
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

static void norm_chunk(void *arg, int64_t chunk)
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

static void dx_chunk(void *arg, int64_t chunk)
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
static void channel_sums(const bn_job *j, int64_t c, double s[2])
{
	int64_t C = j->d.C, HW = j->d.HW, w = C * HW;
	s[0] = s[1] = 0;
	for (int64_t n = 0; !j->short_runs && n < j->d.N; n++)
		s[0] += j->sums[2 * (n * C + c)], s[1] += j->sums[2 * (n * C + c) + 1];
	for (int64_t k = 0; j->short_runs && k < j->nchunks; k++)
		for (int64_t p = c * HW; p < (c + 1) * HW; p++)
			s[0] += j->sums[2 * k * w + p], s[1] += j->sums[(2 * k + 1) * w + p];
}

/* ---------------------------------------------------------------- checks */

static tg_status bn_fail(tg_graph *g, const char *op, tg_status s, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static tg_status bn_fail(tg_graph *g, const char *op, tg_status s, const char *fmt, ...)
{
	char buf[TG_MSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return tg_graph_fail(g, s, "%s: %s", op, buf);
}

static tg_status check_nsrc(tg_graph *g, const tg_node *n, int want, const char *names)
{
	if (n->nsrc != want)
		return tg_op_fail(g, n, TG_ERR_ARG, "%d inputs; expected %d (%s)", n->nsrc, want, names);
	return TG_OK;
}

/* x [N,C,H,W] f32/f64; training needs N*H*W >= 2 (tested without overflow for empty tensors' huge dims). */
static tg_status check_x(tg_graph *g, const char *op, const tg_node *x, bool training)
{
	if (x->shape.ndim != 4)
		return bn_fail(g, op, TG_ERR_SHAPE, "input %s: expected [N,C,H,W]", tg_sstr(x->shape));
	if (x->dtype != TG_F32 && x->dtype != TG_F64)
		return bn_fail(g, op, TG_ERR_DTYPE, "input is %s; expected f32 or f64", tg_dtype_name(x->dtype));
	const int64_t *d = x->shape.d;
	if (training && (d[0] == 0 || d[2] == 0 || d[3] == 0 || (d[0] == 1 && d[2] == 1 && d[3] == 1)))
		return bn_fail(g, op, TG_ERR_SHAPE, "input %s: training needs more than 1 value per channel", tg_sstr(x->shape));
	return TG_OK;
}

/* v: one value per channel of x, in x's dtype. */
static tg_status check_vec(tg_graph *g, const char *op, const tg_node *x, const tg_node *v, const char *what)
{
	if (v->shape.ndim != 1 || v->shape.d[0] != x->shape.d[1])
		return bn_fail(g, op, TG_ERR_SHAPE, "%s '%s' is %s; expected [%lld], one per channel of input %s", what, v->name,
			tg_sstr(v->shape), (long long)x->shape.d[1], tg_sstr(x->shape));
	if (v->dtype != x->dtype)
		return bn_fail(g, op, TG_ERR_DTYPE, "%s '%s' is %s, input is %s", what, v->name, tg_dtype_name(v->dtype),
			tg_dtype_name(x->dtype));
	return TG_OK;
}

/* v: the same shape and dtype as x (a gradient). */
static tg_status check_like_x(tg_graph *g, const char *op, const tg_node *x, const tg_node *v)
{
	if (!tg_shape_eq(v->shape, x->shape) || v->dtype != x->dtype)
		return bn_fail(g, op, TG_ERR_SHAPE, "gradient %s %s does not match input %s %s", tg_sstr(v->shape),
			tg_dtype_name(v->dtype), tg_sstr(x->shape), tg_dtype_name(x->dtype));
	return TG_OK;
}

/* s: f64 [rows, C], a statistics node. */
static tg_status check_rows(tg_graph *g, const char *op, const tg_node *x, const tg_node *s, int rows, const char *what)
{
	if (s->dtype != TG_F64 || s->shape.ndim != 2 || s->shape.d[0] != rows || s->shape.d[1] != x->shape.d[1])
		return bn_fail(g, op, TG_ERR_SHAPE, "%s %s %s; expected f64 [%d,%lld] for input %s", what, tg_sstr(s->shape),
			tg_dtype_name(s->dtype), rows, (long long)x->shape.d[1], tg_sstr(x->shape));
	return TG_OK;
}

/* The statistics' inputs and attributes: x, running_mean, running_var, momentum, eps, training. */
static tg_status check_stats_args(tg_graph *g, const char *op, const tg_node *x, const tg_node *rm, const tg_node *rv,
	const tg_attrs *at)
{
	bool training = at->i[0] != 0;
	tg_status st = check_x(g, op, x, training);
	if (st == TG_OK)
		st = check_vec(g, op, x, rm, "running_mean");
	if (st == TG_OK)
		st = check_vec(g, op, x, rv, "running_var");
	if (st == TG_OK && !(at->f[0] >= 0 && at->f[0] <= 1 && at->f[1] > 0))
		return bn_fail(g, op, TG_ERR_ARG, "momentum %g must be in [0, 1] and eps %g > 0", at->f[0], at->f[1]);
	if (st == TG_OK && training && (!(rm->flags & TG_FLAG_STATE) || !(rv->flags & TG_FLAG_STATE)))
		return bn_fail(g, op, TG_ERR_ARG, "running statistics '%s' and '%s' must be state nodes (tg_state): training updates them",
			rm->name, rv->name);
	return st;
}

/* ---------------------------------------------------------------- statistics */

static tg_status stats_infer(tg_graph *g, tg_node *n)
{
	tg_status st = check_nsrc(g, n, 3, "x, running_mean, running_var");
	if (st == TG_OK)
		st = check_stats_args(g, n->op->name, n->src[0], n->src[1], n->src[2], &n->attr);
	if (st == TG_OK) {
		n->shape = TG_SHAPE(ST_ROWS, n->src[0]->shape.d[1]);
		n->dtype = TG_F64;
	}
	return st;
}

/* Training: running statistics of channel c from the batch's mean and biased variance over M values. */
static void update_running(tg_node *n, int64_t c, double mean, double var, double M)
{
	tg_node *rm = n->src[1], *rv = n->src[2];
	double mom = n->attr.f[0];
	put(rm, c, mom * mean + (1 - mom) * at(rm, c));
	put(rv, c, mom * var * M / (M - 1) + (1 - mom) * at(rv, c));
}

static void put_stats(tg_node *n, int64_t c, double mean, double var, double M)
{
	double *s = tg_f64(n);
	int64_t C = n->shape.d[1];
	s[ST_MEAN * C + c] = mean;
	s[ST_RSTD * C + c] = 1.0 / sqrt(var + n->attr.f[1]);
	s[ST_COUNT * C + c] = M;
}

/* Batch mean and biased variance of channel c from its sums about K over M values. */
static void shifted_stats(const double s[2], double K, double M, double *mean, double *var)
{
	*mean = K + s[0] / M;
	*var = fmax(0.0, (s[1] - s[0] * (s[0] / M)) / M);
}

/* Data parallelism: every process's sums as rows count, sum(x), sum(x^2) of g [3, C] (about 0, so
** that processes with different shifts can add them; accumulated about K locally, in double), summed
** over the processes. The unshifted form loses about eps_double * mean^2 / var relative in the
** variance: negligible next to the float32 data. */
static tg_status sync_stats(tg_exec *ex, tg_node *n, const bn_job *j, double *g)
{
	int64_t C = j->d.C;
	double M = (double)j->d.M;
	for (int64_t c = 0; c < C; c++) {
		double l[2], K = j->k[c].K;
		channel_sums(j, c, l);
		g[c] = M;
		g[C + c] = l[0] + M * K;
		g[2 * C + c] = l[1] + K * (2 * l[0] + M * K);
	}
	tg_status st = tg_exec_allreduce(ex, g, 3 * C);
	for (int64_t c = 0; c < C && st == TG_OK; c++) {
		double Mg = g[c], s1 = g[C + c], s2 = g[2 * C + c];
		double mean = s1 / Mg, var = fmax(0.0, (s2 - s1 * mean) / Mg);
		update_running(n, c, mean, var, Mg);
		put_stats(n, c, mean, var, Mg);
	}
	return st;
}

/* Training: one pass of shifted sums (K: the channel's first value; training has M >= 2). */
static tg_status stats_forward(tg_exec *ex, tg_node *n)
{
	const tg_node *x = n->src[0];
	bn_dims d = dims_of(x);
	if (!n->attr.i[0]) {
		for (int64_t c = 0; c < d.C; c++)
			put_stats(n, c, at(n->src[1], c), at(n->src[2], c), (double)d.M);
		return TG_OK;
	}
	bn_job j;
	double *g;
	if (!job_init(&j, ex, n, x, NULL, NULL, false, true, 3 * d.C, &g))
		return TG_ERR_NOMEM;
	for (int64_t c = 0; c < d.C; c++)
		j.k[c] = (bn_coef){.K = at(x, c * d.HW)};
	job_run(ex, &j, stat_chunk);
	if (tg_exec_distributed(ex))
		return sync_stats(ex, n, &j, g);
	for (int64_t c = 0; c < d.C; c++) {
		double s[2], mean, var;
		channel_sums(&j, c, s);
		shifted_stats(s, j.k[c].K, (double)d.M, &mean, &var);
		update_running(n, c, mean, var, (double)d.M);
		put_stats(n, c, mean, var, (double)d.M);
	}
	return TG_OK;
}

const tg_op tg_op_batchnorm2d_stats = {"batchnorm2d_stats", stats_infer, stats_forward, NULL, TG_OP_NONDIFF, NULL};

/* ---------------------------------------------------------------- normalisation */

/* batchnorm2d and batchnorm2d_relu: src x, gamma, beta, stats [3, C]. */
static tg_status bn_infer(tg_graph *g, tg_node *n)
{
	const char *op = n->op->name;
	tg_status st = check_nsrc(g, n, 4, "x, gamma, beta, stats");
	if (st == TG_OK)
		st = check_x(g, op, n->src[0], false);
	if (st == TG_OK)
		st = check_vec(g, op, n->src[0], n->src[1], "gamma");
	if (st == TG_OK)
		st = check_vec(g, op, n->src[0], n->src[2], "beta");
	if (st == TG_OK)
		st = check_rows(g, op, n->src[0], n->src[3], ST_ROWS, "stats");
	if (st == TG_OK) {
		n->shape = n->src[0]->shape;
		n->dtype = n->src[0]->dtype;
	}
	return st;
}

/* A pass with the channel constants a, b and mean of every channel. */
static bool affine_job(bn_job *j, tg_exec *ex, const tg_node *n, const tg_node *x, const tg_node *dy, tg_node *out,
	bool relu, bool sums, const tg_node *gamma, const tg_node *beta, const tg_node *s)
{
	double *unused;
	if (!job_init(j, ex, n, x, dy, out, relu, sums, 0, &unused))
		return false;
	for (int64_t c = 0; c < j->d.C; c++)
		j->k[c] = affine_coef(gamma, beta, s, c);
	return true;
}

static tg_status bn_forward(tg_exec *ex, tg_node *n)
{
	bn_job j;
	if (!affine_job(&j, ex, n, n->src[0], NULL, n, fused_relu(n), false, n->src[1], n->src[2], n->src[3]))
		return TG_ERR_NOMEM;
	job_run(ex, &j, norm_chunk);
	return TG_OK;
}

/* ---------------------------------------------------------------- backward */

/* The inputs grad_stats and backward_data share: x and dy (src[ix], src[1 - ix]), gamma, beta, stats. */
static tg_status check_grad_inputs(tg_graph *g, const tg_node *n, int ix)
{
	const char *op = n->op->name;
	const tg_node *x = n->src[ix];
	tg_status st = check_x(g, op, x, false);
	if (st == TG_OK)
		st = check_like_x(g, op, x, n->src[1 - ix]);
	if (st == TG_OK)
		st = check_vec(g, op, x, n->src[2], "gamma");
	if (st == TG_OK)
		st = check_vec(g, op, x, n->src[3], "beta");
	if (st == TG_OK)
		st = check_rows(g, op, x, n->src[4], ST_ROWS, "stats");
	return st;
}

/* grad_stats: src x, dy, gamma, beta, stats; attr.i[0] training, i[1] relu. */
static tg_status grad_stats_infer(tg_graph *g, tg_node *n)
{
	tg_status st = check_nsrc(g, n, 5, "x, dy, gamma, beta, stats");
	if (st == TG_OK)
		st = check_grad_inputs(g, n, 0);
	if (st == TG_OK) {
		n->shape = TG_SHAPE(GS_ROWS, n->src[0]->shape.d[1]);
		n->dtype = TG_F64;
	}
	return st;
}

/* Rows dbeta = sum(dyM), dgamma = rstd sum(dyM (x - mean)); training: k0, k1 from the sums over
** every process (through the allreduce hook when there is one) and the count of the stats. */
static tg_status grad_stats_forward(tg_exec *ex, tg_node *n)
{
	const tg_node *x = n->src[0], *s = n->src[4];
	bn_dims d = dims_of(x);
	double *out = tg_f64(n);
	bn_job j;
	if (!affine_job(&j, ex, n, x, n->src[1], NULL, n->attr.i[1] != 0, true, n->src[2], n->src[3], s))
		return TG_ERR_NOMEM;
	job_run(ex, &j, grad_chunk);
	double *g = out + GS_K0 * d.C;   /* rows k0, k1 hold the sums to reduce first */
	for (int64_t c = 0; c < d.C; c++) {
		double l[2];
		channel_sums(&j, c, l);
		out[GS_DBETA * d.C + c] = g[c] = l[0];
		out[GS_DGAMMA * d.C + c] = l[1] * row(s, ST_RSTD)[c];
		g[d.C + c] = l[1];
	}
	bool training = n->attr.i[0] != 0;
	tg_status st = training && tg_exec_distributed(ex) ? tg_exec_allreduce(ex, g, 2 * d.C) : TG_OK;
	for (int64_t c = 0; c < d.C && st == TG_OK; c++) {
		double M = row(s, ST_COUNT)[c];
		g[c] = training ? g[c] / M : 0;
		g[d.C + c] = training ? g[d.C + c] * row(s, ST_RSTD)[c] / M : 0;
	}
	return st;
}

const tg_op tg_op_batchnorm2d_grad_stats = {"batchnorm2d_grad_stats", grad_stats_infer, grad_stats_forward, NULL,
	TG_OP_NONDIFF, NULL};

/* backward_data: src dy, x, gamma, beta, stats, grad_stats; attr.i[1] relu. dy first: dx takes over
** its buffer where dy dies here (TG_OP_INPLACE), so the stores hit lines just read. */
static tg_status backward_data_infer(tg_graph *g, tg_node *n)
{
	tg_status st = check_nsrc(g, n, 6, "dy, x, gamma, beta, stats, grad_stats");
	if (st == TG_OK)
		st = check_grad_inputs(g, n, 1);
	if (st == TG_OK)
		st = check_rows(g, n->op->name, n->src[1], n->src[5], GS_ROWS, "grad_stats");
	if (st == TG_OK) {
		n->shape = n->src[1]->shape;
		n->dtype = n->src[1]->dtype;
	}
	return st;
}

static tg_status backward_data_forward(tg_exec *ex, tg_node *n)
{
	const tg_node *gamma = n->src[2], *s = n->src[4], *gs = n->src[5];
	bn_job j;
	if (!affine_job(&j, ex, n, n->src[1], n->src[0], n, n->attr.i[1] != 0, false, gamma, n->src[3], s))
		return TG_ERR_NOMEM;
	for (int64_t c = 0; c < j.d.C; c++) {
		double rstd = row(s, ST_RSTD)[c];
		j.k[c].gr = at(gamma, c) * rstd;
		j.k[c].k0 = row(gs, GS_K0)[c];
		j.k[c].c1 = rstd * row(gs, GS_K1)[c];
	}
	job_run(ex, &j, dx_chunk);
	return TG_OK;
}

const tg_op tg_op_batchnorm2d_backward_data = {"batchnorm2d_backward_data", backward_data_infer,
	backward_data_forward, NULL, TG_OP_NONDIFF | TG_OP_INPLACE, NULL};

/* Row r of an f64 [rows, C] node as a [C] vector. */
static tg_node *row_node(tg_graph *g, tg_node *s, int r)
{
	return tg_reshape(g, tg_slice(g, s, 0, r, r + 1), TG_SHAPE(s->shape.d[1]));
}

/* The gradient of x includes the path through the statistics, so the stats input gets none. */
static tg_status bn_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_attrs at = n->attr;
	at.i[1] = fused_relu(n);
	tg_node *src[6] = {n->src[0], gout, n->src[1], n->src[2], n->src[3], NULL};
	tg_node *gs = src[5] = tg_node_new(g, &tg_op_batchnorm2d_grad_stats, 5, src, &at);
	if (!gs)
		return tg_graph_status(g);
	src[0] = gout, src[1] = n->src[0];
	if (need[0])
		gin[0] = tg_node_new(g, &tg_op_batchnorm2d_backward_data, 6, src, &at);
	if (need[1])
		gin[1] = row_node(g, gs, GS_DGAMMA);
	if (need[2])
		gin[2] = row_node(g, gs, GS_DBETA);
	return TG_OK;
}

const tg_op tg_op_batchnorm2d = {"batchnorm2d", bn_infer, bn_forward, bn_backward, 0, NULL};
const tg_op tg_op_batchnorm2d_relu = {"batchnorm2d_relu", bn_infer, bn_forward, bn_backward, 0, NULL};

/* The statistics node, then the normalisation. The inputs are checked first, so that errors name
** the public op rather than batchnorm2d_stats. */
static tg_node *build(tg_graph *g, const tg_op *op, tg_node *x, tg_node *gamma, tg_node *beta, tg_node *running_mean,
	tg_node *running_var, bool training, double momentum, double eps)
{
	if (!g || !x || !gamma || !beta || !running_mean || !running_var || tg_graph_status(g) != TG_OK)
		return NULL;
	tg_attrs at = {0};
	at.i[0] = training;
	at.f[0] = momentum;
	at.f[1] = eps;
	tg_node *in[5] = {x, gamma, beta, running_mean, running_var};
	for (int i = 0; i < 5; i++)
		if (in[i]->graph != g)
			return bn_fail(g, op->name, TG_ERR_ARG, "input %d belongs to another graph", i), NULL;
	tg_status st = check_stats_args(g, op->name, x, running_mean, running_var, &at);
	if (st == TG_OK)
		st = check_vec(g, op->name, x, gamma, "gamma");
	if (st == TG_OK)
		st = check_vec(g, op->name, x, beta, "beta");
	if (st != TG_OK)
		return NULL;
	tg_node *s = tg_node_new(g, &tg_op_batchnorm2d_stats, 3, (tg_node *[]){x, running_mean, running_var}, &at);
	return s ? tg_node_new(g, op, 4, (tg_node *[]){x, gamma, beta, s}, &at) : NULL;
}

tg_node *tg_batchnorm2d(tg_graph *g, tg_node *x, tg_node *gamma, tg_node *beta, tg_node *running_mean,
	tg_node *running_var, bool training, double momentum, double eps)
{
	return build(g, &tg_op_batchnorm2d, x, gamma, beta, running_mean, running_var, training, momentum, eps);
}

tg_node *tg_batchnorm2d_relu(tg_graph *g, tg_node *x, tg_node *gamma, tg_node *beta, tg_node *running_mean,
	tg_node *running_var, bool training, double momentum, double eps)
{
	return build(g, &tg_op_batchnorm2d_relu, x, gamma, beta, running_mean, running_var, training, momentum, eps);
}
