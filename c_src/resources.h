/*
 * resources.h - the workload's resources and time: the request keys
 * cgroups_v1, rlimits, nice, cpus, timeout and kill_timeout in their
 * decoded form (resources_wire.c decodes and echoes them, purely), and the
 * agent's side (resources.c): join the v1 groups, prlimit, setpriority and
 * sched_setaffinity on the child while it waits after the clone.
 *
 * The cgroup limits themselves (memory.max, cpu.cfs_quota_us, ...) are
 * written by the BEAM into groups it made (Linx.Cgroup.Limits); the agent
 * only moves the workload into the v1 ones, before exec. The timeout is
 * enforced by the agent's poll loop (deadline.c).
 */
#ifndef LINX_RESOURCES_H
#define LINX_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "error.h"
#include "term.h"

/* At most one group per v1 hierarchy Linx writes to */
#define LIMITS_MAX_CGROUPS 8
/* RLIMIT_NLIMITS is 16 on Linux */
#define LIMITS_MAX_RLIMITS 16
/* CPU indices 0..LIMITS_MAX_CPUS-1 (glibc's CPU_SETSIZE) */
#define LIMITS_MAX_CPUS 1024
/* timeout and kill_timeout: at most 2^32 ms (~49 days) */
#define LIMITS_MAX_MS 4294967296ULL
#define LIMITS_KILL_TIMEOUT_DEFAULT 5000

/**
 * struct linx_rlimit - one {name, soft, hard}
 * @resource:	RLIMIT_* number
 * @soft:	soft limit (UINT64_MAX: RLIM_INFINITY)
 * @hard:	hard limit
 */
struct linx_rlimit {
	int resource;
	uint64_t soft;
	uint64_t hard;
};

/**
 * struct linx_limits - what the agent applies to the workload
 * @cgroups_v1:		v1 group directories (malloc'ed) to move it into
 * @ncgroups:		how many
 * @rlimits:		prlimit(2) on the child, in order
 * @nrlimits:		how many
 * @has_nice:		@nice was given
 * @nice:		setpriority(2) value, -20..19
 * @cpus:		sched_setaffinity(2) mask, bit i = CPU i
 * @has_cpus:		@cpus was given (never empty then)
 * @timeout_ms:		SIGTERM this long after exec, 0: none
 * @kill_timeout_ms:	then SIGKILL to the tree after this long
 */
struct linx_limits {
	char *cgroups_v1[LIMITS_MAX_CGROUPS];
	size_t ncgroups;
	struct linx_rlimit rlimits[LIMITS_MAX_RLIMITS];
	size_t nrlimits;
	bool has_nice;
	int nice;
	uint64_t cpus[LIMITS_MAX_CPUS / 64];
	bool has_cpus;
	uint64_t timeout_ms;
	uint64_t kill_timeout_ms;
};

/**
 * limits_needed() - is there anything to apply while the child waits?
 * @l:		the limits
 *
 * Inline (as limits_free()), so the pure decoder does not link resources.c.
 *
 * Return: true if a group is to be joined or a limit set on the child
 */
static inline bool limits_needed(const struct linx_limits *l)
{
	return l->ncgroups || l->nrlimits || l->has_nice || l->has_cpus;
}

/**
 * limits_free() - release the group paths
 * @l:		the limits (the group list emptied)
 */
static inline void limits_free(struct linx_limits *l)
{
	size_t i;

	for (i = 0; i < l->ncgroups; i++) {
		free(l->cgroups_v1[i]);
		l->cgroups_v1[i] = NULL;	/* decode_path() frees its slot */
	}
	l->ncgroups = 0;
}

/* resources_wire.c: pure decode of the request keys, and their echo */
int limits_decode_cgroups(struct tdec *d, struct linx_limits *l,
			  const char *path);
int limits_decode_rlimits(struct tdec *d, struct linx_limits *l,
			  const char *path);
int limits_decode_nice(struct tdec *d, struct linx_limits *l,
		       const char *path);
int limits_decode_cpus(struct tdec *d, struct linx_limits *l,
		       const char *path);
int limits_decode_timeout(struct tdec *d, struct linx_limits *l,
			  const char *path);
int limits_decode_kill_timeout(struct tdec *d, struct linx_limits *l,
			       const char *path);
int limits_echo_encode(ei_x_buff *x, const struct linx_limits *l);

/* resources.c: the agent's side */
int limits_open_cgroups(const struct linx_limits *l, int *fds,
			struct linx_err *err);
int limits_apply(pid_t pid, const struct linx_limits *l, int *fds,
		 struct linx_err *err);

#endif /* LINX_RESOURCES_H */
