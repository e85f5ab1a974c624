/*
 * notify_reply.c - {:notify_reply, id, steps}: the steps run for a
 * notified caller, in order (docs/protocol.md, "Notify replies").
 *
 * DOC: Replies and {:call} helpers
 *
 * Steps run in order; every step that touches the caller checks
 * NOTIF_ID_VALID first; the last one answers (NOTIF_SEND, or ADDFD with
 * SEND). A step that fails answers the caller with its errno and emits
 * {:notify_failed, id, index, errno}; a caller found gone is dropped
 * silently (SEND's ENOENT likewise). A reply for an id we do not know (or
 * one answered already) is ignored.
 *
 * A {:call} step runs in a helper process (notify_call.c) and may take up
 * to NOTIFY_CALL_TIMEOUT_MS. The agent does not wait for it: the reply is
 * parked in struct notify_run with a copy of its steps, the helper's
 * socket becomes one more descriptor of the event loop, and the remaining
 * steps run when it answers (notify_on_call()). Meanwhile output,
 * signals, commands and other notifications keep moving.
 *
 * Order: one helper runs at a time. A reply with a {:call} step that
 * arrives while one runs waits in a queue and runs after it, replies in
 * order of arrival; a reply without a {:call} step (nothing to wait for)
 * runs at once. Every caller is answered: by its reply's last step, by
 * the errno of a failed step (ETIMEDOUT for a helper killed past its
 * deadline), or, once the listener is closed, by the kernel (ENOSYS).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "events.h"
#include "notify.h"
#include "notify_call.h"
#include "procfs.h"
#include "unix_sock.h"
#include "util.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* What run_steps() left behind */
enum run_status {
	RUN_DONE,	/* answered (or the caller is gone) */
	RUN_WAITING,	/* a {:call} helper runs: notify_on_call() resumes */
};

static int write_mem(const struct notify_state *n, pid_t tgid,
		     const struct notify_step *st)
{
	cleanup_close int fd =
		procfs_open(n->env.proc_fd, tgid, "mem", O_WRONLY);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = pwrite(fd, st->data, st->len, st->addr);
	if (w < 0 || (size_t)w != st->len) {
		errno = w < 0 && errno != EIO ? errno : EFAULT;
		return -1;
	}
	return 0;
}

/*
 * fd_source() - the descriptor an :addfd step injects, made by the agent
 * in its own context (namespaces, credentials)
 */
static int fd_source(const struct notify_step *st)
{
	cleanup_close int pidfd = -1;

	switch (st->src) {
	case NFD_OPEN:
		return open((const char *)st->data, st->oflags | O_CLOEXEC,
			    st->mode);
	case NFD_CONNECT_UNIX:
		/* no deadline, as before the move to unix_sock.c */
		return unix_connect((const char *)st->data, 0);
	default:
		pidfd = syscall(SYS_pidfd_open, st->pid, 0);
		if (pidfd < 0)
			return -1;
		return syscall(SYS_pidfd_getfd, pidfd, st->fd, 0);
	}
}

/*
 * addfd() - inject the step's descriptor into the caller
 *
 * Return: the fd number in the caller (with SEND: the call is answered),
 * or -1 with errno (ENOENT from the ioctl: the caller is gone)
 */
static int addfd(const struct notify_state *n, uint64_t id,
		 const struct notify_step *st, bool *gone)
{
	struct seccomp_notif_addfd a = { .id = id };
	cleanup_close int src = fd_source(st);
	int rc;

	*gone = false;
	if (src < 0)
		return -1;
	a.srcfd = src;
	if (st->target >= 0) {
		a.flags |= SECCOMP_ADDFD_FLAG_SETFD;
		a.newfd = st->target;
	}
	if (st->cloexec)
		a.newfd_flags = O_CLOEXEC;
	if (st->send)
		a.flags |= SECCOMP_ADDFD_FLAG_SEND;
	do
		rc = ioctl(n->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
	while (rc < 0 && errno == EINTR);
	if (rc < 0 && errno == ENOENT)
		*gone = true;
	return rc;	/* our copy is closed on return */
}

/* ------------------------------------------------------------ the steps */

/*
 * run_failed() - step @r->next failed with @e: answer the caller with it
 * and tell the BEAM
 */
static void run_failed(struct notify_state *n, const struct notify_run *r,
		       int e)
{
	if (!e)
		e = EIO;
	notify_send_resp(n, r->id, 0, e, 0);
	ev_notify_failed(n->env.out, r->id, (int)r->next, e);
}

/*
 * run_steps() - run @r's steps from @r->next on, until one answers or a
 * {:call} helper has been started
 */
static enum run_status run_steps(struct notify_state *n, struct notify_run *r)
{
	const struct notify_step *st;
	bool gone;
	int fd;

	for (; r->next < r->nsteps; r->next++) {
		st = &r->steps[r->next];
		switch (st->kind) {
		case NSTEP_WRITE:
			if (!notify_id_valid(n, r->id))
				return RUN_DONE;
			if (write_mem(n, r->tgid, st))
				goto failed;
			continue;
		case NSTEP_CALL:
			if (!notify_id_valid(n, r->id))
				return RUN_DONE;
			if (notify_call_start(&r->call, n->env.proc_fd,
					      r->tgid, st, &r->keep))
				goto failed;
			return RUN_WAITING;
		case NSTEP_ADDFD:
			fd = addfd(n, r->id, st, &gone);
			if (gone)
				return RUN_DONE;
			if (fd < 0)
				goto failed;
			if (st->send)	/* injected and answered */
				return RUN_DONE;
			r->last = fd;
			continue;
		case NSTEP_CONTINUE:
			notify_send_resp(n, r->id, 0, 0,
					 SECCOMP_USER_NOTIF_FLAG_CONTINUE);
			return RUN_DONE;
		case NSTEP_RETURN:
			notify_send_resp(n, r->id, (int64_t)st->val, 0, 0);
			return RUN_DONE;
		case NSTEP_ERRNO:
			notify_send_resp(n, r->id, 0, st->err, 0);
			return RUN_DONE;
		case NSTEP_RETURN_LAST:
			notify_send_resp(n, r->id, r->last, 0, 0);
			return RUN_DONE;
		}
	}
	/* Unreachable: the decoder requires a response last */
	notify_send_resp(n, r->id, 0, ENOSYS, 0);
	return RUN_DONE;

failed:
	run_failed(n, r, errno);
	return RUN_DONE;
}

/* ------------------------------------------------- owned copies of steps */

static void steps_free(struct notify_step *steps, size_t nsteps)
{
	/* cmd_free() knows every pointer a step owns */
	struct linx_cmd c = { .steps = steps, .nsteps = nsteps };

	cmd_free(&c);
}

static int dup_bytes(uint8_t **p, size_t len)
{
	uint8_t *copy;

	if (!*p)
		return 0;
	copy = malloc(len + 1);		/* the decoder's NUL too */
	if (!copy) {
		*p = NULL;
		return -1;
	}
	memcpy(copy, *p, len + 1);
	*p = copy;
	return 0;
}

/*
 * steps_copy() - a deep copy of a reply's steps (every buffer the decoder
 * allocated: data, beneath, the call's {:str}/{:buf} arguments), for a
 * reply that outlives its command
 *
 * Return: the copy (steps_free() it), or NULL (ENOMEM)
 */
static struct notify_step *steps_copy(const struct notify_step *src,
				      size_t nsteps)
{
	struct notify_step *s = calloc(nsteps ? nsteps : 1, sizeof(*s));
	size_t i, j;
	int bad = 0;

	if (!s)
		return NULL;
	memcpy(s, src, nsteps * sizeof(*s));
	for (i = 0; i < nsteps; i++) {
		bad |= dup_bytes(&s[i].data, s[i].len);
		bad |= dup_bytes(&s[i].beneath, s[i].beneath_len);
		for (j = 0; j < ARRAY_SIZE(s[i].args); j++)
			bad |= dup_bytes(&s[i].args[j].data, s[i].args[j].len);
	}
	if (bad) {
		steps_free(s, nsteps);
		return NULL;
	}
	return s;
}

static bool has_call(const struct notify_step *steps, size_t nsteps)
{
	size_t i;

	for (i = 0; i < nsteps; i++)
		if (steps[i].kind == NSTEP_CALL)
			return true;
	return false;
}

/* ---------------------------------------------------- the running reply */

/*
 * run_end() - the running reply is done: close what its calls resolved,
 * free its steps
 */
static void run_end(struct notify_run *r)
{
	notify_keep_release(&r->keep);
	if (r->owned)
		steps_free(r->steps, r->nsteps);
	r->steps = NULL;
	r->nsteps = 0;
	r->active = false;
}

/*
 * run_start() - run a reply as the running one (@steps owned)
 */
static void run_start(struct notify_state *n, uint64_t id, pid_t tgid,
		      struct notify_step *steps, size_t nsteps)
{
	struct notify_run *r = &n->run;

	r->active = true;
	r->id = id;
	r->tgid = tgid;
	r->steps = steps;
	r->nsteps = nsteps;
	r->owned = true;
	r->next = 0;
	r->last = 0;
	r->keep.n = 0;
	if (run_steps(n, r) == RUN_DONE)
		run_end(r);
}

/*
 * run_queued() - start the waiting replies, in order, until one leaves
 * its helper running
 */
static void run_queued(struct notify_state *n)
{
	struct notify_queued q;

	while (!n->run.active && n->nqueued) {
		q = n->queue[0];
		memmove(n->queue, n->queue + 1,
			--n->nqueued * sizeof(*n->queue));
		run_start(n, q.id, q.tgid, q.steps, q.nsteps);
	}
}

static int enqueue(struct notify_state *n, uint64_t id, pid_t tgid,
		   struct notify_step *steps, size_t nsteps)
{
	struct notify_queued *q;

	if (n->nqueued == n->qcap) {
		size_t cap = n->qcap ? n->qcap * 2 : 8;

		q = realloc(n->queue, cap * sizeof(*q));
		if (!q)
			return -1;
		n->queue = q;
		n->qcap = cap;
	}
	n->queue[n->nqueued++] = (struct notify_queued){ id, tgid, steps,
							 nsteps };
	return 0;
}

/**
 * notify_reply() - run the steps of {:notify_reply, id, steps}
 * @n:		state
 * @c:		decoded reply (the decoder checked that only the last step
 *		answers); not kept: a reply that waits copies its steps
 */
void notify_reply(struct notify_state *n, const struct linx_cmd *c)
{
	pid_t tgid = notify_pending_take(n, c->id);
	struct notify_run now = { .id = c->id, .tgid = tgid };
	struct notify_step *copy;

	if (!tgid || n->listener < 0)
		return;		/* unknown id, or answered already */

	if (!has_call(c->steps, c->nsteps)) {
		/* nothing to wait for: run it at once, in place */
		now.steps = c->steps;
		now.nsteps = c->nsteps;
		run_steps(n, &now);
		return;
	}
	copy = steps_copy(c->steps, c->nsteps);
	if (!copy || (n->run.active &&
		      enqueue(n, c->id, tgid, copy, c->nsteps))) {
		if (copy)
			steps_free(copy, c->nsteps);
		run_failed(n, &now, ENOMEM);
		return;
	}
	if (!n->run.active)
		run_start(n, c->id, tgid, copy, c->nsteps);
}

/**
 * notify_call_pollfd() - the descriptor the event loop polls (POLLIN)
 * for the running {:call} helper
 * @n:		state
 *
 * Return: its socket, or -1 when no helper runs
 */
int notify_call_pollfd(const struct notify_state *n)
{
	return n->run.active ? notify_call_fd(&n->run.call) : -1;
}

/**
 * notify_poll_timeout() - the event loop's poll timeout, cut to the
 * running helper's deadline
 * @n:		state
 * @timeout_ms:	what the loop would wait otherwise (-1: no limit)
 *
 * Return: the shorter of the two (-1: no limit)
 */
int notify_poll_timeout(const struct notify_state *n, int timeout_ms)
{
	int left = n->run.active ? notify_call_ms_left(&n->run.call) : -1;

	if (left < 0)
		return timeout_ms;
	return timeout_ms < 0 || left < timeout_ms ? left : timeout_ms;
}

/**
 * notify_on_call() - after each poll: the running helper answered (its
 * socket polled readable or hung up) or its deadline passed; then the
 * reply's remaining steps run, and the waiting replies after it
 * @n:		state
 * @revents:	poll events of notify_call_pollfd() (0: not polled ready)
 */
void notify_on_call(struct notify_state *n, short revents)
{
	struct notify_run *r = &n->run;
	int64_t ret = 0;

	if (!r->active || notify_call_fd(&r->call) < 0)
		return;
	if (!revents && notify_call_ms_left(&r->call) > 0)
		return;
	if (notify_call_finish(&r->call, revents != 0, &r->keep, &ret)) {
		run_failed(n, r, errno);
	} else {
		r->last = ret;
		r->next++;
		if (run_steps(n, r) == RUN_WAITING)
			return;
	}
	run_end(r);
	run_queued(n);
}

/**
 * notify_replies_drop() - the listener is gone: kill a running helper,
 * drop the running and the waiting replies (the kernel answers their
 * callers ENOSYS)
 * @n:		state
 */
void notify_replies_drop(struct notify_state *n)
{
	size_t i;

	if (n->run.active) {
		notify_call_cancel(&n->run.call);
		run_end(&n->run);
	}
	for (i = 0; i < n->nqueued; i++)
		steps_free(n->queue[i].steps, n->queue[i].nsteps);
	free(n->queue);
	n->queue = NULL;
	n->nqueued = n->qcap = 0;
}

/**
 * notify_detach() - close the listener (the kernel fails pending and
 * future notified calls with ENOSYS); a running {:call} helper is killed
 * and the replies waiting for it dropped (nobody can be answered)
 * @n:		state
 */
void notify_detach(struct notify_state *n)
{
	notify_close_listener(n);
	notify_replies_drop(n);
	n->has_prog = false;
}
