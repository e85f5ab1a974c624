/*
 * test_ns.c - ns_enter(): the namespaces it joins, in one setns(2) on a
 * pidfd or, where that fails, one by one as nsenter does.
 *
 * Each test forks a target that unshares a few namespaces (its hostname
 * set inside, so the uts one is visible), and a second child that enters
 * them and reports by its exit status: ns_enter() changes the process it
 * runs in, which must not be this one.
 *
 * The test binary is linked with -Wl,--wrap=setns: __wrap_setns() counts
 * the calls made on a pidfd and on a namespace descriptor, and fails the
 * pidfd ones with EINVAL when asked (a kernel before 5.8), so the
 * fallback is run here too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ns.h"
#include "test.h"

int __real_setns(int fd, int nstype);

static int pidfd_calls, fd_calls;
static bool fail_pidfd;

/* A pidfd's /proc/self/fd link is "anon_inode:[pidfd]" */
static bool is_pidfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	return strstr(link, "pidfd") != NULL;
}

int __wrap_setns(int fd, int nstype)
{
	if (is_pidfd(fd)) {
		pidfd_calls++;
		if (fail_pidfd) {
			errno = EINVAL;
			return -1;
		}
	} else {
		fd_calls++;
	}
	return __real_setns(fd, nstype);
}

/* Write @text to /proc/self/@name */
static int write_self(const char *name, const char *text)
{
	char path[64];
	int fd, rc;

	snprintf(path, sizeof(path), "/proc/self/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	close(fd);
	return rc;
}

/*
 * map_self() - in a new user namespace: 0 inside is @uid and @gid outside,
 * our own from before the unshare (one line each, what an unprivileged
 * writer may write; setgroups denied first, as the kernel wants)
 */
static int map_self(uid_t uid, gid_t gid)
{
	char line[64];

	snprintf(line, sizeof(line), "0 %d 1", (int)uid);
	if (write_self("uid_map", line) || write_self("setgroups", "deny"))
		return -1;
	snprintf(line, sizeof(line), "0 %d 1", (int)gid);
	return write_self("gid_map", line);
}

/*
 * start_target() - a child in new namespaces @flags (a new user namespace
 * maps 0 to us), hostname "linx-target" when it has its own uts
 * namespace, asleep until killed
 *
 * Return: its pid, or -1
 */
static pid_t start_target(int flags)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (unshare(flags) ||
		    ((flags & CLONE_NEWUSER) && map_self(uid, gid)) ||
		    ((flags & CLONE_NEWUTS) && sethostname("linx-target", 11)) ||
		    write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1) {
		if (pid > 0)
			kill(pid, SIGKILL);
		pid = -1;
	}
	close(p[0]);
	return pid;
}

static void stop_target(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Is our namespace of type @i the target's? */
static bool in_target_ns(pid_t target, int i)
{
	char path[64], ours[64], theirs[64];
	ssize_t a, b;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)target,
		 ns_table[i].proc);
	a = readlink(path, theirs, sizeof(theirs));
	snprintf(path, sizeof(path), "/proc/self/ns/%s", ns_table[i].proc);
	b = readlink(path, ours, sizeof(ours));
	return a > 0 && a == b && !memcmp(ours, theirs, a);
}

/*
 * enter_checked() - in a child: ns_enter(@target, @mask) must join
 * exactly @expect, be in the target's namespaces of @expect, and have made
 * @pidfd setns calls on a pidfd and @fds on namespace descriptors
 *
 * Return: the child's exit status (0: all held)
 */
static int enter_checked(pid_t target, unsigned mask, bool all,
			 unsigned expect, bool force_fds, int pidfd, int fds)
{
	struct linx_err err;
	unsigned joined;
	char host[64];
	pid_t pid;
	int st, i;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		fail_pidfd = force_fds;
		if (ns_enter(target, mask, all, false, &joined, &err))
			_exit(2);
		if (joined != expect)
			_exit(3);
		if (pidfd_calls != pidfd || fd_calls != fds)
			_exit(4);
		for (i = 0; i < NS_COUNT; i++)
			if ((expect & (1u << i)) && i != NS_PID &&
			    !in_target_ns(target, i))
				_exit(10 + i);
		if ((expect & (1u << NS_USER)) && (getuid() || getgid()))
			_exit(6);
		if ((expect & (1u << NS_UTS)) &&
		    (gethostname(host, sizeof(host)) ||
		     strcmp(host, "linx-target")))
			_exit(5);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

#define ALL_TYPES ((1u << NS_COUNT) - 1)
#define BIT(i) (1u << (i))

/*
 * struct ns_case - one target and one entry into it: the target unshares
 * @flags; ns_enter(@mask, @all) must join @expect, with @pidfd setns calls
 * on a pidfd and @fds on namespace descriptors (@force_fds: the pidfd one
 * refused)
 */
struct ns_case {
	int flags;
	unsigned mask;
	bool all;
	unsigned expect;
	bool force_fds;
	int pidfd, fds;
};

static void run_case(const struct ns_case *c)
{
	pid_t t = start_target(c->flags);

	CHECK(t > 0);
	if (t <= 0)
		return;
	CHECK(enter_checked(t, c->mask, c->all, c->expect, c->force_fds,
			    c->pidfd, c->fds) == 0);
	stop_target(t);
}

static void t_pidfd_skips_shared(void)
{
	/* every type asked for; all but uts and ipc are ours already */
	const struct ns_case c = { CLONE_NEWUTS | CLONE_NEWIPC, ALL_TYPES, true,
				   BIT(NS_UTS) | BIT(NS_IPC), false, 1, 0 };

	run_case(&c);
}

static void t_fds_when_pidfd_fails(void)
{
	const struct ns_case c = { CLONE_NEWUTS | CLONE_NEWIPC, ALL_TYPES, true,
				   BIT(NS_UTS) | BIT(NS_IPC), true, 1, 2 };

	run_case(&c);
}

static void t_user_ns_both_ways(void)
{
	const unsigned want = BIT(NS_USER) | BIT(NS_UTS);
	const struct ns_case by_pidfd = { CLONE_NEWUSER | CLONE_NEWUTS, want,
					  false, want, false, 1, 0 };
	const struct ns_case by_fds = { CLONE_NEWUSER | CLONE_NEWUTS, want,
					false, want, true, 1, 2 };

	run_case(&by_pidfd);
	run_case(&by_fds);
}

static void t_nothing_to_join(void)
{
	/* every namespace is ours: no setns at all */
	const struct ns_case c = { 0, ALL_TYPES, true, 0, false, 0, 0 };

	run_case(&c);
}

TESTS(ns_tests) = {
	{ "ns: one pidfd setns, the namespaces we share skipped",
	  t_pidfd_skips_shared },
	{ "ns: pidfd setns refused: one by one, the same namespaces",
	  t_fds_when_pidfd_fails },
	{ "ns: a user namespace, by pidfd and one by one", t_user_ns_both_ways },
	{ "ns: a target in all of our namespaces: no setns", t_nothing_to_join },
	TEST_END
};
