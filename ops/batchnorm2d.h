/*
** batchnorm2d.h: what ops/batchnorm2d.c (the ops) and ops/batchnorm2d_kernels.c (the memory
** passes) share: the per-channel constants and a pass over x [N,C,H,W] in fixed chunks.
*/
#ifndef TG_BATCHNORM2D_H
#define TG_BATCHNORM2D_H

#include "../engine/internal.h"

/* GCC does not contract a * b + c into an FMA under -std=c11; clang would, in some clones only.
** Without contraction every clone and the scalar tails compute the same roundings, which the relu
** mask of the backward relies on (it must see the forward's pre exactly). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

typedef struct bn_dims { int64_t N, C, HW, M; } bn_dims;
bn_dims bn_dims_of(const tg_node *x);

/* Per-channel constants. pre = x a + b is the forward's value before rounding; dx = gr ((dyM - k0) -
** (x - mean) c1) with gr = gamma rstd, k0 = mean(dyM), c1 = rstd mean(dyM xhat); K shifts the
** statistics' sums (a value of the channel: it keeps the one-pass variance accurate). */
typedef struct bn_coef { double a, b, mean, gr, k0, c1, K; } bn_coef;
/* The same expanded to one per value of an item [C*H*W] (for short runs, see the passes). */
typedef struct bn_rows { double *a, *b, *mean, *gr, *k0, *c1, *K; } bn_rows;

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
bool bn_job_init(bn_job *j, tg_exec *ex, const tg_node *n, const tg_node *x, const tg_node *dy, tg_node *out,
	bool relu, bool sums, int64_t extra, double **rest);
/* Runs fn (one of the chunk functions below) over the chunks, the constants expanded first for
** short runs; the caller fills j->k first. */
void bn_job_run(tg_exec *ex, bn_job *j, void (*fn)(void *, int64_t));
void bn_stat_chunk(void *arg, int64_t chunk);  /* sums of x - K, (x - K)^2 */
void bn_grad_chunk(void *arg, int64_t chunk);  /* sums of dyM, dyM (x - mean) */
void bn_norm_chunk(void *arg, int64_t chunk);  /* out = x a + b (relu: max(., 0)) */
void bn_dx_chunk(void *arg, int64_t chunk);    /* out = gr ((dyM - k0) - (x - mean) c1) */
/* s = channel c's two sums, added in a fixed order. */
void bn_channel_sums(const bn_job *j, int64_t c, double s[2]);

/* For ops fusing batchnorm2d_relu into their consumer (ops/conv2d_bnrelu.c): its input checks
** (errors naming n's op), the constants of channel c, its values for len values of one channel (the
** forward's very roundings: f32 or f64 x), and its backward nodes for the output gradient dy (gin:
** x, gamma, beta, as need asks; attrs as the normalisation node's). */
tg_status bn_check_affine(tg_graph *g, const tg_node *n, const tg_node *x, const tg_node *gamma, const tg_node *beta,
	const tg_node *s);
bn_coef bn_affine_coef(const tg_node *gamma, const tg_node *beta, const tg_node *s, int64_t c);
void bn_norm_values(const void *x, void *y, int64_t len, bn_coef k, bool relu, bool f32);
tg_status bn_backward_nodes(tg_graph *g, tg_node *x, tg_node *dy, tg_node *gamma, tg_node *beta, tg_node *s,
	bool training, bool relu, const bool *need, tg_node **gin);

/* Tests switch the AVX-512 kernels off to check the portable ones give the same bits. */
void batchnorm2d_set_avx512(bool on);

#endif
