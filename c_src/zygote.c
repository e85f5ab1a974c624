/*
 * zygote.c - `linx_process --zygote [N]`: Linx's own fork server.
 *
 * A port agent costs the BEAM a port spawn (erl_child_setup forks, the
 * agent execs and runs glibc's start-up) for every workload. The zygote
 * pays that once: it forks a fresh agent per workload (keeping N forked
 * ahead, blocked on their first frame) and hands each one its request and
 * the BEAM's later frames over a pipe of its own. An agent writes its
 * frames straight onto the zygote's fd 4, which it shares: tagged with
 * its channel id and cut into pieces that each fit one atomic pipe write
 * (framing.c, byteq_write_tagged), so the zygote never relays them (a
 * relay cost every frame a wake-up of the zygote: ~0.1 ms of latency on
 * a workload's last frame, docs/performance.md). A forked agent is the
 * ordinary agent (main.c from its request on), serves one workload and
 * exits.
 *
 * Frames, {packet,4} both ways (docs/protocol.md, "The spawner"):
 *   BEAM -> zygote  <<1, id:32, request>>  spawn: fork, send the request
 *                   <<2, id:32, frame>>    one frame for that agent
 *                   <<3, id:32>>           close: the agent sees EOF
 *   agent -> BEAM   <<2, id:32, piece>>    the (last) piece of one frame
 *                   <<5, id:32, piece>>    a piece, more of it follows
 *   zygote -> BEAM  <<3, id:32, status:32>> it exited (after its last
 *                                          frame); like a port's
 *                                          exit_status: the code, or
 *                                          128 + the signal
 *                   <<4, id:32, text>>     a frame that was refused
 * Nothing more is sent for a channel after the BEAM closed it, but what
 * the agent wrote before it saw the EOF. EOF on fd 3 ends the zygote:
 * every agent then sees EOF and kills its tree.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "framing.h"
#include "zygote.h"

#define ZFD_IN 3
#define ZFD_OUT 4
#define TAG_LEN BYTEQ_TAG_LEN
/* A fork ahead of time waits for the zygote to be idle this long */
#define Z_QUIET_MS 1

/**
 * struct sub - one forked agent
 * @id:		channel id (0 while @idle)
 * @pid:	its pid
 * @to:		write end of its fd 3, or -1 once closed
 * @in:		frames waiting for @to
 * @idle:	forked ahead, no request yet
 * @closed:	the BEAM closed the channel: nothing more goes there
 * @reaped:	waited for; @status holds the port-style exit status
 */
struct sub {
	uint32_t id;
	pid_t pid;
	int to;
	struct byteq in;
	bool idle, closed, reaped;
	int status;
};

static struct zygote {
	struct sub **subs;
	size_t n, cap;
	struct pollfd *p;
	size_t pcap;
	struct frame_reader in;
	struct byteq out;
	int sigfd;
	sigset_t mask0;
	int prefork;
} z;

/*
 * z_fail() - the zygote itself cannot go on: say why on stderr (the
 * BEAM's), exit. Its agents see EOF and end their workloads.
 */
static void z_fail(const char *what) __attribute__((noreturn));
static void z_fail(const char *what)
{
	fprintf(stderr, "linx_process --zygote: %s: %s\n", what,
		strerror(errno));
	exit(4);
}

/*
 * push_tagged() - queue <<op, id:32, head, body>> as one frame for fd 4
 */
static void push_tagged(uint8_t op, uint32_t id, const void *head,
			size_t hlen, const void *body, size_t len)
{
	size_t total = TAG_LEN + hlen + len;
	uint8_t hdr[4 + TAG_LEN] = {
		total >> 24, total >> 16, total >> 8, total,
		op, id >> 24, id >> 16, id >> 8, id,
	};

	if (byteq_push(&z.out, hdr, sizeof(hdr)) ||
	    byteq_push(&z.out, head, hlen) || byteq_push(&z.out, body, len))
		z_fail("out of memory");
}

/*
 * sub_free() - forget an agent: its pipe closed (EOF on its fd 3), its
 * queue dropped
 */
static void sub_free(struct sub *s)
{
	if (s->to >= 0)
		close(s->to);
	byteq_free(&s->in);
	free(s);
}

/*
 * z_exit() - leave with nothing open but fds 0-4: EOF on every agent's
 * fd 3 (each then ends its workload), the memory given back
 */
static void z_exit(int code) __attribute__((noreturn));
static void z_exit(int code)
{
	for (size_t i = 0; i < z.n; i++)
		sub_free(z.subs[i]);
	free(z.subs);
	free(z.p);
	frame_reader_free(&z.in);
	byteq_free(&z.out);
	close(z.sigfd);
	exit(code);
}

static void push_exit(uint32_t id, int status)
{
	uint8_t st[4] = { status >> 24, status >> 16, status >> 8, status };

	push_tagged(ZOP_EXIT, id, st, sizeof(st), NULL, 0);
}

static void refuse(uint32_t id, const char *why)
{
	push_tagged(ZOP_REFUSED, id, why, strlen(why), NULL, 0);
}

static struct sub *find(uint32_t id)
{
	for (size_t i = 0; i < z.n; i++)
		if (!z.subs[i]->idle && z.subs[i]->id == id &&
		    !z.subs[i]->closed)
			return z.subs[i];
	return NULL;
}

/*
 * become_agent() - in the forked child: fd 3 is its pipe from us, fd 4
 * stays ours to the BEAM (shared: see the top of this file), nothing else
 * of the zygote stays open, the signal mask is the one the zygote was
 * started with, a session of its own; main.c then starts the agent as
 * after an exec
 */
static void become_agent(int in)
{
	if (dup2(in, ZFD_IN) < 0)
		_exit(1);
	/* the other agents' pipes too: their EOF must not wait for us */
	if (syscall(SYS_close_range, ZFD_OUT + 1, ~0U, 0))
		for (int fd = ZFD_OUT + 1; fd < 1024; fd++)
			close(fd);
	sigprocmask(SIG_SETMASK, &z.mask0, NULL);
	signal(SIGPIPE, SIG_DFL);
	/*
	 * A session of its own, as erl_child_setup gives a port agent: with
	 * the kernel's autogroups that is a scheduling group of its own too.
	 * Sharing the zygote's, every agent together got one group's share
	 * of the CPU under load, and a trapped call could wait long enough
	 * for a signal to interrupt it (EINTR: "Cannot fork" in dash).
	 */
	setsid();
}

/*
 * fork_sub() - fork one idle agent. Return: its sub, or NULL with errno
 * set; in the child, *child is set and NULL is returned.
 */
static struct sub *fork_sub(bool *child)
{
	struct sub *s;
	pid_t pid;
	int a[2];

	if (z.n == z.cap) {
		size_t cap = z.cap ? 2 * z.cap : 16;
		struct sub **subs = realloc(z.subs, cap * sizeof(struct sub *));

		if (!subs)
			return NULL;
		z.subs = subs;
		z.cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (pipe2(a, O_CLOEXEC | O_NONBLOCK)) {
		free(s);
		return NULL;
	}
	pid = fork();
	if (pid == 0) {
		free(s);
		become_agent(a[0]);
		*child = true;
		return NULL;
	}
	close(a[0]);
	if (pid < 0) {
		int e = errno;

		close(a[1]);
		free(s);
		errno = e;
		return NULL;
	}
	s->pid = pid;
	s->to = a[1];
	s->idle = true;
	z.subs[z.n++] = s;
	return s;
}

static size_t idle_count(void)
{
	size_t k = 0;

	for (size_t i = 0; i < z.n; i++)
		k += z.subs[i]->idle && !z.subs[i]->reaped;
	return k;
}

/*
 * on_spawn() - a forked-ahead agent, or a new one, gets the request.
 * Return: true in the forked child.
 */
static bool on_spawn(uint32_t id, const uint8_t *req, size_t len)
{
	struct sub *s = NULL;
	bool child = false;

	for (size_t i = 0; i < z.n && !s; i++)
		if (z.subs[i]->idle && !z.subs[i]->reaped)
			s = z.subs[i];
	if (!s)
		s = fork_sub(&child);
	if (child)
		return true;
	if (!s) {
		/* as a port agent that could not start: the BEAM retries */
		push_exit(id, 4);
		return false;
	}
	s->idle = false;
	s->id = id;
	/* its channel id first, for the tags of what it writes to fd 4 */
	if (byteq_push_frame(&s->in, (uint8_t[4]){ id >> 24, id >> 16,
						   id >> 8, id }, 4) ||
	    byteq_push_frame(&s->in, req, len))
		z_fail("out of memory");
	return false;
}

static void on_data(uint32_t id, const uint8_t *frame, size_t len)
{
	struct sub *s = find(id);

	/* a late ack to an agent that has exited: nobody waits for it */
	if (s && s->to >= 0 && byteq_push_frame(&s->in, frame, len))
		z_fail("out of memory");
}

/* As Port.close/1: what was not written yet is dropped, the agent sees EOF */
static void on_close(uint32_t id)
{
	struct sub *s = find(id);

	if (!s)
		return;
	s->closed = true;
	byteq_clear(&s->in);
	if (s->to >= 0) {
		close(s->to);
		s->to = -1;
	}
}

/*
 * on_beam_frame() - one frame from fd 3. Return: true in a forked child.
 */
static bool on_beam_frame(const uint8_t *b, uint32_t len)
{
	uint32_t id;

	if (len < TAG_LEN) {
		refuse(0, "frame shorter than <<op, id:32>>");
		return false;
	}
	id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
	     (uint32_t)b[3] << 8 | b[4];
	switch (b[0]) {
	case ZOP_SPAWN:
		return on_spawn(id, b + TAG_LEN, len - TAG_LEN);
	case ZOP_DATA:
		on_data(id, b + TAG_LEN, len - TAG_LEN);
		return false;
	case ZOP_CLOSE:
		on_close(id);
		return false;
	default:
		refuse(id, "unknown op (expected 1 spawn, 2 data, 3 close)");
		return false;
	}
}

/*
 * read_beam() - every frame fd 3 has. EOF: the BEAM is gone, and so are
 * we. Return: true in a forked child.
 */
static bool read_beam(void)
{
	uint8_t *body;
	uint32_t len;

	for (;;) {
		switch (frame_read(&z.in, &body, &len)) {
		case FRAME_AGAIN:
			return false;
		case FRAME_TOO_BIG:
			refuse(0, "frame larger than the agent's request limit");
			continue;
		case FRAME_EOF:
		case FRAME_ERROR:
			z_exit(0);
		case FRAME_OK:
			break;
		}
		if (on_beam_frame(body, len)) {
			free(body);
			return true;
		}
		free(body);
	}
}

static void write_sub(struct sub *s)
{
	/* EPIPE: the agent is gone, its exit comes through SIGCHLD */
	if (byteq_write(&s->in, s->to)) {
		byteq_clear(&s->in);
		close(s->to);
		s->to = -1;
	}
}

static int port_status(int st)
{
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void reap(void)
{
	struct signalfd_siginfo si;
	pid_t pid;
	int st;

	while (read(z.sigfd, &si, sizeof(si)) > 0)
		;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (size_t i = 0; i < z.n; i++)
			if (z.subs[i]->pid == pid) {
				z.subs[i]->reaped = true;
				z.subs[i]->status = port_status(st);
			}
}

/*
 * finish() - an agent that exited: its status goes to the BEAM (unless
 * the channel was closed), after every frame it wrote (they are in the
 * pipe before its exit), and it is forgotten
 */
static void finish(void)
{
	size_t k = 0;

	for (size_t i = 0; i < z.n; i++) {
		struct sub *s = z.subs[i];

		if (!s->reaped) {
			z.subs[k++] = s;
			continue;
		}
		if (!s->closed && !s->idle)
			push_exit(s->id, s->status);
		sub_free(s);
	}
	z.n = k;
}

/*
 * z_init() - fds 3/4 non-blocking and close-on-exec, 0-2 present (so the
 * pipes are >= 5), SIGCHLD through a signalfd, SIGPIPE ignored
 */
static void z_init(int prefork)
{
	sigset_t set;

	for (int fd = ZFD_IN; fd <= ZFD_OUT; fd++) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) ||
		    fcntl(fd, F_SETFL, fl | O_NONBLOCK))
			exit(1);	/* no channel to the BEAM at all */
	}
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			z_fail("open /dev/null");
	z.prefork = prefork;
	frame_reader_init(&z.in, ZFD_IN, LINX_MAX_FRAME + TAG_LEN);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &z.mask0))
		z_fail("sigprocmask");
	z.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (z.sigfd < 0)
		z_fail("signalfd");
}

/*
 * poll_all() - wait for fd 3, fd 4 (when something waits for it), SIGCHLD
 * and the agents' pipes with frames for them; a timeout while agents are
 * missing from the forked-ahead set. Return: poll's result.
 */
static int poll_all(void)
{
	size_t want = 3 + z.n;
	int timeout = (int)idle_count() < z.prefork ? Z_QUIET_MS : -1;

	if (want > z.pcap) {
		struct pollfd *p = realloc(z.p, 2 * want * sizeof(*p));

		if (!p)
			z_fail("out of memory");
		z.p = p;
		z.pcap = 2 * want;
	}
	z.p[0] = (struct pollfd){ .fd = ZFD_IN, .events = POLLIN };
	z.p[1] = (struct pollfd){ .fd = byteq_pending(&z.out) ? ZFD_OUT : -1,
				  .events = POLLOUT };
	z.p[2] = (struct pollfd){ .fd = z.sigfd, .events = POLLIN };
	for (size_t i = 0; i < z.n; i++) {
		struct sub *s = z.subs[i];

		z.p[3 + i] = (struct pollfd){
			.fd = byteq_pending(&s->in) ? s->to : -1,
			.events = POLLOUT,
		};
	}
	return poll(z.p, want, timeout);
}

/**
 * zygote_run() - serve Linx.Spawner until fd 3 closes
 * @prefork:	agents kept forked ahead of time
 *
 * Return: ZYGOTE_AGENT, in a forked agent only (the zygote exits)
 */
int zygote_run(int prefork)
{
	bool child = false;

	z_init(prefork);
	for (;;) {
		size_t n = z.n;
		int r = poll_all();

		if (r < 0 && errno != EINTR)
			z_fail("poll");
		if (r == 0) {
			fork_sub(&child);
			if (child)
				return ZYGOTE_AGENT;
			continue;
		}
		if (r < 0)
			continue;
		if (z.p[2].revents)
			reap();
		for (size_t i = 0; i < n; i++)
			if (z.p[3 + i].revents && z.subs[i]->to >= 0)
				write_sub(z.subs[i]);
		if (z.p[0].revents && read_beam())
			return ZYGOTE_AGENT;
		/* requests and commands just queued go out without a pass */
		for (size_t i = 0; i < z.n; i++)
			if (byteq_pending(&z.subs[i]->in) && z.subs[i]->to >= 0)
				write_sub(z.subs[i]);
		finish();
		/* whole frames per write: the agents write to fd 4 too */
		if (byteq_pending(&z.out) && byteq_write_frames(&z.out, ZFD_OUT))
			z_exit(1);	/* the BEAM is gone */
	}
}
