/*
 * clone3_probe.c - a program that creates its child with clone3(2) itself
 * (not through libc's fork), and a thread (glibc >= 2.34 makes threads
 * with clone3 too): the "every name trapped" hand-off test runs it under a
 * filter trapping clone3. Prints "clone3 child 7, thread 42" and exits 0.
 */
#define _GNU_SOURCE
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static void *thread_main(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)42;
}

int main(void)
{
	struct clone_args ca;
	pthread_t t;
	void *ret;
	long pid;
	int st;

	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0) {
		perror("clone3");
		return 1;
	}
	if (pid == 0)
		_exit(7);
	if (waitpid((pid_t)pid, &st, 0) != pid || !WIFEXITED(st))
		return 2;
	if (pthread_create(&t, NULL, thread_main, NULL) ||
	    pthread_join(t, &ret))
		return 3;
	printf("clone3 child %d, thread %d\n", WEXITSTATUS(st),
	       (int)(intptr_t)ret);
	return 0;
}
