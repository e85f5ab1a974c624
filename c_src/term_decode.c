/*
 * term_decode.c - compound terms decoded the same way by the request, the
 * commands and the notify replies (see term.h). Built on the td_* cursor
 * of term.c only: nothing here knows a request or a command.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "ns.h"
#include "term.h"

/**
 * path_fmt() - build the path of a term for error messages
 * @p:		buffer
 * @n:		its size (PATH_MAX_LEN)
 * @fmt:	printf format
 *
 * A path longer than the buffer (absurd atoms) is cut, which is fine for
 * a label.
 */
void path_fmt(char *p, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	linx_vfmt(p, n, fmt, ap);	/* a cut path says so */
	va_end(ap);
}

/**
 * padded_copy() - the body followed by LINX_FRAME_PAD zeros
 * @buf:	frame body
 * @len:	its length
 *
 * So that ei's fixed-size header reads of a truncated term stay inside
 * our allocation whatever buffer the caller (or the fuzzer) handed us.
 *
 * Return: the copy (free() it), or NULL
 */
char *padded_copy(const void *buf, size_t len)
{
	char *p = calloc(1, len + LINX_FRAME_PAD);

	if (p && len)
		memcpy(p, buf, len);
	return p;
}

/**
 * decode_tagged() - the head of a tagged tuple {tag, ...}: its arity
 * (at least 2) and its tag atom
 * @d:		cursor
 * @tag:	TD_ATOM_MAX bytes for the tag
 * @arity:	the tuple's arity
 * @path:	name of the term for messages
 * @what:	the accepted forms, for the message when it is no such tuple
 *
 * Return: 0 or -1 ("PATH: expected WHAT")
 */
int decode_tagged(struct tdec *d, char *tag, int *arity, const char *path,
		  const char *what)
{
	char p[PATH_MAX_LEN];

	if (td_tuple(d, arity, path))
		return -1;
	path_fmt(p, sizeof(p), "%s.tag", path);
	if (*arity < 2 || td_atom(d, tag, p))
		return linx_fail(d->err, EINVAL, d->stage, "%s: expected %s",
				 path, what);
	return 0;
}

/**
 * decode_ns_list() - a list of namespace atoms into a mask
 * @d:		cursor
 * @mask:	bit mask over enum ns_index
 * @path:	for error messages
 *
 * Return: 0 or -1
 */
int decode_ns_list(struct tdec *d, unsigned *mask, const char *path)
{
	char atom[TD_ATOM_MAX], p[PATH_MAX_LEN];
	int arity, i, ns;

	if (td_list(d, &arity, path))
		return -1;
	*mask = 0;
	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_atom(d, atom, p))
			return -1;
		ns = ns_by_atom(atom);
		if (ns < 0)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: unknown namespace :%s", p, atom);
		*mask |= 1u << ns;
	}
	return td_list_end(d, path);
}

/**
 * decode_winsize() - {rows, cols, xpix, ypix}, each 0..65535
 * @d:		cursor
 * @ws:		result
 * @path:	for error messages
 *
 * Return: 0 or -1
 */
int decode_winsize(struct tdec *d, struct linx_winsize *ws, const char *path)
{
	char p[PATH_MAX_LEN];
	uint64_t v[4];
	int arity, i;

	if (td_tuple(d, &arity, path))
		return -1;
	if (arity != 4)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected {rows, cols, xpix, ypix}", path);
	for (i = 0; i < 4; i++) {
		path_fmt(p, sizeof(p), "%s.%d", path, i);
		if (td_uint_max(d, 0, 65535, &v[i], p))
			return -1;
	}
	ws->rows = v[0];
	ws->cols = v[1];
	ws->xpix = v[2];
	ws->ypix = v[3];
	return 0;
}

/**
 * decode_etf() - any term, kept as its ETF bytes (to be echoed back)
 * @d:		cursor
 * @out:	the bytes (malloc'ed)
 * @len:	their length
 * @path:	for error messages
 *
 * Return: 0 or -1
 */
int decode_etf(struct tdec *d, uint8_t **out, size_t *len, const char *path)
{
	int start = d->idx;

	if (td_skip(d, path))
		return -1;
	*len = d->idx - start;
	*out = malloc(*len ? *len : 1);
	if (!*out)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	memcpy(*out, d->buf + start, *len);
	return 0;
}

/**
 * free_strv() - free a NULL-terminated array of strings and the array
 * @v:		array, or NULL
 */
void free_strv(char **v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/**
 * decode_string_list() - a list of binaries without NUL bytes into a
 * NULL-terminated array
 * @d:		cursor
 * @out:	the array (replaces, and frees, what was there)
 * @count:	its entries
 * @path:	for error messages
 *
 * Return: 0 or -1 (what was decoded is in @out, free_strv() it)
 */
int decode_string_list(struct tdec *d, char ***out, size_t *count,
		       const char *path)
{
	char p[PATH_MAX_LEN];
	char **v;
	int arity, i;

	/* ETF maps may repeat a key (the BEAM never does): last one wins */
	free_strv(*out);
	*out = NULL;
	*count = 0;
	if (td_list(d, &arity, path))
		return -1;
	v = calloc((size_t)arity + 1, sizeof(*v));
	if (!v)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	*out = v;
	*count = 0;
	for (i = 0; i < arity; i++) {
		uint8_t *b;
		size_t len;

		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_binary(d, &b, &len, p))
			return -1;
		v[i] = (char *)b;
		*count = i + 1;
		if (memchr(b, 0, len))
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: contains a NUL byte", p);
	}
	return td_list_end(d, path);
}

/**
 * decode_path() - a binary without NUL bytes
 * @d:		cursor
 * @out:	the string (replaces, and frees, what was there)
 * @path:	for error messages
 *
 * Return: 0 or -1
 */
int decode_path(struct tdec *d, char **out, const char *path)
{
	uint8_t *b;
	size_t len;

	free(*out);	/* a repeated key: last one wins */
	*out = NULL;
	if (td_binary(d, &b, &len, path))
		return -1;
	*out = (char *)b;
	if (memchr(b, 0, len))
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: contains a NUL byte", path);
	return 0;
}
