/*
 * landlock.h - the request's Landlock rules (request key landlock): their
 * decoded form, the ABI probe and the child's application (landlock.c).
 *
 * The rules are decoded by the agent (request.c) before the clone; the
 * child applies them at the checkpoint command :landlock, after the
 * mounts and before the capability and seccomp commands, opening each
 * path as it sees it then. Nothing here allocates.
 */
#ifndef LINX_LANDLOCK_H
#define LINX_LANDLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* Most rules one request may carry */
#define LANDLOCK_MAX_RULES 256

/* The access classes of the landlock option, by their wire atom */
enum landlock_class { LL_READ, LL_READ_WRITE, LL_EXECUTE, LL_CLASS_COUNT };

/**
 * struct landlock_rule - one {class, path} of the request
 * @class:	enum landlock_class
 * @path:	the path as the workload sees it at the checkpoint (malloc'ed)
 */
struct landlock_rule {
	enum landlock_class class;
	char *path;
};

/**
 * struct landlock_set - every rule of the request
 * @rules:	the rules (malloc'ed), NULL: no landlock key
 * @n:		how many, 1..LANDLOCK_MAX_RULES when @rules is set
 */
struct landlock_set {
	struct landlock_rule *rules;
	size_t n;
};

/**
 * landlock_free() - release the rules (zeroed afterwards); inline so the
 * pure decoder does not link the syscalls
 * @s:		the rules
 */
static inline void landlock_free(struct landlock_set *s)
{
	size_t i;

	for (i = 0; s->rules && i < s->n; i++)
		free(s->rules[i].path);
	free(s->rules);
	memset(s, 0, sizeof(*s));
}

const char *landlock_class_name(enum landlock_class c);
uint64_t landlock_fs_rights(int abi);
uint64_t landlock_class_rights(enum landlock_class c);
int landlock_abi_result(long ret, int errnum, struct linx_err *err);
int landlock_abi(struct linx_err *err);
int landlock_apply(const struct landlock_set *s, struct linx_err *err);

#endif /* LINX_LANDLOCK_H */
