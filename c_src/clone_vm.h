/*
 * clone_vm.h - clones that share the agent's memory until the child's
 * execve (no page tables copied): see clone_vm.c.
 */
#ifndef LINX_CLONE_VM_H
#define LINX_CLONE_VM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "child.h"

/*
 * struct clone_args up to CLONE_ARGS_SIZE_VER2 (88 bytes, Linux 5.7: the
 * cgroup field). Only the first 64 bytes are passed without a cgroup, so
 * a 5.3 kernel still takes it.
 */
struct linx_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};
#define CLONE_ARGS_SIZE_VER0 64

/**
 * struct clone_vm - a paused shared-memory clone in progress
 * @stack:	the child's stack, ours again once it has exec'd or died
 */
struct clone_vm {
	void *stack;
};

void clone_vm_prepare(void);
pid_t clone_vm_vfork(const struct linx_clone_args *args, size_t size,
		     const struct child_plan *plan);
pid_t clone_vm_start(const struct linx_clone_args *args, size_t size,
		     const struct child_plan *plan, struct clone_vm *cv);
void clone_vm_finish(struct clone_vm *cv, int chan);

#endif /* LINX_CLONE_VM_H */
