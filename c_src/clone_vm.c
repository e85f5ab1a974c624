/*
 * clone_vm.c - clone3 with CLONE_VM: the child runs child_main() on a
 * stack of its own inside the agent's memory until its execve, so no page
 * tables are copied (a fork of the agent costs ~0.6 ms on this class of
 * VM, one of these ~0.04 ms: docs/performance.md).
 *
 * DOC: The two shapes
 *
 * - vfork (CLONE_VM | CLONE_VFORK): the child has nothing to wait for.
 *   The kernel holds the agent until the child has exec'd or died.
 *
 * - paused (CLONE_VM alone): the child waits at its checkpoint for one
 *   record that only the agent's own work decides (the id maps, the
 *   limits: spawn.c). The agent cannot be held by the kernel meanwhile,
 *   so it goes on, does that work, sends the record, and then waits
 *   itself: for the child's end of the channel to close, which happens
 *   at the child's execve (close-on-exec) or its death, after the kernel
 *   has switched it off our memory in both cases. Only then is the stack
 *   ours again.
 *
 * Sharing memory with a running child is safe here because the two take
 * turns: until the record, the child makes a few system calls and then
 * sleeps in recvmsg(2); after it, the agent sleeps in poll(2). Neither
 * writes anything the other reads; the child reads only its plan, which
 * the agent no longer changes, and glibc's errno, the one thing both
 * write, is written only when a call fails. The child never outlives the
 * caller's frame on our memory: a caller that will not send the record
 * (its own work failed) kills the child and still waits for the hang-up
 * (spawn.c, spawn_paused()).
 *
 * Not under ASan, whose runtime does not expect a CLONE_VM child that is
 * no thread, and x86-64 only (the child's first instructions are
 * assembly): elsewhere both calls fail with EAGAIN and the caller takes
 * the fork-like clone3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clone_vm.h"

#ifndef CLONE_VM
#define CLONE_VM 0x00000100
#endif
#ifndef CLONE_VFORK
#define CLONE_VFORK 0x00004000
#endif

/* Room for child_main and libc; touched lazily */
#define CHILD_STACK_SIZE (256 * 1024)

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
/* Mapped by clone_vm_prepare() while the agent waits, or NULL */
static void *prepared_stack;

static void *map_stack(void)
{
	/* fd -1 is what MAP_ANONYMOUS asks for; cppcheck's posix.cfg says 0: */
	void *p = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
		       /* cppcheck-suppress invalidFunctionArg */
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return p;
}

/**
 * clone_vm_prepare() - map the child's stack ahead (spawn_prepare()):
 * nothing is touched, so it costs no memory until the child runs
 */
void clone_vm_prepare(void)
{
	if (!prepared_stack)
		prepared_stack = map_stack();
}

/*
 * clone3_on_stack() - clone3 whose child runs child_main(@plan) on the
 * stack given in @args. The child resumes right after the syscall
 * instruction with no C frame to return into, so the call to child_main
 * is made here, in assembly (child_main never returns; exit(127) if it
 * did).
 *
 * Return: the child's pid, or -1 with errno set
 */
static pid_t clone3_on_stack(const struct linx_clone_args *args, size_t size,
			     const struct child_plan *plan)
{
	register void (*fn)(const struct child_plan *) asm("r12") = child_main;
	register const struct child_plan *arg asm("r13") = plan;
	long ret;

	asm volatile("syscall\n\t"
		     "test %%rax, %%rax\n\t"
		     "jnz 1f\n\t"
		     "xor %%ebp, %%ebp\n\t"
		     "mov %%r13, %%rdi\n\t"
		     "call *%%r12\n\t"
		     "mov $60, %%eax\n\t"
		     "mov $127, %%edi\n\t"
		     "syscall\n\t"
		     "1:"
		     : "=a"(ret)
		     : "0"((long)SYS_clone3), "D"(args), "S"(size), "r"(fn),
		       "r"(arg)
		     : "rcx", "r11", "memory");
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return (pid_t)ret;
}

/*
 * clone_on_new_stack() - clone3 with @extra flags on a fresh stack,
 * returned in @stack. Any failure but ENOSYS is EAGAIN: the caller falls
 * back to the fork-like clone3, which reports the real error.
 */
static pid_t clone_on_new_stack(const struct linx_clone_args *args,
				size_t size, const struct child_plan *plan,
				uint64_t extra, void **stack)
{
	struct linx_clone_args vargs = *args;
	pid_t pid;

	*stack = prepared_stack ? prepared_stack : map_stack();
	prepared_stack = NULL;
	if (!*stack) {
		errno = EAGAIN;
		return -1;
	}
	vargs.flags |= CLONE_VM | extra;
	vargs.stack = (uintptr_t)*stack;
	vargs.stack_size = CHILD_STACK_SIZE;
	pid = clone3_on_stack(&vargs, size, plan);
	if (pid < 0) {
		munmap(*stack, CHILD_STACK_SIZE);
		if (errno != ENOSYS)
			errno = EAGAIN;
	}
	return pid;
}

/**
 * clone_vm_vfork() - the child runs @plan to its execve while we sleep
 *
 * Return: the child's pid (it has exec'd or died), or -1: EAGAIN (use the
 * fork-like clone3) or ENOSYS
 */
pid_t clone_vm_vfork(const struct linx_clone_args *args, size_t size,
		     const struct child_plan *plan)
{
	void *stack;
	pid_t pid = clone_on_new_stack(args, size, plan, CLONE_VFORK, &stack);

	/* The child has exec'd or died: its stack is ours again */
	if (pid > 0)
		munmap(stack, CHILD_STACK_SIZE);
	return pid;
}

/**
 * clone_vm_start() - the paused shape: the child runs @plan, which must
 * wait at its checkpoint; clone_vm_finish() once its record is sent
 *
 * Return: the child's pid, or -1: EAGAIN (use the fork-like clone3) or
 * ENOSYS
 */
pid_t clone_vm_start(const struct linx_clone_args *args, size_t size,
		     const struct child_plan *plan, struct clone_vm *cv)
{
	return clone_on_new_stack(args, size, plan, 0, &cv->stack);
}

/**
 * clone_vm_finish() - wait until the child of clone_vm_start() is off our
 * memory, then take its stack back
 * @chan:	our end of its channel; no other copy of its end may be open
 *		in the agent, or the hang-up never comes
 *
 * POLLHUP needs no events asked for and reads nothing, so the child's
 * records stay queued for the relay.
 */
void clone_vm_finish(struct clone_vm *cv, int chan)
{
	struct pollfd p = { .fd = chan, .events = 0 };
	int n;

	do
		n = poll(&p, 1, -1);
	while (n < 0 && errno == EINTR);
	/* Not knowing when it is done, the stack stays: 256 KB, not a crash */
	if (n == 1 && (p.revents & (POLLHUP | POLLERR)))
		munmap(cv->stack, CHILD_STACK_SIZE);
	cv->stack = NULL;
}
#else
void clone_vm_prepare(void)
{
}

pid_t clone_vm_vfork(const struct linx_clone_args *args, size_t size,
		     const struct child_plan *plan)
{
	(void)args;
	(void)size;
	(void)plan;
	errno = EAGAIN;
	return -1;
}

pid_t clone_vm_start(const struct linx_clone_args *args, size_t size,
		     const struct child_plan *plan, struct clone_vm *cv)
{
	(void)args;
	(void)size;
	(void)plan;
	cv->stack = NULL;
	errno = EAGAIN;
	return -1;
}

void clone_vm_finish(struct clone_vm *cv, int chan)
{
	(void)chan;
	cv->stack = NULL;
}
#endif
