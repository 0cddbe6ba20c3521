/*
** elementwise.h: shared kernels of the elementwise ops (ops/add.c, ops/exp.c, ...). Each op file
** keeps its own inference and backward; the loops over dtypes and broadcasting live here once.
*/
#ifndef TG_ELEMENTWISE_H
#define TG_ELEMENTWISE_H

#include "../engine/internal.h"

typedef enum ew_kind {
	/* binary: out = f(a, b), broadcast */
	EW_ADD, EW_SUB, EW_MUL, EW_DIV,
	EW_LT, EW_LE, EW_GT, EW_GE, EW_EQ, EW_NE,
	EW_RELU_GRAD,   /* (a, g) -> g * (a > 0) */
	EW_ABS_GRAD,    /* (a, g) -> g * sign(a), complex: g * a / |a| (0 at 0) */
	/* unary: out = f(a) */
	EW_NEG, EW_EXP, EW_LOG, EW_SQRT, EW_ABS, EW_SQUARE, EW_POW, EW_SCALE, EW_RELU,
	EW_REAL, EW_IMAG, EW_CONJ, EW_COPY
} ew_kind;

/* Inference of a broadcasting binary op whose inputs have one dtype (promoted by the constructor). */
tg_status ew_infer_binary(tg_graph *g, tg_node *n);
/* Constructor of a broadcasting binary op: promotes dtypes (inserting casts), then creates the node. */
tg_node *ew_binary(tg_graph *g, const tg_op *op, tg_node *a, tg_node *b);
/* Binary kernel; the kind is the op's. */
tg_status ew_binary_forward(tg_exec *ex, tg_node *n, ew_kind kind);
/* Unary kernel; attr.f[0] is the op's scalar (pow exponent, scale factor). */
tg_status ew_unary_forward(tg_exec *ex, tg_node *n, ew_kind kind);
/* Inference of a unary op with the same shape; real_out: result is real for complex input;
** allow_complex: whether complex input is accepted. */
tg_status ew_infer_unary(tg_graph *g, tg_node *n, bool allow_complex, bool real_out);
tg_node *ew_unary(tg_graph *g, const tg_op *op, tg_node *a, double f0);

#define EW_CHUNK 16384  /* elements per parallel chunk: fixed, so results do not depend on threads */

#endif
