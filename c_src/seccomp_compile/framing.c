/* framing.c - {packet, 4} frames on fds 3/4 (see framing.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"

/* read_full() - read exactly @len bytes; Return: bytes read (< len on EOF), -1 on error */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* skip() - discard @len bytes of an oversized frame, in small chunks */
static int skip(size_t len)
{
	char chunk[65536];

	while (len > 0) {
		size_t want = len < sizeof(chunk) ? len : sizeof(chunk);
		ssize_t n = read_full(SC_FD_IN, chunk, want);

		if (n != (ssize_t)want)
			return -1;
		len -= want;
	}
	return 0;
}

enum frame_status frame_read(char **body, size_t *len, struct sc_error *err)
{
	unsigned char hdr[4];
	ssize_t n = read_full(SC_FD_IN, hdr, sizeof(hdr));
	uint32_t size;
	char *buf;

	*body = NULL;
	*len = 0;
	if (n == 0)
		return FRAME_EOF;
	if (n < 0) {
		sc_fail(err, "reading a frame header: %s", strerror(errno));
		return FRAME_FAILED;
	}
	if (n != sizeof(hdr)) {
		sc_fail(err, "end of input inside a frame header");
		return FRAME_FAILED;
	}
	size = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	       (uint32_t)hdr[2] << 8 | hdr[3];
	*len = size;
	if (size > SC_MAX_FRAME) {
		if (skip(size) < 0) {
			sc_fail(err, "end of input inside an oversized frame");
			return FRAME_FAILED;
		}
		return FRAME_TOO_BIG;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		sc_fail(err, "allocating %u bytes for a frame", size);
		return FRAME_FAILED;
	}
	n = read_full(SC_FD_IN, buf, size);
	if (n != (ssize_t)size) {
		free(buf);
		sc_fail(err, "end of input inside a %u-byte frame", size);
		return FRAME_FAILED;
	}
	*body = buf;
	return FRAME_OK;
}

int frame_write(const char *body, size_t len, struct sc_error *err)
{
	unsigned char hdr[4] = { (unsigned char)(len >> 24), (unsigned char)(len >> 16),
				 (unsigned char)(len >> 8), (unsigned char)len };

	if (write_full(SC_FD_OUT, hdr, sizeof(hdr)) < 0 ||
	    write_full(SC_FD_OUT, body, len) < 0)
		return sc_fail(err, "writing a %zu-byte frame: %s", len, strerror(errno));
	return 0;
}
