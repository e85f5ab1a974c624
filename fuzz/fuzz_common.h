/*
 * fuzz_common.h - what every harness shares: a loud failure for a broken
 * invariant (abort, so libFuzzer and the replay driver both stop with the
 * input that broke it) and a check that an error message is a terminated,
 * non-empty string.
 *
 * The harnesses call the agent's own decoders (c_src objects compiled again
 * with sanitizers), never copies. Each one checks, beyond "no crash",
 * properties the agent relies on: what decodes re-encodes to the same
 * meaning, a failure names its stage, no memory is leaked either way.
 */
#ifndef LINX_FUZZ_COMMON_H
#define LINX_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define FUZZ_ASSERT(cond)                                               \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", \
				__FILE__, __LINE__, #cond);             \
			abort();                                        \
		}                                                       \
	} while (0)

/*
 * fuzz_check_err() - a failed decode left a usable error: the expected
 * stage, an errno, and a NUL-terminated message naming what was wrong.
 */
static inline void fuzz_check_err(const struct linx_err *e, int stage,
				  int too_big_stage)
{
	FUZZ_ASSERT(e->stage == stage || e->stage == too_big_stage);
	FUZZ_ASSERT(e->err > 0);
	FUZZ_ASSERT(memchr(e->msg, '\0', sizeof(e->msg)) != NULL);
	FUZZ_ASSERT(e->msg[0] != '\0');
}

#endif /* LINX_FUZZ_COMMON_H */
