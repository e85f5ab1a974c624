/*
 * unix_sock.c - connect a stream socket to a unix path, with or without
 * a deadline. Async-signal-safe (system calls only, no allocation): the
 * child calls it after fork, at :proceed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_sock.h"

/**
 * unix_connect() - a stream socket (close-on-exec) connected to @path
 * @path:	the socket's path
 * @timeout_s:	0: connect blocks as long as the listener's backlog stays
 *		full; else fail with ETIMEDOUT after that many seconds
 *
 * The deadline is the kernel's own: unix_stream_connect() waits for room
 * in the backlog for at most SO_SNDTIMEO, then fails with EAGAIN. (A
 * non-blocking AF_UNIX connect never returns EINPROGRESS: it fails at once
 * with EAGAIN when the backlog is full, so it would need a sleep-and-retry
 * loop; the timed wait wakes as soon as the listener accepts.) The socket
 * stays blocking throughout, and the timeout is cleared again before the
 * socket is returned, so later writes block as on any socket.
 *
 * Return: the descriptor, or -1 with errno (ENAMETOOLONG, ETIMEDOUT,
 * connect's own)
 */
int unix_connect(const char *path, int timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval limit = { .tv_sec = timeout_s };
	const struct timeval none = { 0 };
	size_t len = strlen(path);
	int fd, e;

	if (len >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (timeout_s &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)))
		goto fail;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (timeout_s && errno == EAGAIN)
			errno = ETIMEDOUT;	/* the backlog stayed full */
		goto fail;
	}
	if (timeout_s &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none)))
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}
