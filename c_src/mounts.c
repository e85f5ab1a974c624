/*
 * mounts.c - the child builds the filesystem and host identity the
 * workload sees (root, mounts, hostname, loopback), and the agent writes
 * the time namespace offsets before the clone.
 *
 * DOC: Theory of operation
 *
 * sandbox_apply() runs in the child, after the agent wrote the id maps
 * (a tmpfs refuses new files whose owner has no id inside: EOVERFLOW)
 * and before the checkpoint commands (set_ids, capabilities, seccomp:
 * every step here needs CAP_SYS_ADMIN in the new namespaces). Like
 * everything in the child it allocates nothing: paths are assembled in
 * stack buffers, tmpfs data strings were made by the decoder.
 *
 * 1. private propagation: mount(NULL, "/", MS_REC | MS_PRIVATE) before
 *    anything else, so no mount made below ever reaches the host's mount
 *    namespace (a shared / would propagate them).
 * 2. scratch root, as bwrap does: a tmpfs on /tmp (of our private copy
 *    of the tree), pivot_root into it. The host's tree is now /oldroot,
 *    untouched, and every source is resolved there: a {:tmpfs, "/dev"}
 *    made earlier cannot hide /dev/null from a later {:dev, …}.
 * 3. the new root at /newroot: a tmpfs (root: :tmpfs), or a recursive
 *    bind of the directory (root: dir) or of / (root: :host).
 * 4. the entries of mounts:, in order, destinations under /newroot. A
 *    missing parent directory is created, but only on a tmpfs made here
 *    (the :tmpfs root, a {:tmpfs}, a {:dev}): Linx never writes to a
 *    filesystem it did not mount (EROFS instead), so nothing is left on
 *    the host, whatever fails. Failure: {errno, {:mount, index}}.
 * 5. {:remount_ro, dst} entries, after all the others (read-only /
 *    would refuse the directories they create).
 * 6. /oldroot detached (MNT_DETACH), then pivot_root into /newroot and
 *    the scratch root detached too: the host's tree is unreachable,
 *    even by ".." or by a descriptor's path (stage :pivot_root).
 * 7. hostname (stage :hostname), lo up in a new net namespace (stage
 *    :loopback).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mounts.h"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_pivot_root
#define SYS_pivot_root 155
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define LNX_MOUNT_ATTR_RDONLY 0x00000001
#define LNX_MOUNT_ATTR_NOSUID 0x00000002
#define LNX_MOUNT_ATTR_NODEV 0x00000004
#define LNX_MOUNT_ATTR_NOEXEC 0x00000008

/* The kernel's struct mount_attr (mount_setattr(2)) */
struct lnx_mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

#define SCRATCH "/tmp"
#define NEWROOT "/newroot"
#define OLDROOT "/oldroot"

/* Longest assembled path (PATH_MAX) */
#define SBX_PATH 4096

/**
 * struct sbx_ctx - the child's bookkeeping while it builds the root
 * @ours:	mount ids of the tmpfs mounts made here: the only
 *		filesystems a directory, file or symlink may be created on
 * @nours:	how many
 */
struct sbx_ctx {
	uint64_t ours[MOUNTS_MAX + 4];
	size_t nours;
};

/*
 * mnt_fail() - fail entry @i with stage {:mount, i}
 */
static int mnt_fail(struct linx_err *err, int e, size_t i, const char *what,
		    const char *path)
{
	/* EROFS here is mostly ours (mkdir_ours): say what to do about it */
	linx_fail(err, e, STAGE_MOUNT, "mounts[%zu]: %s %s%s", i, what, path,
		  e == EROFS ? ": missing, and Linx creates paths only on a tmpfs"
			       " it mounted (make it first, or mount a tmpfs"
			       " above it)" : "");
	err->index = (int)i;
	return -1;
}

/*
 * join() - @out = @prefix @path; ENAMETOOLONG if it does not fit
 */
static int join(char *out, const char *prefix, const char *path)
{
	int n = snprintf(out, SBX_PATH, "%s%s", prefix, path);

	if (n < 0 || n >= SBX_PATH) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * mnt_id() - the id of the mount @path is on (0 on failure)
 */
static uint64_t mnt_id(const char *path)
{
	struct statx stx;

	if (statx(AT_FDCWD, path, 0, STATX_MNT_ID, &stx) ||
	    !(stx.stx_mask & STATX_MNT_ID))
		return 0;
	return stx.stx_mnt_id;
}

static void remember(struct sbx_ctx *c, const char *path)
{
	uint64_t id = mnt_id(path);

	if (id && c->nours < MOUNTS_MAX + 4)
		c->ours[c->nours++] = id;
}

/*
 * parent_is_ours() - is the directory holding @path on a tmpfs made here?
 * @path is modified and restored.
 */
static bool parent_is_ours(const struct sbx_ctx *c, char *path)
{
	char *slash = strrchr(path, '/');
	uint64_t id;
	size_t i;
	char keep;

	if (!slash)
		return false;
	keep = slash[1];
	slash[1] = '\0';
	id = mnt_id(path);
	slash[1] = keep;
	for (i = 0; id && i < c->nours; i++)
		if (c->ours[i] == id)
			return true;
	return false;
}

/*
 * mkdir_ours() - @path is a directory afterwards: it was one, or it is
 * made (on a tmpfs of ours only, else EROFS)
 * @made:	set when it was created here
 */
static int mkdir_ours(const struct sbx_ctx *c, char *path, mode_t mode,
		      bool *made)
{
	struct stat st;

	*made = false;
	if (!stat(path, &st)) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	if (!parent_is_ours(c, path)) {
		errno = EROFS;
		return -1;
	}
	if (mkdir(path, mode))
		return -1;
	*made = true;
	return 0;
}

/*
 * make_parents() - every directory above @path exists afterwards; the
 * components up to @skip bytes (the /newroot prefix) are not touched
 */
static int make_parents(const struct sbx_ctx *c, char *path, size_t skip)
{
	char *p;
	bool made;
	int rc;

	for (p = path + skip + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		rc = mkdir_ours(c, path, 0755, &made);
		*p = '/';
		if (rc)
			return -1;
	}
	return 0;
}

/*
 * mount_point() - a directory (@dir) or an empty file at @path, made if
 * missing (with its parents)
 */
static int mount_point(const struct sbx_ctx *c, char *path, bool dir)
{
	size_t skip = strlen(NEWROOT);
	struct stat st;
	bool made;
	int fd;

	if (make_parents(c, path, skip))
		return -1;
	if (dir)
		return mkdir_ours(c, path, 0755, &made);
	if (!lstat(path, &st))
		return 0;
	if (!parent_is_ours(c, path)) {
		errno = EROFS;
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/*
 * set_attrs() - mount_setattr(2) (5.12+), else a bind remount of the
 * top mount keeping what the kernel locked
 */
static int set_attrs(const char *path, uint64_t attrs, bool recursive)
{
	struct lnx_mount_attr a = { .attr_set = attrs };
	unsigned long fl = MS_REMOUNT | MS_BIND;

	if (!syscall(SYS_mount_setattr, AT_FDCWD, path,
		     recursive ? AT_RECURSIVE : 0, &a, sizeof(a)))
		return 0;
	if (errno != ENOSYS)
		return -1;
	fl |= attrs & LNX_MOUNT_ATTR_RDONLY ? MS_RDONLY : 0;
	fl |= attrs & LNX_MOUNT_ATTR_NOSUID ? MS_NOSUID : 0;
	fl |= attrs & LNX_MOUNT_ATTR_NODEV ? MS_NODEV : 0;
	fl |= attrs & LNX_MOUNT_ATTR_NOEXEC ? MS_NOEXEC : 0;
	return mount(NULL, path, NULL, fl, NULL);
}

/*
 * do_bind() - {:bind | :ro_bind, src, dst, opts}: a recursive bind of
 * the host's @src (through /oldroot), then nosuid/nodev/noexec/ro
 */
static int do_bind(const struct sbx_ctx *c, const struct mnt_entry *m,
		   char *dst, struct linx_err *err, size_t i)
{
	uint64_t attrs = 0;
	char src[SBX_PATH];
	struct stat st;

	if (join(src, OLDROOT, m->arg))
		return mnt_fail(err, errno, i, "source", m->arg);
	if (stat(src, &st)) {
		if (errno == ENOENT && (m->flags & MNT_F_OPTIONAL))
			return 0;	/* like bwrap --bind-try */
		return mnt_fail(err, errno, i, "source", m->arg);
	}
	if (mount_point(c, dst, S_ISDIR(st.st_mode)))
		return mnt_fail(err, errno, i, "mount point", m->dst);
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL))
		return mnt_fail(err, errno, i, "bind", m->arg);
	if (!(m->flags & MNT_F_SUID))
		attrs |= LNX_MOUNT_ATTR_NOSUID;
	if (!(m->flags & MNT_F_DEV))
		attrs |= LNX_MOUNT_ATTR_NODEV;
	if (m->flags & MNT_F_NOEXEC)
		attrs |= LNX_MOUNT_ATTR_NOEXEC;
	if (m->kind == MNT_RO_BIND)
		attrs |= LNX_MOUNT_ATTR_RDONLY;
	if (set_attrs(dst, attrs, true))
		return mnt_fail(err, errno, i, "set flags of", m->dst);
	return 0;
}

/*
 * tmpfs_at() - a tmpfs at @dst (made if missing), remembered as ours
 */
static int tmpfs_at(struct sbx_ctx *c, char *dst, unsigned long fl,
		    const char *data)
{
	if (mount_point(c, dst, true) ||
	    mount("tmpfs", dst, "tmpfs", fl, data && *data ? data : NULL))
		return -1;
	remember(c, dst);
	return 0;
}

/* The device nodes of {:dev, dst}, bind-mounted from the host's /dev */
static const char *const dev_nodes[] = {
	"null", "zero", "full", "random", "urandom", "tty",
};

static const char *const dev_links[][2] = {
	{ "pts/ptmx", "ptmx" },
	{ "/proc/self/fd", "fd" },
	{ "/proc/self/fd/0", "stdin" },
	{ "/proc/self/fd/1", "stdout" },
	{ "/proc/self/fd/2", "stderr" },
};

/*
 * do_dev() - a minimal /dev like bwrap's --dev: a tmpfs with the host's
 * null zero full random urandom tty bound in (mknod is refused in a user
 * namespace), a new devpts instance with ptmx, a shm tmpfs, the
 * fd/stdin/stdout/stderr symlinks; no disk device
 */
static int do_dev(struct sbx_ctx *c, const struct mnt_entry *m, char *dst,
		  struct linx_err *err, size_t i)
{
	char p[SBX_PATH], src[SBX_PATH], name[32];
	size_t k;

	if (tmpfs_at(c, dst, MS_NOSUID | MS_NOEXEC, "mode=0755"))
		return mnt_fail(err, errno, i, "tmpfs", m->dst);
	for (k = 0; k < sizeof(dev_nodes) / sizeof(dev_nodes[0]); k++) {
		snprintf(name, sizeof(name), "/%s", dev_nodes[k]);
		if (join(p, dst, name) || join(src, OLDROOT "/dev", name) ||
		    mount_point(c, p, false) ||
		    mount(src, p, NULL, MS_BIND, NULL))
			return mnt_fail(err, errno, i, "device", src);
	}
	if (join(p, dst, "/pts") || mount_point(c, p, true) ||
	    mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=620"))
		return mnt_fail(err, errno, i, "devpts", m->dst);
	if (join(p, dst, "/shm") ||
	    tmpfs_at(c, p, MS_NOSUID | MS_NODEV, "mode=1777"))
		return mnt_fail(err, errno, i, "shm", m->dst);
	for (k = 0; k < sizeof(dev_links) / sizeof(dev_links[0]); k++) {
		snprintf(name, sizeof(name), "/%s", dev_links[k][1]);
		if (join(p, dst, name) || symlink(dev_links[k][0], p))
			return mnt_fail(err, errno, i, "symlink", name);
	}
	return 0;
}

/*
 * do_symlink() - {:symlink, target, dst}; an identical link is fine
 */
static int do_symlink(const struct sbx_ctx *c, const struct mnt_entry *m,
		      char *dst, struct linx_err *err, size_t i)
{
	char have[SBX_PATH];
	ssize_t n;

	if (make_parents(c, dst, strlen(NEWROOT)))
		return mnt_fail(err, errno, i, "parent of", m->dst);
	n = readlink(dst, have, sizeof(have) - 1);
	if (n >= 0 && (size_t)n == m->arglen && !memcmp(have, m->arg, n))
		return 0;
	if (!parent_is_ours(c, dst))
		return mnt_fail(err, EROFS, i, "symlink", m->dst);
	if (symlink(m->arg, dst))
		return mnt_fail(err, errno, i, "symlink", m->dst);
	return 0;
}

/*
 * do_file() - {:file, dst, contents}: a regular file, mode 0644
 */
static int do_file(const struct sbx_ctx *c, const struct mnt_entry *m,
		   char *dst, struct linx_err *err, size_t i)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	if (make_parents(c, dst, strlen(NEWROOT)))
		return mnt_fail(err, errno, i, "parent of", m->dst);
	if (!parent_is_ours(c, dst))
		return mnt_fail(err, EROFS, i, "file", m->dst);
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0)
		return mnt_fail(err, errno, i, "file", m->dst);
	while (off < m->arglen) {
		n = write(fd, m->arg + off, m->arglen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return mnt_fail(err, n < 0 ? errno : EIO, i, "write",
					m->dst);
		}
		off += n;
	}
	close(fd);
	return 0;
}

/*
 * do_dir() - {:dir, dst, mode}: made (mode applied past the umask) if
 * missing; an existing directory is left as it is
 */
static int do_dir(const struct sbx_ctx *c, const struct mnt_entry *m,
		  char *dst, struct linx_err *err, size_t i)
{
	mode_t mode = m->mode ? m->mode : 0755;
	bool made;

	if (make_parents(c, dst, strlen(NEWROOT)) ||
	    mkdir_ours(c, dst, mode, &made) || (made && chmod(dst, mode)))
		return mnt_fail(err, errno, i, "dir", m->dst);
	return 0;
}

/*
 * apply_one() - entry @i of mounts: (not remount_ro)
 */
static int apply_one(struct sbx_ctx *c, const struct mnt_entry *m,
		     struct linx_err *err, size_t i)
{
	char dst[SBX_PATH];

	if (join(dst, NEWROOT, m->dst))
		return mnt_fail(err, errno, i, "destination", m->dst);
	switch (m->kind) {
	case MNT_BIND:
	case MNT_RO_BIND:
		return do_bind(c, m, dst, err, i);
	case MNT_TMPFS:
		if (tmpfs_at(c, dst, MS_NOSUID | MS_NODEV, m->data))
			return mnt_fail(err, errno, i, "tmpfs", m->dst);
		return 0;
	case MNT_PROC:
		/* a pid namespace we are init of, else EPERM */
		if (mount_point(c, dst, true) ||
		    mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL))
			return mnt_fail(err, errno, i, "proc", m->dst);
		return 0;
	case MNT_DEV:
		return do_dev(c, m, dst, err, i);
	case MNT_DIR:
		return do_dir(c, m, dst, err, i);
	case MNT_SYMLINK:
		return do_symlink(c, m, dst, err, i);
	case MNT_FILE:
		return do_file(c, m, dst, err, i);
	default:
		return 0;	/* remount_ro: second pass */
	}
}

/*
 * scratch_root() - steps 2 and 3: pivot into a tmpfs on /tmp, host at
 * /oldroot, the new root mounted at /newroot
 */
static int scratch_root(struct sbx_ctx *c, const struct linx_sandbox *sb,
			struct linx_err *err)
{
	char src[SBX_PATH];

	if (mount("tmpfs", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0755") || chdir(SCRATCH) ||
	    mkdir("." NEWROOT, 0755) || mkdir("." OLDROOT, 0755))
		return linx_fail(err, errno, STAGE_PIVOT_ROOT,
				 "scratch tmpfs on " SCRATCH);
	if (syscall(SYS_pivot_root, ".", "." OLDROOT) || chdir("/"))
		return linx_fail(err, errno, STAGE_PIVOT_ROOT,
				 "pivot_root into the scratch tmpfs");
	if (sb->root == ROOT_TMPFS) {
		if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV,
			  "mode=0755"))
			return linx_fail(err, errno, STAGE_PIVOT_ROOT,
					 "tmpfs root");
		remember(c, NEWROOT);
		return 0;
	}
	if (join(src, OLDROOT, sb->root == ROOT_DIR ? sb->root_dir : "/") ||
	    mount(src, NEWROOT, NULL, MS_BIND | MS_REC, NULL))
		return linx_fail(err, errno, STAGE_PIVOT_ROOT, "root %s",
				 sb->root == ROOT_DIR ? sb->root_dir : "/");
	return 0;
}

/*
 * enter_root() - step 6: detach the host, make /newroot the root
 */
static int enter_root(struct linx_err *err)
{
	if (umount2(OLDROOT, MNT_DETACH))
		return linx_fail(err, errno, STAGE_PIVOT_ROOT,
				 "detach the old root");
	/* pivot_root(".", "."): the old root ends up stacked on the new */
	if (chdir(NEWROOT) || syscall(SYS_pivot_root, ".", ".") ||
	    umount2(".", MNT_DETACH) || chdir("/"))
		return linx_fail(err, errno, STAGE_PIVOT_ROOT,
				 "pivot_root into the new root");
	return 0;
}

/*
 * build_root() - steps 1 to 6
 */
static int build_root(const struct linx_sandbox *sb, struct linx_err *err)
{
	struct sbx_ctx c = { .nours = 0 };
	char dst[SBX_PATH];
	size_t i;

	/* Before anything: no mount below may propagate to the host */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return linx_fail(err, errno, STAGE_PIVOT_ROOT,
				 "make / private");
	if (scratch_root(&c, sb, err))
		return -1;
	for (i = 0; i < sb->nmounts; i++)
		if (apply_one(&c, &sb->mounts[i], err, i))
			return -1;
	for (i = 0; i < sb->nmounts; i++) {
		const struct mnt_entry *m = &sb->mounts[i];

		if (m->kind != MNT_REMOUNT_RO)
			continue;
		if (join(dst, NEWROOT, m->dst) ||
		    set_attrs(dst, LNX_MOUNT_ATTR_RDONLY, false))
			return mnt_fail(err, errno, i, "remount_ro", m->dst);
	}
	return enter_root(err);
}

/*
 * loopback_up() - step 7: IFF_UP on lo of the new net namespace
 */
static int loopback_up(struct linx_err *err)
{
	struct ifreq ifr;
	int fd, rc;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return linx_fail(err, errno, STAGE_LOOPBACK, "socket");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (!rc) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	if (rc)
		rc = linx_fail(err, errno, STAGE_LOOPBACK, "bring lo up");
	close(fd);
	return rc;
}

/**
 * sandbox_apply() - build the workload's root and identity (the child,
 * after the id maps, before the checkpoint commands)
 * @sb:		the decoded sandbox
 * @mountns:	the child has a new mount namespace
 * @netns:	the child has a new net namespace
 * @err:	stage {:mount, i} (err->index), :pivot_root, :hostname or
 *		:loopback
 *
 * Return: 0 or -1
 */
int sandbox_apply(const struct linx_sandbox *sb, bool mountns, bool netns,
		  struct linx_err *err)
{
	err->index = 0;
	if (mountns && (sb->root != ROOT_HOST || sb->nmounts) &&
	    build_root(sb, err))
		return -1;
	if (sb->hostname &&
	    sethostname(sb->hostname, strlen(sb->hostname)))
		return linx_fail(err, errno, STAGE_HOSTNAME, "sethostname %s",
				 sb->hostname);
	if (netns && sb->loopback && loopback_up(err))
		return -1;
	return 0;
}

/**
 * sandbox_time_offsets() - the agent, before the clone: a new time
 * namespace for its children with the offsets written
 * @sb:		the decoded sandbox (has_time_offsets)
 * @err:	stage :time_offsets
 *
 * The offsets can be written only while no process is in the namespace,
 * so clone3(CLONE_NEWTIME), which puts the child in at once, cannot be
 * used: unshare(CLONE_NEWTIME) moves only our future children
 * (time_for_children), the file is written, and the child is cloned
 * without the flag. The agent has one workload: nothing else follows.
 *
 * Return: 0 or -1
 */
int sandbox_time_offsets(const struct linx_sandbox *sb, struct linx_err *err)
{
	char buf[96];
	int fd, n;
	ssize_t w;

	if (unshare(CLONE_NEWTIME))
		return linx_fail(err, errno, STAGE_TIME_OFFSETS,
				 "unshare(CLONE_NEWTIME)");
	n = snprintf(buf, sizeof(buf), "monotonic %lld 0\nboottime %lld 0\n",
		     (long long)sb->monotonic, (long long)sb->boottime);
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return linx_fail(err, errno, STAGE_TIME_OFFSETS,
				 "open /proc/self/timens_offsets");
	w = write(fd, buf, n);
	close(fd);
	if (w != n)
		return linx_fail(err, w < 0 ? errno : EIO, STAGE_TIME_OFFSETS,
				 "write /proc/self/timens_offsets");
	return 0;
}
