/*
 * notify_helper.c - the helper process of a {:call, nr, args, ctx} step:
 * a system call done for a notified caller, in a process forked by the
 * agent (notify_call.c) for that one call.
 *
 * The helper, in order:
 *   1. opens, while it still sees the agent's world, the caller's
 *      namespaces named by ctx.ns (/proc/TGID/ns/...), its root and its
 *      cwd (/proc/TGID/root, /proc/TGID/cwd): after a setns the paths
 *      would resolve elsewhere;
 *   2. joins those namespaces, the user namespace first (the others are
 *      then owned by the namespace we are in). Joining a user namespace
 *      gives up host privileges: the default is [:mount] only, so a
 *      mknod done for an unprivileged container runs as host root inside
 *      the container's mounts (what LXD does);
 *   3. ctx.creds: reads the caller's ids from /proc/TGID/status, opened
 *      now, after setns, so they are translated into the user namespace
 *      the helper is in;
 *   4. ctx.root: fchdir to the caller's root and chroot("."); ctx.cwd:
 *      fchdir to its cwd (else "/"). Before dropping ids: chroot needs
 *      CAP_SYS_CHROOT;
 *   5. ctx.creds true: setgroups, setresgid, then setresuid (the gid
 *      while we still may change it; seitan got this order wrong);
 *      :caller_fs: setgroups, setfsgid, setfsuid, then CAP_MKNOD and
 *      CAP_CHOWN raised again (the kernel clears the file capabilities
 *      when the fsuid leaves 0; the DAC overrides stay off, so the
 *      caller's permissions decide the path, as LXD's forkmknod);
 *   6. unless ctx resolve: :follow, the path arguments of a call
 *      notify_path.c knows are resolved without following symlinks,
 *      after 5 so the lookups are checked with the ids the call uses;
 *   7. syscall(nr, args...) with {:str, _}/{:buf, _} pointing into its own
 *      copy of the decoded reply (fork copied it);
 *   8. sends {return value, errno} to the agent over a socket, with the
 *      parent directories step 6 opened (SCM_RIGHTS), and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "notify_helper.h"
#include "notify_path.h"
#include "ns.h"
#include "procfs.h"
#include "util.h"

#define MAX_GROUPS 256

/* Room for a resolved path: PATH_MAX and the "." a split may add */
#define NPATH_BUF 4100

/*
 * status_ids() - the four ids (real, effective, saved, fs) after @key
 * ("Uid:" or "Gid:") and the groups, from the text of /proc/PID/status
 */
static int status_ids(const char *text, const char *key, unsigned ids[4])
{
	const char *p = strstr(text, key);
	unsigned long v;
	char *end;
	int i;

	if (!p)
		return -1;
	p += strlen(key);
	for (i = 0; i < 4; i++) {
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || end == p || v > UINT32_MAX)
			return -1;
		ids[i] = v;
		p = end;
	}
	return 0;
}

static int status_groups(const char *text, gid_t *groups, int *n)
{
	const char *p = strstr(text, "\nGroups:");
	char *end;
	unsigned long v;

	*n = 0;
	if (!p)
		return -1;
	p += strlen("\nGroups:");
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return 0;
		v = strtoul(p, &end, 10);
		if (*n >= MAX_GROUPS)
			return -1;
		groups[(*n)++] = v;
		p = end;
	}
}

/**
 * struct caller_ids - the caller's ids, from its /proc/TGID/status
 * @uid:	real, effective, saved, fs
 * @gid:	likewise
 * @groups:	supplementary groups
 * @ngroups:	how many
 */
struct caller_ids {
	unsigned uid[4], gid[4];
	gid_t groups[MAX_GROUPS];
	int ngroups;
};

/*
 * read_ids() - the caller's ids, translated into our current user
 * namespace (the file is opened after setns)
 */
static int read_ids(int proc_fd, pid_t tgid, struct caller_ids *ids)
{
	cleanup_close int fd =
		procfs_open(proc_fd, tgid, "status", O_RDONLY);
	char text[8192];
	ssize_t n;

	if (fd < 0)
		return -1;
	n = procfs_read_text(fd, text, sizeof(text));
	if (n <= 0)
		return -1;
	if (status_ids(text, "\nUid:", ids->uid) ||
	    status_ids(text, "\nGid:", ids->gid) ||
	    status_groups(text, ids->groups, &ids->ngroups)) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/*
 * helper_creds() - take the caller's ids: groups, gid, then uid
 */
static int helper_creds(int proc_fd, pid_t tgid)
{
	struct caller_ids ids;

	if (read_ids(proc_fd, tgid, &ids))
		return -1;
	if (setgroups(ids.ngroups, ids.groups) ||
	    setresgid(ids.gid[0], ids.gid[1], ids.gid[2]) ||
	    setresuid(ids.uid[0], ids.uid[1], ids.uid[2]))
		return -1;
	return 0;
}

/*
 * raise_file_caps() - CAP_MKNOD and CAP_CHOWN effective again, if
 * permitted: setfsuid() away from 0 cleared them with the DAC overrides
 */
static int raise_file_caps(void)
{
	const cap_value_t want[] = { CAP_MKNOD, CAP_CHOWN };
	cap_t caps = cap_get_proc();
	cap_flag_value_t v;
	size_t i;
	int rc = 0;

	if (!caps)
		return -1;
	for (i = 0; i < ARRAY_SIZE(want) && !rc; i++)
		if (!cap_get_flag(caps, want[i], CAP_PERMITTED, &v) && v)
			rc = cap_set_flag(caps, CAP_EFFECTIVE, 1, &want[i],
					  CAP_SET);
	if (!rc)
		rc = cap_set_proc(caps);
	cap_free(caps);
	return rc;
}

/*
 * helper_fs_creds() - ctx creds: :caller_fs. The caller's groups, fsgid
 * and fsuid decide every permission check on the path; the helper keeps
 * its capabilities but for the file-permission overrides.
 */
static int helper_fs_creds(int proc_fd, pid_t tgid)
{
	struct caller_ids ids;

	if (read_ids(proc_fd, tgid, &ids))
		return -1;
	if (setgroups(ids.ngroups, ids.groups))
		return -1;
	/* set*fsid() report no error: check the ids took */
	setfsgid(ids.gid[3]);
	setfsuid(ids.uid[3]);
	if ((unsigned)setfsgid(-1) != ids.gid[3] ||
	    (unsigned)setfsuid(-1) != ids.uid[3]) {
		errno = EPERM;
		return -1;
	}
	return raise_file_caps();
}

/*
 * open_caller_dirfds() - for each pair of @p with a relative path and a
 * dirfd of the caller's, that descriptor (/proc/TGID/fd/N, opened while
 * we still see the agent's /proc)
 */
static int open_caller_dirfds(int proc_fd, pid_t tgid,
			      const struct npath_plan *p, int out[])
{
	char what[32];
	int k, dv;

	for (k = 0; k < p->npairs; k++) {
		out[k] = -1;
		dv = npath_dirfd_value(p, k);
		if (!npath_pair_resolves(p, k) || dv < 0 ||
		    ((const char *)p->args[p->path[k]].data)[0] == '/')
			continue;
		snprintf(what, sizeof(what), "fd/%d", dv);
		out[k] = procfs_open(proc_fd, tgid, what, O_PATH | O_DIRECTORY);
		if (out[k] < 0)
			return -1;
	}
	return 0;
}

/*
 * resolve_paths() - step 6: the pairs of @p resolved from the caller's
 * root, cwd, own dirfd or ctx beneath:, and the flags made no-follow
 */
static int resolve_paths(int proc_fd, const struct notify_step *st,
			 struct npath_plan *p, struct npath_base *b,
			 struct helper_fds *fds,
			 char buf[][NPATH_BUF], char full[])
{
	const char *last = NULL;
	int k, fd;

	b->root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	b->cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (b->root < 0 || b->cwd < 0)
		return -1;
	if (st->beneath) {
		b->beneath_path = (const char *)st->beneath;
		b->beneath = npath_open_beneath(b->root, b->beneath_path);
		if (b->beneath < 0)
			return -1;
	}
	for (k = 0; k < p->npairs; k++) {
		if (!npath_pair_resolves(p, k))
			continue;
		fd = npath_resolve(b, p, k, p->full ? -1 : fds->kept[k],
				   buf[k], NPATH_BUF, &last);
		if (fd < 0)
			return -1;
		if (p->full) {
			/* mount's target: this very object, by its fd */
			snprintf(full, 32, "self/fd/%d", fd);
			p->args[p->path[k]].data = (uint8_t *)full;
			if (fchdir(proc_fd))
				return -1;
			continue;
		}
		/* kept: an earlier step resolved this path, its directory */
		if (fd != fds->kept[k])
			fds->fresh[k] = fd;
		p->args[p->dirfd[k]].kind = NARG_INT;
		p->args[p->dirfd[k]].v = (uint64_t)fd;
		p->args[p->path[k]].data = (uint8_t *)last;
	}
	return npath_apply_flags(p);
}

/*
 * helper_run() - steps 1-7 in the helper; returns the syscall's result,
 * or -1 with errno set for a failed setup step
 */
static long helper_run(int proc_fd, pid_t tgid, const struct notify_step *st,
		       struct helper_fds *fds)
{
	int nsfd[NS_COUNT], rootfd = -1, cwdfd = -1, i;
	struct npath_base base = { -1, -1, -1, NULL, { -1, -1 } };
	char buf[NPATH_MAX_PAIRS][NPATH_BUF], full[32];
	const struct notify_arg *args = st->args;
	struct npath_plan plan;
	bool safe = npath_plan(st, &plan);
	uint32_t nr = st->nr;
	int nargs = st->nargs;
	char what[32];
	long a[6] = { 0 };

	/* 1. everything we need from the agent's view of /proc, first */
	for (i = 0; i < NS_COUNT; i++) {
		nsfd[i] = -1;
		if (!(st->ns & (1u << i)))
			continue;
		snprintf(what, sizeof(what), "ns/%s", ns_table[i].proc);
		nsfd[i] = procfs_open(proc_fd, tgid, what, O_RDONLY);
		if (nsfd[i] < 0)
			return -1;
	}
	if (st->root) {
		rootfd = procfs_open(proc_fd, tgid, "root",
				     O_PATH | O_DIRECTORY);
		if (rootfd < 0)
			return -1;
	}
	if (st->cwd) {
		cwdfd = procfs_open(proc_fd, tgid, "cwd", O_PATH | O_DIRECTORY);
		if (cwdfd < 0)
			return -1;
	}
	if (safe && open_caller_dirfds(proc_fd, tgid, &plan, base.caller_dirfd))
		return -1;

	/* 2. user first (ns_table order): it owns the others */
	for (i = 0; i < NS_COUNT; i++) {
		if (nsfd[i] < 0)
			continue;
		/* Re-entering our own user namespace is EINVAL: skip it */
		if (i == NS_USER &&
		    procfs_same_ns(nsfd[i], ns_table[i].proc))
			continue;
		if (setns(nsfd[i], 0))
			return -1;
	}

	/* 4. the caller's root and cwd, while we may still chroot */
	if (rootfd >= 0 && (fchdir(rootfd) || chroot(".")))
		return -1;
	if (cwdfd >= 0 ? fchdir(cwdfd) : chdir("/"))
		return -1;

	/* 3 and 5. the caller's ids, read in the namespace we are now in */
	if (st->creds == NCREDS_ALL && helper_creds(proc_fd, tgid))
		return -1;
	if (st->creds == NCREDS_FS && helper_fs_creds(proc_fd, tgid))
		return -1;

	/* 6. paths, looked up with the ids the call runs with */
	if (safe) {
		if (resolve_paths(proc_fd, st, &plan, &base, fds, buf, full))
			return -1;
		nr = plan.nr;
		nargs = plan.nargs;
		args = plan.args;
	}

	/* 7. the call; {:str}/{:buf} point into our copy of the reply */
	for (i = 0; i < nargs; i++)
		a[i] = args[i].kind == NARG_INT ? (long)args[i].v :
						  (long)args[i].data;
	return syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/*
 * send_result() - step 8: the result and the directories we resolved
 */
static int send_result(int out, struct call_result *r,
		       const struct helper_fds *fds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * NPATH_MAX_PAIRS)];
	} u;
	struct iovec iov = { .iov_base = r, .iov_len = sizeof(*r) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int send_fds[NPATH_MAX_PAIRS], k;

	memset(&u, 0, sizeof(u));
	r->nfds = 0;
	for (k = 0; k < NPATH_MAX_PAIRS; k++) {
		if (fds->fresh[k] < 0)
			continue;
		r->pair[r->nfds] = k;
		send_fds[r->nfds++] = fds->fresh[k];
	}
	if (r->nfds) {
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * r->nfds);
		u.h.cmsg_level = SOL_SOCKET;
		u.h.cmsg_type = SCM_RIGHTS;
		u.h.cmsg_len = CMSG_LEN(sizeof(int) * r->nfds);
		memcpy(CMSG_DATA(&u.h), send_fds, sizeof(int) * r->nfds);
	}
	return sendmsg(out, &m, MSG_NOSIGNAL) == (ssize_t)sizeof(*r) ? 0 : -1;
}

/**
 * notify_helper_main() - the helper process, right after fork: steps 1-8
 * @out:	its end of the socket to the agent
 * @proc_fd:	the agent's /proc
 * @tgid:	the caller's thread group
 * @st:		the {:call, ...} step (in the helper's copy of the reply)
 * @fds:	directories earlier steps resolved (inherited), and room
 *		for the ones this helper resolves
 *
 * Never returns: exits 0 once the result is sent, 1 if it could not be.
 */
void notify_helper_main(int out, int proc_fd, pid_t tgid,
			const struct notify_step *st, struct helper_fds *fds)
{
	struct call_result r = { 0 };

	/* Never outlive the agent, whatever the call blocks on */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	errno = 0;
	r.ret = helper_run(proc_fd, tgid, st, fds);
	r.err = r.ret < 0 ? errno : 0;
	if (r.ret < 0 && !r.err)
		r.err = EIO;
	if (send_result(out, &r, fds))
		_exit(1);
	_exit(0);
}
