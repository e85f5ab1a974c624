/*
 * ns.h - Linux namespaces: the table (atom, /proc name, CLONE_NEW* flag)
 * and joining the namespaces of a running process (enter mode).
 */
#ifndef LINX_NS_H
#define LINX_NS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/**
 * struct ns_type - one namespace type
 * @atom:	name on the wire (:mount)
 * @proc:	name under /proc/PID/ns (mnt)
 * @children:	the /proc/self/ns entry that describes what our children get
 *		(pid_for_children, time_for_children), else same as @proc
 * @flag:	CLONE_NEW* flag (64-bit: CLONE_NEWTIME only works via clone3)
 */
struct ns_type {
	const char *atom;
	const char *proc;
	const char *children;
	uint64_t flag;
};

/* Index order is the wire order and the order of the stage blocks. */
enum ns_index {
	NS_USER, NS_MOUNT, NS_UTS, NS_IPC, NS_CGROUP, NS_NET, NS_TIME, NS_PID,
	NS_COUNT
};

#define NS_ALL ((1u << NS_COUNT) - 1)

extern const struct ns_type ns_table[NS_COUNT];

int ns_by_atom(const char *atom);
uint64_t ns_clone_flags(unsigned mask);
int ns_enter(pid_t target, unsigned mask, bool all, bool chdir_root,
	     unsigned *joined, struct linx_err *err);

#endif /* LINX_NS_H */
