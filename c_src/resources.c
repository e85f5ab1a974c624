/*
 * resources.c - the agent applies the workload's resource settings (request
 * keys cgroups_v1, rlimits, nice, cpus; see resources.h) to the child while
 * it waits right after the clone, before anything of the workload runs:
 *
 *   1. join every v1 group (write its pid to cgroup.procs): cgroup v1 has
 *      no CLONE_INTO_CGROUP, and the child has forked nothing yet, so the
 *      whole tree is inside from its first process on;
 *   2. prlimit(2) each rlimit, in the order given;
 *   3. setpriority(2) the nice value;
 *   4. sched_setaffinity(2) the CPU list.
 *
 * All four act on another process, so the child runs no code for them
 * and they hold from its exec on. The cgroup.procs files are opened by
 * limits_open_cgroups() before any setns (enter): the paths are the
 * BEAM's view of the hierarchy. Failures: stage :cgroup (join), :rlimit,
 * :nice, :cpus, with a text naming the value.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "resources.h"
#include "util.h"

/**
 * limits_open_cgroups() - open <dir>/cgroup.procs of every v1 group
 * @l:		the limits
 * @fds:	out: LIMITS_MAX_CGROUPS descriptors, -1 where none; the
 *		caller closes them (also on failure)
 * @err:	stage cgroup on failure
 *
 * Return: 0 or -1
 */
int limits_open_cgroups(const struct linx_limits *l, int *fds,
			struct linx_err *err)
{
	char path[4096];
	size_t i;

	for (i = 0; i < l->ncgroups; i++) {
		snprintf(path, sizeof(path), "%s/cgroup.procs",
			 l->cgroups_v1[i]);
		fds[i] = open(path, O_WRONLY | O_CLOEXEC);
		if (fds[i] < 0)
			return linx_fail(err, errno, STAGE_CGROUP, "open %s",
					 path);
	}
	return 0;
}

/*
 * join_cgroups() - write @pid to each opened cgroup.procs, closing them
 */
static int join_cgroups(pid_t pid, const struct linx_limits *l, int *fds,
			struct linx_err *err)
{
	char buf[24];
	size_t i;
	int n, rc = 0;

	n = snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (i = 0; i < l->ncgroups; i++) {
		if (!rc && fds[i] >= 0 && write(fds[i], buf, n) < 0)
			rc = linx_fail(err, errno, STAGE_CGROUP,
				       "join %s (write %d to cgroup.procs)",
				       l->cgroups_v1[i], (int)pid);
		cleanup_closep(&fds[i]);
		fds[i] = -1;
	}
	return rc;
}

/*
 * set_rlimits() - prlimit(2) on the child, in order
 */
static int set_rlimits(pid_t pid, const struct linx_limits *l,
		       struct linx_err *err)
{
	struct rlimit rl;
	size_t i;

	for (i = 0; i < l->nrlimits; i++) {
		const struct linx_rlimit *r = &l->rlimits[i];

		rl.rlim_cur = r->soft == UINT64_MAX ? RLIM_INFINITY : r->soft;
		rl.rlim_max = r->hard == UINT64_MAX ? RLIM_INFINITY : r->hard;
		if (prlimit(pid, r->resource, &rl, NULL))
			return linx_fail(err, errno, STAGE_RLIMIT,
					 "prlimit(%d, resource %d, %llu, %llu)",
					 (int)pid, r->resource,
					 (unsigned long long)r->soft,
					 (unsigned long long)r->hard);
	}
	return 0;
}

/*
 * set_affinity() - sched_setaffinity(2) to the CPUs of the mask
 */
static int set_affinity(pid_t pid, const struct linx_limits *l,
			struct linx_err *err)
{
	cpu_set_t set;
	int cpu;

	CPU_ZERO(&set);
	for (cpu = 0; cpu < LIMITS_MAX_CPUS && cpu < CPU_SETSIZE; cpu++)
		if ((l->cpus[cpu / 64] >> (cpu % 64)) & 1)
			CPU_SET(cpu, &set);
	if (sched_setaffinity(pid, sizeof(set), &set))
		return linx_fail(err, errno, STAGE_CPUS,
				 "sched_setaffinity(%d) to the requested CPUs",
				 (int)pid);
	return 0;
}

/**
 * limits_apply() - join the groups, then rlimits, nice, CPUs
 * @pid:	the workload, a child of ours waiting after the clone
 * @l:		what to apply
 * @fds:	the descriptors of limits_open_cgroups(), closed here
 * @err:	stage cgroup, rlimit, nice or cpus on failure
 *
 * Return: 0 or -1
 */
int limits_apply(pid_t pid, const struct linx_limits *l, int *fds,
		 struct linx_err *err)
{
	/* First: whatever the child does from now on is accounted */
	if (join_cgroups(pid, l, fds, err) || set_rlimits(pid, l, err))
		return -1;
	if (l->has_nice && setpriority(PRIO_PROCESS, pid, l->nice))
		return linx_fail(err, errno, STAGE_NICE, "setpriority(%d, %d)",
				 (int)pid, l->nice);
	if (l->has_cpus && set_affinity(pid, l, err))
		return -1;
	return 0;
}
