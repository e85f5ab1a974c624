/*
 * request.c - pure decode of the request frame, {:spawn | :enter, opts}
 * or {:echo, request} (see request.h).
 *
 * Decoding is table driven: one handler per opts key. A failure names the
 * path of the offending term ("opts.argv[2]: expected a binary, got an
 * integer") with stage malformed_request. The commands of opts.commands
 * are decoded by command.c, the notify_reads entries by notify_wire.c,
 * the sandbox keys (root, mounts, hostname, ..., init, fds, landlock) by
 * request_sandbox.c, the compound terms (namespace lists, paths, ...) by
 * term_decode.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "notify_prog.h"
#include "ns.h"
#include "request.h"
#include "request_sandbox.h"
#include "term.h"
#include "util.h"

/* The stdio modes that are a bare atom, by enum linx_stdio_mode */
static const char *const stdio_atoms[] = {
	[STDIO_INHERIT] = "inherit",
	[STDIO_DEVNULL] = "devnull",
	[STDIO_PIPE] = "pipe",
	[STDIO_CONNECT_UNIX] = "connect_unix",
};

/**
 * stdio_mode_name() - the atom of a stdio mode
 * @mode:	enum linx_stdio_mode
 *
 * Return: atom text (connect_unix: the tag of its tuple)
 */
const char *stdio_mode_name(enum linx_stdio_mode mode)
{
	return stdio_atoms[mode];
}

/*
 * stdio_mode_by_atom() - :inherit | :devnull | :pipe
 */
static int stdio_mode_by_atom(struct tdec *d, const char *atom,
			      enum linx_stdio_mode *mode, const char *path)
{
	int m;

	for (m = STDIO_INHERIT; m < STDIO_CONNECT_UNIX; m++)
		if (!strcmp(atom, stdio_atoms[m])) {
			*mode = m;
			return 0;
		}
	return linx_fail(d->err, EINVAL, d->stage,
			 "%s: unknown stdio mode :%s", path, atom);
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

/*
 * is_tuple() - the next term is a tuple: its header is consumed (else
 * nothing is, and no failure is recorded)
 */
static bool is_tuple(struct tdec *d, int *arity, const char *path)
{
	struct tdec peek = *d;
	struct linx_err ignored;

	peek.err = &ignored;
	return !td_tuple(&peek, arity, path) && !td_tuple(d, arity, path);
}

/* cwd: a path, or {:pid, n}: host process n's, found by the agent (spawn.c) */
static int opt_cwd(struct tdec *d, struct linx_request *r, const char *path)
{
	char tag[TD_ATOM_MAX];
	uint64_t pid;
	int arity;

	if (!is_tuple(d, &arity, path))
		return decode_path(d, &r->cwd, path);
	if (arity != 2 || td_atom(d, tag, path) || strcmp(tag, "pid") ||
	    td_uint_max(d, 1, INT32_MAX, &pid, path))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected a path or {:pid, n}", path);
	r->cwd_pid = (long)pid;
	return 0;
}

/*
 * cgroup: a path (a group the BEAM made), or {:make, path, :required |
 * :optional}: the agent makes the group (spawn.c), removes it (agent.c)
 */
static int opt_cgroup(struct tdec *d, struct linx_request *r,
		      const char *path)
{
	char tag[TD_ATOM_MAX], mode[TD_ATOM_MAX];
	int arity;

	if (!is_tuple(d, &arity, path))
		return decode_path(d, &r->cgroup, path);
	if (arity != 3 || td_atom(d, tag, path) || strcmp(tag, "make") ||
	    decode_path(d, &r->cgroup, path) || td_atom(d, mode, path) ||
	    (strcmp(mode, "required") && strcmp(mode, "optional")))
		return linx_fail(d->err, EINVAL, d->stage, "%s: expected a path "
				 "or {:make, path, :required | :optional}", path);
	r->cgroup_make = strcmp(mode, "required") ? CGROUP_MAKE_OPTIONAL :
						    CGROUP_MAKE_REQUIRED;
	return 0;
}

static int opt_namespaces(struct tdec *d, struct linx_request *r,
			  const char *path)
{
	r->has_namespaces = true;
	return decode_ns_list(d, &r->namespaces, path);
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
		return stdio_mode_by_atom(d, atom, &s->mode, path);
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
	enum linx_stdio_mode mode;
	int arity, i, n, fd;

	if (td_is_atom(d)) {
		if (td_atom(d, atom, path))
			return -1;
		r->pty = false;
		if (!strcmp(atom, "pty")) {
			r->pty = true;
			return 0;
		}
		if (stdio_mode_by_atom(d, atom, &mode, path))
			return -1;
		for (fd = 0; fd < 3; fd++)
			r->stdio[fd].mode = mode;
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

static int opt_close_handshake(struct tdec *d, struct linx_request *r,
			       const char *path)
{
	return td_bool(d, &r->close_handshake, path);
}

static int opt_usage(struct tdec *d, struct linx_request *r, const char *path)
{
	return td_bool(d, &r->usage, path);
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
		if (cmd_decode_term(d, c, p))
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

static int opt_notify_reads(struct tdec *d, struct linx_request *r,
			    const char *path)
{
	char p[PATH_MAX_LEN];
	int arity, i;

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
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (nw_read_entry_decode(d, &r->notify_reads[i], p))
			return -1;
		r->nnotify_reads = i + 1;
	}
	return td_list_end(d, path);
}

/*
 * opt_notify_program() - a compiled notify program, refused here (not at
 * the first notification) if nprog_decode() finds anything wrong with it
 */
static int opt_notify_program(struct tdec *d, struct linx_request *r,
			      const char *path)
{
	char why[160];
	struct nprog p;

	free(r->notify_program);	/* a repeated key: last one wins */
	r->notify_program = NULL;
	r->notify_program_len = 0;
	if (td_binary(d, &r->notify_program, &r->notify_program_len, path))
		return -1;
	if (nprog_decode(r->notify_program, r->notify_program_len, &p, why,
			 sizeof(why)))
		return linx_fail(d->err, EINVAL, d->stage, "%s: %s", path,
				 why);
	return 0;
}

static int opt_notify_events(struct tdec *d, struct linx_request *r,
			     const char *path)
{
	return td_bool(d, &r->notify_events, path);
}

static int opt_uid_map(struct tdec *d, struct linx_request *r,
		       const char *path)
{
	return idmap_decode_map(d, &r->idmaps.uid, &r->idmaps.nuid, path);
}

static int opt_gid_map(struct tdec *d, struct linx_request *r,
		       const char *path)
{
	return idmap_decode_map(d, &r->idmaps.gid, &r->idmaps.ngid, path);
}

static int opt_setgroups(struct tdec *d, struct linx_request *r,
			 const char *path)
{
	return idmap_decode_setgroups(d, &r->idmaps.setgroups, path);
}

/* The resource keys, decoded by resources_wire.c */
static int opt_cgroups_v1(struct tdec *d, struct linx_request *r,
			  const char *path)
{
	return limits_decode_cgroups(d, &r->limits, path);
}

static int opt_rlimits(struct tdec *d, struct linx_request *r,
		       const char *path)
{
	return limits_decode_rlimits(d, &r->limits, path);
}

static int opt_nice(struct tdec *d, struct linx_request *r, const char *path)
{
	return limits_decode_nice(d, &r->limits, path);
}

static int opt_cpus(struct tdec *d, struct linx_request *r, const char *path)
{
	return limits_decode_cpus(d, &r->limits, path);
}

static int opt_timeout(struct tdec *d, struct linx_request *r,
		       const char *path)
{
	return limits_decode_timeout(d, &r->limits, path);
}

static int opt_kill_timeout(struct tdec *d, struct linx_request *r,
			    const char *path)
{
	return limits_decode_kill_timeout(d, &r->limits, path);
}

static int opt_arg0(struct tdec *d, struct linx_request *r, const char *path)
{
	return decode_path(d, &r->arg0, path);
}

/*
 * opt_pty_modes() - [:noecho | :raw], the termios changes of a new PTY
 */
static int opt_pty_modes(struct tdec *d, struct linx_request *r,
			 const char *path)
{
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity, i;

	if (td_list(d, &arity, path))
		return -1;
	r->pty_modes = 0;
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_atom(d, atom, p))
			return -1;
		if (!strcmp(atom, "noecho"))
			r->pty_modes |= PTY_MODE_NOECHO;
		else if (!strcmp(atom, "raw"))
			r->pty_modes |= PTY_MODE_RAW;
		else
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: expected :noecho or :raw, got :%s",
					 p, atom);
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
	{ "close_handshake",	opt_close_handshake },
	{ "usage",		opt_usage },
	{ "on_exit",		opt_on_exit },
	{ "checkpoint",		opt_checkpoint },
	{ "commands",		opt_commands },
	{ "winsize",		opt_winsize },
	{ "notify_reads",	opt_notify_reads },
	{ "stdio_window",	opt_stdio_window },
	{ "uid_map",		opt_uid_map },
	{ "gid_map",		opt_gid_map },
	{ "setgroups",		opt_setgroups },
	{ "cgroups_v1",		opt_cgroups_v1 },
	{ "rlimits",		opt_rlimits },
	{ "nice",		opt_nice },
	{ "cpus",		opt_cpus },
	{ "timeout",		opt_timeout },
	{ "kill_timeout",	opt_kill_timeout },
	{ "root",		sandbox_opt_root },
	{ "mounts",		sandbox_opt_mounts },
	{ "hostname",		sandbox_opt_hostname },
	{ "loopback",		sandbox_opt_loopback },
	{ "time_offsets",	sandbox_opt_time_offsets },
	{ "init",		sandbox_opt_init },
	{ "fds",		sandbox_opt_fds },
	{ "landlock",		sandbox_opt_landlock },
	{ "notify_program",	opt_notify_program },
	{ "notify_events",	opt_notify_events },
	{ "arg0",		opt_arg0 },
	{ "pty_modes",		opt_pty_modes },
};

/*
 * check_sandbox() - the sandbox keys only where they cannot touch the
 * host: spawn, with the namespaces they change (Linx.Process adds them;
 * a raw request without them is refused, never applied to the host)
 */
static int check_sandbox(struct tdec *d, const struct linx_request *r)
{
	const struct linx_sandbox *sb = &r->sandbox;
	bool fs = sb->root != ROOT_HOST || sb->nmounts;

	if (r->kind == LINX_ENTER && (fs || sb->hostname ||
				      sb->has_time_offsets))
		return linx_fail(d->err, EINVAL, d->stage,
				 "opts: root, mounts, hostname, time_offsets are for :spawn only");
	if (fs && !(r->namespaces & (1u << NS_MOUNT)))
		return linx_fail(d->err, EINVAL, d->stage,
				 "opts.mounts: root and mounts need :mount in namespaces");
	if (sb->hostname && !(r->namespaces & (1u << NS_UTS)))
		return linx_fail(d->err, EINVAL, d->stage,
				 "opts.hostname: needs :uts in namespaces");
	return 0;
}

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
	if (r->init && (r->kind != LINX_SPAWN ||
			!(r->namespaces & (1u << NS_PID))))
		return linx_fail(d->err, EINVAL, d->stage,
				 "opts.init: needs :spawn with :pid in opts.namespaces");
	return check_sandbox(d, r);
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
	req->limits.kill_timeout_ms = LIMITS_KILL_TIMEOUT_DEFAULT;
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
	free(req->notify_program);
	idmap_free(&req->idmaps);
	limits_free(&req->limits);
	sandbox_free(&req->sandbox);
	passfd_free(req->fds, req->nfds);
	landlock_free(&req->landlock);
	free(req->arg0);
	memset(req, 0, sizeof(*req));
}

