/*
 * notify_call.c - {:call, nr, args, ctx}: a system call done for a notified
 * caller, in a helper process forked by the agent for that one call.
 *
 * The helper, in order:
 *   1. opens, while it still sees the agent's world, the caller's
 *      namespaces named by ctx.ns (/proc/TGID/ns/...), its root and its
 *      cwd (/proc/TGID/root, /proc/TGID/cwd): after a setns the paths
 *      would resolve elsewhere;
 *   2. joins those namespaces, the user namespace first (the others are
 *      then owned by the namespace we are in). Joining a user namespace
 *      gives up host privileges: the default is [:mount] only, so a
 *      mknod done for an unprivileged container runs as host root inside
 *      the container's mounts (what LXD does);
 *   3. ctx.creds: reads the caller's ids from /proc/TGID/status, opened
 *      now, after setns, so they are translated into the user namespace
 *      the helper is in;
 *   4. ctx.root: fchdir to the caller's root and chroot("."); ctx.cwd:
 *      fchdir to its cwd (else "/"). Before dropping ids: chroot needs
 *      CAP_SYS_CHROOT;
 *   5. ctx.creds: setgroups, setresgid, then setresuid (the gid while we
 *      still may change it; seitan got this order wrong);
 *   6. syscall(nr, args...) with {:str, _}/{:buf, _} pointing into its own
 *      copy of the decoded reply (fork copied it);
 *   7. writes {return value, errno} to a pipe and exits.
 * The agent waits for the result at most NOTIFY_CALL_TIMEOUT_MS, kills
 * the helper past that (ETIMEDOUT) and always reaps it. The agent is
 * single threaded, so fork is safe (no lock held by another thread).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "notify_call.h"
#include "ns.h"
#include "util.h"

#define MAX_GROUPS 256

/**
 * struct call_result - what the helper writes to the agent
 * @ret:	the syscall's return value, or -1
 * @err:	its errno (0 on success)
 */
struct call_result {
	int64_t ret;
	int32_t err;
	int32_t pad;
};

/*
 * open_proc() - /proc/TGID/@what, relative to the agent's /proc
 */
static int open_proc(int proc_fd, pid_t tgid, const char *what, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "%d/%s", (int)tgid, what);
	return openat(proc_fd, path, flags | O_CLOEXEC);
}

/*
 * same_ns() - is the namespace behind @fd the one we are in?
 */
static bool same_ns(int fd, const char *proc)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/ns/%s", proc);
	return !fstat(fd, &a) && !stat(path, &b) && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/*
 * status_ids() - the three ids after @key ("Uid:" or "Gid:") and the
 * groups, from the text of /proc/PID/status
 */
static int status_ids(const char *text, const char *key, unsigned ids[3])
{
	const char *p = strstr(text, key);
	unsigned long v;
	char *end;
	int i;

	if (!p)
		return -1;
	p += strlen(key);
	for (i = 0; i < 3; i++) {
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || end == p || v > UINT32_MAX)
			return -1;
		ids[i] = v;
		p = end;
	}
	return 0;
}

static int status_groups(const char *text, gid_t *groups, int *n)
{
	const char *p = strstr(text, "\nGroups:");
	char *end;
	unsigned long v;

	*n = 0;
	if (!p)
		return -1;
	p += strlen("\nGroups:");
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return 0;
		v = strtoul(p, &end, 10);
		if (*n >= MAX_GROUPS)
			return -1;
		groups[(*n)++] = v;
		p = end;
	}
}

/*
 * helper_creds() - read the caller's ids (translated into our current
 * user namespace) and take them: groups, gid, then uid
 */
static int helper_creds(int proc_fd, pid_t tgid)
{
	cleanup_close int fd = open_proc(proc_fd, tgid, "status", O_RDONLY);
	gid_t groups[MAX_GROUPS];
	unsigned uid[3], gid[3];
	char text[8192];
	ssize_t n;
	int ng;

	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	if (status_ids(text, "\nUid:", uid) || status_ids(text, "\nGid:", gid) ||
	    status_groups(text, groups, &ng)) {
		errno = EPROTO;
		return -1;
	}
	if (setgroups(ng, groups) || setresgid(gid[0], gid[1], gid[2]) ||
	    setresuid(uid[0], uid[1], uid[2]))
		return -1;
	return 0;
}

/*
 * helper_run() - steps 1-6 in the helper; returns the syscall's result,
 * or -1 with errno set for a failed setup step
 */
static long helper_run(int proc_fd, pid_t tgid, const struct notify_step *st)
{
	int nsfd[NS_COUNT], rootfd = -1, cwdfd = -1, i;
	char what[32];
	long a[6] = { 0 };

	/* 1. everything we need from the agent's view of /proc, first */
	for (i = 0; i < NS_COUNT; i++) {
		nsfd[i] = -1;
		if (!(st->ns & (1u << i)))
			continue;
		snprintf(what, sizeof(what), "ns/%s", ns_table[i].proc);
		nsfd[i] = open_proc(proc_fd, tgid, what, O_RDONLY);
		if (nsfd[i] < 0)
			return -1;
	}
	if (st->root) {
		rootfd = open_proc(proc_fd, tgid, "root", O_PATH | O_DIRECTORY);
		if (rootfd < 0)
			return -1;
	}
	if (st->cwd) {
		cwdfd = open_proc(proc_fd, tgid, "cwd", O_PATH | O_DIRECTORY);
		if (cwdfd < 0)
			return -1;
	}

	/* 2. user first (ns_table order): it owns the others */
	for (i = 0; i < NS_COUNT; i++) {
		if (nsfd[i] < 0)
			continue;
		/* Re-entering our own user namespace is EINVAL: skip it */
		if (i == NS_USER && same_ns(nsfd[i], ns_table[i].proc))
			continue;
		if (setns(nsfd[i], 0))
			return -1;
	}

	/* 4. the caller's root and cwd, while we may still chroot */
	if (rootfd >= 0 && (fchdir(rootfd) || chroot(".")))
		return -1;
	if (cwdfd >= 0 ? fchdir(cwdfd) : chdir("/"))
		return -1;

	/* 3 and 5. the caller's ids, read in the namespace we are now in */
	if (st->creds && helper_creds(proc_fd, tgid))
		return -1;

	/* 6. the call; {:str}/{:buf} point into our copy of the reply */
	for (i = 0; i < st->nargs; i++)
		a[i] = st->args[i].kind == NARG_INT ? (long)st->args[i].v :
						       (long)st->args[i].data;
	return syscall(st->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static void helper_main(int out, int proc_fd, pid_t tgid,
			const struct notify_step *st)
	__attribute__((noreturn));
static void helper_main(int out, int proc_fd, pid_t tgid,
			const struct notify_step *st)
{
	struct call_result r = { 0 };

	/* Never outlive the agent, whatever the call blocks on */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	errno = 0;
	r.ret = helper_run(proc_fd, tgid, st);
	r.err = r.ret < 0 ? errno : 0;
	if (r.ret < 0 && !r.err)
		r.err = EIO;
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	_exit(0);
}

/**
 * notify_call() - perform a {:call, ...} step for a caller
 * @proc_fd:	the agent's /proc
 * @tgid:	the caller's thread group
 * @st:		the step
 * @ret:	the call's return value
 *
 * Return: 0, or -1 with errno: the call's own errno, a setup step's
 * (ESRCH/ENOENT: the caller is gone; EPERM: a setns refused), or
 * ETIMEDOUT when the helper took too long
 */
int notify_call(int proc_fd, pid_t tgid, const struct notify_step *st,
		int64_t *ret)
{
	struct call_result r = { .ret = -1, .err = EIO };
	struct pollfd p;
	int fds[2], st_w, e = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(fds[0]);
		close(fds[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		helper_main(fds[1], proc_fd, tgid, st);
	}
	close(fds[1]);

	p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	for (;;) {
		int rc = poll(&p, 1, NOTIFY_CALL_TIMEOUT_MS);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			e = ETIMEDOUT;
			break;
		}
		n = read(fds[0], &r, sizeof(r));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(r))
			e = EIO;	/* died before answering */
		break;
	}
	close(fds[0]);
	if (e)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st_w, 0) < 0 && errno == EINTR)
		;
	if (e) {
		errno = e;
		return -1;
	}
	if (r.err) {
		errno = r.err;
		return -1;
	}
	*ret = r.ret;
	return 0;
}
