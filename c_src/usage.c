/*
 * usage.c - the final usage of the workload's own cgroup v2 group, read
 * by the agent that made it (request cgroup {:make, …} with usage: true)
 * just before its terminal frame, and sent as {:usage, map}
 * (events.c).
 *
 * The BEAM used to read these files itself after the terminal frame: one
 * prim_file call each, every one waking a dirty I/O scheduler that then
 * spun for ~0.5 ms, a core of a 2-core machine taken from the next
 * workload (docs/performance.md, "Throughput, a fourth time"). The keys
 * and their meaning are those of Linx.Cgroup.Limits.usage/2.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"
#include "usage.h"

/* "key value" lines: the value of @key, if the line is there */
static bool keyed(const char *text, const char *key, uint64_t *out)
{
	size_t len = strlen(key);
	const char *p = text;
	char *end;

	while (p && *p) {
		if (!strncmp(p, key, len) && p[len] == ' ') {
			*out = strtoull(p + len + 1, &end, 10);
			return end != p + len + 1;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

/* Lines of a group file, read in chunks: -1 when it cannot be read */
static long count_lines(int cgroup_fd, const char *name)
{
	char buf[512];
	long lines = 0;
	ssize_t n, i;
	int fd = openat(cgroup_fd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return n < 0 ? -1 : lines;
}

/**
 * usage_read() - fill @u from the group's cpu.stat and cgroup.threads
 * @cgroup_fd:	the group's directory
 * @u:		filled; fields that could not be read are marked absent
 */
void usage_read(int cgroup_fd, struct group_usage *u)
{
	char buf[1024];
	long pids;

	memset(u, 0, sizeof(*u));
	if (!procfs_read_small(cgroup_fd, "cpu.stat", buf, sizeof(buf))) {
		u->has_cpu_usec = keyed(buf, "usage_usec", &u->cpu_usec);
		u->has_user_usec = keyed(buf, "user_usec", &u->user_usec);
		u->has_system_usec = keyed(buf, "system_usec",
					   &u->system_usec);
	}
	pids = count_lines(cgroup_fd, "cgroup.threads");
	u->has_pids = pids >= 0;
	u->pids = pids > 0 ? (uint64_t)pids : 0;
}
