/*
 * procfs.h - the /proc lookups shared by notify.c, notify_call.c,
 * notify_helper.c, ns.c and main.c.
 */
#ifndef LINX_PROCFS_H
#define LINX_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* procfs_open()'s @proc_fd for "the /proc we see now" */
#define PROCFS_CWD (-1)

int procfs_open(int proc_fd, pid_t pid, const char *what, int flags);
ssize_t procfs_read_text(int fd, char *buf, size_t cap);
int procfs_read_small(int dirfd, const char *name, char *buf, size_t cap);
bool procfs_same_ns(int fd, const char *self_name);
uint64_t procfs_sig_ignored(int proc_fd);

#endif /* LINX_PROCFS_H */
