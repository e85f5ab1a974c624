/*
 * notify.h - seccomp user notification, the agent's side: the listener
 * handed over by the child, notifications to the BEAM, replies executed.
 *
 * notify.c and notify_reply.c see only struct notify_state and the
 * struct notify_env it borrows (the agent's /proc, the output queue, the
 * declared reads), never the session: the unit tests drive them against a
 * real listener (test/c/test_notify_agent.c).
 */
#ifndef LINX_NOTIFY_H
#define LINX_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "framing.h"
#include "notify_call.h"
#include "notify_prog.h"
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
 * struct notify_env - what notify borrows from its owner (the session)
 * @proc_fd:	the agent's /proc (opened before any setns)
 * @out:	the queue of frames to the BEAM
 * @reads:	the request's notify_reads
 * @nreads:	how many
 * @program:	the request's notify_program (compiled rules), or NULL
 * @program_len: its length
 * @events:	send {:notified, …} after each call the program answered
 */
struct notify_env {
	int proc_fd;
	struct byteq *out;
	const struct notify_read *reads;
	size_t nreads;
	const uint8_t *program;
	size_t program_len;
	bool events;
};

/**
 * struct notify_run - a reply whose steps are being run
 * @active:	a reply is being run (a {:call} helper answers it)
 * @id:		its notification
 * @tgid:	the caller's thread group
 * @steps:	its steps (a copy, owned when @owned)
 * @nsteps:	how many
 * @owned:	@steps is ours to free
 * @next:	the step being run
 * @last:	the last call's or addfd's value (:return_last)
 * @keep:	directories its {:call} steps resolved
 * @call:	the helper of step @next, when it is a {:call}
 */
struct notify_run {
	bool active;
	uint64_t id;
	pid_t tgid;
	struct notify_step *steps;
	size_t nsteps;
	bool owned;
	size_t next;
	int64_t last;
	struct notify_keep keep;
	struct notify_call call;
};

/**
 * struct notify_queued - a reply with a {:call} step that waits for the
 * running one
 * @id:		its notification
 * @tgid:	the caller's thread group
 * @steps:	its steps (a copy, owned)
 * @nsteps:	how many
 */
struct notify_queued {
	uint64_t id;
	pid_t tgid;
	struct notify_step *steps;
	size_t nsteps;
};

/**
 * struct notify_state - the listener and what serving it needs
 * @listener:		the listener, or -1 (none yet, or closed)
 * @env:		what is borrowed from the session (bound at attach)
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
 * @listener_at:	the descriptor number the child announced for its
 *			listener, while the agent does not hold it; else -1
 * @run:		the reply being run, if its {:call} helper runs
 * @queue:		replies with a {:call} step waiting for @run, in
 *			order of arrival
 * @nqueued:		how many
 * @qcap:		allocated entries in @queue
 * @prog:		@env.program decoded (bound at listen)
 * @has_prog:		@prog is set: the agent decides what it can
 */
struct notify_state {
	int listener;
	struct notify_env env;
	void *notif;
	size_t notif_size;
	void *resp;
	size_t resp_size;
	struct notify_pending *pending;
	size_t npending;
	size_t cap;
	bool installing;
	int listener_at;
	struct notify_run run;
	struct notify_queued *queue;
	size_t nqueued;
	size_t qcap;
	struct nprog prog;
	bool has_prog;
};

struct session;

void notify_init(struct notify_state *n);
int notify_attach(struct session *s, int listener, struct linx_err *err);
int notify_listen(struct notify_state *n, const struct notify_env *env,
		  int listener, struct linx_err *err);
void notify_on_listener(struct notify_state *n, short revents);
void notify_close_listener(struct notify_state *n);
void notify_detach(struct notify_state *n);
void notify_reply(struct notify_state *n, const struct linx_cmd *c);
void notify_reply_malformed(struct notify_state *n, uint64_t id);
void notify_read_cmd(struct notify_state *n, const struct linx_cmd *c);
void notify_fd_path_cmd(struct notify_state *n, const struct linx_cmd *c);

/* The {:call} helper of the running reply, for the event loop */
int notify_call_pollfd(const struct notify_state *n);
int notify_poll_timeout(const struct notify_state *n, int timeout_ms);
void notify_on_call(struct notify_state *n, short revents);

/* Shared by notify.c and notify_reply.c */
bool notify_id_valid(const struct notify_state *n, uint64_t id);
pid_t notify_pending_take(struct notify_state *n, uint64_t id);
void notify_send_resp(struct notify_state *n, uint64_t id, int64_t val,
		      int err, uint32_t flags);
void notify_replies_drop(struct notify_state *n);

#endif /* LINX_NOTIFY_H */
