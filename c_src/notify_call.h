/*
 * notify_call.h - a system call performed on a notified caller's behalf,
 * in a helper process that takes on the caller's context; the agent polls
 * for its answer rather than waiting.
 */
#ifndef LINX_NOTIFY_CALL_H
#define LINX_NOTIFY_CALL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "request.h"

/* How long the agent waits for a helper before killing it */
#define NOTIFY_CALL_TIMEOUT_MS 5000

/* Directories one reply's steps resolved, at most this many */
#define NOTIFY_KEEP_MAX 12

/**
 * struct notify_keep_entry - a parent directory a {:call} step resolved
 * @st:		the step (its context: ns, root, cwd, creds, beneath)
 * @path:	the path argument as given (in @st)
 * @dirfd:	the dirfd argument's value
 * @fd:		the directory (O_PATH), ours
 */
struct notify_keep_entry {
	const struct notify_step *st;
	const char *path;
	int dirfd;
	int fd;
};

/**
 * struct notify_keep - what the steps of one reply resolved, so that a
 * later step acts in the same directory rather than on a name looked up
 * twice
 * @e:		entries
 * @n:		how many
 */
struct notify_keep {
	struct notify_keep_entry e[NOTIFY_KEEP_MAX];
	size_t n;
};

/**
 * struct notify_call - the helper of the {:call} step being run
 * @pid:	the helper, or -1
 * @pidfd:	its pidfd, or -1 (none: a kernel before 5.3)
 * @sock:	the agent's end of its socket (polled), or -1: no helper
 * @st:		the step it runs
 * @deadline:	CLOCK_MONOTONIC time past which it is killed (ETIMEDOUT)
 */
struct notify_call {
	pid_t pid;
	int pidfd;
	int sock;
	const struct notify_step *st;
	struct timespec deadline;
};

void notify_keep_release(struct notify_keep *k);
void notify_call_init(struct notify_call *c);
int notify_call_start(struct notify_call *c, int proc_fd, pid_t tgid,
		      const struct notify_step *st,
		      const struct notify_keep *keep);
int notify_call_fd(const struct notify_call *c);
int notify_call_ms_left(const struct notify_call *c);
int notify_call_finish(struct notify_call *c, bool readable,
		       struct notify_keep *keep, int64_t *ret);
void notify_call_cancel(struct notify_call *c);

#endif /* LINX_NOTIFY_CALL_H */
