/*
 * request_sandbox.c - the request's sandbox keys, decoded (see
 * request_sandbox.h): what the child builds after the id maps (root,
 * mounts, hostname, lo, the time namespace's offsets) and what shapes the
 * process (init, the passed fds, the Landlock rules). Same failure
 * convention as request.c: the path of the offending term, stage
 * malformed_request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request_sandbox.h"
#include "util.h"

/* The wire atoms of enum mnt_kind */
static const char *const mnt_kinds[MNT_KIND_COUNT] = {
	[MNT_BIND] = "bind",
	[MNT_RO_BIND] = "ro_bind",
	[MNT_TMPFS] = "tmpfs",
	[MNT_PROC] = "proc",
	[MNT_DEV] = "dev",
	[MNT_DIR] = "dir",
	[MNT_SYMLINK] = "symlink",
	[MNT_FILE] = "file",
	[MNT_REMOUNT_RO] = "remount_ro",
};

/**
 * mnt_kind_name() - the atom of a mounts: entry's kind
 * @kind:	enum mnt_kind
 *
 * Return: atom text
 */
const char *mnt_kind_name(int kind)
{
	return kind >= 0 && kind < MNT_KIND_COUNT ? mnt_kinds[kind] : "none";
}

int sandbox_opt_root(struct tdec *d, struct linx_request *r, const char *path)
{
	struct linx_sandbox *sb = &r->sandbox;
	char atom[TD_ATOM_MAX];

	free(sb->root_dir);
	sb->root_dir = NULL;
	if (!td_is_atom(d)) {
		sb->root = ROOT_DIR;
		if (decode_path(d, &sb->root_dir, path))
			return -1;
		if (sb->root_dir[0] != '/')
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: expected an absolute path", path);
		return 0;
	}
	if (td_atom(d, atom, path))
		return -1;
	if (!strcmp(atom, "host"))
		sb->root = ROOT_HOST;
	else if (!strcmp(atom, "tmpfs"))
		sb->root = ROOT_TMPFS;
	else
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected :host, :tmpfs or a path, got :%s",
				 path, atom);
	return 0;
}

/*
 * decode_mnt_kind() - the tag of an entry
 */
static int decode_mnt_kind(struct tdec *d, int *kind, const char *path)
{
	char atom[TD_ATOM_MAX];
	int k;

	if (td_atom(d, atom, path))
		return -1;
	for (k = 0; k < MNT_KIND_COUNT; k++)
		if (!strcmp(atom, mnt_kinds[k])) {
			*kind = k;
			return 0;
		}
	return linx_fail(d->err, EINVAL, d->stage,
			 "%s: unknown mount kind :%s", path, atom);
}

/*
 * decode_mnt_entry() - {kind, dst, arg, mode, size, flags}
 * (docs/protocol.md, "mounts"); the tmpfs data string is made here
 */
static int decode_mnt_entry(struct tdec *d, struct mnt_entry *m,
			    const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v[3];
	uint8_t *arg;
	int arity;

	if (td_tuple(d, &arity, path))
		return -1;
	if (arity != 6)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {kind, dst, arg, mode, size, flags}",
				 path);
	path_fmt(p, sizeof(p), "%s.kind", path);
	if (decode_mnt_kind(d, &m->kind, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.dst", path);
	if (decode_path(d, &m->dst, p))
		return -1;
	if (m->dst[0] != '/')
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected an absolute path", p);
	path_fmt(p, sizeof(p), "%s.arg", path);
	if (td_binary(d, &arg, &m->arglen, p))
		return -1;
	m->arg = (char *)arg;
	if (m->kind != MNT_FILE && memchr(arg, 0, m->arglen))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: contains a NUL byte", p);
	if ((m->kind == MNT_BIND || m->kind == MNT_RO_BIND ||
	     m->kind == MNT_SYMLINK) && !m->arglen)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected a non-empty path", p);
	path_fmt(p, sizeof(p), "%s.mode", path);
	if (td_uint_max(d, 0, 07777, &v[0], p))
		return -1;
	path_fmt(p, sizeof(p), "%s.size", path);
	if (td_u64(d, &v[1], p))
		return -1;
	path_fmt(p, sizeof(p), "%s.flags", path);
	if (td_uint_max(d, 0, MNT_F_ALL, &v[2], p))
		return -1;
	m->mode = v[0];
	m->size = v[1];
	m->flags = v[2];
	if (m->kind == MNT_TMPFS && m->size)
		snprintf(m->data, sizeof(m->data), "mode=0%o,size=%llu",
			 m->mode ? m->mode : 0755,
			 (unsigned long long)m->size);
	else if (m->kind == MNT_TMPFS)
		snprintf(m->data, sizeof(m->data), "mode=0%o",
			 m->mode ? m->mode : 0755);
	return 0;
}

int sandbox_opt_mounts(struct tdec *d, struct linx_request *r,
		       const char *path)
{
	struct linx_sandbox *sb = &r->sandbox;
	char p[PATH_MAX_LEN];
	int arity, i;

	sandbox_free_mounts(sb);
	if (td_list(d, &arity, path))
		return -1;
	if (arity > MOUNTS_MAX)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: at most %d entries, got %d", path,
				 MOUNTS_MAX, arity);
	sb->mounts = calloc(arity ? arity : 1, sizeof(*sb->mounts));
	if (!sb->mounts)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		sb->nmounts = i + 1;
		if (decode_mnt_entry(d, &sb->mounts[i], p))
			return -1;
	}
	return td_list_end(d, path);
}

int sandbox_opt_hostname(struct tdec *d, struct linx_request *r,
			 const char *path)
{
	char **h = &r->sandbox.hostname;

	if (decode_path(d, h, path))
		return -1;
	if (!**h || strlen(*h) > 64)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected 1..64 bytes", path);
	return 0;
}

int sandbox_opt_loopback(struct tdec *d, struct linx_request *r,
			 const char *path)
{
	return td_bool(d, &r->sandbox.loopback, path);
}

/*
 * opt_time_offsets() - {monotonic, boottime}, signed seconds
 */
int sandbox_opt_time_offsets(struct tdec *d, struct linx_request *r,
			     const char *path)
{
	struct linx_sandbox *sb = &r->sandbox;
	char p[PATH_MAX_LEN];
	uint64_t v[2];
	int arity, k;

	if (td_tuple(d, &arity, path))
		return -1;
	if (arity != 2)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {monotonic, boottime}", path);
	for (k = 0; k < 2; k++) {
		path_fmt(p, sizeof(p), "%s.%s", path,
			 k ? "boottime" : "monotonic");
		if (td_i64_bits(d, &v[k], p))
			return -1;
	}
	sb->has_time_offsets = true;
	sb->monotonic = (int64_t)v[0];
	sb->boottime = (int64_t)v[1];
	return 0;
}

int sandbox_opt_init(struct tdec *d, struct linx_request *r, const char *path)
{
	return td_bool(d, &r->init, path);
}

/* The open(2) flags of {:file, path, flags}, by atom */
static const struct {
	const char *atom;
	int flag;
} passfd_flags[] = {
	{ "read", 0 },		/* with :write: O_RDWR, alone: O_RDONLY */
	{ "write", O_WRONLY },
	{ "append", O_APPEND },
	{ "create", O_CREAT },
	{ "truncate", O_TRUNC },
	{ "exclusive", O_EXCL },
};

/*
 * decode_open_flags() - [:read | :write | :append | :create | :truncate |
 * :exclusive], at least one of :read and :write
 */
static int decode_open_flags(struct tdec *d, int *flags, const char *path)
{
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	bool rd = false, wr = false;
	int arity, i;
	size_t k;

	*flags = 0;
	if (td_list(d, &arity, path))
		return -1;
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_atom(d, atom, p))
			return -1;
		for (k = 0; k < ARRAY_SIZE(passfd_flags); k++)
			if (!strcmp(atom, passfd_flags[k].atom))
				break;
		if (k == ARRAY_SIZE(passfd_flags))
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: unknown open flag :%s", p, atom);
		rd |= k == 0;
		wr |= k == 1;
		*flags |= passfd_flags[k].flag;
	}
	if (td_list_end(d, path))
		return -1;
	if (!rd && !wr)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: needs :read or :write", path);
	if (rd && wr)
		*flags = (*flags & ~O_WRONLY) | O_RDWR;
	return 0;
}

/*
 * decode_passfd() - {target, {:file, path, flags} | {:connect_unix, path}}
 */
static int decode_passfd(struct tdec *d, struct linx_passfd *e,
			 const char *path)
{
	char tag[TD_ATOM_MAX], p[PATH_MAX_LEN];
	uint64_t target;
	int arity;

	if (td_tuple(d, &arity, path))
		return -1;
	if (arity != 2)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {target_fd, source}", path);
	path_fmt(p, sizeof(p), "%s.target_fd", path);
	if (td_uint_max(d, 3, PASSFD_TARGET_MAX, &target, p))
		return -1;
	e->target = (int)target;
	path_fmt(p, sizeof(p), "%s.source", path);
	if (decode_tagged(d, tag, &arity, p,
			  "{:file, path, flags} or {:connect_unix, path}"))
		return -1;
	if (!strcmp(tag, "file") && arity == 3) {
		e->kind = PASSFD_FILE;
		path_fmt(p, sizeof(p), "%s.file", path);
		if (decode_path(d, &e->path, p))
			return -1;
		path_fmt(p, sizeof(p), "%s.flags", path);
		return decode_open_flags(d, &e->flags, p);
	}
	if (!strcmp(tag, "connect_unix") && arity == 2) {
		e->kind = PASSFD_CONNECT_UNIX;
		path_fmt(p, sizeof(p), "%s.connect_unix", path);
		return decode_path(d, &e->path, p);
	}
	return linx_fail(d->err, EINVAL, d->stage,
			 "%s: expected {:file, path, flags} or {:connect_unix, path}",
			 p);
}

int sandbox_opt_fds(struct tdec *d, struct linx_request *r, const char *path)
{
	char p[PATH_MAX_LEN];
	int arity, i, j;

	passfd_free(r->fds, r->nfds);	/* a repeated key: last one wins */
	r->fds = NULL;
	r->nfds = 0;
	if (td_list(d, &arity, path))
		return -1;
	if (arity > PASSFD_MAX)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: at most %d entries, got %d", path,
				 PASSFD_MAX, arity);
	r->fds = calloc(arity ? arity : 1, sizeof(*r->fds));
	if (!r->fds)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		r->nfds = i + 1;
		if (decode_passfd(d, &r->fds[i], p))
			return -1;
		for (j = 0; j < i; j++)
			if (r->fds[j].target == r->fds[i].target)
				return linx_fail(d->err, EINVAL, d->stage,
						 "%s: fd %d is given twice", p,
						 r->fds[i].target);
	}
	return td_list_end(d, path);
}

/*
 * opt_landlock() - [{:read | :read_write | :execute, path}], at least one
 */
int sandbox_opt_landlock(struct tdec *d, struct linx_request *r,
			 const char *path)
{
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	struct landlock_rule *rule;
	int arity, i, n, c;

	landlock_free(&r->landlock);	/* a repeated key: last one wins */
	if (td_list(d, &arity, path))
		return -1;
	if (arity < 1 || arity > LANDLOCK_MAX_RULES)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected 1..%d rules, got %d", path,
				 LANDLOCK_MAX_RULES, arity);
	r->landlock.rules = calloc(arity, sizeof(*r->landlock.rules));
	if (!r->landlock.rules)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	for (i = 0; i < arity; i++) {
		rule = &r->landlock.rules[i];
		r->landlock.n = i + 1;
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_tuple(d, &n, p))
			return -1;
		if (n != 2 || td_atom(d, atom, p))
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: expected {:read | :read_write | :execute, path}",
					 p);
		for (c = 0; c < LL_CLASS_COUNT; c++)
			if (!strcmp(atom, landlock_class_name(c)))
				break;
		if (c == LL_CLASS_COUNT)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: unknown access :%s", p, atom);
		rule->class = c;
		path_fmt(p, sizeof(p), "%s[%d].%s", path, i, atom);
		if (decode_path(d, &rule->path, p))
			return -1;
	}
	return td_list_end(d, path);
}

