/*
 * checkpoint.c - the child's apply functions, one per checkpoint command
 * (see checkpoint.h). They run in the child, after READY and before
 * PROCEED, in the order the agent forwards them; each is a thin call
 * into caps.c, which does the work and names the stage of a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "caps.h"
#include "checkpoint.h"

/**
 * cp_set_ids() - {:set_ids, uid, gid}: setresgid, setresuid
 * @ctx:	child
 * @rec:	mask[0] = uid, mask[1] = gid
 * @payload:	none
 * @reply:	OK
 * @err:	the failure
 *
 * Return: 0 or -1
 */
int cp_set_ids(const struct cp_ctx *ctx, const struct chan_rec *rec,
	       const uint8_t *payload, struct chan_rec *reply,
	       struct linx_err *err)
{
	(void)payload;
	(void)reply;
	if (caps_set_ids(rec->mask[0], rec->mask[1], err))
		return -1;
	/* a credential change clears PDEATHSIG: set it again */
	if (ctx->pdeathsig)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return 0;
}

/**
 * cp_cap_drop_bounding() - {:cap_drop_bounding, mask}
 * @ctx:	child
 * @rec:	mask[0]
 * @payload:	none
 * @reply:	OK
 * @err:	the failure
 *
 * Return: 0 or -1
 */
int cp_cap_drop_bounding(const struct cp_ctx *ctx, const struct chan_rec *rec,
			 const uint8_t *payload, struct chan_rec *reply,
			 struct linx_err *err)
{
	(void)ctx;
	(void)payload;
	(void)reply;
	return caps_drop_bounding(rec->mask[0], err);
}

/**
 * cp_cap_set_thread() - {:cap_set_thread, eff, prm, inh}
 * @ctx:	child
 * @rec:	mask[0..2]
 * @payload:	none
 * @reply:	OK
 * @err:	the failure
 *
 * Return: 0 or -1
 */
int cp_cap_set_thread(const struct cp_ctx *ctx, const struct chan_rec *rec,
		      const uint8_t *payload, struct chan_rec *reply,
		      struct linx_err *err)
{
	(void)ctx;
	(void)payload;
	(void)reply;
	return caps_set_thread(rec->mask[0], rec->mask[1], rec->mask[2], err);
}

/**
 * cp_cap_set_ambient() - {:cap_set_ambient, mask}
 * @ctx:	child
 * @rec:	mask[0]
 * @payload:	none
 * @reply:	OK
 * @err:	the failure
 *
 * Return: 0 or -1
 */
int cp_cap_set_ambient(const struct cp_ctx *ctx, const struct chan_rec *rec,
		       const uint8_t *payload, struct chan_rec *reply,
		       struct linx_err *err)
{
	(void)ctx;
	(void)payload;
	(void)reply;
	return caps_set_ambient(rec->mask[0], err);
}

/**
 * cp_seccomp_install() - {:seccomp_install, bpf}
 * @ctx:	child
 * @rec:	len: the filter's bytes
 * @payload:	the filter
 * @reply:	OK
 * @err:	the failure
 *
 * Return: 0 or -1
 */
int cp_seccomp_install(const struct cp_ctx *ctx, const struct chan_rec *rec,
		       const uint8_t *payload, struct chan_rec *reply,
		       struct linx_err *err)
{
	(void)ctx;
	(void)reply;
	return seccomp_install(payload, rec->len, err);
}

/**
 * cp_caps_query() - :caps_query, answered with CHAN_CAPS
 * @ctx:	child
 * @rec:	the query
 * @payload:	none
 * @reply:	CAPS: mask[0..4] = eff, prm, inh, bnd, amb
 * @err:	the failure
 *
 * Return: 0 or -1
 */
int cp_caps_query(const struct cp_ctx *ctx, const struct chan_rec *rec,
		  const uint8_t *payload, struct chan_rec *reply,
		  struct linx_err *err)
{
	(void)ctx;
	(void)rec;
	(void)payload;
	reply->type = CHAN_CAPS;
	return caps_query(reply->mask, err);
}

/*
 * lowest_free_fd() - the number the next new descriptor gets (the lowest
 * free one): duplicate @fd and give the copy back. Single-threaded, so
 * nothing takes it in between.
 */
static int lowest_free_fd(int fd)
{
	int probe = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	int nr = probe;

	if (probe >= 0)
		close(probe);
	return nr;	/* a number, no longer a descriptor */
}

/**
 * cp_seccomp_notify_install() - {:seccomp_notify_install, bpf}: announce
 * the listener's number, install, answer OK; the agent takes the
 * listener with pidfd_getfd
 * @ctx:	child (its channel end; where to keep our copy's number)
 * @rec:	len: the filter's bytes
 * @payload:	the filter
 * @reply:	OK
 * @err:	the failure
 *
 * Why not send the listener with SCM_RIGHTS after the install: from the
 * install on, every call the filter names waits for the agent, and the
 * agent needs the listener to answer. A filter trapping sendmsg (or any
 * call on the way to it) would make the hand-off wait for an answer only
 * the listener it carries can give: crun's and runc's hang. So the
 * channel carries only data before the install (CHAN_LISTENER_AT: the
 * number the listener will get, the lowest free one), and after it we
 * make no call the agent must see first: the agent copies the listener
 * out of our table with pidfd_getfd, then answers whatever we do next
 * (the OK, the wait for the next record) like any trapped call.
 *
 * Our copy stays open (close-on-exec) until the agent's next record
 * arrives (child_checkpoint() closes it): closing it earlier could
 * destroy the listener before the agent took it.
 *
 * Return: 0 (send the OK) or -1
 */
int cp_seccomp_notify_install(const struct cp_ctx *ctx,
			      const struct chan_rec *rec,
			      const uint8_t *payload, struct chan_rec *reply,
			      struct linx_err *err)
{
	struct chan_rec at = { .type = CHAN_LISTENER_AT };
	int listener;

	(void)reply;
	at.pid = lowest_free_fd(ctx->chan);
	if (at.pid < 0)
		return linx_fail(err, errno, STAGE_SECCOMP_INSTALL,
				 "fcntl(F_DUPFD_CLOEXEC) to find the listener's number");
	if (chan_send(ctx->chan, &at, NULL, 0))
		_exit(1);
	/* Nothing may open a descriptor between the announce and here */
	if (seccomp_notify_install(payload, rec->len, &listener, err))
		return -1;
	if (listener != at.pid)
		_exit(1);	/* cannot happen; the agent then sees EOF */
	*ctx->listener_copy = listener;
	return 0;
}

/**
 * cp_landlock() - :landlock: restrict the child to the request's
 * Landlock rules (landlock.c, "Landlock in the child")
 * @ctx:	child (its landlock rules)
 * @rec:	no masks
 * @payload:	none
 * @reply:	OK
 * @err:	the failure, stage :landlock
 *
 * Return: 0 or -1
 */
int cp_landlock(const struct cp_ctx *ctx, const struct chan_rec *rec,
		const uint8_t *payload, struct chan_rec *reply,
		struct linx_err *err)
{
	(void)rec;
	(void)payload;
	(void)reply;
	return landlock_apply(ctx->landlock, err);
}
