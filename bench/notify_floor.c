/*
 * notify_floor.c - the floor for the notify benchmark: a minimal seccomp
 * user-notification supervisor in one process, doing what the Linx agent
 * and the BEAM do together for a rule answered with :continue.
 *
 *   notify_floor [-m MODE] [-s] PROG [ARG...]
 *
 * It forks; the child sets NO_NEW_PRIVS, installs the filter Linx builds
 * for `notify: [%{syscall: :getppid, ...}]` (arch check, x32 refused,
 * getppid -> SECCOMP_RET_USER_NOTIF, else ALLOW) with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER (and WAIT_KILLABLE_RECV where the
 * kernel has it, as Linx does), passes the listener to the parent with
 * SCM_RIGHTS over a socketpair and execs PROG. The parent serves the
 * listener until it hangs up (no task uses the filter any more), waits for
 * the child and exits with its status. PROG's stdout is ours.
 *
 * MODE (what the parent does per notification):
 *   raw    no filter at all: fork + exec + wait only (the untrapped cost)
 *   send   poll + NOTIF_RECV + NOTIF_SEND(FLAG_CONTINUE): the floor (default)
 *   agent  as send, plus what the Linx agent adds per notification before
 *          it forwards it: /proc/TID/status read for the tgid and
 *          NOTIF_ID_VALID
 *   relay  as agent, plus one hop to another process and back: the id is
 *          written to a pipe, a forked echo process reads it and writes it
 *          back, the parent reads it and answers - the two-process shape of
 *          agent + BEAM with a decider that costs nothing
 *
 * -s sets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP on the listener (Linux 6.6+):
 * the kernel wakes the supervisor, and then the caller, on the CPU of the
 * task that woke it, so the round trip is two context switches on one CPU
 * instead of two cross-CPU wake-ups (with an IPI to an idle vCPU each).
 *
 * Buffers are sized with SECCOMP_GET_NOTIF_SIZES. One notification is
 * served at a time (a multi-threaded workload's calls queue in the kernel).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

enum mode { MODE_RAW, MODE_SEND, MODE_AGENT, MODE_RELAY };

__attribute__((noreturn)) static void die(const char *what)
{
	perror(what);
	exit(111);
}

static int install_filter(void)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(insns) / sizeof(insns[0]),
		.filter = insns,
	};
	unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER |
			      SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
	int fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die("PR_SET_NO_NEW_PRIVS");
	fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (fd < 0 && errno == EINVAL) {
		flags &= ~SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
		fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags,
				  &prog);
	}
	if (fd < 0)
		die("seccomp(SET_MODE_FILTER, NEW_LISTENER)");
	return fd;
}

static void send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, 0) != 1)
		die("sendmsg");
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1; /* the child failed before the hand-off */
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* What the Linx agent does to name the caller's thread group. */
static pid_t resolve_tgid(int proc_fd, pid_t tid)
{
	char path[32], buf[1024];
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof(path), "%d/status", (int)tid);
	fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nTgid:");
	return p ? (pid_t)atoi(p + 6) : 0;
}

/* The echo process of relay mode: reads ids, writes them back. */
__attribute__((noreturn)) static void echo(int in, int out)
{
	uint64_t id;

	while (read(in, &id, sizeof(id)) == sizeof(id))
		if (write(out, &id, sizeof(id)) != sizeof(id))
			break;
	_exit(0);
}

static void serve(int listener, enum mode mode, int sync)
{
	struct seccomp_notif_sizes sizes;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	struct pollfd p = { .fd = listener, .events = POLLIN };
	int proc_fd = -1, to_echo[2] = { -1, -1 }, from_echo[2] = { -1, -1 };
	pid_t echo_pid = -1;
	uint64_t id;

	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes))
		die("SECCOMP_GET_NOTIF_SIZES");
	req = malloc(sizes.seccomp_notif);
	resp = malloc(sizes.seccomp_notif_resp);
	if (!req || !resp)
		die("malloc");

	if (sync && ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
			  SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP))
		die("SECCOMP_IOCTL_NOTIF_SET_FLAGS(SYNC_WAKE_UP)");
	if (mode >= MODE_AGENT) {
		proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (proc_fd < 0)
			die("/proc");
	}
	if (mode == MODE_RELAY) {
		if (pipe2(to_echo, O_CLOEXEC) || pipe2(from_echo, O_CLOEXEC))
			die("pipe2");
		echo_pid = fork();
		if (echo_pid < 0)
			die("fork");
		if (echo_pid == 0) {
			close(listener);
			close(to_echo[1]);
			close(from_echo[0]);
			echo(to_echo[0], from_echo[1]);
		}
		close(to_echo[0]);
		close(from_echo[1]);
	}

	for (;;) {
		p.revents = 0;
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (!(p.revents & POLLIN)) {
			if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
				break;
			continue;
		}
		memset(req, 0, sizes.seccomp_notif);
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req)) {
			if (errno == ENOENT || errno == EINTR)
				continue;
			die("SECCOMP_IOCTL_NOTIF_RECV");
		}
		id = req->id;
		if (mode >= MODE_AGENT) {
			if (!resolve_tgid(proc_fd, (pid_t)req->pid))
				continue; /* gone */
			if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id))
				continue;
		}
		if (mode == MODE_RELAY &&
		    (write(to_echo[1], &id, sizeof(id)) != sizeof(id) ||
		     read(from_echo[0], &id, sizeof(id)) != sizeof(id)))
			die("relay");
		memset(resp, 0, sizes.seccomp_notif_resp);
		resp->id = id;
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) &&
		    errno != ENOENT)
			die("SECCOMP_IOCTL_NOTIF_SEND");
	}
	if (mode == MODE_RELAY) {
		close(to_echo[1]); /* the echo process sees EOF and exits */
		close(from_echo[0]);
		waitpid(echo_pid, NULL, 0);
	}
	free(req);
	free(resp);
}

int main(int argc, char **argv)
{
	enum mode mode = MODE_SEND;
	int sv[2], listener, status, opt, sync = 0;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+m:s")) != -1) {
		if (opt == 's') {
			sync = 1;
			continue;
		}
		if (opt != 'm')
			goto usage;
		if (!strcmp(optarg, "raw"))
			mode = MODE_RAW;
		else if (!strcmp(optarg, "send"))
			mode = MODE_SEND;
		else if (!strcmp(optarg, "agent"))
			mode = MODE_AGENT;
		else if (!strcmp(optarg, "relay"))
			mode = MODE_RELAY;
		else
			goto usage;
	}
	if (optind >= argc)
		goto usage;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die("socketpair");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(sv[0]);
		if (mode != MODE_RAW) {
			listener = install_filter();
			send_fd(sv[1], listener);
			close(listener);
		}
		close(sv[1]);
		execv(argv[optind], argv + optind);
		die(argv[optind]);
	}
	close(sv[1]);
	if (mode != MODE_RAW) {
		listener = recv_fd(sv[0]);
		if (listener >= 0) {
			serve(listener, mode, sync);
			close(listener);
		}
	}
	close(sv[0]);
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);

usage:
	fprintf(stderr, "usage: notify_floor [-m raw|send|agent|relay] [-s] PROG [ARG...]\n");
	return 2;
}
