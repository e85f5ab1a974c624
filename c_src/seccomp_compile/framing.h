/* framing.h - {packet, 4} frames on fds 3 (in) and 4 (out).
 *
 * Owns the byte stream only: a 4-byte big-endian length, then the body.
 * Knows nothing about ETF or requests.
 */
#ifndef LINX_SC_FRAMING_H
#define LINX_SC_FRAMING_H

#include <stddef.h>

#include "sc_error.h"

#define SC_FD_IN 3
#define SC_FD_OUT 4
/* Same cap as the agent (docs/protocol.md, LINX_MAX_FRAME). */
#define SC_MAX_FRAME (16u * 1024 * 1024)

enum frame_status {
	FRAME_OK,	/* *body holds *len bytes (malloc'd) */
	FRAME_EOF,	/* the BEAM closed the port at a frame boundary */
	FRAME_TOO_BIG,	/* frame skipped; *len is its announced size */
	FRAME_FAILED,	/* read error or EOF mid-frame; err says which */
};

/**
 * frame_read() - read one frame from SC_FD_IN
 * @body:	set to a malloc'd buffer on FRAME_OK (caller frees)
 * @len:	set to the body length
 * @err:	filled on FRAME_FAILED
 *
 * Return: a frame_status. An oversized frame is read and discarded without
 * being buffered, so the stream stays in sync.
 */
enum frame_status frame_read(char **body, size_t *len, struct sc_error *err);

/**
 * frame_write() - write one frame to SC_FD_OUT
 * @body:	bytes
 * @len:	length
 * @err:	filled on failure
 *
 * Return: 0 or -1.
 */
int frame_write(const char *body, size_t len, struct sc_error *err);

#endif
