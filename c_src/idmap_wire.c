/*
 * idmap_wire.c - pure decode of the request keys uid_map, gid_map and
 * setgroups into struct idmap_set (idmap.h); idmap.c writes them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "idmap.h"
#include "term.h"

/*
 * idmap_decode_map() - [{inside, outside, count}], 1..IDMAP_MAX_LINES lines
 * of u32s, count >= 1; whether the kernel takes them (overlaps, ids the
 * agent may not map) is the write's to say (stage uid_map / gid_map)
 */
int idmap_decode_map(struct tdec *d, struct idmap_range **out,
		     size_t *count, const char *path)
{
	static const char *const field[3] = { "inside", "outside", "count" };
	char p[PATH_MAX_LEN], f[PATH_MAX_LEN];
	uint64_t v[3];
	int arity, i, n, k;

	free(*out);		/* a repeated key: last one wins */
	*out = NULL;
	*count = 0;
	if (td_list(d, &arity, path))
		return -1;
	if (arity < 1 || arity > IDMAP_MAX_LINES)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected 1..%d entries, got %d", path,
				 IDMAP_MAX_LINES, arity);
	*out = calloc(arity, sizeof(**out));
	if (!*out)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_tuple(d, &n, p))
			return -1;
		if (n != 3)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: expected {inside, outside, count}",
					 p);
		for (k = 0; k < 3; k++) {
			path_fmt(f, sizeof(f), "%s.%s", p, field[k]);
			if (td_uint_max(d, k == 2 ? 1 : 0, UINT32_MAX, &v[k],
					f))
				return -1;
		}
		(*out)[i].inside = v[0];
		(*out)[i].outside = v[1];
		(*out)[i].count = v[2];
		*count = i + 1;
	}
	return td_list_end(d, path);
}

/*
 * idmap_decode_setgroups() - :allow | :deny
 */
int idmap_decode_setgroups(struct tdec *d, enum linx_setgroups *out,
			   const char *path)
{
	char atom[TD_ATOM_MAX];

	if (td_atom(d, atom, path))
		return -1;
	if (!strcmp(atom, "allow"))
		*out = SETGROUPS_ALLOW;
	else if (!strcmp(atom, "deny"))
		*out = SETGROUPS_DENY;
	else
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected :allow or :deny, got :%s",
				 path, atom);
	return 0;
}
