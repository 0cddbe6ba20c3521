/*
** test_bench.c: `tgraph bench` as a process: argument errors, --list, and the --json output format
** (one array, the documented keys, min <= median <= max) on the fast cases. No timing assertions.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define TGRAPH TG_BUILD_DIR "/tools/tgraph"

/* Runs cmd, capturing its stdout into buf; returns the exit status. */
static int run_stdout(const char *cmd, char *buf, size_t n)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t k = fread(buf, 1, n - 1, p);
	buf[k] = 0;
	int rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static double number_after(const char *obj, const char *key)
{
	const char *at = strstr(obj, key);
	cr_assert(at, "no %s in %s", key, obj);
	return strtod(at + strlen(key), NULL);
}

Test(bench, argument_errors_and_list)
{
	static char out[8192];
	cr_expect_eq(run_stdout(TGRAPH " bench --bogus 2>&1", out, sizeof out), 2);
	cr_expect(strstr(out, "unknown argument '--bogus'"), "%s", out);
	cr_expect_eq(run_stdout(TGRAPH " bench --reps 0 2>&1", out, sizeof out), 2);
	cr_expect_eq(run_stdout(TGRAPH " bench --threads 2>&1", out, sizeof out), 2);
	cr_expect_eq(run_stdout(TGRAPH " bench --filter no_such_case 2>&1", out, sizeof out), 2);
	cr_expect(strstr(out, "no benchmark matches"), "%s", out);
	cr_assert_eq(run_stdout(TGRAPH " bench --list", out, sizeof out), 0);
	const char *names[] = {"matmul_sgemm_1024", "conv2d_3x3_16_fwd_b128", "conv2d_3x3_16_fwd_bwd_b128",
		"diffuse_fwd_bwd_b128_f64", "inv_diffuse_b128_f64", "unet_fwd_b128", "unet_train_step_b128", "gd_step_b128",
		"sip_step_b128"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		cr_expect(strstr(out, names[i]), "--list lacks %s:\n%s", names[i], out);
}

/* The physics cases at the seed's sizes take milliseconds: run them once for the JSON format. */
Test(bench, json_is_one_array_with_the_keys)
{
	static char out[16384];
	cr_assert_eq(run_stdout(TGRAPH " bench --json --filter _f64 --reps 3 --warmup 0 2>/dev/null", out, sizeof out), 0);
	const char *p = out;
	while (*p == ' ' || *p == '\n')
		p++;
	cr_assert_eq(*p, '[', "stdout does not start with a JSON array:\n%s", out);
	const char *end = strrchr(out, ']');
	cr_assert(end, "%s", out);
	for (const char *q = end + 1; *q; q++)
		cr_assert(*q == '\n' || *q == ' ', "text after the array:\n%s", out);
	int objects = 0;
	for (const char *o = strchr(p, '{'); o; o = strchr(o + 1, '{'), objects++) {
		char obj[512];
		size_t len = (size_t)(strchr(o, '}') - o);
		cr_assert_lt(len, sizeof obj);
		memcpy(obj, o, len);
		obj[len] = 0;
		cr_expect(strstr(obj, "\"name\": \""), "%s", obj);
		cr_expect(strstr(obj, "\"gflops\": "), "%s", obj);
		cr_expect(strstr(obj, "\"peak_bytes\": "), "%s", obj);
		double med = number_after(obj, "\"median_ms\": "), lo = number_after(obj, "\"min_ms\": "),
		       hi = number_after(obj, "\"max_ms\": ");
		cr_expect(lo > 0 && lo <= med && med <= hi, "min %g, median %g, max %g in %s", lo, med, hi, obj);
	}
	cr_expect_eq(objects, 4, "expected the 4 f64 physics cases:\n%s", out);
}
