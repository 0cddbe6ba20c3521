/*
** internal.h: what engine/ and ops/ share beyond the public API. Not installed.
*/
#ifndef TG_INTERNAL_H
#define TG_INTERNAL_H

#include "tgraph.h"
#include <stdarg.h>

#define TG_ALIGN 64
#define TG_MSG_LEN 512
/* Thread counts are clamped to this: BLIS's OpenMP runtime crashes (stack overflow) near 10^5. */
#define TG_MAX_THREADS 1024

/* A plan: which nodes run, in which order, and where their values live. */
typedef struct tg_plan {
	int ntargets;
	int *targets;           /* target node ids (the cache key) */
	int nsteps;
	int *steps;             /* node ids to run, in creation order */
	size_t arena_bytes;     /* peak of the non-persistent buffers */
	int node_count;         /* graph size when planned */
} tg_plan;

struct tg_graph {
	tg_node **nodes;
	int nnodes, cap;
	tg_status status;
	char msg[TG_MSG_LEN];
	char scope[256];
	/* interned scope strings */
	char **scopes;
	int nscopes, scopes_cap;
	unsigned building_flags;    /* ORed into new nodes (TG_FLAG_BACKWARD while in tg_backward) */
	int nthreads;
	tg_plan *plan;
	void *arena;
	size_t arena_cap;
	void *scratch;              /* kernels' scratch (tg_exec_scratch), kept between runs */
	size_t scratch_cap;
	size_t scratch_peak;
	size_t persistent_bytes;
	tg_eval_callback eval_cb;
	void *eval_ud;
	bool check_finite;
	double *profile;            /* seconds per node id, of the last run */
	int profile_cap;
	tg_allreduce_fn allreduce;  /* sum over processes (engine/collective.c); NULL: one process */
	void *allreduce_ud;
};

/* Creates a node of op with the given sources (all non-NULL) and attributes, and runs the
** op's inference. Returns NULL (error recorded) on failure. Shared by every constructor. */
tg_node *tg_node_new(tg_graph *g, const tg_op *op, int nsrc, tg_node *const *src, const tg_attrs *attrs);

/* Names of shapes for error messages: up to 4 rotating buffers. */
const char *tg_sstr(tg_shape s);

/* Row-major contiguous strides in elements. */
void tg_shape_strides(tg_shape s, int64_t *strides);
/* Element strides for reading `in` broadcast to `out` (0 on broadcast axes), aligned to the right. */
void tg_broadcast_strides(tg_shape in, tg_shape out, int64_t *strides);
/* A target shape stored in a node's attributes (attr.i[1] = ndim, attr.i[2..9] = dims), for the
** ops whose result shape is an argument (reshape, broadcast_to, sum_to). */
void tg_attrs_set_shape(tg_attrs *a, tg_shape s);
tg_shape tg_attrs_shape(const tg_attrs *a);
/* Normalises an axis (negative from the end); false if out of range. */
bool tg_axis_norm(int ndim, int *axis);

/* Promotes a and b to a common dtype (f32<f64<c128), inserting cast nodes. */
bool tg_promote(tg_graph *g, tg_node **a, tg_node **b);

/* GEMM wrapper (engine/blas.c, the only file that includes blis.h). Row-major:
** C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C, lda/ldb/ldc are row strides. */
void tg_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
	const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void tg_dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
	const double *B, int64_t ldb, double beta, double *C, int64_t ldc);
void tg_blas_set_threads(int n);
/* General-stride GEMM on the calling thread only (no BLIS threads), for kernels that split their
** work with tg_parallel_for: C[M,N] = alpha A[M,K] B[K,N] + beta C, where element (i,j) of X is at
** X + i*rsx + j*csx (a transposed operand is just swapped strides). */
void tg_sgemm_strided(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa, int64_t csa,
	const float *B, int64_t rsb, int64_t csb, float beta, float *C, int64_t rsc, int64_t csc);
void tg_dgemm_strided(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa, int64_t csa,
	const double *B, int64_t rsb, int64_t csb, double beta, double *C, int64_t rsc, int64_t csc);

/* Multi-ISA kernels: a loop marked TG_CLONES is compiled for AVX-512, AVX2 and baseline x86-64
** and the best is picked at load time. Every clone computes the same roundings as long as nothing
** contracts a * b + c into an FMA (GCC does not under -std=c11; clang files need FP_CONTRACT OFF). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TG_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TG_CLONES
#endif

/* Thread pool used by tg_parallel_for (engine/exec.c). */
struct tg_exec {
	tg_graph *g;
	int nthreads;
};

/* Format helper for op errors: "<op>: <message>". */
tg_status tg_op_fail(tg_graph *g, const tg_node *n, tg_status s, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Plan cache management (engine/plan.c). */
void tg_plan_free(tg_plan *p);
tg_status tg_plan_build(tg_graph *g, int ntargets, tg_node *const *targets, tg_plan **out);


/* .npy decoding (engine/npy.c): tg_npy_read_mem with `name` (e.g. a checkpoint member) in messages.
** A .npy is at most TG_NPY_PREAMBLE + TG_NPY_MAX_HEADER bytes longer than its data (numpy's
** default max_header_size is the same 10000). */
#define TG_NPY_PREAMBLE 12
#define TG_NPY_MAX_HEADER 10000
tg_status tg_npy_decode(const char *name, const void *buf, size_t len, tg_dtype *dtype, tg_shape *shape, void **data);

#endif
