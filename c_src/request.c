/*
 * request.c - pure decode of the request frame and of commands, and the
 * normalised re-encode answered to {:echo, request}.
 *
 * Decoding is table driven: one handler per opts key, one {tag, arity}
 * row per command. A failure names the path of the offending term
 * ("opts.argv[2]: expected a binary, got an integer") with stage
 * malformed_request or malformed_command.
 *
 * The {:echo, request} answer is {:decoded, map}, every key present:
 *
 *   %{kind: :spawn | :enter,
 *     argv: [binary],
 *     env: :inherit | [binary],
 *     cwd: nil | binary,
 *     cgroup: nil | binary,
 *     namespaces: [atom]            (wire order: user mount uts ipc cgroup
 *                                    net time pid; enter without the key:
 *                                    all eight),
 *     target: nil | integer,
 *     stdio: :pty | [stdin: m, stdout: m, stderr: m]
 *            where m is :inherit | :devnull | :pipe | {:connect_unix, bin},
 *     no_new_privs: boolean,
 *     on_exit: :kill | :detach,
 *     checkpoint: boolean,
 *     commands: [command]           (as on the wire: :caps_query,
 *                                    {:cap_set_thread, e, p, i}, ...),
 *     winsize: nil | {rows, cols, xpix, ypix},
 *     stdio_window: nil | integer}
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "ns.h"
#include "request.h"
#include "term.h"
#include "util.h"

#define PATH_MAX_LEN 256

/*
 * path_fmt() - build the path of a term for error messages; a path longer
 * than PATH_MAX_LEN (absurd atoms) is cut, which is fine for a label.
 */
static void path_fmt(char *p, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void path_fmt(char *p, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, n, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- commands */

struct cmd_row {
	const char *name;
	int arity;		/* tuple elements after the tag; 0: bare atom */
	enum linx_cmd_kind kind;
	bool checkpoint;	/* allowed in opts.commands */
};

static const struct cmd_row cmd_table[] = {
	{ "proceed",		0, CMD_PROCEED,			false },
	{ "abort",		0, CMD_ABORT,			false },
	{ "caps_query",		0, CMD_CAPS_QUERY,		true },
	{ "close_stdin",	0, CMD_CLOSE_STDIN,		false },
	{ "set_ids",		2, CMD_SET_IDS,			true },
	{ "cap_drop_bounding",	1, CMD_CAP_DROP_BOUNDING,	true },
	{ "cap_set_thread",	3, CMD_CAP_SET_THREAD,		true },
	{ "cap_set_ambient",	1, CMD_CAP_SET_AMBIENT,		true },
	{ "seccomp_install",	1, CMD_SECCOMP_INSTALL,		true },
	{ "pty_winsize",	1, CMD_PTY_WINSIZE,		true },
	{ "signal",		1, CMD_SIGNAL,			false },
	{ "pty_in",		1, CMD_PTY_IN,			false },
	{ "stdin",		1, CMD_STDIN,			false },
	{ "seccomp_notify_install", 1, CMD_SECCOMP_NOTIFY_INSTALL,	true },
	{ "notify_reply",	2, CMD_NOTIFY_REPLY,		false },
	{ "notify_read",	5, CMD_NOTIFY_READ,		false },
	{ "notify_fd_path",	4, CMD_NOTIFY_FD_PATH,		false },
	{ "output_ack",		1, CMD_OUTPUT_ACK,		false },
};

/**
 * cmd_name() - the wire tag of a command
 * @kind:	enum linx_cmd_kind
 *
 * Return: atom text
 */
const char *cmd_name(enum linx_cmd_kind kind)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmd_table); i++)
		if (cmd_table[i].kind == kind)
			return cmd_table[i].name;
	return "unknown";
}

/**
 * cmd_is_checkpoint() - may this command appear in opts.commands?
 * @kind:	enum linx_cmd_kind
 *
 * Return: true for the checkpoint commands of docs/protocol.md
 */
bool cmd_is_checkpoint(enum linx_cmd_kind kind)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmd_table); i++)
		if (cmd_table[i].kind == kind)
			return cmd_table[i].checkpoint;
	return false;
}

/*
 * decode_winsize() - {rows, cols, xpix, ypix}, each 0..65535
 */
static int decode_winsize(struct tdec *d, struct linx_winsize *ws,
			  const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v[4];
	int arity, i;

	if (td_tuple(d, &arity, path))
		return -1;
	if (arity != 4)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {rows, cols, xpix, ypix}", path);
	for (i = 0; i < 4; i++) {
		path_fmt(p, sizeof(p), "%s.%d", path, i);
		if (td_uint_max(d, 0, 65535, &v[i], p))
			return -1;
	}
	ws->rows = v[0];
	ws->cols = v[1];
	ws->xpix = v[2];
	ws->ypix = v[3];
	return 0;
}


/* ------------------------------------------------ notification replies */

/* Longest step list accepted in one reply */
#define NOTIFY_MAX_STEPS 64

/* Largest errno a seccomp response may carry (MAX_ERRNO) */
#define NOTIFY_MAX_ERRNO 4095

/*
 * decode_ref() - any term, kept as its ETF bytes to be echoed back
 */
static int decode_ref(struct tdec *d, struct linx_cmd *c, const char *path)
{
	int start = d->idx;

	if (td_skip(d, path))
		return -1;
	c->ref_len = d->idx - start;
	c->ref = malloc(c->ref_len ? c->ref_len : 1);
	if (!c->ref)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	memcpy(c->ref, d->buf + start, c->ref_len);
	return 0;
}

/*
 * decode_ns_list() - a list of namespace atoms into a mask
 */
static int decode_ns_list(struct tdec *d, unsigned *mask, const char *path)
{
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity, i, ns;

	if (td_list(d, &arity, path))
		return -1;
	*mask = 0;
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_atom(d, atom, p))
			return -1;
		ns = ns_by_atom(atom);
		if (ns < 0)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: unknown namespace :%s", p, atom);
		*mask |= 1u << ns;
	}
	return td_list_end(d, path);
}

/*
 * decode_call_arg() - integer | {:str, bin} | {:buf, bin}
 */
static int decode_call_arg(struct tdec *d, struct notify_arg *a,
			   const char *path)
{
	char tag[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity;

	if (!td_is_atom(d)) {
		struct tdec peek = *d;

		if (td_tuple(&peek, &arity, path)) {
			a->kind = NARG_INT;
			return td_i64_bits(d, &a->v, path);
		}
	}
	if (td_tuple(d, &arity, path))
		return -1;
	path_fmt(p, sizeof(p), "%s.tag", path);
	if (arity != 2 || td_atom(d, tag, p) ||
	    (strcmp(tag, "str") && strcmp(tag, "buf")))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected an integer, {:str, bin} or "
				 "{:buf, bin}", path);
	a->kind = strcmp(tag, "str") ? NARG_BUF : NARG_STR;
	path_fmt(p, sizeof(p), "%s.%s", path, tag);
	/* td_binary NUL-terminates: a {:str, _} is passed as a C string */
	if (td_binary(d, &a->data, &a->len, p))
		return -1;
	if (a->kind == NARG_STR && memchr(a->data, 0, a->len))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: contains a NUL byte", p);
	return 0;
}

/*
 * decode_creds() - false | true | :caller_fs
 */
static int decode_creds(struct tdec *d, struct notify_step *st,
			const char *path)
{
	char atom[TD_ATOM_MAX];
	bool b;

	if (td_is_atom(d)) {
		struct tdec peek = *d;

		if (!td_atom(&peek, atom, path) && !strcmp(atom, "caller_fs")) {
			*d = peek;
			st->creds = NCREDS_FS;
			return 0;
		}
	}
	if (td_bool(d, &b, path))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected true, false or :caller_fs", path);
	st->creds = b ? NCREDS_ALL : NCREDS_NONE;
	return 0;
}

/*
 * decode_resolve() - :safe | :follow
 */
static int decode_resolve(struct tdec *d, struct notify_step *st,
			  const char *path)
{
	char atom[TD_ATOM_MAX];

	if (td_atom(d, atom, path))
		return -1;
	if (strcmp(atom, "safe") && strcmp(atom, "follow"))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected :safe or :follow, got :%s", path,
				 atom);
	st->follow = !strcmp(atom, "follow");
	return 0;
}

/*
 * decode_beneath() - an absolute directory path, no NUL
 */
static int decode_beneath(struct tdec *d, struct notify_step *st,
			  const char *path)
{
	free(st->beneath);	/* a repeated key: the last one wins */
	st->beneath = NULL;
	if (td_binary(d, &st->beneath, &st->beneath_len, path))
		return -1;
	if (st->beneath_len == 0 || st->beneath[0] != '/' ||
	    memchr(st->beneath, 0, st->beneath_len))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected an absolute path without NUL",
				 path);
	return 0;
}

/*
 * decode_call_ctx() - %{ns: [atom], root: bool, cwd: bool,
 * creds: bool | :caller_fs, resolve: :safe | :follow, beneath: bin};
 * a missing key keeps its default, unknown keys are skipped
 */
static int decode_call_ctx(struct tdec *d, struct notify_step *st,
			   const char *path)
{
	char key[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity, i;

	if (td_map(d, &arity, path))
		return -1;
	for (i = 0; i < arity; i++) {
		if (!td_is_atom(d)) {
			path_fmt(p, sizeof(p), "%s.<key>", path);
			if (td_skip(d, p))
				return -1;
			path_fmt(p, sizeof(p), "%s.<value>", path);
			if (td_skip(d, p))
				return -1;
			continue;
		}
		if (td_atom(d, key, path))
			return -1;
		path_fmt(p, sizeof(p), "%s.%.100s", path, key);
		if (!strcmp(key, "ns")) {
			if (decode_ns_list(d, &st->ns, p))
				return -1;
		} else if (!strcmp(key, "root")) {
			if (td_bool(d, &st->root, p))
				return -1;
		} else if (!strcmp(key, "cwd")) {
			if (td_bool(d, &st->cwd, p))
				return -1;
		} else if (!strcmp(key, "creds")) {
			if (decode_creds(d, st, p))
				return -1;
		} else if (!strcmp(key, "resolve")) {
			if (decode_resolve(d, st, p))
				return -1;
		} else if (!strcmp(key, "beneath")) {
			if (decode_beneath(d, st, p))
				return -1;
		} else if (td_skip(d, p)) {
			return -1;
		}
	}
	return 0;
}

static int step_write(struct tdec *d, struct notify_step *st, const char *path)
{
	char p[PATH_MAX_LEN];

	path_fmt(p, sizeof(p), "%s.addr", path);
	if (td_u64(d, &st->addr, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.data", path);
	return td_binary(d, &st->data, &st->len, p);
}

static int step_call(struct tdec *d, struct notify_step *st, const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v;
	int arity, i;

	path_fmt(p, sizeof(p), "%s.nr", path);
	if (td_uint_max(d, 0, 0x7fffffff, &v, p))
		return -1;
	st->nr = v;
	path_fmt(p, sizeof(p), "%s.args", path);
	if (td_list(d, &arity, p))
		return -1;
	if (arity > 6)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: at most 6 arguments, got %d", p, arity);
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s.args[%d]", path, i);
		st->nargs = i + 1;
		if (decode_call_arg(d, &st->args[i], p))
			return -1;
	}
	path_fmt(p, sizeof(p), "%s.args", path);
	if (td_list_end(d, p))
		return -1;
	st->ns = 1u << NS_MOUNT;
	st->root = st->cwd = true;
	st->creds = NCREDS_NONE;
	st->follow = false;
	path_fmt(p, sizeof(p), "%s.ctx", path);
	return decode_call_ctx(d, st, p);
}

/*
 * decode_fd_source() - {:open, path, oflags, mode} | {:connect_unix, path}
 * | {:getfd, pid, fd}
 */
static int decode_fd_source(struct tdec *d, struct notify_step *st,
			    const char *path)
{
	char tag[TD_ATOM_MAX], p[PATH_MAX_LEN];
	uint64_t v;
	int arity;

	if (td_tuple(d, &arity, path))
		return -1;
	path_fmt(p, sizeof(p), "%s.tag", path);
	if (arity < 2 || td_atom(d, tag, p))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected an fd source tuple", path);
	path_fmt(p, sizeof(p), "%s.%s", path, tag);
	if (!strcmp(tag, "open") && arity == 4) {
		st->src = NFD_OPEN;
		if (td_binary(d, &st->data, &st->len, p))
			return -1;
		if (td_uint_max(d, 0, 0xffffffff, &v, p))
			return -1;
		st->oflags = v;
		if (td_uint_max(d, 0, 07777, &v, p))
			return -1;
		st->mode = v;
	} else if (!strcmp(tag, "connect_unix") && arity == 2) {
		st->src = NFD_CONNECT_UNIX;
		if (td_binary(d, &st->data, &st->len, p))
			return -1;
	} else if (!strcmp(tag, "getfd") && arity == 3) {
		st->src = NFD_GETFD;
		if (td_uint_max(d, 1, 0x7fffffff, &v, p))
			return -1;
		st->pid = v;
		if (td_uint_max(d, 0, 0x7fffffff, &v, p))
			return -1;
		st->fd = v;
		return 0;
	} else {
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: unknown fd source :%s with %d element(s)",
				 path, tag, arity - 1);
	}
	if (memchr(st->data, 0, st->len))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: contains a NUL byte", p);
	return 0;
}

static int step_addfd(struct tdec *d, struct notify_step *st, const char *path)
{
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	uint64_t v;
	int arity, i;

	path_fmt(p, sizeof(p), "%s.source", path);
	if (decode_fd_source(d, st, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.target", path);
	if (td_i64_bits(d, &v, p))
		return -1;
	if ((int64_t)v < -1 || (int64_t)v > 0x7fffffff)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected an fd number or -1", p);
	st->target = (int)(int64_t)v;
	path_fmt(p, sizeof(p), "%s.flags", path);
	if (td_list(d, &arity, p))
		return -1;
	for (i = 0; i < arity; i++) {
		if (td_atom(d, atom, p))
			return -1;
		if (!strcmp(atom, "cloexec"))
			st->cloexec = true;
		else if (!strcmp(atom, "send"))
			st->send = true;
		else
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: unknown flag :%s", p, atom);
	}
	return td_list_end(d, p);
}

static int step_return(struct tdec *d, struct notify_step *st,
		       const char *path)
{
	return td_i64_bits(d, &st->val, path);
}

static int step_errno(struct tdec *d, struct notify_step *st, const char *path)
{
	uint64_t v;

	if (td_uint_max(d, 1, NOTIFY_MAX_ERRNO, &v, path))
		return -1;
	st->err = v;
	return 0;
}

static const struct {
	const char *name;
	int arity;		/* tuple elements after the tag; 0: bare atom */
	enum notify_step_kind kind;
	int (*decode)(struct tdec *d, struct notify_step *st,
		      const char *path);
} step_table[] = {
	{ "continue",		0, NSTEP_CONTINUE,	NULL },
	{ "return_last",	0, NSTEP_RETURN_LAST,	NULL },
	{ "return",		1, NSTEP_RETURN,	step_return },
	{ "errno",		1, NSTEP_ERRNO,		step_errno },
	{ "write",		2, NSTEP_WRITE,		step_write },
	{ "call",		3, NSTEP_CALL,		step_call },
	{ "addfd",		3, NSTEP_ADDFD,		step_addfd },
};

static const char *step_name(int kind)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(step_table); i++)
		if ((int)step_table[i].kind == kind)
			return step_table[i].name;
	return "unknown";
}

/*
 * step_is_response() - does this step answer the caller?
 */
static bool step_is_response(const struct notify_step *st)
{
	return st->kind >= NSTEP_CONTINUE ||
	       (st->kind == NSTEP_ADDFD && st->send);
}

static int decode_step(struct tdec *d, struct notify_step *st,
		       const char *path)
{
	char tag[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity = 0;
	size_t k;

	if (td_is_atom(d)) {
		if (td_atom(d, tag, path))
			return -1;
	} else {
		if (td_tuple(d, &arity, path))
			return -1;
		path_fmt(p, sizeof(p), "%s.tag", path);
		if (arity < 2 || td_atom(d, tag, p))
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: expected a step", path);
		arity--;
	}
	for (k = 0; k < ARRAY_SIZE(step_table); k++)
		if (!strcmp(step_table[k].name, tag) &&
		    step_table[k].arity == arity)
			break;
	if (k == ARRAY_SIZE(step_table))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: unknown step :%s with %d argument(s)",
				 path, tag, arity);
	st->kind = step_table[k].kind;
	path_fmt(p, sizeof(p), "%s.%s", path, tag);
	return step_table[k].decode ? step_table[k].decode(d, st, p) : 0;
}

/*
 * decode_notify_reply() - {id, steps}: the id first, so that even a
 * reply whose steps are malformed names the caller to answer (ENOSYS)
 */
static int decode_notify_reply(struct tdec *d, struct linx_cmd *c,
			       const char *path)
{
	char p[PATH_MAX_LEN];
	int arity, i;

	path_fmt(p, sizeof(p), "%s.id", path);
	if (td_u64(d, &c->id, p))
		return -1;
	c->has_id = true;
	path_fmt(p, sizeof(p), "%s.steps", path);
	if (td_list(d, &arity, p))
		return -1;
	if (arity < 1 || arity > NOTIFY_MAX_STEPS)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected 1..%d steps, got %d", p,
				 NOTIFY_MAX_STEPS, arity);
	c->steps = calloc(arity, sizeof(*c->steps));
	if (!c->steps)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", p);
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s.steps[%d]", path, i);
		c->nsteps = i + 1;
		if (decode_step(d, &c->steps[i], p))
			return -1;
		if (i < arity - 1 && step_is_response(&c->steps[i]))
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: :%s answers the call before the "
					 "last step", p,
					 step_name(c->steps[i].kind));
	}
	if (!step_is_response(&c->steps[arity - 1]))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s.steps: the last step must answer the call "
				 "(:continue, :return, :errno, :return_last or "
				 "an :addfd with :send)", path);
	path_fmt(p, sizeof(p), "%s.steps", path);
	return td_list_end(d, p);
}

/*
 * decode_ref_id_pid() - the {ref, id, pid, ...} prefix shared by the
 * handler's requests (notify_read, notify_fd_path)
 */
static int decode_ref_id_pid(struct tdec *d, struct linx_cmd *c,
			     const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v;

	path_fmt(p, sizeof(p), "%s.ref", path);
	if (decode_ref(d, c, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.id", path);
	if (td_u64(d, &c->id, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.pid", path);
	if (td_uint_max(d, 1, 0x7fffffff, &v, p))
		return -1;
	c->pid = v;
	return 0;
}

/*
 * decode_notify_read() - {ref, id, pid, addr, len}
 */
static int decode_notify_read(struct tdec *d, struct linx_cmd *c,
			      const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v;

	if (decode_ref_id_pid(d, c, path))
		return -1;
	path_fmt(p, sizeof(p), "%s.addr", path);
	if (td_u64(d, &c->addr, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.len", path);
	if (td_uint_max(d, 0, NOTIFY_READ_MAX, &v, p))
		return -1;
	c->rlen = v;
	return 0;
}

/*
 * decode_notify_fd_path() - {ref, id, pid, fd}
 */
static int decode_notify_fd_path(struct tdec *d, struct linx_cmd *c,
				 const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v;

	if (decode_ref_id_pid(d, c, path))
		return -1;
	path_fmt(p, sizeof(p), "%s.fd", path);
	if (td_uint_max(d, 0, 0x7fffffff, &v, p))
		return -1;
	c->fd = v;
	return 0;
}

/*
 * decode_command() - one command term at @d into @c
 */
static int decode_command(struct tdec *d, struct linx_cmd *c,
			  const char *path)
{
	char tag[TD_ATOM_MAX], p[PATH_MAX_LEN];
	const struct cmd_row *row = NULL;
	uint64_t v;
	int arity = 0, i;
	size_t k;

	memset(c, 0, sizeof(*c));
	if (td_is_atom(d)) {
		if (td_atom(d, tag, path))
			return -1;
	} else {
		if (td_tuple(d, &arity, path))
			return -1;
		if (arity < 2)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: expected a command tuple", path);
		path_fmt(p, sizeof(p), "%s.tag", path);
		if (td_atom(d, tag, p))
			return -1;
		arity--;
	}

	for (k = 0; k < ARRAY_SIZE(cmd_table); k++)
		if (!strcmp(cmd_table[k].name, tag) &&
		    cmd_table[k].arity == arity)
			row = &cmd_table[k];
	if (!row)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: unknown command :%s with %d argument(s)",
				 path, tag, arity);
	c->kind = row->kind;

	switch (c->kind) {
	case CMD_SET_IDS:
		/* uid, gid: ids inside the workload's user namespace */
		for (i = 0; i < arity; i++) {
			path_fmt(p, sizeof(p), "%s.%s[%d]", path, tag, i);
			if (td_uint_max(d, 0, 0xfffffffeULL, &c->mask[i], p))
				return -1;
		}
		return 0;
	case CMD_CAP_DROP_BOUNDING:
	case CMD_CAP_SET_AMBIENT:
	case CMD_CAP_SET_THREAD:
		for (i = 0; i < arity; i++) {
			path_fmt(p, sizeof(p), "%s.%s[%d]", path, tag, i);
			if (td_u64(d, &c->mask[i], p))
				return -1;
		}
		return 0;
	case CMD_SECCOMP_INSTALL:
	case CMD_SECCOMP_NOTIFY_INSTALL:
	case CMD_PTY_IN:
	case CMD_STDIN:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		return td_binary(d, &c->data, &c->len, p);
	case CMD_NOTIFY_REPLY:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		return decode_notify_reply(d, c, p);
	case CMD_NOTIFY_READ:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		return decode_notify_read(d, c, p);
	case CMD_NOTIFY_FD_PATH:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		return decode_notify_fd_path(d, c, p);
	case CMD_PTY_WINSIZE:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		return decode_winsize(d, &c->ws, p);
	case CMD_SIGNAL:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		if (td_uint_max(d, 1, 64, &v, p))
			return -1;
		c->signal = v;
		return 0;
	case CMD_OUTPUT_ACK:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		return td_uint_max(d, 0, LINX_WINDOW_MAX, &c->bytes, p);
	default:
		return 0;
	}
}

/**
 * cmd_free() - release what a command owns (safe on a failed decode)
 * @cmd:	command
 */
void cmd_free(struct linx_cmd *cmd)
{
	size_t i;
	int j;

	free(cmd->data);
	cmd->data = NULL;
	cmd->len = 0;
	free(cmd->ref);
	cmd->ref = NULL;
	cmd->ref_len = 0;
	for (i = 0; i < cmd->nsteps; i++) {
		free(cmd->steps[i].data);
		free(cmd->steps[i].beneath);
		for (j = 0; j < 6; j++)
			free(cmd->steps[i].args[j].data);
	}
	free(cmd->steps);
	cmd->steps = NULL;
	cmd->nsteps = 0;
}

/*
 * padded_copy() - the body followed by LINX_FRAME_PAD zeros, so that ei's
 * fixed-size header reads of a truncated term stay inside our allocation
 * whatever buffer the caller (or the fuzzer) handed us.
 */
static char *padded_copy(const void *buf, size_t len)
{
	char *p = calloc(1, len + LINX_FRAME_PAD);

	if (p && len)
		memcpy(p, buf, len);
	return p;
}

/**
 * cmd_decode() - decode a command frame body
 * @buf:	ETF body
 * @len:	its length
 * @cmd:	result (cmd_free() it, whatever the return value)
 * @err:	stage malformed_command on failure
 *
 * Return: 0 or -1
 */
int cmd_decode(const void *buf, size_t len, struct linx_cmd *cmd,
	       struct linx_err *err)
{
	cleanup_free char *copy = NULL;
	struct tdec d;

	memset(cmd, 0, sizeof(*cmd));
	if (len > LINX_MAX_FRAME)
		return linx_fail(err, EMSGSIZE, STAGE_COMMAND_TOO_BIG,
				 "command: %zu bytes", len);
	copy = padded_copy(buf, len);
	if (!copy)
		return linx_fail(err, ENOMEM, STAGE_MALFORMED_COMMAND,
				 "command: out of memory");
	if (td_init(&d, copy, len, err, STAGE_MALFORMED_COMMAND) ||
	    decode_command(&d, cmd, "command") || td_end(&d, "command"))
		return -1;
	return 0;
}

/* ----------------------------------------------------------------- request */

static void free_strv(char **v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/*
 * decode_string_list() - a list of binaries without NUL bytes into a
 * NULL-terminated array
 */
static int decode_string_list(struct tdec *d, char ***out, size_t *count,
			      const char *path)
{
	char p[PATH_MAX_LEN];
	char **v;
	int arity, i;

	/* ETF maps may repeat a key (the BEAM never does): last one wins */
	free_strv(*out);
	*out = NULL;
	*count = 0;
	if (td_list(d, &arity, path))
		return -1;
	v = calloc((size_t)arity + 1, sizeof(*v));
	if (!v)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	*out = v;
	*count = 0;
	for (i = 0; i < arity; i++) {
		uint8_t *b;
		size_t len;

		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_binary(d, &b, &len, p))
			return -1;
		v[i] = (char *)b;
		*count = i + 1;
		if (memchr(b, 0, len))
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: contains a NUL byte", p);
	}
	return td_list_end(d, path);
}

/*
 * decode_path() - a binary without NUL bytes
 */
static int decode_path(struct tdec *d, char **out, const char *path)
{
	uint8_t *b;
	size_t len;

	free(*out);	/* a repeated key: last one wins */
	*out = NULL;
	if (td_binary(d, &b, &len, path))
		return -1;
	*out = (char *)b;
	if (memchr(b, 0, len))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: contains a NUL byte", path);
	return 0;
}

static int opt_argv(struct tdec *d, struct linx_request *r, const char *path)
{
	if (decode_string_list(d, &r->argv, &r->argc, path))
		return -1;
	if (!r->argc)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected a non-empty list", path);
	return 0;
}

static int opt_env(struct tdec *d, struct linx_request *r, const char *path)
{
	return decode_string_list(d, &r->env, &r->envc, path);
}

static int opt_cwd(struct tdec *d, struct linx_request *r, const char *path)
{
	return decode_path(d, &r->cwd, path);
}

static int opt_cgroup(struct tdec *d, struct linx_request *r,
		      const char *path)
{
	return decode_path(d, &r->cgroup, path);
}

static int opt_namespaces(struct tdec *d, struct linx_request *r,
			  const char *path)
{
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity, i, ns;

	if (td_list(d, &arity, path))
		return -1;
	r->has_namespaces = true;
	r->namespaces = 0;
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_atom(d, atom, p))
			return -1;
		ns = ns_by_atom(atom);
		if (ns < 0)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: unknown namespace :%s", p, atom);
		r->namespaces |= 1u << ns;
	}
	return td_list_end(d, path);
}

static int opt_target(struct tdec *d, struct linx_request *r,
		      const char *path)
{
	uint64_t v;

	/* pid_max is at most 2^22 (PID_MAX_LIMIT); anything in int range */
	if (td_uint_max(d, 1, 0x7fffffff, &v, path))
		return -1;
	r->target = v;
	return 0;
}

/*
 * decode_stdio_one() - :inherit | :devnull | :pipe | {:connect_unix, path}
 */
static int decode_stdio_one(struct tdec *d, struct linx_stdio *s,
			    const char *path)
{
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity;

	if (td_is_atom(d)) {
		if (td_atom(d, atom, path))
			return -1;
		if (!strcmp(atom, "inherit"))
			s->mode = STDIO_INHERIT;
		else if (!strcmp(atom, "devnull"))
			s->mode = STDIO_DEVNULL;
		else if (!strcmp(atom, "pipe"))
			s->mode = STDIO_PIPE;
		else
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: unknown stdio mode :%s", path,
					 atom);
		return 0;
	}
	if (td_tuple(d, &arity, path))
		return -1;
	path_fmt(p, sizeof(p), "%s.tag", path);
	if (arity != 2 || td_atom(d, atom, p) || strcmp(atom, "connect_unix"))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {:connect_unix, path}", path);
	path_fmt(p, sizeof(p), "%s.connect_unix", path);
	free(s->path);
	s->path = NULL;
	s->mode = STDIO_CONNECT_UNIX;
	return decode_path(d, &s->path, p);
}

static int opt_stdio(struct tdec *d, struct linx_request *r, const char *path)
{
	static const char *const fds[3] = { "stdin", "stdout", "stderr" };
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity, i, n, fd;

	if (td_is_atom(d)) {
		if (td_atom(d, atom, path))
			return -1;
		r->pty = false;
		if (!strcmp(atom, "pty")) {
			r->pty = true;
			return 0;
		}
		if (!strcmp(atom, "inherit"))
			n = STDIO_INHERIT;
		else if (!strcmp(atom, "devnull"))
			n = STDIO_DEVNULL;
		else if (!strcmp(atom, "pipe"))
			n = STDIO_PIPE;
		else
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: unknown stdio mode :%s", path,
					 atom);
		for (fd = 0; fd < 3; fd++)
			r->stdio[fd].mode = n;
		return 0;
	}

	if (td_list(d, &arity, path))
		return -1;
	r->pty = false;
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_tuple(d, &n, p))
			return -1;
		if (n != 2)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: expected {key, mode}", p);
		if (td_atom(d, atom, p))
			return -1;
		for (fd = 0; fd < 3; fd++)
			if (!strcmp(atom, fds[fd]))
				break;
		if (fd == 3)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: unknown stdio key :%s", p, atom);
		path_fmt(p, sizeof(p), "%s.%s", path, fds[fd]);
		if (decode_stdio_one(d, &r->stdio[fd], p))
			return -1;
	}
	return td_list_end(d, path);
}

static int opt_no_new_privs(struct tdec *d, struct linx_request *r,
			    const char *path)
{
	return td_bool(d, &r->no_new_privs, path);
}

static int opt_on_exit(struct tdec *d, struct linx_request *r,
		       const char *path)
{
	char atom[TD_ATOM_MAX];

	if (td_atom(d, atom, path))
		return -1;
	if (!strcmp(atom, "kill"))
		r->on_exit = ON_EXIT_KILL;
	else if (!strcmp(atom, "detach"))
		r->on_exit = ON_EXIT_DETACH;
	else
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected :kill or :detach, got :%s",
				 path, atom);
	return 0;
}

static int opt_checkpoint(struct tdec *d, struct linx_request *r,
			  const char *path)
{
	return td_bool(d, &r->checkpoint, path);
}

static int opt_commands(struct tdec *d, struct linx_request *r,
			const char *path)
{
	char p[PATH_MAX_LEN];
	int arity, i;

	if (td_list(d, &arity, path))
		return -1;
	for (i = 0; i < (int)r->ncommands; i++)
		cmd_free(&r->commands[i]);
	free(r->commands);
	r->ncommands = 0;
	r->commands = calloc(arity ? arity : 1, sizeof(*r->commands));
	if (!r->commands)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	for (i = 0; i < arity; i++) {
		struct linx_cmd *c = &r->commands[i];

		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		r->ncommands = i + 1;
		if (decode_command(d, c, p))
			return -1;
		if (!cmd_is_checkpoint(c->kind))
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: :%s is not a checkpoint command",
					 p, cmd_name(c->kind));
	}
	return td_list_end(d, path);
}

static int opt_winsize(struct tdec *d, struct linx_request *r,
		       const char *path)
{
	r->has_winsize = true;
	return decode_winsize(d, &r->winsize, path);
}

static int opt_stdio_window(struct tdec *d, struct linx_request *r,
			    const char *path)
{
	return td_uint_max(d, LINX_WINDOW_MIN, LINX_WINDOW_MAX,
			   &r->stdio_window, path);
}


/*
 * decode_read_kind() - {:cstring, max} | {:bytes, len} |
 * {:bytes_arg, len_arg_index, max}
 */
static int decode_read_kind(struct tdec *d, struct notify_read *nr,
			    const char *path)
{
	char tag[TD_ATOM_MAX], p[PATH_MAX_LEN];
	uint64_t v;
	int arity;

	if (td_tuple(d, &arity, path))
		return -1;
	path_fmt(p, sizeof(p), "%s.tag", path);
	if (arity < 2 || td_atom(d, tag, p))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {:cstring, max}, {:bytes, len} or "
				 "{:bytes_arg, arg, max}", path);
	path_fmt(p, sizeof(p), "%s.%s", path, tag);
	if (!strcmp(tag, "cstring") && arity == 2) {
		nr->kind = NREAD_CSTRING;
	} else if (!strcmp(tag, "bytes") && arity == 2) {
		nr->kind = NREAD_BYTES;
	} else if (!strcmp(tag, "bytes_arg") && arity == 3) {
		nr->kind = NREAD_BYTES_ARG;
		if (td_uint_max(d, 0, 5, &v, p))
			return -1;
		nr->len_arg = v;
	} else {
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: unknown read kind :%s with %d element(s)",
				 path, tag, arity - 1);
	}
	if (td_uint_max(d, 1, NOTIFY_READ_MAX, &v, p))
		return -1;
	nr->max = v;
	return 0;
}

static int opt_notify_reads(struct tdec *d, struct linx_request *r,
			    const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v;
	int arity, n, i;

	free(r->notify_reads);	/* a repeated key: last one wins */
	r->notify_reads = NULL;
	r->nnotify_reads = 0;
	if (td_list(d, &arity, path))
		return -1;
	r->notify_reads = calloc(arity ? arity : 1, sizeof(*r->notify_reads));
	if (!r->notify_reads)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	for (i = 0; i < arity; i++) {
		struct notify_read *nr = &r->notify_reads[i];

		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_tuple(d, &n, p))
			return -1;
		if (n != 3)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: expected {nr, arg_index, kind}", p);
		if (td_uint_max(d, 0, 0x7fffffff, &v, p))
			return -1;
		nr->nr = v;
		if (td_uint_max(d, 0, 5, &v, p))
			return -1;
		nr->arg = v;
		if (decode_read_kind(d, nr, p))
			return -1;
		r->nnotify_reads = i + 1;
	}
	return td_list_end(d, path);
}

static const struct {
	const char *key;
	int (*decode)(struct tdec *d, struct linx_request *r,
		      const char *path);
} opt_table[] = {
	{ "argv",		opt_argv },
	{ "env",		opt_env },
	{ "cwd",		opt_cwd },
	{ "cgroup",		opt_cgroup },
	{ "namespaces",		opt_namespaces },
	{ "target",		opt_target },
	{ "stdio",		opt_stdio },
	{ "no_new_privs",	opt_no_new_privs },
	{ "on_exit",		opt_on_exit },
	{ "checkpoint",		opt_checkpoint },
	{ "commands",		opt_commands },
	{ "winsize",		opt_winsize },
	{ "notify_reads",	opt_notify_reads },
	{ "stdio_window",	opt_stdio_window },
};

/*
 * decode_opts() - the opts map; unknown keys (and non-atom keys) skipped
 */
static int decode_opts(struct tdec *d, struct linx_request *r)
{
	char key[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity, i;
	size_t k;

	if (td_map(d, &arity, "opts"))
		return -1;
	for (i = 0; i < arity; i++) {
		if (!td_is_atom(d)) {
			if (td_skip(d, "opts.<key>") ||
			    td_skip(d, "opts.<value>"))
				return -1;
			continue;
		}
		if (td_atom(d, key, "opts.<key>"))
			return -1;
		path_fmt(p, sizeof(p), "opts.%.100s", key);
		for (k = 0; k < ARRAY_SIZE(opt_table); k++)
			if (!strcmp(opt_table[k].key, key))
				break;
		if (k == ARRAY_SIZE(opt_table)) {
			if (td_skip(d, p))
				return -1;
			continue;
		}
		if (opt_table[k].decode(d, r, p))
			return -1;
	}

	if (!r->argv)
		return linx_fail(d->err, EINVAL, d->stage,
				 "opts.argv: required key missing");
	if (r->kind == LINX_ENTER && !r->target)
		return linx_fail(d->err, EINVAL, d->stage,
				 "opts.target: required for :enter");
	if (r->kind == LINX_ENTER && !r->has_namespaces)
		r->namespaces = NS_ALL;
	return 0;
}

/*
 * decode_kind_opts() - {:spawn | :enter, opts}
 */
static int decode_kind_opts(struct tdec *d, struct linx_request *r,
			    const char *path)
{
	char tag[TD_ATOM_MAX];
	int arity;

	if (td_tuple(d, &arity, path))
		return -1;
	if (arity != 2)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {:spawn | :enter, opts}", path);
	if (td_atom(d, tag, path))
		return -1;
	if (!strcmp(tag, "spawn"))
		r->kind = LINX_SPAWN;
	else if (!strcmp(tag, "enter"))
		r->kind = LINX_ENTER;
	else
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: unknown request :%s", path, tag);
	return decode_opts(d, r);
}

/**
 * request_decode() - decode the first frame
 * @buf:	ETF body
 * @len:	its length
 * @req:	result (request_free() it, whatever the return value)
 * @err:	stage malformed_request (or request_too_big) on failure
 *
 * Accepts {:spawn, opts}, {:enter, opts} and {:echo, {:spawn|:enter, opts}}.
 *
 * Return: 0 or -1
 */
int request_decode(const void *buf, size_t len, struct linx_request *req,
		   struct linx_err *err)
{
	cleanup_free char *copy = NULL;
	struct tdec d, peek;
	char tag[TD_ATOM_MAX];
	int arity;

	memset(req, 0, sizeof(*req));
	req->checkpoint = true;
	req->on_exit = ON_EXIT_KILL;
	if (len > LINX_MAX_FRAME)
		return linx_fail(err, EMSGSIZE, STAGE_REQUEST_TOO_BIG,
				 "request: %zu bytes", len);
	copy = padded_copy(buf, len);
	if (!copy)
		return linx_fail(err, ENOMEM, STAGE_MALFORMED_REQUEST,
				 "request: out of memory");
	if (td_init(&d, copy, len, err, STAGE_MALFORMED_REQUEST))
		return -1;

	/* Peek at the tag: {:echo, request} wraps a request */
	peek = d;
	if (!td_tuple(&peek, &arity, "request") && arity == 2 &&
	    td_is_atom(&peek) && !td_atom(&peek, tag, "request") &&
	    !strcmp(tag, "echo")) {
		req->echo = true;
		d = peek;
		if (decode_kind_opts(&d, req, "request.echo"))
			return -1;
	} else if (decode_kind_opts(&d, req, "request")) {
		return -1;
	}
	return td_end(&d, "request");
}

/**
 * request_free() - release everything a request owns
 * @req:	request (zeroed afterwards)
 */
void request_free(struct linx_request *req)
{
	size_t i;

	free_strv(req->argv);
	free_strv(req->env);
	free(req->cwd);
	free(req->cgroup);
	for (i = 0; i < 3; i++)
		free(req->stdio[i].path);
	for (i = 0; i < req->ncommands; i++)
		cmd_free(&req->commands[i]);
	free(req->commands);
	free(req->notify_reads);
	memset(req, 0, sizeof(*req));
}

/* ------------------------------------------------------------------ encode */

static int encode_strv(ei_x_buff *x, char **v, size_t n)
{
	size_t i;

	if (n && ei_x_encode_list_header(x, n))
		return -1;
	for (i = 0; i < n; i++)
		if (ei_x_encode_binary(x, v[i], strlen(v[i])))
			return -1;
	return ei_x_encode_empty_list(x);
}

static int encode_winsize(ei_x_buff *x, const struct linx_winsize *ws)
{
	return ei_x_encode_tuple_header(x, 4) ||
	       ei_x_encode_ulong(x, ws->rows) ||
	       ei_x_encode_ulong(x, ws->cols) ||
	       ei_x_encode_ulong(x, ws->xpix) ||
	       ei_x_encode_ulong(x, ws->ypix) ? -1 : 0;
}

static int encode_ns_list(ei_x_buff *x, unsigned mask)
{
	int n = 0, i;

	for (i = 0; i < NS_COUNT; i++)
		n += !!(mask & (1u << i));
	if (n && ei_x_encode_list_header(x, n))
		return -1;
	for (i = 0; i < NS_COUNT; i++)
		if ((mask & (1u << i)) && ei_x_encode_atom(x, ns_table[i].atom))
			return -1;
	return ei_x_encode_empty_list(x);
}

static int encode_call(ei_x_buff *x, const struct notify_step *st)
{
	int i;

	if (ei_x_encode_tuple_header(x, 4) || ei_x_encode_atom(x, "call") ||
	    ei_x_encode_ulong(x, st->nr) ||
	    (st->nargs && ei_x_encode_list_header(x, st->nargs)))
		return -1;
	for (i = 0; i < st->nargs; i++) {
		const struct notify_arg *a = &st->args[i];

		if (a->kind == NARG_INT) {
			if (ei_x_encode_ulonglong(x, a->v))
				return -1;
		} else if (ei_x_encode_tuple_header(x, 2) ||
			   ei_x_encode_atom(x, a->kind == NARG_STR ? "str" :
								    "buf") ||
			   ei_x_encode_binary(x, a->data, a->len)) {
			return -1;
		}
	}
	if (ei_x_encode_empty_list(x) ||
	    ei_x_encode_map_header(x, st->beneath ? 6 : 5) ||
	    ei_x_encode_atom(x, "ns") || encode_ns_list(x, st->ns) ||
	    ei_x_encode_atom(x, "root") || ei_x_encode_boolean(x, st->root) ||
	    ei_x_encode_atom(x, "cwd") || ei_x_encode_boolean(x, st->cwd) ||
	    ei_x_encode_atom(x, "creds") ||
	    (st->creds == NCREDS_FS ? ei_x_encode_atom(x, "caller_fs") :
				      ei_x_encode_boolean(x, st->creds)) ||
	    ei_x_encode_atom(x, "resolve") ||
	    ei_x_encode_atom(x, st->follow ? "follow" : "safe"))
		return -1;
	if (st->beneath &&
	    (ei_x_encode_atom(x, "beneath") ||
	     ei_x_encode_binary(x, st->beneath, st->beneath_len)))
		return -1;
	return 0;
}

static int encode_addfd(ei_x_buff *x, const struct notify_step *st)
{
	int n = st->cloexec + st->send;

	if (ei_x_encode_tuple_header(x, 4) || ei_x_encode_atom(x, "addfd"))
		return -1;
	switch (st->src) {
	case NFD_OPEN:
		if (ei_x_encode_tuple_header(x, 4) ||
		    ei_x_encode_atom(x, "open") ||
		    ei_x_encode_binary(x, st->data, st->len) ||
		    ei_x_encode_ulong(x, st->oflags) ||
		    ei_x_encode_ulong(x, st->mode))
			return -1;
		break;
	case NFD_CONNECT_UNIX:
		if (ei_x_encode_tuple_header(x, 2) ||
		    ei_x_encode_atom(x, "connect_unix") ||
		    ei_x_encode_binary(x, st->data, st->len))
			return -1;
		break;
	default:
		if (ei_x_encode_tuple_header(x, 3) ||
		    ei_x_encode_atom(x, "getfd") ||
		    ei_x_encode_long(x, st->pid) || ei_x_encode_long(x, st->fd))
			return -1;
	}
	if (ei_x_encode_long(x, st->target) ||
	    (n && ei_x_encode_list_header(x, n)) ||
	    (st->cloexec && ei_x_encode_atom(x, "cloexec")) ||
	    (st->send && ei_x_encode_atom(x, "send")))
		return -1;
	return ei_x_encode_empty_list(x);
}

static int encode_step(ei_x_buff *x, const struct notify_step *st)
{
	switch (st->kind) {
	case NSTEP_CONTINUE:
	case NSTEP_RETURN_LAST:
		return ei_x_encode_atom(x, step_name(st->kind));
	case NSTEP_RETURN:
		return ei_x_encode_tuple_header(x, 2) ||
		       ei_x_encode_atom(x, "return") ||
		       ei_x_encode_longlong(x, (int64_t)st->val) ? -1 : 0;
	case NSTEP_ERRNO:
		return ei_x_encode_tuple_header(x, 2) ||
		       ei_x_encode_atom(x, "errno") ||
		       ei_x_encode_long(x, st->err) ? -1 : 0;
	case NSTEP_WRITE:
		return ei_x_encode_tuple_header(x, 3) ||
		       ei_x_encode_atom(x, "write") ||
		       ei_x_encode_ulonglong(x, st->addr) ||
		       ei_x_encode_binary(x, st->data, st->len) ? -1 : 0;
	case NSTEP_CALL:
		return encode_call(x, st);
	case NSTEP_ADDFD:
		return encode_addfd(x, st);
	}
	return -1;
}

static int encode_notify_cmd(const struct linx_cmd *cmd, ei_x_buff *x)
{
	size_t i;

	switch (cmd->kind) {
	case CMD_NOTIFY_REPLY:
		if (ei_x_encode_tuple_header(x, 3) ||
		    ei_x_encode_atom(x, "notify_reply") ||
		    ei_x_encode_ulonglong(x, cmd->id) ||
		    (cmd->nsteps && ei_x_encode_list_header(x, cmd->nsteps)))
			return -1;
		for (i = 0; i < cmd->nsteps; i++)
			if (encode_step(x, &cmd->steps[i]))
				return -1;
		return ei_x_encode_empty_list(x);
	case CMD_NOTIFY_READ:
		return ei_x_encode_tuple_header(x, 6) ||
		       ei_x_encode_atom(x, "notify_read") ||
		       ei_x_append_buf(x, (const char *)cmd->ref,
				       cmd->ref_len) ||
		       ei_x_encode_ulonglong(x, cmd->id) ||
		       ei_x_encode_long(x, cmd->pid) ||
		       ei_x_encode_ulonglong(x, cmd->addr) ||
		       ei_x_encode_ulong(x, cmd->rlen) ? -1 : 0;
	case CMD_NOTIFY_FD_PATH:
		return ei_x_encode_tuple_header(x, 5) ||
		       ei_x_encode_atom(x, "notify_fd_path") ||
		       ei_x_append_buf(x, (const char *)cmd->ref,
				       cmd->ref_len) ||
		       ei_x_encode_ulonglong(x, cmd->id) ||
		       ei_x_encode_long(x, cmd->pid) ||
		       ei_x_encode_long(x, cmd->fd) ? -1 : 0;
	default:
		return -1;
	}
}

/**
 * cmd_encode() - a command as it appears on the wire
 * @cmd:	command
 * @x:		buffer to append to
 *
 * Return: 0 or -1
 */
int cmd_encode(const struct linx_cmd *cmd, ei_x_buff *x)
{
	const char *name = cmd_name(cmd->kind);
	int i;

	switch (cmd->kind) {
	case CMD_PROCEED:
	case CMD_ABORT:
	case CMD_CAPS_QUERY:
	case CMD_CLOSE_STDIN:
		return ei_x_encode_atom(x, name);
	case CMD_SET_IDS:
	case CMD_CAP_DROP_BOUNDING:
	case CMD_CAP_SET_AMBIENT:
	case CMD_CAP_SET_THREAD: {
		int n = cmd->kind == CMD_CAP_SET_THREAD ? 3 :
			cmd->kind == CMD_SET_IDS	 ? 2 :
							   1;

		if (ei_x_encode_tuple_header(x, n + 1) ||
		    ei_x_encode_atom(x, name))
			return -1;
		for (i = 0; i < n; i++)
			if (ei_x_encode_ulonglong(x, cmd->mask[i]))
				return -1;
		return 0;
	}
	case CMD_SECCOMP_INSTALL:
	case CMD_SECCOMP_NOTIFY_INSTALL:
	case CMD_PTY_IN:
	case CMD_STDIN:
		return ei_x_encode_tuple_header(x, 2) ||
		       ei_x_encode_atom(x, name) ||
		       ei_x_encode_binary(x, cmd->data, cmd->len) ? -1 : 0;
	case CMD_PTY_WINSIZE:
		return ei_x_encode_tuple_header(x, 2) ||
		       ei_x_encode_atom(x, name) ||
		       encode_winsize(x, &cmd->ws) ? -1 : 0;
	case CMD_SIGNAL:
		return ei_x_encode_tuple_header(x, 2) ||
		       ei_x_encode_atom(x, name) ||
		       ei_x_encode_long(x, cmd->signal) ? -1 : 0;
	case CMD_OUTPUT_ACK:
		return ei_x_encode_tuple_header(x, 2) ||
		       ei_x_encode_atom(x, name) ||
		       ei_x_encode_ulonglong(x, cmd->bytes) ? -1 : 0;
	case CMD_NOTIFY_REPLY:
	case CMD_NOTIFY_READ:
	case CMD_NOTIFY_FD_PATH:
		return encode_notify_cmd(cmd, x);
	}
	return -1;
}

static int encode_stdio(ei_x_buff *x, const struct linx_request *r)
{
	static const char *const fds[3] = { "stdin", "stdout", "stderr" };
	static const char *const modes[] = {
		[STDIO_INHERIT] = "inherit",
		[STDIO_DEVNULL] = "devnull",
		[STDIO_PIPE] = "pipe",
	};
	int fd;

	if (r->pty)
		return ei_x_encode_atom(x, "pty");
	if (ei_x_encode_list_header(x, 3))
		return -1;
	for (fd = 0; fd < 3; fd++) {
		const struct linx_stdio *s = &r->stdio[fd];

		if (ei_x_encode_tuple_header(x, 2) ||
		    ei_x_encode_atom(x, fds[fd]))
			return -1;
		if (s->mode == STDIO_CONNECT_UNIX) {
			if (ei_x_encode_tuple_header(x, 2) ||
			    ei_x_encode_atom(x, "connect_unix") ||
			    ei_x_encode_binary(x, s->path, strlen(s->path)))
				return -1;
		} else if (ei_x_encode_atom(x, modes[s->mode])) {
			return -1;
		}
	}
	return ei_x_encode_empty_list(x);
}

/**
 * request_echo_encode() - {:decoded, map}, the normalised request
 * @req:	decoded request
 * @x:		fresh buffer (version byte is written here)
 *
 * The map shape is documented at the top of this file.
 *
 * Return: 0 or -1
 */
int request_echo_encode(const struct linx_request *req, ei_x_buff *x)
{
	size_t i;
	int n;

	if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 2) ||
	    ei_x_encode_atom(x, "decoded") || ei_x_encode_map_header(x, 14))
		return -1;

	if (ei_x_encode_atom(x, "kind") ||
	    ei_x_encode_atom(x, req->kind == LINX_SPAWN ? "spawn" : "enter"))
		return -1;

	if (ei_x_encode_atom(x, "argv") ||
	    encode_strv(x, req->argv, req->argc))
		return -1;

	if (ei_x_encode_atom(x, "env") ||
	    (req->env ? encode_strv(x, req->env, req->envc) :
			ei_x_encode_atom(x, "inherit")))
		return -1;

	if (ei_x_encode_atom(x, "cwd") ||
	    (req->cwd ? ei_x_encode_binary(x, req->cwd, strlen(req->cwd)) :
			ei_x_encode_atom(x, "nil")))
		return -1;

	if (ei_x_encode_atom(x, "cgroup") ||
	    (req->cgroup ?
		     ei_x_encode_binary(x, req->cgroup, strlen(req->cgroup)) :
		     ei_x_encode_atom(x, "nil")))
		return -1;

	if (ei_x_encode_atom(x, "namespaces"))
		return -1;
	for (n = 0, i = 0; i < NS_COUNT; i++)
		n += !!(req->namespaces & (1u << i));
	if (n && ei_x_encode_list_header(x, n))
		return -1;
	for (i = 0; i < NS_COUNT; i++)
		if ((req->namespaces & (1u << i)) &&
		    ei_x_encode_atom(x, ns_table[i].atom))
			return -1;
	if (ei_x_encode_empty_list(x))
		return -1;

	if (ei_x_encode_atom(x, "target") ||
	    (req->target ? ei_x_encode_long(x, req->target) :
			   ei_x_encode_atom(x, "nil")))
		return -1;

	if (ei_x_encode_atom(x, "stdio") || encode_stdio(x, req))
		return -1;

	if (ei_x_encode_atom(x, "no_new_privs") ||
	    ei_x_encode_boolean(x, req->no_new_privs))
		return -1;

	if (ei_x_encode_atom(x, "on_exit") ||
	    ei_x_encode_atom(x, req->on_exit == ON_EXIT_KILL ? "kill" :
							       "detach"))
		return -1;

	if (ei_x_encode_atom(x, "checkpoint") ||
	    ei_x_encode_boolean(x, req->checkpoint))
		return -1;

	if (ei_x_encode_atom(x, "commands"))
		return -1;
	if (req->ncommands && ei_x_encode_list_header(x, req->ncommands))
		return -1;
	for (i = 0; i < req->ncommands; i++)
		if (cmd_encode(&req->commands[i], x))
			return -1;
	if (ei_x_encode_empty_list(x))
		return -1;

	if (ei_x_encode_atom(x, "winsize") ||
	    (req->has_winsize ? encode_winsize(x, &req->winsize) :
				ei_x_encode_atom(x, "nil")))
		return -1;

	if (ei_x_encode_atom(x, "stdio_window") ||
	    (req->stdio_window ?
		     ei_x_encode_ulonglong(x, req->stdio_window) :
		     ei_x_encode_atom(x, "nil")))
		return -1;
	return 0;
}
