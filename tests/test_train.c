/*
** test_train.c: heat-inversion data (golden soft mask, determinism, ranges), the GD and SIP
** trainers, and the `tgraph train` / `tgraph eval` commands and the example run as processes.
*/
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tgraph.h"

static void *read_file(const char *path, size_t want)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	void *buf = malloc(want);
	size_t got = fread(buf, 1, want, f);
	fclose(f);
	cr_assert_eq(got, want, "%s: %zu bytes, expected %zu", path, got, want);
	return buf;
}

/* ---------------------------------------------------------------- data */

Test(train, soft_mask_golden)
{
	/* scalars.json: soft_mask_centers / soft_mask_half_sizes, vector order (x, y) */
	const double centers[3][2] = {{20.3, 40.7}, {5.0, 60.5}, {32.0, 32.0}};
	const double halves[3][2] = {{5.25, 3.5}, {0.3, 7.9}, {9.99, 0.0}};
	double *ref = read_file(TG_TEST_DATA "/soft_mask.f64", 3 * 64 * 64 * sizeof(double));
	double *m = calloc(64 * 64, sizeof(double));
	for (int b = 0; b < 3; b++) {
		memset(m, 0, 64 * 64 * sizeof(double));
		tg_heat_box_mask(64, 64, centers[b], halves[b], 1.0, m);
		for (int c = 0; c < 64 * 64; c++)
			cr_assert_eq(m[c], ref[b * 4096 + c], "box %d cell (%d,%d): %.17g vs golden %.17g", b, c / 64, c % 64, m[c],
				ref[b * 4096 + c]);
	}
	free(m);
	free(ref);
}

Test(train, generator_same_for_any_split)
{
	enum { B = 12, X = 24, Y = 40 };
	double *whole = malloc(sizeof(double) * B * X * Y), *part = malloc(sizeof(double) * B * X * Y);
	cr_assert_eq(tg_heat_generate(7, 3, 0, B, X, Y, whole), TG_OK);
	/* one example at a time, in reverse order, and an uneven split */
	for (int b = B - 1; b >= 0; b--)
		cr_assert_eq(tg_heat_generate(7, 3, b, 1, X, Y, part + b * X * Y), TG_OK);
	cr_assert_eq(memcmp(whole, part, sizeof(double) * B * X * Y), 0);
	cr_assert_eq(tg_heat_generate(7, 3, 0, 5, X, Y, part), TG_OK);
	cr_assert_eq(tg_heat_generate(7, 3, 5, B - 5, X, Y, part + 5 * X * Y), TG_OK);
	cr_assert_eq(memcmp(whole, part, sizeof(double) * B * X * Y), 0);
	/* another step or seed gives other data */
	cr_assert_eq(tg_heat_generate(7, 4, 0, B, X, Y, part), TG_OK);
	cr_expect_neq(memcmp(whole, part, sizeof(double) * B * X * Y), 0);
	cr_assert_eq(tg_heat_generate(8, 3, 0, B, X, Y, part), TG_OK);
	cr_expect_neq(memcmp(whole, part, sizeof(double) * B * X * Y), 0);
	free(whole);
	free(part);
}

Test(train, generator_ranges)
{
	/* Statistics over many examples: values in [0, 10) (at most 10 boxes of strength < 1), some
	** cells saturated at full strength, most of the domain cold near the border (positions in
	** the central 80%, clipped so boxes stay inside), mean heat in a plausible band. */
	enum { B = 256, N = 64 };
	double *x = malloc(sizeof(double) * B * N * N);
	cr_assert_eq(tg_heat_generate(0, 0, 0, B, N, N, x), TG_OK);
	double lo = INFINITY, hi = -INFINITY, mean = 0;
	int64_t zero_items = 0;
	for (int b = 0; b < B; b++) {
		double s = 0;
		for (int c = 0; c < N * N; c++) {
			double v = x[b * N * N + c];
			lo = fmin(lo, v);
			hi = fmax(hi, v);
			s += v;
		}
		zero_items += s == 0;
		mean += s / (N * N) / B;
	}
	cr_expect_geq(lo, 0.0);
	cr_expect_lt(hi, 10.0);
	cr_expect_gt(hi, 1.0, "overlapping boxes should exceed 1 somewhere (max %g)", hi);
	cr_expect_eq(zero_items, 0);
	/* E[strength] 0.5, E[count] ~7, E[box area] ~ (2 * 5)^2 = 100 cells of 4096 -> ~0.08 */
	cr_expect(mean > 0.04 && mean < 0.16, "mean heat %g", mean);
	/* any grid size works (not only multiples of 8: the generator has no U-Net constraint) */
	double *odd = malloc(sizeof(double) * 3 * 17 * 9);
	cr_assert_eq(tg_heat_generate(1, 0, 0, 3, 17, 9, odd), TG_OK);
	for (int c = 0; c < 3 * 17 * 9; c++)
		cr_assert(odd[c] >= 0 && odd[c] < 10 && isfinite(odd[c]));
	free(odd);
	cr_expect_neq(tg_heat_generate(0, 0, 0, 1, 0, 8, x), TG_OK);
	free(x);
}

/* ---------------------------------------------------------------- trainer */

static tg_heat_config small_config(tg_heat_method m)
{
	tg_heat_config c = tg_heat_default();
	c.method = m;
	c.batch = 4;
	c.nx = c.ny = 16;
	return c;
}

static void train_losses(const tg_heat_config *c, int steps, tg_heat_losses *out)
{
	tg_heat_trainer *t;
	cr_assert_eq(tg_heat_trainer_new(c, &t), TG_OK, "%s", tg_last_error());
	for (int s = 0; s < steps; s++)
		cr_assert_eq(tg_heat_trainer_step(t, &out[s]), TG_OK, "%s", tg_last_error());
	cr_expect_eq(tg_heat_trainer_steps_done(t), steps);
	tg_heat_trainer_free(t);
}

Test(train, gd_and_sip_three_steps)
{
	tg_heat_losses gd[3], sip[3];
	tg_heat_config c = small_config(TG_HEAT_GD);
	train_losses(&c, 3, gd);
	c.method = TG_HEAT_SIP;
	train_losses(&c, 3, sip);
	for (int s = 0; s < 3; s++) {
		cr_expect(isfinite(gd[s].x_loss) && isfinite(gd[s].y_loss) && gd[s].x_loss > 0 && gd[s].y_loss > 0);
		cr_expect(isfinite(sip[s].x_loss) && isfinite(sip[s].y_loss) && sip[s].x_loss > 0 && sip[s].y_loss > 0);
		cr_expect_eq(gd[s].step, s);
	}
	/* same initialisation and data: step 0 (weights before any update) is identical, as in the
	** seed's printout; the updates differ */
	cr_expect_eq(gd[0].x_loss, sip[0].x_loss);
	cr_expect_eq(gd[0].y_loss, sip[0].y_loss);
	cr_expect_neq(gd[1].x_loss, sip[1].x_loss);
}

Test(train, x_loss_decreases)
{
	/* 64 random boxes of a 16x16 grid are noisy per batch: compare the first step with the mean
	** of the last five of 15 steps (batch 8); both methods must improve clearly */
	for (int m = 0; m < 2; m++) {
		tg_heat_config c = small_config((tg_heat_method)m);
		c.batch = 8;
		tg_heat_losses l[15];
		train_losses(&c, 15, l);
		double last = 0;
		for (int s = 10; s < 15; s++)
			last += l[s].x_loss / 5;
		cr_expect_lt(last, 0.7 * l[0].x_loss, "%s: x loss %g at step 0, mean %g over steps 10-14",
			tg_heat_method_name(c.method), l[0].x_loss, last);
	}
}

typedef struct collected { tg_heat_losses l[8]; int n; } collected;

static bool collect(const tg_heat_losses *l, void *ud)
{
	collected *c = ud;
	if (c->n < 8)
		c->l[c->n++] = *l;
	return true;
}

Test(train, threads_and_resume_identical)
{
	enum { N = 4 };
	tg_heat_losses ref[N], l;
	tg_heat_config c = small_config(TG_HEAT_SIP);
	train_losses(&c, N, ref);
	/* two threads: bit-identical */
	c.threads = 2;
	tg_heat_losses two[N];
	train_losses(&c, N, two);
	for (int s = 0; s < N; s++)
		cr_expect(two[s].x_loss == ref[s].x_loss && two[s].y_loss == ref[s].y_loss, "step %d: 2 threads differ", s);
	/* a run of N steps: 2 steps, checkpoint, a new trainer continues the run to its end */
	c.threads = 1;
	c.steps = N;
	char path[] = "/tmp/tg_train_ckpt_XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	tg_heat_trainer *t;
	cr_assert_eq(tg_heat_trainer_new(&c, &t), TG_OK);
	for (int s = 0; s < 2; s++)
		cr_assert_eq(tg_heat_trainer_step(t, &l), TG_OK);
	cr_assert_eq(tg_heat_trainer_save(t, path), TG_OK, "%s", tg_last_error());
	tg_heat_trainer_free(t);
	tg_heat_config info;
	int done = -1;
	cr_assert_eq(tg_heat_checkpoint_info(path, &info, &done), TG_OK, "%s", tg_last_error());
	cr_expect_eq(done, 2);
	cr_expect(info.method == c.method && info.steps == N && info.batch == c.batch && info.nx == c.nx &&
		info.ny == c.ny && info.seed == c.seed && info.amount == c.amount && info.lr == c.lr);
	cr_assert_eq(tg_heat_trainer_new(&info, &t), TG_OK);
	cr_assert_eq(tg_heat_trainer_load(t, path), TG_OK, "%s", tg_last_error());
	cr_expect_eq(tg_heat_trainer_steps_done(t), 2);
	collected got = {.n = 0};
	cr_assert_eq(tg_heat_trainer_run(t, collect, &got), TG_OK, "%s", tg_last_error());
	cr_assert_eq(got.n, N - 2);
	for (int k = 0; k < got.n; k++) {
		int s = k + 2;
		cr_expect_eq(got.l[k].step, s);
		cr_expect(got.l[k].x_loss == ref[s].x_loss && got.l[k].y_loss == ref[s].y_loss,
			"step %d after resume: %.17g %.17g vs %.17g %.17g", s, got.l[k].x_loss, got.l[k].y_loss, ref[s].x_loss,
			ref[s].y_loss);
	}
	tg_heat_trainer_free(t);
	unlink(path);
}

/* ---------------------------------------------------------------- the CLI and the example as processes */

#define TGRAPH TG_BUILD_DIR "/tools/tgraph"

/* Runs a shell command; its stdout+stderr into out (truncated); returns the exit status. */
static int run(const char *cmd, char *out, size_t n)
{
	char full[2048];
	snprintf(full, sizeof full, "%s 2>&1", cmd);
	FILE *p = popen(full, "r");
	cr_assert(p, "popen %s", cmd);
	size_t got = 0, r;
	char sink[4096];
	while ((r = fread(out && got < n - 1 ? out + got : sink, 1, out && got < n - 1 ? n - 1 - got : sizeof sink, p)) > 0)
		if (out && got < n - 1)
			got += r;
	if (out)
		out[got] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *s = calloc(1, (size_t)n + 1);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

static void tmpdir(char *buf, size_t n)
{
	snprintf(buf, n, "/tmp/tg_train_XXXXXX");
	cr_assert(mkdtemp(buf));
}

static void rmtree(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

/* Each line's method,step,x_loss,y_loss (seconds dropped) */
static void strip_seconds(char *csv)
{
	char *w = csv;
	for (char *line = csv; *line;) {
		char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *comma = memrchr(line, ',', len);
		size_t keep = comma ? (size_t)(comma - line) : len;
		memmove(w, line, keep);
		w += keep;
		*w++ = '\n';
		line += len + (end != NULL);
	}
	*w = 0;
}

Test(train, cli_tiny_run_outputs)
{
	char dir[64], cmd[512], out[8192];
	tmpdir(dir, sizeof dir);
	snprintf(cmd, sizeof cmd, TGRAPH " train --steps 2 --batch 2 --res 16x24 --out %s", dir);
	cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
	char path[128];
	snprintf(path, sizeof path, "%s/losses.csv", dir);
	char *csv = slurp(path);
	cr_assert(csv, "no losses.csv");
	cr_expect_eq(strncmp(csv, "method,step,x_loss,y_loss,seconds\n", 34), 0, "%s", csv);
	const char *rows[4] = {"\nsip,0,", "\nsip,1,", "\ngd,0,", "\ngd,1,"};
	for (int i = 0; i < 4; i++)
		cr_expect(strstr(csv, rows[i]), "row %s missing in\n%s", rows[i] + 1, csv);
	int lines = 0;
	for (char *c = csv; *c; c++)
		lines += *c == '\n';
	cr_expect_eq(lines, 5, "%s", csv);
	free(csv);
	const char *files[] = {"summary.json", "sip.npz", "gd.npz", "loss_x.png", "loss_y.png", "reconstruction.png"};
	for (int i = 0; i < 6; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		cr_expect_eq(access(path, R_OK), 0, "%s missing", files[i]);
	}
	snprintf(path, sizeof path, "%s/summary.json", dir);
	char *js = slurp(path);
	cr_expect(js && strstr(js, "\"mean_last10_x_loss\"") && strstr(js, "\"peak_rss_bytes\"") &&
		strstr(js, "\"plots\": \"written\""), "%s", js);
	free(js);
	/* eval of the SIP checkpoint on fresh data */
	snprintf(cmd, sizeof cmd, TGRAPH " eval --checkpoint %s/sip.npz --batch 3", dir);
	cr_expect_eq(run(cmd, out, sizeof out), 0, "%s", out);
	cr_expect(strstr(out, "x_loss"), "%s", out);
	snprintf(path, sizeof path, "%s/eval_sip.json", dir);
	cr_expect_eq(access(path, R_OK), 0);
	rmtree(dir);
}

Test(train, cli_without_gnuplot)
{
	char dir[64], cmd[512], out[8192];
	tmpdir(dir, sizeof dir);
	snprintf(cmd, sizeof cmd, "PATH=/nonexistent " TGRAPH " train --method gd --steps 1 --batch 2 --res 16 --out %s", dir);
	cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
	cr_expect(strstr(out, "gnuplot not found"), "%s", out);
	char path[128];
	snprintf(path, sizeof path, "%s/summary.json", dir);
	char *js = slurp(path);
	cr_expect(js && strstr(js, "skipped: gnuplot not found"), "%s", js);
	free(js);
	snprintf(path, sizeof path, "%s/losses.csv", dir);
	cr_expect_eq(access(path, R_OK), 0);
	snprintf(path, sizeof path, "%s/loss_x.png", dir);
	cr_expect_neq(access(path, R_OK), 0);
	rmtree(dir);
}

Test(train, cli_bad_arguments)
{
	const char *bad[] = {
		"--bogus", "--steps", "--steps abc", "--steps 0", "--steps -3", "--batch 0", "--batch 2.5", "--res 0",
		"--res -8", "--res 63", "--res 64x", "--res x64", "--amount -1", "--amount nan", "--lr 0", "--lr -1e-3",
		"--lr abc", "--method adam", "--seed -1", "--threads 0", "stray", "--resume /nonexistent/dir/x.npz",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char cmd[256], out[4096];
		snprintf(cmd, sizeof cmd, TGRAPH " train %s --out /nonexistent-must-not-be-created", bad[i]);
		int rc = run(cmd, out, sizeof out);
		cr_expect(rc == 2, "'%s': exit %d\n%s", bad[i], rc, out);
		cr_expect(strstr(out, "tgraph train: "), "'%s': no message: %s", bad[i], out);
	}
	char out[4096];
	cr_expect_eq(run(TGRAPH " eval --batch 2", out, sizeof out), 2, "%s", out);
	cr_expect_eq(access("/nonexistent-must-not-be-created", F_OK), -1);
}

Test(train, cli_resume_same_losses)
{
	char a[64], b[64], cmd[512], out[8192], path[128];
	tmpdir(a, sizeof a);
	tmpdir(b, sizeof b);
	snprintf(cmd, sizeof cmd, TGRAPH " train --steps 3 --batch 2 --res 16 --out %s", a);
	cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
	snprintf(cmd, sizeof cmd, TGRAPH " train --steps 1 --batch 2 --res 16 --out %s", b);
	cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
	/* continue both methods in b's directory, and check that conflicting options are refused */
	snprintf(cmd, sizeof cmd, TGRAPH " train --resume %s --steps 3 --batch 4", b);
	cr_expect_eq(run(cmd, out, sizeof out), 2, "%s", out);
	snprintf(cmd, sizeof cmd, TGRAPH " train --resume %s --steps 3 --threads 2", b);
	cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
	snprintf(path, sizeof path, "%s/losses.csv", a);
	char *ca = slurp(path);
	snprintf(path, sizeof path, "%s/losses.csv", b);
	char *cb = slurp(path);
	cr_assert(ca && cb);
	strip_seconds(ca);
	strip_seconds(cb);
	cr_expect_str_eq(cb, ca);
	free(ca);
	free(cb);
	rmtree(a);
	rmtree(b);
}

Test(train, cli_sigint_saves_and_resumes)
{
	char dir[64], path[128];
	tmpdir(dir, sizeof dir);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(TGRAPH, "tgraph", "train", "--method", "sip", "--steps", "1000", "--batch", "2", "--res", "16", "--out",
			dir, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[512];
	while (fgets(line, sizeof line, f) && !strstr(line, "step 2/"))
		;
	kill(pid, SIGINT);
	bool told = false;
	while (fgets(line, sizeof line, f))
		told |= strstr(line, "stopping after the current step") != NULL;
	cr_expect(told, "no message after SIGINT");
	fclose(f);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d", st);
	snprintf(path, sizeof path, "%s/sip.npz", dir);
	tg_heat_config c;
	int done = 0;
	cr_assert_eq(tg_heat_checkpoint_info(path, &c, &done), TG_OK, "%s", tg_last_error());
	cr_expect(done >= 2 && done < 1000, "steps done %d", done);
	snprintf(path, sizeof path, "%s/summary.json", dir);
	char *js = slurp(path);
	cr_expect(js && strstr(js, "\"interrupted\": \"SIGINT\""), "%s", js);
	free(js);
	snprintf(path, sizeof path, "%s/losses.csv", dir);
	char *csv = slurp(path);
	int rows = -1;
	for (char *p = csv; p && *p; p++)
		rows += *p == '\n';
	cr_expect_eq(rows, done, "%s", csv);
	free(csv);
	rmtree(dir);
}

Test(train, example_runs)
{
	char out[8192];
	int rc = run(TG_BUILD_DIR "/examples/heat_inversion steps=3 batch=4 res=16", out, sizeof out);
	cr_assert_eq(rc, 0, "%s", out);
	cr_expect(strstr(out, "SIP L2 loss x ; y:") && strstr(out, "GD L2 loss x ; y:") && strstr(out, "final x loss"), "%s",
		out);
}
