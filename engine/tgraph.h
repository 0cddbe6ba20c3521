/*
** tgraph.h: the public API of tgraph, a small tensor dataflow-graph engine with
** reverse-mode autodiff, FFT/convolution ops and scale-invariant physics (SIP) training.
**
** Model: a tg_graph owns nodes. A node is both a graph vertex and the tensor it computes
** (as in ggml): op, inputs, attributes, shape, dtype, name, flags, data. Nodes are created
** in topological order (an input must exist before its consumer), and the creation index
** is the node's stable id.
**
** Errors: every constructor returns NULL on error and records the first error on the graph
** (sticky: later errors are ignored, tg_graph_error() returns the first). Constructors given
** a NULL input return NULL silently, so nested expressions stay safe. Nothing aborts or exits.
*/
#ifndef TGRAPH_H
#define TGRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#define TG_VERSION "0.1.0"
#define TG_MAX_DIMS 8
#define TG_NAME_LEN 64

/* ---------------------------------------------------------------- status, dtypes, shapes */

typedef enum tg_status {
	TG_OK = 0,
	TG_ERR_ARG,         /* bad argument: NULL handle, bad attribute, meaningless value */
	TG_ERR_SHAPE,       /* shapes do not fit the op */
	TG_ERR_DTYPE,       /* dtypes do not fit the op */
	TG_ERR_NOMEM,       /* an allocation failed */
	TG_ERR_IO,          /* reading or writing a file failed */
	TG_ERR_FORMAT,      /* a file is malformed, truncated or of another architecture */
	TG_ERR_NUMERIC,     /* NaN or Inf appeared where it must not */
	TG_ERR_UNSUPPORTED, /* e.g. no backward for an op on the gradient path */
	TG_ERR_ABORTED,     /* the abort callback asked to stop */
	TG_ERR_INTERNAL     /* a broken invariant: a bug in tgraph */
} tg_status;

const char *tg_status_str(tg_status s);

/* The message of the last error raised on this thread (by a graph or by a function that
** works without one, such as the .npy reader); "" if none. */
const char *tg_last_error(void);
tg_status tg_set_error(tg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef enum tg_dtype {
	TG_F32 = 0,
	TG_F64,
	TG_C128,  /* complex double, stored as interleaved (re, im) pairs */
	TG_DTYPE_COUNT
} tg_dtype;

size_t tg_dtype_size(tg_dtype t);
const char *tg_dtype_name(tg_dtype t);
static inline bool tg_dtype_is_complex(tg_dtype t) { return t == TG_C128; }

typedef struct tg_shape {
	int ndim;
	int64_t d[TG_MAX_DIMS];
} tg_shape;

/* Shape literal: TG_SHAPE(128, 1, 64, 64). */
tg_shape tg_shape_make(int ndim, const int64_t *d);
#define TG_SHAPE(...) tg_shape_make((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define TG_SCALAR_SHAPE tg_shape_make(0, NULL)

int64_t tg_shape_numel(tg_shape s);           /* -1 on overflow */
bool tg_shape_eq(tg_shape a, tg_shape b);
/* "[2,64,64]" into buf; returns buf. */
char *tg_shape_str(tg_shape s, char *buf, size_t n);
/* numpy broadcasting of a and b into *out; false if they do not broadcast. */
bool tg_shape_broadcast(tg_shape a, tg_shape b, tg_shape *out);

/* ---------------------------------------------------------------- allocator */

/* Injectable allocator (Lua's lua_Alloc idea): nsize == 0 frees ptr and returns NULL;
** otherwise behaves like realloc. Returning NULL for nsize > 0 is an allocation failure,
** which tgraph turns into TG_ERR_NOMEM. Memory is 64-byte aligned when obtained through
** tg_malloc_aligned. */
typedef void *(*tg_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);
void tg_set_allocator(tg_alloc_fn fn, void *ud); /* process-wide; NULL restores the default */
void *tg_malloc(size_t n);
void *tg_calloc(size_t count, size_t size);
void *tg_realloc(void *p, size_t osize, size_t nsize);
void tg_free(void *p, size_t size);
void *tg_malloc_aligned(size_t n);            /* 64-byte aligned, zeroed */
void tg_free_aligned(void *p);

/* ---------------------------------------------------------------- graph and nodes */

typedef struct tg_graph tg_graph;
typedef struct tg_node tg_node;
typedef struct tg_op tg_op;
typedef struct tg_exec tg_exec;

enum tg_flags {
	TG_FLAG_INPUT = 1u << 0,    /* fed by the user before each run; persistent buffer */
	TG_FLAG_PARAM = 1u << 1,    /* trainable parameter; persistent across runs */
	TG_FLAG_CONST = 1u << 2,    /* constant data; persistent */
	TG_FLAG_STATE = 1u << 3,    /* persistent, not trainable (optimizer moments, BN running stats) */
	TG_FLAG_LOSS = 1u << 4,     /* marks a loss (informational; DOT) */
	TG_FLAG_OUTPUT = 1u << 5,   /* kept alive after a run so the user can read it */
	TG_FLAG_BACKWARD = 1u << 6, /* created by tg_backward */
	TG_FLAG_OPTIM = 1u << 7,    /* optimizer node (writes parameters/state in place) */
	TG_FLAG_RECOMPUTE = 1u << 8 /* recomputed for the backward instead of kept (tg_recompute) */
};
#define TG_FLAGS_PERSISTENT (TG_FLAG_INPUT | TG_FLAG_PARAM | TG_FLAG_CONST | TG_FLAG_STATE)

/* Attributes of a node: small op parameters, read back by the op's kernel. */
typedef struct tg_attrs {
	double f[6];
	int64_t i[12];
	void *p;        /* user data for custom ops; not owned */
} tg_attrs;

struct tg_node {
	int id;                   /* creation index = topological index, stable */
	const tg_op *op;
	tg_graph *graph;
	tg_dtype dtype;
	tg_shape shape;
	int nsrc;
	tg_node **src;            /* nsrc inputs, owned by the graph */
	tg_attrs attr;
	unsigned flags;
	char name[TG_NAME_LEN];
	const char *scope;        /* module path for DOT clusters, e.g. "unet/down1"; may be NULL */
	void *data;               /* valid for persistent nodes always, for others after a run if kept */
	tg_node *grad;            /* d(loss)/d(this), set by tg_backward when on the gradient path */
	/* planner bookkeeping, private */
	int last_use;
	int64_t offset;
	size_t nbytes;
};

/* Creates an empty graph. Returns NULL only when out of memory. */
tg_graph *tg_graph_new(void);
void tg_graph_free(tg_graph *g);

tg_status tg_graph_status(const tg_graph *g);        /* TG_OK or the first error */
const char *tg_graph_error(const tg_graph *g);       /* message of the first error, "" if none */
void tg_graph_clear_error(tg_graph *g);
/* Records an error (first wins) and returns s. printf-style message; used by ops. */
tg_status tg_graph_fail(tg_graph *g, tg_status s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int tg_graph_node_count(const tg_graph *g);
tg_node *tg_graph_node(const tg_graph *g, int id);
tg_node *tg_graph_find(const tg_graph *g, const char *name);   /* first node with that name */

/* Scope for names and DOT clusters: nodes created after push get "scope/..." */
void tg_scope_push(tg_graph *g, const char *name);
void tg_scope_pop(tg_graph *g);

/* Leaves. Data is allocated (zeroed) at creation and persists for the graph's life. */
tg_node *tg_input(tg_graph *g, const char *name, tg_dtype t, tg_shape s);
tg_node *tg_param(tg_graph *g, const char *name, tg_dtype t, tg_shape s);
tg_node *tg_state(tg_graph *g, const char *name, tg_dtype t, tg_shape s);
tg_node *tg_const(tg_graph *g, const char *name, tg_dtype t, tg_shape s, const void *data);
tg_node *tg_scalar(tg_graph *g, tg_dtype t, double v);   /* a 0-d constant */
tg_node *tg_fill(tg_graph *g, tg_dtype t, tg_shape s, double v);

tg_node *tg_set_name(tg_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
tg_node *tg_set_flags(tg_node *n, unsigned flags);   /* ORs flags in */
int64_t tg_numel(const tg_node *n);
size_t tg_nbytes(const tg_node *n);
static inline float *tg_f32(tg_node *n) { return (float *)n->data; }
static inline double *tg_f64(tg_node *n) { return (double *)n->data; }
/* Copies user data into a persistent node (input, param, state, const). */
tg_status tg_set_data(tg_node *n, const void *data, size_t nbytes);

/* ---------------------------------------------------------------- ops */

/* An op: one file in ops/ (or user code) fills one of these.
** infer:    validates the inputs/attributes and sets n->shape, n->dtype; on error calls
**           tg_graph_fail with a message naming the op, the shapes and what was expected.
** forward:  computes n->data from n->src[i]->data. May use tg_parallel_for and tg_exec_scratch.
** backward: builds the gradient nodes (ordinary graph nodes) for each input with need[i] set,
**           given gout = d(loss)/d(n). Sets gin[i] (NULL = no gradient). The engine reduces
**           broadcast dimensions and casts dtypes afterwards, in one place. NULL backward
**           means the op is not differentiable (then TG_OP_NONDIFF must be set).
** The op's flags: TG_OP_INPLACE (output may reuse src[0]'s buffer), TG_OP_UPDATE (writes to
** persistent sources in place: runs after every reader, in creation order). */
enum tg_op_flags {
	TG_OP_NONDIFF = 1u << 0,
	TG_OP_INPLACE = 1u << 1,
	TG_OP_UPDATE = 1u << 2,
	TG_OP_LEAF = 1u << 3
};

struct tg_op {
	const char *name;
	tg_status (*infer)(tg_graph *g, tg_node *n);
	tg_status (*forward)(tg_exec *ex, tg_node *n);
	tg_status (*backward)(tg_graph *g, tg_node *n, tg_node *gout, const bool *need, tg_node **gin);
	unsigned flags;
	/* FLOPs of one forward evaluation (for benchmarks and the DOT profile); may be NULL. */
	double (*flops)(const tg_node *n);
};

/* Creates a node of any op (built-in or user-registered) and runs its inference. */
tg_node *tg_op_apply(tg_graph *g, const tg_op *op, int nsrc, tg_node *const *src, const tg_attrs *attrs);

/* The built-in op table, walked by the tests (every differentiable op has a gradient check). */
int tg_op_count(void);
const tg_op *tg_op_at(int i);
const tg_op *tg_op_find(const char *name);

/* ---------------------------------------------------------------- built-in op constructors */
/* Elementwise binary ops broadcast with numpy rules; float32 mixed with float64 promotes to
** float64 (a cast node is inserted), real mixed with complex promotes to complex. */
tg_node *tg_add(tg_graph *g, tg_node *a, tg_node *b);
tg_node *tg_sub(tg_graph *g, tg_node *a, tg_node *b);
tg_node *tg_mul(tg_graph *g, tg_node *a, tg_node *b);
tg_node *tg_div(tg_graph *g, tg_node *a, tg_node *b);
tg_node *tg_neg(tg_graph *g, tg_node *a);
tg_node *tg_exp(tg_graph *g, tg_node *a);
tg_node *tg_log(tg_graph *g, tg_node *a);
tg_node *tg_sqrt(tg_graph *g, tg_node *a);
tg_node *tg_abs(tg_graph *g, tg_node *a);      /* complex input gives |z| (real) */
tg_node *tg_square(tg_graph *g, tg_node *a);
tg_node *tg_pow_scalar(tg_graph *g, tg_node *a, double p);
tg_node *tg_scale(tg_graph *g, tg_node *a, double s);   /* a * s */
tg_node *tg_relu(tg_graph *g, tg_node *a);
/* Comparisons give 1.0/0.0 in a's dtype (not differentiable). */
typedef enum tg_cmp { TG_LT, TG_LE, TG_GT, TG_GE, TG_EQ, TG_NE } tg_cmp;
tg_node *tg_compare(tg_graph *g, tg_node *a, tg_node *b, tg_cmp c);
tg_node *tg_where(tg_graph *g, tg_node *cond, tg_node *a, tg_node *b); /* cond != 0 ? a : b */

/* Reductions over a list of axes (negative axes count from the end); keepdims keeps size-1 axes. */
tg_node *tg_sum(tg_graph *g, tg_node *a, int naxes, const int *axes, bool keepdims);
tg_node *tg_mean(tg_graph *g, tg_node *a, int naxes, const int *axes, bool keepdims);
tg_node *tg_sum_all(tg_graph *g, tg_node *a);   /* 0-d result */
/* Sums a into shape s, which a broadcasts from (the reverse of broadcast_to). */
tg_node *tg_sum_to(tg_graph *g, tg_node *a, tg_shape s);

tg_node *tg_reshape(tg_graph *g, tg_node *a, tg_shape s);
tg_node *tg_permute(tg_graph *g, tg_node *a, const int *perm);
tg_node *tg_transpose(tg_graph *g, tg_node *a);     /* swaps the two last axes */
/* Slice along one axis: [start, stop) with step 1. */
tg_node *tg_slice(tg_graph *g, tg_node *a, int axis, int64_t start, int64_t stop);
tg_node *tg_concat(tg_graph *g, int n, tg_node *const *xs, int axis);
tg_node *tg_broadcast_to(tg_graph *g, tg_node *a, tg_shape s);
tg_node *tg_cast(tg_graph *g, tg_node *a, tg_dtype t);  /* f32<->f64, real->complex */
/* Batched matmul over the two last axes, leading axes broadcast: [...,M,K] x [...,K,N]. */
tg_node *tg_matmul(tg_graph *g, tg_node *a, tg_node *b);
tg_node *tg_stop_gradient(tg_graph *g, tg_node *a);
/* PhiFlow's l2_loss: sum(a^2)/2 over all axes but the first -> shape [B]. */
tg_node *tg_l2_loss(tg_graph *g, tg_node *a);
/* Copy of a (identity); useful to name a value. */
tg_node *tg_copy(tg_graph *g, tg_node *a);

/* ---------------------------------------------------------------- autodiff */

/* Appends to g the backward of `loss` (gradient seed: `seed`, same shape as loss, or ones if
** NULL, i.e. the gradient of sum(loss)) w.r.t. the nodes in wrt (or every TG_FLAG_PARAM node
** if nwrt == 0). Afterwards n->grad holds d(loss)/d(n) for every node on the path.
** New nodes carry TG_FLAG_BACKWARD, so the planner, scheduler and DOT see them as usual. */
tg_status tg_backward(tg_graph *g, tg_node *loss, tg_node *seed, int nwrt, tg_node *const *wrt);
tg_node *tg_grad_of(const tg_node *n);

/* Rematerialisation (gradient checkpointing): the backward built after this call reads copies
** of n computed again just before each op's backward that reads n, instead of n itself, so n's
** buffer is freed after its last forward use and no copy outlives its reader. Pays one more
** evaluation of n per reading op for the memory of keeping it.
** Sources of n that are themselves marked are recomputed too. n must be a pure computation: an
** op without TG_OP_UPDATE or TG_OP_LEAF, no persistent or backward node, no TG_FLAG_STATE source
** (an op reading state may update it, as batch norm's training statistics do); otherwise
** TG_ERR_ARG. Returns n (NULL on error, recorded on g). */
tg_node *tg_recompute(tg_graph *g, tg_node *n);

/* Custom gradient (PhiML's custom_gradient / JAX's custom_vjp): returns a node equal to `value`
** whose backward does not flow into value's subgraph; instead fn builds the gradients of the
** given inputs from gout (it may build any nodes). The SIP node is built this way. */
typedef tg_status (*tg_custom_backward_fn)(tg_graph *g, tg_node *value, tg_node *gout,
	int nin, tg_node *const *inputs, const bool *need, tg_node **gin, void *ud);
tg_node *tg_custom_gradient(tg_graph *g, tg_node *value, int nin, tg_node *const *inputs,
	tg_custom_backward_fn fn, void *ud);

/* ---------------------------------------------------------------- running */

/* Threads used by kernels (own pool + BLIS); default 1. Results are bit-identical for any
** thread count: work is split into chunks whose size does not depend on it. */
void tg_graph_set_threads(tg_graph *g, int nthreads);
int tg_graph_threads(const tg_graph *g);

/* Runs the nodes needed for the targets, in creation order, on planned buffers.
** After the call, targets (and TG_FLAG_OUTPUT nodes) hold their values in n->data.
** The plan is cached and reused while the target list is the same. */
tg_status tg_graph_compute(tg_graph *g, int ntargets, tg_node *const *targets);

/* Peak bytes of the planned arena (non-persistent values) of the last plan, plus scratch. */
size_t tg_graph_peak_bytes(const tg_graph *g);
size_t tg_graph_persistent_bytes(const tg_graph *g);

/* Called after each node; return false to abort the run (TG_ERR_ABORTED). */
typedef bool (*tg_eval_callback)(const tg_node *n, double seconds, void *ud);
void tg_graph_set_eval_callback(tg_graph *g, tg_eval_callback cb, void *ud);
/* When on, a run stops at the first node whose floating output has NaN/Inf, with
** TG_ERR_NUMERIC and a message naming that node. */
void tg_graph_set_check_finite(tg_graph *g, bool on);

/* Per-node profile of the last run (seconds), indexed by node id; NULL if none. */
const double *tg_graph_profile(const tg_graph *g);

/* For kernels: split [0, nchunks) over the exec's threads. fn(arg, chunk) must only write
** memory that belongs to its chunk. The chunking is the kernel's, never the thread count's. */
void tg_parallel_for(tg_exec *ex, int64_t nchunks, void (*fn)(void *arg, int64_t chunk), void *arg);
int tg_exec_threads(const tg_exec *ex);
/* Per-run scratch memory for kernels (64-byte aligned, not zeroed), NULL if out of memory.
** Valid until the next call of tg_exec_scratch in the same node. */
void *tg_exec_scratch(tg_exec *ex, size_t nbytes);
tg_graph *tg_exec_graph(tg_exec *ex);

/* ---------------------------------------------------------------- distributed (engine/collective.c, ops/allreduce.c) */

/* Data parallelism: P processes each run the same graph on their slice of a batch. The library
** stays free of any communication library: the application (tools/mpi.c: MPI_Allreduce) supplies
** a hook that sums buf[0..n) element-wise over the processes, in place, with the same result on
** every process, and returns TG_OK (or an error with tg_set_error). Every process must make the
** same sequence of calls (they are collective). Ops that reduce over the batch (batch norm in
** training mode) sum their statistics through it, so P processes compute what one would on the
** whole batch. Without a hook (the default) nothing is communicated and results are unchanged. */
typedef tg_status (*tg_allreduce_fn)(double *buf, int64_t n, void *ud);
void tg_graph_set_allreduce(tg_graph *g, tg_allreduce_fn fn, void *ud);   /* fn NULL: one process */
/* For kernels: true when the graph has a hook; tg_exec_allreduce sums buf over the processes
** (a no-op returning TG_OK without a hook; a failing hook fails the graph with its message). */
bool tg_exec_distributed(const tg_exec *ex);
tg_status tg_exec_allreduce(tg_exec *ex, double *buf, int64_t n);
/* One fused allreduce of many tensors (e.g. every parameter gradient, before the optimizer):
** out[i] = the sum over processes of in[i], same shape and dtype (all f32 or all f64). A single
** op node "allreduce" sums their concatenation, in double, through the graph's hook (summed
** float32 values are rounded once). Not differentiable. */
tg_status tg_allreduce(tg_graph *g, int n, tg_node *const *in, tg_node **out);

/* ---------------------------------------------------------------- DOT export */

enum tg_dot_parts { TG_DOT_FORWARD = 1, TG_DOT_BACKWARD = 2, TG_DOT_BOTH = 3 };
typedef struct tg_dot_options {
	int parts;            /* TG_DOT_FORWARD / BACKWARD / BOTH (0 = both) */
	bool clusters;        /* group nodes by scope */
	bool profile;         /* colour by measured time of the last run */
} tg_dot_options;
/* Writes the graph as DOT through libcgraph (temporary file, then rename). */
tg_status tg_graph_dump_dot(tg_graph *g, const char *path, const tg_dot_options *opt);
/* Renders through libgvc to svg/png by the file's extension. */
tg_status tg_graph_render(tg_graph *g, const char *path, const tg_dot_options *opt);

/* ---------------------------------------------------------------- random numbers */

/* Counter-based RNG (Philox-4x32-10): value k of stream (seed, stream) does not depend on
** how work is split, so data generation is the same for any thread count or batch split. */
typedef struct tg_rng { uint64_t seed; uint64_t stream; } tg_rng;
double tg_rng_uniform(tg_rng r, uint64_t counter);      /* U[0,1), 53 bits */
void tg_rng_fill_uniform(tg_rng r, uint64_t counter0, double lo, double hi, double *out, int64_t n);

/* ---------------------------------------------------------------- physics (ops/fft*.c, ops/diffuse.c, ops/inv_diffuse.c, ops/sip.c) */

/* FFTs over the two trailing (spatial) axes [..., X, Y], batched over the leading ones.
** Convention: forward transforms are unnormalised, inverse ones carry 1/(X*Y) (numpy's "backward").
** Complex gradients are d/dRe + i d/dIm (PyTorch's convention). */
tg_node *tg_fft2(tg_graph *g, tg_node *a);             /* real or complex -> c128 */
tg_node *tg_ifft2(tg_graph *g, tg_node *a);            /* c128 -> c128 */
tg_node *tg_rfft2(tg_graph *g, tg_node *a);            /* f64 [...,X,Y] -> c128 [...,X,Y/2+1] */
tg_node *tg_irfft2(tg_graph *g, tg_node *a, int64_t ny); /* c128 [...,X,ny/2+1] -> f64 [...,X,ny] */
tg_node *tg_real(tg_graph *g, tg_node *a);
tg_node *tg_imag(tg_graph *g, tg_node *a);
tg_node *tg_conj(tg_graph *g, tg_node *a);     /* complex conjugate; identity on real input */

/* PhiFlow's diffuse.fourier(x, diffusivity, dt) with amount = diffusivity * dt, periodic, unit
** cells: y = Re(ifft2(fft2(x) * K)), K = exp(-(2 pi)^2 (kx^2 + ky^2) amount), k = fftfreq(n).
** x: [..., X, Y] f32 or f64; y: f64. Differentiable (the operator is symmetric). */
tg_node *tg_diffuse(tg_graph *g, tg_node *x, double amount);
tg_status tg_diffuse_compute(const double *x, double *y, int64_t batch, int64_t nx, int64_t ny, double amount);

/* The seed's damped inverse diffusion inv_diffuse(residual, amount, uncertainty), exactly. Every
** output pointer may be NULL. Shapes: residual, uncertainty, dx, abs_amp, kernel, sig_prob:
** [batch, nx, ny]; raw_kernel [nx, ny]; out_uncertainty, f_uncertainty: [batch]. */
typedef struct tg_inv_diffuse_out {
	double *dx, *abs_amp, *raw_kernel, *kernel, *sig_prob, *uncertainty, *f_uncertainty;
} tg_inv_diffuse_out;
tg_status tg_inv_diffuse_compute(const double *residual, const double *uncertainty, int64_t batch,
	int64_t nx, int64_t ny, double amount, const tg_inv_diffuse_out *out);
/* Graph op: dx of inv_diffuse (f64 [..., X, Y]); not differentiable. */
tg_node *tg_inv_diffuse(tg_graph *g, tg_node *residual, tg_node *uncertainty, double amount);

/* "Invertible physics" for SIP: a forward op and its damped inverse, both built as graph nodes.
** inverse returns dx such that x + dx is the physics' estimate of P^-1(y_target), given y = P(x).
** The struct must outlive the graphs built with it. */
typedef struct tg_physics tg_physics;
struct tg_physics {
	const char *name;
	tg_node *(*forward)(tg_graph *g, const tg_physics *p, tg_node *x);
	tg_node *(*inverse)(tg_graph *g, const tg_physics *p, tg_node *x, tg_node *y, tg_node *y_target);
	double amount;           /* diffusion: t * nu */
	double rel_uncertainty;  /* diffusion: uncertainty = |y* - y| * rel_uncertainty */
	void *ud;
};
#define TG_SEED_REL_UNCERTAINTY 9.999999974752427e-07  /* float32(1e-6), as PhiFlow 2.1.1 uses */
tg_physics tg_diffusion_physics(double amount, double rel_uncertainty);

/* The SIP node: forward = l2_loss(P(x) - y_target) per batch item ([B], f64); its custom
** backward sends -gout[b] * dx_b to x, dx = p->inverse(...): the gradient of the seed's proxy
** loss l2(x - stop_gradient(x + dx)). No gradient flows to y_target. */
tg_node *tg_sip_loss(tg_graph *g, const tg_physics *p, tg_node *x, tg_node *y_target);

/* ---------------------------------------------------------------- neural-network ops (ops/conv2d.c, ...) */

/* x [N,C,H,W], w [O,C,KH,KW], b [O] or NULL; stride 1, zero padding `pad` on each side. */
tg_node *tg_conv2d(tg_graph *g, tg_node *x, tg_node *w, tg_node *b, int pad);
tg_node *tg_maxpool2d(tg_graph *g, tg_node *x);          /* 2x2, stride 2, [N,C,H,W] */
tg_node *tg_upsample2x(tg_graph *g, tg_node *x);         /* bilinear, align_corners=False */
/* Batch norm over N,H,W per channel. training: batch statistics (biased variance), and the
** running statistics (state nodes) are updated with momentum and the unbiased variance;
** otherwise the running statistics are used. */
tg_node *tg_batchnorm2d(tg_graph *g, tg_node *x, tg_node *gamma, tg_node *beta,
	tg_node *running_mean, tg_node *running_var, bool training, double momentum, double eps);
/* relu(tg_batchnorm2d(...)) as one op, without the relu's own passes over memory (forward and
** backward); the gradient is 0 where the output is 0 (PyTorch's relu gradient at 0). */
tg_node *tg_batchnorm2d_relu(tg_graph *g, tg_node *x, tg_node *gamma, tg_node *beta,
	tg_node *running_mean, tg_node *running_var, bool training, double momentum, double eps);
/* tg_conv2d(g, a, w, b, pad) for a = tg_batchnorm2d_relu(...) as one node that never stores a: the
** convolution normalises its input rows as it reads them (same values, bit for bit). For a conv
** that is a's only reader: another reader of a would have its gradient go through a second
** batch-norm backward (the same sum in other roundings, for more passes over memory). */
tg_node *tg_conv2d_bnrelu(tg_graph *g, tg_node *a, tg_node *w, tg_node *b, int pad);

/* ---- models: U-Net (models/unet.c) */

/* PhiFlow 2.1.1's u_net (phi/torch/nets.py), NCHW. DoubleConv(cin, cout, cmid) = conv3x3 (pad 1)
** -> [batch norm] -> activation -> conv3x3 -> [batch norm] -> relu. inc = DoubleConv(in, f0, f0);
** down_i = maxpool 2x2 -> DoubleConv(f[i-1], f[i], f[i]); up_i = bilinear x2 of the deeper
** value, concat([skip, upsampled]) on channels -> DoubleConv(f[i]+f[i-1], f[i-1], (f[i]+f[i-1])/2);
** outc = conv1x1 (f0 -> out). As in PhiFlow, up1 (registered first) runs at the deepest level, so
** unequal filters only fit where PhiFlow's own net fits. */
#define TG_UNET_MAX_LEVELS 8
typedef enum tg_activation { TG_ACT_RELU = 0 } tg_activation;
typedef struct tg_unet_config {
	int in_channels, out_channels;
	int levels;                        /* 1..TG_UNET_MAX_LEVELS; H, W divisible by 2^(levels-1) */
	int filters[TG_UNET_MAX_LEVELS];   /* channels per level */
	bool batch_norm;                   /* BatchNorm2d (eps 1e-5, momentum 0.1) after each 3x3 conv */
	bool training;                     /* batch norm on batch statistics (the seed never calls eval()) */
	tg_activation activation;          /* first activation of each DoubleConv (the second is relu) */
	uint64_t seed;                     /* initialisation: tg_rng stream per parameter tensor */
	bool recompute;                    /* recompute each batch norm + relu output for the backward
	                                      (tg_recompute) instead of keeping it: one activation less
	                                      per conv, for one more elementwise pass */
	bool fuse;                         /* with batch norm: a batch norm + relu output read by one conv
	                                      only is never stored (tg_conv2d_bnrelu; same values) */
} tg_unet_config;
/* u_net(1, 1): 4 levels of 16 filters, batch norm (training), relu, seed 0, recompute on (it
** is faster here too: the copies are read while still in cache), fuse on: 37697 parameters. */
tg_unet_config tg_unet_default(void);
/* Builds the U-Net on x [N, in, H, W] in dtype t (x is cast if needed) -> [N, out, H, W]. First
** creates the parameters, named as PyTorch's named_parameters() ("inc.double_conv.0.weight",
** "down1.conv.double_conv.1.bias", ..., "outc.bias") in registration order inc, down1, up1,
** down2, up2, ..., outc, so tg_graph_params lists them as the golden flat file does; batch-norm
** running statistics are state nodes "<bn>.running_mean" / ".running_var". Initialisation as
** PyTorch's defaults: conv weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), gamma 1,
** beta 0, running mean 0, running var 1. Nodes are scoped "unet/<module>" for DOT clusters.
** The same function, built leaner: batch norm + ReLU is one tg_batchnorm2d_relu node (with
** cfg.fuse, merged into the conv after it where that is its only reader: the second conv of each
** DoubleConv and outc), and each Up module convolves the skip and the upsampled input with slices
** of its first weight and adds the two, instead of concatenating them (the concatenation is never
** stored). */
tg_node *tg_unet(tg_graph *g, const tg_unet_config *cfg, tg_dtype t, tg_node *x);

/* ---------------------------------------------------------------- optimizer and checkpoints */

typedef struct tg_adam_config { double lr, beta1, beta2, eps; } tg_adam_config;
tg_adam_config tg_adam_default(void);  /* PhiFlow's adam(): lr 1e-3, betas (0.9, 0.999), eps 1e-7 */
/* Appends Adam update nodes (PyTorch's formula with bias correction) for each parameter, whose
** ->grad must exist (call tg_backward first). Creates state nodes "<param>.adam_m", ".adam_v"
** and one "adam.step". Returns a node that depends on every update: compute it to step. */
tg_node *tg_adam(tg_graph *g, const tg_adam_config *cfg, int nparams, tg_node *const *params);

/* Parameters in creation order (n returned in *count); the array is owned by the caller (tg_free). */
tg_node **tg_graph_params(tg_graph *g, int *count);

/* Checkpoint: every PARAM and STATE node, by name, in an .npz (zip of .npy) that numpy.load
** reads. Written to a temporary file and renamed. Load checks names, shapes, dtypes and CRCs,
** and fails naming what does not match. Names must be distinct and non-empty; the member
** "<name>.npy" keeps any '/' or '.'. Errors go to tg_last_error(), not to the graph (it stays
** usable), and a failed load changes no node's data. (engine/checkpoint.c) */
tg_status tg_checkpoint_save(tg_graph *g, const char *path);
tg_status tg_checkpoint_load(tg_graph *g, const char *path);

/* ---------------------------------------------------------------- .npy interop (engine/npy.c) */

/* Reads a .npy (v1.0/2.0/3.0, little-endian <f4, <f8, <c16, C order). *data is tg_malloc'ed:
** free it with tg_free(*data, tg_shape_numel(*shape) * tg_dtype_size(*dtype)). Errors
** (TG_ERR_FORMAT, TG_ERR_IO, TG_ERR_NOMEM) name the file; the message is in tg_last_error(). */
tg_status tg_npy_read(const char *path, tg_dtype *dtype, tg_shape *shape, void **data);
tg_status tg_npy_read_mem(const void *buf, size_t len, tg_dtype *dtype, tg_shape *shape, void **data);
/* Writes atomically (temporary file + rename). */
tg_status tg_npy_write(const char *path, tg_dtype dtype, tg_shape shape, const void *data);
/* Encodes into a tg_malloc'ed buffer (for .npz members); free it with tg_free(*buf, *len). */
tg_status tg_npy_encode(tg_dtype dtype, tg_shape shape, const void *data, void **buf, size_t *len);

/* ---- models: heat-inversion data and training (models/heat_*.c) */

/* Adds strength * SoftGeometryMask(Cuboid(center, half)) sampled at the cell centres (i+0.5, j+0.5)
** of an nx x ny unit grid to out [nx, ny] (PhiFlow 2.1.1: value clip(0.5 - d / 1.414214, 0, 1),
** d the signed L-inf distance to the box; not periodic). Vectors are (x, y). */
void tg_heat_box_mask(int64_t nx, int64_t ny, const double center[2], const double half[2], double strength,
	double *out);
/* The seed's generate_heat_example: examples first .. first+count-1 of batch `step` into
** out [count, nx, ny] (f64): 4..10 boxes of random position, size and strength, summed.
** Example k of batch s depends only on (seed, s, k), not on how a batch is split. */
tg_status tg_heat_generate(uint64_t seed, uint64_t step, int64_t first, int64_t count, int64_t nx, int64_t ny,
	double *out);
/* A batch index that training never reaches (steps are ints): evaluation data. */
#define TG_HEAT_EVAL_STEP UINT64_C(0xffffffff)

typedef enum tg_heat_method { TG_HEAT_GD = 0, TG_HEAT_SIP = 1 } tg_heat_method;
const char *tg_heat_method_name(tg_heat_method m);   /* "gd" / "sip" */

typedef struct tg_heat_config {
	tg_heat_method method;
	int steps;          /* length of a run (50): tg_heat_trainer_run trains until this many are done */
	int batch;          /* examples per step (128) */
	int64_t nx, ny;     /* grid (64 x 64); multiples of 8 (three 2x2 poolings in the U-Net) */
	double amount;      /* diffusion t * nu (8) */
	double lr;          /* Adam learning rate (1e-3; betas 0.9, 0.999, eps 1e-7) */
	uint64_t seed;      /* U-Net initialisation and data stream; < 2^53 */
	int threads;        /* kernel threads (1) */
	unsigned run_methods; /* methods of the whole run, bits 1u << tg_heat_method (0: this one only);
	                      ** kept in checkpoints so that resuming a run continues all of them */
	/* Data parallelism (not in checkpoints): with nranks > 1 this process is rank `rank` and trains
	** on examples [rank*batch/nranks, (rank+1)*batch/nranks) of each global batch of `batch`
	** (which nranks must divide); batch norm statistics, the gradients (one fused allreduce before
	** Adam) and the reported losses are summed over the processes with `allreduce`, so the run
	** matches one process on the whole batch up to rounding. 0 or 1: one process. */
	int rank, nranks;
	tg_allreduce_fn allreduce;
	void *allreduce_ud;
} tg_heat_config;
tg_heat_config tg_heat_default(void);

/* The seed's loss_function as graph nodes, GD and SIP from the same ops:
**   y_target = diffuse(x_gt); prediction = unet(f32(y_target)) [B, X, Y] f32, shifted by
**   f32(mean(x_gt)) - mean(prediction) per item; x = stop_gradient(prediction);
**   x_loss = l2(x_gt - x); GD: y_loss = loss = l2(diffuse(prediction) - y_target);
**   SIP: y_loss = loss = tg_sip_loss(phys, prediction, y_target).
** Then tg_backward of sum_b loss[b] (seed ones) and tg_adam over every parameter. */
typedef struct tg_heat_graph {
	tg_node *x_gt;            /* input f64 [B, X, Y] */
	tg_node *y_target;        /* f64 [B, X, Y] */
	tg_node *x;               /* stop_gradient(prediction), f32 [B, X, Y] */
	tg_node *x_loss, *y_loss; /* f64 [B] */
	tg_node *loss;            /* the backpropagated per-item loss [B] */
	tg_node *update;          /* the Adam step: computed with the losses, it runs after them */
	tg_node *meta;            /* state "heat.config": the config and step count, in checkpoints */
} tg_heat_graph;
/* phys = tg_diffusion_physics(cfg->amount, TG_SEED_REL_UNCERTAINTY) must outlive g. */
tg_status tg_heat_build_graph(tg_graph *g, const tg_heat_config *cfg, const tg_physics *phys, tg_heat_graph *out);

/* A trainer: the seed's loss_function as one graph (U-Net, mean shift, losses, backward of the
** batch-summed loss, Adam). GD backpropagates l2(diffuse(prediction) - y_target); SIP uses
** tg_sip_loss. Same U-Net initialisation for both methods and the same data sequence. */
typedef struct tg_heat_trainer tg_heat_trainer;
tg_status tg_heat_trainer_new(const tg_heat_config *cfg, tg_heat_trainer **out);
void tg_heat_trainer_free(tg_heat_trainer *t);
const tg_heat_config *tg_heat_trainer_config(const tg_heat_trainer *t);
tg_graph *tg_heat_trainer_graph(tg_heat_trainer *t);
int tg_heat_trainer_steps_done(const tg_heat_trainer *t);

/* One step on batch number steps_done: the batch means of the x-loss l2(x_gt - x) and the y-loss
** l2(diffuse(x) - y_target), computed with the weights before this step's update. Non-finite
** losses give TG_ERR_NUMERIC (the update has run and the step counts). */
typedef struct tg_heat_losses { int step; double x_loss, y_loss, seconds; } tg_heat_losses;
tg_status tg_heat_trainer_step(tg_heat_trainer *t, tg_heat_losses *out);
/* Trains from steps_done until cfg.steps are done (a loaded checkpoint continues its run), calling
** cb after each step (may be NULL); cb returning false stops after that step. */
typedef bool (*tg_heat_callback)(const tg_heat_losses *l, void *ud);
tg_status tg_heat_trainer_run(tg_heat_trainer *t, tg_heat_callback cb, void *ud);
/* Losses of the current weights on the given batch x_gt [batch, nx, ny], no update; the
** prediction stays readable through tg_heat_trainer_sample. Batch norm uses batch statistics
** as in training (the seed never switches to eval mode). With nranks > 1, x_gt is still the whole
** batch: each process evaluates its slice and the losses are the means over the whole batch. */
tg_status tg_heat_trainer_eval(tg_heat_trainer *t, const double *x_gt, tg_heat_losses *out);
/* Item b of the last step's or eval's batch: x_gt and the (mean-shifted) prediction, [nx, ny].
** With nranks > 1, item b of this process's slice (rank 0 holds items 0 .. batch/nranks - 1). */
tg_status tg_heat_trainer_sample(tg_heat_trainer *t, int b, double *x_gt, double *prediction);

/* Checkpoints (tg_checkpoint_save of the trainer's graph): weights, Adam state and the config and
** step count, so a resumed run gives the same losses as an uninterrupted one. load needs a trainer
** built with the checkpoint's U-Net shape; tg_heat_checkpoint_info reads the config first. */
tg_status tg_heat_trainer_save(tg_heat_trainer *t, const char *path);
tg_status tg_heat_trainer_load(tg_heat_trainer *t, const char *path);
tg_status tg_heat_checkpoint_info(const char *path, tg_heat_config *cfg, int *steps_done);

#endif
