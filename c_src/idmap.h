/*
 * idmap.h - the workload's user namespace id maps: their decoded form
 * (request keys uid_map, gid_map, setgroups) and the agent's write of
 * /proc/PID/uid_map, setgroups and gid_map (idmap.c).
 */
#ifndef LINX_IDMAP_H
#define LINX_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "error.h"

/* The kernel's limit on the lines of one map (since Linux 4.15) */
#define IDMAP_MAX_LINES 340

enum linx_setgroups { SETGROUPS_UNSET, SETGROUPS_ALLOW, SETGROUPS_DENY };

/**
 * struct idmap_range - one line of a map: {inside, outside, count}
 * @inside:	first id inside the namespace
 * @outside:	first id outside (in the agent's user namespace)
 * @count:	how many ids, >= 1
 */
struct idmap_range {
	uint32_t inside;
	uint32_t outside;
	uint32_t count;
};

/**
 * struct idmap_set - what the agent writes right after the clone
 * @uid:	uid_map lines (malloc'ed), NULL: not written
 * @nuid:	how many, 1..IDMAP_MAX_LINES when @uid is set
 * @gid:	gid_map lines (malloc'ed), NULL: not written
 * @ngid:	how many
 * @setgroups:	SETGROUPS_DENY: "deny" written between the two maps;
 *		SETGROUPS_ALLOW or SETGROUPS_UNSET: left as the kernel has it
 */
struct idmap_set {
	struct idmap_range *uid;
	size_t nuid;
	struct idmap_range *gid;
	size_t ngid;
	enum linx_setgroups setgroups;
};

/**
 * idmap_needed() - does the request carry anything to write?
 * @m:		the maps
 *
 * Inline (as idmap_free()), so the pure decoder and the fuzz harness do
 * not link the writer.
 *
 * Return: true if a map or a setgroups deny is to be written
 */
static inline bool idmap_needed(const struct idmap_set *m)
{
	return m->uid || m->gid || m->setgroups == SETGROUPS_DENY;
}

/**
 * idmap_free() - release the maps (zeroed afterwards)
 * @m:		the maps
 */
static inline void idmap_free(struct idmap_set *m)
{
	free(m->uid);
	free(m->gid);
	memset(m, 0, sizeof(*m));
}

int idmap_write(pid_t pid, const struct idmap_set *m, struct linx_err *err);

/* The pure decode of the request keys (idmap_wire.c) */
struct tdec;
int idmap_decode_map(struct tdec *d, struct idmap_range **out,
		     size_t *count, const char *path);
int idmap_decode_setgroups(struct tdec *d, enum linx_setgroups *out,
			   const char *path);

#endif /* LINX_IDMAP_H */
