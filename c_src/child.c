/*
 * child.c - the child, from clone3 to execve.
 *
 * DOC: Theory of operation
 *
 * The agent prepares a struct child_plan (argv, envp, stdio descriptors,
 * flags), then clone3()s. clone3 without CLONE_VM is fork: the child runs
 * on a copy of the agent's memory, in the new namespaces (spawn) or in the
 * namespaces the agent joined (enter). It talks to the agent only through
 * fixed records on a SEQPACKET channel (chan.h) and never parses ETF.
 *
 * Stages, in order:
 *
 * 1. setsid
 *    Should: put the workload in its own session and process group, so a
 *    group signal aimed at it cannot reach the agent or the BEAM, and so
 *    a PTY can become its controlling terminal.
 *    Mustn't: fail silently (stage :setsid).
 *
 * 2. pdeathsig (on_exit :kill only)
 *    Should: PR_SET_PDEATHSIG(SIGKILL), then re-check that the agent is
 *    still our parent: if it died before the prctl, the signal is lost.
 *    getppid() is compared only when the child shares the agent's pid
 *    namespace (else it reads 0); in every case EOF on the channel (the
 *    agent's end is closed in the child first thing) means the agent is
 *    gone and the child exits.
 *    Mustn't: be set for on_exit :detach; be trusted alone (it fires on
 *    the parent *thread*'s death and is cleared by a uid change): the
 *    agent also kills the tree itself.
 *
 * 3. no_new_privs (if requested)
 *    Should: set PR_SET_NO_NEW_PRIVS before the checkpoint, so nothing
 *    executed later can gain privileges.
 *
 * 4. ready
 *    Should: send READY with getpid() as seen in our pid namespace. With
 *    no checkpoint to hold (plan->no_checkpoint) go on to stage 6.
 *
 * 4b. sandbox (root:, mounts:, hostname:, lo; only when asked for)
 *    Should: on the agent's CHAN_SANDBOX, sent once the id maps are
 *    written (new files on a tmpfs need a mapped owner), build the root
 *    and apply the mounts in order (mounts.c: private propagation first,
 *    the host detached last), set the hostname, bring lo up; answer OK
 *    or ERR {errno, {:mount, i} | :pivot_root | :hostname | :loopback}.
 *    It comes before every checkpoint command: mounting needs the full
 *    capabilities the clone gave, which set_ids and the capability
 *    commands take away, and Landlock rules and seccomp filters must see
 *    the final tree (Landlock after the mounts, then seccomp).
 *
 * 5. checkpoint loop
 *    Should: apply the agent's records in order (set_ids, capabilities
 *    through libcap, seccomp filters, caps_query) and answer each with
 *    OK, ERR {errno, stage} or CAPS; PROCEED goes on; ABORT exits 0; EOF
 *    exits.
 *    seccomp_notify_install: the child announces the number the listener
 *    will get (CHAN_LISTENER_AT, the lowest free descriptor), installs
 *    the filter with a new listener (SECCOMP_FILTER_FLAG_NEW_LISTENER)
 *    and answers OK; the agent copies the listener out with pidfd_getfd
 *    and our copy is closed when the agent's next record arrives. From
 *    the install on, the agent answers what the filter traps, including
 *    our own calls up to and including execve.
 *    Mustn't: apply anything the agent did not send; go on after EOF;
 *    keep the listener past the agent's next record; hand the listener
 *    over with a call the filter could trap (sendmsg with SCM_RIGHTS
 *    after the install would wait for an answer only the listener it
 *    carries can give: the crun/runc hang); open a descriptor between
 *    the announce and the install.
 *
 * 5b. init (init: true only; init.c, "The init")
 *    Should: fork; the parent stays behind as pid 1 of the new pid
 *    namespace (it forwards signals to the workload, reaps orphans and
 *    hands the workload's wait status to the agent), the child is the
 *    workload and takes a session of its own (stage :init).
 *
 * 6. stdio
 *    Should: dup2 the pipe ends, /dev/null, a connected unix socket or
 *    the PTY slave (made the controlling terminal with TIOCSCTTY) onto
 *    fds 0, 1, 2 (stage :stdio).
 *    Mustn't: open files: a seccomp filter installed at the checkpoint may
 *    deny open/openat (policies do), so /dev/null and the PTY slave are
 *    opened by the agent beforehand. Only {:connect_unix, path} needs
 *    socket+connect here, at :proceed, when the BEAM's listener exists;
 *    a listener whose backlog stays full fails it with ETIMEDOUT after
 *    CONNECT_TIMEOUT_S, never a hang.
 *
 * 7. sigmask
 *    Should: reset every ignored signal disposition to SIG_DFL (the ones
 *    that survive execve) and clear the mask. The BEAM ignores SIGPIPE
 *    and the agent blocks SIGCHLD; a workload must not inherit either
 *    (stage :sigmask).
 *
 * 8. chdir (if cwd given)
 *    Should: chdir just before execve, after any setns the agent did, so
 *    no cwd from another mount namespace survives, and after set_ids and
 *    the capability commands, so the directory is searched with the
 *    workload's own credentials, not the agent's (stage :chdir).
 *
 * 9. close every other descriptor
 *    Should: mark every fd >= 3 close-on-exec (close_range), so only 0, 1
 *    and 2 reach the workload; the channel stays open until execve so an
 *    execve failure can still be reported.
 *    Mustn't: be relied on alone: a failure is not reported (with both
 *    close_range and fcntl denied by a filter, a descriptor the BEAM left
 *    without close-on-exec would reach the workload), so every descriptor
 *    the agent opens is close-on-exec from the start.
 *
 * 9b. fds (the fds option; passfd.c, "Passing descriptors")
 *    Should: dup2 each descriptor the agent opened onto its target
 *    number, after the close-on-exec sweep so the targets survive execve
 *    (stage :fds). The agent put every source and our channel above the
 *    highest target, so no dup2 closes one still needed.
 *
 * 10. execve
 *    Should: execve(path, argv, envp) (no PATH search). On failure,
 *    send ERR {errno, :execve} and _exit(127). On success the channel
 *    closes (close-on-exec) and the agent reads EOF: :running.
 *
 * Why stages 6-9 come after the checkpoint (docs/design.md, "Security
 * order in the child"): chdir and {:connect_unix} then run with the
 * workload's final credentials (set_ids, capabilities), not the agent's;
 * the BEAM's listener exists only at :proceed; and the signal reset and
 * close-on-exec come last, so nothing set up before escapes them. The
 * price: seccomp filters installed at the checkpoint already apply to
 * stages 6-10, so a filter must allow what they need (dup2/dup3,
 * ioctl TIOCSCTTY, socket/connect/setsockopt, rt_sigaction,
 * rt_sigprocmask, chdir, close_range or fcntl, sendmsg, execve); a denied
 * one fails at its stage. No open: /dev/null and the PTY slave are opened
 * by the agent before the clone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "caps.h"
#include "chan.h"
#include "child.h"
#include "command.h"
#include "init.h"
#include "mounts.h"
#include "passfd.h"
#include "unix_sock.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/*
 * child_report() - send ERR {err, stage} and exit: every stage outside the
 * checkpoint loop is fatal (the agent kills and reaps us after the ERR
 * anyway)
 */
static void child_report(const struct child_plan *p, int err, int stage)
	__attribute__((noreturn));
static void child_report(const struct child_plan *p, int err, int stage)
{
	struct chan_rec r = { .type = CHAN_ERR, .err = err, .stage = stage };

	chan_send(p->chan, &r, NULL, 0);
	_exit(127);
}

/*
 * child_sandbox() - stage 4b, on the agent's CHAN_SANDBOX (sent once the
 * id maps are written): build the root, the mounts, the hostname, lo
 * (mounts.c); answer OK, or ERR with the stage's index in mask[0]
 */
static void child_sandbox(const struct child_plan *p)
{
	struct chan_rec reply = { .type = CHAN_OK };
	struct linx_err err;

	memset(&err, 0, sizeof(err));
	if (sandbox_apply(p->sandbox, p->mountns, p->netns, &err)) {
		reply.type = CHAN_ERR;
		reply.err = err.err;
		reply.stage = err.stage;
		reply.mask[0] = (uint64_t)err.index;
	}
	if (chan_send(p->chan, &reply, reply.type == CHAN_ERR ? err.msg : NULL,
		      reply.type == CHAN_ERR ?
			      strnlen(err.msg, sizeof(err.msg) - 1) : 0))
		_exit(1);
}

/*
 * child_checkpoint() - stage 5: apply records until PROCEED, each with
 * the apply function of its command's row (command.c, checkpoint.c)
 */
static void child_checkpoint(const struct child_plan *p)
{
	union {
		struct chan_rec align;
		uint8_t buf[CHAN_MAX_RECORD];
	} in;
	int listener_copy = -1;
	const struct cp_ctx ctx = { .chan = p->chan,
				    .pdeathsig = p->pdeathsig,
				    .listener_copy = &listener_copy,
				    .landlock = p->landlock };
	const struct cmd_row *row;
	struct chan_rec rec, reply;
	const uint8_t *payload;
	struct linx_err err;
	ssize_t n;
	int rc;

	for (;;) {
		n = chan_recv(p->chan, in.buf, sizeof(in.buf), 0, NULL);
		if (n <= 0)
			_exit(1);	/* the agent is gone */
		if (chan_decode(in.buf, n, &rec, &payload))
			_exit(1);	/* cannot happen: the agent encodes */
		/*
		 * The agent sends nothing after a notify install before it
		 * holds the listener: our copy can go now (a workload must
		 * never answer its own notifications).
		 */
		if (listener_copy >= 0) {
			close(listener_copy);
			listener_copy = -1;
		}
		if (rec.type == CHAN_PROCEED)
			return;
		if (rec.type == CHAN_ABORT)
			_exit(0);
		if (rec.type == CHAN_SANDBOX) {
			child_sandbox(p);
			continue;
		}
		row = cmd_row_by_chan(rec.type);
		if (!row)
			_exit(1);

		memset(&reply, 0, sizeof(reply));
		reply.type = CHAN_OK;
		rc = row->apply(&ctx, &rec, payload, &reply, &err);
		if (rc > 0)
			continue;	/* answered already */
		if (!rc) {
			if (chan_send(p->chan, &reply, NULL, 0))
				_exit(1);
			continue;
		}
		/* the message goes along: "drop cap 5 from the bounding set" */
		reply.type = CHAN_ERR;
		reply.err = err.err;
		reply.stage = err.stage;
		if (chan_send(p->chan, &reply, err.msg, strnlen(err.msg,
								sizeof(err.msg) - 1)))
			_exit(1);
	}
}

/*
 * How long connect() may wait for room in a listener's backlog. A listener
 * that never accepts would otherwise hold the child (and, without a
 * checkpoint, the agent suspended in its vfork) forever: unix_connect()
 * fails it with ETIMEDOUT past this.
 */
#define CONNECT_TIMEOUT_S 5

/*
 * child_stdio() - stage 6. The agent made sure fds 0-2 are open at
 * startup, so every descriptor opened here is >= 3 and dup2 always copies
 * (which also clears close-on-exec on the target).
 */
static int child_stdio(const struct child_plan *p)
{
	int fd, src;

	if (p->pty) {
		/* We are a session leader without a terminal: take it */
		if (ioctl(p->pty_slave, TIOCSCTTY, 0))
			return -1;
		for (fd = 0; fd < 3; fd++)
			if (dup2(p->pty_slave, fd) < 0)
				return -1;
		return 0;
	}
	for (fd = 0; fd < 3; fd++) {
		switch (p->stdio[fd].mode) {
		case STDIO_INHERIT:
			continue;
		case STDIO_DEVNULL:
			src = p->devnull;
			break;
		case STDIO_PIPE:
			src = p->stdio[fd].fd;
			break;
		case STDIO_CONNECT_UNIX:
			src = unix_connect(p->stdio[fd].path,
					  CONNECT_TIMEOUT_S);
			break;
		default:
			errno = EINVAL;
			return -1;
		}
		if (src < 0 || dup2(src, fd) < 0)
			return -1;
	}
	return 0;
}

/* The kernel's struct sigaction (rt_sigaction(2)), x86_64/generic layout */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

/*
 * child_signals() - stage 7: default dispositions, empty mask.
 *
 * Only an ignored disposition survives execve (a caught one is reset by
 * it), and the child ignores nothing the agent did not: the agent read
 * its SigIgn once, before the request (procfs_sig_ignored()), so only
 * those are reset here (the BEAM's SIGPIPE, the agent's own, whatever a
 * parent left), not all 64 (~25 µs of the workload's start,
 * docs/performance.md). Raw rt_sigaction/rt_sigprocmask: glibc refuses
 * to touch signals 32 and 33 (its own), yet a parent may have left them
 * ignored.
 */
static int child_signals(uint64_t ignored)
{
	struct kernel_sigaction dfl = { .handler = SIG_DFL };
	uint64_t none = 0;
	int sig;

	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP ||
		    !(ignored & (UINT64_C(1) << (sig - 1))))
			continue;
		if (syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(none)))
			return -1;
	}
	return syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL,
		       sizeof(none));
}

/*
 * child_cloexec_all() - stage 9: every fd >= 3 close-on-exec
 */
static void child_cloexec_all(void)
{
	long max;
	int fd;

	if (!close_range(3, ~0U, CLOSE_RANGE_CLOEXEC))
		return;
	/* Before 5.11: mark them one by one (no allocation, no /proc) */
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1 << 20)
		max = 1 << 20;
	for (fd = 3; fd < max; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/**
 * child_main() - run stages 1-10 (see the DOC comment); never returns
 * @p:		plan prepared by the agent
 */
void child_main(const struct child_plan *p)
{
	struct chan_rec ready = { .type = CHAN_READY };

	/* EOF on our end must mean the agent is gone: drop its end */
	close(p->agent_chan);

	if (setsid() < 0)
		child_report(p, errno, STAGE_SETSID);

	if (p->pdeathsig) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
			child_report(p, errno, STAGE_PDEATHSIG);
		/* The agent may have died before the prctl took effect */
		if (p->check_ppid && getppid() != p->agent_pid)
			_exit(1);
	}

	/* Never gain privileges through a later execve */
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		child_report(p, errno, STAGE_NO_NEW_PRIVS);

	ready.pid = getpid();
	if (chan_send(p->chan, &ready, NULL, 0))
		_exit(1);

	if (!p->no_checkpoint)
		child_checkpoint(p);

	/*
	 * init: true: we stay behind as pid 1 (init.c, never returns) with
	 * every checkpoint command applied; the workload, our child, takes
	 * a session of its own (a PTY becomes its controlling terminal)
	 */
	if (p->init && (init_start(p->init_status) || setsid() < 0))
		child_report(p, errno, STAGE_INIT);

	if (child_stdio(p))
		child_report(p, errno, STAGE_STDIO);
	if (child_signals(p->sig_ignored))
		child_report(p, errno, STAGE_SIGMASK);
	if (p->cwd && chdir(p->cwd))
		child_report(p, errno, STAGE_CHDIR);
	child_cloexec_all();
	/* After the sweep: the targets must survive execve, the sources not */
	if (p->pass && passfd_install(p->pass))
		child_report(p, errno, STAGE_FDS);

	execve(p->path, p->argv, p->envp);
	child_report(p, errno, STAGE_EXECVE);
}
