/*
 * test_main.c - runs every test table (request, chan, framing, notify,
 * notify_agent, spawn, resources).
 */
#include <signal.h>
#include <stdlib.h>

#include <ei.h>

#include "test.h"

int test_failed;

extern const struct test_case request_tests[], chan_tests[],
	framing_tests[], notify_tests[], notify_agent_tests[], spawn_tests[],
	resources_tests[], sandbox_tests[], ns_tests[];

int main(void)
{
	const struct test_case *tables[] = { request_tests, chan_tests,
					     framing_tests, notify_tests,
					     notify_agent_tests, spawn_tests,
					     resources_tests, sandbox_tests,
					     ns_tests };
	int passed = 0, failed = 0;
	size_t t;

	/* as in the agent: a closed pipe is EPIPE, not death */
	signal(SIGPIPE, SIG_IGN);
	ei_init();
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		const struct test_case *c;

		for (c = tables[t]; c->name; c++) {
			test_failed = 0;
			c->fn();
			if (test_failed) {
				printf("FAIL %s\n", c->name);
				failed++;
			} else {
				printf("ok   %s\n", c->name);
				passed++;
			}
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
