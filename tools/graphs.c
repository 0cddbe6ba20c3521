/*
** graphs.c: built-in graphs for `tgraph dot` and `tgraph info`. Each builds a forward graph
** with its backward (and optimizer) part.
*/
#include <string.h>
#include "cli.h"

/* A small MLP regression: the engine's own example. */
static tg_graph *build_mlp(void)
{
	tg_graph *g = tg_graph_new();
	if (!g)
		return NULL;
	tg_node *x = tg_input(g, "x", TG_F32, TG_SHAPE(32, 4));
	tg_node *y = tg_input(g, "y", TG_F32, TG_SHAPE(32, 1));
	tg_scope_push(g, "layer1");
	tg_node *w1 = tg_param(g, "w1", TG_F32, TG_SHAPE(4, 16));
	tg_node *b1 = tg_param(g, "b1", TG_F32, TG_SHAPE(16));
	tg_node *h = tg_relu(g, tg_add(g, tg_matmul(g, x, w1), b1));
	tg_scope_pop(g);
	tg_scope_push(g, "layer2");
	tg_node *w2 = tg_param(g, "w2", TG_F32, TG_SHAPE(16, 1));
	tg_node *p = tg_matmul(g, h, w2);
	tg_scope_pop(g);
	tg_node *loss = tg_set_flags(tg_set_name(tg_mean(g, tg_square(g, tg_sub(g, p, y)), 2, (int[]){0, 1}, false), "loss"),
		TG_FLAG_LOSS);
	tg_backward(g, loss, NULL, 0, NULL);
	return g;
}

/* The seed's heat-inversion training step (U-Net, diffusion, losses, backward, Adam) at batch 2
** on 16x16; GD and SIP differ only in the loss node. The physics must outlive the graph. */
static tg_graph *build_heat(tg_heat_method m)
{
	static tg_physics phys;
	tg_heat_config cfg = tg_heat_default();
	cfg.method = m;
	cfg.batch = 2;
	cfg.nx = cfg.ny = 16;
	phys = tg_diffusion_physics(cfg.amount, TG_SEED_REL_UNCERTAINTY);
	tg_graph *g = tg_graph_new();
	tg_heat_graph h;
	if (g)
		tg_heat_build_graph(g, &cfg, &phys, &h);
	return g;
}
static tg_graph *build_gd(void) { return build_heat(TG_HEAT_GD); }
static tg_graph *build_sip(void) { return build_heat(TG_HEAT_SIP); }

/* u_net(1, 1) on [2,1,64,64] f32 with loss 0.5 sum(out^2), its backward and an Adam step. */
static tg_graph *build_unet(void)
{
	tg_graph *g = tg_graph_new();
	if (!g)
		return NULL;
	tg_unet_config cfg = tg_unet_default();
	tg_node *out = tg_unet(g, &cfg, TG_F32, tg_input(g, "x", TG_F32, TG_SHAPE(2, 1, 64, 64)));
	tg_node *loss = tg_set_flags(tg_set_name(tg_scale(g, tg_sum_all(g, tg_square(g, out)), 0.5), "loss"), TG_FLAG_LOSS);
	if (tg_backward(g, loss, NULL, 0, NULL) == TG_OK) {
		int n;
		tg_node **ps = tg_graph_params(g, &n);
		tg_adam_config adam = tg_adam_default();
		if (ps)
			tg_adam(g, &adam, n, ps);
		tg_free(ps, sizeof(tg_node *) * (size_t)n);
	}
	return g;
}

typedef struct named_graph {
	const char *name;
	tg_graph *(*build)(void);
} named_graph;

static const named_graph graphs[] = {
	{"mlp", build_mlp},
	{"unet", build_unet},
	{"gd", build_gd},
	{"sip", build_sip},
};

tg_graph *cli_build_graph(const char *name, const char **names)
{
	static char list[256];
	list[0] = 0;
	for (size_t i = 0; i < sizeof graphs / sizeof graphs[0]; i++) {
		strcat(list, i ? ", " : "");
		strcat(list, graphs[i].name);
	}
	if (names)
		*names = list;
	for (size_t i = 0; i < sizeof graphs / sizeof graphs[0]; i++)
		if (strcmp(graphs[i].name, name) == 0)
			return graphs[i].build();
	tg_set_error(TG_ERR_ARG, "unknown graph '%s' (known: %s)", name, list);
	return NULL;
}
