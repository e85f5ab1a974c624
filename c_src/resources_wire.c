/*
 * resources_wire.c - pure decode of the request keys cgroups_v1, rlimits,
 * nice, cpus, timeout and kill_timeout (see resources.h and
 * docs/protocol.md), and their part of the {:echo, request} answer.
 *
 * PURE: no I/O. A failure names the path of the offending term with the
 * decoder's stage (malformed_request).
 */
#include <errno.h>
#include <sys/resource.h>

#include "resources.h"
#include "util.h"

/* The rlimits Linx.Process accepts, by their atom */
static const struct {
	const char *name;
	int resource;
} rlimit_table[] = {
	{ "nofile",	RLIMIT_NOFILE },
	{ "as",		RLIMIT_AS },
	{ "cpu",	RLIMIT_CPU },
	{ "core",	RLIMIT_CORE },
	{ "nproc",	RLIMIT_NPROC },
	{ "fsize",	RLIMIT_FSIZE },
	{ "stack",	RLIMIT_STACK },
	{ "memlock",	RLIMIT_MEMLOCK },
};

/*
 * rlimit_name() - the atom of an RLIMIT_* number ("?" if not ours)
 */
static const char *rlimit_name(int resource)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rlimit_table); i++)
		if (rlimit_table[i].resource == resource)
			return rlimit_table[i].name;
	return "?";
}

/**
 * limits_decode_cgroups() - opts.cgroups_v1: a list of 0..8 paths
 * @d:		cursor
 * @l:		result (a repeated key: the last one wins)
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int limits_decode_cgroups(struct tdec *d, struct linx_limits *l,
			  const char *path)
{
	char p[PATH_MAX_LEN];
	int arity, i;

	limits_free(l);
	if (td_list(d, &arity, path))
		return -1;
	if (arity > LIMITS_MAX_CGROUPS)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: at most %d groups, got %d", path,
				 LIMITS_MAX_CGROUPS, arity);
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		/* counted first: a path refused after its copy is made (a NUL
		 * byte) is freed by limits_free() too */
		l->ncgroups = i + 1;
		if (decode_path(d, &l->cgroups_v1[i], p))
			return -1;
	}
	return td_list_end(d, path);
}

/*
 * decode_rlimit_one() - {name, soft, hard}, soft <= hard
 */
static int decode_rlimit_one(struct tdec *d, struct linx_rlimit *r,
			     const char *path)
{
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity;
	size_t k;

	if (td_tuple(d, &arity, path))
		return -1;
	if (arity != 3)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {name, soft, hard}", path);
	path_fmt(p, sizeof(p), "%s.name", path);
	if (td_atom(d, atom, p))
		return -1;
	for (k = 0; k < ARRAY_SIZE(rlimit_table); k++)
		if (!strcmp(atom, rlimit_table[k].name))
			break;
	if (k == ARRAY_SIZE(rlimit_table))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: unknown rlimit :%s", p, atom);
	r->resource = rlimit_table[k].resource;
	path_fmt(p, sizeof(p), "%s.soft", path);
	if (td_u64(d, &r->soft, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.hard", path);
	if (td_u64(d, &r->hard, p))
		return -1;
	if (r->soft > r->hard)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: soft limit above the hard one", path);
	return 0;
}

/**
 * limits_decode_rlimits() - opts.rlimits: [{name, soft, hard}], u64s
 * (2^64 - 1 is RLIM_INFINITY), at most 16
 * @d:		cursor
 * @l:		result
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int limits_decode_rlimits(struct tdec *d, struct linx_limits *l,
			  const char *path)
{
	char p[PATH_MAX_LEN];
	int arity, i;

	l->nrlimits = 0;
	if (td_list(d, &arity, path))
		return -1;
	if (arity > LIMITS_MAX_RLIMITS)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: at most %d entries, got %d", path,
				 LIMITS_MAX_RLIMITS, arity);
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (decode_rlimit_one(d, &l->rlimits[i], p))
			return -1;
		l->nrlimits = i + 1;
	}
	return td_list_end(d, path);
}

/**
 * limits_decode_nice() - opts.nice: an integer -20..19
 * @d:		cursor
 * @l:		result
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int limits_decode_nice(struct tdec *d, struct linx_limits *l,
		       const char *path)
{
	uint64_t bits;
	int64_t v;

	if (td_i64_bits(d, &bits, path))
		return -1;
	v = (int64_t)bits;
	if (v < -20 || v > 19)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected -20..19", path);
	l->has_nice = true;
	l->nice = (int)v;
	return 0;
}

/**
 * limits_decode_cpus() - opts.cpus: a non-empty list of CPU indices
 * 0..1023
 * @d:		cursor
 * @l:		result
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int limits_decode_cpus(struct tdec *d, struct linx_limits *l,
		       const char *path)
{
	char p[PATH_MAX_LEN];
	int arity, i;
	uint64_t cpu;

	memset(l->cpus, 0, sizeof(l->cpus));
	l->has_cpus = false;
	if (td_list(d, &arity, path))
		return -1;
	if (arity < 1)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected a non-empty list", path);
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_uint_max(d, 0, LIMITS_MAX_CPUS - 1, &cpu, p))
			return -1;
		l->cpus[cpu / 64] |= 1ULL << (cpu % 64);
	}
	l->has_cpus = true;
	return td_list_end(d, path);
}

/**
 * limits_decode_timeout() - opts.timeout: milliseconds 1..2^32
 * @d:		cursor
 * @l:		result
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int limits_decode_timeout(struct tdec *d, struct linx_limits *l,
			  const char *path)
{
	return td_uint_max(d, 1, LIMITS_MAX_MS, &l->timeout_ms, path);
}

/**
 * limits_decode_kill_timeout() - opts.kill_timeout: milliseconds 0..2^32
 * @d:		cursor
 * @l:		result
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int limits_decode_kill_timeout(struct tdec *d, struct linx_limits *l,
			       const char *path)
{
	return td_uint_max(d, 0, LIMITS_MAX_MS, &l->kill_timeout_ms, path);
}

/*
 * encode_cpus() - the mask as a sorted list of indices, or nil
 */
static int encode_cpus(ei_x_buff *x, const struct linx_limits *l)
{
	int cpu;

	if (!l->has_cpus)
		return ei_x_encode_atom(x, "nil");
	for (cpu = 0; cpu < LIMITS_MAX_CPUS; cpu++)
		if ((l->cpus[cpu / 64] >> (cpu % 64)) & 1)
			if (ei_x_encode_list_header(x, 1) ||
			    ei_x_encode_long(x, cpu))
				return -1;
	return ei_x_encode_empty_list(x);
}

/*
 * encode_rlimits() - [{name, soft, hard}]
 */
static int encode_rlimits(ei_x_buff *x, const struct linx_limits *l)
{
	size_t i;

	if (l->nrlimits && ei_x_encode_list_header(x, l->nrlimits))
		return -1;
	for (i = 0; i < l->nrlimits; i++)
		if (ei_x_encode_tuple_header(x, 3) ||
		    ei_x_encode_atom(x, rlimit_name(l->rlimits[i].resource)) ||
		    ei_x_encode_ulonglong(x, l->rlimits[i].soft) ||
		    ei_x_encode_ulonglong(x, l->rlimits[i].hard))
			return -1;
	return ei_x_encode_empty_list(x);
}

/**
 * limits_echo_encode() - the value of the echo's `resources` key:
 * %{cgroups_v1: [path], rlimits: [{name, soft, hard}], nice: n | nil,
 * cpus: [i] | nil, timeout: ms | nil, kill_timeout: ms}
 * @x:		buffer
 * @l:		the decoded limits
 *
 * Return: 0 or -1
 */
int limits_echo_encode(ei_x_buff *x, const struct linx_limits *l)
{
	if (ei_x_encode_map_header(x, 6) ||
	    ei_x_encode_atom(x, "cgroups_v1") ||
	    encode_strv(x, (char **)l->cgroups_v1, l->ncgroups) ||
	    ei_x_encode_atom(x, "rlimits") || encode_rlimits(x, l) ||
	    ei_x_encode_atom(x, "nice") ||
	    (l->has_nice ? ei_x_encode_long(x, l->nice) :
			   ei_x_encode_atom(x, "nil")) ||
	    ei_x_encode_atom(x, "cpus") || encode_cpus(x, l) ||
	    ei_x_encode_atom(x, "timeout") ||
	    (l->timeout_ms ? ei_x_encode_ulonglong(x, l->timeout_ms) :
			     ei_x_encode_atom(x, "nil")) ||
	    ei_x_encode_atom(x, "kill_timeout"))
		return -1;
	return ei_x_encode_ulonglong(x, l->kill_timeout_ms);
}
