/*
 * notify.c - seccomp user notification, the agent's side.
 *
 * DOC: Theory of operation
 *
 * The child installs the filter with a new listener and sends it to us
 * with its OK (child.c, stage 5). From that moment the event loop polls
 * the listener in every state (checkpoint, exec outcome, running,
 * draining), so the child's own calls before execve, execve itself, and
 * later the workload's and its descendants' calls are all served.
 *
 * A notification:
 *  - NOTIF_RECV into a buffer sized by SECCOMP_GET_NOTIF_SIZES (the kernel
 *    may know a larger struct than our headers) and zeroed before each
 *    receive; ENOENT (the caller was killed or interrupted in between) is
 *    not an error;
 *  - the kernel gives the calling *thread*; /proc/TID/status names its
 *    thread group, the id every /proc lookup and pidfd uses;
 *  - the reads the request declared for this syscall are done from
 *    /proc/TGID/mem (pread, page by page so a string that ends just
 *    before an unmapped page is still read), then NOTIF_ID_VALID: if the
 *    caller died meanwhile its pid may be someone else's, and what we
 *    read is not its memory: drop the notification (the kernel re-issues
 *    an interrupted call, we will see it again);
 *  - one {:notify, ...} frame is queued; the output queue is never
 *    written synchronously, so a slow BEAM never blocks the loop.
 *
 * A reply ({:notify_reply, id, steps}) carries only the id: the agent
 * remembers the caller's tgid of each notification sent until it is
 * answered (the kernel keeps everything else). Several notifications may
 * be pending at once (threads) and be answered in any order. Their steps
 * run in notify_reply.c; a {:call} step runs in a helper process
 * (notify_call.c) the event loop polls like any other descriptor, so
 * output, signals, commands and other notifications keep moving while it
 * works.
 *
 * The module sees only struct notify_state and what it borrows from the
 * session (struct notify_env: the agent's /proc, the output queue, the
 * declared reads), bound when the listener arrives (notify_attach()).
 *
 * When the BEAM goes away the listener is closed first: the kernel then
 * fails every pending and future notified call with ENOSYS, so nothing
 * waits for an answer that cannot come while the tree is killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "events.h"
#include "notify.h"
#include "procfs.h"
#include "session.h"
#include "util.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* At most this many notifications are received per poll wake-up */
#define RECV_BATCH 64

#define PAGE 4096u

/**
 * notify_init() - no listener yet
 * @n:		state
 */
void notify_init(struct notify_state *n)
{
	memset(n, 0, sizeof(*n));
	n->listener = -1;
	n->listener_at = -1;
	n->env.proc_fd = -1;
	notify_call_init(&n->run.call);
}

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define LINX_SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#else
#define LINX_SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOCTL_NOTIF_SET_FLAGS
#endif
#define LINX_SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1ULL

/**
 * notify_listen() - take a listener and what serving it borrows
 * @n:		state
 * @env:	the agent's /proc, the output queue, the declared reads
 *		(copied; what they point to must outlive @n's use)
 * @listener:	the descriptor (ours now)
 * @err:	on failure
 *
 * Return: 0, or -1 (the listener is closed)
 */
int notify_listen(struct notify_state *n, const struct notify_env *env,
		  int listener, struct linx_err *err)
{
	struct seccomp_notif_sizes sz;
	cleanup_close int fd = listener;

	if (n->listener >= 0)
		return linx_fail(err, EBUSY, STAGE_SECCOMP_INSTALL,
				 "a second listener");
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz))
		return linx_fail(err, errno, STAGE_SECCOMP_INSTALL,
				 "SECCOMP_GET_NOTIF_SIZES");
	n->notif_size = sz.seccomp_notif > sizeof(struct seccomp_notif) ?
			sz.seccomp_notif : sizeof(struct seccomp_notif);
	n->resp_size = sz.seccomp_notif_resp >
				       sizeof(struct seccomp_notif_resp) ?
			       sz.seccomp_notif_resp :
			       sizeof(struct seccomp_notif_resp);
	n->notif = calloc(1, n->notif_size);
	n->resp = calloc(1, n->resp_size);
	if (!n->notif || !n->resp)
		return linx_fail(err, ENOMEM, STAGE_SECCOMP_INSTALL,
				 "notification buffers");
	/*
	 * Linux 6.6+: wake us on the caller's CPU and let it sleep, rather
	 * than a cross-CPU wake-up (about 25 us on small VMs) per call. An
	 * older kernel says EINVAL/ENOTTY: nothing lost.
	 */
	ioctl(fd, LINX_SECCOMP_IOCTL_NOTIF_SET_FLAGS,
	      LINX_SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	n->env = *env;
	/* validated when the request was decoded: this cannot fail */
	n->has_prog = env->program &&
		      !nprog_decode(env->program, env->program_len, &n->prog,
				    NULL, 0);

	n->listener = steal_fd(&fd);
	return 0;
}

/**
 * notify_attach() - take the listener the child sent, serving it with the
 * session's /proc, output queue and declared reads (the one function of
 * notify that sees the session; relay.c calls it)
 * @s:		session
 * @listener:	the descriptor (ours now)
 * @err:	on failure
 *
 * Return: 0, or -1 (the listener is closed)
 */
int notify_attach(struct session *s, int listener, struct linx_err *err)
{
	const struct notify_env env = {
		.proc_fd = s->proc_fd,
		.out = &s->out,
		.reads = s->req->notify_reads,
		.nreads = s->req->nnotify_reads,
		.program = s->req->notify_program,
		.program_len = s->req->notify_program_len,
		.events = s->req->notify_events,
	};

	return notify_listen(&s->notify, &env, listener, err);
}

/**
 * notify_close_listener() - close the listener: the kernel fails pending
 * and future notified calls with ENOSYS. What waits on a {:call} helper is
 * notify_reply.c's to drop (notify_detach), one layer up.
 * @n:		state
 */
void notify_close_listener(struct notify_state *n)
{
	if (n->listener >= 0)
		close(n->listener);
	n->listener = -1;
	n->npending = 0;
}

/* ------------------------------------------------------------- helpers */

/**
 * notify_id_valid() - is notification @id still waiting for an answer
 * (its caller alive, its pid still its own)?
 * @n:		state
 * @id:		the kernel's cookie
 */
bool notify_id_valid(const struct notify_state *n, uint64_t id)
{
	return n->listener >= 0 &&
	       !ioctl(n->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
}

static int pending_add(struct notify_state *n, uint64_t id, pid_t tgid)
{
	struct notify_pending *p;

	if (n->npending == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 16;

		p = realloc(n->pending, cap * sizeof(*p));
		if (!p)
			return -1;
		n->pending = p;
		n->cap = cap;
	}
	n->pending[n->npending++] = (struct notify_pending){ id, tgid };
	return 0;
}

/**
 * notify_pending_take() - remove @id from the pending table
 * @n:		state
 * @id:		the kernel's cookie
 *
 * Return: its tgid, or 0 if we never sent it (or it was answered)
 */
pid_t notify_pending_take(struct notify_state *n, uint64_t id)
{
	pid_t tgid;
	size_t i;

	for (i = 0; i < n->npending; i++) {
		if (n->pending[i].id != id)
			continue;
		tgid = n->pending[i].tgid;
		n->pending[i] = n->pending[--n->npending];
		return tgid;
	}
	return 0;
}

/*
 * is_group_leader() - @tid is a thread group leader (its own tgid), the
 * common case of a single-threaded caller. pidfd_open() refuses a thread
 * that is not a leader (EINVAL), and answers in two system calls what
 * /proc/TID/status would take a page of formatted text to say (~17 us,
 * per notification, measured by bench/notify_floor.c).
 */
static bool is_group_leader(pid_t tid)
{
	int fd = (int)syscall(SYS_pidfd_open, tid, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/*
 * resolve_tgid() - the thread group of thread @tid (pidfd_open for a
 * leader, else /proc/TID/status)
 *
 * Return: the tgid, or 0 if the thread is gone
 */
static pid_t resolve_tgid(int proc_fd, pid_t tid)
{
	cleanup_close int fd = -1;
	char text[4096], *p, *end;
	long tgid;

	if (is_group_leader(tid))
		return tid;
	fd = procfs_open(proc_fd, tid, "status", O_RDONLY);
	if (fd < 0 || procfs_read_text(fd, text, sizeof(text)) <= 0)
		return 0;
	p = strstr(text, "\nTgid:");
	if (!p)
		return 0;
	errno = 0;
	tgid = strtol(p + 6, &end, 10);
	if (errno || end == p + 6 || tgid <= 0 || tgid > INT_MAX)
		return 0;
	return tgid;
}

/*
 * read_mem() - up to @len bytes at @addr, page by page; with @cstring,
 * stop at the first NUL (not included)
 *
 * Return: bytes read (short if memory ends), or -1 with errno (EFAULT
 * when nothing at @addr is mapped)
 */
static ssize_t read_mem(int fd, uint64_t addr, uint8_t *buf, size_t len,
			bool cstring)
{
	size_t got = 0, chunk;
	uint8_t *nul;
	ssize_t n;

	while (got < len) {
		chunk = PAGE - ((addr + got) & (PAGE - 1));
		if (chunk > len - got)
			chunk = len - got;
		n = pread(fd, buf + got, chunk, addr + got);
		if (n <= 0) {
			if (got)
				break;
			/* /proc/PID/mem says EIO for an unmapped address */
			errno = n < 0 && errno != EIO ? errno : EFAULT;
			return -1;
		}
		if (cstring) {
			nul = memchr(buf + got, 0, n);
			if (nul)
				return nul - buf;
		}
		got += n;
	}
	return got;
}

/* ------------------------------------------------------- notifications */

/*
 * do_reads() - the declared reads for this notification's syscall
 */
static size_t do_reads(struct notify_state *n, const struct seccomp_notif *nf,
		       pid_t tgid, struct ev_mem *mem, uint8_t **bufs,
		       size_t max)
{
	cleanup_close int fd = -1;
	size_t i, k = 0, len;
	int open_err = 0;
	ssize_t got;

	for (i = 0; i < n->env.nreads && k < max; i++) {
		const struct notify_read *rd = &n->env.reads[i];
		uint64_t addr = nf->data.args[rd->arg];

		if (rd->nr != (uint32_t)nf->data.nr)
			continue;
		mem[k] = (struct ev_mem){ .arg = rd->arg };
		len = rd->max;
		if (rd->kind == NREAD_BYTES_ARG &&
		    nf->data.args[rd->len_arg] < len)
			len = nf->data.args[rd->len_arg];
		if (fd < 0 && !open_err) {
			fd = procfs_open(n->env.proc_fd, tgid, "mem",
					 O_RDONLY);
			if (fd < 0)
				open_err = errno;
		}
		if (open_err) {
			mem[k++].err = open_err;
			continue;
		}
		if (!addr) {
			mem[k++].err = EFAULT;
			continue;
		}
		bufs[k] = malloc(len ? len : 1);
		if (!bufs[k]) {
			mem[k++].err = ENOMEM;
			continue;
		}
		got = len ? read_mem(fd, addr, bufs[k], len,
				     rd->kind == NREAD_CSTRING) : 0;
		if (got < 0)
			mem[k].err = errno;
		else if (rd->kind != NREAD_CSTRING && (size_t)got < len)
			mem[k].err = EFAULT;	/* a struct cut short */
		mem[k].data = bufs[k];
		mem[k].len = got < 0 ? 0 : got;
		k++;
	}
	return k;
}

/**
 * notify_send_resp() - NOTIF_SEND; ENOENT (the caller died or was
 * interrupted) is not an error
 * @n:		state
 * @id:		the notification
 * @val:	the call's return value (when @err is 0)
 * @err:	an errno to fail the call with, or 0
 * @flags:	SECCOMP_USER_NOTIF_FLAG_CONTINUE, or 0
 */
void notify_send_resp(struct notify_state *n, uint64_t id, int64_t val,
		      int err, uint32_t flags)
{
	struct seccomp_notif_resp *resp = n->resp;

	if (n->listener < 0)
		return;
	memset(resp, 0, n->resp_size);
	resp->id = id;
	resp->val = err ? 0 : val;
	resp->error = err ? -err : 0;
	resp->flags = flags;
	while (ioctl(n->listener, SECCOMP_IOCTL_NOTIF_SEND, resp) &&
	       errno == EINTR)
		;
}

/*
 * run_decision() - answer a call the program decided: its writes into
 * the caller's memory (each after checking the call is still pending),
 * then the response. A failed write answers with its errno and tells the
 * BEAM, as a {:notify_reply} step would ({:notify_failed, id, step, e}).
 *
 * Return: false if the caller went away (nothing answered)
 */
static bool run_decision(struct notify_state *n, uint64_t id, pid_t tgid,
			 const struct nprog_decision *d)
{
	const struct nprog_step *st;
	cleanup_close int mem = -1;
	ssize_t w;
	size_t i;

	for (i = 0; i < d->nsteps; i++) {
		st = &d->steps[i];
		switch (st->kind) {
		case NPSTEP_CONTINUE:
			notify_send_resp(n, id, 0, 0,
					 SECCOMP_USER_NOTIF_FLAG_CONTINUE);
			return true;
		case NPSTEP_RETURN:
			notify_send_resp(n, id, st->val, 0, 0);
			return true;
		case NPSTEP_ERRNO:
			notify_send_resp(n, id, 0, st->err, 0);
			return true;
		default:	/* NPSTEP_WRITE */
			if (!notify_id_valid(n, id))
				return false;
			if (mem < 0)
				mem = procfs_open(n->env.proc_fd, tgid, "mem",
						  O_WRONLY);
			w = mem < 0 ? -1 :
				      pwrite(mem, st->data, st->len, st->addr);
			if (w < 0 || (size_t)w != st->len) {
				errno = mem >= 0 && w < 0 && errno != EIO ?
						errno : EFAULT;
				notify_send_resp(n, id, 0, errno, 0);
				ev_notify_failed(n->env.out, id, (int)i,
						 errno);
				return true;
			}
		}
	}
	return true;
}

/*
 * decide_here() - run the compiled rules on a notification; if they
 * decide it, answer it now (no round trip to the BEAM) and, with events
 * on, tell the BEAM afterwards what was answered
 *
 * Return: true (answered, or the caller is gone), or false (the BEAM
 * decides: send it on)
 */
static bool decide_here(struct notify_state *n, const struct seccomp_notif *nf,
			pid_t tgid, const struct ev_mem *mem, size_t nmem)
{
	struct nprog_mem pm[6];
	struct nprog_decision d;
	const struct nprog_step *last;
	size_t i;

	if (!n->has_prog)
		return false;
	memset(pm, 0, sizeof(pm));
	for (i = 0; i < nmem; i++)
		pm[mem[i].arg] = (struct nprog_mem){ true, mem[i].err,
						     mem[i].data, mem[i].len };
	nprog_eval(&n->prog, (uint32_t)nf->data.nr,
		   (const uint64_t *)nf->data.args, pm, &d);
	if (d.beam || !d.nsteps)
		return false;
	if (!run_decision(n, nf->id, tgid, &d))
		return true;
	/* after the answer: observation never delays the caller */
	last = &d.steps[d.nsteps - 1];
	if (n->env.events)
		ev_notified(n->env.out, nf->data.nr, tgid,
			    last->kind == NPSTEP_CONTINUE ? "continue" :
			    last->kind == NPSTEP_RETURN   ? "return" :
							    "errno",
			    last->kind == NPSTEP_ERRNO ? last->err : last->val);
	return true;
}

/*
 * decide_fast() - the common case first: no memory declared for this
 * syscall, and the program answers with a bare response (no write) that
 * nobody asked to hear about. Then the caller's thread group is not
 * needed at all, and resolving it is most of the agent's cost for a
 * thread that is not a group leader (/proc/TID/status, ~17 us): answer
 * straight away.
 *
 * Return: true (answered), false (take the full path)
 */
static bool decide_fast(struct notify_state *n, const struct seccomp_notif *nf)
{
	struct nprog_mem none[6];
	struct nprog_decision d;
	size_t i;

	if (!n->has_prog || n->env.events)
		return false;
	for (i = 0; i < n->env.nreads; i++)
		if (n->env.reads[i].nr == (uint32_t)nf->data.nr)
			return false;
	memset(none, 0, sizeof(none));
	nprog_eval(&n->prog, (uint32_t)nf->data.nr,
		   (const uint64_t *)nf->data.args, none, &d);
	if (d.beam || d.nsteps != 1)
		return false;
	return run_decision(n, nf->id, 0, &d);
}

/*
 * recv_one() - receive one notification and send it to the BEAM
 *
 * Return: 0, or -1 when the listener cannot be read any more
 */
static int recv_one(struct notify_state *n)
{
	struct seccomp_notif *nf = n->notif;
	struct ev_mem mem[16];
	uint8_t *bufs[16] = { NULL };
	size_t nmem, i;
	pid_t tgid;

	memset(nf, 0, n->notif_size);
	if (ioctl(n->listener, SECCOMP_IOCTL_NOTIF_RECV, nf)) {
		if (errno == ENOENT || errno == EINTR || errno == EAGAIN)
			return 0;
		return -1;
	}
	if (decide_fast(n, nf))
		return 0;
	tgid = resolve_tgid(n->env.proc_fd, nf->pid);
	if (!tgid) {
		/* The thread is gone (or not ours to see): never hang it */
		notify_send_resp(n, nf->id, 0, ENOSYS, 0);
		return 0;
	}
	nmem = do_reads(n, nf, tgid, mem, bufs, ARRAY_SIZE(mem));
	/*
	 * After reading: if the caller died, its pid may be another
	 * process's now, and what we read is not the caller's memory.
	 */
	if (notify_id_valid(n, nf->id) &&
	    !decide_here(n, nf, tgid, mem, nmem)) {
		if (pending_add(n, nf->id, tgid) ||
		    ev_notify(n->env.out, nf->id, tgid, nf->pid, nf->data.nr,
			      nf->data.arch, nf->data.instruction_pointer,
			      (const uint64_t *)nf->data.args, mem, nmem)) {
			notify_pending_take(n, nf->id);
			notify_send_resp(n, nf->id, 0, ENOMEM, 0);
		}
	}
	for (i = 0; i < nmem; i++)
		free(bufs[i]);
	return 0;
}

/**
 * notify_on_listener() - the listener polled readable (or hung up)
 * @n:		state
 * @revents:	poll events
 *
 * POLLHUP without POLLIN: no task uses the filter any more, nothing can
 * come: close it (else poll reports it forever; the caller then drops
 * the replies still waiting, notify_detach()).
 */
void notify_on_listener(struct notify_state *n, short revents)
{
	struct pollfd p = { .fd = n->listener, .events = POLLIN };
	int i;

	if (!(revents & POLLIN)) {
		if (revents & (POLLHUP | POLLERR | POLLNVAL))
			notify_close_listener(n);
		return;
	}
	for (i = 0; i < RECV_BATCH && n->listener >= 0; i++) {
		if (recv_one(n)) {
			notify_close_listener(n);
			return;
		}
		p.revents = 0;
		if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
			return;
	}
}

/**
 * notify_reply_malformed() - a reply for @id did not decode: answer the
 * caller ENOSYS so it never waits for an answer that will not come
 * @n:		state
 * @id:		the id the reply named
 */
void notify_reply_malformed(struct notify_state *n, uint64_t id)
{
	if (notify_pending_take(n, id))
		notify_send_resp(n, id, 0, ENOSYS, 0);
}

/**
 * notify_read_cmd() - {:notify_read, ref, id, pid, addr, len}
 * @n:		state
 * @c:		decoded request
 */
void notify_read_cmd(struct notify_state *n, const struct linx_cmd *c)
{
	uint8_t *buf = malloc(c->rlen ? c->rlen : 1);
	ssize_t got = 0;
	int fd, e = 0;

	if (!buf) {
		e = ENOMEM;
	} else if (!notify_id_valid(n, c->id)) {
		e = ENOENT;
	} else {
		fd = procfs_open(n->env.proc_fd, c->pid, "mem", O_RDONLY);
		if (fd >= 0 && c->rlen)
			got = read_mem(fd, c->addr, buf, c->rlen, false);
		if (fd < 0 || got < 0)
			e = errno;
		if (fd >= 0)
			close(fd);	/* close() keeps a success's errno */
	}
	/* After reading: the memory was the caller's only if it still is */
	if (!e && !notify_id_valid(n, c->id))
		e = ENOENT;
	ev_notify_answer(n->env.out, "notify_mem", c->ref, c->ref_len, buf,
			 e ? 0 : got, e);
	free(buf);
}

/**
 * notify_fd_path_cmd() - {:notify_fd_path, ref, id, pid, fd}
 * @n:		state
 * @c:		decoded request
 */
void notify_fd_path_cmd(struct notify_state *n, const struct linx_cmd *c)
{
	char path[64], target[4096];
	ssize_t len = 0;
	int e = 0;

	snprintf(path, sizeof(path), "%d/fd/%d", c->pid, c->fd);
	if (!notify_id_valid(n, c->id))
		e = ENOENT;
	else if ((len = readlinkat(n->env.proc_fd, path, target,
				   sizeof(target) - 1)) < 0)
		e = errno;
	else
		target[len] = '\0';	/* readlink does not terminate */
	if (!e && !notify_id_valid(n, c->id))
		e = ENOENT;
	ev_notify_answer(n->env.out, "notify_fd_path", c->ref, c->ref_len,
			 target, e ? 0 : (size_t)len, e);
}
