/*
** test_cli_errors.c: the `tgraph` command given bad arguments, one row per case (one Criterion test
** each): the exit status (2 for usage errors, 1 for failures such as a missing input or an
** unwritable output) and substrings of the message. Every row runs in a fresh directory $D holding
** the fixtures below; "$D" in the arguments and messages stands for it. A usage error must not
** touch the file system; no failure may leave a temporary file behind. Rows of train/eval/bench
** pass small sizes first, so a wrongly accepted argument cannot start a long run.
** Fixtures: g.npy f64 [4,4], f.npy f32 [2,4,4], v.npy f64 [4], c.npy c128 [4,4], z.npy f64 [4,0],
** t.txt (not a .npy), plain (a regular file), dir/ (a directory holding keep.txt).
*/
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "tgraph.h"

#define TGRAPH TG_BUILD_DIR "/tools/tgraph"
#define MSG(...) ((const char *const[]){__VA_ARGS__, NULL})
/* small sizes first: a run that wrongly gets past the bad argument stays short */
#define TRAIN "train --steps 1 --batch 2 --res 8 --out $D/run "
#define EVAL "eval --batch 1 "

static char dir[64];

static const char *path(const char *name)
{
	static char buf[4][512];
	static int k;
	char *b = buf[k++ & 3];
	snprintf(b, sizeof buf[0], "%s/%s", dir, name);
	return b;
}

static void write_text(const char *name, const char *text)
{
	FILE *f = fopen(path(name), "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

static void make_fixtures(void)
{
	snprintf(dir, sizeof dir, "/tmp/tg_cli_errors_XXXXXX");
	cr_assert(mkdtemp(dir));
	double zero[32] = {0};
	cr_assert_eq(tg_npy_write(path("g.npy"), TG_F64, TG_SHAPE(4, 4), zero), TG_OK);
	cr_assert_eq(tg_npy_write(path("f.npy"), TG_F32, TG_SHAPE(2, 4, 4), zero), TG_OK);
	cr_assert_eq(tg_npy_write(path("v.npy"), TG_F64, TG_SHAPE(4), zero), TG_OK);
	cr_assert_eq(tg_npy_write(path("c.npy"), TG_C128, TG_SHAPE(4, 4), zero), TG_OK);
	cr_assert_eq(tg_npy_write(path("z.npy"), TG_F64, TG_SHAPE(4, 0), zero), TG_OK);
	write_text("t.txt", "not a .npy file\n");
	write_text("plain", "a regular file\n");
	cr_assert_eq(mkdir(path("dir"), 0755), 0);
	write_text("dir/keep.txt", "keep me\n");
}

static void remove_fixtures(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

/* "$D" -> the directory */
static void expand(const char *in, char *out, size_t n)
{
	size_t k = 0;
	for (; *in && k + 1 < n; in++) {
		if (in[0] == '$' && in[1] == 'D') {
			k += (size_t)snprintf(out + k, n - k, "%s", dir);
			in++;
		} else {
			out[k++] = *in;
		}
	}
	out[k < n ? k : n - 1] = 0;
}

/* Runs tgraph in $D with stdout and stderr captured into buf; returns the exit status. */
static int run(const char *args, char *buf, size_t n)
{
	char full[2048];
	snprintf(full, sizeof full, "cd '%s' && " TGRAPH " %s 2>&1", dir, args);
	FILE *p = popen(full, "r");
	cr_assert(p);
	size_t k = fread(buf, 1, n - 1, p);
	buf[k] = 0;
	int rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Entries of $D and dir/ (names joined by spaces); fails on a leftover temporary file. */
static void listing(char *out, size_t n)
{
	size_t k = 0;
	out[0] = 0;
	const char *dirs[2] = {dir, path("dir")};
	for (int d = 0; d < 2; d++) {
		DIR *dp = opendir(dirs[d]);
		if (!dp)
			continue;
		for (struct dirent *e; (e = readdir(dp));) {
			cr_expect(!strstr(e->d_name, ".tmp."), "temporary file left behind: %s/%s", dirs[d], e->d_name);
			if (k < n)
				k += (size_t)snprintf(out + k, n - k, "%s ", e->d_name);
		}
		closedir(dp);
	}
}

static void check_cli(const char *row, int want, const char *const *subs, const char *args)
{
	char a[1024], out[16384], before[4096], after[4096], sub[600];
	expand(args, a, sizeof a);
	listing(before, sizeof before);
	int rc = run(a, out, sizeof out);
	cr_expect_eq(rc, want, "%s: `tgraph %s` exited %d, expected %d:\n%s", row, a, rc, want, out);
	for (; *subs; subs++) {
		expand(*subs, sub, sizeof sub);
		cr_expect(strstr(out, sub), "%s: `tgraph %s`: output lacks \"%s\":\n%s", row, a, sub, out);
	}
	listing(after, sizeof after);
	if (want == 2)
		cr_expect_str_eq(after, before, "%s: a usage error changed the directory", row);
}

#define CLI(name, rc, msgs, args) \
	Test(cli_errors, name, .init = make_fixtures, .fini = remove_fixtures) { check_cli(#name, rc, msgs, args); }

/* ---------------------------------------------------------------- the dispatcher */

CLI(no_command, 2, MSG("usage: tgraph COMMAND"), "")
CLI(unknown_command, 2, MSG("unknown command 'frobnicate'"), "frobnicate --amount 1")
CLI(help_unknown_command, 2, MSG("unknown command 'nosuch'"), "help nosuch")

/* ---------------------------------------------------------------- diffuse */

CLI(diffuse_unknown_flag, 2, MSG("tgraph diffuse: ", "unknown argument '--bogus'"),
	"diffuse --amount 1 --bogus $D/g.npy $D/o.npy")
CLI(diffuse_missing_value, 2, MSG("--amount needs a value"), "diffuse $D/g.npy $D/o.npy --amount")
CLI(diffuse_no_amount, 2, MSG("--amount A is required"), "diffuse $D/g.npy $D/o.npy")
CLI(diffuse_amount_abc, 2, MSG("--amount 'abc'", "finite number >= 0"), "diffuse --amount abc $D/g.npy $D/o.npy")
CLI(diffuse_amount_1e, 2, MSG("--amount '1e'"), "diffuse --amount 1e $D/g.npy $D/o.npy")
CLI(diffuse_amount_nan, 2, MSG("--amount 'nan'"), "diffuse --amount nan $D/g.npy $D/o.npy")
CLI(diffuse_amount_inf, 2, MSG("--amount 'inf'"), "diffuse --amount inf $D/g.npy $D/o.npy")
CLI(diffuse_amount_empty, 2, MSG("--amount ''"), "diffuse --amount '' $D/g.npy $D/o.npy")
CLI(diffuse_amount_negative, 2, MSG("--amount '-1'", ">= 0"), "diffuse --amount -1 $D/g.npy $D/o.npy")
CLI(diffuse_one_file, 2, MSG("expected IN.npy OUT.npy"), "diffuse --amount 1 $D/g.npy")
CLI(diffuse_extra_file, 2, MSG("unexpected argument 'extra'"), "diffuse --amount 1 $D/g.npy $D/o.npy extra")
CLI(diffuse_input_missing, 1, MSG("cannot read '$D/nosuch.npy'", "No such file"),
	"diffuse --amount 1 $D/nosuch.npy $D/o.npy")
CLI(diffuse_input_not_npy, 1, MSG("cannot read '$D/t.txt'"), "diffuse --amount 1 $D/t.txt $D/o.npy")
CLI(diffuse_input_directory, 1, MSG("cannot read '$D/dir'"), "diffuse --amount 1 $D/dir $D/o.npy")
CLI(diffuse_input_1d, 1, MSG("'$D/v.npy' is f64 [4]", "expected f64 or f32 [X, Y] or [B, X, Y]"),
	"diffuse --amount 1 $D/v.npy $D/o.npy")
CLI(diffuse_input_complex, 1, MSG("'$D/c.npy' is c128 [4,4]"), "diffuse --amount 1 $D/c.npy $D/o.npy")
CLI(diffuse_input_empty_axis, 1, MSG("'$D/z.npy' is f64 [4,0]", "X, Y >= 1"), "diffuse --amount 1 $D/z.npy $D/o.npy")
CLI(diffuse_output_no_dir, 1, MSG("cannot write '$D/nodir/o.npy'", "No such file"),
	"diffuse --amount 1 $D/g.npy $D/nodir/o.npy")
CLI(diffuse_output_is_dir, 1, MSG("cannot write '$D/dir'"), "diffuse --amount 1 $D/g.npy $D/dir")
CLI(diffuse_output_empty_name, 1, MSG("cannot write ''"), "diffuse --amount 1 $D/g.npy ''")

/* ---------------------------------------------------------------- sip-inverse */

CLI(sip_unknown_flag, 2, MSG("tgraph sip-inverse: ", "unknown argument '--kernels'"),
	"sip-inverse --amount 1 $D/g.npy $D/o.npy --kernels $D/k.npy")
CLI(sip_no_amount, 2, MSG("--amount A is required"), "sip-inverse $D/g.npy $D/o.npy")
CLI(sip_amount_abc, 2, MSG("--amount 'abc'"), "sip-inverse --amount abc $D/g.npy $D/o.npy")
CLI(sip_amount_1e, 2, MSG("--amount '1e'"), "sip-inverse --amount 1e $D/g.npy $D/o.npy")
CLI(sip_amount_nan, 2, MSG("--amount 'nan'"), "sip-inverse --amount nan $D/g.npy $D/o.npy")
CLI(sip_amount_inf, 2, MSG("--amount 'inf'"), "sip-inverse --amount inf $D/g.npy $D/o.npy")
CLI(sip_amount_negative, 2, MSG("--amount '-8'", ">= 0"), "sip-inverse --amount -8 $D/g.npy $D/o.npy")
CLI(sip_rel_abc, 2, MSG("--rel-uncertainty 'abc'"), "sip-inverse --amount 1 --rel-uncertainty abc $D/g.npy $D/o.npy")
CLI(sip_rel_negative, 2, MSG("--rel-uncertainty '-1e-6'", ">= 0"),
	"sip-inverse --amount 1 --rel-uncertainty -1e-6 $D/g.npy $D/o.npy")
CLI(sip_rel_nan, 2, MSG("--rel-uncertainty 'nan'"), "sip-inverse --amount 1 --rel-uncertainty nan $D/g.npy $D/o.npy")
CLI(sip_rel_missing_value, 2, MSG("--rel-uncertainty needs a value"),
	"sip-inverse --amount 1 $D/g.npy $D/o.npy --rel-uncertainty")
CLI(sip_kernel_missing_value, 2, MSG("--kernel needs a value"), "sip-inverse --amount 1 $D/g.npy $D/o.npy --kernel")
CLI(sip_prob_missing_value, 2, MSG("--prob needs a value"), "sip-inverse --amount 1 $D/g.npy $D/o.npy --prob")
CLI(sip_uncertainty_missing_value, 2, MSG("--uncertainty needs a value"),
	"sip-inverse --amount 1 $D/g.npy $D/o.npy --uncertainty")
CLI(sip_one_file, 2, MSG("expected RESIDUAL.npy DX.npy"), "sip-inverse --amount 1 $D/g.npy")
CLI(sip_extra_file, 2, MSG("unexpected argument '$D/x.npy'"), "sip-inverse --amount 1 $D/g.npy $D/o.npy $D/x.npy")
CLI(sip_input_missing, 1, MSG("cannot read '$D/nosuch.npy'"), "sip-inverse --amount 1 $D/nosuch.npy $D/o.npy")
CLI(sip_input_complex, 1, MSG("'$D/c.npy' is c128 [4,4]"), "sip-inverse --amount 1 $D/c.npy $D/o.npy")
CLI(sip_input_1d, 1, MSG("'$D/v.npy' is f64 [4]"), "sip-inverse --amount 1 $D/v.npy $D/o.npy")
CLI(sip_output_no_dir, 1, MSG("cannot write '$D/nodir/dx.npy'"), "sip-inverse --amount 1 $D/f.npy $D/nodir/dx.npy")
CLI(sip_kernel_unwritable, 1, MSG("cannot write '$D/nodir/k.npy'"),
	"sip-inverse --amount 1 $D/g.npy $D/o.npy --kernel $D/nodir/k.npy")
CLI(sip_uncertainty_is_dir, 1, MSG("cannot write '$D/dir'"),
	"sip-inverse --amount 1 $D/g.npy $D/o.npy --uncertainty $D/dir")

/* ---------------------------------------------------------------- dot */

CLI(dot_unknown_flag, 2, MSG("tgraph dot: ", "unknown argument '--bogus'"), "dot --bogus")
CLI(dot_positional, 2, MSG("unknown argument 'mlp'"), "dot mlp")
CLI(dot_graph_missing_value, 2, MSG("--graph needs a value"), "dot --graph")
CLI(dot_out_missing_value, 2, MSG("--out needs a value"), "dot --out")
CLI(dot_svg_missing_value, 2, MSG("--svg needs a value"), "dot --out $D/x.dot --svg")
CLI(dot_unknown_graph, 2, MSG("unknown graph 'nosuch'", "known: mlp"), "dot --graph nosuch --out $D/x.dot")
CLI(dot_svg_extension, 2, MSG("--svg '$D/x.pdf'", ".svg or .png"), "dot --out $D/x.dot --svg $D/x.pdf")
CLI(dot_out_no_dir, 1, MSG("cannot write '$D/nodir/x.dot'", "No such file"), "dot --out $D/nodir/x.dot")
CLI(dot_out_is_dir, 1, MSG("writing '$D/dir' failed"), "dot --out $D/dir")
CLI(dot_svg_no_dir, 1, MSG("rendering '$D/nodir/x.svg' failed"), "dot --out $D/x.dot --svg $D/nodir/x.svg")

/* ---------------------------------------------------------------- info */

CLI(info_no_name, 2, MSG("tgraph info: ", "expected one graph name"), "info")
CLI(info_two_names, 2, MSG("expected one graph name"), "info mlp unet")
CLI(info_unknown_graph, 2, MSG("unknown graph 'nosuch'", "known: mlp"), "info nosuch")
CLI(info_flag, 2, MSG("unknown argument '--bogus'"), "info --bogus")

/* ---------------------------------------------------------------- train */

CLI(train_unknown_flag, 2, MSG("tgraph train: ", "unknown option '--bogus'"), TRAIN "--bogus 1")
CLI(train_positional, 2, MSG("unexpected argument 'now'"), TRAIN "now")
CLI(train_missing_value, 2, MSG("--lr needs a value"), TRAIN "--lr")
CLI(train_steps_abc, 2, MSG("--steps: 'abc' is not a whole number"), TRAIN "--steps abc")
CLI(train_steps_1e, 2, MSG("--steps: '1e'"), TRAIN "--steps 1e")
CLI(train_steps_nan, 2, MSG("--steps: 'nan'"), TRAIN "--steps nan")
CLI(train_steps_zero, 2, MSG("--steps must be between 1 and", "(got 0)"), TRAIN "--steps 0")
CLI(train_steps_negative, 2, MSG("--steps must be between 1 and", "(got -3)"), TRAIN "--steps -3")
CLI(train_steps_huge, 2, MSG("--steps", "99999999999999999999"), TRAIN "--steps 99999999999999999999")
CLI(train_batch_zero, 2, MSG("--batch must be between 1 and", "(got 0)"), TRAIN "--batch 0")
CLI(train_batch_negative, 2, MSG("--batch must be between 1 and", "(got -1)"), TRAIN "--batch -1")
CLI(train_batch_inf, 2, MSG("--batch: 'inf'"), TRAIN "--batch inf")
CLI(train_res_zero, 2, MSG("--res: '0'", "positive multiple of 8"), TRAIN "--res 0")
CLI(train_res_not_multiple, 2, MSG("--res: '12'", "multiple of 8"), TRAIN "--res 12")
CLI(train_res_abc, 2, MSG("--res: 'abc'"), TRAIN "--res abc")
CLI(train_res_half, 2, MSG("--res: '64x'"), TRAIN "--res 64x")
CLI(train_amount_negative, 2, MSG("--amount must be >= 0", "(got -1)"), TRAIN "--amount -1")
CLI(train_amount_nan, 2, MSG("--amount: 'nan' is not a number"), TRAIN "--amount nan")
CLI(train_amount_inf, 2, MSG("--amount: 'inf'"), TRAIN "--amount inf")
CLI(train_lr_zero, 2, MSG("--lr must be > 0", "(got 0)"), TRAIN "--lr 0")
CLI(train_lr_1e, 2, MSG("--lr: '1e'"), TRAIN "--lr 1e")
CLI(train_method, 2, MSG("--method: 'adam'", "sip, gd or both"), TRAIN "--method adam")
CLI(train_seed_negative, 2, MSG("--seed: '-1'"), TRAIN "--seed -1")
CLI(train_threads_zero, 2, MSG("--threads must be between 1 and", "(got 0)"), TRAIN "--threads 0")
CLI(train_out_empty, 2, MSG("--out: empty"), TRAIN "--out ''")
CLI(train_resume_missing, 2, MSG("--resume", "$D/nosuch"), TRAIN "--resume $D/nosuch")
CLI(train_resume_not_checkpoint, 1, MSG("--resume", "$D/g.npy"), TRAIN "--resume $D/g.npy")
CLI(train_out_not_directory, 1, MSG("$D/plain"), TRAIN "--out $D/plain/run")

/* ---------------------------------------------------------------- eval */

CLI(eval_no_checkpoint, 2, MSG("tgraph eval: ", "--checkpoint CKPT is required"), "eval")
CLI(eval_unknown_flag, 2, MSG("unknown option '--bogus'"), EVAL "--bogus 1 --checkpoint $D/c.npz")
CLI(eval_positional, 2, MSG("unexpected argument '$D/c.npz'"), EVAL "$D/c.npz")
CLI(eval_missing_value, 2, MSG("--checkpoint needs a value"), EVAL "--checkpoint")
CLI(eval_batch_zero, 2, MSG("--batch: '0'"), EVAL "--batch 0 --checkpoint $D/c.npz")
CLI(eval_batch_abc, 2, MSG("--batch: 'abc'"), EVAL "--batch abc --checkpoint $D/c.npz")
CLI(eval_threads_nan, 2, MSG("--threads: 'nan'"), EVAL "--threads nan --checkpoint $D/c.npz")
CLI(eval_seed_negative, 2, MSG("--seed: '-5'"), EVAL "--seed -5 --checkpoint $D/c.npz")
CLI(eval_checkpoint_missing, 1, MSG("$D/nosuch.npz"), EVAL "--checkpoint $D/nosuch.npz")
CLI(eval_checkpoint_not_npz, 1, MSG("$D/g.npy"), EVAL "--checkpoint $D/g.npy")

/* ---------------------------------------------------------------- bench */

CLI(bench_unknown_flag, 2, MSG("tgraph bench: ", "unknown argument '--bogus'"), "bench --list --bogus")
CLI(bench_reps_zero, 2, MSG("--reps", "got '0'"), "bench --list --reps 0")
CLI(bench_reps_abc, 2, MSG("--reps", "got 'abc'"), "bench --list --reps abc")
CLI(bench_warmup_negative, 2, MSG("--warmup", "got '-1'"), "bench --list --warmup -1")
CLI(bench_threads_1e, 2, MSG("--threads", "got '1e'"), "bench --list --threads 1e")
CLI(bench_threads_missing_value, 2, MSG("--threads needs a value"), "bench --list --threads")
CLI(bench_filter_no_match, 2, MSG("no benchmark matches 'nosuch'"), "bench --reps 1 --warmup 0 --filter nosuch")

/* ---------------------------------------------------------------- failed writes keep what exists */

static void read_file(const char *p, char *buf, size_t n)
{
	FILE *f = fopen(p, "rb");
	cr_assert(f, "cannot open %s", p);
	size_t k = fread(buf, 1, n - 1, f);
	buf[k] = 0;
	fclose(f);
}

/* An existing output whose temporary file cannot be created (its name "<out>.tmp.<pid>" exceeds
** NAME_MAX) is left unchanged by the failed write. This stands in for a full disk, which cannot be
** simulated here: the tools write through a temporary file next to the output, and /dev/full
** offers no directory for one. */
Test(cli_errors, failed_write_keeps_existing_output, .init = make_fixtures, .fini = remove_fixtures)
{
	char name[256];
	memset(name, 'o', 250);
	strcpy(name + 250, ".npy");   /* 254 bytes: a valid name, too long with ".tmp.<pid>" appended */
	write_text(name, "previous result\n");
	char args[1024], out[4096], now[64];
	snprintf(args, sizeof args, "diffuse --amount 1 %s %s", path("g.npy"), path(name));
	cr_expect_eq(run(args, out, sizeof out), 1, "%s", out);
	cr_expect(strstr(out, "cannot write") && strstr(out, name), "%s", out);
	read_file(path(name), now, sizeof now);
	cr_expect_str_eq(now, "previous result\n");
	char l[4096];
	listing(l, sizeof l);
}

/* An output path naming a directory: the rename fails, the directory and its contents stay, and
** the temporary file is removed. */
Test(cli_errors, output_onto_directory_keeps_it, .init = make_fixtures, .fini = remove_fixtures)
{
	static const char *const cmds[] = {
		"diffuse --amount 1 $D/g.npy $D/dir",
		"sip-inverse --amount 1 $D/g.npy $D/dir",
		"dot --out $D/dir",
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		char args[1024], out[4096], keep[64], l[4096];
		expand(cmds[i], args, sizeof args);
		cr_expect_eq(run(args, out, sizeof out), 1, "%s: %s", args, out);
		cr_expect(strstr(out, path("dir")), "%s: the message does not name the path: %s", args, out);
		struct stat st;
		cr_expect(stat(path("dir"), &st) == 0 && S_ISDIR(st.st_mode), "%s replaced the directory", args);
		read_file(path("dir/keep.txt"), keep, sizeof keep);
		cr_expect_str_eq(keep, "keep me\n");
		listing(l, sizeof l);
	}
}
