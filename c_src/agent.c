/*
 * agent.c - how the agent ends: the workload's tree killed and reaped,
 * what is queued for the BEAM flushed, the terminal frame or an error
 * frame, the exit code of the contract (docs/protocol.md, "Agent exit
 * codes"); and the small answers every layer gives (:bad_state).
 *
 * Below relay.c (the checkpoint window) and supervise.c (the poll loop),
 * which both call it; it calls neither. main.c exits through it too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "events.h"
#include "framing.h"
#include "init.h"
#include "notify.h"
#include "tree.h"
#include "usage.h"

/**
 * close_fd() - close a descriptor if open and mark it closed
 * @fdp:	the descriptor, -1 afterwards
 */
void close_fd(int *fdp)
{
	if (*fdp >= 0)
		close(*fdp);
	*fdp = -1;
}

/**
 * agent_session_init() - a session with nothing open yet, waiting for the
 * child's READY, reading the BEAM on fd 3
 * @s:		session
 * @req:	the decoded request it serves
 */
void agent_session_init(struct session *s, struct linx_request *req)
{
	memset(s, 0, sizeof(*s));
	s->req = req;
	s->sigfd = s->proc_fd = s->pidfd = s->chan = s->cgroup_fd = -1;
	s->fd_stdin = s->fd_out[0] = s->fd_out[1] = -1;
	s->pty_master = s->pty_slave = -1;
	for (size_t i = 0; i < LIMITS_MAX_CGROUPS; i++)
		s->cgroup_v1_fds[i] = -1;
	s->init_status = s->cgroup_parent = -1;
	s->pre_chan[0] = s->pre_chan[1] = s->pre_devnull = -1;
	s->sig_ignored = UINT64_MAX;	/* unknown: the child resets them all */
	s->agent_pid = getpid();
	s->state = ST_WAIT_READY;
	notify_init(&s->notify);
	frame_reader_init(&s->in, LINX_FD_IN, LINX_MAX_FRAME);
}

/**
 * agent_kill_tree() - SIGKILL the workload and all descendants, reap them
 * @s:		session
 */
void agent_kill_tree(struct session *s)
{
	if (s->child > 0)
		tree_sweep(s->proc_fd, s->agent_pid, s->pidfd, s->cgroup_fd,
			   s->child, &s->reaped, &s->status);
}

/*
 * terminate() - exit(3), except in an ASan build after enter: the agent is
 * then non-dumpable in another user namespace, LeakSanitizer's tracer
 * cannot ptrace it and its exit-time check spins forever.
 */
static void terminate(const struct session *s, int code)
	__attribute__((noreturn));
static void terminate(const struct session *s, int code)
{
#ifdef __SANITIZE_ADDRESS__
	if (s->req && s->req->kind == LINX_ENTER)
		_exit(code);
#endif
	(void)s;
	exit(code);
}

/*
 * remove_cgroup() - remove the group the agent made (request cgroup
 * {:make, …}) on its way out: after the last frame is written, so the
 * rmdir (~20 µs) is not between the workload's end and the BEAM knowing
 * it. The BEAM leaves the group to us once it has that frame. A group
 * that stays (a process in uninterruptible sleep) is logged on stderr,
 * the only channel left.
 */
static void remove_cgroup(struct session *s)
{
	int err;

	if (s->cgroup_parent < 0)
		return;
	err = tree_remove_group(s->cgroup_parent,
				strrchr(s->req->cgroup, '/') + 1, s->cgroup_fd,
				s->req->on_exit == ON_EXIT_KILL);
	if (err)
		dprintf(STDERR_FILENO, "linx_process: cgroup %s left: %s\n",
			s->req->cgroup, strerror(err));
	close_fd(&s->cgroup_parent);
}

/*
 * close_session_fds() - every exit path leaves with nothing open but the
 * descriptors the agent holds for its whole life (fds 0-4, the signalfd,
 * /proc): valgrind --track-fds checks it (make valgrind-check)
 */
static void close_session_fds(struct session *s)
{
	close_fd(&s->chan);
	close_fd(&s->cgroup_fd);
	close_fd(&s->pidfd);
	close_fd(&s->fd_stdin);
	close_fd(&s->fd_out[0]);
	close_fd(&s->fd_out[1]);
	close_fd(&s->pty_master);
	close_fd(&s->pty_slave);
	for (size_t i = 0; i < LIMITS_MAX_CGROUPS; i++)
		close_fd(&s->cgroup_v1_fds[i]);
	close_fd(&s->init_status);
	close_fd(&s->cgroup_parent);
	close_fd(&s->pre_chan[0]);
	close_fd(&s->pre_chan[1]);
	close_fd(&s->pre_devnull);
	free(s->deferred);	/* what is still in it dies with us */
	s->deferred = NULL;
}

/* How long the agent keeps draining fd 3 before exiting (see below) */
#define LINGER_QUIET_MS 50
#define LINGER_MAX_MS 500
/* With close_handshake: the most it waits for the BEAM to close the port */
#define HANDSHAKE_MAX_MS 5000

/*
 * elapsed_ms() - milliseconds since @t0 (CLOCK_MONOTONIC)
 */
static long elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
	       (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * drain_beam_input() - keep reading (and dropping) what the BEAM still
 * sends before exiting: until it closes the port (@until_closed, the
 * request's close_handshake, at most HANDSHAKE_MAX_MS), else until it has
 * been quiet for a moment.
 *
 * Why: a BEAM write into a pipe whose reader is gone fails with EPIPE,
 * and erts then closes the port at once, dropping the frames we wrote
 * last but it had not read yet — the terminal status among them. A
 * command sent just as the workload ends (a signal, an output_ack, a
 * :proceed behind a failing command) is enough. Holding fd 3 open and
 * drained while the BEAM catches up closes that window. A quiet spell is
 * only a guess that the BEAM has caught up (a loaded machine defeats it);
 * Linx.Process asks for the handshake instead and closes the port as soon
 * as it has the terminal frame, so the agent is gone the moment the BEAM
 * knows, and never before.
 */
static void drain_beam_input(bool until_closed)
{
	struct pollfd p = { .fd = LINX_FD_IN, .events = POLLIN };
	int max = until_closed ? HANDSHAKE_MAX_MS : LINGER_MAX_MS;
	struct timespec t0;
	char buf[4096];
	long left;
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		left = max - elapsed_ms(&t0);
		if (left <= 0)
			return;
		if (!until_closed && left > LINGER_QUIET_MS)
			left = LINGER_QUIET_MS;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* quiet (or the handshake's bound) */
		n = read(LINX_FD_IN, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;	/* EOF: the port is closed */
	}
}

/**
 * agent_out_write() - write what fd 4 takes now: the frames as they are
 * on a port's pipe, tagged pieces on the zygote's shared one (zygote.c)
 * @s:		session
 *
 * Return: 0 (possibly with bytes left), or -1 with errno set
 */
int agent_out_write(struct session *s)
{
	if (s->forked)
		return byteq_write_tagged(&s->out, LINX_FD_OUT, s->chan_id,
					  &s->out_left);
	return byteq_write(&s->out, LINX_FD_OUT);
}

/**
 * agent_out_flush() - agent_out_write() until everything is out (blocks)
 * @s:		session
 *
 * Return: 0, or -1 with errno set
 */
int agent_out_flush(struct session *s)
{
	if (s->forked)
		return byteq_flush_tagged(&s->out, LINX_FD_OUT, s->chan_id,
					  &s->out_left);
	return byteq_flush(&s->out, LINX_FD_OUT);
}

/**
 * agent_exit() - flush what is queued for the BEAM and exit
 * @s:		session
 * @code:	enum linx_exit (1 if the flush fails: the BEAM is gone)
 */
void agent_exit(struct session *s, int code)
{
	if (agent_out_flush(s) && code == EXIT_DONE)
		code = EXIT_BEAM;
	remove_cgroup(s);
	close_session_fds(s);
	if (code != EXIT_BEAM) {
		/* Everything is said: EOF now, so readers need not wait */
		close(LINX_FD_OUT);
		if (!s->forked)
			drain_beam_input(s->req && s->req->close_handshake);
	}
	terminate(s, code);
}

/**
 * agent_fail() - {:error, err, stage}, kill the tree, exit
 * @s:		session
 * @err:	errno value
 * @stage:	enum linx_stage
 * @code:	enum linx_exit
 */
void agent_fail(struct session *s, int err, int stage, int code)
{
	ev_error(&s->out, err, stage);
	agent_kill_tree(s);
	agent_exit(s, code);
}

/**
 * agent_fail_err() - agent_fail() with the failure's message:
 * {:error_detail, stage, :none, text}, {:error, err, stage}
 * @s:		session
 * @e:		the failure (its message may be empty)
 * @code:	enum linx_exit
 */
void agent_fail_err(struct session *s, const struct linx_err *e, int code)
{
	ev_fail(&s->out, e);
	agent_kill_tree(s);
	agent_exit(s, code);
}

/**
 * agent_emit_terminal() - the terminal frame of a reaped workload,
 * {:status, :signaled, n} or {:status, :exited, code}, after {:usage, map}
 * when the request asked for it and the agent made the group
 * @s:		session (s->reaped)
 */
void agent_emit_terminal(struct session *s)
{
	struct group_usage u;

	/* init: true: the workload's status, not its init's */
	init_take_status(s->init_status, &s->status);
	/* The final usage first, from the group we made and are to remove */
	if (s->req->usage && s->cgroup_parent >= 0 && s->cgroup_fd >= 0) {
		usage_read(s->cgroup_fd, &u);
		ev_usage(&s->out, &u);
	}
	if (WIFSIGNALED(s->status))
		ev_status_int(&s->out, "signaled", WTERMSIG(s->status));
	else
		ev_status_int(&s->out, "exited", WEXITSTATUS(s->status));
}

/**
 * agent_child_lost() - the child ended (or closed the channel) before
 * execve without reporting a stage: reap it, report, exit
 * @s:		session
 * @stage:	stage of the {:error, :echild, stage} frame
 *
 * A child held at the checkpoint (ready, or applying a command) that dies
 * by a signal was stopped by someone (stop/2, signal/2, the OOM killer):
 * that is its terminal status, {:status, :signaled, n}, as it would be a
 * moment later after execve. Any other end before execve (an exit code:
 * the child only exits by itself there when the agent or the channel
 * failed; a death before READY) has no status of the workload to report:
 * {:error, ECHILD, stage}, exit 5. A child spawn_paused() killed because
 * its limits or id maps failed reports that failure instead.
 */
void agent_child_lost(struct session *s, int stage)
{
	bool held = s->state == ST_CHECKPOINT || s->state == ST_AWAIT_REPLY;

	/* spawn_paused() killed it when its limits or maps failed: say that */
	if (s->early_failed)
		agent_fail_err(s, &s->early_err, EXIT_WORKLOAD);

	/*
	 * Normally already dead (its end of the channel is closed): the
	 * sweep's SIGKILL cannot change the status of a process that is
	 * already exiting. A channel error could leave it alive.
	 */
	agent_kill_tree(s);
	if (held && s->reaped && WIFSIGNALED(s->status)) {
		agent_emit_terminal(s);
		agent_exit(s, EXIT_DONE);
	}
	agent_fail(s, ECHILD, stage, EXIT_WORKLOAD);
}

/**
 * agent_wait_child() - block until the workload is reaped
 * @s:		session
 *
 * Only used when it is already exiting (ERR sent, channel closed).
 */
void agent_wait_child(struct session *s)
{
	int st;
	pid_t pid;

	while (!s->reaped) {
		pid = waitpid(s->child, &st, 0);
		if (pid == s->child) {
			s->reaped = true;
			s->status = st;
		} else if (pid < 0 && errno != EINTR) {
			break;
		}
	}
}

/**
 * agent_bad_state() - answer a well-formed command that is not valid now:
 * {:error_detail, :bad_state, tag, text}, {:error, EINVAL, :bad_state}
 * @s:		session
 * @kind:	the refused command; its tag ties the refusal to the call
 *		that sent it (docs/protocol.md, "Errors")
 */
void agent_bad_state(struct session *s, enum linx_cmd_kind kind)
{
	struct linx_err e;

	linx_fail(&e, EINVAL, STAGE_BAD_STATE, "command :%s is not valid now",
		  cmd_name(kind));
	ev_error_cmd(&s->out, e.err, e.stage, cmd_name(kind), e.msg);
}

/**
 * agent_beam_gone() - fd 3 EOF or fd 4 broken: nothing can be sent any
 * more; kill the tree (unless on_exit: :detach) and exit 1
 * @s:		session (the caller has closed the notification listener)
 */
void agent_beam_gone(struct session *s)
{
	if (s->req->on_exit == ON_EXIT_KILL)
		agent_kill_tree(s);
	remove_cgroup(s);
	close_session_fds(s);
	terminate(s, EXIT_BEAM);
}
