/*
 * supervise.h - the agent's event loop and its exits.
 */
#ifndef LINX_SUPERVISE_H
#define LINX_SUPERVISE_H

#include "error.h"
#include "session.h"

void supervise_run(struct session *s) __attribute__((noreturn));
void agent_exit(struct session *s, int code) __attribute__((noreturn));
void agent_fail(struct session *s, int err, int stage, int code)
	__attribute__((noreturn));
void agent_kill_tree(struct session *s);
void agent_child_lost(struct session *s, int stage)
	__attribute__((noreturn));
void agent_wait_child(struct session *s);
void agent_bad_state(struct session *s);
void agent_pty_winsize(struct session *s, const struct linx_winsize *ws);

#endif /* LINX_SUPERVISE_H */
