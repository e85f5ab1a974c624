/*
 * notify_wire.c - the seccomp user notification grammar (see
 * notify_wire.h): the notify_reads entries of the request,
 * {:notify_reply, id, steps} (its steps: notify_step.c), the handler's
 * {:notify_read, ...} and {:notify_fd_path, ...}; decoded and re-encoded.
 * What the agent does with them is notify.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "notify_wire.h"

/* Longest step list accepted in one reply */
#define NOTIFY_MAX_STEPS 64

/**
 * nw_reply_decode() - {id, steps} of {:notify_reply, id, steps}
 * @d:		cursor
 * @c:		command
 * @tag_arity:	2 (the command table's row)
 * @path:	for error messages
 *
 * The id first, so that even a reply whose steps are malformed names the
 * caller to answer (ENOSYS).
 *
 * Return: 0 or -1
 */
int nw_reply_decode(struct tdec *d, struct linx_cmd *c, int tag_arity,
		    const char *path)
{
	char p[PATH_MAX_LEN];
	int arity, i;

	(void)tag_arity;
	path_fmt(p, sizeof(p), "%s.id", path);
	if (td_u64(d, &c->id, p))
		return -1;
	c->has_id = true;
	path_fmt(p, sizeof(p), "%s.steps", path);
	if (td_list(d, &arity, p))
		return -1;
	if (arity < 1 || arity > NOTIFY_MAX_STEPS)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected 1..%d steps, got %d", p,
				 NOTIFY_MAX_STEPS, arity);
	c->steps = calloc(arity, sizeof(*c->steps));
	if (!c->steps)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", p);
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s.steps[%d]", path, i);
		c->nsteps = i + 1;
		if (nstep_decode(d, &c->steps[i], p))
			return -1;
		if (i < arity - 1 && nstep_is_response(&c->steps[i]))
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: :%s answers the call before the "
					 "last step", p,
					 nstep_name(c->steps[i].kind));
	}
	if (!nstep_is_response(&c->steps[arity - 1]))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s.steps: the last step must answer the call "
				 "(:continue, :return, :errno, :return_last or "
				 "an :addfd with :send)", path);
	path_fmt(p, sizeof(p), "%s.steps", path);
	return td_list_end(d, p);
}

/*
 * decode_ref_id_pid() - the {ref, id, pid, ...} prefix shared by the
 * handler's requests (notify_read, notify_fd_path)
 */
static int decode_ref_id_pid(struct tdec *d, struct linx_cmd *c,
			     const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v;

	path_fmt(p, sizeof(p), "%s.ref", path);
	if (decode_etf(d, &c->ref, &c->ref_len, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.id", path);
	if (td_u64(d, &c->id, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.pid", path);
	if (td_uint_max(d, 1, 0x7fffffff, &v, p))
		return -1;
	c->pid = v;
	return 0;
}

/**
 * nw_read_decode() - {ref, id, pid, addr, len} of {:notify_read, ...}
 * @d:		cursor
 * @c:		command
 * @tag_arity:	5 (the command table's row)
 * @path:	for error messages
 *
 * Return: 0 or -1
 */
int nw_read_decode(struct tdec *d, struct linx_cmd *c, int tag_arity,
		   const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v;

	(void)tag_arity;
	if (decode_ref_id_pid(d, c, path))
		return -1;
	path_fmt(p, sizeof(p), "%s.addr", path);
	if (td_u64(d, &c->addr, p))
		return -1;
	path_fmt(p, sizeof(p), "%s.len", path);
	if (td_uint_max(d, 0, NOTIFY_READ_MAX, &v, p))
		return -1;
	c->rlen = v;
	return 0;
}

/**
 * nw_fd_path_decode() - {ref, id, pid, fd} of {:notify_fd_path, ...}
 * @d:		cursor
 * @c:		command
 * @tag_arity:	4 (the command table's row)
 * @path:	for error messages
 *
 * Return: 0 or -1
 */
int nw_fd_path_decode(struct tdec *d, struct linx_cmd *c, int tag_arity,
		      const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v;
	(void)tag_arity;
	if (decode_ref_id_pid(d, c, path))
		return -1;
	path_fmt(p, sizeof(p), "%s.fd", path);
	if (td_uint_max(d, 0, 0x7fffffff, &v, p))
		return -1;
	c->fd = v;
	return 0;
}

/*
 * decode_read_kind() - {:cstring, max} | {:bytes, len} |
 * {:bytes_arg, len_arg_index, max}
 */
static int decode_read_kind(struct tdec *d, struct notify_read *nr,
			    const char *path)
{
	char tag[TD_ATOM_MAX], p[PATH_MAX_LEN];
	uint64_t v;
	int arity;

	if (decode_tagged(d, tag, &arity, path,
			  "{:cstring, max}, {:bytes, len} or "
			  "{:bytes_arg, arg, max}"))
		return -1;
	path_fmt(p, sizeof(p), "%s.%s", path, tag);
	if (!strcmp(tag, "cstring") && arity == 2) {
		nr->kind = NREAD_CSTRING;
	} else if (!strcmp(tag, "bytes") && arity == 2) {
		nr->kind = NREAD_BYTES;
	} else if (!strcmp(tag, "bytes_arg") && arity == 3) {
		nr->kind = NREAD_BYTES_ARG;
		if (td_uint_max(d, 0, 5, &v, p))
			return -1;
		nr->len_arg = v;
	} else {
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: unknown read kind :%s with %d element(s)",
				 path, tag, arity - 1);
	}
	if (td_uint_max(d, 1, NOTIFY_READ_MAX, &v, p))
		return -1;
	nr->max = v;
	return 0;
}

/**
 * nw_read_entry_decode() - one entry of opts.notify_reads,
 * {nr, arg_index, kind}
 * @d:		cursor
 * @nr:		result
 * @path:	for error messages
 *
 * Return: 0 or -1
 */
int nw_read_entry_decode(struct tdec *d, struct notify_read *nr,
			 const char *path)
{
	uint64_t v;
	int n;

	if (td_tuple(d, &n, path))
		return -1;
	if (n != 3)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {nr, arg_index, kind}", path);
	if (td_uint_max(d, 0, 0x7fffffff, &v, path))
		return -1;
	nr->nr = v;
	if (td_uint_max(d, 0, 5, &v, path))
		return -1;
	nr->arg = v;
	return decode_read_kind(d, nr, path);
}

/* ------------------------------------------------------------------ encode */

/**
 * nw_reply_encode() - {:notify_reply, id, steps}
 * @x:		buffer
 * @c:		command
 * @name:	its tag
 * @arity:	2
 *
 * Return: 0 or -1
 */
int nw_reply_encode(ei_x_buff *x, const struct linx_cmd *c, const char *name,
		    int arity)
{
	size_t i;

	if (ei_x_encode_tuple_header(x, arity + 1) ||
	    ei_x_encode_atom(x, name) || ei_x_encode_ulonglong(x, c->id) ||
	    (c->nsteps && ei_x_encode_list_header(x, c->nsteps)))
		return -1;
	for (i = 0; i < c->nsteps; i++)
		if (nstep_encode(x, &c->steps[i]))
			return -1;
	return ei_x_encode_empty_list(x);
}

/*
 * encode_ref_id_pid() - the {tag, ref, id, pid, ...} prefix
 */
static int encode_ref_id_pid(ei_x_buff *x, const struct linx_cmd *c,
			     const char *name, int arity)
{
	return ei_x_encode_tuple_header(x, arity + 1) ||
	       ei_x_encode_atom(x, name) ||
	       ei_x_append_buf(x, (const char *)c->ref, c->ref_len) ||
	       ei_x_encode_ulonglong(x, c->id) ||
	       ei_x_encode_long(x, c->pid) ? -1 : 0;
}

/**
 * nw_read_encode() - {:notify_read, ref, id, pid, addr, len}
 * @x:		buffer
 * @c:		command
 * @name:	its tag
 * @arity:	5
 *
 * Return: 0 or -1
 */
int nw_read_encode(ei_x_buff *x, const struct linx_cmd *c, const char *name,
		   int arity)
{
	return encode_ref_id_pid(x, c, name, arity) ||
	       ei_x_encode_ulonglong(x, c->addr) ||
	       ei_x_encode_ulong(x, c->rlen) ? -1 : 0;
}

/**
 * nw_fd_path_encode() - {:notify_fd_path, ref, id, pid, fd}
 * @x:		buffer
 * @c:		command
 * @name:	its tag
 * @arity:	4
 *
 * Return: 0 or -1
 */
int nw_fd_path_encode(ei_x_buff *x, const struct linx_cmd *c,
		      const char *name, int arity)
{
	return encode_ref_id_pid(x, c, name, arity) ||
	       ei_x_encode_long(x, c->fd) ? -1 : 0;
}

