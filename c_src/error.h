/*
 * error.h - the one error pattern of the agent, and the table of stage
 * atoms.
 *
 * Every fallible function returns int (0 or -1) and fills a struct linx_err
 * with an errno, a stage (an index into the stage table below, sent to the
 * BEAM as an atom) and a message naming what was being done. The error
 * becomes an {:error, errno, stage} frame only at the protocol boundary
 * (events.c); the message travels as {:malformed, stage, message} for
 * decode errors and as {:error_detail, stage, command, message} before
 * every {:error, errno, stage} that has one (docs/protocol.md, "Errors").
 * A message longer than LINX_ERR_MSG_MAX - 1 bytes is cut, and then ends
 * with LINX_ERR_CUT_MARK: never cut silently.
 */
#ifndef LINX_ERROR_H
#define LINX_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/*
 * The stage atoms, in one place. The open_ns_* and setns_* blocks follow
 * the namespace table order of ns.c (user mount uts ipc cgroup net time
 * pid), so STAGE_OPEN_NS_USER + ns index is the stage for that namespace.
 */
#define LINX_STAGES(X)                                          \
	X(NONE, "none")                                         \
	/* child side */                                        \
	X(EXECVE, "execve")                                     \
	X(STDIO, "stdio")                                       \
	X(CHDIR, "chdir")                                       \
	X(SETSID, "setsid")                                     \
	X(SIGMASK, "sigmask")                                   \
	X(PDEATHSIG, "pdeathsig")                               \
	X(NO_NEW_PRIVS, "no_new_privs")                         \
	X(CAP_DROP_BOUNDING, "cap_drop_bounding")               \
	X(CAP_SET_THREAD, "cap_set_thread")                     \
	X(CAP_SET_AMBIENT, "cap_set_ambient")                   \
	X(CAPS_QUERY, "caps_query")                             \
	X(SECCOMP_NO_NEW_PRIVS, "seccomp_no_new_privs")         \
	X(SECCOMP_INSTALL, "seccomp_install")                   \
	/* agent side */                                        \
	X(MALFORMED_REQUEST, "malformed_request")               \
	X(REQUEST_TOO_BIG, "request_too_big")                   \
	X(CLONE, "clone")                                       \
	X(FORK, "fork")                                         \
	X(OPEN_NS_USER, "open_ns_user")                         \
	X(OPEN_NS_MOUNT, "open_ns_mount")                       \
	X(OPEN_NS_UTS, "open_ns_uts")                           \
	X(OPEN_NS_IPC, "open_ns_ipc")                           \
	X(OPEN_NS_CGROUP, "open_ns_cgroup")                     \
	X(OPEN_NS_NET, "open_ns_net")                           \
	X(OPEN_NS_TIME, "open_ns_time")                         \
	X(OPEN_NS_PID, "open_ns_pid")                           \
	X(SETNS_USER, "setns_user")                             \
	X(SETNS_MOUNT, "setns_mount")                           \
	X(SETNS_UTS, "setns_uts")                               \
	X(SETNS_IPC, "setns_ipc")                               \
	X(SETNS_CGROUP, "setns_cgroup")                         \
	X(SETNS_NET, "setns_net")                               \
	X(SETNS_TIME, "setns_time")                             \
	X(SETNS_PID, "setns_pid")                               \
	X(SIGPROCMASK, "sigprocmask")                           \
	X(PIPE2, "pipe2")                                       \
	X(SOCKETPAIR, "socketpair")                             \
	X(SIGNALFD, "signalfd")                                 \
	X(POSIX_OPENPT, "posix_openpt")                         \
	X(PTSETUP, "ptsetup")                                   \
	X(PTSNAME, "ptsname")                                   \
	X(PTS_OPEN, "pts_open")                                 \
	X(READY_FRAME, "ready_frame")                           \
	X(MALFORMED_READY, "malformed_ready")                   \
	X(EXEC_OUTCOME, "exec_outcome")                         \
	X(COMMAND_TOO_BIG, "command_too_big")                   \
	X(MALFORMED_COMMAND, "malformed_command")               \
	X(BAD_STATE, "bad_state")                               \
	X(PIDFD, "pidfd")                                       \
	X(SUBREAPER, "subreaper")                               \
	X(CGROUP, "cgroup")                                     \
	X(SETGROUPS, "setgroups")                               \
	X(KEEPCAPS, "keepcaps")                                 \
	X(SETRESGID, "setresgid")                               \
	X(SETRESUID, "setresuid")                               \
	X(UID_MAP, "uid_map")                                   \
	X(GID_MAP, "gid_map")                                   \
	X(RLIMIT, "rlimit")                                     \
	X(NICE, "nice")                                         \
	X(CPUS, "cpus")                                         \
	/* sandbox (mounts.c); mount is a tuple stage: {:mount, index} */ \
	X(MOUNT, "mount")                                       \
	X(PIVOT_ROOT, "pivot_root")                             \
	X(HOSTNAME, "hostname")                                 \
	X(LOOPBACK, "loopback")                                 \
	X(TIME_OFFSETS, "time_offsets")                         \
	X(LANDLOCK, "landlock")                                 \
	X(FDS, "fds")                                           \
	X(INIT, "init")

#define LINX_STAGE_ENUM(id, name) STAGE_##id,
enum linx_stage { LINX_STAGES(LINX_STAGE_ENUM) STAGE_COUNT };
#undef LINX_STAGE_ENUM

#define LINX_ERR_MSG_MAX 1024
/* The end of a message (or decode path) that did not fit its buffer */
#define LINX_ERR_CUT_MARK "...[cut]"

/**
 * struct linx_err - what failed, where, and why
 * @err:	errno value sent to the BEAM
 * @stage:	enum linx_stage
 * @msg:	human-readable description (decode errors name the path)
 * @index:	STAGE_MOUNT only: the 0-based index of the entry of mounts:
 *		that failed, sent as the tuple stage {:mount, index}
 *		(linx_fail() leaves it alone; mounts.c sets it)
 */
struct linx_err {
	int err;
	int stage;
	char msg[LINX_ERR_MSG_MAX];
	int index;
};

int linx_fail(struct linx_err *e, int err, int stage, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *linx_stage_name(int stage);
void linx_vfmt(char *buf, size_t n, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif /* LINX_ERROR_H */
