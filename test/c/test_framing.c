/*
 * test_framing.c - the {packet,4} reader (partial reads, oversized frames
 * skipped without buffering, EOF in the middle) and the output queue
 * (partial writes against a full pipe, blocking flush).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"
#include "test.h"

/* PIPE_BUF: what one write(2) to a pipe puts there whole */
#define PIPE_BUF_LINUX 4096

static void nb_pipe(int p[2])
{
	CHECK(!pipe2(p, O_CLOEXEC | O_NONBLOCK));
}

static void hdr(uint8_t h[4], uint32_t len)
{
	h[0] = len >> 24;
	h[1] = len >> 16;
	h[2] = len >> 8;
	h[3] = len;
}

static void test_partial_reads(void)
{
	struct frame_reader r;
	uint8_t frame[4 + 5], *body = NULL;
	uint32_t len = 0;
	int p[2], i;

	nb_pipe(p);
	hdr(frame, 5);
	memcpy(frame + 4, "hello", 5);
	frame_reader_init(&r, p[0], 16);
	CHECK(frame_read(&r, &body, &len) == FRAME_AGAIN);
	/* one byte at a time: AGAIN until the last byte */
	for (i = 0; i < (int)sizeof(frame); i++) {
		enum frame_status st;

		CHECK(write(p[1], frame + i, 1) == 1);
		st = frame_read(&r, &body, &len);
		if (i < (int)sizeof(frame) - 1)
			CHECK(st == FRAME_AGAIN);
		else
			CHECK(st == FRAME_OK && len == 5 &&
			      !memcmp(body, "hello", 5) && body[5] == 0);
	}
	free(body);

	/* two frames in one write, and an empty frame */
	{
		uint8_t two[4 + 2 + 4];

		hdr(two, 2);
		memcpy(two + 4, "ab", 2);
		hdr(two + 6, 0);
		CHECK(write(p[1], two, sizeof(two)) == sizeof(two));
		CHECK(frame_read(&r, &body, &len) == FRAME_OK && len == 2);
		free(body);
		CHECK(frame_read(&r, &body, &len) == FRAME_OK && len == 0);
		free(body);
		CHECK(frame_read(&r, &body, &len) == FRAME_AGAIN);
	}

	/* EOF in the middle of a frame */
	CHECK(write(p[1], frame, 6) == 6);
	close(p[1]);
	CHECK(frame_read(&r, &body, &len) == FRAME_EOF);
	frame_reader_free(&r);
	close(p[0]);
}

static void test_oversized_skipped(void)
{
	struct frame_reader r;
	uint8_t h[4], junk[100], *body = NULL;
	uint32_t len = 0;
	int p[2];

	nb_pipe(p);
	frame_reader_init(&r, p[0], 16);
	hdr(h, sizeof(junk));
	memset(junk, 'j', sizeof(junk));
	CHECK(write(p[1], h, 4) == 4);
	CHECK(write(p[1], junk, 40) == 40);
	CHECK(frame_read(&r, &body, &len) == FRAME_TOO_BIG && len == 100);
	CHECK(r.buf == NULL);		/* never buffered */
	CHECK(frame_read(&r, &body, &len) == FRAME_AGAIN && r.skip == 60);
	CHECK(write(p[1], junk, 60) == 60);
	hdr(h, 3);
	CHECK(write(p[1], h, 4) == 4);
	CHECK(write(p[1], "xyz", 3) == 3);
	CHECK(frame_read(&r, &body, &len) == FRAME_AGAIN && r.skip == 0);
	CHECK(frame_read(&r, &body, &len) == FRAME_OK && len == 3 &&
	      !memcmp(body, "xyz", 3));
	free(body);
	frame_reader_free(&r);
	close(p[0]);
	close(p[1]);
}

static void test_byteq(void)
{
	struct byteq q = { 0 };
	static uint8_t big[1 << 20], back[(1 << 20) + 8];
	size_t got = 0, i;
	int p[2];
	ssize_t n;

	nb_pipe(p);
	for (i = 0; i < sizeof(big); i++)
		big[i] = i * 7;
	CHECK(byteq_push_frame(&q, big, sizeof(big)) == 0);
	CHECK(byteq_pending(&q) == sizeof(big) + 4);
	/* the pipe holds far less: a partial write, no error */
	CHECK(byteq_write(&q, p[1]) == 0);
	CHECK(byteq_pending(&q) > 0 && byteq_pending(&q) < sizeof(big) + 4);
	while (byteq_pending(&q) || got < sizeof(back) - 4) {
		n = read(p[0], back + got, sizeof(back) - got);
		if (n > 0)
			got += n;
		CHECK(byteq_write(&q, p[1]) == 0);
		if (n <= 0 && !byteq_pending(&q))
			break;
	}
	CHECK(got == sizeof(big) + 4);
	CHECK(back[0] == 0 && back[1] == 0x10 && back[2] == 0 && back[3] == 0);
	CHECK(!memcmp(back + 4, big, sizeof(big)));

	/* reader gone: EPIPE comes back as an error */
	CHECK(byteq_push(&q, "x", 1) == 0);
	close(p[0]);
	CHECK(byteq_write(&q, p[1]) == -1 && errno == EPIPE);
	close(p[1]);
	byteq_free(&q);
}

/*
 * read_packets() - every {packet,4} packet in @p[0] now: checks each one
 * is at most PIPE_BUF bytes and tagged with @id, appends the pieces of
 * op 5 and the op 2 that ends them to @frames (each frame prefixed by a
 * 4-byte length, as the queue held it). Return: frames completed.
 */
static int read_packets(int fd, uint32_t id, uint8_t *frames, size_t *flen,
			size_t *open)
{
	static uint8_t buf[1 << 16];
	static size_t have;
	int done = 0;
	ssize_t n;

	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0)
		have += n;
	while (have >= 4) {
		uint32_t len = (uint32_t)buf[0] << 24 | buf[1] << 16 |
			       buf[2] << 8 | buf[3];
		uint32_t got;

		if (have < 4 + len)
			break;
		CHECK(4 + len <= PIPE_BUF_LINUX && len >= BYTEQ_TAG_LEN);
		got = (uint32_t)buf[5] << 24 | buf[6] << 16 | buf[7] << 8 |
		      buf[8];
		CHECK(got == id);
		CHECK(buf[4] == BYTEQ_OP_MORE || buf[4] == BYTEQ_OP_LAST);
		if (*open == SIZE_MAX) {	/* a new frame: room for its length */
			*open = *flen;
			*flen += 4;
		}
		memcpy(frames + *flen, buf + 4 + BYTEQ_TAG_LEN,
		       len - BYTEQ_TAG_LEN);
		*flen += len - BYTEQ_TAG_LEN;
		if (buf[4] == BYTEQ_OP_LAST) {
			hdr(frames + *open, (uint32_t)(*flen - *open - 4));
			*open = SIZE_MAX;
			done++;
		}
		memmove(buf, buf + 4 + len, have - 4 - len);
		have -= 4 + len;
	}
	return done;
}

/*
 * test_tagged() - frames onto a shared pipe: an empty one, a small one and
 * one of 3 pipe-loads go as tagged pieces of at most PIPE_BUF bytes, across
 * EAGAIN in the middle of a frame (a one-page pipe), and come back whole
 */
static void test_tagged(void)
{
	static uint8_t big[3 * 4096 + 17], back[sizeof(big) + 64];
	struct byteq q = { 0 };
	size_t left = 0, flen = 0, open = SIZE_MAX, i;
	int p[2], frames = 0, rounds = 0;
	uint8_t want[sizeof(back)];
	size_t wlen = 0;

	nb_pipe(p);
	CHECK(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13 + 1);
	CHECK(byteq_push_frame(&q, "", 0) == 0);
	CHECK(byteq_push_frame(&q, "hi", 2) == 0);
	CHECK(byteq_push_frame(&q, big, sizeof(big)) == 0);
	memcpy(want, q.data, q.tail);
	wlen = q.tail;
	while (frames < 3 && rounds++ < 100) {
		CHECK(byteq_write_tagged(&q, p[1], 0xA1B2C3D4u, &left) == 0);
		frames += read_packets(p[0], 0xA1B2C3D4u, back, &flen, &open);
	}
	CHECK(frames == 3 && rounds > 3);	/* it had to wait for room */
	CHECK(!byteq_pending(&q) && left == 0);
	CHECK(flen == wlen && !memcmp(back, want, wlen));
	close(p[0]);
	close(p[1]);
	byteq_free(&q);
}

/*
 * test_write_frames() - whole frames, batched up to PIPE_BUF per write:
 * 1000 frames of 13 bytes arrive intact and in order through a one-page
 * pipe drained between writes, never cut
 */
static void test_write_frames(void)
{
	struct byteq q = { 0 };
	uint8_t body[9], buf[4096];
	int p[2], seen = 0, rounds = 0;
	size_t have = 0;

	nb_pipe(p);
	CHECK(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
	for (int i = 0; i < 1000; i++) {
		memset(body, i & 0xff, sizeof(body));
		CHECK(byteq_push_frame(&q, body, sizeof(body)) == 0);
	}
	while (seen < 1000 && rounds++ < 1000) {
		ssize_t n;

		CHECK(byteq_write_frames(&q, p[1]) == 0);
		n = read(p[0], buf + have, sizeof(buf) - have);
		if (n > 0)
			have += n;
		/* what a write put in the pipe ends on a frame boundary */
		CHECK(have % 13 == 0);
		for (size_t k = 0; k + 13 <= have; k += 13, seen++)
			CHECK(buf[k + 3] == 9 && buf[k + 4] == (seen & 0xff));
		have = 0;
	}
	CHECK(seen == 1000 && !byteq_pending(&q));
	close(p[0]);
	close(p[1]);
	byteq_free(&q);
}

TESTS(framing_tests) = {
	{ "framing: tagged pieces on a shared pipe, across EAGAIN",
	  test_tagged },
	{ "framing: whole frames per atomic write",
	  test_write_frames },
	{ "framing: partial reads, several frames, EOF mid-frame",
	  test_partial_reads },
	{ "framing: oversized frame skipped without buffering",
	  test_oversized_skipped },
	{ "framing: output queue against a full pipe, EPIPE",
	  test_byteq },
	TEST_END
};
