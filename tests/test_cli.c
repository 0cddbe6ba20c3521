/*
** test_cli.c: the `tgraph` command's skeleton: help, version, errors, dot (parsed back with
** libcgraph, rendered with the `dot` program and through libgvc).
*/
#include <criterion/criterion.h>
#include <cgraph.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define TGRAPH TG_BUILD_DIR "/tools/tgraph"

static int run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Runs cmd with stderr captured into buf; returns the exit status. */
static int run_capture(const char *cmd, char *buf, size_t n)
{
	char full[1024];
	snprintf(full, sizeof full, "%s 2>&1", cmd);
	FILE *p = popen(full, "r");
	if (!p)
		return -1;
	size_t k = fread(buf, 1, n - 1, p);
	buf[k] = 0;
	int rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(cli, help_and_version)
{
	char out[4096];
	cr_expect_eq(run_capture(TGRAPH " help", out, sizeof out), 0);
	cr_expect(strstr(out, "dot") && strstr(out, "info"), "%s", out);
	cr_expect_eq(run_capture(TGRAPH " version", out, sizeof out), 0);
	cr_expect(strstr(out, "tgraph 0."), "%s", out);
}

Test(cli, unknown_command_and_flag)
{
	char out[4096];
	cr_expect_eq(run_capture(TGRAPH " frobnicate", out, sizeof out), 2);
	cr_expect(strstr(out, "unknown command 'frobnicate'"), "%s", out);
	cr_expect_eq(run_capture(TGRAPH " dot --bogus", out, sizeof out), 2);
	cr_expect(strstr(out, "unknown argument '--bogus'"), "%s", out);
	cr_expect_eq(run_capture(TGRAPH " dot --graph", out, sizeof out), 2);
	cr_expect(strstr(out, "--graph needs a value"), "%s", out);
	cr_expect_eq(run_capture(TGRAPH " dot --graph nosuch", out, sizeof out), 2);
	cr_expect(strstr(out, "unknown graph 'nosuch'"), "%s", out);
}

Test(cli, dot_parses_and_renders)
{
	char dir[] = "/tmp/tg_cli_XXXXXX";
	cr_assert(mkdtemp(dir));
	char cmd[1024], path[512];
	snprintf(path, sizeof path, "%s/mlp.dot", dir);
	snprintf(cmd, sizeof cmd, TGRAPH " dot --graph mlp --out %s --svg %s/mlp.svg", path, dir);
	cr_assert_eq(run(cmd), 0);
	FILE *f = fopen(path, "r");
	cr_assert(f);
	Agraph_t *G = agread(f, NULL);
	fclose(f);
	cr_assert(G, "agread failed");
	cr_expect_gt(agnnodes(G), 10);
	cr_expect_gt(agnedges(G), 10);
	agclose(G);
	snprintf(cmd, sizeof cmd, "test -s %s/mlp.svg", dir);
	cr_expect_eq(run(cmd), 0, "libgvc did not render the SVG");
	if (run("command -v dot > /dev/null") == 0) {
		snprintf(cmd, sizeof cmd, "dot -Tsvg %s -o %s/by_dot.svg", path, dir);
		cr_expect_eq(run(cmd), 0, "the dot program failed on our file");
	}
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	run(cmd);
}

Test(cli, dot_to_unwritable_path_fails)
{
	char out[4096];
	cr_expect_eq(run_capture(TGRAPH " dot --out /nonexistent_dir/x.dot", out, sizeof out), 1);
	cr_expect(strstr(out, "/nonexistent_dir/x.dot"), "%s", out);
}
