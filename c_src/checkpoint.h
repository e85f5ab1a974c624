/*
 * checkpoint.h - the child's side of the checkpoint commands: one apply
 * function per command, named by its row of the command table
 * (command.c), run by child_checkpoint() (child.c) on the record the
 * agent forwarded (relay.c).
 */
#ifndef LINX_CHECKPOINT_H
#define LINX_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "error.h"
#include "landlock.h"

/**
 * struct cp_ctx - what an apply function may need of the child
 * @chan:	the child's channel end (to answer with a descriptor)
 * @pdeathsig:	PR_SET_PDEATHSIG(SIGKILL) is wanted (on_exit: :kill)
 * @listener_copy: where seccomp_notify_install leaves our copy of the
 *		listener (child_checkpoint() closes it once the agent took
 *		it), else -1
 * @landlock:	the request's Landlock rules (:landlock), or NULL
 */
struct cp_ctx {
	int chan;
	bool pdeathsig;
	int *listener_copy;
	const struct landlock_set *landlock;
};

/*
 * An apply function: the command of @rec (and @payload, rec->len bytes)
 * applied to the child itself. @reply is a CHAN_OK record to fill in
 * (or turn into CHAN_CAPS). Return: 0 (send @reply), -1 (@err is the
 * answer) or 1 (answered already).
 */
typedef int cp_apply_fn(const struct cp_ctx *ctx, const struct chan_rec *rec,
			const uint8_t *payload, struct chan_rec *reply,
			struct linx_err *err);

cp_apply_fn cp_set_ids;
cp_apply_fn cp_cap_drop_bounding;
cp_apply_fn cp_cap_set_thread;
cp_apply_fn cp_cap_set_ambient;
cp_apply_fn cp_seccomp_install;
cp_apply_fn cp_caps_query;
cp_apply_fn cp_seccomp_notify_install;
cp_apply_fn cp_landlock;

#endif /* LINX_CHECKPOINT_H */
