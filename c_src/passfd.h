/*
 * passfd.h - more descriptors for the workload (request key fds), like
 * nsjail's --pass_fd and crun's --preserve-fds: their decoded form, the
 * agent's open before the clone and the child's placing (passfd.c).
 */
#ifndef LINX_PASSFD_H
#define LINX_PASSFD_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* Most entries one request may carry, and the highest target number */
#define PASSFD_MAX 64
#define PASSFD_TARGET_MAX 255

enum passfd_kind { PASSFD_FILE, PASSFD_CONNECT_UNIX };

/**
 * struct linx_passfd - one {target_fd, source} of the request
 * @target:	the workload's descriptor number, 3..PASSFD_TARGET_MAX
 * @kind:	enum passfd_kind
 * @path:	file or socket path, as the agent sees it (malloc'ed)
 * @flags:	PASSFD_FILE: open(2) flags (access mode, O_APPEND, O_CREAT,
 *		O_TRUNC, O_EXCL)
 */
struct linx_passfd {
	int target;
	enum passfd_kind kind;
	char *path;
	int flags;
};

/**
 * passfd_free() - release a request's entries; inline so the pure decoder
 * links no syscalls
 * @list:	the entries (freed), or NULL
 * @n:		how many
 */
static inline void passfd_free(struct linx_passfd *list, size_t n)
{
	size_t i;

	for (i = 0; list && i < n; i++)
		free(list[i].path);
	free(list);
}

/**
 * struct passfd_fds - the agent's open descriptors for a request's entries
 * (all above every target, close-on-exec), owned by spawn_workload() and
 * read by the child
 * @list:	the request's entries
 * @n:		how many
 * @fd:		the descriptor of each entry, the first @nopen of them open
 * @nopen:	how many are open (passfd_close() closes those)
 */
struct passfd_fds {
	const struct linx_passfd *list;
	size_t n;
	int fd[PASSFD_MAX];
	size_t nopen;
};

int passfd_open(struct passfd_fds *o, const struct linx_passfd *list,
		size_t n, int *child_chan, struct linx_err *err);
void passfd_close(struct passfd_fds *o);
int passfd_install(const struct passfd_fds *o);

#define cleanup_passfd __attribute__((cleanup(passfd_close)))

#endif /* LINX_PASSFD_H */
