/*
** dot.c: DOT export through Graphviz's libcgraph, rendering through libgvc. Node names are the
** stable ids ("n<id>"), never pointers; forward, backward, optimizer, parameter and input nodes
** have distinct colours; scopes become clusters so large models stay readable.
*/
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include <cgraph.h>
#include <errno.h>
#include <gvc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool included(const tg_node *n, int parts)
{
	bool bwd = (n->flags & (TG_FLAG_BACKWARD | TG_FLAG_OPTIM)) != 0;
	return bwd ? (parts & TG_DOT_BACKWARD) != 0 : (parts & TG_DOT_FORWARD) != 0;
}

static const char *fill_colour(const tg_node *n)
{
	if (n->flags & TG_FLAG_PARAM) return "gold";
	if (n->flags & TG_FLAG_INPUT) return "pink";
	if (n->flags & TG_FLAG_STATE) return "khaki";
	if (n->flags & TG_FLAG_CONST) return "gray90";
	if (n->flags & TG_FLAG_OPTIM) return "orange";
	if (n->flags & TG_FLAG_BACKWARD) return "lightblue";
	return "white";
}

static void set(void *obj, const char *key, const char *val)
{
	agsafeset(obj, (char *)key, (char *)val, (char *)"");
}

static Agraph_t *subgraph_for(Agraph_t *root, const char *scope, bool clusters)
{
	if (!clusters || !scope)
		return root;
	char name[300];
	snprintf(name, sizeof name, "cluster_%s", scope);
	Agraph_t *sg = agsubg(root, name, 1);
	set(sg, "label", scope);
	set(sg, "style", "rounded");
	return sg;
}

static Agraph_t *build(tg_graph *g, const tg_dot_options *opt)
{
	int parts = opt && opt->parts ? opt->parts : TG_DOT_BOTH;
	bool clusters = opt ? opt->clusters : false;
	const double *prof = opt && opt->profile ? g->profile : NULL;
	double tmax = 0;
	for (int i = 0; prof && i < g->nnodes && i < g->profile_cap; i++)
		if (prof[i] > tmax)
			tmax = prof[i];
	Agraph_t *G = agopen((char *)"tgraph", Agdirected, NULL);
	if (!G)
		return NULL;
	set(G, "rankdir", "TB");
	agattr(G, AGNODE, (char *)"shape", (char *)"box");
	agattr(G, AGNODE, (char *)"style", (char *)"filled");
	agattr(G, AGNODE, (char *)"fontname", (char *)"Helvetica");
	agattr(G, AGNODE, (char *)"fontsize", (char *)"10");
	Agnode_t **an = tg_calloc((size_t)g->nnodes + 1, sizeof *an);
	if (!an) {
		agclose(G);
		return NULL;
	}
	for (int i = 0; i < g->nnodes; i++) {
		tg_node *n = g->nodes[i];
		if (!included(n, parts))
			continue;
		char id[32], label[512], shp[128];
		snprintf(id, sizeof id, "n%d", i);
		Agnode_t *v = agnode(subgraph_for(G, n->scope, clusters), id, 1);
		an[i] = v;
		tg_shape_str(n->shape, shp, sizeof shp);
		int k = snprintf(label, sizeof label, "#%d %s\n%s\n%s %s", i, n->op->name, n->name, shp, tg_dtype_name(n->dtype));
		if (prof && i < g->profile_cap && k > 0 && (size_t)k < sizeof label)
			snprintf(label + k, sizeof label - (size_t)k, "\n%.3f ms, %zu B", 1e3 * prof[i], n->nbytes);
		set(v, "label", label);
		if (prof && tmax > 0 && i < g->profile_cap && !(n->op->flags & TG_OP_LEAF)) {
			char c[32];
			snprintf(c, sizeof c, "0.000 %.3f 1.000", prof[i] / tmax); /* white -> red by time */
			set(v, "fillcolor", c);
		} else {
			set(v, "fillcolor", fill_colour(n));
		}
		if (n->flags & TG_FLAG_LOSS)
			set(v, "penwidth", "3");
		if (n->op->flags & TG_OP_LEAF)
			set(v, "shape", "ellipse");
	}
	for (int i = 0; i < g->nnodes; i++) {
		tg_node *n = g->nodes[i];
		if (!an[i])
			continue;
		for (int k = 0; k < n->nsrc; k++) {
			Agnode_t *u = an[n->src[k]->id];
			if (!u)
				continue;
			char ename[32];
			snprintf(ename, sizeof ename, "e%d_%d", i, k);
			Agedge_t *e = agedge(G, u, an[i], ename, 1);
			if (e && (n->flags & TG_FLAG_BACKWARD))
				set(e, "color", "steelblue");
		}
	}
	tg_free(an, sizeof *an * ((size_t)g->nnodes + 1));
	return G;
}

tg_status tg_graph_dump_dot(tg_graph *g, const char *path, const tg_dot_options *opt)
{
	if (!g || !path)
		return tg_set_error(TG_ERR_ARG, "tg_graph_dump_dot: NULL %s", g ? "path" : "graph");
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return tg_set_error(TG_ERR_ARG, "tg_graph_dump_dot: path too long: %s", path);
	Agraph_t *G = build(g, opt);
	if (!G)
		return tg_set_error(TG_ERR_NOMEM, "tg_graph_dump_dot: out of memory");
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(tmp, "w");
	if (!f) {
		int err = errno;
		agclose(G);
		return tg_set_error(TG_ERR_IO, "tg_graph_dump_dot: cannot write '%s': %s", path, strerror(err));
	}
	int rc = agwrite(G, f);
	agclose(G);
	if (f == stdout)
		return fflush(stdout) == 0 && rc == 0 ? TG_OK : tg_set_error(TG_ERR_IO, "tg_graph_dump_dot: write to stdout failed");
	bool ok = rc == 0 && !ferror(f);
	int err = ok ? 0 : errno;
	if (fclose(f) != 0 && ok)
		ok = false, err = errno;
	if (ok && rename(tmp, path) != 0)
		ok = false, err = errno;
	if (!ok) {
		unlink(tmp);
		return tg_set_error(TG_ERR_IO, "tg_graph_dump_dot: writing '%s' failed: %s", path, err ? strerror(err) : "i/o error");
	}
	return TG_OK;
}

tg_status tg_graph_render(tg_graph *g, const char *path, const tg_dot_options *opt)
{
	if (!g || !path)
		return tg_set_error(TG_ERR_ARG, "tg_graph_render: NULL %s", g ? "path" : "graph");
	const char *ext = strrchr(path, '.');
	const char *fmt = ext && strcmp(ext, ".png") == 0 ? "png" : ext && strcmp(ext, ".svg") == 0 ? "svg" : NULL;
	if (!fmt)
		return tg_set_error(TG_ERR_ARG, "tg_graph_render: '%s': expected a .svg or .png file name", path);
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return tg_set_error(TG_ERR_ARG, "tg_graph_render: path too long: %s", path);
	Agraph_t *G = build(g, opt);
	if (!G)
		return tg_set_error(TG_ERR_NOMEM, "tg_graph_render: out of memory");
	GVC_t *gvc = gvContext();
	int rc = gvc ? gvLayout(gvc, G, "dot") : -1;
	if (rc == 0) {
		rc = gvRenderFilename(gvc, G, fmt, tmp);
		gvFreeLayout(gvc, G);
	}
	agclose(G);
	if (gvc)
		gvFreeContext(gvc);
	int err = 0;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1, err = errno;
	if (rc != 0) {
		unlink(tmp);
		return tg_set_error(TG_ERR_IO, "tg_graph_render: rendering '%s' failed%s%s", path, err ? ": " : "",
			err ? strerror(err) : "");
	}
	return TG_OK;
}
