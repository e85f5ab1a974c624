/*
 * test_sandbox.c - init, fds and landlock: the request keys' decoders
 * and their messages, the Landlock ABI probe's meaning (the "kernel
 * without Landlock" answers, which this kernel cannot give), the rights
 * per ABI, and the agent's open of the fds (above every target, nothing
 * leaked on failure).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dirent.h>

#include <ei.h>

#include "agent.h"
#include "command.h"
#include "landlock.h"
#include "passfd.h"
#include "request.h"
#include "spawn.h"
#include "test.h"

static void bin(ei_x_buff *x, const char *s)
{
	ei_x_encode_binary(x, s, strlen(s));
}

/* {:spawn, %{argv: ["a"], namespaces: [ns...], <key>: ...}} */
static void with_key(ei_x_buff *x, const char *ns, const char *key)
{
	ei_x_new_with_version(x);
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "spawn");
	ei_x_encode_map_header(x, 3);
	ei_x_encode_atom(x, "argv");
	ei_x_encode_list_header(x, 1);
	bin(x, "a");
	ei_x_encode_empty_list(x);
	ei_x_encode_atom(x, "namespaces");
	if (ns) {
		ei_x_encode_list_header(x, 1);
		ei_x_encode_atom(x, ns);
	}
	ei_x_encode_empty_list(x);
	ei_x_encode_atom(x, key);
}

/* {target, {:file, path, [flags]}} with up to two flags */
static void file_entry(ei_x_buff *x, long target, const char *path,
		       const char *f1, const char *f2)
{
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_long(x, target);
	ei_x_encode_tuple_header(x, 3);
	ei_x_encode_atom(x, "file");
	bin(x, path);
	if (f1) {
		ei_x_encode_list_header(x, f2 ? 2 : 1);
		ei_x_encode_atom(x, f1);
		if (f2)
			ei_x_encode_atom(x, f2);
	}
	ei_x_encode_empty_list(x);
}

static int decode(ei_x_buff *x, struct linx_request *r, struct linx_err *e)
{
	int rc;

	memset(e, 0, sizeof(*e));
	rc = request_decode(x->buff, x->index, r, e);
	ei_x_free(x);
	return rc;
}

static void expect_fail(ei_x_buff *x, const char *msg)
{
	struct linx_request r;
	struct linx_err e;

	CHECK(decode(x, &r, &e) == -1);
	CHECK(e.stage == STAGE_MALFORMED_REQUEST);
	CHECK_STR(e.msg, msg);
	request_free(&r);
}

static void test_init_key(void)
{
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x;

	with_key(&x, "pid", "init");
	ei_x_encode_boolean(&x, 1);
	CHECK(decode(&x, &r, &e) == 0 && r.init);
	request_free(&r);

	with_key(&x, "user", "init");
	ei_x_encode_boolean(&x, 1);
	expect_fail(&x, "opts.init: needs :spawn with :pid in opts.namespaces");
}

static void test_fds_key(void)
{
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x;

	with_key(&x, NULL, "fds");
	ei_x_encode_list_header(&x, 3);
	file_entry(&x, 3, "/etc/hostname", "read", NULL);
	file_entry(&x, 9, "/tmp/o", "write", "append");
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_long(&x, 255);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "connect_unix");
	bin(&x, "/run/s");
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &r, &e) == 0 && r.nfds == 3);
	if (r.nfds == 3) {
		CHECK(r.fds[0].target == 3 && r.fds[0].kind == PASSFD_FILE &&
		      r.fds[0].flags == O_RDONLY);
		CHECK(r.fds[1].flags == (O_WRONLY | O_APPEND));
		CHECK(r.fds[2].kind == PASSFD_CONNECT_UNIX &&
		      !strcmp(r.fds[2].path, "/run/s"));
	}
	request_free(&r);

	with_key(&x, NULL, "fds");
	ei_x_encode_list_header(&x, 1);
	file_entry(&x, 5, "/f", "read", "write");
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &r, &e) == 0 && r.nfds == 1 &&
	      r.fds[0].flags == O_RDWR);
	request_free(&r);

	with_key(&x, NULL, "fds");
	ei_x_encode_list_header(&x, 1);
	file_entry(&x, 2, "/f", "read", NULL);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, "opts.fds[0].target_fd: 2 out of range 3..255");

	with_key(&x, NULL, "fds");
	ei_x_encode_list_header(&x, 2);
	file_entry(&x, 4, "/f", "read", NULL);
	file_entry(&x, 4, "/g", "read", NULL);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, "opts.fds[1]: fd 4 is given twice");

	with_key(&x, NULL, "fds");
	ei_x_encode_list_header(&x, 1);
	file_entry(&x, 4, "/f", "append", NULL);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, "opts.fds[0].flags: needs :read or :write");

	with_key(&x, NULL, "fds");
	ei_x_encode_list_header(&x, 1);
	file_entry(&x, 4, "/f", "read", "sync");
	ei_x_encode_empty_list(&x);
	expect_fail(&x, "opts.fds[0].flags[1]: unknown open flag :sync");
}

static void test_landlock_key(void)
{
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x;

	with_key(&x, NULL, "landlock");
	ei_x_encode_list_header(&x, 2);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "read_write");
	bin(&x, "/tmp");
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "execute");
	bin(&x, "/usr/bin");
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &r, &e) == 0 && r.landlock.n == 2);
	if (r.landlock.n == 2)
		CHECK(r.landlock.rules[0].class == LL_READ_WRITE &&
		      r.landlock.rules[1].class == LL_EXECUTE &&
		      !strcmp(r.landlock.rules[1].path, "/usr/bin"));
	request_free(&r);

	with_key(&x, NULL, "landlock");
	ei_x_encode_empty_list(&x);
	expect_fail(&x, "opts.landlock: expected 1..256 rules, got 0");

	with_key(&x, NULL, "landlock");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "write");
	bin(&x, "/tmp");
	ei_x_encode_empty_list(&x);
	expect_fail(&x, "opts.landlock[0]: unknown access :write");
}

/*
 * The probe's meaning: a kernel without Landlock answers ENOSYS (not
 * built) or EOPNOTSUPP (disabled at boot); both are EOPNOTSUPP at stage
 * :landlock, never a silent skip. This kernel has Landlock, so those
 * answers are fed to the function that reads them.
 */
static void test_landlock_abi_probe(void)
{
	struct linx_err e;

	memset(&e, 0, sizeof(e));
	CHECK(landlock_abi_result(-1, ENOSYS, &e) == -1);
	CHECK(e.err == EOPNOTSUPP && e.stage == STAGE_LANDLOCK);
	CHECK_STR(e.msg, "landlock: not supported by this kernel (ENOSYS: not built in)");
	CHECK(landlock_abi_result(-1, EOPNOTSUPP, &e) == -1);
	CHECK(e.err == EOPNOTSUPP && e.stage == STAGE_LANDLOCK);
	CHECK(landlock_abi_result(0, 0, &e) == -1 && e.err == EOPNOTSUPP);
	CHECK(landlock_abi_result(-1, EFAULT, &e) == -1 && e.err == EFAULT &&
	      e.stage == STAGE_LANDLOCK);
	CHECK(landlock_abi_result(7, 0, &e) == 7);

	/* the running kernel (6.x): Landlock is there */
	CHECK(landlock_abi(&e) >= 1);
}

static void test_landlock_rights(void)
{
	CHECK(landlock_fs_rights(0) == 0);
	CHECK(landlock_fs_rights(1) == 0x1fff);
	CHECK(landlock_fs_rights(2) == 0x3fff);	/* REFER */
	CHECK(landlock_fs_rights(3) == 0x7fff);	/* TRUNCATE */
	CHECK(landlock_fs_rights(4) == 0x7fff);	/* network only */
	CHECK(landlock_fs_rights(5) == 0xffff);	/* IOCTL_DEV */
	CHECK(landlock_fs_rights(7) == 0xffff);
	CHECK(landlock_class_rights(LL_READ) == (1 << 2 | 1 << 3));
	CHECK(landlock_class_rights(LL_EXECUTE) == 1);
	CHECK(landlock_class_rights(LL_READ_WRITE) == 0xfffe);

	/* the :landlock command: a checkpoint command, arity 0 */
	CHECK(cmd_is_checkpoint(CMD_LANDLOCK));
	CHECK(cmd_row_by_chan(CHAN_LANDLOCK) == cmd_row_of(CMD_LANDLOCK));
	CHECK(!strcmp(cmd_name(CMD_LANDLOCK), "landlock"));
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Every source and the channel end above the highest target */
static void test_passfd_open(void)
{
	struct linx_passfd list[2] = {
		{ .target = 3, .kind = PASSFD_FILE, .path = "/dev/null",
		  .flags = O_RDONLY },
		{ .target = 40, .kind = PASSFD_FILE, .path = "/dev/zero",
		  .flags = O_RDONLY },
	};
	struct passfd_fds o = { 0 };
	struct linx_err e;
	int chan = open("/dev/null", O_RDONLY | O_CLOEXEC), kept[2];
	size_t i;

	CHECK(chan >= 0 && chan < 40);
	CHECK(passfd_open(&o, list, 2, &chan, &e) == 0 && o.nopen == 2);
	CHECK(chan > 40 && fd_open(chan));
	for (i = 0; i < o.nopen; i++) {
		CHECK(o.fd[i] > 40);
		CHECK(fcntl(o.fd[i], F_GETFD) == FD_CLOEXEC);
		kept[i] = o.fd[i];
	}
	passfd_close(&o);
	CHECK(!fd_open(kept[0]) && !fd_open(kept[1]) && o.nopen == 0);
	close(chan);

	/* a missing file: named at stage :fds, nothing left open */
	list[1].path = "/nonexistent/linx";
	chan = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(passfd_open(&o, list, 2, &chan, &e) == -1);
	CHECK(e.err == ENOENT && e.stage == STAGE_FDS);
	CHECK_STR(e.msg, "fds: open /nonexistent/linx for fd 40");
	kept[0] = o.fd[0];
	passfd_close(&o);
	CHECK(!fd_open(kept[0]));
	close(chan);
}

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

/* spawn_workload() fails at @stage: every descriptor it opened is closed */
static void spawn_fails_clean(struct linx_request *req, int stage)
{
	static char *argv[] = { "/bin/true", NULL };
	struct session s;
	struct linx_err err;
	int before, code = -1, fd;

	req->argv = argv;
	req->argc = 1;
	for (fd = 0; fd < 3; fd++)
		req->stdio[fd].mode = STDIO_PIPE;
	agent_session_init(&s, req);
	before = count_fds();
	CHECK(spawn_workload(&s, &code, &err) == -1);
	CHECK(err.stage == stage && code == EXIT_INFRA);
	CHECK(count_fds() == before);
	CHECK(s.chan == -1 && s.init_status == -1 && s.pidfd == -1);
}

static void test_spawn_failures_close_all(void)
{
	struct linx_passfd fds[2] = {
		{ .target = 3, .kind = PASSFD_FILE, .path = "/dev/null",
		  .flags = O_RDONLY },
		{ .target = 4, .kind = PASSFD_FILE, .path = "/nonexistent/x",
		  .flags = O_RDONLY },
	};
	struct linx_request req = { .kind = LINX_SPAWN, .fds = fds,
				    .nfds = 2, .init = true };

	/* the second source is missing: the first, pipes, channel closed */
	spawn_fails_clean(&req, STAGE_FDS);

	/* both sources and the init's status pipe opened, then the cgroup */
	memset(&req, 0, sizeof(req));
	fds[1].path = "/dev/zero";
	req.kind = LINX_SPAWN;
	req.fds = fds;
	req.nfds = 2;
	req.init = true;
	req.cgroup = "/nonexistent/linx";
	spawn_fails_clean(&req, STAGE_CGROUP);
}

TESTS(sandbox_tests) = {
	{ "sandbox: opts.init needs a pid namespace", test_init_key },
	{ "sandbox: opts.fds shapes, targets, flags", test_fds_key },
	{ "sandbox: opts.landlock shapes", test_landlock_key },
	{ "sandbox: Landlock ABI probe, no-Landlock answers",
	  test_landlock_abi_probe },
	{ "sandbox: Landlock rights per ABI, :landlock command row",
	  test_landlock_rights },
	{ "sandbox: fds opened above every target, closed on failure",
	  test_passfd_open },
	{ "sandbox: a failed spawn with fds and init leaves nothing open",
	  test_spawn_failures_close_all },
	TEST_END
};
