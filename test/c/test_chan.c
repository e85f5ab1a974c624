/*
 * test_chan.c - child <-> agent records: encode/decode round trips, the
 * length checks of chan_decode, and send/recv over a real SEQPACKET pair
 * (a full 4096-instruction filter, a passed descriptor); an error's text
 * (cut with a marker, never silently) and its {:error_detail, …} frame.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "error.h"
#include "events.h"
#include "test.h"

static void test_roundtrip_and_checks(void)
{
	static uint8_t buf[CHAN_MAX_RECORD + 8];
	struct chan_rec r = { .type = CHAN_CAPS }, out;
	const uint8_t *payload;
	uint8_t bpf[16] = { 6 };
	ssize_t n;

	r.mask[4] = 1ULL << 63;
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	CHECK(n == sizeof(struct chan_rec));
	CHECK(chan_decode(buf, n, &out, &payload) == 0 && !payload);
	CHECK(out.type == CHAN_CAPS && out.mask[4] == 1ULL << 63);

	/* short packet, trailing byte, unknown type */
	CHECK(chan_decode(buf, n - 1, &out, &payload) == -1);
	CHECK(chan_decode(buf, n + 1, &out, &payload) == -1);
	r.type = 99;
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == -1);

	/* the known types and only those: none between the two ranges,
	 * none past the last agent -> child record */
	r.type = CHAN_LISTENER_AT + 1;
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == -1);
	r.type = CHAN_PROCEED - 1;
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == -1);
	r.type = CHAN_TYPE_END;
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == -1);
	r.type = CHAN_SET_IDS;
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == 0 &&
	      out.type == CHAN_SET_IDS && !payload);
	CHECK(chan_decode(buf, n + 8, &out, &payload) == -1);
	r.type = CHAN_CAPS;

	/* payload only for seccomp, whole instructions only */
	r.type = CHAN_SECCOMP_INSTALL;
	n = chan_encode(&r, bpf, sizeof(bpf), buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == 0 && payload &&
	      out.len == 16 && payload[0] == 6);
	n = chan_encode(&r, bpf, 12, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == -1);
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == -1);
	r.type = CHAN_OK;
	n = chan_encode(&r, bpf, 8, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == -1);

	/* too big to encode */
	CHECK(chan_encode(&r, buf, CHAN_MAX_PAYLOAD + 8, buf,
			  sizeof(buf)) == -1);

	/* ERR stage must be a real stage */
	r.type = CHAN_ERR;
	r.err = 2;
	r.stage = STAGE_EXECVE;
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == 0 && out.err == 2);
	r.stage = STAGE_COUNT;
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == -1);

	/* ERR carries its message; one that would not fit is refused */
	r.stage = STAGE_CAP_DROP_BOUNDING;
	n = chan_encode(&r, "drop cap 5", 10, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == 0 && out.len == 10 &&
	      payload && !memcmp(payload, "drop cap 5", 10));
	n = chan_encode(&r, bpf, LINX_ERR_MSG_MAX, buf, sizeof(buf));
	CHECK(chan_decode(buf, n, &out, &payload) == -1);

	/* reserved must be zero */
	r.stage = STAGE_EXECVE;
	n = chan_encode(&r, NULL, 0, buf, sizeof(buf));
	buf[offsetof(struct chan_rec, reserved)] = 1;
	CHECK(chan_decode(buf, n, &out, &payload) == -1);
}

static void test_send_recv(void)
{
	static uint8_t bpf[CHAN_MAX_PAYLOAD], buf[CHAN_MAX_RECORD];
	struct chan_rec r = { .type = CHAN_SECCOMP_INSTALL }, out;
	const uint8_t *payload;
	int sv[2], passed, devnull;
	ssize_t n;

	CHECK(!socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	memset(bpf, 0xab, sizeof(bpf));
	CHECK(chan_send(sv[0], &r, bpf, sizeof(bpf)) == 0);
	n = chan_recv(sv[1], buf, sizeof(buf), 0, &passed);
	CHECK(n == (ssize_t)CHAN_MAX_RECORD && passed == -1);
	CHECK(chan_decode(buf, n, &out, &payload) == 0 &&
	      out.len == CHAN_MAX_PAYLOAD && payload[4095] == 0xab);

	/* nothing waiting: EAGAIN with MSG_DONTWAIT */
	CHECK(chan_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, NULL) == -1);

	/* a descriptor rides along (SCM_RIGHTS), received close-on-exec */
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	{
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr a;
		} ctl;
		struct chan_rec ok = { .type = CHAN_OK };
		struct iovec iov = { &ok, sizeof(ok) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &devnull, sizeof(int));
		CHECK(sendmsg(sv[0], &m, 0) == sizeof(ok));
	}
	n = chan_recv(sv[1], buf, sizeof(buf), 0, &passed);
	CHECK(n == sizeof(struct chan_rec) && passed >= 0);
	CHECK(passed >= 0 && (fcntl(passed, F_GETFD) & FD_CLOEXEC));
	if (passed >= 0)
		close(passed);
	close(devnull);

	/* peer gone: EOF */
	close(sv[0]);
	CHECK(chan_recv(sv[1], buf, sizeof(buf), 0, NULL) == 0);
	close(sv[1]);
}

static void test_error_text_cut(void)
{
	static char big[3000];
	struct linx_err e;
	size_t n;

	linx_fail(&e, 1, STAGE_CAP_DROP_BOUNDING, "drop cap %d", 5);
	CHECK(!strcmp(e.msg, "drop cap 5"));

	memset(big, 'x', sizeof(big) - 1);
	linx_fail(&e, 1, STAGE_NONE, "%s", big);
	n = strlen(e.msg);
	CHECK(n == LINX_ERR_MSG_MAX - 1);
	CHECK(!strcmp(e.msg + n - strlen(LINX_ERR_CUT_MARK), LINX_ERR_CUT_MARK));
}

/*
 * next_term() - the next frame of @q as text (ei_s_print_term, which
 * writes "{a, 1}"), for comparing whole terms; free() *@text
 */
static int next_term(struct byteq *q, char **text)
{
	const uint8_t *f = q->data + q->head;
	uint32_t len;
	int idx = 1;

	if (q->tail - q->head < 4)
		return -1;
	len = (uint32_t)f[0] << 24 | (uint32_t)f[1] << 16 |
	      (uint32_t)f[2] << 8 | f[3];
	*text = NULL;
	if (ei_s_print_term(text, (const char *)f + 4, &idx) < 0)
		return -1;
	q->head += 4 + len;
	return 0;
}

static void test_error_detail_frames(void)
{
	struct byteq q = { 0 };
	struct linx_err e;
	char *t = NULL;

	/* a message: the detail first, then the unchanged error frame */
	linx_fail(&e, 1, STAGE_CAP_SET_AMBIENT, "raise ambient cap %d", 12);
	CHECK(ev_fail(&q, &e) == 0);
	CHECK(next_term(&q, &t) == 0 && t &&
	      !strcmp(t, "{error_detail, cap_set_ambient, none, "
			 "#Bin<114,97,105,115,101,32,97,109,98,105,101,110,"
			 "116,32,99,97,112,32,49,50>}"));
	free(t);
	CHECK(next_term(&q, &t) == 0 && t &&
	      !strcmp(t, "{error, 1, cap_set_ambient}"));
	free(t);

	/* a refusal names its command */
	CHECK(ev_error_cmd(&q, 22, STAGE_BAD_STATE, "proceed", "") == 0);
	CHECK(next_term(&q, &t) == 0 && t &&
	      !strncmp(t, "{error_detail, bad_state, proceed, ", 35));
	free(t);
	CHECK(next_term(&q, &t) == 0 && t && !strcmp(t, "{error, 22, bad_state}"));
	free(t);

	/* nothing to add: the error frame alone */
	CHECK(ev_error(&q, 90, STAGE_COMMAND_TOO_BIG) == 0);
	CHECK(next_term(&q, &t) == 0 && t &&
	      !strcmp(t, "{error, 90, command_too_big}"));
	free(t);
	CHECK(byteq_pending(&q) == 0);
	byteq_free(&q);
}

TESTS(chan_tests) = {
	{ "error: a message too long is cut with a marker",
	  test_error_text_cut },
	{ "events: {:error_detail, …} precedes an explained error",
	  test_error_detail_frames },
	{ "chan: encode/decode and every length check",
	  test_roundtrip_and_checks },
	{ "chan: send/recv a 4096-insn filter and a descriptor",
	  test_send_recv },
	TEST_END
};
