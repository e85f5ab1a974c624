/*
 * init.c - init: true. The child, pid 1 of its new pid namespace, forks
 * the workload and stays behind as its init; the agent reads the
 * workload's wait status from it.
 *
 * DOC: The init
 *
 * Why: pid 1 of a pid namespace gets no signal it has no handler for
 * (pid_namespaces(7)), not even from the agent: a workload that is pid 1
 * and installs no SIGTERM handler ignores stop/2's SIGTERM, and stop/2
 * waits its whole grace period. Orphans are reparented to pid 1, and a
 * workload that never waits for children it did not start leaves them
 * zombies.
 *
 * When: init_start() runs at PROCEED, after every checkpoint command, so
 * the init holds exactly the workload's credentials, capabilities,
 * Landlock domain and seccomp filters (its loop needs rt_sigprocmask,
 * rt_sigtimedwait, wait4, kill, write, close_range and exit_group); the
 * workload (pid 2) goes on with setsid, stdio, signals, chdir, the fds
 * and execve.
 *
 * Should: block every signal before the fork (a blocked signal is queued
 * even for pid 1; an unblocked one without a handler would be dropped),
 * then wait for them synchronously: SIGCHLD reaps every child that has
 * ended (orphans included, SIGCHLDs merge), any other signal is
 * forwarded to the workload with kill(2). When the workload is reaped,
 * write its wait status to the agent's status pipe, then exit with
 * its code (128 + n for a signal): the kernel then kills whatever is
 * left in the namespace, and the agent reports the status it read
 * ({:signaled, 15} for a workload SIGTERM killed), not the init's.
 * Mustn't: hold any descriptor but the status pipe (the channel must
 * read EOF when the workload execs, its pipes when it closes them);
 * allocate; exit before the workload does; spin: if a filter refuses
 * rt_sigtimedwait it stops forwarding and only reaps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

/* The kernel's sigset: 64 signals, one bit each, signal n at bit n - 1 */
#define ALL_SIGNALS (~(uint64_t)0)

/*
 * init_finish() - the workload is reaped: hand its status to the agent,
 * exit with it
 */
static void init_finish(int status_fd, int status) __attribute__((noreturn));
static void init_finish(int status_fd, int status)
{
	if (write(status_fd, &status, sizeof(status)) != sizeof(status)) {
		/* the agent then reports the init's own exit code */
	}
	_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
				    WEXITSTATUS(status));
}

/*
 * init_close_fds() - every descriptor but @keep; close(2) one by one where
 * close_range is missing (before 5.9) or denied by a filter
 */
static void init_close_fds(int keep)
{
	long max;
	int fd;

	if ((keep == 0 || !close_range(0, keep - 1, 0)) &&
	    !close_range(keep + 1, ~0U, 0))
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1 << 20)
		max = 1 << 20;
	for (fd = 0; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

/*
 * init_wait_only() - rt_sigtimedwait is refused (a seccomp filter): no
 * forwarding any more, but still reap everything until the workload ends
 * rather than spin
 */
static void init_wait_only(pid_t workload, int status_fd)
	__attribute__((noreturn));
static void init_wait_only(pid_t workload, int status_fd)
{
	pid_t pid;
	int st;

	for (;;) {
		pid = waitpid(-1, &st, 0);
		if (pid == workload)
			init_finish(status_fd, st);
		if (pid < 0 && errno != EINTR)
			_exit(127);
	}
}

/*
 * init_loop() - pid 1's life: reap, forward, until the workload ends
 */
static void init_loop(pid_t workload, int status_fd) __attribute__((noreturn));
static void init_loop(pid_t workload, int status_fd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	uint64_t all = ALL_SIGNALS;
	siginfo_t si;
	pid_t pid;
	int sig, st;

	/* Nothing but the status pipe: EOFs must follow the workload */
	init_close_fds(status_fd);
	/* An ignored SIGCHLD would reap the workload behind our back */
	sigaction(SIGCHLD, &dfl, NULL);

	for (;;) {
		sig = syscall(SYS_rt_sigtimedwait, &all, &si, NULL,
			      sizeof(all));
		if (sig < 0 && errno == EINTR)
			continue;
		if (sig < 0)
			init_wait_only(workload, status_fd);
		if (sig != SIGCHLD) {
			kill(workload, sig);
			continue;
		}
		/* SIGCHLDs merge: reap everything that has ended */
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			if (pid == workload)
				init_finish(status_fd, st);
		if (pid < 0 && errno == ECHILD)
			_exit(127);	/* cannot happen: the workload is ours */
	}
}

/**
 * init_start() - become the init and fork the workload (child, at
 * PROCEED)
 * @status_fd:	write end of the agent's status pipe
 *
 * Return: in the workload, 0 (every signal blocked: stage sigmask clears
 * the mask); -1 with errno if the fork failed. The init never returns.
 */
int init_start(int status_fd)
{
	uint64_t all = ALL_SIGNALS, old;
	pid_t pid;

	/* Before the fork: a signal sent meanwhile waits for the loop */
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof(all)))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(status_fd);
		return 0;
	}
	init_loop(pid, status_fd);
}

/**
 * init_take_status() - the workload's wait status, as its init wrote it
 * (agent, once the init is reaped)
 * @status_fd:	read end of the status pipe (non-blocking), or -1
 * @status:	replaced by the workload's status when one was written
 *
 * Return: true if @status was replaced
 */
bool init_take_status(int status_fd, int *status)
{
	int st;

	if (status_fd < 0 || read(status_fd, &st, sizeof(st)) != sizeof(st))
		return false;
	*status = st;
	return true;
}
