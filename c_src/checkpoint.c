/*
 * checkpoint.c - the child's apply functions, one per checkpoint command
 * (see checkpoint.h). They run in the child, after READY and before
 * PROCEED, in the order the agent forwards them; each is a thin call
 * into caps.c, which does the work and names the stage of a failure.
 */
#define _GNU_SOURCE
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

/**
 * cp_seccomp_notify_install() - {:seccomp_notify_install, bpf}: the OK
 * carries the listener
 * @ctx:	child (its channel end)
 * @rec:	len: the filter's bytes
 * @payload:	the filter
 * @reply:	OK, sent here with the listener
 * @err:	the failure
 *
 * Return: 1 (answered) or -1
 */
int cp_seccomp_notify_install(const struct cp_ctx *ctx,
			      const struct chan_rec *rec,
			      const uint8_t *payload, struct chan_rec *reply,
			      struct linx_err *err)
{
	int listener;

	if (seccomp_notify_install(payload, rec->len, &listener, err))
		return -1;
	/*
	 * The listener goes to the agent with the OK, before anything else
	 * we do can be trapped: from here on every call the filter names
	 * waits for the agent, which must already hold the listener to
	 * answer it. Then our copy goes: a workload must never be able to
	 * answer its own notifications.
	 */
	if (chan_send_fd(ctx->chan, reply, listener))
		_exit(1);
	close(listener);
	return 1;
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
