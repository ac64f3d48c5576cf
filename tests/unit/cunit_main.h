/* cunit_main.h - the main() body every CUnit runner shares: register the runner's suites, run
 * them verbosely, and exit 1 when any assertion failed (CU_get_number_of_failures(); CU_get_error()
 * only tells of CUnit's own failures, which exit 2). */
#ifndef TM_CUNIT_MAIN_H
#define TM_CUNIT_MAIN_H

#include <CUnit/Basic.h>
#include <stdio.h>

static int cunit_run(CU_SuiteInfo *suites, const char *runner)
{
	unsigned failures;
	CU_ErrorCode err;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		fprintf(stderr, "%s: %s\n", runner, CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	err = CU_get_error();
	if (err != CUE_SUCCESS)
		fprintf(stderr, "%s: %s\n", runner, CU_get_error_msg());
	CU_cleanup_registry();
	return err != CUE_SUCCESS ? 2 : failures != 0;
}

/* A list of tests, ended by the macro itself:
 *   CUNIT_TESTS(pool_tests, { "grow", test_grow }, { "reuse", test_reuse });  */
#define CUNIT_TESTS(name, ...) static CU_TestInfo name[] = { __VA_ARGS__, CU_TEST_INFO_NULL }

/* The whole main() of a runner whose suites need nothing set up first:
 *   CUNIT_MAIN("test_pool", { "pool", NULL, NULL, NULL, NULL, pool_tests })
 * takes the suites (CU_SuiteInfo initialisers) and ends the list itself. */
#define CUNIT_MAIN(runner, ...)                                               \
	int main(void)                                                        \
	{                                                                     \
		static CU_SuiteInfo suites[] = { __VA_ARGS__, CU_SUITE_INFO_NULL }; \
		return cunit_run(suites, runner);                             \
	}

#endif
