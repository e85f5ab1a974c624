/*
 * tree.h - whole-tree lifetime: find, kill and reap every descendant of
 * the agent (it is a child subreaper, so daemons the workload double-forks
 * stay its descendants), and remove the cgroup the agent made for it.
 */
#ifndef LINX_TREE_H
#define LINX_TREE_H

#include <stdbool.h>
#include <sys/types.h>

int tree_kill_descendants(int proc_fd, pid_t self);
void tree_sweep(int proc_fd, pid_t self, int pidfd, int cgroup_fd,
		pid_t workload, bool *reaped, int *status);
int tree_make_group(int parent_fd, const char *name);
int tree_remove_group(int parent_fd, const char *name, int cgroup_fd,
		      bool kill);

#endif /* LINX_TREE_H */
