/*
** blas.c: the one file that includes blis.h (44k lines). Row-major GEMM wrappers over BLIS's
** typed API, which takes arbitrary row and column strides.
*/
#define _POSIX_C_SOURCE 200809L /* blis.h needs pthread_barrier_t under -std=c11 */
#include <blis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"

/* BLIS 0.9 does not know CPUs newer than its configurations (e.g. AMD Zen 5) and then falls back
** to its generic kernels: 28 GFLOP/s instead of 90-100 on the conv-shaped sgemms (M or N = 16).
** Unless the user chose with BLIS_ARCH_TYPE, select the haswell configuration on any AVX2+FMA
** CPU: its gemmsup kernels are also the fastest for these skinny shapes on AVX-512 CPUs (skx has
** none and is 2-4x slower on two of the three conv GEMMs). BLIS reads the variable once, when it
** initialises, so this runs before our first BLIS call. */
static void select_arch(void)
{
	if (getenv("BLIS_ARCH_TYPE"))
		return;
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		char id[16];
		snprintf(id, sizeof id, "%d", (int)BLIS_ARCH_HASWELL);
		setenv("BLIS_ARCH_TYPE", id, 0);
	}
}

static void blas_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, select_arch);
}

void tg_blas_set_threads(int n)
{
	static int current = -1;
	blas_init();
	if (n != current) {
		bli_thread_set_num_threads(n < 1 ? 1 : n);
		current = n;
	}
}

/* Row-major A[M,K] with row stride lda is BLIS's (rs = lda, cs = 1); a transposed operand is
** passed as the same storage with BLIS_TRANSPOSE. */
void tg_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
	const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
	blas_init();
	bli_sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N,
		(dim_t)K, &alpha, (float *)A, (inc_t)lda, 1, (float *)B, (inc_t)ldb, 1, &beta, C, (inc_t)ldc, 1);
}

void tg_dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
	const double *B, int64_t ldb, double beta, double *C, int64_t ldc)
{
	blas_init();
	bli_dgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N,
		(dim_t)K, &alpha, (double *)A, (inc_t)lda, 1, (double *)B, (inc_t)ldb, 1, &beta, C, (inc_t)ldc, 1);
}

/* One thread: the caller's chunks already run in parallel (tg_parallel_for). */
static rntm_t *one_thread(rntm_t *r)
{
	bli_rntm_init(r);
	bli_rntm_set_num_threads(1, r);
	return r;
}

void tg_sgemm_strided(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa, int64_t csa,
	const float *B, int64_t rsb, int64_t csb, float beta, float *C, int64_t rsc, int64_t csc)
{
	rntm_t r;
	blas_init();
	bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N, (dim_t)K, &alpha, (float *)A, (inc_t)rsa,
		(inc_t)csa, (float *)B, (inc_t)rsb, (inc_t)csb, &beta, C, (inc_t)rsc, (inc_t)csc, NULL, one_thread(&r));
}

void tg_dgemm_strided(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa, int64_t csa,
	const double *B, int64_t rsb, int64_t csb, double beta, double *C, int64_t rsc, int64_t csc)
{
	rntm_t r;
	blas_init();
	bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N, (dim_t)K, &alpha, (double *)A, (inc_t)rsa,
		(inc_t)csa, (double *)B, (inc_t)rsb, (inc_t)csb, &beta, C, (inc_t)rsc, (inc_t)csc, NULL, one_thread(&r));
}
