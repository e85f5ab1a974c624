/*
 * pty.h - the workload's own pseudo-terminal: master for the agent, slave
 * opened by the agent (before any setns, so it is the host's devpts) and
 * made the controlling terminal by the child.
 */
#ifndef LINX_PTY_H
#define LINX_PTY_H

#include "error.h"
#include "request.h"

int pty_open(int *master, int *slave, const struct linx_winsize *ws,
	     struct linx_err *err);
int pty_set_winsize(int master, const struct linx_winsize *ws,
		    struct linx_err *err);

#endif /* LINX_PTY_H */
