/*
 * test_spawn.c - what spawn_workload() and the agent's exits leave open.
 *
 * spawn_workload() opens the channel, the pipes or the PTY and /dev/null
 * before the steps that can still fail (the cgroup directory, enter's
 * namespaces, the clone): a failure at one of those must close them all,
 * the descriptor table coming back as it was. agent_exit() and
 * agent_beam_gone() must leave with none of the session's descriptors
 * open (the pidfd among them): checked from an atexit handler in a forked
 * process, which runs after the agent closed what it closes and before
 * the kernel closes the rest.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "spawn.h"
#include "test.h"

/* Open descriptors of this process (the directory's own one excluded) */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/*
 * spawn_fails() - run spawn_workload() on @req, which must fail at
 * @stage with exit code @code, and check nothing it opened stays open
 */
static void spawn_fails(struct linx_request *req, int stage, int code)
{
	static char *argv[] = { "/bin/true", NULL };
	struct session s;
	struct linx_err err;
	int before, got = -1;

	req->argv = argv;
	req->argc = 1;
	agent_session_init(&s, req);
	before = count_fds();
	CHECK(spawn_workload(&s, &got, &err) == -1);
	CHECK(err.stage == stage);
	CHECK(got == code);
	CHECK(count_fds() == before);
	CHECK(s.chan == -1 && s.fd_stdin == -1 && s.fd_out[0] == -1 &&
	      s.fd_out[1] == -1 && s.pty_master == -1 &&
	      s.pty_slave == -1 && s.cgroup_fd == -1 && s.pidfd == -1);
}

static void t_cgroup_fails_pipes(void)
{
	struct linx_request req = { .kind = LINX_SPAWN,
				    .cgroup = "/nonexistent/linx" };

	req.stdio[0].mode = STDIO_PIPE;
	req.stdio[1].mode = STDIO_PIPE;
	req.stdio[2].mode = STDIO_DEVNULL;
	spawn_fails(&req, STAGE_CGROUP, EXIT_INFRA);
}

static void t_cgroup_fails_pty(void)
{
	struct linx_request req = { .kind = LINX_SPAWN, .pty = true,
				    .cgroup = "/nonexistent/linx" };

	spawn_fails(&req, STAGE_CGROUP, EXIT_INFRA);
}

static void t_enter_target_gone(void)
{
	/* above pid_max: /proc/TARGET cannot exist, no setns is made */
	struct linx_request req = { .kind = LINX_ENTER, .target = 0x3FFFFFFF };
	int fd;

	for (fd = 0; fd < 3; fd++)
		req.stdio[fd].mode = STDIO_PIPE;
	spawn_fails(&req, STAGE_OPEN_NS_USER, EXIT_CLONE);
}

/* The session's descriptors, checked after exit(3) by exit_report() */
static int exit_fds[8];
static int exit_report_fd = -1;

static void exit_report(void)
{
	char open_left = 0;
	size_t i;

	for (i = 0; i < sizeof(exit_fds) / sizeof(exit_fds[0]); i++)
		if (fcntl(exit_fds[i], F_GETFD) >= 0)
			open_left++;
	if (write(exit_report_fd, &open_left, 1) != 1)
		_exit(99);
}

/*
 * exit_closes() - in a forked process with fds 3/4 on pipes (fd 3 at
 * EOF, so the agent's linger ends at once), fill every descriptor of a
 * session and leave through @how (0: agent_exit, 1: agent_beam_gone)
 *
 * Return: how many were still open at exit, or -1
 */
static int exit_closes(int how)
{
	struct linx_request req = { .on_exit = ON_EXIT_DETACH };
	int in[2], out[2], rep[2], st;
	struct session s;
	char left = -1;
	pid_t pid;

	if (pipe(rep))
		return -1;
	fflush(NULL);	/* the child exits through exit(3): no output twice */
	pid = fork();
	if (pid == 0) {
		/* every pipe end above 4 first: fds 3 and 4 are the agent's */
		exit_report_fd = fcntl(rep[1], F_DUPFD, 64);
		close(rep[0]);
		close(rep[1]);
		if (exit_report_fd < 0 || pipe(in) || pipe(out))
			_exit(98);
		in[0] = fcntl(in[0], F_DUPFD, 64);
		out[1] = fcntl(out[1], F_DUPFD, 64);
		if (in[0] < 0 || out[1] < 0 || dup2(in[0], LINX_FD_IN) < 0 ||
		    dup2(out[1], LINX_FD_OUT) < 0)
			_exit(98);
		close(in[1]);	/* fd 3 at EOF: the agent's linger ends at once */
		agent_session_init(&s, &req);
		s.pidfd = exit_fds[0] = open("/dev/null", O_RDONLY);
		s.chan = exit_fds[1] = open("/dev/null", O_RDONLY);
		s.cgroup_fd = exit_fds[2] = open("/dev/null", O_RDONLY);
		s.fd_stdin = exit_fds[3] = open("/dev/null", O_RDONLY);
		s.fd_out[0] = exit_fds[4] = open("/dev/null", O_RDONLY);
		s.fd_out[1] = exit_fds[5] = open("/dev/null", O_RDONLY);
		s.pty_master = exit_fds[6] = open("/dev/null", O_RDONLY);
		s.pty_slave = exit_fds[7] = open("/dev/null", O_RDONLY);
		atexit(exit_report);
		if (how)
			agent_beam_gone(&s);
		agent_exit(&s, EXIT_DONE);
	}
	close(rep[1]);
	if (pid < 0 || read(rep[0], &left, 1) != 1)
		left = -1;
	close(rep[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	return left;
}

static void t_agent_exit_closes(void)
{
	CHECK(exit_closes(0) == 0);
}

static void t_beam_gone_closes(void)
{
	CHECK(exit_closes(1) == 0);
}

TESTS(spawn_tests) = {
	{ "spawn: cgroup open fails, pipes and channel closed",
	  t_cgroup_fails_pipes },
	{ "spawn: cgroup open fails, PTY pair and channel closed",
	  t_cgroup_fails_pty },
	{ "spawn: enter target gone, pipes and channel closed",
	  t_enter_target_gone },
	{ "agent: agent_exit closes pidfd, channel, cgroup, stdio, PTY",
	  t_agent_exit_closes },
	{ "agent: agent_beam_gone closes them too", t_beam_gone_closes },
	TEST_END
};
