/*
 * agent.h - the agent's exits and lifecycle (agent.c): below the
 * checkpoint window (relay.c) and the poll loop (supervise.c), which both
 * call it; main.c exits through it too.
 */
#ifndef LINX_AGENT_H
#define LINX_AGENT_H

#include "command.h"
#include "error.h"
#include "session.h"

int agent_out_write(struct session *s);
int agent_out_flush(struct session *s);
void agent_exit(struct session *s, int code) __attribute__((noreturn));
void agent_fail(struct session *s, int err, int stage, int code)
	__attribute__((noreturn));
void agent_fail_err(struct session *s, const struct linx_err *e, int code)
	__attribute__((noreturn));
void agent_session_init(struct session *s, struct linx_request *req);
void agent_kill_tree(struct session *s);
void agent_child_lost(struct session *s, int stage)
	__attribute__((noreturn));
void agent_wait_child(struct session *s);
void agent_bad_state(struct session *s, enum linx_cmd_kind kind);
void agent_emit_terminal(struct session *s);
void agent_beam_gone(struct session *s) __attribute__((noreturn));
void close_fd(int *fdp);

#endif /* LINX_AGENT_H */
