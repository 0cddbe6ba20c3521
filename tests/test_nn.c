/*
** test_nn.c: the U-Net against the golden PhiFlow 2.1.1 / PyTorch 1.13 data (tests/data, copied
** from the golden set: unet_params.txt, unet_*.f32/.f64; shapes in its manifest.csv), its
** parameter layout, thread-count independence, and Adam against hand-computed steps.
** Errors are "max abs error / max abs reference".
*/
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tgraph.h"

#define NPARAMS 37697
#define NIN (2 * 1 * 64 * 64)

/* scalars.json of the golden set: "unet_bn_running_mean_after_1_forward_inc.double_conv.1"
** (running_mean of the first batch norm after one training forward from 0, float32 net) */
static const double golden_running_mean[16] = {
	-0.0160937812179327, -0.013111411593854427, 0.0038252517115324736, 0.0366021953523159,
	0.005243607796728611, 0.01965501718223095, -0.007328614126890898, 0.003706197487190366,
	0.00022121926303952932, 0.014714540913701057, -0.02772628329694271, 0.03281835839152336,
	-0.0029746955260634422, 0.0021793898195028305, 0.017665989696979523, 0.029007578268647194};
/* scalars.json: unet_loss_0.5_sum_out_sq_f64ref */
static const double golden_loss_f64 = 989.851542987665;

/* A raw little-endian file of exactly n values of `size` bytes, as doubles. */
static double *load(const char *name, size_t n, size_t size)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", TG_TEST_DATA, name);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	void *raw = malloc(size * n);
	size_t got = fread(raw, size, n, f);
	int extra = fgetc(f);
	fclose(f);
	cr_assert(got == n && extra == EOF, "%s: expected exactly %zu values", path, n);
	double *d = malloc(sizeof(double) * n);
	for (size_t i = 0; i < n; i++)
		d[i] = size == 4 ? (double)((float *)raw)[i] : ((double *)raw)[i];
	free(raw);
	return d;
}

static double rel_err(const double *a, const double *ref, size_t n)
{
	double e = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		e = fmax(e, fabs(a[i] - ref[i]));
		m = fmax(m, fabs(ref[i]));
	}
	return e / m;
}

static void to_double(const tg_node *n, double *out)
{
	for (int64_t i = 0; i < tg_numel(n); i++)
		out[i] = n->dtype == TG_F32 ? (double)((const float *)n->data)[i] : ((const double *)n->data)[i];
}

static void from_double(tg_node *n, const double *v)
{
	for (int64_t i = 0; i < tg_numel(n); i++) {
		if (n->dtype == TG_F32)
			tg_f32(n)[i] = (float)v[i];
		else
			tg_f64(n)[i] = v[i];
	}
}

/* The golden setup: u_net(1,1) in dtype t with the golden parameters and input, loss
** 0.5 sum(out^2), gradients w.r.t. every parameter and the input. */
typedef struct unet_case {
	tg_graph *g;
	tg_node *x, *out, *loss;
	tg_node **params;
	int nparams;
} unet_case;

static unet_case unet_golden(tg_dtype t, int threads)
{
	unet_case c = {0};
	c.g = tg_graph_new();
	tg_graph_set_threads(c.g, threads);
	tg_unet_config cfg = tg_unet_default();
	c.x = tg_input(c.g, "x", t, TG_SHAPE(2, 1, 64, 64));
	c.out = tg_unet(c.g, &cfg, t, c.x);
	c.loss = tg_scale(c.g, tg_sum_all(c.g, tg_square(c.g, c.out)), 0.5);
	cr_assert(c.loss, "building the U-Net failed: %s", tg_graph_error(c.g));
	c.params = tg_graph_params(c.g, &c.nparams);
	double *p = load("unet_params.f32", NPARAMS, 4), *in = load("unet_input.f32", NIN, 4);
	int64_t off = 0;
	for (int i = 0; i < c.nparams; i++) {
		from_double(c.params[i], p + off);
		off += tg_numel(c.params[i]);
	}
	cr_assert_eq(off, NPARAMS);
	from_double(c.x, in);
	free(p);
	free(in);
	tg_node *wrt[64];
	cr_assert(c.nparams < 64);
	memcpy(wrt, c.params, sizeof(tg_node *) * (size_t)c.nparams);
	wrt[c.nparams] = c.x;
	cr_assert_eq(tg_backward(c.g, c.loss, NULL, c.nparams + 1, wrt), TG_OK, "%s", tg_graph_error(c.g));
	tg_node *targets[66] = {c.out, c.loss, c.x->grad};
	for (int i = 0; i < c.nparams; i++)
		targets[3 + i] = c.params[i]->grad;
	cr_assert_eq(tg_graph_compute(c.g, 3 + c.nparams, targets), TG_OK, "%s", tg_last_error());
	return c;
}

/* Gradients of all parameters, concatenated in creation order (= the golden order). */
static double *param_grads(const unet_case *c)
{
	double *gr = malloc(sizeof(double) * NPARAMS);
	int64_t off = 0;
	for (int i = 0; i < c->nparams; i++) {
		to_double(c->params[i]->grad, gr + off);
		off += tg_numel(c->params[i]);
	}
	return gr;
}

static void unet_free(unet_case *c)
{
	free(c->params);
	tg_graph_free(c->g);
}

Test(nn, unet_parameters_match_pytorch)
{
	tg_graph *g = tg_graph_new();
	tg_unet_config cfg = tg_unet_default();
	tg_node *out = tg_unet(g, &cfg, TG_F32, tg_input(g, "x", TG_F32, TG_SHAPE(2, 1, 64, 64)));
	cr_assert(out, "%s", tg_graph_error(g));
	cr_expect(tg_shape_eq(out->shape, TG_SHAPE(2, 1, 64, 64)));
	int n;
	tg_node **ps = tg_graph_params(g, &n);
	char path[512], line[256];
	snprintf(path, sizeof path, "%s/unet_params.txt", TG_TEST_DATA);
	FILE *f = fopen(path, "r");
	cr_assert(f, "cannot open %s", path);
	int k = 0;
	int64_t total = 0;
	while (fgets(line, sizeof line, f) && line[0] != '\n') {
		char name[128], shape[64];
		long long numel, offset;
		if (line[0] == '#')
			continue;
		cr_assert_eq(sscanf(line, "%127s %63s %lld %lld", name, shape, &numel, &offset), 4, "bad line: %s", line);
		cr_assert(k < n, "more golden parameters than ours (%d)", n);
		cr_expect_str_eq(ps[k]->name, name, "parameter %d", k);
		cr_expect_eq(tg_numel(ps[k]), numel, "%s", name);
		cr_expect_eq(total, offset, "%s", name);
		total += tg_numel(ps[k]);
		k++;
	}
	fclose(f);
	cr_expect_eq(k, n, "%d golden parameter tensors, %d of ours", k, n);
	cr_expect_eq(total, NPARAMS);
	/* running statistics are state, not parameters; init as PyTorch: conv bounds 1/sqrt(fan_in) */
	tg_node *rv = tg_graph_find(g, "up2.conv.double_conv.4.running_var");
	cr_assert(rv && (rv->flags & TG_FLAG_STATE) && !(rv->flags & TG_FLAG_PARAM));
	cr_expect_eq(tg_f32(rv)[7], 1.0f);
	tg_node *w = tg_graph_find(g, "up1.conv.double_conv.0.weight");
	float wmax = 0;
	for (int64_t i = 0; i < tg_numel(w); i++)
		wmax = fmaxf(wmax, fabsf(tg_f32(w)[i]));
	cr_expect(wmax <= 1 / sqrtf(288) && wmax > 0.9f / sqrtf(288), "max |w| %g, bound %g", wmax, 1 / sqrt(288));
	free(ps);
	tg_graph_free(g);
}

static int count_op(const tg_graph *g, const char *op)
{
	int k = 0;
	for (int i = 0; i < tg_graph_node_count(g); i++)
		k += strcmp(tg_graph_node(g, i)->op->name, op) == 0;
	return k;
}

/* Batch norm then ReLU is one node (both ReLUs of each DoubleConv here), forward and backward:
** no relu or relu_grad pass is left; without batch norm the ReLUs stay. The parameters and running
** statistics are the same tensors either way (unet_parameters_match_pytorch). */
Test(nn, unet_fuses_batchnorm_and_relu)
{
	for (int bn = 1; bn >= 0; bn--) {
		tg_graph *g = tg_graph_new();
		tg_unet_config cfg = tg_unet_default();
		cfg.batch_norm = bn;
		cfg.recompute = false; /* recomputed copies would add relu nodes */
		tg_node *out = tg_unet(g, &cfg, TG_F32, tg_input(g, "x", TG_F32, TG_SHAPE(2, 1, 16, 16)));
		cr_assert(out, "%s", tg_graph_error(g));
		cr_assert_eq(tg_backward(g, tg_sum_all(g, tg_square(g, out)), NULL, 0, NULL), TG_OK, "%s", tg_graph_error(g));
		int dconvs = 1 + 2 * (cfg.levels - 1);
		cr_expect_eq(count_op(g, "batchnorm2d_relu"), bn ? 2 * dconvs : 0);
		cr_expect_eq(count_op(g, "batchnorm2d_grad_stats"), bn ? 2 * dconvs : 0);
		cr_expect_eq(count_op(g, "batchnorm2d"), 0);
		cr_expect_eq(count_op(g, "relu"), bn ? 0 : 2 * dconvs);
		cr_expect_eq(count_op(g, "relu_grad"), bn ? 0 : 2 * dconvs);
		tg_graph_free(g);
	}
}

/* Recomputing the values between convolutions (cfg.recompute), then also fusing batch norm +
** relu into the conv that reads it (cfg.fuse), give the same bits, with and without batch norm
** (nothing to fuse) and in eval mode. Recompute lowers the peak; fusing saves memory passes
** (bench), not peak bytes: with recompute the activations it never stores were short-lived. */
Test(nn, unet_recompute_and_fuse_same_gradients_less_memory)
{
	for (int mode = 0; mode < 3; mode++) {
		double *grads[3] = {NULL, NULL, NULL};
		size_t peak[2], bytes = 0;
		int nparams = 0;
		for (int v = 0; v < 3; v++) {
			tg_graph *g = tg_graph_new();
			tg_unet_config cfg = tg_unet_default();
			cfg.batch_norm = mode != 1;
			cfg.training = mode != 2;
			cfg.recompute = v >= 1;
			cfg.fuse = v == 2;
			tg_node *x = tg_input(g, "x", TG_F64, TG_SHAPE(2, 1, 16, 16));
			for (int i = 0; i < 512; i++)
				tg_f64(x)[i] = sin(0.3 * i);
			tg_node *out = tg_unet(g, &cfg, TG_F64, x);
			cr_assert(out, "%s", tg_graph_error(g));
			cr_expect_eq(count_op(g, "conv2d_bnrelu"), v == 2 && mode != 1 ? 1 + 2 * (cfg.levels - 1) + 1 : 0);
			tg_node *loss = tg_sum_all(g, tg_square(g, out));
			cr_assert_eq(tg_backward(g, loss, NULL, 0, NULL), TG_OK, "%s", tg_graph_error(g));
			tg_node **params = tg_graph_params(g, &nparams);
			tg_node **targets = malloc(sizeof(tg_node *) * (size_t)(nparams + 2));
			targets[0] = loss;
			targets[1] = out;
			bytes = 0;
			for (int i = 0; i < nparams; i++)
				targets[i + 2] = params[i]->grad, bytes += params[i]->grad->nbytes;
			cr_assert_eq(tg_graph_compute(g, nparams + 2, targets), TG_OK, "%s", tg_graph_error(g));
			if (v < 2)
				peak[v] = tg_graph_peak_bytes(g);
			grads[v] = malloc(bytes + out->nbytes);
			size_t at = 0;
			for (int i = 0; i < nparams; i++) {
				memcpy((char *)grads[v] + at, params[i]->grad->data, params[i]->grad->nbytes);
				at += params[i]->grad->nbytes;
			}
			memcpy((char *)grads[v] + at, out->data, out->nbytes);
			bytes = at + out->nbytes;
			free(targets);
			tg_free(params, sizeof(tg_node *) * (size_t)nparams);
			tg_graph_free(g);
		}
		for (int v = 1; v < 3; v++)
			cr_expect_eq(memcmp(grads[0], grads[v], bytes), 0, "mode %d: output or gradients differ with %s", mode,
				v == 1 ? "recompute" : "recompute and fuse");
		cr_expect_lt(peak[1], peak[0], "mode %d: recompute did not lower the peak (%zu vs %zu bytes)", mode, peak[1], peak[0]);
		for (int v = 0; v < 3; v++)
			free(grads[v]);
	}
}

/* Other configurations: fewer levels, other filters, no batch norm, eval-mode batch norm. */
Test(nn, unet_configurations)
{
	struct { int levels, f; bool bn, training; int64_t params; } cases[] = {
		/* DoubleConv(cin, cout, cmid): 9 cin cmid + cmid + 9 cmid cout + cout, + 2 (cmid + cout) with batch norm */
		{3, 8, false, true, (9 * 1 * 8 + 8 + 9 * 8 * 8 + 8) + 2 * (9 * 8 * 8 + 8 + 9 * 8 * 8 + 8) +
					   2 * (9 * 16 * 8 + 8 + 9 * 8 * 8 + 8) + 8 + 1},
		{2, 4, true, false, (9 * 1 * 4 + 4 + 9 * 4 * 4 + 4 + 16) + (9 * 4 * 4 + 4 + 9 * 4 * 4 + 4 + 16) +
					    (9 * 8 * 4 + 4 + 9 * 4 * 4 + 4 + 16) + 4 + 1},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		tg_graph *g = tg_graph_new();
		tg_unet_config cfg = tg_unet_default();
		cfg.levels = cases[k].levels;
		for (int i = 0; i < cfg.levels; i++)
			cfg.filters[i] = cases[k].f;
		cfg.batch_norm = cases[k].bn;
		cfg.training = cases[k].training;
		tg_node *x = tg_input(g, "x", TG_F64, TG_SHAPE(2, 1, 8, 12));
		tg_node *out = tg_unet(g, &cfg, TG_F32, x);   /* x is cast to f32 */
		cr_assert(out, "%s", tg_graph_error(g));
		cr_expect(tg_shape_eq(out->shape, TG_SHAPE(2, 1, 8, 12)) && out->dtype == TG_F32);
		int n;
		tg_node **ps = tg_graph_params(g, &n);
		int64_t total = 0;
		for (int i = 0; i < n; i++)
			total += tg_numel(ps[i]);
		cr_expect_eq(total, cases[k].params, "case %zu: %lld parameters", k, (long long)total);
		cr_expect_eq(tg_graph_find(g, "inc.double_conv.1.running_mean") != NULL, cases[k].bn);
		tg_node *loss = tg_sum_all(g, tg_square(g, out));
		cr_assert_eq(tg_backward(g, loss, NULL, 0, NULL), TG_OK, "%s", tg_graph_error(g));
		tg_node *t[2] = {loss, ps[0]->grad};
		cr_assert_eq(tg_graph_compute(g, 2, t), TG_OK, "%s", tg_last_error());
		cr_expect(isfinite(tg_f32(loss)[0]) && tg_f32(loss)[0] > 0);
		free(ps);
		tg_graph_free(g);
	}
}

Test(nn, unet_golden_f64)
{
	unet_case c = unet_golden(TG_F64, 1);
	double *ref = load("unet_output_f64ref.f64", NIN, 8), *v = malloc(sizeof(double) * NIN);
	to_double(c.out, v);
	double e_out = rel_err(v, ref, NIN);
	free(ref);
	ref = load("unet_input_grad_f64ref.f64", NIN, 8);
	to_double(c.x->grad, v);
	double e_in = rel_err(v, ref, NIN);
	double *pg = param_grads(&c), *pref = load("unet_param_grads_f64ref.f64", NPARAMS, 8);
	double e_par = rel_err(pg, pref, NPARAMS), loss = tg_f64(c.loss)[0];
	cr_log_info("U-Net f64 vs golden f64 ref: output %.3g, param grads %.3g, input grad %.3g, loss %.17g (ref %.17g)",
		e_out, e_par, e_in, loss, golden_loss_f64);
	cr_expect(e_out <= 1e-10, "output error %g", e_out);
	cr_expect(e_par <= 1e-10, "parameter gradient error %g", e_par);
	cr_expect(e_in <= 1e-10, "input gradient error %g", e_in);
	cr_expect(fabs(loss - golden_loss_f64) <= 1e-10 * golden_loss_f64, "loss %.17g", loss);
	free(ref), free(v), free(pg), free(pref);
	unet_free(&c);
}

Test(nn, unet_golden_f32)
{
	unet_case c = unet_golden(TG_F32, 1);
	double *ref = load("unet_output_f64ref.f64", NIN, 8), *v = malloc(sizeof(double) * NIN);
	to_double(c.out, v);
	double e_out = rel_err(v, ref, NIN);
	free(ref);
	ref = load("unet_input_grad_f64ref.f64", NIN, 8);
	to_double(c.x->grad, v);
	double e_in = rel_err(v, ref, NIN);
	double *pg = param_grads(&c), *pref = load("unet_param_grads_f64ref.f64", NPARAMS, 8);
	double e_par = rel_err(pg, pref, NPARAMS);
	/* the running mean of the first batch norm after this one forward, vs PyTorch's float32 net */
	tg_node *rm = tg_graph_find(c.g, "inc.double_conv.1.running_mean");
	cr_assert(rm);
	double rmv[16], e_rm = 0;
	to_double(rm, rmv);
	for (int i = 0; i < 16; i++)
		e_rm = fmax(e_rm, fabs(rmv[i] - golden_running_mean[i]));
	/* PyTorch's own float32 results, for comparison (not gated: both are float32 roundings) */
	double *t_out = load("unet_output.f32", NIN, 4), *t_pg = load("unet_param_grads.f32", NPARAMS, 4);
	double *t_in = load("unet_input_grad.f32", NIN, 4);
	to_double(c.x->grad, v);
	double et_in = rel_err(v, t_in, NIN);
	to_double(c.out, v);
	double et_out = rel_err(v, t_out, NIN), et_par = rel_err(pg, t_pg, NPARAMS);
	cr_log_info("U-Net f32 vs golden f64 ref: output %.3g, param grads %.3g, input grad %.3g (not gated; torch f32: "
		    "5.8e-2); running_mean max abs error %.3g; vs PyTorch's f32 files: output %.3g, param grads %.3g, "
		    "input grad %.3g",
		e_out, e_par, e_in, e_rm, et_out, et_par, et_in);
	free(t_out), free(t_pg), free(t_in);
	cr_expect(e_out <= 1e-5, "output error %g", e_out);
	cr_expect(e_par <= 2e-3, "parameter gradient error %g", e_par);
	cr_expect(e_rm <= 1e-7, "running_mean error %g", e_rm);
	free(ref), free(v), free(pg), free(pref);
	unet_free(&c);
}

/* Every chunking is fixed, so 1 and 2 threads give the same bits. */
Test(nn, unet_bitwise_same_for_any_thread_count)
{
	unet_case a = unet_golden(TG_F32, 1), b = unet_golden(TG_F32, 2);
	cr_expect(memcmp(a.out->data, b.out->data, tg_nbytes(a.out)) == 0, "outputs differ");
	cr_expect(memcmp(a.x->grad->data, b.x->grad->data, tg_nbytes(a.x->grad)) == 0, "input gradients differ");
	for (int i = 0; i < a.nparams; i++)
		cr_expect(memcmp(a.params[i]->grad->data, b.params[i]->grad->data, tg_nbytes(a.params[i]->grad)) == 0,
			"gradients of %s differ", a.params[i]->name);
	unet_free(&a);
	unet_free(&b);
}

/* ---------------------------------------------------------------- Adam */

/* A constant gradient c: m_t = (1 - b1^t) c and v_t = (1 - b2^t) c^2 exactly, so each step moves
** p by lr c / (|c| + eps): after 3 steps p = p0 - 3 lr c / (|c| + eps). */
Test(nn, adam_constant_gradient_closed_form)
{
	tg_graph *g = tg_graph_new();
	tg_node *p = tg_param(g, "p", TG_F64, TG_SHAPE(3));
	tg_node *c = tg_const(g, "c", TG_F64, TG_SHAPE(3), (double[]){2.0, -0.5, 1e-3});
	double p0[3] = {1.0, -2.0, 0.25};
	tg_set_data(p, p0, sizeof p0);
	tg_node *loss = tg_sum_all(g, tg_mul(g, p, c));
	cr_assert_eq(tg_backward(g, loss, NULL, 0, NULL), TG_OK, "%s", tg_graph_error(g));
	tg_adam_config cfg = {0.1, 0.9, 0.999, 1e-7};
	tg_node *step = tg_adam(g, &cfg, 1, &p);
	cr_assert(step, "%s", tg_graph_error(g));
	for (int t = 0; t < 3; t++)
		cr_assert_eq(tg_graph_compute(g, 1, &step), TG_OK, "%s", tg_last_error());
	double cv[3] = {2.0, -0.5, 1e-3};
	for (int i = 0; i < 3; i++) {
		double want = p0[i] - 3 * 0.1 * cv[i] / (fabs(cv[i]) + 1e-7);
		cr_expect(fabs(tg_f64(p)[i] - want) <= 1e-14, "p[%d] = %.17g, want %.17g", i, tg_f64(p)[i], want);
	}
	cr_expect_eq(tg_f64(tg_graph_find(g, "adam.step"))[0], 3.0);
	tg_graph_free(g);
}

/* loss = 0.5 p^2 (g = p), lr 0.1, betas (0.9, 0.999), eps 1e-7, p0 = 1, worked by hand in
** exact arithmetic (rounded to 17 digits):
** t=1: g=1, m=0.1, v=0.001, m/(1-.9)=1, sqrt(v/(1-.999))=1 -> p1 = 1 - 0.1/(1+1e-7)
** t=2: g=p1, m=0.09+0.1 p1, v=0.000999+0.001 p1^2, corrections 0.19, 0.001999 -> p2
** t=3: likewise with 0.271, 0.002997001 -> p3. */
Test(nn, adam_three_steps_by_hand)
{
	double p1 = 1 - 0.1 / (1 + 1e-7);
	double m2 = 0.09 + 0.1 * p1, v2 = 0.000999 + 0.001 * p1 * p1;
	double p2 = p1 - 0.1 * (m2 / 0.19) / (sqrt(v2 / 0.001999) + 1e-7);
	double m3 = 0.9 * m2 + 0.1 * p2, v3 = 0.999 * v2 + 0.001 * p2 * p2;
	double p3 = p2 - 0.1 * (m3 / 0.271) / (sqrt(v3 / 0.002997001) + 1e-7);
	double want[3] = {p1, p2, p3};
	for (int dt = 0; dt < 2; dt++) {
		tg_dtype t = dt ? TG_F32 : TG_F64;
		tg_graph *g = tg_graph_new();
		tg_node *p = tg_param(g, "p", t, TG_SCALAR_SHAPE);
		from_double(p, (double[]){1.0});
		tg_node *loss = tg_scale(g, tg_square(g, p), 0.5);
		cr_assert_eq(tg_backward(g, loss, NULL, 0, NULL), TG_OK, "%s", tg_graph_error(g));
		tg_adam_config cfg = {0.1, 0.9, 0.999, 1e-7};
		tg_node *step = tg_adam(g, &cfg, 1, &p);
		cr_assert(step, "%s", tg_graph_error(g));
		cr_assert(tg_graph_find(g, "p.adam_m") && tg_graph_find(g, "p.adam_v"));
		for (int k = 0; k < 3; k++) {
			cr_assert_eq(tg_graph_compute(g, 1, &step), TG_OK, "%s", tg_last_error());
			double got;
			to_double(p, &got);
			double tol = dt ? 1e-6 : 1e-14;
			cr_expect(fabs(got - want[k]) <= tol, "%s step %d: p = %.17g, want %.17g", tg_dtype_name(t), k + 1, got,
				want[k]);
		}
		tg_graph_free(g);
	}
}

/* The loss computed in the same run as the step sees the weights before the update. */
Test(nn, adam_runs_after_every_reader)
{
	tg_graph *g = tg_graph_new();
	tg_node *p = tg_param(g, "p", TG_F64, TG_SHAPE(2));
	tg_set_data(p, (double[]){3, 4}, 2 * sizeof(double));
	tg_node *loss = tg_set_flags(tg_scale(g, tg_sum_all(g, tg_square(g, p)), 0.5), TG_FLAG_OUTPUT);
	cr_assert_eq(tg_backward(g, loss, NULL, 0, NULL), TG_OK);
	tg_adam_config cfg = tg_adam_default();
	cr_expect_eq(cfg.eps, 1e-7);
	tg_node *step = tg_adam(g, &cfg, 1, &p);
	tg_node *t[2] = {loss, step};
	cr_assert_eq(tg_graph_compute(g, 2, t), TG_OK, "%s", tg_last_error());
	cr_expect_eq(tg_f64(loss)[0], 12.5);
	cr_expect(tg_f64(p)[0] < 3 && tg_f64(p)[1] < 4);
	tg_graph_free(g);
}

Test(nn, adam_errors)
{
	tg_graph *g = tg_graph_new();
	tg_node *p = tg_param(g, "lonely", TG_F64, TG_SHAPE(2));
	cr_expect_null(tg_adam(g, NULL, 1, &p));
	cr_expect(strstr(tg_graph_error(g), "adam") && strstr(tg_graph_error(g), "lonely") &&
			  strstr(tg_graph_error(g), "no gradient"),
		"%s", tg_graph_error(g));
	tg_graph_free(g);
}
