/*
 * request_sandbox.h - the decoders of the request's sandbox keys: root,
 * mounts, hostname, loopback, time_offsets (mounts.h), init, fds
 * (passfd.h) and landlock (landlock.h). Rows of request.c's key table.
 *
 * PURE, like request.c: no I/O, everything allocated is released by
 * request_free().
 */
#ifndef LINX_REQUEST_SANDBOX_H
#define LINX_REQUEST_SANDBOX_H

#include "request.h"
#include "term.h"

int sandbox_opt_root(struct tdec *d, struct linx_request *r, const char *path);
int sandbox_opt_mounts(struct tdec *d, struct linx_request *r,
		       const char *path);
int sandbox_opt_hostname(struct tdec *d, struct linx_request *r,
			 const char *path);
int sandbox_opt_loopback(struct tdec *d, struct linx_request *r,
			 const char *path);
int sandbox_opt_time_offsets(struct tdec *d, struct linx_request *r,
			     const char *path);
int sandbox_opt_init(struct tdec *d, struct linx_request *r, const char *path);
int sandbox_opt_fds(struct tdec *d, struct linx_request *r, const char *path);
int sandbox_opt_landlock(struct tdec *d, struct linx_request *r,
			 const char *path);

#endif /* LINX_REQUEST_SANDBOX_H */
