/*
 * caps.c - credentials and capability commands (libcap) and seccomp
 * filter install, run
 * by the child at the checkpoint (capabilities and filters are per thread,
 * so the agent cannot apply them on the child's behalf).
 *
 * Bits above the running kernel's last capability (cap_max_bits()) are
 * ignored when dropping from the bounding set and when setting the thread
 * sets (capset itself masks them); raising one in the ambient set is
 * EINVAL, as prctl would say.
 *
 * libcap allocates small objects (cap_init, cap_get_proc). That is safe in
 * the child: clone3 without CLONE_VM is fork, and the agent is single
 * threaded, so no allocator lock can be held by another thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

/**
 * caps_drop_bounding() - drop every cap whose bit is set from the bounding
 * set
 * @mask:	u64 mask of capability numbers
 * @err:	stage cap_drop_bounding on failure
 *
 * Return: 0 or -1
 */
int caps_drop_bounding(uint64_t mask, struct linx_err *err)
{
	cap_value_t cap, max = cap_max_bits();

	for (cap = 0; cap < max && cap < 64; cap++) {
		if (!(mask & (1ULL << cap)))
			continue;
		if (cap_drop_bound(cap))
			return linx_fail(err, errno, STAGE_CAP_DROP_BOUNDING,
					 "drop cap %d from the bounding set",
					 cap);
	}
	return 0;
}

/**
 * caps_set_thread() - set the effective, permitted, inheritable sets
 * @eff:	effective mask
 * @prm:	permitted mask
 * @inh:	inheritable mask
 * @err:	stage cap_set_thread on failure
 *
 * Return: 0 or -1
 */
int caps_set_thread(uint64_t eff, uint64_t prm, uint64_t inh,
		    struct linx_err *err)
{
	const uint64_t masks[3] = { eff, prm, inh };
	const cap_flag_t flags[3] = { CAP_EFFECTIVE, CAP_PERMITTED,
				      CAP_INHERITABLE };
	cap_value_t cap, max = cap_max_bits();
	cap_t caps = cap_init();
	int i, rc;

	if (!caps)
		return linx_fail(err, errno, STAGE_CAP_SET_THREAD, "cap_init");
	for (i = 0; i < 3; i++)
		for (cap = 0; cap < max && cap < 64; cap++)
			if ((masks[i] & (1ULL << cap)) &&
			    cap_set_flag(caps, flags[i], 1, &cap, CAP_SET)) {
				cap_free(caps);
				return linx_fail(err, errno,
						 STAGE_CAP_SET_THREAD,
						 "cap_set_flag %d", cap);
			}
	rc = cap_set_proc(caps);
	i = errno;
	cap_free(caps);
	if (rc)
		return linx_fail(err, i, STAGE_CAP_SET_THREAD, "cap_set_proc");
	return 0;
}

/**
 * caps_set_ids() - become @uid/@gid (ids inside our user namespace)
 * @uid:	user id
 * @gid:	group id
 * @err:	stage setgroups, keepcaps, setresgid or setresuid on failure
 *
 * Runs first among the checkpoint commands, after the BEAM wrote the
 * namespace's maps. Supplementary groups inherited from the host are
 * dropped where setgroups is allowed (with setgroups=deny the kernel
 * refuses, EPERM, and they stay: see docs/protocol.md). The gid goes
 * before the uid: once the uid is not 0, changing the gid needs
 * CAP_SETGID, which it may no longer have. KEEPCAPS keeps the permitted
 * set across the uid change, so the capability commands that follow
 * still decide what the workload keeps.
 *
 * Return: 0 or -1
 */
int caps_set_ids(uint32_t uid, uint32_t gid, struct linx_err *err)
{
	if (setgroups(0, NULL) && errno != EPERM)
		return linx_fail(err, errno, STAGE_SETGROUPS, "setgroups(0)");
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return linx_fail(err, errno, STAGE_KEEPCAPS, "PR_SET_KEEPCAPS");
	if (setresgid(gid, gid, gid))
		return linx_fail(err, errno, STAGE_SETRESGID, "setresgid(%u)",
				 gid);
	if (setresuid(uid, uid, uid))
		return linx_fail(err, errno, STAGE_SETRESUID, "setresuid(%u)",
				 uid);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}

/**
 * caps_set_ambient() - clear the ambient set, then raise exactly @mask
 * @mask:	u64 mask
 * @err:	stage cap_set_ambient on failure
 *
 * Return: 0 or -1
 */
int caps_set_ambient(uint64_t mask, struct linx_err *err)
{
	cap_value_t cap, max = cap_max_bits();

	if (cap_reset_ambient())
		return linx_fail(err, errno, STAGE_CAP_SET_AMBIENT,
				 "clear the ambient set");
	for (cap = 0; cap < 64; cap++) {
		if (!(mask & (1ULL << cap)))
			continue;
		if (cap >= max)
			return linx_fail(err, EINVAL, STAGE_CAP_SET_AMBIENT,
					 "cap %d unknown to this kernel", cap);
		if (cap_set_ambient(cap, CAP_SET))
			return linx_fail(err, errno, STAGE_CAP_SET_AMBIENT,
					 "raise ambient cap %d", cap);
	}
	return 0;
}

/**
 * caps_query() - read the five sets of the calling thread
 * @out:	eff, prm, inh, bnd, amb masks
 * @err:	stage caps_query on failure
 *
 * Return: 0 or -1
 */
int caps_query(uint64_t out[5], struct linx_err *err)
{
	const cap_flag_t flags[3] = { CAP_EFFECTIVE, CAP_PERMITTED,
				      CAP_INHERITABLE };
	cap_value_t cap, max = cap_max_bits();
	cap_flag_value_t v;
	cap_t caps = cap_get_proc();
	int i, r;

	if (!caps)
		return linx_fail(err, errno, STAGE_CAPS_QUERY, "cap_get_proc");
	for (i = 0; i < 5; i++)
		out[i] = 0;
	for (cap = 0; cap < max && cap < 64; cap++) {
		for (i = 0; i < 3; i++)
			if (!cap_get_flag(caps, cap, flags[i], &v) &&
			    v == CAP_SET)
				out[i] |= 1ULL << cap;
		r = cap_get_bound(cap);
		if (r < 0) {
			r = errno;
			cap_free(caps);
			return linx_fail(err, r, STAGE_CAPS_QUERY,
					 "cap_get_bound %d", cap);
		}
		if (r)
			out[3] |= 1ULL << cap;
		/* < 0: no ambient support (pre-4.3): report an empty set */
		if (cap_get_ambient(cap) > 0)
			out[4] |= 1ULL << cap;
	}
	cap_free(caps);
	return 0;
}

/**
 * seccomp_check_len() - is @len a valid filter size?
 * @len:	bytes of struct sock_filter
 *
 * Return: 0, or EINVAL unless it is 1..BPF_MAXINSNS whole instructions
 */
int seccomp_check_len(size_t len)
{
	if (!len || len % sizeof(struct sock_filter) ||
	    len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return EINVAL;
	return 0;
}

/*
 * seccomp_prepare() - what both installs need first: a filter of a size
 * the kernel takes, and NO_NEW_PRIVS.
 *
 * Without NO_NEW_PRIVS an unprivileged thread may not install a filter
 * (EACCES), and a setuid execve could escape it. Set it even when we hold
 * CAP_SYS_ADMIN: the contract says so, and it keeps the behaviour the
 * same for privileged and unprivileged callers.
 */
static int seccomp_prepare(size_t len, struct linx_err *err)
{
	int e = seccomp_check_len(len);

	if (e)
		return linx_fail(err, e, STAGE_SECCOMP_INSTALL,
				 "filter of %zu bytes", len);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 &&
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return linx_fail(err, errno, STAGE_SECCOMP_NO_NEW_PRIVS,
				 "PR_SET_NO_NEW_PRIVS");
	return 0;
}

/**
 * seccomp_install() - install a classic BPF filter on the calling thread
 * @bpf:	struct sock_filter array (8-byte aligned)
 * @len:	its size in bytes
 * @err:	stage seccomp_no_new_privs or seccomp_install on failure
 *
 * Return: 0 or -1
 */
int seccomp_install(const void *bpf, size_t len, struct linx_err *err)
{
	struct sock_fprog prog = {
		.len = len / sizeof(struct sock_filter),
		.filter = (struct sock_filter *)bpf,
	};

	if (seccomp_prepare(len, err))
		return -1;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return linx_fail(err, errno, STAGE_SECCOMP_INSTALL,
				 "seccomp(SECCOMP_SET_MODE_FILTER)");
	return 0;
}

#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

/**
 * seccomp_notify_install() - install a filter with a user notification
 * listener on the calling thread
 * @bpf:	struct sock_filter array (8-byte aligned)
 * @len:	its size in bytes
 * @listener:	set to the listener descriptor (close-on-exec)
 * @err:	stage seccomp_no_new_privs or seccomp_install on failure
 *
 * WAIT_KILLABLE_RECV (5.19+): once the agent has received a notification,
 * only a fatal signal interrupts the waiting caller, so a signal handler
 * cannot re-run a call the agent is half-way through answering (a call
 * done on its behalf, an fd injected). An older kernel says EINVAL to the
 * unknown flag: install without it.
 *
 * Return: 0 or -1
 */
int seccomp_notify_install(const void *bpf, size_t len, int *listener,
			   struct linx_err *err)
{
	struct sock_fprog prog = {
		.len = len / sizeof(struct sock_filter),
		.filter = (struct sock_filter *)bpf,
	};
	unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER |
			      SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
	long fd;

	if (seccomp_prepare(len, err))
		return -1;
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (fd < 0 && errno == EINVAL) {
		flags &= ~SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
		fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags,
			     &prog);
	}
	if (fd < 0)
		return linx_fail(err, errno, STAGE_SECCOMP_INSTALL,
				 "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)");
	*listener = fd;
	return 0;
}
