/*
** fit_mlp.c: fit y = sin(3x) with a 1-32-1 MLP by plain gradient descent, on tgraph.
** Shows the basic loop: build the graph once (forward, tg_backward, update nodes), then run it
** many times with new inputs. Usage: fit_mlp [steps]
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "tgraph.h"

#define N 64
#define H 32

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 2000;
	tg_graph *g = tg_graph_new();
	if (!g)
		return 1;
	tg_node *x = tg_input(g, "x", TG_F32, TG_SHAPE(N, 1));
	tg_node *y = tg_input(g, "y", TG_F32, TG_SHAPE(N, 1));
	tg_node *w1 = tg_param(g, "w1", TG_F32, TG_SHAPE(1, H));
	tg_node *b1 = tg_param(g, "b1", TG_F32, TG_SHAPE(H));
	tg_node *w2 = tg_param(g, "w2", TG_F32, TG_SHAPE(H, 1));
	tg_node *h = tg_relu(g, tg_add(g, tg_matmul(g, x, w1), b1));
	tg_node *pred = tg_matmul(g, h, w2);
	tg_node *loss = tg_mean(g, tg_square(g, tg_sub(g, pred, y)), 2, (int[]){0, 1}, false);
	if (tg_backward(g, loss, NULL, 0, NULL) != TG_OK) {
		fprintf(stderr, "fit_mlp: %s\n", tg_graph_error(g));
		return 1;
	}
	/* SGD as graph nodes would use tg_adam; here the update is done by hand to keep it short */
	tg_node *params[3] = {w1, b1, w2};
	tg_node *targets[4] = {loss, w1->grad, b1->grad, w2->grad};
	tg_rng rng = {42, 0};
	for (int i = 0; i < H; i++) {
		tg_f32(w1)[i] = (float)(4 * tg_rng_uniform(rng, (uint64_t)i) - 2);
		tg_f32(b1)[i] = (float)(2 * tg_rng_uniform(rng, 100 + (uint64_t)i) - 1);
		tg_f32(w2)[i] = (float)(tg_rng_uniform(rng, 200 + (uint64_t)i) - 0.5) / H;
	}
	for (int i = 0; i < N; i++) {
		float xi = -1.0f + 2.0f * (float)i / (N - 1);
		tg_f32(x)[i] = xi;
		tg_f32(y)[i] = sinf(3 * xi);
	}
	float first = 0, last = 0;
	for (int s = 0; s < steps; s++) {
		if (tg_graph_compute(g, 4, targets) != TG_OK) {
			fprintf(stderr, "fit_mlp: %s\n", tg_last_error());
			return 1;
		}
		last = tg_f32(loss)[0];
		if (s == 0)
			first = last;
		for (int p = 0; p < 3; p++)
			for (int64_t i = 0; i < tg_numel(params[p]); i++)
				tg_f32(params[p])[i] -= 0.1f * tg_f32(params[p]->grad)[i];
		if (s % 500 == 0)
			printf("step %4d  loss %.6f\n", s, last);
	}
	printf("final loss %.6f (first %.6f)\n", last, first);
	tg_graph_free(g);
	return last < 0.1f * first ? 0 : 1;
}
