/*
** gradcheck.c: central finite differences against the graph's own backward (see gradcheck.h).
*/
#include "gradcheck.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tg_node *gc_input(tg_graph *g, const char *name, tg_dtype t, tg_shape s, double lo, double hi, uint64_t seed)
{
	tg_node *n = tg_input(g, name, t, s);
	if (!n)
		return NULL;
	int64_t ne = tg_numel(n) * (t == TG_C128 ? 2 : 1);
	tg_rng r = {seed, 7};
	for (int64_t i = 0; i < ne; i++) {
		double v = lo + (hi - lo) * tg_rng_uniform(r, (uint64_t)i);
		if (t == TG_F32)
			((float *)n->data)[i] = (float)v;
		else
			((double *)n->data)[i] = v;
	}
	return n;
}

static double project(const tg_node *out, const double *u)
{
	int64_t ne = tg_numel(out) * (out->dtype == TG_C128 ? 2 : 1);
	double acc = 0;
	for (int64_t i = 0; i < ne; i++)
		acc += u[i] * (out->dtype == TG_F32 ? ((const float *)out->data)[i] : ((const double *)out->data)[i]);
	return acc;
}

bool gc_check(tg_graph *g, tg_node *out, int nin, tg_node **inputs, const gc_opts *opt, char *msg, size_t msglen)
{
	gc_opts o = {1e-6, 1e-7, 1e-5, 64};
	if (opt) {
		if (opt->h > 0) o.h = opt->h;
		if (opt->atol > 0) o.atol = opt->atol;
		if (opt->rtol > 0) o.rtol = opt->rtol;
		if (opt->max_elems > 0) o.max_elems = opt->max_elems;
	}
	msg[0] = 0;
	if (!out || tg_graph_status(g) != TG_OK) {
		snprintf(msg, msglen, "graph error: %s", tg_graph_error(g));
		return false;
	}
	int64_t nu = tg_numel(out) * (out->dtype == TG_C128 ? 2 : 1);
	double *u = malloc(sizeof(double) * (size_t)(nu ? nu : 1));
	tg_rng r = {12345, 99};
	for (int64_t i = 0; i < nu; i++)
		u[i] = 2 * tg_rng_uniform(r, (uint64_t)i) - 1;
	tg_node *seed = tg_const(g, "u", out->dtype, out->shape, NULL);
	if (!seed) {
		free(u);
		snprintf(msg, msglen, "graph error: %s", tg_graph_error(g));
		return false;
	}
	for (int64_t i = 0; i < nu; i++) {
		if (out->dtype == TG_F32)
			((float *)seed->data)[i] = (float)u[i];
		else
			((double *)seed->data)[i] = u[i];
	}
	if (tg_backward(g, out, seed, nin, inputs) != TG_OK) {
		free(u);
		snprintf(msg, msglen, "backward failed: %s", tg_graph_error(g));
		return false;
	}
	bool ok = true;
	for (int k = 0; k < nin && ok; k++) {
		tg_node *x = inputs[k], *gx = x->grad;
		int64_t ne = tg_numel(x) * (x->dtype == TG_C128 ? 2 : 1);
		if (!gx) {
			snprintf(msg, msglen, "input %d '%s' got no gradient", k, x->name);
			ok = false;
			break;
		}
		if (tg_graph_compute(g, 1, &gx) != TG_OK) {
			snprintf(msg, msglen, "computing the gradient failed: %s", tg_last_error());
			ok = false;
			break;
		}
		double *ga = malloc(sizeof(double) * (size_t)ne);
		for (int64_t i = 0; i < ne; i++)
			ga[i] = gx->dtype == TG_F32 ? ((float *)gx->data)[i] : ((double *)gx->data)[i];
		int64_t step = ne > o.max_elems ? ne / o.max_elems : 1;
		for (int64_t i = 0; i < ne && ok; i += step) {
			double *px = (double *)x->data + i;
			double x0 = *px, h = o.h * fmax(1.0, fabs(x0));
			*px = x0 + h;
			tg_status s1 = tg_graph_compute(g, 1, &out);
			double lp = project(out, u);
			*px = x0 - h;
			tg_status s2 = tg_graph_compute(g, 1, &out);
			double lm = project(out, u);
			*px = x0;
			if (s1 != TG_OK || s2 != TG_OK) {
				snprintf(msg, msglen, "forward failed: %s", tg_last_error());
				ok = false;
				break;
			}
			double num = (lp - lm) / (2 * h);
			if (!(fabs(ga[i] - num) <= o.atol + o.rtol * fabs(num))) {
				snprintf(msg, msglen, "input %d '%s' element %lld: analytic %.12g, numeric %.12g", k, x->name,
					(long long)i, ga[i], num);
				ok = false;
			}
		}
		free(ga);
	}
	free(u);
	return ok;
}
