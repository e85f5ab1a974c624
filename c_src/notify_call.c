/*
 * notify_call.c - {:call, nr, args, ctx}: the agent's side of a system call
 * done for a notified caller by a helper process (notify_helper.c).
 *
 * The agent forks the helper (it is single threaded, so fork is safe: no
 * lock is held by another thread) and does not wait for it: the helper's
 * socket is one more descriptor of the event loop (notify_call_fd()),
 * with a deadline (notify_call_ms_left()). When the socket is readable
 * (a result, or EOF: the helper died) or the deadline has passed,
 * notify_call_finish() takes the result, kills the helper past
 * NOTIFY_CALL_TIMEOUT_MS (ETIMEDOUT) and always reaps it. Meanwhile the
 * loop moves output, signals, commands and other notifications.
 *
 * The parent directories a helper resolved come back so that a later step
 * of the same reply naming the same path (mknodat, then fchownat of what
 * it made) acts in the directory the first one resolved, not through the
 * path again: the agent keeps them (struct notify_keep) until the reply
 * is done, and the next helper inherits them across fork.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "notify_call.h"
#include "notify_helper.h"
#include "notify_path.h"
#include "util.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/**
 * notify_keep_release() - close the directories a reply's steps resolved
 * @k:		the reply's keep (usable as a cleanup attribute)
 */
void notify_keep_release(struct notify_keep *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		close(k->e[i].fd);
	k->n = 0;
}

/* Two steps resolve a path the same way if their contexts agree */
static bool same_ctx(const struct notify_step *a, const struct notify_step *b)
{
	return a->ns == b->ns && a->root == b->root && a->cwd == b->cwd &&
	       a->creds == b->creds && !a->beneath == !b->beneath &&
	       (!a->beneath ||
		!strcmp((const char *)a->beneath, (const char *)b->beneath));
}

/*
 * keep_find() - the directory an earlier step resolved for pair @k of
 * @p (same path string, same dirfd value, same context), or -1
 */
static int keep_find(const struct notify_keep *keep,
		     const struct notify_step *st, const struct npath_plan *p,
		     int k)
{
	const char *path = (const char *)p->args[p->path[k]].data;
	int dv = npath_dirfd_value(p, k);
	size_t i;

	if (p->full)
		return -1;
	for (i = 0; i < keep->n; i++)
		if (keep->e[i].dirfd == dv && !strcmp(keep->e[i].path, path) &&
		    same_ctx(keep->e[i].st, st))
			return keep->e[i].fd;
	return -1;
}

/*
 * keep_add() - remember (or, when full, close) a directory a helper
 * resolved for pair @k
 */
static void keep_add(struct notify_keep *keep, const struct notify_step *st,
		     const struct npath_plan *p, int k, int fd)
{
	if (keep->n == ARRAY_SIZE(keep->e) || keep_find(keep, st, p, k) >= 0) {
		close(fd);
		return;
	}
	keep->e[keep->n++] = (struct notify_keep_entry){
		.st = st,
		.path = (const char *)p->args[p->path[k]].data,
		.dirfd = npath_dirfd_value(p, k),
		.fd = fd,
	};
}

/*
 * recv_result() - the helper's result and the directories it attached
 *
 * Return: 0, or -1 (EIO: it died before answering)
 */
static int recv_result(int in, struct call_result *r, int fds[],
		       int *nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * NPATH_MAX_PAIRS)];
	} u;
	struct iovec iov = { .iov_base = r, .iov_len = sizeof(*r) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(in, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	for (c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c)) {
		size_t len = c->cmsg_len - CMSG_LEN(0);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		*nfds = len / sizeof(int);
		if (*nfds > NPATH_MAX_PAIRS)
			*nfds = NPATH_MAX_PAIRS;
		memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
	}
	if (n != sizeof(*r) || r->nfds != *nfds) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/**
 * notify_call_init() - no helper running
 * @c:		the call slot
 */
void notify_call_init(struct notify_call *c)
{
	memset(c, 0, sizeof(*c));
	c->sock = -1;
	c->pid = -1;
	c->pidfd = -1;
}

/**
 * notify_call_start() - fork the helper of a {:call, ...} step
 * @c:		an idle call slot (notify_call_init)
 * @proc_fd:	the agent's /proc
 * @tgid:	the caller's thread group
 * @st:		the step; it, and what it points to, must stay valid until
 *		notify_call_finish() or notify_call_cancel()
 * @keep:	directories earlier steps of the reply resolved (the helper
 *		inherits them)
 *
 * Return: 0 (the helper runs: poll notify_call_fd()), or -1 with errno
 */
int notify_call_start(struct notify_call *c, int proc_fd, pid_t tgid,
		      const struct notify_step *st,
		      const struct notify_keep *keep)
{
	struct helper_fds hf;
	struct npath_plan plan;
	bool safe = npath_plan(st, &plan);
	int sv[2], e, k;
	pid_t pid;

	for (k = 0; k < NPATH_MAX_PAIRS; k++) {
		hf.fresh[k] = -1;
		hf.kept[k] = safe && k < plan.npairs &&
					     npath_pair_resolves(&plan, k) ?
				     keep_find(keep, st, &plan, k) :
				     -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -1;
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		notify_helper_main(sv[1], proc_fd, tgid, st, &hf);
	}
	close(sv[1]);
	c->pid = pid;
	/*
	 * Now, before the event loop's SIGCHLD handler can reap it: from
	 * then on its pid may be reused, its pidfd names it still.
	 */
	c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	c->sock = sv[0];
	c->st = st;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += NOTIFY_CALL_TIMEOUT_MS / 1000;
	c->deadline.tv_nsec += (NOTIFY_CALL_TIMEOUT_MS % 1000) * 1000000L;
	if (c->deadline.tv_nsec >= 1000000000L) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000L;
	}
	return 0;
}

/**
 * notify_call_fd() - the descriptor to poll for the helper's answer
 * @c:		the call slot
 *
 * Return: the socket, or -1 when no helper runs
 */
int notify_call_fd(const struct notify_call *c)
{
	return c->sock;
}

/**
 * notify_call_ms_left() - milliseconds until the helper's deadline
 * @c:		the call slot
 *
 * Return: -1 when no helper runs (no deadline), else 0 (passed) or more
 */
int notify_call_ms_left(const struct notify_call *c)
{
	struct timespec now;
	long ms;

	if (c->sock < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (c->deadline.tv_sec - now.tv_sec) * 1000 +
	     (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return 0;
	/* round up: waking a millisecond early would only poll again */
	return ms < NOTIFY_CALL_TIMEOUT_MS ? (int)ms + 1 :
					     NOTIFY_CALL_TIMEOUT_MS;
}

/*
 * end_helper() - close the socket; kill the helper if it may still run,
 * then reap it
 *
 * Why wait even after a result: the helper is exiting right after its
 * sendmsg, and the next step must not race a killed call still in the
 * kernel. The event loop's SIGCHLD handler may have reaped it already
 * (waitpid(-1)): ECHILD then, at once. Killed and waited for by pidfd
 * where the kernel has them, so a reaped helper's reused pid is never
 * signalled.
 */
static void end_helper(struct notify_call *c, bool kill_it)
{
	siginfo_t si;
	int st, rc;

	close(c->sock);
	c->sock = -1;
	if (kill_it && c->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
	else if (kill_it)
		kill(c->pid, SIGKILL);	/* no pidfd (before 5.3) */
	rc = -1;
	errno = EINVAL;
	if (c->pidfd >= 0)
		while ((rc = waitid(P_PIDFD, c->pidfd, &si, WEXITED)) < 0 &&
		       errno == EINTR)
			;
	if (rc < 0 && errno == EINVAL)	/* no P_PIDFD (before 5.4) */
		while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
			;
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
	c->pid = -1;
	c->st = NULL;
}

/**
 * notify_call_finish() - the helper's answer, once its socket polled
 * readable or its deadline passed
 * @c:		a call slot with a helper running; idle again on return
 * @readable:	the socket polled readable (else: the deadline passed)
 * @keep:	the reply's directories (the helper's are added)
 * @ret:	the call's return value
 *
 * Return: 0, or -1 with errno: the call's own errno, a setup step's
 * (ESRCH/ENOENT: the caller is gone; EPERM: a setns refused; ELOOP,
 * EXDEV: a path that safe resolution refuses), EIO (the helper died
 * without answering) or ETIMEDOUT (it took longer than
 * NOTIFY_CALL_TIMEOUT_MS and was killed)
 */
int notify_call_finish(struct notify_call *c, bool readable,
		       struct notify_keep *keep, int64_t *ret)
{
	struct call_result r = { .ret = -1, .err = EIO };
	const struct notify_step *st = c->st;
	struct npath_plan plan;
	bool safe = npath_plan(st, &plan);
	int got[NPATH_MAX_PAIRS], ngot = 0, e, k;

	e = readable ? (recv_result(c->sock, &r, got, &ngot) ? EIO : 0) :
		       ETIMEDOUT;
	end_helper(c, e != 0);
	for (k = 0; k < ngot; k++) {
		if (!e && safe && r.pair[k] >= 0 && r.pair[k] < plan.npairs)
			keep_add(keep, st, &plan, r.pair[k], got[k]);
		else
			close(got[k]);
	}
	if (e) {
		errno = e;
		return -1;
	}
	if (r.err) {
		errno = r.err;
		return -1;
	}
	*ret = r.ret;
	return 0;
}

/**
 * notify_call_cancel() - kill and reap a running helper (the listener is
 * gone: nobody can be answered)
 * @c:		the call slot; idle on return
 */
void notify_call_cancel(struct notify_call *c)
{
	if (c->sock >= 0)
		end_helper(c, true);
}
