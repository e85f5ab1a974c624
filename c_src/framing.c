/*
 * framing.c - the {packet,4} reader (fd 3) and the output byte queues.
 * See framing.h for the model.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "framing.h"

/**
 * frame_reader_init() - set up a reader
 * @r:		reader
 * @fd:		non-blocking descriptor to read from
 * @max:	largest body accepted (LINX_MAX_FRAME; tests use less)
 */
void frame_reader_init(struct frame_reader *r, int fd, uint32_t max)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->max = max;
}

/**
 * frame_reader_free() - drop a partially read frame
 * @r:		reader
 */
void frame_reader_free(struct frame_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

/*
 * read_some() - one read(2), EINTR retried. Returns read's result.
 */
static ssize_t read_some(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

/**
 * frame_read() - make progress on the next frame
 * @r:		reader
 * @body:	set to the frame body on FRAME_OK (caller frees; it is
 *		followed by LINX_FRAME_PAD zero bytes)
 * @len:	set to the body length on FRAME_OK and FRAME_TOO_BIG
 *
 * Reads exactly the bytes of the current frame, never beyond it, so the
 * caller may stop calling at any frame boundary and leave the rest in the
 * pipe. An oversized frame is reported once (FRAME_TOO_BIG) when its header
 * arrives; its body is then discarded by later calls, the last of which
 * returns FRAME_AGAIN (r->skip is then 0).
 *
 * Return: enum frame_status
 */
enum frame_status frame_read(struct frame_reader *r, uint8_t **body,
			     uint32_t *len)
{
	uint8_t scratch[65536];
	ssize_t n;

	for (;;) {
		if (r->skip) {
			size_t want = r->skip < sizeof(scratch) ?
				      r->skip : sizeof(scratch);

			n = read_some(r->fd, scratch, want);
			if (n == 0)
				return FRAME_EOF;
			if (n < 0)
				return errno == EAGAIN ? FRAME_AGAIN :
							 FRAME_ERROR;
			r->skip -= n;
			if (!r->skip)
				return FRAME_AGAIN;	/* poll is level-triggered */
			continue;
		}

		if (r->hdr_len < sizeof(r->hdr)) {
			n = read_some(r->fd, r->hdr + r->hdr_len,
				      sizeof(r->hdr) - r->hdr_len);
			if (n == 0)
				return FRAME_EOF;
			if (n < 0)
				return errno == EAGAIN ? FRAME_AGAIN :
							 FRAME_ERROR;
			r->hdr_len += n;
			if (r->hdr_len < sizeof(r->hdr))
				continue;

			r->len = (uint32_t)r->hdr[0] << 24 |
				 (uint32_t)r->hdr[1] << 16 |
				 (uint32_t)r->hdr[2] << 8 | r->hdr[3];
			if (r->len > r->max) {
				/* Never buffer it: skip, answer, go on */
				*len = r->len;
				r->skip = r->len;
				r->hdr_len = 0;
				return FRAME_TOO_BIG;
			}
			r->buf = calloc(1, (size_t)r->len + LINX_FRAME_PAD);
			if (!r->buf)
				return FRAME_ERROR;
			r->got = 0;
		}

		if (r->got < r->len) {
			n = read_some(r->fd, r->buf + r->got, r->len - r->got);
			if (n == 0)
				return FRAME_EOF;
			if (n < 0)
				return errno == EAGAIN ? FRAME_AGAIN :
							 FRAME_ERROR;
			r->got += n;
			if (r->got < r->len)
				continue;
		}

		*body = r->buf;
		*len = r->len;
		r->buf = NULL;
		r->hdr_len = 0;
		r->got = 0;
		return FRAME_OK;
	}
}

/**
 * byteq_pending() - bytes queued and not yet written
 * @q:		queue
 *
 * Return: byte count
 */
size_t byteq_pending(const struct byteq *q)
{
	return q->tail - q->head;
}

/*
 * byteq_reserve() - make room for @len more bytes at the tail, moving the
 * live bytes to the front first (cheap: the queue is kept short by
 * backpressure) and growing by doubling if needed.
 */
static int byteq_reserve(struct byteq *q, size_t len)
{
	size_t live = q->tail - q->head;
	size_t cap;
	uint8_t *d;

	if (q->cap - q->tail >= len)
		return 0;
	if (q->head) {
		memmove(q->data, q->data + q->head, live);
		q->head = 0;
		q->tail = live;
		if (q->cap - q->tail >= len)
			return 0;
	}
	cap = q->cap ? q->cap : 4096;
	while (cap - live < len) {
		if (cap > SIZE_MAX / 2) {
			errno = ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	d = realloc(q->data, cap);
	if (!d)
		return -1;
	q->data = d;
	q->cap = cap;
	return 0;
}

/**
 * byteq_push() - append raw bytes
 * @q:		queue
 * @buf:	bytes
 * @len:	how many
 *
 * Return: 0, or -1 (ENOMEM)
 */
int byteq_push(struct byteq *q, const void *buf, size_t len)
{
	if (!len)
		return 0;
	if (byteq_reserve(q, len))
		return -1;
	memcpy(q->data + q->tail, buf, len);
	q->tail += len;
	return 0;
}

/**
 * byteq_push_frame() - append a 4-byte big-endian length and a body
 * @q:		queue
 * @body:	frame body
 * @len:	body length
 *
 * Return: 0, or -1 (ENOMEM, or EMSGSIZE above 4 GiB)
 */
int byteq_push_frame(struct byteq *q, const void *body, size_t len)
{
	uint8_t hdr[4];

	if (len > UINT32_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	hdr[0] = len >> 24;
	hdr[1] = len >> 16;
	hdr[2] = len >> 8;
	hdr[3] = len;
	if (byteq_reserve(q, len + sizeof(hdr)))
		return -1;
	byteq_push(q, hdr, sizeof(hdr));
	return byteq_push(q, body, len);
}

/**
 * byteq_write() - write as much as the descriptor takes now
 * @q:		queue
 * @fd:		non-blocking descriptor
 *
 * Return: 0 (possibly with bytes left: EAGAIN is not an error), or -1 with
 * errno set (EPIPE: the reader is gone)
 */
int byteq_write(struct byteq *q, int fd)
{
	while (q->tail > q->head) {
		ssize_t n = write(fd, q->data + q->head, q->tail - q->head);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		q->head += n;
	}
	q->head = q->tail = 0;
	return 0;
}

_Static_assert(4 + BYTEQ_TAG_LEN + BYTEQ_PIECE <= PIPE_BUF,
	       "a tagged piece must fit one atomic pipe write");

/*
 * The tagged writer's arguments, for flush_with()
 */
struct tagged {
	uint32_t id;
	size_t *left;
};

static int write_plain(struct byteq *q, int fd, const struct tagged *t)
{
	(void)t;
	return byteq_write(q, fd);
}

static int write_tagged(struct byteq *q, int fd, const struct tagged *t)
{
	return byteq_write_tagged(q, fd, t->id, t->left);
}

/*
 * flush_with() - write everything with @w, waiting for the descriptor
 */
static int flush_with(struct byteq *q, int fd,
		      int (*w)(struct byteq *, int, const struct tagged *),
		      const struct tagged *t)
{
	while (byteq_pending(q)) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (w(q, fd, t))
			return -1;
		if (!byteq_pending(q))
			break;
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

/**
 * byteq_flush() - write everything, waiting for the descriptor as needed
 * @q:		queue
 * @fd:		descriptor (blocking or not)
 *
 * Only used on the way out (terminal frame, error exit): it blocks.
 *
 * Return: 0, or -1 with errno set
 */
int byteq_flush(struct byteq *q, int fd)
{
	return flush_with(q, fd, write_plain, NULL);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/**
 * byteq_write_tagged() - write queued frames onto a pipe other processes
 * write to as well (the zygote's, docs/protocol.md "The spawner")
 * @q:		frames, as byteq_push_frame() queued them
 * @fd:		non-blocking pipe
 * @id:		the channel id every packet is tagged with
 * @left:	in/out: bytes of the frame in progress still to send (its
 *		length header already taken off @q); 0 between frames
 *
 * Each frame goes as <<op, id:32, piece>> packets of at most PIPE_BUF
 * bytes, one write(2) each: the kernel writes such a packet whole or not
 * at all, never interleaved with another writer's. A frame too long for
 * one packet is cut: op 5 ("more follows") for every piece but the last,
 * op 2 for the last (and for a frame that fits).
 *
 * Return: 0 (possibly with bytes left: EAGAIN is not an error), or -1
 * with errno set (EPIPE: the reader is gone)
 */
int byteq_write_tagged(struct byteq *q, int fd, uint32_t id, size_t *left)
{
	while (q->tail > q->head) {
		uint8_t hdr[4 + BYTEQ_TAG_LEN];
		struct iovec iov[2];
		size_t n;

		if (!*left) {
			*left = get_be32(q->data + q->head);
			q->head += 4;
		}
		n = *left < BYTEQ_PIECE ? *left : BYTEQ_PIECE;
		put_be32(hdr, (uint32_t)(n + BYTEQ_TAG_LEN));
		hdr[4] = n == *left ? BYTEQ_OP_LAST : BYTEQ_OP_MORE;
		put_be32(hdr + 5, id);
		iov[0] = (struct iovec){ .iov_base = hdr, .iov_len = sizeof(hdr) };
		iov[1] = (struct iovec){ .iov_base = q->data + q->head,
					 .iov_len = n };
		if (writev(fd, iov, 2) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		q->head += n;
		*left -= n;
		/* an empty frame: its one packet is sent, the next one starts */
		if (!n)
			*left = 0;
	}
	q->head = q->tail = 0;
	return 0;
}

/**
 * byteq_flush_tagged() - byteq_flush() with byteq_write_tagged()
 * @q:		queue
 * @fd:		non-blocking pipe
 * @id:		channel id
 * @left:	as for byteq_write_tagged()
 *
 * Return: 0, or -1 with errno set
 */
int byteq_flush_tagged(struct byteq *q, int fd, uint32_t id, size_t *left)
{
	struct tagged t = { .id = id, .left = left };

	return flush_with(q, fd, write_tagged, &t);
}

/**
 * byteq_write_frames() - write whole frames, as many as fit in one
 * atomic pipe write (PIPE_BUF) at a time: the zygote shares its pipe to
 * the BEAM with the agents' byteq_write_tagged(). Every frame queued must
 * fit in PIPE_BUF (the zygote's own are a few bytes).
 * @q:		frames
 * @fd:		non-blocking pipe
 *
 * Return: 0 (possibly with bytes left), or -1 with errno set
 */
int byteq_write_frames(struct byteq *q, int fd)
{
	while (q->tail > q->head) {
		size_t n = 0;
		ssize_t w;

		while (q->head + n + 4 <= q->tail) {
			size_t len = 4 + get_be32(q->data + q->head + n);

			if (n && n + len > PIPE_BUF)
				break;
			n += len;
		}
		w = write(fd, q->data + q->head, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		q->head += (size_t)w;
	}
	q->head = q->tail = 0;
	return 0;
}

/**
 * byteq_clear() - drop every queued byte
 * @q:		queue
 */
void byteq_clear(struct byteq *q)
{
	q->head = q->tail = 0;
}

/**
 * byteq_free() - release the storage
 * @q:		queue
 */
void byteq_free(struct byteq *q)
{
	free(q->data);
	q->data = NULL;
	q->head = q->tail = q->cap = 0;
}
