/*
** test_examples.c: the example programs build and run successfully.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/wait.h>

static int run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(examples, fit_mlp_converges)
{
	cr_expect_eq(run(TG_BUILD_DIR "/examples/fit_mlp 1500 > /dev/null"), 0);
}

Test(examples, custom_op_matches_analytic_gradient)
{
	cr_expect_eq(run(TG_BUILD_DIR "/examples/custom_op > /dev/null"), 0);
}
