/*
 * notify_step.c - the steps of {:notify_reply, id, steps}: :continue,
 * {:return, v}, {:errno, e}, :return_last, {:write, addr, bytes},
 * {:call, nr, args, ctx} and {:addfd, source, target, flags}, decoded
 * (one {tag, arity, decoder} row each) and re-encoded. Part of the
 * notify grammar (notify_wire.h); notify_wire.c holds the commands.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "notify_wire.h"
#include "ns.h"
#include "util.h"

/* Largest errno a seccomp response may carry (MAX_ERRNO) */
#define NOTIFY_MAX_ERRNO 4095

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

	if (decode_tagged(d, tag, &arity, path, "an fd source tuple"))
		return -1;
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

/**
 * nstep_name() - the wire tag of a step
 * @kind:	enum notify_step_kind
 *
 * Return: atom text
 */
const char *nstep_name(int kind)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(step_table); i++)
		if ((int)step_table[i].kind == kind)
			return step_table[i].name;
	return "unknown";
}

/**
 * nstep_is_response() - does this step answer the caller?
 * @st:		step
 *
 * Return: true for :continue, :return, :errno, :return_last and an
 * :addfd with :send
 */
bool nstep_is_response(const struct notify_step *st)
{
	return st->kind >= NSTEP_CONTINUE ||
	       (st->kind == NSTEP_ADDFD && st->send);
}

/**
 * nstep_decode() - one step of a reply
 * @d:		cursor
 * @st:		result (nstep_free_all() releases what it holds)
 * @path:	for error messages
 *
 * Return: 0 or -1
 */
int nstep_decode(struct tdec *d, struct notify_step *st, const char *path)
{
	char tag[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity = 0;
	size_t k;

	if (td_is_atom(d)) {
		if (td_atom(d, tag, path))
			return -1;
	} else {
		if (decode_tagged(d, tag, &arity, path, "a step"))
			return -1;
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


/**
 * nstep_free_all() - release the steps of a reply (safe on a failed decode)
 * @steps:	steps, or NULL
 * @n:		how many were (partly) decoded
 */
void nstep_free_all(struct notify_step *steps, size_t n)
{
	size_t i;
	int j;

	for (i = 0; i < n; i++) {
		free(steps[i].data);
		free(steps[i].beneath);
		for (j = 0; j < 6; j++)
			free(steps[i].args[j].data);
	}
	free(steps);
}


/* ------------------------------------------------------------------ encode */

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

/**
 * nstep_encode() - one step as it appears on the wire
 * @x:		buffer
 * @st:		step
 *
 * Return: 0 or -1
 */
int nstep_encode(ei_x_buff *x, const struct notify_step *st)
{
	switch (st->kind) {
	case NSTEP_CONTINUE:
	case NSTEP_RETURN_LAST:
		return ei_x_encode_atom(x, nstep_name(st->kind));
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

