/*
 * chan.c - encode, length-checked decode, send and receive of the
 * child <-> agent records (see chan.h). chan_send and chan_recv run in the
 * child too: no allocation, no stdio.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "chan.h"
#include "error.h"

/**
 * chan_encode() - lay out a record and its payload in @out
 * @rec:	fixed part (its @len is ignored and set from @plen)
 * @payload:	payload bytes or NULL
 * @plen:	payload length
 * @out:	destination
 * @cap:	size of @out
 *
 * Return: bytes written, or -1 (EMSGSIZE) if it does not fit
 */
ssize_t chan_encode(const struct chan_rec *rec, const void *payload,
		    size_t plen, void *out, size_t cap)
{
	struct chan_rec h = *rec;

	if (plen > CHAN_MAX_PAYLOAD || sizeof(h) + plen > cap) {
		errno = EMSGSIZE;
		return -1;
	}
	h.len = plen;
	h.reserved = 0;
	memcpy(out, &h, sizeof(h));
	if (plen)
		memcpy((char *)out + sizeof(h), payload, plen);
	return sizeof(h) + plen;
}

/**
 * chan_decode() - validate a received record
 * @buf:	bytes of one packet
 * @n:		packet length
 * @rec:	fixed part, copied out (alignment-safe)
 * @payload:	set to the payload inside @buf (or NULL when there is none)
 *
 * Checks: the packet holds the fixed part, the type is known, @len matches
 * the packet, only seccomp_install and seccomp_notify_install have a
 * payload (a whole number of 8-byte instructions, 1..4096) besides ERR
 * (its message, shorter than LINX_ERR_MSG_MAX), reserved is zero, an
 * error stage is in range.
 *
 * Return: 0, or -1 with errno EPROTO
 */
int chan_decode(const void *buf, size_t n, struct chan_rec *rec,
		const uint8_t **payload)
{
	*payload = NULL;
	if (n < sizeof(*rec))
		goto bad;
	memcpy(rec, buf, sizeof(*rec));
	if (rec->reserved || rec->len != n - sizeof(*rec))
		goto bad;

	switch (rec->type) {
	case CHAN_SECCOMP_INSTALL:
	case CHAN_SECCOMP_NOTIFY_INSTALL:
		if (!rec->len || rec->len % 8 || rec->len > CHAN_MAX_PAYLOAD)
			goto bad;
		*payload = (const uint8_t *)buf + sizeof(*rec);
		return 0;
	case CHAN_ERR:
		if (rec->stage <= STAGE_NONE || rec->stage >= STAGE_COUNT ||
		    rec->err < 0 || rec->len >= LINX_ERR_MSG_MAX)
			goto bad;
		if (rec->len)
			*payload = (const uint8_t *)buf + sizeof(*rec);
		return 0;
	case CHAN_READY:
	case CHAN_OK:
	case CHAN_CAPS:
	case CHAN_LISTENER_AT:
		if (rec->len)
			goto bad;
		return 0;
	default:
		/* every other agent -> child record: masks only */
		if (rec->type < CHAN_PROCEED || rec->type >= CHAN_TYPE_END ||
		    rec->len)
			goto bad;
		return 0;
	}
bad:
	errno = EPROTO;
	return -1;
}

/**
 * chan_send() - send one record as one packet
 * @fd:		channel end
 * @rec:	fixed part (@len set from @plen)
 * @payload:	payload or NULL
 * @plen:	payload length
 *
 * MSG_NOSIGNAL: a dead peer is EPIPE, never SIGPIPE (the child may already
 * have reset SIGPIPE to its default action).
 *
 * Return: 0, or -1 with errno set
 */
int chan_send(int fd, const struct chan_rec *rec, const void *payload,
	      size_t plen)
{
	struct chan_rec h = *rec;
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = plen },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = plen ? 2 : 1 };
	ssize_t n;

	if (plen > CHAN_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	h.len = plen;
	h.reserved = 0;
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof(h) + plen) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/**
 * chan_send_fd() - send one record without payload, and a descriptor
 * @fd:		channel end
 * @rec:	fixed part
 * @passfd:	descriptor passed with SCM_RIGHTS
 *
 * Return: 0, or -1 with errno set
 */
int chan_send_fd(int fd, const struct chan_rec *rec, int passfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct chan_rec h = *rec;
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	memset(&ctl, 0, sizeof(ctl));
	h.len = 0;
	h.reserved = 0;
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof(h)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/**
 * chan_recv() - receive one packet, and a descriptor if one came along
 * @fd:		channel end
 * @buf:	destination (CHAN_MAX_RECORD bytes is always enough)
 * @cap:	its size
 * @flags:	recvmsg flags (MSG_DONTWAIT)
 * @passed_fd:	set to a descriptor passed with SCM_RIGHTS, else -1; may be
 *		NULL, then such a descriptor is closed
 *
 * A truncated packet (MSG_TRUNC) is reported as EMSGSIZE.
 *
 * Return: packet length, 0 at EOF, or -1 with errno set
 */
ssize_t chan_recv(int fd, void *buf, size_t cap, int flags, int *passed_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	int got = -1;
	ssize_t n;

	if (passed_fd)
		*passed_fd = -1;
	do
		n = recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;

	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&got, CMSG_DATA(c), sizeof(int));
	if (got >= 0) {
		if (passed_fd)
			*passed_fd = got;
		else
			close(got);
	}
	if (msg.msg_flags & MSG_TRUNC) {
		if (got >= 0 && passed_fd) {
			close(got);
			*passed_fd = -1;
		}
		errno = EMSGSIZE;
		return -1;
	}
	return n;
}
