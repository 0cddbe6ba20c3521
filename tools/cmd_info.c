/*
** cmd_info.c: `tgraph info NAME`: node counts (forward/backward) and trainable parameters.
*/
#include <stdio.h>
#include "cli.h"

int cmd_info(int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("info", "expected one graph name");
	if (argv[1][0] == '-')
		return cli_usage_error("info", "unknown argument '%s' (expected a graph name)", argv[1]);
	tg_graph *g = cli_build_graph(argv[1], NULL);
	if (!g)
		return cli_usage_error("info", "%s", tg_last_error());
	if (tg_graph_status(g) != TG_OK) {
		int rc = cli_fail("info", "building '%s' failed: %s", argv[1], tg_graph_error(g));
		tg_graph_free(g);
		return rc;
	}
	int n = tg_graph_node_count(g), bwd = 0, nparams = 0;
	int64_t params = 0;
	for (int i = 0; i < n; i++) {
		tg_node *v = tg_graph_node(g, i);
		bwd += (v->flags & (TG_FLAG_BACKWARD | TG_FLAG_OPTIM)) != 0;
		if (v->flags & TG_FLAG_PARAM) {
			nparams++;
			params += tg_numel(v);
		}
	}
	printf("graph: %s\nnodes: %d (%d forward, %d backward/optimizer)\nparameter tensors: %d\ntrainable parameters: %lld\n",
		argv[1], n, n - bwd, bwd, nparams, (long long)params);
	printf("persistent bytes: %zu\n", tg_graph_persistent_bytes(g));
	tg_graph_free(g);
	return 0;
}
