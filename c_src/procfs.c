/*
 * procfs.c - the /proc lookups shared by the agent's notify modules and
 * ns.c: a process's entry opened relative to a /proc descriptor (the
 * agent's, held from before any setns, or the /proc we see now), a small
 * text file read whole, and "is this namespace ours".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procfs.h"
#include "util.h"

/**
 * procfs_open() - open /proc/@pid/@what
 * @proc_fd:	a /proc directory, or PROCFS_CWD for "/proc"
 * @pid:	the process (or thread)
 * @what:	the entry under it ("status", "ns/mnt", "fd/3"), or NULL for
 *		the process's directory itself
 * @flags:	open flags (O_CLOEXEC is added)
 *
 * Return: the descriptor, or -1 with errno
 */
int procfs_open(int proc_fd, pid_t pid, const char *what, int flags)
{
	char path[64];

	if (proc_fd == PROCFS_CWD)
		snprintf(path, sizeof(path), "/proc/%d%s%s", (int)pid,
			 what ? "/" : "", what ? what : "");
	else
		snprintf(path, sizeof(path), "%d%s%s", (int)pid,
			 what ? "/" : "", what ? what : "");
	return openat(proc_fd == PROCFS_CWD ? AT_FDCWD : proc_fd, path,
		      flags | O_CLOEXEC);
}

/**
 * procfs_read_text() - one read of a /proc text file, NUL-terminated
 * @fd:		the open file
 * @buf:	room for @cap bytes
 * @cap:	its size (at least 1)
 *
 * /proc files of a few KiB are produced whole by the first read.
 *
 * Return: bytes read (0: empty), or -1 with errno
 */
ssize_t procfs_read_text(int fd, char *buf, size_t cap)
{
	ssize_t n = read(fd, buf, cap - 1);

	buf[n < 0 ? 0 : n] = '\0';
	return n;
}

/**
 * procfs_read_small() - the text of @name under @dirfd, NUL-terminated
 * @dirfd:	directory (a /proc/PID descriptor)
 * @name:	entry
 * @buf:	room for @cap bytes
 * @cap:	its size (at least 1)
 *
 * Return: 0, or -1 with errno (@buf is then an empty string)
 */
int procfs_read_small(int dirfd, const char *name, char *buf, size_t cap)
{
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	buf[0] = '\0';
	if (fd < 0)
		return -1;
	return procfs_read_text(fd, buf, cap) < 0 ? -1 : 0;
}

/**
 * procfs_same_ns() - is the namespace behind @fd the one we are in?
 * @fd:		a namespace descriptor (/proc/PID/ns/...)
 * @self_name:	the /proc/self/ns entry to compare with ("user", or
 *		"pid_for_children": what our children would get)
 */
bool procfs_same_ns(int fd, const char *self_name)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/ns/%s", self_name);
	return !fstat(fd, &a) && !stat(path, &b) && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/**
 * procfs_sig_ignored() - the signals this process ignores, from the
 * SigIgn line of /proc/self/status (bit n-1 for signal n)
 * @proc_fd:	a /proc of our pid namespace
 *
 * Return: the mask, or every bit when it cannot be read (the caller then
 * resets all of them)
 */
uint64_t procfs_sig_ignored(int proc_fd)
{
	char buf[4096], *line, *end;
	unsigned long long mask;

	if (procfs_read_small(proc_fd, "self/status", buf, sizeof(buf)))
		return UINT64_MAX;
	line = strstr(buf, "\nSigIgn:");
	if (!line)
		return UINT64_MAX;
	errno = 0;
	mask = strtoull(line + 8, &end, 16);
	if (errno || end == line + 8 || *end != '\n')
		return UINT64_MAX;
	return mask;
}
