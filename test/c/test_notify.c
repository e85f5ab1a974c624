/*
 * test_notify.c - the notify grammar (notify_wire.c, notify_step.c):
 * notify_reads in the request, {:notify_reply, id, steps} (every step,
 * the response-last rule, the id kept after a failed decode),
 * notify_read/notify_fd_path (the ref echoed byte for byte), and the
 * encode/decode round trip; the call context keys (creds, resolve,
 * beneath) and notify_path.c's plans, splits and resolutions against a
 * real directory tree.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ei.h>

#include "notify_path.h"
#include "ns.h"
#include "command.h"
#include "request.h"
#include "test.h"

static int decode(ei_x_buff *x, struct linx_cmd *c, struct linx_err *e)
{
	memset(e, 0, sizeof(*e));
	return cmd_decode(x->buff, x->index, c, e);
}

/* {:notify_reply, 7, [step...]} with the given steps already encoded */
static void reply_head(ei_x_buff *x, int nsteps)
{
	ei_x_new_with_version(x);
	ei_x_encode_tuple_header(x, 3);
	ei_x_encode_atom(x, "notify_reply");
	ei_x_encode_ulonglong(x, 7);
	if (nsteps)
		ei_x_encode_list_header(x, nsteps);
}

static void test_reply_all_steps(void)
{
	struct linx_cmd c, again;
	struct linx_err e;
	ei_x_buff x, y;

	reply_head(&x, 5);
	/* {:write, addr, bin} */
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "write");
	ei_x_encode_ulonglong(&x, 0x7fff0000ULL);
	ei_x_encode_binary(&x, "abc", 3);
	/* {:call, 259, [-100, {:str, "/d/n"}, {:buf, <<1,0>>}], %{ns: [:user, :mount], creds: true}} */
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "call");
	ei_x_encode_long(&x, 259);
	ei_x_encode_list_header(&x, 3);
	ei_x_encode_long(&x, -100);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "str");
	ei_x_encode_binary(&x, "/d/n", 4);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "buf");
	ei_x_encode_binary(&x, "\001\000", 2);
	ei_x_encode_empty_list(&x);
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "ns");
	ei_x_encode_list_header(&x, 2);
	ei_x_encode_atom(&x, "user");
	ei_x_encode_atom(&x, "mount");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "creds");
	ei_x_encode_boolean(&x, 1);
	/* {:addfd, {:open, "/f", 2, 0o644}, 5, [:cloexec]} */
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "addfd");
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "open");
	ei_x_encode_binary(&x, "/f", 2);
	ei_x_encode_long(&x, 2);
	ei_x_encode_long(&x, 0644);
	ei_x_encode_long(&x, 5);
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_atom(&x, "cloexec");
	ei_x_encode_empty_list(&x);
	/* {:addfd, {:getfd, 1, 2}, -1, []} */
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "addfd");
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "getfd");
	ei_x_encode_long(&x, 1);
	ei_x_encode_long(&x, 2);
	ei_x_encode_long(&x, -1);
	ei_x_encode_empty_list(&x);
	/* {:return, -1} */
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "return");
	ei_x_encode_long(&x, -1);
	ei_x_encode_empty_list(&x);

	CHECK(decode(&x, &c, &e) == 0);
	CHECK(c.kind == CMD_NOTIFY_REPLY && c.id == 7 && c.nsteps == 5);
	CHECK(c.steps[0].kind == NSTEP_WRITE && c.steps[0].len == 3 &&
	      c.steps[0].addr == 0x7fff0000ULL);
	CHECK(c.steps[1].kind == NSTEP_CALL && c.steps[1].nr == 259 &&
	      c.steps[1].nargs == 3);
	CHECK(c.steps[1].args[0].v == (uint64_t)-100);
	CHECK(c.steps[1].args[1].kind == NARG_STR &&
	      !strcmp((char *)c.steps[1].args[1].data, "/d/n"));
	CHECK(c.steps[1].args[2].kind == NARG_BUF && c.steps[1].args[2].len == 2);
	CHECK(c.steps[1].ns == ((1u << NS_USER) | (1u << NS_MOUNT)));
	/* keys not given keep their defaults */
	CHECK(c.steps[1].root && c.steps[1].cwd && c.steps[1].creds);
	CHECK(c.steps[2].kind == NSTEP_ADDFD && c.steps[2].src == NFD_OPEN &&
	      c.steps[2].target == 5 && c.steps[2].cloexec &&
	      !c.steps[2].send && c.steps[2].mode == 0644);
	CHECK(c.steps[3].src == NFD_GETFD && c.steps[3].target == -1 &&
	      c.steps[3].pid == 1 && c.steps[3].fd == 2);
	CHECK(c.steps[4].kind == NSTEP_RETURN &&
	      (int64_t)c.steps[4].val == -1);

	/* round trip */
	ei_x_new_with_version(&y);
	CHECK(cmd_encode(&c, &y) == 0);
	CHECK(decode(&y, &again, &e) == 0);
	CHECK(again.nsteps == 5 && again.steps[1].ns == c.steps[1].ns &&
	      (int64_t)again.steps[4].val == -1);
	cmd_free(&again);
	cmd_free(&c);
	ei_x_free(&x);
	ei_x_free(&y);
}

static void test_reply_rules(void)
{
	struct linx_cmd c;
	struct linx_err e;
	ei_x_buff x;

	/* a response before the last step: malformed, id still known */
	reply_head(&x, 2);
	ei_x_encode_atom(&x, "continue");
	ei_x_encode_atom(&x, "return_last");
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1);
	CHECK(e.stage == STAGE_MALFORMED_COMMAND);
	CHECK(c.kind == CMD_NOTIFY_REPLY && c.has_id && c.id == 7);
	CHECK(strstr(e.msg, "before the last step") != NULL);
	cmd_free(&c);
	ei_x_free(&x);

	/* the last step must answer */
	reply_head(&x, 1);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "write");
	ei_x_encode_long(&x, 1);
	ei_x_encode_binary(&x, "a", 1);
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && c.has_id);
	cmd_free(&c);
	ei_x_free(&x);

	/* an addfd with :send answers */
	reply_head(&x, 1);
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_atom(&x, "addfd");
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "connect_unix");
	ei_x_encode_binary(&x, "/s", 2);
	ei_x_encode_long(&x, -1);
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_atom(&x, "send");
	ei_x_encode_empty_list(&x);
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == 0 && c.steps[0].send);
	cmd_free(&c);
	ei_x_free(&x);

	/* errno out of range, unknown step, no steps */
	reply_head(&x, 1);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "errno");
	ei_x_encode_long(&x, 4096);
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && c.has_id);
	cmd_free(&c);
	ei_x_free(&x);

	reply_head(&x, 1);
	ei_x_encode_atom(&x, "bogus");
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && strstr(e.msg, ":bogus"));
	cmd_free(&c);
	ei_x_free(&x);

	reply_head(&x, 0);
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && c.has_id);
	cmd_free(&c);
	ei_x_free(&x);

	/* the id itself bad: nobody to answer */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "notify_reply");
	ei_x_encode_atom(&x, "nope");
	ei_x_encode_empty_list(&x);
	CHECK(decode(&x, &c, &e) == -1 && !c.has_id);
	cmd_free(&c);
	ei_x_free(&x);
}

static void test_read_and_fd_path(void)
{
	struct linx_cmd c, again;
	struct linx_err e;
	ei_x_buff x, y;
	int ref_start, ref_end;

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 6);
	ei_x_encode_atom(&x, "notify_read");
	ref_start = x.index;
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "ref");
	ei_x_encode_long(&x, 99);
	ref_end = x.index;
	ei_x_encode_ulonglong(&x, 1);
	ei_x_encode_long(&x, 1234);
	ei_x_encode_ulonglong(&x, 0x1000);
	ei_x_encode_long(&x, 16);
	CHECK(decode(&x, &c, &e) == 0);
	CHECK(c.kind == CMD_NOTIFY_READ && c.pid == 1234 && c.addr == 0x1000 &&
	      c.rlen == 16 && c.id == 1);
	CHECK(c.ref_len == (size_t)(ref_end - ref_start));
	CHECK(!memcmp(c.ref, x.buff + ref_start, c.ref_len));
	ei_x_new_with_version(&y);
	CHECK(cmd_encode(&c, &y) == 0);
	CHECK(y.index == x.index && !memcmp(x.buff, y.buff, x.index));
	CHECK(decode(&y, &again, &e) == 0 && again.ref_len == c.ref_len);
	cmd_free(&again);
	cmd_free(&c);
	ei_x_free(&x);
	ei_x_free(&y);

	/* len above the cap */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 6);
	ei_x_encode_atom(&x, "notify_read");
	ei_x_encode_atom(&x, "r");
	ei_x_encode_ulonglong(&x, 1);
	ei_x_encode_long(&x, 1);
	ei_x_encode_ulonglong(&x, 0);
	ei_x_encode_long(&x, NOTIFY_READ_MAX + 1);
	CHECK(decode(&x, &c, &e) == -1);
	cmd_free(&c);
	ei_x_free(&x);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 5);
	ei_x_encode_atom(&x, "notify_fd_path");
	ei_x_encode_binary(&x, "r", 1);
	ei_x_encode_ulonglong(&x, 1);
	ei_x_encode_long(&x, 5);
	ei_x_encode_long(&x, 3);
	CHECK(decode(&x, &c, &e) == 0);
	CHECK(c.kind == CMD_NOTIFY_FD_PATH && c.pid == 5 && c.fd == 3);
	cmd_free(&c);
	ei_x_free(&x);
}

static void test_notify_reads_key(void)
{
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x;

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_binary(&x, "/bin/true", 9);
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "notify_reads");
	ei_x_encode_list_header(&x, 3);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_long(&x, 257);
	ei_x_encode_long(&x, 1);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "cstring");
	ei_x_encode_long(&x, 4096);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_long(&x, 42);
	ei_x_encode_long(&x, 1);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "bytes_arg");
	ei_x_encode_long(&x, 2);
	ei_x_encode_long(&x, 128);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_long(&x, 63);
	ei_x_encode_long(&x, 0);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "bytes");
	ei_x_encode_long(&x, 390);
	ei_x_encode_empty_list(&x);

	memset(&e, 0, sizeof(e));
	CHECK(request_decode(x.buff, x.index, &r, &e) == 0);
	CHECK(r.nnotify_reads == 3);
	if (r.nnotify_reads == 3) {
		CHECK(r.notify_reads[0].nr == 257 && r.notify_reads[0].arg == 1 &&
		      r.notify_reads[0].kind == NREAD_CSTRING &&
		      r.notify_reads[0].max == 4096);
		CHECK(r.notify_reads[1].kind == NREAD_BYTES_ARG &&
		      r.notify_reads[1].len_arg == 2 &&
		      r.notify_reads[1].max == 128);
		CHECK(r.notify_reads[2].kind == NREAD_BYTES &&
		      r.notify_reads[2].max == 390);
	}
	request_free(&r);
	ei_x_free(&x);
}


/* {:notify_reply, 7, [{:call, 259, [-100, {:str, "/d/n"}], ctx}, :return_last]}
 * where ctx is a map of @nkeys keys the callback encodes */
static void call_with_ctx(ei_x_buff *x, int nkeys,
			  void (*keys)(ei_x_buff *x))
{
	reply_head(x, 2);
	ei_x_encode_tuple_header(x, 4);
	ei_x_encode_atom(x, "call");
	ei_x_encode_long(x, 259);
	ei_x_encode_list_header(x, 2);
	ei_x_encode_long(x, -100);
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "str");
	ei_x_encode_binary(x, "/d/n", 4);
	ei_x_encode_empty_list(x);
	ei_x_encode_map_header(x, nkeys);
	keys(x);
	ei_x_encode_atom(x, "return_last");
	ei_x_encode_empty_list(x);
}

static void keys_safe_fs(ei_x_buff *x)
{
	ei_x_encode_atom(x, "creds");
	ei_x_encode_atom(x, "caller_fs");
	ei_x_encode_atom(x, "resolve");
	ei_x_encode_atom(x, "safe");
	ei_x_encode_atom(x, "beneath");
	ei_x_encode_binary(x, "/srv/dev", 8);
}

static void keys_follow(ei_x_buff *x)
{
	ei_x_encode_atom(x, "resolve");
	ei_x_encode_atom(x, "follow");
}

static void keys_bad_resolve(ei_x_buff *x)
{
	ei_x_encode_atom(x, "resolve");
	ei_x_encode_atom(x, "lexical");
}

static void keys_bad_beneath(ei_x_buff *x)
{
	ei_x_encode_atom(x, "beneath");
	ei_x_encode_binary(x, "dev", 3);
}

static void keys_nul_beneath(ei_x_buff *x)
{
	ei_x_encode_atom(x, "beneath");
	ei_x_encode_binary(x, "/d\0x", 4);
}

static void keys_bad_creds(ei_x_buff *x)
{
	ei_x_encode_atom(x, "creds");
	ei_x_encode_atom(x, "caller");
}

static void test_call_ctx(void)
{
	struct linx_cmd c, again;
	struct linx_err e;
	ei_x_buff x, y;

	call_with_ctx(&x, 3, keys_safe_fs);
	CHECK(decode(&x, &c, &e) == 0);
	CHECK(c.nsteps == 2 && c.steps[0].creds == NCREDS_FS &&
	      !c.steps[0].follow && c.steps[0].beneath &&
	      !strcmp((char *)c.steps[0].beneath, "/srv/dev"));
	/* round trip keeps every key */
	ei_x_new_with_version(&y);
	CHECK(cmd_encode(&c, &y) == 0);
	CHECK(decode(&y, &again, &e) == 0);
	CHECK(again.steps[0].creds == NCREDS_FS && again.steps[0].beneath &&
	      again.steps[0].beneath_len == 8 && !again.steps[0].follow);
	cmd_free(&again);
	cmd_free(&c);
	ei_x_free(&x);
	ei_x_free(&y);

	/* defaults: safe, no beneath, the agent's creds */
	call_with_ctx(&x, 1, keys_follow);
	CHECK(decode(&x, &c, &e) == 0);
	CHECK(c.steps[0].follow && !c.steps[0].beneath &&
	      c.steps[0].creds == NCREDS_NONE);
	cmd_free(&c);
	ei_x_free(&x);

	call_with_ctx(&x, 1, keys_bad_resolve);
	CHECK(decode(&x, &c, &e) == -1 && c.has_id);
	CHECK(strstr(e.msg, "expected :safe or :follow, got :lexical"));
	cmd_free(&c);
	ei_x_free(&x);

	call_with_ctx(&x, 1, keys_bad_beneath);
	CHECK(decode(&x, &c, &e) == -1);
	CHECK(strstr(e.msg, "beneath: expected an absolute path"));
	cmd_free(&c);
	ei_x_free(&x);

	call_with_ctx(&x, 1, keys_nul_beneath);
	CHECK(decode(&x, &c, &e) == -1);
	cmd_free(&c);
	ei_x_free(&x);

	call_with_ctx(&x, 1, keys_bad_creds);
	CHECK(decode(&x, &c, &e) == -1);
	CHECK(strstr(e.msg, "creds: expected true, false or :caller_fs"));
	cmd_free(&c);
	ei_x_free(&x);
}

static struct notify_step str_step(uint32_t nr, int nargs, int path_at,
				   const char *path)
{
	struct notify_step st;
	int i;

	memset(&st, 0, sizeof(st));
	st.kind = NSTEP_CALL;
	st.nr = nr;
	st.nargs = nargs;
	for (i = 0; i < nargs; i++) {
		st.args[i].kind = NARG_INT;
		st.args[i].v = i == 0 ? (uint64_t)-100 : 0;
	}
	st.args[path_at].kind = NARG_STR;
	st.args[path_at].data = (uint8_t *)path;
	st.args[path_at].len = strlen(path);
	return st;
}

static void test_path_plans(void)
{
	struct npath_plan p;
	struct notify_step st;

	/* chown(path, uid, gid) -> fchownat(AT_FDCWD, path, uid, gid, NOFOLLOW) */
	st = str_step(92, 3, 0, "/x");
	CHECK(npath_plan(&st, &p));
	CHECK(p.nr == 260 && p.nargs == 5 && p.npairs == 1 &&
	      p.dirfd[0] == 0 && p.path[0] == 1 && p.flags_arg == 4);
	CHECK(npath_dirfd_value(&p, 0) == AT_FDCWD);
	CHECK(npath_pair_resolves(&p, 0));
	CHECK(npath_apply_flags(&p) == 0 && p.args[4].v == 0x100);

	/* rmdir -> unlinkat(AT_FDCWD, path, AT_REMOVEDIR) */
	st = str_step(84, 1, 0, "/d");
	CHECK(npath_plan(&st, &p) && p.nr == 263 && p.args[2].v == 0x200);

	/* fchmodat has no flags: fchmodat2 with AT_SYMLINK_NOFOLLOW */
	st = str_step(268, 3, 1, "x");
	CHECK(npath_plan(&st, &p) && p.nr == 452 && npath_apply_flags(&p) == 0 &&
	      p.args[3].v == 0x100);

	/* linkat: two pairs, AT_SYMLINK_FOLLOW removed */
	st = str_step(265, 5, 1, "/a");
	st.args[3].kind = NARG_STR;
	st.args[3].data = (uint8_t *)"/b";
	st.args[4].v = 0x400 | 0x1000;
	CHECK(npath_plan(&st, &p) && p.npairs == 2 && p.path[1] == 3);
	CHECK(npath_apply_flags(&p) == 0 && p.args[4].v == 0x1000);

	/* openat: O_NOFOLLOW added */
	st = str_step(257, 4, 1, "/f");
	CHECK(npath_plan(&st, &p) && npath_apply_flags(&p) == 0 &&
	      (p.args[2].v & O_NOFOLLOW));

	/* mount: the target, whole, without dirfd */
	st = str_step(165, 5, 1, "/mnt");
	CHECK(npath_plan(&st, &p) && p.full && p.dirfd[0] == -1 &&
	      p.path[0] == 1 && npath_dirfd_value(&p, 0) == AT_FDCWD);

	/* utimensat(fd, NULL, ...): no string, nothing to resolve */
	st = str_step(280, 4, 1, "");
	st.args[1].kind = NARG_INT;
	CHECK(npath_plan(&st, &p) && !npath_pair_resolves(&p, 0));

	/* a dirfd that is not an integer is never a descriptor */
	st = str_step(259, 4, 1, "x");
	st.args[0].kind = NARG_BUF;
	CHECK(npath_plan(&st, &p) && npath_dirfd_value(&p, 0) == INT_MIN);

	/* unknown calls and resolve: :follow are run as given */
	st = str_step(39, 0, 0, "");
	st.nargs = 0;
	CHECK(!npath_plan(&st, &p));
	st = str_step(259, 4, 1, "/x");
	st.follow = true;
	CHECK(!npath_plan(&st, &p));
}

static void test_path_split(void)
{
	char buf[64];
	const char *last;

	CHECK(npath_split("/a/b/c", 0, buf, sizeof(buf), &last) == 0);
	CHECK_STR(buf, "/a/b");
	CHECK_STR(last, "c");
	CHECK(npath_split("/x", 0, buf, sizeof(buf), &last) == 0);
	CHECK_STR(buf, "/");
	CHECK_STR(last, "x");
	CHECK(npath_split("x", 0, buf, sizeof(buf), &last) == 0);
	CHECK_STR(buf, ".");
	CHECK_STR(last, "x");
	/* trailing slashes dropped: they would make the kernel follow */
	CHECK(npath_split("a/dir//", 0, buf, sizeof(buf), &last) == 0);
	CHECK_STR(buf, "a");
	CHECK_STR(last, "dir");
	/* from a beneath: prefix on */
	CHECK(npath_split("/srv/dev/null", 9, buf, sizeof(buf), &last) == 0);
	CHECK_STR(buf, ".");
	CHECK_STR(last, "null");
	errno = 0;
	CHECK(npath_split("/a/..", 0, buf, sizeof(buf), &last) == -1 &&
	      errno == EINVAL);
	CHECK(npath_split("/", 0, buf, sizeof(buf), &last) == -1 &&
	      errno == EINVAL);
	CHECK(npath_split("", 0, buf, sizeof(buf), &last) == -1 &&
	      errno == ENOENT);
	CHECK(npath_split("/0123456789012345678901234567890123456789"
			  "012345678901234567890123456789",
			  0, buf, sizeof(buf), &last) == -1 &&
	      errno == ENAMETOOLONG);
}

/*
 * A tree to resolve in: ROOT/d/sub (a directory), ROOT/d/l -> ROOT/out
 * (absolute symlink), ROOT/d/rl -> ../out, ROOT/out.
 */
static void test_path_resolve(void)
{
	char root[] = "/tmp/linx-npath-XXXXXX", p[256], buf[NPATH_MAX_PAIRS][64];
	struct npath_base b = { -1, -1, -1, NULL, { -1, -1 } };
	struct notify_step st;
	struct npath_plan plan;
	const char *last;
	int fd;

	CHECK(mkdtemp(root) != NULL);
	snprintf(p, sizeof(p), "%s/d", root);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/d/sub", root);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/out", root);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/d/l", root);
	CHECK(symlink("/out", p) == 0);
	snprintf(p, sizeof(p), "%s/d/rl", root);
	CHECK(symlink("../out", p) == 0);
	b.root = open(root, O_PATH | O_DIRECTORY);
	snprintf(p, sizeof(p), "%s/d", root);
	b.cwd = open(p, O_PATH | O_DIRECTORY);
	CHECK(b.root >= 0 && b.cwd >= 0);

	/* absolute, in the root: the parent opened, the last component */
	st = str_step(259, 4, 1, "/d/sub/x");
	CHECK(npath_plan(&st, &plan));
	fd = npath_resolve(&b, &plan, 0, -1, buf[0], sizeof(buf[0]), &last);
	CHECK(fd >= 0);
	CHECK_STR(last, "x");
	if (fd >= 0)
		close(fd);
	/* `..` above the root stays in it (RESOLVE_IN_ROOT) */
	st = str_step(259, 4, 1, "/../../d/x");
	CHECK(npath_plan(&st, &plan));
	fd = npath_resolve(&b, &plan, 0, -1, buf[0], sizeof(buf[0]), &last);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	/* a symlink on the way, absolute or relative: ELOOP */
	st = str_step(259, 4, 1, "/d/l/x");
	CHECK(npath_plan(&st, &plan));
	errno = 0;
	CHECK(npath_resolve(&b, &plan, 0, -1, buf[0], sizeof(buf[0]),
			    &last) == -1 && errno == ELOOP);
	st = str_step(259, 4, 1, "/d/rl/../x");
	CHECK(npath_plan(&st, &plan));
	errno = 0;
	CHECK(npath_resolve(&b, &plan, 0, -1, buf[0], sizeof(buf[0]),
			    &last) == -1 && errno == ELOOP);
	/* relative: from the cwd, never above it */
	st = str_step(259, 4, 1, "sub/x");
	CHECK(npath_plan(&st, &plan));
	fd = npath_resolve(&b, &plan, 0, -1, buf[0], sizeof(buf[0]), &last);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	st = str_step(259, 4, 1, "../out/x");
	CHECK(npath_plan(&st, &plan));
	errno = 0;
	CHECK(npath_resolve(&b, &plan, 0, -1, buf[0], sizeof(buf[0]),
			    &last) == -1 && errno == EXDEV);
	/* a kept directory is used as is, the path only split */
	st = str_step(259, 4, 1, "/d/l/y");
	CHECK(npath_plan(&st, &plan));
	CHECK(npath_resolve(&b, &plan, 0, 99, buf[0], sizeof(buf[0]),
			    &last) == 99);
	CHECK_STR(last, "y");

	/* beneath: /d: inside it fine, outside (lexically) EXDEV */
	b.beneath_path = "/d";
	b.beneath = npath_open_beneath(b.root, "/d");
	CHECK(b.beneath >= 0);
	st = str_step(259, 4, 1, "/d/sub/x");
	CHECK(npath_plan(&st, &plan));
	fd = npath_resolve(&b, &plan, 0, -1, buf[0], sizeof(buf[0]), &last);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	st = str_step(259, 4, 1, "/dx/y");
	CHECK(npath_plan(&st, &plan));
	errno = 0;
	CHECK(npath_resolve(&b, &plan, 0, -1, buf[0], sizeof(buf[0]),
			    &last) == -1 && errno == EXDEV);
	st = str_step(259, 4, 1, "/d/sub/../../out/x");
	CHECK(npath_plan(&st, &plan));
	errno = 0;
	CHECK(npath_resolve(&b, &plan, 0, -1, buf[0], sizeof(buf[0]),
			    &last) == -1 && errno == EXDEV);
	/* beneath a symlink: refused when it is opened */
	CHECK(npath_open_beneath(b.root, "/d/l") == -1 && errno == ELOOP);

	close(b.beneath);
	close(b.root);
	close(b.cwd);
	snprintf(p, sizeof(p), "rm -rf %s", root);
	CHECK(system(p) == 0);
}

TESTS(notify_tests) = {
	{ "notify: every reply step decodes and round-trips",
	  test_reply_all_steps },
	{ "notify: only the last step answers; the id survives a bad reply",
	  test_reply_rules },
	{ "notify: notify_read / notify_fd_path, the ref echoed as is",
	  test_read_and_fd_path },
	{ "notify: notify_reads request key", test_notify_reads_key },
	{ "notify: call ctx creds, resolve, beneath", test_call_ctx },
	{ "notify: path calls become their *at form, no-follow",
	  test_path_plans },
	{ "notify: a path split into parent and last component",
	  test_path_split },
	{ "notify: paths resolved in the root, beneath, without symlinks",
	  test_path_resolve },
	TEST_END
};
