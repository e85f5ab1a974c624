/*
 * idmap.c - the agent writes the workload's id maps itself (request keys
 * uid_map, gid_map, setgroups; see idmap.h), while the child waits at its
 * checkpoint right after the clone: no round trip to the BEAM, which
 * computed and validated the maps (Linx.Process.Options).
 *
 * The kernel's rules shape the order: each map file takes one write(2)
 * holding every line, once per namespace; an unprivileged writer may set
 * gid_map only after setgroups is "deny". So: uid_map, then setgroups
 * deny where asked, then gid_map. A failure names the file as its stage
 * (:uid_map, :setgroups, :gid_map) and the text written as its message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "idmap.h"

/* "4294967295 4294967295 4294967295\n" */
#define IDMAP_LINE_MAX 34

/*
 * proc_write() - one write(2) of @text to /proc/@pid/@file
 */
static int proc_write(pid_t pid, const char *file, const char *text,
		      int stage, struct linx_err *err)
{
	char path[64];
	size_t len = strlen(text);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return linx_fail(err, errno, stage, "open %s", path);
	n = write(fd, text, len);
	if (n < 0) {
		int e = errno;

		close(fd);
		return linx_fail(err, e, stage, "write %s: \"%s\"", path,
				 text);
	}
	close(fd);
	if ((size_t)n != len)
		return linx_fail(err, EIO, stage,
				 "write %s: %zd of %zu bytes", path, n, len);
	return 0;
}

/*
 * write_map() - all lines of one map in a single write, as the kernel
 * requires
 */
static int write_map(pid_t pid, const char *file,
		     const struct idmap_range *r, size_t n, int stage,
		     struct linx_err *err)
{
	char text[IDMAP_MAX_LINES * IDMAP_LINE_MAX + 1];
	size_t i, off = 0;

	if (n > IDMAP_MAX_LINES)
		return linx_fail(err, EINVAL, stage, "%s: %zu lines", file, n);
	text[0] = '\0';
	for (i = 0; i < n; i++)
		off += snprintf(text + off, sizeof(text) - off, "%u %u %u\n",
				r[i].inside, r[i].outside, r[i].count);
	return proc_write(pid, file, text, stage, err);
}

/**
 * idmap_write() - write the maps of workload @pid: uid_map, setgroups,
 * gid_map
 * @pid:	the workload, a child of ours held at its checkpoint
 * @m:		what to write
 * @err:	stage uid_map, setgroups or gid_map on failure
 *
 * Return: 0 or -1
 */
int idmap_write(pid_t pid, const struct idmap_set *m, struct linx_err *err)
{
	if (m->uid &&
	    write_map(pid, "uid_map", m->uid, m->nuid, STAGE_UID_MAP, err))
		return -1;
	/* Before gid_map: the kernel wants it so for an unprivileged writer */
	if (m->setgroups == SETGROUPS_DENY &&
	    proc_write(pid, "setgroups", "deny", STAGE_SETGROUPS, err))
		return -1;
	if (m->gid &&
	    write_map(pid, "gid_map", m->gid, m->ngid, STAGE_GID_MAP, err))
		return -1;
	return 0;
}
