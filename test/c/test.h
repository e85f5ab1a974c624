/*
 * test.h - a tiny unit-test harness for the agent's pure modules.
 *
 * A test is a void function; CHECK() records a failure and goes on. The
 * runner (test_main.c) prints one line per failed test and a final
 * "N passed, M failed" line, and exits non-zero on any failure.
 */
#ifndef LINX_TEST_H
#define LINX_TEST_H

#include <stdio.h>
#include <string.h>

extern int test_failed;

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "  %s:%d: CHECK(%s)\n", __FILE__, \
				__LINE__, #cond);                       \
			test_failed = 1;                                \
		}                                                       \
	} while (0)

#define CHECK_STR(a, b)                                                 \
	do {                                                            \
		const char *a_ = (a), *b_ = (b);                        \
		if (strcmp(a_, b_)) {                                   \
			fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n",  \
				__FILE__, __LINE__, a_, b_);            \
			test_failed = 1;                                \
		}                                                       \
	} while (0)

struct test_case {
	const char *name;
	void (*fn)(void);
};

#define TESTS(name) const struct test_case name[]
#define TEST_END { NULL, NULL }

#endif /* LINX_TEST_H */
