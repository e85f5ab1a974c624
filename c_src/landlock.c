/*
 * landlock.c - Landlock for the workload: the ABI probe and the child's
 * application of the request's rules (see landlock.h).
 *
 * DOC: Landlock in the child
 *
 * The child runs landlock_apply() for the checkpoint command :landlock,
 * the first command of the request: after the id maps and the mounts
 * (so the paths are the ones the workload will see, and no mount is
 * needed any more: a Landlock domain forbids changing the mount
 * topology), before set_ids and the capability commands (the child still
 * holds CAP_SYS_ADMIN in its user namespace, which landlock_restrict_self
 * accepts instead of no_new_privs), and before the seccomp filters (which
 * then need not allow the landlock calls).
 *
 * Should: handle every filesystem right the running kernel's ABI knows,
 * so that whatever the rules do not grant is denied; open each path with
 * O_PATH as the child sees it; give a non-directory only the rights that
 * apply to files (the kernel refuses directory rights on a file: EINVAL).
 * Mustn't: skip anything silently: a kernel without Landlock (ENOSYS: not
 * built; EOPNOTSUPP: disabled at boot) is EOPNOTSUPP at stage :landlock,
 * a missing path is its open's errno, both with the path in the message;
 * allocate (it runs after the clone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
/* Rights newer than Debian 12's headers (ABI 3 and 5) */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

/* ABI 1's rights: EXECUTE through MAKE_SYM, bits 0..12 */
#define LL_ABI1_RIGHTS ((1ULL << 13) - 1)

/* What a rule on a non-directory may hold (the kernel's ACCESS_FILE) */
#define LL_FILE_RIGHTS                                                 \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |  \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |  \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define LL_READ_RIGHTS \
	(LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

static const char *const class_names[LL_CLASS_COUNT] = {
	[LL_READ] = "read",
	[LL_READ_WRITE] = "read_write",
	[LL_EXECUTE] = "execute",
};

/**
 * landlock_class_name() - the wire atom of an access class
 * @c:		enum landlock_class
 *
 * Return: atom text, NULL past the last class
 */
const char *landlock_class_name(enum landlock_class c)
{
	return (unsigned)c < LL_CLASS_COUNT ? class_names[c] : NULL;
}

/**
 * landlock_fs_rights() - the filesystem rights a Landlock ABI knows
 * @abi:	the kernel's ABI version (landlock_abi())
 *
 * ABI 1: the 13 basic rights; 2 adds REFER; 3 TRUNCATE; 5 IOCTL_DEV (4
 * and 6 added network and scoping rights, which the landlock option does
 * not handle; 7 logging flags).
 *
 * Return: the mask to handle, 0 for an ABI below 1
 */
uint64_t landlock_fs_rights(int abi)
{
	uint64_t m = 0;

	if (abi >= 1)
		m |= LL_ABI1_RIGHTS;
	if (abi >= 2)
		m |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		m |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		m |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return m;
}

/**
 * landlock_class_rights() - the rights an access class grants beneath a
 * path (before masking with the ABI's and, for a file, the file rights)
 * @c:		enum landlock_class
 *
 * read: read files, list directories. execute: execve files (a dynamic
 * executable needs read on its loader and libraries too). read_write:
 * read plus every right that writes: write, truncate, create, remove,
 * link or rename into (REFER), device ioctls.
 *
 * Return: the mask
 */
uint64_t landlock_class_rights(enum landlock_class c)
{
	switch (c) {
	case LL_READ:
		return LL_READ_RIGHTS;
	case LL_EXECUTE:
		return LANDLOCK_ACCESS_FS_EXECUTE;
	case LL_READ_WRITE:
		return landlock_fs_rights(5) & ~LANDLOCK_ACCESS_FS_EXECUTE;
	default:
		return 0;
	}
}

/**
 * landlock_abi_result() - what the ABI probe's answer means (pure, so the
 * "no Landlock" answers are unit-tested without such a kernel)
 * @ret:	landlock_create_ruleset(NULL, 0, VERSION)'s return value
 * @errnum:	its errno when @ret < 0
 * @err:	filled when there is no usable Landlock
 *
 * ENOSYS (not built in) and EOPNOTSUPP (built in, disabled at boot) both
 * mean "this kernel has no Landlock": EOPNOTSUPP at stage :landlock.
 *
 * Return: the ABI version (>= 1), or -1
 */
int landlock_abi_result(long ret, int errnum, struct linx_err *err)
{
	if (ret >= 1)
		return ret > 0x7fff ? 0x7fff : (int)ret;
	if (ret == 0 || errnum == ENOSYS || errnum == EOPNOTSUPP)
		return linx_fail(err, EOPNOTSUPP, STAGE_LANDLOCK,
				 "landlock: not supported by this kernel (%s)",
				 ret == 0 ? "ABI 0" :
				 errnum == ENOSYS ? "ENOSYS: not built in" :
						    "EOPNOTSUPP: disabled at boot");
	return linx_fail(err, errnum, STAGE_LANDLOCK,
			 "landlock: ABI version probe");
}

/**
 * landlock_abi() - probe the running kernel's Landlock ABI
 * @err:	EOPNOTSUPP at stage :landlock without Landlock
 *
 * Return: the ABI version (>= 1), or -1
 */
int landlock_abi(struct linx_err *err)
{
	long ret = syscall(SYS_landlock_create_ruleset, NULL, 0,
			   LANDLOCK_CREATE_RULESET_VERSION);

	return landlock_abi_result(ret, ret < 0 ? errno : 0, err);
}

/*
 * add_rule() - one path_beneath rule: @path opened O_PATH as the child
 * sees it, its rights cut to the file rights unless it is a directory
 */
static int add_rule(int ruleset, const struct landlock_rule *r,
		    uint64_t handled, struct linx_err *err)
{
	struct landlock_path_beneath_attr pb = { .parent_fd = -1 };
	struct stat st;
	int saved;

	pb.parent_fd = open(r->path, O_PATH | O_CLOEXEC);
	if (pb.parent_fd < 0)
		return linx_fail(err, errno, STAGE_LANDLOCK,
				 "landlock: open %s (%s)", r->path,
				 landlock_class_name(r->class));
	pb.allowed_access = landlock_class_rights(r->class) & handled;
	if (!fstat(pb.parent_fd, &st) && !S_ISDIR(st.st_mode))
		pb.allowed_access &= LL_FILE_RIGHTS;
	if (pb.allowed_access &&
	    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
		    &pb, 0)) {
		saved = errno;
		close(pb.parent_fd);
		return linx_fail(err, saved, STAGE_LANDLOCK,
				 "landlock: add rule %s (%s)", r->path,
				 landlock_class_name(r->class));
	}
	close(pb.parent_fd);
	return 0;
}

/**
 * landlock_apply() - restrict the calling process (the child) to @s
 * @s:		the request's rules (at least one)
 * @err:	stage :landlock: EOPNOTSUPP without Landlock, EINVAL without
 *		rules, else the failing call's errno and what it was for
 *
 * Return: 0 or -1
 */
int landlock_apply(const struct landlock_set *s, struct linx_err *err)
{
	struct {
		uint64_t handled_access_fs;
	} attr;
	int abi, ruleset, saved;
	size_t i;

	if (!s || !s->n)
		return linx_fail(err, EINVAL, STAGE_LANDLOCK,
				 "landlock: the request has no landlock rules");
	abi = landlock_abi(err);
	if (abi < 0)
		return -1;
	/* Every right the kernel knows is handled: what no rule grants is denied */
	attr.handled_access_fs = landlock_fs_rights(abi);
	ruleset = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		return linx_fail(err, errno, STAGE_LANDLOCK,
				 "landlock: create ruleset (ABI %d)", abi);
	for (i = 0; i < s->n; i++)
		if (add_rule(ruleset, &s->rules[i], attr.handled_access_fs,
			     err)) {
			close(ruleset);
			return -1;
		}
	/*
	 * Needs no_new_privs or CAP_SYS_ADMIN in our user namespace: the
	 * child still has it here (set_ids and the capability commands come
	 * later) unless it was spawned unprivileged without a user namespace.
	 */
	if (syscall(SYS_landlock_restrict_self, ruleset, 0)) {
		saved = errno;
		close(ruleset);
		return linx_fail(err, saved, STAGE_LANDLOCK,
				 "landlock: restrict self%s", saved == EPERM ?
				 " (needs no_new_privs or CAP_SYS_ADMIN)" : "");
	}
	close(ruleset);
	return 0;
}
