/*
** blas.c: the one file that includes blis.h (44k lines). Row-major GEMM wrappers over BLIS's
** typed API, which takes arbitrary row and column strides.
*/
#define _POSIX_C_SOURCE 200809L /* blis.h needs pthread_barrier_t under -std=c11 */
#include <blis.h>
#include "internal.h"

void tg_blas_set_threads(int n)
{
	static int current = -1;
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
	bli_sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N,
		(dim_t)K, &alpha, (float *)A, (inc_t)lda, 1, (float *)B, (inc_t)ldb, 1, &beta, C, (inc_t)ldc, 1);
}

void tg_dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
	const double *B, int64_t ldb, double beta, double *C, int64_t ldc)
{
	bli_dgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N,
		(dim_t)K, &alpha, (double *)A, (inc_t)lda, 1, (double *)B, (inc_t)ldb, 1, &beta, C, (inc_t)ldc, 1);
}
