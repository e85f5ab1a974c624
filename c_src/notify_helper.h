/*
 * notify_helper.h - what the agent (notify_call.c) and the helper process
 * of a {:call, ...} step (notify_helper.c) exchange.
 */
#ifndef LINX_NOTIFY_HELPER_H
#define LINX_NOTIFY_HELPER_H

#include <stdint.h>
#include <sys/types.h>

#include "notify_path.h"
#include "request.h"

/**
 * struct call_result - what the helper sends the agent
 * @ret:	the syscall's return value, or -1
 * @err:	its errno (0 on success)
 * @nfds:	parent directories attached (SCM_RIGHTS), in pair order
 * @pair:	the pair index of each
 */
struct call_result {
	int64_t ret;
	int32_t err;
	int32_t nfds;
	int32_t pair[NPATH_MAX_PAIRS];
};

/**
 * struct helper_fds - descriptors a helper uses beyond its step
 * @kept:	per pair, a parent directory an earlier step resolved, or -1
 * @fresh:	per pair, one this helper resolved (sent back), or -1
 */
struct helper_fds {
	int kept[NPATH_MAX_PAIRS];
	int fresh[NPATH_MAX_PAIRS];
};

void notify_helper_main(int out, int proc_fd, pid_t tgid,
			const struct notify_step *st, struct helper_fds *fds)
	__attribute__((noreturn));

#endif /* LINX_NOTIFY_HELPER_H */
