/*
 * check_main.c — the one test runner. Every tests/check_*.c file exports
 * `Suite *<name>_suite(void)`; the Makefile collects those names into
 * suites.h, so adding a suite needs no edit here.
 *
 * Environment: CK_RUN_SUITE / CK_RUN_CASE (Check's own) run one suite or
 * case; RILL_TEST_FILTER=substr keeps suites whose name contains substr;
 * CK_FORK=no runs in-process (debuggers, ThreadSanitizer).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define X(fn) Suite *fn(void);
#include "suites.h"
#undef X

int main(void)
{
	const char *filter = getenv("RILL_TEST_FILTER");
	SRunner *runner = NULL;

#define X(fn)                                                         \
	if (filter == NULL || strstr(#fn, filter) != NULL) {              \
		if (runner == NULL)                                           \
			runner = srunner_create(fn());                            \
		else                                                          \
			srunner_add_suite(runner, fn());                          \
	}
#include "suites.h"
#undef X

	if (runner == NULL) {
		fprintf(stderr, "no suite matches RILL_TEST_FILTER=%s\n", filter ? filter : "");
		return 1;
	}
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
