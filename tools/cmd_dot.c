/*
** cmd_dot.c: `tgraph dot`: dump a built-in graph (forward, backward and optimizer nodes) as DOT.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int cmd_dot(int argc, char **argv)
{
	const char *name = "mlp", *out = NULL, *svg = NULL;
	tg_dot_options opt = {.parts = TG_DOT_BOTH, .clusters = true};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((!strcmp(a, "--graph") || !strcmp(a, "--out") || !strcmp(a, "--svg")) && i + 1 >= argc)
			return cli_usage_error("dot", "%s needs a value", a);
		if (!strcmp(a, "--graph"))
			name = argv[++i];
		else if (!strcmp(a, "--out"))
			out = argv[++i];
		else if (!strcmp(a, "--svg"))
			svg = argv[++i];
		else if (!strcmp(a, "--forward"))
			opt.parts = TG_DOT_FORWARD;
		else if (!strcmp(a, "--backward"))
			opt.parts = TG_DOT_BACKWARD;
		else if (!strcmp(a, "--profile"))
			opt.profile = true;
		else
			return cli_usage_error("dot", "unknown argument '%s'", a);
	}
	/* checked before anything is written: a bad name is a usage error, not a failure halfway */
	const char *ext = svg ? strrchr(svg, '.') : NULL;
	if (svg && (!ext || (strcmp(ext, ".svg") && strcmp(ext, ".png"))))
		return cli_usage_error("dot", "--svg '%s': expected a .svg or .png file name", svg);
	tg_graph *g = cli_build_graph(name, NULL);
	if (!g)
		return cli_usage_error("dot", "%s", tg_last_error());
	if (tg_graph_status(g) != TG_OK) {
		int rc = cli_fail("dot", "building graph '%s' failed: %s", name, tg_graph_error(g));
		tg_graph_free(g);
		return rc;
	}
	if (opt.profile) {
		/* run everything once so each node has a measured time: the targets are the sinks (values
		** no node reads), since the last node alone (e.g. the Adam step) misses the losses */
		int n = tg_graph_node_count(g), ns = 0;
		bool *read = calloc((size_t)n + 1, sizeof *read);
		tg_node **sinks = calloc((size_t)n + 1, sizeof *sinks);
		for (int i = 0; read && sinks && i < n; i++)
			for (int k = 0; k < tg_graph_node(g, i)->nsrc; k++)
				read[tg_graph_node(g, i)->src[k]->id] = true;
		for (int i = 0; read && sinks && i < n; i++)
			if (!read[i] && !(tg_graph_node(g, i)->op->flags & TG_OP_LEAF))
				sinks[ns++] = tg_graph_node(g, i);
		tg_graph_set_threads(g, 1);
		tg_status st = !read || !sinks ? TG_ERR_NOMEM : ns ? tg_graph_compute(g, ns, sinks) : TG_OK;
		free(read);
		free(sinks);
		if (st != TG_OK) {
			int rc = cli_fail("dot", "running graph '%s' for the profile failed", name);
			tg_graph_free(g);
			return rc;
		}
	}
	int rc = 0;
	if (tg_graph_dump_dot(g, out ? out : "-", &opt) != TG_OK)
		rc = cli_fail("dot", "writing DOT failed");
	if (!rc && svg && tg_graph_render(g, svg, &opt) != TG_OK)
		rc = cli_fail("dot", "rendering '%s' failed", svg);
	tg_graph_free(g);
	return rc;
}
