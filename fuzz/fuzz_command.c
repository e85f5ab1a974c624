/*
 * fuzz_command.c - libFuzzer harness for cmd_decode(), the decoder of
 * every BEAM -> agent frame after the request: checkpoint commands
 * (cap_*, seccomp_install, pty_winsize, caps_query, proceed, abort) and
 * post-running commands (signal, pty_in, stdin, close_stdin), and whatever
 * else arrives in that position (notify replies are rejected as unknown
 * commands until the agent decodes them).
 *
 * Properties: a decoded command re-encodes (cmd_encode) to a frame that
 * decodes to the same command; a failure carries stage malformed_command
 * (or command_too_big) and a message; nothing leaks.
 */
#include <stddef.h>
#include <stdint.h>

#include <ei.h>

#include "fuzz_common.h"
#include "command.h"
#include "request.h"

void fuzz_check_cmd_roundtrip(const struct linx_cmd *c);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linx_cmd c;
	struct linx_err err;

	memset(&err, 0, sizeof(err));
	if (cmd_decode(data, size, &c, &err) == 0) {
		if (c.kind == CMD_SIGNAL)
			FUZZ_ASSERT(c.signal >= 1 && c.signal <= 64);
		fuzz_check_cmd_roundtrip(&c);
	} else {
		fuzz_check_err(&err, STAGE_MALFORMED_COMMAND,
			       STAGE_COMMAND_TOO_BIG);
	}
	cmd_free(&c);
	return 0;
}
