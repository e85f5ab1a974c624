/*
 * deadline.c - the workload's timeout (request keys timeout and
 * kill_timeout), kept by the agent's own poll loop so that a busy BEAM
 * cannot delay it.
 *
 * The clock starts when execve succeeded ({:status, :running}): time at
 * the checkpoint is the BEAM's, not the workload's. When it passes:
 *
 *   1. {:status, :timeout, timeout_ms} is queued (before any terminal
 *      frame: the workload is not reaped yet), then SIGTERM to the
 *      workload, through its pidfd;
 *   2. kill_timeout ms later, if the workload still runs: SIGKILL to the
 *      workload and, with a cgroup, to the whole group (cgroup.kill).
 *
 * Either way the workload's death takes the usual road: reaped, its tree
 * swept (supervise.c), output drained, then the terminal frame.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "events.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/*
 * deadline_set() - @s->deadline_at = now + @ms
 */
static void deadline_set(struct session *s, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, &s->deadline_at);
	s->deadline_at.tv_sec += (time_t)(ms / 1000);
	s->deadline_at.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (s->deadline_at.tv_nsec >= 1000000000L) {
		s->deadline_at.tv_sec++;
		s->deadline_at.tv_nsec -= 1000000000L;
	}
}

/*
 * deadline_left_ms() - milliseconds until the deadline, rounded up (<= 0:
 * passed)
 */
static long deadline_left_ms(const struct session *s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(s->deadline_at.tv_sec - now.tv_sec) * 1000 +
	       (s->deadline_at.tv_nsec - now.tv_nsec + 999999) / 1000000;
}

/**
 * deadline_start() - the workload exec'd: start its clock, if it has a
 * timeout
 * @s:		session
 */
void deadline_start(struct session *s)
{
	if (!s->req->limits.timeout_ms || s->deadline != DEADLINE_NONE)
		return;
	deadline_set(s, s->req->limits.timeout_ms);
	s->deadline = DEADLINE_TERM;
}

/**
 * deadline_poll_ms() - the poll timeout, cut to the deadline
 * @s:		session
 * @ms:		the timeout the loop would use otherwise (-1: none)
 *
 * Return: @ms, or less when the deadline comes first
 */
int deadline_poll_ms(const struct session *s, int ms)
{
	long left;

	if (s->deadline == DEADLINE_NONE || s->deadline == DEADLINE_DONE ||
	    s->reaped)
		return ms;
	left = deadline_left_ms(s);
	if (left < 0)
		left = 0;
	return ms < 0 || left < ms ? (int)left : ms;
}

/*
 * signal_workload() - through the pidfd (no pid reuse); the pid itself
 * where there is none (the clone fallback): our unreaped child
 */
static void signal_workload(struct session *s, int sig)
{
	if (s->pidfd >= 0 &&
	    !syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, 0))
		return;
	kill(s->child, sig);
}

/*
 * kill_group() - SIGKILL everything in the workload's cgroup v2 group
 */
static void kill_group(int cgroup_fd)
{
	int fd;

	if (cgroup_fd < 0)
		return;
	fd = openat(cgroup_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1", 1) < 0) {
		/* emptied meanwhile: nothing to kill */
	}
	close(fd);
}

/**
 * deadline_check() - act on a deadline that passed: {:status, :timeout,
 * ms} and SIGTERM, or, kill_timeout later, SIGKILL to the tree
 * @s:		session
 */
void deadline_check(struct session *s)
{
	if (s->deadline == DEADLINE_NONE || s->deadline == DEADLINE_DONE ||
	    s->reaped || deadline_left_ms(s) > 0)
		return;
	if (s->deadline == DEADLINE_TERM) {
		/* The frame first: the owner hears why before how it ended */
		ev_status_int(&s->out, "timeout",
			      (long)s->req->limits.timeout_ms);
		signal_workload(s, SIGTERM);
		deadline_set(s, s->req->limits.kill_timeout_ms);
		s->deadline = DEADLINE_KILL;
		return;
	}
	kill_group(s->cgroup_fd);
	signal_workload(s, SIGKILL);
	s->deadline = DEADLINE_DONE;
}
