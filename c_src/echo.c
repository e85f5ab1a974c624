/*
 * echo.c - the normalised re-encode of a decoded request, answered to
 * {:echo, request}: how the BEAM (and its tests) see what the agent
 * understood. Commands are encoded by their command table rows
 * (command.c), compound terms by term_encode.c.
 *
 * The answer is {:decoded, map}, every key present:
 *
 *   %{kind: :spawn | :enter,
 *     argv: [binary],
 *     env: :inherit | [binary],
 *     cwd: nil | binary | {:pid, n},
 *     cgroup: nil | binary | {:make, binary, :required | :optional},
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
 *     stdio_window: nil | integer,
 *     close_handshake: boolean,
 *     usage: boolean,
 *     uid_map: nil | [{inside, outside, count}],
 *     gid_map: nil | [{inside, outside, count}],
 *     setgroups: nil | :allow | :deny,
 *     resources: %{cgroups_v1: [binary], rlimits: [{name, soft, hard}],
 *                  nice: nil | integer, cpus: nil | [integer],
 *                  timeout: nil | ms, kill_timeout: ms}  (resources_wire.c),
 *     root: :host | :tmpfs | binary,
 *     mounts: [{kind, dst, arg, mode, size, flags}],
 *     hostname: nil | binary,
 *     loopback: boolean,
 *     time_offsets: nil | {monotonic, boottime},
 *     init: boolean,
 *     fds: [{target, {:file, path, [flag]} | {:connect_unix, path}}]
 *          (flags normalised: :read, :write, then :append :create
 *           :truncate :exclusive as set),
 *     landlock: nil | [{:read | :read_write | :execute, path}],
 *     arg0: nil | binary,
 *     pty_modes: [:noecho | :raw]}
 */
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>

#include "echo.h"
#include "term.h"

/*
 * encode_pty_modes() - [:noecho | :raw], in that order
 */
static int encode_pty_modes(ei_x_buff *x, const struct linx_request *r)
{
	if (r->pty_modes & PTY_MODE_NOECHO &&
	    (ei_x_encode_list_header(x, 1) || ei_x_encode_atom(x, "noecho")))
		return -1;
	if (r->pty_modes & PTY_MODE_RAW &&
	    (ei_x_encode_list_header(x, 1) || ei_x_encode_atom(x, "raw")))
		return -1;
	return ei_x_encode_empty_list(x);
}

/*
 * encode_stdio() - :pty | [stdin: m, stdout: m, stderr: m]
 */
static int encode_stdio(ei_x_buff *x, const struct linx_request *r)
{
	static const char *const fds[3] = { "stdin", "stdout", "stderr" };
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
			    ei_x_encode_atom(x, stdio_mode_name(s->mode)) ||
			    ei_x_encode_binary(x, s->path, strlen(s->path)))
				return -1;
		} else if (ei_x_encode_atom(x, stdio_mode_name(s->mode))) {
			return -1;
		}
	}
	return ei_x_encode_empty_list(x);
}

/*
 * encode_id_map() - nil | [{inside, outside, count}]
 */
static int encode_id_map(ei_x_buff *x, const struct idmap_range *r, size_t n)
{
	size_t i;

	if (!r)
		return ei_x_encode_atom(x, "nil");
	if (ei_x_encode_list_header(x, n))
		return -1;
	for (i = 0; i < n; i++)
		if (ei_x_encode_tuple_header(x, 3) ||
		    ei_x_encode_ulong(x, r[i].inside) ||
		    ei_x_encode_ulong(x, r[i].outside) ||
		    ei_x_encode_ulong(x, r[i].count))
			return -1;
	return ei_x_encode_empty_list(x);
}

/*
 * encode_idmaps() - the uid_map, gid_map and setgroups keys
 */
static int encode_idmaps(ei_x_buff *x, const struct idmap_set *m)
{
	static const char *const sg[] = {
		[SETGROUPS_UNSET] = "nil",
		[SETGROUPS_ALLOW] = "allow",
		[SETGROUPS_DENY] = "deny",
	};

	return ei_x_encode_atom(x, "uid_map") ||
	       encode_id_map(x, m->uid, m->nuid) ||
	       ei_x_encode_atom(x, "gid_map") ||
	       encode_id_map(x, m->gid, m->ngid) ||
	       ei_x_encode_atom(x, "setgroups") ||
	       ei_x_encode_atom(x, sg[m->setgroups]) ? -1 : 0;
}

/*
 * encode_mounts() - [{kind, dst, arg, mode, size, flags}], as on the wire
 */
static int encode_mounts(ei_x_buff *x, const struct linx_sandbox *sb)
{
	size_t i;

	if (sb->nmounts && ei_x_encode_list_header(x, sb->nmounts))
		return -1;
	for (i = 0; i < sb->nmounts; i++) {
		const struct mnt_entry *m = &sb->mounts[i];

		if (ei_x_encode_tuple_header(x, 6) ||
		    ei_x_encode_atom(x, mnt_kind_name(m->kind)) ||
		    ei_x_encode_binary(x, m->dst, strlen(m->dst)) ||
		    ei_x_encode_binary(x, m->arg, m->arglen) ||
		    ei_x_encode_ulong(x, m->mode) ||
		    ei_x_encode_ulonglong(x, m->size) ||
		    ei_x_encode_ulong(x, m->flags))
			return -1;
	}
	return ei_x_encode_empty_list(x);
}

/*
 * encode_sandbox() - the root, mounts, hostname, loopback and
 * time_offsets keys
 */
static int encode_sandbox(ei_x_buff *x, const struct linx_sandbox *sb)
{
	static const char *const roots[] = {
		[ROOT_HOST] = "host", [ROOT_TMPFS] = "tmpfs",
	};

	if (ei_x_encode_atom(x, "root") ||
	    (sb->root == ROOT_DIR ?
		     ei_x_encode_binary(x, sb->root_dir, strlen(sb->root_dir)) :
		     ei_x_encode_atom(x, roots[sb->root])))
		return -1;
	if (ei_x_encode_atom(x, "mounts") || encode_mounts(x, sb) ||
	    ei_x_encode_atom(x, "hostname") ||
	    encode_binary_or_nil(x, sb->hostname) ||
	    ei_x_encode_atom(x, "loopback") ||
	    ei_x_encode_boolean(x, sb->loopback) ||
	    ei_x_encode_atom(x, "time_offsets"))
		return -1;
	if (!sb->has_time_offsets)
		return ei_x_encode_atom(x, "nil");
	return ei_x_encode_tuple_header(x, 2) ||
	       ei_x_encode_longlong(x, sb->monotonic) ||
	       ei_x_encode_longlong(x, sb->boottime) ? -1 : 0;
}

/*
 * encode_open_flags() - the flags of {:file, path, flags} as atoms
 */
static int encode_open_flags(ei_x_buff *x, int flags)
{
	static const struct {
		int flag;
		const char *atom;
	} more[] = {
		{ O_APPEND, "append" }, { O_CREAT, "create" },
		{ O_TRUNC, "truncate" }, { O_EXCL, "exclusive" },
	};
	int acc = flags & O_ACCMODE;
	size_t i;

	if (acc != O_WRONLY && ei_x_encode_list_header(x, 1))
		return -1;
	if (acc != O_WRONLY && ei_x_encode_atom(x, "read"))
		return -1;
	if (acc != O_RDONLY && (ei_x_encode_list_header(x, 1) ||
				ei_x_encode_atom(x, "write")))
		return -1;
	for (i = 0; i < sizeof(more) / sizeof(more[0]); i++)
		if ((flags & more[i].flag) &&
		    (ei_x_encode_list_header(x, 1) ||
		     ei_x_encode_atom(x, more[i].atom)))
			return -1;
	return ei_x_encode_empty_list(x);
}

/*
 * encode_fds() - the fds key: [{target, source}]
 */
static int encode_fds(ei_x_buff *x, const struct linx_request *r)
{
	size_t i;

	if (ei_x_encode_atom(x, "fds"))
		return -1;
	for (i = 0; i < r->nfds; i++) {
		const struct linx_passfd *e = &r->fds[i];
		bool file = e->kind == PASSFD_FILE;

		if (ei_x_encode_list_header(x, 1) ||
		    ei_x_encode_tuple_header(x, 2) ||
		    ei_x_encode_long(x, e->target) ||
		    ei_x_encode_tuple_header(x, file ? 3 : 2) ||
		    ei_x_encode_atom(x, file ? "file" : "connect_unix") ||
		    ei_x_encode_binary(x, e->path, strlen(e->path)) ||
		    (file && encode_open_flags(x, e->flags)))
			return -1;
	}
	return ei_x_encode_empty_list(x);
}

/*
 * encode_landlock() - the landlock key: nil | [{class, path}]
 */
static int encode_landlock(ei_x_buff *x, const struct landlock_set *s)
{
	size_t i;

	if (ei_x_encode_atom(x, "landlock"))
		return -1;
	if (!s->rules)
		return ei_x_encode_atom(x, "nil");
	if (ei_x_encode_list_header(x, s->n))
		return -1;
	for (i = 0; i < s->n; i++)
		if (ei_x_encode_tuple_header(x, 2) ||
		    ei_x_encode_atom(x, landlock_class_name(s->rules[i].class)) ||
		    ei_x_encode_binary(x, s->rules[i].path,
				       strlen(s->rules[i].path)))
			return -1;
	return ei_x_encode_empty_list(x);
}


/*
 * encode_cgroup() - nil, the path, or {:make, path, :required | :optional}
 */
static int encode_cgroup(ei_x_buff *x, const struct linx_request *req)
{
	if (req->cgroup_make == CGROUP_GIVEN)
		return encode_binary_or_nil(x, req->cgroup);
	return ei_x_encode_tuple_header(x, 3) ||
	       ei_x_encode_atom(x, "make") ||
	       encode_binary_or_nil(x, req->cgroup) ||
	       ei_x_encode_atom(x, req->cgroup_make == CGROUP_MAKE_REQUIRED ?
				   "required" : "optional");
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

	if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 2) ||
	    ei_x_encode_atom(x, "decoded") || ei_x_encode_map_header(x, 30))
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

	if (ei_x_encode_atom(x, "cwd") || (req->cwd_pid ?
	    ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "pid") ||
	    ei_x_encode_long(x, req->cwd_pid) :
	    encode_binary_or_nil(x, req->cwd)))
		return -1;

	if (ei_x_encode_atom(x, "cgroup") || encode_cgroup(x, req))
		return -1;

	if (ei_x_encode_atom(x, "namespaces") ||
	    encode_ns_list(x, req->namespaces))
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

	if (ei_x_encode_atom(x, "close_handshake") ||
	    ei_x_encode_boolean(x, req->close_handshake))
		return -1;

	if (ei_x_encode_atom(x, "usage") || ei_x_encode_boolean(x, req->usage))
		return -1;

	if (ei_x_encode_atom(x, "resources") ||
	    limits_echo_encode(x, &req->limits))
		return -1;

	if (encode_idmaps(x, &req->idmaps) || encode_sandbox(x, &req->sandbox))
		return -1;

	if (ei_x_encode_atom(x, "init") || ei_x_encode_boolean(x, req->init))
		return -1;

	if (encode_fds(x, req) || encode_landlock(x, &req->landlock))
		return -1;

	if (ei_x_encode_atom(x, "arg0") || encode_binary_or_nil(x, req->arg0))
		return -1;

	return ei_x_encode_atom(x, "pty_modes") || encode_pty_modes(x, req) ?
		       -1 : 0;
}
