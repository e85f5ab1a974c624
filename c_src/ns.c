/*
 * ns.c - the namespace table, and enter mode: joining the namespaces of a
 * running process before the agent forks the workload.
 *
 * Joining follows util-linux nsenter: every non-user namespace first (one
 * that fails with EPERM is retried later), then the user namespace (then
 * groups and ids), then the retries. pid and time namespaces apply only to
 * children, which is why the agent forks after joining. The agent becomes
 * non-dumpable first, so a process inside the target cannot ptrace it or
 * open its /proc files while it holds host descriptors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ns.h"
#include "procfs.h"
#include "util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

const struct ns_type ns_table[NS_COUNT] = {
	[NS_USER]   = { "user",   "user",   "user",              CLONE_NEWUSER },
	[NS_MOUNT]  = { "mount",  "mnt",    "mnt",               CLONE_NEWNS },
	[NS_UTS]    = { "uts",    "uts",    "uts",               CLONE_NEWUTS },
	[NS_IPC]    = { "ipc",    "ipc",    "ipc",               CLONE_NEWIPC },
	[NS_CGROUP] = { "cgroup", "cgroup", "cgroup",            CLONE_NEWCGROUP },
	[NS_NET]    = { "net",    "net",    "net",               CLONE_NEWNET },
	[NS_TIME]   = { "time",   "time",   "time_for_children", CLONE_NEWTIME },
	[NS_PID]    = { "pid",    "pid",    "pid_for_children",  CLONE_NEWPID },
};

/**
 * ns_by_atom() - index of a namespace atom
 * @atom:	wire name (mount, not mnt)
 *
 * Return: enum ns_index, or -1
 */
int ns_by_atom(const char *atom)
{
	int i;

	for (i = 0; i < NS_COUNT; i++)
		if (!strcmp(ns_table[i].atom, atom))
			return i;
	return -1;
}

/**
 * ns_clone_flags() - CLONE_NEW* flags of a mask
 * @mask:	bits over enum ns_index
 *
 * Return: flags for clone3 (64-bit field: CLONE_NEWTIME is safe there)
 */
uint64_t ns_clone_flags(unsigned mask)
{
	uint64_t flags = 0;
	int i;

	for (i = 0; i < NS_COUNT; i++)
		if (mask & (1u << i))
			flags |= ns_table[i].flag;
	return flags;
}

/*
 * maps_zero() - does an id map (uid_map/gid_map text) map id 0 of the
 * namespace? Lines are "inside outside count".
 */
static bool maps_zero(const char *map)
{
	unsigned long in, out, count;
	const char *p = map;

	while (*p) {
		if (sscanf(p, "%lu %lu %lu", &in, &out, &count) == 3 &&
		    in == 0 && count > 0)
			return true;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	return false;
}

/*
 * kernel_has_ns() - does this kernel know namespace type @i at all?
 *
 * Decided from our own /proc/self/ns, before any setns: every process has
 * an entry for every type the kernel supports. A missing entry of the
 * *target* proves nothing: a zombie (or a thread group whose leader has
 * exited) has lost its namespaces, and /proc/PID/ns/<ns> is ENOENT for
 * every type.
 */
static bool kernel_has_ns(int i)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/ns/%s", ns_table[i].proc);
	return !faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) ||
	       errno != ENOENT;
}

/*
 * ns_same() - do we already share namespace type @i with the target?
 * One readlink each side ("mnt:[4026531841]"): the link names the
 * namespace, and costs a third of an open, fstat and stat.
 *
 * Return: 1 same, 0 not, -1 with errno (the target's link unreadable)
 */
static int ns_same(int procdir, int i)
{
	char path[64], ours[64], theirs[64];
	ssize_t a, b;

	snprintf(path, sizeof(path), "ns/%s", ns_table[i].proc);
	a = readlinkat(procdir, path, theirs, sizeof(theirs));
	if (a < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/ns/%s", ns_table[i].children);
	b = readlink(path, ours, sizeof(ours));
	return b == a && !memcmp(ours, theirs, a);
}

/*
 * struct ns_user_ids - what the target's /proc says about its user
 * namespace, read before any setns (our view of /proc changes with the
 * mount namespace)
 */
struct ns_user_ids {
	char setgroups[32];
	char uid_map[4096];
	char gid_map[4096];
};

/*
 * ns_become_root() - as nsenter, after joining the user namespace: become
 * root of it when 0 is mapped; drop host supplementary groups only where
 * setgroups is allowed. Stage setns_user.
 */
static int ns_become_root(const struct ns_user_ids *ids, struct linx_err *err)
{
	if (!strncmp(ids->setgroups, "allow", 5) && setgroups(0, NULL))
		return linx_fail(err, errno, STAGE_SETNS_USER, "setgroups");
	if (maps_zero(ids->gid_map) && setresgid(0, 0, 0))
		return linx_fail(err, errno, STAGE_SETNS_USER, "setresgid 0");
	if (maps_zero(ids->uid_map) && setresuid(0, 0, 0))
		return linx_fail(err, errno, STAGE_SETNS_USER, "setresuid 0");
	return 0;
}

/*
 * ns_join_pidfd() - every namespace of @want in one setns(2) on a pidfd
 * (Linux 5.8): atomic, all or none, and the kernel installs the user
 * namespace first, so nsenter's EPERM retries are not needed. Any failure
 * leaves us where we were: the caller then joins one by one, which names
 * the namespace that failed.
 *
 * Return: 0 joined, -1 not
 */
static int ns_join_pidfd(int pidfd, unsigned want)
{
	uint64_t flags = 0;
	int i;

	if (pidfd < 0)
		return -1;
	for (i = 0; i < NS_COUNT; i++)
		if (want & (1u << i))
			flags |= ns_table[i].flag;
	return setns(pidfd, (int)flags);
}

/*
 * ns_join_fds() - nsenter's way: every non-user namespace of @want (EPERM
 * retried later), then the user namespace, then the retries, each through
 * its own /proc/PID/ns descriptor. A namespace that turns out to be ours
 * by the time it is opened (the same inode) is skipped.
 *
 * Return: 0 or -1 (stage open_ns_<ns> or setns_<ns>)
 */
static int ns_join_fds(pid_t target, int procdir, unsigned want,
		       const struct ns_user_ids *ids, unsigned *joined,
		       struct linx_err *err)
{
	int fds[NS_COUNT], i, pass, rc = -1;
	char path[64];
	unsigned retry = 0;

	for (i = 0; i < NS_COUNT; i++)
		fds[i] = -1;
	for (i = 0; i < NS_COUNT; i++) {
		if (!(want & (1u << i)))
			continue;
		snprintf(path, sizeof(path), "ns/%s", ns_table[i].proc);
		fds[i] = openat(procdir, path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			linx_fail(err, errno, STAGE_OPEN_NS_USER + i,
				  "open /proc/%d/%s", (int)target, path);
			goto out;
		}
		if (procfs_same_ns(fds[i], ns_table[i].children)) {
			close(fds[i]);
			fds[i] = -1;
		}
	}

	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < NS_COUNT; i++) {
			if (fds[i] < 0)
				continue;
			if (pass == 0 && i == NS_USER)
				continue;
			if (pass == 1 && i != NS_USER)
				continue;
			if (pass == 2 && !(retry & (1u << i)))
				continue;
			if (setns(fds[i], ns_table[i].flag)) {
				if (pass == 0 && errno == EPERM) {
					retry |= 1u << i;
					continue;
				}
				linx_fail(err, errno, STAGE_SETNS_USER + i,
					  "setns %s", ns_table[i].proc);
				goto out;
			}
			*joined |= 1u << i;
			if (i == NS_USER && ns_become_root(ids, err))
				goto out;
			close(fds[i]);
			fds[i] = -1;
		}
	}
	rc = 0;
out:
	for (i = 0; i < NS_COUNT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

/**
 * ns_enter() - join namespaces of @target
 * @target:	host pid
 * @mask:	namespaces to join (bits over enum ns_index)
 * @all:	the request named none: a type the kernel lacks (judged from
 *		our own /proc/self/ns) is skipped; any other failure to read
 *		the target's is an error
 * @chdir_root:	chdir("/") after the last setns (no cwd was given)
 * @joined:	set to the namespaces actually joined
 * @err:	stage open_ns_<ns> or setns_<ns> on failure
 *
 * A namespace we already share with the target is skipped: setns into
 * our own user namespace is EINVAL, and joining our own mount namespace
 * again would reset our root to its root. For pid and time we compare
 * with what our children would get (pid_for_children). The rest is
 * joined in one setns on a pidfd, or one by one where that fails.
 *
 * Return: 0 or -1
 */
int ns_enter(pid_t target, unsigned mask, bool all, bool chdir_root,
	     unsigned *joined, struct linx_err *err)
{
	cleanup_close int procdir = -1;
	cleanup_close int pidfd = -1;
	struct ns_user_ids ids = { "", "", "" };
	unsigned want = 0;
	int i, first = -1, same;

	*joined = 0;
	for (i = 0; i < NS_COUNT && first < 0; i++)
		if (mask & (1u << i))
			first = i;
	if (first < 0)
		first = NS_USER;

	/*
	 * The pidfd first, /proc/PID second, then is the pidfd's process
	 * still alive? Then its pid was not reused in between, /proc/PID is
	 * that process, and all below (the sameness checks, its maps, the
	 * one setns) is about one and the same process. Without a pidfd
	 * (before Linux 5.3) only /proc/PID is used, as nsenter does.
	 */
	pidfd = (int)syscall(SYS_pidfd_open, target, 0);
	procdir = procfs_open(PROCFS_CWD, target, NULL,
			      O_RDONLY | O_DIRECTORY);
	if (procdir < 0 ||
	    (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0)))
		return linx_fail(err, errno, STAGE_OPEN_NS_USER + first,
				 "open /proc/%d", (int)target);

	if (mask & (1u << NS_USER)) {
		procfs_read_small(procdir, "setgroups", ids.setgroups,
				  sizeof(ids.setgroups));
		procfs_read_small(procdir, "uid_map", ids.uid_map,
				  sizeof(ids.uid_map));
		procfs_read_small(procdir, "gid_map", ids.gid_map,
				  sizeof(ids.gid_map));
	}

	for (i = 0; i < NS_COUNT; i++) {
		if (!(mask & (1u << i)))
			continue;
		same = ns_same(procdir, i);
		if (same < 0) {
			int e = errno;

			/*
			 * Only a type this kernel lacks may be skipped: a
			 * namespace asked for and not joined would run the
			 * workload in ours (the host's) without a word.
			 */
			if (all && e == ENOENT && !kernel_has_ns(i))
				continue;
			return linx_fail(err, e, STAGE_OPEN_NS_USER + i,
					 "open /proc/%d/ns/%s", (int)target,
					 ns_table[i].proc);
		}
		if (!same)
			want |= 1u << i;
	}

	/* Nothing from the target may ptrace us or read our /proc files */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		return linx_fail(err, errno, STAGE_SETNS_USER + first,
				 "PR_SET_DUMPABLE");

	if (want && !ns_join_pidfd(pidfd, want)) {
		*joined = want;
		if ((want & (1u << NS_USER)) && ns_become_root(&ids, err))
			return -1;
	} else if (want &&
		   ns_join_fds(target, procdir, want, &ids, joined, err)) {
		return -1;
	}

	/* No cwd from the host's mount namespace survives (CVE-2024-21626) */
	if (chdir_root && chdir("/"))
		return linx_fail(err, errno, STAGE_SETNS_MOUNT, "chdir /");
	return 0;
}
