/*
 * pty.h - the workload's own pseudo-terminal: master for the agent, slave
 * opened by the agent (before any setns, so it is the host's devpts) and
 * made the controlling terminal by the child; and {:pty_winsize, ws}, the
 * agent's own command.
 */
#ifndef LINX_PTY_H
#define LINX_PTY_H

#include "error.h"
#include "session.h"
#include "term.h"

int pty_open(int *master, int *slave, const struct linx_winsize *ws,
	     unsigned modes, struct linx_err *err);
int pty_set_winsize(int master, const struct linx_winsize *ws,
		    struct linx_err *err);
void agent_pty_winsize(struct session *s, const struct linx_winsize *ws);

#endif /* LINX_PTY_H */
