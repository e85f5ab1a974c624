/*
 * fuzz_framing.c - libFuzzer harness for the {packet,4} reader
 * (frame_read) and the output queue (byteq_push_frame / byteq_write), fed
 * through a real non-blocking pipe, as the agent's fd 3 and fd 4 are.
 *
 * Input layout:
 *   byte 0	the reader's limit: 255 is LINX_MAX_FRAME, else 16 * byte
 *		(so small limits make oversized frames cheap to reach)
 *   byte 1	seed of the chunk schedule: the stream is written into the
 *		pipe in pseudo-random chunks of 1 .. 2^(byte1 % 13) bytes
 *		(at least 1/256 of the stream, to bound the syscalls per
 *		input), and the reader is driven to EAGAIN after each chunk
 *   rest	the byte stream, as the BEAM would write it
 *
 * The reader's events (frames, oversized frames, EOF) must equal those of
 * a one-shot reference parse of the same stream, whatever the chunking;
 * every body must be followed by LINX_FRAME_PAD zero bytes. The frames
 * accepted are then queued with byteq_push_frame and written through a
 * second pipe with byteq_write (partial writes when the pipe is full):
 * what comes out must be exactly those frames, header and body.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "framing.h"
#include "fuzz_common.h"

/* one expected event of the reference parse */
struct event {
	enum frame_status st;	/* FRAME_OK or FRAME_TOO_BIG */
	size_t off;		/* body offset in the stream (FRAME_OK) */
	uint32_t len;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/*
 * reference_parse() - the events a correct reader reports for @s, up to
 * EOF. Returns how many were written to @ev (at most @cap).
 */
static size_t reference_parse(const uint8_t *s, size_t n, uint32_t max,
			      struct event *ev, size_t cap)
{
	size_t pos = 0, k = 0;

	while (n - pos >= 4 && k < cap) {
		uint32_t len = be32(s + pos);

		pos += 4;
		if (len > max) {
			ev[k++] = (struct event){ FRAME_TOO_BIG, 0, len };
			if (n - pos < len)
				break;
			pos += len;
			continue;
		}
		if (n - pos < len)
			break;
		ev[k++] = (struct event){ FRAME_OK, pos, len };
		pos += len;
	}
	return k;
}

static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void nb_pipe(int p[2])
{
	FUZZ_ASSERT(!pipe2(p, O_CLOEXEC | O_NONBLOCK));
}

struct run {
	const uint8_t *s;
	struct event *ev;
	size_t nev, seen;
	struct byteq q;
};

/*
 * on_event() - compare one event of the reader with the reference
 */
static void on_event(struct run *r, enum frame_status st, uint8_t *body,
		     uint32_t len)
{
	const struct event *e;
	size_t i;

	FUZZ_ASSERT(r->seen < r->nev);
	e = &r->ev[r->seen++];
	FUZZ_ASSERT(st == e->st);
	FUZZ_ASSERT(len == e->len);
	if (st != FRAME_OK)
		return;
	FUZZ_ASSERT(body != NULL);
	FUZZ_ASSERT(!len || !memcmp(body, r->s + e->off, len));
	for (i = 0; i < LINX_FRAME_PAD; i++)
		FUZZ_ASSERT(body[len + i] == 0);
	FUZZ_ASSERT(!byteq_push_frame(&r->q, body, len));
	free(body);
}

/*
 * drain() - call frame_read until it has nothing more to give. Two
 * FRAME_AGAIN in a row: the end of a skipped body also returns AGAIN
 * (the agent's poll is level-triggered), the second one is the pipe's.
 * Returns the last non-AGAIN status, or FRAME_AGAIN.
 */
static enum frame_status drain(struct run *r, struct frame_reader *fr)
{
	int again = 0;

	for (;;) {
		uint8_t *body = NULL;
		uint32_t len = 0;
		enum frame_status st = frame_read(fr, &body, &len);

		switch (st) {
		case FRAME_AGAIN:
			if (++again == 2)
				return FRAME_AGAIN;
			continue;
		case FRAME_OK:
		case FRAME_TOO_BIG:
			again = 0;
			on_event(r, st, body, len);
			continue;
		case FRAME_EOF:
			return st;
		case FRAME_ERROR:
			fprintf(stderr, "frame_read: FRAME_ERROR, errno %d\n",
				errno);
			abort();
		}
	}
}

/*
 * check_output() - write the queue through a small pipe, reading back as
 * it fills, and compare with the accepted frames of the stream
 */
static void check_output(struct run *r)
{
	uint8_t buf[4096];
	size_t k, want = 0, got = 0;
	uint8_t *expect;
	int p[2];

	for (k = 0; k < r->nev; k++)
		if (r->ev[k].st == FRAME_OK)
			want += 4 + r->ev[k].len;
	FUZZ_ASSERT(byteq_pending(&r->q) == want);
	expect = malloc(want + 1);
	FUZZ_ASSERT(expect);
	for (k = 0; k < r->nev; k++)
		if (r->ev[k].st == FRAME_OK) {
			memcpy(expect + got, r->s + r->ev[k].off - 4,
			       4 + r->ev[k].len);
			got += 4 + r->ev[k].len;
		}

	nb_pipe(p);
	fcntl(p[1], F_SETPIPE_SZ, 4096);	/* force partial writes */
	got = 0;
	while (byteq_pending(&r->q) || got < want) {
		ssize_t n;

		FUZZ_ASSERT(!byteq_write(&r->q, p[1]));
		n = read(p[0], buf, sizeof(buf));
		if (n < 0) {
			FUZZ_ASSERT(errno == EAGAIN);
			continue;
		}
		FUZZ_ASSERT(got + n <= want);
		FUZZ_ASSERT(!memcmp(buf, expect + got, n));
		got += n;
	}
	FUZZ_ASSERT(byteq_pending(&r->q) == 0);
	close(p[0]);
	close(p[1]);
	free(expect);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event ev[65536];
	struct frame_reader fr;
	struct run r = { 0 };
	enum frame_status st;
	uint32_t max, seed;
	size_t n, pos = 0, min_chunk;
	int p[2], bound;

	if (size < 2)
		return 0;
	max = data[0] == 255 ? LINX_MAX_FRAME : 16u * data[0];
	seed = 0x9e3779b9u ^ data[1];
	r.s = data + 2;
	n = size - 2;
	r.ev = ev;
	r.nev = reference_parse(r.s, n, max, ev, sizeof(ev) / sizeof(ev[0]));
	if (r.nev == sizeof(ev) / sizeof(ev[0]))
		return 0;	/* absurd input; keep the comparison exact */

	min_chunk = n / 256;
	nb_pipe(p);
	frame_reader_init(&fr, p[0], max);
	st = FRAME_AGAIN;
	while (pos < n) {
		size_t chunk = 1 + next_rand(&seed) % (1u << (data[1] % 13));
		ssize_t w;

		if (chunk < min_chunk)
			chunk = min_chunk;
		if (chunk > n - pos)
			chunk = n - pos;
		w = write(p[1], r.s + pos, chunk);
		FUZZ_ASSERT(w > 0);	/* drained after every chunk */
		pos += w;
		st = drain(&r, &fr);
		FUZZ_ASSERT(st == FRAME_AGAIN);
	}
	close(p[1]);
	for (bound = 0; st != FRAME_EOF; bound++) {
		FUZZ_ASSERT(bound < 4);
		st = drain(&r, &fr);
	}
	FUZZ_ASSERT(r.seen == r.nev);
	frame_reader_free(&fr);
	close(p[0]);

	check_output(&r);
	byteq_free(&r.q);
	return 0;
}
