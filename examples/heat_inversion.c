/*
** heat_inversion.c: the seed's experiment on the public API. Builds the SIP and the GD training
** graphs (U-Net, diffusion physics, losses, backward, Adam), trains each on the same on-the-fly
** data, and prints the losses as the seed does.
**
** usage: heat_inversion [steps=50] [batch=128] [res=64] [threads=1]
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tgraph.h"

static double run(tg_heat_config cfg, int steps)
{
	/* the physics object is referenced by the SIP node, so it lives as long as the graph */
	tg_physics phys = tg_diffusion_physics(cfg.amount, TG_SEED_REL_UNCERTAINTY);
	tg_graph *g = tg_graph_new();
	tg_heat_graph h;
	if (!g || tg_heat_build_graph(g, &cfg, &phys, &h) != TG_OK) {
		fprintf(stderr, "building the graph failed: %s\n", g ? tg_graph_error(g) : tg_last_error());
		tg_graph_free(g);
		return -1;
	}
	tg_graph_set_threads(g, cfg.threads);
	const char *name = cfg.method == TG_HEAT_SIP ? "SIP" : "GD";
	double last = 0;
	for (int s = 0; s < steps; s++) {
		/* batch s of the data stream: the same for both methods */
		tg_heat_generate(cfg.seed, (uint64_t)s, 0, cfg.batch, cfg.nx, cfg.ny, tg_f64(h.x_gt));
		tg_node *targets[3] = {h.x_loss, h.y_loss, h.update};  /* updates run after the losses */
		if (tg_graph_compute(g, 3, targets) != TG_OK) {
			fprintf(stderr, "step %d failed: %s\n", s, tg_last_error());
			tg_graph_free(g);
			return -1;
		}
		double x = 0, y = 0;
		for (int b = 0; b < cfg.batch; b++) {
			x += tg_f64(h.x_loss)[b] / cfg.batch;
			y += tg_f64(h.y_loss)[b] / cfg.batch;
		}
		printf("%s L2 loss x ; y: %.6f ; %.6f\n", name, x, y);
		last = x;
	}
	tg_graph_free(g);
	return last;
}

int main(int argc, char **argv)
{
	tg_heat_config cfg = tg_heat_default();
	int steps = 50;
	for (int i = 1; i < argc; i++) {
		int v;
		if (sscanf(argv[i], "steps=%d", &v) == 1 && v > 0)
			steps = v;
		else if (sscanf(argv[i], "batch=%d", &v) == 1 && v > 0)
			cfg.batch = v;
		else if (sscanf(argv[i], "res=%d", &v) == 1 && v > 0 && v % 8 == 0)
			cfg.nx = cfg.ny = v;
		else if (sscanf(argv[i], "threads=%d", &v) == 1 && v > 0)
			cfg.threads = v;
		else {
			fprintf(stderr, "usage: %s [steps=N] [batch=N] [res=N (multiple of 8)] [threads=N]\n", argv[0]);
			return 2;
		}
	}
	cfg.method = TG_HEAT_SIP;
	double sip = run(cfg, steps);
	cfg.method = TG_HEAT_GD;
	double gd = run(cfg, steps);
	if (sip < 0 || gd < 0)
		return 1;
	printf("final x loss: SIP %.4f, GD %.4f (GD/SIP %.2f)\n", sip, gd, gd / sip);
	return 0;
}
