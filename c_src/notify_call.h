/*
 * notify_call.h - a system call performed on a notified caller's behalf,
 * in a helper process that takes on the caller's context.
 */
#ifndef LINX_NOTIFY_CALL_H
#define LINX_NOTIFY_CALL_H

#include <stdint.h>
#include <sys/types.h>

#include "request.h"

/* How long the agent waits for a helper before killing it */
#define NOTIFY_CALL_TIMEOUT_MS 5000

int notify_call(int proc_fd, pid_t tgid, const struct notify_step *st,
		int64_t *ret);

#endif /* LINX_NOTIFY_CALL_H */
