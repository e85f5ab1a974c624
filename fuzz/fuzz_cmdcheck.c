/*
 * fuzz_cmdcheck.c - the command round-trip property, shared by the
 * command and request harnesses (linked into both).
 */
#include <ei.h>

#include "fuzz_common.h"
#include "command.h"
#include "request.h"

void fuzz_check_cmd_roundtrip(const struct linx_cmd *c);

/*
 * fuzz_check_cmd_roundtrip() - encode @c as a frame, decode it again and
 * compare. Shared with fuzz_request.c (the commands of opts.commands).
 */
void fuzz_check_cmd_roundtrip(const struct linx_cmd *c)
{
	struct linx_cmd again;
	struct linx_err err;
	ei_x_buff x;

	FUZZ_ASSERT(strcmp(cmd_name(c->kind), "unknown") != 0);
	FUZZ_ASSERT(c->data ? 1 : c->len == 0);
	FUZZ_ASSERT(!ei_x_new_with_version(&x));
	FUZZ_ASSERT(!cmd_encode(c, &x));
	memset(&err, 0, sizeof(err));
	if (cmd_decode(x.buff, x.index, &again, &err)) {
		fprintf(stderr, "re-decode of :%s failed: %s\n",
			cmd_name(c->kind), err.msg);
		abort();
	}
	FUZZ_ASSERT(again.kind == c->kind);
	FUZZ_ASSERT(!memcmp(again.mask, c->mask, sizeof(c->mask)));
	FUZZ_ASSERT(again.signal == c->signal);
	FUZZ_ASSERT(!memcmp(&again.ws, &c->ws, sizeof(c->ws)));
	FUZZ_ASSERT(again.len == c->len);
	FUZZ_ASSERT(!c->len || !memcmp(again.data, c->data, c->len));
	cmd_free(&again);
	ei_x_free(&x);
}
