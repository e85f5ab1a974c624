/*
 * test_chan.c - child <-> agent records: encode/decode round trips, the
 * length checks of chan_decode, and send/recv over a real SEQPACKET pair
 * (a full 4096-instruction filter, a passed descriptor).
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
	r.type = CHAN_CAPS + 1;
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

TESTS(chan_tests) = {
	{ "chan: encode/decode and every length check",
	  test_roundtrip_and_checks },
	{ "chan: send/recv a 4096-insn filter and a descriptor",
	  test_send_recv },
	TEST_END
};
