/*
 * test_notify.c - the notify decoders of request.c: notify_reads in the
 * request, {:notify_reply, id, steps} (every step, the response-last
 * rule, the id kept after a failed decode), notify_read/notify_fd_path
 * (the ref echoed byte for byte), and the encode/decode round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ei.h>

#include "ns.h"
#include "request.h"
#include "test.h"

static int decode(ei_x_buff *x, struct linx_cmd *c, struct linx_err *e)
{
	memset(e, 0, sizeof(*e));
	return cmd_decode(x->buff, x->index, c, e);
}

/* {:notify_reply, 7, [step...]} with the given steps already encoded */
static void reply_head(ei_x_buff *x, int nsteps)
{
	ei_x_new_with_version(x);
	ei_x_encode_tuple_header(x, 3);
	ei_x_encode_atom(x, "notify_reply");
	ei_x_encode_ulonglong(x, 7);
	if (nsteps)
		ei_x_encode_list_header(x, nsteps);
}

static void test_reply_all_steps(void)
{
	struct linx_cmd c, again;
	struct linx_err e;
	ei_x_buff x, y;

	reply_head(&x, 5);
	/* {:write, addr, bin} */
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "write");
	ei_x_encode_ulonglong(&x, 0x7fff0000ULL);
	ei_x_encode_binary(&x, "abc", 3);
	/* {:call, 259, [-100, {:str, "/d/n"}, {:buf, <<1,0>>}], %{ns: [:user, :mount], creds: true}} */
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "call");
	ei_x_encode_long(&x, 259);
	ei_x_encode_list_header(&x, 3);
	ei_x_encode_long(&x, -100);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "str");
	ei_x_encode_binary(&x, "/d/n", 4);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "buf");
	ei_x_encode_binary(&x, "\001\000", 2);
	ei_x_encode_empty_list(&x);
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "ns");
	ei_x_encode_list_header(&x, 2);
	ei_x_encode_atom(&x, "user");
	ei_x_encode_atom(&x, "mount");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "creds");
	ei_x_encode_boolean(&x, 1);
	/* {:addfd, {:open, "/f", 2, 0o644}, 5, [:cloexec]} */
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "addfd");
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "open");
	ei_x_encode_binary(&x, "/f", 2);
	ei_x_encode_long(&x, 2);
	ei_x_encode_long(&x, 0644);
	ei_x_encode_long(&x, 5);
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_atom(&x, "cloexec");
	ei_x_encode_empty_list(&x);
	/* {:addfd, {:getfd, 1, 2}, -1, []} */
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "addfd");
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "getfd");
	ei_x_encode_long(&x, 1);
	ei_x_encode_long(&x, 2);
	ei_x_encode_long(&x, -1);
	ei_x_encode_empty_list(&x);
	/* {:return, -1} */
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "return");
	ei_x_encode_long(&x, -1);
	ei_x_encode_empty_list(&x);

	CHECK(decode(&x, &c, &e) == 0);
	CHECK(c.kind == CMD_NOTIFY_REPLY && c.id == 7 && c.nsteps == 5);
	CHECK(c.steps[0].kind == NSTEP_WRITE && c.steps[0].len == 3 &&
	      c.steps[0].addr == 0x7fff0000ULL);
	CHECK(c.steps[1].kind == NSTEP_CALL && c.steps[1].nr == 259 &&
	      c.steps[1].nargs == 3);
	CHECK(c.steps[1].args[0].v == (uint64_t)-100);
	CHECK(c.steps[1].args[1].kind == NARG_STR &&
	      !strcmp((char *)c.steps[1].args[1].data, "/d/n"));
	CHECK(c.steps[1].args[2].kind == NARG_BUF && c.steps[1].args[2].len == 2);
	CHECK(c.steps[1].ns == ((1u << NS_USER) | (1u << NS_MOUNT)));
	/* keys not given keep their defaults */
	CHECK(c.steps[1].root && c.steps[1].cwd && c.steps[1].creds);
	CHECK(c.steps[2].kind == NSTEP_ADDFD && c.steps[2].src == NFD_OPEN &&
	      c.steps[2].target == 5 && c.steps[2].cloexec &&
	      !c.steps[2].send && c.steps[2].mode == 0644);
	CHECK(c.steps[3].src == NFD_GETFD && c.steps[3].target == -1 &&
	      c.steps[3].pid == 1 && c.steps[3].fd == 2);
	CHECK(c.steps[4].kind == NSTEP_RETURN &&
	      (int64_t)c.steps[4].val == -1);

	/* round trip */
	ei_x_new_with_version(&y);
	CHECK(cmd_encode(&c, &y) == 0);
	CHECK(decode(&y, &again, &e) == 0);
	CHECK(again.nsteps == 5 && again.steps[1].ns == c.steps[1].ns &&
	      (int64_t)again.steps[4].val == -1);
	cmd_free(&again);
	cmd_free(&c);
	ei_x_free(&x);
	ei_x_free(&y);
}

static void test_reply_rules(void)
{
	struct linx_cmd c;
	struct linx_err e;
	ei_x_buff x;

	/* a response before the last step: malformed, id still known */
	reply_head(&x, 2);
	ei_x_encode_atom(&x, "continue");
	ei_x_encode_atom(&x, "return_last");
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1);
	CHECK(e.stage == STAGE_MALFORMED_COMMAND);
	CHECK(c.kind == CMD_NOTIFY_REPLY && c.has_id && c.id == 7);
	CHECK(strstr(e.msg, "before the last step") != NULL);
	cmd_free(&c);
	ei_x_free(&x);

	/* the last step must answer */
	reply_head(&x, 1);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "write");
	ei_x_encode_long(&x, 1);
	ei_x_encode_binary(&x, "a", 1);
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && c.has_id);
	cmd_free(&c);
	ei_x_free(&x);

	/* an addfd with :send answers */
	reply_head(&x, 1);
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "addfd");
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "connect_unix");
	ei_x_encode_binary(&x, "/s", 2);
	ei_x_encode_long(&x, -1);
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_atom(&x, "send");
	ei_x_encode_empty_list(&x);
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == 0 && c.steps[0].send);
	cmd_free(&c);
	ei_x_free(&x);

	/* errno out of range, unknown step, no steps */
	reply_head(&x, 1);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "errno");
	ei_x_encode_long(&x, 4096);
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && c.has_id);
	cmd_free(&c);
	ei_x_free(&x);

	reply_head(&x, 1);
	ei_x_encode_atom(&x, "bogus");
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && strstr(e.msg, ":bogus"));
	cmd_free(&c);
	ei_x_free(&x);

	reply_head(&x, 0);
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && c.has_id);
	cmd_free(&c);
	ei_x_free(&x);

	/* the id itself bad: nobody to answer */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "notify_reply");
	ei_x_encode_atom(&x, "nope");
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && !c.has_id);
	cmd_free(&c);
	ei_x_free(&x);
}

static void test_read_and_fd_path(void)
{
	struct linx_cmd c, again;
	struct linx_err e;
	ei_x_buff x, y;
	int ref_start, ref_end;

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 6);
	ei_x_encode_atom(&x, "notify_read");
	ref_start = x.index;
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "ref");
	ei_x_encode_long(&x, 99);
	ref_end = x.index;
	ei_x_encode_ulonglong(&x, 1);
	ei_x_encode_long(&x, 1234);
	ei_x_encode_ulonglong(&x, 0x1000);
	ei_x_encode_long(&x, 16);
	CHECK(decode(&x, &c, &e) == 0);
	CHECK(c.kind == CMD_NOTIFY_READ && c.pid == 1234 && c.addr == 0x1000 &&
	      c.rlen == 16 && c.id == 1);
	CHECK(c.ref_len == (size_t)(ref_end - ref_start));
	CHECK(!memcmp(c.ref, x.buff + ref_start, c.ref_len));
	ei_x_new_with_version(&y);
	CHECK(cmd_encode(&c, &y) == 0);
	CHECK(y.index == x.index && !memcmp(x.buff, y.buff, x.index));
	CHECK(decode(&y, &again, &e) == 0 && again.ref_len == c.ref_len);
	cmd_free(&again);
	cmd_free(&c);
	ei_x_free(&x);
	ei_x_free(&y);

	/* len above the cap */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 6);
	ei_x_encode_atom(&x, "notify_read");
	ei_x_encode_atom(&x, "r");
	ei_x_encode_ulonglong(&x, 1);
	ei_x_encode_long(&x, 1);
	ei_x_encode_ulonglong(&x, 0);
	ei_x_encode_long(&x, NOTIFY_READ_MAX + 1);
	CHECK(decode(&x, &c, &e) == -1);
	cmd_free(&c);
	ei_x_free(&x);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 5);
	ei_x_encode_atom(&x, "notify_fd_path");
	ei_x_encode_binary(&x, "r", 1);
	ei_x_encode_ulonglong(&x, 1);
	ei_x_encode_long(&x, 5);
	ei_x_encode_long(&x, 3);
	CHECK(decode(&x, &c, &e) == 0);
	CHECK(c.kind == CMD_NOTIFY_FD_PATH && c.pid == 5 && c.fd == 3);
	cmd_free(&c);
	ei_x_free(&x);
}

static void test_notify_reads_key(void)
{
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x;

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_binary(&x, "/bin/true", 9);
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "notify_reads");
	ei_x_encode_list_header(&x, 3);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_long(&x, 257);
	ei_x_encode_long(&x, 1);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "cstring");
	ei_x_encode_long(&x, 4096);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_long(&x, 42);
	ei_x_encode_long(&x, 1);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "bytes_arg");
	ei_x_encode_long(&x, 2);
	ei_x_encode_long(&x, 128);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_long(&x, 63);
	ei_x_encode_long(&x, 0);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "bytes");
	ei_x_encode_long(&x, 390);
	ei_x_encode_empty_list(&x);

	memset(&e, 0, sizeof(e));
	CHECK(request_decode(x.buff, x.index, &r, &e) == 0);
	CHECK(r.nnotify_reads == 3);
	if (r.nnotify_reads == 3) {
		CHECK(r.notify_reads[0].nr == 257 && r.notify_reads[0].arg == 1 &&
		      r.notify_reads[0].kind == NREAD_CSTRING &&
		      r.notify_reads[0].max == 4096);
		CHECK(r.notify_reads[1].kind == NREAD_BYTES_ARG &&
		      r.notify_reads[1].len_arg == 2 &&
		      r.notify_reads[1].max == 128);
		CHECK(r.notify_reads[2].kind == NREAD_BYTES &&
		      r.notify_reads[2].max == 390);
	}
	request_free(&r);
	ei_x_free(&x);
}

TESTS(notify_tests) = {
	{ "notify: every reply step decodes and round-trips",
	  test_reply_all_steps },
	{ "notify: only the last step answers; the id survives a bad reply",
	  test_reply_rules },
	{ "notify: notify_read / notify_fd_path, the ref echoed as is",
	  test_read_and_fd_path },
	{ "notify: notify_reads request key", test_notify_reads_key },
	TEST_END
};
