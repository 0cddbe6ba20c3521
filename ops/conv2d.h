/*
** conv2d.h: what the convolution ops (ops/conv2d.c: the ops and the BLIS im2col path) and the
** direct AVX-512 float32 kernels (ops/conv2d_direct.c) share: the geometry of one convolution
** and its row bands, and the per-thread workspaces of the chunks.
*/
#ifndef TG_CONV2D_H
#define TG_CONV2D_H

#include "../engine/internal.h"
#include <stdatomic.h>

#define CONV_ROWS_PIXELS 1024 /* output pixels per chunk at most (whole rows, at least one) */

/* y [N,O,Ho,Wo] = x [N,C,H,W] (*) w [O,C,KH,KW], stride 1, padding ph, pw (negative: cropping,
** used by backward-data when pad > K-1). A chunk is a band of `rows` output rows of one image. */
typedef struct conv_geom {
	size_t es;                         /* element size: 4 (f32) or 8 (f64) */
	int64_t N, C, H, W, O, KH, KW, ph, pw, Ho, Wo;
	int64_t rows, bands;               /* output rows per chunk, chunks per image */
	int64_t kkc;                       /* KH*KW*C */
} conv_geom;

static inline size_t conv_align64(size_t n) { return (n + 63) & ~(size_t)63; }

conv_geom conv_geom_make(tg_dtype t, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW,
	int64_t ph, int64_t pw);

/* A chunk borrows one of nthreads workspaces (at most nthreads chunks run at once). Which one it
** gets does not change what it computes. */
typedef struct conv_slots {
	char *mem;
	size_t bytes;
	int n;
	atomic_int *busy;
} conv_slots;

static inline size_t conv_slots_bytes(int n, size_t bytes)
{
	return conv_align64(sizeof(atomic_int) * (size_t)n) + (size_t)n * conv_align64(bytes);
}

static inline void conv_slots_init(conv_slots *s, char *mem, int n, size_t bytes)
{
	s->busy = (atomic_int *)mem;
	s->n = n;
	s->bytes = conv_align64(bytes);
	s->mem = mem + conv_align64(sizeof(atomic_int) * (size_t)n);
	for (int i = 0; i < n; i++)
		atomic_init(&s->busy[i], 0);
}

static inline char *conv_slot_take(conv_slots *s, int *k)
{
	for (;;)
		for (int i = 0; i < s->n; i++)
			if (!atomic_exchange(&s->busy[i], 1)) {
				*k = i;
				return s->mem + (size_t)i * s->bytes;
			}
}

static inline void conv_slot_give(conv_slots *s, int k) { atomic_store(&s->busy[k], 0); }

/* ---------------------------------------------------------------- for fused ops */

/* An input prologue: the convolution of prologue(x) instead of x, computed a band of rows (the
** weight gradient: an image) at a time into the chunk's workspace, never stored whole. apply maps
** len values of channel c. Used by ops/conv2d_bnrelu.c (batch norm + ReLU before the conv). */
typedef struct conv_prologue {
	void (*apply)(const void *ctx, int64_t c, const void *x, void *y, int64_t len);
	const void *ctx;
} conv_prologue;

/* y = conv(prologue(x), w) (+ b, may be NULL) with the given padding; y has its shape and dtype. */
tg_status conv2d_run_forward(tg_exec *ex, const tg_node *x, const tg_node *w, const tg_node *b, int64_t pad, tg_node *y,
	const conv_prologue *pro);
/* dw [O,C,KH,KW] of conv(prologue(x), w) for the output gradient dy; with bias, dw is [O,C*KH*KW+1]
** and its last column the bias gradient (summed while each image's dy is in cache). */
tg_status conv2d_run_weight_grad(tg_exec *ex, const tg_node *x, const tg_node *dy, int64_t pad, bool bias, tg_node *dw,
	const conv_prologue *pro);
/* The inferences of conv2d (x, w, b or NULL) and of its weight gradient (x, dy) for node n, from
** the given inputs: shape, dtype and checks, errors naming n's op. */
tg_status conv2d_infer_shape(tg_graph *g, tg_node *n, const tg_node *x, const tg_node *w, const tg_node *b, int64_t pad);
tg_status conv2d_weight_grad_infer_shape(tg_graph *g, tg_node *n, const tg_node *x, const tg_node *dy, int64_t pad,
	bool bias);
/* FLOPs (benchmarks, DOT profile): of a convolution's output y with weight w (2 per tap and output
** value), of a weight gradient dw from dy (likewise, plus 1 per dy value for a bias column). */
double conv2d_output_flops(const tg_node *y, const tg_node *w);
double conv2d_weight_grad_flops(const tg_node *dw, const tg_node *dy);
/* Backward nodes of the weight w and bias of a convolution, as need_w / need_b ask: one node of op
** (conv2d_backward_weight or conv2d_bnrelu_backward_weight, sources src), with attr.i[0] = pad and,
** when the bias gradient is needed, i[1] = 1: it writes [O, C*KH*KW + 1] and the two gradients are
** slices of it (small copies). */
tg_status conv2d_weight_bias_grads(tg_graph *g, const tg_op *op, int nsrc, tg_node *const *src, const tg_node *w,
	int64_t pad, bool need_w, bool need_b, tg_node **gw, tg_node **gb);

/* ---------------------------------------------------------------- direct f32 kernels */

/* On x86-64 with AVX-512F (checked at run time), f32 convolutions use direct kernels: about 175
** GFLOP/s per core forward and for the weight gradient (about 200 with the tensors in cache),
** against 80 for BLIS's conv-shaped GEMMs plus im2col (3x3, 16 channels, 64x64, batch 128, AMD
** Zen 5). Elsewhere, and for f64, the BLIS path. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CONV_DIRECT 1
#include <immintrin.h>
/* Whether the CPU has the instructions (and the band fits the kernels' int32 offsets). */
bool conv_direct_usable(const conv_geom *q);
/* Tests: false forces the BLIS path for f32 too. */
void conv2d_set_direct(bool on);
/* What the direct and Winograd kernels share. Lanes [0, n) of a 16-float vector. */
static inline __mmask16 conv_lanes(int64_t n)
{
	return n >= 16 ? (__mmask16)0xFFFF : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
}
/* band[c][rr][jj] = img[c][r0 + rr - ph][jj - pw], through the prologue if any, 0 outside the
** image: rows rr < nrows of Wp floats, channel planes `plane` floats apart. */
void conv_band_fill(const conv_geom *q, const float *img, int64_t r0, int64_t nrows, int64_t Wp, int64_t plane,
	float *band, const conv_prologue *pro);
/* The input comes from DRAM: while a band of rows computes, it asks for the next one's rows
** [ih0, ih0 + nrows) of all channels of img (NULL: none) into L2, part i of n at a time, so that
** the band fill finds them there. Inlined: GCC finds a function of prefetches alone free of side
** effects and deletes its calls. */
static inline __attribute__((always_inline)) void conv_prefetch_rows(const conv_geom *q, const float *img,
	int64_t ih0, int64_t nrows, int64_t i, int64_t n)
{
	if (!img)
		return;
	for (int64_t u = i * nrows / n; u < (i + 1) * nrows / n; u++)
		if (ih0 + u >= 0 && ih0 + u < q->H)
			for (int64_t c = 0; c < q->C; c++)
				for (int64_t b = 0; b < q->W; b += 16)
					_mm_prefetch((const char *)(img + (c * q->H + ih0 + u) * q->W + b), _MM_HINT_T1);
}
/* Bytes of the packed kernel (weights, bias, tap offsets) and of one chunk's input band. */
size_t conv_direct_pack_bytes(const conv_geom *q);
size_t conv_direct_band_bytes(const conv_geom *q);
/* Packs w [O,C,KH,KW] (flip: w [C,O,KH,KW] of the forward conv, flipped and transposed, for
** backward-data) and bias [O] or NULL for the convolution q. */
void conv_direct_pack(const conv_geom *q, const float *w, bool flip, const float *bias, void *pack);
/* The chunk its thread likely runs next (chunk + thread count: tg_parallel_for hands out chunks in
** order): its image (NULL: none) and first output row. Only the prefetching depends on it. */
typedef struct conv_next {
	const float *img;
	int64_t r0;
} conv_next;
/* Output rows [r0, r0+nr) of one image: img [C,H,W] -> y [O,Ho,Wo]; band: the chunk's workspace. */
void conv_direct_rows(const conv_geom *q, const void *pack, const float *img, float *y, int64_t r0, int64_t nr,
	float *band, const conv_next *next);
/* Weight gradient of one image (img [C,H,W], dy [O,Ho,Wo]) into its partial, conv_direct_dw_partial_floats
** floats (64-byte multiple), with dw[o][k] (k = (c*KH + kh)*KW + kw) at conv_direct_dw_index(q, o, k).
** The chunk's workspace (transposed dy, or the input band) is conv_direct_dw_slot_bytes. */
size_t conv_direct_dw_partial_floats(const conv_geom *q);
int64_t conv_direct_dw_index(const conv_geom *q, int64_t o, int64_t k);
size_t conv_direct_dw_slot_bytes(const conv_geom *q);
void conv_direct_dw(const conv_geom *q, const void *pack, const float *img, const float *dy, float *partial,
	float *slot);

/* Winograd F(2x2, 3x3) kernels (ops/conv2d_winograd.c); they apply a prologue (or NULL) to the
** rows they copy into their band. Usable: f32, 3x3, AVX-512, and the image
** wide and tall enough to fill the tiles' lanes and pay (mode 2 in tests: whatever the size), for
** the forward / backward-data or the weight gradient. A chunk's band of rows must be even unless
** it ends the image. */
void conv2d_set_winograd(int mode); /* 0 off, 1 where it pays (default), 2 wherever it applies */
bool conv_wino_usable(const conv_geom *q, bool weight_grad);
size_t conv_wino_pack_bytes(const conv_geom *q);
size_t conv_wino_slot_bytes(const conv_geom *q);
void conv_wino_pack(const conv_geom *q, const float *w, bool flip, const float *bias, void *pack);
void conv_wino_rows(const conv_geom *q, const void *pack, const float *img, float *y, int64_t r0, int64_t nr,
	float *slot, const conv_next *next, const conv_prologue *pro);
/* Weight gradient of one image (img [C,H,W], dy [O,Ho,Wo]) into its partial dw [O][C][3][3]
** (conv_wino_dw_partial_floats floats, a 64-byte multiple); slot: conv_wino_dw_slot_bytes. */
size_t conv_wino_dw_partial_floats(const conv_geom *q);
size_t conv_wino_dw_slot_bytes(const conv_geom *q);
void conv_wino_dw(const conv_geom *q, const float *img, const float *dy, float *partial, float *slot,
	const conv_prologue *pro);
#else
#define CONV_DIRECT 0
#endif

#endif
