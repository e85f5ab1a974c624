/*
 * notify_path.c - the path arguments of a {:call, ...} step, resolved the
 * way a call made on someone else's behalf must resolve them.
 *
 * DOC: Why
 *
 * A rule checks the *copy* of the caller's path ({:under, dir} is
 * lexical); the helper then hands that string to the kernel, which
 * resolves it again, in a filesystem the caller can change under it. A
 * caller that swaps a component for a symlink between the check and the
 * helper's call (or that names `dir/link/../x`, a procfs magic link, an
 * absolute symlink inside its chroot) makes the helper, with the agent's
 * privileges, act outside the directory the rule allowed: the class of
 * bug LXD and seitan designed around.
 *
 * So, by default (ctx resolve: :safe), for a call this table knows:
 *  - a legacy call (mknod, chown, rename...) becomes its *at form;
 *  - each (dirfd, path) pair whose path is a string is split into a
 *    parent and a last component; the parent is opened O_PATH with
 *    openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) and
 *    RESOLVE_IN_ROOT from the caller's root (an absolute path),
 *    RESOLVE_BENEATH from its cwd or the caller's own dirfd (a relative
 *    one), or RESOLVE_BENEATH from ctx beneath: (which then every path
 *    must lie under, lexically);
 *  - the call runs on that descriptor and the last component, with
 *    AT_SYMLINK_NOFOLLOW / O_NOFOLLOW added where the call has it (and
 *    linkat's AT_SYMLINK_FOLLOW removed; fchmodat becomes fchmodat2,
 *    which has the flag);
 *  - mount's target is opened whole (O_PATH | O_NOFOLLOW, same
 *    resolution) and given as /proc/self/fd/N of the helper.
 * A later step of the same reply naming the same path reuses the parent
 * descriptor (notify_call.c keeps it): the object a step created is not
 * looked up through a path twice.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "notify_path.h"
#include "util.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* The resolution every lookup on the caller's behalf gets */
#define NPATH_RESOLVE (RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

/* Argument sources in the table: a rule argument index, or these */
#define FDCWD (-1)	/* AT_FDCWD (a legacy call's implicit dirfd) */
#define K (-2)		/* the constant in the entry's cval */

#define NOFOLLOW_AT 0x100	/* AT_SYMLINK_NOFOLLOW */
#define FOLLOW_AT 0x400		/* AT_SYMLINK_FOLLOW */
#define REMOVEDIR_AT 0x200	/* AT_REMOVEDIR */

/**
 * struct npath_call - how one call takes paths
 * @nr:		the call as a rule names it (x86_64)
 * @at_nr:	the call the helper makes
 * @nat:	@at_nr's argument count
 * @src:	per argument of @at_nr: the rule's argument index, FDCWD or K
 * @flags_arg:	@at_nr's flags argument, or -1
 * @cval:	the constants of K arguments
 * @pairs:	(dirfd, path) argument indexes of @at_nr ({-1, -1}: none;
 *		dirfd -1 with a path: no dirfd, AT_FDCWD semantics)
 * @set:	flags added
 * @clear:	flags removed
 * @full:	resolve the object itself, not its parent (mount's target)
 */
struct npath_call {
	uint32_t nr, at_nr;
	int nat;
	int src[6];
	int flags_arg;
	uint64_t cval[6];
	int pairs[NPATH_MAX_PAIRS][2];
	uint64_t set, clear;
	bool full;
};

#define P1(d, p) { { d, p }, { -1, -1 } }
#define P2(d1, p1, d2, p2) { { d1, p1 }, { d2, p2 } }

static const struct npath_call npath_table[] = {
	/* mknodat(dirfd, path, mode, dev) */
	{ 259, 259, 4, { 0, 1, 2, 3 }, -1, { 0 }, P1(0, 1), 0, 0, false },
	{ 133, 259, 4, { FDCWD, 0, 1, 2 }, -1, { 0 }, P1(0, 1), 0, 0, false },
	/* mkdirat(dirfd, path, mode) */
	{ 258, 258, 3, { 0, 1, 2 }, -1, { 0 }, P1(0, 1), 0, 0, false },
	{ 83, 258, 3, { FDCWD, 0, 1 }, -1, { 0 }, P1(0, 1), 0, 0, false },
	/* fchownat(dirfd, path, uid, gid, flags); chown, lchown */
	{ 260, 260, 5, { 0, 1, 2, 3, 4 }, 4, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	{ 92, 260, 5, { FDCWD, 0, 1, 2, K }, 4, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	{ 94, 260, 5, { FDCWD, 0, 1, 2, K }, 4, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	/* fchmodat2(dirfd, path, mode, flags): fchmodat has no flags */
	{ 452, 452, 4, { 0, 1, 2, 3 }, 3, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	{ 268, 452, 4, { 0, 1, 2, K }, 3, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	{ 90, 452, 4, { FDCWD, 0, 1, K }, 3, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	/* unlinkat(dirfd, path, flags); unlink, rmdir */
	{ 263, 263, 3, { 0, 1, 2 }, -1, { 0 }, P1(0, 1), 0, 0, false },
	{ 87, 263, 3, { FDCWD, 0, K }, -1, { 0 }, P1(0, 1), 0, 0, false },
	{ 84, 263, 3, { FDCWD, 0, K }, -1, { 0, 0, REMOVEDIR_AT },
	  P1(0, 1), 0, 0, false },
	/* openat(dirfd, path, flags, mode); open, creat */
	{ 257, 257, 4, { 0, 1, 2, 3 }, 2, { 0 },
	  P1(0, 1), O_NOFOLLOW, 0, false },
	{ 2, 257, 4, { FDCWD, 0, 1, 2 }, 2, { 0 },
	  P1(0, 1), O_NOFOLLOW, 0, false },
	{ 85, 257, 4, { FDCWD, 0, K, 1 },
	  2, { 0, 0, O_CREAT | O_WRONLY | O_TRUNC },
	  P1(0, 1), O_NOFOLLOW, 0, false },
	/* symlinkat(target, dirfd, path): the target is content, not a path */
	{ 266, 266, 3, { 0, 1, 2 }, -1, { 0 }, P1(1, 2), 0, 0, false },
	{ 88, 266, 3, { 0, FDCWD, 1 }, -1, { 0 }, P1(1, 2), 0, 0, false },
	/* linkat(olddirfd, old, newdirfd, new, flags); link */
	{ 265, 265, 5, { 0, 1, 2, 3, 4 }, 4, { 0 },
	  P2(0, 1, 2, 3), 0, FOLLOW_AT, false },
	{ 86, 265, 5, { FDCWD, 0, FDCWD, 1, K }, 4, { 0 },
	  P2(0, 1, 2, 3), 0, FOLLOW_AT, false },
	/* renameat2(olddirfd, old, newdirfd, new, flags); renameat, rename */
	{ 316, 316, 5, { 0, 1, 2, 3, 4 }, -1, { 0 },
	  P2(0, 1, 2, 3), 0, 0, false },
	{ 264, 316, 5, { 0, 1, 2, 3, K }, -1, { 0 },
	  P2(0, 1, 2, 3), 0, 0, false },
	{ 82, 316, 5, { FDCWD, 0, FDCWD, 1, K }, -1, { 0 },
	  P2(0, 1, 2, 3), 0, 0, false },
	/* utimensat(dirfd, path, times, flags) */
	{ 280, 280, 4, { 0, 1, 2, 3 }, 3, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	/* faccessat2(dirfd, path, mode, flags); faccessat, access */
	{ 439, 439, 4, { 0, 1, 2, 3 }, 3, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	{ 269, 439, 4, { 0, 1, 2, K }, 3, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	{ 21, 439, 4, { FDCWD, 0, 1, K }, 3, { 0 },
	  P1(0, 1), NOFOLLOW_AT, 0, false },
	/* mount(source, target, fstype, flags, data): the target */
	{ 165, 165, 5, { 0, 1, 2, 3, 4 }, -1, { 0 }, P1(-1, 1), 0, 0, true },
};

/**
 * npath_plan() - the call @st becomes under safe resolution
 * @st:		a NSTEP_CALL step
 * @p:		the plan
 *
 * Return: true if @st's call takes paths this table knows and its ctx
 * asks for safe resolution; false: run it as given
 */
bool npath_plan(const struct notify_step *st, struct npath_plan *p)
{
	const struct npath_call *e = NULL;
	size_t i;
	int k;

	if (st->follow)
		return false;
	for (i = 0; i < ARRAY_SIZE(npath_table) && !e; i++)
		if (npath_table[i].nr == st->nr)
			e = &npath_table[i];
	if (!e)
		return false;
	memset(p, 0, sizeof(*p));
	p->nr = e->at_nr;
	p->nargs = e->nat;
	for (k = 0; k < e->nat; k++) {
		struct notify_arg *a = &p->args[k];

		a->kind = NARG_INT;
		if (e->src[k] == FDCWD)
			a->v = (uint64_t)(int64_t)AT_FDCWD;
		else if (e->src[k] == K)
			a->v = e->cval[k];
		else if (e->src[k] < st->nargs)
			*a = st->args[e->src[k]];
		/* else: an argument the rule left out is 0, as unplanned */
	}
	for (k = 0; k < NPATH_MAX_PAIRS && e->pairs[k][1] >= 0; k++) {
		p->dirfd[k] = e->pairs[k][0];
		p->path[k] = e->pairs[k][1];
	}
	p->npairs = k;
	p->full = e->full;
	p->flags_arg = e->flags_arg;
	p->set = e->set;
	p->clear = e->clear;
	return true;
}

/**
 * npath_pair_resolves() - is pair @k's path a string the helper resolves
 * (rather than a pointer value, e.g. utimensat's NULL)?
 * @p:		plan
 * @k:		pair index
 */
bool npath_pair_resolves(const struct npath_plan *p, int k)
{
	return p->args[p->path[k]].kind == NARG_STR;
}

/**
 * npath_dirfd_value() - pair @k's dirfd as a C int
 * @p:		plan
 * @k:		pair index
 *
 * Return: AT_FDCWD for a pair without dirfd, INT_MIN for a dirfd that
 * is not an integer (never a descriptor: EBADF)
 */
int npath_dirfd_value(const struct npath_plan *p, int k)
{
	const struct notify_arg *a;

	if (p->dirfd[k] < 0)
		return AT_FDCWD;
	a = &p->args[p->dirfd[k]];
	if (a->kind != NARG_INT)
		return INT_MIN;
	return (int)(int32_t)(uint32_t)a->v;
}

/**
 * npath_split() - @path (from byte @skip) into a parent and a last
 * component, in @buf
 * @path:	the path
 * @skip:	bytes of @path already consumed (a beneath: prefix)
 * @buf:	room for the copy; on return the parent, NUL-terminated
 *		("." when the path has a single component, "/" for "/x")
 * @cap:	its size
 * @last:	on return, the last component (inside @buf, or @path)
 *
 * Trailing slashes are dropped: a trailing slash would make the kernel
 * follow a symlink in last place.
 *
 * Return: 0, or -1 with errno ENOENT (empty), ENAMETOOLONG, or EINVAL (a
 * last component ".", ".." or none: "/")
 */
int npath_split(const char *path, size_t skip, char *buf, size_t cap,
		const char **last)
{
	size_t n = strlen(path + skip);
	char *slash;

	if (!n) {
		errno = ENOENT;
		return -1;
	}
	if (n + 2 > cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path + skip, n + 1);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash) {
		/* "x": the parent is "."; move x after it */
		memmove(buf + 2, buf, n + 1);
		buf[0] = '.';
		buf[1] = '\0';
		*last = buf + 2;
	} else {
		*last = slash + 1;
		if (slash == buf) {
			/* "/x": the parent is "/"; shift x one byte on */
			memmove(buf + 2, slash + 1, strlen(slash + 1) + 1);
			buf[1] = '\0';
			*last = buf + 2;
		} else {
			*slash = '\0';
		}
	}
	if (!**last || !strcmp(*last, ".") || !strcmp(*last, "..")) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int openat2_path(int base, const char *path, uint64_t flags,
			uint64_t resolve)
{
	struct open_how how = {
		.flags = flags | O_PATH | O_CLOEXEC,
		.resolve = resolve | NPATH_RESOLVE,
	};

	return (int)syscall(SYS_openat2, base, path, &how, sizeof(how));
}

/*
 * open_object() - the object @path names itself (mount's target); a
 * symlink in last place is refused too: O_PATH | O_NOFOLLOW would open
 * the link, not fail
 */
static int open_object(int base, const char *path, uint64_t resolve)
{
	int fd = openat2_path(base, path, O_NOFOLLOW, resolve);
	struct stat sb;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) || S_ISLNK(sb.st_mode)) {
		close(fd);
		errno = ELOOP;
		return -1;
	}
	return fd;
}

/**
 * npath_open_beneath() - ctx beneath:, opened from the caller's root
 * without following symlinks
 * @root:	the caller's root
 * @path:	absolute path of the directory
 *
 * Return: an O_PATH descriptor, or -1 with errno
 */
int npath_open_beneath(int root, const char *path)
{
	return openat2_path(root, path, O_DIRECTORY, RESOLVE_IN_ROOT);
}

/*
 * beneath_rest() - the part of @path after the beneath: directory @dir,
 * or NULL if @path does not lie strictly under it (lexically)
 */
static const char *beneath_rest(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (path[0] != '/')
		return NULL;
	if (n == 1)
		n = 0;		/* beneath: "/" */
	if (strncmp(path, dir, n) || (path[n] && path[n] != '/'))
		return NULL;
	path += n;
	while (*path == '/')
		path++;
	return *path ? path : NULL;
}

/**
 * npath_resolve() - open what pair @k of @p names, safely
 * @b:		where to resolve from
 * @p:		plan
 * @k:		pair index (its path is a string)
 * @kept:	the parent directory an earlier step resolved for the same
 *		path, or -1: the path is checked and split, not looked up
 * @buf:	room for the split path
 * @cap:	its size
 * @last:	on return, the last component to pass the call (not set
 *		for a @p->full pair)
 *
 * Return: an O_PATH descriptor of the parent directory (of the object
 * itself for @p->full; @kept if given), or -1 with errno: ELOOP (a symlink or magic
 * link on the way), EXDEV (a path out of beneath: or a relative path
 * climbing out of its directory), EBADF (a dirfd that is not one of the
 * caller's), those of npath_split() and openat2
 */
int npath_resolve(const struct npath_base *b, const struct npath_plan *p,
		  int k, int kept, char *buf, size_t cap, const char **last)
{
	const char *path = (const char *)p->args[p->path[k]].data;
	int dv = npath_dirfd_value(p, k), base;
	uint64_t resolve;
	size_t skip = 0;

	if (!*path) {
		errno = ENOENT;
		return -1;
	}
	if (b->beneath >= 0) {
		const char *rest = beneath_rest(b->beneath_path, path);

		if (!rest) {
			errno = EXDEV;
			return -1;
		}
		skip = rest - path;
		base = b->beneath;
		resolve = RESOLVE_BENEATH;
	} else if (path[0] == '/') {
		base = b->root;
		resolve = RESOLVE_IN_ROOT;
	} else if (dv == AT_FDCWD) {
		base = b->cwd;
		resolve = RESOLVE_BENEATH;
	} else {
		base = b->caller_dirfd[k];
		resolve = RESOLVE_BENEATH;
		if (base < 0) {
			errno = EBADF;
			return -1;
		}
	}
	if (p->full)
		return open_object(base, path + skip, resolve);
	if (npath_split(path, skip, buf, cap, last))
		return -1;
	if (kept >= 0)
		return kept;
	return openat2_path(base, buf, O_DIRECTORY, resolve);
}

/**
 * npath_apply_flags() - add the no-follow flag (or remove linkat's
 * follow flag) in the call's flags argument
 * @p:		plan
 *
 * Return: 0, or -1 with EINVAL if the flags argument is not an integer
 */
int npath_apply_flags(struct npath_plan *p)
{
	struct notify_arg *a;

	if (p->flags_arg < 0)
		return 0;
	a = &p->args[p->flags_arg];
	if (a->kind != NARG_INT) {
		errno = EINVAL;
		return -1;
	}
	a->v = (a->v | p->set) & ~p->clear;
	return 0;
}
