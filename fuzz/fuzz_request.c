/*
 * fuzz_request.c - libFuzzer harness for request_decode(), the decoder of
 * the first frame: {:spawn, opts}, {:enter, opts}, {:echo, request}.
 *
 * Properties of a decoded request, which the agent relies on without
 * re-checking: argv non-empty and NULL-terminated, env NULL-terminated,
 * no NUL inside a string, stdio modes in range with a path for
 * connect_unix, namespaces within the table, enter has a target, every
 * opts.commands entry is a checkpoint command and round-trips, and the
 * {:decoded, map} answer to :echo encodes to a well-formed term. A failure
 * carries stage malformed_request (or request_too_big); nothing leaks.
 */
#include <stddef.h>
#include <stdint.h>

#include <ei.h>

#include "fuzz_common.h"
#include "ns.h"
#include "command.h"
#include "echo.h"
#include "request.h"
#include "term.h"

void fuzz_check_cmd_roundtrip(const struct linx_cmd *c);

static void check_strv(char **v, size_t n, bool required)
{
	size_t i;

	if (!v) {
		FUZZ_ASSERT(!required && n == 0);
		return;
	}
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(v[i] != NULL);
	FUZZ_ASSERT(v[n] == NULL);
}

/*
 * check_echo() - the {:decoded, map} answer is one well-formed term that
 * our own bounded decoder can walk to its end
 */
static void check_echo(const struct linx_request *req)
{
	struct linx_err err;
	struct tdec d;
	ei_x_buff x;

	FUZZ_ASSERT(!ei_x_new(&x));
	FUZZ_ASSERT(!request_echo_encode(req, &x));
	/* td_* need LINX_FRAME_PAD readable zero bytes after the term */
	FUZZ_ASSERT(!ei_x_append_buf(&x, (const char[64]){ 0 }, 64));
	memset(&err, 0, sizeof(err));
	FUZZ_ASSERT(!td_init(&d, x.buff, x.index - 64, &err,
			     STAGE_MALFORMED_REQUEST));
	if (td_skip(&d, "echo") || td_end(&d, "echo")) {
		fprintf(stderr, "echo answer does not decode: %s\n", err.msg);
		abort();
	}
	ei_x_free(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linx_request req;
	struct linx_err err;
	size_t i;

	memset(&err, 0, sizeof(err));
	if (request_decode(data, size, &req, &err)) {
		fuzz_check_err(&err, STAGE_MALFORMED_REQUEST,
			       STAGE_REQUEST_TOO_BIG);
		request_free(&req);
		return 0;
	}

	FUZZ_ASSERT(req.kind == LINX_SPAWN || req.kind == LINX_ENTER);
	FUZZ_ASSERT(req.argc >= 1);
	check_strv(req.argv, req.argc, true);
	check_strv(req.env, req.envc, false);
	FUZZ_ASSERT(!(req.namespaces & ~NS_ALL));
	if (req.kind == LINX_ENTER)
		FUZZ_ASSERT(req.target > 0);
	for (i = 0; i < 3; i++) {
		FUZZ_ASSERT(req.stdio[i].mode <= STDIO_CONNECT_UNIX);
		/* a path may be left over from an overridden mode */
		if (req.stdio[i].mode == STDIO_CONNECT_UNIX)
			FUZZ_ASSERT(req.stdio[i].path != NULL);
	}
	FUZZ_ASSERT(req.on_exit == ON_EXIT_KILL ||
		    req.on_exit == ON_EXIT_DETACH);
	FUZZ_ASSERT(req.commands || !req.ncommands);
	for (i = 0; i < req.ncommands; i++) {
		FUZZ_ASSERT(cmd_is_checkpoint(req.commands[i].kind));
		fuzz_check_cmd_roundtrip(&req.commands[i]);
	}
	check_echo(&req);
	request_free(&req);
	return 0;
}
