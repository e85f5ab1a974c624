/*
 * notify.h - seccomp user notification, the agent's side: the listener
 * handed over by the child, notifications to the BEAM, replies executed.
 */
#ifndef LINX_NOTIFY_H
#define LINX_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "request.h"

/**
 * struct notify_pending - a notification sent to the BEAM, not answered
 * @id:		the kernel's cookie
 * @tgid:	the caller's thread group (the reply carries only the id)
 */
struct notify_pending {
	uint64_t id;
	pid_t tgid;
};

/**
 * struct notify_state - the listener and what serving it needs
 * @listener:		the listener, or -1 (none yet, or closed)
 * @notif:		NOTIF_RECV buffer, @notif_size bytes
 *			(SECCOMP_GET_NOTIF_SIZES: the kernel's struct may be
 *			larger than our headers' one)
 * @notif_size:		its size
 * @resp:		NOTIF_SEND buffer, @resp_size bytes
 * @resp_size:		its size
 * @pending:		notifications the BEAM has not answered yet
 * @npending:		how many
 * @cap:		allocated entries in @pending
 * @installing:		a seccomp_notify_install was forwarded to the child
 */
struct notify_state {
	int listener;
	void *notif;
	size_t notif_size;
	void *resp;
	size_t resp_size;
	struct notify_pending *pending;
	size_t npending;
	size_t cap;
	bool installing;
};

struct session;

void notify_init(struct notify_state *n);
int notify_attach(struct session *s, int listener, struct linx_err *err);
void notify_on_listener(struct session *s, short revents);
void notify_detach(struct session *s);
void notify_reply(struct session *s, const struct linx_cmd *c);
void notify_reply_malformed(struct session *s, uint64_t id);
void notify_read_cmd(struct session *s, const struct linx_cmd *c);
void notify_fd_path_cmd(struct session *s, const struct linx_cmd *c);

#endif /* LINX_NOTIFY_H */
