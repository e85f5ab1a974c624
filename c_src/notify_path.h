/*
 * notify_path.h - the path arguments of a {:call, ...} step, resolved
 * without following anything the caller controls (notify_path.c).
 */
#ifndef LINX_NOTIFY_PATH_H
#define LINX_NOTIFY_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

/* A call takes at most two (dirfd, path) pairs: linkat, renameat2 */
#define NPATH_MAX_PAIRS 2

/**
 * struct npath_plan - the call a step becomes under safe resolution
 * @nr:		the call to make: the *at form of the step's call
 * @nargs:	its argument count
 * @args:	its arguments (data pointers borrowed from the step)
 * @npairs:	how many (dirfd, path) pairs it takes
 * @dirfd:	per pair, the index of its dirfd argument (-1: none, the
 *		path is resolved as if from AT_FDCWD)
 * @path:	per pair, the index of its path argument
 * @full:	the pair names an existing object resolved whole (mount's
 *		target), not a parent directory and a last component
 * @flags_arg:	index of the flags argument, or -1
 * @set:	bits ORed into it (AT_SYMLINK_NOFOLLOW, O_NOFOLLOW)
 * @clear:	bits cleared from it (linkat's AT_SYMLINK_FOLLOW)
 */
struct npath_plan {
	uint32_t nr;
	int nargs;
	struct notify_arg args[6];
	int npairs;
	int dirfd[NPATH_MAX_PAIRS];
	int path[NPATH_MAX_PAIRS];
	bool full;
	int flags_arg;
	uint64_t set, clear;
};

/**
 * struct npath_base - where the helper resolves from
 * @root:	its root (the caller's, after chroot), O_PATH
 * @cwd:	its cwd (the caller's), O_PATH
 * @beneath:	ctx beneath:, O_PATH, or -1
 * @beneath_path: its path as the rule gave it, or NULL
 * @caller_dirfd: per pair, the caller's descriptor named by the dirfd
 *		argument (opened from /proc/TGID/fd), or -1
 */
struct npath_base {
	int root;
	int cwd;
	int beneath;
	const char *beneath_path;
	int caller_dirfd[NPATH_MAX_PAIRS];
};

bool npath_plan(const struct notify_step *st, struct npath_plan *p);
bool npath_pair_resolves(const struct npath_plan *p, int k);
int npath_dirfd_value(const struct npath_plan *p, int k);
int npath_split(const char *path, size_t skip, char *parent, size_t cap,
		const char **last);
int npath_open_beneath(int root, const char *path);
int npath_resolve(const struct npath_base *b, const struct npath_plan *p,
		  int k, int kept, char *buf, size_t cap, const char **last);
int npath_apply_flags(struct npath_plan *p);

#endif /* LINX_NOTIFY_PATH_H */
