/*
 * test_notify_agent.c - the agent's side of seccomp user notification
 * (notify.c, notify_reply.c, notify_call.c) driven through its narrow
 * context, struct notify_env, against a real listener: a forked process
 * installs a filter that traps chdir(2), hands the listener over, and
 * reports what its trapped calls returned over a pipe. Checked: the
 * {:notify, ...} frame and its declared read, reply steps (return, write,
 * errno), a malformed reply (ENOSYS), {:notify_read}, a {:call} step run
 * by a polled helper (the reply parked until it answers, a second reply
 * with a call queued behind it, a call-free one answered at once), a
 * helper killed past its deadline (ETIMEDOUT), and detach with a helper
 * running.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ei.h>

#include "notify.h"
#include "test.h"

#define MAX_KIDS 3

/**
 * struct trap_result - what one trapped process reports
 * @idx:	which process (0: the first)
 * @ret:	chdir's return value
 * @err:	its errno (0 on success)
 * @first:	the first byte of its path buffer afterwards
 */
struct trap_result {
	int idx;
	long ret;
	int err;
	char first;
};

/**
 * struct trap - a forked process tree whose chdir(2) calls are trapped
 * @pid:	the first process (the others are its children)
 * @listener:	the filter's listener (handed to notify_listen())
 * @results:	read end of the pipe the processes report on
 * @proc_fd:	/proc
 * @out:	the frames notify queues
 * @n:		the state under test
 * @read:	the declared read: chdir's path
 */
struct trap {
	pid_t pid;
	int listener;
	int results;
	int proc_fd;
	struct byteq out;
	struct notify_state n;
	struct notify_read read;
};

static int send_fd(int sock, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };

	memset(&u, 0, sizeof(u));
	u.h.cmsg_level = SOL_SOCKET;
	u.h.cmsg_type = SCM_RIGHTS;
	u.h.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&u.h), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	int fd = -1;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1 ||
	    !CMSG_FIRSTHDR(&m))
		return -1;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
	return fd;
}

/* chdir -> USER_NOTIF, everything else allowed */
static int install_trap(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_chdir, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]),
				   .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			    SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* One trapped process: chdir("/linx-unit/<idx>"), then report */
static void trapped_call(int idx, int report) __attribute__((noreturn));
static void trapped_call(int idx, int report)
{
	struct trap_result r = { .idx = idx };
	char path[32];

	snprintf(path, sizeof(path), "/linx-unit/%d", idx);
	errno = 0;
	r.ret = syscall(SYS_chdir, path);
	r.err = r.ret < 0 ? errno : 0;
	r.first = path[0];
	if (write(report, &r, sizeof(r)) != sizeof(r))
		_exit(2);
	_exit(0);
}

/*
 * trap_start() - fork a process that traps chdir, then makes @kids
 * trapped chdir calls, one per process (itself and @kids - 1 children)
 */
static int trap_start(struct trap *t, int kids)
{
	struct linx_err err;
	int sv[2], res[2], listener, k;
	struct notify_env env;

	memset(t, 0, sizeof(*t));
	t->read = (struct notify_read){ .nr = SYS_chdir, .arg = 0,
					.kind = NREAD_CSTRING, .max = 64 };
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    pipe2(res, O_CLOEXEC))
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		close(sv[0]);
		close(res[0]);
		listener = install_trap();
		if (listener < 0 || send_fd(sv[1], listener))
			_exit(3);
		close(listener);
		for (k = 1; k < kids; k++)
			if (fork() == 0)
				trapped_call(k, res[1]);
		trapped_call(0, res[1]);
	}
	close(sv[1]);
	close(res[1]);
	t->results = res[0];
	listener = recv_fd(sv[0]);
	close(sv[0]);
	t->proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	notify_init(&t->n);
	env = (struct notify_env){ .proc_fd = t->proc_fd, .out = &t->out,
				   .reads = &t->read, .nreads = 1 };
	if (listener < 0 || notify_listen(&t->n, &env, listener, &err))
		return -1;
	return 0;
}

/* trap_start(), or a failed test (nothing to go on with) */
static bool started(struct trap *t, int kids)
{
	if (!trap_start(t, kids))
		return true;
	fprintf(stderr, "  trap_start: %s\n", strerror(errno));
	test_failed = 1;
	return false;
}

/* Receive notifications until @want frames wait in the queue */
static void trap_recv(struct trap *t, int want)
{
	struct pollfd p = { .fd = t->n.listener, .events = POLLIN };
	size_t before;
	int got = 0;

	while (got < want && poll(&p, 1, 5000) == 1) {
		before = byteq_pending(&t->out);
		notify_on_listener(&t->n, p.revents);
		if (byteq_pending(&t->out) > before)
			got++;
	}
}

/*
 * pop_frame() - the next queued frame's ETF body (malloc'ed), or NULL
 */
static char *pop_frame(struct byteq *q, size_t *len)
{
	const uint8_t *h = q->data + q->head;
	char *body;

	if (byteq_pending(q) < 4)
		return NULL;
	*len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 |
	       h[3];
	body = malloc(*len);
	if (!body)
		return NULL;
	memcpy(body, h + 4, *len);
	q->head += 4 + *len;
	return body;
}

/**
 * struct seen - a decoded {:notify, id, pid, tid, nr, ...} frame
 * @id:		notification id
 * @pid:	caller's tgid
 * @nr:		syscall number
 * @path:	the declared read of arg 0
 */
struct seen {
	unsigned long long id;
	long pid;
	long nr;
	char path[64];
};

static int decode_notify(const char *b, struct seen *s)
{
	char atom[MAXATOMLEN];
	unsigned long long u;
	int i = 0, ver, ar, k;
	long l, blen;

	memset(s, 0, sizeof(*s));
	if (ei_decode_version(b, &i, &ver) ||
	    ei_decode_tuple_header(b, &i, &ar) || ar != 9 ||
	    ei_decode_atom(b, &i, atom) || strcmp(atom, "notify") ||
	    ei_decode_ulonglong(b, &i, &s->id) ||
	    ei_decode_long(b, &i, &s->pid) || ei_decode_long(b, &i, &l) ||
	    ei_decode_long(b, &i, &s->nr) || ei_decode_ulonglong(b, &i, &u) ||
	    ei_decode_ulonglong(b, &i, &u) ||
	    ei_decode_tuple_header(b, &i, &ar) || ar != 6)
		return -1;
	for (k = 0; k < 6; k++)
		if (ei_decode_ulonglong(b, &i, &u))
			return -1;
	if (ei_decode_list_header(b, &i, &ar) || ar != 1 ||
	    ei_decode_tuple_header(b, &i, &ar) || ar != 2 ||
	    ei_decode_long(b, &i, &l) || l != 0 ||
	    ei_get_type(b, &i, &k, &ar) || ar >= (int)sizeof(s->path) ||
	    ei_decode_binary(b, &i, s->path, &blen))
		return -1;
	return 0;
}

/* The next frame, a {:notify, ...}, decoded */
static int next_notify(struct trap *t, struct seen *s)
{
	size_t len;
	char *b = pop_frame(&t->out, &len);
	int rc = b ? decode_notify(b, s) : -1;

	free(b);
	return rc;
}

/* The next frame's atom tag (the frame is dropped), "" if none */
static void next_tag(struct trap *t, char atom[MAXATOMLEN])
{
	size_t len;
	char *b = pop_frame(&t->out, &len);
	int i = 0, ver, ar;

	atom[0] = '\0';
	if (b && (ei_decode_version(b, &i, &ver) ||
		  ei_decode_tuple_header(b, &i, &ar) ||
		  ei_decode_atom(b, &i, atom)))
		atom[0] = '\0';
	free(b);
}

/* One process's report (within 5 s) */
static int trap_result(struct trap *t, struct trap_result *r)
{
	struct pollfd p = { .fd = t->results, .events = POLLIN };

	memset(r, 0, sizeof(*r));
	if (poll(&p, 1, 5000) != 1)
		return -1;
	return read(t->results, r, sizeof(*r)) == sizeof(*r) ? 0 : -1;
}

/* Nothing reported yet? */
static bool trap_quiet(struct trap *t)
{
	struct pollfd p = { .fd = t->results, .events = POLLIN };

	return poll(&p, 1, 50) == 0;
}

static void trap_end(struct trap *t)
{
	int st;

	notify_detach(&t->n);
	free(t->n.notif);
	free(t->n.resp);
	free(t->n.pending);
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &st, 0);
	close(t->results);
	close(t->proc_fd);
	byteq_free(&t->out);
}

static struct linx_cmd reply(uint64_t id, struct notify_step *steps,
			     size_t n)
{
	return (struct linx_cmd){ .kind = CMD_NOTIFY_REPLY, .id = id,
				  .has_id = true, .steps = steps,
				  .nsteps = n };
}

static struct notify_step ret_step(uint64_t v)
{
	return (struct notify_step){ .kind = NSTEP_RETURN, .val = v };
}

/* {:call, nr, [a0], %{ns: []}}: no namespace joined, the agent's ids */
static struct notify_step call_step(uint32_t nr, uint8_t *buf, size_t len)
{
	struct notify_step st = { .kind = NSTEP_CALL, .nr = nr };

	if (buf) {
		st.nargs = 2;
		st.args[0] = (struct notify_arg){ .kind = NARG_BUF,
						  .data = buf, .len = len };
		st.args[1] = (struct notify_arg){ .kind = NARG_INT };
	}
	return st;
}

/* Wait for the running helper and resume its reply */
static void helper_answer(struct trap *t)
{
	struct pollfd p = { .fd = notify_call_pollfd(&t->n),
			    .events = POLLIN };
	int ms = notify_poll_timeout(&t->n, -1);

	CHECK(p.fd >= 0);
	CHECK(ms > 0 && ms <= NOTIFY_CALL_TIMEOUT_MS + 1);
	if (poll(&p, 1, ms) < 0)
		p.revents = 0;
	notify_on_call(&t->n, p.revents);
}

/* ----------------------------------------------------------------- tests */

static void test_frame_and_return(void)
{
	struct notify_step steps[1] = { ret_step(42) };
	struct trap_result r;
	struct linx_cmd c;
	struct trap t;
	struct seen s;

	if (!started(&t, 1))
		return;
	trap_recv(&t, 1);
	CHECK(!next_notify(&t, &s));
	CHECK(s.pid == t.pid);
	CHECK(s.nr == SYS_chdir);
	CHECK_STR(s.path, "/linx-unit/0");	/* the declared read */
	CHECK(t.n.npending == 1);

	c = reply(s.id, steps, 1);
	notify_reply(&t.n, &c);
	CHECK(t.n.npending == 0);
	CHECK(!trap_result(&t, &r));
	CHECK(r.ret == 42 && r.err == 0);
	CHECK(notify_call_pollfd(&t.n) < 0);	/* nothing to wait for */
	/* a second reply for the same id is ignored */
	notify_reply(&t.n, &c);
	CHECK(byteq_pending(&t.out) == 0);
	trap_end(&t);
}

static void test_write_and_errno(void)
{
	struct notify_step steps[2] = {
		{ .kind = NSTEP_WRITE, .data = (uint8_t *)"X", .len = 1 },
		{ .kind = NSTEP_ERRNO, .err = EACCES },
	};
	struct trap_result r;
	struct linx_cmd c;
	struct trap t;
	struct seen s;
	size_t len;
	char *b;
	int i = 0, ver, ar;
	unsigned long long id;

	if (!started(&t, 1))
		return;
	trap_recv(&t, 1);
	CHECK(!next_notify(&t, &s));
	/* the caller's path buffer: arg 0 of the notification received */
	steps[0].addr = ((struct seccomp_notif *)t.n.notif)->data.args[0];
	c = reply(s.id, steps, 2);
	notify_reply(&t.n, &c);
	CHECK(!trap_result(&t, &r));
	CHECK(r.ret == -1 && r.err == EACCES);
	CHECK(r.first == 'X');			/* the :write landed */
	CHECK(byteq_pending(&t.out) == 0);	/* nothing failed */

	/* a write to an unmapped address fails: EFAULT, reported */
	trap_end(&t);
	if (!started(&t, 1))
		return;
	trap_recv(&t, 1);
	CHECK(!next_notify(&t, &s));
	steps[0].addr = 8;
	c = reply(s.id, steps, 2);
	notify_reply(&t.n, &c);
	CHECK(!trap_result(&t, &r));
	CHECK(r.ret == -1 && r.err == EFAULT);
	b = pop_frame(&t.out, &len);
	CHECK(b && !ei_decode_version(b, &i, &ver) &&
	      !ei_decode_tuple_header(b, &i, &ar) && ar == 4);
	if (b) {
		char atom[MAXATOMLEN];
		long step, e;

		CHECK(!ei_decode_atom(b, &i, atom));
		CHECK_STR(atom, "notify_failed");
		CHECK(!ei_decode_ulonglong(b, &i, &id) && id == s.id);
		CHECK(!ei_decode_long(b, &i, &step) && step == 0);
		CHECK(!ei_decode_long(b, &i, &e) && e == EFAULT);
	}
	free(b);
	trap_end(&t);
}

static void test_malformed_and_read(void)
{
	struct linx_cmd c = { .kind = CMD_NOTIFY_READ };
	struct trap_result r;
	struct trap t;
	struct seen s;
	ei_x_buff ref;
	size_t len;
	char *b, atom[MAXATOMLEN], got[16];
	int i = 0, ver, ar;
	long glen;

	if (!started(&t, 1))
		return;
	trap_recv(&t, 1);
	CHECK(!next_notify(&t, &s));

	/* {:notify_read, :r, id, pid, addr, 10}: the ref echoed */
	ei_x_new(&ref);
	ei_x_encode_atom(&ref, "r");
	c.ref = (uint8_t *)ref.buff;
	c.ref_len = ref.index;
	c.id = s.id;
	c.pid = (int)s.pid;
	c.addr = ((struct seccomp_notif *)t.n.notif)->data.args[0];
	c.rlen = 10;
	notify_read_cmd(&t.n, &c);
	b = pop_frame(&t.out, &len);
	CHECK(b && !ei_decode_version(b, &i, &ver) &&
	      !ei_decode_tuple_header(b, &i, &ar) && ar == 3 &&
	      !ei_decode_atom(b, &i, atom) && !strcmp(atom, "notify_mem") &&
	      !ei_decode_atom(b, &i, atom) && !strcmp(atom, "r") &&
	      !ei_decode_binary(b, &i, got, &glen) && glen == 10 &&
	      !memcmp(got, "/linx-unit", 10));
	free(b);
	ei_x_free(&ref);

	/* a reply that did not decode: the caller gets ENOSYS */
	notify_reply_malformed(&t.n, s.id);
	CHECK(!trap_result(&t, &r));
	CHECK(r.ret == -1 && r.err == ENOSYS);
	trap_end(&t);
}

static void test_call_polled(void)
{
	/* struct timespec { 0 s, 300 ms } */
	uint8_t nap[16] = { 0 };
	uint32_t ns = 300000000;
	struct notify_step a[2], b[2], fast[1] = { ret_step(7) };
	struct seen s[MAX_KIDS], *sa = NULL, *sb = NULL, *sf = NULL;
	struct trap_result r[MAX_KIDS];
	int call_fd, k;
	struct linx_cmd c;
	struct trap t;
	char tag[MAXATOMLEN];

	memcpy(nap + 8, &ns, sizeof(ns));
	a[0] = call_step(SYS_nanosleep, nap, sizeof(nap));
	a[1] = (struct notify_step){ .kind = NSTEP_RETURN_LAST };
	b[0] = call_step(SYS_getpid, NULL, 0);
	b[1] = (struct notify_step){ .kind = NSTEP_RETURN_LAST };

	if (!started(&t, 3))
		return;
	trap_recv(&t, 3);
	for (k = 0; k < MAX_KIDS; k++) {
		CHECK(!next_notify(&t, &s[k]));
		if (!strcmp(s[k].path, "/linx-unit/0"))
			sa = &s[k];
		else if (!strcmp(s[k].path, "/linx-unit/1"))
			sb = &s[k];
		else
			sf = &s[k];
	}
	CHECK(sa && sb && sf);
	if (!sa || !sb || !sf) {
		trap_end(&t);
		return;
	}

	/* A: a 300 ms call; the reply is parked, its caller still waits */
	c = reply(sa->id, a, 2);
	notify_reply(&t.n, &c);
	call_fd = notify_call_pollfd(&t.n);
	CHECK(call_fd >= 0);
	/* the command's steps may go: the parked reply has its own copy */
	memset(a, 0, sizeof(a));
	memset(nap, 0xff, sizeof(nap));

	/* B has a call too: it waits behind A (one helper at a time) */
	c = reply(sb->id, b, 2);
	notify_reply(&t.n, &c);
	CHECK(notify_call_pollfd(&t.n) == call_fd);
	CHECK(t.n.nqueued == 1);

	/* a reply without a call is answered at once, A still running */
	c = reply(sf->id, fast, 1);
	notify_reply(&t.n, &c);
	CHECK(!trap_result(&t, &r[0]));
	CHECK(r[0].idx == 2 && r[0].ret == 7);
	CHECK(trap_quiet(&t));

	/* A's helper answers: A gets nanosleep's 0, B's helper starts */
	helper_answer(&t);
	CHECK(!trap_result(&t, &r[1]));
	CHECK(r[1].idx == 0 && r[1].ret == 0 && r[1].err == 0);
	CHECK(t.n.nqueued == 0);
	CHECK(notify_call_pollfd(&t.n) >= 0);

	/* B gets the helper's getpid: a process that is neither caller */
	helper_answer(&t);
	CHECK(!trap_result(&t, &r[2]));
	CHECK(r[2].idx == 1 && r[2].ret > 0 && r[2].ret != t.pid &&
	      r[2].ret != sb->pid);
	CHECK(notify_call_pollfd(&t.n) < 0);
	CHECK(notify_poll_timeout(&t.n, 1234) == 1234);
	next_tag(&t, tag);
	CHECK_STR(tag, "");			/* nothing failed */
	trap_end(&t);
}

static void test_detach_kills_helper(void)
{
	uint8_t nap[16] = { 0 };
	struct notify_step a[2];
	struct trap_result r;
	struct linx_cmd c;
	struct trap t;
	struct seen s;
	pid_t helper;

	nap[0] = 30;				/* 30 s */
	a[0] = call_step(SYS_nanosleep, nap, sizeof(nap));
	a[1] = (struct notify_step){ .kind = NSTEP_RETURN_LAST };
	if (!started(&t, 1))
		return;
	trap_recv(&t, 1);
	CHECK(!next_notify(&t, &s));
	c = reply(s.id, a, 2);
	notify_reply(&t.n, &c);
	helper = t.n.run.call.pid;
	CHECK(helper > 0 && notify_call_pollfd(&t.n) >= 0);

	/* The BEAM is gone: the helper is killed and reaped, the caller
	 * gets ENOSYS from the kernel */
	notify_detach(&t.n);
	CHECK(notify_call_pollfd(&t.n) < 0);
	CHECK(kill(helper, 0) && errno == ESRCH);
	CHECK(!trap_result(&t, &r));
	CHECK(r.ret == -1 && r.err == ENOSYS);
	trap_end(&t);
}

static void test_call_deadline(void)
{
	uint8_t nap[16] = { 0 };
	struct notify_step a[2];
	struct trap_result r;
	struct linx_cmd c;
	struct trap t;
	struct seen s;
	char tag[MAXATOMLEN];
	pid_t helper;

	nap[0] = 30;				/* 30 s */
	a[0] = call_step(SYS_nanosleep, nap, sizeof(nap));
	a[1] = (struct notify_step){ .kind = NSTEP_RETURN_LAST };
	if (!started(&t, 1))
		return;
	trap_recv(&t, 1);
	CHECK(!next_notify(&t, &s));
	c = reply(s.id, a, 2);
	notify_reply(&t.n, &c);
	helper = t.n.run.call.pid;
	CHECK(helper > 0);

	/* not yet due: nothing happens */
	notify_on_call(&t.n, 0);
	CHECK(notify_call_pollfd(&t.n) >= 0 && trap_quiet(&t));

	/* the deadline passes (moved, rather than waiting 5 s) */
	clock_gettime(CLOCK_MONOTONIC, &t.n.run.call.deadline);
	CHECK(notify_poll_timeout(&t.n, -1) == 0);
	notify_on_call(&t.n, 0);
	CHECK(notify_call_pollfd(&t.n) < 0);
	CHECK(kill(helper, 0) && errno == ESRCH);	/* killed, reaped */
	CHECK(!trap_result(&t, &r));
	CHECK(r.ret == -1 && r.err == ETIMEDOUT);
	next_tag(&t, tag);
	CHECK_STR(tag, "notify_failed");
	trap_end(&t);
}

TESTS(notify_agent_tests) = {
	{ "notify: frame, declared read, :return", test_frame_and_return },
	{ "notify: :write then :errno; a failed step", test_write_and_errno },
	{ "notify: notify_read; a malformed reply", test_malformed_and_read },
	{ "notify: {:call} polled, queued, others served",
	  test_call_polled },
	{ "notify: a helper past its deadline: ETIMEDOUT",
	  test_call_deadline },
	{ "notify: detach kills a running helper", test_detach_kills_helper },
	TEST_END
};
