/*
 * usage.h - the final resource usage of the group the agent made, read
 * before its terminal frame (request key usage: true).
 */
#ifndef LINX_USAGE_H
#define LINX_USAGE_H

#include <stdbool.h>
#include <stdint.h>

/**
 * struct group_usage - what could be read; a field whose has_ flag is
 * false was not there (a key the BEAM then leaves out, as it does when it
 * reads the group itself)
 * @cpu_usec, @user_usec, @system_usec:	cpu.stat's usage_usec, user_usec,
 *					system_usec
 * @pids:	tasks still in the group (lines of cgroup.threads)
 */
struct group_usage {
	uint64_t cpu_usec;
	uint64_t user_usec;
	uint64_t system_usec;
	uint64_t pids;
	bool has_cpu_usec;
	bool has_user_usec;
	bool has_system_usec;
	bool has_pids;
};

void usage_read(int cgroup_fd, struct group_usage *u);

#endif /* LINX_USAGE_H */
