/*
 * session.h - the agent's state for its one workload, shared by spawn.c
 * (creation), relay.c (checkpoint window), supervise.c (event loop) and
 * agent.c (exits).
 */
#ifndef LINX_SESSION_H
#define LINX_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "framing.h"
#include "resources.h"
#include "notify.h"
#include "request.h"

/* BEAM -> agent on fd 3, agent -> BEAM on fd 4 */
#define LINX_FD_IN 3
#define LINX_FD_OUT 4

/* Stop reading the workload's output while this much waits for fd 4 */
#define LINX_BACKPRESSURE (1u << 20)

/* Agent exit codes (docs/protocol.md, "Agent exit codes") */
enum linx_exit {
	EXIT_DONE = 0,
	EXIT_BEAM = 1,
	EXIT_REQUEST = 2,
	EXIT_CLONE = 3,
	EXIT_INFRA = 4,
	EXIT_WORKLOAD = 5,
};

/* The workload's timeout (deadline.c): what the next deadline does */
enum deadline_phase {
	DEADLINE_NONE,	/* no timeout, or not running yet */
	DEADLINE_TERM,	/* at deadline_at: {:status, :timeout, ms}, SIGTERM */
	DEADLINE_KILL,	/* at deadline_at: SIGKILL to the tree */
	DEADLINE_DONE,
};

/*
 * Where the session is. fd 3 is not read in WAIT_READY and AWAIT_REPLY:
 * commands queue in the pipe, in order, until the child answers. Once a
 * notification listener exists it is read anyway (the child may be
 * waiting in a trapped call for a reply that is behind fd 3): notify
 * commands run at once, the others wait in @deferred, in order.
 */

/* Commands held while the child owes an answer; past this, stop reading */
#define LINX_DEFERRED_MAX 1024
enum sess_state {
	ST_WAIT_READY,	/* cloned, waiting for READY */
	ST_CHECKPOINT,	/* ready, taking checkpoint commands */
	ST_AWAIT_REPLY,	/* a command was forwarded, waiting for the answer */
	ST_AWAIT_EXEC,	/* PROCEED sent, waiting for EOF (exec) or ERR */
	ST_ABORTING,	/* ABORT sent, waiting for the child to exit */
	ST_RUNNING,	/* execve succeeded */
	ST_DRAINING,	/* workload reaped, reading pipes/PTY to EOF */
};

/**
 * struct session - one agent, one workload
 * @req:		the request
 * @in:			fd 3 reader
 * @out:		frames queued for fd 4
 * @sigfd:		signalfd for SIGCHLD
 * @proc_fd:		/proc of the agent's own pid namespace (opened before
 *			any setns; used by the tree sweep)
 * @cgroup_fd:		the workload's cgroup v2 directory, or -1
 * @cgroup_parent:	the parent directory of the group the agent made
 *			(request cgroup {:make, …}), opened before any setns:
 *			the group is removed through it once the tree is
 *			gone; -1: no group of the agent's making
 * @no_checkpoint:	nothing for the agent to apply at READY: the child
 *			went on to execve by itself, or waited only for the
 *			id maps and limits spawn.c applied (spawn_paused())
 * @early_failed:	those failed: @early_err is reported at READY, where
 *			a forked child's failure would be
 * @early_err:		what failed
 * @pre_chan:		the channel's socketpair, made while the agent waited
 *			for its request (spawn_prepare()), or -1 -1
 * @pre_devnull:	/dev/null, opened then too, or -1
 * @agent_pid:		getpid()
 * @child:		host pid of the workload
 * @pidfd:		pidfd of the workload (CLONE_PIDFD)
 * @pid_in_ns:		its pid in its own pid namespace (READY)
 * @reaped:		the workload has been waited for
 * @status:		its wait status
 * @chan:		agent's end of the channel, -1 once closed
 * @state:		enum sess_state
 * @next_cmd:		next request command to apply
 * @fd_stdin:		write end of the stdin pipe, or -1
 * @fd_out:		read ends of the stdout/stderr pipes, or -1
 * @pty_master:		PTY master, or -1
 * @pty_slave:		the agent's PTY slave, held until the workload is
 *			reaped: the master must not read EIO (and be closed,
 *			which hangs up the terminal and SIGHUPs the workload)
 *			while the workload merely closed its fds 0-2
 * @stdin_q:		bytes for @fd_stdin
 * @pty_q:		bytes for @pty_master
 * @close_stdin:	close @fd_stdin once @stdin_q is empty
 * @drain_until:	CLOCK_MONOTONIC time at which draining stops (set
 *			once what the swept tree left in the pipes is read)
 * @drain_armed:	@drain_until is set
 * @owed:		bytes the swept tree left in stdout, stderr, the PTY
 * @out_credit:		output bytes the agent may still send (with a
 *			stdio_window; {:output_ack, n} adds n)
 * @sig_ignored:	the signals the agent ignores (SigIgn, read at start,
 *			before the request): the child resets these
 * @in_taken:		input bytes received ({:stdin, _}, {:pty_in, _})
 * @in_acked:		of those, acknowledged with {:stdin_ack, n}
 * @notify:		seccomp user notification listener and state
 * @deferred:		commands read while the child owed an answer: on the
 *			heap, made on first use (LINX_DEFERRED_MAX entries,
 *			~150 KB: zeroing it in every agent cost ~36 page
 *			faults, docs/performance.md)
 * @ndeferred:		how many
 * @deferred_head:	the next one to run
 * @cgroup_v1_fds:	cgroup.procs of the request's v1 groups, opened
 *			before any setns, closed once joined (resources.c)
 * @out_left:		forked: bytes of the frame in progress on fd 4 still
 *			to write (framing.c, byteq_write_tagged)
 * @deadline:		enum deadline_phase
 * @chan_id:		forked: the channel id the zygote gave us, the tag
 *			of every piece we write to its shared fd 4
 * @deadline_at:	CLOCK_MONOTONIC time of the next deadline step
 * @sandboxing:		CHAN_SANDBOX was sent: its OK emits :ready
 * @forked:		forked by the zygote (zygote.c): fd 3 is its pipe, and
 *			it drops what is sent to an agent that has exited, so
 *			nothing is drained before exiting; fd 4 is the
 *			zygote's own, shared: frames go tagged (@chan_id)
 * @init_status:	init: true: read end of the init's status pipe, or -1
 */
struct session {
	struct linx_request *req;
	struct frame_reader in;
	struct byteq out;
	int sigfd;
	int proc_fd;
	int cgroup_fd;
	int cgroup_parent;
	pid_t agent_pid;
	pid_t child;
	int pidfd;
	pid_t pid_in_ns;
	bool reaped;
	int status;
	int chan;
	enum sess_state state;
	size_t next_cmd;
	int fd_stdin;
	int fd_out[2];
	int pty_master;
	int pty_slave;
	struct byteq stdin_q;
	struct byteq pty_q;
	bool close_stdin;
	struct timespec drain_until;
	bool drain_armed;
	size_t owed[3];
	uint64_t out_credit;
	uint64_t sig_ignored;
	uint64_t in_taken;
	uint64_t in_acked;
	struct notify_state notify;
	struct linx_cmd *deferred;
	size_t ndeferred;
	size_t deferred_head;
	size_t out_left;
	int cgroup_v1_fds[LIMITS_MAX_CGROUPS];
	enum deadline_phase deadline;
	uint32_t chan_id;	/* in the padding before deadline_at */
	struct timespec deadline_at;
	bool sandboxing;
	bool forked;
	bool no_checkpoint;	/* beside the other flags: no padding */
	bool early_failed;
	int init_status;
	struct linx_err early_err;
	int pre_chan[2];
	int pre_devnull;
};

#endif /* LINX_SESSION_H */
