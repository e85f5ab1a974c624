/*
 * supervise.c - the agent's event loop, from clone3 to exit.
 *
 * One poll(2) loop serves every phase (see enum sess_state):
 *  - fd 3: BEAM commands (not read while the child owes an answer, so
 *    commands keep their order; once a notification listener exists it is
 *    read anyway and only notify_* commands run out of turn, see
 *    reading_commands()); EOF means the BEAM is gone: close the listener,
 *    kill the tree (unless on_exit: :detach) and exit 1;
 *  - fd 4: queued frames, written as it becomes writable;
 *  - the channel to the child (relay.c) until execve;
 *  - a signalfd for SIGCHLD: reap everything, note the workload's status;
 *  - stdout/stderr pipes and the PTY master: {:stdout|:stderr|:pty_out,
 *    bin} in 64 KiB chunks, not polled while more than 1 MiB waits for
 *    fd 4, nor (with a stdio_window) while the BEAM has granted no credit
 *    (backpressure: the workload blocks, nothing is dropped; fd 3 is read
 *    whatever the credit, so {:output_ack, n} always gets in);
 *  - the stdin pipe and the PTY master for queued input, acknowledged
 *    with {:stdin_ack, n} as it leaves the queue (the BEAM keeps at most
 *    a window of input in flight, so the queue stays bounded);
 *  - the seccomp notification listener, from the moment the child hands
 *    it over, in every state (notify.c), and the socket of a {:call}
 *    step's helper while one runs, with its deadline (notify_reply.c).
 * When the workload is reaped: kill and reap what it left behind, read
 * every pipe and the PTY to EOF/EIO, then the terminal frame, flush, exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "deadline.h"
#include "events.h"
#include "notify.h"
#include "pty.h"
#include "relay.h"
#include "supervise.h"
#include "tree.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define READ_CHUNK 65536

/*
 * While draining, a pipe that stays silent this long with nothing of the
 * tree left alive is held by an outsider (an fd passed over a socket):
 * its writer is not ours to wait for.
 */
#define DRAIN_IDLE_MS 2000

/*
 * And however busy such an outsider keeps a pipe (a daemon the sweep could
 * not find: adopted by the init of a pid namespace we entered without a
 * cgroup), draining stops this long after the workload was reaped and its
 * tree swept and what the tree left in the pipes was read: the terminal
 * status is never withheld for it. What the tree wrote before it was gone
 * is not at stake (drain_start).
 */
#define DRAIN_MAX_MS 2000

/*
 * beam_gone() - fd 3 EOF or fd 4 broken: nothing can be sent any more
 */
static void beam_gone(struct session *s) __attribute__((noreturn));
static void beam_gone(struct session *s)
{
	/*
	 * Nobody can answer a notification any more: closing the listener
	 * makes the kernel fail pending and future trapped calls with
	 * ENOSYS, so no caller waits while the tree is killed (nor, with
	 * :detach, forever).
	 */
	notify_detach(&s->notify);
	agent_beam_gone(s);
}

/*
 * owed_slot() - the counter of bytes still owed on an output fd: what
 * the fd held when the tree was swept (see drain_start)
 */
static size_t *owed_slot(struct session *s, const int *fdp)
{
	if (fdp == &s->fd_out[0])
		return &s->owed[0];
	if (fdp == &s->fd_out[1])
		return &s->owed[1];
	return &s->owed[2];
}

/*
 * owed_total() - bytes still owed on every output fd still open
 */
static size_t owed_total(const struct session *s)
{
	return (s->fd_out[0] >= 0 ? s->owed[0] : 0) +
	       (s->fd_out[1] >= 0 ? s->owed[1] : 0) +
	       (s->pty_master >= 0 ? s->owed[2] : 0);
}

/*
 * fd_pending() - bytes a pipe or the PTY master holds now (0 if unknown)
 */
static size_t fd_pending(int fd)
{
	int avail = 0;

	if (fd < 0 || ioctl(fd, FIONREAD, &avail) || avail < 0)
		return 0;
	return (size_t)avail;
}

/*
 * ms_left() - milliseconds from now until @t (<= 0: passed)
 */
static long ms_left(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 +
	       (t->tv_nsec - now.tv_nsec) / 1000000;
}

/*
 * drain_start() - the tree is gone: note what it left in each pipe
 *
 * A workload that writes into a full pipe cannot exit, so what the pipes
 * and the PTY hold now is bounded by their capacity, and every byte of it
 * was written by the workload's tree: it is owed to the BEAM before the
 * terminal frame, however long the owner takes to grant credit for it
 * (the window still applies). Pipes are FIFOs: FIONREAD counts exactly
 * those bytes. (On the PTY some may still be in flight to the master's
 * line discipline; the bounded drain that follows reads them.)
 */
static void drain_start(struct session *s)
{
	s->owed[0] = fd_pending(s->fd_out[0]);
	s->owed[1] = fd_pending(s->fd_out[1]);
	s->owed[2] = fd_pending(s->pty_master);
	s->drain_armed = false;
}

/*
 * drain_arm() - everything owed is read: from now on only outsiders write
 * (see DRAIN_MAX_MS), so set the deadline
 */
static void drain_arm(struct session *s)
{
	clock_gettime(CLOCK_MONOTONIC, &s->drain_until);
	s->drain_until.tv_sec += DRAIN_MAX_MS / 1000;
	s->drain_until.tv_nsec += (DRAIN_MAX_MS % 1000) * 1000000L;
	if (s->drain_until.tv_nsec >= 1000000000L) {
		s->drain_until.tv_sec++;
		s->drain_until.tv_nsec -= 1000000000L;
	}
	s->drain_armed = true;
}

/*
 * drain_stop() - stop reading output: whoever still holds a write end is
 * not the workload's tree (see DRAIN_IDLE_MS, DRAIN_MAX_MS)
 */
static void drain_stop(struct session *s)
{
	close_fd(&s->fd_out[0]);
	close_fd(&s->fd_out[1]);
	close_fd(&s->pty_master);
}

/*
 * drain_poll_ms() - poll timeout while draining: none while bytes are
 * still owed (only credit, output or the BEAM's EOF can move us then);
 * else the idle bound, cut to the deadline. Past the deadline we are only
 * here while throttled (fd 4 is full; its POLLOUT wakes us), so no busy
 * loop.
 */
static int drain_poll_ms(const struct session *s)
{
	long left;

	if (!s->drain_armed)
		return -1;
	left = ms_left(&s->drain_until);
	return left > 0 && left < DRAIN_IDLE_MS ? (int)left : DRAIN_IDLE_MS;
}

/*
 * on_workload_reaped() - the workload is gone: settle the exec outcome if
 * still open, sweep what it left, and start draining its output
 */
static void on_workload_reaped(struct session *s)
{
	if (s->state == ST_ABORTING) {
		ev_status_int(&s->out, "aborted", s->pid_in_ns);
		agent_kill_tree(s);
		agent_exit(s, EXIT_DONE);
	}
	/*
	 * Died before we saw the exec outcome: its end of the channel is
	 * closed now, so what it sent (ERR, or EOF after execve) is there.
	 */
	if (s->chan >= 0)
		relay_on_chan(s);
	if (s->state != ST_RUNNING)
		agent_fail(s, ECHILD, STAGE_EXEC_OUTCOME, EXIT_WORKLOAD);

	s->state = ST_DRAINING;
	/* Daemons it left must not outlive it, nor hold our pipes open */
	agent_kill_tree(s);
	drain_start(s);
	/* Now the master reads what is left, then EIO */
	close_fd(&s->pty_slave);
	close_fd(&s->fd_stdin);
	byteq_clear(&s->stdin_q);
	byteq_clear(&s->pty_q);
}

/*
 * reap_children() - SIGCHLD: reap every dead child (orphans re-parented
 * to us as subreaper included); note the workload's status
 */
static void reap_children(struct session *s)
{
	struct signalfd_siginfo si;
	bool was = s->reaped;
	pid_t pid;
	int st;

	while (read(s->sigfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (pid == s->child && !s->reaped) {
			s->reaped = true;
			s->status = st;
		}
	if (s->reaped && !was)
		on_workload_reaped(s);
}

/*
 * output_room() - how many output bytes may be read now: at most a chunk,
 * and with a stdio_window no more than the credit the BEAM granted, less
 * the frame's own cost (LINX_FRAME_COST)
 */
static size_t output_room(const struct session *s)
{
	if (!s->req->stdio_window ||
	    s->out_credit >= READ_CHUNK + LINX_FRAME_COST)
		return READ_CHUNK;
	return s->out_credit > LINX_FRAME_COST ?
		       s->out_credit - LINX_FRAME_COST : 0;
}

/*
 * output_events() - what to poll an output fd for: data while the BEAM
 * has room and credit is left; with the credit spent, only the hang-up
 * of an empty pipe or PTY master (POLLHUP is reported whatever is asked;
 * asking for it keeps the fd in the set), so output that ends exactly at
 * the window still reaches EOF and the terminal frame. A fd with bytes
 * waiting is left out until credit comes: its hang-up would wake the
 * loop for nothing.
 */
static short output_events(const struct session *s, int fd, bool beam_room)
{
	int avail = 0;

	if (fd < 0 || !beam_room)
		return 0;
	if (output_room(s))
		return POLLIN;
	if (ioctl(fd, FIONREAD, &avail) == 0 && avail == 0)
		return POLLHUP;
	return 0;
}

/*
 * read_output() - one chunk from a pipe or the PTY master, within credit
 */
static void read_output(struct session *s, int *fdp, const char *tag)
{
	char buf[READ_CHUNK];
	size_t room = output_room(s);
	int avail = 0;
	ssize_t n;

	if (!room) {
		/* Polled for the hang-up only (output_events): EOF if empty */
		if (ioctl(*fdp, FIONREAD, &avail) == 0 && avail == 0)
			close_fd(fdp);
		return;
	}
	n = read(*fdp, buf, room);
	if (n > 0) {
		size_t *owed = owed_slot(s, fdp);

		*owed = *owed > (size_t)n ? *owed - (size_t)n : 0;
		/* n <= output_room(): the credit covers it */
		if (s->req->stdio_window)
			s->out_credit -= n + LINX_FRAME_COST;
		if (ev_data(&s->out, tag, buf, n))
			agent_fail(s, ENOMEM, STAGE_NONE, EXIT_INFRA);
		return;
	}
	/* 0: EOF; EIO: the PTY's last slave closed */
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		close_fd(fdp);
}

/*
 * handle_command() - one decoded command from the BEAM
 */
static void handle_command(struct session *s, const struct linx_cmd *c)
{
	const struct cmd_row *row = cmd_row_of(c->kind);
	bool stdin_pipe = !s->req->pty &&
			  s->req->stdio[0].mode == STDIO_PIPE;

	/* The checkpoint window's: :proceed, :abort, the child's commands */
	if (row && row->chan) {
		relay_command(s, c);
		return;
	}
	switch (c->kind) {
	case CMD_NOTIFY_REPLY:
		notify_reply(&s->notify, c);
		return;
	case CMD_NOTIFY_READ:
		notify_read_cmd(&s->notify, c);
		return;
	case CMD_NOTIFY_FD_PATH:
		notify_fd_path_cmd(&s->notify, c);
		return;
	case CMD_SIGNAL:
		/*
		 * By pidfd: no pid-reuse race. Without one (clone3 fallback
		 * on a kernel without pidfd_open) kill() is still safe: we
		 * never signal after reaping, and an unreaped pid is not
		 * reused.
		 */
		if (s->reaped)
			return;
		if ((s->pidfd >= 0 ?
		     syscall(SYS_pidfd_send_signal, s->pidfd, c->signal, NULL,
			     0) :
		     kill(s->child, c->signal)) && errno != ESRCH)
			ev_error(&s->out, errno, STAGE_PIDFD);
		return;
	case CMD_PTY_WINSIZE:
		agent_pty_winsize(s, &c->ws);
		return;
	case CMD_OUTPUT_ACK:
		/* Both at most LINX_WINDOW_MAX: no overflow; keep it so */
		s->out_credit += c->bytes;
		if (s->out_credit > LINX_WINDOW_MAX)
			s->out_credit = LINX_WINDOW_MAX;
		return;
	case CMD_PTY_IN:
		/* Acknowledged even when refused or dropped (ack_input) */
		s->in_taken += c->len;
		if (!s->req->pty)
			agent_bad_state(s, c->kind);
		else if (s->pty_master >= 0 && s->state != ST_DRAINING)
			byteq_push(&s->pty_q, c->data, c->len);
		return;
	case CMD_STDIN:
		s->in_taken += c->len;
		if (!stdin_pipe || s->close_stdin)
			agent_bad_state(s, c->kind);
		else if (s->fd_stdin >= 0) /* else the reader is gone: drop */
			byteq_push(&s->stdin_q, c->data, c->len);
		return;
	case CMD_CLOSE_STDIN:
		if (!stdin_pipe || s->close_stdin)
			agent_bad_state(s, c->kind);
		s->close_stdin = true;
		return;
	default:
		return;	/* a row with a chan record: relay_command() above */
	}
}

/*
 * in_order() - may a command run now? Not while the child owes an answer
 * to a forwarded one, nor while earlier commands wait in s->deferred.
 */
static bool in_order(const struct session *s)
{
	return s->state != ST_WAIT_READY && s->state != ST_AWAIT_REPLY &&
	       s->deferred_head == s->ndeferred;
}

static bool is_notify_cmd(enum linx_cmd_kind kind)
{
	const struct cmd_row *row = cmd_row_of(kind);

	return row && row->phase == CMD_NOTIFY;
}

/*
 * reading_commands() - is fd 3 read now?
 *
 * While the child owes an answer fd 3 used to wait, which keeps commands
 * in order for free. With a listener that would deadlock: the child may
 * be blocked in a trapped call (its reply, a capset, a second filter's
 * seccomp()) whose answer is a notify_reply somewhere in fd 3. So with a
 * listener fd 3 is read in every state; notify commands run at once
 * (they never involve the child's channel) and the others wait in order
 * in s->deferred until the child has answered.
 */
static bool reading_commands(const struct session *s)
{
	if (s->state != ST_WAIT_READY && s->state != ST_AWAIT_REPLY)
		return true;
	return s->notify.listener >= 0 && s->ndeferred < LINX_DEFERRED_MAX;
}

/*
 * run_deferred() - commands held while the child owed an answer, in
 * order, until one of them is forwarded to the child again
 */
static void run_deferred(struct session *s)
{
	while (s->deferred_head < s->ndeferred &&
	       s->state != ST_WAIT_READY && s->state != ST_AWAIT_REPLY) {
		struct linx_cmd *c = &s->deferred[s->deferred_head++];

		handle_command(s, c);
		cmd_free(c);
	}
	if (s->deferred_head == s->ndeferred)
		s->deferred_head = s->ndeferred = 0;
}

/*
 * defer() - queue @c in s->deferred, which now owns it (and @c is
 * cleared); the queue is allocated on first use
 */
static int defer(struct session *s, struct linx_cmd *c)
{
	if (!s->deferred) {
		s->deferred = calloc(LINX_DEFERRED_MAX, sizeof(*s->deferred));
		if (!s->deferred)
			return -1;
	}
	s->deferred[s->ndeferred++] = *c;
	memset(c, 0, sizeof(*c));
	return 0;
}

/*
 * read_commands() - frames from fd 3, until EAGAIN or until the state
 * says to wait (a command was forwarded to the child)
 */
static void read_commands(struct session *s)
{
	struct linx_cmd c;
	struct linx_err err;
	uint8_t *body;
	uint32_t len;

	while (reading_commands(s)) {
		switch (frame_read(&s->in, &body, &len)) {
		case FRAME_AGAIN:
			return;
		case FRAME_TOO_BIG:
			ev_error(&s->out, EMSGSIZE, STAGE_COMMAND_TOO_BIG);
			continue;
		case FRAME_EOF:
		case FRAME_ERROR:
			beam_gone(s);
		case FRAME_OK:
			break;
		}
		if (cmd_decode(body, len, &c, &err)) {
			if (err.stage == STAGE_MALFORMED_COMMAND)
				ev_malformed(&s->out, &err);
			ev_fail(&s->out, &err);
			/* A caller must never wait for a reply we refused */
			if (c.kind == CMD_NOTIFY_REPLY && c.has_id)
				notify_reply_malformed(&s->notify, c.id);
		} else if (!in_order(s) && !is_notify_cmd(c.kind)) {
			/* out of memory: refused like a command we cannot read */
			if (defer(s, &c))
				ev_error(&s->out, ENOMEM, STAGE_MALFORMED_COMMAND);
		} else {
			handle_command(s, &c);
		}
		cmd_free(&c);
		free(body);
	}
}

static void write_input(int *fdp, struct byteq *q)
{
	/* EPIPE (SIGPIPE is ignored in the agent): the reader is gone */
	if (byteq_write(q, *fdp)) {
		close_fd(fdp);
		byteq_clear(q);
	}
}

/*
 * ack_input() - {:stdin_ack, n} for input bytes that left the queues
 * since the last ack: written, dropped because the reader is gone, or
 * refused. One frame per loop turn at most, so writes are acked in
 * batches; the BEAM holds writers back until their bytes are acked.
 */
static void ack_input(struct session *s)
{
	uint64_t done = s->in_taken - byteq_pending(&s->stdin_q) -
			byteq_pending(&s->pty_q);

	if (done > s->in_acked) {
		ev_stdin_ack(&s->out, done - s->in_acked);
		s->in_acked = done;
	}
}

static int add_fd(struct pollfd *p, int *n, int fd, short events)
{
	p[*n].fd = events ? fd : -1;
	p[*n].events = events;
	p[*n].revents = 0;
	return (*n)++;
}

/**
 * supervise_run() - the event loop (see the top of this file)
 * @s:		session, child cloned, {:status, :spawned, pid} queued
 *
 * Never returns: every path ends in exit() with the contract's code.
 */
void supervise_run(struct session *s)
{
	struct pollfd p[10];
	int n, i_in, i_out, i_chan, i_sig, i_o1, i_o2, i_pty, i_stdin, i_lis;
	int i_call, call_fd;
	bool beam_room, room;

	s->out_credit = s->req->stdio_window;
	for (;;) {
		run_deferred(s);
		deadline_check(s);
		/* before the terminal frame: it ends the acks for good */
		ack_input(s);
		if (s->state == ST_DRAINING && !s->drain_armed &&
		    !owed_total(s))
			drain_arm(s);
		/* Not while throttled: what was read must reach fd 4 first */
		if (s->state == ST_DRAINING && s->drain_armed &&
		    byteq_pending(&s->out) < LINX_BACKPRESSURE &&
		    ms_left(&s->drain_until) <= 0)
			drain_stop(s);
		if (s->state == ST_DRAINING && s->fd_out[0] < 0 &&
		    s->fd_out[1] < 0 && s->pty_master < 0) {
			agent_emit_terminal(s);
			agent_exit(s, EXIT_DONE);
		}
		if (s->fd_stdin >= 0 && s->close_stdin &&
		    !byteq_pending(&s->stdin_q))
			close_fd(&s->fd_stdin);	/* EOF after the data */

		/*
		 * No room also while the credit is spent: the drain below
		 * must not mistake output we do not read for silence.
		 */
		beam_room = byteq_pending(&s->out) < LINX_BACKPRESSURE;
		room = beam_room && output_room(s) > 0;
		n = 0;
		/* events 0 on fd 3 still reports POLLHUP: the BEAM left */
		i_in = n++;
		p[i_in] = (struct pollfd){
			.fd = LINX_FD_IN,
			.events = reading_commands(s) ? POLLIN : 0,
		};
		i_out = add_fd(p, &n, LINX_FD_OUT,
			       byteq_pending(&s->out) ? POLLOUT : 0);
		i_chan = add_fd(p, &n, s->chan, s->chan >= 0 ? POLLIN : 0);
		i_sig = add_fd(p, &n, s->sigfd, POLLIN);
		i_o1 = add_fd(p, &n, s->fd_out[0],
			      output_events(s, s->fd_out[0], beam_room));
		i_o2 = add_fd(p, &n, s->fd_out[1],
			      output_events(s, s->fd_out[1], beam_room));
		i_pty = add_fd(p, &n, s->pty_master,
			       s->pty_master < 0 ? 0 :
			       output_events(s, s->pty_master, beam_room) |
			       (byteq_pending(&s->pty_q) ? POLLOUT : 0));
		i_stdin = add_fd(p, &n, s->fd_stdin,
				 s->fd_stdin >= 0 &&
				 byteq_pending(&s->stdin_q) ? POLLOUT : 0);
		/*
		 * Never throttled by backpressure: a trapped caller waits
		 * for us, and each notification is one small frame.
		 */
		i_lis = add_fd(p, &n, s->notify.listener,
			       s->notify.listener >= 0 ? POLLIN : 0);
		/* A {:call} step's helper: its answer resumes the reply */
		call_fd = notify_call_pollfd(&s->notify);
		i_call = add_fd(p, &n, call_fd, call_fd >= 0 ? POLLIN : 0);

		n = poll(p, n, deadline_poll_ms(s, notify_poll_timeout(
			 &s->notify,
			 s->state == ST_DRAINING ? drain_poll_ms(s) : -1)));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			agent_fail(s, errno, STAGE_NONE, EXIT_INFRA);
		}
		if (n == 0 && s->state == ST_DRAINING && s->drain_armed &&
		    room && call_fd < 0) {
			drain_stop(s);
			continue;
		}

		if (p[i_out].revents && agent_out_write(s))
			beam_gone(s);
		if (p[i_chan].revents && s->chan >= 0)
			relay_on_chan(s);
		if (p[i_sig].revents)
			reap_children(s);
		if (p[i_o1].revents && s->fd_out[0] >= 0)
			read_output(s, &s->fd_out[0], "stdout");
		if (p[i_o2].revents && s->fd_out[1] >= 0)
			read_output(s, &s->fd_out[1], "stderr");
		if ((p[i_pty].revents & POLLOUT) && s->pty_master >= 0 &&
		    byteq_pending(&s->pty_q) &&
		    byteq_write(&s->pty_q, s->pty_master))
			byteq_clear(&s->pty_q);
		if ((p[i_pty].revents & ~POLLOUT) && s->pty_master >= 0)
			read_output(s, &s->pty_master, "pty_out");
		if (p[i_stdin].revents && s->fd_stdin >= 0)
			write_input(&s->fd_stdin, &s->stdin_q);
		if (p[i_lis].revents && s->notify.listener >= 0) {
			notify_on_listener(&s->notify, p[i_lis].revents);
			/* it closed a broken listener: drop what waits */
			if (s->notify.listener < 0)
				notify_detach(&s->notify);
		}
		notify_on_call(&s->notify, p[i_call].revents);
		if (p[i_in].revents) {
			if (reading_commands(s))
				read_commands(s);
			else if (p[i_in].revents & (POLLHUP | POLLERR))
				beam_gone(s);
		}
	}
}

