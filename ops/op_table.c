/*
** op_table.c: the built-in ops, one line each. Adding an op: write ops/<name>.c defining
** `const tg_op tg_op_<name>`, add one line here and its file to ops/meson.build, and give it a
** gradient check in tests/test_gradcheck.c (the suite fails for a differentiable op without one).
*/
#include "../engine/internal.h"
#include <string.h>

#define TG_BUILTIN_OPS(X) \
	X(add) X(sub) X(mul) X(div) X(neg) X(exp) X(log) X(sqrt) X(abs) X(abs_grad) X(square) \
	X(pow_scalar) X(scale) X(relu) X(relu_grad) X(compare) X(where) X(conj) X(copy) X(real) X(imag) \
	X(sum) X(mean) X(sum_to) X(broadcast_to) X(reshape) X(permute) X(slice) X(pad) X(concat) \
	X(cast) X(matmul) X(stop_gradient) X(l2_loss) \
	TG_PHYSICS_OPS(X) TG_NN_OPS(X)

/* Physics ops (ops/fft2.c, ops/diffuse.c, ...) and neural-network ops (ops/conv2d.c, ...). */
#define TG_PHYSICS_OPS(X) X(fft2) X(ifft2) X(rfft2) X(irfft2) X(diffuse) X(inv_diffuse)
#define TG_NN_OPS(X) \
	X(conv2d) X(conv2d_backward_data) X(conv2d_backward_weight) X(conv2d_backward_bias) \
	X(conv2d_bnrelu) X(conv2d_bnrelu_backward_weight) \
	X(maxpool2d) X(maxpool2d_backward) X(upsample2x) X(upsample2x_backward) \
	X(batchnorm2d) X(batchnorm2d_relu) X(batchnorm2d_stats) X(batchnorm2d_grad_stats) \
	X(batchnorm2d_backward_data) \
	X(adam_tick) X(adam_update) X(adam_step) X(allreduce)

#define DECLARE(name) extern const tg_op tg_op_##name;
TG_BUILTIN_OPS(DECLARE)

#define REFERENCE(name) &tg_op_##name,
static const tg_op *const builtin_ops[] = {TG_BUILTIN_OPS(REFERENCE)};

int tg_op_count(void) { return (int)(sizeof builtin_ops / sizeof builtin_ops[0]); }
const tg_op *tg_op_at(int i) { return i >= 0 && i < tg_op_count() ? builtin_ops[i] : NULL; }

const tg_op *tg_op_find(const char *name)
{
	for (int i = 0; name && i < tg_op_count(); i++)
		if (strcmp(builtin_ops[i]->name, name) == 0)
			return builtin_ops[i];
	return NULL;
}
