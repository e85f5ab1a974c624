/*
 * tree.c - kill and reap everything below the agent.
 *
 * /proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN, which many
 * kernels lack (this project's CI kernel among them), so the descendants
 * are found by reading the parent pid of every process in /proc (through a
 * descriptor opened before any setns, so pids are the agent's) and closing
 * the set under "parent is in the set". The sweep repeats kill + reap
 * until the agent has no child left (ECHILD), bounded in time: a process
 * stuck in uninterruptible sleep cannot hold the agent forever.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tree.h"
#include "util.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define SWEEP_ROUNDS 5000	/* x 1 ms */
#define KILL_WAIT_MS 1000	/* for a SIGKILLed workload to die */

struct proc_ent {
	pid_t pid, ppid;
	bool mark;
};

/*
 * read_ppid() - parent pid from /proc/PID/stat ("pid (comm) S ppid ...";
 * comm may contain spaces and parentheses: parse after the last ')')
 */
static pid_t read_ppid(int proc_fd, const char *pid)
{
	char path[64], buf[512], *p;
	cleanup_close int fd = -1;
	ssize_t n;
	int ppid;
	char st;

	snprintf(path, sizeof(path), "%s/stat", pid);
	fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %d", &st, &ppid) != 2)
		return -1;
	return ppid;
}

/*
 * kill_checked() - SIGKILL a process found in the scan, by pidfd, after
 * checking that the pidfd's process still has the parent we saw: a
 * grandchild may have been reaped by its parent and its pid reused since
 * the scan. (Our own children cannot be: only we reap them.)
 */
static int kill_checked(int proc_fd, const struct proc_ent *e)
{
	cleanup_close int pidfd = syscall(SYS_pidfd_open, e->pid, 0);
	char name[16];

	if (pidfd < 0)
		return kill(e->pid, SIGKILL);	/* no pidfd_open: best effort */
	snprintf(name, sizeof(name), "%d", (int)e->pid);
	if (read_ppid(proc_fd, name) != e->ppid)
		return -1;
	return syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

/**
 * tree_kill_descendants() - SIGKILL every descendant of @self
 * @proc_fd:	descriptor of the /proc of the agent's pid namespace
 * @self:	the agent's pid
 *
 * Return: how many processes were signalled, or -1 if /proc is unreadable
 */
int tree_kill_descendants(int proc_fd, pid_t self)
{
	struct proc_ent *v = NULL, *nv;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	bool grew;
	int killed = 0, dfd;
	DIR *dir;

	dfd = openat(proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(dir))) {
		pid_t pid, ppid;
		char *end;

		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		ppid = read_ppid(proc_fd, de->d_name);
		if (ppid < 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = (struct proc_ent){ pid, ppid, false };
	}
	closedir(dir);

	/* Close the set {self} under "parent in the set" */
	do {
		grew = false;
		for (i = 0; i < n; i++) {
			size_t j;

			if (v[i].mark)
				continue;
			if (v[i].ppid == self) {
				v[i].mark = grew = true;
				continue;
			}
			for (j = 0; j < n; j++)
				if (v[j].mark && v[j].pid == v[i].ppid) {
					v[i].mark = grew = true;
					break;
				}
		}
	} while (grew);

	for (i = 0; i < n; i++)
		if (v[i].mark && !kill_checked(proc_fd, &v[i]))
			killed++;
	free(v);
	return killed;
}

/*
 * kill_workload() - SIGKILL the workload (by pidfd when there is one: no
 * pid-reuse race; in a pid namespace this takes every process in it) and
 * give it a moment to die, so that it is reaped in the same round and its
 * children re-parent to us.
 */
static void kill_workload(int pidfd, pid_t workload)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	if (pidfd < 0) {
		kill(workload, SIGKILL);
		return;
	}
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	poll(&p, 1, KILL_WAIT_MS);
}

/*
 * cgroup_kill() - SIGKILL every process in the group (cgroup.kill, 5.14+);
 * a kernel without it leaves the work to the pidfd kill and the sweep
 */
static void cgroup_kill(int cgroup_fd)
{
	int fd = openat(cgroup_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, "1", 1) < 0) {
		/* an empty or removed group: nothing left to kill */
	}
	close(fd);
}

/*
 * reap_all() - reap every child that has exited, noting the workload's
 * status. Return: true when the agent has no child left at all.
 */
static bool reap_all(pid_t workload, bool *reaped, int *status)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (pid == workload && !*reaped) {
			*reaped = true;
			*status = st;
		}
	return pid < 0 && errno == ECHILD;
}

/**
 * tree_sweep() - kill the workload and every descendant, reap them all
 * @proc_fd:	/proc descriptor (see tree_kill_descendants)
 * @self:	the agent's pid
 * @pidfd:	the workload's pidfd, or -1
 * @cgroup_fd:	the workload's cgroup v2 directory, or -1
 * @workload:	the workload's pid
 * @reaped:	in/out: the workload has been reaped
 * @status:	out: its wait status, when reaped here
 *
 * The agent is a child subreaper: once the workload is dead and reaped,
 * every surviving descendant hangs below one of the agent's own children.
 * So "no child left" (ECHILD) proves the tree is gone, and the expensive
 * scan of /proc runs only when something is actually left behind — the
 * common exit of a workload that started nothing costs one waitpid().
 *
 * Returns when the agent has no child left, or after about 5 s.
 */
void tree_sweep(int proc_fd, pid_t self, int pidfd, int cgroup_fd,
		pid_t workload, bool *reaped, int *status)
{
	const struct timespec ms = { 0, 1000000 };
	int round;

	for (round = 0; round < SWEEP_ROUNDS; round++) {
		/* One write kills the whole group, whatever it forked */
		if (cgroup_fd >= 0)
			cgroup_kill(cgroup_fd);
		if (!*reaped)
			kill_workload(pidfd, workload);
		if (reap_all(workload, reaped, status))
			return;
		tree_kill_descendants(proc_fd, self);
		if (reap_all(workload, reaped, status))
			return;
		nanosleep(&ms, NULL);
	}
}

/* How deep the groups a workload made inside its own may nest for us */
#define GROUP_DEPTH_MAX 16
/* How long an emptied group may refuse rmdir (EBUSY) before we give up */
#define RMDIR_ROUNDS 1000	/* x 1 ms */

/*
 * remove_below() - rmdir the groups inside @dirfd, deepest first: a
 * workload with write access to the cgroup tree may have made some, and
 * cgroup v2 refuses to remove a group that has children (EBUSY)
 */
static void remove_below(int dirfd, int depth)
{
	struct dirent *e;
	DIR *dir;
	int fd;

	if (depth >= GROUP_DEPTH_MAX)
		return;
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(dir))) {
		int sub;

		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") ||
		    !strcmp(e->d_name, ".."))
			continue;
		sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY |
						O_CLOEXEC);
		if (sub < 0)
			continue;
		remove_below(sub, depth + 1);
		close(sub);
		unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
	}
	closedir(dir);
}

/*
 * One mkdir or rmdir of a group at a time among the agents: each takes
 * the parent directory's inode lock, which every group shares (they all
 * live in one directory), and a crowd of agents waiting on it spins in
 * the kernel (osq_lock): 19 % of the agents' CPU at 64 at once. Waiting
 * in flock(2) instead sleeps. Best effort: without the lock it still
 * works, only slower under load.
 */
static int group_op_locked(int parent_fd, const char *name, bool make)
{
	bool locked = !flock(parent_fd, LOCK_EX);
	int r, e;

	r = make ? mkdirat(parent_fd, name, 0755) :
		   unlinkat(parent_fd, name, AT_REMOVEDIR);
	e = errno;
	if (locked)
		flock(parent_fd, LOCK_UN);
	errno = e;
	return r;
}

/**
 * tree_make_group() - make the workload's cgroup v2 group (request cgroup
 * {:make, …}), mode 0755
 * @parent_fd:	its parent directory (opened before any setns)
 * @name:	its name there
 *
 * Return: 0, or -1 with errno set
 */
int tree_make_group(int parent_fd, const char *name)
{
	return group_op_locked(parent_fd, name, true);
}

/**
 * tree_remove_group() - remove the workload's cgroup v2 group once the
 * tree is gone
 * @parent_fd:	its parent directory (opened before any setns, so the
 *		agent's view of the hierarchy)
 * @name:	its name in @parent_fd
 * @cgroup_fd:	the group itself, or -1
 * @kill:	on_exit: :kill — whatever is still inside (moved in from
 *		outside, or not out yet) is killed with cgroup.kill and the
 *		removal retried for about a second; else one try
 *
 * Return: 0, or an errno value when the group stays
 */
int tree_remove_group(int parent_fd, const char *name, int cgroup_fd,
		      bool kill)
{
	const struct timespec ms = { 0, 1000000 };
	int round;

	for (round = 0; round < RMDIR_ROUNDS; round++) {
		if (!group_op_locked(parent_fd, name, false) || errno == ENOENT)
			return 0;
		if (errno != EBUSY || !kill)
			return errno;
		if (cgroup_fd >= 0) {
			cgroup_kill(cgroup_fd);
			remove_below(cgroup_fd, 0);
		}
		nanosleep(&ms, NULL);
	}
	return EBUSY;
}
