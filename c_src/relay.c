/*
 * relay.c - the agent's side of the checkpoint window.
 *
 * After clone3 the child sends READY; the agent writes the request's id
 * maps (idmap.c), emits {:status, :ready, pid_in_ns}, applies the request's `commands` in order, then either
 * proceeds by itself (checkpoint: false) or takes checkpoint commands from
 * the BEAM until :proceed or :abort. Each command for the child is
 * forwarded as one channel record and the next one waits for its answer
 * (the event loop stops reading fd 3 meanwhile, so order is kept). After
 * PROCEED, EOF on the channel means execve succeeded (the child's end is
 * close-on-exec): {:status, :running}; an ERR record means a child stage
 * failed: {:error, errno, stage}, reap, exit 5.
 *
 * A failed checkpoint command is fatal: error frame, kill and reap the
 * child, exit 5. A command that is well formed but not valid now is
 * answered {:error, EINVAL, :bad_state} and the agent goes on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "caps.h"
#include "chan.h"
#include "events.h"
#include "deadline.h"
#include "idmap.h"
#include "resources.h"
#include "ns.h"
#include "pty.h"
#include "relay.h"

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/*
 * relay_child_lost() - the child died (or closed the channel) before
 * execve without reporting a stage (see agent_child_lost)
 */
static void relay_child_lost(struct session *s)
{
	agent_child_lost(s, s->state == ST_WAIT_READY ? STAGE_READY_FRAME :
							STAGE_EXEC_OUTCOME);
}

/*
 * relay_send() - one record to the child; a dead child is a lost child
 */
static void relay_send(struct session *s, const struct chan_rec *rec,
		       const void *payload, size_t len)
{
	if (chan_send(s->chan, rec, payload, len))
		relay_child_lost(s);
}

static void relay_proceed(struct session *s)
{
	struct chan_rec rec = { .type = CHAN_PROCEED };

	s->state = ST_AWAIT_EXEC;
	relay_send(s, &rec, NULL, 0);
}

/*
 * relay_apply() - apply one checkpoint command (state ST_CHECKPOINT).
 * A command whose table row names a channel record goes to the child as
 * that record (its masks, its filter) and moves to ST_AWAIT_REPLY;
 * pty_winsize is the agent's own (the master is here).
 */
static void relay_apply(struct session *s, const struct linx_cmd *c)
{
	const struct cmd_row *row = cmd_row_of(c->kind);
	struct linx_err err;
	struct chan_rec rec;

	if (c->kind == CMD_PTY_WINSIZE) {
		/* The agent's own operation: a failure is not the workload's */
		agent_pty_winsize(s, &c->ws);
		return;
	}
	if (!row || row->phase != CMD_CHECKPOINT || !row->chan) {
		agent_bad_state(s, c->kind);
		return;
	}
	if (row->payload) {
		/* what the child would answer; it never fits a record */
		if (seccomp_check_len(c->len)) {
			linx_fail(&err, seccomp_check_len(c->len),
				  STAGE_SECCOMP_INSTALL,
				  ":%s: a filter of %zu bytes is not 1..4096 whole instructions",
				  row->name, c->len);
			agent_fail_err(s, &err, EXIT_WORKLOAD);
		}
	}
	memset(&rec, 0, sizeof(rec));
	rec.type = row->chan;
	memcpy(rec.mask, c->mask, sizeof(c->mask));
	/* it announces the listener (relay_on_listener_at) */
	s->notify.installing = c->kind == CMD_SECCOMP_NOTIFY_INSTALL;
	s->notify.listener_at = -1;
	s->state = ST_AWAIT_REPLY;
	relay_send(s, &rec, row->payload ? c->data : NULL,
		   row->payload ? c->len : 0);
}

/*
 * relay_advance() - apply the request's commands still due, then proceed
 * by ourselves if the request said checkpoint: false
 */
static void relay_advance(struct session *s)
{
	const struct linx_request *r = s->req;

	while (s->state == ST_CHECKPOINT && s->next_cmd < r->ncommands)
		relay_apply(s, &r->commands[s->next_cmd++]);
	if (s->state == ST_CHECKPOINT && s->next_cmd == r->ncommands &&
	    !r->checkpoint)
		relay_proceed(s);
}

/**
 * relay_command() - a checkpoint-window command from the BEAM
 * @s:		session
 * @c:		decoded command (proceed, abort, caps, seccomp, caps_query)
 */
void relay_command(struct session *s, const struct linx_cmd *c)
{
	struct chan_rec rec = { .type = CHAN_ABORT };

	if (s->state != ST_CHECKPOINT || !s->req->checkpoint) {
		agent_bad_state(s, c->kind);
		return;
	}
	switch (c->kind) {
	case CMD_PROCEED:
		relay_proceed(s);
		return;
	case CMD_ABORT:
		s->state = ST_ABORTING;
		relay_send(s, &rec, NULL, 0);
		return;
	default:
		relay_apply(s, c);
		return;
	}
}

/*
 * relay_on_eof() - the child's end of the channel closed
 */
static void relay_on_eof(struct session *s)
{
	switch (s->state) {
	case ST_AWAIT_EXEC:
		/* close-on-exec fired: execve succeeded */
		close(s->chan);
		s->chan = -1;
		s->state = ST_RUNNING;
		ev_status(&s->out, "running");
		deadline_start(s);
		return;
	case ST_ABORTING:
		close(s->chan);
		s->chan = -1;
		return;		/* the reap reports :aborted */
	default:
		relay_child_lost(s);
	}
}

/*
 * How long the agent waits for the listener the child announced: the
 * install is a few microseconds after the announce, but the child may be
 * descheduled on a loaded machine.
 */
#define LISTENER_WAIT_MS 5000

/*
 * relay_listener_fd() - copy descriptor @nr of the child into the agent
 * (pidfd_getfd) if it is a seccomp notification listener
 *
 * Return: the descriptor (ours), or -1 with errno (EBADF: not there yet,
 * or not a listener)
 */
static int relay_listener_fd(const struct session *s, int nr)
{
	char link[64], path[32];
	ssize_t n;
	int fd = (int)syscall(SYS_pidfd_getfd, s->pidfd, nr, 0);

	if (fd < 0)
		return -1;
	/* "anon_inode:seccomp notify": never serve some other file */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || (link[n] = '\0', !strstr(link, "seccomp notify"))) {
		close(fd);
		errno = EBADF;
		return -1;
	}
	return fd;
}

/*
 * relay_on_listener_at() - CHAN_LISTENER_AT: the child installs its
 * notify filter next and the listener will be its descriptor @nr. Copy it
 * out as soon as it exists (pidfd_getfd), without waiting for the OK: the
 * OK itself may be a trapped call that only this listener can answer
 * (docs/notify.md, "The hand-off"). While it is not there yet, the
 * channel is watched: an ERR (the install failed) or EOF ends the wait
 * and goes to relay_on_chan(); the OK of an install whose calls are not
 * trapped is followed by one more try (relay_on_record()).
 */
static void relay_on_listener_at(struct session *s, int nr)
{
	struct pollfd p = { .fd = s->chan, .events = POLLIN };
	struct linx_err err;
	int waited = 0, fd;

	s->notify.listener_at = nr;
	for (;;) {
		fd = relay_listener_fd(s, nr);
		if (fd >= 0)
			break;
		if (errno != EBADF) {
			linx_fail(&err, errno, STAGE_SECCOMP_INSTALL,
				  "pidfd_getfd of the child's listener (fd %d)",
				  nr);
			agent_fail_err(s, &err, EXIT_INFRA);
		}
		if (waited >= LISTENER_WAIT_MS) {
			linx_fail(&err, ETIMEDOUT, STAGE_SECCOMP_INSTALL,
				  "the child announced a listener at fd %d and installed none in %d ms",
				  nr, LISTENER_WAIT_MS);
			agent_fail_err(s, &err, EXIT_INFRA);
		}
		if (poll(&p, 1, 1) > 0)
			return;	/* ERR, OK or EOF: relay_on_record() */
		waited++;
	}
	s->notify.listener_at = -1;
	s->notify.installing = false;
	if (notify_attach(s, fd, &err))
		agent_fail_err(s, &err, EXIT_INFRA);
}

/*
 * relay_on_installed() - the OK of seccomp_notify_install: the listener
 * exists in the child now, if the agent does not hold it yet
 */
static void relay_on_installed(struct session *s)
{
	struct linx_err err;
	int fd;

	if (s->notify.listener_at < 0) {
		s->notify.installing = false;
		if (s->notify.listener < 0)
			agent_fail(s, EPROTO, STAGE_SECCOMP_INSTALL,
				   EXIT_INFRA);
		return;
	}
	fd = relay_listener_fd(s, s->notify.listener_at);
	if (fd < 0) {
		linx_fail(&err, errno, STAGE_SECCOMP_INSTALL,
			  "pidfd_getfd of the child's listener (fd %d)",
			  s->notify.listener_at);
		agent_fail_err(s, &err, EXIT_INFRA);
	}
	s->notify.listener_at = -1;
	s->notify.installing = false;
	if (notify_attach(s, fd, &err))
		agent_fail_err(s, &err, EXIT_INFRA);
}

/*
 * relay_child_failed() - an ERR record: the child's errno, stage and
 * message (chan_decode checked its length) become the error frames
 */
static void relay_child_failed(struct session *s, const struct chan_rec *rec,
			       const uint8_t *payload)
	__attribute__((noreturn));
static void relay_child_failed(struct session *s, const struct chan_rec *rec,
			       const uint8_t *payload)
{
	struct linx_err e = { .err = rec->err, .stage = rec->stage,
			      .index = (int)rec->mask[0] };

	/* < LINX_ERR_MSG_MAX bytes: it fits with its NUL */
	if (payload)
		memcpy(e.msg, payload, rec->len);
	e.msg[payload ? rec->len : 0] = '\0';
	agent_fail_err(s, &e, EXIT_WORKLOAD);
}

/*
 * relay_sandbox() - after the maps: have the child build its root,
 * mounts, hostname and lo (mounts.c) before anything else is applied
 *
 * Return: true if CHAN_SANDBOX went out (its answer goes on)
 */
static bool relay_sandbox(struct session *s)
{
	const struct linx_request *r = s->req;
	struct chan_rec rec = { .type = CHAN_SANDBOX };

	if (s->no_checkpoint ||
	    !sandbox_wanted(&r->sandbox, r->namespaces & (1u << NS_NET)))
		return false;
	s->sandboxing = true;
	s->state = ST_AWAIT_REPLY;
	relay_send(s, &rec, NULL, 0);
	return true;
}

/*
 * relay_on_record() - one valid record from the child
 * @fd:		a descriptor that came with it (SCM_RIGHTS), else -1; ours
 */
static void relay_on_record(struct session *s, const struct chan_rec *rec,
			    const uint8_t *payload, int fd)
{
	struct linx_err err;

	if (fd >= 0)
		close(fd);	/* nobody asked for it */
	if (rec->type == CHAN_OK && s->state == ST_AWAIT_REPLY &&
	    s->notify.installing)
		relay_on_installed(s);

	switch (rec->type) {
	case CHAN_LISTENER_AT:
		if (s->state != ST_AWAIT_REPLY || !s->notify.installing ||
		    s->notify.listener_at >= 0 || rec->pid < 0)
			break;
		relay_on_listener_at(s, rec->pid);
		return;
	case CHAN_READY:
		if (s->state != ST_WAIT_READY)
			break;
		s->pid_in_ns = rec->pid;
		/*
		 * Groups and limits before anything else: the child has
		 * forked nothing yet, so its whole tree is inside them.
		 */
		if (!s->no_checkpoint && limits_needed(&s->req->limits) &&
		    limits_apply(s->child, &s->req->limits, s->cgroup_v1_fds,
				 &err))
			agent_fail_err(s, &err, EXIT_WORKLOAD);
		/*
		 * The maps first: :ready means the child waits in its
		 * namespaces as configured, and set_ids (a request command)
		 * needs them. A failure is fatal, before anything runs.
		 */
		if (!s->no_checkpoint && idmap_needed(&s->req->idmaps) &&
		    idmap_write(s->child, &s->req->idmaps, &err))
			agent_fail_err(s, &err, EXIT_WORKLOAD);
		/* spawn_paused() applied both, and may have failed */
		if (s->early_failed)
			agent_fail_err(s, &s->early_err, EXIT_WORKLOAD);
		/* Then the root and mounts: :ready waits for them too */
		if (relay_sandbox(s))
			return;
		ev_status_int(&s->out, "ready", rec->pid);
		if (s->no_checkpoint) {
			/* it did not wait: what follows is the exec outcome */
			s->state = ST_AWAIT_EXEC;
			return;
		}
		s->state = ST_CHECKPOINT;
		relay_advance(s);
		return;
	case CHAN_ERR:
		/* A child stage or a checkpoint command failed: fatal */
		if (s->state == ST_AWAIT_EXEC) {
			/*
			 * It _exit()s right away - but a notify filter may trap
			 * its exit_group, and nobody answers while we block in
			 * waitpid: kill it first (its status is not reported).
			 */
			if (s->notify.listener >= 0)
				agent_kill_tree(s);
			agent_wait_child(s);
		}
		relay_child_failed(s, rec, payload);
	case CHAN_OK:
	case CHAN_CAPS:
		if (s->state != ST_AWAIT_REPLY)
			break;
		if (s->sandboxing && rec->type == CHAN_OK) {
			s->sandboxing = false;
			ev_status_int(&s->out, "ready", s->pid_in_ns);
		}
		if (rec->type == CHAN_CAPS)
			ev_caps(&s->out, rec->mask);
		s->state = ST_CHECKPOINT;
		relay_advance(s);
		return;
	}
	agent_fail(s, EPROTO, s->state == ST_WAIT_READY ?
		   STAGE_MALFORMED_READY : STAGE_EXEC_OUTCOME, EXIT_INFRA);
}

/**
 * relay_on_chan() - read what the child sent, without blocking
 * @s:		session (s->chan open)
 */
void relay_on_chan(struct session *s)
{
	union {
		struct chan_rec align;
		uint8_t buf[CHAN_MAX_RECORD];
	} in;
	const uint8_t *payload;
	struct chan_rec rec;
	ssize_t n;
	int fd;

	while (s->chan >= 0) {
		n = chan_recv(s->chan, in.buf, sizeof(in.buf), MSG_DONTWAIT,
			      &fd);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			relay_on_eof(s);
			return;
		}
		if (chan_decode(in.buf, n, &rec, &payload) ||
		    (rec.type != CHAN_READY && rec.type != CHAN_OK &&
		     rec.type != CHAN_ERR && rec.type != CHAN_CAPS &&
		     rec.type != CHAN_LISTENER_AT))
			agent_fail(s, EPROTO, s->state == ST_WAIT_READY ?
				   STAGE_MALFORMED_READY : STAGE_EXEC_OUTCOME,
				   EXIT_INFRA);
		relay_on_record(s, &rec, payload, fd);
	}
}
