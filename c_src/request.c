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
 *     winsize: nil | {rows, cols, xpix, ypix}}
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
	{ "cap_drop_bounding",	1, CMD_CAP_DROP_BOUNDING,	true },
	{ "cap_set_thread",	3, CMD_CAP_SET_THREAD,		true },
	{ "cap_set_ambient",	1, CMD_CAP_SET_AMBIENT,		true },
	{ "seccomp_install",	1, CMD_SECCOMP_INSTALL,		true },
	{ "pty_winsize",	1, CMD_PTY_WINSIZE,		true },
	{ "signal",		1, CMD_SIGNAL,			false },
	{ "pty_in",		1, CMD_PTY_IN,			false },
	{ "stdin",		1, CMD_STDIN,			false },
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
	case CMD_PTY_IN:
	case CMD_STDIN:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		return td_binary(d, &c->data, &c->len, p);
	case CMD_PTY_WINSIZE:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		return decode_winsize(d, &c->ws, p);
	case CMD_SIGNAL:
		path_fmt(p, sizeof(p), "%s.%s", path, tag);
		if (td_uint_max(d, 1, 64, &v, p))
			return -1;
		c->signal = v;
		return 0;
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
	free(cmd->data);
	cmd->data = NULL;
	cmd->len = 0;
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

static const struct {
	const char *key;
	int (*decode)(struct tdec *d, struct linx_request *r,
		      const char *path);
} opt_table[] = {
	{ "argv",		opt_argv },
	{ "env",		opt_env },
	{ "cwd",		opt_cwd },
	{ "namespaces",		opt_namespaces },
	{ "target",		opt_target },
	{ "stdio",		opt_stdio },
	{ "no_new_privs",	opt_no_new_privs },
	{ "on_exit",		opt_on_exit },
	{ "checkpoint",		opt_checkpoint },
	{ "commands",		opt_commands },
	{ "winsize",		opt_winsize },
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
	for (i = 0; i < 3; i++)
		free(req->stdio[i].path);
	for (i = 0; i < req->ncommands; i++)
		cmd_free(&req->commands[i]);
	free(req->commands);
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
	case CMD_CAP_DROP_BOUNDING:
	case CMD_CAP_SET_AMBIENT:
	case CMD_CAP_SET_THREAD: {
		int n = cmd->kind == CMD_CAP_SET_THREAD ? 3 : 1;

		if (ei_x_encode_tuple_header(x, n + 1) ||
		    ei_x_encode_atom(x, name))
			return -1;
		for (i = 0; i < n; i++)
			if (ei_x_encode_ulonglong(x, cmd->mask[i]))
				return -1;
		return 0;
	}
	case CMD_SECCOMP_INSTALL:
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
	    ei_x_encode_atom(x, "decoded") || ei_x_encode_map_header(x, 12))
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
	return 0;
}
