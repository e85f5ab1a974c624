/*
 * chan.h - records between the child (before execve) and the agent, over
 * a SOCK_SEQPACKET socketpair whose both ends are close-on-exec.
 *
 * One record per packet: a fixed struct chan_rec, then (seccomp_install
 * and seccomp_notify_install only) a payload of struct sock_filter bytes,
 * or (ERR only) the text of the child's struct linx_err, as crun's
 * send_error_to_sync_socket sends its message. The child never parses ETF:
 * the agent decodes every BEAM command and sends one of these. EOF on the
 * child's end after PROCEED means execve succeeded (close-on-exec).
 * SEQPACKET keeps record boundaries and can carry a descriptor with
 * SCM_RIGHTS (seccomp user notification listener).
 */
#ifndef LINX_CHAN_H
#define LINX_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum chan_type {
	/* child -> agent */
	CHAN_READY = 1,		/* pid = getpid() in the child's pid ns */
	CHAN_OK,		/* the last command succeeded */
	CHAN_ERR,		/* err, stage: a child stage failed;
				 * payload: its message (text, no NUL,
				 * < LINX_ERR_MSG_MAX bytes), may be empty */
	CHAN_CAPS,		/* mask[0..4] = eff, prm, inh, bnd, amb */
	CHAN_LISTENER_AT,	/* pid = the descriptor number the notify
				 * listener is about to get in the child
				 * (sent before the install; the agent takes
				 * it with pidfd_getfd) */
	/* agent -> child */
	CHAN_PROCEED = 16,	/* go on to stdio, signals, chdir, execve */
	CHAN_ABORT,		/* _exit(0) without execve */
	CHAN_CAP_DROP_BOUNDING,	/* mask[0] */
	CHAN_CAP_SET_THREAD,	/* mask[0..2] = eff, prm, inh */
	CHAN_CAP_SET_AMBIENT,	/* mask[0] */
	CHAN_SECCOMP_INSTALL,	/* payload: sock_filter array */
	CHAN_CAPS_QUERY,	/* answered with CHAN_CAPS */
	CHAN_SECCOMP_NOTIFY_INSTALL, /* payload: sock_filter array; answered
				      * with CHAN_LISTENER_AT, then CHAN_OK
				      * once installed (the agent takes the
				      * listener with pidfd_getfd) */
	CHAN_SET_IDS,		/* mask[0] = uid, mask[1] = gid */
	CHAN_SANDBOX,		/* build root, mounts, hostname, lo (mounts.c)
				 * from the plan; answered OK or ERR (a
				 * {:mount, i} stage's index in mask[0]) */
	CHAN_LANDLOCK,		/* apply the request's landlock rules */
	/* a new checkpoint command's record goes here (command.c's row) */
	CHAN_TYPE_END,		/* one past the last agent -> child type */
};

/**
 * struct chan_rec - the fixed part of every record
 * @type:	enum chan_type
 * @len:	payload bytes following the struct
 * @pid:	CHAN_READY: the child's pid in its own pid namespace;
 *		CHAN_LISTENER_AT: the listener's descriptor number
 * @err:	CHAN_ERR: errno
 * @stage:	CHAN_ERR: enum linx_stage
 * @reserved:	zero
 * @mask:	capability masks (see enum chan_type); CHAN_ERR: mask[0]
 *		is the index of a tuple stage ({:mount, index})
 */
struct chan_rec {
	uint32_t type;
	uint32_t len;
	int32_t pid;
	int32_t err;
	int32_t stage;
	uint32_t reserved;
	uint64_t mask[5];
};

/* Largest payload: BPF_MAXINSNS (4096) instructions of 8 bytes */
#define CHAN_MAX_PAYLOAD (4096 * 8)
#define CHAN_MAX_RECORD (sizeof(struct chan_rec) + CHAN_MAX_PAYLOAD)

ssize_t chan_encode(const struct chan_rec *rec, const void *payload,
		    size_t plen, void *out, size_t cap);
int chan_decode(const void *buf, size_t n, struct chan_rec *rec,
		const uint8_t **payload);
int chan_send(int fd, const struct chan_rec *rec, const void *payload,
	      size_t plen);
int chan_send_fd(int fd, const struct chan_rec *rec, int passfd);
ssize_t chan_recv(int fd, void *buf, size_t cap, int flags, int *passed_fd);

#endif /* LINX_CHAN_H */
