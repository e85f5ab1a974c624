/*
 * main.c - entry point of priv/linx_process, the Linx port agent.
 *
 * The wire protocol (requests, frames, commands, stages, exit codes and
 * the whole-tree lifetime rules) is docs/protocol.md: that file is the
 * contract, this program implements it. One agent serves one workload:
 *
 *   startup      fds 3/4 present, 0-2 open, SIGCHLD default and blocked
 *                into a signalfd, SIGPIPE ignored, child subreaper;
 *   request      first frame on fd 3 (request.c), then spawn or enter
 *                (spawn.c, ns.c, child.c) or answer {:echo, ...};
 *   session      checkpoint window (relay.c) and event loop until the
 *                terminal frame (supervise.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <ei.h>

#include "agent.h"
#include "procfs.h"
#include "echo.h"
#include "events.h"
#include "request.h"
#include "session.h"
#include "spawn.h"
#include "supervise.h"
#include "zygote.h"

/*
 * startup_fds() - the BEAM's fds 3 and 4 must exist; make them
 * close-on-exec (never the workload's) and non-blocking (never block the
 * loop). Fds 0-2 are made to exist so that every descriptor we open is
 * >= 3 and the child's dup2 onto 0-2 never aliases its source.
 */
static int startup_fds(void)
{
	int fd;

	for (fd = LINX_FD_IN; fd <= LINX_FD_OUT; fd++) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) ||
		    fcntl(fd, F_SETFL, fl | O_NONBLOCK))
			return -1;
	}
	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			return -1;
	}
	return 0;
}

/*
 * read_request() - the first frame; waits for it
 */
static enum frame_status read_request(struct session *s, uint8_t **body,
				      uint32_t *len)
{
	struct pollfd p = { .fd = LINX_FD_IN, .events = POLLIN };
	enum frame_status st;

	for (;;) {
		st = frame_read(&s->in, body, len);
		if (st != FRAME_AGAIN)
			return st;
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return FRAME_ERROR;
	}
}

/*
 * read_chan_id() - a forked agent's first frame: <<id:32>>, the channel
 * id the zygote tags our frames with on its fd 4 (zygote.c)
 */
static int read_chan_id(struct session *s)
{
	uint8_t *body;
	uint32_t len;

	if (read_request(s, &body, &len) != FRAME_OK)
		return -1;
	if (len != 4) {
		free(body);
		return -1;
	}
	s->chan_id = (uint32_t)body[0] << 24 | (uint32_t)body[1] << 16 |
		     (uint32_t)body[2] << 8 | body[3];
	free(body);
	return 0;
}

/*
 * startup_signals() - SIGCHLD to its default action (the BEAM, or whoever
 * started us, may have left it ignored, and an ignored SIGCHLD makes the
 * kernel auto-reap: waitpid would never see our workload), blocked and
 * read through a signalfd. SIGPIPE ignored: a write to a closed pipe is
 * EPIPE, handled where it happens. The child resets both before execve.
 */
static int startup_signals(struct session *s, struct linx_err *err)
{
	sigset_t set;

	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return linx_fail(err, errno, STAGE_SIGPROCMASK, "block SIGCHLD");
	s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0)
		return linx_fail(err, errno, STAGE_SIGNALFD, "signalfd");
	return 0;
}

/*
 * startup_tree() - become a child subreaper, so what the workload
 * double-forks re-parents to us (and is killed with the tree), and hold
 * /proc of our pid namespace for the sweep (before any setns).
 */
static int startup_tree(struct session *s, struct linx_err *err)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		return linx_fail(err, errno, STAGE_SUBREAPER,
				 "PR_SET_CHILD_SUBREAPER");
	s->proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->proc_fd < 0)
		return linx_fail(err, errno, STAGE_SUBREAPER, "open /proc");
	/*
	 * After startup_signals(): our dispositions are final. Read before
	 * the request (a forked agent waits for it), so the child resets
	 * only these (child.c, stage 7).
	 */
	s->sig_ignored = procfs_sig_ignored(s->proc_fd);
	return 0;
}

/*
 * zygote_mode() - `linx_process --zygote [N]` (Linx.Spawner): serve as
 * the fork server; only a forked agent returns, to carry on below.
 * Return: true in a forked agent.
 */
static bool zygote_mode(int argc, char **argv)
{
	long prefork = ZYGOTE_PREFORK;
	char *end = NULL;

	if (argc < 2 || strcmp(argv[1], "--zygote"))
		return false;
	if (argc > 2) {
		errno = 0;
		prefork = strtol(argv[2], &end, 10);
		if (errno || *end || prefork < 0 || prefork > 64) {
			fprintf(stderr, "linx_process --zygote N: N is the "
				"number of agents forked ahead, 0..64, not "
				"\"%s\"\n", argv[2]);
			exit(EXIT_REQUEST);
		}
	}
	return zygote_run((int)prefork) == ZYGOTE_AGENT;
}

int main(int argc, char **argv)
{
	static struct linx_request req;
	static struct session sess;
	struct session *s = &sess;
	struct linx_err err;
	uint8_t *body = NULL;
	uint32_t len = 0;
	ei_x_buff x;
	int code;

	bool forked = zygote_mode(argc, argv);

	if (startup_fds())
		return EXIT_BEAM;	/* no channel to the BEAM at all */
	ei_init();
	agent_session_init(s, &req);
	s->forked = forked;

	if (startup_signals(s, &err) || startup_tree(s, &err)) {
		ev_fail(&s->out, &err);
		agent_exit(s, EXIT_INFRA);
	}

	/*
	 * Before we wait: a forked-ahead or pooled agent waits idle. From
	 * here on every exit is agent_exit(), which closes what this opened.
	 */
	spawn_prepare(s);
	if (forked && read_chan_id(s))
		agent_exit(s, EXIT_BEAM);	/* no id: nothing could be tagged */
	switch (read_request(s, &body, &len)) {
	case FRAME_OK:
		break;
	case FRAME_TOO_BIG:
		ev_error(&s->out, EMSGSIZE, STAGE_REQUEST_TOO_BIG);
		agent_out_flush(s);
		/*
		 * Read the rest away before exiting: the BEAM is still writing
		 * it, and a port whose program exits mid-write fails with
		 * epipe in its owner instead of showing our error and status.
		 */
		while (s->in.skip) {
			struct pollfd p = { .fd = LINX_FD_IN, .events = POLLIN };
			enum frame_status st = frame_read(&s->in, &body, &len);

			if (st == FRAME_EOF || st == FRAME_ERROR)
				break;
			if (s->in.skip && poll(&p, 1, -1) < 0 && errno != EINTR)
				break;
		}
		agent_exit(s, EXIT_REQUEST);
	default:
		agent_exit(s, EXIT_BEAM);
	}

	if (request_decode(body, len, &req, &err)) {
		free(body);
		if (err.stage == STAGE_MALFORMED_REQUEST)
			ev_malformed(&s->out, &err);
		ev_fail(&s->out, &err);
		request_free(&req);
		agent_exit(s, EXIT_REQUEST);
	}
	free(body);

	if (req.echo) {
		if (ei_x_new(&x) || request_echo_encode(&req, &x))
			agent_fail(s, ENOMEM, STAGE_MALFORMED_REQUEST,
				   EXIT_INFRA);
		ev_push(&s->out, &x);
		request_free(&req);
		agent_exit(s, EXIT_DONE);
	}

	/* agent_fail_err(): a group made for it is removed */
	if (spawn_workload(s, &code, &err))
		agent_fail_err(s, &err, code);
	ev_status_int(&s->out, "spawned", s->child);
	supervise_run(s);
}
