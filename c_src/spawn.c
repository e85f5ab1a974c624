/*
 * spawn.c - create the workload's process with clone3(2), for both spawn
 * (fresh namespaces in the clone flags) and enter (the agent first joins
 * the target's namespaces, then clones without namespace flags).
 *
 * clone3 is used for both: its flags are a 64-bit field, so CLONE_NEWTIME
 * works (inside clone(2)'s exit-signal byte it would not), and
 * CLONE_PIDFD gives a pidfd for signals without a pid-reuse race. With a
 * NULL stack it has fork semantics.
 *
 * A workload whose checkpoint has nothing the BEAM sends (checkpoint:
 * false, no commands, no sandbox, no init) is cloned with CLONE_VM on a
 * stack of its own instead (clone_vm.c): no page tables are copied (a
 * fork of the agent costs ~0.6 ms on this class of VM, these ~0.04 ms).
 * With nothing at all to apply it is vfork-like; with id maps or limits,
 * which the agent applies itself, the child waits for them and the agent
 * for its execve (clone_vm.c's paused shape, spawn_paused()).
 *
 * Everything the child needs is prepared here, before the clone: pipes,
 * the PTY pair (opened before any setns, so it is the host's devpts), the
 * channel and a struct child_plan. Descriptors are close-on-exec; the
 * agent closes the child's ends after the clone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "clone_vm.h"
#include "events.h"
#include "idmap.h"
#include "mounts.h"
#include "passfd.h"
#include "resources.h"
#include "ns.h"
#include "pty.h"
#include "spawn.h"
#include "tree.h"
#include "util.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

extern char **environ;

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * struct spawn_fds - every descriptor spawn_workload() opens, each -1 or
 * owned here (closed by spawn_fds_close() on every return, through
 * cleanup_spawn_fds) until spawn_hand_off() moves the agent's ends into
 * the session. The child's ends are never handed on: after the clone the
 * cleanup closes them too, as it must (only the child may hold them: EOF
 * on the channel means exec or death, EOF on a pipe means the workload's
 * end closed).
 * @chan:	agent's end of the channel
 * @io:		agent's pipe ends: [0] stdin write end, [1]/[2] stdout/stderr
 *		read ends (non-blocking)
 * @pty_master:	PTY master
 * @pty_slave:	PTY slave (the child's, and kept by the agent until the
 *		workload is reaped, see struct session)
 * @cgroup:	the workload's cgroup directory
 * @pidfd:	the workload's pidfd
 * @child_chan:	the child's end of the channel
 * @child_io:	the child's pipe ends: [0] stdin read end, [1]/[2] write ends
 * @devnull:	/dev/null for the child's :devnull fds
 * @init_rd:	init: true: read end of the status pipe (the agent's)
 * @init_wr:	its write end (the child's)
 */
struct spawn_fds {
	int chan;
	int io[3];
	int pty_master;
	int pty_slave;
	int cgroup;
	int pidfd;
	int child_chan;
	int child_io[3];
	int devnull;
	int init_rd;
	int init_wr;
};

static void spawn_fds_init(struct spawn_fds *f)
{
	int fd;

	f->chan = f->pty_master = f->pty_slave = f->cgroup = f->pidfd = -1;
	f->child_chan = f->devnull = -1;
	f->init_rd = f->init_wr = -1;
	for (fd = 0; fd < 3; fd++)
		f->io[fd] = f->child_io[fd] = -1;
}

/*
 * spawn_fds_close() - close what is still owned (errno preserved, so a
 * failing spawn_workload() can return with the errno of its failure)
 */
static void spawn_fds_close(struct spawn_fds *f)
{
	int fd;

	cleanup_closep(&f->chan);
	cleanup_closep(&f->pty_master);
	cleanup_closep(&f->pty_slave);
	cleanup_closep(&f->cgroup);
	cleanup_closep(&f->pidfd);
	cleanup_closep(&f->child_chan);
	cleanup_closep(&f->devnull);
	cleanup_closep(&f->init_rd);
	cleanup_closep(&f->init_wr);
	for (fd = 0; fd < 3; fd++) {
		cleanup_closep(&f->io[fd]);
		cleanup_closep(&f->child_io[fd]);
	}
}

#define cleanup_spawn_fds __attribute__((cleanup(spawn_fds_close)))

/*
 * spawn_hand_off() - the workload exists: the session owns the agent's
 * ends from now on (agent_exit() and the drain close them)
 */
static void spawn_hand_off(struct session *s, struct spawn_fds *f)
{
	s->chan = steal_fd(&f->chan);
	s->fd_stdin = steal_fd(&f->io[0]);
	s->fd_out[0] = steal_fd(&f->io[1]);
	s->fd_out[1] = steal_fd(&f->io[2]);
	s->pty_master = steal_fd(&f->pty_master);
	/* Kept until the workload is reaped (see struct session) */
	s->pty_slave = steal_fd(&f->pty_slave);
	s->cgroup_fd = steal_fd(&f->cgroup);
	s->pidfd = steal_fd(&f->pidfd);
	s->init_status = steal_fd(&f->init_rd);
}

/*
 * prepare_pipes() - one pipe per :pipe fd; the agent's end non-blocking
 */
static int prepare_pipes(const struct linx_request *r, struct spawn_fds *f,
			 struct child_plan *plan, struct linx_err *err)
{
	int fd, p[2];

	for (fd = 0; fd < 3; fd++) {
		const struct linx_stdio *io = &r->stdio[fd];

		plan->stdio[fd].mode = io->mode;
		plan->stdio[fd].path = io->path;
		if (io->mode != STDIO_PIPE)
			continue;
		if (pipe2(p, O_CLOEXEC))
			return linx_fail(err, errno, STAGE_PIPE2, "pipe2");
		/* stdin: the child reads p[0]; stdout/stderr: it writes p[1] */
		f->child_io[fd] = fd == 0 ? p[0] : p[1];
		f->io[fd] = fd == 0 ? p[1] : p[0];
		if (set_nonblock(f->io[fd]))
			return linx_fail(err, errno, STAGE_PIPE2,
					 "O_NONBLOCK");
	}
	return 0;
}

/*
 * open_devnull() - /dev/null for the :devnull fds, opened here: before
 * any setns, and before a filter installed at the checkpoint could deny
 * the open
 */
static int open_devnull(struct session *s, struct spawn_fds *f,
			struct linx_err *err)
{
	const struct linx_request *r = s->req;
	int fd;

	for (fd = 0; fd < 3; fd++)
		if (!r->pty && r->stdio[fd].mode == STDIO_DEVNULL) {
			f->devnull = s->pre_devnull >= 0 ?
					     steal_fd(&s->pre_devnull) :
					     open("/dev/null",
						  O_RDWR | O_CLOEXEC);
			if (f->devnull < 0)
				return linx_fail(err, errno, STAGE_STDIO,
						 "open /dev/null");
			return 0;
		}
	return 0;
}

/*
 * prepare_init_pipe() - init: true: the pipe on which the init hands the
 * workload's wait status to the agent (init.c); the agent's end
 * non-blocking, read once the init is reaped
 */
static int prepare_init_pipe(struct spawn_fds *f, struct linx_err *err)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return linx_fail(err, errno, STAGE_INIT, "status pipe");
	f->init_rd = p[0];
	f->init_wr = p[1];
	return 0;
}

/*
 * clone_fallback() - clone3 is ENOSYS: container seccomp profiles refuse
 * it on purpose (its flags cannot be filtered), and valgrind does not know
 * it. Fork (or clone(2) with the namespace flags), then pidfd_open the
 * child: it cannot be reaped behind our back, so its pid is stable. No
 * time namespace this way: CLONE_NEWTIME would land in clone(2)'s exit
 * signal byte.
 */
static pid_t clone_fallback(uint64_t flags, int *pidfd)
{
	pid_t pid;

	if (flags & CLONE_NEWTIME) {
		errno = ENOSYS;
		return -1;
	}
	pid = flags ? syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL,
			      NULL, NULL, NULL) :
		      fork();
	if (pid > 0)
		*pidfd = syscall(SYS_pidfd_open, pid, 0); /* -1: kill() */
	return pid;
}

/*
 * cgroup_add() - move @pid into the group (the clone3 fallback's way; the
 * child is still at its checkpoint, before anything it could fork)
 */
static void cgroup_add(int cgroup_fd, pid_t pid)
{
	char buf[24];
	int fd, n;

	fd = openat(cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%d", (int)pid);
	if (write(fd, buf, n) < 0) {
		/* best effort: the tree sweep still covers the workload */
	}
	close(fd);
}

/*
 * spawn_paused() - clone_vm.c's paused shape, for a child whose checkpoint
 * waits only for the agent's own work: the limits, then the id maps (the
 * order of relay.c's READY for a forked child), then PROCEED, then we
 * wait until it is off our memory.
 *
 * It must never outlive this call on our memory: the plan it reads is in
 * spawn_workload()'s frame, and it shares our errno. So a failure kills
 * it and waits for its hang-up too, and is kept for READY, where a forked
 * child's would be reported (or for its loss, agent_child_lost(), should
 * its READY not have been sent); a PROCEED we could not send kills it
 * rather than leave it waiting, and us in clone_vm_finish(), for ever.
 *
 * Return: the child's pid, or -1 with errno (EAGAIN: clone it fork-like)
 */
static pid_t spawn_paused(struct session *s, struct linx_clone_args *args,
			  size_t args_size, const struct child_plan *plan,
			  struct spawn_fds *f)
{
	const struct linx_request *r = s->req;
	const struct chan_rec go = { .type = CHAN_PROCEED };
	struct clone_vm cv;
	pid_t pid;

	pid = clone_vm_start(args, args_size, plan, &cv);
	if (pid < 0)
		return -1;
	/* Only the child may hold its end: the close at its execve is ours */
	close(f->child_chan);
	f->child_chan = -1;
	s->early_failed =
		(limits_needed(&r->limits) &&
		 limits_apply(pid, &r->limits, s->cgroup_v1_fds,
			      &s->early_err)) ||
		(idmap_needed(&r->idmaps) &&
		 idmap_write(pid, &r->idmaps, &s->early_err));
	/* ours, unreaped: the pid is its own */
	if (s->early_failed || chan_send(f->chan, &go, NULL, 0))
		kill(pid, SIGKILL);
	clone_vm_finish(&cv, f->chan);
	return pid;
}

/*
 * spawn_clone() - clone3 sharing our memory (vfork-like without a
 * checkpoint, paused when only the agent's own work waits), else
 * fork-like, or the fork/clone(2) fallback where clone3 is ENOSYS; the
 * child runs child_main(@plan) and never comes back here
 *
 * Return: the child's pid, or -1 with errno set
 */
static pid_t spawn_clone(struct session *s, struct linx_clone_args *args,
			 size_t args_size, struct child_plan *plan,
			 struct spawn_fds *f, bool paused)
{
	pid_t pid = -1;

	errno = EAGAIN;
	if (plan->no_checkpoint)
		pid = clone_vm_vfork(args, args_size, plan);
	else if (paused)
		pid = spawn_paused(s, args, args_size, plan, f);
	/* Either way the agent has nothing to apply at READY */
	s->no_checkpoint = pid > 0;
	if (pid < 0 && errno == EAGAIN) {
		plan->no_checkpoint = false;
		pid = syscall(SYS_clone3, args, args_size);
	}
	if (pid < 0 && errno == ENOSYS) {
		plan->no_checkpoint = false;
		/* no CLONE_INTO_CGROUP either: the agent moves it right after */
		args->flags &= ~(uint64_t)CLONE_INTO_CGROUP;
		pid = clone_fallback(args->flags & ~(uint64_t)(CLONE_PIDFD |
							       CLONE_INTO_CGROUP),
				     &f->pidfd);
	}
	if (pid > 0 && f->cgroup >= 0 && !(args->flags & CLONE_INTO_CGROUP))
		cgroup_add(f->cgroup, pid);
	if (pid == 0)
		child_main(plan);
	return pid;
}

/*
 * spawn_time_offsets() - time_offsets: the agent makes the time namespace
 * itself, offsets written, and the child inherits it without
 * CLONE_NEWTIME (see sandbox_time_offsets)
 */
static int spawn_time_offsets(const struct linx_request *r,
			      struct linx_clone_args *args,
			      struct linx_err *err)
{
	if (!r->sandbox.has_time_offsets || !(args->flags & CLONE_NEWTIME))
		return 0;
	if (sandbox_time_offsets(&r->sandbox, err))
		return -1;
	args->flags &= ~(uint64_t)CLONE_NEWTIME;
	return 0;
}

/*
 * pid_cwd() - cwd {:pid, n}: the working directory of host process n, as
 * a path (the child's chdir comes after its mount changes, where only a
 * path means the same place). Read here, when the workload starts: the
 * BEAM's of now, even for an agent made long before. Stage :chdir.
 */
static int pid_cwd(const struct session *s, char cwd[PATH_MAX],
		   struct linx_err *err)
{
	char link[32];
	ssize_t n;

	snprintf(link, sizeof(link), "%ld/cwd", s->req->cwd_pid);
	n = readlinkat(s->proc_fd, link, cwd, PATH_MAX - 1);
	if (n < 0 || cwd[0] != '/')
		return linx_fail(err, n < 0 ? errno : ENOENT, STAGE_CHDIR,
				 "the working directory of pid %ld",
				 s->req->cwd_pid);
	cwd[n] = '\0';
	return 0;
}

/*
 * make_cgroup() - cgroup {:make, path, mode}: the agent makes the group
 * (the BEAM would pay a dirty I/O scheduler's wake-up for each mkdir and
 * rmdir, docs/performance.md) and removes it with the tree (agent.c).
 * An optional one that cannot be made leaves the workload without one:
 * {:cgroup, :not_made, errno} tells the BEAM. Stage :cgroup.
 */
static int make_cgroup(struct session *s, struct linx_err *err)
{
	const struct linx_request *r = s->req;
	const char *name = strrchr(r->cgroup, '/');
	char parent[PATH_MAX];
	int fd, e;

	if (r->cgroup_make == CGROUP_GIVEN)
		return 0;
	if (!name || name == r->cgroup || !name[1] ||
	    (size_t)(name - r->cgroup) >= sizeof(parent))
		return linx_fail(err, EINVAL, STAGE_CGROUP,
				 "cgroup %s: expected /parent/name", r->cgroup);
	memcpy(parent, r->cgroup, name - r->cgroup);
	parent[name - r->cgroup] = '\0';
	/* not O_PATH: tree.c flocks it */
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && !tree_make_group(fd, name + 1)) {
		s->cgroup_parent = fd;
		return 0;
	}
	e = errno;
	if (fd >= 0)
		close(fd);
	if (r->cgroup_make == CGROUP_MAKE_REQUIRED)
		return linx_fail(err, e, STAGE_CGROUP, "mkdir %s", r->cgroup);
	ev_cgroup(&s->out, "not_made", e);
	return 0;
}

/**
 * spawn_prepare() - what nearly every workload needs, made while the
 * agent waits for its request (a forked-ahead or pooled agent waits idle,
 * so this is off the workload's path): the channel's socketpair,
 * /dev/null and the child's stack (clone_vm_prepare()). Best effort:
 * what fails here spawn_workload() makes again, and reports.
 * @s:		session
 */
void spawn_prepare(struct session *s)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		       s->pre_chan))
		s->pre_chan[0] = s->pre_chan[1] = -1;
	s->pre_devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	clone_vm_prepare();
}

/**
 * spawn_workload() - create the workload, stopped at its checkpoint
 * @s:		session (req set; child, pidfd, chan, pipes filled in)
 * @code:	agent exit code to use on failure
 * @err:	what failed
 *
 * Every descriptor opened on the way is owned by a cleanup variable until
 * the workload exists, so no early return leaks one; only then does the
 * session take the agent's ends.
 *
 * Return: 0 or -1
 */
int spawn_workload(struct session *s, int *code, struct linx_err *err)
{
	const struct linx_request *r = s->req;
	cleanup_passfd struct passfd_fds pass = { 0 };
	cleanup_spawn_fds struct spawn_fds f;
	struct linx_clone_args args;
	struct child_plan plan;
	cleanup_free char **exec_argv = NULL;
	char cwd[PATH_MAX];
	unsigned joined = 0;
	bool agent_alone;
	int sv[2], fd;
	size_t args_size;
	pid_t pid;

	spawn_fds_init(&f);
	memset(&plan, 0, sizeof(plan));
	*code = EXIT_INFRA;

	if (s->pre_chan[0] >= 0) {
		sv[0] = steal_fd(&s->pre_chan[0]);
		sv[1] = steal_fd(&s->pre_chan[1]);
	} else if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
			      sv)) {
		return linx_fail(err, errno, STAGE_SOCKETPAIR, "socketpair");
	}
	f.chan = sv[0];
	f.child_chan = sv[1];

	if (r->pty) {
		if (pty_open(&f.pty_master, &f.pty_slave,
			     r->has_winsize ? &r->winsize : NULL,
			     r->pty_modes, err))
			return -1;
	} else if (prepare_pipes(r, &f, &plan, err)) {
		return -1;
	}
	if (open_devnull(s, &f, err))
		return -1;
	/* Before the channel is given to the plan: it may move */
	if (passfd_open(&pass, r->fds, r->nfds, &f.child_chan, err))
		return -1;
	if (r->init && prepare_init_pipe(&f, err))
		return -1;

	plan.agent_chan = f.chan;
	plan.chan = f.child_chan;
	plan.pty = r->pty;
	plan.pty_slave = f.pty_slave;
	plan.devnull = f.devnull;
	for (fd = 0; fd < 3; fd++)
		plan.stdio[fd].fd = f.child_io[fd];
	plan.path = r->argv[0];
	plan.argv = r->argv;
	if (r->arg0) {
		/*
		 * The same strings but argv[0]; the child gets its own copy
		 * of this array with its memory (no CLONE_VM), the vfork
		 * path runs before we return.
		 */
		exec_argv = calloc(r->argc + 1, sizeof(*exec_argv));
		if (!exec_argv)
			return linx_fail(err, ENOMEM, STAGE_CLONE, "argv");
		memcpy(exec_argv, r->argv, r->argc * sizeof(*exec_argv));
		exec_argv[0] = r->arg0;
		plan.argv = exec_argv;
	}
	plan.envp = r->env ? r->env : environ;
	plan.cwd = r->cwd;
	if (r->cwd_pid && pid_cwd(s, cwd, err))
		return -1;
	if (r->cwd_pid)
		plan.cwd = cwd;
	plan.pdeathsig = r->on_exit == ON_EXIT_KILL;
	plan.agent_pid = s->agent_pid;
	plan.no_new_privs = r->no_new_privs;
	plan.init = r->init;
	plan.init_status = f.init_wr;
	plan.pass = r->nfds ? &pass : NULL;
	plan.landlock = r->landlock.rules ? &r->landlock : NULL;
	plan.sig_ignored = s->sig_ignored;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uintptr_t)&f.pidfd;
	args.exit_signal = SIGCHLD;
	args_size = CLONE_ARGS_SIZE_VER0;

	if (r->cgroup && make_cgroup(s, err))
		return -1;
	if (r->cgroup && (!r->cgroup_make || s->cgroup_parent >= 0)) {
		/*
		 * Born in its own group, no window: nothing it forks can be
		 * outside. Opened before any setns, with the agent's view of
		 * the cgroup hierarchy.
		 */
		f.cgroup = open(r->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (f.cgroup < 0)
			return linx_fail(err, errno, STAGE_CGROUP, "open %s",
					 r->cgroup);
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)f.cgroup;
		args_size = sizeof(args);
	}

	/*
	 * The v1 groups' cgroup.procs, with the agent's view of the
	 * hierarchy too: written with the child's pid at READY (resources.c).
	 */
	if (limits_open_cgroups(&r->limits, s->cgroup_v1_fds, err))
		return -1;

	if (r->kind == LINX_ENTER) {
		*code = EXIT_CLONE;
		if (ns_enter(r->target, r->namespaces, !r->has_namespaces,
			     !r->cwd, &joined, err))
			return -1;
		plan.check_ppid = !(joined & (1u << NS_PID));
	} else {
		args.flags |= ns_clone_flags(r->namespaces);
		plan.check_ppid = !(r->namespaces & (1u << NS_PID));
		if (spawn_time_offsets(r, &args, err))
			return -1;
	}

	plan.sandbox = &r->sandbox;
	plan.mountns = r->kind == LINX_SPAWN &&
		       (r->namespaces & (1u << NS_MOUNT));
	plan.netns = r->kind == LINX_SPAWN && (r->namespaces & (1u << NS_NET));
	/*
	 * The id maps, the v1 groups and the rlimits are applied, and the
	 * sandbox built, while the child waits at its checkpoint
	 */
	agent_alone = !r->checkpoint && !r->ncommands &&
		      !sandbox_wanted(&r->sandbox, plan.netns) &&
		      !r->init;	/* the init never execs: no shared memory */
	plan.no_checkpoint = agent_alone && !idmap_needed(&r->idmaps) &&
			     !limits_needed(&r->limits);
	pid = spawn_clone(s, &args, args_size, &plan, &f,
			  agent_alone && !plan.no_checkpoint);
	if (pid < 0) {
		*code = EXIT_CLONE;
		/* :fork is enter's clone, made after joining the target */
		return linx_fail(err, errno, r->kind == LINX_ENTER ?
				 STAGE_FORK : STAGE_CLONE, "clone3");
	}

	s->child = pid;
	spawn_hand_off(s, &f);
	/* The cleanup closes the child's ends: only the child may hold them */
	return 0;
}
