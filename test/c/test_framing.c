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

TESTS(framing_tests) = {
	{ "framing: partial reads, several frames, EOF mid-frame",
	  test_partial_reads },
	{ "framing: oversized frame skipped without buffering",
	  test_oversized_skipped },
	{ "framing: output queue against a full pipe, EPIPE",
	  test_byteq },
	TEST_END
};
