/*
 * floor.c - the kernel's floor for the Linx benchmarks: start a program,
 * wait for it, time it, with nothing but the syscalls the job needs.
 *
 *   floor [-n N] fork  PROG [ARG...]          fork + execve + waitpid
 *   floor [-n N] clone NS PROG [ARG...]       clone(CLONE_NEW*) + execve + waitpid
 *   floor [-n N] enter PID PROG [ARG...]      setns (all of PID's) + fork + execve + waitpid
 *   floor [-n N] agent AGENT REQUEST          the Linx agent driven without the BEAM
 *   floor rate C N PROG [ARG...]              workloads/s of two process shapes
 *
 * NS is a comma list of user,pid,mount,uts,ipc,net,cgroup. With user,
 * the child waits on a pipe while the parent writes uid_map and gid_map
 * "0 0 1" (what Linx and `unshare -r` do), then execs.
 *
 * enter opens /proc/PID/ns/<each> on every iteration (as nsenter does, as the
 * Linx agent does), skips namespaces we already share, forks a child that
 * joins the others (non-user first, then user; EPERM retried after user),
 * and that child forks the program so that it lands in the pid namespace.
 *
 * Each iteration's time is CLOCK_MONOTONIC from just before the fork/clone
 * (before the opens for enter) to the return of waitpid, printed in ns, one
 * line per iteration.
 *
 * agent forks AGENT with a pipe on fd 3 (BEAM -> agent) and one on fd 4
 * (agent -> BEAM), writes the frame in the file REQUEST (a 4-byte length
 * and the request term, as the BEAM sends it), reads the agent's frames
 * until EOF and waits for it: the agent's own cost, without the BEAM.
 *
 * rate runs N workloads with C workers in parallel, in two shapes, three
 * rounds alternating (the order swapped every round, so a drift of the
 * machine moves both), and prints each shape's median rate in
 * workloads/s, "fork 2183" and "agent 1923" on two lines:
 *   fork:  fork + execve + waitpid, what erl_child_setup does for every
 *          port System.cmd/3 opens;
 *   agent: fork an agent, which clones PROG CLONE_VM|CLONE_VFORK on a
 *          stack of its own (the Linx agent's vfork shape), waits for it
 *          and exits. The least CPU a fresh agent per workload costs (the
 *          shape issue 11's "agent gone after the terminal status" target
 *          asks for): one fork and one exit more, no request, no group,
 *          no frames. At C = 1 the agent's fork is on each workload's
 *          path, which Linx's zygote avoids by forking ahead; from 2 on
 *          the machine (2 cores) is CPU-bound and only the CPU counts.
 *
 * With -n N: run N iterations and exit. Without: serve - run one iteration
 * per line read on stdin and answer its time on stdout; exit at EOF. The
 * benchmark drives it as a port in serve mode, so its iterations
 * interleave with the BEAM's contenders.
 *
 * The program's stdout is /dev/null (stdout is the answer channel).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum mode { MODE_FORK, MODE_CLONE, MODE_ENTER, MODE_AGENT };

static const struct {
	const char *name;
	int flag;
} ns_names[] = {
	{"user", CLONE_NEWUSER}, {"pid", CLONE_NEWPID}, {"mount", CLONE_NEWNS},
	{"uts", CLONE_NEWUTS},	 {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET},
	{"cgroup", CLONE_NEWCGROUP},
};

/* Entered in this order, user last (as nsenter and the Linx agent do). */
static const struct {
	const char *proc;
	const char *self; /* what our children get, for the "same ns" check */
	int flag;
} enter_ns[] = {
	{"cgroup", "cgroup", CLONE_NEWCGROUP}, {"ipc", "ipc", CLONE_NEWIPC},
	{"uts", "uts", CLONE_NEWUTS},	       {"net", "net", CLONE_NEWNET},
	{"pid", "pid_for_children", CLONE_NEWPID},
	{"mnt", "mnt", CLONE_NEWNS},
	{"time", "time_for_children", CLONE_NEWTIME},
	{"user", "user", CLONE_NEWUSER},
};
#define N_ENTER (sizeof(enter_ns) / sizeof(enter_ns[0]))

static int devnull = -1;

static void die(const char *what)
{
	perror(what);
	exit(111);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void exec_prog(char **argv)
{
	if (devnull != STDOUT_FILENO)
		dup2(devnull, STDOUT_FILENO);
	execve(argv[0], argv, environ);
	_exit(127);
}

static int parse_ns(const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int flags = 0;
	size_t i;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(ns_names) / sizeof(ns_names[0]); i++)
			if (!strcmp(tok, ns_names[i].name))
				break;
		if (i == sizeof(ns_names) / sizeof(ns_names[0])) {
			fprintf(stderr, "floor: unknown namespace %s\n", tok);
			exit(2);
		}
		flags |= ns_names[i].flag;
	}
	free(copy);
	return flags;
}

static void wait_ok(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "floor: child status 0x%x\n", status);
		exit(1);
	}
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path);
	close(fd);
}

static void one_fork(char **argv)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0)
		exec_prog(argv);
	wait_ok(pid);
}

static void one_clone(int flags, char **argv)
{
	int sync[2] = {-1, -1};
	char path[64];
	pid_t pid;

	if ((flags & CLONE_NEWUSER) && pipe2(sync, O_CLOEXEC))
		die("pipe2");
	/* fork semantics: NULL stack, exit signal SIGCHLD */
	pid = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL,
		      NULL, 0);
	if (pid < 0)
		die("clone");
	if (pid == 0) {
		if (sync[0] >= 0) {
			char c;

			close(sync[1]);
			if (read(sync[0], &c, 1) != 0)
				_exit(126);
		}
		exec_prog(argv);
	}
	if (sync[0] >= 0) {
		close(sync[0]);
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		write_file(path, "0 0 1\n");
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
		write_file(path, "0 0 1\n");
		close(sync[1]);
	}
	wait_ok(pid);
}

static struct stat own_ns[N_ENTER];

static void one_enter(pid_t target, char **argv)
{
	int fds[N_ENTER], retry[N_ENTER] = {0};
	char path[64];
	struct stat st;
	size_t i;
	pid_t pid;

	for (i = 0; i < N_ENTER; i++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)target,
			 enter_ns[i].proc);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			if (errno == ENOENT && own_ns[i].st_ino == 0)
				continue; /* kernel without it */
			die(path);
		}
		if (!fstat(fds[i], &st) && st.st_ino == own_ns[i].st_ino &&
		    st.st_dev == own_ns[i].st_dev) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		for (i = 0; i < N_ENTER; i++) {
			if (fds[i] < 0)
				continue;
			if (setns(fds[i], enter_ns[i].flag)) {
				if (errno == EPERM &&
				    enter_ns[i].flag != CLONE_NEWUSER) {
					retry[i] = 1;
					continue;
				}
				_exit(120);
			}
		}
		for (i = 0; i < N_ENTER; i++)
			if (retry[i] && setns(fds[i], enter_ns[i].flag))
				_exit(121);
		pid = fork();
		if (pid < 0)
			_exit(122);
		if (pid == 0)
			exec_prog(argv);
		{
			int status;

			while (waitpid(pid, &status, 0) < 0)
				if (errno != EINTR)
					_exit(123);
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 124);
		}
	}
	for (i = 0; i < N_ENTER; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	wait_ok(pid);
}

static char *request;
static size_t request_len;

static void read_request(const char *path)
{
	FILE *f = fopen(path, "rb");
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) <= 0)
		die(path);
	rewind(f);
	request = malloc((size_t)len);
	if (!request || fread(request, 1, (size_t)len, f) != (size_t)len)
		die(path);
	request_len = (size_t)len;
	fclose(f);
}

static void one_agent(char *agent)
{
	int to[2], from[2];
	char buf[4096], *argv[] = {agent, NULL};
	pid_t pid;
	ssize_t n;

	if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC))
		die("pipe2");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* fds 3 and 4 as the BEAM's nouse_stdio port gives them */
		int r = dup(to[0]), w = dup(from[1]);

		if (dup2(r, 3) < 0 || dup2(w, 4) < 0)
			_exit(125);
		/* Only 3 and 4, as a port has: a spare copy of the write end
		 * would hide the agent's EOF on fd 4 from us */
		close(r);
		close(w);
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0)
			_exit(125);
		execve(agent, argv, environ);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	if (write(to[1], request, request_len) != (ssize_t)request_len)
		die("write request");
	/* fd 3 stays open until the agent is done: EOF there means "kill" */
	while ((n = read(from[0], buf, sizeof(buf))) != 0)
		if (n < 0 && errno != EINTR)
			die("read frames");
	close(from[0]);
	close(to[1]);
	wait_ok(pid);
}

/* rate's agent: the workload shares our memory until its execve, so no
 * page table is copied for it */
static int vfork_child(void *argv)
{
	exec_prog(argv);
	return 127;
}

static void one_agent_shape(char **argv, char *stack, size_t stack_size)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pid_t w = clone(vfork_child, stack + stack_size,
				CLONE_VM | CLONE_VFORK | SIGCHLD, argv);

		if (w < 0)
			_exit(120);
		wait_ok(w);
		_exit(0);
	}
	wait_ok(pid);
}

/* One batch of rate: c workers, n workloads in all; workloads/s. */
static double rate_batch(bool agent, int c, long n, char **argv)
{
	const size_t stack_size = 64 * 1024;
	pid_t *workers = calloc((size_t)c, sizeof(*workers));
	uint64_t t0 = now_ns();
	long each = n / c;
	int w;

	if (!workers)
		die("calloc");
	for (w = 0; w < c; w++) {
		pid_t pid = workers[w] = fork();

		if (pid < 0)
			die("fork worker");
		if (pid == 0) {
			char *stack = mmap(NULL, stack_size,
					   PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS |
						   MAP_STACK,
					   -1, 0);

			if (stack == MAP_FAILED)
				_exit(119);
			for (long i = 0; i < each; i++)
				if (agent)
					one_agent_shape(argv, stack,
							stack_size);
				else
					one_fork(argv);
			_exit(0);
		}
	}
	for (w = 0; w < c; w++)
		wait_ok(workers[w]);
	free(workers);
	return (double)(each * c) * 1e9 / (double)(now_ns() - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#define RATE_ROUNDS 3

static int rate_main(int c, long n, char **argv)
{
	double fork_r[RATE_ROUNDS], agent_r[RATE_ROUNDS];

	for (int r = 0; r < RATE_ROUNDS; r++) {
		bool agent_first = r % 2;

		if (agent_first)
			agent_r[r] = rate_batch(true, c, n, argv);
		fork_r[r] = rate_batch(false, c, n, argv);
		if (!agent_first)
			agent_r[r] = rate_batch(true, c, n, argv);
	}
	qsort(fork_r, RATE_ROUNDS, sizeof(double), cmp_double);
	qsort(agent_r, RATE_ROUNDS, sizeof(double), cmp_double);
	printf("fork %.0f\nagent %.0f\n", fork_r[RATE_ROUNDS / 2],
	       agent_r[RATE_ROUNDS / 2]);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: floor [-n N] fork PROG [ARG...]\n"
		"       floor [-n N] clone user,pid,mount,uts,ipc,net PROG [ARG...]\n"
		"       floor [-n N] enter PID PROG [ARG...]\n"
		"       floor [-n N] agent AGENT REQUEST\n"
		"       floor rate C N PROG [ARG...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long n = -1;
	enum mode mode;
	int flags = 0, ai = 1;
	pid_t target = 0;
	char line[64];
	size_t i;

	if (argc > 2 && !strcmp(argv[1], "-n")) {
		n = strtol(argv[2], NULL, 10);
		ai = 3;
	}
	if (argc - ai < 2)
		usage();
	if (!strcmp(argv[ai], "rate") && argc - ai >= 4) {
		int c = atoi(argv[ai + 1]);
		long total = atol(argv[ai + 2]);

		if (c < 1 || total < c)
			usage();
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (devnull < 0)
			die("/dev/null");
		return rate_main(c, total, argv + ai + 3);
	}
	if (!strcmp(argv[ai], "fork")) {
		mode = MODE_FORK;
		ai += 1;
	} else if (!strcmp(argv[ai], "clone") && argc - ai >= 3) {
		mode = MODE_CLONE;
		flags = parse_ns(argv[ai + 1]);
		ai += 2;
	} else if (!strcmp(argv[ai], "enter") && argc - ai >= 3) {
		mode = MODE_ENTER;
		target = (pid_t)strtol(argv[ai + 1], NULL, 10);
		ai += 2;
		for (i = 0; i < N_ENTER; i++) {
			snprintf(line, sizeof(line), "/proc/self/ns/%s",
				 enter_ns[i].self);
			if (stat(line, &own_ns[i]))
				memset(&own_ns[i], 0, sizeof(own_ns[i]));
		}
	} else if (!strcmp(argv[ai], "agent") && argc - ai >= 3) {
		mode = MODE_AGENT;
		read_request(argv[ai + 2]);
		ai += 1;
	} else {
		usage();
	}

	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0)
		die("/dev/null");
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (long k = 0; n < 0 || k < n; k++) {
		uint64_t t0, t1;

		if (n < 0 && !fgets(line, sizeof(line), stdin))
			break;
		t0 = now_ns();
		switch (mode) {
		case MODE_FORK:
			one_fork(argv + ai);
			break;
		case MODE_CLONE:
			one_clone(flags, argv + ai);
			break;
		case MODE_ENTER:
			one_enter(target, argv + ai);
			break;
		case MODE_AGENT:
			one_agent(argv[ai]);
			break;
		}
		t1 = now_ns();
		printf("%llu\n", (unsigned long long)(t1 - t0));
	}
	return 0;
}
