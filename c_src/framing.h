/*
 * framing.h - {packet,4} frames between the BEAM and the agent.
 *
 * Input (fd 3): a non-blocking reader keeping partial-read state; the body
 * buffer is sized from the 4-byte big-endian header, up to LINX_MAX_FRAME.
 * A larger frame is reported once and then skipped without buffering.
 *
 * Output (fd 4): a byte queue of encoded frames, written as the descriptor
 * becomes writable, so the event loop never blocks on the BEAM. The same
 * queue type buffers bytes for the workload's stdin and the PTY master.
 */
#ifndef LINX_FRAMING_H
#define LINX_FRAMING_H

#include <stddef.h>
#include <stdint.h>

/* Largest BEAM -> agent frame body accepted (docs/protocol.md). */
#define LINX_MAX_FRAME (16u << 20)

/*
 * Zeroed bytes allocated after every received body: ei's decoders read
 * fixed-size headers without knowing the buffer length, so a truncated
 * term must run into zeros, never into foreign memory.
 */
#define LINX_FRAME_PAD 64

enum frame_status {
	FRAME_AGAIN,	/* no complete frame yet (EAGAIN) */
	FRAME_OK,	/* *body holds a complete frame */
	FRAME_TOO_BIG,	/* header announced > max; the body is being skipped */
	FRAME_EOF,	/* end of file (possibly in the middle of a frame) */
	FRAME_ERROR,	/* read error, errno set */
};

/**
 * struct frame_reader - partial-read state of the input side
 * @fd:		descriptor (non-blocking)
 * @max:	largest body accepted
 * @hdr:	header bytes read so far
 * @hdr_len:	how many of them
 * @len:	body length announced by the header
 * @buf:	body buffer (len + LINX_FRAME_PAD bytes), NULL between frames
 * @got:	body bytes read so far
 * @skip:	bytes of an oversized body still to discard
 */
struct frame_reader {
	int fd;
	uint32_t max;
	uint8_t hdr[4];
	size_t hdr_len;
	uint32_t len;
	uint8_t *buf;
	size_t got;
	uint32_t skip;
};

void frame_reader_init(struct frame_reader *r, int fd, uint32_t max);
enum frame_status frame_read(struct frame_reader *r, uint8_t **body,
			     uint32_t *len);
void frame_reader_free(struct frame_reader *r);

/**
 * struct byteq - a FIFO of bytes written to a non-blocking descriptor
 * @data:	storage
 * @head:	first unwritten byte
 * @tail:	end of queued bytes
 * @cap:	size of @data
 */
struct byteq {
	uint8_t *data;
	size_t head, tail, cap;
};

int byteq_push(struct byteq *q, const void *buf, size_t len);
int byteq_push_frame(struct byteq *q, const void *body, size_t len);
size_t byteq_pending(const struct byteq *q);
int byteq_write(struct byteq *q, int fd);
int byteq_flush(struct byteq *q, int fd);

/*
 * A pipe shared by several writers (the zygote's to the BEAM): frames
 * tagged <<op, id:32>> and cut into pieces of at most PIPE_BUF bytes
 * (header included), each one write(2), so no writer's packet is ever
 * interleaved with another's (docs/protocol.md, "The spawner").
 */
#define BYTEQ_TAG_LEN 5
#define BYTEQ_PIECE (4096 - 4 - BYTEQ_TAG_LEN)	/* PIPE_BUF on Linux */
#define BYTEQ_OP_LAST 2	/* the frame ends with this piece */
#define BYTEQ_OP_MORE 5	/* more pieces of the frame follow */

int byteq_write_tagged(struct byteq *q, int fd, uint32_t id, size_t *left);
int byteq_flush_tagged(struct byteq *q, int fd, uint32_t id, size_t *left);
int byteq_write_frames(struct byteq *q, int fd);
void byteq_clear(struct byteq *q);
void byteq_free(struct byteq *q);

#endif /* LINX_FRAMING_H */
