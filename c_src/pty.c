/*
 * pty.c - open a fresh PTY pair and size it (see pty.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "events.h"
#include "pty.h"
#include "util.h"

/**
 * pty_set_winsize() - TIOCSWINSZ (set, not get) on the master
 * @master:	PTY master
 * @ws:		size
 * @err:	stage ptsetup on failure
 *
 * Return: 0 or -1
 */
int pty_set_winsize(int master, const struct linx_winsize *ws,
		    struct linx_err *err)
{
	struct winsize w = {
		.ws_row = ws->rows, .ws_col = ws->cols,
		.ws_xpixel = ws->xpix, .ws_ypixel = ws->ypix,
	};

	if (ioctl(master, TIOCSWINSZ, &w))
		return linx_fail(err, errno, STAGE_PTSETUP, "TIOCSWINSZ");
	return 0;
}

/**
 * pty_set_modes() - the termios changes asked for, on the slave
 * @slave:	PTY slave
 * @modes:	PTY_MODE_* bits (request.h); 0 leaves the kernel's defaults
 * @err:	stage ptsetup on failure
 *
 * Set before the workload exists, so its first read already sees them
 * (erlexec's {pty, Modes}): :noecho clears the echo flags, :raw is
 * cfmakeraw() (no line discipline, no signals from ^C, 8-bit clean).
 *
 * Return: 0 or -1
 */
static int pty_set_modes(int slave, unsigned modes, struct linx_err *err)
{
	struct termios t;

	if (!modes)
		return 0;
	if (tcgetattr(slave, &t))
		return linx_fail(err, errno, STAGE_PTSETUP, "tcgetattr");
	if (modes & PTY_MODE_RAW)
		cfmakeraw(&t);
	if (modes & PTY_MODE_NOECHO)
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	if (tcsetattr(slave, TCSANOW, &t))
		return linx_fail(err, errno, STAGE_PTSETUP, "tcsetattr");
	return 0;
}

/**
 * pty_open() - a new PTY: master (non-blocking) and slave, close-on-exec
 * @master:	set to the master
 * @slave:	set to the slave (O_NOCTTY: the agent must not acquire it)
 * @ws:		initial size, or NULL for the kernel default
 * @modes:	PTY_MODE_* termios changes (request.h)
 * @err:	stage posix_openpt, ptsetup, ptsname or pts_open
 *
 * Each workload gets its own terminal: a shared one is a TIOCSTI escape.
 *
 * Return: 0 or -1
 */
int pty_open(int *master, int *slave, const struct linx_winsize *ws,
	     unsigned modes, struct linx_err *err)
{
	cleanup_close int m = -1;
	cleanup_close int s = -1;
	char name[128];
	int e;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return linx_fail(err, errno, STAGE_POSIX_OPENPT,
				 "posix_openpt");
	if (grantpt(m) || unlockpt(m))
		return linx_fail(err, errno, STAGE_PTSETUP, "grantpt/unlockpt");
	e = ptsname_r(m, name, sizeof(name));
	if (e)
		return linx_fail(err, e, STAGE_PTSNAME, "ptsname_r");
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		return linx_fail(err, errno, STAGE_PTS_OPEN, "open %s", name);
	if (ws && pty_set_winsize(m, ws, err))
		return -1;
	if (pty_set_modes(s, modes, err))
		return -1;
	if (fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK))
		return linx_fail(err, errno, STAGE_PTSETUP, "O_NONBLOCK");
	*master = steal_fd(&m);
	*slave = steal_fd(&s);
	return 0;
}

/**
 * agent_pty_winsize() - TIOCSWINSZ on the master, in any state; not
 * fatal (the agent's own operation, not the workload's)
 * @s:		session
 * @ws:		the size
 */
void agent_pty_winsize(struct session *s, const struct linx_winsize *ws)
{
	struct linx_err err;

	if (s->pty_master < 0)
		agent_bad_state(s, CMD_PTY_WINSIZE);
	else if (pty_set_winsize(s->pty_master, ws, &err))
		ev_fail(&s->out, &err);
}
