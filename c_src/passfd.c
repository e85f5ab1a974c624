/*
 * passfd.c - the fds option: descriptors opened by the agent before the
 * clone and placed at their numbers by the child just before execve.
 *
 * DOC: Passing descriptors
 *
 * The agent opens every source before the clone, before any setns, with
 * its own view of the filesystem and its own credentials, as a shell
 * redirection would (`3<file`): a workload whose root shows nothing of
 * the host can still be given one host file or socket. A {:file, path,
 * flags} is open(2)ed, a {:connect_unix, path} connected (a listener
 * whose backlog stays full fails it with ETIMEDOUT after
 * PASSFD_CONNECT_TIMEOUT_S); the failing entry is named at stage :fds.
 *
 * Every opened descriptor, and the child's end of the channel, is moved
 * above the highest target, so that placing one target (dup2) can never
 * close a source still to be placed or the channel that reports an
 * execve failure. The child places them after marking every fd >= 3
 * close-on-exec: dup2 gives the target a clear close-on-exec flag, the
 * sources themselves close at execve.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "passfd.h"
#include "unix_sock.h"

/* How long the agent waits for room in a listener's backlog */
#define PASSFD_CONNECT_TIMEOUT_S 5

/*
 * lift_fd() - move *@fd to the lowest free number >= @floor
 * (close-on-exec), closing the old one
 */
static int lift_fd(int *fd, int floor)
{
	int nfd;

	if (*fd >= floor)
		return 0;
	nfd = fcntl(*fd, F_DUPFD_CLOEXEC, floor);
	if (nfd < 0)
		return -1;
	close(*fd);
	*fd = nfd;
	return 0;
}

/*
 * open_source() - one entry's descriptor, as the agent sees its path
 */
static int open_source(const struct linx_passfd *e)
{
	if (e->kind == PASSFD_CONNECT_UNIX)
		return unix_connect(e->path, PASSFD_CONNECT_TIMEOUT_S);
	return open(e->path, e->flags | O_CLOEXEC | O_NOCTTY, 0666);
}

/**
 * passfd_open() - open every source, above every target (agent, before
 * the clone)
 * @o:		filled (passfd_close() it on every path, also on failure)
 * @list:	the request's entries (targets distinct, 3..PASSFD_TARGET_MAX)
 * @n:		how many, at most PASSFD_MAX
 * @child_chan:	the child's channel end, moved above every target too
 * @err:	stage :fds, naming the entry
 *
 * Return: 0 or -1
 */
int passfd_open(struct passfd_fds *o, const struct linx_passfd *list,
		size_t n, int *child_chan, struct linx_err *err)
{
	int floor = 3;
	size_t i;

	o->list = list;
	o->n = n > PASSFD_MAX ? PASSFD_MAX : n;
	o->nopen = 0;
	if (!o->n)
		return 0;
	for (i = 0; i < o->n; i++)
		if (list[i].target >= floor)
			floor = list[i].target + 1;
	if (lift_fd(child_chan, floor))
		return linx_fail(err, errno, STAGE_FDS,
				 "fds: move the channel above fd %d", floor - 1);
	for (i = 0; i < o->n; i++) {
		const struct linx_passfd *e = &list[i];
		int fd = open_source(e);

		if (fd >= 0)
			o->fd[o->nopen++] = fd;
		if (fd < 0 || lift_fd(&o->fd[i], floor))
			return linx_fail(err, errno, STAGE_FDS,
					 "fds: %s %s for fd %d",
					 e->kind == PASSFD_CONNECT_UNIX ?
						 "connect_unix" : "open",
					 e->path, e->target);
	}
	return 0;
}

/**
 * passfd_close() - close what passfd_open() opened (errno preserved)
 * @o:		the descriptors
 */
void passfd_close(struct passfd_fds *o)
{
	int saved = errno;

	while (o->nopen)
		close(o->fd[--o->nopen]);
	errno = saved;
}

/**
 * passfd_install() - dup2 every source onto its target (child, after the
 * close-on-exec sweep, just before execve)
 * @o:		the descriptors the agent opened
 *
 * Return: 0, or -1 with errno
 */
int passfd_install(const struct passfd_fds *o)
{
	size_t i;

	for (i = 0; i < o->nopen; i++)
		if (dup2(o->fd[i], o->list[i].target) < 0)
			return -1;
	return 0;
}
