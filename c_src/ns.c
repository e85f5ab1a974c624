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
#include <unistd.h>

#include "ns.h"
#include "procfs.h"
#include "util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
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

/**
 * ns_enter() - join namespaces of @target
 * @target:	host pid
 * @mask:	namespaces to join (bits over enum ns_index)
 * @all:	the request named none: a type the kernel lacks (judged from
 *		our own /proc/self/ns) is skipped; any other failure to open
 *		the target's is an error
 * @chdir_root:	chdir("/") after the last setns (no cwd was given)
 * @joined:	set to the namespaces actually joined
 * @err:	stage open_ns_<ns> or setns_<ns> on failure
 *
 * A namespace we already share with the target (same inode) is skipped:
 * setns into our own user namespace is EINVAL. For pid and time we
 * compare with what our children would get (pid_for_children).
 *
 * Return: 0 or -1
 */
int ns_enter(pid_t target, unsigned mask, bool all, bool chdir_root,
	     unsigned *joined, struct linx_err *err)
{
	int fds[NS_COUNT], i, first = -1, pass;
	cleanup_close int procdir = -1;
	char path[64], sg_policy[32] = "", uid_map[4096] = "",
	     gid_map[4096] = "";
	unsigned retry = 0;
	int rc = -1;

	*joined = 0;
	for (i = 0; i < NS_COUNT; i++) {
		fds[i] = -1;
		if (first < 0 && (mask & (1u << i)))
			first = i;
	}
	if (first < 0)
		first = NS_USER;

	procdir = procfs_open(PROCFS_CWD, target, NULL,
			      O_RDONLY | O_DIRECTORY);
	if (procdir < 0)
		return linx_fail(err, errno, STAGE_OPEN_NS_USER + first,
				 "open /proc/%d", (int)target);

	/* Before any setns: our view of /proc changes with the mount ns */
	if (mask & (1u << NS_USER)) {
		procfs_read_small(procdir, "setgroups", sg_policy,
				  sizeof(sg_policy));
		procfs_read_small(procdir, "uid_map", uid_map,
				  sizeof(uid_map));
		procfs_read_small(procdir, "gid_map", gid_map,
				  sizeof(gid_map));
	}

	for (i = 0; i < NS_COUNT; i++) {
		if (!(mask & (1u << i)))
			continue;
		snprintf(path, sizeof(path), "ns/%s", ns_table[i].proc);
		fds[i] = openat(procdir, path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			int e = errno;

			/*
			 * Only a type this kernel lacks may be skipped: a
			 * namespace asked for and not joined would run the
			 * workload in ours (the host's) without a word.
			 */
			if (all && e == ENOENT && !kernel_has_ns(i))
				continue;
			linx_fail(err, e, STAGE_OPEN_NS_USER + i,
				  "open /proc/%d/%s", (int)target, path);
			goto out;
		}
		if (procfs_same_ns(fds[i], ns_table[i].children)) {
			close(fds[i]);
			fds[i] = -1;
		}
	}

	/* Nothing from the target may ptrace us or read our /proc files */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
		linx_fail(err, errno, STAGE_SETNS_USER + first,
			  "PR_SET_DUMPABLE");
		goto out;
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
			if (i == NS_USER) {
				/*
				 * As nsenter: become root of the namespace
				 * when 0 is mapped; drop host supplementary
				 * groups only where setgroups is allowed.
				 */
				if (!strncmp(sg_policy, "allow", 5) &&
				    setgroups(0, NULL)) {
					linx_fail(err, errno, STAGE_SETNS_USER,
						  "setgroups");
					goto out;
				}
				if (maps_zero(gid_map) &&
				    setresgid(0, 0, 0)) {
					linx_fail(err, errno, STAGE_SETNS_USER,
						  "setresgid 0");
					goto out;
				}
				if (maps_zero(uid_map) &&
				    setresuid(0, 0, 0)) {
					linx_fail(err, errno, STAGE_SETNS_USER,
						  "setresuid 0");
					goto out;
				}
			}
			close(fds[i]);
			fds[i] = -1;
		}
	}

	/* No cwd from the host's mount namespace survives (CVE-2024-21626) */
	if (chdir_root && chdir("/")) {
		linx_fail(err, errno, STAGE_SETNS_MOUNT, "chdir /");
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < NS_COUNT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}
