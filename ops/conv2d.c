/*
** conv2d.c: 2-D convolution (cross-correlation, as PyTorch's Conv2d), stride 1, zero padding:
** x [N,C,H,W] * w [O,C,KH,KW] (+ b [O]) -> y [N,O,Ho,Wo], Ho = H + 2 pad - KH + 1.
** Its backward ops live here too, all three not differentiable:
**   conv2d_backward_data (dy, w) -> dx: the convolution of dy with the flipped kernel
**     w'[c,o,kh,kw] = w[o,c,KH-1-kh,KW-1-kw] and padding K-1-pad, so it reuses the forward kernel;
**   conv2d_backward_weight (x, dy) -> dw [O,C,KH,KW]: per image dy_n cols_n^T (a chunk is an
**     image, its partial 64-byte aligned), then summed over the images in order (double), in
**     parallel over the output channels. With attr.i[1] it also sums the bias gradient, per image
**     while that image's dy is in cache (one pass over dy less), into [O, C*KH*KW + 1]: the
**     backward slices dw and db out of it;
**   conv2d_backward_bias (dy) -> db [O]: sum of dy over N, H, W (when only the bias needs it).
**
** A chunk is a band of whole output rows of one image (CONV_ROWS_PIXELS output pixels at most, a
** fixed size, so results do not depend on the thread count); chunks run in parallel, each on a
** per-thread workspace (conv2d.h). Two kernels:
**   f32 with AVX-512: for the forward and backward-data of 3x3 kernels on images wide enough,
**     Winograd F(2x2, 3x3) (ops/conv2d_winograd.c; its chunks have an even number of rows);
**     otherwise the direct kernels of ops/conv2d_direct.c (about 2x faster than the GEMMs);
**   otherwise (f64, other CPUs): im2col + BLIS. The chunk copies its input rows into a zero-padded
**     channels-last band [rows+KH-1][Wo+KW-1][C], builds cols [pixels][KH*KW*C] (one memcpy of
**     KW*C values per pixel and kernel row) and does one single-threaded GEMM, y^T[pixels, O] =
**     cols * wr^T, written straight into NCHW through BLIS's general strides. This orientation
**     (M = pixels, N = O) is the fast one for BLIS's gemmsup kernels: 90 GFLOP/s against 50 for
**     W * cols (M = O = 16) on 16-channel 64x64 images (haswell kernels, one thread).
*/
#include "conv2d.h"
#include <string.h>

conv_geom conv_geom_make(tg_dtype t, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW,
	int64_t ph, int64_t pw)
{
	conv_geom q = {tg_dtype_size(t), N, C, H, W, O, KH, KW, ph, pw, H + 2 * ph - KH + 1, W + 2 * pw - KW + 1, 0, 0,
		KH * KW * C};
	q.rows = CONV_ROWS_PIXELS / q.Wo > 0 ? CONV_ROWS_PIXELS / q.Wo : 1;
	if (q.rows > q.Ho)
		q.rows = q.Ho;
	q.bands = (q.Ho + q.rows - 1) / q.rows;
	return q;
}

/* Whether this convolution runs the direct f32 kernels (else the BLIS path). */
static bool direct(const conv_geom *q)
{
#if CONV_DIRECT
	return q->es == sizeof(float) && conv_direct_usable(q);
#else
	(void)q;
	return false;
#endif
}

/* BLIS path workspace of a chunk: the channels-last band [rows+KH-1][Wo+KW-1][C], then cols. */
static size_t band_bytes(const conv_geom *q)
{
	return conv_align64((size_t)((q->rows + q->KH - 1) * (q->Wo + q->KW - 1) * q->C) * q->es);
}
static size_t slot_bytes(const conv_geom *q)
{
#if CONV_DIRECT
	if (direct(q))
		return conv_direct_band_bytes(q);
#endif
	return band_bytes(q) + (size_t)(q->rows * q->Wo * q->kkc) * q->es;
}

/* ---------------------------------------------------------------- im2col of one band */

/* band [rows+KH-1][Wb][C] = zero-padded input rows r0-ph .. of image img [C,H,W] (channels last). */
#define BAND_FILL(T)                                                                                              \
	static void band_fill_##T(const conv_geom *q, const T *img, int64_t r0, int64_t nr, T *band)                  \
	{                                                                                                         \
		int64_t C = q->C, Wb = q->Wo + q->KW - 1, j0 = q->pw > 0 ? q->pw : 0;                       \
		int64_t j1 = q->pw + q->W < Wb ? q->pw + q->W : Wb;                                            \
		if (j1 < j0)                                                                                      \
			j1 = j0;                                                                                  \
		for (int64_t rr = 0; rr < nr + q->KH - 1; rr++) {                                                 \
			T *row = band + rr * Wb * C;                                                              \
			int64_t ih = r0 + rr - q->ph;                                                             \
			if (ih < 0 || ih >= q->H) {                                                               \
				memset(row, 0, sizeof(T) * (size_t)(Wb * C));                                     \
				continue;                                                                         \
			}                                                                                         \
			memset(row, 0, sizeof(T) * (size_t)(j0 * C));                                             \
			memset(row + j1 * C, 0, sizeof(T) * (size_t)((Wb - j1) * C));                             \
			for (int64_t c = 0; c < C; c++) {                                                         \
				const T *src = img + (c * q->H + ih) * q->W - q->pw;                              \
				for (int64_t jj = j0; jj < j1; jj++)                                              \
					row[jj * C + c] = src[jj];                                                \
			}                                                                                         \
		}                                                                                                 \
	}
BAND_FILL(float)
BAND_FILL(double)

/* cols [nr*Wo][KH][KW][C] from the band: pixel (r, ow), kernel row kh is band[r+kh][ow..ow+KW-1][:]. */
static void cols_fill(const conv_geom *q, const char *band, int64_t nr, char *cols)
{
	size_t seg = (size_t)(q->KW * q->C) * q->es;
	int64_t Wb = q->Wo + q->KW - 1;
	for (int64_t r = 0; r < nr; r++)
		for (int64_t ow = 0; ow < q->Wo; ow++)
			for (int64_t kh = 0; kh < q->KH; kh++)
				memcpy(cols + ((size_t)((r * q->Wo + ow) * q->KH + kh)) * seg,
					band + (size_t)(((r + kh) * Wb + ow) * q->C) * q->es, seg);
}

/* im2col of output rows [r0, r0+nr) of image img into the slot; returns cols. */
static char *im2col(const conv_geom *q, const char *img, int64_t r0, int64_t nr, char *slot)
{
	char *cols = slot + band_bytes(q);
	if (q->es == sizeof(float))
		band_fill_float(q, (const float *)img, r0, nr, (float *)slot);
	else
		band_fill_double(q, (const double *)img, r0, nr, (double *)slot);
	cols_fill(q, slot, nr, cols);
	return cols;
}

/* ---------------------------------------------------------------- forward (and backward-data) */

enum { KERNEL_BLIS, KERNEL_DIRECT, KERNEL_WINO };

typedef struct fwd_job {
	conv_geom q;
	int kind;                    /* KERNEL_BLIS (wr) or the AVX-512 kernels (their pack) */
	const char *x, *wr, *bias;   /* x [N,C,H,W]; wr [O][KH][KW][C] or a pack; bias [O] or NULL */
	char *y;                     /* [N,O,Ho,Wo] */
	int nt;                      /* threads (the direct kernels prefetch chunk + nt) */
	const conv_prologue *pro;    /* or NULL */
	size_t kslot;                /* bytes of a slot the kernels use; a prologue's image follows */
	conv_slots s;
} fwd_job;

/* A slot's bytes past the kernels' (kslot): the image [C,H,W] a prologue fills for kernels that do
** not apply it themselves (Winograd applies it in its band fill). */
static size_t prologue_image_bytes(const conv_geom *q, const conv_prologue *pro, int kind)
{
	return pro && kind != KERNEL_WINO ? (size_t)(q->C * q->H * q->W) * q->es : 0;
}

/* Rows [ih0, ih0 + nrows) (those inside the image) of every channel of the image x [C,H,W], through
** the prologue, into the same places of img. */
static void prologue_rows(const conv_geom *q, const conv_prologue *pro, const char *x, char *img, int64_t ih0,
	int64_t nrows)
{
	int64_t lo = ih0 < 0 ? 0 : ih0, hi = ih0 + nrows < q->H ? ih0 + nrows : q->H;
	for (int64_t c = 0; c < q->C && lo < hi; c++) {
		size_t at = (size_t)((c * q->H + lo) * q->W) * q->es;
		pro->apply(pro->ctx, c, x + at, img + at, (hi - lo) * q->W);
	}
}

static void fwd_chunk(void *arg, int64_t chunk)
{
	fwd_job *j = arg;
	const conv_geom *q = &j->q;
	int64_t n = chunk / q->bands, r0 = chunk % q->bands * q->rows, nr = q->rows < q->Ho - r0 ? q->rows : q->Ho - r0;
	int64_t P = nr * q->Wo, HWo = q->Ho * q->Wo;
	const char *img = j->x + (size_t)(n * q->C * q->H * q->W) * q->es;
	int k;
	char *slot = conv_slot_take(&j->s, &k);
	if (j->pro && j->kind != KERNEL_WINO) { /* the input rows the kernels read (Winograd does its own) */
		prologue_rows(q, j->pro, img, slot + j->kslot, r0 - q->ph, nr + q->KH - 1);
		img = slot + j->kslot;
	}
#if CONV_DIRECT
	if (j->kind != KERNEL_BLIS) {
		int64_t c = chunk + j->nt;
		conv_next next = {c < q->N * q->bands ? (const float *)j->x + c / q->bands * q->C * q->H * q->W : NULL,
			c % q->bands * q->rows};
		if (j->kind == KERNEL_WINO)
			conv_wino_rows(q, j->wr, (const float *)img, (float *)j->y + n * q->O * HWo, r0, nr, (float *)slot, &next,
				j->pro);
		else
			conv_direct_rows(q, j->wr, (const float *)img, (float *)j->y + n * q->O * HWo, r0, nr, (float *)slot,
				&next);
		conv_slot_give(&j->s, k);
		return;
	}
#endif
	char *cols = im2col(q, img, r0, nr, slot);
	/* y^T[p, o] lives at y[n][o][r0*Wo + p]: row stride 1, column stride Ho*Wo */
	char *yb = j->y + (size_t)(n * q->O * HWo + r0 * q->Wo) * q->es;
	if (q->es == sizeof(float)) {
		float *y = (float *)yb;
		if (j->bias)
			for (int64_t o = 0; o < q->O; o++)
				for (int64_t p = 0; p < P; p++)
					y[o * HWo + p] = ((const float *)j->bias)[o];
		tg_sgemm_strided(P, q->O, q->kkc, 1.0f, (const float *)cols, q->kkc, 1, (const float *)j->wr, 1, q->kkc,
			j->bias ? 1.0f : 0.0f, y, 1, HWo);
	} else {
		double *y = (double *)yb;
		if (j->bias)
			for (int64_t o = 0; o < q->O; o++)
				for (int64_t p = 0; p < P; p++)
					y[o * HWo + p] = ((const double *)j->bias)[o];
		tg_dgemm_strided(P, q->O, q->kkc, 1.0, (const double *)cols, q->kkc, 1, (const double *)j->wr, 1, q->kkc,
			j->bias ? 1.0 : 0.0, y, 1, HWo);
	}
	conv_slot_give(&j->s, k);
}

/* wr[o][kh][kw][c] = w[o][c][kh][kw], or for backward-data (flip) the flipped transposed kernel
** wr[c][kh][kw][o] = w[o][c][KH-1-kh][KW-1-kw]. w is [O,C,KH,KW] as given. */
static void reorder_weights(const tg_node *w, bool flip, char *wr)
{
	int64_t O = w->shape.d[0], C = w->shape.d[1], KH = w->shape.d[2], KW = w->shape.d[3];
	size_t es = tg_dtype_size(w->dtype);
	for (int64_t o = 0; o < O; o++)
		for (int64_t c = 0; c < C; c++)
			for (int64_t kh = 0; kh < KH; kh++)
				for (int64_t kw = 0; kw < KW; kw++) {
					int64_t from = ((o * C + c) * KH + kh) * KW + kw;
					int64_t to = flip ? ((c * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)) * O + o
							  : ((o * KH + kh) * KW + kw) * C + c;
					memcpy(wr + (size_t)to * es, (const char *)w->data + (size_t)from * es, es);
				}
}

/* y = conv(x, w) (+ bias), or conv(prologue(x), w): x is [N,C,H,W] data; for flip, w is used as the
** backward-data kernel. */
static tg_status conv_run(tg_exec *ex, const tg_node *w, bool flip, const void *x, const void *bias, void *y,
	conv_geom q, const conv_prologue *pro)
{
	int nt = tg_exec_threads(ex);
	fwd_job j = {.kind = direct(&q) ? KERNEL_DIRECT : KERNEL_BLIS, .x = x, .bias = bias, .y = y, .nt = nt, .pro = pro};
	size_t wbytes = conv_align64((size_t)tg_numel(w) * q.es), sb;
#if CONV_DIRECT
	if (conv_wino_usable(&q, false)) { /* tiles are 2 rows high: even bands */
		j.kind = KERNEL_WINO;
		q.rows += q.rows & 1;
		if (q.rows > q.Ho)
			q.rows = q.Ho;
		q.bands = (q.Ho + q.rows - 1) / q.rows;
		wbytes = conv_align64(conv_wino_pack_bytes(&q));
	} else if (j.kind == KERNEL_DIRECT)
		wbytes = conv_align64(conv_direct_pack_bytes(&q));
	sb = j.kind == KERNEL_WINO ? conv_wino_slot_bytes(&q) : slot_bytes(&q);
#else
	sb = slot_bytes(&q);
#endif
	j.kslot = sb = conv_align64(sb);
	sb += prologue_image_bytes(&q, pro, j.kind);
	j.q = q;
	char *mem = tg_exec_scratch(ex, wbytes + conv_slots_bytes(nt, sb));
	if (!mem)
		return tg_graph_fail(tg_exec_graph(ex), TG_ERR_NOMEM, "conv2d: out of memory for %zu bytes of workspace",
			wbytes + conv_slots_bytes(nt, sb));
	j.wr = mem;
#if CONV_DIRECT
	if (j.kind == KERNEL_WINO)
		conv_wino_pack(&q, w->data, flip, bias, mem);
	else if (j.kind == KERNEL_DIRECT)
		conv_direct_pack(&q, w->data, flip, bias, mem);
	else
#endif
		reorder_weights(w, flip, mem);
	conv_slots_init(&j.s, mem + wbytes, nt, sb);
	tg_parallel_for(ex, q.N * q.bands, fwd_chunk, &j);
	return TG_OK;
}

tg_status conv2d_run_forward(tg_exec *ex, const tg_node *x, const tg_node *w, const tg_node *b, int64_t pad, tg_node *y,
	const conv_prologue *pro)
{
	if (tg_numel(y) == 0) /* nothing to do; an empty tensor's other dims may be huge */
		return TG_OK;
	conv_geom q = conv_geom_make(y->dtype, x->shape.d[0], x->shape.d[1], x->shape.d[2], x->shape.d[3], w->shape.d[0],
		w->shape.d[2], w->shape.d[3], pad, pad);
	return conv_run(ex, w, false, x->data, b ? b->data : NULL, y->data, q, pro);
}

static tg_status conv2d_forward(tg_exec *ex, tg_node *n)
{
	return conv2d_run_forward(ex, n->src[0], n->src[1], n->nsrc > 2 ? n->src[2] : NULL, n->attr.i[0], n, NULL);
}

static tg_status conv2d_backward_data_forward(tg_exec *ex, tg_node *n)
{
	tg_node *dy = n->src[0], *w = n->src[1];
	int64_t pad = n->attr.i[0], KH = w->shape.d[2], KW = w->shape.d[3];
	if (tg_numel(n) == 0)
		return TG_OK;
	/* dy [N,O,Ho,Wo] convolved with the flipped kernel [C,O,KH,KW] at padding K-1-pad gives [N,C,H,W] */
	conv_geom q = conv_geom_make(n->dtype, dy->shape.d[0], dy->shape.d[1], dy->shape.d[2], dy->shape.d[3],
		w->shape.d[1], KH, KW, KH - 1 - pad, KW - 1 - pad);
	return conv_run(ex, w, true, dy->data, NULL, n->data, q, NULL);
}

/* ---------------------------------------------------------------- backward-weight (and bias) */

/* The sum of a plane of HW values, in double with 8 partial sums combined in a fixed order
** (vectorisable; the same for any thread count). */
#define DB_SUM(T)                                                                                  \
	static double plane_sum_##T(const T *v, int64_t HW)                                        \
	{                                                                                          \
		double a[8] = {0};                                                                 \
		int64_t p = 0;                                                                     \
		for (; p + 8 <= HW; p += 8)                                                        \
			for (int k = 0; k < 8; k++)                                                \
				a[k] += (double)v[p + k];                                          \
		for (; p < HW; p++)                                                                \
			a[0] += (double)v[p];                                                      \
		return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));          \
	}
DB_SUM(float)
DB_SUM(double)

/* partial[o] = sum of the image's dy plane of each channel o (dy [O,HW] of one image). */
static void bias_partial(const char *dy, int64_t O, int64_t HW, size_t es, double *partial)
{
	for (int64_t o = 0; o < O; o++)
		partial[o] = es == sizeof(float) ? plane_sum_float((const float *)dy + o * HW, HW)
						  : plane_sum_double((const double *)dy + o * HW, HW);
}

typedef struct dw_job {
	conv_geom q;
	int kind;             /* KERNEL_BLIS, KERNEL_DIRECT or KERNEL_WINO */
	const void *pack;     /* direct: tap offsets */
	const char *x, *dy;   /* [N,C,H,W], [N,O,Ho,Wo] */
	char *partial;        /* [N][stride]: BLIS [O][KH][KW][C] (the cols order); direct: conv_direct_dw_index;
			       * Winograd: [O][C][KH][KW] */
	size_t stride;        /* elements per image, a 64-byte multiple (no line is shared by two chunks) */
	double *bpartial;     /* [N][O]: the bias gradient's per-image sums, or NULL (no bias) */
	char *dw;             /* [O][C][KH][KW], or with the bias [O][C*KH*KW + 1] */
	const conv_prologue *pro; /* or NULL */
	size_t kslot;         /* bytes of a slot the kernels use; a prologue's image follows */
	conv_slots s;
} dw_job;

/* Chunk = one image, its bands accumulated in order: partial[n] = sum_bands dy_band * cols. */
static void dw_chunk(void *arg, int64_t n)
{
	dw_job *j = arg;
	const conv_geom *q = &j->q;
	int64_t HWo = q->Ho * q->Wo;
	char *part = j->partial + (size_t)n * j->stride * q->es;
	const char *img = j->x + (size_t)(n * q->C * q->H * q->W) * q->es;
	int k;
	char *slot = conv_slot_take(&j->s, &k);
	if (j->pro && j->kind != KERNEL_WINO) {
		prologue_rows(q, j->pro, img, slot + j->kslot, 0, q->H);
		img = slot + j->kslot;
	}
	if (j->bpartial) /* the image's dy, read now from L2 by the kernels below */
		bias_partial(j->dy + (size_t)(n * q->O * HWo) * q->es, q->O, HWo, q->es, j->bpartial + n * q->O);
#if CONV_DIRECT
	if (j->kind == KERNEL_WINO) {
		conv_wino_dw(q, (const float *)img, (const float *)j->dy + n * q->O * HWo, (float *)part, (float *)slot,
			j->pro);
		conv_slot_give(&j->s, k);
		return;
	}
	if (j->kind == KERNEL_DIRECT) {
		conv_direct_dw(q, j->pack, (const float *)img, (const float *)j->dy + n * q->O * HWo, (float *)part,
			(float *)slot);
		conv_slot_give(&j->s, k);
		return;
	}
#endif
	for (int64_t b = 0; b < q->bands; b++) {
		int64_t r0 = b * q->rows, nr = q->rows < q->Ho - r0 ? q->rows : q->Ho - r0;
		char *cols = im2col(q, img, r0, nr, slot);
		const char *dyb = j->dy + (size_t)(n * q->O * HWo + r0 * q->Wo) * q->es;
		if (q->es == sizeof(float))
			tg_sgemm_strided(q->O, q->kkc, nr * q->Wo, 1.0f, (const float *)dyb, HWo, 1, (const float *)cols,
				q->kkc, 1, b ? 1.0f : 0.0f, (float *)part, q->kkc, 1);
		else
			tg_dgemm_strided(q->O, q->kkc, nr * q->Wo, 1.0, (const double *)dyb, HWo, 1, (const double *)cols,
				q->kkc, 1, b ? 1.0 : 0.0, (double *)part, q->kkc, 1);
	}
	conv_slot_give(&j->s, k);
}

/* Where dw[o][k] (k = (c*KH + kh)*KW + kw) is in an image's partial. */
static int64_t dw_partial_index(const dw_job *j, int64_t o, int64_t k)
{
	const conv_geom *q = &j->q;
#if CONV_DIRECT
	if (j->kind == KERNEL_WINO)
		return o * q->kkc + k;
	if (j->kind == KERNEL_DIRECT)
		return conv_direct_dw_index(q, o, k);
#endif
	int64_t khw = q->KH * q->KW;
	return o * q->kkc + k % khw * q->C + k / khw;
}

/* Chunk = output channel o: dw[o][k] = sum over the images in order (double), 8 taps at a time;
** then the bias gradient db[o] (at dw[o][kkc]) likewise. */
static void dw_sum_chunk(void *arg, int64_t o)
{
	dw_job *j = arg;
	const conv_geom *q = &j->q;
	int64_t ld = q->kkc + (j->bpartial != NULL); /* row of the output */
	if (j->bpartial) {
		double acc = 0;
		for (int64_t n = 0; n < q->N; n++)
			acc += j->bpartial[n * q->O + o];
		if (q->es == sizeof(float))
			((float *)j->dw)[o * ld + q->kkc] = (float)acc;
		else
			((double *)j->dw)[o * ld + q->kkc] = acc;
	}
	for (int64_t k0 = 0; k0 < q->kkc; k0 += 8) {
		int64_t nk = q->kkc - k0 < 8 ? q->kkc - k0 : 8, at[8];
		double acc[8] = {0};
		for (int64_t t = 0; t < nk; t++)
			at[t] = dw_partial_index(j, o, k0 + t);
		for (int64_t n = 0; n < q->N; n++) {
			size_t base = (size_t)n * j->stride;
			if (q->es == sizeof(float))
				for (int64_t t = 0; t < nk; t++)
					acc[t] += ((const float *)j->partial)[base + (size_t)at[t]];
			else
				for (int64_t t = 0; t < nk; t++)
					acc[t] += ((const double *)j->partial)[base + (size_t)at[t]];
		}
		for (int64_t t = 0; t < nk; t++)
			if (q->es == sizeof(float))
				((float *)j->dw)[o * ld + k0 + t] = (float)acc[t];
			else
				((double *)j->dw)[o * ld + k0 + t] = acc[t];
	}
}

tg_status conv2d_run_weight_grad(tg_exec *ex, const tg_node *x, const tg_node *dy, int64_t pad, bool bias, tg_node *n,
	const conv_prologue *pro)
{
	int64_t O = dy->shape.d[1], C = x->shape.d[1];
	int64_t KH = x->shape.d[2] + 2 * pad - dy->shape.d[2] + 1, KW = x->shape.d[3] + 2 * pad - dy->shape.d[3] + 1;
	if (tg_numel(x) == 0 || tg_numel(dy) == 0) { /* no pixels: dw = 0 */
		memset(n->data, 0, n->nbytes);
		return TG_OK;
	}
	conv_geom q = conv_geom_make(n->dtype, x->shape.d[0], C, x->shape.d[2], x->shape.d[3], O, KH, KW, pad, pad);
	int nt = tg_exec_threads(ex);
	dw_job j = {.q = q, .kind = direct(&q) ? KERNEL_DIRECT : KERNEL_BLIS, .x = x->data, .dy = dy->data, .dw = n->data,
		.pro = pro};
	size_t kbytes = 0, sb = slot_bytes(&q);
	j.stride = conv_align64((size_t)(O * q.kkc) * q.es) / q.es;
#if CONV_DIRECT
	if (conv_wino_usable(&q, true)) {
		j.kind = KERNEL_WINO;
		sb = conv_wino_dw_slot_bytes(&q);
		j.stride = conv_wino_dw_partial_floats(&q);
	} else if (j.kind == KERNEL_DIRECT) {
		kbytes = conv_align64(conv_direct_pack_bytes(&q));
		sb = conv_direct_dw_slot_bytes(&q);
		j.stride = conv_direct_dw_partial_floats(&q);
	}
#endif
	j.kslot = sb = conv_align64(sb);
	sb += prologue_image_bytes(&q, pro, j.kind);
	size_t pbytes = (size_t)q.N * j.stride * q.es, bbytes = bias ? conv_align64(sizeof(double) * (size_t)(q.N * O)) : 0;
	char *mem = tg_exec_scratch(ex, pbytes + bbytes + kbytes + conv_slots_bytes(nt, sb));
	if (!mem)
		return tg_graph_fail(tg_exec_graph(ex), TG_ERR_NOMEM, "%s: out of memory for %zu bytes of workspace",
			n->op->name, pbytes + bbytes + kbytes + conv_slots_bytes(nt, sb));
	j.partial = mem;
	j.bpartial = bias ? (double *)(mem + pbytes) : NULL;
	mem += bbytes;
	j.pack = mem + pbytes;
#if CONV_DIRECT
	if (j.kind == KERNEL_DIRECT)
		conv_direct_pack(&q, NULL, false, NULL, mem + pbytes);
#endif
	conv_slots_init(&j.s, mem + pbytes + kbytes, nt, sb);
	tg_parallel_for(ex, q.N, dw_chunk, &j);
	tg_parallel_for(ex, O, dw_sum_chunk, &j);
	return TG_OK;
}

static tg_status conv2d_backward_weight_forward(tg_exec *ex, tg_node *n)
{
	return conv2d_run_weight_grad(ex, n->src[0], n->src[1], n->attr.i[0], n->attr.i[1] != 0, n, NULL);
}

/* ---------------------------------------------------------------- backward-bias */

typedef struct db_job { const tg_node *dy; double *partial; } db_job;

/* Chunk = one image: partial[n][o] = the sum of its plane o. */
static void db_chunk(void *arg, int64_t n)
{
	db_job *j = arg;
	int64_t O = j->dy->shape.d[1], HW = j->dy->shape.d[2] * j->dy->shape.d[3];
	size_t es = tg_dtype_size(j->dy->dtype);
	bias_partial((const char *)j->dy->data + (size_t)(n * O * HW) * es, O, HW, es, j->partial + n * O);
}

static tg_status conv2d_backward_bias_forward(tg_exec *ex, tg_node *n)
{
	const tg_node *dy = n->src[0];
	int64_t N = dy->shape.d[0], O = dy->shape.d[1];
	if (tg_numel(dy) == 0) {
		memset(n->data, 0, n->nbytes);
		return TG_OK;
	}
	double *partial = tg_exec_scratch(ex, sizeof(double) * (size_t)(N * O > 0 ? N * O : 1));
	if (!partial)
		return tg_graph_fail(tg_exec_graph(ex), TG_ERR_NOMEM, "conv2d_backward_bias: out of memory");
	db_job j = {dy, partial};
	tg_parallel_for(ex, N, db_chunk, &j);
	for (int64_t o = 0; o < O; o++) {
		double acc = 0;
		for (int64_t i = 0; i < N; i++)
			acc += partial[i * O + o];
		if (n->dtype == TG_F32)
			tg_f32(n)[o] = (float)acc;
		else
			tg_f64(n)[o] = acc;
	}
	return TG_OK;
}

/* ---------------------------------------------------------------- inference */

/* The inputs (NULLs skipped) all f32 or all f64: n gets their dtype. */
static tg_status check_dtypes(tg_graph *g, tg_node *n, int k, const tg_node *const *in)
{
	for (int i = 0; i < k; i++)
		if (in[i] && (in[i]->dtype != in[0]->dtype || (in[i]->dtype != TG_F32 && in[i]->dtype != TG_F64)))
			return tg_op_fail(g, n, TG_ERR_DTYPE, "inputs must all be f32 or all f64, input %d is %s and input 0 %s", i,
				tg_dtype_name(in[i]->dtype), tg_dtype_name(in[0]->dtype));
	n->dtype = in[0]->dtype;
	return TG_OK;
}

static tg_status check_srcs(tg_graph *g, tg_node *n) { return check_dtypes(g, n, n->nsrc, (const tg_node *const *)n->src); }

/* a + b - c for sizes and paddings (a, b, c >= 0), or -1 if a + b would overflow: dims of empty
** tensors may be anything up to INT64_MAX. */
static int64_t span(int64_t a, int64_t b, int64_t c) { return a > INT64_MAX - b ? -1 : a + b - c; }

static bool pad_ok(int64_t pad) { return pad >= 0 && pad <= INT32_MAX; }

tg_status conv2d_infer_shape(tg_graph *g, tg_node *n, const tg_node *xn, const tg_node *wn, const tg_node *bn,
	int64_t pad)
{
	tg_shape x = xn->shape, w = wn->shape;
	if (x.ndim != 4 || w.ndim != 4)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s and weight %s: expected x [N,C,H,W] and w [O,C,KH,KW]",
			tg_sstr(x), tg_sstr(w));
	if (x.d[1] != w.d[1])
		return tg_op_fail(g, n, TG_ERR_SHAPE, "input %s has %lld channels, weight %s expects %lld", tg_sstr(x),
			(long long)x.d[1], tg_sstr(w), (long long)w.d[1]);
	/* Ho = H + 2 pad - KH + 1 */
	int64_t Ho = pad_ok(pad) && w.d[2] >= 1 ? span(x.d[2], 2 * pad, w.d[2] - 1) : -1;
	int64_t Wo = pad_ok(pad) && w.d[3] >= 1 ? span(x.d[3], 2 * pad, w.d[3] - 1) : -1;
	if (Ho < 1 || Wo < 1)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "kernel of weight %s does not fit input %s with padding %lld", tg_sstr(w),
			tg_sstr(x), (long long)pad);
	if (bn && !(bn->shape.ndim == 1 && bn->shape.d[0] == w.d[0]))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "bias %s does not match weight %s: expected [%lld]", tg_sstr(bn->shape),
			tg_sstr(w), (long long)w.d[0]);
	n->shape = TG_SHAPE(x.d[0], w.d[0], Ho, Wo);
	return check_dtypes(g, n, 3, (const tg_node *[]){xn, wn, bn});
}

static tg_status conv2d_infer(tg_graph *g, tg_node *n)
{
	return conv2d_infer_shape(g, n, n->src[0], n->src[1], n->nsrc > 2 ? n->src[2] : NULL, n->attr.i[0]);
}

/* dy [N,O,Ho,Wo], w [O,C,KH,KW] -> dx [N,C,Ho+KH-1-2pad, Wo+KW-1-2pad] */
static tg_status conv2d_backward_data_infer(tg_graph *g, tg_node *n)
{
	tg_shape dy = n->src[0]->shape, w = n->src[1]->shape;
	int64_t pad = n->attr.i[0];
	bool ok = dy.ndim == 4 && w.ndim == 4 && dy.d[1] == w.d[0] && pad_ok(pad);
	int64_t H = ok ? span(dy.d[2], w.d[2], 1 + 2 * pad) : -1, W = ok ? span(dy.d[3], w.d[3], 1 + 2 * pad) : -1;
	if (H < 1 || W < 1)
		return tg_op_fail(g, n, TG_ERR_SHAPE,
			"dy %s, weight %s, padding %lld: expected dy [N,O,Ho,Wo] and w [O,C,KH,KW] of a convolution",
			tg_sstr(dy), tg_sstr(w), (long long)pad);
	n->shape = TG_SHAPE(dy.d[0], w.d[1], H, W);
	return check_srcs(g, n);
}

/* x [N,C,H,W], dy [N,O,Ho,Wo] -> dw [O,C,KH,KW] = [O,C,H+2pad-Ho+1, W+2pad-Wo+1], or with the
** bias gradient [O, C*KH*KW + 1] (db in the last column). */
tg_status conv2d_weight_grad_infer_shape(tg_graph *g, tg_node *n, const tg_node *xn, const tg_node *dyn, int64_t pad,
	bool bias)
{
	tg_shape x = xn->shape, dy = dyn->shape;
	bool ok = x.ndim == 4 && dy.ndim == 4 && x.d[0] == dy.d[0] && pad_ok(pad) && dy.d[2] >= 1 && dy.d[3] >= 1;
	int64_t KH = ok ? span(x.d[2], 2 * pad, dy.d[2] - 1) : -1, KW = ok ? span(x.d[3], 2 * pad, dy.d[3] - 1) : -1;
	if (KH < 1 || KW < 1)
		return tg_op_fail(g, n, TG_ERR_SHAPE,
			"x %s, dy %s, padding %lld: expected x [N,C,H,W] and dy [N,O,Ho,Wo] of a convolution", tg_sstr(x),
			tg_sstr(dy), (long long)pad);
	n->shape = TG_SHAPE(dy.d[1], x.d[1], KH, KW);
	int64_t kkc, size;
	if (bias && (__builtin_mul_overflow(x.d[1], KH * KW, &kkc) || __builtin_mul_overflow(dy.d[1], kkc + 1, &size)))
		return tg_op_fail(g, n, TG_ERR_SHAPE, "x %s, dy %s: the weight and bias gradients' size overflows", tg_sstr(x),
			tg_sstr(dy));
	if (bias)
		n->shape = TG_SHAPE(dy.d[1], kkc + 1);
	return check_dtypes(g, n, 2, (const tg_node *[]){xn, dyn});
}

static tg_status conv2d_backward_weight_infer(tg_graph *g, tg_node *n)
{
	return conv2d_weight_grad_infer_shape(g, n, n->src[0], n->src[1], n->attr.i[0], n->attr.i[1] != 0);
}

static tg_status conv2d_backward_bias_infer(tg_graph *g, tg_node *n)
{
	tg_shape dy = n->src[0]->shape;
	if (dy.ndim != 4)
		return tg_op_fail(g, n, TG_ERR_SHAPE, "dy %s: expected [N,O,Ho,Wo]", tg_sstr(dy));
	n->shape = TG_SHAPE(dy.d[1]);
	return check_srcs(g, n);
}

/* ---------------------------------------------------------------- ops */

double conv2d_output_flops(const tg_node *y, const tg_node *w)
{
	return 2.0 * (double)tg_numel(y) * (double)(w->shape.d[1] * w->shape.d[2] * w->shape.d[3]);
}

double conv2d_weight_grad_flops(const tg_node *dw, const tg_node *dy)
{
	int64_t per = dw->shape.d[0] ? tg_numel(dw) / dw->shape.d[0] : 0; /* values per output channel */
	bool bias = dw->attr.i[1] != 0;
	return (2.0 * (double)(per - bias) + bias) * (double)tg_numel(dy);
}

static double conv2d_flops(const tg_node *n) { return conv2d_output_flops(n, n->src[1]); }

static double conv2d_backward_data_flops(const tg_node *n)
{
	const tg_shape *w = &n->src[1]->shape;
	return 2.0 * (double)tg_numel(n->src[0]) * (double)(w->d[1] * w->d[2] * w->d[3]);
}

static double conv2d_backward_weight_flops(const tg_node *n) { return conv2d_weight_grad_flops(n, n->src[1]); }

const tg_op tg_op_conv2d_backward_data = {"conv2d_backward_data", conv2d_backward_data_infer,
	conv2d_backward_data_forward, NULL, TG_OP_NONDIFF, conv2d_backward_data_flops};
const tg_op tg_op_conv2d_backward_weight = {"conv2d_backward_weight", conv2d_backward_weight_infer,
	conv2d_backward_weight_forward, NULL, TG_OP_NONDIFF, conv2d_backward_weight_flops};
const tg_op tg_op_conv2d_backward_bias = {"conv2d_backward_bias", conv2d_backward_bias_infer,
	conv2d_backward_bias_forward, NULL, TG_OP_NONDIFF, NULL};

tg_status conv2d_weight_bias_grads(tg_graph *g, const tg_op *op, int nsrc, tg_node *const *src, const tg_node *w,
	int64_t pad, bool need_w, bool need_b, tg_node **gw, tg_node **gb)
{
	tg_attrs at = {0};
	at.i[0] = pad;
	at.i[1] = need_b;
	if (!need_w && !need_b)
		return TG_OK;
	if (!need_w) { /* dy is the last source */
		*gb = tg_node_new(g, &tg_op_conv2d_backward_bias, 1, &src[nsrc - 1], NULL);
		return tg_graph_status(g);
	}
	if (!need_b) {
		*gw = tg_node_new(g, op, nsrc, src, &at);
		return tg_graph_status(g);
	}
	tg_node *wb = tg_node_new(g, op, nsrc, src, &at);
	int64_t kkc = wb ? wb->shape.d[1] - 1 : 0;
	*gw = tg_reshape(g, tg_slice(g, wb, 1, 0, kkc), w->shape);
	*gb = tg_reshape(g, tg_slice(g, wb, 1, kkc, kkc + 1), TG_SHAPE(w->shape.d[0]));
	return tg_graph_status(g);
}

extern const tg_op tg_op_batchnorm2d_relu, tg_op_conv2d_bnrelu_backward_weight;

static tg_status conv2d_backward(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin)
{
	tg_attrs at = {0};
	at.i[0] = n->attr.i[0];
	/* weight and bias gradients first: x (often a recomputed copy) dies before dx is allocated. For
	** x = batchnorm2d_relu(z, gamma, beta, s) they compute x from z as they read it (the same bits,
	** ops/conv2d_bnrelu.c): the backward needs neither x nor a recomputed copy of it. */
	tg_node *x = n->src[0];
	bool bn = x->op == &tg_op_batchnorm2d_relu;
	tg_node *src[5] = {x, gout};
	if (bn)
		memcpy(src, (tg_node *[]){x->src[0], x->src[1], x->src[2], x->src[3], gout}, sizeof src);
	tg_status st = conv2d_weight_bias_grads(g, bn ? &tg_op_conv2d_bnrelu_backward_weight : &tg_op_conv2d_backward_weight,
		bn ? 5 : 2, src, n->src[1], n->attr.i[0], need[1], n->nsrc > 2 && need[2], &gin[1], &gin[2]);
	if (st == TG_OK && need[0])
		gin[0] = tg_node_new(g, &tg_op_conv2d_backward_data, 2, (tg_node *[]){gout, n->src[1]}, &at);
	return tg_graph_status(g);
}

const tg_op tg_op_conv2d = {"conv2d", conv2d_infer, conv2d_forward, conv2d_backward, 0, conv2d_flops};

tg_node *tg_conv2d(tg_graph *g, tg_node *x, tg_node *w, tg_node *b, int pad)
{
	if (!g || !x || !w)
		return NULL;
	tg_attrs at = {0};
	at.i[0] = pad;
	tg_node *src[3] = {x, w, b};
	return tg_node_new(g, &tg_op_conv2d, b ? 3 : 2, src, &at);
}
