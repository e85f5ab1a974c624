/* SPDX-License-Identifier: MIT
 *
 * try_filter - ask the running kernel what it makes of seccomp filters.
 *
 * Test helper for Linx.Seccomp.BPF (wrapped by Linx.Test.BPFProbe): the
 * kernel is the oracle that validate/1 and emulate/2 are checked against.
 *
 *   try_filter check FILE...
 *       One line per FILE: "ok" if the kernel installs the filter, else the
 *       errno name seccomp(2) failed with ("EINVAL", ...).
 *
 *   try_filter run FILE... [-- CALL...]
 *       Installs the FILEs in order (the first is the oldest) and issues
 *       each CALL in a fresh process; without "--", reads CALLs from stdin,
 *       one per line. A CALL is "nr a0 a1 a2 a3 a4 a5" on stdin or
 *       "nr,a0,...,a5" on the command line (missing args are 0, numbers in
 *       C syntax); an "i386" prefix ("i386 nr ..." / "i386:nr,...") makes
 *       it through int 0x80, so the filter sees AUDIT_ARCH_I386.
 *       One line per CALL:
 *         ret N               the call returned N (>= 0, or < -4095)
 *         errno N             the call failed with errno N
 *         trap DATA NR ARCH   SIGSYS from SECCOMP_RET_TRAP: si_errno (the
 *                             filter's data), si_syscall, si_arch (hex)
 *         kill_thread         the calling thread died, the process lived
 *         signal N            the whole process died by signal N
 *                             (SECCOMP_RET_KILL_PROCESS: 31, SIGSYS)
 *         install I ERRNAME   installing filter I (0-based) failed
 *         timeout             nothing happened within 5 s
 *
 * FILE is raw struct sock_filter array, as handed to seccomp(2).
 *
 * DOC: how a call is observed. The filter must not see anything but the
 * call under test, so it is installed by a worker thread of a forked child
 * (seccomp without TSYNC filters only the calling thread); the child's main
 * thread stays unfiltered and watches. The worker, once filtered, makes no
 * system call but the one under test: it reports through a MAP_SHARED page
 * and then spins. The SIGSYS handler (RET_TRAP) likewise records si_* and
 * spins: returning would need rt_sigreturn, which the filter may refuse.
 * KILL_THREAD ends only the worker (the process has two threads); the main
 * thread notices with pthread_tryjoin_np. KILL_PROCESS, and unknown
 * actions, end the child by SIGSYS, which its parent sees in waitpid.
 * Core dumps are off (RLIMIT_CORE 0, not dumpable). Calls are raw
 * "syscall" / "int $0x80" instructions so that the kernel's return value
 * is seen as is (a filter's ERRNO(0) makes a call return 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILTERS 16
#define TIMEOUT_NS (5LL * 1000 * 1000 * 1000)

struct call {
	int i386;
	long nr;
	unsigned long args[6];
};

/* Shared between the forked child (both threads) and the parent. */
struct report {
	volatile int installed; /* filters installed so far */
	volatile int install_failed;
	volatile int install_errno;
	volatile int done; /* the call returned */
	volatile long ret;
	volatile int trapped;
	volatile int trap_errno;
	volatile int trap_syscall;
	volatile unsigned int trap_arch;
	volatile int thread_died;
	volatile int timed_out;
};

static struct report *report;
static struct sock_fprog progs[MAX_FILTERS];
static int nprogs;
static const struct call *the_call;

static const char *errno_name(int e)
{
	switch (e) {
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case ENOMEM: return "ENOMEM";
	case E2BIG: return "E2BIG";
	case EPERM: return "EPERM";
	case ENOSYS: return "ENOSYS";
	case EBUSY: return "EBUSY";
	default: return NULL;
	}
}

static void print_errno(const char *prefix, int e)
{
	const char *name = errno_name(e);

	if (name)
		printf("%s%s\n", prefix, name);
	else
		printf("%serrno_%d\n", prefix, e);
}

static long raw_syscall(long nr, const unsigned long *a)
{
	long ret;
	register unsigned long r10 __asm__("r10") = a[3];
	register unsigned long r8 __asm__("r8") = a[4];
	register unsigned long r9 __asm__("r9") = a[5];

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The i386 ABI from a 64-bit process: eax, ebx, ecx, edx, esi, edi, ebp.
 * The kernel returns zeros in r8-r11 for int $0x80. The red zone is stepped
 * over before rbp is pushed. */
static long raw_int80(long nr, const unsigned long *a)
{
	long ret;
	unsigned long a5 = a[5];

	__asm__ volatile("sub $128, %%rsp\n\t"
			 "push %%rbp\n\t"
			 "mov %[a5], %%rbp\n\t"
			 "int $0x80\n\t"
			 "pop %%rbp\n\t"
			 "add $128, %%rsp"
			 : "=a"(ret)
			 : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4]), [a5] "r"(a5)
			 : "r8", "r9", "r10", "r11", "memory", "cc");
	return (int)ret;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	report->trap_errno = si->si_errno;
	report->trap_syscall = si->si_syscall;
	report->trap_arch = si->si_arch;
	report->trapped = 1;
	for (;;)
		__asm__ volatile("pause");
}

static void *worker(void *unused)
{
	long ret;
	int i;

	(void)unused;
	/* Never gain privileges through the filtered thread: the kernel wants
	 * NO_NEW_PRIVS (or CAP_SYS_ADMIN) before it takes a filter. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		report->install_errno = errno;
		report->install_failed = 1;
		goto park;
	}
	for (i = 0; i < nprogs; i++) {
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[i]) != 0) {
			report->install_errno = errno;
			report->install_failed = 1;
			goto park;
		}
		report->installed = i + 1;
	}
	if (the_call) {
		if (the_call->i386)
			ret = raw_int80(the_call->nr, the_call->args);
		else
			ret = raw_syscall(the_call->nr, the_call->args);
		report->ret = ret;
	}
	report->done = 1;
park:
	/* Filtered: no more system calls. The main thread ends the process. */
	for (;;)
		__asm__ volatile("pause");
	return NULL;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void child_main(void)
{
	struct rlimit no_core = { 0, 0 };
	struct sigaction sa;
	struct timespec nap = { 0, 20000 };
	long long deadline;
	pthread_t t;

	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);

	if (pthread_create(&t, NULL, worker, NULL) != 0)
		_exit(2);

	deadline = now_ns() + TIMEOUT_NS;
	while (!report->done && !report->trapped && !report->install_failed) {
		if (pthread_tryjoin_np(t, NULL) == 0) {
			report->thread_died = 1;
			break;
		}
		if (now_ns() > deadline) {
			report->timed_out = 1;
			break;
		}
		nanosleep(&nap, NULL);
	}
	_exit(0);
}

/* Fork a child that installs the filters and makes the call (if any);
 * print one line of outcome. check_only prints "ok" or the errno name. */
static void try_once(const struct call *call, int check_only)
{
	int status;
	pid_t pid;

	memset(report, 0, sizeof(*report));
	the_call = call;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0)
		child_main();
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		exit(2);
	}

	if (report->install_failed) {
		if (check_only) {
			print_errno("", report->install_errno);
		} else {
			char prefix[32];

			snprintf(prefix, sizeof(prefix), "install %d ", report->installed);
			print_errno(prefix, report->install_errno);
		}
	} else if (check_only && report->installed == nprogs) {
		printf("ok\n");
	} else if (WIFSIGNALED(status)) {
		printf("signal %d\n", WTERMSIG(status));
	} else if (report->trapped) {
		printf("trap %d %d 0x%x\n", report->trap_errno, report->trap_syscall, report->trap_arch);
	} else if (report->done) {
		if (report->ret < 0 && report->ret >= -4095)
			printf("errno %ld\n", -report->ret);
		else
			printf("ret %ld\n", report->ret);
	} else if (report->thread_died) {
		printf("kill_thread\n");
	} else if (report->timed_out) {
		printf("timeout\n");
	} else {
		printf("unknown_exit %d\n", status);
	}
	fflush(stdout);
}

static int load_filter(const char *path, struct sock_fprog *prog)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, len = 0, n;
	unsigned char *buf;

	if (!f) {
		perror(path);
		return -1;
	}
	buf = malloc(cap);
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	fclose(f);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", path);
		return -1;
	}
	if (len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > 0xffff) {
		fprintf(stderr, "%s: %zu bytes is not a whole number of instructions\n", path, len);
		return -1;
	}
	prog->len = (unsigned short)(len / sizeof(struct sock_filter));
	prog->filter = (struct sock_filter *)buf;
	return 0;
}

/* "nr,a0,..." (sep ',') or "nr a0 ..." (sep ' '), optional "i386" prefix. */
static int parse_call(char *text, struct call *call)
{
	char *tok, *save = NULL;
	int i = -1;

	memset(call, 0, sizeof(*call));
	for (tok = strtok_r(text, ", \t\n:", &save); tok; tok = strtok_r(NULL, ", \t\n:", &save)) {
		char *end;
		unsigned long long v;

		if (i == -1 && strcmp(tok, "i386") == 0) {
			call->i386 = 1;
			continue;
		}
		errno = 0;
		v = strtoull(tok, &end, 0);
		if (*tok == '-')
			v = (unsigned long long)strtoll(tok, &end, 0);
		if (errno || *end || i >= 6)
			return -1;
		if (i == -1)
			call->nr = (long)v;
		else
			call->args[i] = (unsigned long)v;
		i++;
	}
	return i == -1 ? -1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: try_filter check FILE...\n"
			"       try_filter run FILE... [-- CALL...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int i;

	if (argc < 3)
		usage();
	report = mmap(NULL, sizeof(*report), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (report == MAP_FAILED) {
		perror("mmap");
		return 2;
	}

	if (strcmp(argv[1], "check") == 0) {
		for (i = 2; i < argc; i++) {
			if (load_filter(argv[i], &progs[0]) != 0)
				return 2;
			nprogs = 1;
			try_once(NULL, 1);
			free(progs[0].filter);
		}
		return 0;
	}

	if (strcmp(argv[1], "run") == 0) {
		struct call call;
		char line[512];

		for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
			if (nprogs == MAX_FILTERS || load_filter(argv[i], &progs[nprogs]) != 0)
				return 2;
			nprogs++;
		}
		if (i < argc) {
			for (i++; i < argc; i++) {
				if (parse_call(argv[i], &call) != 0) {
					fprintf(stderr, "bad call: %s\n", argv[i]);
					return 2;
				}
				try_once(&call, 0);
			}
		} else {
			while (fgets(line, sizeof(line), stdin)) {
				if (line[0] == '\n' || line[0] == '#')
					continue;
				if (parse_call(line, &call) != 0) {
					fprintf(stderr, "bad call: %s", line);
					return 2;
				}
				try_once(&call, 0);
			}
		}
		return 0;
	}
	usage();
	return 2;
}
